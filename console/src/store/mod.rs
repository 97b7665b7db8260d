//! The console's store: hosts and their reports, enrollment tokens,
//! alerts, users, audit log, jobs and the licence, over SQLite (default,
//! a file) or PostgreSQL (a `postgres://` URL).
//!
//! The schema lives in portable SQL files (console/migrations/) that both
//! backends apply unchanged; the statements are written once over the
//! small [`db`] layer. Like the alert engine, the store reads no clock:
//! every time is passed in as Unix milliseconds.
//!
//! One [`Store`] wraps one connection; open one per thread. Multi-row
//! changes run in write transactions that serialize writers (SQLite's
//! `BEGIN IMMEDIATE` in WAL mode with a busy timeout; on PostgreSQL an
//! advisory lock), so concurrent writers wait instead of failing. The
//! PostgreSQL connection runs on its own thread, so the store may be
//! called from async code on either backend.

mod alerts;
mod audit;
mod convert;
pub(crate) mod copy;
pub(crate) mod db;
mod error;
mod hosts;
mod jobs;
mod licence;
pub mod migrate;
mod rollouts;
mod tokens;
mod users;

use std::path::Path;

use db::Db;

pub use audit::{verify_audit_archive, ArchiveCheck, AuditAnchor, AuditCheck, AuditEntry, AuditKey, AuditVerifier, PruneOutcome, AUDIT_KEY_FILE};
pub use convert::Page;
pub use copy::CopyReport;
pub use db::Location;
pub use error::{Result, StoreError};
pub use hosts::{Host, HostSample, HostStatus, NewHost, TokenKeys};
pub use jobs::{Job, JobState, PrunedJobs};
pub use rollouts::{JobReportOutcome, PackageRecord, Rollout, RolloutHost, RolloutStatus, ITEM_TA_VERSION, KIND_TA_UPGRADE};
pub use tokens::token_hash;
pub use users::{Role, User};

/// See the module documentation.
pub struct Store {
    db: Db,
    /// Chains the audit log (see [`audit`]); `None` writes unprotected entries (tests).
    audit_key: Option<std::sync::Arc<audit::AuditKey>>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and
    /// migrates it to this binary's schema. A database with a newer schema
    /// is refused ([`StoreError::SchemaTooNew`]).
    pub fn open(path: impl AsRef<Path>, now_ms: u64) -> Result<Self> {
        Self::open_at(&Location::Sqlite(path.as_ref().to_path_buf()), now_ms)
    }

    /// As [`Store::open`], on the PostgreSQL database at `url`
    /// (`postgres://user[:password]@host[:port]/database`; the database
    /// must exist). With `sslmode=verify-full&sslrootcert=<CA PEM file>`
    /// (or `require`/`verify-ca`) the connection is TLS and the server's
    /// certificate is verified; without, it is plain TCP.
    pub fn open_url(url: &str, now_ms: u64) -> Result<Self> {
        Self::open_at(&Location::Postgres(url.to_owned()), now_ms)
    }

    /// As [`Store::open`] for a path or a `postgres://` URL
    /// ([`Location::parse`]).
    pub fn open_location(location: &str, now_ms: u64) -> Result<Self> {
        Self::open_at(&Location::parse(location)?, now_ms)
    }

    /// As [`Store::open`] for a parsed [`Location`].
    pub fn open_at(location: &Location, now_ms: u64) -> Result<Self> {
        Self::open_with(location, migrate::MIGRATIONS, now_ms)
    }

    /// As [`Store::open_at`] with an explicit migration list (tests).
    pub(crate) fn open_with(location: &Location, migrations: &[migrate::Migration], now_ms: u64) -> Result<Self> {
        let mut db = Db::open(location)?;
        migrate::migrate(&mut db, migrations, now_ms)?;
        Ok(Store { db, audit_key: None })
    }

    /// From now on, audit entries this store appends are chained with `key`.
    pub fn set_audit_key(&mut self, key: std::sync::Arc<audit::AuditKey>) {
        self.audit_key = Some(key);
    }

    /// Whether this store is on PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.db.is_postgres()
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u64> {
        let v: Option<i64> = self.db.query_one("SELECT MAX(version) FROM schema_migrations", &[])?.get(0)?;
        Ok(convert::opt_from_db(v)?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
