//! Fresh databases for the store's tests, on SQLite (a temp file) and on
//! PostgreSQL (a new database on the server named by
//! `TEEHSM_TEST_POSTGRES_URL`, dropped afterwards).
//!
//! Without `TEEHSM_TEST_POSTGRES_URL` the PostgreSQL variants are skipped,
//! except under `CI=true`, where they fail: scripts/test.sh starts a
//! throwaway server (scripts/postgres-test-server.sh) and sets it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

use super::db::{Db, Location};
use super::migrate::Migration;
use super::{Result, Store};

/// The variable naming a PostgreSQL server tests may create databases on,
/// as a URL of a user allowed to `CREATE DATABASE`.
pub(crate) const POSTGRES_URL_VAR: &str = "TEEHSM_TEST_POSTGRES_URL";

enum Kind {
    Sqlite { _dir: TempDir, path: PathBuf },
    Postgres { admin_url: String, name: String, url: String },
}

/// One empty database, removed on drop.
pub(crate) struct TestDb {
    kind: Kind,
}

impl TestDb {
    /// A new SQLite file in a temporary directory.
    pub(crate) fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.db");
        TestDb { kind: Kind::Sqlite { _dir: dir, path } }
    }

    /// A new PostgreSQL database, or `None` (skip) when no server is
    /// configured outside CI. Panics when one is needed and missing.
    pub(crate) fn postgres() -> Option<TestDb> {
        let Some(admin_url) = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.is_empty()) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but {POSTGRES_URL_VAR} is not set: the PostgreSQL store tests must run in CI \
                     (scripts/test.sh starts scripts/postgres-test-server.sh and exports it)"
                );
            }
            eprintln!("skipped: {POSTGRES_URL_VAR} is not set (scripts/postgres-test-server.sh start prints one)");
            return None;
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("teehsm_t_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let admin = Db::open_postgres(&admin_url).expect("connect to TEEHSM_TEST_POSTGRES_URL");
        admin.execute_batch(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE (the URL's user needs CREATEDB)");
        let url = with_database(&admin_url, &name);
        Some(TestDb { kind: Kind::Postgres { admin_url, name, url } })
    }

    /// The database as a store location.
    pub(crate) fn location(&self) -> Location {
        match &self.kind {
            Kind::Sqlite { path, .. } => Location::Sqlite(path.clone()),
            Kind::Postgres { url, .. } => Location::Postgres(url.clone()),
        }
    }

    /// The location as the console's `--database-url` takes it.
    pub(crate) fn url(&self) -> String {
        match &self.kind {
            Kind::Sqlite { path, .. } => path.display().to_string(),
            Kind::Postgres { url, .. } => url.clone(),
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }

    pub(crate) fn try_open(&self, now_ms: u64) -> Result<Store> {
        Store::open_at(&self.location(), now_ms)
    }

    /// Opens (and migrates) a store on this database; panics on failure.
    pub(crate) fn open(&self, now_ms: u64) -> Store {
        self.try_open(now_ms).expect("open store")
    }

    pub(crate) fn open_with(&self, migrations: &[Migration], now_ms: u64) -> Result<Store> {
        Store::open_with(&self.location(), migrations, now_ms)
    }

    /// A plain connection, to look at or tamper with tables directly.
    pub(crate) fn raw(&self) -> Db {
        Db::open(&self.location()).expect("raw connection")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Kind::Postgres { admin_url, name, .. } = &self.kind {
            let dropped = Db::open_postgres(admin_url).and_then(|db| db.execute_batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
            if let Err(e) = dropped {
                eprintln!("cannot drop test database {name}: {e}");
            }
        }
    }
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split_once('/').map_or(before_query, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A store on a fresh SQLite file (kept alive by the returned `TestDb`).
pub(crate) fn temp_store() -> (TestDb, Store) {
    let db = TestDb::sqlite();
    let store = db.open(1);
    (db, store)
}

/// Turns each named `fn NAME(db: &TestDb)` into two tests,
/// `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&$crate::store::testutil::TestDb::sqlite());
            }
            #[test]
            fn postgres() {
                if let Some(db) = $crate::store::testutil::TestDb::postgres() {
                    super::$name(&db);
                }
            }
        }
    )*};
}
pub(crate) use on_both;

#[test]
fn database_is_swapped_in_urls() {
    assert_eq!(with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    assert_eq!(with_database("postgresql://u:p@h/d?sslmode=disable", "x"), "postgresql://u:p@h/x?sslmode=disable");
}

/// A report of `host` with one TA and one token holding `keys` keys.
pub(crate) fn host_report(host: &str, keys: u64) -> crate::alerts::HostReport {
    crate::alerts::HostReport {
        host_id: host.into(),
        group: "eu".into(),
        reported_at_ms: 0,
        tas: vec![crate::alerts::TaReport {
            platform: String::new(),
            measurement: String::new(),
            ta_id: "ta-0".into(),
            version: "1".into(),
            up: true,
            restarts_total: 0,
            self_test_ok: true,
            audit_chain_ok: true,
            tokens: vec![crate::alerts::TokenReport { slot: 0, label: "t".into(), keys, capacity: 100 }],
        }],
        ta_cpu_percent: 12.5,
        ta_memory_bytes: 1 << 20,
        ca_cpu_percent: 3.25,
        ca_memory_bytes: 2 << 20,
        memory_limit_bytes: 1 << 30,
        packages: None,
    }
}

/// An active host `id` in `group` enrolled at 1 ms with fingerprint "f".
pub(crate) fn new_host(id: &str, group: &str) -> super::NewHost {
    super::NewHost { id: id.into(), name: id.into(), group: group.into(), enrolled_at_ms: 1, cert_fingerprint: "f".into(), cert_not_after_ms: None }
}

/// A package record for `version` (sim platform, security version 1), as
/// `package add` would store it.
pub(crate) fn package(version: &str) -> crate::store::PackageRecord {
    crate::store::PackageRecord {
        version: version.into(),
        security_version: 1,
        platform: "sim".into(),
        manifest_sha256: "ab".repeat(32),
        total_bytes: 10,
        added_at_ms: 1,
        added_by: "test".into(),
    }
}
