//! The console's store: hosts and their reports, enrollment tokens,
//! alerts, users, audit log, jobs and the licence, over SQLite.
//!
//! The schema lives in portable SQL files (console/migrations/) so that a
//! PostgreSQL backend can apply the same migrations. Like the alert engine,
//! the store reads no clock: every time is passed in as Unix milliseconds.
//!
//! One [`Store`] wraps one connection; open one per thread. Multi-row
//! changes run in `BEGIN IMMEDIATE` transactions; the database runs in WAL
//! mode with a busy timeout, so concurrent writers wait instead of failing.

mod alerts;
mod audit;
mod convert;
mod error;
mod hosts;
mod jobs;
mod licence;
pub mod migrate;
mod tokens;
mod users;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

pub use audit::AuditEntry;
pub use convert::Page;
pub use error::{Result, StoreError};
pub use hosts::{Host, HostSample, HostStatus, NewHost, TokenKeys};
pub use jobs::{Job, JobState};
pub use tokens::token_hash;
pub use users::{Role, User};

/// How long a writer waits for another one before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// See the module documentation.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to
    /// this binary's schema. A database with a newer schema is refused
    /// ([`StoreError::SchemaTooNew`]).
    pub fn open(path: impl AsRef<Path>, now_ms: u64) -> Result<Self> {
        Self::open_with(path, migrate::MIGRATIONS, now_ms)
    }

    /// As [`Store::open`] with an explicit migration list (tests).
    pub(crate) fn open_with(
        path: impl AsRef<Path>,
        migrations: &[migrate::Migration],
        now_ms: u64,
    ) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("journal mode {mode}, not wal")));
        }
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        migrate::migrate(&mut conn, migrations, now_ms)?;
        Ok(Store { conn })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u64> {
        let v: Option<i64> =
            self.conn
                .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                    r.get(0)
                })?;
        Ok(convert::opt_from_db(v)?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
