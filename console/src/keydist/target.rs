//! The target TA: its attestation report, verified with teehsm-attest,
//! gives the channel key bundle an envelope is wrapped to.

use super::KeydistError;
use aws_lc_rs::digest;
use teehsm_attest::{Policy, TrustAnchor, Verified};
use teehsm_wire::{split_channel_bundle, AttestationReport, ATTESTATION_NONCE_LEN};

/// A verified TA's channel key bundle.
#[derive(Clone, Debug)]
pub struct Target {
    /// What the report said (platform, measurement, ...).
    pub verified: Verified,
    /// P-256 point || ML-KEM-768 encapsulation key || SM2 point.
    pub bundle: Vec<u8>,
    /// SHA-256 of `bundle`: the envelope's target field.
    pub bundle_hash: [u8; 32],
}

impl Target {
    /// The bundle's P-256 point and ML-KEM-768 encapsulation key.
    pub fn keys(&self) -> Result<(&[u8], &[u8]), KeydistError> {
        let b = split_channel_bundle(&self.bundle).ok_or(KeydistError::Bundle(self.bundle.len()))?;
        Ok((b.p256, b.mlkem))
    }
}

/// Verifies a report as `teehsm attest fetch` saved it against `anchor` and
/// `policy` and returns its channel key bundle. `nonce` is the nonce the
/// report must answer; `None` accepts the one it carries (the bundle is
/// then still proven to be held by a TA the policy allows, but the report
/// may be old: the TA refuses envelopes for a bundle it no longer holds).
pub fn verify_report(
    report_bytes: &[u8],
    nonce: Option<[u8; ATTESTATION_NONCE_LEN]>,
    anchor: &TrustAnchor,
    policy: &Policy,
) -> Result<Target, KeydistError> {
    let report = AttestationReport::from_bytes(report_bytes).map_err(|e| KeydistError::ReportFormat(e.to_string()))?;
    let nonce = match nonce {
        Some(n) => n,
        None => {
            let mut n = [0u8; ATTESTATION_NONCE_LEN];
            n.copy_from_slice(&report.report_data[..ATTESTATION_NONCE_LEN]);
            n
        }
    };
    let verified = teehsm_attest::verify(&report, &nonce, anchor, policy)?;
    let bundle = verified.channel_public_key.clone();
    split_channel_bundle(&bundle).ok_or(KeydistError::Bundle(bundle.len()))?;
    let mut bundle_hash = [0u8; 32];
    bundle_hash.copy_from_slice(digest::digest(&digest::SHA256, &bundle).as_ref());
    Ok(Target { verified, bundle, bundle_hash })
}
