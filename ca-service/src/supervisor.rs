//! Starts the TA, waits for its READY line, watches it, and restarts it with
//! backoff when it exits. Security failures (exit 3/4/5) are recorded for
//! /healthz and retried only at the maximum backoff.

use crate::backoff::Backoff;
use crate::bootstrap;
use crate::config::{Config, LogFormat};
use crate::exit::TaExit;
use crate::metrics::inc;
use crate::state::Shared;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use teehsm_wire::stream::Endpoint;

/// The line the TA prints on stdout once it accepts connections.
pub const READY_PREFIX: &str = "TEEHSM-TA READY";
/// After the TA closes stdout without READY, how long it has to exit.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// How to run `teehsm-ta serve`.
#[derive(Debug, Clone)]
pub struct TaCommand {
    pub binary: PathBuf,
    /// Arguments between the binary and `serve` (a launcher's).
    pub binary_args: Vec<String>,
    /// Where the TA serves: --socket PATH or --listen-tcp HOST:PORT.
    pub address: Endpoint,
    pub handoff_socket: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub platform_dir: PathBuf,
    pub log_format: LogFormat,
    pub log_level: String,
    pub extra: Vec<String>,
}

impl TaCommand {
    pub fn from_config(cfg: &Config) -> Self {
        TaCommand {
            binary: cfg.ta_binary.clone(),
            binary_args: cfg.ta_binary_args.clone(),
            address: cfg.ta_address.clone(),
            handoff_socket: cfg.ta_handoff_socket.clone(),
            data_dir: cfg.ta_data_dir.clone(),
            platform_dir: cfg.platform_dir.clone(),
            log_format: cfg.log_format,
            log_level: cfg.log_level.clone(),
            extra: cfg.ta_args.clone(),
        }
    }

    fn extra_has(&self, flag: &str) -> bool {
        self.extra.iter().any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    }

    /// The arguments after the binary name.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = self.binary_args.iter().map(OsString::from).collect();
        a.push("serve".into());
        match &self.address {
            Endpoint::Unix(p) => {
                a.push("--socket".into());
                a.push(p.clone().into());
            }
            Endpoint::Tcp(hp) => {
                a.push("--listen-tcp".into());
                a.push(hp.into());
            }
        }
        a.extend(["--data-dir".into(), self.data_dir.clone().into(), "--platform-dir".into(), self.platform_dir.clone().into()]);
        if let Some(h) = &self.handoff_socket {
            a.push("--handoff-socket".into());
            a.push(h.clone().into());
        }
        if !self.extra_has("--log-format") {
            a.push("--log-format".into());
            a.push(self.log_format.as_str().into());
        }
        let plain_level = matches!(self.log_level.to_ascii_lowercase().as_str(), "error" | "warn" | "info" | "debug" | "trace" | "off");
        if plain_level && !self.extra_has("--log-level") {
            a.push("--log-level".into());
            a.push(self.log_level.clone().into());
        }
        a.extend(self.extra.iter().map(OsString::from));
        a
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        // stdout carries the READY line. stderr is inherited, not piped: the
        // TA's log lines land wherever ours go, unchanged (text or JSON), and
        // keep working if the CA dies (a TA writing its logs into a broken
        // pipe would lose them, and can even fail to shut down).
        cmd.args(self.args()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        // Colour codes only if our stderr is a terminal, like our own logs.
        if !std::io::stderr().is_terminal() {
            cmd.env("NO_COLOR", "1");
        }
        // Own process group: a terminal's Ctrl-C reaches only the CA, which
        // then stops the TA in order.
        cmd.process_group(0);
        #[cfg(target_os = "linux")]
        {
            // getpid() here is the CA; getppid() in the child is the CA while it lives.
            // SAFETY: getpid has no preconditions.
            let ca_pid = unsafe { libc::getpid() };
            // SAFETY: prctl and getppid are async-signal-safe; this runs between
            // fork and exec. If the supervising thread dies (the CA is killed),
            // the TA gets SIGTERM instead of living on as an orphan holding the
            // store. A CA that died before the prctl took effect sends no
            // signal, so the child checks that its parent is still the CA.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::getppid() != ca_pid {
                        return Err(std::io::Error::other("the CA exited while starting the TA"));
                    }
                    Ok(())
                });
            }
        }
        cmd
    }
}

/// How one TA run ended.
#[derive(Debug)]
struct RunEnd {
    exit: Option<TaExit>,
    reason: String,
    security_failure: bool,
    /// Time between READY and exit (zero if never ready).
    uptime: Duration,
}

pub struct Supervisor {
    cmd: TaCommand,
    shared: Arc<Shared>,
    backoff: Backoff,
    ready_timeout: Duration,
    init_dev_token: bool,
}

impl Supervisor {
    pub fn new(cfg: &Config, shared: Arc<Shared>) -> Self {
        Supervisor {
            cmd: TaCommand::from_config(cfg),
            shared,
            backoff: Backoff::new(cfg.restart_backoff_min, cfg.restart_backoff_max),
            ready_timeout: cfg.ta_ready_timeout,
            init_dev_token: cfg.init_dev_token,
        }
    }

    /// Runs until shutdown begins and the TA has exited.
    pub fn run(mut self) {
        let mut first = true;
        while !self.shared.stopping() {
            if !first {
                inc(&self.shared.metrics.ta_restarts);
            }
            first = false;
            let Some(end) = self.run_once() else { break };
            if self.shared.stopping() {
                if let Some(e) = &end.exit {
                    tracing::info!(code = e.code, "the TA stopped");
                }
                break;
            }
            let requested = self.shared.take_restart_request();
            let delay = if requested {
                // An admin restart (e.g. the agent switching TA versions): no backoff.
                self.backoff.reset();
                Duration::ZERO
            } else {
                self.backoff.after_exit(end.uptime, end.security_failure)
            };
            if requested {
                tracing::info!(
                    exit_code = end.exit.as_ref().map(|e| e.code),
                    "the TA stopped for a restart requested by the admin API; starting it again"
                );
            } else if end.security_failure {
                tracing::error!(
                    exit_code = end.exit.as_ref().map(|e| e.code),
                    retry_in_ms = delay.as_millis() as u64,
                    "SECURITY FAILURE: {}",
                    end.reason
                );
            } else {
                tracing::warn!(
                    exit_code = end.exit.as_ref().map(|e| e.code),
                    uptime_ms = end.uptime.as_millis() as u64,
                    retry_in_ms = delay.as_millis() as u64,
                    "the TA is down: {}; restarting it",
                    end.reason
                );
            }
            self.shared.record_exit(end.exit, end.reason, end.security_failure, Instant::now() + delay);
            if self.shared.sleep_unless_stopping(delay) {
                break;
            }
        }
        tracing::debug!("supervisor finished");
    }

    /// One TA lifetime: spawn, READY, bootstrap, serve, exit. None if shutdown
    /// began before the spawn.
    fn run_once(&mut self) -> Option<RunEnd> {
        let cmd = &self.cmd;
        // Resolved now: the binary may be a link an agent switches between versions.
        let resolved = std::fs::canonicalize(&cmd.binary).ok().map(|p| p.display().to_string());
        let spawned = self.shared.spawn_unless_stopping(|| {
            let child = cmd.command().spawn()?;
            let pid = child.id();
            Ok((child, pid))
        })?;
        let mut child: Child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return Some(RunEnd {
                    exit: None,
                    reason: format!("cannot start the TA {}: {e}", self.cmd.binary.display()),
                    security_failure: false,
                    uptime: Duration::ZERO,
                })
            }
        };
        let pid = child.id();
        tracing::info!(pid, binary = %self.cmd.binary.display(), resolved = ?resolved, "TA started; waiting for its self-tests and READY line");
        self.shared.set_ta_binary(resolved);
        let (ready_tx, ready_rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            watch_stdout(out, ready_tx);
        }

        let mut timeout_reason = None;
        let ready = match ready_rx.recv_timeout(self.ready_timeout) {
            Ok(()) => true,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stdout closed without READY: the TA is exiting.
                if !wait_exit(pid, Some(EXIT_GRACE)) {
                    self.shared.signal_ta(libc::SIGKILL);
                }
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let why = format!("the TA did not report READY within {} s; killed it", self.ready_timeout.as_secs());
                tracing::error!(pid, "{why}");
                self.shared.signal_ta(libc::SIGKILL);
                timeout_reason = Some(why);
                false
            }
        };

        let mut up_at = None;
        if ready && !self.shared.stopping() {
            if self.init_dev_token {
                match bootstrap::ensure_dev_token(&self.cmd.address) {
                    Ok(bootstrap::Outcome::AlreadyInitialized) => tracing::info!("dev token already initialized in slot 0"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "could not initialize the dev token (--init-dev-token)"),
                }
            }
            self.shared.set_running();
            up_at = Some(Instant::now());
            tracing::info!(pid, address = %self.cmd.address, "TA ready; relaying clients");
        }

        wait_exit(pid, None);
        self.shared.ta_gone();
        let closed = self.shared.clients.close_all();
        if closed > 0 && !self.shared.stopping() {
            tracing::warn!(clients = closed, "the TA exited: closed its client connections");
        }
        let status = child.wait();
        let uptime = up_at.map(|t| t.elapsed()).unwrap_or(Duration::ZERO);
        Some(match status {
            Ok(st) => {
                let exit = TaExit::from_status(st);
                let reason = match timeout_reason {
                    Some(r) => r,
                    None if !ready && !exit.security_failure => format!("{} before it was ready", exit.reason),
                    None => exit.reason.clone(),
                };
                RunEnd { security_failure: exit.security_failure, exit: Some(exit), reason, uptime }
            }
            Err(e) => RunEnd { exit: None, reason: format!("cannot collect the TA's exit status: {e}"), security_failure: false, uptime },
        })
    }
}

/// Reads the TA's stdout: signals READY once, logs anything else.
fn watch_stdout(out: impl Read + Send + 'static, ready: mpsc::Sender<()>) {
    let spawned = std::thread::Builder::new().name("ta-stdout".into()).spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = Vec::new();
        let mut ready = Some(ready);
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if text.starts_with(READY_PREFIX) {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                    continue;
                }
            }
            if !text.is_empty() {
                tracing::info!(target: "teehsm_ta", "{text}");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the TA stdout reader");
    }
}

/// Waits until `pid` (our child) has exited, without reaping it, so its pid
/// cannot be reused while it may still be signalled. With a timeout, returns
/// false if it is still running when the timeout passes.
pub fn wait_exit(pid: u32, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        // SAFETY: siginfo_t is plain data; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT | if deadline.is_some() { libc::WNOHANG } else { 0 };
        // SAFETY: waitid on our own child's pid with a valid siginfo pointer.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if r == 0 {
            // SAFETY: waitid succeeded, so si_pid is initialized (0 = still running under WNOHANG).
            if deadline.is_none() || unsafe { info.si_pid() } != 0 {
                return true;
            }
        } else {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                // ECHILD: nothing left to wait for.
                return true;
            }
            continue;
        }
        match deadline {
            Some(d) if Instant::now() >= d => return false,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(extra: &[&str], level: &str) -> TaCommand {
        TaCommand {
            binary: "teehsm-ta".into(),
            binary_args: Vec::new(),
            address: Endpoint::Unix("/s/ta.sock".into()),
            handoff_socket: Some("/s/ta-handoff.sock".into()),
            data_dir: "/s/ta-data".into(),
            platform_dir: "/s/platform".into(),
            log_format: LogFormat::Json,
            log_level: level.into(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strs(a: Vec<OsString>) -> Vec<String> {
        a.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn ta_arguments() {
        assert_eq!(
            strs(cmd(&["--slots", "2"], "warn").args()),
            [
                "serve",
                "--socket",
                "/s/ta.sock",
                "--data-dir",
                "/s/ta-data",
                "--platform-dir",
                "/s/platform",
                "--handoff-socket",
                "/s/ta-handoff.sock",
                "--log-format",
                "json",
                "--log-level",
                "warn",
                "--slots",
                "2"
            ]
        );
        // a filter expression is not a TA level; a user-supplied flag wins
        let a = strs(cmd(&[], "teehsm_ca=debug").args());
        assert!(!a.contains(&"--log-level".to_string()));
        let a = strs(cmd(&["--log-level=debug", "--log-format", "text"], "info").args());
        assert_eq!(a.iter().filter(|s| s.starts_with("--log-level")).count(), 1);
        assert_eq!(a.iter().filter(|s| *s == "--log-format").count(), 1);
    }

    #[test]
    fn tcp_ta_behind_a_launcher() {
        let mut c = cmd(&[], "info");
        c.binary = "/usr/bin/gramine-sgx".into();
        c.binary_args = vec!["teehsm-ta".into()];
        c.address = Endpoint::Tcp("127.0.0.1:7300".into());
        c.handoff_socket = None;
        assert_eq!(
            strs(c.args()),
            [
                "teehsm-ta",
                "serve",
                "--listen-tcp",
                "127.0.0.1:7300",
                "--data-dir",
                "/s/ta-data",
                "--platform-dir",
                "/s/platform",
                "--log-format",
                "json",
                "--log-level",
                "info"
            ]
        );
    }

    #[test]
    fn wait_exit_does_not_reap() {
        let mut c = Command::new("sh").args(["-c", "sleep 0.2; exit 3"]).spawn().unwrap();
        assert!(!wait_exit(c.id(), Some(Duration::from_millis(10))));
        assert!(wait_exit(c.id(), None));
        // still reapable with its real status
        assert_eq!(c.wait().unwrap().code(), Some(3));
    }
}
