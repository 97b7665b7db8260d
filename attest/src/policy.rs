//! The verification policy: which TAs a client accepts.
//!
//! A TOML file (every key optional except that at least one of
//! `allowed_measurements` / `allowed_signers` must be given):
//!
//! ```toml
//! # Hex SHA-256 measurements of TA builds you accept. Omit to accept any build
//! # of an allowed signer (what lets signed upgrades through).
//! allowed_measurements = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
//! # Hex hashes of the TA signers you accept.
//! allowed_signers = ["..."]
//! # The TA product id within its signer's products (default: not checked).
//! product_id = 1
//! # Lowest TA security version accepted (default 0).
//! min_security_version = 1
//! # Accept reports from the simulated TEE, which protects nothing (default false).
//! allow_simulation = false
//! ```

use serde::Deserialize;
use std::path::Path;
use thiserror::Error;

/// A parsed, validated policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Accepted measurements; `None` means any (then `allowed_signers` is set).
    pub allowed_measurements: Option<Vec<[u8; 32]>>,
    /// Accepted signers; `None` means any (then `allowed_measurements` is set).
    pub allowed_signers: Option<Vec<[u8; 32]>>,
    /// Required product id; `None` means not checked.
    pub product_id: Option<u16>,
    /// Lowest accepted security version.
    pub min_security_version: u32,
    /// Whether simulation reports are accepted.
    pub allow_simulation: bool,
}

/// Why a policy file was not accepted.
#[derive(Debug, Error)]
pub enum PolicyError {
    #[error("reading policy {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("policy is not valid TOML for a teehsm policy: {0}")]
    Syntax(String),
    #[error("policy {key}: {why}")]
    Invalid { key: &'static str, why: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    allowed_measurements: Option<Vec<String>>,
    allowed_signers: Option<Vec<String>>,
    product_id: Option<u16>,
    #[serde(default)]
    min_security_version: u32,
    #[serde(default)]
    allow_simulation: bool,
}

fn hashes(key: &'static str, v: Option<Vec<String>>) -> Result<Option<Vec<[u8; 32]>>, PolicyError> {
    let Some(v) = v else { return Ok(None) };
    if v.is_empty() {
        return Err(PolicyError::Invalid { key, why: "is empty, which would refuse every report: list at least one value or omit the key".into() });
    }
    v.iter()
        .map(|s| {
            let b = hex::decode(s.trim()).map_err(|e| PolicyError::Invalid { key, why: format!("{s:?} is not hex: {e}") })?;
            <[u8; 32]>::try_from(b.as_slice())
                .map_err(|_| PolicyError::Invalid { key, why: format!("{s:?} is {} bytes, expected 32 (64 hex digits)", b.len()) })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl Policy {
    /// Parses and validates a policy from TOML text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let p = Policy {
            allowed_measurements: hashes("allowed_measurements", f.allowed_measurements)?,
            allowed_signers: hashes("allowed_signers", f.allowed_signers)?,
            product_id: f.product_id,
            min_security_version: f.min_security_version,
            allow_simulation: f.allow_simulation,
        };
        if p.allowed_measurements.is_none() && p.allowed_signers.is_none() {
            return Err(PolicyError::Invalid {
                key: "allowed_measurements / allowed_signers",
                why: "neither is given, so any TA would pass: pin the measurements or the signers you trust".into(),
            });
        }
        Ok(p)
    }

    /// Reads [`Policy::parse`] from a file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }
}
