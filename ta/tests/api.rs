//! The gRPC API executor (docs/grpc-api.md) in an in-process TA: the
//! authenticator, the ACL, key records and their lifecycle, and that API
//! keys never appear through PKCS#11.

mod common;

use common::{acl, nonce, now_ms, policy_signer, register, so, token_policy, trust_policy_signer, Harness};
use prost::Message;
use teehsm_crypto::digest::HashAlg;
use teehsm_ta::handler::{Connection as Conn, HandlerConfig};
use teehsm_ta::object::{CKA_TEEHSM_API_KEY_NAME, CKA_TEEHSM_API_KEY_VERSION, CKO_TEEHSM_API_KEY};
use teehsm_wire::ck::*;
use teehsm_wire::proto::v1::*;
use teehsm_wire::proto::{crc32c, method_path};
use teehsm_wire::*;

const OK: u32 = 0;
const INVALID_ARGUMENT: u32 = 3;
const NOT_FOUND: u32 = 5;
const ALREADY_EXISTS: u32 = 6;
const PERMISSION_DENIED: u32 = 7;
const FAILED_PRECONDITION: u32 = 9;
const UNIMPLEMENTED: u32 = 12;
const UNAUTHENTICATED: u32 = 16;

fn hmac(secret: &[u8], msg: &[u8]) -> [u8; 32] {
    teehsm_crypto::mac::hmac(HashAlg::Sha256, secret, msg).unwrap().try_into().unwrap()
}

/// What an `Api` reply said.
#[derive(Debug)]
struct Answer {
    code: u32,
    message: String,
    body: Vec<u8>,
    mac: [u8; 32],
    algorithm: u32,
}

/// One API client, sending calls the way the CA forwards them.
struct Client<'a> {
    h: &'a Harness,
    conn: Conn,
    id: String,
    secret: Vec<u8>,
}

impl<'a> Client<'a> {
    fn new(h: &'a Harness, id: &str, entries: &[(&str, u32)]) -> Client<'a> {
        let secret = register(h, id, acl(entries));
        Client { h, conn: h.conn(), id: id.into(), secret }
    }

    fn anonymous(h: &'a Harness) -> Client<'a> {
        Client { h, conn: h.conn(), id: String::new(), secret: vec![] }
    }

    /// Sends a raw ApiCall and checks the response MAC (when the client is
    /// authenticated, it must verify; otherwise it must be zero).
    fn raw(&mut self, id: &str, ts: u64, nonce: [u8; 16], mac: [u8; 32], method: &str, body: Vec<u8>) -> Answer {
        let r = Request::ApiCall { client_id: id.into(), timestamp_ms: ts, nonce, mac, method: method.into(), body };
        match self.h.call(&mut self.conn, r) {
            Response::Ok(Reply::Api { code, message, body, mac: rmac, algorithm }) => {
                let a = Answer { code, message, body, mac: rmac, algorithm };
                assert!(a.message.len() <= MAX_API_MESSAGE_LEN);
                a
            }
            other => panic!("ApiCall answered {other:?}"),
        }
    }

    /// A correctly authenticated call of `method` with `body`.
    fn send(&mut self, method: &str, body: Vec<u8>) -> Answer {
        let path = method_path(method);
        let (ts, n) = (now_ms(), nonce());
        let mac = if self.id.is_empty() { [0; 32] } else { hmac(&self.secret, &api_auth_message(&self.id, ts, &n, &path, &body)) };
        let id = self.id.clone();
        let a = self.raw(&id, ts, n, mac, &path, body);
        if self.id.is_empty() {
            assert_eq!(a.mac, [0; 32], "anonymous answers carry no MAC");
        } else {
            let want = hmac(&self.secret, &api_response_message(&mac, a.code, &a.message, &a.body));
            assert_eq!(a.mac, want, "response MAC of {method} ({}: {})", a.code, a.message);
        }
        a
    }

    fn call<Q: Message, R: Message + Default>(&mut self, method: &str, req: &Q) -> Result<R, (u32, String)> {
        let a = self.send(method, req.encode_to_vec());
        if a.code == OK {
            Ok(R::decode(a.body.as_slice()).unwrap())
        } else {
            assert!(a.body.is_empty());
            Err((a.code, a.message))
        }
    }

    fn ok<Q: Message, R: Message + Default>(&mut self, method: &str, req: &Q) -> R {
        self.call(method, req).unwrap_or_else(|(c, m)| panic!("{method} failed with {c}: {m}"))
    }

    /// Asserts `method` fails with `code`; returns the message.
    fn fails<Q: Message>(&mut self, method: &str, req: &Q, code: u32) -> String {
        match self.call::<Q, ()>(method, req) {
            Ok(()) => panic!("{method} should have failed with {code}"),
            Err((c, m)) => {
                assert_eq!(c, code, "{method}: {m}");
                m
            }
        }
    }

    fn create(&mut self, name: &str, alg: Algorithm) -> Key {
        self.ok("CreateKey", &CreateKeyRequest { name: name.into(), algorithm: alg as i32, ..Default::default() })
    }

    fn sign(&mut self, name: &str, version: u32, data: &[u8]) -> Result<SignResponse, (u32, String)> {
        self.call("Sign", &SignRequest { name: name.into(), version, data: data.to_vec(), ..Default::default() })
    }
}

const ALL_OPS: u32 = acl_op::ALL;

fn version_states(k: &Key) -> Vec<(u32, i32)> {
    k.versions.iter().map(|v| (v.version, v.state)).collect()
}

#[test]
fn anonymous_calls_only_random_and_attestation() {
    let h = Harness::new("api-anon");
    let mut a = Client::anonymous(&h);
    let r: GenerateRandomResponse = a.ok("GenerateRandom", &GenerateRandomRequest { length_bytes: 48 });
    assert_eq!(r.data.len(), 48);
    assert_eq!(r.data_crc32c, crc32c(&r.data));
    assert_ne!(r.data, vec![0u8; 48]);
    a.fails("GenerateRandom", &GenerateRandomRequest { length_bytes: 0 }, INVALID_ARGUMENT);
    a.fails("GenerateRandom", &GenerateRandomRequest { length_bytes: 1025 }, INVALID_ARGUMENT);
    let _: GenerateRandomResponse = a.ok("GenerateRandom", &GenerateRandomRequest { length_bytes: 1024 });

    let nonce = [7u8; 32];
    let r: GetAttestationResponse = a.ok("GetAttestation", &GetAttestationRequest { nonce: nonce.to_vec() });
    let report = AttestationReport::from_bytes(&r.report).unwrap();
    assert_eq!(&report.report_data[..32], &nonce);
    assert_eq!(r.platform, report.platform);
    assert_eq!(r.measurement, report.measurement.to_vec());
    let m = a.fails("GetAttestation", &GetAttestationRequest { nonce: vec![1; 31] }, INVALID_ARGUMENT);
    assert!(m.contains("32"), "{m}");

    for method in ["Sign", "CreateKey", "ListKeys", "GetKey"] {
        let m = a.fails(method, &GetKeyRequest { name: "k".into() }, UNAUTHENTICATED);
        assert!(m.contains("needs a client authenticator (x-teehsm-* metadata)"), "{m}");
    }
    let ans = a.raw("", 0, [0; 16], [0; 32], "/teehsm.v1.KeyManagementService/Nope", vec![]);
    assert_eq!(ans.code, UNIMPLEMENTED, "{}", ans.message);
    let ans = a.raw("", 0, [0; 16], [0; 32], &method_path("GenerateRandom"), vec![0xff, 0xff]);
    assert_eq!(ans.code, INVALID_ARGUMENT, "{}", ans.message);
}

#[test]
fn authentication_failures() {
    let h = Harness::new("api-auth");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    let secret = c.secret.clone();
    let path = method_path("GenerateRandom");
    let body = GenerateRandomRequest { length_bytes: 8 }.encode_to_vec();
    let good = |ts: u64, n: [u8; 16]| hmac(&secret, &api_auth_message("svc", ts, &n, &path, &body));

    // Forged MAC: no response MAC (nothing proves the client).
    let (ts, n) = (now_ms(), nonce());
    let mut mac = good(ts, n);
    mac[0] ^= 1;
    let a = c.raw("svc", ts, n, mac, &path, body.clone());
    assert_eq!(a.code, UNAUTHENTICATED);
    assert!(a.message.contains("does not verify") && a.message.contains("svc"), "{}", a.message);
    assert_eq!(a.mac, [0; 32]);
    // A MAC over other bytes (the body changed in transit).
    let a = c.raw("svc", ts, n, good(ts, n), &path, GenerateRandomRequest { length_bytes: 9 }.encode_to_vec());
    assert_eq!(a.code, UNAUTHENTICATED, "{}", a.message);
    // Wrong secret.
    let other = hmac(&[9u8; 32], &api_auth_message("svc", ts, &n, &path, &body));
    assert_eq!(c.raw("svc", ts, n, other, &path, body.clone()).code, UNAUTHENTICATED);
    // Unknown client.
    let a = c.raw("nobody", ts, n, good(ts, n), &path, body.clone());
    assert_eq!(a.code, UNAUTHENTICATED);
    assert!(a.message.contains("no API client \"nobody\""), "{}", a.message);
    // Stale and future timestamps.
    for ts in [now_ms() - 121_000, now_ms() + 121_000] {
        let n = nonce();
        let a = c.raw("svc", ts, n, good(ts, n), &path, body.clone());
        assert_eq!(a.code, UNAUTHENTICATED);
        assert!(a.message.contains("120 s"), "{}", a.message);
        // The MAC verified, so the refusal is MACed for the client.
        assert_eq!(a.mac, hmac(&secret, &api_response_message(&good(ts, n), a.code, &a.message, &a.body)));
    }
    // A good call, then its replay.
    let (ts, n) = (now_ms(), nonce());
    let a = c.raw("svc", ts, n, good(ts, n), &path, body.clone());
    assert_eq!(a.code, OK, "{}", a.message);
    let a = c.raw("svc", ts, n, good(ts, n), &path, body.clone());
    assert_eq!(a.code, UNAUTHENTICATED);
    assert!(a.message.contains("nonce already used"), "{}", a.message);
    // Undecodable body, unknown method (after authentication).
    let a = c.send("Sign", vec![0x0a, 0xff, 0x01]);
    assert_eq!(a.code, INVALID_ARGUMENT, "{}", a.message);
    assert!(a.message.contains("SignRequest"), "{}", a.message);
    let a = c.send("Nope", vec![]);
    assert_eq!(a.code, UNIMPLEMENTED, "{}", a.message);
}

#[test]
fn acl_by_prefix_and_by_operation() {
    let h = Harness::new("api-acl");
    let mut admin = Client::new(&h, "admin", &[("", ALL_OPS)]);
    let mut pay = Client::new(&h, "pay-svc", &[("pay/", acl_op::GENERATE | acl_op::SIGN | acl_op::GET_PUBLIC)]);
    admin.create("hr/k1", Algorithm::EcSignP256Sha256);

    // By prefix: the key name does not start with pay/.
    let m = pay.fails(
        "CreateKey",
        &CreateKeyRequest { name: "hr/k2".into(), algorithm: Algorithm::EcSignP256Sha256 as i32, ..Default::default() },
        PERMISSION_DENIED,
    );
    assert!(m.contains("pay-svc") && m.contains("hr/k2") && m.contains("generate"), "{m}");
    let m = pay.sign("hr/k1", 0, b"x").unwrap_err();
    assert_eq!(m.0, PERMISSION_DENIED);
    assert!(m.1.contains("sign") && m.1.contains("hr/k1"), "{}", m.1);
    // Existence is not revealed before the ACL: an unknown name outside the ACL is refused the same way.
    assert_eq!(pay.sign("hr/none", 0, b"x").unwrap_err().0, PERMISSION_DENIED);

    // By operation: sign but not verify, destroy, encrypt.
    pay.create("pay/k1", Algorithm::EcSignP256Sha256);
    let sig = pay.sign("pay/k1", 0, b"m").unwrap();
    let m = pay.fails(
        "Verify",
        &VerifyRequest { name: "pay/k1".into(), data: b"m".to_vec(), signature: sig.signature.clone(), ..Default::default() },
        PERMISSION_DENIED,
    );
    assert!(m.contains("verify"), "{m}");
    let m = pay.fails("DestroyKey", &DestroyKeyRequest { name: "pay/k1".into() }, PERMISSION_DENIED);
    assert!(m.contains("destroy"), "{m}");
    pay.fails("Encrypt", &EncryptRequest { name: "pay/k1".into(), plaintext: b"p".to_vec(), ..Default::default() }, PERMISSION_DENIED);
    pay.fails("RotateKey", &RotateKeyRequest { name: "hr/k1".into(), request_id: String::new() }, PERMISSION_DENIED);
    // Invalid names are refused before the ACL.
    pay.fails("GetKey", &GetKeyRequest { name: "pay/a b".into() }, INVALID_ARGUMENT);
    pay.fails("GetKey", &GetKeyRequest { name: String::new() }, INVALID_ARGUMENT);

    // ListKeys shows only keys the client has get_public on.
    let l: ListKeysResponse = pay.ok("ListKeys", &ListKeysRequest::default());
    assert_eq!(l.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), vec!["pay/k1"]);
    assert_eq!(l.total_size, 1);
    let l: ListKeysResponse = admin.ok("ListKeys", &ListKeysRequest::default());
    assert_eq!(l.total_size, 2);

    // A verifier with only verify on pay/.
    let mut v = Client::new(&h, "verifier", &[("pay/", acl_op::VERIFY)]);
    let r: VerifyResponse =
        v.ok("Verify", &VerifyRequest { name: "pay/k1".into(), data: b"m".to_vec(), signature: sig.signature, ..Default::default() });
    assert!(r.valid);
    let l: ListKeysResponse = v.ok("ListKeys", &ListKeysRequest::default());
    assert!(l.keys.is_empty() && l.total_size == 0);
}

#[test]
fn every_method_happy_path() {
    let h = Harness::new("api-methods");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);

    // Signing keys: Sign (data and digest), Verify, GetPublicKey.
    for (name, alg) in [("p256", Algorithm::EcSignP256Sha256), ("sm2", Algorithm::Sm2SignSm3), ("mldsa", Algorithm::MlDsa44)] {
        let k = c.create(name, alg);
        assert_eq!((k.algorithm, k.purpose, k.primary_version, k.creator.as_str()), (alg as i32, KeyPurpose::AsymmetricSign as i32, 1, "svc"));
        let a = c.send(
            "Sign",
            SignRequest { name: name.into(), data: b"hello".to_vec(), data_crc32c: Some(crc32c(b"hello")), ..Default::default() }.encode_to_vec(),
        );
        assert_eq!(a.code, OK, "{}", a.message);
        assert_eq!(a.algorithm, alg as u32, "the reply names the key's algorithm");
        let s = SignResponse::decode(a.body.as_slice()).unwrap();
        assert!(s.verified_data_crc32c);
        assert_eq!((s.name.as_str(), s.version), (name, 1));
        assert_eq!(s.signature_crc32c, crc32c(&s.signature));
        let v: VerifyResponse =
            c.ok("Verify", &VerifyRequest { name: name.into(), data: b"hello".to_vec(), signature: s.signature.clone(), ..Default::default() });
        assert!(v.valid);
        let v: VerifyResponse =
            c.ok("Verify", &VerifyRequest { name: name.into(), data: b"hellO".to_vec(), signature: s.signature, ..Default::default() });
        assert!(!v.valid);
        let p: PublicKey = c.ok("GetPublicKey", &GetPublicKeyRequest { name: name.into(), version: 0 });
        assert_eq!((p.name.as_str(), p.version, p.algorithm), (name, 1, alg as i32));
        assert!(p.pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{}", p.pem);
        assert_eq!(p.pem_crc32c, crc32c(p.pem.as_bytes()));
        // Wrong purpose.
        c.fails("MacSign", &MacSignRequest { name: name.into(), data: b"x".to_vec(), ..Default::default() }, FAILED_PRECONDITION);
    }
    // A P-256 digest signature checks against the key's public point.
    let digest = teehsm_crypto::digest::digest(HashAlg::Sha256, b"pre-hashed");
    let s = c.ok::<_, SignResponse>("Sign", &SignRequest { name: "p256".into(), digest: digest.clone(), ..Default::default() });
    let v: VerifyResponse =
        c.ok("Verify", &VerifyRequest { name: "p256".into(), data: b"pre-hashed".to_vec(), signature: s.signature, ..Default::default() });
    assert!(v.valid);

    // AEAD: Encrypt / Decrypt.
    c.create("aes", Algorithm::Aes256Gcm);
    let e: EncryptResponse = c.ok(
        "Encrypt",
        &EncryptRequest { name: "aes".into(), plaintext: b"secret".to_vec(), additional_authenticated_data: b"aad".to_vec(), ..Default::default() },
    );
    assert_eq!(e.version, 1);
    let d: DecryptResponse = c.ok(
        "Decrypt",
        &DecryptRequest {
            name: "aes".into(),
            ciphertext: e.ciphertext.clone(),
            additional_authenticated_data: b"aad".to_vec(),
            ..Default::default()
        },
    );
    assert_eq!((d.plaintext.as_slice(), d.version), (&b"secret"[..], 1));
    c.fails(
        "Decrypt",
        &DecryptRequest {
            name: "aes".into(),
            ciphertext: e.ciphertext.clone(),
            additional_authenticated_data: b"AAD".to_vec(),
            ..Default::default()
        },
        INVALID_ARGUMENT,
    );
    c.fails("Encrypt", &EncryptRequest { name: "aes".into(), version: 7, plaintext: b"x".to_vec(), ..Default::default() }, INVALID_ARGUMENT);

    // RSA-OAEP and SM2 encryption.
    for (name, alg) in [("oaep", Algorithm::RsaDecryptOaep2048Sha256), ("sm2enc", Algorithm::Sm2Encrypt)] {
        c.create(name, alg);
        let e: EncryptResponse = c.ok("Encrypt", &EncryptRequest { name: name.into(), plaintext: b"pt".to_vec(), ..Default::default() });
        let d: DecryptResponse = c.ok("Decrypt", &DecryptRequest { name: name.into(), ciphertext: e.ciphertext, ..Default::default() });
        assert_eq!(d.plaintext, b"pt");
    }

    // MAC.
    c.create("hmac", Algorithm::HmacSha256);
    let m: MacSignResponse = c.ok("MacSign", &MacSignRequest { name: "hmac".into(), data: b"d".to_vec(), ..Default::default() });
    assert_eq!(m.mac.len(), 32);
    let v: MacVerifyResponse =
        c.ok("MacVerify", &MacVerifyRequest { name: "hmac".into(), data: b"d".to_vec(), mac: m.mac.clone(), ..Default::default() });
    assert!(v.success);
    let v: MacVerifyResponse = c.ok("MacVerify", &MacVerifyRequest { name: "hmac".into(), data: b"e".to_vec(), mac: m.mac, ..Default::default() });
    assert!(!v.success);

    // KEM.
    c.create("kem", Algorithm::MlKem768);
    let e: EncapsulateResponse = c.ok("Encapsulate", &EncapsulateRequest { name: "kem".into(), version: 0 });
    let d: DecapsulateResponse = c.ok("Decapsulate", &DecapsulateRequest { name: "kem".into(), ciphertext: e.ciphertext, ..Default::default() });
    assert_eq!(d.shared_secret, e.shared_secret);

    // GetKey, unknown keys and versions.
    let k: Key = c.ok("GetKey", &GetKeyRequest { name: "kem".into() });
    assert_eq!(version_states(&k), vec![(1, KeyVersionState::Enabled as i32)]);
    let m = c.fails("GetKey", &GetKeyRequest { name: "nope".into() }, NOT_FOUND);
    assert!(m.contains("no key named \"nope\""), "{m}");
    c.fails("Sign", &SignRequest { name: "nope".into(), data: vec![1], ..Default::default() }, NOT_FOUND);
    c.fails("Sign", &SignRequest { name: "p256".into(), version: 2, data: vec![1], ..Default::default() }, NOT_FOUND);

    // The audit log names the client, the method and the key, never data.
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join("audit.log")).unwrap();
    assert!(log.contains("\"op\":\"Api:Sign\"") && log.contains("api-client:svc") && log.contains("\"key\":\"p256\""), "audit log");
    assert!(!log.contains(&hex::encode(b"secret")) && !log.contains("secret\""));
    teehsm_ta::audit::verify(&h.dir.join("store").join("audit.log"), None).unwrap();
}

#[test]
fn create_is_idempotent_by_request_id_and_checks_its_arguments() {
    let h = Harness::new("api-create");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    let req = CreateKeyRequest {
        name: "k".into(),
        algorithm: Algorithm::EcSignP256Sha256 as i32,
        request_id: "r-1".into(),
        destroy_scheduled_duration_seconds: 0,
        ..Default::default()
    };
    let first: Key = c.ok("CreateKey", &req);
    assert_eq!(first.destroy_scheduled_duration_seconds, 86_400);
    let again: Key = c.ok("CreateKey", &req);
    assert_eq!(again, first, "the same request returns the key it created");
    let m = c.fails("CreateKey", &CreateKeyRequest { request_id: "r-2".into(), ..req.clone() }, ALREADY_EXISTS);
    assert!(m.contains("\"k\""), "{m}");
    c.fails("CreateKey", &CreateKeyRequest { request_id: String::new(), ..req.clone() }, ALREADY_EXISTS);
    c.fails("CreateKey", &CreateKeyRequest { algorithm: Algorithm::EcSignP384Sha384 as i32, ..req.clone() }, ALREADY_EXISTS);

    c.fails("CreateKey", &CreateKeyRequest { name: "u".into(), algorithm: 0, ..Default::default() }, INVALID_ARGUMENT);
    c.fails("CreateKey", &CreateKeyRequest { name: "u".into(), algorithm: 999, ..Default::default() }, INVALID_ARGUMENT);
    for bad in ["", "a b", "ä", &"x".repeat(129)] {
        c.fails("CreateKey", &CreateKeyRequest { name: bad.into(), algorithm: 1, ..Default::default() }, INVALID_ARGUMENT);
    }
    let long: Key = c.create(&"x".repeat(128), Algorithm::HmacSha256);
    assert_eq!(long.name.len(), 128);
    c.fails(
        "CreateKey",
        &CreateKeyRequest { name: "u".into(), algorithm: 1, destroy_scheduled_duration_seconds: 365 * 86_400 + 1, ..Default::default() },
        INVALID_ARGUMENT,
    );
    c.fails("CreateKey", &CreateKeyRequest { name: "u".into(), algorithm: 1, request_id: "r".repeat(129), ..Default::default() }, INVALID_ARGUMENT);
    let k: Key = c.ok(
        "CreateKey",
        &CreateKeyRequest { name: "u".into(), algorithm: 1, destroy_scheduled_duration_seconds: 365 * 86_400, ..Default::default() },
    );
    assert_eq!(k.destroy_scheduled_duration_seconds, 365 * 86_400);
}

#[test]
fn rotation_adds_primary_versions() {
    let h = Harness::new("api-rotate");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    c.create("k", Algorithm::EcSignP256Sha256);
    let k: Key = c.ok("RotateKey", &RotateKeyRequest { name: "k".into(), request_id: "rot-1".into() });
    assert_eq!((k.primary_version, k.versions.len()), (2, 2));
    let again: Key = c.ok("RotateKey", &RotateKeyRequest { name: "k".into(), request_id: "rot-1".into() });
    assert_eq!(again, k, "a repeated rotation changes nothing");
    let k: Key = c.ok("RotateKey", &RotateKeyRequest { name: "k".into(), request_id: String::new() });
    assert_eq!(k.primary_version, 3);
    // The primary signs by default; old versions still sign and verify.
    assert_eq!(c.sign("k", 0, b"m").unwrap().version, 3);
    let old = c.sign("k", 1, b"m").unwrap();
    assert_eq!(old.version, 1);
    let v: VerifyResponse =
        c.ok("Verify", &VerifyRequest { name: "k".into(), version: 1, data: b"m".to_vec(), signature: old.signature.clone(), ..Default::default() });
    assert!(v.valid);
    let v: VerifyResponse =
        c.ok("Verify", &VerifyRequest { name: "k".into(), version: 3, data: b"m".to_vec(), signature: old.signature, ..Default::default() });
    assert!(!v.valid, "versions are different keys");
    assert_eq!(c.sign("k", 4, b"m").unwrap_err().0, NOT_FOUND);
    c.fails("RotateKey", &RotateKeyRequest { name: "none".into(), request_id: String::new() }, NOT_FOUND);

    // AEAD ciphertexts name their version: old ones decrypt after rotation.
    c.create("aes", Algorithm::Aes128Gcm);
    let e1: EncryptResponse = c.ok("Encrypt", &EncryptRequest { name: "aes".into(), plaintext: b"one".to_vec(), ..Default::default() });
    c.ok::<_, Key>("RotateKey", &RotateKeyRequest { name: "aes".into(), request_id: String::new() });
    let e2: EncryptResponse = c.ok("Encrypt", &EncryptRequest { name: "aes".into(), plaintext: b"two".to_vec(), ..Default::default() });
    assert_eq!((e1.version, e2.version), (1, 2));
    let d1: DecryptResponse = c.ok("Decrypt", &DecryptRequest { name: "aes".into(), ciphertext: e1.ciphertext.clone(), ..Default::default() });
    let d2: DecryptResponse = c.ok("Decrypt", &DecryptRequest { name: "aes".into(), ciphertext: e2.ciphertext, ..Default::default() });
    assert_eq!((d1.plaintext.as_slice(), d1.version, d2.plaintext.as_slice(), d2.version), (&b"one"[..], 1, &b"two"[..], 2));
    c.fails("Decrypt", &DecryptRequest { name: "aes".into(), version: 2, ciphertext: e1.ciphertext, ..Default::default() }, INVALID_ARGUMENT);
}

/// One DER element at the start of `b`: (tag, contents, rest).
fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
    let (tag, first) = (b[0], b[1] as usize);
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        (b[2..2 + n].iter().fold(0usize, |a, x| a << 8 | *x as usize), 2 + n)
    };
    (tag, &b[head..head + len], &b[head + len..])
}

/// The SubjectPublicKeyInfo of an RSA key, as the crypto crate's public key.
fn rsa_from_spki(der: &[u8]) -> teehsm_crypto::rsa::RsaPublicKey {
    let (tag, spki, _) = tlv(der);
    assert_eq!(tag, 0x30);
    let (_, _, rest) = tlv(spki);
    let (tag, bits, _) = tlv(rest);
    assert_eq!((tag, bits[0]), (0x03, 0));
    teehsm_crypto::rsa::RsaPublicKey::from_pkcs1_der(&bits[1..]).unwrap()
}

/// Cloud KMS style wrapping: RSA-OAEP-SHA-256(AES key) || AES-KWP(material).
fn wrap_for_import(public: &teehsm_crypto::rsa::RsaPublicKey, material: &[u8]) -> Vec<u8> {
    let mut kek = [0u8; 32];
    teehsm_crypto::rng::fill(&mut kek).unwrap();
    let mut out = public.encrypt_oaep(HashAlg::Sha256, &[], &kek).unwrap();
    out.extend(teehsm_crypto::keywrap::aes_kwp_wrap(&kek, material).unwrap());
    out
}

#[test]
fn import_wrapped_keys() {
    let h = Harness::new("api-import");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    c.create("wrap/k", Algorithm::RsaDecryptOaep3072Sha256);
    let p: PublicKey = c.ok("GetPublicKey", &GetPublicKeyRequest { name: "wrap/k".into(), version: 0 });
    let public = rsa_from_spki(&p.der);

    let material = [0x42u8; 32];
    let req = ImportKeyRequest {
        name: "imp/aes".into(),
        algorithm: Algorithm::Aes256Gcm as i32,
        request_id: "imp-1".into(),
        wrapping_key_name: "wrap/k".into(),
        wrapped_key: wrap_for_import(&public, &material),
        ..Default::default()
    };
    let k: Key = c.ok("ImportKey", &req);
    assert!(k.versions[0].imported);
    assert_eq!(c.ok::<_, Key>("ImportKey", &req), k, "a repeated import returns the key");
    c.fails("ImportKey", &ImportKeyRequest { request_id: "imp-2".into(), ..req.clone() }, ALREADY_EXISTS);
    // The imported key works: a ciphertext made with the known material decrypts.
    let e: EncryptResponse = c.ok("Encrypt", &EncryptRequest { name: "imp/aes".into(), plaintext: b"hi".to_vec(), ..Default::default() });
    let d: DecryptResponse = c.ok("Decrypt", &DecryptRequest { name: "imp/aes".into(), ciphertext: e.ciphertext, ..Default::default() });
    assert_eq!(d.plaintext, b"hi");

    // As a new version of the same key.
    let k2: Key = c.ok(
        "ImportKey",
        &ImportKeyRequest { request_id: "imp-3".into(), as_new_version: true, wrapped_key: wrap_for_import(&public, &[0x43; 32]), ..req.clone() },
    );
    assert_eq!((k2.primary_version, k2.versions.len()), (2, 2));
    assert!(k2.versions[1].imported);
    // ... whose algorithm must match.
    c.fails(
        "ImportKey",
        &ImportKeyRequest {
            algorithm: Algorithm::Aes128Gcm as i32,
            request_id: "imp-4".into(),
            as_new_version: true,
            wrapped_key: wrap_for_import(&public, &[1; 16]),
            ..req.clone()
        },
        INVALID_ARGUMENT,
    );
    c.fails("ImportKey", &ImportKeyRequest { name: "imp/none".into(), as_new_version: true, ..req.clone() }, NOT_FOUND);

    // An EC key imported from its scalar signs.
    let sk = teehsm_crypto::ec::generate(teehsm_crypto::ec::Curve::P256).unwrap();
    let r = ImportKeyRequest {
        name: "imp/ec".into(),
        algorithm: Algorithm::EcSignP256Sha256 as i32,
        wrapped_key: wrap_for_import(&public, &sk.scalar()),
        ..req.clone()
    };
    c.ok::<_, Key>("ImportKey", &ImportKeyRequest { request_id: String::new(), ..r });
    let p: PublicKey = c.ok("GetPublicKey", &GetPublicKeyRequest { name: "imp/ec".into(), version: 0 });
    assert!(p.der.ends_with(&sk.public_point()), "the imported key's public key is the scalar's");

    // The wrapping key must be an RSA-OAEP API key.
    c.create("sig", Algorithm::EcSignP256Sha256);
    let m = c.fails(
        "ImportKey",
        &ImportKeyRequest { name: "imp/x".into(), wrapping_key_name: "sig".into(), request_id: String::new(), ..req.clone() },
        FAILED_PRECONDITION,
    );
    assert!(m.contains("RSA_DECRYPT_OAEP"), "{m}");
    c.fails(
        "ImportKey",
        &ImportKeyRequest { name: "imp/x".into(), wrapping_key_name: "wrap/none".into(), request_id: String::new(), ..req.clone() },
        NOT_FOUND,
    );
    // Garbage wrapped bytes.
    c.fails(
        "ImportKey",
        &ImportKeyRequest { name: "imp/x".into(), wrapped_key: vec![1; 500], request_id: String::new(), ..req.clone() },
        INVALID_ARGUMENT,
    );

    // ACL: unwrap on the wrapping key is needed besides generate on the name.
    let mut g = Client::new(&h, "gen-only", &[("imp/", acl_op::GENERATE)]);
    let m = g.fails("ImportKey", &ImportKeyRequest { name: "imp/y".into(), request_id: String::new(), ..req.clone() }, PERMISSION_DENIED);
    assert!(m.contains("unwrap") && m.contains("wrap/k"), "{m}");
}

#[test]
fn destroy_restore_and_expiry() {
    let h = Harness::new("api-destroy");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    let objects = |c: &mut Client| match c.h.ok(&mut c.conn, Request::GetTokenInfo { slot: 0 }) {
        Reply::TokenInfo(t) => t.total_objects,
        r => panic!("unexpected {r:?}"),
    };
    let before = objects(&mut c);
    c.ok::<_, Key>("CreateKey", &CreateKeyRequest { name: "k".into(), algorithm: 1, destroy_scheduled_duration_seconds: 1, ..Default::default() });
    c.ok::<_, Key>("RotateKey", &RotateKeyRequest { name: "k".into(), request_id: String::new() });
    assert_eq!(objects(&mut c), before + 2, "each version is a key on the token");

    let k: Key = c.ok("DestroyKey", &DestroyKeyRequest { name: "k".into() });
    assert!(k.versions.iter().all(|v| v.state == KeyVersionState::DestroyScheduled as i32 && v.destroy_time_ms > 0));
    let (code, m) = c.sign("k", 0, b"m").unwrap_err();
    assert_eq!(code, FAILED_PRECONDITION);
    assert!(m.contains("scheduled for destruction") && m.contains("RestoreKey"), "{m}");
    c.fails("DestroyKey", &DestroyKeyRequest { name: "k".into() }, FAILED_PRECONDITION);
    c.fails("RotateKey", &RotateKeyRequest { name: "k".into(), request_id: String::new() }, FAILED_PRECONDITION);

    let k: Key = c.ok("RestoreKey", &RestoreKeyRequest { name: "k".into() });
    assert!(k.versions.iter().all(|v| v.state == KeyVersionState::Enabled as i32 && v.destroy_time_ms == 0));
    c.sign("k", 0, b"m").unwrap();
    let m = c.fails("RestoreKey", &RestoreKeyRequest { name: "k".into() }, FAILED_PRECONDITION);
    assert!(m.contains("not scheduled"), "{m}");

    // After the window the material goes and the state reads DESTROYED.
    c.ok::<_, Key>("DestroyKey", &DestroyKeyRequest { name: "k".into() });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let k: Key = c.ok("GetKey", &GetKeyRequest { name: "k".into() });
    assert_eq!(version_states(&k), vec![(1, KeyVersionState::Destroyed as i32), (2, KeyVersionState::Destroyed as i32)]);
    assert_eq!(objects(&mut c), before, "destroyed versions' objects are deleted");
    let m = c.sign("k", 0, b"m").unwrap_err();
    assert_eq!(m.0, FAILED_PRECONDITION, "{}", m.1);
    c.fails("RestoreKey", &RestoreKeyRequest { name: "k".into() }, FAILED_PRECONDITION);
    // The name stays taken.
    c.fails("CreateKey", &CreateKeyRequest { name: "k".into(), algorithm: 1, ..Default::default() }, ALREADY_EXISTS);
    // ListKeys also carries out due destructions.
    c.ok::<_, Key>("CreateKey", &CreateKeyRequest { name: "k2".into(), algorithm: 1, destroy_scheduled_duration_seconds: 1, ..Default::default() });
    c.ok::<_, Key>("DestroyKey", &DestroyKeyRequest { name: "k2".into() });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let l: ListKeysResponse = c.ok("ListKeys", &ListKeysRequest::default());
    let k2 = l.keys.iter().find(|k| k.name == "k2").unwrap();
    assert_eq!(version_states(k2), vec![(1, KeyVersionState::Destroyed as i32)]);
    assert_eq!(objects(&mut c), before);
}

#[test]
fn list_keys_pages() {
    let h = Harness::new("api-list");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    for i in 0..5 {
        c.create(&format!("app/k{i}"), Algorithm::HmacSha256);
    }
    c.create("other", Algorithm::HmacSha256);
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let l: ListKeysResponse = c.ok("ListKeys", &ListKeysRequest { page_size: 2, page_token: token.clone(), name_prefix: "app/".into() });
        assert_eq!(l.total_size, 5);
        assert!(l.keys.len() <= 2);
        names.extend(l.keys.into_iter().map(|k| k.name));
        pages += 1;
        if l.next_page_token.is_empty() {
            break;
        }
        token = l.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..5).map(|i| format!("app/k{i}")).collect::<Vec<_>>());
    let l: ListKeysResponse = c.ok("ListKeys", &ListKeysRequest::default());
    assert_eq!((l.keys.len(), l.total_size, l.next_page_token.as_str()), (6, 6, ""));
    assert_eq!(l.keys.last().unwrap().name, "other", "sorted by name");
    c.fails("ListKeys", &ListKeysRequest { page_size: 1001, ..Default::default() }, INVALID_ARGUMENT);
    let m = c.fails("ListKeys", &ListKeysRequest { page_token: "not a token".into(), ..Default::default() }, INVALID_ARGUMENT);
    assert!(m.contains("page_token"), "{m}");
    c.fails("ListKeys", &ListKeysRequest { name_prefix: "a b".into(), ..Default::default() }, INVALID_ARGUMENT);
}

#[test]
fn api_keys_are_invisible_to_pkcs11_and_survive_restarts() {
    let mut h = Harness::new("api-invisible");
    let secret = {
        let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
        c.create("k", Algorithm::EcSignP256Sha256);
        c.create("aes", Algorithm::Aes256Gcm);
        c.sign("k", 0, b"before").unwrap();
        c.secret.clone()
    };
    let handles: Vec<u64> = {
        let st = h.ta.store.state();
        st.objects.values().filter(|o| o.class() == CKO_TEEHSM_API_KEY || o.get(CKA_TEEHSM_API_KEY_VERSION).is_some()).map(|o| o.id).collect()
    };
    assert_eq!(handles.len(), 4, "two records and two versions");

    let (mut u, s) = h.user();
    let (mut so_c, so_s) = so(&h);
    for (conn, session) in [(&mut u, s), (&mut so_c, so_s)] {
        for template in [
            vec![],
            vec![Attribute::ulong(CKA_CLASS, CKO_TEEHSM_API_KEY)],
            vec![Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY)],
            vec![Attribute::new(CKA_TEEHSM_API_KEY_NAME, b"k".to_vec())],
        ] {
            match h.ok(conn, Request::FindObjects { session, template, max: 1000 }) {
                Reply::Handles(v) => assert!(v.iter().all(|x| !handles.contains(x)), "an API key object was found: {v:?}"),
                r => panic!("unexpected {r:?}"),
            }
        }
        for &obj in &handles {
            h.refused(conn, Request::GetAttributeValue { session, object: obj, types: vec![CKA_CLASS] }, Rv::OBJECT_HANDLE_INVALID);
            h.refused(conn, Request::CopyObject { session, object: obj, template: vec![] }, Rv::OBJECT_HANDLE_INVALID);
            h.refused(
                conn,
                Request::SetAttributeValue { session, object: obj, template: vec![Attribute::new(CKA_LABEL, b"x".to_vec())] },
                Rv::OBJECT_HANDLE_INVALID,
            );
            h.refused(conn, Request::DestroyObject { session, object: obj }, Rv::OBJECT_HANDLE_INVALID);
        }
    }
    for &obj in &handles {
        h.refused(&mut u, Request::Sign { session: s, mechanism: Mechanism::new(CKM_ECDSA_SHA256), key: obj, data: vec![1] }, Rv::KEY_HANDLE_INVALID);
        h.refused(
            &mut u,
            Request::Encrypt { session: s, mechanism: Mechanism::new(CKM_AES_ECB), key: obj, data: vec![0; 16] },
            Rv::KEY_HANDLE_INVALID,
        );
    }
    // Nor can PKCS#11 create objects that would pass for them.
    h.refused(
        &mut u,
        Request::CreateObject { session: s, template: vec![Attribute::ulong(CKA_CLASS, CKO_TEEHSM_API_KEY), Attribute::bool(CKA_TOKEN, true)] },
        Rv::ATTRIBUTE_VALUE_INVALID,
    );
    let rv = h.rv(
        &mut u,
        Request::CreateObject {
            session: s,
            template: vec![
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::new(CKA_VALUE, vec![1; 32]),
                Attribute::ulong(CKA_TEEHSM_API_KEY_VERSION, 1),
            ],
        },
    );
    assert_eq!(rv, Rv::ATTRIBUTE_TYPE_INVALID);
    drop((u, so_c));

    // After a restart the keys, their versions and the client still work.
    h.reopen(HandlerConfig::default());
    let mut c = Client { h: &h, conn: h.conn(), id: "svc".into(), secret };
    let sig = c.sign("k", 0, b"after").unwrap();
    let v: VerifyResponse =
        c.ok("Verify", &VerifyRequest { name: "k".into(), data: b"after".to_vec(), signature: sig.signature, ..Default::default() });
    assert!(v.valid);
    let l: ListKeysResponse = c.ok("ListKeys", &ListKeysRequest::default());
    assert_eq!(l.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), vec!["aes", "k"]);
    c.fails("CreateKey", &CreateKeyRequest { name: "k".into(), algorithm: 1, ..Default::default() }, ALREADY_EXISTS);
}

#[test]
fn concurrent_creates_of_one_name_create_it_once() {
    let h = Harness::new("api-race");
    let secret = register(&h, "svc", acl(&[("", ALL_OPS)]));
    let codes: Vec<u32> = std::thread::scope(|sc| {
        let ts: Vec<_> = (0..4)
            .map(|i| {
                let secret = secret.clone();
                let h = &h;
                sc.spawn(move || {
                    let mut c = Client { h, conn: h.conn(), id: "svc".into(), secret };
                    c.send(
                        "CreateKey",
                        CreateKeyRequest { name: "k".into(), algorithm: 1, request_id: format!("r{i}"), ..Default::default() }.encode_to_vec(),
                    )
                    .code
                })
            })
            .collect();
        ts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(codes.iter().filter(|c| **c == OK).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == ALREADY_EXISTS).count(), 3, "{codes:?}");
}

#[test]
fn the_token_policy_rules_bind_api_keys_too() {
    let h = Harness::new("api-policy-rules");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    c.create("p256", Algorithm::EcSignP256Sha256);
    c.create("sm2", Algorithm::Sm2SignSm3);
    assert!(c.sign("p256", 0, b"before").is_ok());
    let key = policy_signer();
    trust_policy_signer(&h, &key);
    let (mut uc, us) = h.user();
    let p = token_policy(&h, &key, 1, 0, 0, teehsm_wire::token_policy::rules::SM_ONLY);
    h.ok(&mut uc, Request::ApplyTokenPolicy { session: us, policy: p.to_bytes() });

    let (code, message) = c.sign("p256", 0, b"after").unwrap_err();
    assert_eq!(code, FAILED_PRECONDITION, "{message}");
    assert!(message.contains("policy"), "{message}");
    let m = c.fails(
        "CreateKey",
        &CreateKeyRequest { name: "p256-new".into(), algorithm: Algorithm::EcSignP256Sha256 as i32, ..Default::default() },
        FAILED_PRECONDITION,
    );
    assert!(m.contains("SM2, SM4"), "{m}");
    assert!(c.sign("sm2", 0, b"after").is_ok(), "SM2 keys still sign");
    c.create("sm2-new", Algorithm::Sm2SignSm3);
}

#[test]
fn symmetric_keys_rotate_on_their_schedule() {
    let h = Harness::new("api-auto-rotation");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    let day = 86_400u64;
    // The first rotation due in 300 ms, then daily.
    let first = now_ms() as i64 + 300;
    let k: Key = c.ok(
        "CreateKey",
        &CreateKeyRequest {
            name: "data".into(),
            algorithm: Algorithm::Aes256Gcm as i32,
            rotation_period_seconds: day,
            next_rotation_time_ms: first,
            ..Default::default()
        },
    );
    assert_eq!((k.primary_version, k.rotation_period_seconds, k.next_rotation_time_ms), (1, day, first));
    let encrypt = |c: &mut Client, text: &[u8]| -> EncryptResponse {
        c.ok("Encrypt", &EncryptRequest { name: "data".into(), plaintext: text.to_vec(), ..Default::default() })
    };
    let old = encrypt(&mut c, b"before");
    assert_eq!(old.version, 1);
    std::thread::sleep(std::time::Duration::from_millis(400));
    // The next call that uses the key makes the rotation first.
    let new = encrypt(&mut c, b"after");
    assert_eq!(new.version, 2, "encrypted under the rotated primary");
    let k: Key = c.ok("GetKey", &GetKeyRequest { name: "data".into() });
    assert_eq!((k.primary_version, k.versions.len(), k.next_rotation_time_ms), (2, 2, first + day as i64 * 1000));
    let back: DecryptResponse = c.ok("Decrypt", &DecryptRequest { name: "data".into(), ciphertext: old.ciphertext, ..Default::default() });
    assert_eq!(back.plaintext, b"before", "ciphertexts of the old version still decrypt");
    h.ta.audit.sync().unwrap();
    let log = std::fs::read_to_string(h.dir.join("store").join(teehsm_ta::audit::AUDIT_FILE)).unwrap();
    assert!(log.lines().any(|l| l.contains("Api:AutoRotate") && l.contains("\"data\"")), "the rotation is audited");

    // UpdateKeyRotation: off, then back on; its refusals.
    let k: Key = c.ok("UpdateKeyRotation", &UpdateKeyRotationRequest { name: "data".into(), rotation_period_seconds: 0, next_rotation_time_ms: 0 });
    assert_eq!((k.rotation_period_seconds, k.next_rotation_time_ms), (0, 0));
    let k: Key =
        c.ok("UpdateKeyRotation", &UpdateKeyRotationRequest { name: "data".into(), rotation_period_seconds: 7 * day, next_rotation_time_ms: 0 });
    assert!(k.rotation_period_seconds == 7 * day && k.next_rotation_time_ms > now_ms() as i64 + 6 * 86_400_000);
    let m = c.fails(
        "UpdateKeyRotation",
        &UpdateKeyRotationRequest { name: "data".into(), rotation_period_seconds: 60, next_rotation_time_ms: 0 },
        INVALID_ARGUMENT,
    );
    assert!(m.contains("a day"), "{m}");
    c.create("sig", Algorithm::EcSignP256Sha256);
    let m = c.fails(
        "UpdateKeyRotation",
        &UpdateKeyRotationRequest { name: "sig".into(), rotation_period_seconds: day, next_rotation_time_ms: 0 },
        INVALID_ARGUMENT,
    );
    assert!(m.contains("symmetric keys"), "{m}");
    let m = c.fails(
        "CreateKey",
        &CreateKeyRequest { name: "sig2".into(), algorithm: Algorithm::EcSignP256Sha256 as i32, rotation_period_seconds: day, ..Default::default() },
        INVALID_ARGUMENT,
    );
    assert!(m.contains("RotateKey"), "{m}");
    c.fails(
        "UpdateKeyRotation",
        &UpdateKeyRotationRequest { name: "nope".into(), rotation_period_seconds: day, next_rotation_time_ms: 0 },
        NOT_FOUND,
    );
    // It needs the right to make versions.
    let mut reader = Client::new(&h, "reader", &[("", acl_op::GET_PUBLIC)]);
    reader.fails(
        "UpdateKeyRotation",
        &UpdateKeyRotationRequest { name: "data".into(), rotation_period_seconds: day, next_rotation_time_ms: 0 },
        PERMISSION_DENIED,
    );
}

#[test]
fn versions_are_disabled_and_enabled_again() {
    let h = Harness::new("api-version-state");
    let mut c = Client::new(&h, "svc", &[("", ALL_OPS)]);
    c.create("d", Algorithm::Aes256Gcm);
    let state = |v: u32, s: KeyVersionState| UpdateKeyVersionStateRequest { name: "d".into(), version: v, state: s as i32 };
    let old: EncryptResponse = c.ok("Encrypt", &EncryptRequest { name: "d".into(), plaintext: b"v1".to_vec(), ..Default::default() });
    // Disable the primary: it is kept, shown DISABLED, and refused for everything.
    let k: Key = c.ok("UpdateKeyVersionState", &state(0, KeyVersionState::Disabled));
    assert_eq!(k.versions[0].state, KeyVersionState::Disabled as i32);
    let m = c.fails("Encrypt", &EncryptRequest { name: "d".into(), plaintext: b"x".to_vec(), ..Default::default() }, FAILED_PRECONDITION);
    assert!(m.contains("disabled") && m.contains("UpdateKeyVersionState"), "{m}");
    c.fails("Decrypt", &DecryptRequest { name: "d".into(), ciphertext: old.ciphertext.clone(), ..Default::default() }, FAILED_PRECONDITION);
    // A new primary works; the disabled version stays disabled.
    c.ok::<_, Key>("RotateKey", &RotateKeyRequest { name: "d".into(), request_id: String::new() });
    let e: EncryptResponse = c.ok("Encrypt", &EncryptRequest { name: "d".into(), plaintext: b"v2".to_vec(), ..Default::default() });
    assert_eq!(e.version, 2);
    // Destroy and restore keep it disabled.
    c.ok::<_, Key>("DestroyKey", &DestroyKeyRequest { name: "d".into() });
    let k: Key = c.ok("RestoreKey", &RestoreKeyRequest { name: "d".into() });
    assert_eq!((k.versions[0].state, k.versions[1].state), (KeyVersionState::Disabled as i32, KeyVersionState::Enabled as i32));
    // Enabled again: the old ciphertext decrypts; repeating it changes nothing.
    c.ok::<_, Key>("UpdateKeyVersionState", &state(1, KeyVersionState::Enabled));
    let k: Key = c.ok("UpdateKeyVersionState", &state(1, KeyVersionState::Enabled));
    assert_eq!(k.versions[0].state, KeyVersionState::Enabled as i32);
    let back: DecryptResponse = c.ok("Decrypt", &DecryptRequest { name: "d".into(), ciphertext: old.ciphertext, ..Default::default() });
    assert_eq!(back.plaintext, b"v1");
    // Refusals: other states, unknown versions, destroyed keys, the ACL.
    let m = c.fails("UpdateKeyVersionState", &state(1, KeyVersionState::Destroyed), INVALID_ARGUMENT);
    assert!(m.contains("ENABLED or DISABLED"), "{m}");
    c.fails("UpdateKeyVersionState", &state(9, KeyVersionState::Disabled), NOT_FOUND);
    c.ok::<_, Key>("DestroyKey", &DestroyKeyRequest { name: "d".into() });
    let m = c.fails("UpdateKeyVersionState", &state(2, KeyVersionState::Disabled), FAILED_PRECONDITION);
    assert!(m.contains("DESTROY_SCHEDULED"), "{m}");
    let mut signer = Client::new(&h, "signer", &[("", acl_op::SIGN | acl_op::ENCRYPT)]);
    signer.fails(
        "UpdateKeyVersionState",
        &UpdateKeyVersionStateRequest { name: "d".into(), version: 1, state: KeyVersionState::Disabled as i32 },
        PERMISSION_DENIED,
    );
}
