//! The HTTP API of TA packages and rollouts (docs/fleet-console.md,
//! "Rollouts"):
//!
//! - `GET /api/packages`: the imported packages (import with
//!   `teehsm-console package add`);
//! - `POST /api/rollouts` `{"version": "2.0.0", "hosts": ["h1", ...]}`,
//!   `{"version": "2.0.0", "group": "prod"}` or `{"version": "2.0.0",
//!   "waves": [["h1"], ["h2", "h3"]]}`, optionally `"wave_size": N` and
//!   `"stop_on_failure": false`: one `ta_upgrade` job per host, wave after wave;
//! - `GET /api/rollouts[?limit=&offset=]`, `GET /api/rollouts/{id}`: status
//!   (running / succeeded / partial / failed) and every host's job with its
//!   state history;
//! - `POST /api/rollouts/{id}/cancel`: fails the jobs no host has started
//!   (running upgrades finish) and clears those hosts' desired version;
//! - `POST /api/rollouts/{id}/pause`, `.../resume`: holds back the waves
//!   not queued yet (the queued wave goes on), and lets them go again.
//!
//! The caller (http.rs) has already checked the role: any for GET,
//! operator or admin for POST; `actor` names who it is, for the audit log.

use super::http::{error, json_resp, store_err, HttpRequest, HttpResponse};
use super::{now_ms, Shared};
use crate::store::{HostStatus, Page, StoreError};
use serde_json::{json, Value};

/// Most hosts one rollout may name.
pub const MAX_ROLLOUT_HOSTS: usize = 10_000;

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Answers requests for `/api/packages*` and `/api/rollouts*`; `None` for
/// any other path.
pub fn handle(shared: &Shared, req: &HttpRequest, actor: &str) -> Option<HttpResponse> {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let resp = match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "packages"]) => list_packages(shared),
        ("POST", ["api", "packages"]) => {
            error(405, "packages are imported on the console host: teehsm-console package add --data-dir <dir> --vendor-key <hex> <package-dir>")
        }
        ("GET", ["api", "rollouts"]) => list_rollouts(shared, req),
        ("POST", ["api", "rollouts"]) => create_rollout(shared, req, actor),
        ("GET", ["api", "rollouts", id]) => get_rollout(shared, id),
        ("POST", ["api", "rollouts", id, "cancel"]) => cancel_rollout(shared, id, actor),
        ("POST", ["api", "rollouts", id, action @ ("pause" | "resume")]) => pause_or_resume(shared, id, action, actor),
        (_, ["api", "packages"] | ["api", "rollouts"] | ["api", "rollouts", _] | ["api", "rollouts", _, "cancel" | "pause" | "resume"]) => {
            error(405, "method not allowed")
        }
        (_, ["api", "packages", ..] | ["api", "rollouts", ..]) => error(404, "not found"),
        _ => return None,
    };
    Some(resp)
}

fn list_packages(sh: &Shared) -> HttpResponse {
    let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
    match store.packages() {
        Ok(p) => json_resp(200, json!({ "packages": p })),
        Err(e) => store_err(e),
    }
}

fn list_rollouts(sh: &Shared, req: &HttpRequest) -> HttpResponse {
    let limit = query_param(&req.query, "limit").and_then(|v| v.parse().ok()).unwrap_or(50u64).min(500);
    let offset = query_param(&req.query, "offset").and_then(|v| v.parse().ok()).unwrap_or(0u64);
    let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
    match store.rollouts(Page::new(offset, limit)) {
        Ok(r) => json_resp(200, json!({ "rollouts": r })),
        Err(e) => store_err(e),
    }
}

fn get_rollout(sh: &Shared, id: &str) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else { return error(400, "a rollout id is a positive integer") };
    let Ok(store) = sh.store.lock() else { return error(500, "internal error") };
    match store.rollout(id) {
        Ok(Some(r)) => json_resp(200, json!(r)),
        Ok(None) => error(404, &format!("no rollout {id}")),
        Err(e) => store_err(e),
    }
}

fn cancel_rollout(sh: &Shared, id: &str, actor: &str) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else { return error(400, "a rollout id is a positive integer") };
    let now = now_ms();
    let Ok(mut store) = sh.store.lock() else { return error(500, "internal error") };
    let cancelled = match store.cancel_rollout(id, actor, now) {
        Ok(hosts) => hosts,
        Err(StoreError::NotFound { .. }) => return error(404, &format!("no rollout {id}")),
        Err(e) => return store_err(e),
    };
    let rollout = match store.rollout(id) {
        Ok(Some(r)) => r,
        Ok(None) => return error(500, "the rollout vanished"),
        Err(e) => return store_err(e),
    };
    if cancelled.is_empty() {
        let started: Vec<String> = rollout.hosts.iter().map(|h| format!("{}: {}", h.host_id, h.job.state.as_str())).collect();
        return error(
            409,
            &format!(
                "rollout {id} has no job left that a host has not started ({}); running upgrades finish or roll back on their own",
                started.join(", ")
            ),
        );
    }
    let details = json!({ "rollout": id, "cancelled_hosts": cancelled });
    if let Err(e) = store.append_audit(now, actor, "rollout.cancel", &id.to_string(), &details) {
        return store_err(e);
    }
    tracing::info!(rollout = id, hosts = cancelled.len(), %actor, "rollout cancelled");
    if rollout.status != crate::store::RolloutStatus::Running {
        // Nothing was running: the cancel finished it (else the last running job's report will).
        let details = json!({ "rollout": id, "status": rollout.status.as_str() });
        if let Err(e) = store.append_audit(now, "console", "rollout.finished", &id.to_string(), &details) {
            return store_err(e);
        }
    }
    json_resp(200, json!({ "cancelled_hosts": cancelled, "rollout": rollout }))
}

fn pause_or_resume(sh: &Shared, id: &str, action: &str, actor: &str) -> HttpResponse {
    let Ok(id) = id.parse::<u64>() else { return error(400, "a rollout id is a positive integer") };
    let now = now_ms();
    let Ok(mut store) = sh.store.lock() else { return error(500, "internal error") };
    let queued = if action == "pause" { store.pause_rollout(id, actor, now).map(|()| Vec::new()) } else { store.resume_rollout(id, now) };
    let queued = match queued {
        Ok(q) => q,
        Err(StoreError::NotFound { .. }) => return error(404, &format!("no rollout {id}")),
        Err(StoreError::RolloutState(why)) => return error(409, &why),
        Err(e) => return store_err(e),
    };
    let details = json!({ "rollout": id, "queued_hosts": queued });
    if let Err(e) = store.append_audit(now, actor, &format!("rollout.{action}"), &id.to_string(), &details) {
        return store_err(e);
    }
    tracing::info!(rollout = id, %actor, queued = queued.len(), "rollout {action}d");
    match store.rollout(id) {
        Ok(Some(r)) => json_resp(200, json!({ "rollout": r, "queued_hosts": queued })),
        Ok(None) => error(500, "the rollout vanished"),
        Err(e) => store_err(e),
    }
}

/// What POST /api/rollouts asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct RolloutRequest {
    pub version: String,
    pub target: Target,
    /// Hosts per wave (`wave_size`; with `hosts` or `group`).
    pub wave_size: Option<usize>,
    /// Stop queuing waves after a failed host (default: yes when staged).
    pub stop_on_failure: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Hosts(Vec<String>),
    Group(String),
    /// Explicit waves, in order.
    Waves(Vec<Vec<String>>),
}

const SHAPE: &str = "body must be JSON {\"version\": \"2.0.0\", \"hosts\": [\"host-1\", ...]}, {\"version\": \"2.0.0\", \"group\": \"prod\"} or {\"version\": \"2.0.0\", \"waves\": [[\"host-1\"], [\"host-2\", \"host-3\"]]}, optionally with \"wave_size\": N (with hosts or group) and \"stop_on_failure\": true|false";

/// A JSON array of distinct host id strings (`seen` across lists).
fn host_list(v: &Value, field: &str, seen: &mut Vec<String>) -> Result<Vec<String>, String> {
    let list = v.as_array().ok_or(format!("\"{field}\" must be an array of host ids"))?;
    if list.is_empty() {
        return Err(format!("\"{field}\" must not be empty"));
    }
    let mut hosts: Vec<String> = Vec::with_capacity(list.len());
    for h in list {
        let h = h.as_str().ok_or(format!("\"{field}\" must be an array of host id strings"))?;
        if seen.iter().any(|x| x == h) {
            return Err(format!("host {h:?} is named twice"));
        }
        seen.push(h.to_owned());
        hosts.push(h.to_owned());
    }
    if seen.len() > MAX_ROLLOUT_HOSTS {
        return Err(format!("a rollout names 1 to {MAX_ROLLOUT_HOSTS} hosts"));
    }
    Ok(hosts)
}

/// Parses and checks the body of POST /api/rollouts.
pub fn parse_rollout_request(body: &[u8]) -> Result<RolloutRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("{SHAPE}: {e}"))?;
    let o = v.as_object().ok_or(SHAPE)?;
    if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "version" | "hosts" | "group" | "waves" | "wave_size" | "stop_on_failure")) {
        return Err(format!("unknown field {k:?}; {SHAPE}"));
    }
    let version = o.get("version").and_then(Value::as_str).ok_or_else(|| format!("\"version\" (a string) is required; {SHAPE}"))?;
    if version.is_empty() || version.len() > 255 {
        return Err("\"version\" must be 1 to 255 characters".into());
    }
    let mut seen = Vec::new();
    let target = match (o.get("hosts"), o.get("group"), o.get("waves")) {
        (Some(h), None, None) => Target::Hosts(host_list(h, "hosts", &mut seen).map_err(|e| {
            if e.ends_with("must not be empty") {
                format!("\"hosts\" must name 1 to {MAX_ROLLOUT_HOSTS} hosts")
            } else {
                e
            }
        })?),
        (None, Some(g), None) => Target::Group(g.as_str().ok_or("\"group\" must be a string")?.to_owned()),
        (None, None, Some(w)) => {
            let waves = w.as_array().ok_or("\"waves\" must be an array of arrays of host ids")?;
            if waves.is_empty() {
                return Err("\"waves\" must hold at least one wave".into());
            }
            let mut out = Vec::with_capacity(waves.len());
            for (i, wave) in waves.iter().enumerate() {
                out.push(host_list(wave, &format!("waves[{i}]"), &mut seen)?);
            }
            Target::Waves(out)
        }
        (None, None, None) => return Err(format!("\"hosts\", \"group\" or \"waves\" is required; {SHAPE}")),
        _ => return Err("give one of \"hosts\", \"group\" or \"waves\", not both".into()),
    };
    let wave_size = match o.get("wave_size") {
        None => None,
        Some(_) if matches!(target, Target::Waves(_)) => {
            return Err("\"wave_size\" goes with \"hosts\" or \"group\", not with explicit \"waves\"".into())
        }
        Some(n) => match n.as_u64() {
            Some(n) if (1..=MAX_ROLLOUT_HOSTS as u64).contains(&n) => Some(n as usize),
            _ => return Err(format!("\"wave_size\" must be a whole number from 1 to {MAX_ROLLOUT_HOSTS}")),
        },
    };
    let stop_on_failure = match o.get("stop_on_failure") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"stop_on_failure\" must be true or false".into()),
    };
    Ok(RolloutRequest { version: version.to_owned(), target, wave_size, stop_on_failure })
}

fn create_rollout(sh: &Shared, req: &HttpRequest, actor: &str) -> HttpResponse {
    let r = match parse_rollout_request(&req.body) {
        Ok(r) => r,
        Err(e) => return error(400, &e),
    };
    let now = now_ms();
    let Ok(mut store) = sh.store.lock() else { return error(500, "internal error") };
    match store.package(&r.version) {
        Ok(Some(_)) => {}
        Ok(None) => return error(404, &format!("package version {:?} is not imported; import it with teehsm-console package add", r.version)),
        Err(e) => return store_err(e),
    }
    let active = |store: &crate::store::Store, id: &str| -> Result<(), HttpResponse> {
        match store.host(id) {
            Ok(Some(host)) if host.status == HostStatus::Active => Ok(()),
            Ok(Some(_)) => Err(error(409, &format!("host {id:?} is not active"))),
            Ok(None) => Err(error(404, &format!("host {id:?} is not enrolled"))),
            Err(e) => Err(store_err(e)),
        }
    };
    let mut waves: Vec<Vec<String>> = match &r.target {
        Target::Hosts(h) => vec![h.clone()],
        Target::Waves(w) => w.clone(),
        Target::Group(g) => {
            let all = match store.hosts() {
                Ok(h) => h,
                Err(e) => return store_err(e),
            };
            let mut ids: Vec<String> = all.into_iter().filter(|h| &h.group == g && h.status == HostStatus::Active).map(|h| h.id).collect();
            if ids.is_empty() {
                return error(404, &format!("group {g:?} has no active hosts"));
            }
            ids.sort();
            vec![ids]
        }
    };
    for id in waves.iter().flatten() {
        if let Err(resp) = active(&store, id) {
            return resp;
        }
    }
    if let Some(n) = r.wave_size {
        waves = waves.concat().chunks(n).map(<[String]>::to_vec).collect();
    }
    let stop_on_failure = r.stop_on_failure && waves.len() > 1;
    let id = match store.create_staged_rollout(&r.version, &waves, stop_on_failure, actor, now) {
        Ok(id) => id,
        Err(e @ StoreError::AlreadyExists { .. }) => return error(409, &format!("{e}; wait for that job to finish (GET /api/rollouts)")),
        Err(e @ StoreError::NotFound { .. }) => return error(404, &e.to_string()),
        Err(e) => return store_err(e),
    };
    let details = json!({ "rollout": id, "version": r.version, "waves": waves, "stop_on_failure": stop_on_failure });
    if let Err(e) = store.append_audit(now, actor, "rollout.create", &id.to_string(), &details) {
        return store_err(e);
    }
    tracing::info!(rollout = id, version = %r.version, hosts = waves.iter().map(Vec::len).sum::<usize>(), waves = waves.len(), %actor, "rollout created");
    match store.rollout(id) {
        Ok(Some(rollout)) => json_resp(201, json!(rollout)),
        Ok(None) => error(500, "the rollout vanished"),
        Err(e) => store_err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rollout_requests() {
        let r = parse_rollout_request(br#"{"version":"2.0.0","hosts":["a","b"]}"#).unwrap();
        assert_eq!(
            r,
            RolloutRequest { version: "2.0.0".into(), target: Target::Hosts(vec!["a".into(), "b".into()]), wave_size: None, stop_on_failure: true }
        );
        let r = parse_rollout_request(br#"{"version":"2.0.0","group":"prod","wave_size":2,"stop_on_failure":false}"#).unwrap();
        assert_eq!((r.target, r.wave_size, r.stop_on_failure), (Target::Group("prod".into()), Some(2), false));
        let r = parse_rollout_request(br#"{"version":"2.0.0","waves":[["a"],["b","c"]]}"#).unwrap();
        assert_eq!(r.target, Target::Waves(vec![vec!["a".into()], vec!["b".into(), "c".into()]]));
        for (body, want) in [
            (&br#"nope"#[..], "body must be JSON"),
            (br#"{"hosts":["a"]}"#, "\"version\" (a string) is required"),
            (br#"{"version":"2","hosts":[]}"#, "must name 1 to"),
            (br#"{"version":"2","hosts":["a","a"]}"#, "named twice"),
            (br#"{"version":"2","hosts":["a"],"group":"g"}"#, "not both"),
            (br#"{"version":"2"}"#, "is required"),
            (br#"{"version":"2","hosts":["a"],"force":true}"#, "unknown field \"force\""),
            (br#"{"version":"","hosts":["a"]}"#, "1 to 255"),
            (br#"{"version":"2","waves":[]}"#, "at least one wave"),
            (br#"{"version":"2","waves":[["a"],[]]}"#, "waves[1]"),
            (br#"{"version":"2","waves":[["a"],["b","a"]]}"#, "named twice"),
            (br#"{"version":"2","waves":[["a"]],"hosts":["b"]}"#, "not both"),
            (br#"{"version":"2","waves":[["a"]],"wave_size":1}"#, "not with explicit"),
            (br#"{"version":"2","hosts":["a"],"wave_size":0}"#, "whole number"),
            (br#"{"version":"2","hosts":["a"],"stop_on_failure":"yes"}"#, "true or false"),
        ] {
            let e = parse_rollout_request(body).unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
    }
}
