use std::sync::{Arc, Barrier};

use crate::store::testutil::{on_both, TestDb};
use crate::store::{token_hash, NewHost, Store, StoreError};

fn new_host(id: &str) -> NewHost {
    NewHost {
        id: id.into(),
        name: format!("{id}.example"),
        group: "eu".into(),
        enrolled_at_ms: 100,
        cert_fingerprint: "ab".repeat(32),
        cert_not_after_ms: None,
    }
}

fn token_is_stored_hashed_and_used_once(db: &TestDb) {
    let store = db.open(1);
    store.create_enrollment_token("t1", "s3cret-token", 0, 1000).unwrap();
    // Only the hash is in the table.
    let raw = db.raw();
    let stored: String = raw.query_one("SELECT token_sha256 FROM enrollment_tokens WHERE id = 't1'", &[]).unwrap().get(0).unwrap();
    assert_eq!(stored, token_hash("s3cret-token"));
    assert_ne!(stored, "s3cret-token");
    assert_eq!(stored.len(), 64);

    assert_eq!(store.consume_enrollment_token("s3cret-token", "h1", 10).unwrap(), "t1");
    assert!(matches!(store.consume_enrollment_token("s3cret-token", "h2", 11), Err(StoreError::TokenUsed)));
    assert!(matches!(store.consume_enrollment_token("other", "h2", 11), Err(StoreError::TokenUnknown)));
    let row = raw.query_one("SELECT used_at_ms, used_by_host FROM enrollment_tokens WHERE id = 't1'", &[]).unwrap();
    let (used_at, by): (i64, String) = (row.get(0).unwrap(), row.get(1).unwrap());
    assert_eq!((used_at, by.as_str()), (10, "h1"));
}

fn expired_token_is_refused(db: &TestDb) {
    let store = db.open(1);
    store.create_enrollment_token("t1", "tok", 0, 1000).unwrap();
    assert!(matches!(store.consume_enrollment_token("tok", "h1", 1000), Err(StoreError::TokenExpired)));
    assert_eq!(store.prune_enrollment_tokens(1000).unwrap(), 1);
    assert!(matches!(store.consume_enrollment_token("tok", "h1", 10), Err(StoreError::TokenUnknown)));
}

fn duplicate_token_id_is_refused(db: &TestDb) {
    let store = db.open(1);
    store.create_enrollment_token("t1", "a", 0, 1000).unwrap();
    assert!(matches!(store.create_enrollment_token("t1", "b", 0, 1000), Err(StoreError::AlreadyExists { .. })));
}

fn two_threads_racing_for_one_token(backend: &TestDb) {
    for round in 0..10 {
        // A fresh database each round, on the backend under test.
        let db = if backend.is_postgres() { TestDb::postgres().expect("postgres") } else { TestDb::sqlite() };
        db.open(0).create_enrollment_token("t", "race", 0, 1000).unwrap();
        let db = Arc::new(db);
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let db = db.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut store: Store = db.open(0);
                    barrier.wait();
                    store.enroll_host("race", &new_host(&format!("h{i}")), 5)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(StoreError::TokenUsed))));
        // Exactly the winner was enrolled.
        assert_eq!(db.open(0).hosts().unwrap().len(), 1);
    }
}

fn enrollment_is_all_or_nothing(db: &TestDb) {
    let mut store = db.open(1);
    store.add_host(&new_host("h1")).unwrap();
    store.create_enrollment_token("t", "tok", 0, 1000).unwrap();
    // The host id is taken: the token stays unused.
    assert!(matches!(store.enroll_host("tok", &new_host("h1"), 5), Err(StoreError::AlreadyExists { .. })));
    assert_eq!(store.enroll_host("tok", &new_host("h2"), 6).unwrap(), "t");
    let h2 = store.host("h2").unwrap().unwrap();
    assert_eq!(h2.status, crate::store::HostStatus::Active);
    assert_eq!(h2.last_seen_ms, None);
}

on_both!(
    token_is_stored_hashed_and_used_once,
    expired_token_is_refused,
    duplicate_token_id_is_refused,
    two_threads_racing_for_one_token,
    enrollment_is_all_or_nothing,
);
