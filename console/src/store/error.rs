//! Errors of the store.

use thiserror::Error;

/// Everything a store operation can fail with.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// Its message carries the server's (the client's own `Display` is
    /// only "db error").
    #[error("PostgreSQL error: {}", pg_message(.0))]
    Postgres(postgres::Error),
    /// `url` without its password; `reason` the client's error with its causes.
    #[error(
        "cannot connect to PostgreSQL at {url}: {reason}; check the URL, that the server runs \
         and that it accepts this user and database"
    )]
    Connect { url: String, reason: String },
    #[error("the connection to PostgreSQL was lost inside a transaction; nothing of it was committed")]
    ConnectionLost,
    #[error("store connection: {0}")]
    Worker(String),
    #[error("bad database location: {0}")]
    BadLocation(String),
    #[error("cannot bind a statement parameter: {0}")]
    Param(String),
    #[error("stored JSON could not be encoded or decoded: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "database schema version {db} is newer than this console supports ({binary}); \
         upgrade the console binary"
    )]
    SchemaTooNew { db: u64, binary: u64 },
    #[error("migration {version} is recorded as {recorded:?} but this binary calls it {expected:?}")]
    MigrationMismatch { version: u64, recorded: String, expected: String },
    #[error("value {0} does not fit the database's signed 64-bit integers")]
    OutOfRange(u64),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("{what} {key:?} not found")]
    NotFound { what: &'static str, key: String },
    #[error("{what} {key:?} already exists")]
    AlreadyExists { what: &'static str, key: String },
    #[error("enrollment token unknown")]
    TokenUnknown,
    #[error("enrollment token already used")]
    TokenUsed,
    #[error("enrollment token expired")]
    TokenExpired,
    #[error("job {id}: cannot go from {from} to {to}")]
    JobTransition { id: u64, from: &'static str, to: &'static str },
    /// A rollout cannot do what was asked in its state (pause, resume).
    #[error("{0}")]
    RolloutState(String),
    /// A host cannot do what was asked in its state (revoke, delete).
    #[error("{0}")]
    HostState(String),
    /// The audit key file cannot be read or created.
    #[error("audit key {path}: {why}")]
    AuditKey { path: String, why: String },
    /// The audit log cannot be pruned or an archive does not check.
    #[error("{0}")]
    AuditPrune(String),
    #[error("the target store is not empty ({table} has {rows} rows): copy into a new, empty database")]
    TargetNotEmpty { table: String, rows: u64 },
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

/// An error's message followed by those of its causes, each once.
pub(crate) fn pg_message(e: &postgres::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let m = c.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        cause = c.source();
    }
    msg
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Maps a unique/primary-key violation (on either backend) to
/// `AlreadyExists { what, key }`; other errors pass through.
pub(crate) fn on_conflict(e: StoreError, what: &'static str, key: &str) -> StoreError {
    if super::db::is_unique_violation(&e) {
        StoreError::AlreadyExists { what, key: key.to_string() }
    } else {
        e
    }
}
