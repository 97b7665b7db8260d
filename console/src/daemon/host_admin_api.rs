//! The host's identity from the HTTP API: asking its agent to renew its
//! client certificate now, and revoking a host (docs/fleet-enrollment.md,
//! "Certificate renewal" and "Revoking a host").

use super::http::{error, json_resp, store_err, HttpRequest, HttpResponse};
use super::Shared;
use crate::store::{HostStatus, StoreError};
use serde_json::{json, Value};

/// Longest revocation reason kept in the audit log.
const MAX_REASON: usize = 512;

fn unknown(id: &str) -> HttpResponse {
    error(404, &format!("no host {id:?}; GET /api/hosts lists the enrolled hosts"))
}

/// `POST /api/hosts/{id}/agent-certificate/renew`: the next heartbeat
/// answer asks the agent to renew (new key, new certificate); done when the
/// agent first calls with the new certificate.
pub fn renew_certificate(sh: &Shared, id: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    match store.host(id).map_err(store_err)? {
        Some(h) if h.status == HostStatus::Active => {}
        Some(h) => return Err(error(409, &format!("host {id:?} is {}; only active hosts renew certificates", h.status.as_str()))),
        None => return Err(unknown(id)),
    }
    store.request_cert_renewal(id).map_err(store_err)?;
    store.append_audit(now, actor, "agent_certificate.renew_requested", id, &json!({})).map_err(store_err)?;
    tracing::info!(host = %id, by = %actor, "agent certificate renewal requested");
    Ok(json_resp(202, json!({ "host": id, "renew_requested": true })))
}

/// `POST /api/hosts/{id}/revoke` `{"reason"?}`: the host's certificates
/// stop authenticating at once (its agent's next call is refused), its
/// open jobs fail and the rollouts waiting for it move on, its alerts
/// resolve, and it no longer counts against the licence. Final; `DELETE
/// /api/hosts/{id}` then frees the id for a new enrollment.
pub fn revoke(sh: &Shared, req: &HttpRequest, id: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body).map_err(|e| error(400, &format!("the body is not JSON ({e}); send {{\"reason\": \"...\"}} or nothing")))?
    };
    let reason = match body.get("reason") {
        None | Some(Value::Null) => "",
        Some(Value::String(r)) if r.len() <= MAX_REASON => r.as_str(),
        Some(Value::String(_)) => return Err(error(400, &format!("reason is longer than {MAX_REASON} bytes"))),
        Some(_) => return Err(error(400, "reason must be a string")),
    };
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    let failed_jobs = match store.revoke_host(id, actor, now) {
        Ok(jobs) => jobs,
        Err(StoreError::NotFound { .. }) => return Err(unknown(id)),
        Err(StoreError::HostState(why)) => return Err(error(409, &why)),
        Err(e) => return Err(store_err(e)),
    };
    store.append_audit(now, actor, "host.revoke", id, &json!({ "reason": reason, "failed_jobs": failed_jobs })).map_err(store_err)?;
    tracing::warn!(host = %id, by = %actor, reason, failed_jobs = failed_jobs.len(), "host revoked");
    Ok(json_resp(200, json!({ "host": id, "status": "revoked", "failed_jobs": failed_jobs })))
}

/// `DELETE /api/hosts/{id}`: forgets a revoked host (record, reports,
/// samples, desired state; jobs, alerts and the audit log keep its
/// history), so the machine can enroll again under the same id.
pub fn delete(sh: &Shared, id: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    match store.delete_host(id) {
        Ok(()) => {}
        Err(StoreError::NotFound { .. }) => return Err(unknown(id)),
        Err(StoreError::HostState(why)) => return Err(error(409, &why)),
        Err(e) => return Err(store_err(e)),
    }
    store.append_audit(now, actor, "host.delete", id, &json!({})).map_err(store_err)?;
    tracing::info!(host = %id, by = %actor, "revoked host deleted");
    Ok(json_resp(200, json!({ "deleted": id })))
}
