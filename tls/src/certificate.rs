//! The certificate a TLS listener presents: fixed, or the operator's
//! files, loaded again when they change.

use crate::pem::{load_chain, load_private_key};
use crate::{TlsError, TlsMetrics};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// The options that named the certificate and key files, for messages
/// and logs (for example `--grpc-tls-cert` and `--grpc-tls-key`).
#[derive(Clone, Copy, Debug)]
pub struct FileOptions {
    pub cert: &'static str,
    pub key: &'static str,
}

/// What identifies one version of the files: inode, modification time and
/// length of the certificate and of the key (the inode catches a file
/// renamed into place within one clock tick).
type Stamp = [FileStamp; 2];

/// Inode, modification time and length of one file (zeros when it cannot
/// be read): what tells a daemon that a file it watches was replaced.
pub type FileStamp = (u64, Option<SystemTime>, u64);

/// The [`FileStamp`] of `path` now.
pub fn file_stamp(path: &Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| (m.ino(), m.modified().ok(), m.len())).unwrap_or((0, None, 0))
}

struct Files {
    cert: PathBuf,
    key: PathBuf,
    options: FileOptions,
}

struct Current {
    stamp: Option<Stamp>,
    certified: Arc<CertifiedKey>,
}

/// Answers rustls with the certificate to present. From files, it checks
/// on each handshake (two `stat` calls) whether the certificate or the key
/// file changed and, if so, loads them again: a renewed pair is presented
/// from the next handshake on; a pair that does not load (unreadable, key
/// and certificate not belonging together, key readable by others) is
/// logged, counted in `reloads{result="error"}`, and the pair in use kept.
/// Connections already open keep the certificate they started with.
pub struct ServerCertificate {
    files: Option<Files>,
    current: Mutex<Current>,
    provider: Arc<CryptoProvider>,
    metrics: TlsMetrics,
}

impl std::fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.files.as_ref().map(|f| f.cert.display().to_string()).unwrap_or_else(|| "fixed".into());
        f.debug_struct("ServerCertificate").field("source", &source).finish_non_exhaustive()
    }
}

impl ServerCertificate {
    /// A certificate that does not change (for example one the daemon issued itself).
    pub fn fixed(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>, metrics: TlsMetrics) -> Result<ServerCertificate, TlsError> {
        let provider = provider();
        let options = FileOptions { cert: "certificate", key: "private key" };
        let (certified, not_after) = certify(chain, key, &provider, options)?;
        metrics.expiry.set(not_after);
        Ok(ServerCertificate { files: None, current: Mutex::new(Current { stamp: None, certified }), provider, metrics })
    }

    /// The operator's certificate chain (leaf first) and private key, PEM.
    /// Fails when they do not load, so the daemon does not start with them.
    pub fn from_files(cert: &Path, key: &Path, options: FileOptions, metrics: TlsMetrics) -> Result<ServerCertificate, TlsError> {
        let provider = provider();
        let files = Files { cert: cert.to_path_buf(), key: key.to_path_buf(), options };
        // Stamped before reading: a renewal racing this start is loaded by the first handshake.
        let stamp = files.stamp();
        let (certified, not_after) = files.load(&provider)?;
        metrics.expiry.set(not_after);
        Ok(ServerCertificate { files: Some(files), current: Mutex::new(Current { stamp: Some(stamp), certified }), provider, metrics })
    }

    /// The certificate to present now, after loading the files again if they changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(files) = &self.files {
            let now = files.stamp();
            if cur.stamp != Some(now) {
                cur.stamp = Some(now);
                match files.load(&self.provider) {
                    Ok((certified, not_after)) => {
                        cur.certified = certified;
                        self.metrics.expiry.set(not_after);
                        self.metrics.reloads.with_label_values(&["ok"]).inc();
                        tracing::info!(cert = %files.cert.display(), not_after, "loaded the renewed TLS certificate");
                    }
                    Err(e) => {
                        self.metrics.reloads.with_label_values(&["error"]).inc();
                        tracing::error!(error = %e, "the changed TLS certificate or key does not load; still presenting the previous one");
                    }
                }
            }
        }
        cur.certified.clone()
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl Files {
    fn stamp(&self) -> Stamp {
        [file_stamp(&self.cert), file_stamp(&self.key)]
    }

    fn load(&self, provider: &CryptoProvider) -> Result<(Arc<CertifiedKey>, i64), TlsError> {
        let chain = load_chain(&self.cert).map_err(|why| TlsError::File { option: self.options.cert, path: self.cert.clone(), why })?;
        let key = load_private_key(&self.key).map_err(|why| TlsError::File { option: self.options.key, path: self.key.clone(), why })?;
        certify(chain, key, provider, self.options)
    }
}

/// The rustls provider of every listener: aws-lc-rs, as tonic's.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider())
}

/// The signing key for the chain, checked to belong to the leaf, and the
/// leaf's notAfter (Unix seconds; an expired leaf is logged, not refused,
/// so a late renewal can still be dropped in place).
fn certify(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    options: FileOptions,
) -> Result<(Arc<CertifiedKey>, i64), TlsError> {
    let pair = |why: String| TlsError::Pair { cert_option: options.cert, key_option: options.key, why };
    let leaf = chain.first().ok_or_else(|| pair("no certificate".into()))?;
    let not_after = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => cert.validity().not_after.timestamp(),
        Err(e) => return Err(pair(format!("the first certificate does not parse: {e}"))),
    };
    let certified =
        CertifiedKey::from_der(chain, key, provider).map_err(|e| pair(format!("the certificate and the private key do not go together: {e}")))?;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if not_after <= now {
        tracing::error!(cert = options.cert, not_after, "the certificate has expired; clients will refuse it");
    }
    Ok((Arc::new(certified), not_after))
}
