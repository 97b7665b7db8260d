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

HTTP (--http-listen):
  GET /healthz  200 {\"status\":\"ok\",\"ta\":\"running\",...} while the TA serves, else 503 with the reason
  GET /metrics  Prometheus text format (teehsm_ca_* metrics)

SIGNALS AND EXIT CODES:
  SIGTERM/SIGINT stop accepting clients, close them, stop the TA (SIGTERM, SIGKILL after 10 s),
  remove the sockets and exit 0. Exit 1: runtime error (e.g. the client socket is in use by a
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
            return Err(invalid(
                "restart_backoff_max_ms",
                format!("{max_ms} is below restart_backoff_min_ms ({min_ms})"),
            ));
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// clap reads the process environment: tests that parse flags run one at a time.
    static ENV_LOCK: Mutex<()> = Mutex::new(());

    const ENV_VARS: [&str; 14] = [
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
