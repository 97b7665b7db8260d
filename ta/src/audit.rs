//! Hash-chained audit log (DESIGN invariant 6).
//!
//! `audit.log` holds one JSON object per line. Each entry carries the hash of
//! the previous one; its own hash is SHA-256(prev_hash || canonical line
//! without the "hash" field). Editing, deleting or reordering any entry
//! breaks the chain; truncating the tail is caught against the checkpoint
//! (sequence, hash) that every store commit seals.
//!
//! Key-use entries are buffered and written at each store commit and at
//! least every 100 ms; key-management entries become durable with the
//! commit that follows them.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use teehsm_crypto::digest::{digest, HashAlg};
use thiserror::Error;

pub const AUDIT_FILE: &str = "audit.log";

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("audit log I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("audit log line {line}: {why}")]
    Broken { line: u64, why: String },
}

/// One audited event.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slot: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mechanism: Option<u64>,
    /// The gRPC API key name a call used (`Api:*` entries), never key material or data.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    /// CKR code; for `Api:*` entries the gRPC status code (0 = OK).
    pub rv: u32,
}

/// An entry as written: the event plus its place in the chain.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    seq: u64,
    time_ms: u64,
    prev: String,
    #[serde(flatten)]
    event: Event,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    hash: Option<String>,
}

fn chain_hash(prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(32 + canonical.len());
    buf.extend_from_slice(prev);
    buf.extend_from_slice(canonical);
    let d = digest(HashAlg::Sha256, &buf);
    let mut out = [0u8; 32];
    out.copy_from_slice(&d);
    out
}

/// The line written for an entry: its canonical JSON with `"hash"` as the
/// last member, byte for byte what serializing the entry with `hash` set
/// gives (`hash` is Entry's last field), without serializing it twice.
fn with_hash(mut canonical: Vec<u8>, hash: &[u8; 32]) -> Vec<u8> {
    let mut hex_hash = [0u8; 64];
    // A 64-byte buffer always fits 32 bytes of hex.
    let _ = hex::encode_to_slice(hash, &mut hex_hash);
    canonical.pop(); // the closing '}'
    canonical.extend_from_slice(b",\"hash\":\"");
    canonical.extend_from_slice(&hex_hash);
    canonical.extend_from_slice(b"\"}");
    canonical
}

struct Writer {
    out: BufWriter<File>,
    seq: u64,
    head: [u8; 32],
}

/// The TA's audit log.
pub struct AuditLog {
    path: PathBuf,
    w: Mutex<Writer>,
}

/// Milliseconds since the Unix epoch by the TA's clock (0 if before it).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl AuditLog {
    /// Opens the log, verifying the existing chain to find its head.
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        let path = dir.join(AUDIT_FILE);
        let io = |source| AuditError::Io { path: path.display().to_string(), source };
        let summary = if path.exists() { verify_file(&path)? } else { ChainSummary::default() };
        if path.exists() {
            repair_tail(&path, summary.good_len).map_err(io)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).mode(0o600).open(&path).map_err(io)?;
        // Gramine ignores O_APPEND: position at the end explicitly.
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(io)?;
        Ok(AuditLog {
            path: path.clone(),
            w: Mutex::new(Writer { out: BufWriter::with_capacity(64 * 1024, file), seq: summary.last_seq, head: summary.head }),
        })
    }

    /// Appends an event to the chain (buffered).
    pub fn append(&self, event: Event) {
        let mut w = match self.w.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let seq = w.seq + 1;
        let entry = Entry { seq, time_ms: now_ms(), prev: hex::encode(w.head), event, hash: None };
        let canonical = match serde_json::to_vec(&entry) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "audit: cannot encode entry");
                return;
            }
        };
        let h = chain_hash(&w.head, &canonical);
        let line = with_hash(canonical, &h);
        if w.out.write_all(&line).and_then(|_| w.out.write_all(b"\n")).is_err() {
            tracing::error!(path = %self.path.display(), "audit: write failed");
            return;
        }
        w.seq = seq;
        w.head = h;
    }

    /// Writes buffered entries to the OS.
    pub fn flush(&self) -> Result<(), AuditError> {
        let mut w = match self.w.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        w.out.flush().map_err(|source| AuditError::Io { path: self.path.display().to_string(), source })
    }

    /// Flushes and fsyncs; returns the head (sequence, hash) now durable.
    pub fn sync(&self) -> Result<(u64, [u8; 32]), AuditError> {
        let mut w = match self.w.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let io = |source| AuditError::Io { path: self.path.display().to_string(), source };
        w.out.flush().map_err(io)?;
        w.out.get_ref().sync_data().map_err(io)?;
        Ok((w.seq, w.head))
    }

    pub fn head(&self) -> (u64, [u8; 32]) {
        match self.w.lock() {
            Ok(g) => (g.seq, g.head),
            Err(p) => {
                let g = p.into_inner();
                (g.seq, g.head)
            }
        }
    }
}

/// Makes the log end right after its last good entry and a newline before
/// anything is appended: a torn final line (a crash mid-write; never synced,
/// so never sealed into a store checkpoint) is cut off, and a last entry
/// whose newline was not written gets one. Otherwise the next entry would be
/// glued to the torn bytes and lost at the following open, and a store
/// checkpoint that sealed it would then refuse the log.
fn repair_tail(path: &Path, good_len: u64) -> std::io::Result<()> {
    let len = std::fs::metadata(path)?.len();
    let f = OpenOptions::new().write(true).open(path)?;
    if good_len < len {
        tracing::warn!(path = %path.display(), bytes = len - good_len, "audit: cutting off a torn final line");
        f.set_len(good_len)?;
    } else if good_len == len + 1 {
        tracing::warn!(path = %path.display(), "audit: adding the newline the last entry was written without");
        let mut end = &f;
        std::io::Seek::seek(&mut end, std::io::SeekFrom::End(0))?;
        std::io::Write::write_all(&mut end, b"\n")?;
    } else {
        return Ok(());
    }
    f.sync_all()
}

/// What verification found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub entries: u64,
    pub last_seq: u64,
    pub head: [u8; 32],
    /// Hash recorded at each sequence number, kept only for the checkpoint check.
    pub checkpoint_hash: Option<[u8; 32]>,
    /// Bytes from the start through the last good entry and its newline
    /// (past the file's end by one when that entry has no newline yet).
    pub good_len: u64,
}

/// Verifies the chain in `path`; if `checkpoint` is given, also that the
/// entry with that sequence number exists and has that hash.
pub fn verify(path: &Path, checkpoint: Option<(u64, [u8; 32])>) -> Result<ChainSummary, AuditError> {
    let s = verify_inner(path, checkpoint.map(|c| c.0))?;
    if let Some((seq, hash)) = checkpoint {
        if seq > 0 {
            match s.checkpoint_hash {
                Some(h) if h == hash => {}
                Some(_) => return Err(AuditError::Broken { line: seq, why: "entry differs from the checkpoint sealed in the store".into() }),
                None => {
                    return Err(AuditError::Broken {
                        line: seq,
                        why: format!("the log ends at {} but the store sealed a checkpoint at {seq}: entries were deleted", s.last_seq),
                    })
                }
            }
        }
    }
    Ok(s)
}

fn verify_file(path: &Path) -> Result<ChainSummary, AuditError> {
    verify_inner(path, None)
}

fn verify_inner(path: &Path, checkpoint_seq: Option<u64>) -> Result<ChainSummary, AuditError> {
    let f = File::open(path).map_err(|source| AuditError::Io { path: path.display().to_string(), source })?;
    let mut s = ChainSummary::default();
    let reader = BufReader::new(f);
    let mut line_no = 0u64;
    let mut pending_partial = false;
    let mut offset = 0u64;
    for line in reader.split(b'\n') {
        line_no += 1;
        let line = line.map_err(|source| AuditError::Io { path: path.display().to_string(), source })?;
        offset += line.len() as u64 + 1;
        if pending_partial {
            return Err(AuditError::Broken { line: line_no - 1, why: "malformed entry in the middle of the log".into() });
        }
        if line.is_empty() {
            continue;
        }
        let broken = |why: String| AuditError::Broken { line: line_no, why };
        let mut entry: Entry = match serde_json::from_slice(&line) {
            Ok(e) => e,
            Err(e) => {
                // A torn final line (crash mid-write) is tolerated only at the very end.
                pending_partial = true;
                tracing::warn!(line = line_no, error = %e, "audit: unreadable line (torn tail?)");
                continue;
            }
        };
        if entry.seq != s.last_seq + 1 {
            return Err(broken(format!("sequence {} follows {}: entries were deleted or reordered", entry.seq, s.last_seq)));
        }
        if entry.prev != hex::encode(s.head) {
            return Err(broken("previous-hash link does not match: an earlier entry was edited or removed".into()));
        }
        let claimed = entry.hash.take().ok_or_else(|| broken("missing hash".into()))?;
        let canonical = serde_json::to_vec(&entry).map_err(|e| broken(e.to_string()))?;
        let h = chain_hash(&s.head, &canonical);
        if hex::encode(h) != claimed {
            return Err(broken("hash does not match the entry's content: the entry was edited".into()));
        }
        s.entries += 1;
        s.last_seq = entry.seq;
        s.head = h;
        s.good_len = offset;
        if checkpoint_seq == Some(entry.seq) {
            s.checkpoint_hash = Some(h);
        }
    }
    if pending_partial {
        // Rewrite-free tolerance: the torn tail is ignored, the chain head stays at the last good entry.
        tracing::warn!("audit: ignoring a torn final line");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_with_hash_is_what_serde_writes() {
        let mut e = super::Entry {
            seq: 7,
            time_ms: 1,
            prev: "ab".repeat(32),
            event: super::Event {
                op: "Sign".into(),
                client: Some("c\"x".into()),
                slot: Some(0),
                session: Some(3),
                object: None,
                mechanism: Some(0x1041),
                key: None,
                rv: 0,
            },
            hash: None,
        };
        let canonical = serde_json::to_vec(&e).unwrap();
        let h = [0x5a; 32];
        let line = super::with_hash(canonical, &h);
        e.hash = Some(hex::encode(h));
        assert_eq!(line, serde_json::to_vec(&e).unwrap());
    }

    use super::*;

    fn dir() -> PathBuf {
        let mut b = [0u8; 8];
        let _ = teehsm_crypto::rng::fill(&mut b);
        let d = std::env::temp_dir().join(format!("teehsm-audit-{}", u64::from_le_bytes(b)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn ev(op: &str, obj: u64) -> Event {
        Event { op: op.into(), object: Some(obj), rv: 0, ..Default::default() }
    }

    fn write_log(d: &Path, n: u64) -> (u64, [u8; 32]) {
        let log = AuditLog::open(d).unwrap();
        for i in 0..n {
            log.append(ev("Sign", i));
        }
        log.sync().unwrap()
    }

    #[test]
    fn chain_verifies_and_survives_reopen() {
        let d = dir();
        let head = write_log(&d, 10);
        let log = AuditLog::open(&d).unwrap();
        assert_eq!(log.head(), head);
        log.append(ev("GenerateKey", 99));
        let head2 = log.sync().unwrap();
        let s = verify(&d.join(AUDIT_FILE), Some(head)).unwrap();
        assert_eq!(s.entries, 11);
        assert_eq!((s.last_seq, s.head), head2);
    }

    fn lines(d: &Path) -> Vec<String> {
        std::fs::read_to_string(d.join(AUDIT_FILE)).unwrap().lines().map(str::to_owned).collect()
    }
    fn put(d: &Path, l: &[String]) {
        std::fs::write(d.join(AUDIT_FILE), l.join("\n") + "\n").unwrap();
    }

    #[test]
    fn edit_delete_reorder_and_truncation_are_detected() {
        let d = dir();
        let head = write_log(&d, 5);
        let orig = lines(&d);
        let mut edited = orig.clone();
        edited[2] = edited[2].replace("\"object\":2", "\"object\":7");
        put(&d, &edited);
        assert!(verify(&d.join(AUDIT_FILE), None).is_err(), "edit");
        let mut deleted = orig.clone();
        deleted.remove(1);
        put(&d, &deleted);
        assert!(verify(&d.join(AUDIT_FILE), None).is_err(), "delete");
        let mut swapped = orig.clone();
        swapped.swap(1, 2);
        put(&d, &swapped);
        assert!(verify(&d.join(AUDIT_FILE), None).is_err(), "reorder");
        put(&d, &orig[..3]);
        assert!(verify(&d.join(AUDIT_FILE), None).is_ok(), "a prefix is a valid chain by itself");
        assert!(verify(&d.join(AUDIT_FILE), Some(head)).is_err(), "but not against the sealed checkpoint");
    }
}

#[cfg(test)]
mod torn_tail_tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("teehsm-audit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn event(op: &str) -> Event {
        Event { op: op.into(), rv: 0, ..Default::default() }
    }

    /// A crash left `tail` after a good entry; the next process appends,
    /// and a third open must still see every entry written after the crash.
    fn survives(tag: &str, tail: &[u8], cut: bool) {
        let d = temp(tag);
        {
            let log = AuditLog::open(&d).unwrap();
            log.append(event("A"));
            log.sync().unwrap();
        }
        let mut text = std::fs::read(d.join(AUDIT_FILE)).unwrap();
        let good = text.clone();
        if cut {
            text.pop(); // the newline of entry 1 never made it
        }
        text.extend_from_slice(tail);
        std::fs::write(d.join(AUDIT_FILE), &text).unwrap();
        let log = AuditLog::open(&d).unwrap();
        assert_eq!(log.head().0, 1);
        assert_eq!(std::fs::read(d.join(AUDIT_FILE)).unwrap(), good, "the log ends after entry 1 and its newline");
        log.append(event("B"));
        let head = log.sync().unwrap();
        drop(log);
        let again = AuditLog::open(&d).unwrap();
        assert_eq!(again.head(), head, "entry 2 written after the crash is still there");
        assert_eq!(head.0, 2);
        verify(&d.join(AUDIT_FILE), Some(head)).unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_line_is_cut_off_before_appending() {
        survives("torn", b"{\"seq\":2,\"time_ms\":5,\"pr", false);
    }

    #[test]
    fn a_missing_newline_is_added_before_appending() {
        survives("newline", b"", true);
    }
}
