//! teehsm-ca end to end: the real binary, started in a throw-away state
//! directory. Tests that need the real TA locate `teehsm-ta` next to the test
//! executable's target directory (build it first: `cargo build -p teehsm-ta`);
//! the others use a fake TA script.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use teehsm_wire::ck::*;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::*;

mod common;

use common::{ta_binary, Ca, TempDir, CA};

/// What the tests here ask the CA besides the common harness.
impl Ca {
    fn health(&self) -> (u16, serde_json::Value) {
        let (code, body) = self.get("/healthz");
        (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("/healthz is not JSON ({e}): {body}")))
    }

    /// Waits for /healthz 200 and returns the TA pid it reports.
    fn wait_running(&self, timeout: Duration) -> (i64, serde_json::Value) {
        self.wait_for("the TA to be running", timeout, || match self.health() {
            (200, v) => Some((v["ta_pid"].as_i64().expect("ta_pid"), v)),
            _ => None,
        })
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing:\n{text}"))
}

fn process_alive(pid: i32) -> bool {
    // A zombie still "exists" for kill(0); look at its state instead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn user_session(c: &mut Client) -> u64 {
    let s = c.open_session(0, true).expect("OpenSession");
    c.login(s, CKU_USER, b"123456").expect("user login with the dev PIN");
    s
}

fn find_label(c: &mut Client, s: u64, label: &str) -> Vec<u64> {
    c.find(s, vec![Attribute::new(CKA_LABEL, label.as_bytes().to_vec())]).expect("FindObjects")
}

/// Writes an executable shell script standing in for teehsm-ta.
fn fake_ta(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("fake-ta.sh");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn restart_after_kill_keeps_token_keys_and_shuts_down_cleanly() {
    let ta = ta_binary();
    let dir = TempDir::new("ca-restart");
    let state = dir.0.join("state");
    let mut ca = Ca::start(
        &state,
        &["--init-dev-token", "--ta-binary", ta.to_str().unwrap(), "--restart-backoff-min-ms", "100", "--client-transport", "relay"],
    );
    let (pid1, h) = ca.wait_running(Duration::from_secs(120));
    assert_eq!(h["status"], "ok");
    assert_eq!(h["ta"], "running");
    assert_eq!(h["ta_restarts"], 0);
    let mode = std::fs::metadata(ca.socket()).expect("ca.sock").permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "client socket mode");

    // The dev token is ready (the CA bootstraps before it lets clients in).
    let mut c = Client::connect(ca.socket(), "ca-test").expect("connect through ca.sock");
    match c.call(&Request::GetTokenInfo { slot: 0 }).expect("GetTokenInfo") {
        Reply::TokenInfo(t) => {
            assert_ne!(t.flags & CKF_TOKEN_INITIALIZED, 0);
            assert_ne!(t.flags & CKF_USER_PIN_INITIALIZED, 0);
            assert_eq!(t.label.trim_end(), "dev-token");
        }
        r => panic!("{r:?}"),
    }
    assert!(ca.log().contains("DEVELOPMENT TOKEN"), "the dev token is announced loudly");
    let s = user_session(&mut c);
    let key = c
        .call_handle(&Request::GenerateKey {
            session: s,
            mechanism: Mechanism::new(CKM_AES_KEY_GEN),
            template: vec![
                Attribute::ulong(CKA_VALUE_LEN, 32),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_ENCRYPT, true),
                Attribute::new(CKA_LABEL, b"ca-restart-key".to_vec()),
            ],
        })
        .expect("GenerateKey");
    assert_eq!(find_label(&mut c, s, "ca-restart-key"), vec![key]);

    // Many concurrent clients through the relay.
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let sock = ca.socket();
            std::thread::spawn(move || {
                let mut c = Client::connect(&sock, &format!("worker-{i}")).expect("connect");
                for _ in 0..100 {
                    match c.call(&Request::GetTokenInfo { slot: 0 }).expect("relayed call") {
                        Reply::TokenInfo(_) => {}
                        r => panic!("{r:?}"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }

    // An oversized frame: refused with an error reply, connection closed.
    let mut raw = UnixStream::connect(ca.socket()).unwrap();
    raw.write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut r = &raw;
    assert!(teehsm_wire::frame::read_frame(&mut r, &mut buf).unwrap(), "an error reply");
    match decode_response(&buf).unwrap().1 {
        Response::Err { rv, .. } => assert_eq!(rv, Rv::TEEHSM_MALFORMED_REQUEST),
        r => panic!("{r:?}"),
    }
    assert!(!teehsm_wire::frame::read_frame(&mut r, &mut buf).unwrap(), "closed");

    // kill -9 the TA: the live client is cut off, the CA restarts the TA.
    // SAFETY: signalling the TA process the CA reported.
    assert_eq!(unsafe { libc::kill(pid1 as i32, libc::SIGKILL) }, 0);
    let err = c.call(&Request::GetTokenInfo { slot: 0 }).expect_err("the old connection is closed");
    assert_eq!(err.rv(), Rv::TEEHSM_TA_UNAVAILABLE, "{err}");
    let (pid2, h) = ca.wait_for("a restarted TA", Duration::from_secs(120), || match ca.health() {
        (200, v) if v["ta_pid"].as_i64() != Some(pid1) => Some((v["ta_pid"].as_i64().unwrap(), v)),
        _ => None,
    });
    assert_ne!(pid1, pid2);
    assert!(h["ta_restarts"].as_u64().unwrap() >= 1, "{h}");

    // A new client works, and the token key survived.
    let mut c = Client::connect(ca.socket(), "ca-test-2").expect("connect after restart");
    let s = user_session(&mut c);
    assert_eq!(find_label(&mut c, s, "ca-restart-key").len(), 1, "the token key is still there");

    let (code, m) = ca.get("/metrics");
    assert_eq!(code, 200);
    assert!(m.contains("# TYPE teehsm_ca_ta_restarts_total counter"));
    assert!(metric(&m, "teehsm_ca_ta_restarts_total") >= 1.0, "{m}");
    assert_eq!(metric(&m, "teehsm_ca_ta_up"), 1.0);
    assert_eq!(metric(&m, "teehsm_ca_ta_last_exit_code"), 137.0, "killed by SIGKILL");
    assert!(metric(&m, "teehsm_ca_client_connections_total") >= 11.0, "{m}");
    assert!(metric(&m, "teehsm_ca_relayed_requests_total") >= 800.0, "{m}");
    assert!(metric(&m, "teehsm_ca_relay_errors_total") >= 1.0, "the oversized frame counts: {m}");
    drop(raw);
    ca.wait_for("the finished clients to be counted out", Duration::from_secs(10), || {
        (metric(&ca.get("/metrics").1, "teehsm_ca_client_connections_active") == 1.0).then_some(())
    });
    assert_eq!(ca.get("/nope").0, 404);

    // SIGTERM: exit 0, sockets removed, the TA stopped.
    drop(c);
    let st = ca.terminate(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "exit status {st}; log:\n{}", ca.log());
    assert!(!state.join("ca.sock").exists(), "ca.sock removed");
    assert!(!state.join("ta.sock").exists(), "ta.sock removed");
    assert!(!process_alive(pid2 as i32), "the TA stopped with the CA");
}

/// The default transport hands each client connection to the TA: requests
/// bypass the CA, the TA still refuses bad frames, and after a TA restart new
/// clients are handed to the new TA.
#[test]
fn handoff_passes_clients_to_the_ta_and_follows_restarts() {
    let ta = ta_binary();
    let dir = TempDir::new("ca-handoff");
    let state = dir.0.join("state");
    let mut ca = Ca::start(&state, &["--init-dev-token", "--ta-binary", ta.to_str().unwrap(), "--restart-backoff-min-ms", "100"]);
    let (pid1, _) = ca.wait_running(Duration::from_secs(120));
    let mode = std::fs::metadata(state.join("ta-handoff.sock")).expect("ta-handoff.sock").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "hand-off socket mode");

    let workers: Vec<_> = (0..4)
        .map(|i| {
            let sock = ca.socket();
            std::thread::spawn(move || {
                let mut c = Client::connect(&sock, &format!("handoff-{i}")).expect("connect");
                let s = user_session(&mut c);
                for _ in 0..50 {
                    c.call_bytes(&Request::GenerateRandom { session: s, len: 16 }).expect("call on a handed-off connection");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let m = ca.get("/metrics").1;
    assert!(metric(&m, "teehsm_ca_client_handoffs_total") >= 4.0, "{m}");
    assert_eq!(metric(&m, "teehsm_ca_relayed_requests_total"), 0.0, "nothing went through the relay: {m}");

    // The TA itself refuses an oversized frame on a handed-off connection.
    let raw = UnixStream::connect(ca.socket()).unwrap();
    (&raw).write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut r = &raw;
    assert!(teehsm_wire::frame::read_frame(&mut r, &mut buf).unwrap(), "an error reply");
    match decode_response(&buf).unwrap().1 {
        Response::Err { rv, .. } => assert_eq!(rv, Rv::TEEHSM_MALFORMED_REQUEST),
        r => panic!("{r:?}"),
    }

    let mut c = Client::connect(ca.socket(), "before-kill").expect("connect");
    // SAFETY: signalling the TA process the CA reported.
    assert_eq!(unsafe { libc::kill(pid1 as i32, libc::SIGKILL) }, 0);
    let err = c.call(&Request::GetTokenInfo { slot: 0 }).expect_err("the TA that held the connection is gone");
    assert_eq!(err.rv(), Rv::TEEHSM_TA_UNAVAILABLE, "{err}");
    ca.wait_for("a restarted TA", Duration::from_secs(120), || match ca.health() {
        (200, v) if v["ta_pid"].as_i64() != Some(pid1) => Some(()),
        _ => None,
    });
    let mut c = Client::connect(ca.socket(), "after-restart").expect("connect after restart");
    let s = user_session(&mut c);
    c.call_bytes(&Request::GenerateRandom { session: s, len: 16 }).expect("served by the new TA");
    drop(c);
    assert_eq!(ca.terminate(Duration::from_secs(30)).code(), Some(0), "log:\n{}", ca.log());
    assert!(!state.join("ta-handoff.sock").exists(), "hand-off socket removed");
}

#[test]
fn deleted_store_is_reported_as_a_rollback_by_the_real_ta() {
    let ta = ta_binary();
    let dir = TempDir::new("ca-rollback");
    let state = dir.0.join("state");
    let args = ["--init-dev-token", "--ta-binary", ta.to_str().unwrap(), "--restart-backoff-max-ms", "500"];
    let mut ca = Ca::start(&state, &args);
    ca.wait_running(Duration::from_secs(120));
    assert_eq!(ca.terminate(Duration::from_secs(30)).code(), Some(0));
    // The platform counter has moved on; a store that disappears is refused (TA exit 4).
    std::fs::remove_dir_all(state.join("ta-data")).unwrap();
    let ca = Ca::start(&state, &args);
    let h = ca.wait_for("the TA's rollback refusal on /healthz", Duration::from_secs(120), || match ca.health() {
        (503, v) if v["security_failure"] == true => Some(v),
        _ => None,
    });
    assert_eq!(h["ta_last_exit_code"], 4, "{h}");
    assert!(h["reason"].as_str().unwrap().contains("rollback detected"), "{h}");
    assert!(ca.log().contains("teehsm-ta: the store is missing"), "the TA's own words reach the log");
    let (_, m) = ca.get("/metrics");
    assert_eq!(metric(&m, "teehsm_ca_ta_security_failure"), 1.0);
}

#[test]
fn ta_stops_when_the_ca_is_killed() {
    let ta = ta_binary();
    let dir = TempDir::new("ca-orphan");
    let state = dir.0.join("state");
    let mut ca = Ca::start(&state, &["--ta-binary", ta.to_str().unwrap()]);
    let (ta_pid, _) = ca.wait_running(Duration::from_secs(120));
    let mut child = ca.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // The TA gets SIGTERM (parent-death signal) and shuts down in order.
    ca.wait_for("the orphaned TA to stop", Duration::from_secs(20), || (!process_alive(ta_pid as i32)).then_some(()));
    // It logs "stopped" at the end of an orderly stop (store closed, audit
    // synced, sockets removed); its signal thread's "shutting down" may lose
    // the race with the exit. The last lines may still be in the pipe the
    // log reader drains: wait for them.
    ca.wait_for("the TA's \"stopped\" line (an orderly stop)", Duration::from_secs(10), || ca.log().contains("teehsm_ta: stopped").then_some(()));
}

#[test]
fn security_failure_is_reported_and_clients_are_refused() {
    let dir = TempDir::new("ca-secfail");
    let state = dir.0.join("state");
    let ta = fake_ta(&dir.0, "echo 'teehsm-ta: store rollback (fake TA)' >&2\nexit 4");
    let mut ca = Ca::start(&state, &["--ta-binary", ta.to_str().unwrap(), "--restart-backoff-min-ms", "20", "--restart-backoff-max-ms", "200"]);
    let h = ca.wait_for("a security failure on /healthz", Duration::from_secs(30), || match ca.health() {
        (503, v) if v["security_failure"] == true && v["ta"] == "failed" => Some(v),
        _ => None,
    });
    assert_eq!(h["status"], "unavailable");
    assert_eq!(h["ta"], "failed");
    assert_eq!(h["ta_last_exit_code"], 4);
    let reason = h["reason"].as_str().unwrap();
    assert!(reason.contains("rollback detected") && reason.contains("restore the newest store or re-provision"), "{reason}");
    assert!(ca.log().contains("store rollback (fake TA)"), "the TA's stderr is passed through");

    // A client is refused cleanly, with the reason.
    match Client::connect(ca.socket(), "refused") {
        Err(CallError::Status { rv, message }) => {
            assert_eq!(rv, Rv::TEEHSM_TA_UNAVAILABLE);
            assert!(message.contains("rollback"), "{message}");
        }
        Err(e) => panic!("expected a TA_UNAVAILABLE status, got {e}"),
        Ok(_) => panic!("connected although the TA is down"),
    }

    // It keeps retrying at the maximum backoff (not a fast crash loop).
    let (_, m1) = ca.get("/metrics");
    let r1 = metric(&m1, "teehsm_ca_ta_restarts_total");
    std::thread::sleep(Duration::from_millis(1000));
    let (_, m2) = ca.get("/metrics");
    let r2 = metric(&m2, "teehsm_ca_ta_restarts_total");
    assert!(r2 > r1, "restarts continue: {r1} -> {r2}");
    assert!(r2 - r1 <= 7.0, "at most one restart per 200 ms: {r1} -> {r2}");
    assert_eq!(metric(&m2, "teehsm_ca_ta_up"), 0.0);
    assert_eq!(metric(&m2, "teehsm_ca_ta_security_failure"), 1.0);
    assert_eq!(metric(&m2, "teehsm_ca_ta_last_exit_code"), 4.0);
    assert!(metric(&m2, "teehsm_ca_client_refusals_total") >= 1.0);

    let st = ca.terminate(Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "log:\n{}", ca.log());
    assert!(!state.join("ca.sock").exists());
    assert!(!state.join("http.addr").exists());
}

#[test]
fn hung_ta_is_killed_after_the_ready_timeout() {
    let dir = TempDir::new("ca-hung");
    let state = dir.0.join("state");
    let ta = fake_ta(&dir.0, "exec sleep 600");
    let mut ca = Ca::start(&state, &["--ta-binary", ta.to_str().unwrap(), "--ta-ready-timeout-secs", "1"]);
    let h = ca.wait_for("the ready timeout", Duration::from_secs(30), || match ca.health() {
        (503, v) if v["reason"].as_str().unwrap_or("").contains("did not report READY") => Some(v),
        _ => None,
    });
    assert_eq!(h["security_failure"], false);
    // Shutting down while a TA is starting stops it too.
    let st = ca.terminate(Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "log:\n{}", ca.log());
}

#[test]
fn bad_config_exits_2_with_a_clear_error() {
    let dir = TempDir::new("ca-badcfg");
    let cfg = dir.0.join("bad.toml");
    std::fs::write(&cfg, "state_dir = \"/tmp/x\"\nno_such_option = true\n").unwrap();
    let out = Command::new(CA).arg("--config").arg(&cfg).output().expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("configuration error") && err.contains(cfg.to_str().unwrap()) && err.contains("no_such_option"), "{err}");

    std::fs::write(&cfg, "restart_backoff_min_ms = 5000\nrestart_backoff_max_ms = 10\n").unwrap();
    let out = Command::new(CA).env("TEEHSM_CA_CONFIG", &cfg).output().expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("restart_backoff_max_ms"));

    let out = Command::new(CA).arg("--config").arg(dir.0.join("missing.toml")).output().expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    let out = Command::new(CA).args(["--log-format", "xml"]).output().expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2), "a bad flag value is a configuration error too");
}

#[test]
fn second_instance_on_the_same_socket_is_refused() {
    let dir = TempDir::new("ca-twice");
    let state = dir.0.join("state");
    let ta = fake_ta(&dir.0, "exec sleep 600");
    let mut first = Ca::start(&state, &["--ta-binary", ta.to_str().unwrap()]);
    first.http();
    let out = Command::new(CA)
        .arg("--state-dir")
        .arg(&state)
        .args(["--http-listen", "127.0.0.1:0", "--ta-binary", ta.to_str().unwrap()])
        .output()
        .expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(state.join("ca.sock").exists(), "the first instance's socket is untouched");
    assert_eq!(first.terminate(Duration::from_secs(20)).code(), Some(0));
}

#[test]
fn help_explains_the_daemon_options_and_socket_layout() {
    let out = Command::new(CA).arg("--help").output().expect("run teehsm-ca --help");
    assert!(out.status.success());
    let h = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "restarts it with exponential backoff",
        "ca.sock",
        "ta.sock",
        "ta-data/",
        "platform/",
        "--state-dir",
        "--socket",
        "--ta-binary",
        "--http-listen",
        "--init-dev-token",
        "--restart-backoff-min-ms",
        "--restart-backoff-max-ms",
        "--log-format",
        "--log-level",
        "--ta-arg",
        "TEEHSM_CA_STATE_DIR",
        "/healthz",
        "/metrics",
    ] {
        assert!(h.contains(needle), "--help lacks {needle}");
    }
}

/// A free loopback TCP port below the ephemeral range (32768-60999): a
/// port-0 bind (the CA's HTTP listener) cannot take it before the TA binds it.
fn free_port() -> u16 {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    (start..32_000).chain(20_000..start).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port below 32000")
}

#[test]
fn tcp_ta_in_relay_mode_serves_login_and_sign() {
    let ta = ta_binary();
    let dir = TempDir::new("ca-tcp");
    let state = dir.0.join("state");
    let addr = format!("tcp://127.0.0.1:{}", free_port());
    let mut ca = Ca::start(&state, &["--init-dev-token", "--ta-binary", ta.to_str().unwrap(), "--client-transport", "relay", "--ta-address", &addr]);
    ca.wait_running(Duration::from_secs(120));
    assert!(!state.join("ta.sock").exists(), "a TCP TA has no Unix socket");
    assert!(!state.join("ta-handoff.sock").exists());

    let mut c = Client::connect(ca.socket(), "tcp-relay").expect("connect through ca.sock");
    let s = user_session(&mut c);
    let params = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let req = Request::GenerateKeyPair {
        session: s,
        mechanism: Mechanism::new(CKM_EC_KEY_PAIR_GEN),
        public_template: vec![Attribute::new(CKA_EC_PARAMS, params), Attribute::bool(CKA_TOKEN, false), Attribute::bool(CKA_VERIFY, true)],
        private_template: vec![Attribute::bool(CKA_TOKEN, false), Attribute::bool(CKA_SIGN, true)],
    };
    let (public, private) = match c.call(&req).expect("GenerateKeyPair over the TCP hop") {
        Reply::KeyPair { public, private } => (public, private),
        r => panic!("{r:?}"),
    };
    let mech = Mechanism::new(CKM_ECDSA_SHA256);
    for i in 0..20u8 {
        let data = vec![i; 32];
        let sig = c.call_bytes(&Request::Sign { session: s, mechanism: mech.clone(), key: private, data: data.clone() }).expect("Sign");
        assert_eq!(sig.len(), 64);
        c.call_done(&Request::Verify { session: s, mechanism: mech.clone(), key: public, data, signature: sig }).expect("Verify");
    }
    let m = ca.get("/metrics").1;
    assert!(metric(&m, "teehsm_ca_relayed_requests_total") >= 43.0, "{m}");
    drop(c);
    assert_eq!(ca.terminate(Duration::from_secs(30)).code(), Some(0), "log:\n{}", ca.log());
}

#[test]
fn tcp_ta_address_with_handoff_is_a_configuration_error() {
    let dir = TempDir::new("ca-tcp-handoff");
    let out = Command::new(CA)
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .args(["--http-listen", "127.0.0.1:0", "--ta-address", "tcp://127.0.0.1:7300"])
        .env_remove("TEEHSM_CA_CONFIG")
        .env_remove("TEEHSM_CA_CLIENT_TRANSPORT")
        .output()
        .expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ta_address") && err.contains("relay"), "{err}");
    let out = Command::new(CA)
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .args(["--http-listen", "127.0.0.1:0", "--client-transport", "handoff"])
        .env("TEEHSM_CA_TA_ADDRESS", "tcp://127.0.0.1:7300")
        .env_remove("TEEHSM_CA_CONFIG")
        .output()
        .expect("run teehsm-ca");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
