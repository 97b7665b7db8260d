use rusqlite::Connection;

use crate::store::migrate::{latest_version, Migration, MIGRATIONS};
use crate::store::{Store, StoreError};

#[test]
fn migrates_from_empty_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let store = Store::open(&path, 10).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_version());
    store
        .add_user(&crate::store::User {
            name: "alice".into(),
            role: crate::store::Role::Admin,
            password_hash: "h".into(),
        })
        .unwrap();
    drop(store);

    let store = Store::open(&path, 20).unwrap();
    assert_eq!(store.schema_version().unwrap(), latest_version());
    assert_eq!(store.users().unwrap().len(), 1);
    // Each migration recorded once, with the time of the first open.
    let conn = Connection::open(&path).unwrap();
    let rows: Vec<(i64, String, i64)> = conn
        .prepare("SELECT version, name, applied_at_ms FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), MIGRATIONS.len());
    assert_eq!(rows[0], (1, "0001_init".to_string(), 10));
}

#[test]
fn wal_mode_is_on() {
    let (dir, _store) = crate::store::testutil::temp_store();
    let conn = Connection::open(dir.path().join("console.db")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    drop(Store::open(&path, 1).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, 'future', 2)",
        [latest_version() as i64 + 1],
    )
    .unwrap();
    drop(conn);
    match Store::open(&path, 3) {
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

#[test]
fn later_migration_applies_on_reopen_and_renamed_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    drop(Store::open(&path, 1).unwrap());
    let v2 = [
        Migration {
            version: 1,
            name: MIGRATIONS[0].name,
            sql: MIGRATIONS[0].sql,
        },
        Migration {
            version: 2,
            name: "0002_extra",
            sql: "CREATE TABLE extra (id BIGINT PRIMARY KEY);",
        },
    ];
    let store = Store::open_with(&path, &v2, 2).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    drop(store);
    // The v1 binary now refuses the v2 database.
    assert!(matches!(
        Store::open(&path, 3),
        Err(StoreError::SchemaTooNew { db: 2, binary: 1 })
    ));
    let renamed = [
        Migration {
            version: 1,
            name: MIGRATIONS[0].name,
            sql: MIGRATIONS[0].sql,
        },
        Migration {
            version: 2,
            name: "0002_other",
            sql: "SELECT 1;",
        },
    ];
    assert!(matches!(
        Store::open_with(&path, &renamed, 4),
        Err(StoreError::MigrationMismatch { version: 2, .. })
    ));
}

#[test]
fn failed_migration_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let broken = [
        Migration {
            version: 1,
            name: MIGRATIONS[0].name,
            sql: MIGRATIONS[0].sql,
        },
        Migration {
            version: 2,
            name: "0002_broken",
            sql: "CREATE TABLE x (id BIGINT); NOT SQL;",
        },
    ];
    assert!(matches!(
        Store::open_with(&path, &broken, 1),
        Err(StoreError::Db(_))
    ));
    // Nothing was applied: a clean open works from scratch.
    let store = Store::open(&path, 2).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
}

#[test]
fn migration_sql_avoids_sqlite_only_syntax() {
    for m in MIGRATIONS {
        // Comments may name what is avoided; only the statements count.
        let sql: String = m
            .sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n")
            .to_ascii_uppercase();
        for bad in [
            "AUTOINCREMENT",
            "WITHOUT ROWID",
            "INTEGER PRIMARY KEY",
            "BLOB",
            "PRAGMA",
            "STRICT",
        ] {
            assert!(!sql.contains(bad), "{} uses {bad}", m.name);
        }
    }
    // Versions are 1..=n in order.
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as u64 + 1);
    }
}
