//! The SDK against a fake server that plays a dishonest CA: answers
//! without the TA's response MAC, with a wrong one, or with a changed body
//! or status must not reach the caller as genuine.

use aws_lc_rs::hmac;
use prost::Message;
use std::time::Duration;
use teehsm_sdk::proto::key_management_service_server::{KeyManagementService, KeyManagementServiceServer};
use teehsm_sdk::proto::*;
use teehsm_sdk::{ApiClient, Credentials, SdkError};
use teehsm_wire::api_response_message;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

const SECRET: [u8; 32] = [0x5c; 32];

struct Fake;

fn request_mac(md: &MetadataMap) -> [u8; 32] {
    let hex_mac = md.get("x-teehsm-mac").and_then(|v| v.to_str().ok()).unwrap_or_default();
    hex::decode(hex_mac).ok().and_then(|v| v.try_into().ok()).unwrap_or([0; 32])
}

fn mac_hex(req_mac: &[u8; 32], code: u32, message: &str, body: &[u8]) -> MetadataValue<tonic::metadata::Ascii> {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &SECRET), &api_response_message(req_mac, code, message, body));
    MetadataValue::try_from(hex::encode(tag.as_ref())).unwrap()
}

fn error(code: Code, message: &str, mac: Option<MetadataValue<tonic::metadata::Ascii>>) -> Status {
    let mut md = MetadataMap::new();
    if let Some(m) = mac {
        md.insert("x-teehsm-response-mac", m);
    }
    Status::with_metadata(code, message, md)
}

/// The service: GetKey as [`get_key`] does, the rest UNIMPLEMENTED.
macro_rules! fake_service {
    ($($fn:ident($req:ty) -> $resp:ty;)*) => {
        #[tonic::async_trait]
        impl KeyManagementService for Fake {
            async fn get_key(&self, req: Request<GetKeyRequest>) -> Result<Response<Key>, Status> {
                get_key(req)
            }
            $(async fn $fn(&self, _: Request<$req>) -> Result<Response<$resp>, Status> {
                Err(Status::unimplemented("fake"))
            })*
        }
    };
}

/// The key name picks the behaviour.
fn get_key(req: Request<GetKeyRequest>) -> Result<Response<Key>, Status> {
    let rm = request_mac(req.metadata());
    let name = req.get_ref().name.clone();
    let key = Key { name: name.clone(), primary_version: 1, ..Default::default() };
    let body = key.encode_to_vec();
    let mut resp = Response::new(key.clone());
    match name.as_str() {
        "ok-good" => {
            resp.metadata_mut().insert("x-teehsm-response-mac", mac_hex(&rm, 0, "", &body));
        }
        "ok-missing" => {}
        "ok-changed" => {
            // MAC over the genuine answer, body changed afterwards.
            resp.metadata_mut().insert("x-teehsm-response-mac", mac_hex(&rm, 0, "", &body));
            resp.get_mut().primary_version = 2;
        }
        "ok-other-request" => {
            resp.metadata_mut().insert("x-teehsm-response-mac", mac_hex(&[1; 32], 0, "", &body));
        }
        "err-good" => return Err(error(Code::NotFound, "no key named err-good", Some(mac_hex(&rm, 5, "no key named err-good", b"")))),
        "err-changed-code" => return Err(error(Code::PermissionDenied, "no key named x", Some(mac_hex(&rm, 5, "no key named x", b"")))),
        "err-zero" => return Err(error(Code::Unauthenticated, "bad MAC", Some(MetadataValue::try_from("0".repeat(64)).unwrap()))),
        _ => return Err(error(Code::Unavailable, "the TA is not running", None)),
    }
    Ok(resp)
}

fake_service! {
    create_key(CreateKeyRequest) -> Key;
    import_key(ImportKeyRequest) -> Key;
    list_keys(ListKeysRequest) -> ListKeysResponse;
    destroy_key(DestroyKeyRequest) -> Key;
    restore_key(RestoreKeyRequest) -> Key;
    rotate_key(RotateKeyRequest) -> Key;
    update_key_rotation(UpdateKeyRotationRequest) -> Key;
    update_key_version_state(UpdateKeyVersionStateRequest) -> Key;
    get_public_key(GetPublicKeyRequest) -> PublicKey;
    sign(SignRequest) -> SignResponse;
    verify(VerifyRequest) -> VerifyResponse;
    encrypt(EncryptRequest) -> EncryptResponse;
    decrypt(DecryptRequest) -> DecryptResponse;
    mac_sign(MacSignRequest) -> MacSignResponse;
    mac_verify(MacVerifyRequest) -> MacVerifyResponse;
    encapsulate(EncapsulateRequest) -> EncapsulateResponse;
    decapsulate(DecapsulateRequest) -> DecapsulateResponse;
    generate_random(GenerateRandomRequest) -> GenerateRandomResponse;
    get_attestation(GetAttestationRequest) -> GetAttestationResponse;
}

#[tokio::test]
async fn a_dishonest_relay_is_detected() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(KeyManagementServiceServer::new(Fake)).serve(addr));
    let ep = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    let channel = loop {
        match ep.connect().await {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let api = ApiClient::from_channel(channel, Some(Credentials::new("svc", &SECRET).unwrap()), Duration::from_secs(10));
    let get = |name: &str| api.get_key(GetKeyRequest { name: name.into() });

    assert_eq!(get("ok-good").await.expect("genuine answer").name, "ok-good");
    for (name, reason) in [("ok-missing", "missing"), ("ok-changed", "wrong MAC"), ("ok-other-request", "wrong MAC")] {
        match get(name).await {
            Err(SdkError::ResponseMacMismatch { method, reason: r }) => {
                assert_eq!(method, "/teehsm.v1.KeyManagementService/GetKey");
                assert_eq!(r, reason, "{name}");
            }
            other => panic!("{name}: wanted ResponseMacMismatch, got {other:?}"),
        }
    }
    match get("err-good").await {
        Err(SdkError::Status { code: Code::NotFound, authenticated: true, message }) => assert_eq!(message, "no key named err-good"),
        other => panic!("err-good: {other:?}"),
    }
    assert!(matches!(get("err-changed-code").await, Err(SdkError::ResponseMacMismatch { .. })));
    assert!(matches!(get("err-zero").await, Err(SdkError::Status { code: Code::Unauthenticated, authenticated: false, .. })));
    assert!(matches!(get("other").await, Err(SdkError::Status { code: Code::Unavailable, authenticated: false, .. })));
}
