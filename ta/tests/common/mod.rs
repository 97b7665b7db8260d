//! An in-process TA over a temporary sim platform and store, driven through
//! the same `Ta::handle` entry point the socket server uses.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use teehsm_ta::audit::AuditLog;
use teehsm_ta::handler::{Connection as Conn, HandlerConfig, Ta};
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_ta::store::Store;
use teehsm_wire::ck::*;
use teehsm_wire::*;

pub const SO_PIN: &[u8] = b"so-pin-1234";
pub const USER_PIN: &[u8] = b"user-pin-1234";

pub struct Harness {
    pub dir: PathBuf,
    pub ta: Arc<Ta>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.ta.store.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    teehsm_crypto::rng::fill(&mut b).unwrap();
    let d = std::env::temp_dir().join(format!("teehsm-{tag}-{}", hex::encode(b)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn open_ta(dir: &Path) -> Arc<Ta> {
    open_ta_with(dir, HandlerConfig::default(), 1)
}

impl Harness {
    /// A TA with slot 0 initialized and a user PIN set.
    pub fn new(tag: &str) -> Harness {
        Harness::with_config(tag, HandlerConfig::default())
    }

    pub fn conn(&self) -> Conn {
        let mut c = self.ta.new_conn();
        self.ok(&mut c, Request::Hello { client: "test".into(), channel: ChannelMode::Plain });
        c
    }

    pub fn call(&self, c: &mut Conn, r: Request) -> Response {
        self.ta.handle(c, r)
    }

    pub fn ok(&self, c: &mut Conn, r: Request) -> Reply {
        let name = r.name();
        match self.call(c, r) {
            Response::Ok(rep) => rep,
            Response::Err { rv, message } => panic!("{name} failed: {rv}: {message}"),
        }
    }

    /// Asserts the request is refused with `rv`; returns the message.
    pub fn refused(&self, c: &mut Conn, r: Request, rv: Rv) -> String {
        let name = r.name();
        match self.call(c, r) {
            Response::Ok(rep) => panic!("{name} should have been refused with {rv} but returned {rep:?}"),
            Response::Err { rv: got, message } => {
                assert_eq!(got, rv, "{name}: expected {rv}, got {got}: {message}");
                message
            }
        }
    }

    pub fn open(&self, c: &mut Conn, rw: bool) -> u64 {
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        match self.ok(c, Request::OpenSession { slot: 0, flags }) {
            Reply::Handle(h) => h,
            r => panic!("unexpected {r:?}"),
        }
    }

    /// A connection with an RW session logged in as the user.
    pub fn user(&self) -> (Conn, u64) {
        let mut c = self.conn();
        let s = self.open(&mut c, true);
        self.ok(&mut c, Request::Login { session: s, user_type: CKU_USER, pin: Secret(USER_PIN.to_vec()) });
        (c, s)
    }

    pub fn handle(&self, c: &mut Conn, r: Request) -> u64 {
        match self.ok(c, r) {
            Reply::Handle(h) => h,
            r => panic!("expected a handle, got {r:?}"),
        }
    }

    pub fn bytes(&self, c: &mut Conn, r: Request) -> Vec<u8> {
        match self.ok(c, r) {
            Reply::Bytes(b) => b,
            r => panic!("expected bytes, got {r:?}"),
        }
    }

    pub fn aes_key(&self, c: &mut Conn, s: u64, attrs: &[(u64, bool)]) -> u64 {
        let mut t = vec![Attribute::ulong(CKA_VALUE_LEN, 32)];
        if !attrs.iter().any(|(ty, _)| *ty == CKA_TOKEN) {
            t.push(Attribute::bool(CKA_TOKEN, false));
        }
        t.extend(attrs.iter().map(|(ty, v)| Attribute::bool(*ty, *v)));
        self.handle(c, Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t })
    }

    pub fn attr(&self, c: &mut Conn, s: u64, obj: u64, ty: u64) -> Result<Vec<u8>, Rv> {
        match self.ok(c, Request::GetAttributeValue { session: s, object: obj, types: vec![ty] }) {
            Reply::Attributes(v) if v[0].status.is_ok() => Ok(v[0].value.clone()),
            Reply::Attributes(v) => Err(v[0].status),
            r => panic!("unexpected {r:?}"),
        }
    }
}

// ---------------------------------------------------------------- added for store/pins/mechanisms tests

/// Like [`open_ta`], with a chosen handler configuration and platform security version.
pub fn open_ta_with(dir: &Path, cfg: HandlerConfig, security_version: u32) -> Arc<Ta> {
    let platform = Arc::new(SimPlatform::open(&dir.join("platform"), security_version).unwrap());
    let data = dir.join("store");
    std::fs::create_dir_all(&data).unwrap();
    let audit = Arc::new(AuditLog::open(&data).unwrap());
    let a2 = audit.clone();
    let store = Store::open(&data, platform.clone(), Box::new(move || a2.sync().map_err(|e| e.to_string()))).unwrap();
    Arc::new(Ta::new(platform, store, audit, cfg, vec![]).expect("channel key"))
}

impl Harness {
    /// Like [`Harness::new`], with a chosen handler configuration.
    pub fn with_config(tag: &str, cfg: HandlerConfig) -> Harness {
        let dir = temp_dir(tag);
        let ta = open_ta_with(&dir, cfg, 1);
        let h = Harness { dir, ta };
        let mut c = h.conn();
        h.ok(&mut c, Request::InitToken { slot: 0, so_pin: Secret(SO_PIN.to_vec()), label: "test".into() });
        let s = h.open(&mut c, true);
        h.ok(&mut c, Request::Login { session: s, user_type: CKU_SO, pin: Secret(SO_PIN.to_vec()) });
        h.ok(&mut c, Request::InitPin { session: s, pin: Secret(USER_PIN.to_vec()) });
        h.ok(&mut c, Request::CloseSession { session: s });
        h
    }

    /// Stops this TA (store committer drained, audit log synced) and starts a
    /// new one on the same data and platform directories, as a TA restart does.
    pub fn reopen(&mut self, cfg: HandlerConfig) {
        self.ta.store.shutdown();
        self.ta.audit.sync().unwrap();
        let dir = self.dir.clone();
        self.ta = open_ta_with(&dir, cfg, 1);
    }

    /// CK_TOKEN_INFO.flags of slot 0.
    pub fn token_flags(&self, c: &mut Conn) -> u64 {
        match self.ok(c, Request::GetTokenInfo { slot: 0 }) {
            Reply::TokenInfo(t) => t.flags,
            r => panic!("unexpected {r:?}"),
        }
    }

    /// The status of a request: `Rv::OK` or the refusal code.
    pub fn rv(&self, c: &mut Conn, r: Request) -> Rv {
        match self.call(c, r) {
            Response::Ok(_) => Rv::OK,
            Response::Err { rv, .. } => rv,
        }
    }
}

/// API client ACL entries from (label prefix, operation bits) pairs.
pub fn acl(entries: &[(&str, u32)]) -> Vec<AclEntry> {
    entries.iter().map(|(p, o)| AclEntry { key_label_prefix: (*p).into(), operations: *o }).collect()
}

/// A connection with an RW session where the SO is logged in.
pub fn so(h: &Harness) -> (Conn, u64) {
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    h.ok(&mut c, Request::Login { session: s, user_type: CKU_SO, pin: Secret(SO_PIN.to_vec()) });
    (c, s)
}

/// Registers an API client (SO session) and returns its 32-byte secret.
pub fn register(h: &Harness, id: &str, acl: Vec<AclEntry>) -> Vec<u8> {
    let (mut c, s) = so(h);
    let secret = h.bytes(&mut c, Request::RegisterClient { session: s, client_id: id.into(), acl });
    assert_eq!(secret.len(), CLIENT_SECRET_LEN);
    secret
}

/// Milliseconds since the Unix epoch (API client timestamps).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A fresh random API client nonce.
pub fn nonce() -> [u8; CLIENT_NONCE_LEN] {
    let mut n = [0u8; CLIENT_NONCE_LEN];
    teehsm_crypto::rng::fill(&mut n).unwrap();
    n
}

/// GetTokenInfo of slot 0.
pub fn token_info(h: &Harness, c: &mut Conn) -> TokenInfo {
    match h.ok(c, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => t,
        r => panic!("unexpected {r:?}"),
    }
}

/// GenerateKey of a 256-bit AES token key.
pub fn aes_token_key(session: u64) -> Request {
    Request::GenerateKey {
        session,
        mechanism: Mechanism::new(CKM_AES_KEY_GEN),
        template: vec![Attribute::ulong(CKA_VALUE_LEN, 32), Attribute::bool(CKA_TOKEN, true)],
    }
}

/// A console signing key for token policies and key distribution.
pub fn policy_signer() -> aws_lc_rs::signature::Ed25519KeyPair {
    let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).expect("Ed25519 key");
    aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("Ed25519 key")
}

/// Has the SO of slot 0 trust `key` (`TrustKeydistSigner`).
pub fn trust_policy_signer(h: &Harness, key: &aws_lc_rs::signature::Ed25519KeyPair) {
    use aws_lc_rs::signature::KeyPair;
    let (mut c, s) = so(h);
    h.ok(&mut c, Request::TrustKeydistSigner { session: s, public_key: key.public_key().as_ref().to_vec() });
}

/// A token policy for slot 0 of `h`'s TA, valid for 10 minutes, signed by `key`.
pub fn token_policy(
    h: &Harness,
    key: &aws_lc_rs::signature::Ed25519KeyPair,
    version: u64,
    max_objects: u64,
    min_rsa_bits: u32,
    rules: u32,
) -> teehsm_wire::token_policy::TokenPolicy {
    use aws_lc_rs::signature::KeyPair;
    let now = now_ms();
    let mut p = teehsm_wire::token_policy::TokenPolicy {
        version,
        target: *h.ta.channel.public_key_hash(),
        slot: 0,
        created_ms: now - 1_000,
        expires_ms: now + 600_000,
        signer: key.public_key().as_ref().try_into().expect("32-byte key"),
        max_objects,
        min_rsa_bits,
        rules,
        signature: [0; 64],
    };
    sign_token_policy(&mut p, key);
    p
}

/// (Re-)signs `p` with `key`.
pub fn sign_token_policy(p: &mut teehsm_wire::token_policy::TokenPolicy, key: &aws_lc_rs::signature::Ed25519KeyPair) {
    let sig = key.sign(&p.signed_message());
    p.signature.copy_from_slice(sig.as_ref());
}
