//! The console's web UI in a real headless Chromium (issue 6): a console
//! and 3 real hosts; keys past the threshold on host 1 fire the key-count
//! alert; a user logs in through the form and sees the 3 hosts, the alert
//! and the key-count gauges; the host page shows the dial gauge and the
//! CPU/memory charts; acknowledging works from the page. Screenshots go to
//! target/test-artifacts/fleet-ui.png and fleet-host.png.
//!
//! Also checks login and roles over HTTP against the real process, and in
//! further tests the console on HTTPS with an operator's certificate, a
//! required second factor set up at the first login, and a token policy
//! pushed from the Host page.
//! Needs the binaries (`cargo build --bins`) and Chromium (`/usr/bin/chromium`
//! or $CHROMIUM; scripts/install-deps.sh installs it). Without Chromium the
//! test is skipped, except under CI=true where it fails.

#[path = "../browser/cdp.rs"]
mod cdp;

use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use teehsm_tests::fleet::{Fleet, FleetOptions};
use teehsm_tests::*;

const OPERATOR: &str = "alice";
const OPERATOR_PASSWORD: &str = "correct horse battery staple";
const AUDITOR: &str = "audrey";
const AUDITOR_PASSWORD: &str = "auditors read everything";
/// Created by `serve --admin-password-file` on the first start.
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "the admin's long password";

/// An HTTP request with extra headers; returns (status, headers, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the console");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A request as a browser page would send it (fetch metadata, no session).
const BROWSER: (&str, &str) = ("Sec-Fetch-Site", "same-origin");

fn add_user(fleet: &Fleet, name: &str, role: &str, password: &str) {
    let pw = fleet.dir.path().join(format!("{name}.pw"));
    std::fs::write(&pw, format!("{password}\n")).expect("password file");
    let out = std::process::Command::new(bin("teehsm-console"))
        .args(["user", "add", "--data-dir"])
        .arg(&fleet.console_data)
        .args(["--name", name, "--role", role, "--password-file"])
        .arg(&pw)
        .output()
        .expect("run teehsm-console user add");
    assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
}

fn bearer_login(addr: &str, name: &str, password: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": password, "bearer": true }).to_string();
    let (status, _, body) = http(addr, "POST", "/api/login", &[("Content-Type", "application/json")], &body);
    assert_eq!(status, 200, "login {name}: {body}");
    serde_json::from_str::<Value>(&body).expect("login JSON")["token"].as_str().expect("token").to_string()
}

/// Login, roles and throttling against the real console.
fn check_api_auth(fleet: &Fleet, fingerprint: &str) {
    let addr = fleet.http.as_str();
    // Public: the UI, health, the OpenAPI document.
    let (status, head, page) = http(addr, "GET", "/", &[BROWSER], "");
    assert_eq!(status, 200);
    assert!(page.contains("/app.js") && head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"), "{head}");
    let (status, _, doc) = http(addr, "GET", "/api/openapi.json", &[BROWSER], "");
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&doc).expect("OpenAPI JSON")["paths"]["/api/login"].is_object());
    // A browser without a session gets 401 even from loopback.
    let (status, _, body) = http(addr, "GET", "/api/hosts", &[BROWSER], "");
    assert_eq!(status, 401, "{body}");
    // A made-up session: 401.
    let (status, _, _) = http(addr, "GET", "/api/hosts", &[("Cookie", &format!("teehsm_session={}", "ab".repeat(32)))], "");
    assert_eq!(status, 401);
    // The auditor reads but may not acknowledge, create tokens or manage users.
    let auditor = bearer_login(addr, AUDITOR, AUDITOR_PASSWORD);
    let auth = format!("Bearer {auditor}");
    let (status, _, body) = http(addr, "GET", "/api/hosts", &[("Authorization", &auth)], "");
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = http(addr, "GET", "/api/audit", &[("Authorization", &auth)], "");
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = http(addr, "POST", &format!("/api/alerts/{fingerprint}/ack"), &[("Authorization", &auth)], "");
    assert_eq!(status, 403, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("JSON")["required_role"], "operator", "{body}");
    let (status, _, _) = http(addr, "POST", "/api/enrollment-tokens", &[("Authorization", &auth)], "");
    assert_eq!(status, 403);
    let (status, _, body) = http(addr, "GET", "/api/users", &[("Authorization", &auth)], "");
    assert_eq!(status, 403);
    assert!(body.contains("\"required_role\":\"admin\""), "{body}");
    let (status, _, body) = http(addr, "GET", "/api/me", &[("Authorization", &auth)], "");
    assert_eq!(status, 200);
    assert!(body.contains("\"role\":\"auditor\""), "{body}");
    // Logging out ends the token.
    let (status, _, _) = http(addr, "POST", "/api/logout", &[("Authorization", &auth)], "");
    assert_eq!(status, 200);
    let (status, _, _) = http(addr, "GET", "/api/me", &[("Authorization", &auth)], "");
    assert_eq!(status, 401);
    // Cookie login: HttpOnly, SameSite=Strict.
    let body = serde_json::json!({ "name": AUDITOR, "password": AUDITOR_PASSWORD }).to_string();
    let (status, head, _) = http(addr, "POST", "/api/login", &[], &body);
    assert_eq!(status, 200);
    let cookie_line = head.lines().find(|l| l.starts_with("Set-Cookie: teehsm_session=")).expect("session cookie");
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"), "{cookie_line}");
    // Cross-site POSTs are refused even with a valid cookie.
    let cookie = cookie_line.trim_start_matches("Set-Cookie: ").split(';').next().expect("cookie");
    let (status, _, _) = http(addr, "POST", "/api/logout", &[("Cookie", cookie), ("Sec-Fetch-Site", "cross-site")], "");
    assert_eq!(status, 403);
    // Wrong passwords: 401, then after 5 in a row the user is throttled (429).
    let wrong = serde_json::json!({ "name": AUDITOR, "password": "not the password" }).to_string();
    for _ in 0..5 {
        let (status, _, _) = http(addr, "POST", "/api/login", &[], &wrong);
        assert_eq!(status, 401);
    }
    let (status, head, body) = http(addr, "POST", "/api/login", &[], &wrong);
    assert_eq!(status, 429, "{body}");
    assert!(head.contains("Retry-After:"), "{head}");
    // Unknown users get the same answer as wrong passwords.
    let nobody = serde_json::json!({ "name": "nobody", "password": "whatever it is" }).to_string();
    let (status, _, body) = http(addr, "POST", "/api/login", &[], &nobody);
    assert_eq!((status, body.as_str()), (401, "{\"error\":\"wrong user name or password\"}"));
}

fn save(path: &Path, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "not a real screenshot ({} bytes)", png.len());
    std::fs::write(path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// Chromium, or `None` (the test is skipped) outside CI.
fn chromium_or_skip() -> Option<std::path::PathBuf> {
    let found = cdp::chromium_path();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Chromium is needed (apt-get install chromium, see scripts/install-deps.sh) and CI=true"
        );
        eprintln!("SKIPPED: no Chromium at $CHROMIUM or /usr/bin/chromium (run scripts/install-deps.sh)");
    }
    found
}

/// Fills in and sends the login form.
fn submit_login(b: &mut cdp::Browser, name: &str, password: &str) {
    b.type_into("#login-name", name);
    b.type_into("#login-password", password);
    b.click("#login-submit");
}

/// On the Account page: starts the set-up, reads the key shown, and types
/// the code an authenticator would show now; returns the secret and the
/// time step of that code.
fn set_up_second_factor(b: &mut cdp::Browser) -> (teehsm_console::totp::Secret, u64) {
    use teehsm_console::totp::{Secret, STEP_SECS};
    b.click("#totp-start");
    b.wait_for("!!document.getElementById('totp-secret')", Duration::from_secs(20), "the new secret");
    let shown = b.eval("document.getElementById('totp-secret').textContent.replace(/ /g, '')");
    let secret = Secret::from_base32(shown.as_str().expect("secret text")).expect("base32");
    let step = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() / STEP_SECS;
    b.type_into("#totp-code", &format!("{:06}", secret.code_at(step)));
    b.click("#totp-confirm button[type=submit]");
    (secret, step)
}

#[test]
fn log_in_and_see_hosts_alert_and_key_count_gauge() {
    let Some(chromium) = chromium_or_skip() else { return };
    let secrets = TempDir::new("fleet-browser-secrets");
    let admin_pw = secrets.path().join("admin.pw");
    std::fs::write(&admin_pw, format!("{ADMIN_PASSWORD}\n")).expect("admin password file");
    // The vendor key licences are checked with (one is installed from the Licence page below).
    let vendor = aws_lc_rs::signature::Ed25519KeyPair::generate().expect("vendor key");
    let vendor_hex = teehsm_console::licence::vendor::vendor_public_key(&vendor).expect("vendor public key").to_hex();
    let opts = FleetOptions {
        console_args: vec!["--admin-password-file".into(), admin_pw.display().to_string(), "--vendor-key".into(), vendor_hex],
        ..FleetOptions::default()
    };
    let fleet = Fleet::start("fleet-browser", opts);
    add_user(&fleet, OPERATOR, "operator", OPERATOR_PASSWORD);
    add_user(&fleet, AUDITOR, "auditor", AUDITOR_PASSWORD);

    // 8 token objects on host 1: 80 % of capacity 10 fires TokenNearlyFull.
    let mut c = connect(&fleet.hosts[0].ca.socket);
    let s = user_session(&mut c);
    for i in 0..4 {
        gen_pair(&mut c, &p256_pair(s, &format!("browser-{i}"), true)).expect("GenerateKeyPair");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let fingerprint = loop {
        let (_, body) = fleet.get("/api/alerts").expect("alerts");
        let v: Value = serde_json::from_str(&body).expect("alerts JSON");
        let found = v["alerts"].as_array().and_then(|a| {
            a.iter().find(|a| a["rule_id"] == "TokenNearlyFull" && a["host"] == "host-1").map(|a| a["fingerprint"].as_str().unwrap_or("").to_string())
        });
        if let Some(fp) = found {
            break fp;
        }
        assert!(Instant::now() < deadline, "no TokenNearlyFull alert for host-1: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };

    check_api_auth(&fleet, &fingerprint);

    // The browser.
    let artifacts = bin_dir().parent().expect("target dir").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let mut b = cdp::Browser::start(&chromium, &fleet.dir.path().join("chromium-profile"), 1440, 1000);
    let url = format!("http://{}/", fleet.http);
    b.navigate(&url);
    b.wait_for("!!document.getElementById('login-view') && !document.getElementById('login-view').hidden", Duration::from_secs(20), "the login form");
    // Through the form, as a user: type, click.
    submit_login(&mut b, OPERATOR, OPERATOR_PASSWORD);
    b.wait_for(
        "document.querySelectorAll('#hosts .host-row').length === 3 \
         && !!document.querySelector('.alert-row[data-rule=\"TokenNearlyFull\"][data-host=\"host-1\"]') \
         && !!document.querySelector('.gauge[data-host=\"host-1\"][data-slot]')",
        Duration::from_secs(30),
        "3 hosts, the TokenNearlyFull alert and a key-count gauge",
    );
    let seen = b.eval(
        "JSON.stringify({ \
           me: document.getElementById('me-name').textContent + ' ' + document.getElementById('me-role').textContent, \
           hosts: [...document.querySelectorAll('#hosts .host-row')].map(r => r.dataset.host), \
           status: [...document.querySelectorAll('#hosts .host-status')].map(e => e.textContent), \
           alert: document.querySelector('.alert-row[data-rule=\"TokenNearlyFull\"]').innerText, \
           gauge: Object.assign({}, document.querySelector('.gauge[data-host=\"host-1\"][data-slot]').dataset), \
           over: document.querySelector('.gauge[data-host=\"host-1\"][data-slot]').classList.contains('over'), \
           hostsStat: document.querySelector('#stat-hosts .value').textContent })",
    );
    let seen: Value = serde_json::from_str(seen.as_str().expect("DOM summary")).expect("DOM JSON");
    eprintln!("the page shows: {seen}");
    assert_eq!(seen["me"], "alice operator");
    assert_eq!(b.eval("document.querySelector('#nav a[data-page=\"users\"]').hidden"), Value::Bool(true), "operators see no Users page");
    assert_eq!(seen["hosts"], serde_json::json!(["host-1", "host-2", "host-3"]));
    // Reporting hosts (a loaded machine may delay a 500 ms heartbeat past
    // two intervals, which the page rightly shows as "silent").
    let statuses = seen["status"].as_array().expect("statuses");
    assert!(statuses.len() == 3 && statuses.iter().all(|s| s == "ok" || s == "silent"), "{seen}");
    assert_eq!(seen["hostsStat"], "3");
    assert!(seen["alert"].as_str().is_some_and(|t| t.contains("host-1") && t.contains("warning")), "{seen}");
    assert_eq!(seen["gauge"]["keys"], "8");
    assert_eq!(seen["gauge"]["capacity"], "10");
    assert_eq!(seen["gauge"]["threshold"], "80");
    assert_eq!(seen["over"], true, "the gauge is at its threshold");
    save(&artifacts.join("fleet-ui.png"), &b.screenshot());

    // An operator creates an enrollment token; it stays shown across the
    // page's refreshes until dismissed.
    b.click("#new-token");
    b.wait_for("!!document.getElementById('token-value')", Duration::from_secs(20), "the new enrollment token");
    b.eval("document.getElementById('page').firstChild.dataset.before = 'refresh'");
    b.wait_for("!document.getElementById('page').firstChild.dataset.before", Duration::from_secs(20), "a refresh of the overview");
    let token = b.eval("(document.getElementById('token-value') || {}).textContent");
    assert!(token.as_str().is_some_and(|t| t.starts_with("teehsm-enroll-")), "token after a refresh: {token}");
    b.click("#token-out button");
    b.wait_for("!document.getElementById('token-value')", Duration::from_secs(20), "the token box to close");

    // Host detail: the dial gauge, the TA table and the charts.
    b.click(".host-row[data-host=\"host-1\"]");
    b.wait_for(
        "document.getElementById('page').dataset.loaded === 'host' \
         && !!document.querySelector('.gauge.dial[data-host=\"host-1\"]') \
         && document.querySelectorAll('#chart-cpu polyline').length === 2 \
         && document.querySelectorAll('#chart-memory polyline').length === 2 \
         && document.querySelectorAll('#tas .ta-row').length >= 1",
        Duration::from_secs(20),
        "the host page with gauge and charts",
    );
    // The TA version as the agent reports it.
    let (_, host) = fleet.get("/api/hosts/host-1").expect("host");
    let reported = serde_json::from_str::<Value>(&host).expect("host JSON")["report"]["tas"][0]["version"].as_str().unwrap_or("").to_string();
    let shown = b.eval("document.querySelector('#tas .ta-row td:nth-child(2)').textContent");
    let want = if reported.is_empty() { "not reported" } else { reported.as_str() };
    assert_eq!(shown.as_str(), Some(want), "TA version column");
    save(&artifacts.join("fleet-host.png"), &b.screenshot());

    // The operator renews the agent's certificate from the page: the agent
    // rotates its key within a heartbeat or two and the page shows the new one.
    let fingerprint_of = |fleet: &Fleet| {
        let (_, body) = fleet.get("/api/hosts/host-1").expect("host");
        serde_json::from_str::<Value>(&body).expect("host JSON")["host"]["cert_fingerprint"].as_str().unwrap_or("").to_string()
    };
    let enrolled_fp = fingerprint_of(&fleet);
    assert!(b.eval("document.getElementById('cert-expiry').textContent").as_str().is_some_and(|t| t.contains("(in 89 days)")));
    b.click("#renew-cert");
    let deadline = Instant::now() + Duration::from_secs(20);
    let renewed_fp = loop {
        let fp = fingerprint_of(&fleet);
        if fp != enrolled_fp {
            break fp;
        }
        assert!(Instant::now() < deadline, "the agent did not renew its certificate");
        std::thread::sleep(Duration::from_millis(100));
    };
    b.wait_for(
        &format!(
            "document.getElementById('page').dataset.loaded === 'host' && document.body.textContent.includes('{renewed_fp}') \
             && !document.getElementById('cert-expiry').textContent.includes('renewal') && !!document.getElementById('renew-cert')"
        ),
        Duration::from_secs(20),
        "the renewed certificate on the host page",
    );

    // Acknowledge the alert from the page.
    b.click(&format!(".alert-row[data-fingerprint=\"{fingerprint}\"] button.ack"));
    b.wait_for(
        &format!(
            "(document.querySelector('.alert-row[data-fingerprint=\"{fingerprint}\"]') || {{innerText: ''}}).innerText.includes('acked by alice')"
        ),
        Duration::from_secs(20),
        "the acknowledgement",
    );
    let (_, alerts) = fleet.get("/api/alerts").expect("alerts");
    assert!(alerts.contains("\"acknowledged_by\":\"alice\""), "{alerts}");

    // The audit log page lists the login and the acknowledgement.
    b.navigate(&format!("{url}#/audit"));
    b.wait_for(
        "!!document.querySelector('.audit-row[data-action=\"alert_ack\"]') && !!document.querySelector('.audit-row[data-action=\"login\"]') \
         && !!document.querySelector('.audit-row[data-action=\"login_failed\"]')",
        Duration::from_secs(20),
        "the audit log with login, login_failed and alert_ack",
    );
    assert_eq!(b.eval("document.getElementById('audit-chain').dataset.ok"), Value::String("true".into()), "the page shows the verified chain");
    save(&artifacts.join("fleet-audit.png"), &b.screenshot());

    // A staged rollout (these agents manage no packages, so its jobs stay
    // queued): the rollouts page shows the waves, the waiting host and a
    // Cancel button; cancelling (the confirm dialog accepted) halts it.
    fleet.import_test_package("2.0.0");
    let (status, body) = fleet.post("/api/rollouts", r#"{"version":"2.0.0","waves":[["host-1"],["host-2"]]}"#).expect("POST /api/rollouts");
    assert_eq!(status, 201, "{body}");
    b.navigate(&format!("{url}#/rollouts"));
    b.wait_for(
        "!!document.querySelector('.rollout[data-status=\"running\"] .cancel-rollout') \
         && !!document.querySelector('.rollout .job-row[data-host=\"host-1\"][data-state=\"queued\"]') \
         && !!document.querySelector('.rollout .job-row.waiting[data-host=\"host-2\"][data-state=\"pending\"]')",
        Duration::from_secs(20),
        "the running staged rollout with its queued and pending hosts and a Cancel button",
    );
    save(&artifacts.join("fleet-rollouts.png"), &b.screenshot());
    // Paused between waves, then resumed, from the page.
    b.click(".rollout .pause-rollout");
    b.wait_for(
        "!!document.querySelector('.rollout[data-status=\"paused\"] .resume-rollout') && !document.querySelector('.pause-rollout') \
         && document.querySelector('.rollout').textContent.includes('paused by alice')",
        Duration::from_secs(20),
        "the paused rollout with a Resume button",
    );
    save(&artifacts.join("fleet-rollout-paused.png"), &b.screenshot());
    b.click(".rollout .resume-rollout");
    b.wait_for(
        "!!document.querySelector('.rollout[data-status=\"running\"] .pause-rollout') && !document.querySelector('.resume-rollout')",
        Duration::from_secs(20),
        "the resumed rollout",
    );
    b.eval("window.confirm = () => true");
    b.click(".rollout .cancel-rollout");
    b.wait_for(
        "!!document.querySelector('.rollout[data-status=\"halted\"]') && !document.querySelector('.cancel-rollout') \
         && !!document.querySelector('.rollout .job-row.waiting[data-host=\"host-2\"][data-state=\"skipped\"]')",
        Duration::from_secs(20),
        "the cancelled rollout, halted, host-2 skipped",
    );
    save(&artifacts.join("fleet-rollout-cancelled.png"), &b.screenshot());
    if std::env::var_os("FLEET_UI_ALL_PAGES").is_some() {
        for page in ["alerts", "rollouts", "licence"] {
            b.navigate(&format!("{url}#/{page}"));
            b.wait_for(&format!("document.getElementById('page').dataset.loaded === '{page}'"), Duration::from_secs(20), page);
            save(&artifacts.join(format!("fleet-{page}.png")), &b.screenshot());
        }
    }
    // Logging out shows the form again.
    b.click("#logout");
    b.wait_for("!document.getElementById('login-view').hidden", Duration::from_secs(10), "the login form after logout");

    // An admin manages users from the Users page.
    submit_login(&mut b, ADMIN, ADMIN_PASSWORD);
    b.wait_for("document.getElementById('page').dataset.loaded === 'overview'", Duration::from_secs(20), "the admin's overview");
    b.click("#nav a[data-page=\"users\"]");
    b.wait_for("document.querySelectorAll('#users .user-row').length === 3", Duration::from_secs(20), "the users page");
    b.type_into("#nu-name", "olga");
    b.eval("document.getElementById('nu-role').value = 'auditor'");
    b.type_into("#nu-password", "olga's own long password");
    b.click("#user-form button[type=submit]");
    b.wait_for("document.querySelectorAll('#users .user-row').length === 4", Duration::from_secs(20), "the new user in the list");
    save(&artifacts.join("fleet-users.png"), &b.screenshot());

    // The admin installs a licence file from the Licence page (a real file input).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64;
    let terms = teehsm_console::licence::vendor::LicenceTerms {
        licence_id: "BANK-2027-001".into(),
        customer: "Example Bank".into(),
        max_hosts: 50,
        not_before_ms: now - 60_000,
        expires_ms: now + 365 * 86_400_000,
        features: vec!["fleet".into()],
    };
    let licence_file = secrets.path().join("bank.lic");
    std::fs::write(&licence_file, teehsm_console::licence::vendor::sign_terms(&terms, &vendor).expect("sign the licence"))
        .expect("write the licence");
    b.click("#nav a[data-page=\"licence\"]");
    b.wait_for("!!document.getElementById('licence-file')", Duration::from_secs(20), "the licence page with its install form");
    let doc = b.call("DOM.getDocument", serde_json::json!({}));
    let input = b.call("DOM.querySelector", serde_json::json!({ "nodeId": doc["root"]["nodeId"], "selector": "#licence-file" }));
    b.call("DOM.setFileInputFiles", serde_json::json!({ "nodeId": input["nodeId"], "files": [licence_file.display().to_string()] }));
    b.click("#licence-form button[type=submit]");
    b.wait_for(
        "(document.getElementById('licence') || {}).textContent.includes('BANK-2027-001')",
        Duration::from_secs(20),
        "the installed licence on the Licence page",
    );
    save(&artifacts.join("fleet-licence.png"), &b.screenshot());

    // The admin revokes host-3 from its page (the confirm dialog accepted).
    b.navigate(&format!("{url}#/host/host-3"));
    b.wait_for("!!document.getElementById('revoke-host')", Duration::from_secs(20), "host-3's page with a Revoke button");
    b.eval("window.confirm = () => true");
    b.click("#revoke-host");
    b.wait_for(
        "document.getElementById('page').dataset.loaded === 'host' && !document.getElementById('revoke-host') \
         && [...document.querySelectorAll('.badge')].some((e) => e.textContent === 'revoked')",
        Duration::from_secs(20),
        "host-3 shown revoked",
    );
    save(&artifacts.join("fleet-host-revoked.png"), &b.screenshot());
    let (_, host3) = fleet.get("/api/hosts/host-3").expect("host-3");
    assert!(host3.contains("\"status\":\"revoked\""), "{host3}");
    // ... and forgets it: the overview no longer lists it.
    b.click("#forget-host");
    b.wait_for(
        "document.getElementById('page').dataset.loaded === 'overview' && document.querySelectorAll('#hosts .host-row').length === 2",
        Duration::from_secs(20),
        "the overview without host-3",
    );
    assert_eq!(fleet.get("/api/hosts/host-3").expect("host-3").0, 404);
    let (status, _, body) = http(&fleet.http, "POST", "/api/login", &[], r#"{"name":"olga","password":"olga's own long password"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"role\":\"auditor\""), "{body}");

    // A second factor: the auditor sets one up on the Account page (typing
    // the code an authenticator would show), then logs in with a code.
    b.click("#logout");
    b.wait_for("!document.getElementById('login-view').hidden", Duration::from_secs(10), "the login form");
    submit_login(&mut b, AUDITOR, AUDITOR_PASSWORD);
    b.wait_for(&format!("document.getElementById('me-name').textContent === '{AUDITOR}'"), Duration::from_secs(20), "the auditor logged in");
    b.navigate(&format!("{url}#/account"));
    b.wait_for("!!document.getElementById('totp-start')", Duration::from_secs(20), "the Account page");
    let (secret, step) = set_up_second_factor(&mut b);
    b.wait_for("(document.getElementById('totp-card') || {dataset: {}}).dataset.totp === 'true'", Duration::from_secs(20), "the second factor on");
    save(&artifacts.join("fleet-account.png"), &b.screenshot());
    b.click("#logout");
    b.wait_for("!document.getElementById('login-view').hidden", Duration::from_secs(10), "the login form");
    submit_login(&mut b, AUDITOR, AUDITOR_PASSWORD);
    b.wait_for(
        "document.getElementById('login-error').textContent.includes('second factor')",
        Duration::from_secs(10),
        "the form asking for the code",
    );
    b.type_into("#login-code", &format!("{:06}", secret.code_at(step + 1)));
    b.click("#login-submit");
    b.wait_for(
        &format!("document.getElementById('login-view').hidden && document.getElementById('me-name').textContent === '{AUDITOR}'"),
        Duration::from_secs(20),
        "the auditor logged in after the code",
    );

    // No script error and no CSP violation (the 401 of the first /api/me is expected).
    let errors: Vec<String> = b.errors().into_iter().filter(|e| !e.contains("status of 401")).collect();
    assert!(errors.is_empty(), "page errors: {errors:#?}");
}

/// The console serves HTTPS with an operator's certificate (an own root
/// and a leaf for localhost, as a bank's PKI would issue): Chromium pins
/// the leaf's public key (`--ignore-certificate-errors-spki-list`, the
/// closest a throwaway profile gets to trusting the bank's root), logs in
/// through the form, holds a Secure, HttpOnly, SameSite=Strict session
/// cookie, and an http:// address of the same port lands on https://.
#[test]
fn log_in_over_https_with_an_operator_certificate() {
    use base64::Engine;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256};
    use std::os::unix::fs::PermissionsExt;
    let Some(chromium) = chromium_or_skip() else { return };
    let secrets = TempDir::new("fleet-https-secrets");
    let admin_pw = secrets.path().join("admin.pw");
    std::fs::write(&admin_pw, format!("{ADMIN_PASSWORD}\n")).expect("admin password file");
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("root key");
    let mut root = CertificateParams::new(Vec::<String>::new()).expect("root params");
    root.distinguished_name.push(DnType::CommonName, "Example Bank Root CA");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(root, root_key).expect("root certificate");
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params").signed_by(&leaf_key, &root).expect("leaf certificate");
    let (cert_file, key_file) = (secrets.path().join("console.pem"), secrets.path().join("console-key.pem"));
    std::fs::write(&cert_file, format!("{}{}", leaf.pem(), root.pem())).expect("certificate chain");
    std::fs::write(&key_file, leaf_key.serialize_pem()).expect("key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &leaf_key.subject_public_key_info());
    let pin = base64::engine::general_purpose::STANDARD.encode(spki.as_ref());

    let path = |p: &Path| p.display().to_string();
    let opts = FleetOptions {
        hosts: 0,
        console_args: vec![
            "--admin-password-file".into(),
            path(&admin_pw),
            "--http-tls-cert".into(),
            path(&cert_file),
            "--http-tls-key".into(),
            path(&key_file),
        ],
        ..FleetOptions::default()
    };
    let fleet = Fleet::start("fleet-https", opts);
    let port = fleet.http.rsplit(':').next().expect("port").to_string();
    let url = format!("https://localhost:{port}/");
    let artifacts = bin_dir().parent().expect("target dir").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let mut b = cdp::Browser::start_with(
        &chromium,
        &fleet.dir.path().join("chromium-profile"),
        1280,
        800,
        &[format!("--ignore-certificate-errors-spki-list={pin}")],
    );
    b.call("Network.enable", serde_json::json!({}));
    b.navigate(&url);
    b.wait_for(
        "!!document.getElementById('login-view') && !document.getElementById('login-view').hidden",
        Duration::from_secs(20),
        "the login form over HTTPS",
    );
    submit_login(&mut b, ADMIN, ADMIN_PASSWORD);
    b.wait_for("document.getElementById('page').dataset.loaded === 'overview'", Duration::from_secs(20), "the overview after login");
    assert_eq!(b.eval("location.protocol"), Value::String("https:".into()));
    assert_eq!(b.eval("document.getElementById('me-name').textContent"), Value::String(ADMIN.into()));
    assert_eq!(b.eval("document.cookie"), Value::String(String::new()), "the session cookie is HttpOnly");
    let cookies = b.call("Network.getCookies", serde_json::json!({ "urls": [url] }));
    let session = cookies["cookies"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "teehsm_session")).cloned().unwrap_or_default();
    assert_eq!(
        (&session["secure"], &session["httpOnly"], &session["sameSite"]),
        (&Value::Bool(true), &Value::Bool(true), &Value::String("Strict".into())),
        "{cookies}"
    );
    save(&artifacts.join("fleet-https.png"), &b.screenshot());

    // http:// on the HTTPS port is redirected to https://, still logged in.
    b.navigate(&format!("http://localhost:{port}/#/audit"));
    b.wait_for(
        "location.protocol === 'https:' && !!document.querySelector('.audit-row[data-action=\"login\"]')",
        Duration::from_secs(20),
        "the audit page over https:// after an http:// address",
    );
    let errors: Vec<String> = b.errors().into_iter().filter(|e| !e.contains("status of 401")).collect();
    assert!(errors.is_empty(), "page errors: {errors:#?}");
}

/// `--require-second-factor all`: an admin without a second factor logs in
/// with the password and lands on the Account page with the other pages
/// closed (an address of another page leads back there); once the
/// authenticator's code confirms the set-up, the console opens.
#[test]
fn a_required_second_factor_is_set_up_at_the_first_login() {
    let Some(chromium) = chromium_or_skip() else { return };
    let secrets = TempDir::new("fleet-2fa-secrets");
    let admin_pw = secrets.path().join("admin.pw");
    std::fs::write(&admin_pw, format!("{ADMIN_PASSWORD}\n")).expect("admin password file");
    let opts = FleetOptions {
        hosts: 0,
        console_args: vec!["--admin-password-file".into(), admin_pw.display().to_string(), "--require-second-factor".into(), "all".into()],
        loopback_admin: false,
        ..FleetOptions::default()
    };
    let fleet = Fleet::start("fleet-2fa", opts);
    let url = format!("http://{}/", fleet.http);
    let mut b = cdp::Browser::start(&chromium, &fleet.dir.path().join("chromium-profile"), 1280, 800);
    b.navigate(&format!("{url}#/audit"));
    b.wait_for("!!document.getElementById('login-view') && !document.getElementById('login-view').hidden", Duration::from_secs(20), "the login form");
    submit_login(&mut b, ADMIN, ADMIN_PASSWORD);
    b.wait_for(
        "document.getElementById('page').dataset.loaded === 'account' && !!document.getElementById('totp-required')",
        Duration::from_secs(20),
        "the Account page asking for a second factor",
    );
    let open_links = "Array.from(document.querySelectorAll('#nav a')).filter(a => !a.hidden).map(a => a.dataset.page).join(',')";
    assert_eq!(b.eval(open_links), Value::String("account".into()), "only the Account page is open");
    b.navigate(&format!("{url}#/overview"));
    b.wait_for(
        "location.hash === '#/account' && document.getElementById('page').dataset.loaded === 'account'",
        Duration::from_secs(20),
        "back on the Account page",
    );
    let artifacts = bin_dir().parent().expect("target dir").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    save(&artifacts.join("fleet-2fa-required.png"), &b.screenshot());
    set_up_second_factor(&mut b);
    b.wait_for("document.getElementById('page').dataset.loaded === 'overview'", Duration::from_secs(20), "the overview once the second factor is on");
    let links = b.eval(open_links);
    assert!(links.as_str().is_some_and(|l| l.contains("overview") && l.contains("users") && l.contains("audit")), "{links}");
    let errors: Vec<String> = b.errors().into_iter().filter(|e| !e.contains("status of 401") && !e.contains("status of 403")).collect();
    assert!(errors.is_empty(), "page errors: {errors:#?}");
}

/// With key distribution configured, an operator pushes a token policy from
/// the Host page (SM algorithms only, RSA of 3072 bits and more); the agent
/// applies it as a job the page then shows succeeded, and the host's TA
/// refuses a P-256 key pair from then on.
#[test]
fn a_token_policy_is_pushed_from_the_host_page() {
    let Some(chromium) = chromium_or_skip() else { return };
    let files = TempDir::new("fleet-policy-ui");
    let keydist = teehsm_tests::fleet::Keydist::new(files.path());
    let admin_pw = files.path().join("admin.pw");
    std::fs::write(&admin_pw, format!("{ADMIN_PASSWORD}\n")).expect("admin password file");
    let mut console_args = keydist.console_args.clone();
    console_args.extend(["--admin-password-file".into(), admin_pw.display().to_string()]);
    let pin_arg = keydist.user_pin.display().to_string();
    let opts = FleetOptions {
        hosts: 1,
        console_args,
        agent_args: Box::new(move |_| vec!["--user-pin-file".into(), pin_arg.clone()]),
        ..FleetOptions::default()
    };
    let fleet = Fleet::start("fleet-policy-ui", opts);
    keydist.add_host(&fleet.hosts[0], true);
    add_user(&fleet, OPERATOR, "operator", OPERATOR_PASSWORD);

    let mut b = cdp::Browser::start(&chromium, &fleet.dir.path().join("chromium-profile"), 1280, 1100);
    let url = format!("http://{}/", fleet.http);
    b.navigate(&url);
    b.wait_for("!!document.getElementById('login-view') && !document.getElementById('login-view').hidden", Duration::from_secs(20), "the login form");
    submit_login(&mut b, OPERATOR, OPERATOR_PASSWORD);
    b.wait_for("document.getElementById('page').dataset.loaded === 'overview'", Duration::from_secs(20), "the overview");
    b.navigate(&format!("{url}#/host/host-1"));
    b.wait_for("!!document.getElementById('policy-form')", Duration::from_secs(20), "the token policy form");
    b.eval(
        "document.querySelector('.policy-rule[value=\"sm_only\"]').checked = true; document.getElementById('policy-min-rsa').value = '3072'; true",
    );
    // The console signs only for a TA whose attestation report it has; the agent sends one shortly after it starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.eval("document.getElementById('flash').textContent = ''; true");
        b.click("#policy-push");
        b.wait_for("document.getElementById('flash').textContent !== ''", Duration::from_secs(10), "an answer to the push");
        let text = b.eval("document.getElementById('flash').textContent");
        let text = text.as_str().unwrap_or("");
        if text.contains("queued as job") {
            break;
        }
        assert!(text.contains("attestation report") && Instant::now() < deadline, "the push failed: {text}");
        std::thread::sleep(Duration::from_millis(300));
        b.wait_for("!!document.getElementById('policy-form')", Duration::from_secs(20), "the token policy form");
        b.eval("document.querySelector('.policy-rule[value=\"sm_only\"]').checked = true; document.getElementById('policy-min-rsa').value = '3072'; true");
    }
    b.wait_for(
        "Array.from(document.querySelectorAll('#host-jobs .job-row')).some(r => r.dataset.state === 'succeeded' && r.textContent.includes('rules: sm_only, RSA >= 3072 bits'))",
        Duration::from_secs(30),
        "the apply_policy job succeeded on the page",
    );
    let artifacts = bin_dir().parent().expect("target dir").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    save(&artifacts.join("fleet-policy.png"), &b.screenshot());

    let mut c = connect(&fleet.hosts[0].ca.socket);
    let s = user_session(&mut c);
    let p256 = p256_pair(s, "after-policy", false);
    assert!(gen_pair(&mut c, &p256).is_err(), "a P-256 pair on an SM-only token");
    let (_, audit) = fleet.get("/api/audit").expect("audit");
    assert!(audit.contains("policy.push") && audit.contains("sm_only"), "{audit}");
    let errors: Vec<String> = b.errors().into_iter().filter(|e| !e.contains("status of 401") && !e.contains("status of 409")).collect();
    assert!(errors.is_empty(), "page errors: {errors:#?}");
}
