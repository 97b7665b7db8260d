//! teehsm-console: the fleet console daemon (docs/fleet-console.md).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::path::PathBuf;
use teehsm_console::alerts::RuleSet;
use teehsm_console::daemon::{default_rules, run, Config};
use teehsm_console::licence::{VendorPublicKey, VerifiedLicence};

/// The teehsm fleet console: enrolls host agents, receives their heartbeats
/// over mutual TLS, evaluates alert rules and sends alerts to webhooks.
#[derive(Parser, Debug)]
#[command(name = "teehsm-console", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the console. Every option can also come from the environment
    /// (TEEHSM_CONSOLE_<OPTION>) or from the TOML file given by --config
    /// (keys named like the options, with underscores); a flag wins over
    /// the environment, which wins over the file.
    Serve(Serve),
}

#[derive(Args, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Serve {
    /// TOML configuration file (keys: data_dir, grpc_listen, http_listen,
    /// rules, webhook, heartbeat_interval_ms, licence, vendor_key).
    #[arg(long, env = "TEEHSM_CONSOLE_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Data directory: console CA (console-ca.pem; key mode 0600), server
    /// certificate, console.db (SQLite), grpc.addr and http.addr.
    #[arg(long, env = "TEEHSM_CONSOLE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the agents' gRPC API (TLS) [default: 0.0.0.0:7443].
    #[arg(long, env = "TEEHSM_CONSOLE_GRPC_LISTEN")]
    grpc_listen: Option<String>,
    /// Address of the HTTP API and /metrics [default: 127.0.0.1:7080].
    /// Creating enrollment tokens and acknowledging alerts are accepted
    /// only from loopback (there is no login yet).
    #[arg(long, env = "TEEHSM_CONSOLE_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Alert rules file (TOML, docs/fleet-alerts.md). Default rules:
    /// tokens 80 % full (warning), 2 missed heartbeats (critical), TA down
    /// (critical).
    #[arg(long, env = "TEEHSM_CONSOLE_RULES")]
    rules: Option<PathBuf>,
    /// http:// URL to POST alert changes to, as Alertmanager webhook JSON.
    /// Repeat for several receivers.
    #[arg(long, env = "TEEHSM_CONSOLE_WEBHOOK", value_delimiter = ',')]
    #[serde(default)]
    webhook: Vec<String>,
    /// Heartbeat interval the console asks agents for, in ms [default: 15000].
    #[arg(long, env = "TEEHSM_CONSOLE_HEARTBEAT_INTERVAL_MS")]
    heartbeat_interval_ms: Option<u64>,
    /// Licence file from the vendor; with it, enrollment is limited to the
    /// licence's host count (needs --vendor-key). Without it, no limit.
    #[arg(long, env = "TEEHSM_CONSOLE_LICENCE", requires = "vendor_key")]
    licence: Option<PathBuf>,
    /// The vendor's Ed25519 public key (64 hex digits) that signs licences.
    #[arg(long, env = "TEEHSM_CONSOLE_VENDOR_KEY")]
    vendor_key: Option<String>,
}

fn merge(mut cli: Serve) -> Result<Serve> {
    let Some(path) = cli.config.clone() else { return Ok(cli) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: Serve = toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    cli.data_dir = cli.data_dir.or(file.data_dir);
    cli.grpc_listen = cli.grpc_listen.or(file.grpc_listen);
    cli.http_listen = cli.http_listen.or(file.http_listen);
    cli.rules = cli.rules.or(file.rules);
    if cli.webhook.is_empty() {
        cli.webhook = file.webhook;
    }
    cli.heartbeat_interval_ms = cli.heartbeat_interval_ms.or(file.heartbeat_interval_ms);
    cli.licence = cli.licence.or(file.licence);
    cli.vendor_key = cli.vendor_key.or(file.vendor_key);
    Ok(cli)
}

fn config(s: Serve) -> Result<Config> {
    let s = merge(s)?;
    let Some(data_dir) = s.data_dir else { bail!("--data-dir is required (or data_dir in --config, or TEEHSM_CONSOLE_DATA_DIR)") };
    let interval = s.heartbeat_interval_ms.unwrap_or(15_000);
    if !(100..=3_600_000).contains(&interval) {
        bail!("--heartbeat-interval-ms must be 100 to 3600000");
    }
    let rules = match &s.rules {
        None => default_rules(interval),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read rules {}", path.display()))?;
            let mut set = RuleSet::from_toml(&text).with_context(|| format!("rules {}", path.display()))?;
            if set.heartbeat_interval_ms.is_none() {
                set.heartbeat_interval_ms = Some(interval);
            }
            set
        }
    };
    for url in &s.webhook {
        teehsm_console::daemon::webhook::parse_url(url).with_context(|| format!("--webhook {url}"))?;
    }
    let licence = match (&s.licence, &s.vendor_key) {
        (Some(path), Some(key)) => {
            let key = VendorPublicKey::from_hex(key).context("--vendor-key")?;
            let bytes = std::fs::read(path).with_context(|| format!("cannot read licence {}", path.display()))?;
            let lic = VerifiedLicence::verify(&bytes, &[key]).with_context(|| format!("licence {}", path.display()))?;
            tracing::info!(licence = lic.licence_id(), customer = lic.customer(), max_hosts = lic.max_hosts(), "licence loaded");
            Some(lic)
        }
        (Some(_), None) => bail!("--licence needs --vendor-key"),
        _ => None,
    };
    Ok(Config {
        data_dir,
        grpc_listen: s.grpc_listen.unwrap_or_else(|| "0.0.0.0:7443".into()),
        http_listen: s.http_listen.unwrap_or_else(|| "127.0.0.1:7080".into()),
        rules,
        webhooks: s.webhook,
        heartbeat_interval_ms: interval,
        licence,
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}

/// Exit codes: 0 ok (also after SIGTERM/SIGINT), 1 runtime failure, 2 configuration error.
fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(s) => {
            let cfg = match config(s) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("teehsm-console: {e:#}");
                    return std::process::ExitCode::from(2);
                }
            };
            let served = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")
                .and_then(|rt| Ok(rt.block_on(run(cfg, shutdown_signal()))?));
            if let Err(e) = served {
                eprintln!("teehsm-console: {e:#}");
                return std::process::ExitCode::from(1);
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
