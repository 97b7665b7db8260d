//! Hosts, the latest report of each, and a bounded history of samples for
//! charts.

use serde::{Deserialize, Serialize};

use super::convert::{from_db, opt_from_db, to_db};
use super::db::{params, Db, Row};
use super::error::{on_conflict, Result, StoreError};
use super::Store;
use crate::alerts::{HostReport, HostSeen};

/// Whether a host may talk to the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    Active,
    Disabled,
    Revoked,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Active => "active",
            HostStatus::Disabled => "disabled",
            HostStatus::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(HostStatus::Active),
            "disabled" => Ok(HostStatus::Disabled),
            "revoked" => Ok(HostStatus::Revoked),
            _ => Err(StoreError::Corrupt(format!("host status {s:?}"))),
        }
    }
}

/// A host being enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHost {
    pub id: String,
    pub name: String,
    pub group: String,
    pub enrolled_at_ms: u64,
    /// SHA-256 fingerprint of the agent's client certificate (hex).
    pub cert_fingerprint: String,
    /// Its notAfter, Unix ms.
    pub cert_not_after_ms: Option<u64>,
}

/// An enrolled host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub id: String,
    pub name: String,
    pub group: String,
    pub enrolled_at_ms: u64,
    pub last_seen_ms: Option<u64>,
    pub cert_fingerprint: String,
    pub status: HostStatus,
    /// notAfter of the certificate in `cert_fingerprint` (Unix ms; `None`
    /// for hosts enrolled before schema 4 that have not renewed yet).
    pub cert_not_after_ms: Option<u64>,
    /// A renewed certificate the agent has not used yet (it authenticates
    /// the host too, until its first use makes it `cert_fingerprint`).
    pub pending_cert_fingerprint: Option<String>,
    /// An operator asked for a certificate renewal not completed yet.
    pub renew_requested: bool,
}

/// Keys held by one token at sample time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenKeys {
    pub ta: String,
    pub slot: u64,
    pub keys: u64,
}

/// One point of a host's charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSample {
    pub host_id: String,
    pub at_ms: u64,
    pub ta_cpu_percent: f64,
    pub ta_memory_bytes: u64,
    pub ca_cpu_percent: f64,
    pub ca_memory_bytes: u64,
    pub tokens: Vec<TokenKeys>,
}

const HOST_COLUMNS: &str =
    "id, name, group_name, enrolled_at_ms, last_seen_ms, cert_fingerprint, status, cert_not_after_ms, pending_cert_fingerprint, renew_requested";

fn host_from_row(r: &Row) -> Result<Host> {
    let status: String = r.get(6)?;
    Ok(Host {
        id: r.get(0)?,
        name: r.get(1)?,
        group: r.get(2)?,
        enrolled_at_ms: from_db(r.get(3)?)?,
        last_seen_ms: opt_from_db(r.get(4)?)?,
        cert_fingerprint: r.get(5)?,
        status: HostStatus::parse(&status)?,
        cert_not_after_ms: opt_from_db(r.get(7)?)?,
        pending_cert_fingerprint: r.get(8)?,
        renew_requested: r.get::<i64>(9)? != 0,
    })
}

/// `Ok` when an UPDATE by host id changed a row, else `NotFound`.
fn one_host_changed(n: u64, id: &str) -> Result<()> {
    if n == 0 {
        return Err(StoreError::NotFound { what: "host", key: id.to_string() });
    }
    Ok(())
}

/// The status of host `id` as stored; `NotFound` for an unknown host.
fn host_status_in(db: &Db, id: &str) -> Result<String> {
    match db.query_opt("SELECT status FROM hosts WHERE id = ?1", &params![id])? {
        Some(r) => r.get(0),
        None => Err(StoreError::NotFound { what: "host", key: id.to_string() }),
    }
}

/// Inserts an active host (also used inside the enrollment transaction).
pub(crate) fn insert_host(db: &Db, host: &NewHost) -> Result<()> {
    db.execute(
        "INSERT INTO hosts (id, name, group_name, enrolled_at_ms, last_seen_ms, cert_fingerprint, status, cert_not_after_ms)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7)",
        &params![
            host.id,
            host.name,
            host.group,
            to_db(host.enrolled_at_ms)?,
            host.cert_fingerprint,
            HostStatus::Active.as_str(),
            host.cert_not_after_ms.map(to_db).transpose()?
        ],
    )
    .map_err(|e| on_conflict(e, "host", &host.id))?;
    Ok(())
}

/// [`Store::record_report`]'s three statements as one for PostgreSQL
/// (data-modifying `WITH`, which SQLite lacks): `?1` host id, `?2` now,
/// `?3` report JSON, `?4`..`?7` CPU and memory, `?8` token keys JSON.
/// Returns 0 rows counted when the host is unknown (then nothing changed).
const RECORD_REPORT_PG: &str = "WITH h AS (
        UPDATE hosts SET last_seen_ms = CAST(?2 AS BIGINT) WHERE id = CAST(?1 AS TEXT) RETURNING id
    ), r AS (
        INSERT INTO host_reports (host_id, received_at_ms, report_json)
        SELECT id, CAST(?2 AS BIGINT), CAST(?3 AS TEXT) FROM h
        ON CONFLICT (host_id) DO UPDATE
        SET received_at_ms = excluded.received_at_ms, report_json = excluded.report_json
    ), s AS (
        INSERT INTO host_samples (host_id, at_ms, ta_cpu_percent, ta_memory_bytes,
            ca_cpu_percent, ca_memory_bytes, token_keys_json)
        SELECT id, CAST(?2 AS BIGINT), CAST(?4 AS DOUBLE PRECISION), CAST(?5 AS BIGINT),
            CAST(?6 AS DOUBLE PRECISION), CAST(?7 AS BIGINT), CAST(?8 AS TEXT) FROM h
        ON CONFLICT (host_id, at_ms) DO UPDATE
        SET ta_cpu_percent = excluded.ta_cpu_percent,
            ta_memory_bytes = excluded.ta_memory_bytes,
            ca_cpu_percent = excluded.ca_cpu_percent,
            ca_memory_bytes = excluded.ca_memory_bytes,
            token_keys_json = excluded.token_keys_json
    )
    SELECT COUNT(*) FROM h";

impl Store {
    /// Adds an active host; an existing id is `AlreadyExists`.
    pub fn add_host(&self, host: &NewHost) -> Result<()> {
        insert_host(&self.db, host)
    }

    pub fn host(&self, id: &str) -> Result<Option<Host>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE id = ?1");
        self.db.query_opt(&sql, &params![id])?.map(|r| host_from_row(&r)).transpose()
    }

    /// All hosts, by id.
    pub fn hosts(&self) -> Result<Vec<Host>> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY id");
        self.db.query(&sql, &[])?.iter().map(host_from_row).collect()
    }

    /// Hosts that may talk to the console (what a licence counts: revoked
    /// and disabled hosts free their seat).
    pub fn active_host_count(&self) -> Result<u64> {
        let n: i64 = self.db.query_one("SELECT COUNT(*) FROM hosts WHERE status = 'active'", &[])?.get(0)?;
        from_db(n)
    }

    pub fn set_host_status(&self, id: &str, status: HostStatus) -> Result<()> {
        let n = self.db.execute("UPDATE hosts SET status = ?1 WHERE id = ?2", &params![status.as_str(), id])?;
        one_host_changed(n, id)
    }

    /// Revokes host `id` and ends what it would never finish: its queued
    /// and running jobs fail (result `{"revoked": {"by", "at_ms"}}`), its
    /// places in rollout waves not queued yet are skipped, its desired
    /// state is cleared, and the rollouts concerned move on to their next
    /// wave. Returns the ids of the jobs failed. `NotFound`; `HostState` if
    /// it is revoked already.
    pub fn revoke_host(&mut self, id: &str, actor: &str, now_ms: u64) -> Result<Vec<u64>> {
        let now = to_db(now_ms)?;
        let tx = self.db.begin()?;
        if host_status_in(&tx, id)? == HostStatus::Revoked.as_str() {
            return Err(StoreError::HostState(format!("host {id:?} is already revoked")));
        }
        tx.execute("UPDATE hosts SET status = ?1 WHERE id = ?2", &params![HostStatus::Revoked.as_str(), id])?;
        let open = tx.query("SELECT id FROM jobs WHERE target_host = ?1 AND state IN ('queued', 'running') ORDER BY id", &params![id])?;
        let jobs = open.iter().map(|r| from_db(r.get(0)?)).collect::<Result<Vec<u64>>>()?;
        let result = serde_json::json!({ "revoked": { "by": actor, "at_ms": now_ms } }).to_string();
        tx.execute(
            "UPDATE jobs SET state = 'failed', result_json = ?1, updated_at_ms = ?2 WHERE target_host = ?3 AND state IN ('queued', 'running')",
            &params![result, now, id],
        )?;
        let mut rollouts: Vec<i64> = Vec::new();
        for j in &jobs {
            for r in tx.query("SELECT rollout_id FROM rollout_jobs WHERE job_id = ?1", &params![to_db(*j)?])? {
                rollouts.push(r.get(0)?);
            }
        }
        for r in tx.query("SELECT rollout_id FROM rollout_waiting WHERE host_id = ?1 AND state = 'pending'", &params![id])? {
            rollouts.push(r.get(0)?);
        }
        tx.execute(
            "UPDATE rollout_waiting SET state = 'skipped', note = 'the host was revoked' WHERE host_id = ?1 AND state = 'pending'",
            &params![id],
        )?;
        tx.execute("DELETE FROM desired_state WHERE host_id = ?1", &params![id])?;
        tx.commit()?;
        rollouts.sort_unstable();
        rollouts.dedup();
        for r in rollouts {
            self.advance_rollout(from_db(r)?, now_ms)?;
        }
        Ok(jobs)
    }

    /// Deletes a revoked host's record, reports, samples and desired state
    /// (its jobs, rollouts, alerts and audit entries stay as history), so
    /// the machine can enroll again under the same id. `NotFound`;
    /// `HostState` unless the host is revoked.
    pub fn delete_host(&mut self, id: &str) -> Result<()> {
        let tx = self.db.begin()?;
        if host_status_in(&tx, id)? != HostStatus::Revoked.as_str() {
            return Err(StoreError::HostState(format!("host {id:?} is not revoked; revoke it first (POST /api/hosts/{id}/revoke)")));
        }
        for table in ["desired_state", "host_samples", "host_reports"] {
            tx.execute(&format!("DELETE FROM {table} WHERE host_id = ?1"), &params![id])?;
        }
        tx.execute("DELETE FROM hosts WHERE id = ?1", &params![id])?;
        tx.commit()
    }

    /// Records a certificate issued to the host by a renewal (replacing an
    /// earlier one the agent never used); the current one stays valid.
    pub fn set_pending_cert(&self, id: &str, fingerprint: &str, not_after_ms: u64) -> Result<()> {
        let n = self.db.execute(
            "UPDATE hosts SET pending_cert_fingerprint = ?1, pending_cert_not_after_ms = ?2 WHERE id = ?3",
            &params![fingerprint, to_db(not_after_ms)?, id],
        )?;
        one_host_changed(n, id)
    }

    /// The agent called with its pending certificate `fingerprint`: it
    /// becomes the host's certificate, the old one stops authenticating and
    /// an operator's renewal request is done. Returns false (nothing
    /// changed) if `fingerprint` is not the host's pending certificate.
    pub fn promote_pending_cert(&self, id: &str, fingerprint: &str) -> Result<bool> {
        let n = self.db.execute(
            "UPDATE hosts SET cert_fingerprint = pending_cert_fingerprint, cert_not_after_ms = pending_cert_not_after_ms,
                 pending_cert_fingerprint = NULL, pending_cert_not_after_ms = NULL, renew_requested = 0
             WHERE id = ?1 AND pending_cert_fingerprint = ?2",
            &params![id, fingerprint],
        )?;
        Ok(n == 1)
    }

    /// An operator asks for the host's certificate to be renewed at its
    /// next heartbeat.
    pub fn request_cert_renewal(&self, id: &str) -> Result<()> {
        let n = self.db.execute("UPDATE hosts SET renew_requested = 1 WHERE id = ?1", &params![id])?;
        one_host_changed(n, id)
    }

    /// Records a heartbeat received at `now_ms` (console clock): the host's
    /// last-seen time, its latest report, and a chart sample, atomically.
    /// The host must be enrolled.
    pub fn record_report(&mut self, report: &HostReport, now_ms: u64) -> Result<()> {
        let now = to_db(now_ms)?;
        let json = serde_json::to_string(report)?;
        let tokens: Vec<TokenKeys> =
            report.tas.iter().flat_map(|ta| ta.tokens.iter().map(|t| TokenKeys { ta: ta.ta_id.clone(), slot: t.slot, keys: t.keys })).collect();
        let tokens = serde_json::to_string(&tokens)?;
        // Each statement is by key or an upsert: no need to wait for other
        // writers; a heartbeat lost to a database crash is resent anyway.
        let tx = self.db.begin_telemetry()?;
        if tx.is_postgres() {
            // The hot path in one round trip instead of three.
            let seen: i64 = tx
                .query_one(
                    RECORD_REPORT_PG,
                    &params![
                        report.host_id,
                        now,
                        json,
                        report.ta_cpu_percent,
                        to_db(report.ta_memory_bytes)?,
                        report.ca_cpu_percent,
                        to_db(report.ca_memory_bytes)?,
                        tokens
                    ],
                )?
                .get(0)?;
            if seen == 0 {
                return Err(StoreError::NotFound { what: "host", key: report.host_id.clone() });
            }
            return tx.commit();
        }
        let n = tx.execute("UPDATE hosts SET last_seen_ms = ?1 WHERE id = ?2", &params![now, report.host_id])?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "host", key: report.host_id.clone() });
        }
        tx.execute(
            "INSERT INTO host_reports (host_id, received_at_ms, report_json) VALUES (?1, ?2, ?3)
             ON CONFLICT (host_id) DO UPDATE
             SET received_at_ms = excluded.received_at_ms, report_json = excluded.report_json",
            &params![report.host_id, now, json],
        )?;
        tx.execute(
            "INSERT INTO host_samples (host_id, at_ms, ta_cpu_percent, ta_memory_bytes,
                 ca_cpu_percent, ca_memory_bytes, token_keys_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (host_id, at_ms) DO UPDATE
             SET ta_cpu_percent = excluded.ta_cpu_percent,
                 ta_memory_bytes = excluded.ta_memory_bytes,
                 ca_cpu_percent = excluded.ca_cpu_percent,
                 ca_memory_bytes = excluded.ca_memory_bytes,
                 token_keys_json = excluded.token_keys_json",
            &params![
                report.host_id,
                now,
                report.ta_cpu_percent,
                to_db(report.ta_memory_bytes)?,
                report.ca_cpu_percent,
                to_db(report.ca_memory_bytes)?,
                tokens
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The latest report of every active host that sent one, by host id:
    /// the engine's `reports` input (revoked and disabled hosts are out).
    pub fn latest_reports(&self) -> Result<Vec<HostReport>> {
        self.db
            .query(
                "SELECT r.report_json FROM host_reports r JOIN hosts h ON h.id = r.host_id
                 WHERE h.status = 'active' ORDER BY r.host_id",
                &[],
            )?
            .iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String>(0)?)?))
            .collect()
    }

    /// The latest report of one host, whatever its status.
    pub fn latest_report(&self, host_id: &str) -> Result<Option<HostReport>> {
        self.db
            .query_opt("SELECT report_json FROM host_reports WHERE host_id = ?1", &params![host_id])?
            .map(|r| Ok(serde_json::from_str(&r.get::<String>(0)?)?))
            .transpose()
    }

    /// When each active host was last seen (hosts never seen, disabled or
    /// revoked are left out): the engine's `hosts_last_seen` input.
    pub fn hosts_seen(&self) -> Result<Vec<HostSeen>> {
        let rows = self.db.query(
            "SELECT id, group_name, last_seen_ms, cert_not_after_ms FROM hosts
             WHERE last_seen_ms IS NOT NULL AND status = 'active' ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(HostSeen { host_id: r.get(0)?, group: r.get(1)?, last_seen_ms: from_db(r.get(2)?)?, cert_not_after_ms: opt_from_db(r.get(3)?)? })
            })
            .collect()
    }

    /// Samples of `host_id` taken at or after `since_ms`, oldest first.
    pub fn samples(&self, host_id: &str, since_ms: u64) -> Result<Vec<HostSample>> {
        let rows = self.db.query(
            "SELECT host_id, at_ms, ta_cpu_percent, ta_memory_bytes, ca_cpu_percent,
                    ca_memory_bytes, token_keys_json
             FROM host_samples WHERE host_id = ?1 AND at_ms >= ?2 ORDER BY at_ms",
            &params![host_id, to_db(since_ms)?],
        )?;
        rows.iter()
            .map(|r| {
                Ok(HostSample {
                    host_id: r.get(0)?,
                    at_ms: from_db(r.get(1)?)?,
                    ta_cpu_percent: r.get(2)?,
                    ta_memory_bytes: from_db(r.get(3)?)?,
                    ca_cpu_percent: r.get(4)?,
                    ca_memory_bytes: from_db(r.get(5)?)?,
                    tokens: serde_json::from_str(&r.get::<String>(6)?)?,
                })
            })
            .collect()
    }

    /// Deletes up to `limit` samples older than `keep_days` days before
    /// `now_ms` (oldest first); returns how many went. Call again while it
    /// returns `limit`: each call is one short write, so heartbeats do not
    /// wait behind a large delete.
    pub fn prune_samples(&self, now_ms: u64, keep_days: u64, limit: u64) -> Result<u64> {
        let keep_ms = keep_days.saturating_mul(24 * 60 * 60 * 1000);
        let cutoff = to_db(now_ms.saturating_sub(keep_ms))?;
        self.db.execute(
            "DELETE FROM host_samples WHERE (host_id, at_ms) IN
               (SELECT host_id, at_ms FROM host_samples WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
            &params![cutoff, to_db(limit)?],
        )
    }
}
