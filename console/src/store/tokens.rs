//! Enrollment tokens: only their SHA-256 is stored; each can be consumed
//! once, before it expires.

use sha2::{Digest, Sha256};

use super::convert::{opt_from_db, to_db};
use super::db::{params, Db};
use super::error::{on_conflict, Result, StoreError};
use super::hosts::{insert_host, NewHost};
use super::Store;

/// Hex SHA-256 of a token: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Marks the token used by `host_id` at `now_ms`, in one statement (so two
/// concurrent consumers cannot both succeed), or says why it cannot be.
fn consume(db: &Db, token: &str, host_id: &str, now_ms: u64) -> Result<String> {
    let hash = token_hash(token);
    let now = to_db(now_ms)?;
    let id = db.query_opt(
        "UPDATE enrollment_tokens SET used_at_ms = ?1, used_by_host = ?2
         WHERE token_sha256 = ?3 AND used_at_ms IS NULL AND expires_at_ms > ?1
         RETURNING id",
        &params![now, host_id, hash],
    )?;
    if let Some(row) = id {
        return row.get(0);
    }
    let used: Option<Option<i64>> =
        db.query_opt("SELECT used_at_ms FROM enrollment_tokens WHERE token_sha256 = ?1", &params![hash])?.map(|r| r.get(0)).transpose()?;
    match used {
        None => Err(StoreError::TokenUnknown),
        Some(used) if opt_from_db(used)?.is_some() => Err(StoreError::TokenUsed),
        Some(_) => Err(StoreError::TokenExpired),
    }
}

impl Store {
    /// Stores the hash of a new enrollment token `token` under `id`, valid
    /// until `expires_at_ms` (exclusive). The token itself is not kept.
    pub fn create_enrollment_token(&self, id: &str, token: &str, created_at_ms: u64, expires_at_ms: u64) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO enrollment_tokens (id, token_sha256, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                &params![id, token_hash(token), to_db(created_at_ms)?, to_db(expires_at_ms)?],
            )
            .map_err(|e| on_conflict(e, "enrollment token", id))?;
        Ok(())
    }

    /// Consumes `token` for `host_id`; returns the token's id. Fails with
    /// `TokenUnknown`, `TokenUsed` or `TokenExpired`.
    pub fn consume_enrollment_token(&self, token: &str, host_id: &str, now_ms: u64) -> Result<String> {
        consume(&self.db, token, host_id, now_ms)
    }

    /// Consumes `token` and adds `host` in one transaction: either both
    /// happen or neither (a host id already taken leaves the token unused).
    pub fn enroll_host(&mut self, token: &str, host: &NewHost, now_ms: u64) -> Result<String> {
        let tx = self.db.begin()?;
        let id = consume(&tx, token, &host.id, now_ms)?;
        insert_host(&tx, host)?;
        tx.commit()?;
        Ok(id)
    }

    /// Deletes tokens that expired before `now_ms` and were never used;
    /// returns how many went.
    pub fn prune_enrollment_tokens(&self, now_ms: u64) -> Result<u64> {
        self.db.execute("DELETE FROM enrollment_tokens WHERE used_at_ms IS NULL AND expires_at_ms <= ?1", &params![to_db(now_ms)?])
    }
}
