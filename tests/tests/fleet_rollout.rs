//! TA upgrade rollout end to end (issue 6): teehsm-console and three hosts,
//! each a teehsm-ca whose TA is `<package-root>/current/teehsm-ta` (package
//! 1.0.0 installed) with a teehsm-agent managing that root. Package 2.0.0,
//! signed by a test vendor key, is imported into the console and rolled out
//! to all three through the HTTP API in two waves (host 1, then hosts 2 and
//! 3 once host 1 is done). Host 3 is marked broken: its 2.0.0 TA
//! exits before it is ready (a real failed start the CA sees), so its agent
//! rolls it back to 1.0.0; hosts 1 and 2 end on 2.0.0; the rollout is
//! "partial". Then, on the same fleet: the packages each heartbeat reports,
//! `ta_uninstall` (refused for the active version), `ta_install` (staged,
//! not switched) and a desired version set through the API that host 1
//! converges to by a reconciling upgrade it was never given a job for; a
//! rollout cancelled before its (paused) host picked it up is not carried out.
//!
//! Needs the binaries: `cargo build --bins`.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use teehsm_agent::package::{hash_file, sign_package, FileEntry, Installer, Manifest, Platform, VendorKeys};
use teehsm_tests::fleet::{Fleet, FleetOptions};
use teehsm_tests::*;
use teehsm_wire::ck::CKA_LABEL;
use teehsm_wire::{Attribute, Reply, Request};

/// The marker (in the CA's state directory) that makes TA 2.0.0 refuse to start.
const BROKEN_MARKER: &str = "BROKEN-TA-2.0.0";

/// A package whose teehsm-ta is a launcher of the real TA binary. With
/// `fail_if_marked`, it exits 1 before starting the TA when the CA's state
/// directory (the parent of the TA's --data-dir) holds [`BROKEN_MARKER`].
fn make_package(dir: &Path, version: &str, key: &Ed25519KeyPair, fail_if_marked: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let real = bin("teehsm-ta");
    let check = if fail_if_marked {
        format!(
            "prev=\nfor a in \"$@\"; do\n  if [ \"$prev\" = --data-dir ] && [ -e \"$a/../{BROKEN_MARKER}\" ]; then\n    \
             echo \"teehsm-ta {version}: this host is marked broken\" >&2\n    exit 1\n  fi\n  prev=$a\ndone\n"
        )
    } else {
        String::new()
    };
    let script = format!("#!/bin/sh\n# teehsm-ta {version} (test package)\n{check}exec {} \"$@\"\n", real.display());
    let ta = dir.join("teehsm-ta");
    std::fs::write(&ta, script).unwrap();
    std::fs::set_permissions(&ta, std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = Manifest {
        name: "teehsm-ta".into(),
        version: version.into(),
        security_version: 1,
        platform: Platform::Sim,
        files: vec![FileEntry { path: "teehsm-ta".into(), sha256: hash_file(&ta).unwrap(), mode: 0o755 }],
    };
    std::fs::write(dir.join("manifest.toml"), m.to_toml().unwrap()).unwrap();
    sign_package(dir, key).unwrap();
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The CA's /healthz, which must answer 200 (ready).
fn healthz(ca_state: &Path) -> Value {
    let addr = std::fs::read_to_string(ca_state.join("http.addr")).unwrap();
    let (status, body) = http_request(addr.trim(), "GET", "/healthz", "").unwrap();
    let v = json(&body);
    assert_eq!(status, 200, "{body}");
    v
}

/// The CA's /healthz whatever it answers (503 while its TA restarts), for
/// waiting on a state.
fn healthz_now(ca_state: &Path) -> Value {
    let addr = std::fs::read_to_string(ca_state.join("http.addr")).unwrap_or_default();
    http_request(addr.trim(), "GET", "/healthz", "").map(|(_, body)| json(&body)).unwrap_or(Value::Null)
}

fn steps(job: &Value) -> Vec<String> {
    job["result"]["history"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn rollout_to_three_hosts_one_rolls_back_and_the_rollout_is_partial() {
    let started = Instant::now();
    let work = TempDir::new("rollout-pkgs");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let key = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let key_hex = hex::encode(key.public_key().as_ref());
    let mut keys = VendorKeys::new();
    keys.add(key.public_key().as_ref()).unwrap();

    let v1 = work.path().join("pkg-1.0.0");
    let v2 = work.path().join("pkg-2.0.0");
    make_package(&v1, "1.0.0", &key, false);
    make_package(&v2, "2.0.0", &key, true);

    // Every host starts with 1.0.0 installed and active.
    let roots: Vec<PathBuf> = (1..=3).map(|n| work.path().join(format!("host{n}-packages"))).collect();
    for root in &roots {
        let inst = Installer::open(root, keys.clone()).unwrap();
        inst.install(&v1, false).unwrap();
        inst.activate("1.0.0", false).unwrap();
    }
    let (ca_roots, agent_roots, agent_key) = (roots.clone(), roots.clone(), key_hex.clone());
    let fleet = Fleet::start(
        "fleet-rollout",
        FleetOptions {
            interval_ms: 300,
            ca_args: Box::new(move |n| {
                let ta = ca_roots[n - 1].join("current").join("teehsm-ta");
                vec!["--ta-binary".into(), ta.display().to_string(), "--restart-backoff-min-ms".into(), "100".into()]
            }),
            agent_args: Box::new(move |n| {
                vec![
                    "--package-root".into(),
                    agent_roots[n - 1].display().to_string(),
                    "--vendor-key".into(),
                    agent_key.clone(),
                    "--health-timeout-ms".into(),
                    "15000".into(),
                    "--drain-timeout-ms".into(),
                    "2000".into(),
                ]
            }),
            ..FleetOptions::default()
        },
    );
    for (n, h) in fleet.hosts.iter().enumerate() {
        let hz = healthz(&h.ca.state_dir);
        assert!(hz["ta_binary"].as_str().unwrap().ends_with("versions/1.0.0/teehsm-ta"), "host {}: {hz}", n + 1);
    }
    // A key on host 1: it must survive the upgrade (same sealed store).
    let mut c = connect(&fleet.hosts[0].ca.socket);
    let s = user_session(&mut c);
    gen_pair(&mut c, &p256_pair(s, "before-upgrade", true)).expect("GenerateKeyPair");
    drop(c);

    // A client that stays connected to host 2 through the upgrade: the drain
    // waits for it (2 s), then the restart closes it.
    let mut lingering = connect(&fleet.hosts[1].ca.socket);
    let lingering_session = user_session(&mut lingering);

    // Host 3 cannot run 2.0.0.
    std::fs::write(fleet.hosts[2].ca.state_dir.join(BROKEN_MARKER), b"").unwrap();

    // Import 2.0.0 into the console: a tampered copy and a wrong key are refused.
    let package_add = |dir: &Path, key: &str| {
        Command::new(bin("teehsm-console"))
            .args(["package", "add", "--data-dir"])
            .arg(&fleet.console_data)
            .args(["--vendor-key", key])
            .arg(dir)
            .output()
            .unwrap()
    };
    let other = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let out = package_add(&v2, &hex::encode(other.public_key().as_ref()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"), "{}", String::from_utf8_lossy(&out.stderr));
    let tampered = work.path().join("pkg-2.0.0-tampered");
    make_package(&tampered, "2.0.0", &key, true);
    std::fs::write(tampered.join("teehsm-ta"), "#!/bin/sh\nexit 0\n").unwrap();
    let out = package_add(&tampered, &key_hex);
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHA-256 mismatch"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = package_add(&v2, &key_hex);
    assert!(out.status.success(), "package add: {}", String::from_utf8_lossy(&out.stderr));
    let (status, body) = fleet.get("/api/packages").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["packages"][0]["version"], "2.0.0", "{body}");

    // Roll out; bad requests get precise errors.
    let (status, body) = fleet.post("/api/rollouts", r#"{"version":"9.9.9","hosts":["host-1"]}"#).unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not imported"), "{body}");
    let (status, body) = fleet.post("/api/rollouts", r#"{"version":"2.0.0","hosts":["host-1","nobody"]}"#).unwrap();
    assert_eq!(status, 404, "{body}");
    // In two waves: host 1 first (a canary), hosts 2 and 3 once it is done.
    let (status, body) = fleet.post("/api/rollouts", r#"{"version":"2.0.0","waves":[["host-1"],["host-2","host-3"]]}"#).unwrap();
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["id"].as_u64().unwrap();
    assert_eq!(json(&body)["status"], "running");
    assert_eq!(json(&body)["waiting"].as_array().map(Vec::len), Some(2), "{body}");
    let (status, body) = fleet.post("/api/rollouts", r#"{"version":"2.0.0","group":"e2e"}"#).unwrap();
    assert_eq!(status, 409, "a second rollout while the first runs: {body}");

    let deadline = Instant::now() + Duration::from_secs(60);
    let rollout = loop {
        let (status, body) = fleet.get(&format!("/api/rollouts/{id}")).unwrap();
        assert_eq!(status, 200, "{body}");
        let r = json(&body);
        if r["status"] != "running" {
            break r;
        }
        assert!(Instant::now() < deadline, "rollout still running after 60 s: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let pretty = serde_json::to_string_pretty(&rollout).unwrap();
    assert_eq!(rollout["status"], "partial", "{pretty}");
    let hosts = rollout["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{pretty}");
    assert_eq!(hosts.iter().map(|h| h["wave"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 1], "{pretty}");
    let canary_done = hosts[0]["job"]["updated_at_ms"].as_u64().unwrap();
    for h in &hosts[1..] {
        assert!(h["job"]["created_at_ms"].as_u64().unwrap() >= canary_done, "wave 1 queued before wave 0 ended: {pretty}");
    }
    assert!(rollout["waiting"].as_array().unwrap().is_empty(), "{pretty}");
    let full = ["fetch", "verify", "stage", "drain_sessions", "switch", "health_check"];
    for h in &hosts[..2] {
        assert_eq!(h["job"]["state"], "succeeded", "{pretty}");
        let mut want: Vec<&str> = full.to_vec();
        want.push("done");
        assert_eq!(steps(&h["job"]), want, "{pretty}");
        assert_eq!(h["job"]["result"]["active_version"], "2.0.0", "{pretty}");
    }
    let h3 = &hosts[2];
    assert_eq!(h3["host_id"], "host-3");
    assert_eq!(h3["job"]["state"], "rolled_back", "{pretty}");
    let mut want: Vec<&str> = full.to_vec();
    want.extend(["rolling_back", "rolled_back"]);
    assert_eq!(steps(&h3["job"]), want, "{pretty}");
    let drain_detail = |h: &Value| {
        h["job"]["result"]["history"].as_array().unwrap().iter().find(|s| s["step"] == "drain_sessions").unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(drain_detail(&hosts[0]).contains("no open sessions"), "{pretty}");
    assert!(drain_detail(&hosts[1]).contains("still open after 2000 ms: 1 sessions"), "{pretty}");
    assert!(lingering.call(&Request::GetSessionInfo { session: lingering_session }).is_err(), "the lingering session survived the TA restart");
    let msg = h3["job"]["result"]["message"].as_str().unwrap();
    assert!(msg.contains("health check failed") && msg.contains("exited before it was healthy"), "{msg}");
    assert_eq!(h3["job"]["result"]["active_version"], "1.0.0", "{pretty}");

    // On disk and in the CAs: hosts 1-2 run 2.0.0, host 3 runs 1.0.0 again; every TA serves.
    for (n, h) in fleet.hosts.iter().enumerate() {
        let want = if n < 2 { "2.0.0" } else { "1.0.0" };
        let link = std::fs::read_link(roots[n].join("current")).unwrap();
        assert_eq!(link, Path::new("versions").join(want), "host {}", n + 1);
        let hz = healthz(&h.ca.state_dir);
        assert_eq!(hz["status"], "ok", "host {}: {hz}", n + 1);
        assert!(hz["ta_binary"].as_str().unwrap().ends_with(&format!("versions/{want}/teehsm-ta")), "host {}: {hz}", n + 1);
        let mut c = connect(&h.ca.socket);
        match c.call(&Request::GetTokenInfo { slot: 0 }) {
            Ok(Reply::TokenInfo(_)) => {}
            other => panic!("host {}: GetTokenInfo after the rollout: {other:?}", n + 1),
        }
    }
    // The key made before the upgrade is still on host 1.
    let mut c = connect(&fleet.hosts[0].ca.socket);
    let s = user_session(&mut c);
    let label = Attribute::new(CKA_LABEL, b"before-upgrade".to_vec());
    match c.call(&Request::FindObjects { session: s, template: vec![label], max: 10 }) {
        Ok(Reply::Handles(h)) => assert_eq!(h.len(), 2, "the key pair made before the upgrade: {h:?}"),
        other => panic!("FindObjects: {other:?}"),
    }

    // The heartbeats report the versions.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = fleet.get("/api/hosts").unwrap();
        let v = json(&body);
        let versions: Vec<String> =
            v["hosts"].as_array().unwrap().iter().map(|h| h["report"]["tas"][0]["version"].as_str().unwrap_or("").to_owned()).collect();
        if versions == ["2.0.0", "2.0.0", "1.0.0"] {
            break;
        }
        assert!(Instant::now() < deadline, "reported versions {versions:?}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The audit log has the rollout, the three job results and the partial end.
    let (_, body) = fleet.get("/api/audit").unwrap();
    let audit = json(&body);
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"package.add") && actions.contains(&"rollout.create"), "{body}");
    assert_eq!(actions.iter().filter(|a| **a == "job.finished").count(), 3, "{body}");
    assert!(entries.iter().any(|e| e["action"] == "rollout.finished" && e["details"]["status"] == "partial"), "{body}");

    // Host 3 does not try again: its desired version is back to 1.0.0 and no job is open.
    std::thread::sleep(Duration::from_millis(fleet.interval_ms * 3));
    let link = std::fs::read_link(roots[2].join("current")).unwrap();
    assert_eq!(link, Path::new("versions").join("1.0.0"));
    let (_, body) = fleet.get("/api/rollouts").unwrap();
    assert_eq!(json(&body)["rollouts"].as_array().unwrap().len(), 1, "{body}");
    eprintln!("rollout took {} ms", started.elapsed().as_millis());

    packages_install_uninstall_and_desired_state(&fleet, &roots, &v1, &package_add, &key_hex);
    cancelled_rollout_is_not_carried_out(&fleet, &roots);
    eprintln!("rollout test took {} ms", started.elapsed().as_millis());
}

/// A rollout cancelled before its host picked it up: host 2's agent is
/// paused (SIGSTOP) while a rollout of 1.0.0 to it is created and
/// cancelled; resumed, it does nothing: still on 2.0.0, no desired version,
/// no new job (the console does not reconcile towards the cancelled target).
fn cancelled_rollout_is_not_carried_out(fleet: &Fleet, roots: &[PathBuf]) {
    let agent = fleet.hosts[1].agent.child.id() as i32;
    let signal = |sig: i32| {
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(agent, sig) }, 0);
    };
    let jobs_before = json(&fleet.get("/api/hosts/host-2/jobs").unwrap().1)["jobs"].as_array().unwrap().len();
    signal(libc::SIGSTOP);
    let (status, body) = fleet.post("/api/rollouts", r#"{"version":"1.0.0","hosts":["host-2"]}"#).unwrap();
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["id"].as_u64().unwrap();
    let (status, body) = fleet.post(&format!("/api/rollouts/{id}/cancel"), "").unwrap();
    signal(libc::SIGCONT);
    assert_eq!(status, 200, "{body}");
    let c = json(&body);
    assert_eq!(c["cancelled_hosts"], serde_json::json!(["host-2"]), "{body}");
    assert_eq!(c["rollout"]["status"], "failed", "{body}");
    std::thread::sleep(Duration::from_millis(fleet.interval_ms * 4));
    assert_eq!(std::fs::read_link(roots[1].join("current")).unwrap(), Path::new("versions").join("2.0.0"));
    let h = host_entry(fleet, "host-2");
    assert!(h["desired"]["ta_version"].as_str().unwrap_or("").is_empty(), "{h}");
    assert_eq!(h["report"]["packages"]["active"], "2.0.0", "{h}");
    let jobs = json(&fleet.get("/api/hosts/host-2/jobs").unwrap().1)["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), jobs_before + 1, "only the cancelled job: {jobs:?}");
    let cancelled = jobs.iter().find(|j| j["payload"]["rollout_id"] == id).expect("the rollout's job");
    assert_eq!((cancelled["state"].as_str(), cancelled["result"]["cancelled"]["rollout"].as_u64()), (Some("failed"), Some(id)), "{cancelled}");
    let (status, body) = fleet.post(&format!("/api/rollouts/{id}/cancel"), "").unwrap();
    assert_eq!(status, 409, "{body}");
}

/// Polls `f` every 200 ms for up to 30 s.
fn wait_until(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: still not true after 30 s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn host_entry(fleet: &Fleet, id: &str) -> Value {
    let (status, body) = fleet.get(&format!("/api/hosts/{id}")).unwrap();
    assert_eq!(status, 200, "{body}");
    json(&body)
}

/// Waits for job `job` of `host` to end; returns it.
fn finished_job(fleet: &Fleet, host: &str, job: u64) -> Value {
    let mut out = Value::Null;
    wait_until(&format!("job {job} of {host} ends"), || {
        let (_, body) = fleet.get(&format!("/api/hosts/{host}/jobs")).unwrap();
        let j = json(&body)["jobs"].as_array().unwrap().iter().find(|j| j["id"] == job).cloned().ok_or(body.clone())?;
        if matches!(j["state"].as_str(), Some("queued" | "running")) {
            return Err(j.to_string());
        }
        out = j;
        Ok(())
    });
    out
}

fn queued(status: u16, body: &str) -> u64 {
    assert_eq!(status, 201, "{body}");
    json(body)["job_id"].as_u64().unwrap()
}

fn packages_install_uninstall_and_desired_state(
    fleet: &Fleet,
    roots: &[PathBuf],
    v1: &Path,
    package_add: &dyn Fn(&Path, &str) -> std::process::Output,
    key_hex: &str,
) {
    // Every heartbeat reports what is under the agent's --package-root.
    wait_until("host-1 reports its packages", || {
        let p = &host_entry(fleet, "host-1")["report"]["packages"];
        let want = serde_json::json!({ "active": "2.0.0", "previous": "1.0.0", "installed": ["1.0.0", "2.0.0"] });
        if *p == want {
            Ok(())
        } else {
            Err(p.to_string())
        }
    });
    assert_eq!(host_entry(fleet, "host-1")["desired"]["ta_version"], "2.0.0");

    // Uninstall: the active version is refused; 1.0.0 goes, and with it the rollback target.
    let (status, body) = fleet.post("/api/hosts/host-1/ta/uninstall", r#"{"version":"2.0.0"}"#).unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("active TA version"), "{body}");
    let (status, body) = fleet.post("/api/hosts/host-1/ta/uninstall", r#"{"version":"../etc"}"#).unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, body) = fleet.post("/api/hosts/host-1/ta/uninstall", r#"{"version":"1.0.0"}"#).unwrap();
    let job = finished_job(fleet, "host-1", queued(status, &body));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(!roots[0].join("versions/1.0.0").exists() && std::fs::symlink_metadata(roots[0].join("previous")).is_err());
    wait_until("host-1 reports 1.0.0 gone", || {
        let p = &host_entry(fleet, "host-1")["report"]["packages"];
        if p["installed"] == serde_json::json!(["2.0.0"]) && p["previous"] == "" {
            Ok(())
        } else {
            Err(p.to_string())
        }
    });

    // Install: host 3 (running 1.0.0) drops the 2.0.0 it rolled back from,
    // then gets it staged again by a ta_install, without switching.
    let (status, body) = fleet.post("/api/hosts/host-3/ta/uninstall", r#"{"version":"2.0.0"}"#).unwrap();
    assert_eq!(finished_job(fleet, "host-3", queued(status, &body))["state"], "succeeded");
    assert!(!roots[2].join("versions/2.0.0").exists());
    let (status, body) = fleet.post("/api/hosts/host-3/ta/install", r#"{"version":"9.9.9"}"#).unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not imported"), "{body}");
    let (status, body) = fleet.post("/api/hosts/nobody/ta/install", r#"{"version":"2.0.0"}"#).unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, body) = fleet.post("/api/hosts/host-3/ta/install", r#"{"version":"2.0.0"}"#).unwrap();
    let job = finished_job(fleet, "host-3", queued(status, &body));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(steps(&job), ["fetch", "verify", "stage"], "{job}");
    assert!(roots[2].join("versions/2.0.0/teehsm-ta").exists());
    assert_eq!(std::fs::read_link(roots[2].join("current")).unwrap(), Path::new("versions").join("1.0.0"));
    assert!(healthz(&fleet.hosts[2].ca.state_dir)["ta_binary"].as_str().unwrap().ends_with("versions/1.0.0/teehsm-ta"));
    // Installing it again re-verifies what is there, no download.
    let (status, body) = fleet.post("/api/hosts/host-3/ta/install", r#"{"version":"2.0.0"}"#).unwrap();
    let job = finished_job(fleet, "host-3", queued(status, &body));
    assert_eq!(steps(&job), ["fetch", "done"], "{job}");
    assert!(job["result"]["history"][1]["detail"].as_str().unwrap().contains("already installed"), "{job}");

    // Desired state: host 1 should run 1.0.0, which it no longer has. No job
    // is given; the console sees the difference on the next heartbeat and
    // queues a reconciling upgrade, which fetches 1.0.0 and switches.
    let (status, body) = fleet.put("/api/hosts/host-1/desired", r#"{"ta_version":"1.0.0"}"#).unwrap();
    assert_eq!(status, 404, "1.0.0 is not imported yet: {body}");
    let out = package_add(v1, key_hex);
    assert!(out.status.success(), "package add 1.0.0: {}", String::from_utf8_lossy(&out.stderr));
    for bad in [r#"{"version":"1.0.0"}"#, r#"{"ta_version":7}"#, "nope"] {
        let (status, body) = fleet.put("/api/hosts/host-1/desired", bad).unwrap();
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = fleet.put("/api/hosts/host-1/desired", r#"{"ta_version":"1.0.0"}"#).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = fleet.post("/api/hosts/host-1/ta/uninstall", r#"{"version":"1.0.0"}"#).unwrap();
    assert_eq!(status, 409, "the desired version cannot be uninstalled: {body}");
    wait_until("host-1 converges to 1.0.0", || {
        let hz = healthz_now(&fleet.hosts[0].ca.state_dir);
        let p = host_entry(fleet, "host-1")["report"]["packages"].clone();
        let ok = hz["status"] == "ok" && hz["ta_binary"].as_str().unwrap_or("").ends_with("versions/1.0.0/teehsm-ta") && p["active"] == "1.0.0";
        if ok {
            Ok(())
        } else {
            Err(format!("{hz} {p}"))
        }
    });
    let (_, body) = fleet.get("/api/hosts/host-1/jobs").unwrap();
    let jobs = json(&body)["jobs"].as_array().unwrap().clone();
    let reconciling: Vec<&Value> = jobs.iter().filter(|j| j["payload"]["reconcile"] == true).collect();
    assert_eq!(reconciling.len(), 1, "one reconciling job, not one per heartbeat: {body}");
    assert_eq!(reconciling[0]["payload"]["version"], "1.0.0");
    // The heartbeat can show 1.0.0 active before the job's last steps are
    // reported (a loaded machine): wait for the job itself to finish.
    let job = finished_job(fleet, "host-1", reconciling[0]["id"].as_u64().expect("job id"));
    assert_eq!(job["state"], "succeeded", "{job}");
    // Converged: further heartbeats queue nothing.
    std::thread::sleep(Duration::from_millis(fleet.interval_ms * 4));
    let (_, body) = fleet.get("/api/hosts/host-1/jobs").unwrap();
    assert_eq!(json(&body)["jobs"].as_array().unwrap().len(), jobs.len(), "{body}");
    let (_, body) = fleet.get("/api/audit").unwrap();
    let audit = json(&body);
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["host.desired", "job.ta_install", "job.ta_uninstall", "job.ta_upgrade"] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}
