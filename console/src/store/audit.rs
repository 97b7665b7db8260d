//! The console's audit log: append-only, numbered 1, 2, ... in order, and
//! (schema 6) chained: each entry carries an HMAC-SHA-256 over the previous
//! entry's MAC and its own fields, keyed with the console's audit key
//! (`<data-dir>/audit-key`, 32 random bytes, mode 0600). Whoever can write
//! the database but cannot read that file (a DBA of the PostgreSQL server,
//! a copy of the database) cannot change, insert or remove an entry without
//! [`Store::verify_audit`] pointing at it. Removing entries from the end is
//! not detectable from the log alone: compare the last number with an
//! outside record (the `teehsm_console_audit_entries` metric).
//!
//! (Schema 8) `teehsm-console audit prune` moves the oldest entries to an
//! archive file ([`Store::prune_audit`]) and leaves an anchor, MAC'd with
//! the same key: the chain then starts after the anchor, and the archive
//! verifies on its own ([`verify_audit_archive`]) and ends where the next
//! archive or the database goes on.

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

impl AuditKey {
    /// The MAC of a pruning anchor (all its fields).
    fn anchor_mac(&self, a: &AuditAnchor) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"teehsm console audit anchor v1");
        let (seq, at) = (a.seq.to_be_bytes(), a.pruned_at_ms.to_be_bytes());
        for field in [&seq[..], a.mac.as_bytes(), &at[..], a.archive_sha256.as_bytes()] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field);
        }
        hex::encode(ctx.sign().as_ref())
    }
}

/// Where the chain starts after a prune: the last archived entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    pub seq: u64,
    /// That entry's MAC (hex): the next entry chains to it.
    pub mac: String,
    pub pruned_at_ms: u64,
    /// SHA-256 (hex) of the archive file the prune wrote.
    pub archive_sha256: String,
}

/// What [`Store::prune_audit`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneOutcome {
    /// Entries moved to the archive (0: nothing was old enough).
    pub archived: u64,
    /// The new anchor (the last archived entry), if any entry was archived.
    pub anchor: Option<AuditAnchor>,
}

/// The first line of an archive file: where its chain starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ArchiveHeader {
    teehsm_audit_archive: u32,
    /// The entry before the first archived one (0 and "" at the log's start).
    after_seq: u64,
    after_mac: String,
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
    /// The anchor was read (the first step reads it).
    started: bool,
}

impl AuditVerifier {
    /// Starts after `anchor` (its MAC checked) instead of at entry 1.
    fn start_after(&mut self, key: &AuditKey, anchor: Option<(AuditAnchor, String)>) -> Result<()> {
        *self = AuditVerifier { started: true, ..AuditVerifier::default() };
        let Some((a, stored_mac)) = anchor else { return Ok(()) };
        if aws_lc_rs::constant_time::verify_slices_are_equal(key.anchor_mac(&a).as_bytes(), stored_mac.as_bytes()).is_err() {
            self.check.break_at(
                a.seq + 1,
                format!("the pruning anchor (entry {}) does not match its MAC: it was changed without the console's audit key", a.seq),
            );
            self.done = true;
            return Ok(());
        }
        self.check.last_seq = a.seq;
        self.check.pruned_through = a.seq;
        self.prev = Some(hex::decode(&a.mac).map_err(|_| StoreError::Corrupt("audit anchor: mac is not hex".into()))?);
        self.chained = true;
        Ok(())
    }

    /// Checks the next entry; false (with `check.broken_at` set) when it
    /// breaks the chain.
    fn feed(&mut self, key: &AuditKey, fields: &Fields<'_>, mac: Option<&str>) -> Result<bool> {
        let seq = fields.seq;
        let check = &mut self.check;
        if seq != check.last_seq + 1 {
            let first = check.last_seq + 1;
            check.break_at(first, format!("entries {first} to {} are missing", seq.saturating_sub(1)));
            return Ok(false);
        }
        check.last_seq = seq;
        check.entries += 1;
        match mac {
            None if self.chained => {
                check.break_at(seq, format!("entry {seq} has no MAC: it was added without the console's audit key"));
                return Ok(false);
            }
            None => {
                check.unprotected += 1;
                self.prev = None;
            }
            Some(mac) => {
                self.chained = true;
                let want = key.mac(self.prev.as_deref().unwrap_or(&[]), fields);
                if aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), mac.as_bytes()).is_err() {
                    check.break_at(
                        seq,
                        format!("entry {seq} does not match its MAC: it was changed, or entries before it were changed, added or removed"),
                    );
                    return Ok(false);
                }
                self.prev = Some(hex::decode(mac).map_err(|_| StoreError::Corrupt(format!("audit entry {seq}: mac is not hex")))?);
            }
        }
        Ok(true)
    }
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheck {
    /// Entries read (the last number, unless entries are missing).
    pub entries: u64,
    pub last_seq: u64,
    /// Entries from before the chain began (written before schema 6).
    pub unprotected: u64,
    /// The last entry moved to an archive by `audit prune` (0: none); the
    /// chain is checked from the one after it.
    #[serde(default)]
    pub pruned_through: u64,
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
        if !v.started {
            v.start_after(key, self.audit_anchor()?)?;
            if v.done {
                return Ok(());
            }
        }
        let rows = self.db.query(
            "SELECT seq, at_ms, actor, action, target, details_json, mac FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            &params![to_db(v.check.last_seq)?, to_db(VERIFY_PAGE)?],
        )?;
        if rows.is_empty() {
            v.done = true;
            return Ok(());
        }
        for r in &rows {
            let seq: u64 = from_db(r.get(0)?)?;
            let (actor, action, target, details): (String, String, String, String) = (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
            let fields = Fields { seq, at_ms: from_db(r.get(1)?)?, actor: &actor, action: &action, target: &target, details_json: &details };
            if !v.feed(key, &fields, r.get::<Option<String>>(6)?.as_deref())? {
                // A prune that ran while this check paged through the log
                // moves the anchor past the "missing" entries: start again there.
                let anchor = self.audit_anchor()?;
                if anchor.as_ref().is_some_and(|(a, _)| a.seq >= seq.saturating_sub(1) && a.seq > v.check.pruned_through) {
                    v.start_after(key, anchor)?;
                } else {
                    v.done = true;
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// The pruning anchor and its stored MAC, if the log was ever pruned.
    pub fn audit_anchor(&self) -> Result<Option<(AuditAnchor, String)>> {
        self.db
            .query_opt("SELECT seq, mac, pruned_at_ms, archive_sha256, anchor_mac FROM audit_anchor WHERE id = 1", &[])?
            .map(|r| {
                Ok((
                    AuditAnchor { seq: from_db(r.get(0)?)?, mac: r.get(1)?, pruned_at_ms: from_db(r.get(2)?)?, archive_sha256: r.get(3)? },
                    r.get(4)?,
                ))
            })
            .transpose()
    }

    /// Moves the entries older than `before_ms` (never the newest one) to
    /// `archive`: a header line naming the entry they follow, then one JSON
    /// object per entry, MACs included. Refuses a log whose chain does not
    /// check (prune only what verifies). The archive is fsynced before the
    /// entries are deleted; the deletion and the new anchor are one
    /// transaction; the prune itself is then audited (`audit_prune`).
    pub fn prune_audit(&mut self, key: &AuditKey, before_ms: u64, now_ms: u64, archive: &mut std::fs::File) -> Result<PruneOutcome> {
        let check = self.verify_audit(key)?;
        if let (Some(at), Some(why)) = (check.broken_at, &check.reason) {
            return Err(StoreError::AuditPrune(format!(
                "the audit log's chain is broken at entry {at} ({why}); nothing was pruned: keep the log as it is for the investigation"
            )));
        }
        let through: i64 = self
            .db
            .query_one(
                "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE at_ms < ?1 AND seq < (SELECT MAX(seq) FROM audit)",
                &params![to_db(before_ms.min(i64::MAX as u64))?],
            )?
            .get(0)?;
        let through: u64 = from_db(through)?;
        let after = self.audit_anchor()?.map(|(a, _)| a);
        let after_seq = after.as_ref().map_or(0, |a| a.seq);
        if through <= after_seq {
            return Ok(PruneOutcome { archived: 0, anchor: None });
        }
        let mut hasher = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut out = std::io::BufWriter::new(&mut *archive);
        let mut write_line = |line: String| -> Result<()> {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
            writeln!(out, "{line}").map_err(|e| StoreError::AuditPrune(format!("cannot write the archive: {e}")))
        };
        let header = ArchiveHeader { teehsm_audit_archive: 1, after_seq, after_mac: after.map(|a| a.mac).unwrap_or_default() };
        write_line(serde_json::to_string(&header)?)?;
        let (mut last, mut last_mac, mut archived) = (after_seq, String::new(), 0u64);
        while last < through {
            let page = self.audit_entries(last, VERIFY_PAGE.min(through - last))?;
            let Some(end) = page.last().map(|e| e.seq) else { break };
            for e in &page {
                write_line(serde_json::to_string(e)?)?;
                last_mac = e.mac.clone().unwrap_or_default();
                archived += 1;
            }
            last = end;
        }
        out.flush().map_err(|e| StoreError::AuditPrune(format!("cannot write the archive: {e}")))?;
        drop(out);
        archive.sync_all().map_err(|e| StoreError::AuditPrune(format!("cannot sync the archive: {e}")))?;
        if last != through || last_mac.is_empty() {
            return Err(StoreError::AuditPrune(format!(
                "entry {through} has no MAC (written before the chain began); prune only chained entries, or after a later date"
            )));
        }
        let anchor = AuditAnchor { seq: through, mac: last_mac, pruned_at_ms: now_ms, archive_sha256: hex::encode(hasher.finish().as_ref()) };
        let anchor_mac = key.anchor_mac(&anchor);
        let tx = self.db.begin()?;
        tx.execute("DELETE FROM audit WHERE seq <= ?1", &params![to_db(through)?])?;
        tx.execute("DELETE FROM audit_anchor", &[])?;
        tx.execute(
            "INSERT INTO audit_anchor (id, seq, mac, pruned_at_ms, archive_sha256, anchor_mac) VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            &params![to_db(anchor.seq)?, anchor.mac.as_str(), to_db(now_ms)?, anchor.archive_sha256.as_str(), anchor_mac],
        )?;
        tx.commit()?;
        let details = serde_json::json!({ "archived": archived, "through": through, "archive_sha256": anchor.archive_sha256 });
        self.append_audit(now_ms, "cli", "audit_prune", &format!("entries {} to {through}", after_seq + 1), &details)?;
        Ok(PruneOutcome { archived, anchor: Some(anchor) })
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

/// What [`verify_audit_archive`] found: the chain's check, and the entry
/// (number, MAC) it ends with, where the next archive or the database's
/// anchor must go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCheck {
    pub check: AuditCheck,
    pub after_seq: u64,
    pub end_seq: u64,
    pub end_mac: String,
}

/// Verifies an archive written by [`Store::prune_audit`] against `key`.
pub fn verify_audit_archive(key: &AuditKey, archive: impl std::io::BufRead) -> Result<ArchiveCheck> {
    let bad = |line: usize, why: String| StoreError::AuditPrune(format!("archive line {line}: {why}"));
    let mut lines = archive.lines();
    let header = lines.next().ok_or_else(|| bad(1, "empty file".into()))?.map_err(|e| bad(1, e.to_string()))?;
    let header: ArchiveHeader = serde_json::from_str(&header).map_err(|e| bad(1, format!("not an audit archive header: {e}")))?;
    let mut v = AuditVerifier { started: true, chained: !header.after_mac.is_empty(), ..AuditVerifier::default() };
    v.check.last_seq = header.after_seq;
    v.check.pruned_through = header.after_seq;
    if !header.after_mac.is_empty() {
        v.prev = Some(hex::decode(&header.after_mac).map_err(|_| bad(1, "after_mac is not hex".into()))?);
    }
    let mut end_mac = header.after_mac.clone();
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| bad(i + 2, e.to_string()))?;
        let e: AuditEntry = serde_json::from_str(&line).map_err(|e| bad(i + 2, format!("not an audit entry: {e}")))?;
        let details = serde_json::to_string(&e.details)?;
        let fields = Fields { seq: e.seq, at_ms: e.at_ms, actor: &e.actor, action: &e.action, target: &e.target, details_json: &details };
        if !v.feed(key, &fields, e.mac.as_deref())? {
            break;
        }
        end_mac = e.mac.unwrap_or_default();
    }
    Ok(ArchiveCheck { end_seq: v.check.last_seq, after_seq: header.after_seq, end_mac, check: v.check })
}
