//! Key distribution (docs/key-distribution.md): the console wraps a key to
//! one TA's attested channel key bundle and signs the envelope with its
//! Ed25519 key distribution key; the TA imports it only if the token's SO
//! registered that key (`teehsm keydist trust`).
//!
//! - [`signer`]: the console's signing key (generate, load, sign).
//! - [`target`]: verifies the TA's attestation report (teehsm-attest) and
//!   takes its channel key bundle.
//! - [`material`]: key material from files (AES / generic secret bytes,
//!   P-256 PKCS#8) and the PKCS#11 template it implies.
//! - [`wrap`]: builds, seals and signs an envelope.
//! - [`cli`]: the `teehsm-console keydist` subcommands.
//!
//! Layout of the envelope: `teehsm_wire::keydist`.

pub mod cli;
pub mod material;
pub mod signer;
pub mod target;
pub mod wrap;

pub use material::{KeyMaterial, KeySpec};
pub use signer::SigningKey;
pub use target::{verify_report, Target};
pub use wrap::{seal, wrap, WrapParams};

/// Why a key distribution step failed. Messages say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeydistError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the attestation report file is not a teehsm report: {0}")]
    ReportFormat(String),
    #[error("the TA's attestation report was refused: {0}")]
    ReportRefused(#[from] teehsm_attest::Refused),
    #[error("attestation policy: {0}")]
    Policy(#[from] teehsm_attest::PolicyError),
    #[error("trust anchor: {0}")]
    Anchor(#[from] teehsm_attest::AnchorError),
    #[error("the report's channel key is not a teehsm channel key bundle ({0} bytes)")]
    Bundle(usize),
    #[error("signing key: {0}")]
    SigningKey(String),
    #[error("key material: {0}")]
    Material(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cryptographic failure while {0}")]
    Crypto(&'static str),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, KeydistError> {
    std::fs::read(path).map_err(|source| KeydistError::Io { path: path.display().to_string(), source })
}

#[cfg(test)]
mod tests;
