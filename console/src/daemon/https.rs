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
//!   the certificate in use kept (`teehsm_tls::ServerCertificate`).
//!
//! The leaf certificate's expiry is exported as
//! `teehsm_console_http_certificate_expiry_timestamp_seconds`.
//!
//! Also here: the TLS of the agents' gRPC port ([`agents_tls_config`]),
//! whose `--grpc-tls-cert`/`--grpc-tls-key` are reloaded the same way.

use super::tls::Material;
use super::DaemonError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use teehsm_tls::tokio_rustls::rustls::pki_types::pem::PemObject;
use teehsm_tls::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use teehsm_tls::tokio_rustls::rustls::ServerConfig;
use teehsm_tls::tokio_rustls::TlsAcceptor;
use teehsm_tls::{ClientAuth, FileOptions, ServerCertificate, TlsMetrics};

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

/// Hands out the TLS acceptor for each new HTTPS connection.
pub struct Https {
    acceptor: TlsAcceptor,
}

impl Https {
    /// `None` for [`HttpTls::Off`]. Fails (so the console does not start)
    /// when the operator's files do not load.
    pub fn new(mode: &HttpTls, material: &Material, metrics: TlsMetrics) -> Result<Option<Https>, DaemonError> {
        let options = FileOptions { cert: "--http-tls-cert", key: "--http-tls-key" };
        let certificate = match mode {
            HttpTls::Off => return Ok(None),
            HttpTls::ConsoleCertificate => console_certificate(material, metrics)?,
            HttpTls::Files { cert, key } => from_files(cert, key, options, metrics)?,
        };
        let config = server_config(certificate, ClientAuth::None, b"http/1.1")?;
        Ok(Some(Https { acceptor: TlsAcceptor::from(Arc::new(config)) }))
    }

    /// The acceptor for a new connection (its certificate follows the operator's files).
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// The TLS configuration of the agents' gRPC port: the console's server
/// certificate, or the operator's (`--grpc-tls-cert`, `--grpc-tls-key`,
/// reloaded when the files change); client certificates issued by the
/// console CA asked for but optional (enrollment comes without one; every
/// other call checks it).
pub fn agents_tls_config(operator_files: Option<&(PathBuf, PathBuf)>, material: &Material, metrics: TlsMetrics) -> Result<ServerConfig, DaemonError> {
    let certificate = match operator_files {
        None => console_certificate(material, metrics)?,
        Some((cert, key)) => from_files(cert, key, FileOptions { cert: "--grpc-tls-cert", key: "--grpc-tls-key" }, metrics)?,
    };
    let ca = CertificateDer::from_pem_slice(material.ca.cert_pem().as_bytes())
        .map_err(|e| DaemonError::Setup(format!("the console CA certificate: {e}")))?;
    server_config(certificate, ClientAuth::Optional(vec![ca]), b"h2")
}

/// The console's own server certificate (issued by the console CA).
fn console_certificate(material: &Material, metrics: TlsMetrics) -> Result<ServerCertificate, DaemonError> {
    let bad = |e: teehsm_tls::tokio_rustls::rustls::pki_types::pem::Error| DaemonError::Setup(format!("the console's server certificate: {e}"));
    let chain = CertificateDer::pem_slice_iter(material.server_cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(bad)?;
    let key = PrivateKeyDer::from_pem_slice(material.server_key_pem.as_bytes()).map_err(bad)?;
    ServerCertificate::fixed(chain, key, metrics).map_err(|e| DaemonError::Setup(format!("the console's server certificate: {e}")))
}

fn from_files(cert: &Path, key: &Path, options: FileOptions, metrics: TlsMetrics) -> Result<ServerCertificate, DaemonError> {
    ServerCertificate::from_files(cert, key, options, metrics).map_err(|e| DaemonError::Setup(e.to_string()))
}

fn server_config(certificate: ServerCertificate, client_auth: ClientAuth, alpn: &[u8]) -> Result<ServerConfig, DaemonError> {
    teehsm_tls::server_config(Arc::new(certificate), client_auth, &[alpn]).map_err(|e| DaemonError::Setup(e.to_string()))
}

/// Whether the first bytes a client sent look like a TLS handshake record
/// (content type 22) rather than a plain-text HTTP request line.
pub fn looks_like_tls(first: u8) -> bool {
    first == 0x16
}
