//! Client certificate verification against a CA file the operator may
//! replace while the daemon runs.

use crate::certificate::{file_stamp, provider, FileStamp};
use crate::pem::load_chain;
use crate::TlsError;
use prometheus::IntCounterVec;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{DigitallySignedStruct, DistinguishedName, Error as RustlsError, RootCertStore, SignatureScheme};

/// Verifies client certificates against the CA certificates of a PEM file,
/// read again when it changes (looked at on each client certificate): a
/// new bundle (say, the old and the new issuing CA during a rotation)
/// applies from the next handshake, and a file that does not load is
/// logged, counted in `reloads{result="error"}` and the bundle in use kept.
///
/// It sends clients no list of acceptable CA names (an empty
/// `certificate_authorities`, which tells a client to send whatever
/// certificate it has), since the list would go stale on a reload.
pub struct ClientCaFile {
    path: PathBuf,
    option: &'static str,
    optional: bool,
    provider: Arc<CryptoProvider>,
    current: Mutex<(FileStamp, Arc<dyn ClientCertVerifier>)>,
    reloads: IntCounterVec,
}

impl std::fmt::Debug for ClientCaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCaFile").field("path", &self.path).field("optional", &self.optional).finish_non_exhaustive()
    }
}

impl ClientCaFile {
    /// Loads `path` (named `option` in messages); `optional` lets clients
    /// without a certificate in. `reloads` counts later loads by result.
    pub fn load(path: &Path, option: &'static str, optional: bool, reloads: IntCounterVec) -> Result<ClientCaFile, TlsError> {
        let provider = provider();
        let stamp = file_stamp(path);
        let verifier = build(path, option, optional, &provider)?;
        for result in ["ok", "error"] {
            reloads.with_label_values(&[result]).inc_by(0);
        }
        Ok(ClientCaFile { path: path.to_path_buf(), option, optional, provider, current: Mutex::new((stamp, verifier)), reloads })
    }

    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = file_stamp(&self.path);
        if cur.0 != now {
            cur.0 = now;
            match build(&self.path, self.option, self.optional, &self.provider) {
                Ok(v) => {
                    cur.1 = v;
                    self.reloads.with_label_values(&["ok"]).inc();
                    tracing::info!(path = %self.path.display(), "loaded the changed client CA file");
                }
                Err(e) => {
                    self.reloads.with_label_values(&["error"]).inc();
                    tracing::error!(error = %e, "the changed client CA file does not load; still verifying against the previous one");
                }
            }
        }
        cur.1.clone()
    }
}

fn build(path: &Path, option: &'static str, optional: bool, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let file_error = |why: String| TlsError::File { option, path: path.to_path_buf(), why };
    let cas = load_chain(path).map_err(file_error)?;
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca).map_err(|e| file_error(format!("a CA certificate is not usable: {e}")))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if optional { builder.allow_unauthenticated() } else { builder };
    builder.build().map_err(|e| TlsError::Setup(format!("client certificate verification: {e}")))
}

impl ClientCertVerifier for ClientCaFile {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.optional
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, RustlsError> {
        self.current().verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}
