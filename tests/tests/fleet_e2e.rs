//! Fleet end to end (issue 6): teehsm-console, three hosts each with
//! teehsm-ca (dev token) and teehsm-agent, a webhook receiver. Keys created
//! on host 1 fire the key-count alert, destroying them resolves it, and a
//! killed agent fires the missed-heartbeat alert.
//!
//! Needs the binaries: `cargo build --bins`.

use serde_json::Value;
use std::time::{Duration, Instant};
use teehsm_tests::*;
use teehsm_wire::{Calls, Request};

/// Heartbeat interval of the test fleet (console and agents).
const INTERVAL_MS: u64 = 500;

/// Waits for the agent binary (it is built by another crate of the workspace).
fn agent_present() -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if bin_dir().join("teehsm-agent").exists() && bin_dir().join("teehsm-console").exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// An alert of the webhook body for which `pred(labels, status)` holds.
fn has_alert(body: &str, pred: impl Fn(&Value, &str) -> bool) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return false };
    v["alerts"].as_array().is_some_and(|a| a.iter().any(|a| pred(&a["labels"], a["status"].as_str().unwrap_or(""))))
}

fn hosts_count(http: &str) -> usize {
    match http_request(http, "GET", "/api/hosts", "") {
        Ok((200, body)) => serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["hosts"].as_array().map(|h| h.iter().filter(|h| !h["report"].is_null()).count()))
            .unwrap_or(0),
        _ => 0,
    }
}

#[test]
fn three_hosts_key_count_and_missed_heartbeat_alerts() {
    assert!(agent_present(), "target/<profile>/teehsm-agent and teehsm-console are needed: cargo build --bins");
    let dir = TempDir::new("fleet-e2e");
    let sink = WebhookSink::start();

    // The console.
    let data = dir.path().join("console");
    let interval = INTERVAL_MS.to_string();
    let _console = Daemon::spawn(
        "teehsm-console",
        &[
            &"serve",
            &"--data-dir",
            &data,
            &"--grpc-listen",
            &"127.0.0.1:0",
            &"--http-listen",
            &"127.0.0.1:0",
            &"--webhook",
            &sink.url,
            &"--heartbeat-interval-ms",
            &interval,
        ],
    );
    let grpc = wait_for_file_line(&data.join("grpc.addr"), Duration::from_secs(30));
    let http = wait_for_file_line(&data.join("http.addr"), Duration::from_secs(30));
    let console_url = format!("https://{grpc}");
    let console_ca = data.join("console-ca.pem");
    let (status, health) = http_request(&http, "GET", "/healthz", "").expect("healthz");
    assert_eq!((status, health.trim()), (200, "ok"));

    // Three hosts: CA + enrolled agent each.
    let mut cas = Vec::new();
    let mut agents = Vec::new();
    for n in 1..=3 {
        let ca = start_ca_dev_token();
        let (status, body) = http_request(&http, "POST", "/api/enrollment-tokens", "").expect("token");
        assert_eq!(status, 201, "{body}");
        let token = serde_json::from_str::<Value>(&body).expect("token JSON")["token"].as_str().expect("token").to_string();
        let state = dir.path().join(format!("agent{n}"));
        let host_id = format!("host-{n}");
        let out = std::process::Command::new(bin("teehsm-agent"))
            .args(["enroll", "--console", &console_url, "--console-ca"])
            .arg(&console_ca)
            .args(["--token", &token, "--host-id", &host_id, "--group", "e2e", "--state-dir"])
            .arg(&state)
            .output()
            .expect("run teehsm-agent enroll");
        assert!(out.status.success(), "enroll {host_id}: {}", String::from_utf8_lossy(&out.stderr));
        // The token is single use.
        let again = std::process::Command::new(bin("teehsm-agent"))
            .args(["enroll", "--console", &console_url, "--console-ca"])
            .arg(&console_ca)
            .args(["--token", &token, "--host-id", "intruder", "--group", "e2e", "--state-dir"])
            .arg(dir.path().join(format!("intruder{n}")))
            .output()
            .expect("run teehsm-agent enroll");
        assert!(!again.status.success(), "a used token enrolled a second host");
        let agent = Daemon::spawn(
            "teehsm-agent",
            &[
                &"run",
                &"--console",
                &console_url,
                &"--state-dir",
                &state,
                &"--ca-state-dir",
                &ca.state_dir,
                &"--token-capacity",
                &"10",
                &"--interval-ms",
                &interval,
            ],
        );
        cas.push(ca);
        agents.push(agent);
    }

    // All three report.
    let deadline = Instant::now() + Duration::from_secs(30);
    while hosts_count(&http) < 3 {
        assert!(Instant::now() < deadline, "/api/hosts did not show 3 reporting hosts: {:?}", http_request(&http, "GET", "/api/hosts", ""));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Settle: no alert for a quiet fleet (give two evaluations).
    std::thread::sleep(Duration::from_millis(INTERVAL_MS * 2));
    let quiet = sink.all();
    assert!(
        !quiet.iter().any(|b| has_alert(b, |l, _| l["alertname"] == "TokenNearlyFull")),
        "key-count alert before any key was created: {quiet:?}"
    );

    // 8 token objects (4 P-256 pairs) on host 1: 80 % of capacity 10.
    let mut c = connect(&cas[0].socket);
    let s = user_session(&mut c);
    let mut handles = Vec::new();
    for i in 0..4 {
        let (public, private) = gen_pair(&mut c, &p256_pair(s, &format!("fleet-{i}"), true)).expect("GenerateKeyPair");
        handles.extend([public, private]);
    }
    let created = Instant::now();
    let fired = sink
        .wait_for(created, Duration::from_secs(20), |b| {
            has_alert(b, |l, st| st == "firing" && l["alertname"] == "TokenNearlyFull" && l["host"] == "host-1")
        })
        .unwrap_or_else(|| panic!("no firing key-count alert for host-1; webhook got {:?}", sink.all()));
    let took = fired.0.duration_since(created);
    eprintln!("key-count alert fired {took:?} after the keys were created");
    // Two heartbeats, one evaluation period (interval/2), and slack for a loaded machine.
    let limit = Duration::from_millis(2 * INTERVAL_MS + INTERVAL_MS / 2 + 1000);
    assert!(took <= limit, "key-count alert took {took:?} (limit {limit:?})");
    assert!(!has_alert(&fired.1, |l, _| l["host"] == "host-2" || l["host"] == "host-3"), "{}", fired.1);
    // It is listed as firing by the API.
    let (_, firing) = http_request(&http, "GET", "/api/alerts", "").expect("alerts");
    assert!(firing.contains("TokenNearlyFull") && firing.contains("host-1"), "{firing}");

    // Destroy them: resolved.
    for h in handles {
        c.call_done(&Request::DestroyObject { session: s, object: h }).expect("DestroyObject");
    }
    let destroyed = Instant::now();
    sink.wait_for(destroyed, Duration::from_secs(20), |b| {
        has_alert(b, |l, st| st == "resolved" && l["alertname"] == "TokenNearlyFull" && l["host"] == "host-1")
    })
    .unwrap_or_else(|| panic!("no resolved key-count alert for host-1; webhook got {:?}", sink.all()));

    // Kill host 2's agent: missed heartbeats.
    agents[1].kill9();
    let killed = Instant::now();
    let silent = sink
        .wait_for(killed, Duration::from_secs(20), |b| {
            has_alert(b, |l, st| st == "firing" && l["alertname"] == "HostSilent" && l["host"] == "host-2")
        })
        .unwrap_or_else(|| panic!("no missed-heartbeat alert for host-2; webhook got {:?}", sink.all()));
    eprintln!("missed-heartbeat alert fired {:?} after the agent was killed", silent.0.duration_since(killed));
    assert!(!has_alert(&silent.1, |l, _| l["alertname"] == "HostSilent" && l["host"] != "host-2"), "{}", silent.1);

    // Metrics reflect the fleet.
    let (_, metrics) = http_request(&http, "GET", "/metrics", "").expect("metrics");
    assert!(metrics.contains("teehsm_console_hosts 3"), "{metrics}");
    assert!(metrics.contains("teehsm_console_alerts_firing{severity=\"critical\"} 1"), "{metrics}");
    assert!(metrics.contains("teehsm_console_heartbeats_total"), "{metrics}");
    drop(agents);
    drop(cas);
}
