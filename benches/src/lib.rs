//! Shared benchmark helpers: the timing loop and a running CA + TA stack.

use anyhow::{bail, Context};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use teehsm_tests::TempDir;
use teehsm_wire::ck::*;
use teehsm_wire::client::Client;
use teehsm_wire::*;

/// Runs `op` on `threads` threads for `secs`; returns ops/s.
pub fn measure<F>(threads: usize, secs: f64, make: impl Fn(usize) -> F + Sync) -> f64
where
    F: FnMut() + Send,
{
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let mut op = make(t);
            let (stop, count) = (&stop, &count);
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    op();
                    n += 1;
                }
                count.fetch_add(n, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// A running teehsm-ca (with its TA) and a dev token, stopped on drop.
pub struct Stack {
    ca: Child,
    pub socket: PathBuf,
    /// The CA's state directory (ca.sock, grpc.addr, grpc-dev-tls/, ...).
    pub state: PathBuf,
    _dir: TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Not when it has already been reaped: its pid may be another process's by now.
        if let Ok(None) = self.ca.try_wait() {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(self.ca.id() as i32, libc::SIGTERM);
            }
            let _ = self.ca.wait();
        }
    }
}

/// How [`Stack::spawn`] starts teehsm-ca.
pub struct StackOptions<'a> {
    /// Tag of the temporary directory holding the state directory.
    pub tag: &'a str,
    /// Arguments after `--state-dir S --init-dev-token --http-listen 127.0.0.1:0`.
    pub args: &'a [&'a str],
    /// SIGTERM the CA if this process dies first (PR_SET_PDEATHSIG), so an
    /// interrupted benchmark leaves no CA and TA behind.
    pub die_with_parent: bool,
}

impl Default for StackOptions<'_> {
    fn default() -> Self {
        StackOptions { tag: "bench", args: &[], die_with_parent: false }
    }
}

impl Stack {
    /// Starts `bin_dir`/teehsm-ca with a dev token (user PIN 123456, SO PIN
    /// 12345678) in a fresh state directory, logging warnings to our stderr;
    /// does not wait for it (see [`Stack::wait_until`]).
    pub fn spawn(bin_dir: &Path, opts: &StackOptions) -> anyhow::Result<Stack> {
        let dir = TempDir::new(opts.tag);
        let state = dir.path().join("state");
        let socket = state.join("ca.sock");
        let bin = bin_dir.join("teehsm-ca");
        let mut cmd = Command::new(&bin);
        cmd.arg("--state-dir")
            .arg(&state)
            .arg("--init-dev-token")
            .arg("--http-listen")
            .arg("127.0.0.1:0")
            .args(opts.args)
            .env("TEEHSM_CA_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if opts.die_with_parent {
            // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                    Ok(())
                });
            }
        }
        let ca = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        Ok(Stack { ca, socket, state, _dir: dir })
    }

    /// The CA's process id.
    pub fn pid(&self) -> u32 {
        self.ca.id()
    }

    /// Polls `ready` every 50 ms until it returns Some; fails if the CA
    /// exits first or `timeout` passes (`what` names the awaited state).
    pub fn wait_until<T>(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut(&Stack) -> Option<T>) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = ready(self) {
                return Ok(v);
            }
            if let Some(status) = self.ca.try_wait()? {
                bail!("teehsm-ca exited during start-up: {status}");
            }
            if Instant::now() > deadline {
                bail!("teehsm-ca did not become ready ({what}) in {} s", timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether the CA at `socket` has a dev token with a user PIN.
pub fn token_ready(socket: &Path) -> bool {
    let Ok(mut c) = Client::connect(socket, "bench") else { return false };
    matches!(c.call(&Request::GetTokenInfo { slot: 0 }), Ok(Reply::TokenInfo(t)) if t.flags & CKF_USER_PIN_INITIALIZED != 0)
}

/// Starts teehsm-ca from `bin_dir` with a dev token (user PIN 123456) and waits until it is usable.
pub fn start_stack(bin_dir: &Path) -> anyhow::Result<Stack> {
    let mut stack = Stack::spawn(bin_dir, &StackOptions::default())?;
    stack.wait_until("a dev token with a user PIN", Duration::from_secs(60), |s| token_ready(&s.socket).then_some(()))?;
    Ok(stack)
}
