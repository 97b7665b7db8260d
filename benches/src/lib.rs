//! Shared benchmark helpers: the timing loop and a running CA + TA stack.

use anyhow::{bail, Context};
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
    _dir: TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.ca.id() as i32, libc::SIGTERM);
        }
        let _ = self.ca.wait();
    }
}

/// Starts teehsm-ca from `bin_dir` with a dev token (user PIN 123456) and waits until it is usable.
pub fn start_stack(bin_dir: &Path) -> anyhow::Result<Stack> {
    let dir = TempDir::new("bench");
    let state = dir.path().join("state");
    let socket = state.join("ca.sock");
    let ca = Command::new(bin_dir.join("teehsm-ca"))
        .arg("--state-dir")
        .arg(&state)
        .arg("--init-dev-token")
        .arg("--http-listen")
        .arg("127.0.0.1:0")
        .env("TEEHSM_CA_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting teehsm-ca")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Ready once the dev token has a user PIN.
    loop {
        if let Ok(mut c) = Client::connect(&socket, "bench") {
            if let Ok(Reply::TokenInfo(t)) = c.call(&Request::GetTokenInfo { slot: 0 }) {
                if t.flags & CKF_USER_PIN_INITIALIZED != 0 {
                    break;
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the CA did not become ready with a dev token in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Stack { ca, socket, _dir: dir })
}

