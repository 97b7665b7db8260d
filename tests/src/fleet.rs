//! A test fleet (issue 6): one real teehsm-console and N real hosts, each a
//! teehsm-ca (dev token, its own state directory) with an enrolled
//! teehsm-agent, plus a webhook receiver for the console's alerts. Used by
//! the fleet end-to-end, rollout and browser tests.
//!
//! Needs the binaries: `cargo build --bins`.

use crate::{bin, bin_dir, http_request, start_ca_dev_token_with, wait_for_file_line, CaProcess, Daemon, TempDir, WebhookSink};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How to start a fleet.
pub struct FleetOptions {
    pub hosts: usize,
    /// Heartbeat interval of the console and the agents.
    pub interval_ms: u64,
    /// The TAs' `max_token_objects` (the capacity the agents report).
    pub ta_max_token_objects: u64,
    /// `--token-capacity` of every agent (an override; None: the TA's).
    pub token_capacity: Option<u64>,
    /// Extra `teehsm-ca` arguments for host `n` (1-based).
    pub ca_args: Box<dyn Fn(usize) -> Vec<String>>,
    /// Extra `teehsm-agent run` arguments for host `n` (1-based).
    pub agent_args: Box<dyn Fn(usize) -> Vec<String>>,
    /// Extra `teehsm-console serve` arguments.
    pub console_args: Vec<String>,
    /// The console's `--database-url` (None: SQLite in its data directory).
    pub database_url: Option<String>,
    /// The CA agents enroll with (`--console-ca`); None: the console CA.
    pub console_ca: Option<PathBuf>,
    /// `--allow-loopback-admin`, which [`Fleet::get`] and the other API
    /// helpers (and enrolling hosts) need; off for a console that must
    /// refuse it (`--require-second-factor`).
    pub loopback_admin: bool,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            hosts: 3,
            interval_ms: 500,
            ta_max_token_objects: 10,
            token_capacity: None,
            ca_args: Box::new(|_| Vec::new()),
            agent_args: Box::new(|_| Vec::new()),
            console_args: Vec::new(),
            database_url: None,
            console_ca: None,
            loopback_admin: true,
        }
    }
}

/// One host of the fleet: `host-<n>`.
pub struct FleetHost {
    pub id: String,
    pub ca: CaProcess,
    pub agent: Daemon,
    /// The agent's state directory (key, certificate).
    pub agent_state: PathBuf,
}

/// A running fleet; everything is stopped on drop (agents first).
pub struct Fleet {
    pub hosts: Vec<FleetHost>,
    pub console: Daemon,
    /// The console's HTTP API, host:port.
    pub http: String,
    /// The console's agent gRPC endpoint, https://host:port.
    pub console_url: String,
    pub console_ca: PathBuf,
    pub console_data: PathBuf,
    pub sink: WebhookSink,
    pub interval_ms: u64,
    pub dir: TempDir,
}

/// Waits for the agent and console binaries (built by other crates of the workspace).
pub fn fleet_binaries_present() -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if bin_dir().join("teehsm-agent").exists() && bin_dir().join("teehsm-console").exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

impl Fleet {
    /// Starts the console, then each host (CA, enrollment, agent), and
    /// waits until every host has reported.
    pub fn start(tag: &str, opts: FleetOptions) -> Fleet {
        assert!(fleet_binaries_present(), "target/<profile>/teehsm-agent and teehsm-console are needed: cargo build --bins");
        let dir = TempDir::new(tag);
        let sink = WebhookSink::start();
        let data = dir.path().join("console");
        let interval = opts.interval_ms.to_string();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--grpc-listen".into(),
            "127.0.0.1:0".into(),
            "--http-listen".into(),
            "127.0.0.1:0".into(),
            "--webhook".into(),
            sink.url.clone(),
            "--heartbeat-interval-ms".into(),
            interval.clone(),
        ];
        if opts.loopback_admin {
            // The harness's own API calls (get/post) come from loopback
            // without a session; browsers still have to log in.
            args.push("--allow-loopback-admin".into());
        }
        args.extend(opts.console_args.iter().cloned());
        if let Some(url) = &opts.database_url {
            args.extend(["--database-url".into(), url.clone()]);
        }
        let console = Daemon::spawn("teehsm-console", &args.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>).collect::<Vec<_>>());
        let grpc = wait_for_file_line(&data.join("grpc.addr"), Duration::from_secs(30));
        let http = wait_for_file_line(&data.join("http.addr"), Duration::from_secs(30));
        let mut fleet = Fleet {
            hosts: Vec::new(),
            console,
            http,
            console_url: format!("https://{grpc}"),
            console_ca: opts.console_ca.clone().unwrap_or_else(|| data.join("console-ca.pem")),
            console_data: data,
            sink,
            interval_ms: opts.interval_ms,
            dir,
        };
        for n in 1..=opts.hosts {
            let mut ca_extra = vec![format!("--ta-arg=--max-token-objects={}", opts.ta_max_token_objects)];
            ca_extra.extend((opts.ca_args)(n));
            let ca = start_ca_dev_token_with(&ca_extra.iter().map(String::as_str).collect::<Vec<_>>());
            let id = format!("host-{n}");
            let state = fleet.dir.path().join(format!("agent{n}"));
            let token = fleet.enrollment_token();
            let out = fleet.enroll(&token, &id, &state);
            assert!(out.status.success(), "enroll {id}: {}", String::from_utf8_lossy(&out.stderr));
            // Tokens are single use: the same token cannot enroll a second host.
            let again = fleet.enroll(&token, &format!("intruder-{n}"), &fleet.dir.path().join(format!("intruder{n}")));
            assert!(!again.status.success(), "a used token enrolled a second host");
            let mut agent_args: Vec<String> = vec![
                "run".into(),
                "--console".into(),
                fleet.console_url.clone(),
                "--state-dir".into(),
                state.display().to_string(),
                "--ca-state-dir".into(),
                ca.state_dir.display().to_string(),
                "--interval-ms".into(),
                interval.clone(),
            ];
            if let Some(c) = opts.token_capacity {
                agent_args.extend(["--token-capacity".into(), c.to_string()]);
            }
            agent_args.extend((opts.agent_args)(n));
            let agent = Daemon::spawn("teehsm-agent", &agent_args.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>).collect::<Vec<_>>());
            fleet.hosts.push(FleetHost { id, ca, agent, agent_state: state });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while fleet.reporting_hosts() < opts.hosts {
            assert!(Instant::now() < deadline, "/api/hosts did not show {} reporting hosts: {:?}", opts.hosts, fleet.get("/api/hosts"));
            std::thread::sleep(Duration::from_millis(100));
        }
        fleet
    }

    /// A new one-time enrollment token from the console's API.
    pub fn enrollment_token(&self) -> String {
        let (status, body) = self.post("/api/enrollment-tokens", "").expect("POST /api/enrollment-tokens");
        assert_eq!(status, 201, "{body}");
        serde_json::from_str::<Value>(&body).expect("token JSON")["token"].as_str().expect("token").to_string()
    }

    /// Runs `teehsm-agent enroll` for `host_id` into `state`.
    pub fn enroll(&self, token: &str, host_id: &str, state: &std::path::Path) -> std::process::Output {
        Command::new(bin("teehsm-agent"))
            .args(["enroll", "--console", &self.console_url, "--console-ca"])
            .arg(&self.console_ca)
            .args(["--token", token, "--host-id", host_id, "--group", "e2e", "--state-dir"])
            .arg(state)
            .output()
            .expect("run teehsm-agent enroll")
    }

    /// GET on the console's HTTP API.
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        http_request(&self.http, "GET", path, "")
    }

    /// POST on the console's HTTP API.
    pub fn post(&self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        http_request(&self.http, "POST", path, body)
    }

    /// PUT on the console's HTTP API.
    pub fn put(&self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        http_request(&self.http, "PUT", path, body)
    }

    /// Imports a trivial signed TA package `version` (a fresh vendor key;
    /// its teehsm-ta is a script that exits) with `teehsm-console package
    /// add`, for tests that need a rollout but no host to install it.
    pub fn import_test_package(&self, version: &str) {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        use std::os::unix::fs::PermissionsExt;
        use teehsm_agent::package::{hash_file, sign_package, FileEntry, Manifest, Platform};
        let dir = self.dir.path().join(format!("test-package-{version}"));
        std::fs::create_dir_all(&dir).expect("package directory");
        let ta = dir.join("teehsm-ta");
        std::fs::write(&ta, format!("#!/bin/sh\n# teehsm-ta {version} (test package)\nexit 1\n")).expect("write teehsm-ta");
        std::fs::set_permissions(&ta, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let m = Manifest {
            name: "teehsm-ta".into(),
            version: version.into(),
            security_version: 1,
            platform: Platform::Sim,
            files: vec![FileEntry { path: "teehsm-ta".into(), sha256: hash_file(&ta).expect("hash"), mode: 0o755 }],
        };
        std::fs::write(dir.join("manifest.toml"), m.to_toml().expect("manifest")).expect("write manifest");
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).expect("key").as_ref()).expect("key");
        sign_package(&dir, &key).expect("sign");
        let out = Command::new(bin("teehsm-console"))
            .args(["package", "add", "--data-dir"])
            .arg(&self.console_data)
            .args(["--vendor-key", &hex::encode(key.public_key().as_ref())])
            .arg(&dir)
            .output()
            .expect("run teehsm-console package add");
        assert!(out.status.success(), "package add: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Hosts listed by /api/hosts that have sent a report.
    pub fn reporting_hosts(&self) -> usize {
        match self.get("/api/hosts") {
            Ok((200, body)) => serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["hosts"].as_array().map(|h| h.iter().filter(|h| !h["report"].is_null()).count()))
                .unwrap_or(0),
            _ => 0,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Agents first, so none reports a CA that is going away.
        for h in &mut self.hosts {
            h.agent.kill9();
        }
    }
}

/// An alert of an Alertmanager webhook body for which `pred(labels, status)` holds.
pub fn webhook_has_alert(body: &str, pred: impl Fn(&Value, &str) -> bool) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return false };
    v["alerts"].as_array().is_some_and(|a| a.iter().any(|a| pred(&a["labels"], a["status"].as_str().unwrap_or(""))))
}

/// A new, empty database on the PostgreSQL server named by
/// `TEEHSM_TEST_POSTGRES_URL` (scripts/test.sh starts one), as a URL; None
/// without the variable (tests then skip, except under `CI=true`, where
/// they must not). Created with `psql`. With `TEEHSM_TEST_POSTGRES_CA` (the
/// test server's TLS CA) the URL asks for TLS with `sslmode=verify-full`.
pub fn fresh_postgres_database(tag: &str) -> Option<String> {
    let Ok(admin) = std::env::var("TEEHSM_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but TEEHSM_TEST_POSTGRES_URL is not set: scripts/test.sh starts a server (scripts/postgres-test-server.sh)"
        );
        return None;
    };
    let name = format!(
        "{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() % 1_000_000_000)
    );
    let out = Command::new("psql")
        .arg(&admin)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql");
    assert!(out.status.success(), "CREATE DATABASE {name}: {}", String::from_utf8_lossy(&out.stderr));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_string();
    Some(match std::env::var("TEEHSM_TEST_POSTGRES_CA").ok().filter(|c| !c.is_empty()) {
        Some(ca) => format!("{base}/{name}?sslmode=verify-full&sslrootcert={ca}"),
        None => format!("{base}/{name}"),
    })
}

/// (sessions with TLS, sessions without) that `application_name` has open
/// on the database of `url`, as the server sees them (psql on the admin URL).
pub fn postgres_sessions_by_tls(url: &str, application_name: &str) -> (u64, u64) {
    let admin = std::env::var("TEEHSM_TEST_POSTGRES_URL").expect("TEEHSM_TEST_POSTGRES_URL");
    let without_query = url.split_once('?').map_or(url, |(u, _)| u);
    let database = without_query.rsplit_once('/').map_or(without_query, |(_, d)| d);
    let sql = format!(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = '{database}' AND a.application_name = '{application_name}'"
    );
    let out =
        Command::new("psql").arg(&admin).args(["-v", "ON_ERROR_STOP=1", "-q", "-t", "-A", "-F", " ", "-c"]).arg(sql).output().expect("run psql");
    assert!(out.status.success(), "pg_stat_ssl: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut n = text.split_whitespace().map(|v| v.parse::<u64>().expect("a count"));
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

/// Key distribution for a test fleet: the console's signing key, a trust
/// anchor directory the hosts' simulated report keys go into, and an
/// attestation policy for the development TA signer (docs/key-distribution.md).
pub struct Keydist {
    /// `teehsm-console serve` arguments that turn key distribution on.
    pub console_args: Vec<String>,
    /// The console's public key (PEM), for `teehsm keydist trust`.
    pub public_key: PathBuf,
    /// SO and user PIN files of the dev tokens.
    pub so_pin: PathBuf,
    pub user_pin: PathBuf,
    anchors: PathBuf,
}

impl Keydist {
    /// Makes the files in `dir`.
    pub fn new(dir: &Path) -> Keydist {
        let write = |name: &str, content: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, content).expect("write keydist file");
            p
        };
        let so_pin = write("so.pin", &[crate::SO_PIN, b"\n"].concat());
        let user_pin = write("user.pin", &[crate::USER_PIN, b"\n"].concat());
        let (signing_key, public_key) = (dir.join("console-keydist.pk8"), dir.join("console-keydist.pub.pem"));
        let out = Command::new(bin("teehsm-console"))
            .args(["keydist", "keygen", "--out"])
            .arg(&signing_key)
            .arg("--public-out")
            .arg(&public_key)
            .output()
            .expect("run teehsm-console keydist keygen");
        assert!(out.status.success(), "keydist keygen: {}", String::from_utf8_lossy(&out.stderr));
        let anchors = dir.join("anchors");
        std::fs::create_dir_all(&anchors).expect("anchors dir");
        let signer = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"teehsm development signer v1");
        let policy = write("policy.toml", format!("allow_simulation = true\nallowed_signers = [\"{}\"]\n", hex::encode(signer.as_ref())).as_bytes());
        let console_args = vec![
            "--keydist-signing-key".into(),
            signing_key.display().to_string(),
            "--attestation-trust-anchor".into(),
            anchors.display().to_string(),
            "--attestation-policy".into(),
            policy.display().to_string(),
        ];
        Keydist { console_args, public_key, so_pin, user_pin, anchors }
    }

    /// Adds `host`'s report key to the trust anchors and, with `trust`, has
    /// its token's SO trust the console's key.
    pub fn add_host(&self, host: &FleetHost, trust: bool) {
        let anchor = self.anchors.join(format!("{}.pem", host.id));
        std::fs::write(anchor, crate::sim_report_key(&host.ca.state_dir.join("platform"), "pem")).expect("write trust anchor");
        if trust {
            let out = Command::new(bin("teehsm"))
                .args(["keydist", "trust", "--socket"])
                .arg(&host.ca.socket)
                .arg("--so-pin-file")
                .arg(&self.so_pin)
                .arg("--console-key")
                .arg(&self.public_key)
                .output()
                .expect("run teehsm keydist trust");
            assert!(out.status.success(), "keydist trust: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
