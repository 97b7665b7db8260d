//! Jobs the console runs on hosts (updates, key operations, ...) and their
//! lifecycle: queued -> running -> succeeded | failed | rolled_back, and
//! failed -> rolled_back.

use serde::{Deserialize, Serialize};

use super::convert::{from_db, to_db, Page};
use super::db::{params, Row};
use super::error::{Result, StoreError};
use super::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    RolledBack,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(JobState::Queued),
            "running" => Ok(JobState::Running),
            "succeeded" => Ok(JobState::Succeeded),
            "failed" => Ok(JobState::Failed),
            "rolled_back" => Ok(JobState::RolledBack),
            _ => Err(StoreError::Corrupt(format!("job state {s:?}"))),
        }
    }

    /// Whether a job may go from `self` to `next`.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Queued, Running) | (Queued, Failed) | (Running, Succeeded) | (Running, Failed) | (Running, RolledBack) | (Failed, RolledBack)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub kind: String,
    pub target_host: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub result: Option<serde_json::Value>,
}

const JOB_COLUMNS: &str = "id, kind, target_host, payload_json, state, created_at_ms, updated_at_ms, result_json";

fn job_from_row(r: &Row) -> Result<Job> {
    let payload: String = r.get(3)?;
    let state: String = r.get(4)?;
    let result: Option<String> = r.get(7)?;
    Ok(Job {
        id: from_db(r.get(0)?)?,
        kind: r.get(1)?,
        target_host: r.get(2)?,
        payload: serde_json::from_str(&payload)?,
        state: JobState::parse(&state)?,
        created_at_ms: from_db(r.get(5)?)?,
        updated_at_ms: from_db(r.get(6)?)?,
        result: result.map(|s| serde_json::from_str(&s)).transpose()?,
    })
}

/// What [`Store::prune_jobs`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrunedJobs {
    pub jobs: u64,
    pub rollouts: u64,
}

impl Store {
    /// Deletes what finished more than `keep_days` ago: rollouts whose jobs
    /// all finished (and whose waiting hosts were all started or skipped)
    /// before then, with their jobs; and jobs of no rollout that finished
    /// before then. The newest job and the newest rollout always stay, so
    /// ids (the highest plus one) are never handed out twice. One
    /// transaction. The audit log keeps the history.
    pub fn prune_jobs(&mut self, now_ms: u64, keep_days: u64) -> Result<PrunedJobs> {
        let cutoff = to_db(now_ms.saturating_sub(keep_days.saturating_mul(24 * 60 * 60 * 1000)))?;
        let tx = self.db.begin()?;
        let old_rollouts = "SELECT r.id FROM rollouts r
             WHERE r.created_at_ms < ?1
               AND r.id < (SELECT MAX(id) FROM rollouts)
               AND NOT EXISTS (SELECT 1 FROM rollout_jobs rj JOIN jobs j ON j.id = rj.job_id
                               WHERE rj.rollout_id = r.id AND (j.state IN ('queued', 'running') OR j.updated_at_ms >= ?1))
               AND NOT EXISTS (SELECT 1 FROM rollout_waiting w WHERE w.rollout_id = r.id AND w.state = 'pending')";
        let ids: Vec<i64> = tx.query(old_rollouts, &params![cutoff])?.iter().map(|r| r.get(0)).collect::<Result<_>>()?;
        let mut pruned = PrunedJobs::default();
        for id in &ids {
            let jobs: Vec<i64> =
                tx.query("SELECT job_id FROM rollout_jobs WHERE rollout_id = ?1", &params![*id])?.iter().map(|r| r.get(0)).collect::<Result<_>>()?;
            tx.execute("DELETE FROM rollout_jobs WHERE rollout_id = ?1", &params![*id])?;
            tx.execute("DELETE FROM rollout_waiting WHERE rollout_id = ?1", &params![*id])?;
            tx.execute("DELETE FROM rollouts WHERE id = ?1", &params![*id])?;
            for j in jobs {
                pruned.jobs += tx.execute("DELETE FROM jobs WHERE id = ?1 AND id < (SELECT MAX(id) FROM jobs)", &params![j])?;
            }
            pruned.rollouts += 1;
        }
        pruned.jobs += tx.execute(
            "DELETE FROM jobs
             WHERE state IN ('succeeded', 'failed', 'rolled_back') AND updated_at_ms < ?1
               AND id < (SELECT MAX(id) FROM jobs)
               AND id NOT IN (SELECT job_id FROM rollout_jobs)",
            &params![cutoff],
        )?;
        tx.commit()?;
        Ok(pruned)
    }

    /// Queues a job; returns its id (one more than the highest so far).
    pub fn create_job(&mut self, kind: &str, target_host: &str, payload: &serde_json::Value, now_ms: u64) -> Result<u64> {
        let payload = serde_json::to_string(payload)?;
        let now = to_db(now_ms)?;
        let tx = self.db.begin()?;
        let last: i64 = tx.query_one("SELECT COALESCE(MAX(id), 0) FROM jobs", &[])?.get(0)?;
        let id = from_db(last)?.saturating_add(1);
        tx.execute(
            "INSERT INTO jobs (id, kind, target_host, payload_json, state, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            &params![to_db(id)?, kind, target_host, payload, JobState::Queued.as_str(), now],
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn job(&self, id: u64) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        self.db.query_opt(&sql, &params![to_db(id)?])?.map(|r| job_from_row(&r)).transpose()
    }

    /// Moves job `id` to `state` (refused unless [`JobState::can_become`]),
    /// recording `result` if given (a `None` keeps the previous result).
    pub fn update_job(&mut self, id: u64, state: JobState, result: Option<&serde_json::Value>, now_ms: u64) -> Result<()> {
        let result = result.map(serde_json::to_string).transpose()?;
        let db_id = to_db(id)?;
        let tx = self.db.begin()?;
        let current: Option<String> = tx.query_opt("SELECT state FROM jobs WHERE id = ?1", &params![db_id])?.map(|r| r.get(0)).transpose()?;
        let current = match current {
            Some(s) => JobState::parse(&s)?,
            None => return Err(StoreError::NotFound { what: "job", key: id.to_string() }),
        };
        if !current.can_become(state) {
            return Err(StoreError::JobTransition { id, from: current.as_str(), to: state.as_str() });
        }
        tx.execute(
            "UPDATE jobs SET state = ?1, updated_at_ms = ?2,
                 result_json = COALESCE(?3, result_json)
             WHERE id = ?4",
            &params![state.as_str(), to_db(now_ms)?, result, db_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Jobs, newest first, optionally only those of one host.
    pub fn jobs(&self, target_host: Option<&str>, page: Page) -> Result<Vec<Job>> {
        let (limit, offset) = page.params()?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE (CAST(?1 AS TEXT) IS NULL OR target_host = ?1)
             ORDER BY id DESC LIMIT ?2 OFFSET ?3"
        );
        self.db.query(&sql, &params![target_host, limit, offset])?.iter().map(job_from_row).collect()
    }
}
