//! Issue 4, the gRPC API end to end: the real `teehsm-ca` (serving gRPC over
//! TLS with its dev certificate) and its TA, driven from Rust through the
//! client SDK (`teehsm-sdk`). Every RPC, its error paths with their exact
//! gRPC codes, OpenSSL interop of signatures and RSA-OAEP, mTLS, and the
//! acceptance test for "the CA cannot use a key": forged, replayed and
//! tampered calls are refused, and a CA holding the user PIN finds and
//! uses none of the API keys over PKCS#11.

use aws_lc_rs::{aead, digest, hmac};
use prost::Message;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use teehsm_sdk::proto::*;
use teehsm_sdk::{ApiClient, ApiClientConfig, Credentials, FillCrc32c, SdkError};
use teehsm_tests::*;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::proto::{crc32c, method_path};
use teehsm_wire::{ck, Attribute, Calls, Mechanism, Reply, Request};
use tonic::Code;

// ---------------------------------------------------------------- helpers

async fn client(ca: &GrpcCa, creds: Option<(&str, &[u8])>) -> ApiClient {
    let mut cfg = ApiClientConfig::new(ca.endpoint.clone(), ca.ca_cert_pem.clone());
    if let Some((id, secret)) = creds {
        cfg = cfg.credentials(Credentials::new(id, secret).expect("credentials"));
    }
    ApiClient::connect(cfg).await.expect("connect to the gRPC endpoint")
}

/// The error of `r`, which must be a status with `code`; returns its message.
#[track_caller]
fn expect_code<T: std::fmt::Debug>(r: Result<T, SdkError>, code: Code) -> String {
    match r {
        Err(SdkError::Status { code: got, message, .. }) => {
            assert_eq!(got, code, "wanted {code:?}, got {got:?}: {message}");
            message
        }
        other => panic!("wanted status {code:?}, got {other:?}"),
    }
}

/// As [`expect_code`], and the status must carry a valid TA response MAC.
#[track_caller]
fn expect_ta_code<T: std::fmt::Debug>(r: Result<T, SdkError>, code: Code) -> String {
    match r {
        Err(SdkError::Status { code: got, message, authenticated }) => {
            assert_eq!(got, code, "wanted {code:?}, got {got:?}: {message}");
            assert!(authenticated, "the {code:?} status ({message}) carries no valid TA response MAC");
            message
        }
        other => panic!("wanted status {code:?}, got {other:?}"),
    }
}

fn create(name: &str, alg: Algorithm) -> CreateKeyRequest {
    CreateKeyRequest { name: name.into(), algorithm: alg as i32, ..Default::default() }
}

fn sign_data(name: &str, data: &[u8]) -> SignRequest {
    SignRequest { name: name.into(), data: data.to_vec(), ..Default::default() }.with_crc32c()
}

fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    for a in args {
        cmd.arg(a);
    }
    let o = cmd.output().expect("run openssl");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// Writes `pem`, `data` and `sig` into `dir` under `tag` and returns their paths.
fn files(dir: &Path, tag: &str, pem: &str, data: &[u8], sig: &[u8]) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (p, d, s) = (dir.join(format!("{tag}.pem")), dir.join(format!("{tag}.data")), dir.join(format!("{tag}.sig")));
    std::fs::write(&p, pem).unwrap();
    std::fs::write(&d, data).unwrap();
    std::fs::write(&s, sig).unwrap();
    (p, d, s)
}

#[track_caller]
fn openssl_verify_dgst(dir: &Path, tag: &str, pem: &str, data: &[u8], sig: &[u8], extra: &[&str]) {
    let (p, d, s) = files(dir, tag, pem, data, sig);
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"dgst", &"-sha256"];
    for e in extra {
        args.push(e);
    }
    args.extend_from_slice(&[&"-verify", &p, &"-signature", &s, &d]);
    let (ok, out) = openssl(&args);
    assert!(ok && out.contains("Verified OK"), "openssl rejected the {tag} signature: {out}");
}

#[track_caller]
fn openssl_verify_sm2(dir: &Path, tag: &str, pem: &str, data: &[u8], sig: &[u8], id: &str) {
    let (p, d, s) = files(dir, tag, pem, data, sig);
    let distid = format!("distid:{id}");
    let (ok, out) = openssl(&[
        &"pkeyutl",
        &"-verify",
        &"-pubin",
        &"-inkey",
        &p,
        &"-rawin",
        &"-digest",
        &"sm3",
        &"-in",
        &d,
        &"-sigfile",
        &s,
        &"-pkeyopt",
        &distid,
    ]);
    assert!(ok && out.contains("Signature Verified Successfully"), "openssl rejected the {tag} SM2 signature (id {id}): {out}");
}

/// Drops the clients and lets their connections close, so the CA's
/// graceful shutdown (when the test's CA is dropped) has nothing to wait for.
async fn close(clients: Vec<ApiClient>) {
    drop(clients);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn key_state(k: &Key) -> Vec<KeyVersionState> {
    k.versions.iter().map(|v| v.state()).collect()
}

// ------------------------------------------------------- every RPC, happy and error paths

#[tokio::test]
async fn grpc_api_every_rpc_through_the_sdk() {
    let ca = start_ca_grpc(&[]);
    let full = register_api_client(&ca.ca, "svc-full", &["app/:all"]);
    let ro = register_api_client(&ca.ca, "svc-ro", &["app/p256:verify,get_public"]);
    let api = client(&ca, Some(("svc-full", &full))).await;
    let restricted = client(&ca, Some(("svc-ro", &ro))).await;
    let anon = client(&ca, None).await;
    let work = TempDir::new("grpc-api");
    let dir = work.path();

    // GenerateRandom: authenticated and anonymous; bounds.
    let r = api.generate_random(GenerateRandomRequest { length_bytes: 32 }).await.expect("GenerateRandom");
    assert_eq!(r.data.len(), 32);
    assert_eq!(r.data_crc32c, crc32c(&r.data));
    let r2 = anon.generate_random(GenerateRandomRequest { length_bytes: 1024 }).await.expect("anonymous GenerateRandom");
    assert_eq!(r2.data.len(), 1024);
    assert_ne!(r.data, r2.data[..32]);
    expect_ta_code(api.generate_random(GenerateRandomRequest { length_bytes: 0 }).await, Code::InvalidArgument);
    expect_ta_code(api.generate_random(GenerateRandomRequest { length_bytes: 1025 }).await, Code::InvalidArgument);

    // GetAttestation: anonymous, binds the nonce.
    let nonce = [0x42u8; 32];
    let att = anon.get_attestation(GetAttestationRequest { nonce: nonce.to_vec() }).await.expect("GetAttestation");
    let report = teehsm_wire::AttestationReport::from_bytes(&att.report).expect("the report is a TA attestation report");
    assert_eq!(report.report_data[..32], nonce);
    assert_eq!(report.measurement.as_slice(), att.measurement.as_slice());
    assert_eq!(report.platform, att.platform);
    expect_code(anon.get_attestation(GetAttestationRequest { nonce: vec![1; 31] }).await, Code::InvalidArgument);

    // Anonymous key operations are refused.
    let m = expect_code(anon.sign(sign_data("app/p256", b"x")).await, Code::Unauthenticated);
    assert!(m.contains("authenticator"), "{m}");
    expect_code(anon.list_keys(ListKeysRequest::default()).await, Code::Unauthenticated);

    // CreateKey + idempotency with request_id.
    let req = CreateKeyRequest { request_id: "req-p256-1".into(), ..create("app/p256", Algorithm::EcSignP256Sha256) };
    let k = api.create_key(req.clone()).await.expect("CreateKey P-256");
    assert_eq!(k.name, "app/p256");
    assert_eq!(k.algorithm(), Algorithm::EcSignP256Sha256);
    assert_eq!(k.purpose(), KeyPurpose::AsymmetricSign);
    assert_eq!(k.primary_version, 1);
    assert_eq!(k.creator, "svc-full");
    assert_eq!(k.destroy_scheduled_duration_seconds, 86_400);
    assert_eq!(key_state(&k), vec![KeyVersionState::Enabled]);
    let again = api.create_key(req.clone()).await.expect("CreateKey repeated with the same request_id");
    assert_eq!(again, k, "a repeated CreateKey returns the key it created");
    let m = expect_ta_code(api.create_key(CreateKeyRequest { request_id: "other".into(), ..req.clone() }).await, Code::AlreadyExists);
    assert!(m.contains("app/p256"), "{m}");
    expect_ta_code(api.create_key(create("app/p256", Algorithm::EcSignP256Sha256)).await, Code::AlreadyExists);
    expect_ta_code(api.create_key(create("app/nothing", Algorithm::Unspecified)).await, Code::InvalidArgument);
    expect_ta_code(api.create_key(create("app/bad name!", Algorithm::Aes256Gcm)).await, Code::InvalidArgument);

    // GetKey; unknown key → NOT_FOUND (TA-authenticated).
    assert_eq!(api.get_key(GetKeyRequest { name: "app/p256".into() }).await.expect("GetKey"), k);
    let m = expect_ta_code(api.get_key(GetKeyRequest { name: "app/missing".into() }).await, Code::NotFound);
    assert!(m.contains("app/missing"), "{m}");
    expect_ta_code(api.sign(sign_data("app/missing", b"x")).await, Code::NotFound);
    expect_ta_code(api.sign(SignRequest { version: 9, ..sign_data("app/p256", b"x") }).await, Code::NotFound);

    // P-256: GetPublicKey, Sign (data and digest, DER and RAW), Verify, OpenSSL interop.
    let pubkey = api.get_public_key(GetPublicKeyRequest { name: "app/p256".into(), version: 0 }).await.expect("GetPublicKey");
    assert_eq!(pubkey.algorithm(), Algorithm::EcSignP256Sha256);
    assert_eq!(pubkey.version, 1);
    assert!(pubkey.pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{}", pubkey.pem);
    assert_eq!(pubkey.pem_crc32c, crc32c(pubkey.pem.as_bytes()));
    let msg = b"pay 100 to alice".to_vec();
    let s = api.sign(sign_data("app/p256", &msg)).await.expect("Sign P-256");
    assert!(s.verified_data_crc32c);
    assert_eq!(s.signature_crc32c, crc32c(&s.signature));
    assert_eq!((s.name.as_str(), s.version), ("app/p256", 1));
    openssl_verify_dgst(dir, "p256", &pubkey.pem, &msg, &s.signature, &[]);
    let d = digest::digest(&digest::SHA256, &msg);
    let sd = api
        .sign(SignRequest { name: "app/p256".into(), digest: d.as_ref().to_vec(), ..Default::default() }.with_crc32c())
        .await
        .expect("Sign P-256 digest");
    assert!(sd.verified_digest_crc32c);
    openssl_verify_dgst(dir, "p256-digest", &pubkey.pem, &msg, &sd.signature, &[]);
    let raw = api.sign(SignRequest { format: SignatureFormat::Raw as i32, ..sign_data("app/p256", &msg) }).await.expect("Sign P-256 raw");
    assert_eq!(raw.signature.len(), 64);
    openssl_verify_dgst(dir, "p256-raw", &pubkey.pem, &msg, &der::rs_to_der(&raw.signature), &[]);
    let v = api
        .verify(VerifyRequest { name: "app/p256".into(), data: msg.clone(), signature: s.signature.clone(), ..Default::default() }.with_crc32c())
        .await
        .expect("Verify");
    assert!(v.valid && v.verified_data_crc32c && v.verified_signature_crc32c);
    let v = api
        .verify(VerifyRequest { name: "app/p256".into(), data: b"pay 999 to mallory".to_vec(), signature: s.signature.clone(), ..Default::default() })
        .await
        .expect("Verify (tampered)");
    assert!(!v.valid, "a signature over other data must not verify");
    expect_ta_code(
        api.sign(SignRequest { name: "app/p256".into(), data: msg.clone(), digest: d.as_ref().to_vec(), ..Default::default() }).await,
        Code::InvalidArgument,
    );
    expect_ta_code(api.sign(SignRequest { name: "app/p256".into(), digest: vec![1; 31], ..Default::default() }).await, Code::InvalidArgument);

    // Bad CRC32C → INVALID_ARGUMENT.
    let mut bad = sign_data("app/p256", &msg);
    bad.data_crc32c = Some(crc32c(&msg) ^ 1);
    let m = expect_ta_code(api.sign(bad).await, Code::InvalidArgument);
    assert!(m.contains("crc32c"), "{m}");

    // SM2: default and explicit signer id, OpenSSL interop; RAW format.
    api.create_key(create("app/sm2", Algorithm::Sm2SignSm3)).await.expect("CreateKey SM2");
    let sm2_pub = api.get_public_key(GetPublicKeyRequest { name: "app/sm2".into(), version: 0 }).await.expect("GetPublicKey SM2");
    let s = api.sign(sign_data("app/sm2", &msg)).await.expect("Sign SM2");
    openssl_verify_sm2(dir, "sm2-default", &sm2_pub.pem, &msg, &s.signature, "1234567812345678");
    let s_id =
        api.sign(SignRequest { sm2_user_id: b"alice@bank.example".to_vec(), ..sign_data("app/sm2", &msg) }).await.expect("Sign SM2 with an id");
    openssl_verify_sm2(dir, "sm2-id", &sm2_pub.pem, &msg, &s_id.signature, "alice@bank.example");
    let v = api
        .verify(VerifyRequest {
            name: "app/sm2".into(),
            data: msg.clone(),
            signature: s_id.signature.clone(),
            sm2_user_id: b"alice@bank.example".to_vec(),
            ..Default::default()
        })
        .await
        .expect("Verify SM2");
    assert!(v.valid);
    let v = api
        .verify(VerifyRequest { name: "app/sm2".into(), data: msg.clone(), signature: s_id.signature.clone(), ..Default::default() })
        .await
        .expect("Verify SM2 with the default id");
    assert!(!v.valid, "an SM2 signature made with another signer id must not verify");
    let raw = api.sign(SignRequest { format: SignatureFormat::Raw as i32, ..sign_data("app/sm2", &msg) }).await.expect("Sign SM2 raw");
    assert_eq!(raw.signature.len(), 64);
    openssl_verify_sm2(dir, "sm2-raw", &sm2_pub.pem, &msg, &der::rs_to_der(&raw.signature), "1234567812345678");

    // RSA signatures (PSS and PKCS#1 v1.5), OpenSSL interop.
    api.create_key(create("app/rsa-pss", Algorithm::RsaSignPss2048Sha256)).await.expect("CreateKey RSA-PSS");
    let pss_pub = api.get_public_key(GetPublicKeyRequest { name: "app/rsa-pss".into(), version: 0 }).await.expect("GetPublicKey RSA");
    let s = api.sign(sign_data("app/rsa-pss", &msg)).await.expect("Sign RSA-PSS");
    assert_eq!(s.signature.len(), 256);
    openssl_verify_dgst(dir, "rsa-pss", &pss_pub.pem, &msg, &s.signature, &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]);
    api.create_key(create("app/rsa-pkcs1", Algorithm::RsaSignPkcs12048Sha256)).await.expect("CreateKey RSA-PKCS1");
    let p1_pub = api.get_public_key(GetPublicKeyRequest { name: "app/rsa-pkcs1".into(), version: 0 }).await.expect("GetPublicKey RSA");
    let s = api.sign(sign_data("app/rsa-pkcs1", &msg)).await.expect("Sign RSA-PKCS1");
    openssl_verify_dgst(dir, "rsa-pkcs1", &p1_pub.pem, &msg, &s.signature, &[]);

    // RSA-OAEP: encrypt with OpenSSL, Decrypt through the API; Encrypt through the API too.
    api.create_key(create("app/wrap", Algorithm::RsaDecryptOaep2048Sha256)).await.expect("CreateKey RSA-OAEP");
    let wrap_pub = api.get_public_key(GetPublicKeyRequest { name: "app/wrap".into(), version: 0 }).await.expect("GetPublicKey RSA-OAEP");
    let (p, d, ct) = files(dir, "oaep", &wrap_pub.pem, b"the launch code is 0000", b"");
    let (ok, out) = openssl(&[
        &"pkeyutl",
        &"-encrypt",
        &"-pubin",
        &"-inkey",
        &p,
        &"-in",
        &d,
        &"-out",
        &ct,
        &"-pkeyopt",
        &"rsa_padding_mode:oaep",
        &"-pkeyopt",
        &"rsa_oaep_md:sha256",
        &"-pkeyopt",
        &"rsa_mgf1_md:sha256",
    ]);
    assert!(ok, "openssl OAEP encrypt: {out}");
    let ct = std::fs::read(&ct).unwrap();
    let pt =
        api.decrypt(DecryptRequest { name: "app/wrap".into(), ciphertext: ct, ..Default::default() }.with_crc32c()).await.expect("Decrypt RSA-OAEP");
    assert_eq!(pt.plaintext, b"the launch code is 0000");
    assert!(pt.verified_ciphertext_crc32c);
    assert_eq!(pt.plaintext_crc32c, crc32c(&pt.plaintext));
    let e = api
        .encrypt(EncryptRequest { name: "app/wrap".into(), plaintext: b"round trip".to_vec(), ..Default::default() })
        .await
        .expect("Encrypt RSA-OAEP");
    let pt = api.decrypt(DecryptRequest { name: "app/wrap".into(), ciphertext: e.ciphertext, ..Default::default() }).await.expect("Decrypt");
    assert_eq!(pt.plaintext, b"round trip");

    // AES-256-GCM: Encrypt/Decrypt with AAD; wrong purpose; oversized; bad CRC.
    api.create_key(create("app/aes", Algorithm::Aes256Gcm)).await.expect("CreateKey AES");
    let e = api
        .encrypt(
            EncryptRequest {
                name: "app/aes".into(),
                plaintext: b"card 4111".to_vec(),
                additional_authenticated_data: b"acct-7".to_vec(),
                ..Default::default()
            }
            .with_crc32c(),
        )
        .await
        .expect("Encrypt AES");
    assert!(e.verified_plaintext_crc32c && e.verified_additional_authenticated_data_crc32c);
    assert_eq!(e.ciphertext_crc32c, crc32c(&e.ciphertext));
    assert_eq!(e.ciphertext.len(), 4 + 12 + 9 + 16);
    assert_eq!(e.ciphertext[..4], 1u32.to_be_bytes());
    let pt = api
        .decrypt(DecryptRequest {
            name: "app/aes".into(),
            ciphertext: e.ciphertext.clone(),
            additional_authenticated_data: b"acct-7".to_vec(),
            ..Default::default()
        })
        .await
        .expect("Decrypt AES");
    assert_eq!(pt.plaintext, b"card 4111");
    assert_eq!(pt.version, 1);
    expect_ta_code(
        api.decrypt(DecryptRequest {
            name: "app/aes".into(),
            ciphertext: e.ciphertext.clone(),
            additional_authenticated_data: b"acct-8".to_vec(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
    );
    let m = expect_ta_code(
        api.encrypt(EncryptRequest { name: "app/p256".into(), plaintext: b"x".to_vec(), ..Default::default() }).await,
        Code::FailedPrecondition,
    );
    assert!(m.contains("ENCRYPT_DECRYPT") || m.contains("Encrypt"), "{m}");
    expect_ta_code(api.sign(sign_data("app/aes", b"x")).await, Code::FailedPrecondition);
    let m = expect_ta_code(
        api.encrypt(EncryptRequest { name: "app/aes".into(), plaintext: vec![7; 70_000], ..Default::default() }).await,
        Code::InvalidArgument,
    );
    assert!(m.contains("65536"), "{m}");
    let mut bad = EncryptRequest { name: "app/aes".into(), plaintext: b"x".to_vec(), ..Default::default() }.with_crc32c();
    bad.plaintext_crc32c = bad.plaintext_crc32c.map(|c| c ^ 0x8000_0000);
    expect_ta_code(api.encrypt(bad).await, Code::InvalidArgument);

    // ImportKey: AES and HMAC material wrapped to app/wrap; the imported keys
    // compute exactly what a local implementation with the same material does.
    let aes_material = [0x11u8; 32];
    let wrapped = teehsm_sdk::wrap_key_material(&wrap_pub.der, &aes_material).expect("wrap");
    let imp = api
        .import_key(ImportKeyRequest {
            name: "app/aes-imported".into(),
            algorithm: Algorithm::Aes256Gcm as i32,
            wrapping_key_name: "app/wrap".into(),
            wrapped_key: wrapped,
            ..Default::default()
        })
        .await
        .expect("ImportKey AES");
    assert!(imp.versions[0].imported);
    let e = api
        .encrypt(EncryptRequest {
            name: "app/aes-imported".into(),
            plaintext: b"imported".to_vec(),
            additional_authenticated_data: b"ad".to_vec(),
            ..Default::default()
        })
        .await
        .expect("Encrypt with the imported key");
    let local = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &aes_material).unwrap());
    let nonce = aead::Nonce::try_assume_unique_for_key(&e.ciphertext[4..16]).unwrap();
    let mut buf = e.ciphertext[16..].to_vec();
    let opened = local.open_in_place(nonce, aead::Aad::from(b"ad"), &mut buf).expect("local AES-GCM opens the API's ciphertext");
    assert_eq!(opened, b"imported");
    let mut mine = b"made locally".to_vec();
    let n = [9u8; 12];
    local.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(n), aead::Aad::from(b""), &mut mine).unwrap();
    let ct = [&1u32.to_be_bytes()[..], &n, &mine].concat();
    let pt = api
        .decrypt(DecryptRequest { name: "app/aes-imported".into(), ciphertext: ct, ..Default::default() })
        .await
        .expect("Decrypt a local ciphertext");
    assert_eq!(pt.plaintext, b"made locally");
    let hmac_material = [0x22u8; 32];
    api.import_key(ImportKeyRequest {
        name: "app/hmac".into(),
        algorithm: Algorithm::HmacSha256 as i32,
        wrapping_key_name: "app/wrap".into(),
        wrapped_key: teehsm_sdk::wrap_key_material(&wrap_pub.der, &hmac_material).unwrap(),
        ..Default::default()
    })
    .await
    .expect("ImportKey HMAC");
    expect_ta_code(
        api.import_key(ImportKeyRequest {
            name: "app/hmac2".into(),
            algorithm: Algorithm::HmacSha256 as i32,
            wrapping_key_name: "app/wrap".into(),
            wrapped_key: vec![1; 300],
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
    );

    // ImportKey of asymmetric keys as PKCS#8 (Cloud KMS's format), made by
    // OpenSSL: the API signs what OpenSSL verifies with its own public key.
    for (tag, genpkey, alg, extra) in [
        ("ecp8", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..], Algorithm::EcSignP256Sha256, &[][..]),
        (
            "rsa-p8",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
            Algorithm::RsaSignPss2048Sha256,
            &["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"][..],
        ),
    ] {
        let key_pem = dir.join(format!("{tag}-key.pem"));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"genpkey", &"-out", &key_pem];
        for a in genpkey {
            args.push(a);
        }
        assert!(openssl(&args).0, "openssl genpkey {tag}");
        let der_path = dir.join(format!("{tag}.der"));
        assert!(openssl(&[&"pkcs8", &"-topk8", &"-nocrypt", &"-in", &key_pem, &"-outform", &"DER", &"-out", &der_path]).0);
        let pub_pem = dir.join(format!("{tag}-pub.pem"));
        assert!(openssl(&[&"pkey", &"-in", &key_pem, &"-pubout", &"-out", &pub_pem]).0);
        let pkcs8 = std::fs::read(&der_path).unwrap();
        let name = format!("app/{tag}");
        api.import_key(ImportKeyRequest {
            name: name.clone(),
            algorithm: alg as i32,
            wrapping_key_name: "app/wrap".into(),
            wrapped_key: teehsm_sdk::wrap_key_material(&wrap_pub.der, &pkcs8).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("ImportKey {tag} (PKCS#8): {e}"));
        let s = api.sign(sign_data(&name, &msg)).await.unwrap_or_else(|e| panic!("Sign with the imported {tag}: {e}"));
        openssl_verify_dgst(dir, tag, &std::fs::read_to_string(&pub_pem).unwrap(), &msg, &s.signature, extra);
    }
    // A PKCS#8 key of the wrong kind or size is refused with the reason.
    let rsa_p8 = std::fs::read(dir.join("rsa-p8.der")).unwrap();
    for (alg, why) in
        [(Algorithm::EcSignP256Sha256, "not a key of this algorithm's curve"), (Algorithm::RsaSignPss3072Sha256, "needs a 3072-bit RSA key")]
    {
        let m = expect_ta_code(
            api.import_key(ImportKeyRequest {
                name: "app/wrong-kind".into(),
                algorithm: alg as i32,
                wrapping_key_name: "app/wrap".into(),
                wrapped_key: teehsm_sdk::wrap_key_material(&wrap_pub.der, &rsa_p8).unwrap(),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
        );
        assert!(m.contains(why), "{m}");
    }

    // MacSign / MacVerify.
    let ms = api.mac_sign(MacSignRequest { name: "app/hmac".into(), data: msg.clone(), ..Default::default() }.with_crc32c()).await.expect("MacSign");
    assert!(ms.verified_data_crc32c);
    assert_eq!(ms.mac, hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &hmac_material), &msg).as_ref());
    let mv = api
        .mac_verify(MacVerifyRequest { name: "app/hmac".into(), data: msg.clone(), mac: ms.mac.clone(), ..Default::default() }.with_crc32c())
        .await
        .expect("MacVerify");
    assert!(mv.success && mv.verified_data_crc32c && mv.verified_mac_crc32c);
    let mut wrong = ms.mac.clone();
    wrong[0] ^= 1;
    let mv =
        api.mac_verify(MacVerifyRequest { name: "app/hmac".into(), data: msg.clone(), mac: wrong, ..Default::default() }).await.expect("MacVerify");
    assert!(!mv.success);

    // ML-KEM: Encapsulate / Decapsulate.
    api.create_key(create("app/kem", Algorithm::MlKem768)).await.expect("CreateKey ML-KEM-768");
    let enc = api.encapsulate(EncapsulateRequest { name: "app/kem".into(), version: 0 }).await.expect("Encapsulate");
    assert_eq!(enc.shared_secret.len(), 32);
    assert_eq!(enc.ciphertext_crc32c, crc32c(&enc.ciphertext));
    let dec = api
        .decapsulate(DecapsulateRequest { name: "app/kem".into(), ciphertext: enc.ciphertext.clone(), ..Default::default() }.with_crc32c())
        .await
        .expect("Decapsulate");
    assert_eq!(dec.shared_secret, enc.shared_secret);
    assert!(dec.verified_ciphertext_crc32c);
    expect_ta_code(
        api.decapsulate(DecapsulateRequest { name: "app/kem".into(), ciphertext: vec![0; 10], ..Default::default() }).await,
        Code::InvalidArgument,
    );

    // RotateKey: new primary, idempotent by request_id; old versions still usable.
    let r = api.rotate_key(RotateKeyRequest { name: "app/p256".into(), request_id: "rot-1".into() }).await.expect("RotateKey");
    assert_eq!((r.primary_version, r.versions.len()), (2, 2));
    let r2 = api.rotate_key(RotateKeyRequest { name: "app/p256".into(), request_id: "rot-1".into() }).await.expect("RotateKey again");
    assert_eq!(r2, r, "a repeated RotateKey returns the key unchanged");
    assert_eq!(api.sign(sign_data("app/p256", &msg)).await.expect("Sign primary").version, 2);
    let s1 = api.sign(SignRequest { version: 1, ..sign_data("app/p256", &msg) }).await.expect("Sign v1");
    assert_eq!(s1.version, 1);
    openssl_verify_dgst(dir, "p256-v1", &pubkey.pem, &msg, &s1.signature, &[]);
    let pub2 = api.get_public_key(GetPublicKeyRequest { name: "app/p256".into(), version: 2 }).await.expect("GetPublicKey v2");
    assert_ne!(pub2.der, pubkey.der);

    // UpdateKeyRotation / automatic rotation of a symmetric key: the first
    // rotation due in 300 ms, made by the next call that uses the key.
    let day = 86_400u64;
    let first = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 300;
    api.create_key(create("app/rotating", Algorithm::Aes256Gcm)).await.expect("CreateKey app/rotating");
    let k = api
        .update_key_rotation(UpdateKeyRotationRequest { name: "app/rotating".into(), rotation_period_seconds: day, next_rotation_time_ms: first })
        .await
        .expect("UpdateKeyRotation");
    assert_eq!((k.rotation_period_seconds, k.next_rotation_time_ms), (day, first));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let e = api
        .encrypt(EncryptRequest { name: "app/rotating".into(), plaintext: b"after".to_vec(), ..Default::default() })
        .await
        .expect("Encrypt after the rotation time");
    assert_eq!(e.version, 2, "the rotated primary encrypts");
    let k = api.get_key(GetKeyRequest { name: "app/rotating".into() }).await.expect("GetKey");
    assert_eq!((k.primary_version, k.next_rotation_time_ms), (2, first + day as i64 * 1000));
    let m = expect_ta_code(
        api.update_key_rotation(UpdateKeyRotationRequest { name: "app/p256".into(), rotation_period_seconds: day, next_rotation_time_ms: 0 }).await,
        Code::InvalidArgument,
    );
    assert!(m.contains("symmetric"), "{m}");

    // UpdateKeyVersionState: a disabled version is refused, then enabled again.
    let k = api
        .update_key_version_state(UpdateKeyVersionStateRequest { name: "app/p256".into(), version: 1, state: KeyVersionState::Disabled as i32 })
        .await
        .expect("disable v1");
    assert_eq!(k.versions[0].state, KeyVersionState::Disabled as i32);
    let m = expect_ta_code(api.sign(SignRequest { version: 1, ..sign_data("app/p256", &msg) }).await, Code::FailedPrecondition);
    assert!(m.contains("disabled"), "{m}");
    api.update_key_version_state(UpdateKeyVersionStateRequest { name: "app/p256".into(), version: 1, state: KeyVersionState::Enabled as i32 })
        .await
        .expect("enable v1");
    assert_eq!(api.sign(SignRequest { version: 1, ..sign_data("app/p256", &msg) }).await.expect("Sign v1 again").version, 1);

    // ACL: the restricted client may verify and read app/p256 only.
    let m = expect_ta_code(restricted.sign(sign_data("app/p256", &msg)).await, Code::PermissionDenied);
    assert!(m.contains("svc-ro") && m.contains("sign"), "{m}");
    assert!(
        restricted
            .verify(VerifyRequest { name: "app/p256".into(), version: 1, data: msg.clone(), signature: s1.signature.clone(), ..Default::default() })
            .await
            .expect("restricted Verify")
            .valid
    );
    restricted.get_public_key(GetPublicKeyRequest { name: "app/p256".into(), version: 0 }).await.expect("restricted GetPublicKey");
    expect_ta_code(restricted.get_public_key(GetPublicKeyRequest { name: "app/sm2".into(), version: 0 }).await, Code::PermissionDenied);
    expect_ta_code(restricted.create_key(create("app/p256-mine", Algorithm::Aes128Gcm)).await, Code::PermissionDenied);
    expect_ta_code(restricted.destroy_key(DestroyKeyRequest { name: "app/p256".into() }).await, Code::PermissionDenied);
    expect_ta_code(api.create_key(create("other/k", Algorithm::Aes128Gcm)).await, Code::PermissionDenied);
    // One connection, two identities: the TA applies the ACL of the credentials the call is made with.
    let shared = api.with_credentials(Credentials::new("svc-ro", &ro).expect("credentials"));
    let m = expect_ta_code(shared.sign(sign_data("app/p256", &msg)).await, Code::PermissionDenied);
    assert!(m.contains("svc-ro"), "{m}");
    shared.get_public_key(GetPublicKeyRequest { name: "app/p256".into(), version: 0 }).await.expect("svc-ro GetPublicKey on api's connection");
    api.sign(sign_data("app/p256", &msg)).await.expect("svc-full still signs on the same connection");
    let listed = restricted.list_keys(ListKeysRequest::default()).await.expect("restricted ListKeys");
    assert_eq!(listed.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), vec!["app/p256"]);
    assert_eq!(listed.total_size, 1);

    // ListKeys paging.
    for i in 0..5 {
        api.create_key(create(&format!("app/list/k{i}"), Algorithm::Aes128Gcm)).await.expect("CreateKey for listing");
    }
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page =
            api.list_keys(ListKeysRequest { page_size: 2, page_token: token.clone(), name_prefix: "app/list/".into() }).await.expect("ListKeys page");
        assert_eq!(page.total_size, 5);
        assert!(page.keys.len() <= 2);
        names.extend(page.keys.into_iter().map(|k| k.name));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "ListKeys does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..5).map(|i| format!("app/list/k{i}")).collect::<Vec<_>>());
    let all = api.list_keys(ListKeysRequest::default()).await.expect("ListKeys");
    assert!(all.keys.windows(2).all(|w| w[0].name < w[1].name), "ListKeys is sorted by name");
    assert!(all.keys.iter().any(|k| k.name == "app/sm2"));
    expect_ta_code(api.list_keys(ListKeysRequest { page_size: 1001, ..Default::default() }).await, Code::InvalidArgument);
    expect_ta_code(api.list_keys(ListKeysRequest { page_token: "not a token!".into(), ..Default::default() }).await, Code::InvalidArgument);

    // DestroyKey → operations refused → RestoreKey → operations work.
    api.create_key(create("app/del", Algorithm::EcSignP256Sha256)).await.expect("CreateKey app/del");
    let dk = api.destroy_key(DestroyKeyRequest { name: "app/del".into() }).await.expect("DestroyKey");
    assert_eq!(key_state(&dk), vec![KeyVersionState::DestroyScheduled]);
    assert!(dk.versions[0].destroy_time_ms > dk.versions[0].create_time_ms + 86_000_000);
    let m = expect_ta_code(api.sign(sign_data("app/del", b"x")).await, Code::FailedPrecondition);
    assert!(m.contains("RestoreKey"), "{m}");
    expect_ta_code(api.get_public_key(GetPublicKeyRequest { name: "app/del".into(), version: 0 }).await, Code::FailedPrecondition);
    let rk = api.restore_key(RestoreKeyRequest { name: "app/del".into() }).await.expect("RestoreKey");
    assert_eq!(key_state(&rk), vec![KeyVersionState::Enabled]);
    api.sign(sign_data("app/del", b"x")).await.expect("Sign after RestoreKey");
    expect_ta_code(api.restore_key(RestoreKeyRequest { name: "app/del".into() }).await, Code::FailedPrecondition);

    // Destroy with a 1 s window: after it the versions read DESTROYED and cannot come back.
    api.create_key(CreateKeyRequest { destroy_scheduled_duration_seconds: 1, ..create("app/short", Algorithm::Aes128Gcm) })
        .await
        .expect("CreateKey with a 1 s destroy window");
    api.destroy_key(DestroyKeyRequest { name: "app/short".into() }).await.expect("DestroyKey app/short");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let gone = api.get_key(GetKeyRequest { name: "app/short".into() }).await.expect("GetKey of a destroyed key");
    assert_eq!(key_state(&gone), vec![KeyVersionState::Destroyed]);
    expect_ta_code(
        api.encrypt(EncryptRequest { name: "app/short".into(), plaintext: b"x".to_vec(), ..Default::default() }).await,
        Code::FailedPrecondition,
    );
    expect_ta_code(api.restore_key(RestoreKeyRequest { name: "app/short".into() }).await, Code::FailedPrecondition);
    expect_ta_code(api.create_key(create("app/short", Algorithm::Aes128Gcm)).await, Code::AlreadyExists);
    close(vec![api, restricted, anon]).await;
}

// ------------------------------------------------------- the CA cannot use a key

#[tokio::test]
async fn grpc_the_ca_cannot_use_api_keys() {
    let ca = start_ca_grpc(&[]);
    let secret = register_api_client(&ca.ca, "svc-pay", &["pay/:all"]);
    let api = client(&ca, Some(("svc-pay", &secret))).await;
    let names = ["pay/p256", "pay/sm2", "pay/aes", "pay/hmac"];
    for (n, a) in names.iter().zip([Algorithm::EcSignP256Sha256, Algorithm::Sm2SignSm3, Algorithm::Aes256Gcm, Algorithm::HmacSha256]) {
        api.create_key(create(n, a)).await.expect("CreateKey");
    }
    api.rotate_key(RotateKeyRequest { name: "pay/p256".into(), request_id: String::new() }).await.expect("RotateKey");

    // (a) A MAC made with a wrong secret (or for an unknown client) → UNAUTHENTICATED.
    let forger = client(&ca, Some(("svc-pay", &[0u8; 32]))).await;
    let m = expect_code(forger.sign(sign_data("pay/p256", b"pay 100")).await, Code::Unauthenticated);
    assert!(!m.contains(&hex::encode(&secret)), "{m}");
    let stranger = client(&ca, Some(("svc-nobody", &secret))).await;
    expect_code(stranger.sign(sign_data("pay/p256", b"pay 100")).await, Code::Unauthenticated);

    // (b) A genuine request sent twice (same metadata and body) → the second is a replay.
    let req = sign_data("pay/p256", b"pay 100");
    let auth = api.authenticate("Sign", &req).expect("authenticate").expect("credentials");
    let mut raw = api.raw();
    let send = |auth: &teehsm_sdk::AuthMetadata| {
        let mut r = tonic::Request::new(req.clone());
        auth.apply(r.metadata_mut()).expect("metadata");
        r
    };
    let first = raw.sign(send(&auth)).await.expect("the genuine request is served");
    let first_mac = hex::decode(first.metadata().get(teehsm_sdk::RESPONSE_MAC_HEADER).expect("response MAC").to_str().unwrap()).unwrap();
    assert!(teehsm_sdk::verify_response_mac(&secret, &auth.mac, 0, "", &first.get_ref().encode_to_vec(), &first_mac));
    // A changed answer (another signature) would not verify against that MAC.
    let mut changed = first.get_ref().clone();
    changed.signature[10] ^= 1;
    assert!(!teehsm_sdk::verify_response_mac(&secret, &auth.mac, 0, "", &changed.encode_to_vec(), &first_mac));
    let replay = raw.sign(send(&auth)).await.expect_err("a replayed request must be refused");
    assert_eq!(replay.code(), Code::Unauthenticated, "{replay:?}");
    assert!(replay.message().contains("nonce"), "{}", replay.message());

    // (c) Acting as the CA: the CA holds the user PIN and talks PKCS#11 to
    // the TA; it sees none of the API keys and can use none by handle.
    let mut c = connect(&ca.ca.socket);
    let s = user_session(&mut c);
    // A key of the CA's own, made after the API keys: object handles are
    // allocated in order, so the scan below covers every API key version,
    // and this key shows that the scan would find a usable key.
    let (_, own) = gen_pair(&mut c, &p256_pair(s, "ca/own", true)).expect("the CA's own key");
    let r = c.call(&Request::Sign { session: s, mechanism: Mechanism::new(ck::CKM_ECDSA), key: own, data: vec![0x5a; 32] });
    assert!(matches!(r, Ok(Reply::Bytes(_))), "the positive control (the CA's own key) must sign: {r:?}");
    let visible = c.find(s, vec![]).expect("FindObjects");
    assert!(visible.contains(&own));
    eprintln!("the CA's own key has handle {own}; scanning handles 1..={}", own + 256);
    for n in names {
        let by_label = c.find(s, vec![Attribute::new(ck::CKA_LABEL, n.as_bytes().to_vec())]).expect("FindObjects by label");
        assert!(by_label.is_empty(), "PKCS#11 finds API key {n}: {by_label:?}");
    }
    for h in &visible {
        if let Ok(Reply::Attributes(a)) = c.call(&Request::GetAttributeValue { session: s, object: *h, types: vec![ck::CKA_LABEL] }) {
            let text = format!("{a:?}");
            assert!(!text.contains("pay/"), "visible object {h} looks like an API key: {text}");
        }
    }
    let mut tried = 0;
    let last = own + 256;
    for h in 1..=last {
        if visible.contains(&h) {
            continue;
        }
        for mech in [ck::CKM_ECDSA, ck::CKM_SM2, ck::CKM_SHA256_HMAC] {
            let r = c.call(&Request::Sign { session: s, mechanism: Mechanism::new(mech), key: h, data: vec![0x5a; 32] });
            assert!(matches!(r, Err(CallError::Status { .. })), "Sign with handle {h} mechanism {mech:#x} worked: {r:?}");
        }
        let r = c.call(&Request::Encrypt { session: s, mechanism: Mechanism::new(ck::CKM_AES_GCM), key: h, data: vec![1; 16] });
        assert!(matches!(r, Err(CallError::Status { .. })), "Encrypt with handle {h} worked: {r:?}");
        let r = c.call(&Request::GetAttributeValue { session: s, object: h, types: vec![ck::CKA_LABEL, ck::CKA_CLASS] });
        assert!(matches!(r, Err(CallError::Status { .. })), "GetAttributeValue on handle {h} worked: {r:?}");
        tried += 1;
    }
    assert!(tried as u64 + visible.len() as u64 >= last, "scanned {tried} handles up to {last}");

    // (d) An ApiCall straight to the TA's socket with a changed body and the original MAC → refused.
    let mut ta = Client::connect(ca.ca.state_dir.join("ta.sock"), "attacker").expect("connect to the TA socket");
    let method = method_path("Sign");
    let genuine = sign_data("pay/p256", b"pay 100").encode_to_vec();
    let tampered = sign_data("pay/p256", b"pay 1000000").encode_to_vec();
    let creds = Credentials::new("svc-pay", &secret).unwrap();
    let a = creds.authenticate(&method, &genuine).unwrap();
    let call = |body: &[u8], a: &teehsm_sdk::AuthMetadata| Request::ApiCall {
        client_id: a.client_id.clone(),
        timestamp_ms: a.timestamp_ms,
        nonce: a.nonce,
        mac: a.mac,
        method: method.clone(),
        body: body.to_vec(),
    };
    match ta.call(&call(&tampered, &a)).expect("ApiCall") {
        Reply::Api { code, message, body, .. } => {
            assert_eq!(code, Code::Unauthenticated as u32, "tampered body: {message}");
            assert!(body.is_empty());
        }
        r => panic!("unexpected reply {r:?}"),
    }
    // The same MAC with the body it was made for still works (the refusal above burned no nonce).
    match ta.call(&call(&genuine, &a)).expect("ApiCall") {
        Reply::Api { code, message, body, mac, .. } => {
            assert_eq!(code, 0, "{message}");
            assert!(creds.response_mac_valid(&a.mac, 0, "", &body, &mac));
            assert!(!SignResponse::decode(body.as_slice()).unwrap().signature.is_empty());
        }
        r => panic!("unexpected reply {r:?}"),
    }

    // And the honest client is unaffected.
    api.sign(sign_data("pay/p256", b"pay 100")).await.expect("honest Sign");
    api.mac_sign(MacSignRequest { name: "pay/hmac".into(), data: b"x".to_vec(), ..Default::default() }).await.expect("honest MacSign");
    drop(raw);
    close(vec![api, forger, stranger]).await;
}

// ------------------------------------------------------- mTLS

fn cert_pair(dir: &Path) -> (rcgen::Issuer<'static, rcgen::KeyPair>, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, "teehsm test client CA");
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = p.self_signed(&key).expect("self-signed CA");
    let path = dir.join(format!("client-ca-{}.pem", crc32c(cert.der())));
    std::fs::write(&path, cert.pem()).unwrap();
    (rcgen::Issuer::new(p, key), path)
}

fn client_cert(issuer: &rcgen::Issuer<'_, rcgen::KeyPair>, name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("client key");
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = p.signed_by(&key, issuer).expect("client cert");
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn grpc_mtls_requires_a_client_certificate() {
    let work = TempDir::new("grpc-mtls");
    let (issuer, ca_file) = cert_pair(work.path());
    let (other_issuer, _) = cert_pair(work.path());
    let ca = start_ca_grpc(&["--grpc-client-ca", ca_file.to_str().unwrap()]);
    let base = ApiClientConfig::new(ca.endpoint.clone(), ca.ca_cert_pem.clone());
    let random = GenerateRandomRequest { length_bytes: 16 };

    // No client certificate: the handshake (or, as TLS 1.3 checks the client
    // certificate after the client's side of the handshake, the first call) is refused.
    match ApiClient::connect(base.clone()).await {
        Err(e) => assert!(matches!(e, SdkError::Transport(_)), "{e}"),
        Ok(c) => {
            let e = c.generate_random(random).await.expect_err("a client without a certificate must be refused");
            assert!(
                matches!(
                    e,
                    SdkError::Transport(_) | SdkError::Status { code: Code::Unavailable | Code::Unknown | Code::Cancelled, authenticated: false, .. }
                ),
                "{e:?}"
            );
        }
    }
    // A certificate from another CA: refused too.
    let (cert, key) = client_cert(&other_issuer, "mallory");
    match ApiClient::connect(base.clone().identity(cert, key)).await {
        Err(e) => assert!(matches!(e, SdkError::Transport(_)), "{e}"),
        Ok(c) => {
            let e = c.generate_random(random).await.expect_err("a certificate from another CA must be refused");
            assert!(
                matches!(
                    e,
                    SdkError::Transport(_) | SdkError::Status { code: Code::Unavailable | Code::Unknown | Code::Cancelled, authenticated: false, .. }
                ),
                "{e:?}"
            );
        }
    }
    // With a certificate from the configured CA: served, and the API authenticator still applies.
    let (cert, key) = client_cert(&issuer, "svc-mtls");
    let anon = ApiClient::connect(base.clone().identity(cert.clone(), key.clone())).await.expect("mTLS connect");
    assert_eq!(anon.generate_random(random).await.expect("GenerateRandom over mTLS").data.len(), 16);
    expect_code(anon.sign(sign_data("app/x", b"x")).await, Code::Unauthenticated);
    let secret = register_api_client(&ca.ca, "svc-mtls", &["app/:all"]);
    let c = ApiClient::connect(base.identity(cert, key).credentials(Credentials::new("svc-mtls", &secret).unwrap())).await.expect("mTLS connect");
    c.create_key(create("app/x", Algorithm::EcSignP256Sha256)).await.expect("CreateKey over mTLS");
    c.sign(sign_data("app/x", b"x")).await.expect("Sign over mTLS");
    close(vec![anon, c]).await;
}
