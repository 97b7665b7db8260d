//! Alerts as the engine reports them, their acknowledgement, history, and
//! the engine's state blob.
//!
//! An alert row is keyed by fingerprint + start time: a condition that
//! fires, resolves and fires again leaves two rows of history.

use super::convert::{from_db, opt_from_db, opt_to_db, to_db, Page};
use super::db::{params, Db, Row};
use super::error::{Result, StoreError};
use super::Store;
use crate::alerts::{Alert, AlertChange, EngineState, Severity};

const FIRING: &str = "firing";
const RESOLVED: &str = "resolved";

const ALERT_COLUMNS: &str = "fingerprint, rule_id, kind, severity, host_id, group_name, ta, slot,
    summary, description, starts_at_ms, ends_at_ms, acknowledged_by, acknowledged_at_ms";

fn parse_severity(s: &str) -> Result<Severity> {
    match s {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        _ => Err(StoreError::Corrupt(format!("severity {s:?}"))),
    }
}

fn alert_from_row(r: &Row) -> Result<Alert> {
    let severity: String = r.get(3)?;
    Ok(Alert {
        fingerprint: r.get(0)?,
        rule_id: r.get(1)?,
        kind: r.get(2)?,
        severity: parse_severity(&severity)?,
        host: r.get(4)?,
        group: r.get(5)?,
        ta: r.get(6)?,
        slot: opt_from_db(r.get(7)?)?,
        summary: r.get(8)?,
        description: r.get(9)?,
        starts_at_ms: from_db(r.get(10)?)?,
        ends_at_ms: opt_from_db(r.get(11)?)?,
        acknowledged_by: r.get(12)?,
        acknowledged_at_ms: opt_from_db(r.get(13)?)?,
    })
}

/// Inserts `alert` unless a row with its fingerprint and start time exists
/// (so replaying a batch is harmless).
fn insert_alert(db: &Db, alert: &Alert) -> Result<()> {
    let status = if alert.is_firing() { FIRING } else { RESOLVED };
    db.execute(
        "INSERT INTO alerts (fingerprint, starts_at_ms, rule_id, kind, severity, host_id,
             group_name, ta, slot, summary, description, ends_at_ms, status,
             acknowledged_by, acknowledged_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (fingerprint, starts_at_ms) DO NOTHING",
        &params![
            alert.fingerprint,
            to_db(alert.starts_at_ms)?,
            alert.rule_id,
            alert.kind,
            alert.severity.as_str(),
            alert.host,
            alert.group,
            alert.ta,
            opt_to_db(alert.slot)?,
            alert.summary,
            alert.description,
            opt_to_db(alert.ends_at_ms)?,
            status,
            alert.acknowledged_by,
            opt_to_db(alert.acknowledged_at_ms)?
        ],
    )?;
    Ok(())
}

/// Resolves the firing row of `alert` (keeping its acknowledgement); if
/// there is none (the store missed the firing), records it resolved.
fn resolve_alert(db: &Db, alert: &Alert) -> Result<()> {
    let ends = alert.ends_at_ms.unwrap_or(alert.starts_at_ms);
    let n = db.execute(
        "UPDATE alerts SET status = ?1, ends_at_ms = ?2, summary = ?3, description = ?4
         WHERE fingerprint = ?5 AND starts_at_ms = ?6 AND status = ?7",
        &params![RESOLVED, to_db(ends)?, alert.summary, alert.description, alert.fingerprint, to_db(alert.starts_at_ms)?, FIRING],
    )?;
    if n == 0 {
        let mut resolved = alert.clone();
        resolved.ends_at_ms = Some(ends);
        insert_alert(db, &resolved)?;
    }
    Ok(())
}

impl Store {
    /// Records one evaluation's changes, all or nothing.
    pub fn apply_changes(&mut self, changes: &[AlertChange]) -> Result<()> {
        let tx = self.db.begin()?;
        for change in changes {
            match change {
                AlertChange::Fired(a) => insert_alert(&tx, a)?,
                AlertChange::Resolved(a) => resolve_alert(&tx, a)?,
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Acknowledges the firing alert with `fingerprint`. Acknowledging again
    /// overwrites who and when.
    pub fn ack_alert(&self, fingerprint: &str, user: &str, now_ms: u64) -> Result<()> {
        let n = self.db.execute(
            "UPDATE alerts SET acknowledged_by = ?1, acknowledged_at_ms = ?2
             WHERE fingerprint = ?3 AND status = ?4",
            &params![user, to_db(now_ms)?, fingerprint, FIRING],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "firing alert", key: fingerprint.to_string() });
        }
        Ok(())
    }

    /// Firing alerts, oldest first (by start, then fingerprint).
    pub fn firing_alerts(&self) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE status = ?1
             ORDER BY starts_at_ms, fingerprint"
        );
        self.db.query(&sql, &params![FIRING])?.iter().map(alert_from_row).collect()
    }

    /// All alerts, firing and resolved, newest first (by start, then
    /// fingerprint), one page.
    pub fn alert_history(&self, page: Page) -> Result<Vec<Alert>> {
        let (limit, offset) = page.params()?;
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             ORDER BY starts_at_ms DESC, fingerprint DESC LIMIT ?1 OFFSET ?2"
        );
        self.db.query(&sql, &params![limit, offset])?.iter().map(alert_from_row).collect()
    }

    /// Saves the alert engine's state (replacing the previous one).
    pub fn save_engine_state(&self, state: &EngineState, now_ms: u64) -> Result<()> {
        let json = serde_json::to_string(state)?;
        self.db.execute(
            "INSERT INTO engine_state (id, saved_at_ms, state_json) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE
             SET saved_at_ms = excluded.saved_at_ms, state_json = excluded.state_json",
            &params![to_db(now_ms)?, json],
        )?;
        Ok(())
    }

    /// The last saved engine state, if any.
    pub fn load_engine_state(&self) -> Result<Option<EngineState>> {
        let json: Option<String> = self.db.query_opt("SELECT state_json FROM engine_state WHERE id = 1", &[])?.map(|r| r.get(0)).transpose()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }
}
