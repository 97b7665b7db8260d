//! Configuration: command-line flags and `TEEHSM_CA_*` environment variables
//! (both through clap), over an optional TOML file, over built-in defaults.
//! Precedence: flag > environment > file > default.

use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use teehsm_wire::stream::Endpoint;
use thiserror::Error;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/teehsm";
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_BACKOFF_MIN_MS: u64 = 200;
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 30_000;
pub const DEFAULT_TA_READY_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Name of the TA executable looked up next to `teehsm-ca`, then on `PATH`.
pub const TA_BINARY_NAME: &str = "teehsm-ta";

/// Files and directories inside the state directory.
pub const CA_SOCKET_FILE: &str = "ca.sock";
pub const TA_SOCKET_FILE: &str = "ta.sock";
/// The TA's hand-off socket inside the state directory.
pub const TA_HANDOFF_SOCKET_FILE: &str = "ta-handoff.sock";
pub const TA_DATA_DIR: &str = "ta-data";
pub const PLATFORM_DIR: &str = "platform";
pub const HTTP_ADDR_FILE: &str = "http.addr";
/// The address the gRPC listener actually bound.
pub const GRPC_ADDR_FILE: &str = "grpc.addr";
/// Where `grpc_dev_tls` keeps its generated certificates.
pub const GRPC_DEV_TLS_DIR: &str = "grpc-dev-tls";

pub const DEFAULT_GRPC_TA_CONNECTIONS: usize = 4;
pub const MAX_GRPC_TA_CONNECTIONS: usize = 64;
pub const DEFAULT_GRPC_WORKER_THREADS: usize = 2;
pub const MAX_GRPC_WORKER_THREADS: usize = 64;
pub const DEFAULT_GRPC_MAX_MESSAGE_BYTES: usize = 512 * 1024;
/// Smallest accepted `grpc_max_message_bytes`.
pub const MIN_GRPC_MAX_MESSAGE_BYTES: usize = 1024;

/// TA flags the CA sets itself; `--ta-arg` may not override them.
const RESERVED_TA_FLAGS: [&str; 6] = ["--socket", "--listen-tcp", "--handoff-socket", "--data-dir", "--platform-dir", "--config"];

const LONG_ABOUT: &str = "\
teehsm-ca: the untrusted host daemon of teehsm (the GlobalPlatform \"client application\").

It starts the trusted application (teehsm-ta) as a child process, waits until the TA has \
passed its known-answer self-tests and prints its READY line, and restarts it with \
exponential backoff whenever it exits. A TA that refuses to start for a security reason \
(self-test failure, sealed-store rollback or corruption) is reported on /healthz and \
retried only at the maximum backoff.

Clients (the PKCS#11 module, tests, tools) connect to the client socket and speak the TA \
protocol; each client gets its own dedicated TA connection and its frames are relayed \
one by one, size-checked but otherwise untouched. The CA never sees plaintext keys and \
makes no security decision: the TA re-checks every PIN, session and key policy.

Every option can be given as a flag, as an environment variable TEEHSM_CA_<OPTION> \
(e.g. TEEHSM_CA_STATE_DIR), or as a key of the TOML file named by --config, spelled with \
underscores (e.g. state_dir). Precedence: flag > environment > file > built-in default. \
See teehsm-ca.example.toml for every key.";

const AFTER_LONG_HELP: &str = "\
STATE DIRECTORY (--state-dir, default /var/lib/teehsm):
  ca.sock    client socket, mode 0660: the TA protocol, relayed to the TA (override with --socket)
  ta.sock    the TA's own socket, mode 0600: only teehsm-ca connects to it (unless --ta-address is tcp://)
  ta-data/   the TA's sealed store and hash-chained audit log
  platform/  sim-platform state (root key, monotonic counter): back it up together with ta-data/
  http.addr  the address the HTTP listener actually bound (handy with --http-listen 127.0.0.1:0)
  grpc.addr  the address the gRPC listener actually bound (with --grpc-listen)
  grpc-dev-tls/  the self-signed development CA and certificates of --grpc-dev-tls

HTTP (--http-listen):
  GET /healthz  200 {\"status\":\"ok\",\"ta\":\"running\",...} while the TA serves, else 503 with the reason
  GET /metrics  Prometheus text format (teehsm_ca_*, teehsm_grpc_*, teehsm_ta_operations_total, teehsm_token_objects, teehsm_token_capacity, teehsm_token_info)
  POST /admin/ta/drain?timeout_ms=N, /admin/ta/resume, /admin/ta/restart  loopback only: used by
                teehsm-agent to switch TA package versions (docs/fleet-packages.md)

gRPC (--grpc-listen, off by default):
  teehsm.v1.KeyManagementService (docs/grpc-api.md), grpc.health.v1.Health (SERVING while the TA
  runs) and server reflection (v1 and v1alpha), over TLS only: give --grpc-tls-cert and
  --grpc-tls-key, or --grpc-dev-tls for a generated development CA and certificate.
  A renewed certificate/key pair is loaded at the next new connection, no restart needed
  (rename the new files into place; a pair that does not load is logged, the old one kept).
  The --grpc-client-ca file is reloaded the same way (list old and new CA while rotating).
  --grpc-client-ca turns on client certificates (mTLS; --grpc-client-auth required by default).
  Every call is forwarded to the TA unchanged, with its x-teehsm-* authenticator; the TA decides.
  Try it: grpcurl -cacert <state-dir>/grpc-dev-tls/ca.pem 127.0.0.1:8443 list

SIGNALS AND EXIT CODES:
  SIGTERM/SIGINT stop accepting gRPC calls and wait up to 10 s for those in flight, then stop
  accepting clients, close them, stop the TA (SIGTERM, SIGKILL after 10 s), remove the sockets
  and exit 0. Exit 1: runtime error (e.g. the client socket is in use by a
  running teehsm-ca). Exit 2: configuration error.";

/// Log output format (ours and the TA's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// How client connections reach the TA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientTransport {
    /// Hand each accepted connection to the TA (SCM_RIGHTS); frames then
    /// flow between client and TA without a second hop.
    #[default]
    Handoff,
    /// Relay every frame through the CA.
    Relay,
}

/// Whether gRPC clients must present a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrpcClientAuth {
    /// No client certificates.
    None,
    /// Verified if presented.
    Optional,
    /// The TLS handshake fails without one.
    Required,
}

/// Where the gRPC server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcTls {
    /// Operator-provided PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Generated into this directory if missing (development).
    Dev { dir: PathBuf },
}

/// The gRPC server, when `grpc_listen` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcConfig {
    pub listen: String,
    pub tls: GrpcTls,
    /// CA bundle for client certificates (mTLS).
    pub client_ca: Option<PathBuf>,
    pub client_auth: GrpcClientAuth,
    pub ta_connections: usize,
    pub worker_threads: usize,
    pub max_message_bytes: usize,
    pub addr_file: PathBuf,
}

/// Command-line flags (each also readable from `TEEHSM_CA_<NAME>`).
#[derive(Parser, Debug, Default, Clone)]
#[command(name = "teehsm-ca", version, about = "teehsm CA service: supervises the TA, relays clients to it, serves health and metrics", long_about = LONG_ABOUT, after_long_help = AFTER_LONG_HELP)]
pub struct Cli {
    /// TOML configuration file; keys are the option names with underscores.
    #[arg(long, env = "TEEHSM_CA_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// State directory: holds ca.sock, ta.sock, ta-data/ and platform/ [default: /var/lib/teehsm].
    ///
    /// Created (mode 0750) if missing. See STATE DIRECTORY below.
    #[arg(long, env = "TEEHSM_CA_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Client socket (Unix, mode 0660) [default: <state-dir>/ca.sock].
    ///
    /// A stale socket file is removed at start; if another teehsm-ca still answers on it, start-up fails.
    #[arg(long, env = "TEEHSM_CA_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// The TA executable [default: teehsm-ta next to teehsm-ca, else teehsm-ta on PATH].
    #[arg(long, env = "TEEHSM_CA_TA_BINARY", value_name = "PATH")]
    pub ta_binary: Option<PathBuf>,

    /// Argument placed between --ta-binary and `serve`; repeat it [default: none].
    ///
    /// For a launcher: --ta-binary=/usr/bin/gramine-sgx --ta-binary-arg=teehsm-ta runs
    /// `gramine-sgx teehsm-ta serve ...` (teehsm-ta being the manifest name). Split on spaces like --ta-arg.
    #[arg(long, env = "TEEHSM_CA_TA_BINARY_ARG", value_name = "ARG", allow_hyphen_values = true, value_delimiter = ' ', action = clap::ArgAction::Append)]
    pub ta_binary_arg: Vec<String>,

    /// Where the TA serves: unix:PATH (or a path) or tcp://HOST:PORT [default: <state-dir>/ta.sock].
    ///
    /// The CA starts the TA with --socket PATH or --listen-tcp HOST:PORT accordingly, and reaches it
    /// there (bootstrap, relayed clients). tcp:// is for a TA that cannot share a Unix socket with the
    /// host (Gramine-SGX, docs/tee-backends.md) and requires --client-transport relay.
    #[arg(long, env = "TEEHSM_CA_TA_ADDRESS", value_name = "ADDRESS")]
    pub ta_address: Option<String>,

    /// HTTP address for /healthz and /metrics [default: 127.0.0.1:9464].
    ///
    /// Port 0 picks a free port; the bound address is logged and written to <state-dir>/http.addr.
    #[arg(long, env = "TEEHSM_CA_HTTP_LISTEN", value_name = "ADDR:PORT")]
    pub http_listen: Option<String>,

    /// Initialize a DEVELOPMENT token in slot 0 if it is not initialized [default: false].
    ///
    /// Label "dev-token", SO PIN 12345678, user PIN 123456: well-known PINs, never for production.
    /// Accepts an optional value: --init-dev-token=false.
    #[arg(
        long,
        env = "TEEHSM_CA_INIT_DEV_TOKEN",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub init_dev_token: Option<bool>,

    /// First delay before restarting a TA that exited, in milliseconds [default: 200].
    ///
    /// The delay doubles on every consecutive failure up to --restart-backoff-max-ms, and resets
    /// once a TA has stayed up for 30 s.
    #[arg(long, env = "TEEHSM_CA_RESTART_BACKOFF_MIN_MS", value_name = "MS")]
    pub restart_backoff_min_ms: Option<u64>,

    /// Longest delay between TA restarts, in milliseconds [default: 30000].
    ///
    /// A TA that exits for a security reason (exit 3 self-test, 4 rollback, 5 corrupt store)
    /// is always retried after this delay.
    #[arg(long, env = "TEEHSM_CA_RESTART_BACKOFF_MAX_MS", value_name = "MS")]
    pub restart_backoff_max_ms: Option<u64>,

    /// How long to wait for the TA's READY line after starting it, in seconds [default: 60].
    ///
    /// The TA runs every known-answer self-test and opens its sealed store first.
    #[arg(long, env = "TEEHSM_CA_TA_READY_TIMEOUT_SECS", value_name = "SECS")]
    pub ta_ready_timeout_secs: Option<u64>,

    /// How client connections reach the TA [default: handoff].
    ///
    /// handoff: the CA accepts each client, checks the TA is up, and passes the connection itself to
    /// the TA over <state-dir>/ta-handoff.sock, so requests cost one hop instead of two. relay: every
    /// frame goes through the CA. Either way the TA treats every byte as hostile and decides everything.
    #[arg(long, env = "TEEHSM_CA_CLIENT_TRANSPORT", value_enum, value_name = "MODE")]
    pub client_transport: Option<ClientTransport>,

    /// Log format, for the CA and the TA it starts [default: text].
    #[arg(long, env = "TEEHSM_CA_LOG_FORMAT", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. info, warn or teehsm_ca=debug [default: info].
    ///
    /// A plain level (error, warn, info, debug, trace) is also passed to the TA.
    #[arg(long, env = "TEEHSM_CA_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// gRPC listener for the key management API, e.g. 127.0.0.1:8443 [default: off].
    ///
    /// TLS only: needs --grpc-tls-cert and --grpc-tls-key, or --grpc-dev-tls. Port 0 picks a free
    /// port; the bound address is logged and written to <state-dir>/grpc.addr. An empty value turns it off.
    #[arg(long, env = "TEEHSM_CA_GRPC_LISTEN", value_name = "ADDR:PORT")]
    pub grpc_listen: Option<String>,

    /// The gRPC server's certificate chain, PEM; reloaded when it changes [default: none].
    #[arg(long, env = "TEEHSM_CA_GRPC_TLS_CERT", value_name = "PEM")]
    pub grpc_tls_cert: Option<PathBuf>,

    /// The private key of --grpc-tls-cert, PEM (PKCS#8, PKCS#1 or SEC1; mode 600) [default: none].
    #[arg(long, env = "TEEHSM_CA_GRPC_TLS_KEY", value_name = "PEM")]
    pub grpc_tls_key: Option<PathBuf>,

    /// CA certificates (PEM) that gRPC client certificates must chain to; turns on mTLS [default: none].
    #[arg(long, env = "TEEHSM_CA_GRPC_CLIENT_CA", value_name = "PEM")]
    pub grpc_client_ca: Option<PathBuf>,

    /// Client certificates: none, optional or required [default: required with --grpc-client-ca, else none].
    ///
    /// A client certificate only admits the TLS connection; every call still needs its own
    /// x-teehsm-* authenticator, checked by the TA.
    #[arg(long, env = "TEEHSM_CA_GRPC_CLIENT_AUTH", value_enum, value_name = "MODE")]
    pub grpc_client_auth: Option<GrpcClientAuth>,

    /// DEVELOPMENT ONLY: serve gRPC with a generated development certificate [default: false].
    ///
    /// Creates <state-dir>/grpc-dev-tls/ (ca.pem, server.pem, server-key.pem, client.pem,
    /// client-key.pem) if missing: a throw-away CA (its key is not kept) and certificates it signs,
    /// the server's for localhost, 127.0.0.1 and ::1. Clients trust ca.pem. Accepts an optional value: --grpc-dev-tls=false.
    #[arg(
        long,
        env = "TEEHSM_CA_GRPC_DEV_TLS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub grpc_dev_tls: Option<bool>,

    /// TA connections the gRPC server forwards calls over, i.e. calls in the TA at once [default: 4].
    #[arg(long, env = "TEEHSM_CA_GRPC_TA_CONNECTIONS", value_name = "N")]
    pub grpc_ta_connections: Option<usize>,

    /// Threads of the gRPC server's async runtime [default: 2].
    #[arg(long, env = "TEEHSM_CA_GRPC_WORKER_THREADS", value_name = "N")]
    pub grpc_worker_threads: Option<usize>,

    /// Largest gRPC request or response message, in bytes [default: 524288].
    ///
    /// At most 524288 (what the TA accepts); larger messages fail with OUT_OF_RANGE.
    #[arg(long, env = "TEEHSM_CA_GRPC_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub grpc_max_message_bytes: Option<usize>,

    /// Extra argument for `teehsm-ta serve`; repeat it, e.g. --ta-arg=--slots --ta-arg=2.
    ///
    /// Values are split on spaces, so --ta-arg='--slots 2' (and TEEHSM_CA_TA_ARG='--slots 2')
    /// work too. --socket, --listen-tcp, --handoff-socket, --data-dir, --platform-dir and --config
    /// are set by the CA and refused here.
    #[arg(long, env = "TEEHSM_CA_TA_ARG", value_name = "ARG", allow_hyphen_values = true, value_delimiter = ' ', action = clap::ArgAction::Append)]
    pub ta_arg: Vec<String>,
}

/// The TOML file: every key optional, named like the flags with underscores.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub state_dir: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub ta_binary: Option<PathBuf>,
    #[serde(alias = "ta_binary_args")]
    pub ta_binary_arg: Option<Vec<String>>,
    pub ta_address: Option<String>,
    pub http_listen: Option<String>,
    pub init_dev_token: Option<bool>,
    pub restart_backoff_min_ms: Option<u64>,
    pub restart_backoff_max_ms: Option<u64>,
    pub ta_ready_timeout_secs: Option<u64>,
    pub client_transport: Option<ClientTransport>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    #[serde(alias = "ta_args")]
    pub ta_arg: Option<Vec<String>>,
    pub grpc_listen: Option<String>,
    pub grpc_tls_cert: Option<PathBuf>,
    pub grpc_tls_key: Option<PathBuf>,
    pub grpc_client_ca: Option<PathBuf>,
    pub grpc_client_auth: Option<GrpcClientAuth>,
    pub grpc_dev_tls: Option<bool>,
    pub grpc_ta_connections: Option<usize>,
    pub grpc_worker_threads: Option<usize>,
    pub grpc_max_message_bytes: Option<usize>,
}

/// Why the configuration is unusable.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("invalid {option}: {why}")]
    Invalid { option: &'static str, why: String },
}

fn invalid(option: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { option, why: why.into() }
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub config_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    /// Where the TA serves (a Unix socket, or TCP with relay only).
    pub ta_address: Endpoint,
    /// Where the TA takes handed-off client connections (None: relay mode).
    pub ta_handoff_socket: Option<PathBuf>,
    pub ta_data_dir: PathBuf,
    pub platform_dir: PathBuf,
    pub http_addr_file: PathBuf,
    pub ta_binary: PathBuf,
    /// Arguments between `ta_binary` and `serve` (a launcher's, e.g. gramine-sgx's manifest name).
    pub ta_binary_args: Vec<String>,
    pub http_listen: String,
    pub init_dev_token: bool,
    pub restart_backoff_min: Duration,
    pub restart_backoff_max: Duration,
    pub ta_ready_timeout: Duration,
    pub log_format: LogFormat,
    pub log_level: String,
    pub ta_args: Vec<String>,
    /// The gRPC server (None: off).
    pub grpc: Option<GrpcConfig>,
}

/// Reads and parses the TOML file.
pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse_file(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(source) })
}

pub fn parse_file(text: &str) -> Result<FileConfig, toml::de::Error> {
    toml::from_str(text)
}

/// `teehsm-ta` next to `exe` if it exists there, else the bare name (looked up on `PATH`).
pub fn default_ta_binary(exe: Option<&Path>) -> PathBuf {
    if let Some(dir) = exe.and_then(Path::parent) {
        let candidate = dir.join(TA_BINARY_NAME);
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from(TA_BINARY_NAME)
}

impl Config {
    /// Loads the file named by `--config` / `TEEHSM_CA_CONFIG` (if any) and resolves.
    pub fn load(cli: Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        let exe = std::env::current_exe().ok();
        Config::resolve(cli, file, exe.as_deref())
    }

    /// Layers flags/env (`cli`) over `file` over defaults and validates the result.
    /// `exe` is the running executable, used to find `teehsm-ta` next to it.
    pub fn resolve(cli: Cli, file: FileConfig, exe: Option<&Path>) -> Result<Config, ConfigError> {
        let grpc_input = GrpcInput::merge(&cli, &file);
        let state_dir = cli.state_dir.or(file.state_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        if state_dir.as_os_str().is_empty() {
            return Err(invalid("state_dir", "must not be empty"));
        }
        let socket = cli.socket.or(file.socket).unwrap_or_else(|| state_dir.join(CA_SOCKET_FILE));
        let ta_binary = cli.ta_binary.or(file.ta_binary).unwrap_or_else(|| default_ta_binary(exe));
        let http_listen = cli.http_listen.or(file.http_listen).unwrap_or_else(|| DEFAULT_HTTP_LISTEN.to_string());
        let init_dev_token = cli.init_dev_token.or(file.init_dev_token).unwrap_or(false);
        let min_ms = cli.restart_backoff_min_ms.or(file.restart_backoff_min_ms).unwrap_or(DEFAULT_BACKOFF_MIN_MS);
        let max_ms = cli.restart_backoff_max_ms.or(file.restart_backoff_max_ms).unwrap_or(DEFAULT_BACKOFF_MAX_MS);
        let ready_secs = cli.ta_ready_timeout_secs.or(file.ta_ready_timeout_secs).unwrap_or(DEFAULT_TA_READY_TIMEOUT_SECS);
        let log_format = cli.log_format.or(file.log_format).unwrap_or_default();
        let transport = cli.client_transport.or(file.client_transport).unwrap_or_default();
        let log_level = cli.log_level.or(file.log_level).unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string());
        let ta_args = if cli.ta_arg.is_empty() { file.ta_arg.unwrap_or_default() } else { cli.ta_arg };
        let ta_args: Vec<String> = ta_args.into_iter().filter(|a| !a.is_empty()).collect();
        let ta_binary_args = if cli.ta_binary_arg.is_empty() { file.ta_binary_arg.unwrap_or_default() } else { cli.ta_binary_arg };
        let ta_binary_args: Vec<String> = ta_binary_args.into_iter().filter(|a| !a.is_empty()).collect();
        let ta_address = match cli.ta_address.or(file.ta_address).filter(|a| !a.trim().is_empty()) {
            Some(a) => Endpoint::parse(a.trim()).map_err(|why| invalid("ta_address", why))?,
            None => Endpoint::Unix(state_dir.join(TA_SOCKET_FILE)),
        };
        if ta_address.is_tcp() && transport == ClientTransport::Handoff {
            return Err(invalid(
                "ta_address",
                format!(
                    "{ta_address} needs client_transport = \"relay\": handoff passes each client's Unix socket descriptor to the TA, \
                     which cannot cross to a TA reached over TCP (set --client-transport relay)"
                ),
            ));
        }

        if min_ms == 0 {
            return Err(invalid("restart_backoff_min_ms", "must be at least 1"));
        }
        if max_ms < min_ms {
            return Err(invalid("restart_backoff_max_ms", format!("{max_ms} is below restart_backoff_min_ms ({min_ms})")));
        }
        if ready_secs == 0 {
            return Err(invalid("ta_ready_timeout_secs", "must be at least 1"));
        }
        match http_listen.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(_)) => {}
            Ok(None) => return Err(invalid("http_listen", format!("{http_listen:?} resolves to no address"))),
            Err(e) => return Err(invalid("http_listen", format!("{http_listen:?} is not ADDR:PORT ({e})"))),
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_level) {
            return Err(invalid("log_level", format!("{log_level:?}: {e}")));
        }
        for a in &ta_args {
            let flag = a.split('=').next().unwrap_or(a);
            if RESERVED_TA_FLAGS.contains(&flag) {
                return Err(invalid("ta_arg", format!("{flag} is set by teehsm-ca (from --state-dir and --ta-address)")));
            }
        }

        let grpc = grpc_input.resolve(&state_dir)?;

        Ok(Config {
            config_file: cli.config,
            ta_address,
            ta_binary_args,
            ta_handoff_socket: match transport {
                ClientTransport::Handoff => Some(state_dir.join(TA_HANDOFF_SOCKET_FILE)),
                ClientTransport::Relay => None,
            },
            ta_data_dir: state_dir.join(TA_DATA_DIR),
            platform_dir: state_dir.join(PLATFORM_DIR),
            http_addr_file: state_dir.join(HTTP_ADDR_FILE),
            state_dir,
            socket,
            ta_binary,
            http_listen,
            init_dev_token,
            restart_backoff_min: Duration::from_millis(min_ms),
            restart_backoff_max: Duration::from_millis(max_ms),
            ta_ready_timeout: Duration::from_secs(ready_secs),
            log_format,
            log_level,
            ta_args,
            grpc,
        })
    }
}

/// The gRPC options, flag/environment over file.
struct GrpcInput {
    listen: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    dev_tls: Option<bool>,
    client_ca: Option<PathBuf>,
    client_auth: Option<GrpcClientAuth>,
    ta_connections: Option<usize>,
    worker_threads: Option<usize>,
    max_message_bytes: Option<usize>,
}

impl GrpcInput {
    fn merge(cli: &Cli, file: &FileConfig) -> Self {
        let path = |c: &Option<PathBuf>, f: &Option<PathBuf>| c.clone().or_else(|| f.clone()).filter(|p| !p.as_os_str().is_empty());
        GrpcInput {
            listen: cli.grpc_listen.clone().or_else(|| file.grpc_listen.clone()),
            cert: path(&cli.grpc_tls_cert, &file.grpc_tls_cert),
            key: path(&cli.grpc_tls_key, &file.grpc_tls_key),
            dev_tls: cli.grpc_dev_tls.or(file.grpc_dev_tls),
            client_ca: path(&cli.grpc_client_ca, &file.grpc_client_ca),
            client_auth: cli.grpc_client_auth.or(file.grpc_client_auth),
            ta_connections: cli.grpc_ta_connections.or(file.grpc_ta_connections),
            worker_threads: cli.grpc_worker_threads.or(file.grpc_worker_threads),
            max_message_bytes: cli.grpc_max_message_bytes.or(file.grpc_max_message_bytes),
        }
    }

    /// None unless `grpc_listen` is set (and not empty).
    fn resolve(self, state_dir: &Path) -> Result<Option<GrpcConfig>, ConfigError> {
        resolve_grpc(self, state_dir)
    }
}

fn resolve_grpc(input: GrpcInput, state_dir: &Path) -> Result<Option<GrpcConfig>, ConfigError> {
    let Some(listen) = input.listen.filter(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let listen = listen.trim().to_string();
    match listen.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(invalid("grpc_listen", format!("{listen:?} resolves to no address"))),
        Err(e) => return Err(invalid("grpc_listen", format!("{listen:?} is not ADDR:PORT ({e})"))),
    }
    let dev_tls = input.dev_tls.unwrap_or(false);
    let tls = match (input.cert, input.key, dev_tls) {
        (Some(_), _, true) | (_, Some(_), true) => {
            return Err(invalid(
                "grpc_dev_tls",
                "is set together with grpc_tls_cert/grpc_tls_key: use either your own certificate or the generated development one",
            ))
        }
        (Some(cert), Some(key), false) => GrpcTls::Files { cert, key },
        (Some(_), None, false) => return Err(invalid("grpc_tls_key", "is missing: grpc_tls_cert needs the matching private key (--grpc-tls-key)")),
        (None, Some(_), false) => return Err(invalid("grpc_tls_cert", "is missing: grpc_tls_key needs its certificate chain (--grpc-tls-cert)")),
        (None, None, true) => GrpcTls::Dev { dir: state_dir.join(GRPC_DEV_TLS_DIR) },
        (None, None, false) => {
            return Err(invalid(
                "grpc_listen",
                format!(
                    "{listen} is set but gRPC has no TLS certificate, and plaintext gRPC is not offered: set --grpc-tls-cert and \
                     --grpc-tls-key (PEM files), or --grpc-dev-tls for a generated development certificate"
                ),
            ))
        }
    };
    let client_ca = input.client_ca;
    let client_auth = match (input.client_auth, &client_ca) {
        (None, Some(_)) => GrpcClientAuth::Required,
        (None, None) => GrpcClientAuth::None,
        (Some(GrpcClientAuth::None), Some(_)) => {
            return Err(invalid(
                "grpc_client_auth",
                "is \"none\" but grpc_client_ca is set: drop grpc_client_ca, or choose \"optional\" or \"required\"",
            ))
        }
        (Some(mode @ (GrpcClientAuth::Optional | GrpcClientAuth::Required)), None) => {
            return Err(invalid(
                "grpc_client_auth",
                format!("{mode:?} needs grpc_client_ca (--grpc-client-ca): the CA certificates client certificates must chain to"),
            ))
        }
        (Some(mode), _) => mode,
    };
    let ta_connections = input.ta_connections.unwrap_or(DEFAULT_GRPC_TA_CONNECTIONS);
    if !(1..=MAX_GRPC_TA_CONNECTIONS).contains(&ta_connections) {
        return Err(invalid("grpc_ta_connections", format!("{ta_connections} is outside 1..={MAX_GRPC_TA_CONNECTIONS}")));
    }
    let worker_threads = input.worker_threads.unwrap_or(DEFAULT_GRPC_WORKER_THREADS);
    if !(1..=MAX_GRPC_WORKER_THREADS).contains(&worker_threads) {
        return Err(invalid("grpc_worker_threads", format!("{worker_threads} is outside 1..={MAX_GRPC_WORKER_THREADS}")));
    }
    let max_message_bytes = input.max_message_bytes.unwrap_or(DEFAULT_GRPC_MAX_MESSAGE_BYTES);
    let limit = teehsm_wire::MAX_API_BODY_LEN;
    if !(MIN_GRPC_MAX_MESSAGE_BYTES..=limit).contains(&max_message_bytes) {
        return Err(invalid(
            "grpc_max_message_bytes",
            format!("{max_message_bytes} is outside {MIN_GRPC_MAX_MESSAGE_BYTES}..={limit} (the TA accepts API messages up to {limit} bytes)"),
        ));
    }
    Ok(Some(GrpcConfig {
        listen,
        tls,
        client_ca,
        client_auth,
        ta_connections,
        worker_threads,
        max_message_bytes,
        addr_file: state_dir.join(GRPC_ADDR_FILE),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// clap reads the process environment: tests that parse flags run one at a time.
    static ENV_LOCK: Mutex<()> = Mutex::new(());

    const ENV_VARS: [&str; 23] = [
        "TEEHSM_CA_GRPC_LISTEN",
        "TEEHSM_CA_GRPC_TLS_CERT",
        "TEEHSM_CA_GRPC_TLS_KEY",
        "TEEHSM_CA_GRPC_CLIENT_CA",
        "TEEHSM_CA_GRPC_CLIENT_AUTH",
        "TEEHSM_CA_GRPC_DEV_TLS",
        "TEEHSM_CA_GRPC_TA_CONNECTIONS",
        "TEEHSM_CA_GRPC_WORKER_THREADS",
        "TEEHSM_CA_GRPC_MAX_MESSAGE_BYTES",
        "TEEHSM_CA_TA_ADDRESS",
        "TEEHSM_CA_TA_BINARY_ARG",
        "TEEHSM_CA_CLIENT_TRANSPORT",
        "TEEHSM_CA_CONFIG",
        "TEEHSM_CA_STATE_DIR",
        "TEEHSM_CA_SOCKET",
        "TEEHSM_CA_TA_BINARY",
        "TEEHSM_CA_HTTP_LISTEN",
        "TEEHSM_CA_INIT_DEV_TOKEN",
        "TEEHSM_CA_RESTART_BACKOFF_MIN_MS",
        "TEEHSM_CA_RESTART_BACKOFF_MAX_MS",
        "TEEHSM_CA_TA_READY_TIMEOUT_SECS",
        "TEEHSM_CA_LOG_FORMAT",
        "TEEHSM_CA_LOG_LEVEL",
    ];

    fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
        let _g = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        for v in ENV_VARS.iter().chain(["TEEHSM_CA_TA_ARG"].iter()) {
            std::env::remove_var(v);
        }
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let r = f();
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        r
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("teehsm-ca").chain(args.iter().copied())).expect("parse")
    }

    fn resolve(cli: Cli, file: &str) -> Result<Config, ConfigError> {
        Config::resolve(cli, parse_file(file).expect("toml"), None)
    }

    #[test]
    fn defaults() {
        let c = with_env(&[], || resolve(parse(&[]), "")).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/teehsm"));
        assert_eq!(c.socket, PathBuf::from("/var/lib/teehsm/ca.sock"));
        assert_eq!(c.ta_address, Endpoint::Unix(PathBuf::from("/var/lib/teehsm/ta.sock")));
        assert!(c.ta_binary_args.is_empty());
        assert_eq!(c.ta_data_dir, PathBuf::from("/var/lib/teehsm/ta-data"));
        assert_eq!(c.platform_dir, PathBuf::from("/var/lib/teehsm/platform"));
        assert_eq!(c.http_addr_file, PathBuf::from("/var/lib/teehsm/http.addr"));
        assert_eq!(c.ta_binary, PathBuf::from("teehsm-ta"));
        assert_eq!(c.http_listen, "127.0.0.1:9464");
        assert!(!c.init_dev_token);
        assert_eq!(c.restart_backoff_min, Duration::from_millis(200));
        assert_eq!(c.restart_backoff_max, Duration::from_millis(30_000));
        assert_eq!(c.ta_ready_timeout, Duration::from_secs(60));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_level, "info");
        assert!(c.ta_args.is_empty());
        assert_eq!(c.grpc, None, "gRPC is off by default");
    }

    #[test]
    fn grpc_defaults_and_precedence() {
        let c = with_env(&[], || resolve(parse(&["--state-dir", "/s", "--grpc-listen", "127.0.0.1:8443", "--grpc-dev-tls"]), "")).unwrap();
        let g = c.grpc.unwrap();
        assert_eq!(g.listen, "127.0.0.1:8443");
        assert_eq!(g.tls, GrpcTls::Dev { dir: PathBuf::from("/s/grpc-dev-tls") });
        assert_eq!(g.client_ca, None);
        assert_eq!(g.client_auth, GrpcClientAuth::None);
        assert_eq!(g.ta_connections, 4);
        assert_eq!(g.worker_threads, 2);
        assert_eq!(g.max_message_bytes, 512 * 1024);
        assert_eq!(g.addr_file, PathBuf::from("/s/grpc.addr"));

        let file = r#"
            grpc_listen = "127.0.0.1:1"
            grpc_tls_cert = "/f/cert.pem"
            grpc_tls_key = "/f/key.pem"
            grpc_client_ca = "/f/ca.pem"
            grpc_ta_connections = 8
            grpc_max_message_bytes = 65536
        "#;
        let g = with_env(&[], || resolve(parse(&[]), file)).unwrap().grpc.unwrap();
        assert_eq!(g.tls, GrpcTls::Files { cert: "/f/cert.pem".into(), key: "/f/key.pem".into() });
        assert_eq!(g.client_ca, Some(PathBuf::from("/f/ca.pem")));
        assert_eq!(g.client_auth, GrpcClientAuth::Required, "a client CA means required by default");
        assert_eq!((g.ta_connections, g.max_message_bytes), (8, 65536));
        let g = with_env(&[("TEEHSM_CA_GRPC_CLIENT_AUTH", "optional"), ("TEEHSM_CA_GRPC_TA_CONNECTIONS", "2")], || {
            resolve(parse(&["--grpc-listen", "127.0.0.1:0", "--grpc-ta-connections", "3"]), file)
        })
        .unwrap()
        .grpc
        .unwrap();
        assert_eq!(g.listen, "127.0.0.1:0");
        assert_eq!(g.client_auth, GrpcClientAuth::Optional);
        assert_eq!(g.ta_connections, 3, "flag over env over file");
        // an empty listen address turns gRPC off, whatever else is set
        let c = with_env(&[("TEEHSM_CA_GRPC_LISTEN", "")], || resolve(parse(&[]), file)).unwrap();
        assert_eq!(c.grpc, None);
    }

    #[test]
    fn grpc_refuses_plaintext_and_inconsistent_tls() {
        with_env(&[], || {
            let e = resolve(parse(&["--grpc-listen", "127.0.0.1:8443"]), "").unwrap_err().to_string();
            assert!(e.contains("plaintext gRPC is not offered"), "{e}");
            assert!(e.contains("--grpc-tls-cert") && e.contains("--grpc-tls-key") && e.contains("--grpc-dev-tls"), "{e}");
            let e = resolve(parse(&["--grpc-listen", "127.0.0.1:8443", "--grpc-dev-tls=false"]), "").unwrap_err().to_string();
            assert!(e.contains("plaintext"), "{e}");
            let e = resolve(parse(&["--grpc-listen", "127.0.0.1:8443", "--grpc-tls-cert", "/c.pem"]), "").unwrap_err().to_string();
            assert!(e.contains("grpc_tls_key"), "{e}");
            let e = resolve(parse(&["--grpc-listen", "127.0.0.1:8443", "--grpc-tls-key", "/k.pem"]), "").unwrap_err().to_string();
            assert!(e.contains("grpc_tls_cert"), "{e}");
            let e =
                resolve(parse(&["--grpc-listen", "127.0.0.1:8443", "--grpc-dev-tls", "--grpc-tls-cert", "/c.pem", "--grpc-tls-key", "/k.pem"]), "")
                    .unwrap_err()
                    .to_string();
            assert!(e.contains("grpc_dev_tls"), "{e}");
            let dev = ["--grpc-listen", "127.0.0.1:8443", "--grpc-dev-tls"];
            let with = |extra: &[&str]| resolve(parse(&[&dev[..], extra].concat()), "");
            let e = with(&["--grpc-client-auth", "required"]).unwrap_err().to_string();
            assert!(e.contains("grpc_client_ca"), "{e}");
            let e = with(&["--grpc-client-auth", "none", "--grpc-client-ca", "/ca.pem"]).unwrap_err().to_string();
            assert!(e.contains("grpc_client_auth"), "{e}");
            assert_eq!(with(&["--grpc-client-ca", "/ca.pem"]).unwrap().grpc.unwrap().client_auth, GrpcClientAuth::Required);
            for (flag, bad) in [
                ("--grpc-ta-connections", "0"),
                ("--grpc-ta-connections", "65"),
                ("--grpc-worker-threads", "0"),
                ("--grpc-max-message-bytes", "100"),
                ("--grpc-max-message-bytes", "524289"),
            ] {
                let e = with(&[flag, bad]).unwrap_err().to_string();
                assert!(e.contains(&flag[2..].replace('-', "_")), "{flag} {bad}: {e}");
            }
            assert!(resolve(parse(&["--grpc-listen", "nonsense", "--grpc-dev-tls"]), "").unwrap_err().to_string().contains("grpc_listen"));
            assert!(Cli::try_parse_from(["teehsm-ca", "--grpc-client-auth", "maybe"]).is_err());
            assert!(parse_file("grpc_client_auth = \"sometimes\"").is_err());
        });
    }

    #[test]
    fn precedence_flag_over_env_over_file_over_default() {
        let file = r#"
            state_dir = "/file/state"
            http_listen = "127.0.0.1:1111"
            log_level = "debug"
            restart_backoff_min_ms = 10
            restart_backoff_max_ms = 20
            init_dev_token = true
            ta_arg = ["--slots", "3"]
        "#;
        // file only
        let c = with_env(&[], || resolve(parse(&[]), file)).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/file/state"));
        assert_eq!(c.socket, PathBuf::from("/file/state/ca.sock"));
        assert_eq!(c.http_listen, "127.0.0.1:1111");
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.restart_backoff_min, Duration::from_millis(10));
        assert!(c.init_dev_token);
        assert_eq!(c.ta_args, vec!["--slots", "3"]);
        // env over file
        let c = with_env(
            &[
                ("TEEHSM_CA_STATE_DIR", "/env/state"),
                ("TEEHSM_CA_HTTP_LISTEN", "127.0.0.1:2222"),
                ("TEEHSM_CA_INIT_DEV_TOKEN", "false"),
                ("TEEHSM_CA_TA_ARG", "--slots 2"),
            ],
            || resolve(parse(&[]), file),
        )
        .unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/env/state"));
        assert_eq!(c.http_listen, "127.0.0.1:2222");
        assert_eq!(c.log_level, "debug", "untouched by env: file value");
        assert!(!c.init_dev_token, "env false beats file true");
        assert_eq!(c.ta_args, vec!["--slots", "2"]);
        // flag over env
        let c = with_env(
            &[("TEEHSM_CA_STATE_DIR", "/env/state"), ("TEEHSM_CA_HTTP_LISTEN", "127.0.0.1:2222"), ("TEEHSM_CA_INIT_DEV_TOKEN", "0")],
            || {
                resolve(
                    parse(&[
                        "--state-dir",
                        "/flag/state",
                        "--http-listen=127.0.0.1:0",
                        "--init-dev-token",
                        "--ta-arg",
                        "--slots",
                        "--ta-arg=4",
                        "--log-format",
                        "json",
                    ]),
                    file,
                )
            },
        )
        .unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/flag/state"));
        assert_eq!(c.http_listen, "127.0.0.1:0");
        assert!(c.init_dev_token);
        assert_eq!(c.ta_args, vec!["--slots", "4"]);
        assert_eq!(c.log_format, LogFormat::Json);
        // an explicit socket wins over the state-dir default
        let c = with_env(&[], || resolve(parse(&["--socket", "/run/x.sock"]), file)).unwrap();
        assert_eq!(c.socket, PathBuf::from("/run/x.sock"));
        assert_eq!(c.ta_address, Endpoint::Unix(PathBuf::from("/file/state/ta.sock")));
    }

    #[test]
    fn env_value_for_flag_accepts_boolish() {
        for (v, want) in [("1", true), ("yes", true), ("true", true), ("0", false), ("off", false)] {
            let c = with_env(&[("TEEHSM_CA_INIT_DEV_TOKEN", v)], || resolve(parse(&[]), "")).unwrap();
            assert_eq!(c.init_dev_token, want, "{v}");
        }
        let c = with_env(&[], || resolve(parse(&["--init-dev-token=false"]), "init_dev_token = true")).unwrap();
        assert!(!c.init_dev_token);
    }

    #[test]
    fn bad_values_are_refused() {
        with_env(&[], || {
            assert!(parse_file("no_such_key = 1").is_err(), "unknown keys are refused");
            assert!(parse_file("http_listen = 12").is_err(), "wrong types are refused");
            assert!(parse_file("log_format = \"xml\"").is_err());
            let e = resolve(parse(&[]), "restart_backoff_min_ms = 500\nrestart_backoff_max_ms = 100").unwrap_err();
            assert!(e.to_string().contains("restart_backoff_max_ms"), "{e}");
            assert!(resolve(parse(&["--restart-backoff-min-ms", "0"]), "").is_err());
            assert!(resolve(parse(&["--http-listen", "nonsense"]), "").is_err());
            assert!(resolve(parse(&["--ta-arg=--socket=/tmp/x"]), "").is_err());
            assert!(resolve(parse(&["--ta-arg", "--data-dir", "--ta-arg", "/x"]), "").is_err());
            assert!(resolve(parse(&["--log-level", "info,[[[bad"]), "").is_err());
            assert!(Cli::try_parse_from(["teehsm-ca", "--log-format", "xml"]).is_err());
        });
    }

    #[test]
    fn tcp_ta_address_needs_relay() {
        with_env(&[], || {
            let e = resolve(parse(&["--ta-address", "tcp://127.0.0.1:7300"]), "").unwrap_err();
            assert!(e.to_string().contains("client_transport = \"relay\""), "{e}");
            let e = resolve(parse(&[]), "ta_address = \"tcp://127.0.0.1:7300\"\nclient_transport = \"handoff\"").unwrap_err();
            assert!(e.to_string().contains("ta_address"), "{e}");
            let c = resolve(parse(&["--client-transport", "relay"]), "ta_address = \"tcp://127.0.0.1:7300\"").unwrap();
            assert_eq!(c.ta_address, Endpoint::Tcp("127.0.0.1:7300".into()));
            assert_eq!(c.ta_handoff_socket, None);
            assert!(resolve(parse(&["--ta-address", "tcp://nonsense", "--client-transport", "relay"]), "").is_err());
            assert!(resolve(parse(&["--ta-address", "vsock://3:7300"]), "").is_err());
            let c = resolve(parse(&["--ta-address", "unix:/run/t.sock"]), "").unwrap();
            assert_eq!(c.ta_address, Endpoint::Unix("/run/t.sock".into()));
            assert!(resolve(parse(&["--ta-arg=--listen-tcp=127.0.0.1:1"]), "").is_err(), "--listen-tcp is the CA's");
        });
        let c = with_env(&[("TEEHSM_CA_TA_ADDRESS", "tcp://127.0.0.1:7301"), ("TEEHSM_CA_CLIENT_TRANSPORT", "relay")], || {
            resolve(parse(&["--ta-binary", "/usr/bin/gramine-sgx", "--ta-binary-arg", "teehsm-ta"]), "")
        })
        .unwrap();
        assert_eq!(c.ta_address, Endpoint::Tcp("127.0.0.1:7301".into()));
        assert_eq!(c.ta_binary_args, vec!["teehsm-ta"]);
        let c = with_env(&[], || resolve(parse(&[]), "ta_binary_arg = [\"teehsm-ta\"]")).unwrap();
        assert_eq!(c.ta_binary_args, vec!["teehsm-ta"]);
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let e = load_file(Path::new("/nonexistent/teehsm-ca.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/teehsm-ca.toml"), "{e}");
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let text = include_str!("../teehsm-ca.example.toml");
        let file = parse_file(text).expect("example parses");
        let c = with_env(&[], || Config::resolve(parse(&[]), file, None)).unwrap();
        let d = with_env(&[], || resolve(parse(&[]), "")).unwrap();
        assert_eq!(c, d, "the example file documents the defaults");
    }

    #[test]
    fn ta_binary_next_to_exe() {
        let dir = std::env::temp_dir().join(format!("teehsm-ca-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("teehsm-ca");
        assert_eq!(default_ta_binary(Some(&exe)), PathBuf::from("teehsm-ta"));
        std::fs::write(dir.join("teehsm-ta"), b"").unwrap();
        assert_eq!(default_ta_binary(Some(&exe)), dir.join("teehsm-ta"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
