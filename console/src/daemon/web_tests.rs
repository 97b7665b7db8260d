//! Login and roles over a real socket: every protected route refuses
//! callers without a session (401) and callers whose role is too low (403
//! naming the role), and serves the others.

use super::routes::ROUTES;
use super::session::role_allows;
use super::testkit::{self, wait_line};
use super::*;
use crate::store::{Role, User};
use serde_json::Value;

async fn call(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (status, head, body) = testkit::exchange(&mut s, addr, method, path, headers, body).await.unwrap();
    (status, head, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "no-such-host").replace("{fingerprint}", "no-such-alert").replace("{name}", "no-such-user")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_the_session_and_the_role() {
    let d = tempfile::tempdir().unwrap();
    let cfg = testkit::config(d.path());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(cfg, async {
        let _ = stopped.await;
    }));
    let addr = wait_line(&d.path().join("http.addr")).await;
    {
        let store = Store::open(d.path().join("console.db"), now_ms()).unwrap();
        for (name, role) in [("ada", Role::Admin), ("otto", Role::Operator), ("aud", Role::Auditor)] {
            let password_hash = password::hash_password(&format!("{name} password long")).unwrap();
            store.add_user(&User { name: name.into(), role, password_hash }).unwrap();
        }
    }

    // No session: 401 on every protected route, even from loopback.
    for r in ROUTES.iter().filter(|r| r.need.is_some()) {
        let (status, _, body) = call(&addr, r.method, &concrete(r.path), &[], "").await;
        assert_eq!(status, 401, "{} {}: {body}", r.method, r.path);
    }
    let (status, _, _) = call(&addr, "GET", "/api/rollouts", &[], "").await;
    assert_eq!(status, 401);

    for (name, role) in [("aud", Role::Auditor), ("otto", Role::Operator), ("ada", Role::Admin)] {
        let login = serde_json::json!({ "name": name, "password": format!("{name} password long"), "bearer": true }).to_string();
        let (status, _, v) = call(&addr, "POST", "/api/login", &[], &login).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["role"], role.as_str());
        let auth = format!("Bearer {}", v["token"].as_str().unwrap());
        let h = [("Authorization", auth.as_str())];
        for r in ROUTES.iter().filter(|r| r.need.is_some() && r.path != "/api/logout") {
            let need = r.need.unwrap();
            let (status, _, body) = call(&addr, r.method, &concrete(r.path), &h, "").await;
            if role_allows(role, need) {
                assert!(status != 401 && status != 403, "{name}: {} {} gave {status}: {body}", r.method, r.path);
            } else {
                assert_eq!(status, 403, "{name}: {} {}: {body}", r.method, r.path);
                assert_eq!(body["required_role"], need.as_str());
            }
        }
        // Rollouts: any role reads, operators start.
        let (status, _, _) = call(&addr, "GET", "/api/rollouts", &h, "").await;
        assert_eq!(status, 200);
        let (status, _, body) = call(&addr, "POST", "/api/rollouts", &h, "{}").await;
        if role == Role::Auditor {
            assert_eq!(status, 403, "{body}");
        } else {
            assert_eq!(status, 400, "operators get past the role check to the validation: {body}");
        }
        let (status, _, _) = call(&addr, "POST", "/api/logout", &h, "").await;
        assert_eq!(status, 200);
        let (status, _, _) = call(&addr, "GET", "/api/me", &h, "").await;
        assert_eq!(status, 401, "the token ends with the logout");
    }

    // Every operation of the OpenAPI document is served (no router 404/405),
    // including the rollout and package routes of the jobs API.
    let login = serde_json::json!({ "name": "ada", "password": "ada password long", "bearer": true }).to_string();
    let (_, _, v) = call(&addr, "POST", "/api/login", &[], &login).await;
    let auth = format!("Bearer {}", v["token"].as_str().unwrap());
    let doc: Value = serde_json::from_str(super::routes::OPENAPI).unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            if path == "/api/logout" {
                continue;
            }
            let (status, _, body) = call(&addr, &m, &concrete(path), &[("Authorization", auth.as_str())], "").await;
            let err = body["error"].as_str().unwrap_or("");
            let unrouted = status == 405 || (status == 404 && (err == "not found" || err.starts_with("not found;")));
            assert!(!unrouted, "{m} {path} is documented but not served: {status} {body}");
        }
    }

    // Admins manage users; the new user logs in with a cookie.
    let login = serde_json::json!({ "name": "ada", "password": "ada password long" }).to_string();
    let (_, head, _) = call(&addr, "POST", "/api/login", &[], &login).await;
    let cookie = head.lines().find_map(|l| l.strip_prefix("Set-Cookie: ")).unwrap().split(';').next().unwrap().to_owned();
    let h = [("Cookie", cookie.as_str())];
    assert!(!head.contains("; Secure"), "plain HTTP: no Secure flag: {head}");
    let (_, proxied, _) = call(&addr, "POST", "/api/login", &[("X-Forwarded-Proto", "https")], &login).await;
    assert!(proxied.lines().any(|l| l.starts_with("Set-Cookie: teehsm_session=") && l.ends_with("; Secure")), "{proxied}");
    let (status, _, v) = call(&addr, "POST", "/api/users", &h, r#"{"name":"bea","role":"operator","password":"short"}"#).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("at least 12"), "{v}");
    let (status, _, _) = call(&addr, "POST", "/api/users", &h, r#"{"name":"bea","role":"operator","password":"bea's long password"}"#).await;
    assert_eq!(status, 201);
    let (status, _, _) = call(&addr, "POST", "/api/users", &h, r#"{"name":"bea","role":"operator","password":"bea's long password"}"#).await;
    assert_eq!(status, 409);
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], r#"{"name":"bea","password":"bea's long password"}"#).await;
    assert_eq!((status, v["role"].as_str()), (200, Some("operator")));
    let (status, _, _) = call(&addr, "DELETE", "/api/users/ada", &h, "").await;
    assert_eq!(status, 400, "no deleting yourself");
    let (status, _, _) = call(&addr, "DELETE", "/api/users/bea", &h, "").await;
    assert_eq!(status, 200);

    // Everything above is in the audit log.
    let (_, _, v) = call(&addr, "GET", "/api/audit?limit=1000", &h, "").await;
    let actions: Vec<&str> = v["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["login", "logout", "enrollment_token_create", "user_add", "user_delete"] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    // ... and chained with the console's audit key, which only its owner may read.
    let (status, _, v) = call(&addr, "GET", "/api/audit/verify", &h, "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["check"]["unprotected"], 0);
    assert!(v["check"]["entries"].as_u64().is_some_and(|n| n as usize == actions.len()), "{v}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.path().join(crate::store::AUDIT_KEY_FILE)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Static UI is public; unknown paths and methods are told apart.
    assert_eq!(call(&addr, "GET", "/", &[], "").await.0, 200);
    assert_eq!(call(&addr, "GET", "/api/nothing", &h, "").await.0, 404);
    let (status, head, _) = call(&addr, "PUT", "/api/users", &h, "").await;
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, POST"), "{head}");

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_the_licence_status() {
    use crate::licence::vendor::{sign_terms, vendor_public_key, LicenceTerms};
    use crate::licence::VerifiedLicence;
    use aws_lc_rs::signature::Ed25519KeyPair;
    let key = Ed25519KeyPair::generate().unwrap();
    let now = now_ms();
    let terms = LicenceTerms {
        licence_id: "LIC-7".into(),
        customer: "Example Bank".into(),
        max_hosts: 5,
        not_before_ms: now - 1000,
        expires_ms: now + 10 * 86_400_000,
        features: vec!["fleet".into()],
    };
    let file = sign_terms(&terms, &key).unwrap();
    let licence = VerifiedLicence::verify(file.as_bytes(), &[vendor_public_key(&key).unwrap()]).unwrap();
    let d = tempfile::tempdir().unwrap();
    let cfg = |licence: Option<VerifiedLicence>, vendor_keys| Config { licence, vendor_keys, ..testkit::config(d.path()) };
    let keys = vec![vendor_public_key(&key).unwrap()];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(cfg(Some(licence.clone()), keys.clone()), async {
        let _ = stopped.await;
    }));
    let addr = wait_line(&d.path().join("http.addr")).await;
    {
        let store = Store::open(d.path().join("console.db"), now_ms()).unwrap();
        let password_hash = password::hash_password("auditor password").unwrap();
        store.add_user(&User { name: "aud".into(), role: Role::Auditor, password_hash }).unwrap();
        let password_hash = password::hash_password("the admin's password").unwrap();
        store.add_user(&User { name: "adm".into(), role: Role::Admin, password_hash }).unwrap();
    }
    let (_, _, v) = call(&addr, "POST", "/api/login", &[], r#"{"name":"aud","password":"auditor password","bearer":true}"#).await;
    let auth = format!("Bearer {}", v["token"].as_str().unwrap());
    let (status, _, v) = call(&addr, "GET", "/api/licence", &[("Authorization", auth.as_str())], "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["installed"], true);
    assert_eq!(v["licence"]["licence_id"], "LIC-7");
    assert_eq!(v["licence"]["max_hosts"], 5);
    assert_eq!(v["hosts"], 0);
    assert_eq!(v["status"]["status"], "expires_soon");
    assert!(v["message"].as_str().unwrap().contains("expires in 10 days"), "{v}");

    // A renewal installed through the API by an admin: in force at once.
    let renewal = LicenceTerms { licence_id: "LIC-8".into(), max_hosts: 9, expires_ms: now + 400 * 86_400_000, ..terms.clone() };
    let renewal_file = sign_terms(&renewal, &key).unwrap();
    let (status, _, v) = call(&addr, "PUT", "/api/licence", &[("Authorization", auth.as_str())], &renewal_file).await;
    assert_eq!(status, 403, "an auditor cannot install a licence: {v}");
    let (_, _, v) = call(&addr, "POST", "/api/login", &[], r#"{"name":"adm","password":"the admin's password","bearer":true}"#).await;
    let admin = format!("Bearer {}", v["token"].as_str().unwrap());
    let admin_h = [("Authorization", admin.as_str())];
    let other = Ed25519KeyPair::generate().unwrap();
    let (status, _, v) = call(&addr, "PUT", "/api/licence", &admin_h, &sign_terms(&renewal, &other).unwrap()).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("not installed"), "{v}");
    let (status, _, v) = call(&addr, "PUT", "/api/licence", &admin_h, "licence_id = \"x\"\n").await;
    assert_eq!(status, 400, "{v}");
    let (status, _, v) = call(&addr, "PUT", "/api/licence", &admin_h, &renewal_file).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["licence"]["licence_id"].as_str(), v["licence"]["max_hosts"].as_u64()), (Some("LIC-8"), Some(9)), "{v}");
    assert_eq!(v["status"]["status"], "valid", "{v}");
    let (_, _, audit) = call(&addr, "GET", "/api/audit", &admin_h, "").await;
    assert!(
        audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "licence_install" && e["details"]["licence_id"] == "LIC-8"),
        "{audit}"
    );
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();

    // Restarted with the old --licence: the installed renewal runs longer and stays in force.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(cfg(Some(licence), keys), async {
        let _ = stopped.await;
    }));
    let _ = std::fs::remove_file(d.path().join("http.addr"));
    let addr = wait_line(&d.path().join("http.addr")).await;
    let (_, _, v) = call(&addr, "POST", "/api/login", &[], r#"{"name":"adm","password":"the admin's password","bearer":true}"#).await;
    let admin = format!("Bearer {}", v["token"].as_str().unwrap());
    let (_, _, v) = call(&addr, "GET", "/api/licence", &[("Authorization", admin.as_str())], "").await;
    assert_eq!(v["licence"]["licence_id"], "LIC-8", "{v}");
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();

    // Without a vendor key nothing can be installed, and the stored licence is not used.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(cfg(None, vec![]), async {
        let _ = stopped.await;
    }));
    let _ = std::fs::remove_file(d.path().join("http.addr"));
    let addr = wait_line(&d.path().join("http.addr")).await;
    let (_, _, v) = call(&addr, "POST", "/api/login", &[], r#"{"name":"adm","password":"the admin's password","bearer":true}"#).await;
    let admin = format!("Bearer {}", v["token"].as_str().unwrap());
    let (status, _, v) = call(&addr, "PUT", "/api/licence", &[("Authorization", admin.as_str())], &renewal_file).await;
    assert_eq!(status, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--vendor-key"), "{v}");
    let (_, _, v) = call(&addr, "GET", "/api/licence", &[("Authorization", admin.as_str())], "").await;
    assert_eq!(v["installed"], false, "{v}");
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_is_set_up_used_once_per_code_and_reset_by_an_admin() {
    use crate::totp::{Secret, STEP_SECS};
    let d = tempfile::tempdir().unwrap();
    let console = testkit::start(testkit::config(d.path())).await;
    let addr = console.http.clone();
    {
        let store = Store::open(d.path().join("console.db"), now_ms()).unwrap();
        for (name, role) in [("tom", Role::Operator), ("ada", Role::Admin)] {
            let password_hash = password::hash_password(&format!("{name} password long")).unwrap();
            store.add_user(&User { name: name.into(), role, password_hash }).unwrap();
        }
    }
    let login = |name: &str, code: Option<String>| {
        let mut body = serde_json::json!({ "name": name, "password": format!("{name} password long"), "bearer": true });
        if let Some(c) = code {
            body["totp"] = serde_json::json!(c);
        }
        body.to_string()
    };
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], &login("tom", None)).await;
    assert_eq!(status, 200, "{v}");
    let auth = format!("Bearer {}", v["token"].as_str().unwrap());
    let h = [("Authorization", auth.as_str())];

    // Set up: a secret, a wrong code (still pending), the right one.
    let (status, _, v) = call(&addr, "POST", "/api/me/totp", &h, "").await;
    assert_eq!(status, 200, "{v}");
    assert!(v["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/teehsm%20console:tom?secret="), "{v}");
    let secret = Secret::from_base32(v["secret"].as_str().unwrap()).unwrap();
    let step = now_ms() / 1000 / STEP_SECS;
    let code = |step: u64| format!("{:06}", secret.code_at(step));
    let wrong = format!("{:06}", (secret.code_at(step) + 1) % 1_000_000);
    let (status, _, v) = call(&addr, "POST", "/api/me/totp/confirm", &h, &serde_json::json!({ "code": wrong }).to_string()).await;
    assert_eq!(status, 400, "{v}");
    let (status, _, v) = call(&addr, "POST", "/api/me/totp/confirm", &h, &serde_json::json!({ "code": code(step) }).to_string()).await;
    assert_eq!(status, 200, "{v}");
    let (_, _, v) = call(&addr, "GET", "/api/me", &h, "").await;
    assert_eq!(v["totp"], true);
    let (status, _, _) = call(&addr, "POST", "/api/me/totp", &h, "").await;
    assert_eq!(status, 409, "one second factor at a time");

    // Log in: the code is asked for, checked, and good once.
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], &login("tom", None)).await;
    assert_eq!((status, &v["totp_required"]), (401, &serde_json::json!(true)), "{v}");
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], &login("tom", Some(wrong.clone()))).await;
    assert_eq!(status, 401, "{v}");
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], &login("tom", Some(code(step)))).await;
    assert_eq!(status, 401, "the code that confirmed the setup was used: {v}");
    assert!(v["error"].as_str().unwrap().contains("used already"), "{v}");
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], &login("tom", Some(code(step + 1)))).await;
    assert_eq!(status, 200, "the next code (one step of skew allowed): {v}");
    let (status, _, _) = call(&addr, "POST", "/api/login", &[], &login("tom", Some(code(step + 1)))).await;
    assert_eq!(status, 401, "replayed");

    // The secret is sealed in the store, not readable there.
    {
        let store = Store::open(d.path().join("console.db"), now_ms()).unwrap();
        let sealed = store.user_totp("tom").unwrap().unwrap();
        assert!(!sealed.contains(&hex::encode(secret.base32().as_bytes())) && sealed.len() > 40);
    }

    // An admin removes it; the password alone works again.
    let (_, _, v) = call(&addr, "POST", "/api/login", &[], &login("ada", None)).await;
    let admin = format!("Bearer {}", v["token"].as_str().unwrap());
    let (status, _, _) = call(&addr, "DELETE", "/api/users/tom/totp", &h, "").await;
    assert_eq!(status, 403, "an operator cannot");
    let (status, _, v) = call(&addr, "DELETE", "/api/users/tom/totp", &[("Authorization", admin.as_str())], "").await;
    assert_eq!(status, 200, "{v}");
    let (status, _, _) = call(&addr, "DELETE", "/api/users/tom/totp", &[("Authorization", admin.as_str())], "").await;
    assert_eq!(status, 409);
    let (status, _, _) = call(&addr, "POST", "/api/login", &[], &login("tom", None)).await;
    assert_eq!(status, 200);
    let (_, _, v) = call(&addr, "GET", "/api/audit?limit=1000", &[("Authorization", admin.as_str())], "").await;
    let actions: Vec<&str> = v["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["totp_enable", "totp_reset", "login_failed"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_second_factor_must_be_set_up_before_anything_else() {
    use super::totp_api::SecondFactorPolicy;
    use crate::totp::{Secret, STEP_SECS};
    let d = tempfile::tempdir().unwrap();
    let console = testkit::start(Config { require_second_factor: SecondFactorPolicy::Admins, ..testkit::config(d.path()) }).await;
    let addr = console.http.clone();
    {
        let store = Store::open(d.path().join("console.db"), now_ms()).unwrap();
        for (name, role) in [("otto", Role::Operator), ("ada", Role::Admin)] {
            let password_hash = password::hash_password(&format!("{name} password long")).unwrap();
            store.add_user(&User { name: name.into(), role, password_hash }).unwrap();
        }
    }
    let bearer = |name: &'static str| {
        let addr = addr.clone();
        async move {
            let body = serde_json::json!({ "name": name, "password": format!("{name} password long"), "bearer": true }).to_string();
            let (status, _, v) = call(&addr, "POST", "/api/login", &[], &body).await;
            assert_eq!(status, 200, "the password alone logs in: {v}");
            format!("Bearer {}", v["token"].as_str().unwrap())
        }
    };

    // An operator is not covered by "admins".
    let otto = bearer("otto").await;
    let (status, _, v) = call(&addr, "GET", "/api/me", &[("Authorization", otto.as_str())], "").await;
    assert_eq!((status, &v["second_factor_required"], &v["second_factor_setup_required"]), (200, &Value::Bool(false), &Value::Bool(false)), "{v}");
    assert_eq!(call(&addr, "GET", "/api/hosts", &[("Authorization", otto.as_str())], "").await.0, 200);

    // An admin without one reaches only the set-up routes.
    let ada = bearer("ada").await;
    let h = [("Authorization", ada.as_str())];
    let (_, _, v) = call(&addr, "GET", "/api/me", &h, "").await;
    assert_eq!((&v["second_factor_required"], &v["second_factor_setup_required"]), (&Value::Bool(true), &Value::Bool(true)), "{v}");
    for (method, path, body) in [
        ("GET", "/api/hosts", ""),
        ("GET", "/api/users", ""),
        ("POST", "/api/users", r#"{"name":"eve","role":"admin","password":"eve password long"}"#),
        ("POST", "/api/enrollment-tokens", ""),
        ("GET", "/api/rollouts", ""),
        ("DELETE", "/api/users/otto/totp", ""),
    ] {
        let (status, _, v) = call(&addr, method, path, &h, body).await;
        assert_eq!(status, 403, "{method} {path}: {v}");
        assert_eq!(v["second_factor_setup_required"], true, "{method} {path}: {v}");
        assert!(v["error"].as_str().unwrap().contains("--require-second-factor admins"), "{v}");
    }
    let (status, _, v) = call(&addr, "POST", "/api/me/totp", &h, "").await;
    assert_eq!(status, 200, "{v}");
    let secret = Secret::from_base32(v["secret"].as_str().unwrap()).unwrap();
    let code = format!("{:06}", secret.code_at(now_ms() / 1000 / STEP_SECS));
    let (status, _, v) = call(&addr, "POST", "/api/me/totp/confirm", &h, &serde_json::json!({ "code": code }).to_string()).await;
    assert_eq!(status, 200, "{v}");
    // Set up: the same session now reaches everything its role allows.
    let (_, _, v) = call(&addr, "GET", "/api/me", &h, "").await;
    assert_eq!((&v["totp"], &v["second_factor_setup_required"]), (&Value::Bool(true), &Value::Bool(false)), "{v}");
    assert_eq!(call(&addr, "GET", "/api/users", &h, "").await.0, 200);
    assert_eq!(call(&addr, "POST", "/api/enrollment-tokens", &h, "").await.0, 201);
    // The users gauge: one admin with a factor, one operator without.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (_, _, metrics) = testkit::exchange(&mut s, &addr, "GET", "/metrics", &[], "").await.unwrap();
    for line in [
        "teehsm_console_users{role=\"admin\",second_factor=\"on\"} 1",
        "teehsm_console_users{role=\"admin\",second_factor=\"off\"} 0",
        "teehsm_console_users{role=\"operator\",second_factor=\"off\"} 1",
        "teehsm_console_users{role=\"auditor\",second_factor=\"off\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // And the next login needs the code.
    let body = serde_json::json!({ "name": "ada", "password": "ada password long", "bearer": true }).to_string();
    let (status, _, v) = call(&addr, "POST", "/api/login", &[], &body).await;
    assert_eq!((status, &v["totp_required"]), (401, &Value::Bool(true)), "{v}");
    // Logging out works while held, too.
    let held = bearer("otto").await;
    assert_eq!(call(&addr, "POST", "/api/logout", &[("Authorization", held.as_str())], "").await.0, 200);
    console.stop().await;
}
