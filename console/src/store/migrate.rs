//! Schema migrations: plain portable SQL files (console/migrations/),
//! applied in order inside one transaction and recorded in
//! `schema_migrations`. A database whose schema is newer than this binary
//! knows is refused.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::convert::{from_db, to_db};
use super::error::{Result, StoreError};

/// One migration: its version (1, 2, ...), name, and SQL.
pub struct Migration {
    pub version: u64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations this binary knows, in order, versions 1..=n without gaps.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_init",
    sql: include_str!("../../migrations/0001_init.sql"),
}];

/// The schema version this binary writes.
pub fn latest_version() -> u64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";

/// Brings the schema up to date with `migrations`; returns the version
/// the database is at afterwards.
pub fn migrate(conn: &mut Connection, migrations: &[Migration], now_ms: u64) -> Result<u64> {
    let binary = migrations.last().map_or(0, |m| m.version);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(CREATE_TABLE)?;
    let db: Option<i64> = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let db = db.map(from_db).transpose()?.unwrap_or(0);
    if db > binary {
        return Err(StoreError::SchemaTooNew { db, binary });
    }
    for m in migrations {
        let recorded: Option<String> = tx
            .query_row(
                "SELECT name FROM schema_migrations WHERE version = ?1",
                params![to_db(m.version)?],
                |r| r.get(0),
            )
            .optional()?;
        match recorded {
            Some(name) if name == m.name => {}
            Some(name) => {
                return Err(StoreError::MigrationMismatch {
                    version: m.version,
                    recorded: name,
                    expected: m.name.to_string(),
                })
            }
            None => {
                tx.execute_batch(m.sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
                    params![to_db(m.version)?, m.name, to_db(now_ms)?],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(binary)
}
