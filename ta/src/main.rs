//! teehsm-ta: the trusted application process.
// Hostile input must get an error code, never a panic (in the TA, or across
// the C boundary): no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use teehsm_ta::audit::AuditLog;
use teehsm_ta::handler::{HandlerConfig, Ta};
use teehsm_ta::platform::gramine::GraminePlatform;
use teehsm_ta::platform::sevguest::SevGuestDevice;
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_ta::platform::tsm::{TsmKeys, TsmPlatform};
use teehsm_ta::platform::Platform;
use teehsm_ta::store::{Store, StoreError};

/// Security version of this TA build; sealing binds to it and refuses older TAs.
const TA_SECURITY_VERSION: u32 = 1;

const EXIT_CONFIG: i32 = 2;
const EXIT_SELF_TEST: i32 = 3;
const EXIT_ROLLBACK: i32 = 4;
const EXIT_CORRUPT: i32 = 5;
/// A second SIGTERM/SIGINT during shutdown (128 + SIGTERM, as a shell reports a death by it).
const EXIT_SIGNALLED_TWICE: i32 = 143;
/// A second SIGTERM/SIGINT this soon after the first is taken as the same
/// request (see the signal thread), not as "exit now".
const REPEAT_SIGNAL_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The teehsm trusted application.
///
/// Holds every secret and private key, verifies PINs and key policy, seals its
/// store to the platform root key, keeps a hash-chained audit log, and serves
/// the TA protocol on a Unix socket (and/or TCP) once its known-answer self-tests pass.
/// Normally started and supervised by teehsm-ca; it can also run on its own.
#[derive(Parser)]
#[command(name = "teehsm-ta", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run self-tests, open the sealed store, and serve the TA protocol.
    ///
    /// Prints `TEEHSM-TA READY socket=<path>` (and ` tcp=<addr:port>` with
    /// --listen-tcp; only `tcp=` when there is no Unix socket) on stdout when serving. Exit codes:
    /// 0 clean shutdown, 2 configuration error, 3 self-test failure,
    /// 4 store rollback/deletion/downgrade detected, 5 store corrupt.
    Serve(ServeArgs),
    /// Run the known-answer self-tests and print what ran.
    Selftest,
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Platform tools.
    Platform {
        #[command(subcommand)]
        command: PlatformCommand,
    },
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// Print the public key that verifies this sim platform's attestation
    /// reports: the trust anchor for `teehsm attest verify --trust-anchor`.
    ///
    /// The key is derived from the platform root key, so it is stable for a
    /// platform directory. It is a P-256 key, printed as a PEM
    /// SubjectPublicKeyInfo (default) or as the hex of the uncompressed point.
    /// The platform directory must already exist (the TA creates it).
    ReportKey(ReportKeyArgs),
}

#[derive(Args)]
struct ReportKeyArgs {
    /// Directory of the sim platform's root key [default: ./.teehsm/platform].
    #[arg(long, env = "TEEHSM_TA_PLATFORM_DIR")]
    platform_dir: Option<PathBuf>,
    /// Output format: pem or hex.
    #[arg(long, default_value = "pem", value_parser = ["pem", "hex"])]
    format: String,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain of the audit log, and that it holds the
    /// checkpoint sealed in the store (detects edits, deletions, reordering
    /// and truncation).
    Verify(StoreArgs),
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// TOML configuration file (same keys as the flags, with underscores).
    #[arg(long, env = "TEEHSM_TA_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the sealed store and audit log [default: ./.teehsm/store].
    #[arg(long, env = "TEEHSM_TA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory of the sim platform's root key and monotonic counter [default: ./.teehsm/platform].
    #[arg(long, env = "TEEHSM_TA_PLATFORM_DIR")]
    platform_dir: Option<PathBuf>,
    /// Override the TA security version (sim platform only; for upgrade/downgrade tests).
    #[arg(long, env = "TEEHSM_TA_SIM_SECURITY_VERSION", hide = true)]
    sim_security_version: Option<u32>,
    /// TEE backend: sim, gramine (Gramine-SGX /dev/attestation) or tsm
    /// (configfs-tsm in an SEV-SNP or TDX guest) [default: sim]. See docs/tee-backends.md.
    #[arg(long, env = "TEEHSM_TA_PLATFORM", value_parser = PLATFORMS)]
    platform: Option<String>,
    /// Root under which the gramine and tsm backends find /dev and /sys
    /// (for tests and unusual mounts) [default: /].
    #[arg(long, env = "TEEHSM_TA_PLATFORM_ROOT")]
    platform_root: Option<PathBuf>,
}

const PLATFORMS: [&str; 3] = ["sim", "gramine", "tsm"];

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Unix socket to serve the TA protocol on [default: ./.teehsm/ta.sock, or none with --listen-tcp].
    #[arg(long, env = "TEEHSM_TA_SOCKET")]
    socket: Option<PathBuf>,
    /// Also (or, without --socket, only) serve the TA protocol on TCP, e.g. 127.0.0.1:7300 [default: none].
    ///
    /// For a TA whose Unix socket the host cannot reach (Gramine-SGX); teehsm-ca
    /// then reaches it with ta_address = "tcp://ADDR:PORT" and client_transport = "relay".
    /// Port 0 picks a free port (named on the READY line). A non-loopback address is
    /// refused unless --require-channel true: frames would otherwise cross a network in clear.
    #[arg(long, env = "TEEHSM_TA_LISTEN_TCP", value_name = "ADDR:PORT")]
    listen_tcp: Option<String>,
    /// Unix socket on which teehsm-ca hands client connections over (mode 0600) [default: none].
    ///
    /// With it, the CA passes each accepted client connection to the TA
    /// (SCM_RIGHTS) instead of relaying its frames; the TA serves it like a
    /// connection on --socket.
    #[arg(long, env = "TEEHSM_TA_HANDOFF_SOCKET")]
    handoff_socket: Option<PathBuf>,
    /// Number of token slots [default: 1].
    #[arg(long, env = "TEEHSM_TA_SLOTS")]
    slots: Option<u64>,
    /// PBKDF2 iterations for new PIN verifiers; at least 100000 [default: 100000].
    #[arg(long, env = "TEEHSM_TA_PIN_ITERATIONS")]
    pin_iterations: Option<u32>,
    /// Consecutive wrong PINs before a PIN locks [default: 10].
    #[arg(long, env = "TEEHSM_TA_MAX_PIN_FAILURES")]
    max_pin_failures: Option<u32>,
    /// Most objects one token may hold; 0 = no limit [default: 100000].
    ///
    /// Set it to what the TEE's secure storage holds. Creating more fails
    /// with CKR_DEVICE_MEMORY (gRPC: RESOURCE_EXHAUSTED); C_GetTokenInfo and
    /// the CA's teehsm_token_capacity report it, and the fleet agent measures
    /// key counts against it.
    #[arg(long, env = "TEEHSM_TA_MAX_TOKEN_OBJECTS")]
    max_token_objects: Option<u64>,
    /// Refuse Hello on plain connections: clients must open the attested channel first [default: false].
    #[arg(long, env = "TEEHSM_TA_REQUIRE_CHANNEL")]
    require_channel: Option<bool>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "TEEHSM_TA_LOG_FORMAT")]
    log_format: Option<String>,
    /// Log filter, e.g. info or teehsm_ta=debug [default: info].
    #[arg(long, env = "TEEHSM_TA_LOG_LEVEL")]
    log_level: Option<String>,
}

/// The TOML file: every key optional, same names as the flags.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    socket: Option<PathBuf>,
    listen_tcp: Option<String>,
    handoff_socket: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    platform_dir: Option<PathBuf>,
    platform: Option<String>,
    platform_root: Option<PathBuf>,
    slots: Option<u64>,
    pin_iterations: Option<u32>,
    max_pin_failures: Option<u32>,
    max_token_objects: Option<u64>,
    require_channel: Option<bool>,
    log_format: Option<String>,
    log_level: Option<String>,
}

fn load_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    match path {
        None => Ok(FileConfig::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading config file {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing config file {}", p.display()))
        }
    }
}

fn init_logs(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

fn open_platform(args: &StoreArgs, file: &FileConfig) -> anyhow::Result<(Arc<dyn Platform>, PathBuf)> {
    let platform_dir = args.platform_dir.clone().or(file.platform_dir.clone()).unwrap_or_else(|| PathBuf::from(".teehsm/platform"));
    let data_dir = args.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(".teehsm/store"));
    let kind = args.platform.clone().or(file.platform.clone()).unwrap_or_else(|| "sim".into());
    let root = args.platform_root.clone().or(file.platform_root.clone()).unwrap_or_else(|| PathBuf::from("/"));
    let p: Arc<dyn Platform> = match kind.as_str() {
        "sim" => {
            let svn = args.sim_security_version.unwrap_or(TA_SECURITY_VERSION);
            Arc::new(SimPlatform::open(&platform_dir, svn).with_context(|| format!("opening the sim platform in {}", platform_dir.display()))?)
        }
        "gramine" => {
            create_private_dir(&data_dir).with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            Arc::new(
                GraminePlatform::open(&root, &data_dir, TA_SECURITY_VERSION)
                    .with_context(|| format!("opening the Gramine-SGX platform under {}", root.display()))?,
            )
        }
        "tsm" => {
            create_private_dir(&data_dir).with_context(|| format!("creating the data directory {}", data_dir.display()))?;
            let keys = TsmKeys::Snp(Box::new(SevGuestDevice::new(&root)));
            let p = TsmPlatform::open(&root, &data_dir, TA_SECURITY_VERSION, keys)
                .with_context(|| format!("opening the configfs-tsm platform under {}", root.display()))?;
            // Without a sealing key the store cannot open: say why now.
            p.sealing_available().with_context(|| format!("the {} platform cannot seal the store", p.name()))?;
            Arc::new(p)
        }
        other => anyhow::bail!("unknown platform {other:?}: expected one of {}", PLATFORMS.join(", ")),
    };
    if !p.is_simulation() && !p.rollback_protected() {
        tracing::warn!(
            platform = p.name(),
            "the monotonic counter is a MAC-protected file: a host that restores an old copy of the whole data directory rolls the store back undetected (docs/tee-backends.md)"
        );
    }
    Ok((p, data_dir))
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(a) => serve(a),
        Command::Selftest => selftest(),
        Command::Audit { command: AuditCommand::Verify(a) } => audit_verify(a),
        Command::Platform { command: PlatformCommand::ReportKey(a) } => report_key(a),
    };
    std::process::exit(code);
}

fn selftest() -> i32 {
    match teehsm_crypto::selftest::run_all() {
        Ok(r) => {
            for t in &r.passed {
                println!("ok   {t}");
            }
            println!("{} self-tests passed", r.passed.len());
            0
        }
        Err(e) => {
            eprintln!("SELF-TEST FAILED: {e}");
            EXIT_SELF_TEST
        }
    }
}

fn store_exit(e: &StoreError) -> i32 {
    match e {
        StoreError::Rollback { .. } | StoreError::Missing { .. } | StoreError::Downgrade { .. } => EXIT_ROLLBACK,
        StoreError::Platform(teehsm_ta::platform::PlatformError::Downgrade { .. }) => EXIT_ROLLBACK,
        StoreError::Platform(teehsm_ta::platform::PlatformError::Unavailable(_)) => EXIT_CONFIG,
        _ => EXIT_CORRUPT,
    }
}

fn serve(a: ServeArgs) -> i32 {
    let file = match load_file(a.store.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("teehsm-ta: {e:#}");
            return EXIT_CONFIG;
        }
    };
    init_logs(
        a.log_format.as_deref().or(file.log_format.as_deref()).unwrap_or("text"),
        a.log_level.as_deref().or(file.log_level.as_deref()).unwrap_or("info"),
    );
    // Invariant 7: nothing is served before every known-answer test passes.
    let report = match teehsm_crypto::selftest::run_all() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "self-test failed: the TA will not serve");
            eprintln!("teehsm-ta: SELF-TEST FAILED, refusing to serve: {e}");
            return EXIT_SELF_TEST;
        }
    };
    tracing::info!(tests = report.passed.len(), "self-tests passed");
    let (platform, data_dir) = match open_platform(&a.store, &file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("teehsm-ta: {e:#}");
            return EXIT_CONFIG;
        }
    };
    let cfg = HandlerConfig {
        slots: a.slots.or(file.slots).unwrap_or(1).clamp(1, 64),
        pin_iterations: a.pin_iterations.or(file.pin_iterations).unwrap_or(100_000),
        max_pin_failures: a.max_pin_failures.or(file.max_pin_failures).unwrap_or(10).max(1),
        require_channel: a.require_channel.or(file.require_channel).unwrap_or(false),
        max_token_objects: a.max_token_objects.or(file.max_token_objects).unwrap_or(teehsm_ta::handler::DEFAULT_MAX_TOKEN_OBJECTS),
        ..HandlerConfig::default()
    };
    if cfg.pin_iterations < teehsm_ta::pin::MIN_ITERATIONS {
        eprintln!("teehsm-ta: pin_iterations must be at least {}", teehsm_ta::pin::MIN_ITERATIONS);
        return EXIT_CONFIG;
    }
    if let Err(e) = create_private_dir(&data_dir) {
        eprintln!("teehsm-ta: cannot create the data directory {}: {e}", data_dir.display());
        return EXIT_CONFIG;
    }
    let audit = match AuditLog::open(&data_dir) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            tracing::error!(error = %e, "audit log is broken: refusing to serve");
            eprintln!("teehsm-ta: audit log is broken: {e}");
            return EXIT_CORRUPT;
        }
    };
    let sync_audit = audit.clone();
    let store = match Store::open(&data_dir, platform.clone(), Box::new(move || sync_audit.sync().map_err(|e| e.to_string()))) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the sealed store");
            eprintln!("teehsm-ta: {e}");
            return store_exit(&e);
        }
    };
    let listen_tcp = a.listen_tcp.or(file.listen_tcp).filter(|s| !s.trim().is_empty());
    let tcp_listener = match &listen_tcp {
        Some(addr) => match teehsm_ta::server::bind_tcp(addr.trim(), cfg.require_channel) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("teehsm-ta: listen_tcp: {e}");
                return EXIT_CONFIG;
            }
        },
        None => None,
    };
    let tcp_addr = match tcp_listener.as_ref().map(|l| l.local_addr()) {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            eprintln!("teehsm-ta: cannot read the TCP listener's address: {e}");
            return EXIT_CONFIG;
        }
        None => None,
    };
    // With --listen-tcp and no --socket, TCP is the only listener.
    let socket = match a.socket.or(file.socket) {
        Some(s) => Some(s),
        None if tcp_listener.is_some() => None,
        None => Some(PathBuf::from(".teehsm/ta.sock")),
    };
    let listener = match &socket {
        Some(path) => match teehsm_ta::server::bind(path) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("teehsm-ta: cannot listen on {}: {e}", path.display());
                return EXIT_CONFIG;
            }
        },
        None => None,
    };
    let handoff = a.handoff_socket.or(file.handoff_socket);
    let handoff_listener = match &handoff {
        Some(path) => match teehsm_ta::server::bind(path) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("teehsm-ta: cannot listen on the hand-off socket {}: {e}", path.display());
                return EXIT_CONFIG;
            }
        },
        None => None,
    };
    let ta = match Ta::new(platform, store, audit.clone(), cfg, report.passed.iter().map(|s| s.to_string()).collect()) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot generate the channel key pair");
            eprintln!("teehsm-ta: cannot generate the channel key pair: {e}");
            return EXIT_SELF_TEST;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Duplicates of the listening sockets, whose shutdown wakes the accept
    // loops on a signal (taken before the listeners move to their threads).
    let mut wakers = Vec::new();
    for l in listener.iter().chain(handoff_listener.iter()) {
        match l.try_clone() {
            Ok(c) => wakers.push(ListenerWaker::Unix(std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(c)))),
            Err(e) => tracing::warn!(error = %e, "cannot keep a handle to wake the accept loop on shutdown"),
        }
    }
    if let Some(l) = &tcp_listener {
        match l.try_clone() {
            Ok(c) => wakers.push(ListenerWaker::Tcp(std::net::TcpStream::from(std::os::fd::OwnedFd::from(c)))),
            Err(e) => tracing::warn!(error = %e, "cannot keep a handle to wake the TCP accept loop on shutdown"),
        }
    }
    if let (Some(l), Some(path)) = (handoff_listener, handoff.clone()) {
        let (ta, stop) = (ta.clone(), stop.clone());
        let spawned = std::thread::Builder::new().name("handoff-accept".into()).spawn(move || teehsm_ta::server::serve_handoffs(l, ta, stop));
        if let Err(e) = spawned {
            eprintln!("teehsm-ta: cannot start the hand-off listener: {e}");
            return EXIT_CONFIG;
        }
        tracing::info!(socket = %path.display(), "accepting connection hand-offs");
    }
    spawn_audit_flusher(audit.clone(), stop.clone());
    spawn_signal_handler(wakers, stop.clone());
    let mut ready = String::from("TEEHSM-TA READY");
    if let Some(path) = &socket {
        ready.push_str(&format!(" socket={}", path.display()));
    }
    if let Some(addr) = &tcp_addr {
        ready.push_str(&format!(" tcp={addr}"));
        if !teehsm_ta::server::is_loopback(addr) {
            tracing::warn!(tcp = %addr, "listening on a non-loopback TCP address: only attested-channel connections are served (require_channel)");
        }
    }
    println!("{ready}");
    let _ = std::io::stdout().flush();
    tracing::info!(socket = ?socket.as_ref().map(|p| p.display().to_string()), tcp = ?tcp_addr, "serving");
    match (listener, tcp_listener) {
        (Some(unix), tcp) => {
            if let Some(tcp) = tcp {
                let (ta, stop) = (ta.clone(), stop.clone());
                let spawned = std::thread::Builder::new().name("tcp-accept".into()).spawn(move || teehsm_ta::server::serve_tcp(tcp, ta, stop));
                if let Err(e) = spawned {
                    eprintln!("teehsm-ta: cannot start the TCP listener: {e}");
                    return EXIT_CONFIG;
                }
            }
            teehsm_ta::server::serve(unix, ta.clone(), stop);
        }
        (None, Some(tcp)) => teehsm_ta::server::serve_tcp(tcp, ta.clone(), stop),
        (None, None) => {}
    }
    ta.store.shutdown();
    if let Err(e) = audit.sync() {
        tracing::error!(error = %e, "final audit sync failed");
    }
    if let Some(path) = &socket {
        let _ = std::fs::remove_file(path);
    }
    if let Some(path) = &handoff {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped");
    0
}

fn spawn_audit_flusher(audit: Arc<AuditLog>, stop: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new().name("audit-flush".into()).spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if let Err(e) = audit.flush() {
                tracing::error!(error = %e, "audit flush failed");
            }
        }
    });
}

/// A duplicate of a listening socket, typed as a stream only to reach
/// `shutdown(2)`: on Linux, shutting a listening socket down makes a
/// blocked `accept` on it return (EINVAL), so the accept loops see `stop`.
enum ListenerWaker {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl ListenerWaker {
    fn wake(&self) {
        let _ = match self {
            ListenerWaker::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            ListenerWaker::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// SIGTERM/SIGINT: stop accepting (the listening sockets are shut down, so
/// this works even when their paths were removed with the parent's state
/// directory), then let the main loop finish the store and audit log. A
/// second signal while that is under way ends the process at once.
fn spawn_signal_handler(wakers: Vec<ListenerWaker>, stop: Arc<AtomicBool>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot install signal handlers; stop the TA with SIGKILL");
            return;
        }
    };
    let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut first: Option<std::time::Instant> = None;
        for sig in signals.forever() {
            if let Some(at) = first {
                // The parent-death signal can arrive twice when the CA is
                // killed (once per thread of the CA that the TA is handed to
                // while the CA's threads exit); only a signal sent later, by
                // someone who wants the orderly stop cut short, means "now".
                if at.elapsed() < REPEAT_SIGNAL_GRACE {
                    tracing::debug!(signal = sig, "repeated signal right after the first; the orderly stop goes on");
                    continue;
                }
                tracing::warn!(signal = sig, "second signal during shutdown: exiting now");
                std::process::exit(EXIT_SIGNALLED_TWICE);
            }
            first = Some(std::time::Instant::now());
            // Stop first: if logging fails (stderr gone with the parent),
            // shutdown must still happen.
            stop.store(true, Ordering::SeqCst);
            for w in &wakers {
                w.wake();
            }
            tracing::info!(signal = sig, "shutting down");
        }
    });
}

fn audit_verify(a: StoreArgs) -> i32 {
    let file = match load_file(a.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("teehsm-ta: {e:#}");
            return EXIT_CONFIG;
        }
    };
    let (platform, data_dir) = match open_platform(&a, &file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("teehsm-ta: {e:#}");
            return EXIT_CONFIG;
        }
    };
    let checkpoint = match teehsm_ta::store::read_checkpoint(&data_dir, platform) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("audit verify: cannot read the sealed checkpoint: {e}");
            return 1;
        }
    };
    match teehsm_ta::audit::verify(&data_dir.join(teehsm_ta::audit::AUDIT_FILE), Some(checkpoint)) {
        Ok(s) => {
            println!(
                "audit log OK: {} entries, head seq {} hash {}; sealed checkpoint at seq {} matches",
                s.entries,
                s.last_seq,
                hex::encode(s.head),
                checkpoint.0
            );
            0
        }
        Err(e) => {
            println!("audit log BROKEN: {e}");
            1
        }
    }
}

fn report_key(a: ReportKeyArgs) -> i32 {
    let dir = a.platform_dir.unwrap_or_else(|| PathBuf::from(".teehsm/platform"));
    if !dir.join(teehsm_ta::platform::sim::ROOT_KEY_FILE).is_file() {
        eprintln!(
            "teehsm-ta: {} holds no sim platform root key ({}): start the TA once with this --platform-dir first",
            dir.display(),
            teehsm_ta::platform::sim::ROOT_KEY_FILE
        );
        return EXIT_CONFIG;
    }
    let p = match SimPlatform::open(&dir, TA_SECURITY_VERSION) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("teehsm-ta: opening the sim platform in {}: {e}", dir.display());
            return EXIT_CONFIG;
        }
    };
    let point = p.report_public_key();
    if a.format == "hex" {
        println!("{}", hex::encode(&point));
    } else {
        print!("{}", p256_public_key_pem(&point));
    }
    0
}

/// DER SubjectPublicKeyInfo header of an uncompressed P-256 point (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
    0x42, 0x00,
];

fn p256_public_key_pem(point: &[u8]) -> String {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(point);
    let b64 = base64(&der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], c.get(1).copied().unwrap_or(0), c.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
