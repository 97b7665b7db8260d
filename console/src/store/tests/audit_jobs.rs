use serde_json::json;

use crate::store::testutil::{on_both, TestDb};
use crate::store::{JobState, Page, StoreError};

fn audit_is_ordered_and_pages(db: &TestDb) {
    let mut store = db.open(1);
    for i in 0..7u64 {
        // Times deliberately not monotonic: order is by seq.
        let seq = store.append_audit(1000 - i, "alice", "host.revoke", &format!("h{i}"), &json!({ "i": i })).unwrap();
        assert_eq!(seq, i + 1);
    }
    let first = store.audit_entries(0, 3).unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(first[0].target, "h0");
    assert_eq!(first[2].details, json!({ "i": 2 }));
    let rest = store.audit_entries(3, 100).unwrap();
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    assert!(store.audit_entries(7, 10).unwrap().is_empty());
}

fn audit_from_two_connections_is_gap_free(db: &TestDb) {
    let mut a = db.open(1);
    let mut b = db.open(0);
    let t = std::thread::spawn(move || {
        for i in 0..20 {
            b.append_audit(i, "b", "x", "t", &json!(null)).unwrap();
        }
    });
    for i in 0..20 {
        a.append_audit(i, "a", "x", "t", &json!(null)).unwrap();
    }
    t.join().unwrap();
    let seqs: Vec<u64> = a.audit_entries(0, 100).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
}

fn audit_chain_shows_changes_insertions_and_removals(db: &TestDb) {
    use crate::store::db::params;
    use crate::store::AuditKey;
    use std::sync::Arc;
    let key = Arc::new(AuditKey::from_bytes(&[7; 32]));
    let mut store = db.open(1);
    // Two entries from before the chain (schema 5 consoles wrote no MAC), then chained ones.
    store.append_audit(1, "old", "x", "t", &json!(null)).unwrap();
    store.append_audit(2, "old", "x", "t", &json!(null)).unwrap();
    store.set_audit_key(key.clone());
    for i in 3..=8u64 {
        store.append_audit(i, "alice", "host.revoke", &format!("h{i}"), &json!({ "i": i, "text": "ünïcode" })).unwrap();
    }
    let ok = store.verify_audit(&key).unwrap();
    assert!(ok.ok(), "{ok:?}");
    assert_eq!((ok.entries, ok.last_seq, ok.unprotected), (8, 8, 2));
    assert!(store.audit_entries(2, 1).unwrap()[0].mac.as_deref().is_some_and(|m| m.len() == 64));
    // Another key does not verify it.
    let other = AuditKey::from_bytes(&[8; 32]);
    assert_eq!(store.verify_audit(&other).unwrap().broken_at, Some(3));

    let raw = db.raw();
    let check = || store.verify_audit(&key).unwrap();
    // A changed field.
    raw.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 5", &[]).unwrap();
    let c = check();
    assert_eq!(c.broken_at, Some(5), "{c:?}");
    assert!(c.reason.as_deref().is_some_and(|r| r.contains("does not match its MAC")));
    raw.execute("UPDATE audit SET actor = 'alice' WHERE seq = 5", &[]).unwrap();
    assert!(check().ok());
    // A row moved in by hand with a copied MAC (entries swapped).
    raw.execute("UPDATE audit SET target = 'h7' WHERE seq = 6", &[]).unwrap();
    assert_eq!(check().broken_at, Some(6));
    raw.execute("UPDATE audit SET target = 'h6' WHERE seq = 6", &[]).unwrap();
    // An entry removed from the middle, then a forged one in its place, then the original back.
    let original = store.audit_entries(3, 1).unwrap().remove(0);
    raw.execute("DELETE FROM audit WHERE seq = 4", &[]).unwrap();
    let c = check();
    assert_eq!(c.broken_at, Some(4));
    assert!(c.reason.as_deref().is_some_and(|r| r.contains("missing")), "{c:?}");
    let insert = "INSERT INTO audit (seq, at_ms, actor, action, target, details_json, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    let row = |mac: String| {
        params![
            4i64,
            original.at_ms as i64,
            original.actor.clone(),
            original.action.clone(),
            original.target.clone(),
            original.details.to_string(),
            mac
        ]
    };
    raw.execute(insert, &row("00".repeat(32))).unwrap();
    assert_eq!(check().broken_at, Some(4), "a forged MAC");
    raw.execute("DELETE FROM audit WHERE seq = 4", &[]).unwrap();
    raw.execute(insert, &row(original.mac.clone().unwrap())).unwrap();
    assert!(check().ok(), "the original entry restored");
    // An entry added by a writer without the key, after the chain began.
    let mut no_key = db.open(1);
    no_key.append_audit(9, "mallory", "x", "t", &json!(null)).unwrap();
    let c = check();
    assert_eq!(c.broken_at, Some(9));
    assert!(c.reason.as_deref().is_some_and(|r| r.contains("no MAC")), "{c:?}");
}

fn audit_prune_archives_anchors_and_still_verifies(db: &TestDb) {
    use crate::store::{verify_audit_archive, AuditKey};
    use std::io::BufReader;
    use std::sync::Arc;
    let key = Arc::new(AuditKey::from_bytes(&[7; 32]));
    let dir = tempfile::tempdir().unwrap();
    let mut store = db.open(1);
    store.set_audit_key(key.clone());
    for i in 1..=10u64 {
        store.append_audit(i * 100, "alice", "user_add", &format!("u{i}"), &json!({ "i": i, "text": "ünïcode" })).unwrap();
    }
    let archive = |name: &str| std::fs::OpenOptions::new().create_new(true).write(true).open(dir.path().join(name)).unwrap();

    // Nothing older than the first entry: nothing pruned, no file content needed.
    let out = store.prune_audit(&key, 50, 2_000, &mut archive("none.jsonl")).unwrap();
    assert_eq!((out.archived, out.anchor.is_none()), (0, true));

    // Entries 1-4 (at 100-400 ms) go to the first archive.
    let out = store.prune_audit(&key, 450, 2_000, &mut archive("a1.jsonl")).unwrap();
    assert_eq!(out.archived, 4);
    assert_eq!(out.anchor.as_ref().map(|a| a.seq), Some(4));
    let c = store.verify_audit(&key).unwrap();
    assert!(c.ok(), "{c:?}");
    assert_eq!((c.pruned_through, c.entries, c.last_seq), (4, 7, 11), "6 entries and the audit_prune entry after the anchor");
    assert_eq!(store.audit_entries(0, 100).unwrap()[0].seq, 5);
    let last = store.audit_entries(10, 1).unwrap().remove(0);
    assert_eq!((last.action.as_str(), last.details["archived"].as_u64()), ("audit_prune", Some(4)));
    let a1 = verify_audit_archive(&key, BufReader::new(std::fs::File::open(dir.path().join("a1.jsonl")).unwrap())).unwrap();
    assert!(a1.check.ok(), "{a1:?}");
    assert_eq!((a1.after_seq, a1.end_seq, a1.check.entries), (0, 4, 4));
    let bytes = std::fs::read(dir.path().join("a1.jsonl")).unwrap();
    assert_eq!(hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref()), out.anchor.as_ref().unwrap().archive_sha256);
    assert_eq!(a1.end_mac, out.anchor.unwrap().mac, "the archive ends where the database's chain starts");

    // A second prune chains its archive to the first; the newest entry always
    // stays. A check paging through the log meanwhile starts again after the
    // new anchor instead of calling the archived entries missing.
    let mut paging = crate::store::AuditVerifier::default();
    store.verify_audit_step(&key, &mut paging).unwrap();
    assert!(!paging.done && paging.check.last_seq > 4);
    let out = store.prune_audit(&key, u64::MAX, 3_000, &mut archive("a2.jsonl")).unwrap();
    while !paging.done {
        store.verify_audit_step(&key, &mut paging).unwrap();
    }
    assert!(paging.check.ok() && paging.check.pruned_through == 10, "{:?}", paging.check);
    assert_eq!(out.anchor.as_ref().map(|a| a.seq), Some(10), "entry 11 (the first prune's) is the newest");
    let a2 = verify_audit_archive(&key, BufReader::new(std::fs::File::open(dir.path().join("a2.jsonl")).unwrap())).unwrap();
    assert!(a2.check.ok(), "{a2:?}");
    assert_eq!((a2.after_seq, a2.end_seq), (4, 10));
    assert_eq!(store.verify_audit(&key).unwrap().pruned_through, 10);
    assert!(store.verify_audit(&key).unwrap().ok());

    // An archive edited afterwards, or checked with another key, does not verify.
    let text = std::fs::read_to_string(dir.path().join("a2.jsonl")).unwrap().replace("u6", "u9");
    let c = verify_audit_archive(&key, BufReader::new(text.as_bytes())).unwrap();
    assert_eq!(c.check.broken_at, Some(6), "{c:?}");
    assert!(verify_audit_archive(&AuditKey::from_bytes(&[8; 32]), BufReader::new(std::fs::File::open(dir.path().join("a1.jsonl")).unwrap()))
        .unwrap()
        .check
        .broken_at
        .is_some());
    assert!(verify_audit_archive(&key, BufReader::new("not json\n".as_bytes())).is_err());

    // Moving the anchor without the key (to hide entries removed from the
    // front) shows; so does removing entries right after it.
    let raw = db.raw();
    raw.execute("UPDATE audit_anchor SET seq = 11", &[]).unwrap();
    let c = store.verify_audit(&key).unwrap();
    assert!(c.reason.as_deref().is_some_and(|r| r.contains("pruning anchor")), "{c:?}");
    raw.execute("UPDATE audit_anchor SET seq = 10", &[]).unwrap();
    assert!(store.verify_audit(&key).unwrap().ok());
    raw.execute("DELETE FROM audit WHERE seq = 11", &[]).unwrap();
    let c = store.verify_audit(&key).unwrap();
    assert_eq!(c.broken_at, Some(11), "{c:?}");
    // A broken log is not pruned.
    let e = store.prune_audit(&key, u64::MAX, 4_000, &mut archive("a3.jsonl")).unwrap_err();
    assert!(e.to_string().contains("broken at entry 11"), "{e}");
}

fn job_lifecycle(db: &TestDb) {
    let mut store = db.open(1);
    let id = store.create_job("ta_update", "h1", &json!({ "version": "1.2" }), 10).unwrap();
    let other = store.create_job("key_backup", "h2", &json!({}), 11).unwrap();
    assert_eq!((id, other), (1, 2));
    let job = store.job(id).unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.payload, json!({ "version": "1.2" }));
    assert_eq!(job.result, None);

    // Cannot finish a job that never ran.
    assert!(matches!(store.update_job(id, JobState::Succeeded, None, 12), Err(StoreError::JobTransition { from: "queued", to: "succeeded", .. })));
    store.update_job(id, JobState::Running, None, 13).unwrap();
    store.update_job(id, JobState::Failed, Some(&json!({ "error": "boom" })), 14).unwrap();
    store.update_job(id, JobState::RolledBack, None, 15).unwrap();
    let job = store.job(id).unwrap().unwrap();
    assert_eq!(job.state, JobState::RolledBack);
    assert_eq!((job.created_at_ms, job.updated_at_ms), (10, 15));
    assert_eq!(job.result, Some(json!({ "error": "boom" })));
    // Terminal.
    assert!(store.update_job(id, JobState::Running, None, 16).is_err());
    assert!(matches!(store.update_job(99, JobState::Running, None, 16), Err(StoreError::NotFound { .. })));

    let all = store.jobs(None, Page::new(0, 10)).unwrap();
    assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), vec![2, 1]);
    let h2 = store.jobs(Some("h2"), Page::new(0, 10)).unwrap();
    assert_eq!(h2.len(), 1);
    assert_eq!(h2[0].kind, "key_backup");
    assert_eq!(store.jobs(None, Page::new(1, 10)).unwrap()[0].id, 1);
    assert!(store.jobs(Some("h1' OR '1'='1"), Page::new(0, 10)).unwrap().is_empty());
}

#[test]
fn job_transitions() {
    use JobState::*;
    let all = [Queued, Running, Succeeded, Failed, RolledBack];
    let allowed: Vec<(JobState, JobState)> = all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).filter(|(a, b)| a.can_become(*b)).collect();
    assert_eq!(
        allowed,
        vec![(Queued, Running), (Queued, Failed), (Running, Succeeded), (Running, Failed), (Running, RolledBack), (Failed, RolledBack)]
    );
}

on_both!(
    audit_is_ordered_and_pages,
    audit_from_two_connections_is_gap_free,
    audit_chain_shows_changes_insertions_and_removals,
    audit_prune_archives_anchors_and_still_verifies,
    job_lifecycle,
);
