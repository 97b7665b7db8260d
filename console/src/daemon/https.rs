//! HTTPS for the web UI, the JSON API and /metrics (`--http-tls`,
//! `--http-tls-cert` and `--http-tls-key`; docs/fleet-console.md, "HTTPS").
//!
//! - [`HttpTls::Off`] (the default): plain HTTP, for 127.0.0.1 or behind a
//!   TLS-terminating reverse proxy.
//! - [`HttpTls::ConsoleCertificate`]: the console's own server certificate
//!   (the one agents see, issued by the console CA for localhost and the
//!   `--server-name`s); browsers need console-ca.pem among their trusted CAs.
//! - [`HttpTls::Files`]: the operator's certificate chain and private key
//!   (PEM, e.g. from the bank's PKI; the key readable by its owner only).
//!   The files are looked at again on every new connection: a renewed
//!   certificate takes effect without a restart, and a renewal that does
//!   not load (unreadable, key and certificate not matching) is logged and
//!   the certificate in use kept.
//!
//! The leaf certificate's expiry is exported as
//! `teehsm_console_http_certificate_expiry_timestamp_seconds`.

use super::tls::Material;
use super::DaemonError;
use crate::pem_files::{load_chain, load_private_key};
use prometheus::{IntCounterVec, IntGauge};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// How the HTTP listener speaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HttpTls {
    #[default]
    Off,
    ConsoleCertificate,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
}

/// The metrics this module keeps up to date.
#[derive(Clone, Debug)]
pub struct HttpsMetrics {
    /// Unix time at which the leaf certificate expires.
    pub expiry: IntGauge,
    /// Reloads of the operator's files, by result (ok, error).
    pub reloads: IntCounterVec,
}

/// What identifies one version of the operator's files: inode,
/// modification time and length of the certificate and of the key (the
/// inode catches a file renamed into place within one clock tick).
type Stamp = [(u64, Option<SystemTime>, u64); 2];

struct Current {
    acceptor: TlsAcceptor,
    stamp: Option<Stamp>,
}

/// Hands out the TLS acceptor for each new HTTPS connection.
pub struct Https {
    files: Option<(PathBuf, PathBuf)>,
    current: Mutex<Current>,
    metrics: HttpsMetrics,
}

impl Https {
    /// `None` for [`HttpTls::Off`]. Fails (so the console does not start)
    /// when the operator's files do not load.
    pub fn new(mode: &HttpTls, material: &Material, metrics: HttpsMetrics) -> Result<Option<Https>, DaemonError> {
        let (files, chain, key) = match mode {
            HttpTls::Off => return Ok(None),
            HttpTls::ConsoleCertificate => {
                let bad = |e: tokio_rustls::rustls::pki_types::pem::Error| DaemonError::Setup(format!("the console's server certificate: {e}"));
                let chain = CertificateDer::pem_slice_iter(material.server_cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(bad)?;
                let key = PrivateKeyDer::from_pem_slice(material.server_key_pem.as_bytes()).map_err(bad)?;
                (None, chain, key)
            }
            HttpTls::Files { cert, key: key_path } => {
                // Stamped before reading: a renewal racing this start is loaded by the first connection.
                let stamped = stamp(cert, key_path);
                let (chain, key) = load_files(cert, key_path).map_err(DaemonError::Setup)?;
                (Some((cert.clone(), key_path.clone(), stamped)), chain, key)
            }
        };
        let (files, stamp) = match files {
            Some((c, k, s)) => (Some((c, k)), Some(s)),
            None => (None, None),
        };
        let acceptor = acceptor(chain, key, &metrics).map_err(|e| DaemonError::Setup(format!("HTTPS: {e}")))?;
        Ok(Some(Https { files, current: Mutex::new(Current { acceptor, stamp }), metrics }))
    }

    /// The acceptor for a new connection: the operator's files are loaded
    /// again first if they changed since the last load.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cert, key)) = &self.files {
            let now = stamp(cert, key);
            if cur.stamp != Some(now) {
                cur.stamp = Some(now);
                match load_files(cert, key).and_then(|(chain, key)| acceptor(chain, key, &self.metrics)) {
                    Ok(a) => {
                        cur.acceptor = a;
                        self.metrics.reloads.with_label_values(&["ok"]).inc();
                        tracing::info!(cert = %cert.display(), "loaded the renewed HTTPS certificate");
                    }
                    Err(e) => {
                        self.metrics.reloads.with_label_values(&["error"]).inc();
                        tracing::error!(error = %e, "the changed HTTPS certificate or key does not load; still serving the previous one");
                    }
                }
            }
        }
        cur.acceptor.clone()
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let one = |p: &Path| std::fs::metadata(p).map(|m| (m.ino(), m.modified().ok(), m.len())).unwrap_or((0, None, 0));
    [one(cert), one(key)]
}

fn load_files(cert: &Path, key: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = load_chain(cert).map_err(|why| format!("--http-tls-cert {}: {why}", cert.display()))?;
    let key_der = load_private_key(key).map_err(|why| format!("--http-tls-key {}: {why}", key.display()))?;
    Ok((chain, key_der))
}

/// A TLS 1.2/1.3 acceptor (aws-lc-rs, ALPN http/1.1) for the chain and key,
/// which must belong together; sets the expiry gauge.
fn acceptor(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>, metrics: &HttpsMetrics) -> Result<TlsAcceptor, String> {
    let (config, not_after) = server_config(chain, key)?;
    metrics.expiry.set(not_after);
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The rustls server configuration (TLS 1.2/1.3, aws-lc-rs, ALPN http/1.1)
/// for a chain and key that belong together, and the leaf's notAfter (Unix
/// seconds; an expired leaf is logged).
fn server_config(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<(ServerConfig, i64), String> {
    let leaf = chain.first().ok_or("no certificate")?;
    let not_after = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => cert.validity().not_after.timestamp(),
        Err(e) => return Err(format!("the first certificate does not parse: {e}")),
    };
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and the private key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if not_after <= now {
        tracing::error!(not_after, "the certificate has expired; clients will refuse the console");
    }
    Ok((config, not_after))
}

/// The agents' gRPC identity from the operator's files (`--grpc-tls-cert`,
/// `--grpc-tls-key`), checked as for HTTPS (key mode 0600, key and
/// certificate belonging together, expiry logged). Read once at start.
pub fn operator_identity(cert: &Path, key: &Path) -> Result<tonic::transport::Identity, DaemonError> {
    let bad = |flag: &str, path: &Path, why: String| DaemonError::Setup(format!("{flag} {}: {why}", path.display()));
    let (chain, key_der) =
        (load_chain(cert).map_err(|why| bad("--grpc-tls-cert", cert, why))?, load_private_key(key).map_err(|why| bad("--grpc-tls-key", key, why))?);
    server_config(chain, key_der).map_err(|why| DaemonError::Setup(format!("--grpc-tls-cert/--grpc-tls-key: {why}")))?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| bad("--grpc-tls-cert/--grpc-tls-key", p, e.to_string()));
    let key_pem = zeroize::Zeroizing::new(read(key)?);
    Ok(tonic::transport::Identity::from_pem(read(cert)?, key_pem.as_slice()))
}

/// Whether the first bytes a client sent look like a TLS handshake record
/// (content type 22) rather than a plain-text HTTP request line.
pub fn looks_like_tls(first: u8) -> bool {
    first == 0x16
}
