//! Linux configfs-tsm (`/sys/kernel/config/tsm/report`, Linux 6.7+): quotes
//! for SEV-SNP (`sev_guest` provider: the SNP attestation report) and TDX
//! (`tdx_guest` provider: a TDX quote v4), in a confidential VM.
//!
//! A report: mkdir a fresh entry, write 64 bytes to `inblob`, read
//! `generation`, `provider` and `outblob`, read `generation` again (a
//! change means another writer raced us: retry), check the evidence binds
//! our 64 bytes, rmdir the entry.
//!
//! Sealing: SEV-SNP keys come from the firmware through `/dev/sev-guest`
//! ([`SnpKeyDeriver`]); TDX has no derived sealing key, so `seal_key` fails
//! clearly there (release a key from a KMS after attestation instead; see
//! docs/tee-backends.md). Neither has a hardware monotonic counter: the
//! counter is a MAC-protected file ([`MacCounter`]).

use super::counter::MacCounter;
use super::gramine::sha256;
use super::sevguest::{SnpDerivedKeyRequest, SnpKeyDeriver};
use super::{field, read_bounded, Platform, PlatformError, Report, TaIdentity};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use teehsm_crypto::kdf;
use zeroize::Zeroizing;

/// The counter file's name in the data directory.
pub const COUNTER_FILE: &str = "tsm.counter";
/// Product id the TA reports on these platforms (the hardware evidence has none).
pub const TSM_PRODUCT_ID: u16 = 1;
const MAX_OUTBLOB: usize = 64 * 1024;
const ATTEMPTS: usize = 3;

/// SNP attestation report: 0x4A0 bytes.
pub const SNP_REPORT_LEN: usize = 0x4A0;
const TDX_HEADER_LEN: usize = 48;
const TDX_BODY_LEN: usize = 584;

/// Which TEE the configfs-tsm provider is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsmProvider {
    SevSnp,
    Tdx,
}

impl TsmProvider {
    fn parse(s: &str) -> Result<Self, PlatformError> {
        match s.trim() {
            "sev_guest" => Ok(Self::SevSnp),
            "tdx_guest" => Ok(Self::Tdx),
            other => Err(PlatformError::Unavailable(format!("configfs-tsm provider {other:?} is not supported (expected sev_guest or tdx_guest)"))),
        }
    }
    /// Report platform name.
    pub fn platform_name(self) -> &'static str {
        match self {
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        }
    }
}

/// The fields the TA uses from an SNP report or a TDX quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsmEvidence {
    /// SNP MEASUREMENT or TDX MRTD (48 bytes).
    pub raw_measurement: [u8; 48],
    /// SNP ID_KEY_DIGEST or TDX MROWNER (48 bytes; zero when the launch set none).
    pub raw_signer: [u8; 48],
    pub report_data: [u8; 64],
    /// SNP policy DEBUG or TDX TDATTRIBUTES.DEBUG: the host can read guest memory.
    pub debug: bool,
}

/// Parses an SEV-SNP attestation report (0x4A0 bytes; version 2 or later).
pub fn parse_snp_report(r: &[u8]) -> Result<TsmEvidence, PlatformError> {
    if r.len() < SNP_REPORT_LEN {
        return Err(PlatformError::Evidence(format!("SNP report is {} bytes, expected at least {SNP_REPORT_LEN}", r.len())));
    }
    let version = u32::from_le_bytes(field(r, 0, "SNP report version")?);
    if version < 2 {
        return Err(PlatformError::Evidence(format!("SNP report version {version} is not supported (expected 2 or later)")));
    }
    let policy = u64::from_le_bytes(field(r, 0x08, "SNP guest policy")?);
    Ok(TsmEvidence {
        raw_measurement: field(r, 0x90, "SNP MEASUREMENT")?,
        raw_signer: field(r, 0xE0, "SNP ID_KEY_DIGEST")?,
        report_data: field(r, 0x50, "SNP REPORT_DATA")?,
        debug: policy & (1 << 19) != 0,
    })
}

/// Parses a TDX quote v4: 48-byte header, then the 584-byte TD report body.
pub fn parse_tdx_quote(q: &[u8]) -> Result<TsmEvidence, PlatformError> {
    if q.len() < TDX_HEADER_LEN + TDX_BODY_LEN {
        return Err(PlatformError::Evidence(format!(
            "TDX quote is {} bytes, shorter than its header and TD report body ({} bytes)",
            q.len(),
            TDX_HEADER_LEN + TDX_BODY_LEN
        )));
    }
    let version = u16::from_le_bytes(field(q, 0, "TDX quote version")?);
    if version != 4 {
        return Err(PlatformError::Evidence(format!("TDX quote version {version} is not supported (expected 4)")));
    }
    let tee_type = u32::from_le_bytes(field(q, 4, "TDX quote TEE type")?);
    if tee_type != 0x81 {
        return Err(PlatformError::Evidence(format!("quote TEE type 0x{tee_type:x} is not TDX (0x81)")));
    }
    let b = TDX_HEADER_LEN;
    let td_attributes = u64::from_le_bytes(field(q, b + 120, "TDATTRIBUTES")?);
    Ok(TsmEvidence {
        raw_measurement: field(q, b + 136, "MRTD")?,
        raw_signer: field(q, b + 232, "MROWNER")?,
        report_data: field(q, b + 520, "REPORTDATA")?,
        debug: td_attributes & 1 != 0,
    })
}

/// Where in a report the fake kernel of the tests may act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsmStage {
    /// `inblob` was written; a real kernel would now have the report ready.
    AfterInblob,
    /// `outblob` was read; `generation` is about to be read again.
    AfterOutblob,
}

/// A stand-in for the kernel in tests: called with the report entry's directory.
pub type TsmHook = Arc<dyn Fn(TsmStage, &Path) -> std::io::Result<()> + Send + Sync>;

/// Where the sealing root comes from.
pub enum TsmKeys {
    /// SEV-SNP: from the firmware (the real `/dev/sev-guest`, or a fake).
    Snp(Box<dyn SnpKeyDeriver>),
    /// No sealing key (TDX without a key released from elsewhere).
    None,
}

/// The configfs-tsm platform.
pub struct TsmPlatform {
    report_dir: PathBuf,
    provider: TsmProvider,
    measurement: [u8; 32],
    evidence_at_open: TsmEvidence,
    identity: TaIdentity,
    /// Sealing root (from the SNP derived key) or why there is none.
    seal_root: Result<Zeroizing<[u8; 32]>, String>,
    counter: Option<MacCounter>,
    seq: Mutex<u64>,
    hook: Option<TsmHook>,
}

fn io_err(path: &Path, source: std::io::Error) -> PlatformError {
    PlatformError::Io { path: path.display().to_string(), source }
}

fn derive(root: &[u8; 32], label: &[u8], context: &[u8]) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
    let mut info = Vec::with_capacity(label.len() + context.len() + 1);
    info.extend_from_slice(label);
    info.push(0);
    info.extend_from_slice(context);
    let k = kdf::hkdf_sha256(&root[..], b"teehsm-tsm-platform", &info, 32).map_err(|e| PlatformError::Crypto(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&k[..32]);
    Ok(out)
}

impl TsmPlatform {
    /// Opens the platform under `root`: takes one report to learn the
    /// provider and the measurement, and (SEV-SNP) derives the sealing root
    /// from `keys`. The counter file goes in `data_dir`.
    pub fn open(root: &Path, data_dir: &Path, security_version: u32, keys: TsmKeys) -> Result<Self, PlatformError> {
        Self::open_with_hook(root, data_dir, security_version, keys, None)
    }

    /// [`TsmPlatform::open`] with a fake kernel for tests.
    pub fn open_with_hook(root: &Path, data_dir: &Path, security_version: u32, keys: TsmKeys, hook: Option<TsmHook>) -> Result<Self, PlatformError> {
        let report_dir = root.join("sys/kernel/config/tsm/report");
        if !report_dir.is_dir() {
            return Err(PlatformError::Unavailable(format!(
                "{} does not exist: configfs-tsm needs Linux 6.7+ in an SEV-SNP or TDX guest, with configfs mounted on /sys/kernel/config",
                report_dir.display()
            )));
        }
        let mut p = Self {
            report_dir,
            provider: TsmProvider::SevSnp,
            measurement: [0u8; 32],
            evidence_at_open: TsmEvidence { raw_measurement: [0; 48], raw_signer: [0; 48], report_data: [0; 64], debug: false },
            identity: TaIdentity { signer: [0u8; 32], product_id: TSM_PRODUCT_ID, security_version },
            seal_root: Err(String::new()),
            counter: None,
            seq: Mutex::new(0),
            hook,
        };
        let (provider, _, ev) = p.take_report(&[0u8; 64])?;
        if ev.debug {
            tracing::warn!(provider = provider.platform_name(), "this confidential VM runs with DEBUG enabled: the host can read its memory");
        }
        p.provider = provider;
        p.measurement = sha256(&ev.raw_measurement);
        p.identity.signer = sha256(&ev.raw_signer);
        p.evidence_at_open = ev;
        p.seal_root = match (provider, keys) {
            (TsmProvider::SevSnp, TsmKeys::Snp(d)) => d
                .derive_key(&SnpDerivedKeyRequest::teehsm_default())
                .map_err(|e| format!("no SEV-SNP derived key: {e}")),
            (TsmProvider::SevSnp, TsmKeys::None) => Err("no SEV-SNP key deriver was configured".into()),
            (TsmProvider::Tdx, _) => Err("TDX has no derived sealing key; the TA needs a sealing key released to it after attestation (e.g. by a KMS), which this build does not do yet".into()),
        };
        if let Ok(root_key) = &p.seal_root {
            p.counter = Some(MacCounter::new(data_dir.join(COUNTER_FILE), derive(root_key, b"teehsm-counter-v1", &[])?));
        }
        Ok(p)
    }

    /// Ok when this platform can seal (SEV-SNP with a derived key); the reason otherwise.
    pub fn sealing_available(&self) -> Result<(), PlatformError> {
        self.seal_root.as_ref().map(|_| ()).map_err(|why| PlatformError::Unavailable(format!("sealing key: {why}")))
    }

    pub fn provider(&self) -> TsmProvider {
        self.provider
    }

    /// The evidence of the report taken when the platform was opened.
    pub fn evidence_at_open(&self) -> &TsmEvidence {
        &self.evidence_at_open
    }

    fn take_report(&self, report_data: &[u8; 64]) -> Result<(TsmProvider, Vec<u8>, TsmEvidence), PlatformError> {
        let mut seq = self.seq.lock().map_err(|_| PlatformError::Evidence("report lock poisoned".into()))?;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            *seq = seq.wrapping_add(1);
            let entry = self.report_dir.join(format!("teehsm-{}-{}", std::process::id(), *seq));
            match fs::create_dir(&entry) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&entry, e)),
            }
            let r = self.report_in(&entry, report_data);
            // configfs removes the attribute files with the directory; a
            // fake tree holds regular files, which rmdir refuses.
            if fs::remove_dir(&entry).is_err() {
                let _ = fs::remove_dir_all(&entry);
            }
            match r {
                Err(PlatformError::Evidence(m)) if m.starts_with(RACE) => last = Some(m),
                other => return other,
            }
        }
        Err(PlatformError::Evidence(last.unwrap_or_else(|| "could not create a configfs-tsm report entry".into())))
    }

    fn report_in(&self, entry: &Path, report_data: &[u8; 64]) -> Result<(TsmProvider, Vec<u8>, TsmEvidence), PlatformError> {
        let read_string = |name: &str| -> Result<String, PlatformError> {
            let bytes = read_bounded(&entry.join(name), 256)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let generation = |s: String| -> Result<u64, PlatformError> {
            s.trim().parse::<u64>().map_err(|_| PlatformError::Evidence(format!("configfs-tsm generation {:?} is not a number", s.trim())))
        };
        let inblob = entry.join("inblob");
        fs::write(&inblob, report_data).map_err(|e| io_err(&inblob, e))?;
        if let Some(h) = &self.hook {
            h(TsmStage::AfterInblob, entry).map_err(|e| io_err(entry, e))?;
        }
        let g1 = generation(read_string("generation")?)?;
        let provider = TsmProvider::parse(&read_string("provider")?)?;
        let outblob = entry.join("outblob");
        let out = read_bounded(&outblob, MAX_OUTBLOB)?;
        if let Some(h) = &self.hook {
            h(TsmStage::AfterOutblob, entry).map_err(|e| io_err(entry, e))?;
        }
        let g2 = generation(read_string("generation")?)?;
        if g1 != g2 {
            return Err(PlatformError::Evidence(format!(
                "{RACE}: generation moved from {g1} to {g2} while the report was read (another process wrote {})",
                entry.display()
            )));
        }
        let ev = match provider {
            TsmProvider::SevSnp => parse_snp_report(&out)?,
            TsmProvider::Tdx => parse_tdx_quote(&out)?,
        };
        if ev.report_data != *report_data {
            return Err(PlatformError::Evidence("the report's REPORT_DATA is not the inblob the TA wrote".into()));
        }
        Ok((provider, out, ev))
    }
}

const RACE: &str = "concurrent configfs-tsm writer";

impl Platform for TsmPlatform {
    fn name(&self) -> &'static str {
        self.provider.platform_name()
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
        let root = self.seal_root.as_ref().map_err(|why| PlatformError::Unavailable(format!("sealing key: {why}")))?;
        derive(root, b"teehsm-seal-v1", &ctx)
    }

    fn counter(&self) -> Result<u64, PlatformError> {
        match &self.counter {
            Some(c) => c.get(),
            None => Err(PlatformError::Unavailable("monotonic counter: no sealing key to protect it on this platform".into())),
        }
    }

    fn advance_counter(&self, value: u64) -> Result<(), PlatformError> {
        match &self.counter {
            Some(c) => c.advance(value),
            None => Err(PlatformError::Unavailable("monotonic counter: no sealing key to protect it on this platform".into())),
        }
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<Report, PlatformError> {
        let (provider, body, ev) = self.take_report(report_data)?;
        if provider != self.provider || sha256(&ev.raw_measurement) != self.measurement {
            return Err(PlatformError::Evidence("the provider or measurement changed since the TA started".into()));
        }
        Ok(Report {
            platform: provider.platform_name().into(),
            simulation: false,
            measurement: self.measurement,
            identity: self.identity.clone(),
            report_data: ev.report_data,
            body,
            // The SNP report / TDX quote carries its own signature (VCEK/VLEK, or the TD quoting enclave).
            signature: Vec::new(),
        })
    }
}
