//! How to reach and authenticate to a teehsm-ca gRPC endpoint.

use crate::auth::Credentials;
use std::time::Duration;
use zeroize::Zeroizing;

/// A TLS client certificate and its private key (PEM), for mTLS.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Zeroizing<Vec<u8>>,
}

/// Settings of an [`crate::ApiClient`].
#[derive(Clone)]
pub struct ApiClientConfig {
    /// "https://host:port".
    pub endpoint: String,
    /// PEM of the CA that signed the server's certificate.
    pub ca_cert_pem: Vec<u8>,
    /// Client certificate for servers that require mTLS.
    pub identity: Option<ClientIdentity>,
    /// API client id and secret; `None` makes anonymous calls (only
    /// GenerateRandom and GetAttestation are allowed anonymously).
    pub credentials: Option<Credentials>,
    /// Server name to verify instead of the endpoint's host.
    pub domain_name: Option<String>,
    /// Deadline of each call (default 30 s).
    pub timeout: Duration,
    /// Deadline of the TCP + TLS connection set-up (default 10 s).
    pub connect_timeout: Duration,
}

impl ApiClientConfig {
    /// A config for `endpoint` trusting `ca_cert_pem`, anonymous, no client certificate.
    pub fn new(endpoint: impl Into<String>, ca_cert_pem: impl Into<Vec<u8>>) -> Self {
        ApiClientConfig {
            endpoint: endpoint.into(),
            ca_cert_pem: ca_cert_pem.into(),
            identity: None,
            credentials: None,
            domain_name: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the API client credentials.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sets the mTLS client certificate and key (PEM).
    pub fn identity(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.identity = Some(ClientIdentity { cert_pem: cert_pem.into(), key_pem: Zeroizing::new(key_pem.into()) });
        self
    }

    /// Verifies the server certificate for `name` instead of the endpoint's host.
    pub fn domain_name(mut self, name: impl Into<String>) -> Self {
        self.domain_name = Some(name.into());
        self
    }

    /// Sets the per-call deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
