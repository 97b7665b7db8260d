//! GetAttestation (issue 5, part 1): the report's fields, its binding of the
//! caller's nonce and the TA's channel key, its verification under the sim
//! platform's report key, and the refusal of a wrong nonce length.

mod common;

use common::Harness;
use teehsm_attest::{verify, Policy, Refused, TrustAnchor};
use teehsm_crypto::digest::{digest, HashAlg};
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_wire::*;

fn report(h: &Harness, c: &mut teehsm_ta::handler::Connection, nonce: &[u8; 32]) -> AttestationReport {
    match h.ok(c, Request::GetAttestation { nonce: nonce.to_vec() }) {
        Reply::Attestation(r) => *r,
        r => panic!("expected an attestation report, got {r:?}"),
    }
}

fn anchor(h: &Harness) -> TrustAnchor {
    TrustAnchor::SimReportKey(SimPlatform::open(&h.dir.join("platform"), 1).unwrap().report_public_key())
}

fn policy(h: &Harness, allow_simulation: bool) -> Policy {
    Policy::parse(&format!(
        "allowed_measurements = [\"{}\"]\nallowed_signers = [\"{}\"]\nproduct_id = 1\nmin_security_version = 1\nallow_simulation = {allow_simulation}\n",
        hex::encode(h.ta.platform.measurement()),
        hex::encode(h.ta.platform.identity().signer),
    ))
    .unwrap()
}

#[test]
fn the_report_carries_the_platform_fields_and_needs_no_session() {
    let h = Harness::new("attest-fields");
    // A fresh connection: Hello only, no session, no login.
    let mut c = h.conn();
    let r = report(&h, &mut c, &[7; 32]);
    let id = h.ta.platform.identity();
    assert_eq!(r.platform, "sim");
    assert!(r.simulation);
    assert_eq!(r.measurement, h.ta.platform.measurement());
    assert_eq!(r.signer, id.signer);
    assert_eq!(r.product_id, id.product_id);
    assert_eq!(r.security_version, id.security_version);
    assert!(r.body.windows(10).any(|w| w == b"SIMULATION"));
    // The channel key bundle: P-256 point || ML-KEM-768 encapsulation key || SM2 point.
    assert_eq!(r.channel_public_key.len(), CHANNEL_BUNDLE_LEN);
    assert_eq!(r.channel_public_key[0], 4);
    let parts = split_channel_bundle(&r.channel_public_key).unwrap();
    assert_eq!((parts.p256.len(), parts.mlkem.len()), (CHANNEL_P256_POINT_LEN, CHANNEL_MLKEM768_EK_LEN));
    assert_eq!((parts.sm2.len(), parts.sm2[0]), (CHANNEL_SM2_POINT_LEN, 4));
    let v = verify(&r, &[7; 32], &anchor(&h), &policy(&h, true)).unwrap();
    assert_eq!(v.channel_public_key, h.ta.channel.public_key());
}

#[test]
fn the_report_binds_the_nonce_and_the_channel_key() {
    let h = Harness::new("attest-binding");
    let mut c = h.conn();
    let a = report(&h, &mut c, &[1; 32]);
    let b = report(&h, &mut c, &[2; 32]);
    for (r, n) in [(&a, [1u8; 32]), (&b, [2u8; 32])] {
        assert_eq!(&r.report_data[..32], &n);
        assert_eq!(&r.report_data[32..], &digest(HashAlg::Sha256, &r.channel_public_key)[..]);
        assert_eq!(&r.body[r.body.len() - 64..], &r.report_data[..], "report data is inside the signed body");
    }
    // Same TA process, same channel key; every report answers its own nonce.
    assert_eq!(a.channel_public_key, b.channel_public_key);
    assert_ne!(a.body, b.body);
    let (anchor, policy) = (anchor(&h), policy(&h, true));
    verify(&b, &[2; 32], &anchor, &policy).unwrap();
    assert!(matches!(verify(&a, &[2; 32], &anchor, &policy), Err(Refused::NonceMismatch { .. })));
    // A channel key swapped in transit no longer matches the hash the TA signed.
    let mut swapped = b.clone();
    swapped.channel_public_key[10] ^= 1;
    assert!(matches!(verify(&swapped, &[2; 32], &anchor, &policy), Err(Refused::ChannelKeyMismatch { .. })));
    // The default policy refuses the sim platform's reports.
    assert_eq!(verify(&b, &[2; 32], &anchor, &policy_strict(&h)), Err(Refused::SimulationNotAllowed));
    // Another TA process has another channel key.
    let other = Harness::new("attest-binding-2");
    let mut c2 = other.conn();
    assert_ne!(report(&other, &mut c2, &[1; 32]).channel_public_key, a.channel_public_key);
}

fn policy_strict(h: &Harness) -> Policy {
    Policy::parse(&format!("allowed_measurements = [\"{}\"]\n", hex::encode(h.ta.platform.measurement()))).unwrap()
}

#[test]
fn a_nonce_that_is_not_32_bytes_is_refused() {
    let h = Harness::new("attest-nonce");
    let mut c = h.conn();
    for n in [0usize, 1, 31, 33, 64, 256] {
        let msg = h.refused(&mut c, Request::GetAttestation { nonce: vec![5; n] }, Rv::ARGUMENTS_BAD);
        assert!(msg.contains("32 bytes"), "{msg}");
    }
    // Still needs Hello first, like every request.
    let mut raw = h.ta.new_conn();
    assert!(matches!(h.call(&mut raw, Request::GetAttestation { nonce: vec![0; 32] }), Response::Err { rv: Rv::TEEHSM_NO_HELLO, .. }));
}

#[test]
fn attestation_calls_are_audited() {
    let h = Harness::new("attest-audit");
    let mut c = h.conn();
    let _ = report(&h, &mut c, &[3; 32]);
    h.refused(&mut c, Request::GetAttestation { nonce: vec![3; 31] }, Rv::ARGUMENTS_BAD);
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join("audit.log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("\"GetAttestation\"")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("\"rv\":0"), "{}", lines[0]);
    assert!(lines[1].contains(&format!("\"rv\":{}", Rv::ARGUMENTS_BAD.0)), "{}", lines[1]);
    teehsm_ta::audit::verify(&h.dir.join("store").join("audit.log"), None).unwrap();
}
