//! The store's database layer: one small API (`execute`, `query`,
//! `query_opt`, write transactions) over SQLite or PostgreSQL, so the
//! store's SQL is written once.
//!
//! SQL uses SQLite's numbered placeholders (`?1`, `?2`, ...); the
//! PostgreSQL backend rewrites them to `$1`, `$2`. Write the portable
//! subset both understand: `INSERT ... ON CONFLICT ... DO UPDATE/NOTHING`,
//! `RETURNING`, `COALESCE`, `LIMIT ?n OFFSET ?m`; no `PRAGMA`, no
//! `AUTOINCREMENT`/`SERIAL`. Parameters are [`Value`]s built with
//! [`params!`]; rows are read with [`Row::get`].

mod pg;
mod pg_tls;
mod sqlite;
mod value;

use std::path::Path;

pub(crate) use pg::redact;
#[cfg(test)]
pub(crate) use pg_tls::SYSTEM_CA_BUNDLE;
pub(crate) use value::{params, Row, ToValue, Value};

use super::error::{Result, StoreError};

/// Which database a store lives in.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (created if missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL, `postgres://user[:password]@host[:port]/database`.
    Postgres(String),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is PostgreSQL; anything
    /// without `://` is an SQLite file path; other schemes are refused.
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Location::Postgres(s.to_owned()))
        } else if let Some((scheme, _)) = s.split_once("://") {
            Err(StoreError::BadLocation(format!("unsupported database URL scheme {scheme:?}: give an SQLite file path or a postgres:// URL")))
        } else if s.is_empty() {
            Err(StoreError::BadLocation("empty database location: give an SQLite file path or a postgres:// URL".into()))
        } else {
            Ok(Location::Sqlite(s.into()))
        }
    }

    /// For messages: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(u) => redact(u),
        }
    }
}

/// Shows a PostgreSQL URL without its password.
impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Location::Postgres(u) => f.debug_tuple("Postgres").field(&redact(u)).finish(),
        }
    }
}

/// One connection to either backend.
pub(crate) enum Db {
    Sqlite(sqlite::Sqlite),
    Postgres(pg::Postgres),
}

impl Db {
    pub(crate) fn open_sqlite(path: &Path) -> Result<Self> {
        Ok(Db::Sqlite(sqlite::Sqlite::open(path)?))
    }

    pub(crate) fn open_postgres(url: &str) -> Result<Self> {
        Ok(Db::Postgres(pg::Postgres::connect(url)?))
    }

    pub(crate) fn open(location: &Location) -> Result<Self> {
        match location {
            Location::Sqlite(p) => Self::open_sqlite(p),
            Location::Postgres(u) => Self::open_postgres(u),
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs one statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        match self {
            Db::Sqlite(c) => c.execute(sql, params),
            Db::Postgres(c) => c.execute(sql, params),
        }
    }

    /// Runs one statement and returns all its rows.
    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self {
            Db::Sqlite(c) => c.query(sql, params),
            Db::Postgres(c) => c.query(sql, params),
        }
    }

    /// The names of the columns `sql` returns, in order (nothing is run).
    pub(crate) fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        match self {
            Db::Sqlite(c) => c.column_names(sql),
            Db::Postgres(c) => c.column_names(sql),
        }
    }

    /// The first row of a statement, if it returns any.
    pub(crate) fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a statement that always returns one (an aggregate).
    pub(crate) fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)?.ok_or_else(|| StoreError::Corrupt(format!("no row from {sql:?}")))
    }

    /// Runs several statements without parameters (migrations).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql),
            Db::Postgres(c) => c.execute_batch(sql),
        }
    }

    /// Starts a write transaction. Writers are serialized (SQLite's
    /// `BEGIN IMMEDIATE`; on PostgreSQL an advisory lock), so a
    /// transaction's reads stay true until it commits. Dropping the
    /// [`Tx`] without [`Tx::commit`] rolls it back.
    pub(crate) fn begin(&mut self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(c) => c.begin()?,
            Db::Postgres(c) => c.begin(false)?,
        }
        Ok(Tx { db: self, done: false, telemetry: false })
    }

    /// For the heartbeat path, telemetry that is cheap to lose: as
    /// [`Db::begin`], but on PostgreSQL without the writers' lock (it runs
    /// alongside other transactions) and committing without waiting for
    /// the disk (`synchronous_commit = off`: a server crash may lose the
    /// last fraction of a second of such transactions, whole). Only for
    /// transactions each of whose statements is safe under concurrency on
    /// its own (updates by key, `INSERT ... ON CONFLICT`), never
    /// read-then-write. On SQLite: `BEGIN IMMEDIATE` with
    /// `synchronous = NORMAL` for this transaction only.
    pub(crate) fn begin_telemetry(&mut self) -> Result<Tx<'_>> {
        match self {
            Db::Sqlite(c) => c.begin_telemetry()?,
            Db::Postgres(c) => c.begin(true)?,
        }
        Ok(Tx { db: self, done: false, telemetry: true })
    }

    /// After a telemetry transaction ended (SQLite's setting is per
    /// connection; PostgreSQL's `SET LOCAL` ends with the transaction).
    fn end_telemetry(&self) {
        if let Db::Sqlite(c) = self {
            c.end_telemetry();
        }
    }

    fn commit(&self) -> Result<()> {
        match self {
            Db::Sqlite(c) => c.commit(),
            Db::Postgres(c) => c.commit(),
        }
    }

    fn rollback(&self) -> Result<()> {
        match self {
            Db::Sqlite(c) => c.rollback(),
            Db::Postgres(c) => c.rollback(),
        }
    }
}

/// An open write transaction; derefs to the [`Db`] to run statements in it.
pub(crate) struct Tx<'a> {
    db: &'a Db,
    done: bool,
    telemetry: bool,
}

impl Tx<'_> {
    pub(crate) fn commit(mut self) -> Result<()> {
        self.done = true;
        let r = self.db.commit();
        if r.is_err() {
            // A failed COMMIT may leave the transaction open (SQLite busy).
            let _ = self.db.rollback();
        }
        if self.telemetry {
            self.db.end_telemetry();
        }
        r
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.db.rollback() {
                tracing::warn!(error = %e, "rolling back a store transaction failed");
            }
            if self.telemetry {
                self.db.end_telemetry();
            }
        }
    }
}

/// Whether `e` is a unique or primary-key violation, on either backend.
pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Db(e) => sqlite::is_unique_violation(e),
        StoreError::Postgres(e) => pg::is_unique_violation(e),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(Location::parse("/var/lib/c.db").ok(), Some(Location::Sqlite("/var/lib/c.db".into())));
        assert!(matches!(Location::parse("postgres://u@h/d"), Ok(Location::Postgres(_))));
        assert!(matches!(Location::parse("PostgreSQL://u@h/d"), Ok(Location::Postgres(_))));
        for bad in ["mysql://h/d", ""] {
            match Location::parse(bad) {
                Err(StoreError::BadLocation(m)) => assert!(m.contains("postgres://"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(Location::Postgres("postgres://u:pw@h/d".into()).display(), "postgres://u:***@h/d");
    }
}
