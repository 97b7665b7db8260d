//! The TA's lifecycle as the supervisor sees it, and the `/healthz` document.

use crate::exit::TaExit;
use serde_json::json;
use std::time::{Duration, Instant};

/// Where the TA is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaPhase {
    /// Spawned; waiting for its READY line (self-tests, store opening), or
    /// bootstrapping the dev token.
    Starting,
    /// Serving clients.
    Running,
    /// Exited; waiting out the backoff before the next start.
    Restarting,
    /// Exited for a security reason (exit 3/4/5); retried at the maximum backoff.
    Failed,
    /// The CA is shutting down.
    Stopping,
}

impl TaPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            TaPhase::Starting => "starting",
            TaPhase::Running => "running",
            TaPhase::Restarting => "restarting",
            TaPhase::Failed => "failed",
            TaPhase::Stopping => "stopping",
        }
    }
}

/// A snapshot of the TA's state.
#[derive(Debug, Clone)]
pub struct TaStatus {
    pub phase: TaPhase,
    /// The live TA process, if any (set from spawn until it is reaped).
    pub pid: Option<u32>,
    pub up_since: Option<Instant>,
    pub last_exit: Option<TaExit>,
    /// Why the TA is not running (None while running).
    pub reason: Option<String>,
    /// The last exit was a security failure (exit 3/4/5) and no TA has become
    /// ready since: stays set while the next attempt starts.
    pub security_failure: bool,
    pub next_start: Option<Instant>,
    /// The TA executable of the current (or last) run with every symlink
    /// resolved at spawn time, e.g. `<pkgroot>/versions/1.2.0/teehsm-ta`:
    /// tells which installed package version is running.
    pub binary: Option<String>,
}

impl Default for TaStatus {
    fn default() -> Self {
        TaStatus {
            phase: TaPhase::Starting,
            pid: None,
            up_since: None,
            last_exit: None,
            reason: Some("the TA is starting".into()),
            security_failure: false,
            next_start: None,
            binary: None,
        }
    }
}

impl TaStatus {
    pub fn security_failure(&self) -> bool {
        self.security_failure && self.phase != TaPhase::Running
    }
}

/// The `/healthz` answer: HTTP status and JSON body.
pub fn render(s: &TaStatus, restarts: u64, now: Instant) -> (u16, String) {
    if s.phase == TaPhase::Running {
        let uptime = s.up_since.map(|t| now.saturating_duration_since(t)).unwrap_or(Duration::ZERO);
        let body = json!({
            "status": "ok",
            "ta": "running",
            "ta_restarts": restarts,
            "ta_pid": s.pid,
            "ta_uptime_seconds": uptime.as_secs(),
            "ta_binary": s.binary,
        });
        return (200, body.to_string());
    }
    let body = json!({
        "status": "unavailable",
        "ta": s.phase.as_str(),
        "reason": s.reason.clone().unwrap_or_else(|| "the TA is not running".into()),
        "security_failure": s.security_failure(),
        "ta_restarts": restarts,
        "ta_pid": s.pid,
        "ta_last_exit_code": s.last_exit.as_ref().map(|e| e.code),
        "next_start_in_ms": s.next_start.map(|t| t.saturating_duration_since(now).as_millis() as u64),
        "ta_binary": s.binary,
    });
    (503, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_is_200_with_pid() {
        let now = Instant::now();
        let s = TaStatus {
            phase: TaPhase::Running,
            pid: Some(42),
            up_since: Some(now),
            reason: None,
            binary: Some("/pkg/versions/1.0.0/teehsm-ta".into()),
            ..Default::default()
        };
        let (code, body) = render(&s, 3, now);
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ta_binary"], "/pkg/versions/1.0.0/teehsm-ta");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["ta"], "running");
        assert_eq!(v["ta_restarts"], 3);
        assert_eq!(v["ta_pid"], 42);
    }

    #[test]
    fn security_failure_is_503_with_reason() {
        let now = Instant::now();
        let exit = TaExit::from_code(4);
        let s = TaStatus {
            phase: TaPhase::Failed,
            security_failure: true,
            reason: Some(exit.reason.clone()),
            last_exit: Some(exit),
            next_start: Some(now + Duration::from_secs(30)),
            ..Default::default()
        };
        let (code, body) = render(&s, 7, now);
        assert_eq!(code, 503);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "unavailable");
        assert_eq!(v["ta"], "failed");
        assert_eq!(v["security_failure"], true);
        assert_eq!(v["ta_last_exit_code"], 4);
        assert!(v["reason"].as_str().unwrap().contains("rollback"));
        assert_eq!(v["next_start_in_ms"], 30_000);
    }
}
