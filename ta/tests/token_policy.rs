//! Token policies pushed by a fleet console (docs/key-distribution.md,
//! "Token policy"): a signed object limit the TA applies only from a signer
//! the token's SO trusts, for this TA process and slot, within its validity
//! period and newer than the policy in force; it lowers the token's
//! capacity, never raises it past the TA's, and survives a restart.

mod common;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use common::{aes_token_key, policy_signer, sign_token_policy, so, token_info, token_policy, Harness};
use teehsm_ta::handler::Connection as Conn;
use teehsm_ta::handler::HandlerConfig;
use teehsm_wire::ck::*;
use teehsm_wire::token_policy::{rules, TokenPolicy, POLICY_V1_LEN, POLICY_V1_MAGIC};
use teehsm_wire::*;

fn signer() -> Ed25519KeyPair {
    policy_signer()
}

fn policy(h: &Harness, key: &Ed25519KeyPair, version: u64, max_objects: u64) -> TokenPolicy {
    token_policy(h, key, version, max_objects, 0, 0)
}

/// A policy with algorithm rules and no object limit.
fn rules_policy(h: &Harness, key: &Ed25519KeyPair, version: u64, min_rsa_bits: u32, rules: u32) -> TokenPolicy {
    token_policy(h, key, version, 0, min_rsa_bits, rules)
}

fn sign(p: &mut TokenPolicy, key: &Ed25519KeyPair) {
    sign_token_policy(p, key);
}

fn capacity(h: &Harness) -> u64 {
    let mut c = h.conn();
    token_info(h, &mut c).max_objects
}

#[test]
fn a_trusted_signed_newer_policy_lowers_the_capacity() {
    let cfg = HandlerConfig { max_token_objects: 10, ..HandlerConfig::default() };
    let mut h = Harness::with_config("token-policy", cfg.clone());
    let key = signer();
    let apply = |h: &Harness, p: &TokenPolicy, want: Rv| {
        let (mut c, s) = h.user();
        let r = Request::ApplyTokenPolicy { session: s, policy: p.to_bytes() };
        if want == Rv::OK {
            h.ok(&mut c, r);
            String::new()
        } else {
            h.refused(&mut c, r, want)
        }
    };
    // Nobody trusted yet.
    let msg = apply(&h, &policy(&h, &key, 1, 2), Rv::TEEHSM_KEYDIST_UNTRUSTED);
    assert!(msg.contains("keydist trust"), "{msg}");
    let (mut sc, ss) = so(&h);
    h.ok(&mut sc, Request::TrustKeydistSigner { session: ss, public_key: key.public_key().as_ref().to_vec() });
    // A public (not logged in) session may not apply it.
    let mut pc = h.conn();
    let ps = h.open(&mut pc, true);
    h.refused(&mut pc, Request::ApplyTokenPolicy { session: ps, policy: policy(&h, &key, 1, 2).to_bytes() }, Rv::USER_NOT_LOGGED_IN);
    // Forgeries and misuse.
    let mut tampered = policy(&h, &key, 1, 2);
    tampered.max_objects = 9;
    apply(&h, &tampered, Rv::SIGNATURE_INVALID);
    let mut other_ta = policy(&h, &key, 1, 2);
    other_ta.target = [7; 32];
    sign(&mut other_ta, &key);
    apply(&h, &other_ta, Rv::TEEHSM_KEYDIST_MISTARGETED);
    let mut other_slot = policy(&h, &key, 1, 2);
    other_slot.slot = 1;
    sign(&mut other_slot, &key);
    apply(&h, &other_slot, Rv::TEEHSM_KEYDIST_MISTARGETED);
    let mut expired = policy(&h, &key, 1, 2);
    expired.expires_ms = common::now_ms() - 1;
    expired.created_ms = expired.expires_ms - 10;
    sign(&mut expired, &key);
    apply(&h, &expired, Rv::TEEHSM_KEYDIST_EXPIRED);
    let msg = apply(&h, &policy(&h, &key, 1, 11), Rv::ARGUMENTS_BAD);
    assert!(msg.contains("at most 10"), "{msg}");
    let (mut uc, us) = h.user();
    h.refused(&mut uc, Request::ApplyTokenPolicy { session: us, policy: vec![0; 10] }, Rv::ARGUMENTS_BAD);
    assert_eq!(capacity(&h), 10, "no refused policy changed anything");

    // A good one: capacity 2, enforced.
    apply(&h, &policy(&h, &key, 1, 2), Rv::OK);
    assert_eq!(capacity(&h), 2);
    h.handle(&mut uc, aes_token_key(us));
    h.handle(&mut uc, aes_token_key(us));
    let msg = h.refused(&mut uc, aes_token_key(us), Rv::DEVICE_MEMORY);
    assert!(msg.contains("2 of the 2"), "{msg}");
    // The same or an older version is refused (no rollback to a laxer policy).
    apply(&h, &policy(&h, &key, 1, 5), Rv::TEEHSM_KEYDIST_REPLAY);
    // A newer one raises it again (within the TA's limit); 0 = the TA's.
    apply(&h, &policy(&h, &key, 2, 3), Rv::OK);
    assert_eq!(capacity(&h), 3);
    h.handle(&mut uc, aes_token_key(us));
    drop(uc);
    drop(sc);
    drop(pc);

    // It survives a restart (the new TA process has a new bundle: old
    // policies no longer apply, the one in force stays in force).
    h.reopen(cfg);
    assert_eq!(capacity(&h), 3);
    apply(&h, &policy(&h, &key, 2, 9), Rv::TEEHSM_KEYDIST_REPLAY);
    apply(&h, &policy(&h, &key, 3, 0), Rv::OK);
    assert_eq!(capacity(&h), 10);
    // Not a PKCS#11 object, not counted.
    let (mut c, s) = h.user();
    match h.ok(&mut c, Request::FindObjects { session: s, template: vec![], max: 100 }) {
        Reply::Handles(v) => assert_eq!(v.len(), 3, "only the 3 AES keys are visible"),
        r => panic!("unexpected {r:?}"),
    }
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join(teehsm_ta::audit::AUDIT_FILE)).unwrap();
    assert!(log.lines().any(|l| l.contains("ApplyTokenPolicy") && l.contains("policy:v3")), "audit log lacks the policy");
}

fn pair(h: &Harness, c: &mut Conn, s: u64, mechanism: u64, public: Vec<Attribute>) -> Result<(u64, u64), Rv> {
    let mut public_template = vec![Attribute::bool(CKA_VERIFY, true), Attribute::bool(CKA_ENCRYPT, true), Attribute::bool(CKA_TOKEN, true)];
    public_template.extend(public);
    let private_template = vec![Attribute::bool(CKA_SIGN, true), Attribute::bool(CKA_DECRYPT, true), Attribute::bool(CKA_TOKEN, true)];
    let r = Request::GenerateKeyPair { session: s, mechanism: Mechanism::new(mechanism), public_template, private_template };
    match h.call(c, r) {
        Response::Ok(Reply::KeyPair { public, private }) => Ok((public, private)),
        Response::Err { rv, .. } => Err(rv),
        r => panic!("unexpected {r:?}"),
    }
}

fn rsa(bits: u64) -> Vec<Attribute> {
    vec![Attribute::ulong(CKA_MODULUS_BITS, bits), Attribute::new(CKA_PUBLIC_EXPONENT, vec![1, 0, 1])]
}

const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn sign_rv(h: &Harness, c: &mut Conn, s: u64, mechanism: Mechanism, key: u64, data: &[u8]) -> Rv {
    h.rv(c, Request::Sign { session: s, mechanism, key, data: data.to_vec() })
}

#[test]
fn algorithm_rules_refuse_the_keys_and_mechanisms_they_name() {
    let h = Harness::with_config("token-policy-rules", HandlerConfig::default());
    let key = signer();
    let (mut sc, ss) = so(&h);
    h.ok(&mut sc, Request::TrustKeydistSigner { session: ss, public_key: key.public_key().as_ref().to_vec() });
    let (mut c, s) = h.user();
    let apply = |c: &mut Conn, p: &TokenPolicy| h.rv(c, Request::ApplyTokenPolicy { session: s, policy: p.to_bytes() });
    // Keys made before the rules.
    let (_, rsa2048) = pair(&h, &mut c, s, CKM_RSA_PKCS_KEY_PAIR_GEN, rsa(2048)).unwrap();
    let (_, ec) = pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]).unwrap();
    let digest = [7u8; 32];
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_ECDSA_SHA1), ec, b"data"), Rv::OK);

    // Unknown rule bits and absurd minimums are refused.
    assert_eq!(apply(&mut c, &rules_policy(&h, &key, 1, 0, 1 << 9)), Rv::ARGUMENTS_BAD);
    assert_eq!(apply(&mut c, &rules_policy(&h, &key, 1, 100_000, 0)), Rv::ARGUMENTS_BAD);

    // RSA >= 3072, no SHA-1 signatures, no PKCS#1 v1.5 encryption.
    let strict = rules_policy(&h, &key, 1, 3072, rules::FORBID_SHA1 | rules::FORBID_RSA_PKCS1_ENCRYPTION);
    assert_eq!(apply(&mut c, &strict), Rv::OK);
    assert_eq!(pair(&h, &mut c, s, CKM_RSA_PKCS_KEY_PAIR_GEN, rsa(2048)), Err(Rv::KEY_SIZE_RANGE), "a new 2048-bit key");
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_SHA256_RSA_PKCS), rsa2048, b"data"), Rv::KEY_SIZE_RANGE, "an old 2048-bit key");
    let (rsa_pub, rsa3072) = pair(&h, &mut c, s, CKM_RSA_PKCS_KEY_PAIR_GEN, rsa(3072)).unwrap();
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_SHA256_RSA_PKCS), rsa3072, b"data"), Rv::OK);
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_SHA1_RSA_PKCS), rsa3072, b"data"), Rv::MECHANISM_INVALID);
    let pss_sha1 = Mechanism::with(CKM_RSA_PKCS_PSS, MechParam::Pss { hash: CKM_SHA_1, mgf: CKG_MGF1_SHA1, salt_len: 20 });
    assert_eq!(sign_rv(&h, &mut c, s, pss_sha1, rsa3072, &digest[..20]), Rv::MECHANISM_INVALID);
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_ECDSA_SHA1), ec, b"data"), Rv::MECHANISM_INVALID);
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_ECDSA), ec, &digest), Rv::OK);
    // C_GetMechanismInfo says so too.
    match h.ok(&mut c, Request::GetMechanismInfo { slot: 0, mech: CKM_RSA_PKCS }) {
        Reply::MechanismInfo { min_key, flags, .. } => {
            assert_eq!(min_key, 3072);
            assert_eq!(flags & (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP), 0, "PKCS#1 v1.5 encryption is not offered");
            assert_ne!(flags & CKF_SIGN, 0);
        }
        r => panic!("unexpected {r:?}"),
    }
    assert_eq!(h.rv(&mut c, Request::GetMechanismInfo { slot: 0, mech: CKM_ECDSA_SHA1 }), Rv::MECHANISM_INVALID);
    let pkcs1 = Request::Encrypt { session: s, mechanism: Mechanism::new(CKM_RSA_PKCS), key: rsa_pub, data: b"secret".to_vec() };
    assert_eq!(h.rv(&mut c, pkcs1), Rv::MECHANISM_INVALID);
    let oaep = MechParam::Oaep { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, source: 1, source_data: vec![] };
    let oaep = Request::Encrypt { session: s, mechanism: Mechanism::with(CKM_RSA_PKCS_OAEP, oaep), key: rsa_pub, data: b"secret".to_vec() };
    assert_eq!(h.rv(&mut c, oaep), Rv::OK);

    // SM only: other algorithms are refused for new keys and old ones alike.
    assert_eq!(apply(&mut c, &rules_policy(&h, &key, 2, 0, rules::SM_ONLY)), Rv::OK);
    assert_eq!(pair(&h, &mut c, s, CKM_EC_KEY_PAIR_GEN, vec![Attribute::new(CKA_EC_PARAMS, P256.to_vec())]), Err(Rv::MECHANISM_INVALID));
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_ECDSA), ec, &digest), Rv::MECHANISM_INVALID);
    assert_eq!(h.rv(&mut c, aes_token_key(s)), Rv::MECHANISM_INVALID);
    let aes_import = Request::CreateObject {
        session: s,
        template: vec![
            Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
            Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
            Attribute::new(CKA_VALUE, vec![1; 16]),
            Attribute::bool(CKA_TOKEN, true),
        ],
    };
    assert_eq!(h.rv(&mut c, aes_import), Rv::TEMPLATE_INCONSISTENT, "an imported AES key");
    match h.ok(&mut c, Request::GetMechanismList { slot: 0 }) {
        Reply::Mechanisms(m) => {
            assert!(m.contains(&CKM_SM2_SM3) && m.contains(&CKM_SM4_GCM), "{m:x?}");
            assert!(!m.contains(&CKM_ECDSA) && !m.contains(&CKM_AES_GCM) && !m.contains(&CKM_RSA_PKCS), "{m:x?}");
        }
        r => panic!("unexpected {r:?}"),
    }
    let (_, sm2) = pair(&h, &mut c, s, CKM_SM2_KEY_PAIR_GEN, vec![]).unwrap();
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_SM2_SM3), sm2, b"data"), Rv::OK);

    // A first-layout policy (no rules) still applies, signed over its own bytes: the rules are lifted.
    let mut v1 = POLICY_V1_MAGIC.to_vec();
    let v2 = policy(&h, &key, 3, 0).to_bytes();
    v1.extend_from_slice(&v2[8..POLICY_V1_LEN - 64]);
    let mut message = teehsm_wire::token_policy::POLICY_SIGN_CONTEXT.to_vec();
    message.extend_from_slice(&v1);
    v1.extend_from_slice(key.sign(&message).as_ref());
    assert_eq!(h.rv(&mut c, Request::ApplyTokenPolicy { session: s, policy: v1 }), Rv::OK);
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_ECDSA), ec, &digest), Rv::OK);
    assert_eq!(sign_rv(&h, &mut c, s, Mechanism::new(CKM_SHA1_RSA_PKCS), rsa3072, b"data"), Rv::OK);
    drop(sc);
}
