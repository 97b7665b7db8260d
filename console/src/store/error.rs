//! Errors of the store.

use thiserror::Error;

/// Everything a store operation can fail with.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored JSON could not be encoded or decoded: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "database schema version {db} is newer than this console supports ({binary}); \
         upgrade the console binary"
    )]
    SchemaTooNew { db: u64, binary: u64 },
    #[error(
        "migration {version} is recorded as {recorded:?} but this binary calls it {expected:?}"
    )]
    MigrationMismatch {
        version: u64,
        recorded: String,
        expected: String,
    },
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
    JobTransition {
        id: u64,
        from: &'static str,
        to: &'static str,
    },
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Maps a unique/primary-key violation to `AlreadyExists`.
pub(crate) fn on_conflict(e: rusqlite::Error, what: &'static str, key: &str) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::AlreadyExists {
            what,
            key: key.to_string(),
        },
        _ => StoreError::Db(e),
    }
}
