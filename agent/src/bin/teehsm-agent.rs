//! teehsm-agent: enrolls a host with the fleet console and then reports the
//! local teehsm-ca and its TA to it in heartbeats (issue 6; docs/fleet-agent.md).

use anyhow::{anyhow, Context};
use clap::{Args, Parser, Subcommand};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use teehsm_agent::attestation::Attester;
use teehsm_agent::ca_health::parse_healthz;
use teehsm_agent::ca_health::HealthStatus;
use teehsm_agent::daemon::cert_jobs::{
    apply_policy, generate_csr, import_certificate, CertificateJob, CsrJob, KIND_APPLY_POLICY, KIND_GENERATE_CSR, KIND_IMPORT_CERTIFICATE,
};
use teehsm_agent::daemon::cert_renewal;
use teehsm_agent::daemon::jobs::{self, next_action, run_action, Action, JobContext};
use teehsm_agent::daemon::key_import::{import_key, ImportKeyJob, KIND_IMPORT_KEY};
use teehsm_agent::daemon::report::{build_report, tee_names, version_of_binary, Observation, ReportSettings, Tracker};
use teehsm_agent::daemon::sources::{http_get, listener_pid, read_http_addr};
use teehsm_agent::daemon::upgrade::HookTimeouts;
use teehsm_agent::enroll::{AgentKey, Enrollment};
use teehsm_agent::package::{Installer, VendorKeys};
use teehsm_agent::procstat::ProcFs;
use teehsm_agent::scrape::CaMetrics;
use teehsm_agent::tee_detect::Probe;
use teehsm_wire::proto::fleet::v1::agent_service_client::AgentServiceClient;
use teehsm_wire::proto::fleet::v1::{EnrollRequest, HeartbeatRequest, ReportJobRequest};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_REFUSED: u8 = 3;
const MIN_INTERVAL_MS: u64 = 100;
const MAX_INTERVAL_MS: u64 = 3_600_000;
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(
    name = "teehsm-agent",
    version,
    about = "teehsm host agent: enrolls with the fleet console, then reports the local teehsm-ca and its TA",
    long_about = "teehsm host agent (issue 6).\n\n\
  teehsm-agent enroll ...   one-time: get a client certificate from the console with an enrollment token\n\
  teehsm-agent run ...      daemon: every interval, read the CA's /healthz and /metrics, CPU and memory of\n\
                            the CA and TA, the host's TEEs, and send a Heartbeat to the console over mTLS;\n\
                            with --package-root and --vendor-key also carry out the console's TA upgrade\n\
                            jobs (fetch, verify, drain, switch, health check, rollback; docs/fleet-packages.md)\n\n\
Every option can also come from the environment (TEEHSM_AGENT_<OPTION>, e.g. TEEHSM_AGENT_STATE_DIR) or\n\
from a TOML file given with --config whose keys are the long option names (e.g. state-dir = \"/var/lib/teehsm-agent\",\n\
token-capacity = 1000). Flags win over the environment, which wins over the file.\n\n\
Exit codes: 0 ok (and on SIGTERM/SIGINT), 1 runtime failure (e.g. console unreachable during enroll),\n\
2 usage or configuration error, 3 the console refused the enrollment."
)]
struct Cli {
    /// TOML config file; keys are the long option names of the subcommand.
    #[arg(long, env = "TEEHSM_AGENT_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log filter (tracing EnvFilter syntax, e.g. "info" or "teehsm_agent=debug"; default "info").
    #[arg(long, env = "TEEHSM_AGENT_LOG_LEVEL", global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Enroll this host: generate a key and CSR, send them with the one-time token, store the certificate.
    Enroll(EnrollArgs),
    /// Run the reporting daemon (needs a prior `enroll`).
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct EnrollArgs {
    /// Console gRPC URL, e.g. https://console.example:7443.
    #[arg(long, env = "TEEHSM_AGENT_CONSOLE")]
    console: Option<String>,
    /// PEM file with the console's CA certificate (the console's TLS certificate is verified against it).
    #[arg(long, env = "TEEHSM_AGENT_CONSOLE_CA")]
    console_ca: Option<PathBuf>,
    /// One-time enrollment token ("teehsm-enroll-<64 hex>") from the console's admin.
    #[arg(long, env = "TEEHSM_AGENT_TOKEN")]
    token: Option<String>,
    /// Requested host id (1-64 of [A-Za-z0-9._-]); the console may assign another one.
    #[arg(long, env = "TEEHSM_AGENT_HOST_ID")]
    host_id: Option<String>,
    /// Host group.
    #[arg(long, env = "TEEHSM_AGENT_GROUP")]
    group: Option<String>,
    /// Directory for agent.pem, agent-key.pem and console-ca.pem (created with mode 0700).
    #[arg(long, env = "TEEHSM_AGENT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// TLS server name to verify the console's certificate against (default: the host in --console).
    #[arg(long, env = "TEEHSM_AGENT_CONSOLE_NAME")]
    console_name: Option<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Console gRPC URL, e.g. https://console.example:7443.
    #[arg(long, env = "TEEHSM_AGENT_CONSOLE")]
    console: Option<String>,
    /// The directory `enroll` wrote (client certificate, key and console CA).
    #[arg(long, env = "TEEHSM_AGENT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// teehsm-ca's --state-dir (its http.addr file is read every round).
    #[arg(long, env = "TEEHSM_AGENT_CA_STATE_DIR")]
    ca_state_dir: Option<PathBuf>,
    /// Capacity (objects) to measure every token against, instead of the TA's
    /// own max_token_objects [default: the TA's].
    ///
    /// Key-count alerts fire at a percentage of this capacity; set it to
    /// alert on a budget below what the TEE can hold.
    #[arg(long, env = "TEEHSM_AGENT_TOKEN_CAPACITY")]
    token_capacity: Option<u64>,
    /// Heartbeat interval until the console sets one (ms; default 10000).
    #[arg(long, env = "TEEHSM_AGENT_INTERVAL_MS")]
    interval_ms: Option<u64>,
    /// TA id reported to the console (default "default").
    #[arg(long, env = "TEEHSM_AGENT_TA_ID")]
    ta_id: Option<String>,
    /// Pid of teehsm-ca (default: found from the process listening on its http.addr).
    #[arg(long, env = "TEEHSM_AGENT_CA_PID")]
    ca_pid: Option<u32>,
    /// TLS server name to verify the console's certificate against (default: the host in --console).
    #[arg(long, env = "TEEHSM_AGENT_CONSOLE_NAME")]
    console_name: Option<String>,
    /// Directory of the installed TA packages (versions/, the `current` link); teehsm-ca's
    /// --ta-binary must be <dir>/current/teehsm-ta. Without it the agent only reports:
    /// the console's upgrade jobs are left alone.
    #[arg(long, env = "TEEHSM_AGENT_PACKAGE_ROOT")]
    package_root: Option<PathBuf>,
    /// Vendor Ed25519 public key that packages must be signed with: 64 hex digits, or a
    /// file holding them. Repeat (or separate with commas) for several. Needed with --package-root.
    #[arg(long = "vendor-key", env = "TEEHSM_AGENT_VENDOR_KEY", value_delimiter = ',')]
    vendor_key: Vec<String>,
    /// How long a restarted TA has to become healthy during an upgrade or rollback (ms; default 15000).
    #[arg(long, env = "TEEHSM_AGENT_HEALTH_TIMEOUT_MS")]
    health_timeout_ms: Option<u64>,
    /// How long the CA waits for open sessions to end before an upgrade restarts the TA (ms; default 10000, at most 60000).
    #[arg(long, env = "TEEHSM_AGENT_DRAIN_TIMEOUT_MS")]
    drain_timeout_ms: Option<u64>,
    /// File holding the token's user PIN, for the console's import_key jobs
    /// (key distribution, docs/key-distribution.md) [default: none: such jobs fail].
    ///
    /// The agent opens a user session only to hand the console-signed
    /// envelope to the TA; it cannot read the key. Keep the file mode 0600.
    #[arg(long, env = "TEEHSM_AGENT_USER_PIN_FILE")]
    user_pin_file: Option<PathBuf>,
    /// Renew the agent's client certificate (new key, RenewCertificate to the
    /// console) when fewer than this many days of it are left; 1 to 60
    /// (certificates last 90 days) [default: 30]. The console can also ask
    /// for a renewal at any time.
    #[arg(long, env = "TEEHSM_AGENT_RENEW_BEFORE_DAYS", value_name = "DAYS")]
    renew_before_days: Option<u64>,
}

/// The vendor keys from --vendor-key values (hex or files).
fn vendor_keys(values: &[String]) -> Result<VendorKeys, Fail> {
    let mut keys = VendorKeys::new();
    for v in values {
        let text = if Path::new(v).is_file() {
            std::fs::read_to_string(v).map_err(|e| Fail::usage(anyhow!("cannot read --vendor-key file {v}: {e}")))?
        } else {
            v.clone()
        };
        keys.add_hex(&text).map_err(|e| Fail::usage(anyhow!("--vendor-key {v:?}: {e}; give 64 hex digits or a file holding them")))?;
    }
    Ok(keys)
}

/// Where jobs run, if --package-root is given.
fn job_context(a: &RunArgs, ca_state_dir: &Path) -> Result<Option<JobContext>, Fail> {
    let Some(root) = &a.package_root else {
        if !a.vendor_key.is_empty() {
            return Err(Fail::usage(anyhow!("--vendor-key needs --package-root")));
        }
        return Ok(None);
    };
    if a.vendor_key.is_empty() {
        return Err(Fail::usage(anyhow!("--package-root needs at least one --vendor-key to verify packages with")));
    }
    let keys = vendor_keys(&a.vendor_key)?;
    let installer = Installer::open(root, keys).map_err(|e| Fail::usage(anyhow!("--package-root {}: {e}", root.display())))?;
    let health = a.health_timeout_ms.unwrap_or(15_000);
    let drain = a.drain_timeout_ms.unwrap_or(10_000);
    if !(100..=600_000).contains(&health) {
        return Err(Fail::usage(anyhow!("--health-timeout-ms must be 100 to 600000, got {health}")));
    }
    if drain > 60_000 {
        return Err(Fail::usage(anyhow!("--drain-timeout-ms must be at most 60000, got {drain}")));
    }
    Ok(Some(JobContext {
        installer: Arc::new(installer),
        ca_state_dir: ca_state_dir.to_path_buf(),
        timeouts: HookTimeouts { drain: Duration::from_millis(drain), health: Duration::from_millis(health) },
    }))
}

/// An error with its exit code.
struct Fail {
    code: u8,
    err: anyhow::Error,
}

impl Fail {
    fn usage(err: anyhow::Error) -> Self {
        Fail { code: EXIT_USAGE, err }
    }
    fn runtime(err: anyhow::Error) -> Self {
        Fail { code: EXIT_FAILURE, err }
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let file = match load_config(cli.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("teehsm-agent: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(f) = fill(&mut cli.log_level, &file, "log-level") {
        eprintln!("teehsm-agent: {:#}", f.err);
        return ExitCode::from(f.code);
    }
    let level = cli.log_level.as_deref().unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("teehsm-agent: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Enroll(a) => enroll(a, &file).await,
            Cmd::Run(a) => run(a, &file).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("teehsm-agent: {:#}", f.err);
            ExitCode::from(f.code)
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<toml::Table> {
    let Some(path) = path else { return Ok(toml::Table::new()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --config {}", path.display()))?;
    text.parse::<toml::Table>().with_context(|| format!("--config {} is not valid TOML", path.display()))
}

/// Fills `field` from the config file's `key` when neither the flag nor the environment set it.
fn fill<T: FromStr>(field: &mut Option<T>, file: &toml::Table, key: &str) -> Result<(), Fail>
where
    T::Err: std::fmt::Display,
{
    if field.is_some() {
        return Ok(());
    }
    if let Some(v) = file.get(key) {
        let text = match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        *field = Some(text.parse().map_err(|e| Fail::usage(anyhow!("config key {key} = {text:?}: {e}")))?);
    }
    Ok(())
}

fn required<T>(field: Option<T>, flag: &str) -> Result<T, Fail> {
    field.ok_or_else(|| Fail::usage(anyhow!("--{flag} is required (flag, environment or config file)")))
}

/// A client of the console's AgentService with the enrollment's client
/// certificate (the connection is made at the first call).
fn console_client(console: &str, enrollment: &Enrollment, console_name: Option<&str>) -> Result<AgentServiceClient<Channel>, Fail> {
    Ok(AgentServiceClient::new(endpoint(console, client_tls(enrollment, console_name))?.connect_lazy()))
}

/// TLS to the console: its CA(s) from the enrollment, the agent's client
/// certificate, and the name to check if not the URL's host.
fn client_tls(enrollment: &Enrollment, console_name: Option<&str>) -> ClientTlsConfig {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&enrollment.ca_pem))
        .identity(Identity::from_pem(&enrollment.cert_pem, enrollment.key_pem.as_bytes()));
    match console_name {
        Some(name) => tls.domain_name(name),
        None => tls,
    }
}

/// The console CA bundle the console sends (HeartbeatResponse.console_ca_pem).
#[derive(Default)]
struct CaBundle {
    /// A bundle that did not verify the console, and when to try it again.
    refused: Option<(String, std::time::Instant)>,
}

impl CaBundle {
    /// How long a bundle that did not verify the console waits before another try.
    const RETRY_AFTER: Duration = Duration::from_secs(600);

    /// Trusts `bundle` from now on if a new connection to the console
    /// verified with it succeeds: then writes it to console-ca.pem and
    /// returns the client to use. A bundle that does not parse or does not
    /// verify the console is logged and left alone (retried after
    /// [`Self::RETRY_AFTER`]), so a wrong bundle never cuts the agent off.
    async fn adopt(
        &mut self,
        bundle: &str,
        console: &str,
        state_dir: &std::path::Path,
        enrollment: &mut Enrollment,
        console_name: Option<&str>,
    ) -> Option<AgentServiceClient<Channel>> {
        if self.refused.as_ref().is_some_and(|(b, at)| b == bundle && at.elapsed() < Self::RETRY_AFTER) {
            return None;
        }
        let candidate = Enrollment { ca_pem: bundle.to_string(), ..enrollment.clone() };
        let probe = async {
            let tls = client_tls(&candidate, console_name);
            let channel = endpoint(console, tls).map_err(|e| e.err.to_string())?.connect().await.map_err(|e| source_chain(&e))?;
            Enrollment::replace_ca(state_dir, bundle).map_err(|e| e.to_string())?;
            Ok::<_, String>(AgentServiceClient::new(channel))
        };
        match probe.await {
            Ok(client) => {
                tracing::info!(
                    certificates = bundle.matches("-----BEGIN CERTIFICATE-----").count(),
                    "now trusting the console CA bundle the console sent"
                );
                *enrollment = candidate;
                self.refused = None;
                Some(client)
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = Self::RETRY_AFTER.as_secs(), "the console sent a CA bundle that does not verify it; keeping the CA in use");
                self.refused = Some((bundle.to_string(), std::time::Instant::now()));
                None
            }
        }
    }
}

/// The wall clock, Unix ms.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn endpoint(console: &str, tls: ClientTlsConfig) -> Result<Endpoint, Fail> {
    if !console.starts_with("https://") {
        return Err(Fail::usage(anyhow!("--console must be an https:// URL, got {console:?}")));
    }
    Endpoint::from_shared(console.to_string())
        .map_err(|e| Fail::usage(anyhow!("--console {console:?} is not a valid URL: {e}")))?
        .tls_config(tls)
        .map_err(|e| Fail::usage(anyhow!("TLS setup for {console}: {e}")))
        .map(|e| e.connect_timeout(Duration::from_secs(10)).timeout(Duration::from_secs(20)))
}

async fn enroll(mut a: EnrollArgs, file: &toml::Table) -> Result<(), Fail> {
    fill(&mut a.console, file, "console")?;
    fill(&mut a.console_ca, file, "console-ca")?;
    fill(&mut a.token, file, "token")?;
    fill(&mut a.host_id, file, "host-id")?;
    fill(&mut a.group, file, "group")?;
    fill(&mut a.state_dir, file, "state-dir")?;
    fill(&mut a.console_name, file, "console-name")?;
    let console = required(a.console, "console")?;
    let console_ca = required(a.console_ca, "console-ca")?;
    let token = required(a.token, "token")?;
    let host_id = required(a.host_id, "host-id")?;
    let state_dir = required(a.state_dir, "state-dir")?;
    let ca_pem = std::fs::read_to_string(&console_ca).map_err(|e| Fail::usage(anyhow!("cannot read --console-ca {}: {e}", console_ca.display())))?;
    if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Fail::usage(anyhow!("--console-ca {} holds no PEM certificate", console_ca.display())));
    }
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem));
    if let Some(name) = a.console_name {
        tls = tls.domain_name(name);
    }
    let ep = endpoint(&console, tls)?;

    let key = AgentKey::generate().map_err(|e| Fail::runtime(e.into()))?;
    let csr_pem = key.csr_pem().map_err(|e| Fail::runtime(e.into()))?;
    let channel = ep.connect().await.map_err(|e| Fail::runtime(anyhow!("cannot connect to the console at {console}: {}", source_chain(&e))))?;
    let req = EnrollRequest { token, host_id, group: a.group.unwrap_or_default(), csr_pem };
    let resp = match AgentServiceClient::new(channel).enroll(req).await {
        Ok(r) => r.into_inner(),
        Err(s) if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled) => {
            return Err(Fail::runtime(anyhow!("console at {console} unavailable: {}", s.message())))
        }
        Err(s) => return Err(Fail { code: EXIT_REFUSED, err: anyhow!("the console refused the enrollment ({:?}): {}", s.code(), s.message()) }),
    };
    let enrollment =
        Enrollment { cert_pem: resp.cert_pem, key_pem: key.pem().clone(), ca_pem: if resp.ca_pem.is_empty() { ca_pem } else { resp.ca_pem } };
    enrollment.write(&state_dir).map_err(|e| Fail::runtime(anyhow!("cannot store the enrollment: {e}")))?;
    tracing::info!(host_id = %resp.host_id, state_dir = %state_dir.display(), "enrolled");
    println!("{}", resp.host_id);
    Ok(())
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

async fn run(mut a: RunArgs, file: &toml::Table) -> Result<(), Fail> {
    fill(&mut a.console, file, "console")?;
    fill(&mut a.state_dir, file, "state-dir")?;
    fill(&mut a.ca_state_dir, file, "ca-state-dir")?;
    fill(&mut a.token_capacity, file, "token-capacity")?;
    fill(&mut a.interval_ms, file, "interval-ms")?;
    fill(&mut a.ta_id, file, "ta-id")?;
    fill(&mut a.ca_pid, file, "ca-pid")?;
    fill(&mut a.console_name, file, "console-name")?;
    fill(&mut a.package_root, file, "package-root")?;
    fill(&mut a.health_timeout_ms, file, "health-timeout-ms")?;
    fill(&mut a.user_pin_file, file, "user-pin-file")?;
    fill(&mut a.drain_timeout_ms, file, "drain-timeout-ms")?;
    fill(&mut a.renew_before_days, file, "renew-before-days")?;
    let renew_before_days = a.renew_before_days.unwrap_or(cert_renewal::DEFAULT_RENEW_BEFORE_DAYS);
    if !(1..=cert_renewal::MAX_RENEW_BEFORE_DAYS).contains(&renew_before_days) {
        return Err(Fail::usage(anyhow!(
            "--renew-before-days must be 1 to {} (certificates last 90 days), got {renew_before_days}",
            cert_renewal::MAX_RENEW_BEFORE_DAYS
        )));
    }
    let renew_before = Duration::from_secs(renew_before_days * 86_400);
    if a.vendor_key.is_empty() {
        match file.get("vendor-key") {
            None => {}
            Some(toml::Value::String(k)) => a.vendor_key.push(k.clone()),
            Some(toml::Value::Array(list)) => {
                for k in list {
                    let k = k.as_str().ok_or_else(|| Fail::usage(anyhow!("config key vendor-key: every entry must be a string")))?;
                    a.vendor_key.push(k.to_owned());
                }
            }
            Some(_) => return Err(Fail::usage(anyhow!("config key vendor-key must be a string or an array of strings"))),
        }
    }
    let ca_state_dir_for_jobs = a.ca_state_dir.clone();
    let jobs = match &ca_state_dir_for_jobs {
        Some(d) => job_context(&a, d)?,
        None => None,
    };
    let console = required(a.console, "console")?;
    let state_dir = required(a.state_dir, "state-dir")?;
    let ca_state_dir = required(a.ca_state_dir, "ca-state-dir")?;
    let user_pin = match &a.user_pin_file {
        Some(f) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(f).map_err(|e| Fail::usage(anyhow!("cannot read --user-pin-file {}: {e}", f.display())))?,
            );
            let pin = zeroize::Zeroizing::new(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec());
            if pin.is_empty() {
                return Err(Fail::usage(anyhow!("--user-pin-file {} is empty", f.display())));
            }
            Some(pin)
        }
        None => None,
    };
    let token_capacity = a.token_capacity;
    let mut interval_ms = a.interval_ms.unwrap_or(10_000).clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
    let settings = ReportSettings {
        ta_id: a.ta_id.unwrap_or_else(|| "default".to_string()),
        token_capacity,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };

    let mut enrollment = Enrollment::load(&state_dir).map_err(|e| {
        Fail::usage(anyhow!("cannot load the enrollment from --state-dir {} (run `teehsm-agent enroll` first): {e}", state_dir.display()))
    })?;
    let console_name = a.console_name;
    let mut client = console_client(&console, &enrollment, console_name.as_deref())?;
    let mut next_renewal_attempt = std::time::Instant::now();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Fail::runtime(anyhow!("cannot install the SIGTERM handler: {e}")))?;
    let tees = tee_names(&Probe::host().detect());
    if a.ca_pid.is_none() {
        tracing::info!("no --ca-pid: the CA's pid is taken from the process listening on its http.addr (CA stats are skipped if it cannot be found)");
    }
    let package_root = jobs.as_ref().and_then(|j| std::fs::canonicalize(j.installer.root()).ok());
    let installer = jobs.as_ref().map(|j| j.installer.clone());
    let key_import = user_pin.map(|pin| KeyImport { socket: ca_state_dir.join("ca.sock"), pin: Arc::new(pin) });
    let mut collector = Collector {
        tracker: Tracker::new(ProcFs::default()),
        ca_state_dir,
        fixed_ca_pid: a.ca_pid,
        found_ca: None,
        last_addr: None,
        tees,
        package_root,
        installer,
        attester: Attester::default(),
    };
    tracing::info!(console = %console, interval_ms, tees = ?collector.tees, jobs = jobs.is_some(), "teehsm-agent running");
    let mut runner = JobRunner { ctx: jobs, keys: key_import, attempted: HashSet::new(), task: None, warned: false };

    let mut ca_bundle = CaBundle::default();
    let mut backoff = Duration::from_secs(1);
    loop {
        let report = collector.observe(&settings).await;
        let attached = report.tas.iter().any(|t| !t.attestation_report.is_empty());
        let tas_up = report.tas.iter().all(|t| t.up);
        let sent = tokio::select! {
            r = client.heartbeat(HeartbeatRequest { report: Some(report) }) => r,
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let wait = match sent {
            Ok(resp) => {
                let resp = resp.into_inner();
                if attached {
                    collector.attester.mark_sent();
                }
                collector.attester.set_nonce(&resp.attestation_nonce);
                let renewal_wanted = resp.renew_certificate
                    || cert_renewal::due(&enrollment.cert_pem, unix_ms(), renew_before).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "cannot tell when the client certificate expires; renewing it");
                        true
                    });
                // Not while a job runs: it reports over the old connection,
                // which the console stops accepting once the new one is used.
                if renewal_wanted && !runner.busy() && std::time::Instant::now() >= next_renewal_attempt {
                    match cert_renewal::renew(&mut client, &state_dir, unix_ms()).await {
                        Ok(renewed) => match console_client(&console, &renewed, console_name.as_deref()) {
                            Ok(c) => {
                                client = c;
                                enrollment = renewed;
                            }
                            Err(e) => tracing::error!(error = %e.err, "cannot use the renewed certificate; it is used at the next start"),
                        },
                        Err(e) => {
                            next_renewal_attempt = std::time::Instant::now() + cert_renewal::RETRY_AFTER;
                            tracing::error!(error = %e, retry_in_s = cert_renewal::RETRY_AFTER.as_secs(), "certificate renewal failed");
                        }
                    }
                }
                if !resp.console_ca_pem.is_empty() && resp.console_ca_pem != enrollment.ca_pem && !runner.busy() {
                    if let Some(new_client) =
                        ca_bundle.adopt(&resp.console_ca_pem, &console, &state_dir, &mut enrollment, console_name.as_deref()).await
                    {
                        client = new_client;
                    }
                }
                runner.on_heartbeat(&resp, &client);
                let want = resp.heartbeat_interval_ms;
                if want > 0 {
                    let want = want.clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS);
                    if want != interval_ms {
                        tracing::info!(interval_ms = want, "console set the heartbeat interval");
                        interval_ms = want;
                    }
                }
                backoff = Duration::from_secs(1);
                tracing::debug!(ta_up = tas_up, "heartbeat sent");
                Duration::from_millis(interval_ms)
            }
            Err(s) => {
                let wait = backoff.min(Duration::from_millis(interval_ms)).max(Duration::from_millis(MIN_INTERVAL_MS));
                tracing::warn!(code = ?s.code(), error = %source_chain(&s), retry_in_ms = wait.as_millis() as u64, "heartbeat failed");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    tracing::info!("shutting down");
    Ok(())
}

/// Starts the console's jobs, one at a time, each at most once per agent run.
struct JobRunner {
    ctx: Option<JobContext>,
    keys: Option<KeyImport>,
    attempted: HashSet<u64>,
    task: Option<tokio::task::JoinHandle<()>>,
    warned: bool,
}

impl JobRunner {
    /// Whether a job is running.
    fn busy(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn on_heartbeat(&mut self, resp: &teehsm_wire::proto::fleet::v1::HeartbeatResponse, client: &AgentServiceClient<Channel>) {
        if self.task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        self.task = None;
        if let Some(job) = resp.jobs.iter().find(|j| !self.attempted.contains(&j.id) && TOKEN_JOBS.contains(&j.kind.as_str())) {
            self.attempted.insert(job.id);
            self.task = Some(tokio::spawn(run_token_job(client.clone(), self.keys.clone(), job.clone())));
            return;
        }
        let Some(ctx) = &self.ctx else {
            if !resp.jobs.is_empty() && !self.warned {
                tracing::warn!(
                    jobs = resp.jobs.len(),
                    "the console has jobs for this host, but without --package-root the agent does not carry them out"
                );
                self.warned = true;
            }
            return;
        };
        let active = ctx.installer.active().ok().flatten();
        let action = next_action(&resp.jobs, active.as_deref(), &self.attempted);
        let job_id = match &action {
            Action::Idle => {
                let desired = resp.desired.as_ref().map(|d| d.ta_version.as_str()).unwrap_or("");
                if !desired.is_empty() && Some(desired) != active.as_deref() {
                    tracing::debug!(desired, active = ?active, "desired TA version differs from the active one; the console queues a ta_upgrade job to converge");
                }
                return;
            }
            Action::Upgrade { job_id, .. }
            | Action::AlreadyActive { job_id, .. }
            | Action::Install { job_id, .. }
            | Action::Uninstall { job_id, .. }
            | Action::Reject { job_id, .. } => *job_id,
        };
        self.attempted.insert(job_id);
        self.task = Some(tokio::spawn(run_action(client.clone(), ctx.clone(), action)));
    }
}

/// Jobs that work on a token through a user session (`--user-pin-file`).
const TOKEN_JOBS: [&str; 4] = [KIND_IMPORT_KEY, KIND_GENERATE_CSR, KIND_IMPORT_CERTIFICATE, KIND_APPLY_POLICY];

/// What a token job needs: the CA's client socket and the user PIN.
#[derive(Clone)]
struct KeyImport {
    socket: PathBuf,
    pin: Arc<zeroize::Zeroizing<Vec<u8>>>,
}

/// Carries out one token job on a blocking thread; the success message.
fn token_job(k: &KeyImport, kind: &str, payload: &str) -> Result<String, String> {
    let e = |e: teehsm_agent::daemon::key_import::ImportError| e.to_string();
    match kind {
        KIND_IMPORT_KEY => {
            let job = ImportKeyJob::parse(payload).map_err(e)?;
            let h = import_key(&k.socket, &k.pin, &job).map_err(e)?;
            Ok(format!("key {:?} imported into slot {} as handle {h}", job.label, job.slot))
        }
        KIND_GENERATE_CSR => {
            let job = CsrJob::parse(payload).map_err(e)?;
            generate_csr(&k.socket, &k.pin, &job).map_err(e)
        }
        KIND_IMPORT_CERTIFICATE => {
            let job = CertificateJob::parse(payload).map_err(e)?;
            let h = import_certificate(&k.socket, &k.pin, &job).map_err(e)?;
            Ok(format!("certificate {:?} stored in slot {} as handle {h}", job.label, job.slot))
        }
        KIND_APPLY_POLICY => apply_policy(&k.socket, &k.pin, payload).map_err(e),
        other => Err(format!("this agent does not carry out {other:?} jobs")),
    }
}

/// A token job (import_key, generate_csr, import_certificate): runs it and
/// reports the outcome; a CSR is the success message (PEM).
async fn run_token_job(mut client: AgentServiceClient<Channel>, keys: Option<KeyImport>, job: teehsm_wire::proto::fleet::v1::Job) {
    let step = |s: &str, d: String| teehsm_wire::proto::fleet::v1::JobStep { step: s.into(), detail: d };
    let report = |state: &str, history: Vec<teehsm_wire::proto::fleet::v1::JobStep>, message: String| ReportJobRequest {
        job_id: job.id,
        state: state.into(),
        history,
        message,
        active_version: String::new(),
    };
    let outcome = match keys {
        None => Err(format!("this agent has no --user-pin-file, so it cannot open a user session for {} jobs", job.kind)),
        Some(k) => {
            let started = jobs::report(&mut client, report("running", vec![step(&job.kind, String::new())], String::new())).await;
            if let jobs::Reported::Refused(why) = started {
                tracing::warn!(job = job.id, kind = %job.kind, reason = %why, "the console refused to let the job start; not starting it");
                return;
            }
            let (kind, payload) = (job.kind.clone(), job.payload_json.clone());
            match tokio::task::spawn_blocking(move || token_job(&k, &kind, &payload)).await {
                Ok(r) => r,
                Err(e) => Err(format!("the job task failed: {e}")),
            }
        }
    };
    let req = match outcome {
        Ok(msg) => {
            tracing::info!(job = job.id, kind = %job.kind, "token job done");
            report("succeeded", vec![step(&job.kind, "done".into()), step("done", String::new())], msg)
        }
        Err(msg) => {
            tracing::warn!(job = job.id, kind = %job.kind, error = %msg, "token job failed");
            report("failed", vec![step(&job.kind, String::new()), step("failed", msg.clone())], msg)
        }
    };
    let _ = jobs::report(&mut client, req).await;
}

struct Collector {
    attester: Attester,
    package_root: Option<PathBuf>,
    installer: Option<Arc<Installer>>,
    tracker: Tracker,
    ca_state_dir: PathBuf,
    fixed_ca_pid: Option<u32>,
    found_ca: Option<(SocketAddr, u32)>,
    last_addr: Option<SocketAddr>,
    tees: Vec<String>,
}

impl Collector {
    async fn observe(&mut self, settings: &ReportSettings) -> teehsm_wire::proto::fleet::v1::HostReport {
        let mut o = Observation { tees: self.tees.clone(), mem_total_bytes: self.tracker.mem_total(), ..Observation::default() };
        let addr = match read_http_addr(&self.ca_state_dir) {
            Ok(addr) => {
                if self.last_addr != Some(addr) {
                    tracing::info!(%addr, "CA HTTP address");
                    self.last_addr = Some(addr);
                }
                Some(addr)
            }
            Err(e) => {
                if self.last_addr.take().is_some() {
                    tracing::warn!(error = %e, "CA HTTP address unavailable; reporting the TA down");
                } else {
                    tracing::debug!(error = %e, "CA HTTP address unavailable");
                }
                None
            }
        };
        if let Some(addr) = addr {
            match http_get(addr, "/healthz", HTTP_TIMEOUT).await {
                Ok((_, body)) => match parse_healthz(&body) {
                    Ok(h) => o.health = Some(h),
                    Err(e) => tracing::warn!(error = %e, "CA /healthz unparsable"),
                },
                Err(e) => tracing::warn!(error = %e, "CA /healthz unreachable"),
            }
            match http_get(addr, "/metrics", HTTP_TIMEOUT).await {
                Ok((200, body)) => match CaMetrics::parse(&body) {
                    Ok(m) => o.metrics = Some(m),
                    Err(e) => tracing::warn!(error = %e, "CA /metrics unparsable"),
                },
                Ok((code, _)) => tracing::warn!(code, "CA /metrics answered an error"),
                Err(e) => tracing::warn!(error = %e, "CA /metrics unreachable"),
            }
        }
        let up_pid = o.health.as_ref().filter(|h| h.status == HealthStatus::Ok).and_then(|h| h.ta_pid);
        self.attester.refresh(&self.ca_state_dir.join("ca.sock"), up_pid).await;
        o.identity = self.attester.identity().cloned();
        o.ta_version = match (o.health.as_ref().and_then(|h| h.ta_binary.as_deref()), &self.package_root) {
            (Some(bin), Some(root)) => version_of_binary(bin, root),
            _ => None,
        }
        .or_else(|| self.installer.as_ref().and_then(|i| i.active().ok().flatten()));
        o.rates = self.tracker.scrape(o.metrics.as_ref(), Instant::now());
        o.ta = self.tracker.ta(o.health.as_ref().and_then(|h| h.ta_pid));
        let ca_pid = self.ca_pid(addr);
        o.ca = self.tracker.ca(ca_pid);
        if o.ca.is_none() && self.fixed_ca_pid.is_none() {
            self.found_ca = None;
        }
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut report = build_report(&o, settings, now_ms);
        if let (Some(bytes), Some(ta)) = (self.attester.attachment(), report.tas.first_mut()) {
            ta.attestation_report = bytes;
        }
        report.packages = self.installer.as_deref().map(jobs::package_inventory);
        report
    }

    fn ca_pid(&mut self, addr: Option<SocketAddr>) -> Option<u32> {
        if self.fixed_ca_pid.is_some() {
            return self.fixed_ca_pid;
        }
        let addr = addr?;
        match self.found_ca {
            Some((a, pid)) if a == addr => Some(pid),
            _ => {
                let pid = listener_pid(Path::new("/proc"), addr);
                match pid {
                    Some(pid) => {
                        tracing::info!(pid, %addr, "found the CA process");
                        self.found_ca = Some((addr, pid));
                    }
                    None => tracing::debug!(%addr, "cannot find the CA's pid; CA CPU/memory not reported"),
                }
                pid
            }
        }
    }
}
