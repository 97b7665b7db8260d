//! [`ApiClient`]: one async method per RPC of `teehsm.v1.KeyManagementService`.

use crate::auth::{response_mac, AuthMetadata, Credentials};
use crate::config::ApiClientConfig;
use crate::error::SdkError;
use crate::proto::key_management_service_client::KeyManagementServiceClient;
use crate::proto::*;
use prost::Message;
use std::future::Future;
use std::time::Duration;
use teehsm_wire::proto::method_path;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A connection to a teehsm-ca gRPC endpoint. Cheap to clone (clones share
/// the HTTP/2 connection; make a new client per connection you want).
#[derive(Clone)]
pub struct ApiClient {
    inner: KeyManagementServiceClient<Channel>,
    credentials: Option<Credentials>,
    timeout: Duration,
}

macro_rules! rpcs {
    ($($(#[$doc:meta])* $fn:ident => $name:literal ($req:ty) -> $resp:ty;)*) => {$(
        $(#[$doc])*
        pub async fn $fn(&self, req: $req) -> Result<$resp, SdkError> {
            self.call($name, req, |mut c, r| async move { c.$fn(r).await }).await
        }
    )*};
}

impl ApiClient {
    /// Connects over TLS (the endpoint must be https://).
    pub async fn connect(config: ApiClientConfig) -> Result<Self, SdkError> {
        let channel = endpoint(&config)?.connect().await?;
        Ok(Self::from_channel(channel, config.credentials, config.timeout))
    }

    /// A client over an existing channel.
    pub fn from_channel(channel: Channel, credentials: Option<Credentials>, timeout: Duration) -> Self {
        ApiClient { inner: KeyManagementServiceClient::new(channel), credentials, timeout }
    }

    /// A client on the same HTTP/2 connection that calls as another API
    /// client (many callers of one process share one connection, as gRPC
    /// channels are meant to be shared).
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        ApiClient { inner: self.inner.clone(), credentials: Some(credentials), timeout: self.timeout }
    }

    /// The credentials calls are made with (`None`: anonymous).
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// The generated tonic client underneath, for requests this SDK does
    /// not build (it adds no metadata and checks nothing).
    pub fn raw(&self) -> KeyManagementServiceClient<Channel> {
        self.inner.clone()
    }

    /// The authenticator for calling `method` (e.g. "Sign") with `req`, or
    /// `None` without credentials.
    pub fn authenticate<M: Message>(&self, method: &str, req: &M) -> Result<Option<AuthMetadata>, SdkError> {
        match &self.credentials {
            Some(c) => Ok(Some(c.authenticate(&method_path(method), &req.encode_to_vec())?)),
            None => Ok(None),
        }
    }

    rpcs! {
        /// Creates a key (idempotent with `request_id`).
        create_key => "CreateKey"(CreateKeyRequest) -> Key;
        /// Imports wrapped key material (see [`crate::wrap_key_material`]).
        import_key => "ImportKey"(ImportKeyRequest) -> Key;
        get_key => "GetKey"(GetKeyRequest) -> Key;
        list_keys => "ListKeys"(ListKeysRequest) -> ListKeysResponse;
        destroy_key => "DestroyKey"(DestroyKeyRequest) -> Key;
        restore_key => "RestoreKey"(RestoreKeyRequest) -> Key;
        rotate_key => "RotateKey"(RotateKeyRequest) -> Key;
        update_key_rotation => "UpdateKeyRotation"(UpdateKeyRotationRequest) -> Key;
        update_key_version_state => "UpdateKeyVersionState"(UpdateKeyVersionStateRequest) -> Key;
        get_public_key => "GetPublicKey"(GetPublicKeyRequest) -> PublicKey;
        sign => "Sign"(SignRequest) -> SignResponse;
        verify => "Verify"(VerifyRequest) -> VerifyResponse;
        encrypt => "Encrypt"(EncryptRequest) -> EncryptResponse;
        decrypt => "Decrypt"(DecryptRequest) -> DecryptResponse;
        mac_sign => "MacSign"(MacSignRequest) -> MacSignResponse;
        mac_verify => "MacVerify"(MacVerifyRequest) -> MacVerifyResponse;
        encapsulate => "Encapsulate"(EncapsulateRequest) -> EncapsulateResponse;
        decapsulate => "Decapsulate"(DecapsulateRequest) -> DecapsulateResponse;
        generate_random => "GenerateRandom"(GenerateRandomRequest) -> GenerateRandomResponse;
        get_attestation => "GetAttestation"(GetAttestationRequest) -> GetAttestationResponse;
    }

    /// One call: authenticate, send, check the response MAC.
    async fn call<Req, Resp, F, Fut>(&self, name: &str, req: Req, send: F) -> Result<Resp, SdkError>
    where
        Req: Message,
        Resp: Message,
        F: FnOnce(KeyManagementServiceClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let method = method_path(name);
        let auth = match &self.credentials {
            Some(c) => Some(c.authenticate(&method, &req.encode_to_vec())?),
            None => None,
        };
        let mut request = tonic::Request::new(req);
        request.set_timeout(self.timeout);
        if let Some(a) = &auth {
            a.apply(request.metadata_mut())?;
        }
        let result = send(self.inner.clone(), request).await;
        let (Some(creds), Some(auth)) = (&self.credentials, &auth) else {
            // Anonymous: nothing to check the answer with.
            return result.map(tonic::Response::into_inner).map_err(|s| status_error(&s, false));
        };
        match result {
            Ok(resp) => {
                let got = response_mac(resp.metadata()).ok_or_else(|| SdkError::ResponseMacMismatch { method: method.clone(), reason: "missing" })?;
                let resp = resp.into_inner();
                if creds.response_mac_valid(&auth.mac, 0, "", &resp.encode_to_vec(), &got) {
                    Ok(resp)
                } else {
                    Err(SdkError::ResponseMacMismatch { method, reason: "wrong MAC" })
                }
            }
            Err(status) => {
                // Refusals before the TA authenticated the client, and the
                // CA's own errors, carry no (or an all-zero) MAC.
                match response_mac(status.metadata()) {
                    None => Err(status_error(&status, false)),
                    Some(m) if m.iter().all(|&b| b == 0) => Err(status_error(&status, false)),
                    Some(m) => {
                        if creds.response_mac_valid(&auth.mac, status.code() as i32 as u32, status.message(), b"", &m) {
                            Err(status_error(&status, true))
                        } else {
                            Err(SdkError::ResponseMacMismatch { method, reason: "wrong MAC on an error status" })
                        }
                    }
                }
            }
        }
    }
}

fn status_error(s: &tonic::Status, authenticated: bool) -> SdkError {
    SdkError::Status { code: s.code(), message: s.message().to_string(), authenticated }
}

/// The tonic endpoint for `config` (TLS only).
fn endpoint(config: &ApiClientConfig) -> Result<Endpoint, SdkError> {
    if !config.endpoint.starts_with("https://") {
        return Err(SdkError::InvalidConfig(format!(
            "endpoint {:?} must start with https:// (teehsm-ca serves gRPC over TLS only)",
            config.endpoint
        )));
    }
    if config.ca_cert_pem.is_empty() {
        return Err(SdkError::InvalidConfig("no CA certificate to verify the server with".into()));
    }
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&config.ca_cert_pem));
    if let Some(d) = &config.domain_name {
        tls = tls.domain_name(d.clone());
    }
    if let Some(id) = &config.identity {
        tls = tls.identity(Identity::from_pem(&id.cert_pem, id.key_pem.as_slice()));
    }
    let ep = Endpoint::from_shared(config.endpoint.clone())
        .map_err(|e| SdkError::InvalidConfig(format!("endpoint {:?}: {e}", config.endpoint)))?
        .tls_config(tls)?
        .connect_timeout(config.connect_timeout)
        .timeout(config.timeout);
    Ok(ep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plaintext_and_missing_ca_are_refused() {
        let e = ApiClient::connect(ApiClientConfig::new("http://127.0.0.1:1", b"x".to_vec())).await.err().unwrap();
        assert!(matches!(e, SdkError::InvalidConfig(ref m) if m.contains("https://")), "{e}");
        let e = ApiClient::connect(ApiClientConfig::new("https://127.0.0.1:1", Vec::new())).await.err().unwrap();
        assert!(matches!(e, SdkError::InvalidConfig(_)), "{e}");
    }
}
