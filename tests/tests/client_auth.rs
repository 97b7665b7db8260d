//! Issue 4, client identity end to end: `teehsm client add/acl/list/remove`
//! against a real CA service and its TA (plain and over the attested
//! channel), then requests through the untrusted CA: an honest client's
//! authenticated sign works; what a CA can make without the secret (a
//! forged MAC, a replay, a tampered inner request) is refused by the TA.

use aws_lc_rs::hmac;
use std::path::Path;
use std::process::{Command, Output};
use teehsm_tests::*;
use teehsm_wire::client::CallError;
use teehsm_wire::*;

fn teehsm(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(bin("teehsm"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap_or_else(|e| panic!("running teehsm: {e}"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn authorized(secret: &[u8], id: &str, ts: u64, nonce: [u8; CLIENT_NONCE_LEN], inner: Request) -> Request {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &client_auth_message(id, ts, &nonce, &inner));
    let mac: [u8; CLIENT_MAC_LEN] = tag.as_ref().try_into().unwrap();
    Request::Authorized { client_id: id.into(), timestamp_ms: ts, nonce, mac, request: Box::new(inner) }
}

fn fresh_nonce() -> [u8; CLIENT_NONCE_LEN] {
    let mut n = [0u8; CLIENT_NONCE_LEN];
    aws_lc_rs::rand::fill(&mut n).unwrap();
    n
}

fn status(r: Result<Reply, CallError>) -> Rv {
    match r {
        Ok(_) => Rv::OK,
        Err(CallError::Status { rv, .. }) => rv,
        Err(e) => panic!("call failed: {e}"),
    }
}

fn sign(s: u64, key: u64, data: &[u8]) -> Request {
    Request::Sign { session: s, mechanism: Mechanism::new(ck::CKM_ECDSA_SHA256), key, data: data.to_vec() }
}

fn add(ca: &CaProcess, pin: &Path, id: &str, acl: &[&str], extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<u8> {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"client", &"add", &id, &"--socket", &ca.socket, &"--so-pin-file", &pin];
    for a in acl {
        args.push(&"--acl");
        args.push(a);
    }
    args.extend_from_slice(extra);
    let o = teehsm(&args);
    assert!(o.status.success(), "client add failed:\n{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let secret = hex::decode(out.trim()).expect("client add prints the secret in hex");
    assert_eq!(secret.len(), CLIENT_SECRET_LEN);
    secret
}

fn list(ca: &CaProcess, pin: &Path) -> String {
    let o = teehsm(&[&"client", &"list", &"--socket", &ca.socket, &"--so-pin-file", &pin]);
    assert!(o.status.success(), "client list failed:\n{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn teehsm_client_cli_and_authenticated_requests_through_the_ca() {
    let ca = start_ca_dev_token();
    let work = TempDir::new("client-cli");
    let dir = work.path();
    let pin = dir.join("so.pin");
    std::fs::write(&pin, [SO_PIN, b"\n"].concat()).unwrap();

    // Plain registration (warns that the CA sees the secret).
    let secret = add(&ca, &pin, "svc-a", &["pay/:sign", ":get_public"], &[]);
    let listed = list(&ca, &pin);
    assert!(listed.contains("svc-a  pay/:sign  :get_public"), "{listed}");
    assert!(!listed.contains(&hex::encode(&secret)), "list must not show the secret");

    // Registration over the attested channel.
    let platform_dir = ca.state_dir.join("platform");
    let anchor = dir.join("anchor.pem");
    std::fs::write(&anchor, sim_report_key(&platform_dir, "pem")).unwrap();
    let measurement = match connect(&ca.socket).call(&Request::GetTaInfo).expect("GetTaInfo") {
        Reply::TaInfo(i) => hex::encode(i.measurement),
        r => panic!("unexpected {r:?}"),
    };
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, format!("allowed_measurements = [\"{measurement}\"]\nallow_simulation = true\n")).unwrap();
    let secret_b = add(&ca, &pin, "svc-b", &["hr/:sign,verify"], &[&"--channel", &"--policy", &policy, &"--trust-anchor", &anchor]);
    assert_ne!(secret, secret_b);
    let listed = list(&ca, &pin);
    assert!(listed.contains("svc-a") && listed.contains("svc-b  hr/:sign,verify"), "{listed}");

    // Bad input: unknown operation, bad id, wrong SO PIN.
    let o = teehsm(&[&"client", &"add", &"svc-c", &"--acl", &"x:fly", &"--socket", &ca.socket, &"--so-pin-file", &pin]);
    assert!(!o.status.success() && text(&o).contains("unknown operation"), "{}", text(&o));
    let o = teehsm(&[&"client", &"add", &"bad id", &"--socket", &ca.socket, &"--so-pin-file", &pin]);
    assert!(!o.status.success(), "{}", text(&o));
    let wrong = dir.join("wrong.pin");
    std::fs::write(&wrong, "99999999").unwrap();
    let o = teehsm(&[&"client", &"list", &"--socket", &ca.socket, &"--so-pin-file", &wrong]);
    assert!(!o.status.success(), "{}", text(&o));

    // Through the CA: an honest client signs; forged, replayed and tampered requests are refused by the TA.
    let mut c = connect(&ca.socket);
    let s = user_session(&mut c);
    let (_, pay) = gen_pair(&mut c, &p256_pair(s, "pay/k1", true)).expect("pay key");
    let (_, hr) = gen_pair(&mut c, &p256_pair(s, "hr/k1", true)).expect("hr key");
    let ok = authorized(&secret, "svc-a", now_ms(), fresh_nonce(), sign(s, pay, b"pay 100"));
    assert_eq!(status(c.call(&ok)), Rv::OK);
    assert_eq!(status(c.call(&ok)), Rv::TEEHSM_CLIENT_REPLAY);
    assert_eq!(status(c.call(&authorized(&[0u8; 32], "svc-a", now_ms(), fresh_nonce(), sign(s, pay, b"x")))), Rv::TEEHSM_CLIENT_AUTH_FAILED);
    if let Request::Authorized { client_id, timestamp_ms, nonce, mac, .. } =
        authorized(&secret, "svc-a", now_ms(), fresh_nonce(), sign(s, pay, b"pay 100"))
    {
        let tampered = Request::Authorized { client_id, timestamp_ms, nonce, mac, request: Box::new(sign(s, pay, b"pay 1000000")) };
        assert_eq!(status(c.call(&tampered)), Rv::TEEHSM_CLIENT_AUTH_FAILED);
    }
    assert_eq!(status(c.call(&authorized(&secret, "svc-a", now_ms(), fresh_nonce(), sign(s, hr, b"x")))), Rv::KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(status(c.call(&authorized(&secret_b, "svc-b", now_ms(), fresh_nonce(), sign(s, hr, b"x")))), Rv::OK);

    // ACL change and removal through the CLI take effect at once.
    let o = teehsm(&[&"client", &"acl", &"svc-a", &"--acl", &"hr/:sign", &"--socket", &ca.socket, &"--so-pin-file", &pin]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(status(c.call(&authorized(&secret, "svc-a", now_ms(), fresh_nonce(), sign(s, hr, b"x")))), Rv::OK);
    assert_eq!(status(c.call(&authorized(&secret, "svc-a", now_ms(), fresh_nonce(), sign(s, pay, b"x")))), Rv::KEY_FUNCTION_NOT_PERMITTED);
    let o = teehsm(&[&"client", &"remove", &"svc-a", &"--socket", &ca.socket, &"--so-pin-file", &pin]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = list(&ca, &pin);
    assert!(!listed.contains("svc-a") && listed.contains("svc-b"), "{listed}");
    assert_eq!(status(c.call(&authorized(&secret, "svc-a", now_ms(), fresh_nonce(), sign(s, hr, b"x")))), Rv::USER_NOT_LOGGED_IN);
}
