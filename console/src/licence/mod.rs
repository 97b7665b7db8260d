//! The console's licence (issue #6, docs/fleet-licence.md): a TOML body
//! signed by the vendor with Ed25519, which caps the number of enrolled
//! hosts and has a validity window.
//!
//! - [`VerifiedLicence::verify`] checks the file against the vendor public
//!   key(s) and its structure, and is the only way to get a
//!   [`VerifiedLicence`];
//! - [`VerifiedLicence::check`] gives its [`LicenceStatus`] at a time and
//!   host count, [`VerifiedLicence::can_enroll`] says whether one more host
//!   may be enrolled, with a message telling the operator what to do;
//! - `alerts::Licence::from(&verified)` is the alert engine's input;
//! - [`vendor`] is the signing side, for the vendor's tooling and tests.
//!
//! Like the rest of the console library, nothing here reads a clock or does
//! I/O: time is passed in as Unix milliseconds.

mod body;
mod file;
mod status;
pub mod vendor;

#[cfg(test)]
mod tests;

use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
use serde::Serialize;
use thiserror::Error;

pub use file::{SIGNATURE_BEGIN, SIGNATURE_END};
pub use status::{can_enroll, EnrollRefused, LicenceStatus, EXPIRES_SOON_MS};

/// Largest licence file accepted, in bytes; larger input is refused before
/// anything else is looked at.
pub const MAX_LICENCE_BYTES: usize = 64 * 1024;

/// What can be wrong with a licence file (or with signing one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LicenceError {
    #[error("the licence file is {len} bytes, more than the {max} allowed; this is not a teehsm licence file")]
    TooLarge { len: usize, max: usize },
    #[error("the licence file has no `{SIGNATURE_BEGIN}` line; this is not a signed teehsm licence file")]
    NoSignature,
    #[error("the licence file has no licence terms before its signature block")]
    EmptyBody,
    #[error("the licence signature block is malformed: {0}; ask the vendor for a fresh copy of the file")]
    MalformedSignature(&'static str),
    #[error("no vendor public key is configured to verify the licence with")]
    NoVendorKeys,
    #[error("the vendor public key is invalid: {0}")]
    BadVendorKey(&'static str),
    #[error("the licence signature does not verify with the {keys} configured vendor key(s): the file was altered or is not from the vendor; ask the vendor for a fresh copy of the file")]
    BadSignature { keys: usize },
    #[error("the licence terms are not UTF-8 text")]
    NotUtf8,
    #[error("the licence terms are not valid TOML: {0}")]
    Toml(String),
    #[error("the licence field `{0}` is missing")]
    MissingField(&'static str),
    #[error("the licence field {0:?} is unknown; this licence may need a newer console")]
    UnknownField(String),
    #[error("the licence field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("the vendor key could not sign the licence")]
    SigningFailed,
}

/// A vendor Ed25519 public key (32 bytes) that licences are checked against.
/// The console may trust several at once, so the vendor can rotate its key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorPublicKey([u8; 32]);

impl VendorPublicKey {
    /// The raw 32-byte Ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LicenceError> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| LicenceError::BadVendorKey("an Ed25519 public key is 32 bytes"))
    }

    /// The key as 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, LicenceError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(LicenceError::BadVendorKey("an Ed25519 public key is 64 hex digits"));
        }
        let bytes = hex::decode(text).map_err(|_| LicenceError::BadVendorKey("not hex"))?;
        Self::from_bytes(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0).verify(message, signature).is_ok()
    }
}

impl std::fmt::Debug for VendorPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VendorPublicKey({})", self.to_hex())
    }
}

/// A licence whose signature and structure have been checked. It can only
/// be obtained from [`VerifiedLicence::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedLicence {
    licence_id: String,
    customer: String,
    max_hosts: u64,
    not_before_ms: u64,
    expires_ms: u64,
    features: Vec<String>,
    /// Index, in the vendor keys given to `verify`, of the key that signed.
    signed_by: usize,
}

impl VerifiedLicence {
    /// Checks a licence file: size, layout, the signature over the exact
    /// body bytes with each of `vendor_keys` in turn, then the body's
    /// structure. The signature is checked before the body is parsed.
    pub fn verify(file: &[u8], vendor_keys: &[VendorPublicKey]) -> Result<Self, LicenceError> {
        if file.len() > MAX_LICENCE_BYTES {
            return Err(LicenceError::TooLarge { len: file.len(), max: MAX_LICENCE_BYTES });
        }
        if vendor_keys.is_empty() {
            return Err(LicenceError::NoVendorKeys);
        }
        let (body, signature) = file::split(file)?;
        let signed_by =
            vendor_keys.iter().position(|k| k.verifies(body, &signature)).ok_or(LicenceError::BadSignature { keys: vendor_keys.len() })?;
        let text = std::str::from_utf8(body).map_err(|_| LicenceError::NotUtf8)?;
        let terms = body::parse(text)?;
        Ok(Self {
            licence_id: terms.licence_id,
            customer: terms.customer,
            max_hosts: terms.max_hosts,
            not_before_ms: terms.not_before_ms,
            expires_ms: terms.expires_ms,
            features: terms.features,
            signed_by,
        })
    }

    pub fn licence_id(&self) -> &str {
        &self.licence_id
    }

    pub fn customer(&self) -> &str {
        &self.customer
    }

    pub fn max_hosts(&self) -> u64 {
        self.max_hosts
    }

    /// Start of validity (inclusive), Unix ms.
    pub fn not_before_ms(&self) -> u64 {
        self.not_before_ms
    }

    /// End of validity (exclusive: expired from this instant on), Unix ms.
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    pub fn features(&self) -> &[String] {
        &self.features
    }

    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Index, in the vendor keys given to [`VerifiedLicence::verify`], of
    /// the key that signed this licence.
    pub fn signed_by(&self) -> usize {
        self.signed_by
    }
}

impl From<&VerifiedLicence> for crate::alerts::Licence {
    fn from(l: &VerifiedLicence) -> Self {
        crate::alerts::Licence { max_hosts: l.max_hosts, expires_at_ms: l.expires_ms }
    }
}
