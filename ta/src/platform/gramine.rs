//! Gramine-SGX: the TA runs inside an SGX enclave under the Gramine library
//! OS, which exposes the enclave's attestation and sealing through the
//! `/dev/attestation` pseudo-files:
//!
//! - `attestation_type`: `dcap`, `epid` or `none` (from `sgx.remote_attestation`);
//! - `user_report_data` (write 64 bytes) then `quote` (read): an SGX quote
//!   whose REPORTDATA is what was written;
//! - `keys/_sgx_mrsigner`: a 16-byte EGETKEY sealing key under the MRSIGNER
//!   policy (bound by the CPU to MRSIGNER and ISVPRODID, and by Gramine's
//!   key request to the enclave's ISVSVN and the CPU's SVN).
//!
//! Every path is under a configurable root so tests run against a fake tree.
//! SGX has no usable hardware monotonic counter: the counter is a
//! MAC-protected file ([`MacCounter`]) that does not stop a host from
//! replaying the whole data directory (`rollback_protected() == false`).

use super::counter::MacCounter;
use super::{field, read_bounded, Platform, PlatformError, Report, TaIdentity};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use teehsm_crypto::{digest, kdf};
use zeroize::Zeroizing;

/// Report platform name of this backend.
pub const PLATFORM_NAME: &str = "gramine-sgx";
/// The counter file's name in the data directory.
pub const COUNTER_FILE: &str = "gramine-sgx.counter";

const QUOTE_HEADER_LEN: usize = 48;
const REPORT_BODY_LEN: usize = 384;
/// The largest quote accepted (real DCAP quotes are a few KiB with their certificate chain).
const MAX_QUOTE_LEN: usize = 64 * 1024;

/// What the TA uses from an SGX quote (version 2 EPID or 3 DCAP layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgxQuote {
    pub version: u16,
    pub mrenclave: [u8; 32],
    pub mrsigner: [u8; 32],
    pub isv_prod_id: u16,
    pub isv_svn: u16,
    pub report_data: [u8; 64],
    /// ATTRIBUTES.DEBUG: the enclave's memory is readable by the host; it protects nothing.
    pub debug: bool,
}

/// Parses the fields the TA needs from an SGX quote: a 48-byte header, then
/// the 384-byte report body. Never indexes out of bounds; the signature
/// data after the body is not checked here (that is the verifier's job).
pub fn parse_sgx_quote(q: &[u8]) -> Result<SgxQuote, PlatformError> {
    if q.len() < QUOTE_HEADER_LEN + REPORT_BODY_LEN {
        return Err(PlatformError::Evidence(format!(
            "SGX quote is {} bytes, shorter than its header and report body ({} bytes)",
            q.len(),
            QUOTE_HEADER_LEN + REPORT_BODY_LEN
        )));
    }
    if q.len() > MAX_QUOTE_LEN {
        return Err(PlatformError::Evidence(format!("SGX quote is {} bytes, more than the {MAX_QUOTE_LEN} accepted", q.len())));
    }
    let version = u16::from_le_bytes(field(q, 0, "quote version")?);
    if version != 2 && version != 3 {
        return Err(PlatformError::Evidence(format!("SGX quote version {version} is not supported (expected 2 EPID or 3 DCAP)")));
    }
    let b = QUOTE_HEADER_LEN;
    let attributes = u64::from_le_bytes(field(q, b + 48, "ATTRIBUTES.FLAGS")?);
    Ok(SgxQuote {
        version,
        mrenclave: field(q, b + 64, "MRENCLAVE")?,
        mrsigner: field(q, b + 128, "MRSIGNER")?,
        isv_prod_id: u16::from_le_bytes(field(q, b + 256, "ISVPRODID")?),
        isv_svn: u16::from_le_bytes(field(q, b + 258, "ISVSVN")?),
        report_data: field(q, b + 320, "REPORTDATA")?,
        debug: attributes & 0x2 != 0,
    })
}

/// The Gramine-SGX platform.
pub struct GraminePlatform {
    attestation_dir: PathBuf,
    /// The `_sgx_mrsigner` key, the root of every sealing key.
    mrsigner_key: Zeroizing<[u8; 16]>,
    identity: TaIdentity,
    measurement: [u8; 32],
    quote_at_open: SgxQuote,
    counter: MacCounter,
    /// `/dev/attestation` is per-process state: one report at a time.
    report_lock: Mutex<()>,
}

fn io_err(path: &Path, source: std::io::Error) -> PlatformError {
    PlatformError::Io { path: path.display().to_string(), source }
}

impl GraminePlatform {
    /// Opens the platform under `root` (`/` inside Gramine): checks that
    /// remote attestation is enabled, takes one quote to learn MRENCLAVE,
    /// MRSIGNER and ISVPRODID, and reads the MRSIGNER sealing key. The
    /// counter file goes in `data_dir`. `security_version` is the TA's own
    /// (sealing binds to it and refuses newer versions than it).
    pub fn open(root: &Path, data_dir: &Path, security_version: u32) -> Result<Self, PlatformError> {
        let attestation_dir = root.join("dev/attestation");
        let type_path = attestation_dir.join("attestation_type");
        let att_type = fs::read_to_string(&type_path).map_err(|e| io_err(&type_path, e))?;
        match att_type.trim() {
            "dcap" | "epid" => {}
            "none" => {
                return Err(PlatformError::Unavailable(
                    "Gramine reports attestation_type \"none\": set sgx.remote_attestation = \"dcap\" in the manifest (the TA cannot attest, or learn its own MRENCLAVE, without it)".into(),
                ))
            }
            other => return Err(PlatformError::Unavailable(format!("unknown Gramine attestation_type {other:?}"))),
        }
        let key_path = attestation_dir.join("keys/_sgx_mrsigner");
        let raw = Zeroizing::new(read_bounded(&key_path, 64)?);
        if raw.len() != 16 {
            return Err(PlatformError::RootKey { path: key_path.display().to_string(), why: format!("expected 16 bytes, found {}", raw.len()) });
        }
        let mut mrsigner_key = Zeroizing::new([0u8; 16]);
        mrsigner_key.copy_from_slice(&raw);
        let report_lock = Mutex::new(());
        let quote = take_quote(&attestation_dir, &report_lock, &[0u8; 64])?.1;
        if quote.debug {
            tracing::warn!("this SGX enclave is a DEBUG enclave: the host can read its memory; it protects nothing");
        }
        let identity = TaIdentity { signer: quote.mrsigner, product_id: quote.isv_prod_id, security_version };
        let counter_key = derive(&mrsigner_key, b"teehsm-counter-v1", &identity.signer)?;
        Ok(Self {
            attestation_dir,
            mrsigner_key,
            measurement: quote.mrenclave,
            identity,
            quote_at_open: quote,
            counter: MacCounter::new(data_dir.join(COUNTER_FILE), counter_key),
            report_lock,
        })
    }

    /// The quote taken when the platform was opened (debug flag, ISVSVN...).
    pub fn quote_at_open(&self) -> &SgxQuote {
        &self.quote_at_open
    }
}

/// Writes `report_data`, reads and parses the quote, checks that it binds `report_data`.
fn take_quote(dir: &Path, lock: &Mutex<()>, report_data: &[u8; 64]) -> Result<(Vec<u8>, SgxQuote), PlatformError> {
    let _g = lock.lock().map_err(|_| PlatformError::Evidence("report lock poisoned".into()))?;
    let urd = dir.join("user_report_data");
    fs::write(&urd, report_data).map_err(|e| io_err(&urd, e))?;
    let qp = dir.join("quote");
    let quote = read_bounded(&qp, MAX_QUOTE_LEN)?;
    let parsed = parse_sgx_quote(&quote)?;
    if parsed.report_data != *report_data {
        return Err(PlatformError::Evidence(
            "the SGX quote's REPORTDATA is not the report data the TA wrote (another writer of /dev/attestation/user_report_data?)".into(),
        ));
    }
    Ok((quote, parsed))
}

fn derive(root: &[u8; 16], label: &[u8], context: &[u8]) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
    let mut info = Vec::with_capacity(label.len() + context.len() + 1);
    info.extend_from_slice(label);
    info.push(0);
    info.extend_from_slice(context);
    let k = kdf::hkdf_sha256(&root[..], b"teehsm-gramine-sgx-platform", &info, 32).map_err(|e| PlatformError::Crypto(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&k[..32]);
    Ok(out)
}

impl Platform for GraminePlatform {
    fn name(&self) -> &'static str {
        PLATFORM_NAME
    }
    fn is_simulation(&self) -> bool {
        false
    }
    fn measurement(&self) -> [u8; 32] {
        self.measurement
    }
    fn identity(&self) -> &TaIdentity {
        &self.identity
    }

    fn seal_key(&self, security_version: u32, purpose: &[u8]) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
        let ctx = super::seal_context(&self.identity, security_version, purpose)?;
        derive(&self.mrsigner_key, b"teehsm-seal-v1", &ctx)
    }

    fn counter(&self) -> Result<u64, PlatformError> {
        self.counter.get()
    }

    fn advance_counter(&self, value: u64) -> Result<(), PlatformError> {
        self.counter.advance(value)
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<Report, PlatformError> {
        let (body, q) = take_quote(&self.attestation_dir, &self.report_lock, report_data)?;
        if q.mrenclave != self.measurement || q.mrsigner != self.identity.signer {
            return Err(PlatformError::Evidence("the quote's MRENCLAVE/MRSIGNER changed since the TA started".into()));
        }
        Ok(Report {
            platform: PLATFORM_NAME.into(),
            simulation: false,
            measurement: q.mrenclave,
            identity: TaIdentity { signer: q.mrsigner, product_id: q.isv_prod_id, security_version: u32::from(q.isv_svn) },
            report_data: q.report_data,
            body,
            // The quote carries its own signature (ECDSA by the quoting
            // enclave's attestation key, with the PCK certificate chain).
            signature: Vec::new(),
        })
    }
}

/// SHA-256 helper shared with the tsm backend.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest::digest(digest::HashAlg::Sha256, data));
    out
}
