//! The console daemon (`teehsm-console serve`, docs/fleet-console.md):
//! the gRPC `AgentService` for agents ([`grpc`]), the HTTP API ([`http`]),
//! the alert evaluation loop with webhook delivery ([`webhook`]), over the
//! SQLite [`crate::store`] and the console CA ([`tls`]).

pub mod agent_ca;
pub mod auth;
pub mod convert;
pub mod desired_state;
pub mod grpc;
pub mod host_admin_api;
pub mod http;
pub mod https;
pub mod jobs_api;
pub mod keydist_api;
pub mod maintenance;
pub mod metrics;
pub mod packages;
pub mod password;
pub mod routes;
pub mod session;
pub mod tls;
pub mod token_jobs_api;
pub mod totp_api;
pub mod web;
pub mod webhook;

#[cfg(test)]
mod https_tests;
#[cfg(test)]
mod jobs_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod web_tests;

use crate::alerts::{alertmanager_payload, AlertEngine, Licence, Rule, RuleKind, RuleSet, Scope, Severity};
use crate::enroll::ConsoleCa;
use crate::licence::VerifiedLicence;
use crate::store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use teehsm_wire::proto::fleet::v1::agent_service_server::AgentServiceServer;

/// Webhook POST timeout and attempts.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
const WEBHOOK_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error(transparent)]
    Metrics(#[from] prometheus::Error),
}

/// What `serve` runs with (the binary builds it from flags, env and TOML).
#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub grpc_listen: String,
    pub http_listen: String,
    pub rules: RuleSet,
    pub webhooks: Vec<String>,
    pub heartbeat_interval_ms: u64,
    pub licence: Option<VerifiedLicence>,
    /// `--vendor-key`: the keys licences must be signed with; without one,
    /// `PUT /api/licence` is refused.
    pub vendor_keys: Vec<crate::licence::VendorPublicKey>,
    /// `--allow-loopback-admin`: credential-less, non-browser requests from
    /// loopback act as admin (tests and local automation).
    pub allow_loopback_admin: bool,
    /// `--require-second-factor`: which users must set up a second factor
    /// before the console serves them anything else.
    pub require_second_factor: totp_api::SecondFactorPolicy,
    /// `--agent-ca-bundle`: CA certificates agents are told to trust for the
    /// agents' port ([`agent_ca`]).
    pub agent_ca_bundle: Option<PathBuf>,
    /// `--database-url`: an SQLite path or a `postgres://` URL; `None` is
    /// SQLite at `<data_dir>/console.db`.
    pub database_url: Option<String>,
    /// `--keydist-signing-key`, `--attestation-trust-anchor`,
    /// `--attestation-policy`: key distribution (`None`: not offered).
    pub keydist: Option<keydist_api::KeydistConfig>,
    /// `--server-name`: DNS names and addresses of the console for its
    /// server certificate, besides localhost, 127.0.0.1 and ::1.
    pub server_names: Vec<String>,
    /// `--sample-retention-days`: host samples older than this are deleted
    /// hourly (0: kept forever).
    pub sample_retention_days: u64,
    /// `--job-retention-days`: finished jobs and rollouts older than this
    /// are deleted by the housekeeping (0: kept forever).
    pub job_retention_days: u64,
    /// `--http-tls`, `--http-tls-cert`/`--http-tls-key`: HTTPS for the web UI and API.
    pub http_tls: https::HttpTls,
    /// `--grpc-tls-cert`/`--grpc-tls-key`: the agents' port serves this
    /// certificate chain of the operator's PKI instead of the console CA's
    /// server certificate (client certificates still come from the console CA).
    pub grpc_tls: Option<(PathBuf, PathBuf)>,
}

/// The default rules: tokens 80 % full (warning), 2 missed heartbeats
/// (critical), TA down (critical), an agent certificate with less than 14
/// days left (warning: its agent failed to renew it for two weeks).
pub fn default_rules(heartbeat_interval_ms: u64) -> RuleSet {
    let rule = |id: &str, kind, severity| Rule { id: id.into(), scope: Scope::default(), kind, severity, for_ms: None, summary: None };
    RuleSet {
        heartbeat_interval_ms: Some(heartbeat_interval_ms),
        rules: vec![
            rule("TokenNearlyFull", RuleKind::KeyCountPercent { threshold_percent: 80.0 }, Severity::Warning),
            rule("HostSilent", RuleKind::MissedHeartbeats { intervals: 2 }, Severity::Critical),
            rule("TaDown", RuleKind::TaDown {}, Severity::Critical),
            rule("AgentCertificateExpiring", RuleKind::AgentCertificateExpiry { warn_before_ms: 14 * 86_400_000 }, Severity::Warning),
        ],
    }
}

/// The licence last installed through the API, if it still verifies with
/// the configured vendor keys (one that does not is logged and ignored).
fn installed_licence(store: &Store, keys: &[crate::licence::VendorPublicKey]) -> Option<VerifiedLicence> {
    let bytes = match store.licence() {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the installed licence");
            return None;
        }
    };
    if keys.is_empty() {
        tracing::warn!("a licence is installed but no --vendor-key is configured to verify it; running without a licence");
        return None;
    }
    match VerifiedLicence::verify(&bytes, keys) {
        Ok(l) => {
            tracing::info!(licence = l.licence_id(), customer = l.customer(), max_hosts = l.max_hosts(), "installed licence loaded");
            Some(l)
        }
        Err(e) => {
            tracing::error!(error = %e, "the installed licence does not verify with the configured vendor keys; running without a licence");
            None
        }
    }
}

/// State shared by the servers and the evaluation loop.
pub struct Shared {
    pub store: Mutex<Store>,
    pub ca: ConsoleCa,
    pub interval_ms: u64,
    /// The licence in force: from `--licence`, else the one last installed
    /// with `PUT /api/licence` (kept in the store); replaced by that call.
    pub licence: std::sync::RwLock<Option<VerifiedLicence>>,
    pub vendor_keys: Vec<crate::licence::VendorPublicKey>,
    pub metrics: metrics::Metrics,
    /// Imported TA packages (`<data-dir>/packages`, see [`packages`]).
    pub packages_dir: PathBuf,
    /// The alert rules (the UI shows key-count thresholds).
    pub rules: RuleSet,
    /// Login sessions of the HTTP API.
    pub web: session::WebState,
    /// Attestation nonces and the agents' last reports.
    pub attestations: keydist_api::Attestations,
    /// How keys are wrapped and signed, if key distribution is configured.
    pub keydist: Option<keydist_api::KeydistConfig>,
    /// The key of the audit log's chain (`<data-dir>/audit-key`).
    pub audit_key: Arc<crate::store::AuditKey>,
    /// The agents' port serves the operator's certificate: enrollment
    /// answers no CA, agents keep the one they enrolled with.
    pub operator_grpc_cert: bool,
    /// Who must have a second factor (`--require-second-factor`).
    pub second_factor: totp_api::SecondFactorPolicy,
    /// `--agent-ca-bundle`, sent in every heartbeat answer.
    pub agent_ca_bundle: Option<agent_ca::AgentCaBundle>,
}

/// The console clock, Unix ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn bind(addr: &str) -> Result<std::net::TcpListener, DaemonError> {
    let err = |source| DaemonError::Bind { addr: addr.to_owned(), source };
    let l = std::net::TcpListener::bind(addr).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    Ok(l)
}

fn write_addr(dir: &Path, name: &str, addr: SocketAddr) -> Result<(), DaemonError> {
    tls::write_file(&dir.join(name), format!("{addr}\n").as_bytes(), 0o644)
}

impl Shared {
    /// The licence in force (a copy: the API may replace it meanwhile).
    pub fn licence(&self) -> Option<VerifiedLicence> {
        self.licence.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Runs the console until `shutdown` resolves. Must be called inside a
/// tokio runtime.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), DaemonError> {
    let dir = &cfg.data_dir;
    std::fs::create_dir_all(dir).map_err(|e| DaemonError::Setup(format!("cannot create {}: {e}", dir.display())))?;
    let now = now_ms();
    let material = tls::ensure(dir, &cfg.server_names, now)?;
    let location = match &cfg.database_url {
        Some(url) => crate::store::Location::parse(url)?,
        None => crate::store::Location::Sqlite(dir.join("console.db")),
    };
    let audit_key = Arc::new(crate::store::AuditKey::load_or_create(dir)?);
    let mut store = Store::open_at(&location, now)?;
    store.set_audit_key(audit_key.clone());
    tracing::info!(store = %location.display(), "store open");
    // --licence or the one installed through the API, whichever runs longer
    // (a renewal installed through the API outlives an old --licence file).
    let licence = match (cfg.licence.clone(), installed_licence(&store, &cfg.vendor_keys)) {
        (Some(flag), Some(installed)) if installed.expires_ms() > flag.expires_ms() => {
            tracing::info!(licence = installed.licence_id(), "the licence installed through the API runs longer than --licence; using it");
            Some(installed)
        }
        (Some(flag), _) => Some(flag),
        (None, installed) => installed,
    };
    // The evaluation loop reads every host's report: on its own connection
    // (WAL lets it read while heartbeats write) so heartbeats never wait
    // behind an evaluation.
    let mut eval_store = Store::open_at(&location, now)?;
    eval_store.set_audit_key(audit_key.clone());
    let mut maintenance_store = Store::open_at(&location, now)?;
    maintenance_store.set_audit_key(audit_key.clone());
    let metrics = metrics::Metrics::new()?;
    let web_tls = https::Https::new(&cfg.http_tls, &material, metrics.https.clone())?.map(Arc::new);
    metrics.hosts.set(store.active_host_count()? as i64);
    // Before the first check: never export a lower number than the log has.
    metrics.audit_entries.set(i64::try_from(store.audit_last_seq()?).unwrap_or(i64::MAX));
    let engine = match store.load_engine_state()? {
        Some(state) => AlertEngine::with_state(cfg.rules.clone(), state),
        None => AlertEngine::from_firing(cfg.rules.clone(), store.firing_alerts()?),
    };

    let agents_tls = Arc::new(https::agents_tls_config(cfg.grpc_tls.as_ref(), &material, metrics.grpc_tls.clone())?);
    let agent_ca_bundle = cfg.agent_ca_bundle.as_deref().map(agent_ca::AgentCaBundle::load).transpose()?;
    let grpc_listener = bind(&cfg.grpc_listen)?;
    let http_listener = bind(&cfg.http_listen)?;
    let grpc_addr = grpc_listener.local_addr().map_err(|source| DaemonError::Bind { addr: cfg.grpc_listen.clone(), source })?;
    let http_addr = http_listener.local_addr().map_err(|source| DaemonError::Bind { addr: cfg.http_listen.clone(), source })?;
    let grpc_listener =
        tokio::net::TcpListener::from_std(grpc_listener).map_err(|source| DaemonError::Bind { addr: cfg.grpc_listen.clone(), source })?;
    let http_listener =
        tokio::net::TcpListener::from_std(http_listener).map_err(|source| DaemonError::Bind { addr: cfg.http_listen.clone(), source })?;

    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        ca: material.ca,
        interval_ms: cfg.heartbeat_interval_ms,
        licence: std::sync::RwLock::new(licence),
        vendor_keys: cfg.vendor_keys.clone(),
        metrics,
        packages_dir: dir.join(packages::PACKAGES_DIR),
        rules: cfg.rules.clone(),
        web: session::WebState::new(cfg.allow_loopback_admin),
        attestations: keydist_api::Attestations::default(),
        keydist: cfg.keydist,
        audit_key,
        operator_grpc_cert: cfg.grpc_tls.is_some(),
        second_factor: cfg.require_second_factor,
        agent_ca_bundle,
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grpc = {
        let mut stop = stop_rx.clone();
        let router = tonic::transport::Server::builder().add_service(AgentServiceServer::new(grpc::Agents { shared: shared.clone() }));
        let incoming = teehsm_tls::incoming(grpc_listener, agents_tls, shared.metrics.grpc_tls.handshake_failures.clone());
        tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|s| *s).await;
        }))
    };
    let scheme = if web_tls.is_some() { "https" } else { "http" };
    let http = tokio::spawn(http::serve(http_listener, shared.clone(), web_tls));
    let external_url = format!("{scheme}://{http_addr}");
    let eval = tokio::spawn(evaluate_loop(shared.clone(), eval_store, engine, cfg.webhooks, external_url, stop_rx.clone()));
    let housekeeping = tokio::spawn(maintenance::run(
        shared.clone(),
        maintenance_store,
        maintenance::Retention { sample_days: cfg.sample_retention_days, job_days: cfg.job_retention_days },
        maintenance::PERIOD,
        stop_rx.clone(),
    ));

    write_addr(dir, "grpc.addr", grpc_addr)?;
    write_addr(dir, "http.addr", http_addr)?;
    tracing::info!(grpc = %grpc_addr, http = %http_addr, web = %format!("{scheme}://{http_addr}/"), data_dir = %dir.display(), "teehsm-console serving");

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    http.abort();
    if tokio::time::timeout(Duration::from_secs(5), eval).await.is_err() {
        tracing::warn!("the evaluation loop did not stop in time");
    }
    if tokio::time::timeout(Duration::from_secs(5), housekeeping).await.is_err() {
        tracing::warn!("the housekeeping did not stop in time");
    }
    match tokio::time::timeout(Duration::from_secs(5), grpc).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the gRPC server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the gRPC server task failed"),
        Err(_) => tracing::warn!("gRPC connections still open after 5 s; closing them"),
    }
    let _ = std::fs::remove_file(dir.join("grpc.addr"));
    let _ = std::fs::remove_file(dir.join("http.addr"));
    Ok(())
}

/// Every interval/2: evaluate, store the changes and the engine state,
/// update the metrics, and send each batch of changes to the webhooks.
/// The evaluation runs on a blocking thread with its own store connection,
/// so neither heartbeats nor the async workers wait for it.
async fn evaluate_loop(
    shared: Arc<Shared>,
    store: Store,
    engine: AlertEngine,
    webhooks: Vec<String>,
    external_url: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let period = Duration::from_millis((shared.interval_ms / 2).max(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = Some((store, engine));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some((store, engine)) = state.take() else { return };
        let sh = shared.clone();
        let (store, engine, changes) = match tokio::task::spawn_blocking(move || evaluate_once(&sh, store, engine)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the alert evaluation panicked; evaluation stopped");
                return;
            }
        };
        for sev in [Severity::Info, Severity::Warning, Severity::Critical] {
            let n = engine.firing().filter(|a| a.severity == sev).count();
            shared.metrics.alerts_firing.with_label_values(&[sev.as_str()]).set(n as i64);
        }
        state = Some((store, engine));
        if changes.is_empty() {
            continue;
        }
        for c in &changes {
            let a = c.alert();
            tracing::info!(alert = %a.rule_id, host = ?a.host, firing = a.is_firing(), summary = %a.summary, "alert change");
        }
        let body = alertmanager_payload(&changes, &external_url).to_string().into_bytes();
        for url in &webhooks {
            let url = url.clone();
            let body = body.clone();
            tokio::spawn(async move {
                if let Err(e) = webhook::post(&url, &body, WEBHOOK_TIMEOUT, WEBHOOK_ATTEMPTS).await {
                    tracing::error!(url, error = %e, "webhook delivery failed; giving up on this batch");
                }
            });
        }
    }
}

/// One evaluation on the evaluator's own connection: reads the reports,
/// evaluates, stores the changes and the engine state.
fn evaluate_once(shared: &Shared, mut store: Store, mut engine: AlertEngine) -> (Store, AlertEngine, Vec<crate::alerts::AlertChange>) {
    let now = now_ms();
    let inputs = store.latest_reports().and_then(|r| Ok((r, store.hosts_seen()?, store.hosts()?)));
    let (reports, seen, hosts) = match inputs {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the reports");
            return (store, engine, Vec::new());
        }
    };
    shared.metrics.hosts.set(hosts.iter().filter(|h| h.status == crate::store::HostStatus::Active).count() as i64);
    shared.metrics.fleet.refresh(&reports, &seen);
    shared.metrics.fleet.refresh_certificates(&hosts);
    let licence = shared.licence().map(|l| Licence { max_hosts: l.max_hosts(), expires_at_ms: l.expires_ms() });
    let changes = engine.evaluate(now, &reports, &seen, licence.as_ref());
    if !changes.is_empty() {
        if let Err(e) = store.apply_changes(&changes) {
            tracing::error!(error = %e, "cannot store alert changes");
        }
    }
    if let Err(e) = store.save_engine_state(engine.state(), now) {
        tracing::error!(error = %e, "cannot save the alert engine state");
    }
    (store, engine, changes)
}
