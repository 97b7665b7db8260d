//! The simulated TEE: the TA runs as an ordinary process; the platform root
//! key is a 0600 file and reports are signed by a software key and marked as
//! simulation. Nothing here is secure against the host; it exists so the
//! whole stack runs and is tested on any Linux machine.

use super::{Platform, PlatformError, Report, TaIdentity};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use teehsm_crypto::{digest, ec, kdf};
use zeroize::Zeroizing;

/// The root key's file name inside the platform directory.
pub const ROOT_KEY_FILE: &str = "root.key";
const COUNTER_FILE: &str = "monotonic.counter";
/// Signer identity of development builds of the TA.
pub const DEV_SIGNER_NAME: &[u8] = b"teehsm development signer v1";

/// The sim platform, rooted in a directory that stands in for the TEE's
/// fused keys and replay-protected memory.
pub struct SimPlatform {
    dir: PathBuf,
    root_key: Zeroizing<[u8; 32]>,
    identity: TaIdentity,
    measurement: [u8; 32],
    counter: Mutex<File>,
    report_key: ec::EcPrivateKey,
}

fn io_err(path: &Path, source: std::io::Error) -> PlatformError {
    PlatformError::Io { path: path.display().to_string(), source }
}

impl SimPlatform {
    /// Opens (or on first use creates) the sim platform state in `dir`.
    /// `security_version` is the running TA's SVN (from its build, or a test override).
    pub fn open(dir: &Path, security_version: u32) -> Result<Self, PlatformError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        let root_key = load_or_create_root_key(&dir.join(ROOT_KEY_FILE))?;
        let counter_path = dir.join(COUNTER_FILE);
        let counter = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&counter_path)
            .map_err(|e| io_err(&counter_path, e))?;
        let signer_digest = digest::digest(digest::HashAlg::Sha256, DEV_SIGNER_NAME);
        let mut signer = [0u8; 32];
        signer.copy_from_slice(&signer_digest);
        let identity = TaIdentity { signer, product_id: 1, security_version };
        let measurement = measure_self();
        let scalar = derive(&root_key, b"teehsm-sim-report-key", &[])?;
        let report_key = ec::EcPrivateKey::from_scalar(ec::Curve::P256, &scalar[..]).map_err(|e| PlatformError::Crypto(e.to_string()))?;
        Ok(Self { dir: dir.to_path_buf(), root_key, identity, measurement, counter: Mutex::new(counter), report_key })
    }

    /// The public key that verifies this platform's reports (uncompressed P-256 point).
    pub fn report_public_key(&self) -> Vec<u8> {
        self.report_key.public_point()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn load_or_create_root_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
    let mut key = Zeroizing::new([0u8; 32]);
    match File::open(path) {
        Ok(mut f) => {
            let meta = f.metadata().map_err(|e| io_err(path, e))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(PlatformError::RootKey {
                    path: path.display().to_string(),
                    why: format!("mode {:o} lets others read it; run chmod 600", meta.permissions().mode() & 0o777),
                });
            }
            let mut buf = Zeroizing::new(Vec::new());
            f.read_to_end(&mut buf).map_err(|e| io_err(path, e))?;
            if buf.len() != 32 {
                return Err(PlatformError::RootKey { path: path.display().to_string(), why: format!("expected 32 bytes, found {}", buf.len()) });
            }
            key.copy_from_slice(&buf);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            teehsm_crypto::rng::fill(&mut key[..]).map_err(|e| PlatformError::Crypto(e.to_string()))?;
            let tmp = path.with_extension("tmp");
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(|e| io_err(&tmp, e))?;
            f.write_all(&key[..]).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
            fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
            if let Some(parent) = path.parent() {
                File::open(parent).and_then(|d| d.sync_all()).map_err(|e| io_err(parent, e))?;
            }
        }
        Err(e) => return Err(io_err(path, e)),
    }
    Ok(key)
}

fn derive(root: &[u8; 32], label: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, PlatformError> {
    let mut info = Vec::with_capacity(label.len() + context.len() + 1);
    info.extend_from_slice(label);
    info.push(0);
    info.extend_from_slice(context);
    kdf::hkdf_sha256(&root[..], b"teehsm-sim-platform", &info, 32).map_err(|e| PlatformError::Crypto(e.to_string()))
}

/// SHA-256 of the running executable: what the sim platform calls the measurement.
fn measure_self() -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = fs::read("/proc/self/exe") {
        out.copy_from_slice(&digest::digest(digest::HashAlg::Sha256, &bytes));
    }
    out
}

impl Platform for SimPlatform {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn is_simulation(&self) -> bool {
        true
    }
    fn measurement(&self) -> [u8; 32] {
        self.measurement
    }
    fn identity(&self) -> &TaIdentity {
        &self.identity
    }

    fn seal_key(&self, security_version: u32, purpose: &[u8]) -> Result<Zeroizing<[u8; 32]>, PlatformError> {
        let ctx = super::seal_context(&self.identity, security_version, purpose)?;
        let k = derive(&self.root_key, b"teehsm-seal-v1", &ctx)?;
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&k[..32]);
        Ok(out)
    }

    fn counter(&self) -> Result<u64, PlatformError> {
        let f = self.counter.lock().map_err(|_| PlatformError::Counter("lock poisoned".into()))?;
        read_counter(&f).map_err(|e| io_err(&self.dir.join(COUNTER_FILE), e))
    }

    fn advance_counter(&self, value: u64) -> Result<(), PlatformError> {
        use std::os::unix::fs::FileExt;
        let f = self.counter.lock().map_err(|_| PlatformError::Counter("lock poisoned".into()))?;
        let path = self.dir.join(COUNTER_FILE);
        let current = read_counter(&f).map_err(|e| io_err(&path, e))?;
        if value < current {
            return Err(PlatformError::Counter(format!("refusing to lower the counter from {current} to {value}")));
        }
        if value == current {
            return Ok(());
        }
        f.write_all_at(&value.to_be_bytes(), 0).map_err(|e| io_err(&path, e))?;
        f.sync_data().map_err(|e| io_err(&path, e))
    }

    fn report(&self, report_data: &[u8; 64]) -> Result<Report, PlatformError> {
        let mut body = Vec::with_capacity(200);
        body.extend_from_slice(b"TEEHSM-SIM-REPORT-v1\0SIMULATION: NOT A HARDWARE TEE\0");
        body.extend_from_slice(&self.measurement);
        body.extend_from_slice(&self.identity.signer);
        body.extend_from_slice(&self.identity.product_id.to_be_bytes());
        body.extend_from_slice(&self.identity.security_version.to_be_bytes());
        body.extend_from_slice(report_data);
        let signature = self.report_key.sign(digest::HashAlg::Sha256, &body).map_err(|e| PlatformError::Crypto(e.to_string()))?;
        Ok(Report {
            platform: "sim".into(),
            simulation: true,
            measurement: self.measurement,
            identity: self.identity.clone(),
            report_data: *report_data,
            body,
            signature,
        })
    }
}

fn read_counter(f: &File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    let n = f.read_at(&mut b, 0)?;
    if n == 0 {
        return Ok(0);
    }
    if n != 8 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "counter file is not 8 bytes"));
    }
    Ok(u64::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("teehsm-sim-{}-{}", std::process::id(), rand_suffix()));
        let _ = fs::remove_dir_all(&d);
        d
    }
    fn rand_suffix() -> u64 {
        let mut b = [0u8; 8];
        let _ = teehsm_crypto::rng::fill(&mut b);
        u64::from_le_bytes(b)
    }

    #[test]
    fn root_key_is_0600_and_stable() {
        let d = tmp();
        let p1 = SimPlatform::open(&d, 3).unwrap();
        let mode = fs::metadata(d.join(ROOT_KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let k1 = p1.seal_key(3, b"store").unwrap();
        drop(p1);
        let p2 = SimPlatform::open(&d, 3).unwrap();
        assert_eq!(*k1, *p2.seal_key(3, b"store").unwrap());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn sealing_binds_version_and_refuses_downgrade() {
        let d = tmp();
        let p = SimPlatform::open(&d, 3).unwrap();
        assert_ne!(*p.seal_key(2, b"store").unwrap(), *p.seal_key(3, b"store").unwrap());
        assert!(matches!(p.seal_key(4, b"store"), Err(PlatformError::Downgrade { .. })));
        // A newer TA (same signer and product) derives the old version's key: upgrades keep keys.
        let newer = SimPlatform::open(&d, 4).unwrap();
        assert_eq!(*p.seal_key(3, b"store").unwrap(), *newer.seal_key(3, b"store").unwrap());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn loose_root_key_permissions_are_refused() {
        let d = tmp();
        drop(SimPlatform::open(&d, 1).unwrap());
        fs::set_permissions(d.join(ROOT_KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(SimPlatform::open(&d, 1), Err(PlatformError::RootKey { .. })));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn counter_only_moves_forward_and_reports_are_marked() {
        let d = tmp();
        let p = SimPlatform::open(&d, 1).unwrap();
        assert_eq!(p.counter().unwrap(), 0);
        p.advance_counter(7).unwrap();
        assert_eq!(p.counter().unwrap(), 7);
        assert!(p.advance_counter(6).is_err());
        let r = p.report(&[9u8; 64]).unwrap();
        assert!(r.simulation);
        assert!(r.body.windows(10).any(|w| w == b"SIMULATION"));
        ec::verify(ec::Curve::P256, &p.report_public_key(), digest::HashAlg::Sha256, &r.body, &r.signature).unwrap();
        let _ = fs::remove_dir_all(&d);
    }
}
