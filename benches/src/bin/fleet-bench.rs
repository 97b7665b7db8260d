//! Fleet console load test (issue 6): N simulated agents heartbeating
//! against one `teehsm-console serve` on SQLite, or on PostgreSQL with
//! `--database-url postgres://...` (an empty database, e.g. on
//! `scripts/postgres-test-server.sh start --durable`).
//!
//! Starts the release `teehsm-console` from `--bin-dir` in a temporary data
//! directory (loopback gRPC and HTTP on port 0, `--heartbeat-interval-ms`
//! = `--interval-ms`), then:
//!
//! 1. creates `--agents` enrollment tokens through `POST /api/enrollment-tokens`;
//! 2. enrolls that many simulated agents concurrently, each with its own
//!    P-256 key and CSR (`teehsm_agent::enroll::AgentKey`) over the Enroll RPC;
//! 3. opens one mutual-TLS connection per agent (a tonic `Channel` with the
//!    agent's own client certificate) and sends one warm-up heartbeat on it
//!    (not measured: it also proves the certificate is accepted);
//! 4. for `--seconds`, every agent sends a realistic `HostReport` heartbeat
//!    every `--interval-ms`, the agents' first heartbeats spread uniformly
//!    over one interval.
//!
//! Prints the time of each phase, the heartbeat latency (p50/p99/max, as the
//! agent sees it: request sent to response received), errors, heartbeats/s,
//! the console's CPU (utime+stime from /proc/<pid>/stat over the measured
//! window, in cores) and RSS, and the bench process's own CPU (it shares the
//! machine with the console).
//!
//! The bench raises its RLIMIT_NOFILE soft limit to the hard limit; the
//! console, its child, inherits it (it needs one descriptor per agent).
//!
//! Run: `cargo build --release -p teehsm-console -p teehsm-benches &&
//! target/release/fleet-bench --agents 10000 --interval-ms 10000 --seconds 60`

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teehsm_agent::enroll::AgentKey;
use teehsm_wire::proto::fleet::v1 as pb;
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

#[derive(Parser, Debug)]
#[command(about = "Fleet console load test: N simulated agents (own key, own mTLS connection) heartbeating against one \
                   teehsm-console on SQLite or PostgreSQL (--database-url); prints heartbeat latency p50/p99/max, errors, heartbeats/s, console CPU and RSS")]
struct Args {
    /// Simulated agents (each enrolled with its own key and connected over its own mTLS connection).
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Heartbeat interval of every agent, ms (also given to the console as --heartbeat-interval-ms).
    #[arg(long, default_value_t = 10_000)]
    interval_ms: u64,
    /// --heartbeat-interval-ms given to the console (default: --interval-ms). The console runs its
    /// alert evaluation every half of it, so a large value (e.g. 3600000) takes evaluation out of the run.
    #[arg(long)]
    console_interval_ms: Option<u64>,
    /// Length of the measured heartbeat phase, seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Directory holding the teehsm-console binary (default: the workspace's target/release).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Parent of the console's temporary data directory (default: $TMPDIR or /tmp). Its file
    /// system matters for SQLite: every heartbeat is written to its WAL (synced at the next
    /// ordinary commit or checkpoint, not at each heartbeat).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The console's store as its --database-url: a postgres:// URL of an empty database
    /// (default: SQLite in the console's data directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Concurrent token requests and enrollments.
    #[arg(long, default_value_t = 64)]
    enroll_concurrency: usize,
    /// Concurrent mTLS connection setups (TLS handshake + warm-up heartbeat).
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

/// The console child process; SIGTERM + wait on drop, then its data dir is removed.
struct Console {
    child: Child,
    dir: PathBuf,
    grpc: String,
    http: String,
    ca_pem: String,
}

impl Console {
    fn start(bin_dir: &Path, work_dir: &Path, interval_ms: u64, database_url: Option<&str>) -> anyhow::Result<Console> {
        let dir = work_dir.join(format!("teehsm-fleet-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let log = std::fs::File::create(dir.join("console.log")).context("create console.log")?;
        let bin = bin_dir.join("teehsm-console");
        let mut cmd = Command::new(&bin);
        if let Some(url) = database_url {
            // Through the environment: a password in it stays out of `ps`.
            cmd.env("TEEHSM_CONSOLE_DATABASE_URL", url);
        }
        let child = cmd
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
            .arg("--heartbeat-interval-ms")
            .arg(interval_ms.to_string())
            // Token creation over the HTTP API without a login.
            .arg("--allow-loopback-admin")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {} (build it: cargo build --release -p teehsm-console)", bin.display()))?;
        let mut c = Console { child, dir, grpc: String::new(), http: String::new(), ca_pem: String::new() };
        let data = c.dir.join("data");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let read = |f: &str| std::fs::read_to_string(data.join(f)).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            if let (Some(g), Some(h), Some(ca)) = (read("grpc.addr"), read("http.addr"), read("console-ca.pem")) {
                c.grpc = g;
                c.http = h;
                c.ca_pem = ca;
                return Ok(c);
            }
            if let Some(st) = c.child.try_wait()? {
                bail!("teehsm-console exited ({st}); see {}", c.dir.join("console.log").display());
            }
            if Instant::now() > deadline {
                bail!("teehsm-console did not write grpc.addr/http.addr within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// utime + stime of /proc/PID/stat, in seconds (NaN if unreadable).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return f64::NAN };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// VmRSS and VmHWM of /proc/PID/status, MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns (soft, hard).
fn raise_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// One HTTP/1.1 request to the console's loopback API; returns (status, body).
async fn http(addr: &str, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let (head, body) = out.split_once("\r\n\r\n").ok_or_else(|| anyhow!("no HTTP header end"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("bad status line: {head}"))?;
    Ok((status, body.to_owned()))
}

async fn new_token(addr: &str) -> anyhow::Result<String> {
    let (status, body) = http(addr, "POST", "/api/enrollment-tokens").await?;
    if status != 201 {
        bail!("POST /api/enrollment-tokens: {status} {body}");
    }
    let v: serde_json::Value = serde_json::from_str(&body)?;
    v["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no token in {body}"))
}

fn endpoint(grpc: &str, tls: ClientTlsConfig) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(format!("https://{grpc}"))?
        .tls_config(tls.domain_name("localhost"))?
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(30)))
}

/// One enrolled simulated agent.
struct Enrolled {
    host_id: String,
    cert_pem: String,
    key_pem: String,
}

/// A heartbeat report like the one `teehsm-agent run` sends for a healthy host
/// (one TA, two tokens well under their capacity, CPU/memory/traffic figures).
fn report(i: usize, seq: u64) -> pb::HostReport {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let tokens =
        (0..2u64).map(|slot| pb::TokenReport { slot, label: format!("slot-{slot}"), keys: 10 + (i as u64 + slot) % 50, capacity: 1000 }).collect();
    pb::HostReport {
        reported_at_ms: now,
        tas: vec![pb::TaReport {
            attestation_report: Vec::new(),
            ta_id: "default".into(),
            version: "1.0.0".into(),
            up: true,
            restarts_total: 0,
            self_test_ok: true,
            audit_chain_ok: true,
            tokens,
            platform: String::new(),
            measurement: String::new(),
        }],
        ta_cpu_percent: 2.5 + (seq % 7) as f64,
        ta_memory_bytes: 48 << 20,
        ca_cpu_percent: 1.5 + (seq % 5) as f64,
        ca_memory_bytes: 32 << 20,
        memory_limit_bytes: 8 << 30,
        ops_per_second: 100.0 + (seq % 13) as f64,
        p99_latency_ms: 1.2,
        tees: vec!["sim".into()],
        agent_version: env!("CARGO_PKG_VERSION").into(),
        // As an agent with --package-root reports them, so every heartbeat
        // also goes through the desired-state check.
        packages: Some(pb::PackageInventory { active: "1.0.0".into(), previous: String::new(), installed: vec!["1.0.0".into()] }),
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// `name value` of a metric line in Prometheus text (first match).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

struct Errors {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Errors {
    fn new() -> Self {
        Errors { count: AtomicU64::new(0), first: Mutex::new(None) }
    }
    fn record(&self, e: impl std::fmt::Display) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.first.lock() {
            if f.is_none() {
                *f = Some(e.to_string());
            }
        }
    }
    fn first(&self) -> String {
        self.first.lock().ok().and_then(|f| f.clone()).unwrap_or_default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.agents == 0 || args.interval_ms == 0 || args.seconds == 0 {
        bail!("--agents, --interval-ms and --seconds must be > 0");
    }
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release"));
    let (soft, hard) = raise_nofile();
    eprintln!("RLIMIT_NOFILE {soft}/{hard} (inherited by the console)");
    if soft < args.agents as u64 + 256 {
        eprintln!("warning: RLIMIT_NOFILE {soft} is below --agents + 256; connections may fail (raise the hard limit)");
    }
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let console_interval_ms = args.console_interval_ms.unwrap_or(args.interval_ms);
    let console = Console::start(&bin_dir, &work_dir, console_interval_ms, args.database_url.as_deref())?;
    let pid = console.pid();
    eprintln!("console pid {pid}, gRPC {}, HTTP {}, data dir {}", console.grpc, console.http, console.dir.join("data").display());
    let n = args.agents;

    // 1. Tokens.
    let t = Instant::now();
    let sem = Arc::new(Semaphore::new(args.enroll_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (sem, addr) = (sem.clone(), console.http.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            new_token(&addr).await
        }));
    }
    let mut tokens = Vec::with_capacity(n);
    for task in tasks {
        tokens.push(task.await??);
    }
    let tokens_secs = t.elapsed().as_secs_f64();
    eprintln!("{n} tokens in {tokens_secs:.1} s");

    // 2. Enrollment: own key + CSR per agent, Enroll over a few shared anonymous TLS channels.
    let t = Instant::now();
    let cpu0 = cpu_seconds(&pid.to_string());
    let ca = Certificate::from_pem(&console.ca_pem);
    let mut anon = Vec::new();
    for _ in 0..4 {
        anon.push(endpoint(&console.grpc, ClientTlsConfig::new().ca_certificate(ca.clone()))?.connect().await.context("connect to the console")?);
    }
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in tokens.into_iter().enumerate() {
        let (sem, ch) = (sem.clone(), anon[i % anon.len()].clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let key = AgentKey::generate()?;
            let csr_pem = key.csr_pem()?;
            let host_id = format!("bench-{i:05}");
            let req = pb::EnrollRequest { token, host_id: host_id.clone(), group: format!("group-{}", i % 10), csr_pem };
            let resp = AgentServiceClient::new(ch).enroll(req).await.with_context(|| format!("enroll {host_id}"))?.into_inner();
            anyhow::Ok(Enrolled { host_id, cert_pem: resp.cert_pem, key_pem: key.pem().to_string() })
        }));
    }
    let mut agents = Vec::with_capacity(n);
    for task in tasks {
        agents.push(task.await??);
    }
    drop(anon);
    let enroll_secs = t.elapsed().as_secs_f64();
    let enroll_cpu = cpu_seconds(&pid.to_string()) - cpu0;
    eprintln!("{n} enrollments in {enroll_secs:.1} s (console CPU {enroll_cpu:.1} s)");

    // 3. One mTLS connection per agent + a warm-up heartbeat.
    let t = Instant::now();
    let csem = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for (i, a) in agents.into_iter().enumerate() {
        let (sem, grpc, ca) = (csem.clone(), console.grpc.clone(), ca.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let tls = ClientTlsConfig::new().ca_certificate(ca).identity(Identity::from_pem(&a.cert_pem, &a.key_pem));
            let ch: Channel = endpoint(&grpc, tls)?.connect().await.with_context(|| format!("connect {}", a.host_id))?;
            let mut client = AgentServiceClient::new(ch);
            client
                .heartbeat(pb::HeartbeatRequest { report: Some(report(i, 0)) })
                .await
                .with_context(|| format!("warm-up heartbeat of {}", a.host_id))?;
            anyhow::Ok(client)
        }));
    }
    let mut clients = Vec::with_capacity(n);
    for task in tasks {
        clients.push(task.await??);
    }
    let connect_secs = t.elapsed().as_secs_f64();
    eprintln!("{n} mTLS connections + warm-up heartbeats in {connect_secs:.1} s");
    let metrics_before = http(&console.http, "GET", "/metrics").await.map(|r| r.1).unwrap_or_default();

    // 4. Measured heartbeats.
    let interval = Duration::from_millis(args.interval_ms);
    let run = Duration::from_secs(args.seconds);
    let errors = Arc::new(Errors::new());
    let (c0, s0) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = start + run;
    let mut tasks = Vec::with_capacity(n);
    for (i, mut client) in clients.into_iter().enumerate() {
        let errors = errors.clone();
        let offset = interval.mul_f64(i as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::new();
            let mut next = start + offset;
            let mut seq = 1u64;
            while next < end {
                tokio::time::sleep_until(next).await;
                let req = pb::HeartbeatRequest { report: Some(report(i, seq)) };
                let t = Instant::now();
                match client.heartbeat(req).await {
                    Ok(_) => lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => errors.record(format!("{:?}: {}", e.code(), e.message())),
                }
                seq += 1;
                next += interval;
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (c1, s1) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let (rss, hwm) = rss_mib(pid);
    let metrics_after = http(&console.http, "GET", "/metrics").await.map(|r| r.1).unwrap_or_default();
    lat.sort_unstable();

    let server_mean_ms = {
        let d = |name: &str| metric(&metrics_after, name).unwrap_or(f64::NAN) - metric(&metrics_before, name).unwrap_or(f64::NAN);
        1000.0 * d("teehsm_console_heartbeat_duration_seconds_sum") / d("teehsm_console_heartbeat_duration_seconds_count")
    };
    let ok = lat.len() as f64;
    let err = errors.count.load(Ordering::Relaxed);
    let console_cores = (c1 - c0) / elapsed;
    let p99 = pct(&lat, 99.0);

    println!();
    println!(
        "fleet-bench: {n} agents, heartbeat every {} ms, {} s measured, console on {} (its interval {console_interval_ms} ms)",
        args.interval_ms,
        args.seconds,
        if args.database_url.is_some() { "PostgreSQL (--database-url)".to_string() } else { format!("SQLite in {}", work_dir.display()) }
    );
    println!("{:<44} {:>14}", "metric", "value");
    println!("{:<44} {:>14}", "-".repeat(44), "-".repeat(14));
    let row = |k: &str, v: String| println!("{k:<44} {v:>14}");
    row("token creation (HTTP), s", format!("{tokens_secs:.1}"));
    row("enrollment (Enroll RPC), s", format!("{enroll_secs:.1}"));
    row("enrollments/s", format!("{:.0}", n as f64 / enroll_secs));
    row("mTLS connect + warm-up heartbeat, s", format!("{connect_secs:.1}"));
    row("measured window, s", format!("{elapsed:.1}"));
    row("heartbeats ok", format!("{}", lat.len()));
    row("heartbeat errors", format!("{err}"));
    row("heartbeats/s", format!("{:.1}", ok / elapsed));
    row("latency p50, ms", format!("{:.2}", pct(&lat, 50.0)));
    row("latency p90, ms", format!("{:.2}", pct(&lat, 90.0)));
    row("latency p99, ms", format!("{p99:.2}"));
    row("latency p99.9, ms", format!("{:.2}", pct(&lat, 99.9)));
    row("latency max, ms", format!("{:.2}", pct(&lat, 100.0)));
    row("heartbeats slower than 50 ms", format!("{}", lat.iter().filter(|&&us| us > 50_000).count()));
    row("console handler mean (its metrics), ms", format!("{server_mean_ms:.3}"));
    row("console CPU, cores", format!("{console_cores:.3}"));
    row("console RSS now / peak, MiB", format!("{rss:.0} / {hwm:.0}"));
    row("bench process CPU, cores", format!("{:.3}", (s1 - s0) / elapsed));
    println!();
    let pass = p99 < 50.0 && console_cores < 1.0 && err == 0;
    println!("acceptance (p99 < 50 ms, console CPU < 1 core, no errors): {}", if pass { "PASS" } else { "FAIL" });
    if err > 0 {
        println!("first error: {}", errors.first());
    }
    Ok(())
}
