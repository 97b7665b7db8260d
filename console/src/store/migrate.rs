//! Schema migrations: plain portable SQL files (console/migrations/),
//! applied in order inside one write transaction and recorded in
//! `schema_migrations`, on SQLite and PostgreSQL alike. A database whose
//! schema is newer than this binary knows is refused.

use super::convert::{from_db, to_db};
use super::db::{params, Db};
use super::error::{Result, StoreError};

/// One migration: its version (1, 2, ...), name, and SQL.
pub struct Migration {
    pub version: u64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations this binary knows, in order, versions 1..=n without gaps.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_init", sql: include_str!("../../migrations/0001_init.sql") },
    Migration { version: 2, name: "0002_rollouts", sql: include_str!("../../migrations/0002_rollouts.sql") },
    Migration { version: 3, name: "0003_rollout_waves", sql: include_str!("../../migrations/0003_rollout_waves.sql") },
    Migration { version: 4, name: "0004_agent_cert_renewal", sql: include_str!("../../migrations/0004_agent_cert_renewal.sql") },
    Migration { version: 5, name: "0005_rollout_pause", sql: include_str!("../../migrations/0005_rollout_pause.sql") },
    Migration { version: 6, name: "0006_audit_chain", sql: include_str!("../../migrations/0006_audit_chain.sql") },
    Migration { version: 7, name: "0007_user_totp", sql: include_str!("../../migrations/0007_user_totp.sql") },
    Migration { version: 8, name: "0008_audit_anchor", sql: include_str!("../../migrations/0008_audit_anchor.sql") },
];

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
pub(crate) fn migrate(db: &mut Db, migrations: &[Migration], now_ms: u64) -> Result<u64> {
    let binary = migrations.last().map_or(0, |m| m.version);
    let tx = db.begin()?;
    tx.execute_batch(CREATE_TABLE)?;
    let db_version: Option<i64> = tx.query_one("SELECT MAX(version) FROM schema_migrations", &[])?.get(0)?;
    let db_version = db_version.map(from_db).transpose()?.unwrap_or(0);
    if db_version > binary {
        return Err(StoreError::SchemaTooNew { db: db_version, binary });
    }
    for m in migrations {
        let recorded: Option<String> =
            tx.query_opt("SELECT name FROM schema_migrations WHERE version = ?1", &params![to_db(m.version)?])?.map(|r| r.get(0)).transpose()?;
        match recorded {
            Some(name) if name == m.name => {}
            Some(name) => return Err(StoreError::MigrationMismatch { version: m.version, recorded: name, expected: m.name.to_string() }),
            None => {
                tx.execute_batch(m.sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
                    &params![to_db(m.version)?, m.name, to_db(now_ms)?],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(binary)
}
