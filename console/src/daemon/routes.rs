//! The JSON API's route table (every route with the role it needs; the
//! OpenAPI document console/openapi.json lists exactly these) and the
//! handlers.

use super::http::{error, json_resp, store_err, HttpRequest, HttpResponse, Reply};
use super::password::{check_new_password, hash_password, verify_dummy, verify_password};
use super::session::{Principal, COOKIE, SESSION_TTL_MS};
use super::Shared;
use crate::alerts::{HostReport, RuleKind, Scope};
use crate::enroll::new_token;
use crate::store::{Page, Role, StoreError, User};
use serde_json::{json, Value};
use std::time::Duration;

/// Default and longest lifetime of an enrollment token.
const TOKEN_TTL_SECS: u64 = 24 * 3600;
const MAX_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;
/// Chart window by default, and most points returned.
const SAMPLES_WINDOW_MS: u64 = 3600 * 1000;
const MAX_SAMPLES: usize = 720;

/// One API route. `need: None` is public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// With `{name}` placeholders.
    pub path: &'static str,
    pub need: Option<Role>,
}

const fn r(method: &'static str, path: &'static str, need: Option<Role>) -> Route {
    Route { method, path, need }
}

const AUDITOR: Option<Role> = Some(Role::Auditor);
const OPERATOR: Option<Role> = Some(Role::Operator);
const ADMIN: Option<Role> = Some(Role::Admin);

/// Every route of the API (the web UI's static files aside).
pub const ROUTES: &[Route] = &[
    r("GET", "/healthz", None),
    r("GET", "/metrics", None),
    r("GET", "/api/openapi.json", None),
    r("POST", "/api/login", None),
    r("POST", "/api/logout", AUDITOR),
    r("GET", "/api/me", AUDITOR),
    r("POST", "/api/me/totp", AUDITOR),
    r("POST", "/api/me/totp/confirm", AUDITOR),
    r("DELETE", "/api/users/{name}/totp", ADMIN),
    r("GET", "/api/hosts", AUDITOR),
    r("GET", "/api/hosts/{id}", AUDITOR),
    r("GET", "/api/hosts/{id}/samples", AUDITOR),
    r("GET", "/api/hosts/{id}/jobs", AUDITOR),
    r("POST", "/api/hosts/{id}/csr", OPERATOR),
    r("POST", "/api/hosts/{id}/certificate", OPERATOR),
    r("PUT", "/api/hosts/{id}/desired", OPERATOR),
    r("POST", "/api/hosts/{id}/ta/install", OPERATOR),
    r("POST", "/api/hosts/{id}/ta/uninstall", OPERATOR),
    r("POST", "/api/hosts/{id}/agent-certificate/renew", OPERATOR),
    r("POST", "/api/hosts/{id}/revoke", ADMIN),
    r("DELETE", "/api/hosts/{id}", ADMIN),
    r("GET", "/api/alerts", AUDITOR),
    r("POST", "/api/alerts/{fingerprint}/ack", OPERATOR),
    r("POST", "/api/enrollment-tokens", OPERATOR),
    r("POST", "/api/keys/distribute", OPERATOR),
    r("POST", "/api/policy", OPERATOR),
    r("GET", "/api/rules", AUDITOR),
    r("GET", "/api/audit", AUDITOR),
    r("GET", "/api/audit/verify", AUDITOR),
    r("GET", "/api/licence", AUDITOR),
    r("PUT", "/api/licence", ADMIN),
    r("GET", "/api/users", ADMIN),
    r("POST", "/api/users", ADMIN),
    r("DELETE", "/api/users/{name}", ADMIN),
];

/// Why no route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists with these methods (comma separated).
    Method(String),
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The placeholder values if `path` matches `pattern`.
fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_matches('/').split('/').collect();
    if pat.len() != got.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, g) in pat.iter().zip(&got) {
        if p.starts_with('{') {
            let v = percent_decode(g).filter(|v| !v.is_empty())?;
            params.push(v);
        } else if p != g {
            return None;
        }
    }
    Some(params)
}

/// The route of a request and its path parameters.
pub fn find(method: &str, path: &str) -> Result<(&'static Route, Vec<String>), NoRoute> {
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method == method {
                return Ok((route, params));
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Err(NoRoute::NotFound)
    } else {
        Err(NoRoute::Method(allowed.join(", ")))
    }
}

/// Rollout and package routes, served by [`super::jobs_api`] (the caller
/// has checked the role: any for GET, operator for the rest).
pub fn delegate(sh: &Shared, req: &HttpRequest, actor: &str) -> Option<HttpResponse> {
    super::jobs_api::handle(sh, req, actor)
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn query_u64(req: &HttpRequest, name: &str, default: u64) -> Result<u64, HttpResponse> {
    match query_param(&req.query, name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| error(400, &format!("query parameter {name} must be a whole number, got {v:?}"))),
    }
}

fn body_json(req: &HttpRequest, example: &str) -> Result<Value, HttpResponse> {
    if req.body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(error(400, &format!("the body must be a JSON object, e.g. {example}"))),
    }
}

fn audit(sh: &Shared, now: u64, actor: &str, action: &str, target: &str, details: Value) {
    let res = match sh.store.lock() {
        Ok(mut s) => s.append_audit(now, actor, action, target, &details).map(|_| ()),
        Err(_) => return,
    };
    if let Err(e) = res {
        tracing::error!(error = %e, action, "cannot write the audit log");
    }
}

/// Runs a matched route (the caller has checked the role).
pub fn call(sh: &Shared, route: &Route, params: &[String], req: &HttpRequest, who: Option<&Principal>, now: u64) -> Reply {
    let p = |i: usize| params.get(i).map(String::as_str).unwrap_or("");
    let actor = who.map(|w| w.name.as_str()).unwrap_or("");
    let res = match (route.method, route.path) {
        ("GET", "/healthz") => Ok(HttpResponse { status: 200, content_type: "text/plain", body: b"ok\n".to_vec() }),
        ("GET", "/metrics") => {
            if let Some(counts) = sh.store.lock().ok().and_then(|s| s.user_counts().ok()) {
                sh.metrics.refresh_users(&counts);
            }
            Ok(HttpResponse { status: 200, content_type: "text/plain; version=0.0.4", body: sh.metrics.render().into_bytes() })
        }
        ("GET", "/api/openapi.json") => Ok(HttpResponse { status: 200, content_type: "application/json", body: OPENAPI.as_bytes().to_vec() }),
        ("POST", "/api/login") => return login(sh, req, now),
        ("POST", "/api/logout") => return logout(sh, req, actor, now),
        ("GET", "/api/me") => Ok(me(sh, who)),
        ("POST", "/api/me/totp") => super::totp_api::start(sh, actor, now),
        ("POST", "/api/me/totp/confirm") => super::totp_api::confirm(sh, req, actor, now),
        ("DELETE", "/api/users/{name}/totp") => super::totp_api::reset(sh, p(0), actor, now),
        ("GET", "/api/hosts") => hosts(sh, now),
        ("GET", "/api/hosts/{id}") => host(sh, p(0), now),
        ("GET", "/api/hosts/{id}/samples") => samples(sh, req, p(0), now),
        ("GET", "/api/hosts/{id}/jobs") => host_jobs(sh, req, p(0)),
        ("GET", "/api/alerts") => alerts(sh, req),
        ("POST", "/api/alerts/{fingerprint}/ack") => ack(sh, p(0), actor, now),
        ("POST", "/api/enrollment-tokens") => enrollment_token(sh, req, actor, now),
        ("POST", "/api/keys/distribute") => super::keydist_api::distribute(sh, req, actor, now),
        ("POST", "/api/policy") => super::keydist_api::push_policy(sh, req, actor, now),
        ("POST", "/api/hosts/{id}/csr") => super::token_jobs_api::csr(sh, req, p(0), actor, now),
        ("POST", "/api/hosts/{id}/certificate") => super::token_jobs_api::certificate(sh, req, p(0), actor, now),
        ("PUT", "/api/hosts/{id}/desired") => super::desired_state::put_desired(sh, req, p(0), actor, now),
        ("POST", "/api/hosts/{id}/ta/install") => super::desired_state::install(sh, req, p(0), actor, now),
        ("POST", "/api/hosts/{id}/ta/uninstall") => super::desired_state::uninstall(sh, req, p(0), actor, now),
        ("POST", "/api/hosts/{id}/agent-certificate/renew") => super::host_admin_api::renew_certificate(sh, p(0), actor, now),
        ("POST", "/api/hosts/{id}/revoke") => super::host_admin_api::revoke(sh, req, p(0), actor, now),
        ("DELETE", "/api/hosts/{id}") => super::host_admin_api::delete(sh, p(0), actor, now),
        ("GET", "/api/rules") => Ok(json_resp(200, json!({ "rules": sh.rules }))),
        ("GET", "/api/audit") => audit_log(sh, req),
        ("GET", "/api/audit/verify") => audit_verify(sh),
        ("GET", "/api/licence") => licence(sh, now),
        ("PUT", "/api/licence") => install_licence(sh, req, actor, now),
        ("GET", "/api/users") => users(sh),
        ("POST", "/api/users") => add_user(sh, req, actor, now),
        ("DELETE", "/api/users/{name}") => delete_user(sh, p(0), actor, now),
        _ => Ok(error(404, "not found")),
    };
    match res {
        Ok(r) | Err(r) => r.into(),
    }
}

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The session cookie; `Secure` when the browser came over HTTPS: to the
/// console's own HTTPS listener, or to a TLS reverse proxy that says so
/// (`X-Forwarded-Proto: https`).
fn session_cookie(req: &HttpRequest, token: &str, max_age_secs: u64) -> String {
    let proxied_https = req.header("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let secure = if req.https || proxied_https { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

fn login(sh: &Shared, req: &HttpRequest, now: u64) -> Reply {
    const EXAMPLE: &str = "{\"name\": \"alice\", \"password\": \"...\"}";
    let body = match body_json(req, EXAMPLE) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    let (Some(name), Some(password)) = (body["name"].as_str(), body["password"].as_str()) else {
        return error(400, &format!("name and password are required, e.g. {EXAMPLE}")).into();
    };
    let bearer = body["bearer"].as_bool().unwrap_or(false);
    if !valid_name(name) || password.len() > super::password::MAX_PASSWORD_BYTES {
        return error(401, "wrong user name or password").into();
    }
    if let Err(wait_ms) = sh.web.check_throttle(name, now) {
        let secs = wait_ms.div_ceil(1000);
        return Reply::from(error(429, &format!("too many failed logins for {name}; try again in {secs} s"))).with("Retry-After", secs.to_string());
    }
    let Some(_slot) = sh.web.verify_slot() else {
        return Reply::from(error(429, "too many logins at the same moment; try again in a second")).with("Retry-After", "1".into());
    };
    let user = {
        let Ok(store) = sh.store.lock() else { return error(500, "internal error").into() };
        store.user(name)
    };
    let ok = match user {
        Ok(Some(u)) => match verify_password(&u.password_hash, password) {
            Ok(ok) => ok.then_some(u),
            Err(e) => {
                tracing::error!(user = name, error = %e, "unusable password hash; reset it with teehsm-console user passwd");
                None
            }
        },
        Ok(None) => {
            verify_dummy(password);
            None
        }
        Err(e) => return store_err(e).into(),
    };
    let Some(user) = ok else {
        let delay = sh.web.record_failure(name, now);
        tracing::warn!(user = name, "failed login");
        audit(sh, now, name, "login_failed", name, json!({ "delay_ms": delay }));
        return error(401, "wrong user name or password").into();
    };
    if let Err((resp, failed)) = super::totp_api::check_login(sh, &user.name, body["totp"].as_str(), now) {
        if failed {
            let delay = sh.web.record_failure(name, now);
            tracing::warn!(user = name, "failed login: second factor");
            audit(sh, now, name, "login_failed", name, json!({ "delay_ms": delay, "reason": "second factor" }));
        }
        return resp.into();
    }
    sh.web.record_success(name);
    let (token, expires_at_ms) = match sh.web.create(&user.name, now) {
        Ok(t) => t,
        Err(e) => return error(500, &e.to_string()).into(),
    };
    tracing::info!(user = %user.name, role = user.role.as_str(), "login");
    audit(sh, now, &user.name, "login", &user.name, json!({ "role": user.role.as_str(), "bearer": bearer }));
    let mut out = json!({ "name": user.name, "role": user.role.as_str(), "expires_at_ms": expires_at_ms });
    if bearer {
        out["token"] = json!(token.as_str());
        return json_resp(200, out).into();
    }
    Reply::from(json_resp(200, out)).with("Set-Cookie", session_cookie(req, &token, SESSION_TTL_MS / 1000))
}

fn logout(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Reply {
    if let Some(token) = super::http::request_token(req) {
        if sh.web.remove(token).is_some() {
            audit(sh, now, actor, "logout", actor, json!({}));
        }
    }
    Reply::from(json_resp(200, json!({ "logged_out": actor }))).with("Set-Cookie", session_cookie(req, "", 0))
}

fn me(sh: &Shared, who: Option<&Principal>) -> HttpResponse {
    let Some(w) = who else { return error(401, "not logged in") };
    let totp = sh.store.lock().ok().and_then(|s| s.user_totp(&w.name).ok()).flatten().is_some();
    let required = sh.second_factor.covers(w.role) && w.via != "loopback";
    json_resp(
        200,
        json!({
            "name": w.name, "role": w.role.as_str(), "via": w.via, "totp": totp,
            "second_factor_required": required, "second_factor_setup_required": required && !totp,
        }),
    )
}

fn scope_matches(scope: &Scope, report: &HostReport, ta_id: &str) -> bool {
    match scope {
        Scope::All => true,
        Scope::Group(g) => *g == report.group,
        Scope::Host(h) => *h == report.host_id,
        Scope::Ta(t) => t == ta_id,
    }
}

/// Key-count gauges of a report: each token's keys, capacity and the
/// lowest key-count rule threshold that applies to it.
fn gauges(sh: &Shared, report: &HostReport) -> Vec<Value> {
    let mut out = Vec::new();
    for ta in &report.tas {
        for t in &ta.tokens {
            let rule = sh
                .rules
                .rules
                .iter()
                .filter(|r| scope_matches(&r.scope, report, &ta.ta_id))
                .filter_map(|r| match r.kind {
                    RuleKind::KeyCountPercent { threshold_percent } => Some((r.id.as_str(), threshold_percent)),
                    _ => None,
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let percent = if t.capacity == 0 { None } else { Some(t.keys as f64 * 100.0 / t.capacity as f64) };
            out.push(json!({
                "ta": ta.ta_id,
                "slot": t.slot,
                "label": t.label,
                "keys": t.keys,
                "capacity": t.capacity,
                "percent": percent,
                "threshold_percent": rule.map(|r| r.1),
                "rule_id": rule.map(|r| r.0),
            }));
        }
    }
    out
}

fn hosts(sh: &Shared, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let hosts = store.hosts().map_err(store_err)?;
    let reports = store.latest_reports().map_err(store_err)?;
    drop(store);
    let list: Vec<_> = hosts
        .iter()
        .map(|h| {
            let report = reports.iter().find(|r| r.host_id == h.id);
            json!({ "host": h, "report": report, "gauges": report.map(|r| gauges(sh, r)).unwrap_or_default() })
        })
        .collect();
    Ok(json_resp(200, json!({ "hosts": list, "now_ms": now, "heartbeat_interval_ms": sh.interval_ms })))
}

fn host(sh: &Shared, id: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let Some(host) = store.host(id).map_err(store_err)? else {
        return Err(error(404, &format!("no host {id:?}; GET /api/hosts lists the enrolled hosts")));
    };
    let report = store.latest_report(id).map_err(store_err)?;
    let desired = super::desired_state::desired_of(&store, id).map_err(store_err)?;
    drop(store);
    let g = report.as_ref().map(|r| gauges(sh, r)).unwrap_or_default();
    Ok(json_resp(
        200,
        json!({
            "host": host, "report": report, "gauges": g, "desired": { "ta_version": desired }, "now_ms": now,
            "heartbeat_interval_ms": sh.interval_ms, "keydist": sh.keydist.is_some(),
        }),
    ))
}

fn samples(sh: &Shared, req: &HttpRequest, id: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let since = query_u64(req, "since_ms", now.saturating_sub(SAMPLES_WINDOW_MS))?;
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    if store.host(id).map_err(store_err)?.is_none() {
        return Err(error(404, &format!("no host {id:?}; GET /api/hosts lists the enrolled hosts")));
    }
    let all = store.samples(id, since).map_err(store_err)?;
    drop(store);
    // At most MAX_SAMPLES points, evenly thinned, always keeping the newest.
    let step = all.len().div_ceil(MAX_SAMPLES).max(1);
    let skip = (all.len().saturating_sub(1)) % step;
    let points: Vec<_> = all.iter().skip(skip).step_by(step).collect();
    Ok(json_resp(200, json!({ "host_id": id, "since_ms": since, "samples": points })))
}

fn host_jobs(sh: &Shared, req: &HttpRequest, id: &str) -> Result<HttpResponse, HttpResponse> {
    let limit = query_u64(req, "limit", 50)?.clamp(1, 1000);
    let offset = query_u64(req, "offset", 0)?;
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    if store.host(id).map_err(store_err)?.is_none() {
        return Err(error(404, &format!("no host {id:?}; GET /api/hosts lists the enrolled hosts")));
    }
    let jobs = store.jobs(Some(id), Page::new(offset, limit)).map_err(store_err)?;
    Ok(json_resp(200, json!({ "host_id": id, "jobs": jobs })))
}

fn alerts(sh: &Shared, req: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let history = query_param(&req.query, "history").is_some();
    let limit = query_u64(req, "limit", 100)?.clamp(1, 1000);
    let offset = query_u64(req, "offset", 0)?;
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let res = if history { store.alert_history(Page::new(offset, limit)) } else { store.firing_alerts() };
    Ok(json_resp(200, json!({ "alerts": res.map_err(store_err)? })))
}

fn ack(sh: &Shared, fingerprint: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let res = {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.ack_alert(fingerprint, actor, now)
    };
    match res {
        Ok(()) => {
            audit(sh, now, actor, "alert_ack", fingerprint, json!({}));
            Ok(json_resp(200, json!({ "acknowledged": fingerprint, "by": actor })))
        }
        Err(StoreError::NotFound { .. }) => Err(error(404, "no firing alert with that fingerprint; GET /api/alerts lists the firing ones")),
        Err(e) => Err(store_err(e)),
    }
}

fn enrollment_token(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let body = body_json(req, "{\"ttl_secs\": 3600}")?;
    let ttl = match &body["ttl_secs"] {
        Value::Null => TOKEN_TTL_SECS,
        v => v.as_u64().ok_or_else(|| error(400, "ttl_secs must be a whole number of seconds, 1 to 2592000"))?,
    };
    if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
        return Err(error(400, "ttl_secs must be 1 to 2592000"));
    }
    let (token, record) = new_token(Duration::from_secs(ttl), now).map_err(|e| error(500, &e.to_string()))?;
    {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.create_enrollment_token(&record.id, &token, now, record.expires_at_ms).map_err(store_err)?;
    }
    tracing::info!(token = %record.id, expires_at_ms = record.expires_at_ms, by = actor, "enrollment token created");
    audit(sh, now, actor, "enrollment_token_create", &record.id, json!({ "expires_at_ms": record.expires_at_ms }));
    Ok(json_resp(201, json!({ "id": record.id, "token": token.as_str(), "expires_at_ms": record.expires_at_ms })))
}

fn audit_log(sh: &Shared, req: &HttpRequest) -> Result<HttpResponse, HttpResponse> {
    let after = query_u64(req, "after", 0)?;
    let limit = query_u64(req, "limit", 200)?.clamp(1, 1000);
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let entries = store.audit_entries(after, limit).map_err(store_err)?;
    Ok(json_resp(200, json!({ "entries": entries })))
}

/// `GET /api/audit/verify`: checks the audit log's MAC chain now, a page
/// at a time, so heartbeats are not held up behind a long log.
fn audit_verify(sh: &Shared) -> Result<HttpResponse, HttpResponse> {
    let mut v = crate::store::AuditVerifier::default();
    while !v.done {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.verify_audit_step(&sh.audit_key, &mut v).map_err(store_err)?;
    }
    let check = v.check;
    super::maintenance::record_audit_check(sh, &check);
    Ok(json_resp(200, json!({ "ok": check.ok(), "check": check })))
}

fn licence(sh: &Shared, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Some(lic) = sh.licence() else {
        return Ok(json_resp(
            200,
            json!({ "installed": false, "message": "no licence is installed: enrollment is not limited (install one with PUT /api/licence, or start the console with --licence; both need --vendor-key)" }),
        ));
    };
    let lic = &lic;
    let n = {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.active_host_count().map_err(store_err)?
    };
    let status = lic.check(now, n);
    Ok(json_resp(200, json!({ "installed": true, "licence": lic, "hosts": n, "status": status, "message": status.message(lic) })))
}

/// `PUT /api/licence`: the body is a licence file from the vendor; it
/// must verify with a `--vendor-key`. Stored, in force at once (enrollment
/// limits, licence alerts) and after a restart without `--licence`.
fn install_licence(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    if sh.vendor_keys.is_empty() {
        return Err(error(409, "this console has no --vendor-key to verify licences with; restart it with --vendor-key <the vendor's public key>"));
    }
    let lic = crate::licence::VerifiedLicence::verify(&req.body, &sh.vendor_keys)
        .map_err(|e| error(400, &format!("the licence was not installed: {e}")))?;
    {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.set_licence(&req.body, now).map_err(store_err)?;
    }
    let details = json!({
        "licence_id": lic.licence_id(),
        "customer": lic.customer(),
        "max_hosts": lic.max_hosts(),
        "expires_ms": lic.expires_ms(),
    });
    tracing::info!(licence = lic.licence_id(), customer = lic.customer(), max_hosts = lic.max_hosts(), %actor, "licence installed");
    *sh.licence.write().unwrap_or_else(|p| p.into_inner()) = Some(lic);
    audit(sh, now, actor, "licence_install", "licence", details);
    licence(sh, now)
}

fn users(sh: &Shared) -> Result<HttpResponse, HttpResponse> {
    let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let with_totp = store.users_with_totp().map_err(store_err)?;
    let list: Vec<_> = store
        .users()
        .map_err(store_err)?
        .into_iter()
        .map(|u| json!({ "name": u.name, "role": u.role, "totp": with_totp.contains(&u.name) }))
        .collect();
    Ok(json_resp(200, json!({ "users": list })))
}

/// Parses a role name.
pub fn parse_role(s: &str) -> Option<Role> {
    match s {
        "admin" => Some(Role::Admin),
        "operator" => Some(Role::Operator),
        "auditor" => Some(Role::Auditor),
        _ => None,
    }
}

fn add_user(sh: &Shared, req: &HttpRequest, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    const EXAMPLE: &str = "{\"name\": \"bob\", \"role\": \"operator\", \"password\": \"at least 12 characters\"}";
    let body = body_json(req, EXAMPLE)?;
    let (Some(name), Some(role), Some(password)) = (body["name"].as_str(), body["role"].as_str(), body["password"].as_str()) else {
        return Err(error(400, &format!("name, role and password are required, e.g. {EXAMPLE}")));
    };
    if !valid_name(name) {
        return Err(error(400, "name must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -"));
    }
    let role = parse_role(role).ok_or_else(|| error(400, "role must be admin, operator or auditor"))?;
    check_new_password(password).map_err(|e| error(400, &e.to_string()))?;
    let password_hash = hash_password(password).map_err(|e| error(500, &e.to_string()))?;
    let res = {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.add_user(&User { name: name.to_owned(), role, password_hash })
    };
    match res {
        Ok(()) => {
            audit(sh, now, actor, "user_add", name, json!({ "role": role.as_str() }));
            Ok(json_resp(201, json!({ "name": name, "role": role })))
        }
        Err(StoreError::AlreadyExists { .. }) => Err(error(409, &format!("user {name} already exists"))),
        Err(e) => Err(store_err(e)),
    }
}

fn delete_user(sh: &Shared, name: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    if name == actor {
        return Err(error(400, "you cannot delete yourself; log in as another admin"));
    }
    let res = {
        let Ok(store) = sh.store.lock() else { return Err(error(500, "internal error")) };
        store.delete_user(name)
    };
    match res {
        Ok(()) => {
            sh.web.remove_user(name);
            audit(sh, now, actor, "user_delete", name, json!({}));
            Ok(json_resp(200, json!({ "deleted": name })))
        }
        Err(StoreError::NotFound { .. }) => Err(error(404, &format!("no user {name}"))),
        Err(e) => Err(store_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_parameters() {
        let (route, params) = find("GET", "/api/hosts/host-1/samples").unwrap();
        assert_eq!(route.path, "/api/hosts/{id}/samples");
        assert_eq!(params, vec!["host-1".to_string()]);
        let (_, params) = find("DELETE", "/api/users/a%40b").unwrap();
        assert_eq!(params, vec!["a@b".to_string()]);
        assert_eq!(find("GET", "/api/nothing"), Err(NoRoute::NotFound));
        assert_eq!(find("PUT", "/api/users"), Err(NoRoute::Method("GET, POST".into())));
        assert_eq!(find("GET", "/api/hosts//samples"), Err(NoRoute::NotFound));
        assert_eq!(find("DELETE", "/api/users/%zz"), Err(NoRoute::NotFound));
    }

    /// Every route is in the OpenAPI document with its method, and every
    /// operation of the document is a route (rollouts and packages, served
    /// by the jobs API, are checked by their prefix).
    #[test]
    fn openapi_lists_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, ops) in paths {
            for method in ops.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    documented.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        for route in ROUTES {
            assert!(
                documented.contains(&(route.method.to_string(), route.path.to_string())),
                "{} {} is not in console/openapi.json",
                route.method,
                route.path
            );
            let op = &paths[route.path][route.method.to_lowercase()];
            // Protected routes say which role they need.
            if let Some(role) = route.need {
                assert_eq!(op["x-required-role"].as_str(), Some(role.as_str()), "{} {}", route.method, route.path);
            } else {
                assert!(op["security"].as_array().is_some_and(|s| s.is_empty()), "{} {} must have security: []", route.method, route.path);
            }
        }
        for (method, path) in &documented {
            let served =
                ROUTES.iter().any(|r| r.method == method && r.path == path) || path.starts_with("/api/rollouts") || path.starts_with("/api/packages");
            assert!(served, "{method} {path} is in console/openapi.json but not served");
        }
    }
}
