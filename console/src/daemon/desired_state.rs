//! A host's desired TA version and the package jobs of one host
//! (docs/fleet-console.md, "Desired state"):
//!
//! - `PUT /api/hosts/{id}/desired` `{"ta_version": "2.0.0"}` (`""` clears
//!   it) says which imported package should be active on the host;
//! - [`reconcile`], on every heartbeat, queues a `ta_upgrade` job (payload
//!   `"reconcile": true`) when a host that manages packages reports another
//!   active version and has no package job open, so the host converges
//!   whether the difference came from the API, a host that was offline
//!   during a rollout, or a change made on the host itself. A job that fails
//!   or rolls back resets the desired version to what the host runs
//!   (`Store::report_job`), so a broken version is not retried forever;
//! - `POST /api/hosts/{id}/ta/install` `{"version"}` stages an imported
//!   version on the host without switching (`ta_install`);
//! - `POST /api/hosts/{id}/ta/uninstall` `{"version"}` removes a version
//!   that is not active (`ta_uninstall`).

use super::http::{error, json_resp, store_err as internal, HttpRequest, HttpResponse};
use super::Shared;
use crate::alerts::HostReport;
use crate::store::{HostStatus, Job, Page, Store, StoreError, ITEM_TA_VERSION, KIND_TA_UPGRADE};
use serde_json::{json, Value};

pub const KIND_TA_INSTALL: &str = "ta_install";
pub const KIND_TA_UNINSTALL: &str = "ta_uninstall";
/// The job kinds that change a host's packages (at most one open at a time
/// is started by [`reconcile`]).
const PACKAGE_KINDS: [&str; 3] = [KIND_TA_UPGRADE, KIND_TA_INSTALL, KIND_TA_UNINSTALL];

fn body_version(req: &HttpRequest, field: &str) -> Result<String, HttpResponse> {
    let shape = format!("{{\"{field}\": \"2.0.0\"}}");
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| error(400, &format!("expected {shape}: {e}")))?;
    let o = v.as_object().ok_or_else(|| error(400, &format!("expected {shape}")))?;
    if let Some(k) = o.keys().find(|k| k.as_str() != field) {
        return Err(error(400, &format!("unknown field {k:?}; expected {shape}")));
    }
    let version = o.get(field).and_then(Value::as_str).ok_or_else(|| error(400, &format!("\"{field}\" (a string) is required; expected {shape}")))?;
    Ok(version.to_owned())
}

/// The active host `id`, or the error answer.
fn active_host(store: &Store, id: &str) -> Result<(), HttpResponse> {
    match store.host(id).map_err(internal)? {
        Some(h) if h.status == HostStatus::Active => Ok(()),
        Some(_) => Err(error(409, &format!("host {id:?} is not active"))),
        None => Err(error(404, &format!("no host {id:?}; GET /api/hosts lists the enrolled hosts"))),
    }
}

/// `version` must be an imported package.
fn imported(store: &Store, version: &str) -> Result<(), HttpResponse> {
    if teehsm_agent::package::validate_version(version).is_err() {
        return Err(error(400, &format!("{version:?} is not a package version (letters, digits, '.', '-', '_', '+')")));
    }
    match store.package(version).map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(error(404, &format!("package version {version:?} is not imported; import it with teehsm-console package add"))),
    }
}

/// What host `id` last reported, if anything.
fn latest_report(store: &Store, id: &str) -> Result<Option<HostReport>, HttpResponse> {
    store.latest_report(id).map_err(internal)
}

fn audit(store: &mut Store, now: u64, actor: &str, action: &str, host: &str, details: &Value) {
    if let Err(e) = store.append_audit(now, actor, action, host, details) {
        tracing::error!(error = %e, "cannot audit {action}");
    }
}

/// `PUT /api/hosts/{id}/desired`.
pub fn put_desired(sh: &Shared, req: &HttpRequest, id: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let version = body_version(req, "ta_version")?;
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    active_host(&store, id)?;
    if !version.is_empty() {
        imported(&store, &version)?;
    }
    store.set_desired(id, ITEM_TA_VERSION, &version, now).map_err(internal)?;
    audit(&mut store, now, actor, "host.desired", id, &json!({ "ta_version": version }));
    tracing::info!(host = %id, ta_version = %version, %actor, "desired TA version set");
    let managed = latest_report(&store, id)?.and_then(|r| r.packages).is_some();
    let note = if managed || version.is_empty() {
        ""
    } else {
        "the host's agent does not manage packages (no --package-root): nothing will converge until it does"
    };
    Ok(json_resp(200, json!({ "host_id": id, "ta_version": version, "note": note })))
}

/// `GET` part of a host: its desired TA version ("" = none).
pub fn desired_of(store: &Store, id: &str) -> Result<String, StoreError> {
    Ok(store.desired(id, ITEM_TA_VERSION)?.unwrap_or_default())
}

/// `POST /api/hosts/{id}/ta/install`.
pub fn install(sh: &Shared, req: &HttpRequest, id: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let version = body_version(req, "version")?;
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    active_host(&store, id)?;
    imported(&store, &version)?;
    queue(&mut store, id, KIND_TA_INSTALL, &version, actor, now)
}

/// `POST /api/hosts/{id}/ta/uninstall`.
pub fn uninstall(sh: &Shared, req: &HttpRequest, id: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let version = body_version(req, "version")?;
    if teehsm_agent::package::validate_version(&version).is_err() {
        return Err(error(400, &format!("{version:?} is not a package version")));
    }
    let Ok(mut store) = sh.store.lock() else { return Err(error(500, "internal error")) };
    active_host(&store, id)?;
    if let Some(p) = latest_report(&store, id)?.and_then(|r| r.packages) {
        if p.active == version {
            return Err(error(409, &format!("{version} is the active TA version on {id}; roll out another version first")));
        }
    }
    if desired_of(&store, id).map_err(internal)? == version {
        return Err(error(409, &format!("{version} is the desired TA version of {id}; change it first (PUT /api/hosts/{id}/desired)")));
    }
    queue(&mut store, id, KIND_TA_UNINSTALL, &version, actor, now)
}

fn queue(store: &mut Store, id: &str, kind: &str, version: &str, actor: &str, now: u64) -> Result<HttpResponse, HttpResponse> {
    let payload = json!({ "version": version });
    let job = store.create_job(kind, id, &payload, now).map_err(internal)?;
    audit(store, now, actor, &format!("job.{kind}"), id, &json!({ "job": job, "version": version }));
    tracing::info!(host = %id, job, kind, version, %actor, "package job queued");
    Ok(json_resp(201, json!({ "job_id": job, "host": id, "kind": kind })))
}

/// Whether a host that reported `report`, with `open` jobs, should get a
/// `ta_upgrade` job to `desired`; `recent` are its newest jobs (any state).
/// A package job finished less than `settle_ms` before `now` holds the
/// reconciler back, since the report may predate it.
pub fn needs_upgrade(desired: &str, report: &HostReport, open: &[Job], recent: &[Job], now: u64, settle_ms: u64) -> bool {
    let Some(p) = &report.packages else { return false };
    if desired.is_empty() || p.active == desired {
        return false;
    }
    if open.iter().any(|j| PACKAGE_KINDS.contains(&j.kind.as_str())) {
        return false;
    }
    !recent.iter().any(|j| PACKAGE_KINDS.contains(&j.kind.as_str()) && now.saturating_sub(j.updated_at_ms) < settle_ms)
}

/// Called on each heartbeat after the report is stored, with the host's
/// desired TA version and open jobs the heartbeat answer carries anyway:
/// queues a reconciling `ta_upgrade` when [`needs_upgrade`] says so.
/// Returns the new job's id. A converged host costs no query.
pub fn reconcile(
    store: &mut Store,
    report: &HostReport,
    desired: Option<&str>,
    open: &[Job],
    now: u64,
    settle_ms: u64,
) -> Result<Option<u64>, StoreError> {
    let (Some(packages), Some(desired)) = (&report.packages, desired) else { return Ok(None) };
    if desired.is_empty() || packages.active == desired {
        return Ok(None);
    }
    let host = &report.host_id;
    let recent = store.jobs(Some(host), Page::new(0, 10))?;
    if !needs_upgrade(desired, report, open, &recent, now, settle_ms) {
        return Ok(None);
    }
    let from = packages.active.clone();
    let job = store.create_job(KIND_TA_UPGRADE, host, &json!({ "version": desired, "reconcile": true }), now)?;
    store.append_audit(now, "console", "job.ta_upgrade", host, &json!({ "job": job, "version": desired, "from": from, "reason": "reconcile" }))?;
    tracing::info!(host = %host, job, from = %from, to = %desired, "host differs from its desired TA version; upgrade queued");
    Ok(Some(job))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::PackageInventory;
    use crate::store::JobState;

    fn report(active: Option<&str>) -> HostReport {
        HostReport {
            host_id: "h".into(),
            group: "g".into(),
            reported_at_ms: 0,
            tas: vec![],
            ta_cpu_percent: 0.0,
            ta_memory_bytes: 0,
            ca_cpu_percent: 0.0,
            ca_memory_bytes: 0,
            memory_limit_bytes: 0,
            packages: active.map(|a| PackageInventory { active: a.into(), previous: String::new(), installed: vec![a.into()] }),
        }
    }

    fn job(kind: &str, state: JobState, updated: u64) -> Job {
        Job { id: 1, kind: kind.into(), target_host: "h".into(), payload: json!({}), state, created_at_ms: 0, updated_at_ms: updated, result: None }
    }

    #[test]
    fn upgrade_only_when_managed_different_and_settled() {
        let r1 = report(Some("1.0.0"));
        assert!(needs_upgrade("2.0.0", &r1, &[], &[], 10_000, 1000));
        // No opinion, already there, or an agent without packages.
        assert!(!needs_upgrade("", &r1, &[], &[], 10_000, 1000));
        assert!(!needs_upgrade("1.0.0", &r1, &[], &[], 10_000, 1000));
        assert!(!needs_upgrade("2.0.0", &report(None), &[], &[], 10_000, 1000));
        // A first install: nothing active yet.
        assert!(needs_upgrade("2.0.0", &report(Some("")), &[], &[], 10_000, 1000));
        // A package job open, or one that just finished, holds it back;
        // other jobs do not.
        let open = [job(KIND_TA_INSTALL, JobState::Queued, 0)];
        assert!(!needs_upgrade("2.0.0", &r1, &open, &[], 10_000, 1000));
        let csr = [job("generate_csr", JobState::Running, 0)];
        assert!(needs_upgrade("2.0.0", &r1, &csr, &[], 10_000, 1000));
        let just = [job(KIND_TA_UPGRADE, JobState::Succeeded, 9_500)];
        assert!(!needs_upgrade("2.0.0", &r1, &[], &just, 10_000, 1000));
        let old = [job(KIND_TA_UPGRADE, JobState::Succeeded, 5_000)];
        assert!(needs_upgrade("2.0.0", &r1, &[], &old, 10_000, 1000));
    }
}
