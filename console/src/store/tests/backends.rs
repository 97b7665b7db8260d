//! What only concerns the backends: PostgreSQL reconnecting after its
//! connection was cut, and store calls from async code.

use crate::store::testutil::{on_both, TestDb};
use crate::store::{Role, User};

fn user(name: &str) -> User {
    User { name: name.into(), role: Role::Operator, password_hash: "h".into() }
}

/// The server ends the store's session (as on a server restart): the call
/// that meets the dead connection fails, the next one reconnects.
#[test]
fn postgres_reconnects_after_its_session_is_killed() {
    let Some(db) = TestDb::postgres() else { return };
    let store = db.open(1);
    store.add_user(&user("a")).unwrap();
    let killed = db
        .raw()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert_eq!(killed.len(), 1, "the store's one session");
    // Give the server a moment to close the socket.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let first = store.users();
    let second = store.users().unwrap();
    assert!(first.is_err(), "the first call after the kill met a live connection: {first:?}");
    assert_eq!(second.len(), 1);
    store.add_user(&user("b")).unwrap();
    assert_eq!(store.users().unwrap().len(), 2);
}

/// The store called straight from async code on both runtime flavours.
fn store_calls_from_async_code(db: &TestDb) {
    let run = |rt: tokio::runtime::Runtime| {
        rt.block_on(async {
            let mut store = db.open(1);
            store.add_user(&user("async")).unwrap();
            store.append_audit(1, "t", "x", "y", &serde_json::json!({})).unwrap();
            // And from a spawned task on a worker thread.
            let handle = tokio::spawn(async move { store.users().map(|u| u.len()) });
            assert_eq!(handle.await.unwrap().unwrap(), 1);
        })
    };
    run(tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());
    let db2 = db.raw();
    db2.execute("DELETE FROM users", &[]).unwrap();
    run(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());
}

on_both!(store_calls_from_async_code);

/// A heartbeat commits without waiting for the disk; the connection's
/// setting for everything else stays "wait" (SQLite's `synchronous` is per
/// connection, so it must be put back; PostgreSQL's `SET LOCAL` ends with
/// the transaction), also after a heartbeat that failed.
fn telemetry_durability_does_not_leak(db: &TestDb) {
    let mut store = db.open(1);
    let setting = |store: &crate::store::Store| -> String {
        let sql = if db.is_postgres() { "SHOW synchronous_commit" } else { "PRAGMA synchronous" };
        let row = store.db.query_one(sql, &[]).unwrap();
        if db.is_postgres() {
            row.get::<String>(0).unwrap()
        } else {
            row.get::<i64>(0).unwrap().to_string()
        }
    };
    // The server's own setting on PostgreSQL (the test server runs with
    // it off); FULL (2) on SQLite.
    let full = setting(&store);
    if !db.is_postgres() {
        assert_eq!(full, "2");
    }
    store.add_host(&crate::store::testutil::new_host("h1", "g")).unwrap();
    let mut report = crate::alerts::HostReport {
        host_id: "h1".into(),
        group: "g".into(),
        reported_at_ms: 0,
        tas: vec![],
        ta_cpu_percent: 1.0,
        ta_memory_bytes: 1,
        ca_cpu_percent: 1.0,
        ca_memory_bytes: 1,
        memory_limit_bytes: 0,
        packages: None,
    };
    store.record_report(&report, 10).unwrap();
    assert_eq!(setting(&store), full);
    assert_eq!(store.latest_reports().unwrap().len(), 1);
    report.host_id = "ghost".into();
    assert!(store.record_report(&report, 11).is_err());
    assert_eq!(setting(&store), full);
}

on_both!(telemetry_durability_does_not_leak);

/// The connection dies inside a transaction: the transaction fails as a
/// whole (nothing of it is committed) and the store works again afterwards.
#[test]
fn postgres_transaction_cut_off_commits_nothing() {
    let Some(db) = TestDb::postgres() else { return };
    let mut store = db.open(1);
    let raw = db.raw();
    let kill = || {
        raw.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
    };
    store.add_user(&user("a")).unwrap();
    {
        let tx = store.db.begin().unwrap();
        tx.execute("INSERT INTO users (name, role, password_hash) VALUES ('b', 'admin', 'h')", &[]).unwrap();
        assert_eq!(kill().len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let second = tx.execute("INSERT INTO users (name, role, password_hash) VALUES ('c', 'admin', 'h')", &[]);
        assert!(second.is_err(), "{second:?}");
        // A further statement in the dead transaction is refused plainly.
        assert!(matches!(tx.execute("SELECT 1", &[]), Err(crate::store::StoreError::ConnectionLost)));
        assert!(tx.commit().is_err());
    }
    let names: Vec<String> = store.users().unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, vec!["a".to_string()]);
}

/// The CA certificate of the test server's TLS (scripts/postgres-test-server.sh
/// makes one per run; scripts/test.sh names it in `TEEHSM_TEST_POSTGRES_CA`).
fn test_server_ca() -> Option<std::path::PathBuf> {
    let ca = std::env::var("TEEHSM_TEST_POSTGRES_CA").ok().filter(|p| !p.is_empty()).map(std::path::PathBuf::from);
    if ca.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("TEEHSM_TEST_POSTGRES_CA is not set: run the tests with scripts/test.sh (it starts a PostgreSQL server with TLS)");
    }
    ca
}

/// Whether the store's own session is encrypted, from the server's side.
fn session_uses_tls(store_db: &crate::store::db::Db) -> bool {
    let row = store_db.query_one("SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap();
    row.get::<i64>(0).unwrap() == 1
}

/// sslmode=verify-full with the server's CA: the store migrates and works
/// over TLS (the server sees an encrypted session); without sslmode the
/// session is plain; a role that must present a client certificate logs
/// in with sslcert/sslkey and is refused without; a CA that did not sign
/// the server's certificate, or `require` with only the system's CAs, is
/// refused with the reason.
#[test]
fn postgres_over_verified_tls() {
    let Some(db) = TestDb::postgres() else { return };
    let Some(ca) = test_server_ca() else { return };
    let tls_url = format!("{}?sslmode=verify-full&sslrootcert={}", db.url(), ca.display());
    let store = crate::store::Store::open_url(&tls_url, 1).expect("store over TLS");
    store.add_user(&user("over-tls")).unwrap();
    assert_eq!(store.users().unwrap().len(), 1);
    assert!(session_uses_tls(&crate::store::db::Db::open_postgres(&tls_url).unwrap()));
    assert!(!session_uses_tls(&db.raw()), "no sslmode: a plain session, as before");

    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap().cert.pem()).unwrap();
    let wrong = format!("{}?sslmode=verify-full&sslrootcert={}", db.url(), other_ca.display());
    let e = crate::store::Store::open_url(&wrong, 1).err().expect("a CA that did not sign the server").to_string();
    assert!(e.contains("certificate"), "{e}");

    // The role teehsm_cert logs in with a client certificate only.
    let admin = std::env::var(crate::store::testutil::POSTGRES_URL_VAR).unwrap();
    let tls_dir = ca.parent().unwrap();
    let server = admin.split_once('@').map(|(_, rest)| rest).unwrap();
    let base = format!("postgres://teehsm_cert@{server}?sslmode=verify-full&sslrootcert={}", ca.display());
    let with_cert = format!("{base}&sslcert={}&sslkey={}", tls_dir.join("client.crt").display(), tls_dir.join("client.key").display());
    let db_cert = crate::store::db::Db::open_postgres(&with_cert).expect("login with the client certificate");
    let dn: String = db_cert.query_one("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0).unwrap();
    assert_eq!(dn, "/CN=teehsm_cert");
    let e = crate::store::db::Db::open_postgres(&base).err().expect("no client certificate").to_string();
    assert!(e.contains("client certificate"), "{e}");

    // The role teehsm_scram: SCRAM over TLS, bound to the TLS session (channel_binding=require
    // fails unless the client offers the server certificate's hash and the server accepts it).
    let scram = format!("postgres://teehsm_scram:teehsm-scram-test@{server}?sslmode=verify-full&sslrootcert={}", ca.display());
    let bound = crate::store::db::Db::open_postgres(&format!("{scram}&channel_binding=require")).expect("SCRAM-SHA-256-PLUS login");
    assert!(session_uses_tls(&bound));
    let wrong = format!("postgres://teehsm_scram:wrong@{server}?sslmode=verify-full&sslrootcert={}&channel_binding=require", ca.display());
    let e = crate::store::db::Db::open_postgres(&wrong).err().expect("a wrong password").to_string();
    assert!(e.contains("password") || e.contains("authentication"), "{e}");

    if std::path::Path::new(crate::store::db::SYSTEM_CA_BUNDLE).exists() {
        let e = crate::store::Store::open_url(&format!("{}?sslmode=require", db.url()), 1).err().expect("not signed by a system CA").to_string();
        assert!(e.contains("certificate"), "{e}");
    }
}
