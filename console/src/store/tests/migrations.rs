use rusqlite::Connection;

use crate::store::db::params;
use crate::store::migrate::{latest_version, Migration, MIGRATIONS};
use crate::store::testutil::{on_both, TestDb};
use crate::store::{Store, StoreError};

/// This binary's migrations followed by one more, `version = latest + 1`.
fn with_extra(name: &'static str, sql: &'static str) -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|m| Migration { version: m.version, name: m.name, sql: m.sql })
        .chain(std::iter::once(Migration { version: latest_version() + 1, name, sql }))
        .collect()
}

fn migrates_from_empty_and_reopens(db: &TestDb) {
    let store = db.open(10);
    assert_eq!(store.schema_version().unwrap(), latest_version());
    store.add_user(&crate::store::User { name: "alice".into(), role: crate::store::Role::Admin, password_hash: "h".into() }).unwrap();
    drop(store);

    let store = db.open(20);
    assert_eq!(store.schema_version().unwrap(), latest_version());
    assert_eq!(store.users().unwrap().len(), 1);
    // Each migration recorded once, with the time of the first open.
    let rows: Vec<(i64, String, i64)> = db
        .raw()
        .query("SELECT version, name, applied_at_ms FROM schema_migrations ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap()))
        .collect();
    assert_eq!(rows.len(), MIGRATIONS.len());
    assert_eq!(rows[0], (1, "0001_init".to_string(), 10));
    assert!(rows.iter().all(|r| r.2 == 10), "{rows:?}");
}

#[test]
fn wal_mode_is_on() {
    let db = TestDb::sqlite();
    let _store = db.open(1);
    let conn = Connection::open(db.url()).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

fn newer_schema_is_refused(db: &TestDb) {
    drop(db.open(1));
    db.raw()
        .execute("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, 'future', 2)", &params![latest_version() as i64 + 1])
        .unwrap();
    match db.try_open(3) {
        Err(StoreError::SchemaTooNew { db, binary }) => {
            assert_eq!(db, latest_version() + 1);
            assert_eq!(binary, latest_version());
            let msg = StoreError::SchemaTooNew { db, binary }.to_string();
            assert!(msg.contains("newer"), "{msg}");
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("newer schema accepted"),
    }
}

fn later_migration_applies_on_reopen_and_renamed_one_is_refused(db: &TestDb) {
    drop(db.open(1));
    let next = latest_version() + 1;
    let extended = with_extra("9999_extra", "CREATE TABLE extra (id BIGINT PRIMARY KEY);");
    let store = db.open_with(&extended, 2).unwrap();
    assert_eq!(store.schema_version().unwrap(), next);
    drop(store);
    // This binary now refuses the newer database.
    match db.try_open(3) {
        Err(StoreError::SchemaTooNew { db, binary }) => {
            assert_eq!((db, binary), (next, latest_version()))
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("newer schema accepted"),
    }
    let renamed = with_extra("9999_other", "SELECT 1;");
    match db.open_with(&renamed, 4) {
        Err(StoreError::MigrationMismatch { version, .. }) => assert_eq!(version, next),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("renamed migration accepted"),
    }
}

fn failed_migration_leaves_nothing_behind(db: &TestDb) {
    let broken = with_extra("9999_broken", "CREATE TABLE x (id BIGINT); NOT SQL;");
    match db.open_with(&broken, 1) {
        Err(StoreError::Db(_) | StoreError::Postgres(_)) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("broken migration accepted"),
    }
    // Nothing was applied: a clean open works from scratch.
    let store = db.open(2);
    assert_eq!(store.schema_version().unwrap(), latest_version());
    assert!(db.raw().query("SELECT id FROM x", &[]).is_err(), "table x was left behind");
}

/// Statements of another kind than the store's own: a bad location,
/// a wrong column type, a bound parameter count that does not match.
fn bad_inputs_get_precise_errors(db: &TestDb) {
    let raw = db.raw();
    drop(db.open(1));
    let row = raw.query_one("SELECT name FROM schema_migrations WHERE version = 1", &[]).unwrap();
    match row.get::<i64>(0) {
        Err(StoreError::Corrupt(m)) => {
            assert!(m.contains("expected an integer, found text"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(raw.query("SELECT name FROM schema_migrations WHERE version = ?1", &[]).is_err());
    // The database's own words reach the message.
    let e = raw.query("SELECT no_such_column FROM users", &[]).unwrap_err().to_string();
    assert!(e.contains("no_such_column"), "{e}");
    assert!(matches!(Store::open_location("mysql://h/d", 1), Err(StoreError::BadLocation(_))));
}

#[test]
fn migration_sql_avoids_sqlite_only_syntax() {
    for m in MIGRATIONS {
        // Comments may name what is avoided; only the statements count.
        let sql: String = m.sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n").to_ascii_uppercase();
        for bad in ["AUTOINCREMENT", "WITHOUT ROWID", "INTEGER PRIMARY KEY", "BLOB", "PRAGMA", "STRICT"] {
            assert!(!sql.contains(bad), "{} uses {bad}", m.name);
        }
    }
    // Versions are 1..=n in order.
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as u64 + 1);
    }
}

on_both!(
    migrates_from_empty_and_reopens,
    newer_schema_is_refused,
    later_migration_applies_on_reopen_and_renamed_one_is_refused,
    failed_migration_leaves_nothing_behind,
    bad_inputs_get_precise_errors,
);
