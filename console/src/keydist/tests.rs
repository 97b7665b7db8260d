//! Library-level checks; the TA side is exercised by ta/tests/keydist.rs
//! and tests/tests/keydist_e2e.rs.

use super::*;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519};
use teehsm_wire::ck::*;
use teehsm_wire::keydist::{parse_signer_public_key, Envelope};

fn fake_target() -> Target {
    // A real-looking bundle: a P-256 point and an ML-KEM-768 key of our own.
    let p = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap();
    let mut bundle = p.compute_public_key().unwrap().as_ref().to_vec();
    let dk = aws_lc_rs::kem::DecapsulationKey::generate(&aws_lc_rs::kem::ML_KEM_768).unwrap();
    bundle.extend_from_slice(dk.encapsulation_key().unwrap().key_bytes().unwrap().as_ref());
    bundle.extend_from_slice(&[4u8; 65]);
    let mut bundle_hash = [0u8; 32];
    bundle_hash.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bundle).as_ref());
    let verified = teehsm_attest::Verified {
        platform: "sim".into(),
        simulation: true,
        measurement: [0; 32],
        signer: [0; 32],
        product_id: 0,
        security_version: 1,
        channel_public_key: bundle.clone(),
    };
    Target { verified, bundle, bundle_hash }
}

#[test]
fn signing_keys_round_trip_through_pem() {
    let (k, pem) = SigningKey::generate().unwrap();
    let back = SigningKey::parse(pem.as_bytes()).unwrap();
    assert_eq!(k.public_key(), back.public_key());
    assert_eq!(parse_signer_public_key(&k.public_key_pem()).unwrap(), k.public_key());
    assert!(SigningKey::parse(b"not a key").is_err());
}

#[test]
fn wrapped_envelopes_are_signed_and_bound_to_the_target() {
    let (signer, _) = SigningKey::generate().unwrap();
    let target = fake_target();
    let key = KeyMaterial::from_bytes("aes", &[7u8; 32]).unwrap();
    let spec = KeySpec { label: "dist".into(), usages: vec![CKA_ENCRYPT, CKA_DECRYPT], ..Default::default() };
    let params = WrapParams { slot: 2, token_serial: "abcd".into(), created_ms: 1_000, expires_ms: 2_000 };
    let env = wrap(&target, &params, spec.template(&key), &key.material(), &signer).unwrap();
    let (back, _) = Envelope::from_bytes(&env.to_bytes()).unwrap();
    assert_eq!(back, env);
    assert_eq!(env.target, target.bundle_hash);
    assert_eq!((env.slot, env.token_serial.as_str()), (2, "abcd"));
    assert_eq!(env.signer, signer.public_key());
    // The signature covers the body under the documented context.
    UnparsedPublicKey::new(&ED25519, signer.public_key()).verify(&env.signed_message(), &env.signature).unwrap();
    // The key material is not in clear anywhere in the envelope.
    assert!(!env.to_bytes().windows(32).any(|w| w == [7u8; 32]));
    assert!(env.template.iter().any(|a| a.ty == CKA_LABEL && a.value == b"dist"));
    assert!(!env.template.iter().any(|a| a.ty == CKA_VALUE));
    // Two envelopes of the same key differ (fresh id, ephemeral key).
    let again = wrap(&target, &params, spec.template(&key), &key.material(), &signer).unwrap();
    assert_ne!(again.id, env.id);
    assert_ne!(again.ciphertext, env.ciphertext);
}

#[test]
fn bad_parameters_are_refused() {
    let (signer, _) = SigningKey::generate().unwrap();
    let target = fake_target();
    let key = KeyMaterial::from_bytes("generic-secret", b"secret").unwrap();
    let t = KeySpec::default().template(&key);
    let backwards = WrapParams { slot: 0, token_serial: String::new(), created_ms: 5, expires_ms: 5 };
    assert!(wrap(&target, &backwards, t.clone(), &key.material(), &signer).is_err());
    let long = WrapParams { slot: 0, token_serial: "x".repeat(33), created_ms: 1, expires_ms: 5 };
    assert!(wrap(&target, &long, t.clone(), &key.material(), &signer).is_err());
    let mut broken = target.clone();
    broken.bundle.truncate(10);
    assert!(wrap(&broken, &WrapParams { slot: 0, token_serial: String::new(), created_ms: 1, expires_ms: 5 }, t, &key.material(), &signer).is_err());
}

#[test]
fn key_material_files_parse() {
    assert!(KeyMaterial::from_bytes("aes", &[1u8; 15]).unwrap_err().to_string().contains("16, 24 or 32"));
    assert!(KeyMaterial::from_bytes("rsa", &[1u8; 16]).unwrap_err().to_string().contains("unknown key type"));
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let pem = teehsm_wire::keydist::pem_encode("PRIVATE KEY", doc.as_ref());
    let k = KeyMaterial::from_bytes("ec-p256", pem.as_bytes()).unwrap();
    assert_eq!(k.material()[0].value.len(), 32);
    let t = KeySpec { usages: KeySpec::parse_usages("sign").unwrap(), ..Default::default() }.template(&k);
    assert!(t.iter().any(|a| a.ty == CKA_CLASS && a.as_ulong() == Some(CKO_PRIVATE_KEY)));
    assert!(t.iter().any(|a| a.ty == CKA_SIGN && a.as_bool() == Some(true)));
    assert!(KeySpec::parse_usages("sign,fly").is_err());
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).unwrap();
    assert_eq!(pair.public_key().as_ref().len(), 65);
}

#[test]
fn reports_that_do_not_parse_or_verify_are_refused() {
    let anchor = teehsm_attest::TrustAnchor::parse_sim(&format!("04{}", "11".repeat(64))).unwrap();
    let policy = teehsm_attest::Policy::parse(&format!("allow_simulation = true\nallowed_signers = [\"{}\"]\n", "00".repeat(32))).unwrap();
    assert!(matches!(verify_report(b"junk", None, &anchor, &policy), Err(KeydistError::ReportFormat(_))));
}
