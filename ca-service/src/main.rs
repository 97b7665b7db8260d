//! teehsm-ca: the untrusted host daemon (see `teehsm-ca --help`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use anyhow::Context;
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use teehsm_ca::config::{Cli, Config};
use teehsm_ca::grpc::GrpcServer;
use teehsm_ca::metrics::ApiMetrics;
use teehsm_ca::state::Shared;
use teehsm_ca::supervisor::Supervisor;
use teehsm_ca::{http, logging, relay};

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;
/// How long the TA gets to stop after SIGTERM before SIGKILL.
const TA_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long gRPC calls in flight get to finish after SIGTERM.
const GRPC_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("teehsm-ca: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    logging::init(cfg.log_format, &cfg.log_level);
    match run(&cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("teehsm-ca cannot run: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn run(cfg: &Config) -> anyhow::Result<()> {
    // Handlers first, so a SIGTERM during start-up still shuts down in order.
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("installing the SIGTERM/SIGINT handlers")?;
    create_state_dir(&cfg.state_dir).with_context(|| format!("creating the state directory {}", cfg.state_dir.display()))?;
    let (http_listener, http_addr) = http::bind(&cfg.http_listen)?;
    let client_listener = relay::bind(&cfg.socket)?;
    let socket_id = file_id(&cfg.socket);
    if let Err(e) = http::write_addr_file(&cfg.http_addr_file, http_addr) {
        let _ = std::fs::remove_file(&cfg.socket);
        return Err(e.into());
    }
    tracing::info!(
        socket = %cfg.socket.display(),
        http = %http_addr,
        state_dir = %cfg.state_dir.display(),
        ta_binary = %cfg.ta_binary.display(),
        ta_address = %cfg.ta_address,
        "teehsm-ca {} starting; HTTP /healthz and /metrics on http://{http_addr}",
        env!("CARGO_PKG_VERSION")
    );
    let shared = Arc::new(Shared::new(cfg.ta_address.clone()).with_handoff(cfg.ta_handoff_socket.clone()));
    let api_metrics = ApiMetrics::new().context("creating the gRPC metrics")?;
    let grpc = match &cfg.grpc {
        Some(g) => match GrpcServer::start(g, shared.clone(), api_metrics.clone()) {
            Ok(server) => {
                tracing::info!(grpc = %server.local_addr(), addr_file = %g.addr_file.display(), "gRPC (TLS) listening on {}", server.local_addr());
                Some(server)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&cfg.socket);
                let _ = std::fs::remove_file(&cfg.http_addr_file);
                return Err(anyhow::Error::new(e).context("starting the gRPC server"));
            }
        },
        None => None,
    };
    if cfg.init_dev_token {
        tracing::warn!("--init-dev-token is set: slot 0 gets a DEVELOPMENT token with well-known PINs if it has none");
    }

    let (supervisor_done_tx, supervisor_done) = mpsc::channel::<()>();
    let supervisor = Supervisor::new(cfg, shared.clone());
    std::thread::Builder::new()
        .name("supervisor".into())
        .spawn(move || {
            supervisor.run();
            drop(supervisor_done_tx);
        })
        .context("starting the supervisor thread")?;
    let s = shared.clone();
    std::thread::Builder::new().name("accept".into()).spawn(move || relay::serve(client_listener, s)).context("starting the relay")?;
    let exporter = Arc::new(http::Exporter::new(shared.clone(), api_metrics));
    std::thread::Builder::new().name("http".into()).spawn(move || http::serve(http_listener, exporter)).context("starting the HTTP server")?;

    let signal = signals.forever().next();
    tracing::info!(signal, "shutting down");
    // gRPC first: stop accepting and let calls in flight reach the TA while it still runs.
    if let Some(g) = grpc {
        g.shutdown(GRPC_DRAIN_TIMEOUT);
    }
    shutdown(cfg, &shared, &supervisor_done, socket_id);
    Ok(())
}

fn shutdown(cfg: &Config, shared: &Shared, supervisor_done: &mpsc::Receiver<()>, socket_id: Option<(u64, u64)>) {
    shared.begin_shutdown();
    // Stop accepting: wake the accept loop (it sees `stopping`), and unlink the
    // socket, unless the path now belongs to someone else.
    if socket_id.is_some() && file_id(&cfg.socket) == socket_id {
        let _ = UnixStream::connect(&cfg.socket);
        let _ = std::fs::remove_file(&cfg.socket);
    } else {
        tracing::warn!(socket = %cfg.socket.display(), "the client socket was removed or replaced while running; leaving the path alone");
    }
    let closed = shared.clients.close_all();
    if closed > 0 {
        tracing::info!(clients = closed, "closed client connections");
    }
    if shared.signal_ta(libc::SIGTERM) {
        tracing::info!("asked the TA to stop (SIGTERM)");
    }
    if let Err(mpsc::RecvTimeoutError::Timeout) = supervisor_done.recv_timeout(TA_STOP_TIMEOUT) {
        tracing::warn!("the TA did not stop within {} s; killing it", TA_STOP_TIMEOUT.as_secs());
        shared.signal_ta(libc::SIGKILL);
        let _ = supervisor_done.recv_timeout(Duration::from_secs(5));
    }
    if let teehsm_wire::stream::Endpoint::Unix(path) = &cfg.ta_address {
        remove_if_stale_socket(path);
    }
    let _ = std::fs::remove_file(&cfg.http_addr_file);
    tracing::info!("stopped");
}

/// The TA removes its socket on a clean exit; after a kill it is left behind.
/// A socket somebody still serves on is not ours to remove.
fn remove_if_stale_socket(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).map(|m| m.file_type().is_socket()).unwrap_or(false) && UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// (device, inode) of a path, to recognise our own socket file.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Creates the state directory (mode 0750: the group reaches ca.sock) if missing.
fn create_state_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o750).create(dir)
}
