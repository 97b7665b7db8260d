//! Agent side of enrollment (docs/fleet-enrollment.md): the agent's own
//! ECDSA P-256 key, the CSR it sends to the console with the one-time
//! token, and the files it keeps afterwards.
//!
//! The private key never leaves the host and is held in memory only as a
//! zeroized PEM string. After enrollment the agent's directory holds
//! [`CERT_FILE`] and [`CA_FILE`] (mode 0644) and [`KEY_FILE`] (mode 0600),
//! each written atomically (temporary file, fsync, rename, fsync of the
//! directory).

use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;
use zeroize::Zeroizing;

/// The agent's client certificate, issued by the console CA.
pub const CERT_FILE: &str = "agent.pem";
/// The agent's private key (PKCS#8 PEM), mode 0600.
pub const KEY_FILE: &str = "agent-key.pem";
/// The console CA certificate the agent trusts.
pub const CA_FILE: &str = "console-ca.pem";
/// A renewed key and certificate, staged before they replace [`KEY_FILE`]
/// and [`CERT_FILE`] (see [`Enrollment::replace_identity`]).
pub const RENEWED_KEY_FILE: &str = "renewed-key.pem";
pub const RENEWED_CERT_FILE: &str = "renewed.pem";
/// Subject CN the agent puts in its CSR; the console replaces it by the
/// host id it assigns.
pub const CSR_COMMON_NAME: &str = "teehsm-agent";

#[derive(Debug, Error)]
pub enum EnrollError {
    #[error("cannot generate or use the agent key: {0}")]
    Key(rcgen::Error),
    #[error("cannot build the certificate signing request: {0}")]
    Csr(rcgen::Error),
    #[error("{what} holds no PEM {expected} block")]
    NoPem { what: &'static str, expected: &'static str },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

/// The agent's key pair, as a zeroized PKCS#8 PEM.
pub struct AgentKey {
    pem: Zeroizing<String>,
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentKey(..)")
    }
}

impl AgentKey {
    /// A fresh ECDSA P-256 key.
    pub fn generate() -> Result<Self, EnrollError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(EnrollError::Key)?;
        Ok(Self { pem: Zeroizing::new(key.serialize_pem()) })
    }

    /// A key from its PEM (e.g. [`KEY_FILE`], for renewal with the same key).
    pub fn from_pem(pem: &str) -> Result<Self, EnrollError> {
        KeyPair::from_pem(pem).map_err(EnrollError::Key)?;
        Ok(Self { pem: Zeroizing::new(pem.to_owned()) })
    }

    /// The key, PKCS#8 PEM.
    pub fn pem(&self) -> &Zeroizing<String> {
        &self.pem
    }

    /// The CSR (PEM) to send to the console, signed with this key.
    pub fn csr_pem(&self) -> Result<String, EnrollError> {
        let key = KeyPair::from_pem(&self.pem).map_err(EnrollError::Key)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, CSR_COMMON_NAME);
        params.serialize_request(&key).and_then(|csr| csr.pem()).map_err(EnrollError::Csr)
    }
}

/// What the agent keeps after enrolling.
#[derive(Clone)]
pub struct Enrollment {
    /// Client certificate issued by the console, PEM.
    pub cert_pem: String,
    /// The agent's key, PEM.
    pub key_pem: Zeroizing<String>,
    /// The console CA certificate(s) the agent trusts, PEM (the console
    /// CA, the operator's CA given at enrollment, or a bundle the console
    /// sent later).
    pub ca_pem: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment").field("cert_pem", &self.cert_pem).field("ca_pem", &self.ca_pem).finish_non_exhaustive()
    }
}

impl Enrollment {
    /// Writes the three files to `dir` (created with mode 0700 if missing):
    /// the key first with mode 0600, then the certificate, the CA last.
    pub fn write(&self, dir: &Path) -> Result<(), EnrollError> {
        check_pem(&self.cert_pem, "the client certificate", "CERTIFICATE")?;
        check_pem(&self.key_pem, "the agent key", "PRIVATE KEY")?;
        check_pem(&self.ca_pem, "the console CA certificate", "CERTIFICATE")?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| EnrollError::Write { path: dir.to_path_buf(), source })?;
        write_atomic(dir, KEY_FILE, self.key_pem.as_bytes(), 0o600)?;
        write_atomic(dir, CERT_FILE, self.cert_pem.as_bytes(), 0o644)?;
        write_atomic(dir, CA_FILE, self.ca_pem.as_bytes(), 0o644)
    }

    /// Replaces the console CA certificates the agent trusts
    /// ([`CA_FILE`], written atomically).
    pub fn replace_ca(dir: &Path, ca_pem: &str) -> Result<(), EnrollError> {
        check_pem(ca_pem, "the console CA bundle", "CERTIFICATE")?;
        write_atomic(dir, CA_FILE, ca_pem.as_bytes(), 0o644)
    }

    /// Replaces the agent's key and certificate in `dir` by renewed ones,
    /// so that a crash at any point leaves a pair that belongs together:
    /// both are first written as [`RENEWED_KEY_FILE`] and
    /// [`RENEWED_CERT_FILE`], then renamed over the old key, then over the
    /// old certificate. [`Enrollment::load`] finishes a replacement a crash
    /// interrupted. (The console accepts the old certificate until the new
    /// one is first used, so the old pair also still works.)
    pub fn replace_identity(dir: &Path, key_pem: &str, cert_pem: &str) -> Result<(), EnrollError> {
        check_pem(cert_pem, "the renewed certificate", "CERTIFICATE")?;
        check_pem(key_pem, "the renewed key", "PRIVATE KEY")?;
        write_atomic(dir, RENEWED_KEY_FILE, key_pem.as_bytes(), 0o600)?;
        write_atomic(dir, RENEWED_CERT_FILE, cert_pem.as_bytes(), 0o644)?;
        finish_replacement(dir)
    }

    /// Reads the three files back from `dir` (first finishing a key and
    /// certificate replacement that was interrupted).
    pub fn load(dir: &Path) -> Result<Self, EnrollError> {
        if dir.join(RENEWED_CERT_FILE).exists() {
            tracing::warn!(dir = %dir.display(), "finishing a certificate renewal that was interrupted");
            finish_replacement(dir)?;
        }
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| EnrollError::Read { path, source })
        };
        let e = Self { key_pem: Zeroizing::new(read(KEY_FILE)?), cert_pem: read(CERT_FILE)?, ca_pem: read(CA_FILE)? };
        check_pem(&e.cert_pem, "the client certificate", "CERTIFICATE")?;
        check_pem(&e.key_pem, "the agent key", "PRIVATE KEY")?;
        check_pem(&e.ca_pem, "the console CA certificate", "CERTIFICATE")?;
        Ok(e)
    }
}

/// The renames of [`Enrollment::replace_identity`]: the staged key over the
/// key (unless that happened already), then the staged certificate over the
/// certificate. A staged certificate without a staged key means the key was
/// renamed already; a staged key without a certificate was never complete
/// and is dropped.
fn finish_replacement(dir: &Path) -> Result<(), EnrollError> {
    let rename =
        |from: &str, to: &str| std::fs::rename(dir.join(from), dir.join(to)).map_err(|source| EnrollError::Write { path: dir.join(to), source });
    let staged_cert = dir.join(RENEWED_CERT_FILE).exists();
    let staged_key = dir.join(RENEWED_KEY_FILE).exists();
    match (staged_key, staged_cert) {
        (true, true) => {
            rename(RENEWED_KEY_FILE, KEY_FILE)?;
            rename(RENEWED_CERT_FILE, CERT_FILE)?;
        }
        (false, true) => rename(RENEWED_CERT_FILE, CERT_FILE)?,
        (true, false) => {
            let _ = std::fs::remove_file(dir.join(RENEWED_KEY_FILE));
        }
        (false, false) => return Ok(()),
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|source| EnrollError::Write { path: dir.to_path_buf(), source })
}

/// The notAfter of a PEM certificate, Unix ms.
pub fn cert_not_after_ms(cert_pem: &str) -> Option<u64> {
    let der = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?.1;
    let cert = der.parse_x509().ok()?;
    u64::try_from(cert.validity().not_after.timestamp()).ok().map(|s| s * 1000)
}

fn check_pem(text: &str, what: &'static str, expected: &'static str) -> Result<(), EnrollError> {
    let begin = format!("-----BEGIN {expected}-----");
    let end = format!("-----END {expected}-----");
    match text.find(&begin) {
        Some(at) if text[at..].contains(&end) => Ok(()),
        _ => Err(EnrollError::NoPem { what, expected }),
    }
}

/// Writes `dir/name` with `mode` through `dir/.name.tmp`: write, fsync,
/// rename over the old file, fsync the directory.
fn write_atomic(dir: &Path, name: &str, data: &[u8], mode: u32) -> Result<(), EnrollError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| EnrollError::Write { path: p, source }
    };
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(&tmp)(e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(err(&tmp))?;
    // The umask may have cleared bits of `mode`; never let it widen a key's.
    f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(err(&tmp))?;
    f.write_all(data).map_err(err(&tmp))?;
    f.sync_all().map_err(err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(err(&path))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("teehsm-agent-enroll-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// A CA and a certificate for the agent's key, as the console issues it.
    fn issue(key: &AgentKey) -> (String, String) {
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca_params.distinguished_name.push(DnType::CommonName, "test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let agent = KeyPair::from_pem(key.pem()).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "host-1");
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        (p.signed_by(&agent, &ca).unwrap().pem(), ca.pem())
    }

    #[test]
    fn key_and_csr_are_p256_pem() {
        let key = AgentKey::generate().unwrap();
        assert!(key.pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(KeyPair::from_pem(key.pem()).unwrap().algorithm(), &PKCS_ECDSA_P256_SHA256);
        let csr = key.csr_pem().unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert_ne!(AgentKey::generate().unwrap().pem().as_str(), key.pem().as_str());
        assert!(!format!("{key:?}").contains("PRIVATE"));
        let again = AgentKey::from_pem(key.pem()).unwrap();
        assert_eq!(again.pem().as_str(), key.pem().as_str());
        assert!(matches!(AgentKey::from_pem("garbage"), Err(EnrollError::Key(_))));
    }

    #[test]
    fn csr_verifies_with_openssl() {
        let key = AgentKey::generate().unwrap();
        let d = temp("csr");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("req.pem"), key.csr_pem().unwrap()).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["req", "-in", "req.pem", "-noout", "-verify", "-subject"])
            .current_dir(&d)
            .output()
            .expect("openssl CLI");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        assert!(text.contains("verify OK") || text.contains("Certificate request self-signature verify OK"), "{text}");
        assert!(text.contains(CSR_COMMON_NAME), "{text}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn enrollment_is_written_with_modes_and_read_back() {
        let key = AgentKey::generate().unwrap();
        let (cert_pem, ca_pem) = issue(&key);
        let d = temp("files").join("nested");
        let e = Enrollment { cert_pem, key_pem: key.pem().clone(), ca_pem };
        e.write(&d).unwrap();
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&d.join(CERT_FILE)) & 0o600, 0o600);
        assert_eq!(mode(&d.join(CA_FILE)) & 0o600, 0o600);
        let back = Enrollment::load(&d).unwrap();
        assert_eq!(back.cert_pem, e.cert_pem);
        assert_eq!(back.ca_pem, e.ca_pem);
        assert_eq!(back.key_pem.as_str(), e.key_pem.as_str());
        // No temporary files are left; rewriting (renewal) replaces in place.
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        // A stale temporary file from a crash is replaced, and a loose key file mode is fixed.
        std::fs::write(d.join(format!(".{KEY_FILE}.tmp")), "stale").unwrap();
        std::fs::set_permissions(d.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        e.write(&d).unwrap();
        assert_eq!(mode(&d.join(KEY_FILE)), 0o600);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3);
        assert!(!format!("{back:?}").contains("PRIVATE"));
        let _ = std::fs::remove_dir_all(d.parent().unwrap());
    }

    #[test]
    fn bad_pem_is_not_written_and_missing_files_are_typed() {
        let key = AgentKey::generate().unwrap();
        let (cert_pem, ca_pem) = issue(&key);
        let d = temp("bad");
        let swapped = Enrollment { cert_pem: key.pem().to_string(), key_pem: Zeroizing::new(cert_pem.clone()), ca_pem: ca_pem.clone() };
        assert!(matches!(swapped.write(&d), Err(EnrollError::NoPem { expected: "CERTIFICATE", .. })));
        let garbage = Enrollment { cert_pem, key_pem: key.pem().clone(), ca_pem: "garbage".into() };
        assert!(matches!(garbage.write(&d), Err(EnrollError::NoPem { what: "the console CA certificate", .. })));
        assert!(!d.exists());
        assert!(matches!(Enrollment::load(&d), Err(EnrollError::Read { .. })));
    }

    #[test]
    fn a_renewal_replaces_key_and_certificate_and_survives_a_crash_at_any_step() {
        let old_key = AgentKey::generate().unwrap();
        let (old_cert, ca_pem) = issue(&old_key);
        let new_key = AgentKey::generate().unwrap();
        let (new_cert, _) = issue(&new_key);
        let d = temp("renew");
        let fresh = || {
            let _ = std::fs::remove_dir_all(&d);
            Enrollment { cert_pem: old_cert.clone(), key_pem: old_key.pem().clone(), ca_pem: ca_pem.clone() }.write(&d).unwrap();
        };
        let pair = |e: &Enrollment| (e.key_pem.to_string(), e.cert_pem.clone());
        let new_pair = (new_key.pem().to_string(), new_cert.clone());
        let old_pair = (old_key.pem().to_string(), old_cert.clone());
        let staged = |name: &str| d.join(name).exists();

        fresh();
        Enrollment::replace_identity(&d, new_key.pem(), &new_cert).unwrap();
        assert_eq!(pair(&Enrollment::load(&d).unwrap()), new_pair);
        assert_eq!(mode(&d.join(KEY_FILE)), 0o600);
        assert!(!staged(RENEWED_KEY_FILE) && !staged(RENEWED_CERT_FILE));

        // Crashed after staging both files: load finishes the replacement.
        fresh();
        write_atomic(&d, RENEWED_KEY_FILE, new_key.pem().as_bytes(), 0o600).unwrap();
        write_atomic(&d, RENEWED_CERT_FILE, new_cert.as_bytes(), 0o644).unwrap();
        assert_eq!(pair(&Enrollment::load(&d).unwrap()), new_pair);
        assert!(!staged(RENEWED_KEY_FILE) && !staged(RENEWED_CERT_FILE));

        // Crashed after the key was renamed into place: the certificate follows.
        fresh();
        write_atomic(&d, KEY_FILE, new_key.pem().as_bytes(), 0o600).unwrap();
        write_atomic(&d, RENEWED_CERT_FILE, new_cert.as_bytes(), 0o644).unwrap();
        assert_eq!(pair(&Enrollment::load(&d).unwrap()), new_pair);

        // Crashed while staging (key only): the old pair stays, the stray key goes.
        fresh();
        write_atomic(&d, RENEWED_KEY_FILE, new_key.pem().as_bytes(), 0o600).unwrap();
        Enrollment::replace_identity(&d, new_key.pem(), "not a certificate").unwrap_err();
        assert_eq!(pair(&Enrollment::load(&d).unwrap()), old_pair);
        let mut e = Enrollment::load(&d).unwrap();
        e.key_pem = new_key.pem().clone();
        Enrollment::replace_identity(&d, new_key.pem(), &new_cert).unwrap();
        assert_eq!(pair(&Enrollment::load(&d).unwrap()), new_pair, "a later renewal still goes through");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 3);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn not_after_of_a_certificate() {
        let key = AgentKey::generate().unwrap();
        let (cert, _) = issue(&key);
        // rcgen's default validity ends in 4096.
        assert!(cert_not_after_ms(&cert).is_some_and(|t| t > 4_000_000_000_000));
        assert_eq!(cert_not_after_ms("junk"), None);
    }
}
