//! Key distribution imports (docs/key-distribution.md): whatever the
//! envelope bytes, the TA answers with a handle or a precise refusal, and
//! never panics or reports an internal error.
//!
//! Input: byte 0 picks the mode.
//! - 0: the rest is the envelope itself (the parser and the signer check).
//! - 1: the rest is split into an ephemeral P-256 point, an ML-KEM
//!   ciphertext and a ciphertext; the harness wraps them in an envelope
//!   signed by the trusted signer and aimed at this TA, so the key
//!   agreement and AES-GCM steps see hostile input.
//! - 2: the rest is split into a template and key material (both in the
//!   template encoding, or raw when they do not decode); the harness seals
//!   them properly and signs, so the template and material checks and the
//!   key import see hostile input.
//! - 3: byte 1 picks a class and key type, byte 2 a usage; the rest is the
//!   CKA_VALUE of a properly sealed and signed envelope, so keys of every
//!   kind are made (or refused) from hostile values.
//!
//! - 4: the rest is a token policy (docs/key-distribution.md, "Token
//!   policy") as given: the policy parser and the signer check.
//! - 5: the rest gives a policy's version, object limit, slot and times; the
//!   harness aims it at this TA and signs it, so the version and limit
//!   checks and the capacity enforcement see hostile values.
//!
//! The TA's store and audit log live in `$TMPDIR/teehsm-fuzz-keydist-<random>`,
//! which outlives the run (libFuzzer exits without running destructors):
//! delete it afterwards.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use teehsm_crypto::{aead, ec, eddsa, kdf, mlkem};
use teehsm_ta::audit::AuditLog;
use teehsm_ta::handler::{Connection, HandlerConfig, Ta};
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_ta::store::Store;
use teehsm_wire::ck::*;
use teehsm_wire::keydist::*;
use teehsm_wire::*;

struct World {
    ta: Arc<Ta>,
    conn: Mutex<Connection>,
    session: u64,
    signer: eddsa::Ed25519PrivateKey,
    next_id: AtomicU64,
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

impl World {
    fn new() -> World {
        let mut b = [0u8; 8];
        teehsm_crypto::rng::fill(&mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("teehsm-fuzz-keydist-{}", hex::encode(b)));
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
        let open = |ta: &Ta, c: &mut Connection| match ok(ta, c, Request::OpenSession { slot: 0, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION }) {
            Reply::Handle(h) => h,
            r => panic!("unexpected {r:?}"),
        };
        let s = open(&ta, &mut c);
        ok(&ta, &mut c, Request::Login { session: s, user_type: CKU_SO, pin: Secret(b"so-pin-1234".to_vec()) });
        ok(&ta, &mut c, Request::InitPin { session: s, pin: Secret(b"user-pin-1234".to_vec()) });
        let signer = eddsa::generate().unwrap();
        ok(&ta, &mut c, Request::TrustKeydistSigner { session: s, public_key: signer.public_key() });
        ok(&ta, &mut c, Request::CloseSession { session: s });
        let session = open(&ta, &mut c);
        ok(&ta, &mut c, Request::Login { session, user_type: CKU_USER, pin: Secret(b"user-pin-1234".to_vec()) });
        World { ta, conn: Mutex::new(c), session, signer, next_id: AtomicU64::new(1) }
    }

    /// An envelope aimed at this TA, from the trusted signer, with the given parts.
    fn envelope(&self, ephemeral_p256: [u8; 65], mlkem_ct: Vec<u8>, template: Vec<Attribute>, ciphertext: Vec<u8>) -> Envelope {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_id.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let now = now_ms();
        Envelope {
            id,
            target: *self.ta.channel.public_key_hash(),
            slot: 0,
            token_serial: String::new(),
            created_ms: now - 1_000,
            // Short-lived, so the TA's replay cache (ids are kept until
            // their envelope expires, at most 100,000) never fills up.
            expires_ms: now + 2_000,
            signer: self.signer.public_key().try_into().unwrap(),
            ephemeral_p256,
            mlkem_ct,
            template,
            ciphertext,
            signature: [0; 64],
        }
    }

    fn sign(&self, env: &mut Envelope) {
        let sig = self.signer.sign(eddsa::Ed25519Variant::Pure, &[], &env.signed_message()).unwrap();
        env.signature.copy_from_slice(&sig);
    }

    /// Seals `material` properly to this TA.
    fn sealed(&self, template: Vec<Attribute>, material: &[u8]) -> Envelope {
        let bundle = self.ta.channel.public_key();
        let parts = split_channel_bundle(bundle).unwrap();
        let eph = ec::generate(ec::Curve::P256).unwrap();
        let ecdh = eph.ecdh(parts.p256).unwrap();
        let (ct, ss) = mlkem::encapsulate(mlkem::MlKemParam::MlKem768, parts.mlkem).unwrap();
        let mut env = self.envelope(eph.public_point().try_into().unwrap(), ct, template, vec![]);
        let ikm = [ecdh.as_slice(), ss.as_slice()].concat();
        let okm = kdf::hkdf_sha256(&ikm, &env.id, &kdf_info(&env.id, &env.target, env.slot), KEYDIST_OKM_LEN).unwrap();
        let key: [u8; 32] = okm[..32].try_into().unwrap();
        let iv: [u8; 12] = okm[32..44].try_into().unwrap();
        env.ciphertext = aead::aes256gcm_seal(&key, &iv, &env.header_bytes(), material).unwrap();
        env
    }

    /// ApplyTokenPolicy: Done or a precise refusal, never an internal error.
    fn apply_policy(&self, policy: Vec<u8>) {
        let resp = {
            let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            self.ta.handle(&mut c, Request::ApplyTokenPolicy { session: self.session, policy })
        };
        match resp {
            Response::Ok(Reply::Done) => {}
            Response::Ok(other) => panic!("ApplyTokenPolicy answered {other:?}"),
            Response::Err { rv, message } => {
                assert!(rv != Rv::GENERAL_ERROR && rv != Rv::DEVICE_ERROR && rv != Rv::FUNCTION_FAILED, "internal error: {rv}: {message}");
                assert!(!message.is_empty(), "refusal {rv} without a message");
            }
        }
    }

    fn import(&self, envelope: Vec<u8>) {
        let resp = {
            let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            self.ta.handle(&mut c, Request::ImportDistributedKey { session: self.session, envelope })
        };
        match resp {
            Response::Ok(Reply::Handle(h)) => {
                // Keep the store small: destroy what was made.
                let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
                let _ = self.ta.handle(&mut c, Request::DestroyObject { session: self.session, object: h });
            }
            Response::Ok(other) => panic!("ImportDistributedKey answered {other:?}"),
            Response::Err { rv, message } => {
                assert!(rv != Rv::GENERAL_ERROR && rv != Rv::DEVICE_ERROR && rv != Rv::FUNCTION_FAILED, "internal error: {rv}: {message}");
                assert!(!message.is_empty(), "refusal {rv} without a message");
            }
        }
    }
}

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&n, rest)) = data.split_first() else { return (&[], &[]) };
    rest.split_at((n as usize).min(rest.len()))
}

static WORLD: OnceLock<World> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let w = WORLD.get_or_init(World::new);
    match mode % 6 {
        0 => w.import(rest.to_vec()),
        4 => w.apply_policy(rest.to_vec()),
        5 => {
            let mut f = [0u8; 33];
            f[..rest.len().min(33)].copy_from_slice(&rest[..rest.len().min(33)]);
            let word = |i: usize| u64::from_be_bytes(f[i..i + 8].try_into().unwrap());
            let now = now_ms();
            let mut p = teehsm_wire::token_policy::TokenPolicy {
                version: word(0),
                target: *w.ta.channel.public_key_hash(),
                slot: u64::from(f[32] % 2),
                created_ms: now.wrapping_sub(word(16) % 10_000_000),
                expires_ms: now.wrapping_add(word(24) % 10_000_000),
                signer: w.signer.public_key().try_into().unwrap(),
                max_objects: word(8) % 200_000,
                // Rules and RSA minimums, including unknown bits and absurd sizes.
                min_rsa_bits: (word(16) % 20_000) as u32,
                rules: (word(24) & 0xf) as u32,
                signature: [0; 64],
            };
            let sig = w.signer.sign(eddsa::Ed25519Variant::Pure, &[], &p.signed_message()).unwrap();
            p.signature.copy_from_slice(&sig);
            w.apply_policy(p.to_bytes());
            // Creating an object under whatever limit is in force: a handle or CKR_DEVICE_MEMORY.
            let mut c = w.conn.lock().unwrap_or_else(|p| p.into_inner());
            let r = w.ta.handle(
                &mut c,
                Request::GenerateKey {
                    session: w.session,
                    mechanism: Mechanism::new(CKM_AES_KEY_GEN),
                    template: vec![Attribute::ulong(CKA_VALUE_LEN, 16), Attribute::bool(CKA_TOKEN, true)],
                },
            );
            match r {
                Response::Ok(Reply::Handle(h)) => {
                    let _ = w.ta.handle(&mut c, Request::DestroyObject { session: w.session, object: h });
                }
                Response::Err { rv, .. } => assert_eq!(rv, Rv::DEVICE_MEMORY, "key creation under a policy"),
                Response::Ok(other) => panic!("GenerateKey answered {other:?}"),
            }
        }
        1 => {
            let mut point = [4u8; 65];
            let (p, rest) = rest.split_at(rest.len().min(65));
            point[..p.len()].copy_from_slice(p);
            let (ct, rest) = rest.split_at(rest.len().min(CHANNEL_MLKEM768_CT_LEN));
            let mut mlkem_ct = vec![0u8; CHANNEL_MLKEM768_CT_LEN];
            mlkem_ct[..ct.len()].copy_from_slice(ct);
            let template = vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES)];
            let mut env = w.envelope(point, mlkem_ct, template, rest.to_vec());
            w.sign(&mut env);
            w.import(env.to_bytes());
        }
        3 => {
            const KINDS: [(u64, u64); 7] = [
                (CKO_SECRET_KEY, CKK_AES),
                (CKO_SECRET_KEY, CKK_GENERIC_SECRET),
                (CKO_SECRET_KEY, CKK_SM4),
                (CKO_PRIVATE_KEY, CKK_EC),
                (CKO_PRIVATE_KEY, CKK_EC_EDWARDS),
                (CKO_PRIVATE_KEY, CKK_RSA),
                (CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY),
            ];
            const USES: [u64; 4] = [CKA_SIGN, CKA_DECRYPT, CKA_DERIVE, CKA_UNWRAP];
            let [kind, usage, value @ ..] = rest else { return };
            let (class, key_type) = KINDS[*kind as usize % KINDS.len()];
            let mut template = vec![
                Attribute::ulong(CKA_CLASS, class),
                Attribute::ulong(CKA_KEY_TYPE, key_type),
                Attribute::bool(USES[*usage as usize % USES.len()], true),
            ];
            if key_type == CKK_EC {
                template.push(Attribute::new(CKA_EC_PARAMS, vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]));
            }
            if value.len() > KEYDIST_MAX_CIPHERTEXT - 64 {
                return;
            }
            let material = encode_template(&[Attribute::new(CKA_VALUE, value.to_vec())]);
            let mut env = w.sealed(template, &material);
            w.sign(&mut env);
            w.import(env.to_bytes());
        }
        _ => {
            let (t, material) = split(rest);
            let template = decode_template(t).unwrap_or_else(|_| {
                // Raw bytes: one attribute per 9 bytes (type, then a one-byte value).
                t.chunks(9).filter(|c| c.len() == 9).map(|c| Attribute::new(u64::from_be_bytes(c[..8].try_into().unwrap()), vec![c[8]])).collect()
            });
            if template.len() > KEYDIST_MAX_TEMPLATE
                || template.iter().any(|a| a.value.len() > KEYDIST_MAX_ATTR_LEN)
                || material.len() > KEYDIST_MAX_CIPHERTEXT - 16
            {
                return;
            }
            let mut env = w.sealed(template, material);
            w.sign(&mut env);
            w.import(env.to_bytes());
        }
    }
});
