//! The CA's `/healthz` JSON (written by ca-service/src/health.rs), parsed
//! into what the agent needs: the TA's phase and pid (to sample the TA's
//! CPU and memory), restarts and uptime. Only the parser: fetching the
//! document is the daemon's job. The body is untrusted text: size-capped and
//! every field checked for type and range.

use serde_json::Value;
use thiserror::Error;

/// Largest body accepted (the real one is about 200 bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HealthError {
    #[error("healthz body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("healthz body is not JSON: {0}")]
    NotJson(String),
    #[error("healthz body is not a JSON object")]
    NotObject,
    #[error("healthz field {field}: {what}")]
    Field { field: &'static str, what: &'static str },
}

/// The CA's overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    /// "ok": the TA is running (HTTP 200).
    Ok,
    /// "unavailable": the TA is starting, restarting, failed or stopping (HTTP 503).
    Unavailable,
}

/// What `/healthz` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaHealth {
    pub status: HealthStatus,
    /// The TA's phase: "running", "starting", "restarting", "failed", "stopping"
    /// (kept as text: a newer CA may add phases).
    pub ta_phase: String,
    /// The live TA process, if any.
    pub ta_pid: Option<u32>,
    pub ta_restarts: u64,
    /// Only while running.
    pub ta_uptime_seconds: Option<u64>,
    /// Only while not running.
    pub reason: Option<String>,
    pub security_failure: bool,
    pub ta_last_exit_code: Option<i64>,
    /// The TA executable of the current (or last) run, links resolved
    /// (teehsm-ca with package support; None from older CAs).
    pub ta_binary: Option<String>,
}

fn field_err(field: &'static str, what: &'static str) -> HealthError {
    HealthError::Field { field, what }
}

/// An optional unsigned integer field (absent and null are None).
fn opt_u64(o: &serde_json::Map<String, Value>, field: &'static str) -> Result<Option<u64>, HealthError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| field_err(field, "not an unsigned integer")),
    }
}

/// Parses a `/healthz` body (either the 200 or the 503 form).
pub fn parse_healthz(body: &str) -> Result<CaHealth, HealthError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(HealthError::TooLarge);
    }
    let v: Value = serde_json::from_str(body).map_err(|e| HealthError::NotJson(e.to_string()))?;
    let o = v.as_object().ok_or(HealthError::NotObject)?;
    let status = match o.get("status").and_then(Value::as_str) {
        Some("ok") => HealthStatus::Ok,
        Some("unavailable") => HealthStatus::Unavailable,
        Some(_) => return Err(field_err("status", "neither \"ok\" nor \"unavailable\"")),
        None => return Err(field_err("status", "missing or not a string")),
    };
    let ta_phase = o.get("ta").and_then(Value::as_str).ok_or_else(|| field_err("ta", "missing or not a string"))?.to_string();
    let ta_pid = match opt_u64(o, "ta_pid")? {
        None => None,
        Some(0) => return Err(field_err("ta_pid", "zero")),
        Some(p) => Some(u32::try_from(p).map_err(|_| field_err("ta_pid", "larger than a pid"))?),
    };
    let ta_restarts = opt_u64(o, "ta_restarts")?.ok_or_else(|| field_err("ta_restarts", "missing"))?;
    let reason = match o.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(field_err("reason", "not a string")),
    };
    let security_failure = match o.get("security_failure") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field_err("security_failure", "not a boolean")),
    };
    let ta_last_exit_code = match o.get("ta_last_exit_code") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| field_err("ta_last_exit_code", "not an integer"))?),
    };
    if status == HealthStatus::Ok && ta_phase != "running" {
        return Err(field_err("ta", "status ok but the TA is not running"));
    }
    Ok(CaHealth {
        status,
        ta_phase,
        ta_pid,
        ta_restarts,
        ta_uptime_seconds: opt_u64(o, "ta_uptime_seconds")?,
        reason,
        security_failure,
        ta_last_exit_code,
        ta_binary: match o.get("ta_binary") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= 4096 => Some(s.clone()),
            Some(_) => return Err(field_err("ta_binary", "not a path string of at most 4096 bytes")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_form() {
        let h = parse_healthz(r#"{"status":"ok","ta":"running","ta_restarts":3,"ta_pid":4242,"ta_uptime_seconds":17}"#).unwrap();
        assert_eq!(
            h,
            CaHealth {
                status: HealthStatus::Ok,
                ta_phase: "running".into(),
                ta_pid: Some(4242),
                ta_restarts: 3,
                ta_uptime_seconds: Some(17),
                reason: None,
                security_failure: false,
                ta_last_exit_code: None,
                ta_binary: None,
            }
        );
        let h = parse_healthz(r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":7,"ta_binary":"/p/versions/2.0.0/teehsm-ta"}"#).unwrap();
        assert_eq!(h.ta_binary.as_deref(), Some("/p/versions/2.0.0/teehsm-ta"));
        assert!(parse_healthz(r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_binary":5}"#).is_err());
    }

    #[test]
    fn unavailable_form() {
        let body = r#"{"status":"unavailable","ta":"failed","reason":"store rollback detected","security_failure":true,
            "ta_restarts":7,"ta_pid":null,"ta_last_exit_code":4,"next_start_in_ms":30000}"#;
        let h = parse_healthz(body).unwrap();
        assert_eq!(h.status, HealthStatus::Unavailable);
        assert_eq!(h.ta_phase, "failed");
        assert_eq!(h.ta_pid, None);
        assert!(h.security_failure);
        assert_eq!(h.ta_last_exit_code, Some(4));
        assert_eq!(h.reason.as_deref(), Some("store rollback detected"));
        // Starting: pid known before READY; last exit -1 style negative codes are kept.
        let h = parse_healthz(r#"{"status":"unavailable","ta":"starting","reason":"x","security_failure":false,"ta_restarts":0,"ta_pid":99,"ta_last_exit_code":-1,"next_start_in_ms":null,"new_field":[1,2]}"#).unwrap();
        assert_eq!((h.ta_pid, h.ta_last_exit_code), (Some(99), Some(-1)));
    }

    #[test]
    fn hostile_bodies() {
        let bad = [
            "",
            "null",
            "[]",
            "\"ok\"",
            "{",
            r#"{"status":"ok"}"#,
            r#"{"status":"fine","ta":"running","ta_restarts":0}"#,
            r#"{"status":"ok","ta":"starting","ta_restarts":0}"#,
            r#"{"status":"ok","ta":"running"}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":-1}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":0}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":-5}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":4294967296}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":1.5}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":"42"}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":1e400}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":99999999999999999999999}"#,
            r#"{"status":"ok","ta":"running","ta_restarts":0,"security_failure":"no"}"#,
            r#"{"status":"unavailable","ta":"failed","ta_restarts":0,"reason":5}"#,
        ];
        for b in bad {
            assert!(parse_healthz(b).is_err(), "{b}");
        }
        let deep = "[".repeat(100_000);
        assert!(matches!(parse_healthz(&deep), Err(HealthError::TooLarge)));
        let deep = "[".repeat(10_000);
        assert!(matches!(parse_healthz(&deep), Err(HealthError::NotJson(_))), "recursion limit, no stack overflow");
        assert_eq!(parse_healthz(r#"{"status":"ok","ta":"running","ta_restarts":0,"ta_pid":4294967295}"#).unwrap().ta_pid, Some(u32::MAX));
    }
}
