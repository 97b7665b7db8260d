//! The sealed store (DESIGN invariants 4 and 5), driven directly through
//! `teehsm_ta::store::Store` on a sim platform, and through the TA harness
//! with restarts on the same directories.
//!
//! Record layout (store.rs): a 64-byte header, then records
//! `len u32 | seq u64 | nonce [12] | AES-256-GCM(ciphertext || tag)`, where
//! `len` counts everything after itself. The tests below edit files at those
//! offsets to play torn writes, bit flips, deletions and rollbacks.

mod common;

use common::{Harness, USER_PIN};
use std::path::PathBuf;
use std::sync::Arc;
use teehsm_ta::handler::HandlerConfig;
use teehsm_ta::object::Object;
use teehsm_ta::platform::sim::SimPlatform;
use teehsm_ta::platform::Platform;
use teehsm_ta::store::{AuditSync, Op, Store, StoreError};
use teehsm_ta::token::TokenRecord;
use teehsm_wire::ck::*;
use teehsm_wire::*;
use zeroize::Zeroizing;

const HEADER_LEN: usize = 64;

/// A scratch directory holding `platform/` and `store/`, removed on drop.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        Scratch { root: common::temp_dir(tag) }
    }
    fn data(&self) -> PathBuf {
        self.root.join("store")
    }
    fn log(&self) -> PathBuf {
        self.data().join("store.log")
    }
    fn counter_file(&self) -> PathBuf {
        self.root.join("platform").join("monotonic.counter")
    }
    fn platform(&self, svn: u32) -> Arc<SimPlatform> {
        Arc::new(SimPlatform::open(&self.root.join("platform"), svn).unwrap())
    }
    fn try_open(&self, svn: u32) -> Result<Store, StoreError> {
        Store::open(&self.data(), self.platform(svn), no_audit())
    }
    fn open(&self, svn: u32) -> Store {
        match self.try_open(svn) {
            Ok(s) => s,
            Err(e) => panic!("the store should open but did not: {e}"),
        }
    }
    /// Opens expecting a refusal; returns the error.
    fn refused(&self, svn: u32) -> StoreError {
        match self.try_open(svn) {
            Ok(s) => {
                s.shutdown();
                panic!("the store should have been refused but opened");
            }
            Err(e) => e,
        }
    }
    fn counter(&self) -> u64 {
        self.platform(1).counter().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn no_audit() -> AuditSync {
    Box::new(|| Ok((0, [0u8; 32])))
}

/// A token secret-key object with a label and key material.
fn secret_object(id: u64, label: &[u8], secret: &[u8]) -> Object {
    let mut o = Object::new(id, 0);
    o.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
    o.set_ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
    o.set_bool(CKA_TOKEN, true);
    o.attrs.insert(CKA_LABEL, label.to_vec());
    o.secret = Some(Zeroizing::new(secret.to_vec()));
    o
}

/// Commits one new object; returns its id.
fn put(store: &Store, label: &[u8], secret: &[u8]) -> u64 {
    let id = store.alloc_id();
    store.commit(vec![Op::PutObject(Arc::new(secret_object(id, label, secret)))]).unwrap();
    id
}

fn label_of(store: &Store, id: u64) -> Option<Vec<u8>> {
    store.state().objects.get(&id).map(|o| o.label().to_vec())
}

fn secret_of(store: &Store, id: u64) -> Option<Vec<u8>> {
    store.state().objects.get(&id).and_then(|o| o.secret.as_ref().map(|s| s.to_vec()))
}

/// (start, end) of every complete record in a log image.
fn records(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos + 4 <= buf.len() {
        let len = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        if pos + 4 + len > buf.len() {
            break;
        }
        out.push((pos, pos + 4 + len));
        pos += 4 + len;
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ------------------------------------------------------------------ durability

#[test]
fn committed_objects_and_tokens_survive_restart() {
    let d = Scratch::new("store-restart");
    let store = d.open(1);
    let a = put(&store, b"alpha", &[1; 32]);
    let b = put(&store, b"beta", &[2; 16]);
    let gone = put(&store, b"gone", &[3; 16]);
    store.commit(vec![Op::DeleteObject(gone)]).unwrap();
    let token = TokenRecord { slot: 0, label: "restart".into(), serial: "00ff".into(), user_failures: 3, ..Default::default() };
    store.commit(vec![Op::PutToken(token.clone())]).unwrap();
    // A change to an existing object replaces it.
    store.commit(vec![Op::PutObject(Arc::new(secret_object(b, b"beta-v2", &[4; 16])))]).unwrap();
    let seq = store.state().seq;
    assert_eq!(seq, 6, "one record per commit when commits do not overlap");
    assert_eq!(d.counter(), 6, "the platform counter is raised with every acknowledged record");
    store.shutdown();

    let store = d.open(1);
    assert_eq!(store.state().seq, 6);
    assert_eq!(store.state().objects.len(), 2);
    assert_eq!(label_of(&store, a).as_deref(), Some(&b"alpha"[..]));
    assert_eq!(secret_of(&store, a), Some(vec![1; 32]));
    assert_eq!(label_of(&store, b).as_deref(), Some(&b"beta-v2"[..]));
    assert_eq!(secret_of(&store, b), Some(vec![4; 16]));
    assert_eq!(label_of(&store, gone), None, "a destroyed object stays destroyed");
    assert_eq!(store.state().tokens.get(&0), Some(&token));
    // Ids are never reused after a restart.
    let next = store.alloc_id();
    assert!(next > gone, "id {next} was handed out again after a restart (last used {gone})");
    store.shutdown();
}

#[test]
fn token_key_survives_ta_restart_with_its_handle() {
    let mut h = Harness::new("store-ta-restart");
    let (mut c, s) = h.user();
    let t = vec![
        Attribute::ulong(CKA_VALUE_LEN, 32),
        Attribute::bool(CKA_TOKEN, true),
        Attribute::bool(CKA_ENCRYPT, true),
        Attribute::bool(CKA_DECRYPT, true),
        Attribute::new(CKA_LABEL, b"durable".to_vec()),
    ];
    let k = h.handle(&mut c, Request::GenerateKey { session: s, mechanism: Mechanism::new(CKM_AES_KEY_GEN), template: t });
    let m = Mechanism::with(CKM_AES_GCM, MechParam::Gcm { iv: vec![7; 12], aad: b"hdr".to_vec(), tag_bits: 128 });
    let ct = h.bytes(&mut c, Request::Encrypt { session: s, mechanism: m.clone(), key: k, data: b"kept across restarts".to_vec() });
    drop(c);

    h.reopen(HandlerConfig::default());
    let mut c = h.conn();
    let s = h.open(&mut c, true);
    h.ok(&mut c, Request::Login { session: s, user_type: CKU_USER, pin: Secret(USER_PIN.to_vec()) });
    match h.ok(&mut c, Request::FindObjects { session: s, template: vec![Attribute::new(CKA_LABEL, b"durable".to_vec())], max: 10 }) {
        Reply::Handles(v) => assert_eq!(v, vec![k], "the same handle after a restart"),
        r => panic!("{r:?}"),
    }
    let pt = h.bytes(&mut c, Request::Decrypt { session: s, mechanism: m, key: k, data: ct });
    assert_eq!(pt, b"kept across restarts");
}

/// Acknowledged means on disk: a copy of the directories taken right after
/// the reply (what a crash at that moment leaves) opens and holds the key.
#[test]
fn crash_image_taken_after_acknowledgement_holds_the_object() {
    let h = Harness::new("store-crash-image");
    let (mut c, s) = h.user();
    let k = h.aes_key(&mut c, s, &[(CKA_TOKEN, true), (CKA_ENCRYPT, true)]);
    let image = Scratch::new("store-crash-copy");
    for sub in ["store", "platform"] {
        std::fs::create_dir_all(image.root.join(sub)).unwrap();
        for e in std::fs::read_dir(h.dir.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), image.root.join(sub).join(e.file_name())).unwrap();
        }
    }
    let store = image.open(1);
    assert!(store.state().objects.contains_key(&k), "the acknowledged key {k} is not in the crash image");
    store.shutdown();
}

// ------------------------------------------------------------------ torn tails

#[test]
fn garbage_after_the_last_record_is_cut_and_everything_acknowledged_kept() {
    let d = Scratch::new("store-garbage");
    let store = d.open(1);
    let ids: Vec<u64> = (0..3).map(|i| put(&store, format!("k{i}").as_bytes(), &[i as u8; 32])).collect();
    store.shutdown();
    let good = std::fs::read(d.log()).unwrap();

    // Zero-filled tail (a crash after the file grew but before data landed), 0xFF
    // noise, a length prefix alone, and a length promising more than is there.
    let mut promising = 500u32.to_be_bytes().to_vec();
    promising.extend_from_slice(&[0xAB; 100]);
    for tail in [vec![0u8; 4096], vec![0xFF; 37], vec![0, 0, 1], promising] {
        let mut img = good.clone();
        img.extend_from_slice(&tail);
        std::fs::write(d.log(), &img).unwrap();
        let store = d.open(1);
        assert_eq!(store.state().seq, 3);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(secret_of(&store, *id), Some(vec![i as u8; 32]), "record {i} lost after a torn tail of {} bytes", tail.len());
        }
        store.shutdown();
        assert_eq!(std::fs::read(d.log()).unwrap(), good, "only the torn bytes are cut off");
    }
    // And the store keeps working after the repair.
    let store = d.open(1);
    let more = put(&store, b"after repair", &[9; 16]);
    store.shutdown();
    let store = d.open(1);
    assert_eq!(secret_of(&store, more), Some(vec![9; 16]));
    assert_eq!(store.state().seq, 4);
    store.shutdown();
}

/// A crash in the middle of appending record 3, before the counter was raised
/// (record 3 was never acknowledged): the half record is cut, 1 and 2 stay.
#[test]
fn torn_unacknowledged_last_record_is_cut_off() {
    let d = Scratch::new("store-torn-unacked");
    let store = d.open(1);
    let a = put(&store, b"a", &[1; 32]);
    let b = put(&store, b"b", &[2; 32]);
    store.shutdown();
    let after_two = std::fs::read(d.log()).unwrap();
    let counter_after_two = std::fs::read(d.counter_file()).unwrap();
    assert_eq!(d.counter(), 2);

    let store = d.open(1);
    let c = put(&store, b"c", &[3; 32]);
    store.shutdown();
    let full = std::fs::read(d.log()).unwrap();
    let recs = records(&full);
    assert_eq!(recs.len(), 3);
    let (start, end) = recs[2];
    for cut in [start + 2, start + 4 + 8 + 5, (start + end) / 2, end - 1] {
        std::fs::write(d.log(), &full[..cut]).unwrap();
        std::fs::write(d.counter_file(), &counter_after_two).unwrap();
        let store = d.open(1);
        assert_eq!(store.state().seq, 2, "cut at {cut}");
        assert_eq!(secret_of(&store, a), Some(vec![1; 32]));
        assert_eq!(secret_of(&store, b), Some(vec![2; 32]));
        assert_eq!(secret_of(&store, c), None, "the unacknowledged record must not appear half-applied");
        store.shutdown();
        assert_eq!(std::fs::read(d.log()).unwrap(), after_two, "exactly the torn record is cut (cut at {cut})");
    }
}

/// A crash after record 3 reached the disk but before the counter was raised:
/// the record is complete and authentic, so it is kept and the counter catches up.
#[test]
fn complete_record_written_before_the_counter_rose_is_kept() {
    let d = Scratch::new("store-complete-unacked");
    let store = d.open(1);
    put(&store, b"a", &[1; 32]);
    put(&store, b"b", &[2; 32]);
    store.shutdown();
    let counter_after_two = std::fs::read(d.counter_file()).unwrap();
    let store = d.open(1);
    let c = put(&store, b"c", &[3; 32]);
    store.shutdown();
    std::fs::write(d.counter_file(), &counter_after_two).unwrap();
    assert_eq!(d.counter(), 2);
    let store = d.open(1);
    assert_eq!(store.state().seq, 3);
    assert_eq!(secret_of(&store, c), Some(vec![3; 32]));
    store.shutdown();
    assert_eq!(d.counter(), 3, "the counter is raised to the store's end on open");
}

/// The same cut when the counter says record 2 *was* acknowledged: cutting it
/// would lose acknowledged data, so the store is refused as rolled back.
#[test]
fn torn_acknowledged_last_record_is_refused_as_rollback() {
    let d = Scratch::new("store-torn-acked");
    let store = d.open(1);
    put(&store, b"a", &[1; 32]);
    put(&store, b"b", &[2; 32]);
    store.shutdown();
    assert_eq!(d.counter(), 2);
    let full = std::fs::read(d.log()).unwrap();
    let (start, end) = records(&full)[1];
    std::fs::write(d.log(), &full[..(start + end) / 2]).unwrap();
    match d.refused(1) {
        StoreError::Rollback { store_seq, counter } => assert_eq!((store_seq, counter), (1, 2)),
        e => panic!("expected a rollback refusal, got: {e}"),
    }
    // It stays refused: the damage is not forgotten by a second attempt.
    assert!(matches!(d.refused(1), StoreError::Rollback { store_seq: 1, counter: 2 }));
}

// ------------------------------------------------------------------ tampering

#[test]
fn flipped_bit_in_an_earlier_record_is_refused_as_corrupt() {
    let d = Scratch::new("store-bitflip");
    let store = d.open(1);
    for i in 0..3u8 {
        put(&store, &[b'k', i], &[i; 32]);
    }
    store.shutdown();
    let good = std::fs::read(d.log()).unwrap();
    let recs = records(&good);
    assert_eq!(recs.len(), 3);
    let (start, end) = recs[1];
    // Inside the ciphertext, the tag, the nonce and the sequence number of record 2.
    for at in [start + 4 + 20 + 3, end - 1, start + 4 + 8 + 2, start + 4 + 7] {
        let mut img = good.clone();
        img[at] ^= 0x10;
        std::fs::write(d.log(), &img).unwrap();
        match d.refused(1) {
            StoreError::Corrupt(msg) => assert!(
                msg.contains(&format!("record at offset {start} fails authentication and is not the last one")),
                "flip at byte {at}: unclear message: {msg}"
            ),
            e => panic!("flip at byte {at}: expected Corrupt, got: {e}"),
        }
        assert_eq!(std::fs::read(d.log()).unwrap(), img, "a refused store is left as found (flip at {at})");
    }
    // A flipped bit in the header (part of every record's associated data) breaks the first record.
    let mut img = good.clone();
    img[20] ^= 1;
    std::fs::write(d.log(), &img).unwrap();
    match d.refused(1) {
        StoreError::Corrupt(msg) => assert!(msg.contains("record at offset 64 fails authentication"), "{msg}"),
        e => panic!("header flip: expected Corrupt, got: {e}"),
    }
    let mut img = good.clone();
    img[0] ^= 1;
    std::fs::write(d.log(), &img).unwrap();
    match d.refused(1) {
        StoreError::Corrupt(msg) => assert!(msg.contains("bad magic"), "{msg}"),
        e => panic!("magic flip: expected Corrupt, got: {e}"),
    }
    // The untouched image still opens with everything.
    std::fs::write(d.log(), &good).unwrap();
    let store = d.open(1);
    assert_eq!(store.state().objects.len(), 3);
    store.shutdown();
}

#[test]
fn removed_or_reordered_records_are_refused() {
    let d = Scratch::new("store-reorder");
    let store = d.open(1);
    for i in 0..4u8 {
        put(&store, &[b'k', i], &[i; 32]);
    }
    store.shutdown();
    let good = std::fs::read(d.log()).unwrap();
    let r = records(&good);
    // Record 2 cut out of the middle.
    let mut img = good[..r[1].0].to_vec();
    img.extend_from_slice(&good[r[1].1..]);
    std::fs::write(d.log(), &img).unwrap();
    match d.refused(1) {
        StoreError::Corrupt(msg) => assert!(msg.contains("sequence jumps from 1 to 3"), "{msg}"),
        e => panic!("deleted record: expected Corrupt, got: {e}"),
    }
    // Records 2 and 3 swapped.
    let mut img = good[..r[1].0].to_vec();
    img.extend_from_slice(&good[r[2].0..r[2].1]);
    img.extend_from_slice(&good[r[1].0..r[1].1]);
    img.extend_from_slice(&good[r[3].0..]);
    std::fs::write(d.log(), &img).unwrap();
    match d.refused(1) {
        StoreError::Corrupt(msg) => assert!(msg.contains("sequence jumps from 1 to 3"), "{msg}"),
        e => panic!("swapped records: expected Corrupt, got: {e}"),
    }
}

/// A single flipped bit in the *length* field of an earlier record makes the
/// rest of the file look like a torn tail. The open must be refused, and it
/// must not destroy the acknowledged records that follow (an operator who
/// repairs the one bit, or forensics, needs them).
#[test]
fn flipped_length_of_an_earlier_record_is_refused_without_destroying_later_records() {
    let d = Scratch::new("store-lenflip");
    let store = d.open(1);
    for i in 0..4u8 {
        put(&store, &[b'k', i], &[i; 32]);
    }
    store.shutdown();
    let good = std::fs::read(d.log()).unwrap();
    let (start, _) = records(&good)[1];
    let mut img = good.clone();
    img[start] ^= 0x80; // length now > 2 GiB: "length out of range"
    std::fs::write(d.log(), &img).unwrap();
    let e = d.refused(1);
    assert!(matches!(e, StoreError::Corrupt(_) | StoreError::Rollback { .. }), "expected a refusal as corrupt or rolled back, got: {e}");
    let after = std::fs::read(d.log()).unwrap();
    assert_eq!(
        after.len(),
        img.len(),
        "the refused open cut the store from {} to {} bytes, destroying acknowledged records 2..4 ({e})",
        img.len(),
        after.len()
    );
    // With the bit repaired, everything is back.
    std::fs::write(d.log(), &good).unwrap();
    let store = d.open(1);
    assert_eq!(store.state().objects.len(), 4);
    store.shutdown();
}

// ------------------------------------------------------------------ rollback (invariant 5)

#[test]
fn restored_older_copy_and_deleted_store_are_refused() {
    let d = Scratch::new("store-rollback");
    let store = d.open(1);
    put(&store, b"a", &[1; 32]);
    put(&store, b"b", &[2; 32]);
    store.shutdown();
    let old = std::fs::read(d.log()).unwrap();
    let store = d.open(1);
    put(&store, b"c", &[3; 32]);
    store.shutdown();
    std::fs::write(d.log(), &old).unwrap();
    match d.refused(1) {
        StoreError::Rollback { store_seq, counter } => assert_eq!((store_seq, counter), (2, 3)),
        e => panic!("expected Rollback, got: {e}"),
    }
    assert!(matches!(teehsm_ta::store::read_checkpoint(&d.data(), d.platform(1)), Err(StoreError::Rollback { store_seq: 2, counter: 3 })));
    std::fs::remove_file(d.log()).unwrap();
    match d.refused(1) {
        StoreError::Missing { counter } => assert_eq!(counter, 3),
        e => panic!("expected Missing, got: {e}"),
    }
}

// ------------------------------------------------------------------ group commit

#[test]
fn concurrent_commits_are_grouped_and_all_durable() {
    const THREADS: usize = 16;
    const EACH: usize = 50;
    let d = Scratch::new("store-group");
    let store = Arc::new(d.open(1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::with_capacity(EACH);
                for i in 0..EACH {
                    let id = store.alloc_id();
                    let value = format!("t{t}-i{i}");
                    let o = secret_object(id, value.as_bytes(), value.as_bytes());
                    store.commit(vec![Op::PutObject(Arc::new(o))]).unwrap();
                    // Acknowledged means applied: visible right after commit returns.
                    assert!(store.state().objects.contains_key(&id));
                    ids.push((id, value));
                }
                ids
            })
        })
        .collect();
    let all: Vec<(u64, String)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let total = (THREADS * EACH) as u64;
    assert_eq!(all.len() as u64, total);
    let records = store.stats.records.load(std::sync::atomic::Ordering::Relaxed);
    let ops = store.stats.ops.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(ops, total, "every commit's op was written");
    assert!(records < total, "{total} concurrent commits took {records} records: no group commit happened");
    assert_eq!(store.state().seq, records, "one sequence number per record");
    store.shutdown();
    drop(store);

    let store = d.open(1);
    assert_eq!(store.state().objects.len() as u64, total);
    for (id, value) in &all {
        assert_eq!(secret_of(&store, *id).as_deref(), Some(value.as_bytes()), "object {id} after reopen");
    }
    store.shutdown();
}

// ------------------------------------------------------------------ confidentiality

#[test]
fn store_log_does_not_hold_labels_or_key_material_in_plaintext() {
    let d = Scratch::new("store-sealed");
    let store = d.open(1);
    let label = b"TOP-SECRET-LABEL-4711";
    let secret: Vec<u8> = b"KEY-MATERIAL-0123456789abcdef!!".iter().cycle().take(64).copied().collect();
    let id = put(&store, label, &secret);
    store.commit(vec![Op::PutToken(TokenRecord { slot: 0, label: "SLOT-LABEL-XYZZY".into(), ..Default::default() })]).unwrap();
    store.shutdown();
    let bytes = std::fs::read(d.log()).unwrap();
    assert!(!contains(&bytes, label), "the object label is readable in store.log");
    assert!(!contains(&bytes, b"SLOT-LABEL-XYZZY"), "the token label is readable in store.log");
    for w in secret.windows(8) {
        assert!(!contains(&bytes, w), "8 bytes of key material are readable in store.log");
    }
    let store = d.open(1);
    assert_eq!(secret_of(&store, id), Some(secret));
    store.shutdown();
}

#[test]
fn imported_key_value_is_not_readable_in_any_ta_file() {
    let h = Harness::new("store-sealed-ta");
    let (mut c, s) = h.user();
    let value: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let label = b"imported-label-QWERTY";
    h.handle(
        &mut c,
        Request::CreateObject {
            session: s,
            template: vec![
                Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_AES),
                Attribute::new(CKA_VALUE, value.clone()),
                Attribute::new(CKA_LABEL, label.to_vec()),
                Attribute::bool(CKA_TOKEN, true),
                Attribute::bool(CKA_ENCRYPT, true),
            ],
        },
    );
    h.ta.audit.sync().unwrap();
    let log = std::fs::read(h.dir.join("store").join("store.log")).unwrap();
    assert!(log.len() > HEADER_LEN, "the key was committed");
    for (name, bytes) in [("store.log", log), ("audit.log", std::fs::read(h.dir.join("store").join("audit.log")).unwrap())] {
        assert!(!contains(&bytes, &value[..16]), "key material is readable in {name}");
        assert!(!contains(&bytes, label), "the key's label is readable in {name}");
        assert!(!contains(&bytes, USER_PIN), "the user PIN is readable in {name}");
    }
}

// ------------------------------------------------------------------ compaction and resealing

/// A signed upgrade (higher security version) reseals the whole store under
/// its own version: everything is kept, and the old TA can no longer open it.
#[test]
fn upgrade_reseals_keeps_everything_and_blocks_downgrade() {
    let d = Scratch::new("store-reseal");
    let store = d.open(1);
    let ids: Vec<u64> = (0..300).map(|_| store.alloc_id()).collect();
    let ops =
        ids.iter().enumerate().map(|(i, id)| Op::PutObject(Arc::new(secret_object(*id, format!("obj-{i}").as_bytes(), &(i as u32).to_be_bytes()))));
    store.commit(ops.collect()).unwrap();
    store.commit(vec![Op::DeleteObject(ids[7])]).unwrap();
    store.commit(vec![Op::PutToken(TokenRecord { slot: 0, label: "t".into(), so_failures: 2, ..Default::default() })]).unwrap();
    let seq_before = store.state().seq;
    store.shutdown();
    let before = std::fs::read(d.log()).unwrap();
    assert_eq!(u32::from_be_bytes(before[36..40].try_into().unwrap()), 1);

    let store = d.open(2);
    assert!(store.state().seq > seq_before, "the resealed records carry the sequence forward");
    let extra = put(&store, b"after upgrade", b"x");
    store.shutdown();
    let after = std::fs::read(d.log()).unwrap();
    assert_eq!(u32::from_be_bytes(after[36..40].try_into().unwrap()), 2, "header names the new security version");
    assert_eq!(u64::from_be_bytes(after[28..36].try_into().unwrap()), 2, "a new generation of the log");
    assert_eq!(after[12..28], before[12..28], "same store id");

    let store = d.open(2);
    assert_eq!(store.state().objects.len(), 300);
    for (i, id) in ids.iter().enumerate() {
        let want = if i == 7 { None } else { Some((i as u32).to_be_bytes().to_vec()) };
        assert_eq!(secret_of(&store, *id), want, "object {i} after resealing");
    }
    assert_eq!(secret_of(&store, extra), Some(b"x".to_vec()));
    assert_eq!(store.state().tokens.get(&0).map(|t| t.so_failures), Some(2));
    store.shutdown();

    match d.refused(1) {
        StoreError::Downgrade { store, own } => assert_eq!((store, own), (2, 1)),
        e => panic!("expected Downgrade, got: {e}"),
    }
}

/// The size trigger: more than 64 MiB appended since the last snapshot.
/// Overwriting a few big objects many times grows the log without growing
/// the state; compaction must shrink the file and keep every latest value.
#[test]
fn size_triggered_compaction_shrinks_the_log_and_keeps_everything() {
    let d = Scratch::new("store-compact");
    let store = d.open(1);
    let small: Vec<u64> = (0..50u32).map(|i| put(&store, format!("small-{i}").as_bytes(), &i.to_be_bytes())).collect();
    let big: Vec<u64> = (0..4).map(|_| store.alloc_id()).collect();
    let mb = 1_000_000usize;
    let mut latest = std::collections::HashMap::new();
    let mut round = 0u8;
    while store.stats.compactions.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(round < 80, "no compaction after {round} MB appended");
        let id = big[round as usize % big.len()];
        store.commit(vec![Op::PutObject(Arc::new(secret_object(id, b"big", &vec![round; mb])))]).unwrap();
        latest.insert(id, round);
        round += 1;
    }
    assert!(round as usize * mb > 64 << 20, "compacted after only {round} MB");
    let size = std::fs::metadata(d.log()).unwrap().len();
    assert!(size < 8 * mb as u64, "the compacted log is {size} bytes");
    assert!(!d.data().join("store.log.new").exists(), "no temporary file left behind");
    // Writes continue after the compaction.
    let after = put(&store, b"after", b"compaction");
    store.shutdown();

    let store = d.open(1);
    for (i, id) in small.iter().enumerate() {
        assert_eq!(secret_of(&store, *id), Some((i as u32).to_be_bytes().to_vec()));
    }
    for (id, r) in latest {
        assert_eq!(secret_of(&store, id), Some(vec![r; mb]), "big object {id} should hold round {r}'s value");
    }
    assert_eq!(secret_of(&store, after), Some(b"compaction".to_vec()));
    store.shutdown();
}

/// One commit batch larger than the 8 MiB the reader accepts per record
/// (group commit of many concurrent imports can build one) is acknowledged;
/// the store must still open afterwards.
#[test]
fn large_acknowledged_batch_still_opens() {
    let d = Scratch::new("store-bigbatch");
    let store = d.open(1);
    let ops: Vec<Op> = (0..9u8).map(|i| Op::PutObject(Arc::new(secret_object(store.alloc_id(), b"big", &vec![i; 1_000_000])))).collect();
    store.commit(ops).unwrap();
    store.shutdown();
    match d.try_open(1) {
        Ok(s) => {
            assert_eq!(s.state().objects.len(), 9);
            s.shutdown();
        }
        Err(e) => panic!("an acknowledged 9 MB commit left a store that does not open: {e}"),
    }
}

/// Compaction (here: the reseal on upgrade) of a state larger than 8 MiB
/// must write records the reader accepts.
#[test]
fn compaction_of_a_large_state_still_opens() {
    let d = Scratch::new("store-bigsnap");
    let store = d.open(1);
    for i in 0..12u8 {
        put(&store, &[b'b', i], &vec![i; 1_000_000]);
    }
    store.shutdown();
    d.open(2).shutdown(); // reseal
    match d.try_open(2) {
        Ok(s) => {
            assert_eq!(s.state().objects.len(), 12);
            s.shutdown();
        }
        Err(e) => panic!("after compacting a 12 MB state the store does not open: {e}"),
    }
}
