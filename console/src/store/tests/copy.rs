//! Copying a store into another database (`teehsm-console store copy`).

use crate::store::copy::TABLES;
use crate::store::testutil::{on_both, TestDb};
use crate::store::{NewHost, PackageRecord, Page, Role, StoreError, User};

/// The schema's tables are exactly the ones the copy knows (a new table
/// in a migration must be added to `TABLES`).
#[test]
fn the_copy_knows_every_table() {
    let db = TestDb::sqlite();
    let _store = db.open(1);
    let rows = db
        .raw()
        .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name", &[])
        .unwrap();
    let mut schema: Vec<String> = rows.iter().map(|r| r.get::<String>(0).unwrap()).collect();
    let mut known: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    schema.sort();
    known.sort();
    assert_eq!(schema, known);
}

/// A populated SQLite store copied into an empty database reads back the
/// same; a second copy into it is refused.
fn copy_from_sqlite(target: &TestDb) {
    let source_db = TestDb::sqlite();
    let mut source = source_db.open(1);
    source.add_user(&User { name: "alice".into(), role: Role::Admin, password_hash: "pbkdf2$x".into() }).unwrap();
    for h in ["h1", "h2", "h3"] {
        source.create_enrollment_token(h, h, 0, u64::MAX / 4).unwrap();
        let nh =
            NewHost { id: h.into(), name: h.into(), group: "eu".into(), enrolled_at_ms: 2, cert_fingerprint: "fp".into(), cert_not_after_ms: None };
        source.enroll_host(h, &nh, 2).unwrap();
        source.record_report(&crate::store::testutil::host_report(h, 3), 6).unwrap();
    }
    for i in 0..450 {
        source.append_audit(10 + i, "alice", "test.action", &format!("t{i}"), &serde_json::json!({ "i": i, "text": "ünïcode" })).unwrap();
    }
    source
        .add_package(&PackageRecord {
            version: "2.0.0".into(),
            security_version: 2,
            platform: "sim".into(),
            manifest_sha256: "ab".repeat(32),
            total_bytes: 10,
            added_at_ms: 3,
            added_by: "cli".into(),
        })
        .unwrap();
    let waves = vec![vec!["h1".to_string()], vec!["h2".to_string(), "h3".to_string()]];
    let rollout = source.create_staged_rollout("2.0.0", &waves, true, "alice", 20).unwrap();

    let mut dest = target.open(1);
    let report = source.copy_into(&mut dest).unwrap();
    assert_eq!(report.tables.len(), TABLES.len());
    assert!(report.rows() >= 450 + 3 * 3, "{report:?}");
    assert_eq!(dest.users().unwrap(), source.users().unwrap());
    assert_eq!(dest.hosts().unwrap(), source.hosts().unwrap());
    assert_eq!(dest.audit_entries(0, 1000).unwrap(), source.audit_entries(0, 1000).unwrap());
    assert_eq!(dest.rollout(rollout).unwrap(), source.rollout(rollout).unwrap());
    assert_eq!(dest.rollouts(Page::new(0, 10)).unwrap().len(), 1);
    // The copy goes on where the source left off: new ids follow the copied ones.
    let seq = dest.append_audit(999, "bob", "after.copy", "x", &serde_json::json!({})).unwrap();
    assert_eq!(seq, 451);

    let e = source.copy_into(&mut dest).unwrap_err();
    assert!(matches!(&e, StoreError::TargetNotEmpty { table, .. } if table == "hosts"), "{e}");

    // And back again (from PostgreSQL in the postgres variant): the same rows.
    let back_db = TestDb::sqlite();
    let mut back = back_db.open(1);
    let again = dest.copy_into(&mut back).unwrap();
    assert_eq!(again.rows(), report.rows() + 1);
    assert_eq!(back.audit_entries(0, 1000).unwrap(), dest.audit_entries(0, 1000).unwrap());
    assert_eq!(back.hosts().unwrap(), dest.hosts().unwrap());
    assert_eq!(back.rollout(rollout).unwrap(), dest.rollout(rollout).unwrap());
}

on_both!(copy_from_sqlite);
