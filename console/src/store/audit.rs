//! The console's audit log: append-only, numbered 1, 2, ... in order, and
//! (schema 6) chained: each entry carries an HMAC-SHA-256 over the previous
//! entry's MAC and its own fields, keyed with the console's audit key
//! (`<data-dir>/audit-key`, 32 random bytes, mode 0600). Whoever can write
//! the database but cannot read that file (a DBA of the PostgreSQL server,
//! a copy of the database) cannot change, insert or remove an entry without
//! [`Store::verify_audit`] pointing at it. Removing entries from the end is
//! not detectable from the log alone: compare the last number with an
//! outside record (the `teehsm_console_audit_entries` metric).

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use super::convert::{from_db, to_db};
use super::db::params;
use super::error::{Result, StoreError};
use super::Store;

/// The audit key's file in the data directory.
pub const AUDIT_KEY_FILE: &str = "audit-key";
/// Entries read per query while verifying (small in tests, to cross pages).
#[cfg(not(test))]
const VERIFY_PAGE: u64 = 2000;
#[cfg(test)]
const VERIFY_PAGE: u64 = 3;

/// The key the audit chain is computed with.
pub struct AuditKey {
    key: hmac::Key,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        AuditKey { key: hmac::Key::new(hmac::HMAC_SHA256, bytes) }
    }

    /// `<data_dir>/audit-key`, which must exist (to verify a log, a new key
    /// would only say every entry is forged).
    pub fn load(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(AUDIT_KEY_FILE);
        if !path.exists() {
            return Err(StoreError::AuditKey { path: path.display().to_string(), why: "there is none: is this the console's --data-dir?".into() });
        }
        Self::load_or_create(data_dir)
    }

    /// `<data_dir>/audit-key`, created (32 random bytes, mode 0600) if
    /// missing. A key readable by others is refused.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(AUDIT_KEY_FILE);
        let err = |why: String| StoreError::AuditKey { path: path.display().to_string(), why };
        match std::fs::metadata(&path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(err(format!("has mode {:o}: others than its owner may read it; chmod 600 it", meta.permissions().mode() & 0o777)));
                }
                let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
                let key: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| err(format!("holds {} bytes, not 32", bytes.len())))?;
                Ok(Self::from_bytes(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| err("no randomness available".into()))?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| err(format!("cannot create it: {e}")))?;
                f.write_all(bytes.as_ref()).and_then(|()| f.sync_all()).map_err(|e| err(format!("cannot write it: {e}")))?;
                tracing::info!(path = %path.display(), "created the audit key");
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// A 32-byte key for another purpose, derived from this one
    /// (HMAC-SHA-256 of `label`): e.g. the key sealing TOTP secrets.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(hmac::sign(&self.key, label).as_ref());
        out
    }

    /// The MAC of one entry, chained to `prev` (the previous entry's MAC,
    /// empty at the start of the chain). Fields are length-prefixed.
    fn mac(&self, prev: &[u8], e: &Fields<'_>) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"teehsm console audit v1");
        let (seq, at_ms) = (e.seq.to_be_bytes(), e.at_ms.to_be_bytes());
        for field in [prev, &seq, &at_ms, e.actor.as_bytes(), e.action.as_bytes(), e.target.as_bytes(), e.details_json.as_bytes()] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field);
        }
        hex::encode(ctx.sign().as_ref())
    }
}

/// The fields of an entry the MAC covers.
struct Fields<'a> {
    seq: u64,
    at_ms: u64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    details_json: &'a str,
}

/// A verification in progress ([`Store::verify_audit_step`]).
#[derive(Debug, Default)]
pub struct AuditVerifier {
    pub check: AuditCheck,
    pub done: bool,
    prev: Option<Vec<u8>>,
    chained: bool,
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheck {
    /// Entries read (the last number, unless entries are missing).
    pub entries: u64,
    pub last_seq: u64,
    /// Entries from before the chain began (written before schema 6).
    pub unprotected: u64,
    /// The first entry that does not check, and why; `None`: the chain holds.
    pub broken_at: Option<u64>,
    pub reason: Option<String>,
}

impl AuditCheck {
    pub fn ok(&self) -> bool {
        self.broken_at.is_none()
    }

    fn break_at(&mut self, seq: u64, why: String) {
        self.broken_at = Some(seq);
        self.reason = Some(why);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at_ms: u64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
    /// The entry's link in the MAC chain (hex; `None` before schema 6).
    #[serde(default)]
    pub mac: Option<String>,
}

impl Store {
    /// Appends an entry; returns its sequence number (one more than the
    /// last). The number is taken under the write lock, so it is gap-free
    /// and in commit order.
    pub fn append_audit(&mut self, at_ms: u64, actor: &str, action: &str, target: &str, details: &serde_json::Value) -> Result<u64> {
        let details = serde_json::to_string(details)?;
        let tx = self.db.begin()?;
        let last = tx.query_opt("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
        let (last_seq, prev_mac): (u64, Option<String>) = match last {
            Some(r) => (from_db(r.get(0)?)?, r.get(1)?),
            None => (0, None),
        };
        let seq = last_seq.saturating_add(1);
        let prev =
            prev_mac.map(|m| hex::decode(m).map_err(|_| StoreError::Corrupt(format!("audit entry {last_seq}: mac is not hex")))).transpose()?;
        let fields = Fields { seq, at_ms, actor, action, target, details_json: &details };
        let mac = self.audit_key.as_ref().map(|k| k.mac(prev.as_deref().unwrap_or(&[]), &fields));
        tx.execute(
            "INSERT INTO audit (seq, at_ms, actor, action, target, details_json, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &params![to_db(seq)?, to_db(at_ms)?, actor, action, target, details, mac],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// The number of the last entry (0: none).
    pub fn audit_last_seq(&self) -> Result<u64> {
        let last: i64 = self.db.query_one("SELECT COALESCE(MAX(seq), 0) FROM audit", &[])?.get(0)?;
        from_db(last)
    }

    /// Checks the whole log against `key`: numbers without gaps from 1,
    /// every entry after the chain's start with a MAC that matches. Entries
    /// written before schema 6 (no MAC, before any entry with one) are
    /// counted as unprotected. See [`Store::verify_audit_step`] to check a
    /// long log without holding a shared store for the whole of it.
    pub fn verify_audit(&self, key: &AuditKey) -> Result<AuditCheck> {
        let mut v = AuditVerifier::default();
        while !v.done {
            self.verify_audit_step(key, &mut v)?;
        }
        Ok(v.check)
    }

    /// Checks the next page of entries (at most a few thousand) into `v`;
    /// `v.done` once the log is read or the chain broke.
    pub fn verify_audit_step(&self, key: &AuditKey, v: &mut AuditVerifier) -> Result<()> {
        if v.done {
            return Ok(());
        }
        let check = &mut v.check;
        let rows = self.db.query(
            "SELECT seq, at_ms, actor, action, target, details_json, mac FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            &params![to_db(check.last_seq)?, to_db(VERIFY_PAGE)?],
        )?;
        if rows.is_empty() {
            v.done = true;
            return Ok(());
        }
        for r in &rows {
            let seq: u64 = from_db(r.get(0)?)?;
            if seq != check.last_seq + 1 {
                let first = check.last_seq + 1;
                check.break_at(first, format!("entries {first} to {} are missing", seq - 1));
                v.done = true;
                return Ok(());
            }
            check.last_seq = seq;
            check.entries += 1;
            let (actor, action, target, details): (String, String, String, String) = (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
            match r.get::<Option<String>>(6)? {
                None if v.chained => {
                    check.break_at(seq, format!("entry {seq} has no MAC: it was added without the console's audit key"));
                    v.done = true;
                    return Ok(());
                }
                None => {
                    check.unprotected += 1;
                    v.prev = None;
                }
                Some(mac) => {
                    v.chained = true;
                    let fields = Fields { seq, at_ms: from_db(r.get(1)?)?, actor: &actor, action: &action, target: &target, details_json: &details };
                    let want = key.mac(v.prev.as_deref().unwrap_or(&[]), &fields);
                    if aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), mac.as_bytes()).is_err() {
                        check.break_at(
                            seq,
                            format!("entry {seq} does not match its MAC: it was changed, or entries before it were changed, added or removed"),
                        );
                        v.done = true;
                        return Ok(());
                    }
                    v.prev = Some(hex::decode(&mac).map_err(|_| StoreError::Corrupt(format!("audit entry {seq}: mac is not hex")))?);
                }
            }
        }
        Ok(())
    }

    /// Up to `limit` entries with `seq > after_seq`, oldest first. Page on
    /// by passing the last `seq` seen.
    pub fn audit_entries(&self, after_seq: u64, limit: u64) -> Result<Vec<AuditEntry>> {
        let rows = self.db.query(
            "SELECT seq, at_ms, actor, action, target, details_json, mac FROM audit
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
                    mac: r.get(6)?,
                })
            })
            .collect()
    }
}
