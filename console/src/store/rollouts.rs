//! TA packages, rollouts and the desired state of hosts (schema 2,
//! migrations/0002_rollouts.sql; docs/fleet-console.md, "Rollouts").
//!
//! A rollout queues one `ta_upgrade` job per target host and sets each
//! host's desired `ta_version`. A staged rollout (schema 3,
//! migrations/0003_rollout_waves.sql) does so one wave of hosts at a time:
//! the next wave is queued when every job of the previous one has ended,
//! unless one failed and the rollout stops on failure, in which case the
//! hosts still waiting are skipped, or an operator paused it (schema 5:
//! no wave is queued until it is resumed). Its status is derived from its jobs
//! and waiting hosts: running while any job is queued or running or a wave
//! is pending; then succeeded (all succeeded), failed (none succeeded),
//! partial (some succeeded, some failed or rolled back) or halted (hosts
//! were skipped). When a host's job fails or rolls back, the host's
//! desired version returns to what it reports running, so the agent does
//! not try again.

use serde::{Deserialize, Serialize};

use super::convert::{from_db, opt_from_db, to_db, Page};
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
    /// Stopped before every host got its job (hosts were skipped).
    Halted,
    /// Hosts wait for their wave, and an operator paused the rollout.
    Paused,
}

impl RolloutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Running => "running",
            RolloutStatus::Succeeded => "succeeded",
            RolloutStatus::Partial => "partial",
            RolloutStatus::Failed => "failed",
            RolloutStatus::Halted => "halted",
            RolloutStatus::Paused => "paused",
        }
    }

    /// The status of a staged rollout: [`RolloutStatus::of`] its jobs,
    /// running while hosts wait for their wave, halted when some were skipped.
    /// `paused`: paused while hosts wait for their wave.
    pub fn of_staged(states: &[JobState], waiting: &[WaitingHost], paused: bool) -> Self {
        let jobs = Self::of(states);
        let pending = waiting.iter().any(|w| w.state == WaitState::Pending);
        if paused && pending {
            RolloutStatus::Paused
        } else if jobs == RolloutStatus::Running || pending {
            RolloutStatus::Running
        } else if !waiting.is_empty() {
            RolloutStatus::Halted
        } else {
            jobs
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
    /// The wave (0, 1, ...) the host's job was queued in.
    pub wave: u64,
    pub job: Job,
}

/// Whether a host without a job yet waits for its wave or was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitState {
    Pending,
    Skipped,
}

/// A host of a staged rollout that has no job (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingHost {
    pub host_id: String,
    pub wave: u64,
    pub state: WaitState,
    /// Why it was skipped ("" while pending).
    pub note: String,
}

/// A rollout with its per-host jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: u64,
    pub version: String,
    pub created_at_ms: u64,
    pub created_by: String,
    pub status: RolloutStatus,
    /// Waves of a staged rollout (1: all hosts at once).
    pub waves: u64,
    /// Whether a failed host stops the waves after its own.
    pub stop_on_failure: bool,
    /// Who paused it and when, while paused.
    pub paused_by: Option<String>,
    pub paused_at_ms: Option<u64>,
    pub hosts: Vec<RolloutHost>,
    /// Hosts whose wave has not been queued, or that were skipped.
    pub waiting: Vec<WaitingHost>,
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

/// How many jobs of rollout `id` are in one of `states`.
fn jobs_in_states(db: &Db, id: u64, states: &[JobState]) -> Result<i64> {
    let list = states.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT COUNT(*) FROM rollout_jobs rj JOIN jobs j ON j.id = rj.job_id WHERE rj.rollout_id = ?1 AND j.state IN ({list})");
    db.query_one(&sql, &params![to_db(id)?])?.get(0)
}

/// Whether `host` has an open `ta_upgrade` job or waits for a later wave
/// of a rollout other than `except` (rollout ids start at 1; 0: any).
fn upgrade_open_or_waiting(db: &Db, host: &str, except: u64) -> Result<bool> {
    let open: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM jobs WHERE target_host = ?1 AND kind = ?2 AND state IN ('queued', 'running')",
            &params![host, KIND_TA_UPGRADE],
        )?
        .get(0)?;
    let waiting: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM rollout_waiting WHERE host_id = ?1 AND state = 'pending' AND rollout_id <> ?2",
            &params![host, to_db(except)?],
        )?
        .get(0)?;
    Ok(open + waiting > 0)
}

/// Queues `host`'s `ta_upgrade` job of rollout `rollout_id` in `wave` and sets its desired version.
fn queue_host(db: &Db, rollout_id: u64, version: &str, host: &str, wave: u64, now: i64) -> Result<()> {
    let payload = serde_json::json!({ "version": version, "rollout_id": rollout_id }).to_string();
    let last: i64 = db.query_one("SELECT COALESCE(MAX(id), 0) FROM jobs", &[])?.get(0)?;
    let job_id = to_db(from_db(last)?.saturating_add(1))?;
    db.execute(
        "INSERT INTO jobs (id, kind, target_host, payload_json, state, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        &params![job_id, KIND_TA_UPGRADE, host, payload, JobState::Queued.as_str(), now],
    )?;
    db.execute(
        "INSERT INTO rollout_jobs (rollout_id, job_id, host_id, wave) VALUES (?1, ?2, ?3, ?4)",
        &params![to_db(rollout_id)?, job_id, host, to_db(wave)?],
    )
    .map_err(|e| on_conflict(e, "host in rollout", host))?;
    set_desired_in(db, host, ITEM_TA_VERSION, version, now)
}

/// One rollout with its jobs and waiting hosts, read through `db`.
fn rollout_in(db: &Db, id: u64) -> Result<Option<Rollout>> {
    let Some(head) = db.query_opt(
        "SELECT id, version, created_at_ms, created_by, stop_on_failure, paused_by, paused_at_ms FROM rollouts WHERE id = ?1",
        &params![to_db(id)?],
    )?
    else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {JOB_COLUMNS}, rj.host_id, rj.wave FROM rollout_jobs rj JOIN jobs j ON j.id = rj.job_id
         WHERE rj.rollout_id = ?1 ORDER BY rj.wave, rj.host_id"
    );
    let mut hosts = Vec::new();
    for r in db.query(&sql, &params![to_db(id)?])? {
        hosts.push(RolloutHost { host_id: r.get(8)?, wave: from_db(r.get(9)?)?, job: job_row(&r)? });
    }
    let mut waiting = Vec::new();
    for r in db.query("SELECT host_id, wave, state, note FROM rollout_waiting WHERE rollout_id = ?1 ORDER BY wave, host_id", &params![to_db(id)?])? {
        let state: String = r.get(2)?;
        let state = match state.as_str() {
            "pending" => WaitState::Pending,
            "skipped" => WaitState::Skipped,
            other => return Err(StoreError::Corrupt(format!("rollout_waiting state {other:?}"))),
        };
        waiting.push(WaitingHost { host_id: r.get(0)?, wave: from_db(r.get(1)?)?, state, note: r.get(3)? });
    }
    let states: Vec<JobState> = hosts.iter().map(|h| h.job.state).collect();
    let waves = hosts.iter().map(|h| h.wave).chain(waiting.iter().map(|w| w.wave)).max().map_or(1, |w| w + 1);
    let stop_on_failure: i64 = head.get(4)?;
    let paused_by: Option<String> = head.get(5)?;
    Ok(Some(Rollout {
        id: from_db(head.get(0)?)?,
        version: head.get(1)?,
        created_at_ms: from_db(head.get(2)?)?,
        created_by: head.get(3)?,
        status: RolloutStatus::of_staged(&states, &waiting, paused_by.is_some()),
        waves,
        stop_on_failure: stop_on_failure != 0,
        paused_at_ms: opt_from_db(head.get(6)?)?,
        paused_by,
        hosts,
        waiting,
    }))
}

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
        self.create_staged_rollout(version, &[hosts.to_vec()], false, actor, now_ms)
    }

    /// A rollout in `waves` (each a non-empty list of hosts; a host in one
    /// wave only): the first wave's jobs are queued now, each later wave's
    /// when every job of the wave before it has ended ([`Store::report_job`]);
    /// with `stop_on_failure`, a failed or rolled back job instead skips the
    /// hosts still waiting. Only queued hosts get the desired version.
    pub fn create_staged_rollout(&mut self, version: &str, waves: &[Vec<String>], stop_on_failure: bool, actor: &str, now_ms: u64) -> Result<u64> {
        let now = to_db(now_ms)?;
        let tx = self.db.begin()?;
        if tx.query_opt("SELECT version FROM packages WHERE version = ?1", &params![version])?.is_none() {
            return Err(StoreError::NotFound { what: "package", key: version.to_string() });
        }
        let last: i64 = tx.query_one("SELECT COALESCE(MAX(id), 0) FROM rollouts", &[])?.get(0)?;
        let rollout_id = from_db(last)?.saturating_add(1);
        tx.execute(
            "INSERT INTO rollouts (id, version, created_at_ms, created_by, stop_on_failure) VALUES (?1, ?2, ?3, ?4, ?5)",
            &params![to_db(rollout_id)?, version, now, actor, i64::from(stop_on_failure)],
        )?;
        let mut seen = std::collections::HashSet::new();
        for (wave, hosts) in waves.iter().enumerate() {
            for host in hosts {
                if !seen.insert(host.as_str()) {
                    return Err(StoreError::AlreadyExists { what: "host in rollout", key: host.clone() });
                }
                if tx.query_opt("SELECT id FROM hosts WHERE id = ?1", &params![host])?.is_none() {
                    return Err(StoreError::NotFound { what: "host", key: host.clone() });
                }
                if upgrade_open_or_waiting(&tx, host, 0)? {
                    return Err(StoreError::AlreadyExists { what: "open ta_upgrade job for host", key: host.clone() });
                }
                if wave == 0 {
                    queue_host(&tx, rollout_id, version, host, 0, now)?;
                } else {
                    tx.execute(
                        "INSERT INTO rollout_waiting (rollout_id, host_id, wave, state, note) VALUES (?1, ?2, ?3, 'pending', '')",
                        &params![to_db(rollout_id)?, host, to_db(wave as u64)?],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(rollout_id)
    }

    /// One rollout with its jobs.
    pub fn rollout(&self, id: u64) -> Result<Option<Rollout>> {
        rollout_in(&self.db, id)
    }

    /// Cancels what is left of rollout `id`: every job of it no agent has
    /// started (`queued`) becomes `failed` with a `cancelled` result, hosts
    /// waiting for a later wave are skipped, and the queued hosts' desired
    /// TA version is cleared, so the console does not
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
        let waiting =
            tx.query("SELECT host_id FROM rollout_waiting WHERE rollout_id = ?1 AND state = 'pending' ORDER BY host_id", &params![to_db(id)?])?;
        tx.execute(
            "UPDATE rollout_waiting SET state = 'skipped', note = ?1 WHERE rollout_id = ?2 AND state = 'pending'",
            &params![format!("cancelled by {actor}"), to_db(id)?],
        )?;
        for r in &waiting {
            hosts.push(r.get::<String>(0)?);
        }
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
        hosts.sort();
        Ok(hosts)
    }

    /// Pauses rollout `id` between waves: no further wave is queued until
    /// [`Store::resume_rollout`]; jobs already queued or running go on.
    /// `NotFound`; `NothingToPause` when no host waits for a wave (or it is
    /// paused already).
    pub fn pause_rollout(&mut self, id: u64, actor: &str, now_ms: u64) -> Result<()> {
        let tx = self.db.begin()?;
        let Some(r) = rollout_in(&tx, id)? else { return Err(StoreError::NotFound { what: "rollout", key: id.to_string() }) };
        if let Some(by) = r.paused_by {
            return Err(StoreError::RolloutState(format!("rollout {id} is paused already (by {by})")));
        }
        if !r.waiting.iter().any(|w| w.state == WaitState::Pending) {
            return Err(StoreError::RolloutState(format!("rollout {id} has no wave left to hold back; cancel it to stop queued jobs")));
        }
        tx.execute("UPDATE rollouts SET paused_by = ?1, paused_at_ms = ?2 WHERE id = ?3", &params![actor, to_db(now_ms)?, to_db(id)?])?;
        tx.commit()
    }

    /// Resumes a paused rollout and queues its next wave if the previous
    /// one has ended; returns the hosts queued now.
    pub fn resume_rollout(&mut self, id: u64, now_ms: u64) -> Result<Vec<String>> {
        let n = self
            .db
            .execute("UPDATE rollouts SET paused_by = NULL, paused_at_ms = NULL WHERE id = ?1 AND paused_by IS NOT NULL", &params![to_db(id)?])?;
        if n == 0 {
            return match self.rollout(id)? {
                None => Err(StoreError::NotFound { what: "rollout", key: id.to_string() }),
                Some(_) => Err(StoreError::RolloutState(format!("rollout {id} is not paused"))),
            };
        }
        self.advance_rollout(id, now_ms)
    }

    /// Queues the next wave of rollout `id` once no job of it is queued or
    /// running (or, with stop_on_failure after a failure, skips the hosts
    /// still waiting); nothing while it is paused. Returns the hosts queued.
    pub fn advance_rollout(&mut self, id: u64, now_ms: u64) -> Result<Vec<String>> {
        let now = to_db(now_ms)?;
        let tx = self.db.begin()?;
        let Some(head) = tx.query_opt("SELECT version, stop_on_failure, paused_by FROM rollouts WHERE id = ?1", &params![to_db(id)?])? else {
            return Ok(Vec::new());
        };
        let (version, stop_on_failure): (String, i64) = (head.get(0)?, head.get(1)?);
        if head.get::<Option<String>>(2)?.is_some() {
            return Ok(Vec::new());
        }
        let mut queued = Vec::new();
        loop {
            if jobs_in_states(&tx, id, &[JobState::Queued, JobState::Running])? > 0 {
                break;
            }
            let next: Option<i64> =
                tx.query_one("SELECT MIN(wave) FROM rollout_waiting WHERE rollout_id = ?1 AND state = 'pending'", &params![to_db(id)?])?.get(0)?;
            let Some(wave) = next else { break };
            if stop_on_failure != 0 && jobs_in_states(&tx, id, &[JobState::Failed, JobState::RolledBack])? > 0 {
                tx.execute(
                    "UPDATE rollout_waiting SET state = 'skipped', note = 'a host of an earlier wave failed (stop_on_failure)'
                     WHERE rollout_id = ?1 AND state = 'pending'",
                    &params![to_db(id)?],
                )?;
                break;
            }
            let hosts = tx.query(
                "SELECT host_id FROM rollout_waiting WHERE rollout_id = ?1 AND state = 'pending' AND wave = ?2 ORDER BY host_id",
                &params![to_db(id)?, wave],
            )?;
            for r in &hosts {
                let host: String = r.get(0)?;
                if upgrade_open_or_waiting(&tx, &host, id)? {
                    tx.execute(
                        "UPDATE rollout_waiting SET state = 'skipped', note = 'another ta_upgrade job was open on the host' WHERE rollout_id = ?1 AND host_id = ?2",
                        &params![to_db(id)?, host.as_str()],
                    )?;
                    continue;
                }
                tx.execute("DELETE FROM rollout_waiting WHERE rollout_id = ?1 AND host_id = ?2", &params![to_db(id)?, host.as_str()])?;
                queue_host(&tx, id, &version, &host, from_db(wave)?, now)?;
                queued.push(host);
            }
        }
        tx.commit()?;
        Ok(queued)
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
            Some(id) => {
                if state != JobState::Running {
                    self.advance_rollout(from_db(id)?, now_ms)?;
                }
                self.rollout(from_db(id)?)?.map(|r| (r.id, r.status))
            }
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

    use crate::store::testutil::package as pkg;

    fn enroll(store: &mut Store, id: &str) {
        store.create_enrollment_token(id, id, 0, u64::MAX / 4).unwrap();
        let h =
            NewHost { id: id.into(), name: id.into(), group: "g".into(), enrolled_at_ms: 1, cert_fingerprint: "f".into(), cert_not_after_ms: None };
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

    on_both!(staged_rollouts_queue_wave_after_wave);

    fn staged_rollouts_queue_wave_after_wave(db: &TestDb) {
        let mut store = db.open(1);
        for h in ["h1", "h2", "h3", "h4", "h5"] {
            enroll(&mut store, h);
        }
        store.add_package(&pkg("2.0.0")).unwrap();
        let ok = serde_json::json!({"history": []});
        let run = |store: &mut Store, host: &str, end: JobState, active: &str| {
            let j = store.open_jobs(host).unwrap()[0].clone();
            store.report_job(host, j.id, JobState::Running, &ok, "1.0.0", 20).unwrap();
            store.report_job(host, j.id, end, &ok, active, 21).unwrap()
        };
        let waves = vec![vec!["h1".to_string()], vec!["h2".to_string(), "h3".to_string()], vec!["h4".to_string()]];
        let dup = vec![vec!["h1".to_string()], vec!["h1".to_string()]];
        assert!(matches!(store.create_staged_rollout("2.0.0", &dup, true, "op", 5), Err(StoreError::AlreadyExists { .. })));
        let id = store.create_staged_rollout("2.0.0", &waves, true, "op", 10).unwrap();
        let r = store.rollout(id).unwrap().unwrap();
        assert_eq!((r.status, r.waves, r.stop_on_failure, r.hosts.len(), r.waiting.len()), (RolloutStatus::Running, 3, true, 1, 3));
        // Only wave 0 is queued and has a desired version; waiting hosts cannot join another rollout.
        assert!(store.open_jobs("h2").unwrap().is_empty());
        assert_eq!(store.desired("h2", ITEM_TA_VERSION).unwrap(), None);
        assert!(matches!(store.create_rollout("2.0.0", &["h4".into()], "op", 11), Err(StoreError::AlreadyExists { .. })));

        // Wave 0 succeeds: wave 1 is queued (both hosts), wave 2 still waits.
        let out = run(&mut store, "h1", JobState::Succeeded, "2.0.0");
        assert_eq!(out.rollout, Some((id, RolloutStatus::Running)));
        assert_eq!(store.open_jobs("h2").unwrap().len(), 1);
        assert_eq!(store.open_jobs("h3").unwrap().len(), 1);
        assert_eq!(store.desired("h3", ITEM_TA_VERSION).unwrap().as_deref(), Some("2.0.0"));
        assert!(store.open_jobs("h4").unwrap().is_empty());
        // h2 rolls back: wave 1 is not over until h3 ends; then wave 2 is skipped (stop_on_failure).
        run(&mut store, "h2", JobState::RolledBack, "1.0.0");
        assert!(store.open_jobs("h4").unwrap().is_empty());
        let out = run(&mut store, "h3", JobState::Succeeded, "2.0.0");
        assert_eq!(out.rollout, Some((id, RolloutStatus::Halted)));
        let r = store.rollout(id).unwrap().unwrap();
        assert_eq!(r.hosts.iter().map(|h| (h.host_id.as_str(), h.wave)).collect::<Vec<_>>(), vec![("h1", 0), ("h2", 1), ("h3", 1)]);
        assert_eq!(r.waiting.len(), 1);
        assert_eq!((r.waiting[0].host_id.as_str(), r.waiting[0].state, r.waiting[0].wave), ("h4", WaitState::Skipped, 2));
        assert!(r.waiting[0].note.contains("stop_on_failure"), "{:?}", r.waiting[0]);
        assert!(store.open_jobs("h4").unwrap().is_empty());

        // Without stop_on_failure the waves go on after a failure; a cancel skips what still waits.
        let waves = vec![vec!["h4".to_string()], vec!["h5".to_string()], vec!["h1".to_string()]];
        let id = store.create_staged_rollout("2.0.0", &waves, false, "op", 30).unwrap();
        run(&mut store, "h4", JobState::Failed, "1.0.0");
        assert_eq!(store.open_jobs("h5").unwrap().len(), 1, "wave 1 queued after a failure");
        assert_eq!(store.cancel_rollout(id, "alice", 40).unwrap(), vec!["h1".to_string(), "h5".to_string()]);
        let r = store.rollout(id).unwrap().unwrap();
        assert_eq!(r.status, RolloutStatus::Halted);
        assert_eq!((r.waiting[0].host_id.as_str(), r.waiting[0].note.as_str()), ("h1", "cancelled by alice"));
        assert!(store.advance_rollout(id, 41).unwrap().is_empty(), "a cancelled rollout queues nothing more");
    }

    on_both!(a_paused_rollout_holds_its_next_wave_until_resumed);

    fn a_paused_rollout_holds_its_next_wave_until_resumed(db: &TestDb) {
        let mut store = db.open(1);
        for h in ["h1", "h2", "h3"] {
            enroll(&mut store, h);
        }
        store.add_package(&pkg("2.0.0")).unwrap();
        let ok = serde_json::json!({"history": []});
        let waves = vec![vec!["h1".to_string()], vec!["h2".to_string()], vec!["h3".to_string()]];
        let id = store.create_staged_rollout("2.0.0", &waves, true, "op", 10).unwrap();
        assert!(matches!(store.resume_rollout(id, 11), Err(StoreError::RolloutState(m)) if m.contains("not paused")));
        store.pause_rollout(id, "alice", 12).unwrap();
        assert!(matches!(store.pause_rollout(id, "bob", 13), Err(StoreError::RolloutState(m)) if m.contains("paused already (by alice)")));
        assert!(matches!(store.pause_rollout(99, "bob", 13), Err(StoreError::NotFound { .. })));
        let r = store.rollout(id).unwrap().unwrap();
        assert_eq!((r.status, r.paused_by.as_deref(), r.paused_at_ms), (RolloutStatus::Paused, Some("alice"), Some(12)));

        // The queued wave goes on; the next one is held back.
        let j = store.open_jobs("h1").unwrap()[0].clone();
        store.report_job("h1", j.id, JobState::Running, &ok, "1.0.0", 20).unwrap();
        let out = store.report_job("h1", j.id, JobState::Succeeded, &ok, "2.0.0", 21).unwrap();
        assert_eq!(out.rollout, Some((id, RolloutStatus::Paused)));
        assert!(store.open_jobs("h2").unwrap().is_empty(), "held back");

        // Resumed: wave 1 is queued at once.
        assert_eq!(store.resume_rollout(id, 30).unwrap(), vec!["h2".to_string()]);
        let r = store.rollout(id).unwrap().unwrap();
        assert_eq!((r.status, r.paused_by), (RolloutStatus::Running, None));
        assert_eq!(store.open_jobs("h2").unwrap().len(), 1);

        // Once no host waits for a wave there is nothing to pause.
        let j = store.open_jobs("h2").unwrap()[0].clone();
        store.report_job("h2", j.id, JobState::Running, &ok, "1.0.0", 40).unwrap();
        store.report_job("h2", j.id, JobState::Succeeded, &ok, "2.0.0", 41).unwrap();
        assert!(matches!(store.pause_rollout(id, "alice", 42), Err(StoreError::RolloutState(m)) if m.contains("no wave left")));
    }

    on_both!(revoking_a_host_ends_its_jobs_and_lets_rollouts_move_on);

    fn revoking_a_host_ends_its_jobs_and_lets_rollouts_move_on(db: &TestDb) {
        let mut store = db.open(1);
        for h in ["h1", "h2", "h3"] {
            enroll(&mut store, h);
        }
        store.add_package(&pkg("2.0.0")).unwrap();
        let waves = vec![vec!["h1".to_string()], vec!["h2".to_string()], vec!["h3".to_string()]];
        let id = store.create_staged_rollout("2.0.0", &waves, false, "op", 10).unwrap();
        // h3 waits for wave 2; revoking it skips its place.
        assert!(store.revoke_host("h3", "ada", 11).unwrap().is_empty());
        // h1's job is queued: revoking h1 fails it and wave 1 (h2) is queued.
        let job = store.open_jobs("h1").unwrap()[0].id;
        assert_eq!(store.revoke_host("h1", "ada", 12).unwrap(), vec![job]);
        let failed = store.job(job).unwrap().unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert_eq!(failed.result.unwrap()["revoked"]["by"], "ada");
        assert_eq!(store.open_jobs("h2").unwrap().len(), 1, "the rollout moved on to h2");
        assert_eq!(store.desired("h1", ITEM_TA_VERSION).unwrap(), None);
        let r = store.rollout(id).unwrap().unwrap();
        assert!(r.waiting.iter().any(|w| w.host_id == "h3" && w.state == WaitState::Skipped && w.note == "the host was revoked"), "{:?}", r.waiting);
        assert!(matches!(store.revoke_host("h1", "ada", 13), Err(StoreError::HostState(_))));
        assert!(matches!(store.revoke_host("h9", "ada", 13), Err(StoreError::NotFound { .. })));

        // A revoked host can be forgotten, and its id enrolled again; an active one cannot.
        assert!(matches!(store.delete_host("h2"), Err(StoreError::HostState(m)) if m.contains("revoke it first")));
        store.delete_host("h1").unwrap();
        assert_eq!(store.host("h1").unwrap(), None);
        assert!(matches!(store.delete_host("h1"), Err(StoreError::NotFound { .. })));
        store.create_enrollment_token("again", "again", 0, u64::MAX / 4).unwrap();
        store.enroll_host("again", &crate::store::testutil::new_host("h1", "g"), 20).unwrap();
        assert_eq!(store.host("h1").unwrap().unwrap().status, crate::store::HostStatus::Active);
        assert!(store.open_jobs("h1").unwrap().is_empty(), "the old host's jobs are all ended");
        assert_eq!(store.job(job).unwrap().unwrap().state, JobState::Failed, "history kept");
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
