//! The platform seam: everything the TA needs from the TEE it runs in.
//!
//! A backend supplies sealing keys bound to the TA's signer, product and
//! security version (never to one exact binary, so signed upgrades keep
//! their keys), a monotonic counter for rollback detection, a measurement of
//! the running TA and signed attestation reports.

pub mod counter;
pub mod gramine;
pub mod sevguest;
pub mod sim;
pub mod tsm;

use thiserror::Error;
use zeroize::Zeroizing;

/// Why the platform could not do what was asked.
#[derive(Debug, Error)]
pub enum PlatformError {
    #[error("platform I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("root key file {path} is unusable: {why}")]
    RootKey { path: String, why: String },
    #[error("a sealing key for security version {requested} was asked for, but this TA is version {own}: downgrades are refused")]
    Downgrade { requested: u32, own: u32 },
    #[error("monotonic counter: {0}")]
    Counter(String),
    #[error("crypto: {0}")]
    Crypto(String),
    /// Attestation evidence from the platform (a quote or report) is malformed or does not bind what was asked.
    #[error("attestation evidence: {0}")]
    Evidence(String),
    /// The platform cannot do this at all (or not as configured).
    #[error("not available on this platform: {0}")]
    Unavailable(String),
}

/// Reads at most `max` bytes of `path` (more is an evidence error, not an allocation).
pub(crate) fn read_bounded(path: &std::path::Path, max: usize) -> Result<Vec<u8>, PlatformError> {
    use std::io::Read;
    let io = |source| PlatformError::Io { path: path.display().to_string(), source };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    f.take(max as u64 + 1).read_to_end(&mut out).map_err(io)?;
    if out.len() > max {
        return Err(PlatformError::Evidence(format!("{} holds more than the {max} bytes accepted", path.display())));
    }
    Ok(out)
}

/// `N` bytes of `buf` at `offset`, or a clear error naming `what` (never panics).
pub(crate) fn field<const N: usize>(buf: &[u8], offset: usize, what: &str) -> Result<[u8; N], PlatformError> {
    let end = offset.checked_add(N).ok_or_else(|| PlatformError::Evidence(format!("{what}: offset overflow")))?;
    let src = buf
        .get(offset..end)
        .ok_or_else(|| PlatformError::Evidence(format!("{what} needs bytes {offset}..{end}, but the evidence is only {} bytes long", buf.len())))?;
    let mut out = [0u8; N];
    out.copy_from_slice(src);
    Ok(out)
}

/// Who signed the TA and which product it is; with the security version
/// this is what sealing binds to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaIdentity {
    /// Hash of the TA signer's public key (MRSIGNER-like).
    pub signer: [u8; 32],
    /// Product identifier within the signer's products.
    pub product_id: u16,
    /// Security version of the running TA.
    pub security_version: u32,
}

/// A report binding caller data to the platform's view of the TA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub platform: String,
    pub simulation: bool,
    pub measurement: [u8; 32],
    pub identity: TaIdentity,
    pub report_data: [u8; 64],
    /// Encoded report body that `signature` covers.
    pub body: Vec<u8>,
    /// Platform signature over `body` (format is backend specific).
    pub signature: Vec<u8>,
}

/// The context every backend's sealing key is derived with: signer,
/// product, the requested security version and the purpose. Refuses a
/// version above the running TA's (invariant 5: no key for a downgrade).
pub(crate) fn seal_context(identity: &TaIdentity, security_version: u32, purpose: &[u8]) -> Result<Vec<u8>, PlatformError> {
    if security_version > identity.security_version {
        return Err(PlatformError::Downgrade { requested: security_version, own: identity.security_version });
    }
    let mut ctx = Vec::with_capacity(64 + purpose.len());
    ctx.extend_from_slice(&identity.signer);
    ctx.extend_from_slice(&identity.product_id.to_be_bytes());
    ctx.extend_from_slice(&security_version.to_be_bytes());
    ctx.extend_from_slice(purpose);
    Ok(ctx)
}

/// What a TEE backend provides.
pub trait Platform: Send + Sync {
    /// Backend name ("sim", "sgx", ...).
    fn name(&self) -> &'static str;
    /// True when no hardware protects the TA (reports say so).
    fn is_simulation(&self) -> bool;
    /// Hash of the running TA binary.
    fn measurement(&self) -> [u8; 32];
    /// Signer, product and security version of the running TA.
    fn identity(&self) -> &TaIdentity;
    /// A 32-byte sealing key for `purpose`, bound to signer and product and to
    /// `security_version`, which must not exceed the running TA's.
    fn seal_key(&self, security_version: u32, purpose: &[u8]) -> Result<Zeroizing<[u8; 32]>, PlatformError>;
    /// Current value of the platform's monotonic counter.
    fn counter(&self) -> Result<u64, PlatformError>;
    /// Raises the monotonic counter to `value` (never lowers it); durable on return.
    fn advance_counter(&self, value: u64) -> Result<(), PlatformError>;
    /// A signed report over `report_data`.
    fn report(&self, report_data: &[u8; 64]) -> Result<Report, PlatformError>;
    /// True when the monotonic counter is protected by the TEE hardware (or
    /// a trusted service) against a host that replays old copies of the
    /// TA's files; false when it is only a MAC-protected file that a
    /// whole-directory replay rolls back (and for sim, which protects nothing).
    fn rollback_protected(&self) -> bool {
        false
    }
}
