//! Agent certificate renewal and host revocation end to end: a real
//! console, teehsm-ca and teehsm-agent. An operator asks for a renewal over
//! the HTTP API; the agent makes a new key, gets a new certificate, swaps
//! its files and keeps reporting with it; the old certificate is refused
//! from then on. Revoking the host locks its agent out and leaves no alert
//! behind for it.
//!
//! Needs the binaries: `cargo build --bins`.

use serde_json::Value;
use std::time::{Duration, Instant};
use teehsm_console::daemon::auth::cert_fingerprint;
use teehsm_console::daemon::tls::pem_to_der;
use teehsm_tests::fleet::{Fleet, FleetOptions};
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use teehsm_wire::proto::fleet::v1::HeartbeatRequest;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn host(fleet: &Fleet) -> Value {
    let (status, body) = fleet.get("/api/hosts/host-1").expect("GET /api/hosts/host-1");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).expect("host JSON")["host"].clone()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One heartbeat as the agent would send it, with `cert`/`key`.
fn heartbeat_with(fleet: &Fleet, cert: &str, key: &str) -> Result<(), tonic::Status> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ca = std::fs::read_to_string(&fleet.console_ca).expect("console CA");
    rt.block_on(async {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).identity(Identity::from_pem(cert, key)).domain_name("localhost");
        let channel: Channel =
            Channel::from_shared(fleet.console_url.clone()).expect("URL").tls_config(tls).expect("TLS").connect().await.expect("connect");
        AgentServiceClient::new(channel).heartbeat(HeartbeatRequest { report: None }).await.map(|_| ())
    })
}

#[test]
fn operator_requested_renewal_rotates_the_agent_key_and_revocation_locks_it_out() {
    let fleet = Fleet::start("fleet-renew", FleetOptions { hosts: 1, ..FleetOptions::default() });
    let state = &fleet.hosts[0].agent_state;
    let read = |name: &str| std::fs::read_to_string(state.join(name)).expect("agent state file");
    let (old_cert, old_key) = (read("agent.pem"), read("agent-key.pem"));
    let old_fp = cert_fingerprint(&pem_to_der(&old_cert).expect("agent.pem"));
    let before = host(&fleet);
    assert_eq!(before["cert_fingerprint"], old_fp.as_str());
    assert!(heartbeat_with(&fleet, &old_cert, &old_key).is_ok(), "the enrolled certificate authenticates");

    let (status, body) = fleet.post("/api/hosts/host-1/agent-certificate/renew", "").expect("POST renew");
    assert_eq!(status, 202, "{body}");
    wait_until("the agent to use its renewed certificate", Duration::from_secs(20), || {
        let h = host(&fleet);
        h["cert_fingerprint"] != old_fp.as_str() && h["renew_requested"] == false && h["pending_cert_fingerprint"].is_null()
    });
    let (new_cert, new_key) = (read("agent.pem"), read("agent-key.pem"));
    assert_ne!(new_key, old_key, "a new key");
    let after = host(&fleet);
    assert_eq!(after["cert_fingerprint"], cert_fingerprint(&pem_to_der(&new_cert).expect("new agent.pem")).as_str(), "the file the agent holds");
    assert!(!state.join("renewed.pem").exists() && !state.join("renewed-key.pem").exists(), "no staged files left");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(state.join("agent-key.pem")).expect("key").permissions()) & 0o777;
    assert_eq!(mode, 0o600);

    // The agent keeps reporting with the new certificate; the old one is refused.
    let seen = after["last_seen_ms"].as_u64().expect("last_seen_ms");
    wait_until("a heartbeat after the renewal", Duration::from_secs(10), || host(&fleet)["last_seen_ms"].as_u64() > Some(seen));
    let e = heartbeat_with(&fleet, &old_cert, &old_key).expect_err("the old certificate is retired");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
    let (_, audit) = fleet.get("/api/audit").expect("audit");
    for action in ["agent_certificate.renew_requested", "agent_certificate.issue", "agent_certificate.in_use"] {
        assert!(audit.contains(action), "{action} in {audit}");
    }

    // Revoked: the agent is refused, and no HostSilent alert follows.
    let (status, body) = fleet.post("/api/hosts/host-1/revoke", r#"{"reason": "decommissioned in the test"}"#).expect("POST revoke");
    assert_eq!(status, 200, "{body}");
    let e = heartbeat_with(&fleet, &new_cert, &new_key).expect_err("revoked");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
    std::thread::sleep(Duration::from_millis(fleet.interval_ms * 5));
    let (_, alerts) = fleet.get("/api/alerts").expect("alerts");
    let alerts: Value = serde_json::from_str(&alerts).expect("alerts JSON");
    let firing_for_host: Vec<&Value> =
        alerts["alerts"].as_array().expect("alerts").iter().filter(|a| a["host"] == "host-1" && a["ends_at_ms"].is_null()).collect();
    assert!(firing_for_host.is_empty(), "a revoked host raises no alert: {firing_for_host:?}");
    assert_eq!(host(&fleet)["status"], "revoked");

    // The console's audit log of all this verifies from the command line, and exports with its MACs.
    let data = fleet.console_data.display().to_string();
    let out = std::process::Command::new(teehsm_tests::bin("teehsm-console"))
        .args(["audit", "verify", "--data-dir", &data])
        .output()
        .expect("audit verify");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit log verified"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = std::process::Command::new(teehsm_tests::bin("teehsm-console"))
        .args(["audit", "export", "--data-dir", &data])
        .output()
        .expect("audit export");
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(lines.iter().any(|e| e["action"] == "host.revoke" && e["mac"].as_str().is_some_and(|m| m.len() == 64)), "{lines:?}");
}
