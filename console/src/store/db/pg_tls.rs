//! TLS to PostgreSQL: libpq's `sslmode`, `sslrootcert`, `sslcert` and
//! `sslkey` connection options, and a rustls connector for the `postgres`
//! client.
//!
//! The options are read from the URL (`?sslmode=verify-full&sslrootcert=...`)
//! or from a `key=value` connection string, as libpq reads them, and taken
//! out before the rest goes to `postgres::Config` (which knows neither
//! `sslrootcert` nor the `verify-*` modes). Whenever TLS is used, the server's
//! certificate is verified against `sslrootcert` (or the system's CA bundle)
//! and must name the host connected to: `require` and `verify-ca` are as
//! strict as libpq's `verify-full`. `disable`, `allow` and `prefer` (the
//! default) connect without TLS. `sslcert` and `sslkey` (PEM; the key
//! readable by its owner only, as libpq insists) give a client certificate
//! for servers that authenticate with `cert` in pg_hba.conf.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::super::error::{Result, StoreError};

/// Where Debian (and most distributions) keep the system's trusted CAs.
pub(crate) const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// libpq's `sslmode`, reduced to what the console does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `disable`, `allow`, `prefer` or none given: no TLS.
    Plain,
    /// `require`, `verify-ca`, `verify-full`: TLS with a verified certificate.
    Verified,
}

/// The TLS options taken out of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    pub(crate) mode: Mode,
    /// `sslrootcert`: PEM file of the CAs the server's certificate must chain to.
    pub(crate) root_cert: Option<PathBuf>,
    /// `sslcert` and `sslkey`: the client certificate chain and its key (PEM).
    pub(crate) client_cert: Option<(PathBuf, PathBuf)>,
}

/// Splits `sslmode` and `sslrootcert` off a `postgres://` URL or a
/// `key=value` connection string; returns the rest and the options.
pub(crate) fn split_tls_options(conn: &str) -> Result<(String, TlsOptions)> {
    let mut mode = None;
    let mut root_cert = None;
    let (mut cert, mut key_file) = (None, None);
    let path_of = |key: &str, value: &str| -> Result<PathBuf> {
        if value.is_empty() {
            return Err(StoreError::BadLocation(format!("{key} is empty: give the path of a PEM file")));
        }
        Ok(PathBuf::from(percent_decode(value)?))
    };
    let mut take = |key: &str, value: &str| -> Result<bool> {
        match key {
            "sslcert" => {
                cert = Some(path_of(key, value)?);
                Ok(true)
            }
            "sslkey" => {
                key_file = Some(path_of(key, value)?);
                Ok(true)
            }
            "sslmode" => {
                mode = Some(parse_mode(value)?);
                Ok(true)
            }
            "sslrootcert" => {
                if value.is_empty() {
                    return Err(StoreError::BadLocation("sslrootcert is empty: give the path of a PEM file of CA certificates".into()));
                }
                root_cert = Some(PathBuf::from(percent_decode(value)?));
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        match conn.split_once('?') {
            None => conn.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(k, v)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for token in conn.split_whitespace() {
            let (k, v) = token.split_once('=').unwrap_or((token, ""));
            if !take(k.trim(), v.trim_matches('\'').trim())? {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    let client_cert = match (cert, key_file) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err(StoreError::BadLocation("sslcert and sslkey go together: give both (the client certificate and its key)".into())),
    };
    let mode = mode.unwrap_or(Mode::Plain);
    if client_cert.is_some() && mode == Mode::Plain {
        return Err(StoreError::BadLocation("sslcert needs TLS: add sslmode=verify-full (and sslrootcert)".into()));
    }
    Ok((rest, TlsOptions { mode, root_cert, client_cert }))
}

fn parse_mode(value: &str) -> Result<Mode> {
    match value {
        "disable" | "allow" | "prefer" => Ok(Mode::Plain),
        "require" | "verify-ca" | "verify-full" => Ok(Mode::Verified),
        other => Err(StoreError::BadLocation(format!("sslmode={other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"))),
    }
}

/// Decodes the `%XX` escapes a path in a URL query may hold.
fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(b) = hex else {
                return Err(StoreError::BadLocation(format!("sslrootcert {s:?} has a malformed %-escape")));
            };
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| StoreError::BadLocation(format!("sslrootcert {s:?} is not UTF-8 once decoded")))
}

/// The rustls client configuration for `options` (roots from
/// `sslrootcert`, else the system bundle).
pub(crate) fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>> {
    let (path, given) = match &options.root_cert {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(SYSTEM_CA_BUNDLE), false),
    };
    let roots = load_roots(&path).map_err(|why| {
        StoreError::BadLocation(if given {
            format!("sslrootcert {}: {why}", path.display())
        } else {
            format!("TLS to PostgreSQL needs CA certificates to verify the server with: add sslrootcert=<PEM file> to the URL (the system bundle {SYSTEM_CA_BUNDLE}: {why})")
        })
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::BadLocation(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    let config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = teehsm_tls::pem::load_chain(cert).map_err(|why| StoreError::BadLocation(format!("sslcert {}: {why}", cert.display())))?;
            let key_der =
                teehsm_tls::pem::load_private_key(key).map_err(|why| StoreError::BadLocation(format!("sslkey {}: {why}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| StoreError::BadLocation(format!("sslcert {} and sslkey {} do not go together: {e}", cert.display(), key.display())))?
        }
    };
    Ok(Arc::new(config))
}

fn load_roots(path: &Path) -> std::result::Result<RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut roots = RootCertStore::empty();
    let mut bad = 0usize;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("not a PEM file of certificates: {e}"))?;
        if roots.add(cert).is_err() {
            bad += 1;
        }
    }
    if roots.is_empty() {
        return Err(if bad > 0 { format!("none of its {bad} certificates can be a trust anchor") } else { "it holds no certificate".into() });
    }
    Ok(roots)
}

/// Makes a [`RustlsConnect`] per connection attempt (per host).
#[derive(Clone)]
pub(crate) struct MakeRustlsConnect {
    config: Arc<ClientConfig>,
}

impl MakeRustlsConnect {
    pub(crate) fn new(config: Arc<ClientConfig>) -> Self {
        MakeRustlsConnect { config }
    }
}

impl MakeTlsConnect<Socket> for MakeRustlsConnect {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{domain:?} cannot be checked against a certificate: {e}")))?;
        Ok(RustlsConnect { config: self.config.clone(), name })
    }
}

/// One TLS handshake over a connected socket.
pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { connector.connect(self.name, stream).await.map(|s| RustlsStream(Box::new(s))) })
    }
}

/// A TLS session with the server.
pub(crate) struct RustlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl TlsStream for RustlsStream {
    /// `tls-server-end-point` (RFC 5929): the hash of the server's
    /// certificate, so SCRAM-SHA-256-PLUS binds the password exchange to
    /// this TLS session (a man in the middle holding another certificate
    /// cannot relay it). `channel_binding=require` in the URL insists on it.
    fn channel_binding(&self) -> ChannelBinding {
        let leaf = self.0.get_ref().1.peer_certificates().and_then(|c| c.first());
        match leaf.and_then(|c| tls_server_end_point(c.as_ref())) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash),
            None => ChannelBinding::none(),
        }
    }
}

/// RFC 5929 section 4.1: the certificate's DER hashed with the hash of its
/// signature algorithm (SHA-256 for MD5 and SHA-1); `None` for algorithms
/// without one (Ed25519, RSA-PSS), as libpq has none either.
pub(crate) fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest::{digest, SHA256, SHA384, SHA512};
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let algorithm = match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        // md5/sha1/sha256 with RSA, ecdsa-with-SHA1/SHA256
        "1.2.840.113549.1.1.4" | "1.2.840.113549.1.1.5" | "1.2.840.113549.1.1.11" | "1.2.840.10045.4.1" | "1.2.840.10045.4.3.2" => &SHA256,
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => &SHA384,
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => &SHA512,
        _ => return None,
    };
    Some(digest(algorithm, cert_der).as_ref().to_vec())
}

impl AsyncRead for RustlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (String, TlsOptions) {
        split_tls_options(s).unwrap()
    }

    #[test]
    fn url_options_are_taken_out_and_the_rest_kept() {
        let (rest, o) = split("postgres://u@db:5432/teehsm?sslmode=verify-full&sslrootcert=/etc/teehsm/pg%20ca.pem&connect_timeout=5");
        assert_eq!(rest, "postgres://u@db:5432/teehsm?connect_timeout=5");
        assert_eq!(o, TlsOptions { mode: Mode::Verified, root_cert: Some("/etc/teehsm/pg ca.pem".into()), client_cert: None });
        let (rest, o) = split("postgresql://u@db/teehsm?sslmode=require");
        assert_eq!((rest.as_str(), o.mode, o.root_cert), ("postgresql://u@db/teehsm", Mode::Verified, None));
        let (rest, o) = split("postgres://u@db/teehsm");
        assert_eq!((rest.as_str(), o.mode), ("postgres://u@db/teehsm", Mode::Plain));
        for plain in ["disable", "allow", "prefer"] {
            assert_eq!(split(&format!("postgres://u@db/t?sslmode={plain}")).1.mode, Mode::Plain, "{plain}");
        }
    }

    #[test]
    fn key_value_strings_are_read_too() {
        let (rest, o) = split("host=db user=u sslmode=verify-ca sslrootcert='/etc/ca.pem' dbname=teehsm");
        assert_eq!(rest, "host=db user=u dbname=teehsm");
        assert_eq!(o, TlsOptions { mode: Mode::Verified, root_cert: Some("/etc/ca.pem".into()), client_cert: None });
        let (rest, o) = split("postgres://u@db/t?sslmode=verify-full&sslcert=/etc/c.pem&sslkey=/etc/k.pem&application_name=x");
        assert_eq!(rest, "postgres://u@db/t?application_name=x");
        assert_eq!(o.client_cert, Some(("/etc/c.pem".into(), "/etc/k.pem".into())));
    }

    #[test]
    fn bad_options_say_what_is_accepted() {
        let e = split_tls_options("postgres://u@db/t?sslmode=verify").unwrap_err().to_string();
        assert!(e.contains("verify-full") && e.contains("\"verify\""), "{e}");
        let e = split_tls_options("postgres://u@db/t?sslrootcert=").unwrap_err().to_string();
        assert!(e.contains("PEM file"), "{e}");
        let e = split_tls_options("postgres://u@db/t?sslrootcert=%zz").unwrap_err().to_string();
        assert!(e.contains("%-escape"), "{e}");
        let e = split_tls_options("postgres://u@db/t?sslmode=require&sslcert=/c.pem").unwrap_err().to_string();
        assert!(e.contains("go together"), "{e}");
        let e = split_tls_options("postgres://u@db/t?sslcert=/c.pem&sslkey=/k.pem").unwrap_err().to_string();
        assert!(e.contains("needs TLS"), "{e}");
    }

    #[test]
    fn root_certificate_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsOptions { mode: Mode::Verified, root_cert: Some(dir.path().join("nope.pem")), client_cert: None };
        let e = client_config(&missing).err().unwrap().to_string();
        assert!(e.contains("nope.pem") && e.contains("cannot read"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(&TlsOptions { mode: Mode::Verified, root_cert: Some(empty), client_cert: None }).err().unwrap().to_string();
        assert!(e.contains("no certificate"), "{e}");
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca.cert.pem()).unwrap();
        let roots = Some(good.clone());
        client_config(&TlsOptions { mode: Mode::Verified, root_cert: roots.clone(), client_cert: None }).expect("a PEM certificate is a usable root");

        // A client certificate: its key must be private to its owner.
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("client.key");
        std::fs::write(&key, ca.signing_key.serialize_pem()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let with_client = TlsOptions { mode: Mode::Verified, root_cert: roots, client_cert: Some((good.clone(), key.clone())) };
        let e = client_config(&with_client).err().unwrap().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        client_config(&with_client).expect("a certificate and its key");
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let e = client_config(&with_client).err().unwrap().to_string();
        assert!(e.contains("do not go together"), "{e}");
    }

    #[test]
    fn tls_server_end_point_hashes_with_the_signature_hash() {
        use aws_lc_rs::digest::{digest, SHA256, SHA384};
        for (alg, hash) in [(&rcgen::PKCS_ECDSA_P256_SHA256, &SHA256), (&rcgen::PKCS_ECDSA_P384_SHA384, &SHA384)] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
            assert_eq!(tls_server_end_point(cert.der()), Some(digest(hash, cert.der()).as_ref().to_vec()));
        }
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&ed).unwrap();
        assert_eq!(tls_server_end_point(cert.der()), None, "Ed25519 has no hash to bind with");
        assert_eq!(tls_server_end_point(b"junk"), None);
    }
}
