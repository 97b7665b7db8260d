//! Issue 6, key distribution end to end (docs/key-distribution.md): real
//! teehsm-ca processes with their TAs, and the operator commands only:
//! `teehsm-console keydist keygen|wrap` on the console side, `teehsm attest
//! fetch` and `teehsm keydist trust|import` on the HSM side. The imported
//! key encrypts data that decrypts under the original key; a replay, an
//! envelope wrapped to another TA, an untrusted console, a report that does
//! not verify, and an envelope made before the TA restarted are refused.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use teehsm_tests::*;
use teehsm_wire::ck::*;
use teehsm_wire::*;

fn run(bin_name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    // Our binaries from the build directory; openssl from the PATH.
    let mut cmd = if bin_name == "openssl" { Command::new("openssl") } else { Command::new(bin(bin_name)) };
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap_or_else(|e| panic!("running {bin_name} (build it: cargo build --bins): {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(bin_name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let o = run(bin_name, args);
    assert!(
        o.status.success(),
        "{bin_name} {:?} failed:\n{}",
        args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect::<Vec<_>>(),
        text(&o)
    );
    text(&o)
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The files that let the console verify one CA's TA: a fresh report, the
/// sim trust anchor, a policy pinning the TA's measurement.
struct Attested {
    report: PathBuf,
    anchor: PathBuf,
    policy: PathBuf,
}

fn attest(ca: &CaProcess, dir: &Path, tag: &str) -> Attested {
    let measurement = match connect(&ca.socket).call(&Request::GetTaInfo).expect("GetTaInfo") {
        Reply::TaInfo(i) => hex::encode(i.measurement),
        r => panic!("unexpected {r:?}"),
    };
    let anchor = write(dir, &format!("{tag}-anchor.pem"), sim_report_key(&ca.state_dir.join("platform"), "pem").as_bytes());
    let policy =
        write(dir, &format!("{tag}-policy.toml"), format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n").as_bytes());
    let report = dir.join(format!("{tag}-report.bin"));
    ok("teehsm", &[&"attest", &"fetch", &"--socket", &ca.socket, &"--out", &report]);
    Attested { report, anchor, policy }
}

fn wrap(signing_key: &Path, t: &Attested, key_file: &Path, label: &str, out: &Path) -> Output {
    run(
        "teehsm-console",
        &[
            &"keydist",
            &"wrap",
            &"--signing-key",
            &signing_key,
            &"--report",
            &t.report,
            &"--policy",
            &t.policy,
            &"--trust-anchor",
            &t.anchor,
            &"--key-file",
            &key_file,
            &"--key-type",
            &"aes",
            &"--label",
            &label,
            &"--usage",
            &"encrypt,decrypt",
            &"--out",
            &out,
        ],
    )
}

fn import(ca: &CaProcess, pin: &Path, envelope: &Path) -> Output {
    run("teehsm", &[&"keydist", &"import", &"--socket", &ca.socket, &"--pin-file", &pin, &"--envelope", &envelope])
}

/// The imported key's handle, from `teehsm keydist import`'s stdout.
fn handle(o: &Output) -> u64 {
    assert!(o.status.success(), "import failed:\n{}", text(o));
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or_else(|e| panic!("import printed no handle ({e}):\n{}", text(o)))
}

fn attr(c: &mut teehsm_wire::client::Client, s: u64, h: u64, ty: u64) -> Vec<u8> {
    match c.call(&Request::GetAttributeValue { session: s, object: h, types: vec![ty] }).unwrap() {
        Reply::Attributes(v) => {
            assert!(v[0].status.is_ok(), "attribute 0x{ty:x}: {}", v[0].status);
            v[0].value.clone()
        }
        r => panic!("unexpected {r:?}"),
    }
}

#[test]
fn a_console_wrapped_key_reaches_only_its_attested_ta_once() {
    let ca = start_ca_dev_token();
    let other = start_ca_dev_token();
    let work = TempDir::new("keydist-e2e");
    let dir = work.path();
    let so_pin = write(dir, "so.pin", &[SO_PIN, b"\n"].concat());
    let user_pin = write(dir, "user.pin", &[USER_PIN, b"\n"].concat());
    let key = [0x42u8; 32];
    let key_file = write(dir, "key.bin", &key);

    // The console's signing key; its public half goes to the token's SO.
    let signing_key = dir.join("console-keydist.pem");
    let public = dir.join("console-keydist.pub");
    ok("teehsm-console", &[&"keydist", &"keygen", &"--out", &signing_key, &"--public-out", &public]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&signing_key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    let o = run("teehsm-console", &[&"keydist", &"keygen", &"--out", &signing_key, &"--public-out", &public]);
    assert!(!o.status.success(), "keygen overwrote an existing key:\n{}", text(&o));

    let a = attest(&ca, dir, "a");
    let env = dir.join("a.env");

    // Before the SO trusts the console, the TA refuses its envelopes.
    ok(
        "teehsm-console",
        &[
            &"keydist",
            &"wrap",
            &"--signing-key",
            &signing_key,
            &"--report",
            &a.report,
            &"--policy",
            &a.policy,
            &"--trust-anchor",
            &a.anchor,
            &"--key-file",
            &key_file,
            &"--label",
            &"early",
            &"--out",
            &env,
        ],
    );
    let o = import(&ca, &user_pin, &env);
    assert!(!o.status.success() && text(&o).contains("TEEHSM_KEYDIST_UNTRUSTED"), "{}", text(&o));

    let out = ok("teehsm", &[&"keydist", &"trust", &"--socket", &ca.socket, &"--so-pin-file", &so_pin, &"--console-key", &public]);
    assert!(out.contains("now trusted"), "{out}");
    let listed = ok("teehsm", &[&"keydist", &"list", &"--socket", &ca.socket, &"--so-pin-file", &so_pin]);
    let public_hex = hex::encode(teehsm_wire::keydist::parse_signer_public_key(&std::fs::read_to_string(&public).unwrap()).unwrap());
    assert!(listed.lines().any(|l| l.trim() == public_hex), "{listed}");

    // Wrap, import, use.
    let o = wrap(&signing_key, &a, &key_file, "dist-aes", &env);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("envelope "), "{}", text(&o));
    assert!(!std::fs::read(&env).unwrap().windows(32).any(|w| w == key), "the key is in clear in the envelope");
    let h = handle(&import(&ca, &user_pin, &env));
    let mut c = connect(&ca.socket);
    let s = user_session(&mut c);
    assert_eq!(attr(&mut c, s, h, CKA_LABEL), b"dist-aes");
    assert_eq!(attr(&mut c, s, h, CKA_LOCAL), vec![0]);
    assert_eq!(attr(&mut c, s, h, CKA_SENSITIVE), vec![1]);
    assert_eq!(attr(&mut c, s, h, CKA_EXTRACTABLE), vec![0]);
    let iv = [7u8; 12];
    let gcm = Mechanism::with(CKM_AES_GCM, MechParam::Gcm { iv: iv.to_vec(), aad: vec![], tag_bits: 128 });
    let mut ct = match c.call(&Request::Encrypt { session: s, mechanism: gcm, key: h, data: b"through the CA".to_vec() }).unwrap() {
        Reply::Bytes(b) => b,
        r => panic!("unexpected {r:?}"),
    };
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    assert_eq!(k.open_in_place(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut ct).unwrap(), b"through the CA");

    // The same envelope again: a replay.
    let o = import(&ca, &user_pin, &env);
    assert!(!o.status.success() && text(&o).contains("TEEHSM_KEYDIST_REPLAY"), "{}", text(&o));

    // Wrapped to the other TA: mis-targeted here; untrusted there.
    let b = attest(&other, dir, "b");
    let env_b = dir.join("b.env");
    assert!(wrap(&signing_key, &b, &key_file, "for-b", &env_b).status.success());
    let o = import(&ca, &user_pin, &env_b);
    assert!(!o.status.success() && text(&o).contains("TEEHSM_KEYDIST_MISTARGETED"), "{}", text(&o));
    let o = import(&other, &user_pin, &env_b);
    assert!(!o.status.success() && text(&o).contains("TEEHSM_KEYDIST_UNTRUSTED"), "{}", text(&o));

    // The console refuses to wrap to a report that does not verify (here:
    // the other TA's report under this TA's policy).
    let mixed = Attested { report: b.report.clone(), anchor: a.anchor.clone(), policy: a.policy.clone() };
    let o = wrap(&signing_key, &mixed, &key_file, "x", &dir.join("never.env"));
    assert!(!o.status.success() && text(&o).contains("refused"), "{}", text(&o));
    assert!(!dir.join("never.env").exists());

    // The TA restarts (the CA supervises it): it gets a new channel key, so
    // an envelope wrapped before is mis-targeted, while the trusted signer
    // (sealed in the store) still works with a fresh report.
    let stale = dir.join("stale.env");
    assert!(wrap(&signing_key, &a, &key_file, "stale", &stale).status.success());
    drop(c);
    let old_ta = ta_pid_of(ca.pid()).expect("the CA's TA");
    // SAFETY: signalling a process this test's CA started.
    unsafe {
        libc::kill(old_ta, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while ta_pid_of(ca.pid()).is_none_or(|p| p == old_ta)
        || teehsm_wire::client::Client::connect(&ca.socket, "probe").and_then(|mut c| c.call(&Request::GetTaInfo)).is_err()
    {
        assert!(Instant::now() < deadline, "the CA did not restart its TA in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = import(&ca, &user_pin, &stale);
    assert!(!o.status.success() && text(&o).contains("TEEHSM_KEYDIST_MISTARGETED"), "{}", text(&o));
    let fresh = attest(&ca, dir, "a2");
    let env2 = dir.join("a2.env");
    assert!(wrap(&signing_key, &fresh, &key_file, "after-restart", &env2).status.success());
    let h2 = handle(&import(&ca, &user_pin, &env2));
    let mut c = connect(&ca.socket);
    let s = user_session(&mut c);
    assert_eq!(attr(&mut c, s, h2, CKA_LABEL), b"after-restart");
}

/// One DER TLV at the start of `b`: (tag, whole TLV, contents, rest).
fn tlv(b: &[u8]) -> (u8, &[u8], &[u8], &[u8]) {
    let (tag, len_byte) = (b[0], b[1] as usize);
    let (len, hdr) = if len_byte < 0x80 {
        (len_byte, 2)
    } else {
        let n = len_byte & 0x7f;
        (b[2..2 + n].iter().fold(0usize, |acc, x| (acc << 8) | *x as usize), 2 + n)
    };
    (tag, &b[..hdr + len], &b[hdr..hdr + len], &b[hdr + len..])
}

/// The subject Name (DER) of an X.509 certificate.
fn cert_subject(cert: &[u8]) -> Vec<u8> {
    let (_, _, c, _) = tlv(cert);
    let (_, _, tbs, _) = tlv(c);
    let mut rest = tbs;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (tag, whole, _, r) = tlv(rest);
        fields.push((tag, whole));
        rest = r;
    }
    // [0] version, serial, signature, issuer, validity, subject, ...
    let offset = usize::from(fields[0].0 == 0xa0);
    fields[4 + offset].1.to_vec()
}

#[test]
fn teehsm_csr_makes_a_request_openssl_verifies_and_the_issued_certificate_imports() {
    let ca = start_ca_dev_token();
    let work = TempDir::new("csr-e2e");
    let dir = work.path();
    let user_pin = write(dir, "user.pin", &[USER_PIN, b"\n"].concat());
    let mut c = connect(&ca.socket);
    let s = user_session(&mut c);
    let (_, private) = gen_pair(&mut c, &p256_pair(s, "csr-key", true)).expect("P-256 pair");

    let csr = dir.join("req.pem");
    ok(
        "teehsm",
        &[
            &"csr",
            &"--socket",
            &ca.socket,
            &"--pin-file",
            &user_pin,
            &"--label",
            &"csr-key",
            &"--subject",
            &"CN=e2e.example,O=teehsm",
            &"--out",
            &csr,
        ],
    );
    let out = ok("openssl", &[&"req", &"-in", &csr, &"-verify", &"-noout", &"-subject"]);
    assert!(out.contains("verify OK") && out.contains("CN = e2e.example"), "{out}");
    // A label no key has: a clear error.
    let o = run(
        "teehsm",
        &[&"csr", &"--socket", &ca.socket, &"--pin-file", &user_pin, &"--label", &"nope", &"--subject", &"CN=x", &"--out", &dir.join("x.pem")],
    );
    assert!(!o.status.success() && text(&o).contains("no private key labelled"), "{}", text(&o));

    // Issue it with a throw-away CA, then import the certificate next to the key.
    let ca_key = dir.join("ca.key");
    let ca_cert = dir.join("ca.pem");
    ok(
        "openssl",
        &[
            &"req",
            &"-x509",
            &"-newkey",
            &"ec",
            &"-pkeyopt",
            &"ec_paramgen_curve:P-256",
            &"-nodes",
            &"-keyout",
            &ca_key,
            &"-out",
            &ca_cert,
            &"-subj",
            &"/CN=test CA",
            &"-days",
            &"1",
        ],
    );
    let cert = dir.join("cert.der");
    ok(
        "openssl",
        &[
            &"x509",
            &"-req",
            &"-in",
            &csr,
            &"-CA",
            &ca_cert,
            &"-CAkey",
            &ca_key,
            &"-CAcreateserial",
            &"-days",
            &"1",
            &"-outform",
            &"DER",
            &"-out",
            &cert,
        ],
    );
    let der = std::fs::read(&cert).unwrap();
    let id = match c.call(&Request::GetAttributeValue { session: s, object: private, types: vec![CKA_ID] }).unwrap() {
        Reply::Attributes(v) => v[0].value.clone(),
        r => panic!("unexpected {r:?}"),
    };
    let template = vec![
        Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
        Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::new(CKA_LABEL, b"csr-key".to_vec()),
        Attribute::new(CKA_ID, id),
        Attribute::new(CKA_SUBJECT, cert_subject(&der)),
        Attribute::new(CKA_VALUE, der.clone()),
    ];
    let h = match c.call(&Request::CreateObject { session: s, template }).expect("C_CreateObject of the issued certificate") {
        Reply::Handle(h) => h,
        r => panic!("unexpected {r:?}"),
    };
    assert_eq!(attr(&mut c, s, h, CKA_VALUE), der);
}
