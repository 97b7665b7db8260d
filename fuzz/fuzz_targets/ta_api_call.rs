//! The TA's gRPC API executor (docs/grpc-api.md): an authenticated client
//! sends any method path and any body. The harness MACs each call with the
//! client's secret, so the input reaches method dispatch, body decoding,
//! the ACL, the key records and the per-algorithm code; whatever the bytes,
//! the TA must answer with a well-formed `Api` reply whose response MAC
//! verifies, and never panic or report an internal error.
//!
//! Input: byte 0 picks the method (values past the method list make the
//! rest of the input up to a NUL the method path itself); the rest is the
//! request body. Keys of every algorithm family exist under one-letter
//! names (p, s, r, o, e, g, h, k, d; see `KEYS`), so short bodies reach them.
//!
//! The TA's store and audit log live in `$TMPDIR/teehsm-fuzz-api-<random>`,
//! which outlives the run (libFuzzer exits without running destructors):
//! delete it afterwards.
#![no_main]
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use teehsm_crypto::digest::HashAlg;
use teehsm_ta::audit::AuditLog;
use teehsm_ta::handler::{Connection, HandlerConfig, Ta};
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_ta::store::Store;
use teehsm_wire::ck::*;
use teehsm_wire::proto::method_path;
use teehsm_wire::proto::v1::{Algorithm, CreateKeyRequest};
use teehsm_wire::*;

const METHODS: [&str; 20] = [
    "CreateKey",
    "ImportKey",
    "GetKey",
    "ListKeys",
    "DestroyKey",
    "RestoreKey",
    "RotateKey",
    "UpdateKeyRotation",
    "UpdateKeyVersionState",
    "GetPublicKey",
    "Sign",
    "Verify",
    "Encrypt",
    "Decrypt",
    "MacSign",
    "MacVerify",
    "Encapsulate",
    "Decapsulate",
    "GenerateRandom",
    "GetAttestation",
];

const KEYS: [(&str, Algorithm); 9] = [
    ("p", Algorithm::EcSignP256Sha256),
    ("s", Algorithm::Sm2SignSm3),
    ("r", Algorithm::RsaSignPss2048Sha256),
    ("o", Algorithm::RsaDecryptOaep2048Sha256),
    ("e", Algorithm::Sm2Encrypt),
    ("g", Algorithm::Aes256Gcm),
    ("h", Algorithm::HmacSha256),
    ("k", Algorithm::MlKem768),
    ("d", Algorithm::MlDsa44),
];

const CLIENT: &str = "fuzz";

struct World {
    ta: Arc<Ta>,
    conn: Mutex<Connection>,
    secret: Vec<u8>,
    nonce: AtomicU64,
}

fn ok(ta: &Ta, c: &mut Connection, r: Request) -> Reply {
    match ta.handle(c, r) {
        Response::Ok(rep) => rep,
        Response::Err { rv, message } => panic!("harness setup failed: {rv}: {message}"),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn hmac(secret: &[u8], msg: &[u8]) -> [u8; 32] {
    teehsm_crypto::mac::hmac(HashAlg::Sha256, secret, msg).unwrap().try_into().unwrap()
}

impl World {
    fn new() -> World {
        let mut b = [0u8; 8];
        teehsm_crypto::rng::fill(&mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("teehsm-fuzz-api-{}", hex::encode(b)));
        let data = dir.join("store");
        std::fs::create_dir_all(&data).unwrap();
        let platform = Arc::new(SimPlatform::open(&dir.join("platform"), 1).unwrap());
        let audit = Arc::new(AuditLog::open(&data).unwrap());
        let a2 = audit.clone();
        let store = Store::open(&data, platform.clone(), Box::new(move || a2.sync().map_err(|e| e.to_string()))).unwrap();
        let cfg = HandlerConfig { pin_iterations: 1, ..HandlerConfig::default() };
        let ta = Arc::new(Ta::new(platform, store, audit, cfg, vec![]).unwrap());
        let mut c = ta.new_conn();
        ok(&ta, &mut c, Request::Hello { client: "fuzz".into(), channel: ChannelMode::Plain });
        ok(&ta, &mut c, Request::InitToken { slot: 0, so_pin: Secret(b"so-pin-1234".to_vec()), label: "fuzz".into() });
        let s = match ok(&ta, &mut c, Request::OpenSession { slot: 0, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION }) {
            Reply::Handle(h) => h,
            r => panic!("unexpected {r:?}"),
        };
        ok(&ta, &mut c, Request::Login { session: s, user_type: CKU_SO, pin: Secret(b"so-pin-1234".to_vec()) });
        let acl = vec![AclEntry { key_label_prefix: String::new(), operations: acl_op::ALL }];
        let secret = match ok(&ta, &mut c, Request::RegisterClient { session: s, client_id: CLIENT.into(), acl }) {
            Reply::Bytes(b) => b,
            r => panic!("unexpected {r:?}"),
        };
        ok(&ta, &mut c, Request::CloseSession { session: s });
        let w = World { ta, conn: Mutex::new(c), secret, nonce: AtomicU64::new(1) };
        for (name, alg) in KEYS {
            let body = CreateKeyRequest { name: name.into(), algorithm: alg as i32, ..Default::default() }.encode_to_vec();
            let (code, message) = w.call(&method_path("CreateKey"), body);
            assert_eq!(code, 0, "creating {name}: {message}");
        }
        w
    }

    /// One authenticated call; checks the reply's shape and MAC.
    fn call(&self, path: &str, body: Vec<u8>) -> (u32, String) {
        let mut nonce = [0u8; CLIENT_NONCE_LEN];
        nonce[..8].copy_from_slice(&self.nonce.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let ts = now_ms();
        let mac = hmac(&self.secret, &api_auth_message(CLIENT, ts, &nonce, path, &body));
        let req = Request::ApiCall { client_id: CLIENT.into(), timestamp_ms: ts, nonce, mac, method: path.into(), body };
        let resp = {
            let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            self.ta.handle(&mut c, req)
        };
        match resp {
            Response::Ok(Reply::Api { code, message, body, mac: rmac, .. }) => {
                assert!(message.len() <= MAX_API_MESSAGE_LEN);
                assert!(body.len() <= MAX_API_BODY_LEN);
                assert!(code == 0 || body.is_empty(), "an error reply carries no body");
                assert_ne!(code, 13, "internal error on {path}: {message}");
                assert_eq!(rmac, hmac(&self.secret, &api_response_message(&mac, code, &message, &body)), "response MAC");
                (code, message)
            }
            other => panic!("ApiCall answered {other:?}"),
        }
    }
}

static WORLD: OnceLock<World> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let (path, body) = match METHODS.get(sel as usize) {
        Some(m) => (method_path(m), rest.to_vec()),
        None => {
            let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            let path = String::from_utf8_lossy(&rest[..end.min(MAX_API_METHOD_LEN)]).into_owned();
            (path, rest.get(end + 1..).unwrap_or(&[]).to_vec())
        }
    };
    if body.len() > MAX_API_BODY_LEN {
        return;
    }
    let w = WORLD.get_or_init(World::new);
    w.call(&path, body);
});
