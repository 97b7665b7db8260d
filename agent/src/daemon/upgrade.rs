//! The real [`UpgradeHooks`] of the agent: session draining, TA restart and
//! health check through the local teehsm-ca (ca-service/src/admin.rs), and
//! turning an [`UpgradeReport`] into the job report the console stores.
//!
//! The health check of version V restarts the TA (`POST /admin/ta/restart`)
//! and then polls `/healthz` until the CA reports a new TA running from
//! `<package-root>/versions/V/teehsm-ta` (the CA resolves the `current`
//! link when it spawns the TA and reports the result as `ta_binary`).
//! Running means the TA passed its power-on self-tests and opened its
//! sealed store: the CA only reports it after the TA's READY line. It fails
//! as soon as a TA of V has exited before becoming healthy, or after the
//! timeout.

use super::ca_admin::{healthz, post_ok};
use super::sources::read_http_addr;
use crate::ca_health::{CaHealth, HealthStatus};
use crate::package::{UpgradeHooks, UpgradeReport, UpgradeState, TA_BINARY};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use teehsm_wire::proto::fleet::v1::JobStep;

const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

/// Timeouts of the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookTimeouts {
    /// How long the CA waits for open sessions to end.
    pub drain: Duration,
    /// How long a restarted TA has to become healthy.
    pub health: Duration,
}

/// Hooks that act on the teehsm-ca whose state directory is `ca_state_dir`
/// and whose `--ta-binary` is `<package_root>/current/teehsm-ta`.
#[derive(Debug)]
pub struct CaHooks {
    ca_state_dir: PathBuf,
    package_root: PathBuf,
    timeouts: HookTimeouts,
    /// Details of the steps, for the job history (step name, detail).
    pub notes: Vec<(String, String)>,
}

impl CaHooks {
    pub fn new(ca_state_dir: &Path, package_root: &Path, timeouts: HookTimeouts) -> Self {
        CaHooks { ca_state_dir: ca_state_dir.to_path_buf(), package_root: package_root.to_path_buf(), timeouts, notes: Vec::new() }
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        read_http_addr(&self.ca_state_dir).map_err(|e| e.to_string())
    }

    /// The resolved path the CA reports while version `version` runs.
    fn expected_binary(&self, version: &str) -> Result<String, String> {
        let p = self.package_root.join("versions").join(version).join(TA_BINARY);
        std::fs::canonicalize(&p).map(|p| p.display().to_string()).map_err(|e| format!("cannot resolve {}: {e}", p.display()))
    }

    /// Restarts the TA and waits until it runs `version` healthy.
    fn restart_and_wait(&mut self, version: &str) -> Result<(), String> {
        let expected = self.expected_binary(version)?;
        let addr = self.addr()?;
        let body = post_ok(addr, "/admin/ta/restart", HTTP_TIMEOUT).map_err(|e| format!("cannot restart the TA: {e}"))?;
        // The CA reads the restart count and signals the TA under one lock:
        // every TA it starts after this counts above `base_restarts`.
        let (base_pid, base_restarts) = restart_answer(&body)?;
        let started = Instant::now();
        let deadline = started + self.timeouts.health;
        let mut last: Option<CaHealth> = None;
        let mut last_err = None;
        loop {
            std::thread::sleep(POLL);
            match healthz(addr, HTTP_TIMEOUT) {
                Ok(h) => {
                    match judge(&h, &expected, base_pid, base_restarts) {
                        Verdict::Healthy => {
                            let detail = format!(
                                "TA {version} healthy after {} ms (pid {}, {expected})",
                                started.elapsed().as_millis(),
                                h.ta_pid.unwrap_or(0)
                            );
                            tracing::info!("{detail}");
                            self.notes.push(("health_check".into(), detail));
                            return Ok(());
                        }
                        Verdict::Failed(why) => return Err(format!("TA {version}: {why}")),
                        Verdict::Waiting => {}
                    }
                    last = Some(h);
                }
                Err(e) => last_err = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let state = match (&last, last_err) {
                    (Some(h), _) => describe(h),
                    (None, Some(e)) => e,
                    (None, None) => "no answer".into(),
                };
                return Err(format!("TA {version} was not healthy within {} ms; last /healthz: {state}", self.timeouts.health.as_millis()));
            }
        }
    }
}

/// The signalled pid and the restart count from the CA's answer to
/// `POST /admin/ta/restart`.
pub fn restart_answer(body: &str) -> Result<(Option<u32>, u64), String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("the CA's restart answer is not JSON ({e}): {body}"))?;
    let restarts = v
        .get("ta_restarts")
        .and_then(|r| r.as_u64())
        .ok_or_else(|| format!("the CA's restart answer has no ta_restarts (a teehsm-ca without package support?): {body}"))?;
    let pid = v.get("signalled_pid").and_then(|p| p.as_u64()).and_then(|p| u32::try_from(p).ok());
    Ok((pid, restarts))
}

/// What one `/healthz` says about a restart to `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Waiting,
    Failed(String),
}

/// Judges `/healthz` after a restart requested when the TA had pid
/// `base_pid` and `base_restarts` restarts.
pub fn judge(h: &CaHealth, expected: &str, base_pid: Option<u32>, base_restarts: u64) -> Verdict {
    let ours = h.ta_binary.as_deref() == Some(expected);
    match h.status {
        HealthStatus::Ok if ours && (h.ta_pid != base_pid || h.ta_restarts > base_restarts) => Verdict::Healthy,
        HealthStatus::Ok if h.ta_restarts > base_restarts && h.ta_binary.is_some() && !ours => {
            Verdict::Failed(format!("the CA started {} instead of {expected}", h.ta_binary.as_deref().unwrap_or("?")))
        }
        HealthStatus::Unavailable if ours && h.ta_restarts > base_restarts && matches!(h.ta_phase.as_str(), "restarting" | "failed") => {
            Verdict::Failed(format!("exited before it was healthy: {}", describe(h)))
        }
        _ => Verdict::Waiting,
    }
}

fn describe(h: &CaHealth) -> String {
    let mut s = format!("ta {}", h.ta_phase);
    if let Some(r) = &h.reason {
        s.push_str(&format!(", {r}"));
    }
    if let Some(c) = h.ta_last_exit_code {
        s.push_str(&format!(", last exit code {c}"));
    }
    s
}

impl UpgradeHooks for CaHooks {
    fn drain_sessions(&mut self) -> Result<(), String> {
        let addr = self.addr()?;
        let ms = self.timeouts.drain.as_millis();
        let body = post_ok(addr, &format!("/admin/ta/drain?timeout_ms={ms}"), self.timeouts.drain + HTTP_TIMEOUT)
            .map_err(|e| format!("cannot drain sessions: {e}"))?;
        let detail = drain_detail(&body, ms);
        tracing::info!("drain: {detail}");
        self.notes.push(("drain_sessions".into(), detail));
        Ok(())
    }

    fn health_check(&mut self, version: &str) -> Result<(), String> {
        self.restart_and_wait(version)
    }

    fn resume_sessions(&mut self) {
        match self.addr().and_then(|a| post_ok(a, "/admin/ta/resume", HTTP_TIMEOUT).map_err(|e| e.to_string())) {
            Ok(_) => tracing::debug!("sessions resumed"),
            Err(e) => tracing::warn!(error = %e, "cannot resume sessions (the next TA start does)"),
        }
    }

    fn rolled_back(&mut self, version: Option<&str>) -> Result<(), String> {
        match version {
            Some(v) => {
                tracing::warn!(version = v, "rolled back; restarting the TA on it");
                self.restart_and_wait(v)
            }
            None => {
                // No previous version: nothing can run; stop the failing one.
                let addr = self.addr()?;
                post_ok(addr, "/admin/ta/restart", HTTP_TIMEOUT).map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }
}

/// The history detail of a drain, from the CA's answer.
pub fn drain_detail(body: &str, timeout_ms: u128) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let clients = v.get("open_clients").and_then(|o| o.as_u64()).unwrap_or(0);
    let sessions = v.get("open_sessions").and_then(|o| o.as_u64()).unwrap_or(0);
    if clients == 0 && sessions == 0 {
        "no open sessions; new ones refused until the restart".to_string()
    } else {
        format!("still open after {timeout_ms} ms: {sessions} sessions, {clients} relayed clients; the restart closes them")
    }
}

/// The job state to report for a finished upgrade.
pub fn job_state(r: &UpgradeReport) -> &'static str {
    match r.state {
        UpgradeState::Done => "succeeded",
        UpgradeState::RolledBack { .. } => "rolled_back",
        _ => "failed",
    }
}

/// The message to report: why it failed or rolled back ("" on success).
pub fn job_message(r: &UpgradeReport) -> String {
    match &r.state {
        UpgradeState::RolledBack { reason } => reason.clone(),
        UpgradeState::Failed { step, reason } => format!("failed at {step}: {reason}"),
        _ => String::new(),
    }
}

/// The job history: every state passed through and the final one, with
/// the hooks' notes as details.
pub fn job_history(r: &UpgradeReport, notes: &[(String, String)]) -> Vec<JobStep> {
    r.history
        .iter()
        .chain(std::iter::once(&r.state))
        .map(|s| {
            let step = s.name().to_string();
            let detail = match s {
                UpgradeState::RollingBack { reason } | UpgradeState::RolledBack { reason } => reason.clone(),
                UpgradeState::Failed { step, reason } => format!("at {step}: {reason}"),
                _ => notes.iter().filter(|(n, _)| *n == step).map(|(_, d)| d.as_str()).collect::<Vec<_>>().join("; "),
            };
            JobStep { step, detail }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(status: HealthStatus, phase: &str, pid: Option<u32>, restarts: u64, bin: Option<&str>) -> CaHealth {
        CaHealth {
            status,
            ta_phase: phase.into(),
            ta_pid: pid,
            ta_restarts: restarts,
            ta_uptime_seconds: None,
            reason: Some("the TA exited with code 1 before it was ready".into()),
            security_failure: false,
            ta_last_exit_code: Some(1),
            ta_binary: bin.map(str::to_owned),
        }
    }

    #[test]
    fn judges_restarts() {
        let v2 = "/p/versions/2.0.0/teehsm-ta";
        let v1 = "/p/versions/1.0.0/teehsm-ta";
        // The old TA still answering: wait.
        assert_eq!(judge(&h(HealthStatus::Ok, "running", Some(10), 0, Some(v1)), v2, Some(10), 0), Verdict::Waiting);
        // The new one starting: wait.
        assert_eq!(judge(&h(HealthStatus::Unavailable, "starting", Some(11), 1, Some(v2)), v2, Some(10), 0), Verdict::Waiting);
        // Up from the new version: healthy.
        assert_eq!(judge(&h(HealthStatus::Ok, "running", Some(11), 1, Some(v2)), v2, Some(10), 0), Verdict::Healthy);
        // The new version exited before READY: failed at once, with the CA's reason.
        match judge(&h(HealthStatus::Unavailable, "restarting", None, 1, Some(v2)), v2, Some(10), 0) {
            Verdict::Failed(why) => assert!(why.contains("exit code 1"), "{why}"),
            v => panic!("{v:?}"),
        }
        // An older failing version exiting while we wait for the rollback target: wait.
        assert_eq!(judge(&h(HealthStatus::Unavailable, "restarting", None, 3, Some(v2)), v1, None, 2), Verdict::Waiting);
        // Running, restarted, but from another version: failed.
        assert!(matches!(judge(&h(HealthStatus::Ok, "running", Some(12), 1, Some(v1)), v2, Some(10), 0), Verdict::Failed(_)));
    }

    #[test]
    fn drain_details() {
        let ok = r#"{"draining":true,"drained":true,"open_clients":0,"open_sessions":0,"waited_ms":3}"#;
        assert!(drain_detail(ok, 2000).starts_with("no open sessions"));
        let busy = r#"{"draining":true,"drained":false,"open_clients":1,"open_sessions":2,"waited_ms":2000}"#;
        assert_eq!(drain_detail(busy, 2000), "still open after 2000 ms: 2 sessions, 1 relayed clients; the restart closes them");
    }

    #[test]
    fn reads_restart_answers() {
        assert_eq!(restart_answer(r#"{"restarting":true,"signalled_pid":42,"ta_restarts":3}"#), Ok((Some(42), 3)));
        assert_eq!(restart_answer(r#"{"restarting":true,"signalled_pid":null,"ta_restarts":0}"#), Ok((None, 0)));
        assert!(restart_answer(r#"{"restarting":true}"#).unwrap_err().contains("no ta_restarts"));
        assert!(restart_answer("nope").is_err());
    }

    #[test]
    fn reports_from_upgrade_results() {
        let r = UpgradeReport {
            from: Some("1.0.0".into()),
            to: Some("2.0.0".into()),
            state: UpgradeState::RolledBack { reason: "health check failed: boom".into() },
            history: vec![
                UpgradeState::Verify,
                UpgradeState::Stage,
                UpgradeState::DrainSessions,
                UpgradeState::Switch,
                UpgradeState::HealthCheck,
                UpgradeState::RollingBack { reason: "health check failed: boom".into() },
            ],
        };
        assert_eq!(job_state(&r), "rolled_back");
        assert_eq!(job_message(&r), "health check failed: boom");
        let steps = job_history(&r, &[("drain_sessions".into(), "no open sessions".into())]);
        let names: Vec<_> = steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(names, ["verify", "stage", "drain_sessions", "switch", "health_check", "rolling_back", "rolled_back"]);
        assert_eq!(steps[2].detail, "no open sessions");
        assert!(steps[6].detail.contains("boom"));
        let failed = UpgradeReport {
            state: UpgradeState::Failed { step: "verify".into(), reason: "bad sig".into() },
            history: vec![UpgradeState::Verify],
            ..r
        };
        assert_eq!((job_state(&failed), job_message(&failed).as_str()), ("failed", "failed at verify: bad sig"));
    }
}
