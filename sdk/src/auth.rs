//! The per-call authenticator (request MAC) and the check of the TA's
//! response MAC, as kms.proto's header comment defines them.

use crate::error::SdkError;
use aws_lc_rs::{constant_time, hmac, rand};
use teehsm_wire::{api_auth_message, api_response_message, valid_client_id, CLIENT_MAC_LEN, CLIENT_NONCE_LEN, CLIENT_SECRET_LEN};
use tonic::metadata::{MetadataMap, MetadataValue};
use zeroize::Zeroizing;

/// Request metadata names.
pub const CLIENT_ID_HEADER: &str = "x-teehsm-client-id";
pub const TIMESTAMP_HEADER: &str = "x-teehsm-timestamp-ms";
pub const NONCE_HEADER: &str = "x-teehsm-nonce";
pub const MAC_HEADER: &str = "x-teehsm-mac";
/// Response (or status) metadata carrying the TA's MAC over the answer.
pub const RESPONSE_MAC_HEADER: &str = "x-teehsm-response-mac";

/// A registered API client: its id and the 32-byte secret `teehsm client
/// add` printed.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    secret: Zeroizing<[u8; CLIENT_SECRET_LEN]>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("client_id", &self.client_id).field("secret", &"<redacted>").finish()
    }
}

impl Credentials {
    /// Credentials from a client id (1-64 of `[A-Za-z0-9._-]`) and its secret.
    pub fn new(client_id: impl Into<String>, secret: &[u8]) -> Result<Self, SdkError> {
        let client_id = client_id.into();
        if !valid_client_id(&client_id) {
            return Err(SdkError::InvalidConfig(format!("client id {client_id:?} is not 1-64 characters from [A-Za-z0-9._-]")));
        }
        let secret: [u8; CLIENT_SECRET_LEN] = secret
            .try_into()
            .map_err(|_| SdkError::InvalidConfig(format!("the client secret is {} bytes; it must be {CLIENT_SECRET_LEN}", secret.len())))?;
        Ok(Credentials { client_id, secret: Zeroizing::new(secret) })
    }

    /// Credentials from a client id and the secret as 64 hex digits.
    pub fn from_hex(client_id: impl Into<String>, secret_hex: &str) -> Result<Self, SdkError> {
        let secret =
            Zeroizing::new(hex::decode(secret_hex.trim()).map_err(|e| SdkError::InvalidConfig(format!("the client secret is not hex: {e}")))?);
        Self::new(client_id, &secret)
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, self.secret.as_ref())
    }

    /// The authenticator of one call: fresh nonce, the current time, and
    /// the MAC over `method` (full gRPC path) and `body` (the request's
    /// protobuf encoding).
    pub fn authenticate(&self, method: &str, body: &[u8]) -> Result<AuthMetadata, SdkError> {
        let mut nonce = [0u8; CLIENT_NONCE_LEN];
        rand::fill(&mut nonce).map_err(|_| SdkError::InvalidConfig("the system random generator failed".into()))?;
        let timestamp_ms = now_ms();
        Ok(self.authenticate_with(method, body, timestamp_ms, nonce))
    }

    /// As [`Credentials::authenticate`] with a given time and nonce (for
    /// tests and for callers with their own clock).
    pub fn authenticate_with(&self, method: &str, body: &[u8], timestamp_ms: u64, nonce: [u8; CLIENT_NONCE_LEN]) -> AuthMetadata {
        let tag = hmac::sign(&self.key(), &api_auth_message(&self.client_id, timestamp_ms, &nonce, method, body));
        let mut mac = [0u8; CLIENT_MAC_LEN];
        mac.copy_from_slice(tag.as_ref());
        AuthMetadata { client_id: self.client_id.clone(), timestamp_ms, nonce, mac }
    }

    /// Whether `got` is the TA's MAC over this answer to the request whose MAC was `request_mac`.
    pub fn response_mac_valid(&self, request_mac: &[u8; CLIENT_MAC_LEN], code: u32, message: &str, body: &[u8], got: &[u8]) -> bool {
        verify_response_mac(self.secret.as_ref(), request_mac, code, message, body, got)
    }
}

/// Whether `got` is HMAC-SHA-256(secret, api_response_message(request_mac, code, message, body)).
pub fn verify_response_mac(secret: &[u8], request_mac: &[u8; CLIENT_MAC_LEN], code: u32, message: &str, body: &[u8], got: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let want = hmac::sign(&key, &api_response_message(request_mac, code, message, body));
    got.len() == CLIENT_MAC_LEN && constant_time::verify_slices_are_equal(want.as_ref(), got).is_ok()
}

/// The four x-teehsm-* request headers of one authenticated call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMetadata {
    pub client_id: String,
    pub timestamp_ms: u64,
    pub nonce: [u8; CLIENT_NONCE_LEN],
    pub mac: [u8; CLIENT_MAC_LEN],
}

impl AuthMetadata {
    /// Adds the headers to `md` (replacing any already there).
    pub fn apply(&self, md: &mut MetadataMap) -> Result<(), SdkError> {
        let value = |s: String| MetadataValue::try_from(s).map_err(|e| SdkError::InvalidConfig(format!("metadata value is not ASCII: {e}")));
        md.insert(CLIENT_ID_HEADER, value(self.client_id.clone())?);
        md.insert(TIMESTAMP_HEADER, value(self.timestamp_ms.to_string())?);
        md.insert(NONCE_HEADER, value(hex::encode(self.nonce))?);
        md.insert(MAC_HEADER, value(hex::encode(self.mac))?);
        Ok(())
    }
}

/// The response MAC in `md`, if present and well-formed hex.
pub(crate) fn response_mac(md: &MetadataMap) -> Option<Vec<u8>> {
    let v = md.get(RESPONSE_MAC_HEADER)?.to_str().ok()?;
    hex::decode(v).ok()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticator_matches_the_wire_definition() {
        let c = Credentials::new("svc-a", &[7u8; 32]).unwrap();
        let a = c.authenticate_with("/teehsm.v1.KeyManagementService/Sign", b"body", 1234, [9; 16]);
        let want = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]),
            &api_auth_message("svc-a", 1234, &[9; 16], "/teehsm.v1.KeyManagementService/Sign", b"body"),
        );
        assert_eq!(&a.mac[..], want.as_ref());
        let mut md = MetadataMap::new();
        a.apply(&mut md).unwrap();
        assert_eq!(md.get(TIMESTAMP_HEADER).unwrap(), "1234");
        assert_eq!(md.get(NONCE_HEADER).unwrap().to_str().unwrap(), "09".repeat(16));
        assert_eq!(md.get(MAC_HEADER).unwrap().to_str().unwrap(), hex::encode(a.mac));
        assert_eq!(md.get(CLIENT_ID_HEADER).unwrap(), "svc-a");
    }

    #[test]
    fn fresh_nonces_differ() {
        let c = Credentials::new("svc-a", &[7u8; 32]).unwrap();
        let a = c.authenticate("/m", b"").unwrap();
        let b = c.authenticate("/m", b"").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.mac, b.mac);
    }

    #[test]
    fn response_mac_checks_every_field() {
        let c = Credentials::new("svc-a", &[7u8; 32]).unwrap();
        let req_mac = [3u8; 32];
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]), &api_response_message(&req_mac, 5, "no key", b""));
        assert!(c.response_mac_valid(&req_mac, 5, "no key", b"", tag.as_ref()));
        assert!(!c.response_mac_valid(&req_mac, 9, "no key", b"", tag.as_ref()));
        assert!(!c.response_mac_valid(&req_mac, 5, "no key!", b"", tag.as_ref()));
        assert!(!c.response_mac_valid(&req_mac, 5, "no key", b"x", tag.as_ref()));
        assert!(!c.response_mac_valid(&[4u8; 32], 5, "no key", b"", tag.as_ref()));
        assert!(!c.response_mac_valid(&req_mac, 5, "no key", b"", &tag.as_ref()[..31]));
    }

    #[test]
    fn bad_credentials_are_refused() {
        assert!(matches!(Credentials::new("bad id", &[0; 32]), Err(SdkError::InvalidConfig(_))));
        assert!(matches!(Credentials::new("ok", &[0; 31]), Err(SdkError::InvalidConfig(_))));
        assert!(matches!(Credentials::from_hex("ok", "zz"), Err(SdkError::InvalidConfig(_))));
        assert!(Credentials::from_hex("ok", &"ab".repeat(32)).is_ok());
        assert!(!format!("{:?}", Credentials::new("ok", &[0xab; 32]).unwrap()).contains("abab"));
    }
}
