//! The local admin calls on the HTTP listener, used by teehsm-agent to
//! switch TA versions (docs/fleet-packages.md, "CA admin calls"):
//!
//! - `POST /admin/ta/drain?timeout_ms=N`: refuse new clients and wait up to
//!   N ms (default 10000, at most 60000) until no relayed client is
//!   connected and no PKCS#11 session is open on the TA's tokens (sessions
//!   of handed-off clients count too: the TA's GetTokenInfo session counts);
//! - `POST /admin/ta/resume`: accept new clients again (ends a drain);
//! - `POST /admin/ta/restart`: stop the TA (SIGTERM) and start it again at
//!   once, skipping the restart backoff; a drain ends when the new TA is
//!   spawned. Answers `{"restarting": true, "signalled_pid": <pid or null>,
//!   "ta_restarts": N}`: every TA started after the request has a
//!   `ta_restarts` (in /healthz) above N.
//!
//! Only loopback peers may call them. They hold no secret and decide nothing
//! about keys: at worst a local caller makes the TA restart, which any local
//! user able to signal the CA can do anyway.

use crate::http::Answer;
use crate::state::Shared;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use teehsm_wire::client::Client;
use teehsm_wire::{Reply, Request};

/// Default and longest drain wait.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);
pub const MAX_DRAIN: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
/// Name the drain's TA connection announces in Hello.
const CLIENT_NAME: &str = "teehsm-ca-admin";

fn answer(status: u16, body: serde_json::Value) -> Answer {
    Answer { status, content_type: "application/json", body: body.to_string() + "\n" }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Whether `path` belongs to the admin API.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Routes one admin request (`target` with its query string).
pub fn route(method: &str, target: &str, peer: Option<SocketAddr>, shared: &Shared) -> Answer {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let known = matches!(path, "/admin/ta/drain" | "/admin/ta/resume" | "/admin/ta/restart");
    if !known {
        return answer(404, json!({ "error": format!("no admin call {path}; see docs/fleet-packages.md") }));
    }
    if method != "POST" {
        return answer(405, json!({ "error": format!("{path} takes POST") }));
    }
    if !peer.is_some_and(|p| p.ip().is_loopback()) {
        return answer(403, json!({ "error": "admin calls are accepted only from loopback" }));
    }
    match path {
        "/admin/ta/drain" => {
            let timeout = match query_param(query, "timeout_ms") {
                None => DEFAULT_DRAIN,
                Some(v) => match v.parse::<u64>() {
                    Ok(ms) if Duration::from_millis(ms) <= MAX_DRAIN => Duration::from_millis(ms),
                    _ => return answer(400, json!({ "error": format!("timeout_ms must be 0 to {}, got {v:?}", MAX_DRAIN.as_millis()) })),
                },
            };
            let d = drain(shared, timeout);
            let waited_ms = d.waited.as_millis() as u64;
            tracing::info!(open_clients = d.clients, open_sessions = d.sessions, waited_ms, "admin drain: refusing new clients");
            answer(
                200,
                json!({
                    "draining": true,
                    "drained": d.clients == 0 && d.sessions == 0,
                    "open_clients": d.clients,
                    "open_sessions": d.sessions,
                    "waited_ms": waited_ms,
                }),
            )
        }
        "/admin/ta/resume" => {
            shared.set_draining(false);
            tracing::info!("admin resume: accepting clients again");
            answer(200, json!({ "draining": false }))
        }
        _ => {
            let (pid, restarts) = shared.request_restart();
            tracing::info!(signalled_pid = ?pid, "admin restart of the TA");
            answer(200, json!({ "restarting": true, "signalled_pid": pid, "ta_restarts": restarts }))
        }
    }
}

/// What a drain left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Relayed client connections.
    pub clients: usize,
    /// PKCS#11 sessions on the TA's tokens (0 if the TA cannot be asked).
    pub sessions: u64,
    pub waited: Duration,
}

/// Starts refusing new clients and waits until no relayed client and no
/// session is open, or `timeout` passes.
pub fn drain(shared: &Shared, timeout: Duration) -> Drained {
    shared.set_draining(true);
    let start = Instant::now();
    let mut ta: Option<Client> = None;
    loop {
        let clients = shared.clients.len();
        let sessions = open_sessions(shared, &mut ta);
        if (clients == 0 && sessions == 0) || start.elapsed() >= timeout {
            return Drained { clients, sessions, waited: start.elapsed() };
        }
        std::thread::sleep(POLL);
    }
}

/// The sessions open on every token of the TA, over a kept connection; 0
/// when the TA is down or does not answer (then nothing can be drained).
fn open_sessions(shared: &Shared, conn: &mut Option<Client>) -> u64 {
    if !shared.ta_up() {
        return 0;
    }
    if conn.is_none() {
        *conn = Client::connect_endpoint(&shared.ta_address, CLIENT_NAME).ok();
    }
    let Some(c) = conn.as_mut() else { return 0 };
    let slots = match c.call(&Request::GetSlotList) {
        Ok(Reply::Handles(s)) => s,
        _ => {
            *conn = None;
            return 0;
        }
    };
    slots
        .into_iter()
        .filter_map(|slot| match c.call(&Request::GetTokenInfo { slot }) {
            Ok(Reply::TokenInfo(t)) => Some(t.session_count),
            _ => None,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use teehsm_wire::stream::Endpoint;

    fn shared() -> Shared {
        Shared::new(Endpoint::Unix(PathBuf::from("/nonexistent")))
    }

    fn local() -> Option<SocketAddr> {
        Some("127.0.0.1:5000".parse().unwrap())
    }

    #[test]
    fn refuses_remote_wrong_method_and_unknown() {
        let s = shared();
        let remote = Some("192.0.2.1:5000".parse().unwrap());
        assert_eq!(route("POST", "/admin/ta/restart", remote, &s).status, 403);
        assert_eq!(route("POST", "/admin/ta/restart", None, &s).status, 403);
        assert_eq!(route("GET", "/admin/ta/restart", local(), &s).status, 405);
        assert_eq!(route("POST", "/admin/nope", local(), &s).status, 404);
        let bad = route("POST", "/admin/ta/drain?timeout_ms=999999", local(), &s);
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("timeout_ms must be 0 to 60000"), "{}", bad.body);
        assert!(!s.draining());
    }

    #[test]
    fn drain_resume_and_restart() {
        let s = shared();
        let a = route("POST", "/admin/ta/drain?timeout_ms=0", local(), &s);
        assert_eq!(a.status, 200, "{}", a.body);
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["drained"], true);
        assert_eq!(v["open_clients"], 0);
        assert!(s.draining());
        assert_eq!(route("POST", "/admin/ta/resume", local(), &s).status, 200);
        assert!(!s.draining());

        // Restart with no TA running: only the request is recorded.
        s.set_draining(true);
        let a = route("POST", "/admin/ta/restart", local(), &s);
        assert_eq!(a.status, 200);
        assert!(a.body.contains("\"signalled_pid\":null") && a.body.contains("\"ta_restarts\":0"), "{}", a.body);
        // A backoff sleep is cut short by the request ...
        let start = Instant::now();
        assert!(!s.sleep_unless_stopping(Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(5));
        // ... and the next spawn clears both the request and the drain.
        s.spawn_unless_stopping(|| Ok(((), 4242))).unwrap().unwrap();
        assert!(!s.draining());
        assert!(!s.take_restart_request());
    }

    #[test]
    fn restart_signals_the_live_ta() {
        let s = shared();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        s.spawn_unless_stopping(|| Ok(((), pid))).unwrap().unwrap();
        let a = route("POST", "/admin/ta/restart", local(), &s);
        assert!(a.body.contains(&format!("\"signalled_pid\":{pid}")), "{}", a.body);
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGTERM));
        assert!(s.take_restart_request());
    }
}
