//! State shared by the supervisor, the relay and the HTTP server.

use crate::exit::TaExit;
use crate::health::{TaPhase, TaStatus};
use crate::metrics::{Metrics, TaGauges};
use crate::registry::Registry;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use teehsm_wire::stream::Endpoint;

pub struct Shared {
    pub metrics: Metrics,
    /// Live client connections.
    pub clients: Registry,
    /// Where the TA serves.
    pub ta_address: Endpoint,
    /// Where the TA takes handed-off client connections, if it does.
    pub ta_handoff_socket: Option<PathBuf>,
    ta: Mutex<TaStatus>,
    /// Signalled when shutdown starts, to cut backoff sleeps short.
    wake: Condvar,
    /// Mirrors `phase == Running` for the relay's lock-free check.
    ta_up: AtomicBool,
    stopping: AtomicBool,
    /// An admin asked to drain: new clients are refused until the next TA
    /// spawn (or a resume).
    draining: AtomicBool,
    /// An admin asked for a TA restart: the next start happens without backoff.
    restart_requested: AtomicBool,
}

impl Shared {
    pub fn new(ta_address: Endpoint) -> Self {
        Shared {
            metrics: Metrics::default(),
            clients: Registry::new(),
            ta_address,
            ta_handoff_socket: None,
            ta: Mutex::new(TaStatus::default()),
            wake: Condvar::new(),
            ta_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            restart_requested: AtomicBool::new(false),
        }
    }

    /// Hands client connections to the TA over `socket` instead of relaying them.
    pub fn with_handoff(mut self, socket: Option<PathBuf>) -> Self {
        self.ta_handoff_socket = socket;
        self
    }

    fn lock(&self) -> MutexGuard<'_, TaStatus> {
        self.ta.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the TA is serving (new clients are relayed only then).
    pub fn ta_up(&self) -> bool {
        self.ta_up.load(Ordering::Acquire)
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Whether new clients are refused because of an admin drain.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts (`true`) or ends (`false`) an admin drain.
    pub fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::Release);
    }

    /// Asks the supervisor to restart the TA now: the live TA gets SIGTERM
    /// and the next start skips the backoff (a backoff sleep is cut short).
    /// Returns the pid signalled, if a TA was running, and the restart count
    /// at that moment: every TA spawned after the request counts above it.
    pub fn request_restart(&self) -> (Option<u32>, u64) {
        let s = self.lock();
        self.restart_requested.store(true, Ordering::Release);
        self.wake.notify_all();
        let restarts = self.metrics.ta_restarts.load(Ordering::Relaxed);
        let pid = s.pid.filter(|&pid| {
            // SAFETY: plain kill(2) on our own, not yet reaped, child: its
            // pid is cleared (under this lock) before it is reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) == 0 }
        });
        (pid, restarts)
    }

    /// Whether a restart was requested since the last spawn (and clears it).
    pub fn take_restart_request(&self) -> bool {
        self.restart_requested.swap(false, Ordering::AcqRel)
    }

    /// Records the resolved TA executable of the run just spawned.
    pub fn set_ta_binary(&self, binary: Option<String>) {
        self.lock().binary = binary;
    }

    pub fn status(&self) -> TaStatus {
        self.lock().clone()
    }

    pub fn gauges(&self) -> TaGauges {
        let s = self.lock();
        TaGauges { up: s.phase == TaPhase::Running, security_failure: s.security_failure(), last_exit_code: s.last_exit.as_ref().map(|e| e.code) }
    }

    /// Runs `spawn` and records the child's pid, unless shutdown has begun
    /// (then returns None). Holding the lock across the spawn means shutdown
    /// either sees the pid or stops the spawn from happening.
    pub fn spawn_unless_stopping<T>(&self, spawn: impl FnOnce() -> std::io::Result<(T, u32)>) -> Option<std::io::Result<T>> {
        let mut s = self.lock();
        if self.stopping() {
            return None;
        }
        Some(spawn().map(|(child, pid)| {
            s.pid = Some(pid);
            s.phase = TaPhase::Starting;
            // After a security failure keep its reason until a TA is ready.
            if !s.security_failure {
                s.reason = Some("the TA is starting (self-tests, opening the sealed store)".into());
            }
            s.next_start = None;
            // A new TA: an admin drain or restart request has been served.
            self.draining.store(false, Ordering::Release);
            self.restart_requested.store(false, Ordering::Release);
            child
        }))
    }

    /// The TA passed READY (and bootstrap): let clients in.
    pub fn set_running(&self) {
        let mut s = self.lock();
        if self.stopping() {
            return;
        }
        s.phase = TaPhase::Running;
        s.up_since = Some(Instant::now());
        s.reason = None;
        s.security_failure = false;
        self.ta_up.store(true, Ordering::Release);
    }

    /// The TA process has exited (not yet reaped): forget its pid so nobody
    /// signals it any more, and refuse new clients.
    pub fn ta_gone(&self) {
        let mut s = self.lock();
        self.ta_up.store(false, Ordering::Release);
        s.pid = None;
        s.up_since = None;
        if !self.stopping() {
            s.phase = TaPhase::Restarting;
            if !s.security_failure {
                s.reason = Some("the TA exited".into());
            }
        }
    }

    /// Records why the TA is down and when it will be started again.
    pub fn record_exit(&self, exit: Option<TaExit>, reason: String, security_failure: bool, next_start: Instant) {
        let mut s = self.lock();
        if !self.stopping() {
            s.phase = if security_failure { TaPhase::Failed } else { TaPhase::Restarting };
        }
        s.security_failure = security_failure;
        if exit.is_some() {
            s.last_exit = exit;
        }
        s.reason = Some(reason);
        s.next_start = Some(next_start);
    }

    /// Starts shutdown: no more TA spawns; returns the live TA's pid.
    pub fn begin_shutdown(&self) -> Option<u32> {
        let mut s = self.lock();
        self.stopping.store(true, Ordering::Release);
        self.ta_up.store(false, Ordering::Release);
        s.phase = TaPhase::Stopping;
        s.reason = Some("teehsm-ca is shutting down".into());
        self.wake.notify_all();
        s.pid
    }

    /// Sends `sig` to the live TA, if there is one. The pid cannot have been
    /// reused: it is cleared (under the same lock) before the TA is reaped.
    pub fn signal_ta(&self, sig: i32) -> bool {
        let s = self.lock();
        match s.pid {
            Some(pid) => {
                // SAFETY: plain kill(2) on our own, not yet reaped, child.
                unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
            }
            None => false,
        }
    }

    /// Sleeps for `d` unless shutdown begins first; returns true if stopping.
    pub fn sleep_unless_stopping(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut s = self.lock();
        loop {
            if self.stopping() {
                return true;
            }
            let now = Instant::now();
            if self.restart_requested.load(Ordering::Acquire) {
                return false;
            }
            if now >= deadline {
                return false;
            }
            s = self.wake.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn shutdown_interrupts_sleep_and_blocks_spawns() {
        let s = Arc::new(Shared::new(teehsm_wire::stream::Endpoint::Unix(PathBuf::from("/nonexistent"))));
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            let stopped = s2.sleep_unless_stopping(Duration::from_secs(30));
            (stopped, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(s.begin_shutdown(), None);
        let (stopped, took) = t.join().unwrap();
        assert!(stopped);
        assert!(took < Duration::from_secs(5));
        assert!(s.spawn_unless_stopping(|| Ok(((), 1))).is_none());
    }

    #[test]
    fn running_state_follows_lifecycle() {
        let s = Shared::new(teehsm_wire::stream::Endpoint::Unix(PathBuf::from("/nonexistent")));
        assert!(!s.ta_up());
        s.spawn_unless_stopping(|| Ok(((), 4242))).unwrap().unwrap();
        assert_eq!(s.status().pid, Some(4242));
        s.set_running();
        assert!(s.ta_up());
        assert!(s.gauges().up);
        s.ta_gone();
        assert!(!s.ta_up());
        assert_eq!(s.status().pid, None);
        let e = TaExit::from_code(5);
        s.record_exit(Some(e.clone()), e.reason.clone(), true, Instant::now());
        let g = s.gauges();
        assert!(!g.up && g.security_failure);
        assert_eq!(g.last_exit_code, Some(5));
        // the next attempt keeps the failure visible until a TA is ready
        s.spawn_unless_stopping(|| Ok(((), 4243))).unwrap().unwrap();
        let st = s.status();
        assert!(st.security_failure() && st.reason.as_deref().unwrap().contains("corrupt"));
        assert!(s.gauges().security_failure);
        s.set_running();
        assert!(!s.gauges().security_failure);
    }
}
