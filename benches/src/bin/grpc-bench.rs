//! Sign throughput of the gRPC API under concurrent load, side by side with
//! the raw library call the TA makes, in one run.
//!
//! Starts `teehsm-ca` (dev token, gRPC on 127.0.0.1 with the dev TLS
//! certificate) and its TA from the release binaries, registers an API
//! client, creates one key per algorithm, then per algorithm: `--clients`
//! tokio tasks (by default each with its own TLS connection; with
//! `--connections N` they share N, HTTP/2 multiplexing their calls) sign
//! 32-byte digests through the SDK (authenticator + response-MAC check on
//! every call) for `--seconds`; then teehsm_crypto signs the same digests
//! on `--raw-threads` threads. Also prints the CPU each process used
//! during the load (from /proc), so "TA CPU us/op" can be set against the
//! raw library's cost per signature, and the share of the calls the CA
//! answered within 5 ms of receiving them (its
//! `teehsm_grpc_request_duration_seconds` histogram), which separates the
//! service's latency from the load generator's own queueing. Last, an
//! estimate (not a measurement) of the rate the CA and the TA would reach
//! with the machine's cores to themselves, from the CPU they used per call.
//!
//! Run: `cargo build --release --bins && cargo run --release -p teehsm-benches --bin grpc-bench -- --seconds 30`

use anyhow::{bail, Context};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use teehsm_benches::{measure, Stack, StackOptions};
use teehsm_sdk::proto::{Algorithm, CreateKeyRequest, SignRequest};
use teehsm_sdk::{ApiClient, ApiClientConfig, Credentials};

#[derive(Parser)]
#[command(about = "gRPC Sign ops/s and latency with N concurrent clients vs the raw library call")]
struct Args {
    /// Seconds of load per algorithm.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Concurrent clients (one tokio task and one TLS connection each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// TLS connections the clients share (HTTP/2 multiplexes the calls
    /// of the clients on one connection) [default: one per client].
    #[arg(long)]
    connections: Option<usize>,
    /// Algorithms: comma-separated from p256, sm2.
    #[arg(long, default_value = "p256,sm2")]
    algorithms: String,
    /// Threads of the raw library measurement (the TA's signing threads on this 2-core box).
    #[arg(long, default_value_t = 2)]
    raw_threads: usize,
    /// Seconds of the raw library measurement per algorithm.
    #[arg(long, default_value_t = 10.0)]
    raw_seconds: f64,
    /// Worker threads of the load generator's tokio runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Directory of teehsm-ca, teehsm-ta and teehsm [default: next to this executable].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

#[derive(Clone, Copy)]
enum Alg {
    P256,
    Sm2,
}

impl Alg {
    fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "p256" => Ok(Alg::P256),
            "sm2" => Ok(Alg::Sm2),
            other => bail!("unknown algorithm {other:?}: use p256 or sm2"),
        }
    }
    fn label(self) -> &'static str {
        match self {
            Alg::P256 => "P-256 ECDSA (32-byte digest)",
            Alg::Sm2 => "SM2 (32-byte e)",
        }
    }
    fn key_name(self) -> &'static str {
        match self {
            Alg::P256 => "bench/p256",
            Alg::Sm2 => "bench/sm2",
        }
    }
    fn algorithm(self) -> Algorithm {
        match self {
            Alg::P256 => Algorithm::EcSignP256Sha256,
            Alg::Sm2 => Algorithm::Sm2SignSm3,
        }
    }
}

/// teehsm-ca serving gRPC with the dev TLS certificate; SIGTERM on drop.
struct Ca {
    stack: Stack,
    endpoint: String,
    ca_pem: Vec<u8>,
}

fn start_ca(bin_dir: &Path) -> anyhow::Result<Ca> {
    let opts = StackOptions { tag: "grpc-bench", args: &["--grpc-listen", "127.0.0.1:0", "--grpc-dev-tls"], die_with_parent: true };
    let mut stack = Stack::spawn(bin_dir, &opts)?;
    let (endpoint, ca_pem) = stack.wait_until("gRPC served with a dev token", Duration::from_secs(60), |s| {
        let addr = std::fs::read_to_string(s.state.join("grpc.addr")).ok().and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())?;
        let pem = std::fs::read(s.state.join("grpc-dev-tls/ca.pem")).ok().filter(|p| !p.is_empty())?;
        teehsm(bin_dir, &s.state, &["client", "list"]).ok()?;
        Some((format!("https://{addr}"), pem))
    })?;
    Ok(Ca { stack, endpoint, ca_pem })
}

/// Runs `teehsm ARGS --socket S --so-pin-file F` against the CA with state
/// directory `state` and returns its stdout.
fn teehsm(bin_dir: &Path, state: &Path, args: &[&str]) -> anyhow::Result<String> {
    let pin = state.parent().unwrap_or(state).join("so.pin");
    std::fs::write(&pin, "12345678\n")?;
    let out = Command::new(bin_dir.join("teehsm"))
        .args(args)
        .arg("--socket")
        .arg(state.join("ca.sock"))
        .arg("--so-pin-file")
        .arg(&pin)
        .stderr(Stdio::piped())
        .output()
        .context("running teehsm")?;
    if !out.status.success() {
        bail!("teehsm {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct LoadResult {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: f64,
    latencies_us: Vec<u32>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn load(clients: &[ApiClient], alg: Alg, secs: f64) -> LoadResult {
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let req = SignRequest { name: alg.key_name().into(), digest: digest.to_vec(), ..Default::default() };
            let mut lat = Vec::with_capacity(1 << 14);
            let (mut errors, mut first_error) = (0u64, None);
            while Instant::now() < until {
                let t = Instant::now();
                match c.sign(req.clone()).await {
                    Ok(_) => lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut r = LoadResult { ops: 0, errors: 0, first_error: None, elapsed: 0.0, latencies_us: Vec::new() };
    for t in tasks {
        match t.await {
            Ok((lat, errors, first)) => {
                r.ops += lat.len() as u64;
                r.latencies_us.extend(lat);
                r.errors += errors;
                if r.first_error.is_none() {
                    r.first_error = first;
                }
            }
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| format!("client task failed: {e}"));
            }
        }
    }
    r.elapsed = start.elapsed().as_secs_f64();
    r.latencies_us.sort_unstable();
    r
}

/// CPU seconds (user + system) of this process, the CA and the TA.
struct Cpu(f64, f64, f64);

impl Cpu {
    fn sample(ca: u32, ta: Option<u32>) -> Self {
        Cpu(cpu_seconds("self"), cpu_seconds(&ca.to_string()), ta.map(|p| cpu_seconds(&p.to_string())).unwrap_or(f64::NAN))
    }
    /// Average cores used by each since `before`, over `secs`.
    fn since(&self, before: &Cpu, secs: f64) -> (f64, f64, f64) {
        ((self.0 - before.0) / secs, (self.1 - before.1) / secs, (self.2 - before.2) / secs)
    }
}

/// utime + stime of /proc/PID/stat, in seconds (NaN if unreadable).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return f64::NAN };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// `GET /metrics` from the CA's HTTP listener (plain HTTP on loopback).
fn scrape_metrics(state: &Path) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let addr = std::fs::read_to_string(state.join("http.addr")).context("reading the CA's http.addr")?;
    let mut s = std::net::TcpStream::connect(addr.trim()).with_context(|| format!("connecting to {}", addr.trim()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// (calls answered within `le` seconds, all calls) of `method` in the CA's
/// `teehsm_grpc_request_duration_seconds` histogram, from a /metrics text.
fn sign_calls_within(metrics: &str, method: &str, le: &str) -> (u64, u64) {
    let label = format!("method=\"{method}\"");
    let count = |le: &str| -> u64 {
        let le = format!("le=\"{le}\"");
        metrics
            .lines()
            .filter(|l| l.starts_with("teehsm_grpc_request_duration_seconds_bucket{") && l.contains(&label) && l.contains(&le))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.trim().parse::<f64>().ok()))
            .map(|v| v as u64)
            .sum()
    };
    (count(le), count("+Inf"))
}

/// The teehsm-ta child of the CA process `ca`.
fn ta_pid_of(ca: u32) -> Option<u32> {
    teehsm_tests::ta_pid_of(ca as i32).map(|p| p as u32)
}

/// The raw teehsm_crypto call the TA makes for a digest Sign, on `threads` threads.
fn raw_rate(alg: Alg, threads: usize, secs: f64) -> anyhow::Result<f64> {
    let mut digest = [0u8; 32];
    digest[0] = 1;
    Ok(match alg {
        Alg::P256 => {
            let k = Arc::new(teehsm_crypto::ec::generate(teehsm_crypto::ec::Curve::P256).map_err(|e| anyhow::anyhow!("P-256 key: {e:?}"))?);
            measure(threads, secs, |_| {
                let k = k.clone();
                move || {
                    let _ = k.sign_prehashed(&digest);
                }
            })
        }
        Alg::Sm2 => {
            let k = Arc::new(teehsm_crypto::sm2::generate().map_err(|e| anyhow::anyhow!("SM2 key: {e:?}"))?);
            measure(threads, secs, |_| {
                let k = k.clone();
                move || {
                    let _ = k.sign_prehashed(&digest);
                }
            })
        }
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let algs = args.algorithms.split(',').filter(|s| !s.trim().is_empty()).map(Alg::parse).collect::<anyhow::Result<Vec<_>>>()?;
    if args.clients == 0 || args.seconds <= 0.0 {
        bail!("--clients and --seconds must be positive");
    }
    let bin_dir = match args.bin_dir.clone() {
        Some(d) => d,
        None => std::env::current_exe()?.parent().context("executable directory")?.to_path_buf(),
    };
    for b in ["teehsm-ca", "teehsm-ta", "teehsm"] {
        if !bin_dir.join(b).exists() {
            bail!("{} is missing: cargo build --release --bins", bin_dir.join(b).display());
        }
    }
    let ca = start_ca(&bin_dir)?;
    // One API client id per connection, as separate applications would
    // have: the TA caps the nonces it remembers per client (1 000 000 in
    // the 120 s window, ~8 300 calls/s), which one id shared by every task
    // could reach.
    let mut creds = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let id = format!("bench-{i}");
        let secret = teehsm(&bin_dir, &ca.stack.state, &["client", "add", &id, "--acl", "bench/:all"])?;
        creds.push(Credentials::from_hex(id, secret.trim())?);
    }
    let connections = args.connections.unwrap_or(args.clients).clamp(1, args.clients);
    let ta_pid = ta_pid_of(ca.stack.pid());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads.max(1)).enable_all().build()?;

    let mut rows = Vec::new();
    rt.block_on(async {
        let cfg = ApiClientConfig::new(ca.endpoint.clone(), ca.ca_pem.clone());
        let admin = ApiClient::connect(cfg.clone().credentials(creds[0].clone())).await?;
        for &alg in &algs {
            admin
                .create_key(CreateKeyRequest { name: alg.key_name().into(), algorithm: alg.algorithm() as i32, ..Default::default() })
                .await
                .with_context(|| format!("CreateKey {}", alg.key_name()))?;
        }
        // Each ApiClient::connect makes its own connection; client i uses connection i mod n.
        let mut conns = Vec::with_capacity(connections);
        for c in creds.iter().take(connections) {
            conns.push(ApiClient::connect(cfg.clone().credentials(c.clone())).await?);
        }
        let clients: Vec<ApiClient> = creds.iter().enumerate().map(|(i, c)| conns[i % connections].with_credentials(c.clone())).collect();
        drop(admin);
        for &alg in &algs {
            // Warm-up: every connection signs (TLS, key cache).
            let _ = load(&clients, alg, 0.5).await;
            let before = Cpu::sample(ca.stack.pid(), ta_pid);
            let metrics_before = scrape_metrics(&ca.stack.state)?;
            let r = load(&clients, alg, args.seconds).await;
            let cpu = Cpu::sample(ca.stack.pid(), ta_pid).since(&before, r.elapsed);
            let (within0, all0) = sign_calls_within(&metrics_before, "Sign", "0.005");
            let (within1, all1) = sign_calls_within(&scrape_metrics(&ca.stack.state)?, "Sign", "0.005");
            let ca_within_5ms = (within1 - within0.min(within1)) as f64 / (all1.saturating_sub(all0)).max(1) as f64;
            rows.push((alg, r, cpu, ca_within_5ms));
        }
        anyhow::Ok(())
    })?;
    drop(ca);

    println!();
    println!(
        "gRPC Sign through teehsm-ca -> TA: {} clients on {} TLS connection(s) (SDK with authenticator and response-MAC check), {} s per algorithm; raw = teehsm_crypto sign_prehashed on {} threads, {} s",
        args.clients, connections, args.seconds, args.raw_threads, args.raw_seconds
    );
    println!(
        "{:<30} {:>10} {:>8} {:>8} {:>7} {:>10} {:>9} {:>13} {:>11} {:>11}  cores used: load gen / CA / TA",
        "operation", "gRPC op/s", "p50 ms", "p99 ms", "errors", "raw op/s", "gRPC/raw", "TA CPU us/op", "raw us/op", "CA <= 5 ms"
    );
    let machine_cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let mut failed = false;
    for (alg, r, cpu, ca_within_5ms) in rows {
        let raw = raw_rate(alg, args.raw_threads, args.raw_seconds)?;
        let ops = r.ops as f64 / r.elapsed;
        println!(
            "{:<30} {:>10.0} {:>8.2} {:>8.2} {:>7} {:>10.0} {:>8.0}% {:>13.1} {:>11.1} {:>10.1}%  {:.2} / {:.2} / {:.2}",
            alg.label(),
            ops,
            percentile(&r.latencies_us, 0.50),
            percentile(&r.latencies_us, 0.99),
            r.errors,
            raw,
            100.0 * ops / raw,
            1e6 * cpu.2 / ops,
            1e6 * args.raw_threads as f64 / raw,
            100.0 * ca_within_5ms,
            cpu.0,
            cpu.1,
            cpu.2
        );
        // What the CA and the TA would sign with this machine's cores to
        // themselves (the load generator elsewhere): an estimate from the
        // CPU they used per call in this run, not a measurement.
        let service_cores = cpu.1 + cpu.2;
        if service_cores.is_finite() && service_cores > 0.0 {
            let projected = ops * machine_cores / service_cores;
            println!(
                "  estimate, load generator on another machine: {:.0} op/s = {:.0}% of raw ({:.1} us of CA + TA CPU per call), mean latency {:.2} ms at {} clients",
                projected,
                100.0 * projected / raw,
                1e6 * service_cores / ops,
                1e3 * args.clients as f64 / projected,
                args.clients
            );
        }
        if let Some(e) = r.first_error {
            eprintln!("  first error ({}): {e}", alg.label());
            failed = true;
        }
    }
    if failed {
        bail!("some calls failed");
    }
    Ok(())
}
