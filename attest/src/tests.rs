//! Reports built here the way the sim platform builds them (the real TA's
//! reports are verified by `ta/tests/attestation.rs` and `tests/tests/attest_cli.rs`).

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

const MEASUREMENT: [u8; 32] = [0x11; 32];
const SIGNER: [u8; 32] = [0x22; 32];
const NONCE: [u8; 32] = [0x33; 32];

struct Fixture {
    key: EcdsaKeyPair,
    channel_key: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let channel = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Fixture { key, channel_key: channel.public_key().as_ref().to_vec() }
    }

    fn anchor(&self) -> TrustAnchor {
        TrustAnchor::SimReportKey(self.key.public_key().as_ref().to_vec())
    }

    fn report_with(&self, nonce: &[u8; 32], svn: u32) -> AttestationReport {
        let mut report_data = [0u8; 64];
        report_data[..32].copy_from_slice(nonce);
        report_data[32..].copy_from_slice(digest::digest(&digest::SHA256, &self.channel_key).as_ref());
        let mut body = SIM_BODY_PREFIX.to_vec();
        body.extend_from_slice(&MEASUREMENT);
        body.extend_from_slice(&SIGNER);
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&svn.to_be_bytes());
        body.extend_from_slice(&report_data);
        let signature = self.sign(&body);
        AttestationReport {
            platform: "sim".into(),
            simulation: true,
            measurement: MEASUREMENT,
            signer: SIGNER,
            product_id: 1,
            security_version: svn,
            report_data,
            body,
            signature,
            channel_public_key: self.channel_key.clone(),
        }
    }

    fn sign(&self, body: &[u8]) -> Vec<u8> {
        self.key.sign(&SystemRandom::new(), body).unwrap().as_ref().to_vec()
    }

    fn report(&self) -> AttestationReport {
        self.report_with(&NONCE, 3)
    }
}

fn permissive() -> Policy {
    Policy::parse(&format!(
        "allowed_measurements = [\"{}\"]\nallowed_signers = [\"{}\"]\nproduct_id = 1\nmin_security_version = 2\nallow_simulation = true\n",
        hex::encode(MEASUREMENT),
        hex::encode(SIGNER)
    ))
    .unwrap()
}

#[test]
fn a_valid_report_passes() {
    let f = Fixture::new();
    let v = verify(&f.report(), &NONCE, &f.anchor(), &permissive()).unwrap();
    assert_eq!(v.measurement, MEASUREMENT);
    assert_eq!(v.signer, SIGNER);
    assert_eq!((v.product_id, v.security_version, v.simulation), (1, 3, true));
    assert_eq!(v.channel_public_key, f.channel_key);
    assert!(v.to_string().contains("simulation:       yes"));
    // Through the report-file encoding too.
    let back = AttestationReport::from_bytes(&f.report().to_bytes()).unwrap();
    verify(&back, &NONCE, &f.anchor(), &permissive()).unwrap();
}

#[test]
fn a_tampered_body_byte_is_refused() {
    let f = Fixture::new();
    let good = f.report();
    for at in [0, SIM_BODY_PREFIX.len(), SIM_BODY_PREFIX.len() + 40, SIM_BODY_LEN - 1] {
        let mut r = good.clone();
        r.body[at] ^= 0x01;
        assert_eq!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::BadSignature), "byte {at}");
    }
    let mut r = good.clone();
    r.signature[5] ^= 0x80;
    assert_eq!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::BadSignature));
    // Another platform key (a report signed by someone else) is refused the same way.
    let other = Fixture::new();
    assert_eq!(verify(&good, &NONCE, &other.anchor(), &permissive()), Err(Refused::BadSignature));
}

#[test]
fn unsigned_fields_that_disagree_with_the_body_are_refused() {
    let f = Fixture::new();
    let mut r = f.report();
    r.measurement[0] ^= 1;
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::FieldMismatch { field: "measurement", .. })));
    let mut r = f.report();
    r.simulation = false;
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::FieldMismatch { field: "simulation", .. })));
    let mut r = f.report();
    r.security_version = 9;
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::FieldMismatch { field: "security version", .. })));
    let mut r = f.report();
    r.report_data[0] ^= 1;
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::FieldMismatch { field: "report data", .. })));
    let mut r = f.report();
    r.platform = "sgx".into();
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::UnsupportedPlatform { .. })));
}

#[test]
fn a_wrong_measurement_is_refused() {
    let f = Fixture::new();
    let policy = Policy::parse(&format!("allowed_measurements = [\"{}\"]\nallow_simulation = true\n", hex::encode([0x99u8; 32]))).unwrap();
    let e = verify(&f.report(), &NONCE, &f.anchor(), &policy).unwrap_err();
    assert!(matches!(e, Refused::MeasurementNotAllowed { .. }));
    let msg = e.to_string();
    assert!(msg.contains(&hex::encode(MEASUREMENT)) && msg.contains(&hex::encode([0x99u8; 32])), "{msg}");
    let policy = Policy::parse(&format!("allowed_signers = [\"{}\"]\nallow_simulation = true\n", hex::encode([0x98u8; 32]))).unwrap();
    assert!(matches!(verify(&f.report(), &NONCE, &f.anchor(), &policy), Err(Refused::SignerNotAllowed { .. })));
    let mut p = permissive();
    p.product_id = Some(2);
    assert_eq!(verify(&f.report(), &NONCE, &f.anchor(), &p), Err(Refused::ProductMismatch { expected: 2, got: 1 }));
}

#[test]
fn a_replayed_nonce_is_refused() {
    let f = Fixture::new();
    // A genuine report, but made for an earlier nonce.
    let old = f.report_with(&[0x44; 32], 3);
    let e = verify(&old, &NONCE, &f.anchor(), &permissive()).unwrap_err();
    assert_eq!(e, Refused::NonceMismatch { expected: hex::encode(NONCE), got: hex::encode([0x44u8; 32]) });
    assert!(e.to_string().contains("replayed"));
}

#[test]
fn a_channel_key_that_does_not_match_the_hash_is_refused() {
    let f = Fixture::new();
    let mut r = f.report();
    // A man in the middle swaps in its own channel key.
    r.channel_public_key = Fixture::new().channel_key;
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::ChannelKeyMismatch { .. })));
    let mut r = f.report();
    r.channel_public_key.clear();
    assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::ChannelKeyMismatch { .. })));
}

#[test]
fn a_lower_security_version_is_refused() {
    let f = Fixture::new();
    let r = f.report_with(&NONCE, 1);
    assert_eq!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::SecurityVersionTooLow { min: 2, got: 1 }));
    // The minimum itself passes.
    verify(&f.report_with(&NONCE, 2), &NONCE, &f.anchor(), &permissive()).unwrap();
}

#[test]
fn a_simulation_report_is_refused_under_the_default_policy() {
    let f = Fixture::new();
    // Only the measurement pinned: every other key at its (strict) default.
    let strict = Policy::parse(&format!("allowed_measurements = [\"{}\"]\n", hex::encode(MEASUREMENT))).unwrap();
    assert!(!strict.allow_simulation);
    let e = verify(&f.report(), &NONCE, &f.anchor(), &strict).unwrap_err();
    assert_eq!(e, Refused::SimulationNotAllowed);
    assert!(e.to_string().contains("allow_simulation"));
}

#[test]
fn malformed_bodies_are_refused_without_panicking() {
    let f = Fixture::new();
    for body in [vec![], SIM_BODY_PREFIX.to_vec(), vec![0u8; SIM_BODY_LEN], [SIM_BODY_PREFIX, &[0u8; 200][..]].concat()] {
        let mut r = f.report();
        r.signature = f.sign(&body);
        r.body = body;
        assert!(matches!(verify(&r, &NONCE, &f.anchor(), &permissive()), Err(Refused::MalformedBody { .. })));
    }
}

#[test]
fn policies_are_validated() {
    assert!(matches!(Policy::parse(""), Err(PolicyError::Invalid { .. })));
    assert!(matches!(Policy::parse("allowed_measurements = []"), Err(PolicyError::Invalid { .. })));
    assert!(matches!(Policy::parse("allowed_signers = [\"abcd\"]"), Err(PolicyError::Invalid { .. })));
    assert!(matches!(Policy::parse("allowed_signers = [\"zz\"]"), Err(PolicyError::Invalid { .. })));
    assert!(matches!(Policy::parse("allow_simulations = true"), Err(PolicyError::Syntax(_))));
    let p = Policy::parse(&format!("allowed_signers = [\"{}\"]", hex::encode(SIGNER))).unwrap();
    assert_eq!(p, Policy { allowed_signers: Some(vec![SIGNER]), ..Policy::default() });
}

#[test]
fn trust_anchors_parse_from_pem_or_hex() {
    let f = Fixture::new();
    let TrustAnchor::SimReportKey(point) = f.anchor();
    assert_eq!(TrustAnchor::parse_sim(&hex::encode(&point)).unwrap(), f.anchor());
    assert_eq!(TrustAnchor::parse_sim(&format!("  {}\n", hex::encode(&point))).unwrap(), f.anchor());
    // A PEM printed by `teehsm-ta platform report-key` (openssl reads it as this point).
    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHkzqN7TI9hWi6fsfjgZqoAnSQsGz\nQNCSP6c9FpPxhlWBKNU8EDomUPseWHFhCDJVHFaA+An+dn3lXHXM1osLxA==\n-----END PUBLIC KEY-----\n";
    let want = hex::decode(
        "041e4cea37b4c8f615a2e9fb1f8e066aa009d242c1b340d0923fa73d1693f186558128d53c103a2650fb1e5871610832551c5680f809fe767de55c75ccd68b0bc4",
    )
    .unwrap();
    assert_eq!(TrustAnchor::parse_sim(pem).unwrap(), TrustAnchor::SimReportKey(want));
    assert!(TrustAnchor::parse_sim("").is_err());
    assert!(TrustAnchor::parse_sim("04abcd").is_err());
    assert!(TrustAnchor::parse_sim("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----").is_err());
    assert!(TrustAnchor::parse_sim("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n").is_err());
}
