//! Key distribution (issue 6; docs/key-distribution.md): envelopes the
//! console library builds, imported by a real TA. A valid envelope makes a
//! key that works like the original; each forgery or misuse is refused with
//! its own code and creates no object.

mod common;

// The console's key distribution library, compiled into this test (a dev
// dependency on teehsm-console would pull the whole console daemon in).
#[path = "../../console/src/keydist/mod.rs"]
#[allow(dead_code)]
mod keydist;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED};
use common::{so, Harness};
use keydist::{seal, verify_report, wrap, KeyMaterial, KeySpec, SigningKey, Target, WrapParams};
use teehsm_attest::{Policy, TrustAnchor};
use teehsm_ta::handler::Connection;
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_wire::ck::*;
use teehsm_wire::keydist::Envelope;
use teehsm_wire::*;

fn target(h: &Harness) -> Target {
    let mut c = h.conn();
    let report = match h.ok(&mut c, Request::GetAttestation { nonce: vec![9; 32] }) {
        Reply::Attestation(r) => *r,
        r => panic!("expected a report, got {r:?}"),
    };
    let anchor = TrustAnchor::SimReportKey(SimPlatform::open(&h.dir.join("platform"), 1).unwrap().report_public_key());
    let policy =
        Policy::parse(&format!("allowed_measurements = [\"{}\"]\nallow_simulation = true\n", hex::encode(h.ta.platform.measurement()))).unwrap();
    let t = verify_report(&report.to_bytes(), Some([9; 32]), &anchor, &policy).unwrap();
    assert_eq!(t.bundle, h.ta.channel.public_key());
    t
}

fn trust(h: &Harness, key: &SigningKey) {
    let (mut c, s) = so(h);
    h.ok(&mut c, Request::TrustKeydistSigner { session: s, public_key: key.public_key().to_vec() });
}

fn params(slot: u64) -> WrapParams {
    let now = common::now_ms();
    WrapParams { slot, token_serial: String::new(), created_ms: now - 1_000, expires_ms: now + 600_000 }
}

fn aes_envelope(t: &Target, signer: &SigningKey, key: &[u8; 32], label: &str) -> Envelope {
    let k = KeyMaterial::from_bytes("aes", key).unwrap();
    let spec = KeySpec { label: label.into(), usages: vec![CKA_ENCRYPT, CKA_DECRYPT], ..Default::default() };
    wrap(t, &params(0), spec.template(&k), &k.material(), signer).unwrap()
}

/// Every object the user can see in slot 0.
fn objects(h: &Harness, c: &mut Connection, s: u64) -> Vec<u64> {
    match h.ok(c, Request::FindObjects { session: s, template: vec![], max: 10_000 }) {
        Reply::Handles(v) => v,
        r => panic!("unexpected {r:?}"),
    }
}

fn import(h: &Harness, c: &mut Connection, s: u64, env: &[u8]) -> Response {
    h.call(c, Request::ImportDistributedKey { session: s, envelope: env.to_vec() })
}

/// Asserts the import is refused with `rv`, creates nothing, and returns the message.
fn refused(h: &Harness, c: &mut Connection, s: u64, env: &[u8], rv: Rv) -> String {
    let before = objects(h, c, s);
    let msg = h.refused(c, Request::ImportDistributedKey { session: s, envelope: env.to_vec() }, rv);
    assert_eq!(objects(h, c, s), before, "a refused import created an object");
    msg
}

#[test]
fn a_valid_aes_envelope_imports_a_protected_key_that_matches_the_original() {
    let h = Harness::new("keydist-aes");
    let (signer, _) = SigningKey::generate().unwrap();
    trust(&h, &signer);
    let key = [0x5a; 32];
    let env = aes_envelope(&target(&h), &signer, &key, "dist-aes");
    let (mut c, s) = h.user();
    let handle = match import(&h, &mut c, s, &env.to_bytes()) {
        Response::Ok(Reply::Handle(x)) => x,
        r => panic!("import failed: {r:?}"),
    };
    assert_eq!(h.attr(&mut c, s, handle, CKA_LABEL).unwrap(), b"dist-aes");
    for (ty, v) in [(CKA_SENSITIVE, 1), (CKA_EXTRACTABLE, 0), (CKA_LOCAL, 0), (CKA_TOKEN, 1), (CKA_ENCRYPT, 1), (CKA_DECRYPT, 1), (CKA_SIGN, 0)] {
        assert_eq!(h.attr(&mut c, s, handle, ty).unwrap(), vec![v], "attribute 0x{ty:x}");
    }
    assert_eq!(h.attr(&mut c, s, handle, CKA_VALUE), Err(Rv::ATTRIBUTE_SENSITIVE));
    // The TA encrypts; aws-lc decrypts with the original key.
    let iv = [3u8; 12];
    let gcm = Mechanism::with(CKM_AES_GCM, MechParam::Gcm { iv: iv.to_vec(), aad: b"hdr".to_vec(), tag_bits: 128 });
    let mut ct = h.bytes(&mut c, Request::Encrypt { session: s, mechanism: gcm, key: handle, data: b"distributed".to_vec() });
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let pt = k.open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(b"hdr"), &mut ct).unwrap();
    assert_eq!(pt, b"distributed");
}

#[test]
fn a_valid_ec_envelope_imports_a_key_whose_signatures_verify_under_the_original_public_key() {
    let h = Harness::new("keydist-ec");
    let (signer, _) = SigningKey::generate().unwrap();
    trust(&h, &signer);
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let public = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).unwrap().public_key().as_ref().to_vec();
    let k = KeyMaterial::from_bytes("ec-p256", doc.as_ref()).unwrap();
    let spec = KeySpec { label: "dist-ec".into(), usages: vec![CKA_SIGN], ..Default::default() };
    let env = wrap(&target(&h), &params(0), spec.template(&k), &k.material(), &signer).unwrap();
    let (mut c, s) = h.user();
    let handle = match import(&h, &mut c, s, &env.to_bytes()) {
        Response::Ok(Reply::Handle(x)) => x,
        r => panic!("import failed: {r:?}"),
    };
    assert_eq!(h.attr(&mut c, s, handle, CKA_CLASS).unwrap(), CKO_PRIVATE_KEY.to_be_bytes());
    assert_eq!(h.attr(&mut c, s, handle, CKA_LOCAL).unwrap(), vec![0]);
    let sig = h.bytes(&mut c, Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: handle, data: b"fleet".to_vec() });
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public).verify(b"fleet", &sig).unwrap();
}

#[test]
fn envelopes_without_a_trusted_signer_are_refused() {
    let h = Harness::new("keydist-untrusted");
    let (signer, _) = SigningKey::generate().unwrap();
    let t = target(&h);
    let env = aes_envelope(&t, &signer, &[1; 32], "k").to_bytes();
    let (mut c, s) = h.user();
    // No signer registered at all.
    let msg = refused(&h, &mut c, s, &env, Rv::TEEHSM_KEYDIST_UNTRUSTED);
    assert!(msg.contains("no key distribution signer is trusted"), "{msg}");
    // A signer is registered, but the envelope is signed by another key.
    let (other, _) = SigningKey::generate().unwrap();
    trust(&h, &other);
    let msg = refused(&h, &mut c, s, &env, Rv::TEEHSM_KEYDIST_UNTRUSTED);
    assert!(msg.contains("is not trusted"), "{msg}");
    // Naming the trusted signer without its signature does not help.
    let mut forged =
        seal(&t, &params(0), other.public_key(), KeySpec::default().template(&KeyMaterial::from_bytes("aes", &[1; 32]).unwrap()), &[]).unwrap();
    signer.sign(&mut forged);
    refused(&h, &mut c, s, &forged.to_bytes(), Rv::SIGNATURE_INVALID);
    // Removing a signer stops its envelopes.
    let env2 = aes_envelope(&t, &other, &[2; 32], "k2").to_bytes();
    let (mut so_c, so_s) = so(&h);
    h.ok(&mut so_c, Request::UntrustKeydistSigner { session: so_s, public_key: other.public_key().to_vec() });
    assert!(h.bytes(&mut so_c, Request::ListKeydistSigners { session: so_s }).is_empty());
    h.refused(&mut so_c, Request::UntrustKeydistSigner { session: so_s, public_key: other.public_key().to_vec() }, Rv::ARGUMENTS_BAD);
    refused(&h, &mut c, s, &env2, Rv::TEEHSM_KEYDIST_UNTRUSTED);
}

#[test]
fn tampered_envelopes_are_refused() {
    let h = Harness::new("keydist-tamper");
    let (signer, _) = SigningKey::generate().unwrap();
    trust(&h, &signer);
    let t = target(&h);
    let (mut c, s) = h.user();

    // Ciphertext changed: the signature no longer verifies.
    let env = aes_envelope(&t, &signer, &[1; 32], "k");
    let mut bytes = env.to_bytes();
    let (_, layout) = Envelope::from_bytes(&bytes).unwrap();
    bytes[layout.body_len - 5] ^= 1;
    refused(&h, &mut c, s, &bytes, Rv::SIGNATURE_INVALID);
    // Same change re-signed by the trusted console: GCM refuses it.
    let mut e = env.clone();
    e.ciphertext[3] ^= 1;
    signer.sign(&mut e);
    let msg = refused(&h, &mut c, s, &e.to_bytes(), Rv::WRAPPED_KEY_INVALID);
    assert!(msg.contains("does not open"), "{msg}");

    // Header changed (the label): signature refused.
    let env = aes_envelope(&t, &signer, &[1; 32], "k");
    let mut e = env.clone();
    e.template.iter_mut().for_each(|a| {
        if a.ty == CKA_LABEL {
            a.value = b"evil".to_vec();
        }
    });
    let mut tampered = e.clone();
    tampered.signature = env.signature;
    refused(&h, &mut c, s, &tampered.to_bytes(), Rv::SIGNATURE_INVALID);
    // Re-signed: the header is the GCM AAD, so the material does not open under it.
    signer.sign(&mut e);
    refused(&h, &mut c, s, &e.to_bytes(), Rv::WRAPPED_KEY_INVALID);

    // Garbage and truncations.
    refused(&h, &mut c, s, b"not an envelope", Rv::WRAPPED_KEY_INVALID);
    let good = aes_envelope(&t, &signer, &[1; 32], "k").to_bytes();
    refused(&h, &mut c, s, &good[..good.len() - 1], Rv::WRAPPED_KEY_INVALID);
}

#[test]
fn mistargeted_envelopes_are_refused() {
    let h = Harness::new("keydist-target-a");
    let other = Harness::new("keydist-target-b");
    let (signer, _) = SigningKey::generate().unwrap();
    trust(&h, &signer);
    trust(&other, &signer);
    let (mut c, s) = h.user();
    // Wrapped to the other TA's bundle.
    let env = aes_envelope(&target(&other), &signer, &[1; 32], "k").to_bytes();
    let msg = refused(&h, &mut c, s, &env, Rv::TEEHSM_KEYDIST_MISTARGETED);
    assert!(msg.contains("another TA"), "{msg}");
    // ...which that TA accepts.
    let (mut oc, os) = other.user();
    assert!(matches!(import(&other, &mut oc, os, &env), Response::Ok(Reply::Handle(_))));
    // Right TA, wrong slot.
    let t = target(&h);
    let k = KeyMaterial::from_bytes("aes", &[1; 32]).unwrap();
    let wrong_slot = wrap(&t, &params(1), KeySpec::default().template(&k), &k.material(), &signer).unwrap();
    refused(&h, &mut c, s, &wrong_slot.to_bytes(), Rv::TEEHSM_KEYDIST_MISTARGETED);
    // Right TA and slot, another token's serial.
    let mut p = params(0);
    p.token_serial = "0000000000000000".into();
    let wrong_token = wrap(&t, &p, KeySpec::default().template(&k), &k.material(), &signer).unwrap();
    refused(&h, &mut c, s, &wrong_token.to_bytes(), Rv::TEEHSM_KEYDIST_MISTARGETED);
    // The right serial is accepted.
    p.token_serial = match h.ok(&mut c, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(i) => i.serial,
        r => panic!("unexpected {r:?}"),
    };
    let right = wrap(&t, &p, KeySpec::default().template(&k), &k.material(), &signer).unwrap();
    assert!(matches!(import(&h, &mut c, s, &right.to_bytes()), Response::Ok(Reply::Handle(_))));
}

#[test]
fn expired_and_replayed_envelopes_are_refused() {
    let h = Harness::new("keydist-time");
    let (signer, _) = SigningKey::generate().unwrap();
    trust(&h, &signer);
    let t = target(&h);
    let k = KeyMaterial::from_bytes("aes", &[1; 32]).unwrap();
    let tmpl = KeySpec::default().template(&k);
    let now = common::now_ms();
    let (mut c, s) = h.user();
    let expired = WrapParams { slot: 0, token_serial: String::new(), created_ms: now - 10_000, expires_ms: now - 1 };
    let msg = refused(&h, &mut c, s, &wrap(&t, &expired, tmpl.clone(), &k.material(), &signer).unwrap().to_bytes(), Rv::TEEHSM_KEYDIST_EXPIRED);
    assert!(msg.contains("expired"), "{msg}");
    let future = WrapParams { slot: 0, token_serial: String::new(), created_ms: now + 3_600_000, expires_ms: now + 7_200_000 };
    refused(&h, &mut c, s, &wrap(&t, &future, tmpl.clone(), &k.material(), &signer).unwrap().to_bytes(), Rv::TEEHSM_KEYDIST_EXPIRED);
    let too_long =
        WrapParams { slot: 0, token_serial: String::new(), created_ms: now, expires_ms: now + teehsm_ta::handler::KEYDIST_MAX_VALIDITY_MS + 1 };
    refused(&h, &mut c, s, &wrap(&t, &too_long, tmpl.clone(), &k.material(), &signer).unwrap().to_bytes(), Rv::TEEHSM_KEYDIST_EXPIRED);

    let env = wrap(&t, &params(0), tmpl, &k.material(), &signer).unwrap().to_bytes();
    assert!(matches!(import(&h, &mut c, s, &env), Response::Ok(Reply::Handle(_))));
    let msg = refused(&h, &mut c, s, &env, Rv::TEEHSM_KEYDIST_REPLAY);
    assert!(msg.contains("already imported"), "{msg}");
    // Also from another application of the same TA.
    let (mut c2, s2) = h.user();
    refused(&h, &mut c2, s2, &env, Rv::TEEHSM_KEYDIST_REPLAY);
}

#[test]
fn roles_templates_and_restarts() {
    let mut h = Harness::new("keydist-roles");
    let (signer, _) = SigningKey::generate().unwrap();
    // Only the SO registers signers, and only 32-byte keys.
    let (mut uc, us) = h.user();
    h.refused(&mut uc, Request::TrustKeydistSigner { session: us, public_key: signer.public_key().to_vec() }, Rv::USER_NOT_LOGGED_IN);
    let (mut sc, ss) = so(&h);
    h.refused(&mut sc, Request::TrustKeydistSigner { session: ss, public_key: vec![1; 31] }, Rv::ARGUMENTS_BAD);
    h.ok(&mut sc, Request::TrustKeydistSigner { session: ss, public_key: signer.public_key().to_vec() });
    h.refused(&mut sc, Request::TrustKeydistSigner { session: ss, public_key: signer.public_key().to_vec() }, Rv::ARGUMENTS_BAD);
    assert_eq!(h.bytes(&mut sc, Request::ListKeydistSigners { session: ss }), signer.public_key().to_vec());
    h.refused(&mut uc, Request::ListKeydistSigners { session: us }, Rv::USER_NOT_LOGGED_IN);
    // The signer record is invisible to PKCS#11 and does not count as an object.
    assert!(objects(&h, &mut uc, us).is_empty());
    match h.ok(&mut uc, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(i) => assert_eq!(i.total_objects, 0),
        r => panic!("unexpected {r:?}"),
    }
    let t = target(&h);
    // Importing needs the user.
    let env = aes_envelope(&t, &signer, &[1; 32], "k").to_bytes();
    let mut pc = h.conn();
    let ps = h.open(&mut pc, true);
    h.refused(&mut pc, Request::ImportDistributedKey { session: ps, envelope: env.clone() }, Rv::USER_NOT_LOGGED_IN);
    h.refused(&mut sc, Request::ImportDistributedKey { session: ss, envelope: env.clone() }, Rv::USER_NOT_LOGGED_IN);
    // Key material in the signed clear template is refused.
    let k = KeyMaterial::from_bytes("aes", &[1; 32]).unwrap();
    let mut leaky = KeySpec::default().template(&k);
    leaky.push(Attribute::new(CKA_VALUE, vec![1; 32]));
    let e = wrap(&t, &params(0), leaky, &k.material(), &signer).unwrap();
    refused(&h, &mut uc, us, &e.to_bytes(), Rv::TEMPLATE_INCONSISTENT);
    // Public keys are not distributed.
    let mut public = KeySpec::default().template(&k);
    public[0] = Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY);
    refused(&h, &mut uc, us, &wrap(&t, &params(0), public, &[], &signer).unwrap().to_bytes(), Rv::TEMPLATE_INCONSISTENT);
    // A template may ask for an extractable, non-sensitive session key.
    let spec = KeySpec { label: "open".into(), sensitive: Some(false), extractable: Some(true), token: Some(false), ..Default::default() };
    let e = wrap(&t, &params(0), spec.template(&k), &k.material(), &signer).unwrap();
    let handle = match import(&h, &mut uc, us, &e.to_bytes()) {
        Response::Ok(Reply::Handle(x)) => x,
        r => panic!("import failed: {r:?}"),
    };
    assert_eq!(h.attr(&mut uc, us, handle, CKA_VALUE).unwrap(), vec![1; 32]);
    assert_eq!(h.attr(&mut uc, us, handle, CKA_TOKEN).unwrap(), vec![0]);
    drop((uc, sc, pc));

    // After a restart the signer is still trusted, but the TA has a new
    // channel key: envelopes for the old one are mis-targeted.
    h.reopen(teehsm_ta::handler::HandlerConfig::default());
    let (mut uc, us) = h.user();
    refused(&h, &mut uc, us, &env, Rv::TEEHSM_KEYDIST_MISTARGETED);
    let fresh = aes_envelope(&target(&h), &signer, &[4; 32], "after-restart").to_bytes();
    assert!(matches!(import(&h, &mut uc, us, &fresh), Response::Ok(Reply::Handle(_))));
    // Audit entries name the envelope.
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join(teehsm_ta::audit::AUDIT_FILE)).unwrap();
    assert!(log.contains("TrustKeydistSigner"), "audit log lacks the signer registration");
    assert!(log.lines().any(|l| l.contains("ImportDistributedKey") && l.contains("envelope:")), "audit log lacks the envelope ids");
}
