//! `teehsm.v1.KeyManagementService`: every RPC is forwarded to the TA as a
//! `Request::ApiCall` with the caller's authenticator and the request's
//! deterministic protobuf encoding; the TA's answer comes back unchanged,
//! with its MAC in `x-teehsm-response-mac`. The CA decides nothing.

use super::forward::Forwarder;
use super::metadata::{self, RESPONSE_MAC};
use super::status::{self, code_name};
use crate::metrics::ApiMetrics;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};
use teehsm_wire::proto::v1;
use teehsm_wire::proto::v1::key_management_service_server::KeyManagementService;
use teehsm_wire::{Reply, Request, MAX_API_BODY_LEN};
use tokio::sync::watch;
use tonic::{Code, Status};

/// The number of RPCs being handled right now. Shutdown waits for it to
/// reach zero rather than for the connections to close, which idle
/// clients may keep open indefinitely.
#[derive(Clone)]
pub struct InFlight(Arc<watch::Sender<usize>>);

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Arc::new(watch::Sender::new(0)))
    }
}

impl InFlight {
    /// Counts one call until the guard is dropped (also when its future is cancelled).
    pub fn enter(&self) -> InFlightGuard {
        self.0.send_modify(|n| *n += 1);
        InFlightGuard(self.0.clone())
    }

    /// Calls in flight now.
    pub fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until no call is in flight or `timeout` passes; true if none is.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await.is_ok_and(|r| r.is_ok())
    }
}

/// See [`InFlight::enter`].
pub struct InFlightGuard(Arc<watch::Sender<usize>>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The service: forwards, counts, times.
pub struct Kms {
    forwarder: Forwarder,
    metrics: ApiMetrics,
    in_flight: InFlight,
}

impl Kms {
    pub fn new(forwarder: Forwarder, metrics: ApiMetrics, in_flight: InFlight) -> Self {
        Kms { forwarder, metrics, in_flight }
    }

    /// One RPC, `method` being its name in the service ("Sign").
    async fn forward<Req, Resp>(&self, method: &'static str, request: tonic::Request<Req>) -> Result<tonic::Response<Resp>, Status>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let _in_flight = self.in_flight.enter();
        let start = Instant::now();
        let result = self.forward_inner(method, request).await;
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        self.metrics.observe(method, code_name(code), start.elapsed());
        result
    }

    async fn forward_inner<Req, Resp>(&self, method: &'static str, request: tonic::Request<Req>) -> Result<tonic::Response<Resp>, Status>
    where
        Req: Message,
        Resp: Message + Default,
    {
        let auth = metadata::parse(request.metadata())?;
        let body = request.get_ref().encode_to_vec();
        if body.len() > MAX_API_BODY_LEN {
            return Err(Status::out_of_range(format!(
                "the {method} request encodes to {} bytes; the TA accepts at most {MAX_API_BODY_LEN}",
                body.len()
            )));
        }
        let call = Request::ApiCall {
            client_id: auth.client_id,
            timestamp_ms: auth.timestamp_ms,
            nonce: auth.nonce,
            mac: auth.mac,
            method: teehsm_wire::proto::method_path(method),
            body,
        };
        match self.forwarder.call(call).await.map_err(status::forward_error)? {
            Reply::Api { code: 0, body, mac, algorithm, .. } => {
                let resp = Resp::decode(body.as_slice())
                    .map_err(|e| Status::internal(format!("the TA's {method} response does not decode ({e}); is the TA of another version?")))?;
                self.metrics.ta_operation(method, algorithm_name(algorithm));
                let mut out = tonic::Response::new(resp);
                if let Some(v) = status::mac_metadata(&mac).remove(RESPONSE_MAC) {
                    out.metadata_mut().insert(RESPONSE_MAC, v);
                }
                Ok(out)
            }
            Reply::Api { code, message, mac, .. } => Err(status::api_error(code, message, &mac)),
            _ => Err(Status::internal(format!("the TA answered {method} with a reply that is not an API reply"))),
        }
    }
}

/// The `Algorithm` enum name for metrics ("none" for 0).
pub fn algorithm_name(algorithm: u32) -> &'static str {
    match i32::try_from(algorithm).ok().and_then(|a| v1::Algorithm::try_from(a).ok()) {
        Some(v1::Algorithm::Unspecified) => "none",
        Some(a) => a.as_str_name(),
        None => "unknown",
    }
}

/// Implements every RPC of the service with [`Kms::forward`].
macro_rules! forward_rpcs {
    ($($rpc:ident: $method:literal, $req:ident => $resp:ident;)*) => {
        #[tonic::async_trait]
        impl KeyManagementService for Kms {
            $(
                async fn $rpc(&self, request: tonic::Request<v1::$req>) -> Result<tonic::Response<v1::$resp>, Status> {
                    self.forward($method, request).await
                }
            )*
        }

        /// Every method of the service, as named in the gRPC path.
        pub const METHODS: &[&str] = &[$($method),*];
    };
}

forward_rpcs! {
    create_key: "CreateKey", CreateKeyRequest => Key;
    import_key: "ImportKey", ImportKeyRequest => Key;
    get_key: "GetKey", GetKeyRequest => Key;
    list_keys: "ListKeys", ListKeysRequest => ListKeysResponse;
    destroy_key: "DestroyKey", DestroyKeyRequest => Key;
    restore_key: "RestoreKey", RestoreKeyRequest => Key;
    rotate_key: "RotateKey", RotateKeyRequest => Key;
    update_key_rotation: "UpdateKeyRotation", UpdateKeyRotationRequest => Key;
    update_key_version_state: "UpdateKeyVersionState", UpdateKeyVersionStateRequest => Key;
    get_public_key: "GetPublicKey", GetPublicKeyRequest => PublicKey;
    sign: "Sign", SignRequest => SignResponse;
    verify: "Verify", VerifyRequest => VerifyResponse;
    encrypt: "Encrypt", EncryptRequest => EncryptResponse;
    decrypt: "Decrypt", DecryptRequest => DecryptResponse;
    mac_sign: "MacSign", MacSignRequest => MacSignResponse;
    mac_verify: "MacVerify", MacVerifyRequest => MacVerifyResponse;
    encapsulate: "Encapsulate", EncapsulateRequest => EncapsulateResponse;
    decapsulate: "Decapsulate", DecapsulateRequest => DecapsulateResponse;
    generate_random: "GenerateRandom", GenerateRandomRequest => GenerateRandomResponse;
    get_attestation: "GetAttestation", GetAttestationRequest => GetAttestationResponse;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        assert_eq!(algorithm_name(0), "none");
        assert_eq!(algorithm_name(1), "EC_SIGN_P256_SHA256");
        assert_eq!(algorithm_name(31), "AES_256_GCM");
        assert_eq!(algorithm_name(999), "unknown");
        assert_eq!(algorithm_name(u32::MAX), "unknown");
    }

    #[test]
    fn every_rpc_of_the_proto_is_forwarded() {
        let proto = include_str!("../../../wire/proto/teehsm/v1/kms.proto");
        let mut want: Vec<&str> =
            proto.lines().filter_map(|l| l.trim().strip_prefix("rpc ")).filter_map(|l| l.split('(').next()).map(str::trim).collect();
        want.sort_unstable();
        let mut have = METHODS.to_vec();
        have.sort_unstable();
        assert_eq!(have, want);
    }
}
