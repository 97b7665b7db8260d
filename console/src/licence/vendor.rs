//! The signing side, for the vendor's licence tooling and for tests. The
//! console itself only verifies; it never holds a vendor private key.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

use super::file::{find_begin, SIGNATURE_BEGIN, SIGNATURE_END};
use super::{LicenceError, VendorPublicKey, VerifiedLicence, MAX_LICENCE_BYTES};

/// The terms of a licence to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceTerms {
    pub licence_id: String,
    pub customer: String,
    pub max_hosts: u64,
    pub not_before_ms: u64,
    pub expires_ms: u64,
    pub features: Vec<String>,
}

impl LicenceTerms {
    /// The TOML body, times as RFC 3339 UTC date-times with milliseconds.
    pub fn to_body(&self) -> String {
        let s = |v: &str| toml::Value::String(v.to_string()).to_string();
        let t = |ms: u64| teehsm_wire::time::fmt_time(i64::try_from(ms).unwrap_or(i64::MAX));
        let features: Vec<String> = self.features.iter().map(|f| s(f)).collect();
        format!(
            "licence_id = {}\ncustomer = {}\nmax_hosts = {}\nnot_before = {}\nexpires = {}\nfeatures = [{}]\n",
            s(&self.licence_id),
            s(&self.customer),
            self.max_hosts,
            t(self.not_before_ms),
            t(self.expires_ms),
            features.join(", "),
        )
    }
}

/// The public key to configure in consoles for `key`.
pub fn vendor_public_key(key: &Ed25519KeyPair) -> Result<VendorPublicKey, LicenceError> {
    VendorPublicKey::from_bytes(key.public_key().as_ref())
}

/// Signs a licence body (TOML, as in docs/fleet-licence.md) and returns the
/// licence file. A "\n" is appended to the body if it lacks one; the rest
/// is signed byte for byte. The result is verified with `key`'s public key
/// before it is returned, so a body the console would refuse (bad fields,
/// a line starting with the signature marker, too large) is an error here.
pub fn sign_licence(body: &str, key: &Ed25519KeyPair) -> Result<String, LicenceError> {
    let mut body = body.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    if find_begin(body.as_bytes()).is_some() {
        return Err(LicenceError::MalformedSignature("the body contains the BEGIN marker line"));
    }
    if body.len() > MAX_LICENCE_BYTES {
        return Err(LicenceError::TooLarge { len: body.len(), max: MAX_LICENCE_BYTES });
    }
    let signature = key.try_sign(body.as_bytes()).map_err(|_| LicenceError::SigningFailed)?;
    let file = format!("{body}{SIGNATURE_BEGIN}\n{}\n{SIGNATURE_END}\n", hex::encode(signature.as_ref()));
    VerifiedLicence::verify(file.as_bytes(), &[vendor_public_key(key)?])?;
    Ok(file)
}

/// [`sign_licence`] of [`LicenceTerms::to_body`].
pub fn sign_terms(terms: &LicenceTerms, key: &Ed25519KeyPair) -> Result<String, LicenceError> {
    sign_licence(&terms.to_body(), key)
}
