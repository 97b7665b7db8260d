//! The rustls server configuration of a listener.

use crate::certificate::provider;
use crate::{ClientCaFile, ServerCertificate, TlsError};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

/// Whether clients present certificates, and which CAs issue them.
#[derive(Clone, Debug, Default)]
pub enum ClientAuth {
    /// No client certificates asked for.
    #[default]
    None,
    /// Asked for; a client without one is let in (the service decides).
    Optional(Vec<CertificateDer<'static>>),
    /// Required: the handshake fails without a certificate from one of these CAs.
    Required(Vec<CertificateDer<'static>>),
    /// The CAs of a file that is reloaded when it changes (optional or
    /// required as the [`ClientCaFile`] was loaded).
    File(Arc<ClientCaFile>),
}

/// TLS 1.2/1.3 with the aws-lc-rs provider, presenting `certificate`,
/// offering `alpn` (for example `h2` for gRPC).
pub fn server_config(certificate: Arc<ServerCertificate>, client_auth: ClientAuth, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional(cas) | ClientAuth::Required(cas) if cas.is_empty() => {
            return Err(TlsError::Setup("the client CA file holds no certificate".into()));
        }
        ClientAuth::Optional(cas) => builder.with_client_cert_verifier(verifier(cas, provider, true)?),
        ClientAuth::Required(cas) => builder.with_client_cert_verifier(verifier(cas, provider, false)?),
        ClientAuth::File(file) => builder.with_client_cert_verifier(file),
    };
    let mut config = builder.with_cert_resolver(certificate);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn verifier(
    cas: Vec<CertificateDer<'static>>,
    provider: Arc<tokio_rustls::rustls::crypto::CryptoProvider>,
    optional: bool,
) -> Result<Arc<dyn tokio_rustls::rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca).map_err(|e| TlsError::Setup(format!("a client CA certificate is not usable: {e}")))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if optional { builder.allow_unauthenticated() } else { builder };
    builder.build().map_err(|e| TlsError::Setup(format!("client certificate verification: {e}")))
}
