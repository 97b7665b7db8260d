//! Verifies teehsm TA attestation reports (DESIGN invariant 8, first part).
//!
//! A report ([`teehsm_wire::AttestationReport`]) is accepted only if
//!
//! 1. its platform is one this verifier knows and the trust anchor is for it,
//! 2. the platform signature over the report body verifies under the trust anchor,
//! 3. the body parses, and every convenience field of the report (simulation
//!    flag, measurement, signer, product id, security version, report data)
//!    equals what the signed body says,
//! 4. the first 32 bytes of the report data are the nonce the verifier sent
//!    (freshness: a replayed report carries another nonce),
//! 5. the last 32 bytes are SHA-256 of the channel public key (the TA's
//!    P-256 + ML-KEM-768 key bundle) that came with the report (so a
//!    channel key swapped in transit is caught),
//! 6. the policy allows it: simulation (refused by default), measurement,
//!    signer, product id, minimum security version.
//!
//! Every refusal is a [`Refused`] value whose message says what differed.
//! The formats are described in `docs/attestation.md`.

pub mod policy;

pub use policy::{Policy, PolicyError};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use std::fmt;
use teehsm_wire::{AttestationReport, ATTESTATION_NONCE_LEN};
use thiserror::Error;

/// The exact start of a sim platform report body (it names itself a simulation).
pub const SIM_BODY_PREFIX: &[u8] = b"TEEHSM-SIM-REPORT-v1\0SIMULATION: NOT A HARDWARE TEE\0";
/// Length of a sim report body: prefix, measurement, signer, product id, security version, report data.
pub const SIM_BODY_LEN: usize = SIM_BODY_PREFIX.len() + 32 + 32 + 2 + 4 + 64;

/// Hex of a byte string, for messages.
struct Hex<'a>(&'a [u8]);
impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

fn hex_list(v: &[[u8; 32]]) -> String {
    v.iter().map(hex::encode).collect::<Vec<_>>().join(", ")
}

/// Why a report was refused. Each message names what differed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Refused {
    #[error("the report is from platform {platform:?}, which this verifier does not support (supported: sim)")]
    UnsupportedPlatform { platform: String },
    #[error("the trust anchor is for platform {anchor}, but the report is from platform {report}")]
    AnchorMismatch { anchor: &'static str, report: String },
    #[error("the report signature does not verify under the trust anchor (the body was altered, or another platform key signed it)")]
    BadSignature,
    #[error("the signed report body is malformed: {why}")]
    MalformedBody { why: String },
    #[error("the report's {field} field ({reported}) differs from the signed body ({signed})")]
    FieldMismatch { field: &'static str, reported: String, signed: String },
    #[error("the report answers nonce {got}, not the nonce sent ({expected}): a replayed or stale report")]
    NonceMismatch { expected: String, got: String },
    #[error("the report binds channel key hash {bound}, but the channel key it came with hashes to {actual}: the channel key was swapped")]
    ChannelKeyMismatch { bound: String, actual: String },
    #[error("the report comes from a simulated TEE (no hardware protection) and the policy does not allow simulation (allow_simulation = false)")]
    SimulationNotAllowed,
    #[error("measurement {got} is not among the policy's allowed_measurements [{allowed}]")]
    MeasurementNotAllowed { got: String, allowed: String },
    #[error("signer {got} is not among the policy's allowed_signers [{allowed}]")]
    SignerNotAllowed { got: String, allowed: String },
    #[error("product id {got} differs from the policy's product_id {expected}")]
    ProductMismatch { expected: u16, got: u16 },
    #[error("security version {got} is below the policy's min_security_version {min}")]
    SecurityVersionTooLow { min: u32, got: u32 },
}

/// What a verifier trusts to sign reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustAnchor {
    /// The sim platform's report public key (uncompressed P-256 point), as
    /// `teehsm-ta platform report-key` prints it.
    SimReportKey(Vec<u8>),
}

/// Why a trust anchor file could not be read.
#[derive(Debug, Error)]
pub enum AnchorError {
    #[error("reading trust anchor {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("trust anchor: {0}")]
    Invalid(String),
}

/// DER SubjectPublicKeyInfo header of an uncompressed P-256 point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
    0x42, 0x00,
];

impl TrustAnchor {
    /// Parses a sim report key: a PEM `PUBLIC KEY` (P-256 SubjectPublicKeyInfo)
    /// or the hex of the uncompressed point (65 bytes, starting 04).
    pub fn parse_sim(text: &str) -> Result<Self, AnchorError> {
        let text = text.trim();
        let point = if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            let b64: String = text.lines().map(str::trim).filter(|l| !l.starts_with("-----")).collect();
            if !text.lines().any(|l| l.trim() == "-----END PUBLIC KEY-----") {
                return Err(AnchorError::Invalid("PEM has no END PUBLIC KEY line".into()));
            }
            let der = base64_decode(&b64).ok_or_else(|| AnchorError::Invalid("PEM body is not valid base64".into()))?;
            match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
                Some(p) => p.to_vec(),
                None => return Err(AnchorError::Invalid("the PEM key is not a P-256 public key".into())),
            }
        } else {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            hex::decode(&compact).map_err(|e| AnchorError::Invalid(format!("neither a PEM public key nor hex: {e}")))?
        };
        if point.len() != 65 || point[0] != 4 {
            return Err(AnchorError::Invalid(format!(
                "a sim report key is an uncompressed P-256 point (65 bytes starting 04), got {} bytes",
                point.len()
            )));
        }
        Ok(TrustAnchor::SimReportKey(point))
    }

    /// Reads [`TrustAnchor::parse_sim`] from a file.
    pub fn load_sim(path: &std::path::Path) -> Result<Self, AnchorError> {
        let text = std::fs::read_to_string(path).map_err(|source| AnchorError::Io { path: path.display().to_string(), source })?;
        Self::parse_sim(&text)
    }

    fn platform(&self) -> &'static str {
        match self {
            TrustAnchor::SimReportKey(_) => "sim",
        }
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// What a verified report says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub platform: String,
    pub simulation: bool,
    pub measurement: [u8; 32],
    pub signer: [u8; 32],
    pub product_id: u16,
    pub security_version: u32,
    /// The TA's channel key bundle (P-256 point || ML-KEM-768 key), now bound to this report.
    pub channel_public_key: Vec<u8>,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "platform:         {}", self.platform)?;
        writeln!(f, "simulation:       {}", if self.simulation { "yes (no hardware protection)" } else { "no" })?;
        writeln!(f, "measurement:      {}", Hex(&self.measurement))?;
        writeln!(f, "signer:           {}", Hex(&self.signer))?;
        writeln!(f, "product id:       {}", self.product_id)?;
        writeln!(f, "security version: {}", self.security_version)?;
        write!(f, "channel key:      {}", Hex(&self.channel_public_key))
    }
}

/// The fields a signed body carries.
struct SignedBody {
    simulation: bool,
    measurement: [u8; 32],
    signer: [u8; 32],
    product_id: u16,
    security_version: u32,
    report_data: [u8; 64],
}

fn parse_sim_body(body: &[u8]) -> Result<SignedBody, Refused> {
    let rest =
        body.strip_prefix(SIM_BODY_PREFIX).ok_or_else(|| Refused::MalformedBody { why: "it does not start with the sim report header".into() })?;
    if body.len() != SIM_BODY_LEN {
        return Err(Refused::MalformedBody { why: format!("a sim report body is {SIM_BODY_LEN} bytes, this one is {}", body.len()) });
    }
    let take = |at: usize, n: usize| &rest[at..at + n];
    let mut b = SignedBody {
        simulation: true,
        measurement: [0; 32],
        signer: [0; 32],
        product_id: u16::from_be_bytes([rest[64], rest[65]]),
        security_version: u32::from_be_bytes([rest[66], rest[67], rest[68], rest[69]]),
        report_data: [0; 64],
    };
    b.measurement.copy_from_slice(take(0, 32));
    b.signer.copy_from_slice(take(32, 32));
    b.report_data.copy_from_slice(take(70, 64));
    Ok(b)
}

fn same<T: PartialEq + fmt::Display>(field: &'static str, reported: T, signed: T) -> Result<(), Refused> {
    if reported == signed {
        Ok(())
    } else {
        Err(Refused::FieldMismatch { field, reported: reported.to_string(), signed: signed.to_string() })
    }
}

fn same_bytes(field: &'static str, reported: &[u8], signed: &[u8]) -> Result<(), Refused> {
    if reported == signed {
        Ok(())
    } else {
        Err(Refused::FieldMismatch { field, reported: hex::encode(reported), signed: hex::encode(signed) })
    }
}

/// Verifies `report` as the answer to `nonce`, signed under `anchor`, against `policy`.
pub fn verify(report: &AttestationReport, nonce: &[u8; ATTESTATION_NONCE_LEN], anchor: &TrustAnchor, policy: &Policy) -> Result<Verified, Refused> {
    // 1-2: platform, anchor, signature.
    if report.platform != "sim" {
        return Err(Refused::UnsupportedPlatform { platform: report.platform.clone() });
    }
    if anchor.platform() != report.platform {
        return Err(Refused::AnchorMismatch { anchor: anchor.platform(), report: report.platform.clone() });
    }
    let TrustAnchor::SimReportKey(point) = anchor;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(&report.body, &report.signature).map_err(|_| Refused::BadSignature)?;
    // 3: the unsigned fields must repeat the signed body.
    let b = parse_sim_body(&report.body)?;
    same("simulation", report.simulation, b.simulation)?;
    same_bytes("measurement", &report.measurement, &b.measurement)?;
    same_bytes("signer", &report.signer, &b.signer)?;
    same("product id", report.product_id, b.product_id)?;
    same("security version", report.security_version, b.security_version)?;
    same_bytes("report data", &report.report_data, &b.report_data)?;
    // 4: freshness.
    if b.report_data[..32] != nonce[..] {
        return Err(Refused::NonceMismatch { expected: hex::encode(nonce), got: hex::encode(&b.report_data[..32]) });
    }
    // 5: the channel key is the one the TA bound.
    let actual = digest::digest(&digest::SHA256, &report.channel_public_key);
    if actual.as_ref() != &b.report_data[32..] {
        return Err(Refused::ChannelKeyMismatch { bound: hex::encode(&b.report_data[32..]), actual: hex::encode(actual.as_ref()) });
    }
    // 6: policy.
    if b.simulation && !policy.allow_simulation {
        return Err(Refused::SimulationNotAllowed);
    }
    if let Some(allowed) = &policy.allowed_measurements {
        if !allowed.contains(&b.measurement) {
            return Err(Refused::MeasurementNotAllowed { got: hex::encode(b.measurement), allowed: hex_list(allowed) });
        }
    }
    if let Some(allowed) = &policy.allowed_signers {
        if !allowed.contains(&b.signer) {
            return Err(Refused::SignerNotAllowed { got: hex::encode(b.signer), allowed: hex_list(allowed) });
        }
    }
    if let Some(expected) = policy.product_id {
        if expected != b.product_id {
            return Err(Refused::ProductMismatch { expected, got: b.product_id });
        }
    }
    if b.security_version < policy.min_security_version {
        return Err(Refused::SecurityVersionTooLow { min: policy.min_security_version, got: b.security_version });
    }
    Ok(Verified {
        platform: report.platform.clone(),
        simulation: b.simulation,
        measurement: b.measurement,
        signer: b.signer,
        product_id: b.product_id,
        security_version: b.security_version,
        channel_public_key: report.channel_public_key.clone(),
    })
}

#[cfg(test)]
mod tests;
