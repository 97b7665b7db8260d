//! The SQLite backend: one rusqlite connection in WAL mode with a busy
//! timeout; statements are prepared once and cached by rusqlite.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection};

use super::super::error::{Result, StoreError};
use super::value::{Row, Value};

/// How long a writer waits for another one before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

pub(crate) struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating if needed) the database file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("journal mode {mode}, not wal")));
        }
        // FULL: every commit waits for the disk (telemetry opts out).
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL")?;
        Ok(Sqlite { conn })
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(stmt.execute(params_from_iter(params))? as u64)
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut cols = Vec::with_capacity(n);
            for i in 0..n {
                cols.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => {
                        Value::Text(String::from_utf8(t.to_vec()).map_err(|_| StoreError::Corrupt(format!("column {i}: text is not UTF-8")))?)
                    }
                    ValueRef::Blob(_) => return Err(StoreError::Corrupt(format!("column {i}: a blob where the schema has no blobs"))),
                });
            }
            out.push(Row(cols));
        }
        Ok(out)
    }

    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        Ok(self.conn.execute_batch(sql)?)
    }

    pub(crate) fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        Ok(self.conn.prepare(sql)?.column_names().map(str::to_owned).collect())
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` takes the write lock
    /// now, so the transaction's reads see what it then writes on.
    pub(crate) fn begin(&self) -> Result<()> {
        self.execute_batch("BEGIN IMMEDIATE")
    }

    /// A write transaction for telemetry: as [`Sqlite::begin`], but its
    /// commit does not wait for the disk (`synchronous = NORMAL`; in WAL
    /// mode an OS crash or power loss may lose the last such commits,
    /// whole, never corrupting the file; the next ordinary commit flushes
    /// them too). [`Sqlite::end_telemetry`] restores `FULL` afterwards.
    pub(crate) fn begin_telemetry(&self) -> Result<()> {
        self.execute_batch("PRAGMA synchronous = NORMAL")?;
        if let Err(e) = self.begin() {
            self.end_telemetry();
            return Err(e);
        }
        Ok(())
    }

    /// Back to flushing every commit (the setting of everything else).
    pub(crate) fn end_telemetry(&self) {
        if let Err(e) = self.execute_batch("PRAGMA synchronous = FULL") {
            tracing::warn!(error = %e, "cannot restore PRAGMA synchronous = FULL");
        }
    }

    pub(crate) fn commit(&self) -> Result<()> {
        self.execute_batch("COMMIT")
    }

    pub(crate) fn rollback(&self) -> Result<()> {
        if self.conn.is_autocommit() {
            // SQLite already rolled back (some errors do that).
            return Ok(());
        }
        self.execute_batch("ROLLBACK")
    }
}

/// Whether `e` is a unique or primary-key violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}
