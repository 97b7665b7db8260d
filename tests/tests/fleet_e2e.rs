//! Fleet end to end (issue 6): teehsm-console, three hosts each with
//! teehsm-ca (dev token) and teehsm-agent, a webhook receiver. Keys created
//! on host 1 fire the key-count alert, destroying them resolves it, and a
//! killed agent fires the missed-heartbeat alert; once with the console on
//! SQLite and once on PostgreSQL.
//!
//! Needs the binaries: `cargo build --bins`.

use std::time::{Duration, Instant};
use teehsm_tests::fleet::{webhook_has_alert as has_alert, Fleet, FleetOptions};
use teehsm_tests::*;
use teehsm_wire::{Calls, Request};

#[test]
fn three_hosts_key_count_and_missed_heartbeat_alerts() {
    three_hosts("fleet-e2e", FleetOptions::default());
}

/// The same with the console's store on PostgreSQL.
#[test]
fn three_hosts_key_count_and_missed_heartbeat_alerts_on_postgres() {
    let Some(url) = teehsm_tests::fleet::fresh_postgres_database("fleet_e2e") else {
        eprintln!("skipped: TEEHSM_TEST_POSTGRES_URL is not set (scripts/postgres-test-server.sh start)");
        return;
    };
    three_hosts("fleet-e2e-pg", FleetOptions { database_url: Some(url.clone()), ..FleetOptions::default() });
}

/// The console on PostgreSQL over TLS (`sslmode=verify-full` with the test
/// server's CA): it serves, and every session it holds is encrypted.
#[test]
fn console_on_postgres_over_tls() {
    let Some(url) = teehsm_tests::fleet::fresh_postgres_database("fleet_tls") else {
        eprintln!("skipped: TEEHSM_TEST_POSTGRES_URL is not set (scripts/postgres-test-server.sh start)");
        return;
    };
    if !url.contains("sslmode=verify-full") {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but TEEHSM_TEST_POSTGRES_CA is not set (scripts/test.sh sets it)");
        eprintln!("skipped: TEEHSM_TEST_POSTGRES_CA is not set (scripts/postgres-test-server.sh ca)");
        return;
    }
    let fleet = Fleet::start("fleet-tls", FleetOptions { database_url: Some(url.clone()), hosts: 1, ..FleetOptions::default() });
    let (status, _) = fleet.get("/healthz").expect("healthz");
    assert_eq!(status, 200);
    let (tls, plain) = teehsm_tests::fleet::postgres_sessions_by_tls(&url, "teehsm-console");
    assert!(tls >= 1 && plain == 0, "console sessions: {tls} with TLS, {plain} without");
}

fn three_hosts(tag: &str, opts: FleetOptions) {
    let mut fleet = Fleet::start(tag, opts);
    let interval = fleet.interval_ms;
    let (status, health) = fleet.get("/healthz").expect("healthz");
    assert_eq!((status, health.trim()), (200, "ok"));

    // Settle: no alert for a quiet fleet (give two evaluations).
    std::thread::sleep(Duration::from_millis(interval * 2));
    let quiet = fleet.sink.all();
    assert!(!quiet.iter().any(|b| has_alert(b, |l, _| l["alertname"] == "TokenNearlyFull")), "key-count alert before any key was created: {quiet:?}");

    // 8 token objects (4 P-256 pairs) on host 1: 80 % of its TA's capacity
    // (max_token_objects 10, which the agent reads from the CA).
    let mut c = connect(&fleet.hosts[0].ca.socket);
    let s = user_session(&mut c);
    let mut handles = Vec::new();
    for i in 0..4 {
        let (public, private) = gen_pair(&mut c, &p256_pair(s, &format!("fleet-{i}"), true)).expect("GenerateKeyPair");
        handles.extend([public, private]);
    }
    let created = Instant::now();
    let sink = &fleet.sink;
    let fired = sink
        .wait_for(created, Duration::from_secs(20), |b| {
            has_alert(b, |l, st| st == "firing" && l["alertname"] == "TokenNearlyFull" && l["host"] == "host-1")
        })
        .unwrap_or_else(|| panic!("no firing key-count alert for host-1; webhook got {:?}", sink.all()));
    let took = fired.0.duration_since(created);
    eprintln!("key-count alert fired {took:?} after the keys were created");
    // Two heartbeats, one evaluation period (interval/2), and slack for a loaded machine.
    let limit = Duration::from_millis(2 * interval + interval / 2 + 1000);
    assert!(took <= limit, "key-count alert took {took:?} (limit {limit:?})");
    assert!(!has_alert(&fired.1, |l, _| l["host"] == "host-2" || l["host"] == "host-3"), "{}", fired.1);
    // It is listed as firing by the API.
    let (_, firing) = fleet.get("/api/alerts").expect("alerts");
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
    fleet.hosts[1].agent.kill9();
    let killed = Instant::now();
    let sink = &fleet.sink;
    let silent = sink
        .wait_for(killed, Duration::from_secs(20), |b| {
            has_alert(b, |l, st| st == "firing" && l["alertname"] == "HostSilent" && l["host"] == "host-2")
        })
        .unwrap_or_else(|| panic!("no missed-heartbeat alert for host-2; webhook got {:?}", sink.all()));
    eprintln!("missed-heartbeat alert fired {:?} after the agent was killed", silent.0.duration_since(killed));
    assert!(!has_alert(&silent.1, |l, _| l["alertname"] == "HostSilent" && l["host"] != "host-2"), "{}", silent.1);

    // Metrics reflect the fleet.
    let (_, metrics) = fleet.get("/metrics").expect("metrics");
    assert!(metrics.contains("teehsm_console_hosts 3"), "{metrics}");
    assert!(metrics.contains("teehsm_console_alerts_firing{severity=\"critical\"} 1"), "{metrics}");
    assert!(metrics.contains("teehsm_console_heartbeats_total"), "{metrics}");
}

/// `--server-name`: the console's certificate is valid for the name agents
/// use (here through `--console-name`, as DNS is not set up); another name
/// is refused by the agent's TLS check.
#[test]
fn agents_reach_the_console_by_its_server_name() {
    let opts = FleetOptions { hosts: 0, console_args: vec!["--server-name".into(), "console.teehsm.test".into()], ..FleetOptions::default() };
    let fleet = Fleet::start("fleet-name", opts);
    let enroll = |name: &str, host: &str| {
        let state = fleet.dir.path().join(host);
        std::process::Command::new(bin("teehsm-agent"))
            .args(["enroll", "--console", &fleet.console_url, "--console-name", name, "--console-ca"])
            .arg(&fleet.console_ca)
            .args(["--token", &fleet.enrollment_token(), "--host-id", host, "--group", "e2e", "--state-dir"])
            .arg(&state)
            .output()
            .expect("run teehsm-agent enroll")
    };
    let ok = enroll("console.teehsm.test", "named-1");
    assert!(ok.status.success(), "enroll by the server name: {}", String::from_utf8_lossy(&ok.stderr));
    let bad = enroll("elsewhere.teehsm.test", "named-2");
    assert!(!bad.status.success(), "a name the certificate does not have must fail");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("certificate not valid for name \"elsewhere.teehsm.test\""), "{err}");
    let names = std::fs::read_to_string(fleet.console_data.join("server-names")).unwrap();
    assert_eq!(names.lines().collect::<Vec<_>>(), ["localhost", "127.0.0.1", "::1", "console.teehsm.test"]);
}
