//! TA packages, rollouts and the desired state of hosts (schema 2,
//! migrations/0002_rollouts.sql; docs/fleet-console.md, "Rollouts").
//!
//! A rollout queues one `ta_upgrade` job per target host and sets each
//! host's desired `ta_version`. Its status is derived from its jobs:
//! running while any is queued or running; then succeeded (all
//! succeeded), failed (none succeeded) or partial (some succeeded, some
//! failed or rolled back). When a host's job fails or rolls back, the
//! host's desired version returns to what it reports running, so the
//! agent does not try again.

use serde::{Deserialize, Serialize};

use super::convert::{from_db, to_db, Page};
use super::db::{params, Db, Row};
use super::error::{on_conflict, Result, StoreError};
use super::jobs::{Job, JobState};
use super::Store;

/// The job kind a rollout creates.
pub const KIND_TA_UPGRADE: &str = "ta_upgrade";
/// The desired-state item of the active TA version.
pub const ITEM_TA_VERSION: &str = "ta_version";

/// A package the console can hand out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub version: String,
    pub security_version: u64,
    pub platform: String,
    pub manifest_sha256: String,
    pub total_bytes: u64,
    pub added_at_ms: u64,
    pub added_by: String,
}

/// The status of a rollout, derived from its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    Running,
    Succeeded,
    Partial,
    Failed,
}

impl RolloutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Running => "running",
            RolloutStatus::Succeeded => "succeeded",
            RolloutStatus::Partial => "partial",
            RolloutStatus::Failed => "failed",
        }
    }

    /// The status of a rollout whose jobs are in `states`.
    pub fn of(states: &[JobState]) -> Self {
        if states.is_empty() {
            return RolloutStatus::Failed;
        }
        if states.iter().any(|s| matches!(s, JobState::Queued | JobState::Running)) {
            return RolloutStatus::Running;
        }
        let ok = states.iter().filter(|s| **s == JobState::Succeeded).count();
        if ok == states.len() {
            RolloutStatus::Succeeded
        } else if ok == 0 {
            RolloutStatus::Failed
        } else {
            RolloutStatus::Partial
        }
    }
}

/// One host's part of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutHost {
    pub host_id: String,
    pub job: Job,
}

/// A rollout with its per-host jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: u64,
    pub version: String,
    pub created_at_ms: u64,
    pub created_by: String,
    pub status: RolloutStatus,
    pub hosts: Vec<RolloutHost>,
}

/// What [`Store::report_job`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReportOutcome {
    pub job: Job,
    /// The rollout the job belongs to, with its status after the report.
    pub rollout: Option<(u64, RolloutStatus)>,
    /// The desired TA version was reset to this ("" = cleared).
    pub desired_reset: Option<String>,
}

const JOB_COLUMNS: &str = "j.id, j.kind, j.target_host, j.payload_json, j.state, j.created_at_ms, j.updated_at_ms, j.result_json";

/// A job from the columns of [`JOB_COLUMNS`].
fn job_row(r: &Row) -> Result<Job> {
    let payload: String = r.get(3)?;
    let state: String = r.get(4)?;
    let result: Option<String> = r.get(7)?;
    Ok(Job {
        id: from_db(r.get(0)?)?,
        kind: r.get(1)?,
        target_host: r.get(2)?,
        payload: serde_json::from_str(&payload)?,
        state: serde_json::from_value(serde_json::Value::String(state.clone())).map_err(|_| StoreError::Corrupt(format!("job state {state:?}")))?,
        created_at_ms: from_db(r.get(5)?)?,
        updated_at_ms: from_db(r.get(6)?)?,
        result: result.map(|s| serde_json::from_str(&s)).transpose()?,
    })
}

fn package_row(r: &Row) -> Result<PackageRecord> {
    Ok(PackageRecord {
        version: r.get(0)?,
        security_version: from_db(r.get(1)?)?,
        platform: r.get(2)?,
        manifest_sha256: r.get(3)?,
        total_bytes: from_db(r.get(4)?)?,
        added_at_ms: from_db(r.get(5)?)?,
        added_by: r.get(6)?,
    })
}

const PACKAGE_COLUMNS: &str = "version, security_version, platform, manifest_sha256, total_bytes, added_at_ms, added_by";

fn set_desired_in(db: &Db, host: &str, item: &str, value: &str, now: i64) -> Result<()> {
    db.execute("DELETE FROM desired_state WHERE host_id = ?1 AND item = ?2", &params![host, item])?;
    if !value.is_empty() {
        db.execute("INSERT INTO desired_state (host_id, item, value, updated_at_ms) VALUES (?1, ?2, ?3, ?4)", &params![host, item, value, now])?;
    }
    Ok(())
}

impl Store {
    /// Records an imported package; refuses a version already recorded.
    pub fn add_package(&mut self, p: &PackageRecord) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO packages (version, security_version, platform, manifest_sha256, total_bytes, added_at_ms, added_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &params![
                    p.version,
                    to_db(p.security_version)?,
                    p.platform,
                    p.manifest_sha256,
                    to_db(p.total_bytes)?,
                    to_db(p.added_at_ms)?,
                    p.added_by
                ],
            )
            .map_err(|e| on_conflict(e, "package", &p.version))?;
        Ok(())
    }

    /// Every package, by version.
    pub fn packages(&self) -> Result<Vec<PackageRecord>> {
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages ORDER BY version");
        self.db.query(&sql, &[])?.iter().map(package_row).collect()
    }

    /// One package.
    pub fn package(&self, version: &str) -> Result<Option<PackageRecord>> {
        let sql = format!("SELECT {PACKAGE_COLUMNS} FROM packages WHERE version = ?1");
        self.db.query_opt(&sql, &params![version])?.as_ref().map(package_row).transpose()
    }

    /// Creates a rollout of `version` to `hosts` (each must exist and have
    /// no open `ta_upgrade` job): one queued job per host, and each host's
    /// desired TA version set to `version`. All or nothing. Returns the id.
    pub fn create_rollout(&mut self, version: &str, hosts: &[String], actor: &str, now_ms: u64) -> Result<u64> {
        let now = to_db(now_ms)?;
        let tx = self.db.begin()?;
        if tx.query_opt("SELECT version FROM packages WHERE version = ?1", &params![version])?.is_none() {
            return Err(StoreError::NotFound { what: "package", key: version.to_string() });
        }
        let last: i64 = tx.query_one("SELECT COALESCE(MAX(id), 0) FROM rollouts", &[])?.get(0)?;
        let rollout_id = from_db(last)?.saturating_add(1);
        tx.execute(
            "INSERT INTO rollouts (id, version, created_at_ms, created_by) VALUES (?1, ?2, ?3, ?4)",
            &params![to_db(rollout_id)?, version, now, actor],
        )?;
        let payload = serde_json::json!({ "version": version, "rollout_id": rollout_id }).to_string();
        for host in hosts {
            if tx.query_opt("SELECT id FROM hosts WHERE id = ?1", &params![host])?.is_none() {
                return Err(StoreError::NotFound { what: "host", key: host.clone() });
            }
            let open: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM jobs WHERE target_host = ?1 AND kind = ?2 AND state IN ('queued', 'running')",
                    &params![host, KIND_TA_UPGRADE],
                )?
                .get(0)?;
            if open > 0 {
                return Err(StoreError::AlreadyExists { what: "open ta_upgrade job for host", key: host.clone() });
            }
            let last: i64 = tx.query_one("SELECT COALESCE(MAX(id), 0) FROM jobs", &[])?.get(0)?;
            let job_id = to_db(from_db(last)?.saturating_add(1))?;
            tx.execute(
                "INSERT INTO jobs (id, kind, target_host, payload_json, state, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                &params![job_id, KIND_TA_UPGRADE, host, payload, JobState::Queued.as_str(), now],
            )?;
            tx.execute("INSERT INTO rollout_jobs (rollout_id, job_id, host_id) VALUES (?1, ?2, ?3)", &params![to_db(rollout_id)?, job_id, host])
                .map_err(|e| on_conflict(e, "host in rollout", host))?;
            set_desired_in(&tx, host, ITEM_TA_VERSION, version, now)?;
        }
        tx.commit()?;
        Ok(rollout_id)
    }

    /// One rollout with its jobs.
    pub fn rollout(&self, id: u64) -> Result<Option<Rollout>> {
        let Some(head) = self.db.query_opt("SELECT id, version, created_at_ms, created_by FROM rollouts WHERE id = ?1", &params![to_db(id)?])? else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {JOB_COLUMNS}, rj.host_id FROM rollout_jobs rj JOIN jobs j ON j.id = rj.job_id
             WHERE rj.rollout_id = ?1 ORDER BY rj.host_id"
        );
        let mut hosts = Vec::new();
        for r in self.db.query(&sql, &params![to_db(id)?])? {
            hosts.push(RolloutHost { host_id: r.get(8)?, job: job_row(&r)? });
        }
        let states: Vec<JobState> = hosts.iter().map(|h| h.job.state).collect();
        Ok(Some(Rollout {
            id: from_db(head.get(0)?)?,
            version: head.get(1)?,
            created_at_ms: from_db(head.get(2)?)?,
            created_by: head.get(3)?,
            status: RolloutStatus::of(&states),
            hosts,
        }))
    }

    /// Cancels what is left of rollout `id`: every job of it no agent has
    /// started (`queued`) becomes `failed` with a `cancelled` result, and
    /// those hosts' desired TA version is cleared, so the console does not
    /// queue the upgrade again. Jobs already running finish (an upgrade in
    /// progress completes or rolls back); an agent that picks up a job after
    /// it was cancelled has its `running` report refused and does not start
    /// it. Returns the hosts whose jobs were cancelled (empty: nothing was
    /// left to cancel); `NotFound` for an unknown rollout.
    pub fn cancel_rollout(&mut self, id: u64, actor: &str, now_ms: u64) -> Result<Vec<String>> {
        let now = to_db(now_ms)?;
        let tx = self.db.begin()?;
        if tx.query_opt("SELECT id FROM rollouts WHERE id = ?1", &params![to_db(id)?])?.is_none() {
            return Err(StoreError::NotFound { what: "rollout", key: id.to_string() });
        }
        let queued = tx.query(
            "SELECT j.id, rj.host_id FROM rollout_jobs rj JOIN jobs j ON j.id = rj.job_id
             WHERE rj.rollout_id = ?1 AND j.state = 'queued' ORDER BY rj.host_id",
            &params![to_db(id)?],
        )?;
        let result = serde_json::json!({ "cancelled": { "by": actor, "at_ms": now_ms, "rollout": id } }).to_string();
        let mut hosts = Vec::with_capacity(queued.len());
        for r in &queued {
            let job_id: i64 = r.get(0)?;
            let host: String = r.get(1)?;
            tx.execute(
                "UPDATE jobs SET state = 'failed', result_json = ?1, updated_at_ms = ?2 WHERE id = ?3 AND state = 'queued'",
                &params![result.as_str(), now, job_id],
            )?;
            set_desired_in(&tx, &host, ITEM_TA_VERSION, "", now)?;
            hosts.push(host);
        }
        tx.commit()?;
        Ok(hosts)
    }

    /// Rollouts, newest first.
    pub fn rollouts(&self, page: Page) -> Result<Vec<Rollout>> {
        let (limit, offset) = page.params()?;
        let rows = self.db.query("SELECT id FROM rollouts ORDER BY id DESC LIMIT ?1 OFFSET ?2", &params![limit, offset])?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(x) = self.rollout(from_db(r.get(0)?)?)? {
                out.push(x);
            }
        }
        Ok(out)
    }

    /// The host's queued and running jobs, oldest first.
    pub fn open_jobs(&self, host: &str) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.target_host = ?1 AND j.state IN ('queued', 'running') ORDER BY j.id");
        self.db.query(&sql, &params![host])?.iter().map(job_row).collect()
    }

    /// The host's desired value of `item`, if the console has one.
    pub fn desired(&self, host: &str, item: &str) -> Result<Option<String>> {
        self.db.query_opt("SELECT value FROM desired_state WHERE host_id = ?1 AND item = ?2", &params![host, item])?.map(|r| r.get(0)).transpose()
    }

    /// Sets (or, with "", clears) the host's desired value of `item`.
    pub fn set_desired(&mut self, host: &str, item: &str, value: &str, now_ms: u64) -> Result<()> {
        let tx = self.db.begin()?;
        set_desired_in(&tx, host, item, value, to_db(now_ms)?)?;
        tx.commit()
    }

    /// Records an agent's report on its job `job_id`. `host` is the caller
    /// (from its certificate): a job of another host is reported as not
    /// found. A failed or rolled back `ta_upgrade` resets the host's desired
    /// TA version to `active_version` (what it runs now).
    pub fn report_job(
        &mut self,
        host: &str,
        job_id: u64,
        state: JobState,
        result: &serde_json::Value,
        active_version: &str,
        now_ms: u64,
    ) -> Result<JobReportOutcome> {
        let job = match self.job(job_id)? {
            Some(j) if j.target_host == host => j,
            _ => return Err(StoreError::NotFound { what: "job", key: job_id.to_string() }),
        };
        if job.state != state {
            self.update_job(job_id, state, Some(result), now_ms)?;
        } else if job.state == JobState::Running {
            // Progress within "running": keep the newest history.
            self.db.execute(
                "UPDATE jobs SET result_json = ?1, updated_at_ms = ?2 WHERE id = ?3 AND state = 'running'",
                &params![serde_json::to_string(result)?, to_db(now_ms)?, to_db(job_id)?],
            )?;
        } else {
            return Err(StoreError::JobTransition { id: job_id, from: job.state.as_str(), to: state.as_str() });
        }
        let mut desired_reset = None;
        if job.kind == KIND_TA_UPGRADE && matches!(state, JobState::Failed | JobState::RolledBack) {
            self.set_desired(host, ITEM_TA_VERSION, active_version, now_ms)?;
            desired_reset = Some(active_version.to_string());
        }
        let rollout_id: Option<i64> =
            self.db.query_opt("SELECT rollout_id FROM rollout_jobs WHERE job_id = ?1", &params![to_db(job_id)?])?.map(|r| r.get(0)).transpose()?;
        let rollout = match rollout_id {
            Some(id) => self.rollout(from_db(id)?)?.map(|r| (r.id, r.status)),
            None => None,
        };
        let job = self.job(job_id)?.ok_or_else(|| StoreError::NotFound { what: "job", key: job_id.to_string() })?;
        Ok(JobReportOutcome { job, rollout, desired_reset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::{on_both, TestDb};
    use crate::store::NewHost;

    fn pkg(version: &str) -> PackageRecord {
        PackageRecord {
            version: version.into(),
            security_version: 1,
            platform: "sim".into(),
            manifest_sha256: "ab".repeat(32),
            total_bytes: 10,
            added_at_ms: 1,
            added_by: "test".into(),
        }
    }

    fn enroll(store: &mut Store, id: &str) {
        store.create_enrollment_token(id, id, 0, u64::MAX / 4).unwrap();
        let h = NewHost { id: id.into(), name: id.into(), group: "g".into(), enrolled_at_ms: 1, cert_fingerprint: "f".into() };
        store.enroll_host(id, &h, 1).unwrap();
    }

    #[test]
    fn status_from_job_states() {
        use JobState::*;
        assert_eq!(RolloutStatus::of(&[Queued, Succeeded]), RolloutStatus::Running);
        assert_eq!(RolloutStatus::of(&[Succeeded, Succeeded]), RolloutStatus::Succeeded);
        assert_eq!(RolloutStatus::of(&[Succeeded, RolledBack]), RolloutStatus::Partial);
        assert_eq!(RolloutStatus::of(&[Failed, RolledBack]), RolloutStatus::Failed);
        assert_eq!(RolloutStatus::of(&[]), RolloutStatus::Failed);
    }

    on_both!(cancelling_a_rollout_stops_only_unstarted_jobs);

    fn cancelling_a_rollout_stops_only_unstarted_jobs(db: &TestDb) {
        let mut store = db.open(1);
        for h in ["h1", "h2", "h3"] {
            enroll(&mut store, h);
        }
        store.add_package(&pkg("2.0.0")).unwrap();
        assert!(matches!(store.cancel_rollout(7, "op", 5), Err(StoreError::NotFound { what: "rollout", .. })));
        let id = store.create_rollout("2.0.0", &["h1".into(), "h2".into(), "h3".into()], "op", 10).unwrap();
        let job = |store: &Store, h: &str| store.rollout(id).unwrap().unwrap().hosts.into_iter().find(|x| x.host_id == h).unwrap().job;
        // h1 is upgrading already; h2 and h3 have not started.
        let j1 = job(&store, "h1");
        store.report_job("h1", j1.id, JobState::Running, &serde_json::json!({"history": []}), "1.0.0", 11).unwrap();

        assert_eq!(store.cancel_rollout(id, "alice", 20).unwrap(), vec!["h2".to_string(), "h3".to_string()]);
        for h in ["h2", "h3"] {
            let j = job(&store, h);
            assert_eq!(j.state, JobState::Failed, "{h}");
            assert_eq!(j.result.as_ref().unwrap()["cancelled"]["by"], "alice");
            assert_eq!(store.desired(h, ITEM_TA_VERSION).unwrap(), None, "{h}: no desired version left to reconcile to");
            assert!(store.open_jobs(h).unwrap().is_empty());
            // The agent that picked the job up before the cancel cannot start it now.
            let refused = store.report_job(h, j.id, JobState::Running, &serde_json::json!({}), "1.0.0", 21);
            assert!(matches!(refused, Err(StoreError::JobTransition { .. })), "{h}: {refused:?}");
        }
        // The running upgrade is left alone and its host keeps its target.
        assert_eq!(job(&store, "h1").state, JobState::Running);
        assert_eq!(store.desired("h1", ITEM_TA_VERSION).unwrap().as_deref(), Some("2.0.0"));
        assert_eq!(store.rollout(id).unwrap().unwrap().status, RolloutStatus::Running);
        assert!(store.cancel_rollout(id, "alice", 22).unwrap().is_empty(), "nothing left to cancel");
        store.report_job("h1", j1.id, JobState::Succeeded, &serde_json::json!({}), "2.0.0", 30).unwrap();
        assert_eq!(store.rollout(id).unwrap().unwrap().status, RolloutStatus::Partial);
        // A new rollout to the cancelled hosts is possible at once.
        store.create_rollout("2.0.0", &["h2".into()], "op", 40).unwrap();
    }

    on_both!(rollout_lifecycle_partial_and_desired_reset);

    fn rollout_lifecycle_partial_and_desired_reset(db: &TestDb) {
        let mut store = db.open(1);
        for h in ["h1", "h2"] {
            enroll(&mut store, h);
        }
        store.add_package(&pkg("2.0.0")).unwrap();
        assert!(matches!(store.add_package(&pkg("2.0.0")), Err(StoreError::AlreadyExists { .. })));
        assert!(matches!(store.create_rollout("9.9.9", &["h1".into()], "op", 5), Err(StoreError::NotFound { what: "package", .. })));
        assert!(matches!(store.create_rollout("2.0.0", &["h1".into(), "nope".into()], "op", 5), Err(StoreError::NotFound { what: "host", .. })));
        // All or nothing: the failed attempt left no rollout, job or desired state.
        assert!(store.rollouts(Page::new(0, 10)).unwrap().is_empty());
        assert!(store.open_jobs("h1").unwrap().is_empty());
        assert_eq!(store.desired("h1", ITEM_TA_VERSION).unwrap(), None);

        let id = store.create_rollout("2.0.0", &["h1".into(), "h2".into()], "op", 10).unwrap();
        assert!(matches!(store.create_rollout("2.0.0", &["h2".into()], "op", 11), Err(StoreError::AlreadyExists { .. })));
        let r = store.rollout(id).unwrap().unwrap();
        assert_eq!((r.status, r.hosts.len(), r.created_by.as_str()), (RolloutStatus::Running, 2, "op"));
        assert_eq!(store.desired("h2", ITEM_TA_VERSION).unwrap().as_deref(), Some("2.0.0"));
        let j1 = store.open_jobs("h1").unwrap()[0].clone();
        let j2 = store.open_jobs("h2").unwrap()[0].clone();
        assert_eq!(j1.payload["version"], "2.0.0");
        assert_eq!(j1.payload["rollout_id"], id);

        // Another host cannot report h1's job.
        let res = serde_json::json!({ "history": [] });
        assert!(matches!(store.report_job("h2", j1.id, JobState::Running, &res, "1.0.0", 20), Err(StoreError::NotFound { .. })));
        store.report_job("h1", j1.id, JobState::Running, &res, "1.0.0", 20).unwrap();
        // Progress while running is accepted.
        store.report_job("h1", j1.id, JobState::Running, &res, "1.0.0", 21).unwrap();
        let o = store.report_job("h1", j1.id, JobState::Succeeded, &res, "2.0.0", 30).unwrap();
        assert_eq!(o.rollout, Some((id, RolloutStatus::Running)));
        assert_eq!(o.desired_reset, None);
        // Terminal jobs take no more reports.
        assert!(store.report_job("h1", j1.id, JobState::Succeeded, &res, "2.0.0", 31).is_err());

        store.report_job("h2", j2.id, JobState::Running, &res, "1.0.0", 40).unwrap();
        let o = store.report_job("h2", j2.id, JobState::RolledBack, &res, "1.0.0", 50).unwrap();
        assert_eq!(o.rollout, Some((id, RolloutStatus::Partial)));
        assert_eq!(o.desired_reset.as_deref(), Some("1.0.0"));
        assert_eq!(store.desired("h2", ITEM_TA_VERSION).unwrap().as_deref(), Some("1.0.0"));
        assert_eq!(store.desired("h1", ITEM_TA_VERSION).unwrap().as_deref(), Some("2.0.0"));
        assert!(store.open_jobs("h2").unwrap().is_empty());
        let all = store.rollouts(Page::new(0, 10)).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, RolloutStatus::Partial);
        // A new rollout to h2 is allowed now.
        store.create_rollout("2.0.0", &["h2".into()], "op", 60).unwrap();
        store.set_desired("h2", ITEM_TA_VERSION, "", 70).unwrap();
        assert_eq!(store.desired("h2", ITEM_TA_VERSION).unwrap(), None);
    }
}
