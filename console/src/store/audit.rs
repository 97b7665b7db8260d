//! The console's audit log: append-only, numbered 1, 2, ... in order.

use serde::{Deserialize, Serialize};

use super::convert::{from_db, to_db};
use super::db::params;
use super::error::Result;
use super::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: u64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
}

impl Store {
    /// Appends an entry; returns its sequence number (one more than the
    /// last). The number is taken under the write lock, so it is gap-free
    /// and in commit order.
    pub fn append_audit(&mut self, at_ms: u64, actor: &str, action: &str, target: &str, details: &serde_json::Value) -> Result<u64> {
        let details = serde_json::to_string(details)?;
        let tx = self.db.begin()?;
        let last: i64 = tx.query_one("SELECT COALESCE(MAX(seq), 0) FROM audit", &[])?.get(0)?;
        let seq = from_db(last)?.saturating_add(1);
        tx.execute(
            "INSERT INTO audit (seq, at_ms, actor, action, target, details_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &params![to_db(seq)?, to_db(at_ms)?, actor, action, target, details],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// Up to `limit` entries with `seq > after_seq`, oldest first. Page on
    /// by passing the last `seq` seen.
    pub fn audit_entries(&self, after_seq: u64, limit: u64) -> Result<Vec<AuditEntry>> {
        let rows = self.db.query(
            "SELECT seq, at_ms, actor, action, target, details_json FROM audit
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            &params![to_db(after_seq)?, to_db(limit)?],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: from_db(r.get(0)?)?,
                    at_ms: from_db(r.get(1)?)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    details: serde_json::from_str(&r.get::<String>(5)?)?,
                })
            })
            .collect()
    }
}
