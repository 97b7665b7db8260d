//! Sealed, crash-safe, rollback-protected object store with group commit
//! (DESIGN invariants 4 and 5).
//!
//! One append-only file, `store.log`: a 64-byte header, then records. Each
//! record is one commit batch, sealed with AES-256-GCM under a key the
//! platform derives for (signer, product, security version), with the header
//! and the record's sequence number as associated data. A batch is
//! acknowledged only after `fdatasync` of the log and after the platform's
//! monotonic counter has been raised to the batch's sequence number, so:
//! - a crash loses nothing acknowledged, and a torn last record (never
//!   acknowledged) is cut off at the next open;
//! - a store restored from an older copy ends below the counter and is refused;
//! - many concurrent writers share one fsync (group commit).
//!
//! The log is compacted into a fresh file (temp + fsync + rename + dir fsync)
//! when it grows, and resealed when the TA's security version rises.

use crate::object::Object;
use crate::platform::{Platform, PlatformError};
use crate::token::TokenRecord;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use teehsm_crypto::aead;
use teehsm_wire::codec::{DecodeError, Reader, Writer};
use thiserror::Error;
use zeroize::Zeroizing;

const LOG_FILE: &str = "store.log";
const NEW_LOG_FILE: &str = "store.log.new";
const MAGIC: &[u8; 8] = b"TEEHSMS1";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;
const SEAL_PURPOSE: &[u8] = b"teehsm-store-v1";
/// Largest sealed record the reader accepts, and so the largest single
/// commit. Group commits and snapshots are split well below it.
const MAX_RECORD: usize = 64 << 20;
/// Group commit folds requests into one record until it reaches this size.
const TARGET_RECORD: usize = 4 << 20;
/// Snapshot records written by compaction stay below this size.
const SNAPSHOT_CHUNK: usize = 256 << 10;
/// Room for the record framing and the batch header around the ops.
const RECORD_OVERHEAD: usize = 4 + 8 + 12 + 16 + 8 + 8 + 32 + 4;
/// Most commit requests folded into one record.
const MAX_BATCH: usize = 4096;

/// Why the store refused or failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("rollback detected: the store ends at sequence {store_seq} but the platform counter says {counter}; it was restored from an older copy or truncated. Restore the latest copy; the TA will not open an old one")]
    Rollback { store_seq: u64, counter: u64 },
    #[error("the store is missing but the platform counter is {counter}: it was deleted or replaced. Restore it, or wipe the platform directory too to start a new, empty HSM")]
    Missing { counter: u64 },
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    #[error("the store was sealed by security version {store} but this TA is version {own}: downgrade refused")]
    Downgrade { store: u32, own: u32 },
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    #[error("the store stopped accepting writes after an earlier failure; restart the TA")]
    Failed,
    #[error("one commit of {len} bytes exceeds the store's {max}-byte record limit")]
    TooLarge { len: usize, max: usize },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

/// One change in a commit.
#[derive(Debug)]
pub enum Op {
    PutObject(Arc<Object>),
    DeleteObject(u64),
    PutToken(TokenRecord),
}

/// Attributes whose values are indexed for C_FindObjects (the ones
/// applications search by).
const INDEXED: [u64; 4] =
    [teehsm_wire::ck::CKA_LABEL, teehsm_wire::ck::CKA_ID, crate::object::CKA_TEEHSM_CLIENT_ID, crate::object::CKA_TEEHSM_API_KEY_NAME];

/// Everything the store holds, as of the last acknowledged commit.
#[derive(Default)]
pub struct State {
    pub objects: HashMap<u64, Arc<Object>>,
    /// (attribute type, value) -> ids of the objects that have it, for INDEXED types.
    index: HashMap<(u64, Vec<u8>), std::collections::BTreeSet<u64>>,
    pub tokens: BTreeMap<u64, TokenRecord>,
    /// Objects per slot, internal records (PIN verifiers, client
    /// registrations) not counted: what GetTokenInfo reports and the
    /// token capacity limits.
    slot_objects: HashMap<u64, u64>,
    /// The id of each slot's pushed token policy record.
    slot_policy: HashMap<u64, u64>,
    /// Sequence number of the last committed record.
    pub seq: u64,
    /// Audit chain head sealed with the last record.
    pub audit_head: (u64, [u8; 32]),
}

impl State {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::PutObject(o) => {
                if let Some(old) = self.objects.insert(o.id, o.clone()) {
                    self.unindex(&old);
                } else if !crate::object::is_internal_record(o) {
                    *self.slot_objects.entry(o.slot).or_default() += 1;
                }
                if o.class() == crate::object::CKO_TEEHSM_TOKEN_POLICY {
                    self.slot_policy.insert(o.slot, o.id);
                }
                for ty in INDEXED {
                    if let Some(v) = o.get(ty) {
                        self.index.entry((ty, v.to_vec())).or_default().insert(o.id);
                    }
                }
            }
            Op::DeleteObject(id) => {
                if let Some(old) = self.objects.remove(id) {
                    if self.slot_policy.get(&old.slot) == Some(id) {
                        self.slot_policy.remove(&old.slot);
                    }
                    if !crate::object::is_internal_record(&old) {
                        if let Some(n) = self.slot_objects.get_mut(&old.slot) {
                            *n = n.saturating_sub(1);
                        }
                    }
                    self.unindex(&old);
                }
            }
            Op::PutToken(t) => {
                self.tokens.insert(t.slot, t.clone());
            }
        }
    }
}

impl State {
    /// The token policy record of `slot`, if one was pushed.
    pub fn policy_of(&self, slot: u64) -> Option<&Arc<Object>> {
        self.slot_policy.get(&slot).and_then(|id| self.objects.get(id))
    }

    /// Objects on `slot`'s token (internal records not counted).
    pub fn objects_on(&self, slot: u64) -> u64 {
        self.slot_objects.get(&slot).copied().unwrap_or(0)
    }

    fn unindex(&mut self, o: &Object) {
        for ty in INDEXED {
            if let Some(v) = o.get(ty) {
                let key = (ty, v.to_vec());
                if let Some(ids) = self.index.get_mut(&key) {
                    ids.remove(&o.id);
                    if ids.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
        }
    }

    /// The objects a find with `template` must look at: when the template
    /// names an indexed attribute, only the objects with that value;
    /// otherwise all of them. Callers still match the whole template.
    pub fn candidates<'a>(&'a self, template: &[teehsm_wire::Attribute]) -> Box<dyn Iterator<Item = &'a Arc<Object>> + 'a> {
        let indexed = template.iter().find(|a| INDEXED.contains(&a.ty));
        match indexed {
            Some(a) => match self.index.get(&(a.ty, a.value.clone())) {
                Some(ids) => Box::new(ids.iter().filter_map(|id| self.objects.get(id))),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(self.objects.values()),
        }
    }
}

/// Called by the committer before each record: makes the audit log durable
/// and returns its head, which the record then seals.
pub type AuditSync = Box<dyn Fn() -> Result<(u64, [u8; 32]), String> + Send>;

struct Pending {
    ops: Vec<Op>,
    /// The ops' encoding, made on the caller's thread.
    encoded: Zeroizing<Vec<u8>>,
    done: SyncSender<Result<(), String>>,
}

/// Handle to the store; cheap to share.
pub struct Store {
    state: Arc<RwLock<State>>,
    tx: Mutex<Option<SyncSender<Pending>>>,
    next_id: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    committer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub stats: Arc<StoreStats>,
}

/// Counters for benchmarks and metrics.
#[derive(Default)]
pub struct StoreStats {
    pub records: AtomicU64,
    pub ops: AtomicU64,
    pub compactions: AtomicU64,
}

/// The writer side, owned by the committer thread.
struct Log {
    dir: PathBuf,
    file: File,
    header: [u8; HEADER_LEN],
    key: Zeroizing<[u8; 32]>,
    seq: u64,
    bytes_since_compaction: u64,
    last_snapshot_bytes: u64,
    platform: Arc<dyn Platform>,
}

fn make_header(store_id: &[u8; 16], generation: u64, svn: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[12..28].copy_from_slice(store_id);
    h[28..36].copy_from_slice(&generation.to_be_bytes());
    h[36..40].copy_from_slice(&svn.to_be_bytes());
    h
}

struct Header {
    store_id: [u8; 16],
    generation: u64,
    svn: u32,
}

fn parse_header(h: &[u8]) -> Result<Header, StoreError> {
    if h.len() < HEADER_LEN || &h[..8] != MAGIC {
        return Err(StoreError::Corrupt("bad magic: not a teehsm store".into()));
    }
    let be32 = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]); // ok: callers pass 4-byte slices
    if be32(&h[8..12]) != FORMAT_VERSION {
        return Err(StoreError::Corrupt(format!("unsupported store format {}", be32(&h[8..12]))));
    }
    let mut store_id = [0u8; 16];
    store_id.copy_from_slice(&h[12..28]);
    let mut g = [0u8; 8];
    g.copy_from_slice(&h[28..36]);
    Ok(Header { store_id, generation: u64::from_be_bytes(g), svn: be32(&h[36..40]) })
}

fn aad(header: &[u8; HEADER_LEN], seq: u64) -> [u8; HEADER_LEN + 8] {
    let mut a = [0u8; HEADER_LEN + 8];
    a[..HEADER_LEN].copy_from_slice(header);
    a[HEADER_LEN..].copy_from_slice(&seq.to_be_bytes());
    a
}

fn seal_record(key: &[u8; 32], header: &[u8; HEADER_LEN], seq: u64, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut nonce = [0u8; 12];
    teehsm_crypto::rng::fill(&mut nonce).map_err(|e| StoreError::Corrupt(format!("RNG: {e}")))?;
    let ct = aead::aes256gcm_seal(key, &nonce, &aad(header, seq), plaintext).map_err(|e| StoreError::Corrupt(format!("seal: {e}")))?;
    let body_len = 8 + 12 + ct.len();
    let mut out = Vec::with_capacity(4 + body_len);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn encode_op(w: &mut Writer, op: &Op) {
    match op {
        Op::PutObject(o) => {
            w.u8(1);
            o.encode(w);
        }
        Op::DeleteObject(id) => {
            w.u8(2).u64(*id);
        }
        Op::PutToken(t) => {
            w.u8(3);
            t.encode(w);
        }
    }
}

fn encode_ops(ops: &[Op]) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::with_capacity(256 * ops.len());
    for op in ops {
        encode_op(&mut w, op);
    }
    Zeroizing::new(w.into_vec())
}

/// A record's plaintext: batch header, then `n_ops` already-encoded ops.
fn batch_plaintext(next_id: u64, audit: (u64, [u8; 32]), n_ops: usize, encoded_ops: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let len: usize = encoded_ops.iter().map(|e| e.len()).sum();
    let mut w = Writer::with_capacity(len + 64);
    w.u64(next_id).u64(audit.0).raw(&audit.1).u32(n_ops as u32);
    for e in encoded_ops {
        w.raw(e);
    }
    Zeroizing::new(w.into_vec())
}

struct DecodedBatch {
    next_id: u64,
    audit: (u64, [u8; 32]),
    ops: Vec<Op>,
}

fn decode_batch(b: &[u8]) -> Result<DecodedBatch, DecodeError> {
    let mut r = Reader::new(b);
    let next_id = r.u64("next id")?;
    let audit_seq = r.u64("audit seq")?;
    let mut audit_hash = [0u8; 32];
    for x in audit_hash.iter_mut() {
        *x = r.u8("audit hash")?;
    }
    let n = r.count("ops", 1 << 24, 9)?;
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        ops.push(match r.u8("op tag")? {
            1 => Op::PutObject(Arc::new(Object::decode(&mut r)?)),
            2 => Op::DeleteObject(r.u64("object id")?),
            3 => Op::PutToken(TokenRecord::decode(&mut r)?),
            t => return Err(DecodeError::UnknownTag { what: "store op", tag: t as u64 }),
        });
    }
    r.finish()?;
    Ok(DecodedBatch { next_id, audit: (audit_seq, audit_hash), ops })
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl Store {
    /// Opens the store in `dir` (creating it on first use), replays it,
    /// checks it against the platform counter, and starts the committer.
    pub fn open(dir: &Path, platform: Arc<dyn Platform>, audit_sync: AuditSync) -> Result<Store, StoreError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let own_svn = platform.identity().security_version;
        let path = dir.join(LOG_FILE);
        // A leftover compaction file means the rename never happened: the old log is authoritative.
        let _ = fs::remove_file(dir.join(NEW_LOG_FILE));
        let counter = platform.counter()?;
        let mut state = State::default();
        let mut next_id = 1u64;
        let log = if path.exists() {
            let mut file = OpenOptions::new().read(true).write(true).open(&path).map_err(io(&path))?;
            let mut buf = Vec::new();
            file.read_to_end(&mut buf).map_err(io(&path))?;
            let header = parse_header(&buf)?;
            if header.svn > own_svn {
                return Err(StoreError::Downgrade { store: header.svn, own: own_svn });
            }
            let key = platform.seal_key(header.svn, SEAL_PURPOSE)?;
            let mut hdr = [0u8; HEADER_LEN];
            hdr.copy_from_slice(&buf[..HEADER_LEN]);
            let (valid_end, seq) = replay(&buf, &hdr, &key, &mut state, &mut next_id)?;
            // Check for rollback before touching the file: a store that ends
            // below the counter (restored, truncated, or with a damaged
            // length field mid-file) is refused intact, never "repaired".
            if seq < counter {
                return Err(StoreError::Rollback { store_seq: seq, counter });
            }
            if valid_end < buf.len() {
                tracing::warn!(cut_bytes = buf.len() - valid_end, "store: cutting off a torn final record (it was never acknowledged)");
                file.set_len(valid_end as u64).map_err(io(&path))?;
                file.sync_all().map_err(io(&path))?;
            }
            let _ = header.store_id;
            let _ = header.generation;
            if seq > counter {
                platform.advance_counter(seq)?;
            }
            let mut log = Log {
                dir: dir.to_path_buf(),
                file,
                header: hdr,
                key,
                seq,
                bytes_since_compaction: valid_end as u64,
                last_snapshot_bytes: 0,
                platform: platform.clone(),
            };
            use std::io::Seek;
            log.file.seek(std::io::SeekFrom::End(0)).map_err(io(&path))?;
            state.seq = seq;
            if header.svn < own_svn {
                tracing::info!(from = header.svn, to = own_svn, "store: resealing under the new security version");
                log.compact(&state, next_id)?;
                state.seq = log.seq;
            }
            log
        } else {
            if counter > 0 {
                return Err(StoreError::Missing { counter });
            }
            let mut store_id = [0u8; 16];
            teehsm_crypto::rng::fill(&mut store_id).map_err(|e| StoreError::Corrupt(format!("RNG: {e}")))?;
            let header = make_header(&store_id, 1, own_svn);
            let key = platform.seal_key(own_svn, SEAL_PURPOSE)?;
            let tmp = dir.join(NEW_LOG_FILE);
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
            f.write_all(&header).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
            fs::rename(&tmp, &path).map_err(io(&path))?;
            fsync_dir(dir)?;
            let mut file = OpenOptions::new().read(true).append(true).open(&path).map_err(io(&path))?;
            // Gramine ignores O_APPEND: position at the end explicitly.
            std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(io(&path))?;
            Log {
                dir: dir.to_path_buf(),
                file,
                header,
                key,
                seq: 0,
                bytes_since_compaction: HEADER_LEN as u64,
                last_snapshot_bytes: 0,
                platform: platform.clone(),
            }
        };

        let state = Arc::new(RwLock::new(state));
        let next_id = Arc::new(AtomicU64::new(next_id));
        let failed = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(StoreStats::default());
        let (tx, rx) = mpsc::sync_channel::<Pending>(MAX_BATCH);
        let committer = {
            let (state, next_id, failed, stats) = (state.clone(), next_id.clone(), failed.clone(), stats.clone());
            std::thread::Builder::new()
                .name("store-committer".into())
                .spawn(move || committer_loop(log, rx, state, next_id, failed, audit_sync, stats))
                .map_err(io(dir))?
        };
        Ok(Store { state, tx: Mutex::new(Some(tx)), next_id, failed, committer: Mutex::new(Some(committer)), stats })
    }

    /// A fresh object id, never reused.
    pub fn alloc_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Read access to the committed state.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        match self.state.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Makes `ops` durable, then applies them; returns only after both.
    pub fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Failed);
        }
        let encoded = encode_ops(&ops);
        if encoded.len() + RECORD_OVERHEAD > MAX_RECORD {
            return Err(StoreError::TooLarge { len: encoded.len(), max: MAX_RECORD - RECORD_OVERHEAD });
        }
        let (done, wait) = mpsc::sync_channel(1);
        {
            let tx = self.tx.lock().map_err(|_| StoreError::Failed)?;
            let tx = tx.as_ref().ok_or(StoreError::Failed)?;
            tx.send(Pending { ops, encoded, done }).map_err(|_| StoreError::Failed)?;
        }
        match wait.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(StoreError::Corrupt(msg)),
            Err(_) => Err(StoreError::Failed),
        }
    }

    /// Stops the committer after it has finished what is queued.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut h) = self.committer.lock() {
            if let Some(h) = h.take() {
                let _ = h.join();
            }
        }
    }
}

/// Replays every record; returns the end of the last valid record and its seq.
fn replay(buf: &[u8], header: &[u8; HEADER_LEN], key: &[u8; 32], state: &mut State, next_id: &mut u64) -> Result<(usize, u64), StoreError> {
    let mut pos = HEADER_LEN;
    let mut seq = 0u64;
    let mut first = true;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let torn = |why: &str| -> Result<(), StoreError> {
            // Only the final record can be torn; anything valid after a bad record is tampering.
            if rest.len() > MAX_RECORD + 4 {
                return Err(StoreError::Corrupt(format!("bad record at offset {pos} followed by more data: {why}")));
            }
            Ok(())
        };
        if rest.len() < 4 {
            torn("short length")?;
            break;
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if !(8 + 12 + 16..=MAX_RECORD).contains(&len) || rest.len() < 4 + len {
            torn("length out of range")?;
            break;
        }
        let body = &rest[4..4 + len];
        let mut s = [0u8; 8];
        s.copy_from_slice(&body[..8]);
        let rec_seq = u64::from_be_bytes(s);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&body[8..20]);
        let plain = match aead::aes256gcm_open(key, &nonce, &aad(header, rec_seq), &body[20..]) {
            Ok(p) => p,
            Err(_) => {
                if rest.len() == 4 + len {
                    torn("authentication failed")?;
                    break;
                }
                return Err(StoreError::Corrupt(format!(
                    "record at offset {pos} fails authentication and is not the last one: the store was edited"
                )));
            }
        };
        if !first && rec_seq != seq + 1 {
            return Err(StoreError::Corrupt(format!("record sequence jumps from {seq} to {rec_seq}: records were removed or reordered")));
        }
        first = false;
        let batch = decode_batch(&plain).map_err(|e| StoreError::Corrupt(format!("record {rec_seq}: {e}")))?;
        for op in &batch.ops {
            state.apply(op);
        }
        *next_id = (*next_id).max(batch.next_id);
        state.audit_head = batch.audit;
        seq = rec_seq;
        pos += 4 + len;
    }
    Ok((pos, seq))
}

impl Log {
    /// Seals each plaintext as the next record, makes them all durable with
    /// one fsync, then raises the platform counter to the last one.
    fn append(&mut self, plaintexts: &[Zeroizing<Vec<u8>>]) -> Result<u64, StoreError> {
        let path = self.dir.join(LOG_FILE);
        let mut seq = self.seq;
        let mut written = 0u64;
        for plain in plaintexts {
            seq += 1;
            let rec = seal_record(&self.key, &self.header, seq, plain)?;
            self.file.write_all(&rec).map_err(io(&path))?;
            written += rec.len() as u64;
        }
        self.file.sync_data().map_err(io(&path))?;
        self.platform.advance_counter(seq)?;
        self.seq = seq;
        self.bytes_since_compaction += written;
        Ok(seq)
    }

    fn needs_compaction(&self) -> bool {
        self.bytes_since_compaction > (64 << 20).max(4 * self.last_snapshot_bytes)
    }

    /// Writes the whole state into a new file under the current security
    /// version and atomically replaces the log with it.
    fn compact(&mut self, state: &State, next_id: u64) -> Result<(), StoreError> {
        let own_svn = self.platform.identity().security_version;
        let old = parse_header(&self.header)?;
        let header = make_header(&old.store_id, old.generation + 1, own_svn);
        let key = self.platform.seal_key(own_svn, SEAL_PURPOSE)?;
        let tmp = self.dir.join(NEW_LOG_FILE);
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
        f.write_all(&header).map_err(io(&tmp))?;
        let mut ops: Vec<Op> = state.tokens.values().cloned().map(Op::PutToken).collect();
        ops.extend(state.objects.values().cloned().map(Op::PutObject));
        let mut seq = self.seq;
        let mut written = HEADER_LEN as u64;
        // Ops are encoded one by one into the current chunk, which is sealed
        // as a record before the next op would take it past SNAPSHOT_CHUNK.
        let mut chunk = Zeroizing::new(Vec::new());
        let mut chunk_ops = 0usize;
        let mut flush = |chunk: &mut Zeroizing<Vec<u8>>, chunk_ops: &mut usize, seq: &mut u64, f: &mut File| -> Result<(), StoreError> {
            *seq += 1;
            let plain = batch_plaintext(next_id, state.audit_head, *chunk_ops, &[chunk.as_slice()]);
            let rec = seal_record(&key, &header, *seq, &plain)?;
            f.write_all(&rec).map_err(io(&tmp))?;
            written += rec.len() as u64;
            chunk.clear();
            *chunk_ops = 0;
            Ok(())
        };
        for op in &ops {
            let mut w = Writer::with_capacity(512);
            encode_op(&mut w, op);
            let one = Zeroizing::new(w.into_vec());
            if chunk_ops > 0 && chunk.len() + one.len() > SNAPSHOT_CHUNK {
                flush(&mut chunk, &mut chunk_ops, &mut seq, &mut f)?;
            }
            chunk.extend_from_slice(&one);
            chunk_ops += 1;
        }
        // Always at least one record so the new file carries the sequence forward.
        flush(&mut chunk, &mut chunk_ops, &mut seq, &mut f)?;
        f.sync_all().map_err(io(&tmp))?;
        let path = self.dir.join(LOG_FILE);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fsync_dir(&self.dir)?;
        self.platform.advance_counter(seq)?;
        self.file = OpenOptions::new().read(true).append(true).open(&path).map_err(io(&path))?;
        // Gramine ignores O_APPEND: position at the end explicitly.
        std::io::Seek::seek(&mut self.file, std::io::SeekFrom::End(0)).map_err(io(&path))?;
        self.header = header;
        self.key = key;
        self.seq = seq;
        self.last_snapshot_bytes = written;
        self.bytes_since_compaction = written;
        Ok(())
    }
}

/// Splits a group commit into records of about TARGET_RECORD bytes. A
/// request's ops always stay in one record, so each is applied whole or not
/// at all; one request larger than the target gets a record to itself.
fn group_into_records(batch: &[Pending], next_id: u64, audit: (u64, [u8; 32])) -> Vec<Zeroizing<Vec<u8>>> {
    let mut records = Vec::new();
    let mut parts: Vec<&[u8]> = Vec::new();
    let (mut bytes, mut n_ops) = (0usize, 0usize);
    for p in batch {
        if !parts.is_empty() && bytes + p.encoded.len() + RECORD_OVERHEAD > TARGET_RECORD {
            records.push(batch_plaintext(next_id, audit, n_ops, &parts));
            parts.clear();
            bytes = 0;
            n_ops = 0;
        }
        parts.push(&p.encoded);
        bytes += p.encoded.len();
        n_ops += p.ops.len();
    }
    records.push(batch_plaintext(next_id, audit, n_ops, &parts));
    records
}

fn committer_loop(
    mut log: Log,
    rx: Receiver<Pending>,
    state: Arc<RwLock<State>>,
    next_id: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    audit_sync: AuditSync,
    stats: Arc<StoreStats>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let result = (|| -> Result<(), StoreError> {
            let audit = audit_sync().map_err(|e| StoreError::Corrupt(format!("audit log: {e}")))?;
            let plaintexts = group_into_records(&batch, next_id.load(Ordering::SeqCst), audit);
            log.append(&plaintexts)?;
            let ops: Vec<&Op> = batch.iter().flat_map(|p| p.ops.iter()).collect();
            let mut st = match state.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            for op in &ops {
                st.apply(op);
            }
            st.seq = log.seq;
            st.audit_head = audit;
            stats.records.fetch_add(1, Ordering::Relaxed);
            stats.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
            Ok(())
        })();
        match result {
            Ok(()) => {
                for p in batch {
                    let _ = p.done.send(Ok(()));
                }
                if log.needs_compaction() {
                    let st = match state.read() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    if let Err(e) = log.compact(&st, next_id.load(Ordering::SeqCst)) {
                        tracing::error!(error = %e, "store: compaction failed; the store stops accepting writes");
                        failed.store(true, Ordering::SeqCst);
                    } else {
                        stats.compactions.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(e) => {
                // The file may now hold a partial record: stop writing; a restart recovers.
                tracing::error!(error = %e, "store: commit failed; the store stops accepting writes");
                failed.store(true, Ordering::SeqCst);
                for p in batch {
                    let _ = p.done.send(Err(e.to_string()));
                }
            }
        }
        if failed.load(Ordering::SeqCst) {
            break;
        }
    }
}

/// Reads the audit checkpoint sealed in the store without opening it for
/// writing (for `teehsm-ta audit verify`). Also reports a rolled-back store.
pub fn read_checkpoint(dir: &Path, platform: Arc<dyn Platform>) -> Result<(u64, [u8; 32]), StoreError> {
    let path = dir.join(LOG_FILE);
    let buf = fs::read(&path).map_err(io(&path))?;
    let header = parse_header(&buf)?;
    let key = platform.seal_key(header.svn, SEAL_PURPOSE)?;
    let mut hdr = [0u8; HEADER_LEN];
    hdr.copy_from_slice(&buf[..HEADER_LEN]);
    let mut state = State::default();
    let mut next_id = 0;
    let (_, seq) = replay(&buf, &hdr, &key, &mut state, &mut next_id)?;
    let counter = platform.counter()?;
    if seq < counter {
        return Err(StoreError::Rollback { store_seq: seq, counter });
    }
    Ok(state.audit_head)
}
