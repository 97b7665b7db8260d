//! `teehsm kms`: the gRPC API through the real `teehsm` binary against the
//! real `teehsm-ca` (dev TLS) and its TA: keys created, signatures checked
//! by the CLI and by OpenSSL, AEAD round trip, paging, anonymous random,
//! and the exit statuses (1 invalid signature, 2 usage/config, 3 refused).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use teehsm_tests::*;

/// How the test reaches the endpoint: endpoint and CA certificate from the
/// environment (as an operator would export them), credentials as flags.
struct Kms {
    endpoint: String,
    ca_cert: PathBuf,
}

impl Kms {
    fn run(&self, creds: Option<(&str, &Path)>, args: &[&dyn AsRef<OsStr>]) -> Output {
        let mut cmd = Command::new(bin("teehsm"));
        cmd.arg("kms");
        for a in args {
            cmd.arg(a);
        }
        if let Some((id, secret)) = creds {
            cmd.arg("--client-id").arg(id).arg("--secret-file").arg(secret);
        }
        cmd.env("TEEHSM_GRPC_ENDPOINT", &self.endpoint)
            .env("TEEHSM_GRPC_CA_CERT", &self.ca_cert)
            .env_remove("TEEHSM_CLIENT_ID")
            .env_remove("TEEHSM_CLIENT_SECRET_FILE")
            .env_remove("TEEHSM_GRPC_CLIENT_CERT")
            .env_remove("TEEHSM_GRPC_CLIENT_KEY");
        cmd.output().unwrap_or_else(|e| panic!("running teehsm (build it: cargo build --bins): {e}"))
    }
}

fn text(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[track_caller]
fn expect_exit(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "wanted exit {code}, got {}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn openssl(args: &[&dyn AsRef<OsStr>]) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    for a in args {
        cmd.arg(a);
    }
    let o = cmd.output().expect("run openssl");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn kms_cli_end_to_end() {
    let ca = start_ca_grpc(&[]);
    let work = TempDir::new("kms-cli");
    let dir = work.path();
    let p = |name: &str| dir.join(name);

    let ca_cert = p("ca.pem");
    std::fs::write(&ca_cert, &ca.ca_cert_pem).unwrap();
    let kms = Kms { endpoint: ca.endpoint.clone(), ca_cert };

    let secret = register_api_client(&ca.ca, "svc-cli", &["cli/:all"]);
    let secret_file = p("svc-cli.secret");
    std::fs::write(&secret_file, format!("{}\n", hex::encode(&secret))).unwrap();
    let me = Some(("svc-cli", secret_file.as_path()));
    let other_secret = register_api_client(&ca.ca, "svc-other", &["other/:all"]);
    let other_file = p("svc-other.secret");
    std::fs::write(&other_file, hex::encode(&other_secret)).unwrap();

    // create-key: names any case; --json; a bad name lists the valid ones.
    let out = expect_exit(&kms.run(me, &[&"create-key", &"cli/p256", &"--algorithm", &"ec_sign_p256_sha256"]), 0);
    assert!(out.contains("name: cli/p256") && out.contains("algorithm: EC_SIGN_P256_SHA256") && out.contains("creator: svc-cli"), "{out}");
    let out = expect_exit(&kms.run(me, &[&"create-key", &"cli/sm2", &"--algorithm", &"SM2_SIGN_SM3", &"--request-id", &"sm2-1", &"--json"]), 0);
    assert!(out.contains(r#""algorithm":"SM2_SIGN_SM3""#) && out.contains(r#""name":"cli/sm2""#), "{out}");
    // Same request id again: the same key, not ALREADY_EXISTS.
    expect_exit(&kms.run(me, &[&"create-key", &"cli/sm2", &"--algorithm", &"sm2_sign_sm3", &"--request-id", &"sm2-1"]), 0);
    let o = kms.run(me, &[&"create-key", &"cli/sm2", &"--algorithm", &"SM2_SIGN_SM3"]);
    expect_exit(&o, 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("error: ALREADY_EXISTS: "), "{}", text(&o));
    expect_exit(&kms.run(me, &[&"create-key", &"cli/aes", &"--algorithm", &"Aes_256_Gcm"]), 0);
    let o = kms.run(me, &[&"create-key", &"cli/x", &"--algorithm", &"p256"]);
    expect_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--algorithm") && err.contains("EC_SIGN_P256_SHA256") && err.contains("SM2_SIGN_SM3"), "{err}");

    // Automatic rotation: on create, shown, changed and removed with set-rotation.
    let out = expect_exit(&kms.run(me, &[&"create-key", &"cli/rot", &"--algorithm", &"HMAC_SHA256", &"--rotation-period-days", &"30", &"--json"]), 0);
    assert!(out.contains(r#""rotation_period_seconds":2592000"#), "{out}");
    let out = expect_exit(&kms.run(me, &[&"set-rotation", &"cli/rot", &"--period-days", &"7"]), 0);
    assert!(out.contains("rotation: every 604800 s, next "), "{out}");
    let out = expect_exit(&kms.run(me, &[&"set-rotation", &"cli/rot", &"--period-days", &"0", &"--json"]), 0);
    assert!(out.contains(r#""rotation_period_seconds":0"#), "{out}");
    let o = kms.run(me, &[&"set-rotation", &"cli/p256", &"--period-days", &"1"]);
    expect_exit(&o, 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("symmetric keys"), "{}", text(&o));

    // disable-version / enable-version.
    let out = expect_exit(&kms.run(me, &[&"disable-version", &"cli/rot"]), 0);
    assert!(out.contains("1  DISABLED"), "{out}");
    let out = expect_exit(&kms.run(me, &[&"enable-version", &"cli/rot", &"--version", &"1"]), 0);
    assert!(out.contains("1  ENABLED"), "{out}");

    // get-key, and a key that does not exist.
    let out = expect_exit(&kms.run(me, &[&"get-key", &"cli/p256"]), 0);
    assert!(out.contains("primary version: 1") && out.contains("1  ENABLED"), "{out}");
    let o = kms.run(me, &[&"get-key", &"cli/none"]);
    expect_exit(&o, 3);
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: NOT_FOUND: "), "{}", text(&o));

    // public-key: PEM on stdout, DER to a file.
    let der = p("p256.der");
    let pem = expect_exit(&kms.run(me, &[&"public-key", &"cli/p256", &"--der-out", &der]), 0);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    assert_eq!(std::fs::read(&der).unwrap().first(), Some(&0x30));
    let p256_pub = p("p256.pem");
    std::fs::write(&p256_pub, &pem).unwrap();
    let sm2_pub = p("sm2.pem");
    expect_exit(&kms.run(me, &[&"public-key", &"cli/sm2", &"--out", &sm2_pub]), 0);

    // P-256: sign, verify (valid, tampered), OpenSSL agrees.
    let data = p("data");
    std::fs::write(&data, b"pay 100 to alice\n").unwrap();
    let tampered = p("tampered");
    std::fs::write(&tampered, b"pay 900 to alice\n").unwrap();
    let sig = p("p256.sig");
    expect_exit(&kms.run(me, &[&"sign", &"cli/p256", &"--in", &data, &"--out", &sig]), 0);
    let out = expect_exit(&kms.run(me, &[&"verify", &"cli/p256", &"--in", &data, &"--signature", &sig]), 0);
    assert!(out.contains("signature valid"), "{out}");
    let out = expect_exit(&kms.run(me, &[&"verify", &"cli/p256", &"--in", &tampered, &"--signature", &sig]), 1);
    assert!(out.contains("signature INVALID"), "{out}");
    let (ok, out) = openssl(&[&"dgst", &"-sha256", &"-verify", &p256_pub, &"-signature", &sig, &data]);
    assert!(ok && out.contains("Verified OK"), "openssl rejected the P-256 signature: {out}");
    let (ok, _) = openssl(&[&"dgst", &"-sha256", &"-verify", &p256_pub, &"-signature", &sig, &tampered]);
    assert!(!ok, "openssl accepted the P-256 signature over the tampered file");
    // Raw r||s is 64 bytes and verifies with --format raw.
    let raw = p("p256.raw");
    expect_exit(&kms.run(me, &[&"sign", &"cli/p256", &"--in", &data, &"--out", &raw, &"--format", &"raw"]), 0);
    assert_eq!(std::fs::read(&raw).unwrap().len(), 64);
    expect_exit(&kms.run(me, &[&"verify", &"cli/p256", &"--in", &data, &"--signature", &raw, &"--format", &"raw"]), 0);

    // SM2 with the default ID and with --sm2-id.
    let sm2_sig = p("sm2.sig");
    expect_exit(&kms.run(me, &[&"sign", &"cli/sm2", &"--in", &data, &"--out", &sm2_sig]), 0);
    expect_exit(&kms.run(me, &[&"verify", &"cli/sm2", &"--in", &data, &"--signature", &sm2_sig]), 0);
    expect_exit(&kms.run(me, &[&"verify", &"cli/sm2", &"--in", &tampered, &"--signature", &sm2_sig]), 1);
    let (ok, out) = openssl(&[
        &"pkeyutl",
        &"-verify",
        &"-pubin",
        &"-inkey",
        &sm2_pub,
        &"-rawin",
        &"-in",
        &data,
        &"-sigfile",
        &sm2_sig,
        &"-digest",
        &"sm3",
        &"-pkeyopt",
        &"distid:1234567812345678",
    ]);
    assert!(ok && out.contains("Signature Verified Successfully"), "openssl rejected the SM2 signature: {out}");
    let sm2_alice = p("sm2-alice.sig");
    expect_exit(&kms.run(me, &[&"sign", &"cli/sm2", &"--in", &data, &"--out", &sm2_alice, &"--sm2-id", &"alice@example.com"]), 0);
    expect_exit(&kms.run(me, &[&"verify", &"cli/sm2", &"--in", &data, &"--signature", &sm2_alice, &"--sm2-id", &"alice@example.com"]), 0);
    expect_exit(&kms.run(me, &[&"verify", &"cli/sm2", &"--in", &data, &"--signature", &sm2_alice]), 1);
    let (ok, out) = openssl(&[
        &"pkeyutl",
        &"-verify",
        &"-pubin",
        &"-inkey",
        &sm2_pub,
        &"-rawin",
        &"-in",
        &data,
        &"-sigfile",
        &sm2_alice,
        &"-digest",
        &"sm3",
        &"-pkeyopt",
        &"distid:alice@example.com",
    ]);
    assert!(ok && out.contains("Signature Verified Successfully"), "openssl rejected the SM2 signature with ID alice@example.com: {out}");

    // AES-256-GCM with AAD: round trip; the wrong AAD is refused (exit 3).
    let (pt, aad, wrong_aad, ct, back) = (p("pt"), p("aad"), p("aad2"), p("ct"), p("back"));
    let plaintext: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&pt, &plaintext).unwrap();
    std::fs::write(&aad, b"order 42").unwrap();
    std::fs::write(&wrong_aad, b"order 43").unwrap();
    expect_exit(&kms.run(me, &[&"encrypt", &"cli/aes", &"--in", &pt, &"--out", &ct, &"--aad", &aad]), 0);
    let c = std::fs::read(&ct).unwrap();
    assert!(c.len() > plaintext.len() && !c.windows(16).any(|w| w == &plaintext[..16]), "ciphertext of {} bytes", c.len());
    expect_exit(&kms.run(me, &[&"decrypt", &"cli/aes", &"--in", &ct, &"--out", &back, &"--aad", &aad]), 0);
    assert_eq!(std::fs::read(&back).unwrap(), plaintext);
    let o = kms.run(me, &[&"decrypt", &"cli/aes", &"--in", &ct, &"--out", &p("back2"), &"--aad", &wrong_aad]);
    expect_exit(&o, 3);
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: "), "{}", text(&o));
    assert!(!p("back2").exists(), "decrypt wrote output although the TA refused");

    // rotate-key, then destroy-key / restore-key.
    let out = expect_exit(&kms.run(me, &[&"rotate-key", &"cli/aes"]), 0);
    assert!(out.contains("primary version: 2"), "{out}");
    expect_exit(&kms.run(me, &[&"decrypt", &"cli/aes", &"--in", &ct, &"--out", &back, &"--aad", &aad]), 0);
    let out = expect_exit(&kms.run(me, &[&"destroy-key", &"cli/aes"]), 0);
    assert!(out.contains("DESTROY_SCHEDULED"), "{out}");
    let out = expect_exit(&kms.run(me, &[&"restore-key", &"cli/aes"]), 0);
    assert!(!out.contains("DESTROY_SCHEDULED") && out.contains("ENABLED"), "{out}");

    // list-keys follows pages (page size 1) and shows every key.
    let out = expect_exit(&kms.run(me, &[&"list-keys", &"--page-size", &"1"]), 0);
    for k in ["cli/p256  EC_SIGN_P256_SHA256", "cli/sm2  SM2_SIGN_SM3", "cli/aes  AES_256_GCM"] {
        assert!(out.contains(k), "list-keys misses {k}:\n{out}");
    }
    let out = expect_exit(&kms.run(me, &[&"list-keys", &"--prefix", &"cli/s", &"--json"]), 0);
    assert!(out.contains(r#""name":"cli/sm2""#) && !out.contains("cli/p256"), "{out}");

    // random without credentials; attestation without credentials.
    let out = expect_exit(&kms.run(None, &[&"random", &"32"]), 0);
    let r = hex::decode(out.trim()).expect("random prints hex");
    assert_eq!(r.len(), 32);
    let report = p("report.bin");
    let out = expect_exit(&kms.run(None, &[&"attestation", &"--nonce-hex", &"ab".repeat(32), &"--out", &report]), 0);
    assert!(out.contains(&format!("nonce: {}", "ab".repeat(32))), "{out}");
    assert!(std::fs::metadata(&report).unwrap().len() > 0);

    // A client whose ACL does not cover cli/: PERMISSION_DENIED, exit 3.
    let other = Some(("svc-other", other_file.as_path()));
    let other_sig = p("other.sig");
    let create: [&dyn AsRef<OsStr>; 4] = [&"create-key", &"cli/theirs", &"--algorithm", &"EC_SIGN_P256_SHA256"];
    let sign: [&dyn AsRef<OsStr>; 6] = [&"sign", &"cli/p256", &"--in", &data, &"--out", &other_sig];
    for args in [&create[..], &sign[..]] {
        let o = kms.run(other, args);
        expect_exit(&o, 3);
        assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: PERMISSION_DENIED: "), "{}", text(&o));
    }
    // The wrong secret: refused before the TA knows the client (exit 3, no TA MAC).
    let wrong = p("wrong.secret");
    std::fs::write(&wrong, "00".repeat(32)).unwrap();
    let o = kms.run(Some(("svc-cli", &wrong)), &[&"get-key", &"cli/p256"]);
    expect_exit(&o, 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no TA response MAC"), "{}", text(&o));

    // Configuration errors: exit 2 with a message naming the flag and its variable.
    let o = kms.run(None, &[&"get-key", &"cli/p256", &"--client-id", &"svc-cli"]);
    expect_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--secret-file") && err.contains("TEEHSM_CLIENT_SECRET_FILE"), "{err}");
    let o = kms.run(None, &[&"get-key", &"cli/p256"]);
    expect_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--client-id"), "{}", text(&o));
    let o = kms.run(Some(("svc-cli", &p("missing.secret"))), &[&"get-key", &"cli/p256"]);
    expect_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.secret"), "{}", text(&o));
    let empty = p("empty.secret");
    std::fs::write(&empty, "").unwrap();
    let o = kms.run(Some(("svc-cli", &empty)), &[&"get-key", &"cli/p256"]);
    expect_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is empty"), "{}", text(&o));
    let bad_hex = p("bad.secret");
    std::fs::write(&bad_hex, "not hex").unwrap();
    let o = kms.run(Some(("svc-cli", &bad_hex)), &[&"get-key", &"cli/p256"]);
    expect_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("hex"), "{}", text(&o));
    // Nothing listening: a connection error, exit 2.
    let closed = Kms { endpoint: "https://127.0.0.1:1".into(), ca_cert: kms.ca_cert.clone() };
    let o = closed.run(None, &[&"random", &"8"]);
    expect_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--endpoint"), "{}", text(&o));
    let o = kms.run(None, &[&"random", &"0"]);
    expect_exit(&o, 2);
    // The exit statuses are documented in --help.
    let o = kms.run(None, &[&"--help"]);
    let help = expect_exit(&o, 0);
    assert!(help.contains("Exit status") && help.contains("3 the server"), "{help}");
}
