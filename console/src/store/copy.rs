//! Moving a console's store to another database (typically a fleet that
//! outgrew SQLite moving to PostgreSQL): every table copied row for row,
//! in one transaction on the target, then checked.
//!
//! Both ends are migrated to this binary's schema first, so their tables
//! and columns are the same. The target must be empty (no row in any
//! table): nothing is merged. Every value is copied verbatim (ids, audit
//! sequence numbers, password hashes, times). The source is only read;
//! stop the console first so nothing changes it during the copy.

use super::db::{Db, Value};
use super::error::{Result, StoreError};
use super::Store;

/// Every table of the schema (except `schema_migrations`, which each end
/// keeps for itself), parents before the tables that refer to them.
pub(crate) const TABLES: &[&str] = &[
    "hosts",
    "host_reports",
    "host_samples",
    "enrollment_tokens",
    "alerts",
    "engine_state",
    "users",
    "audit",
    "audit_anchor",
    "jobs",
    "licence",
    "packages",
    "rollouts",
    "rollout_jobs",
    "desired_state",
    "rollout_waiting",
];

/// Rows per INSERT statement.
const BATCH_ROWS: usize = 200;
/// Rows read from the source at a time (tables such as host_samples can be
/// far larger than memory should hold at once); small in tests, so that
/// they cross pages.
#[cfg(not(test))]
const PAGE_ROWS: usize = 5_000;
#[cfg(test)]
const PAGE_ROWS: usize = 64;

/// What [`Store::copy_into`] copied: (table, rows) in copy order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    /// Rows copied, all tables together.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Copies every row of this store into `target`, which must be empty;
    /// all or nothing. Afterwards each table holds as many rows on the
    /// target as here.
    pub fn copy_into(&mut self, target: &mut Store) -> Result<CopyReport> {
        for table in TABLES {
            let n = count(&target.db, table)?;
            if n > 0 {
                return Err(StoreError::TargetNotEmpty { table: table.to_string(), rows: n });
            }
        }
        let mut report = CopyReport { tables: Vec::with_capacity(TABLES.len()) };
        let tx = target.db.begin()?;
        for table in TABLES {
            let columns = columns(&self.db, table)?;
            let list = columns.join(", ");
            let mut read = 0u64;
            let mut pages = Pages::new(&self.db, table, &list);
            while let Some(rows) = pages.next_page(&self.db)? {
                read += rows.len() as u64;
                for chunk in rows.chunks(BATCH_ROWS) {
                    let mut placeholders = Vec::with_capacity(chunk.len());
                    let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * columns.len());
                    for row in chunk {
                        let first = values.len();
                        let marks: Vec<String> = (0..columns.len()).map(|i| format!("?{}", first + i + 1)).collect();
                        placeholders.push(format!("({})", marks.join(", ")));
                        values.extend(row.0.iter().take(columns.len()).cloned());
                    }
                    tx.execute(&format!("INSERT INTO {table} ({list}) VALUES {}", placeholders.join(", ")), &values)?;
                }
            }
            let copied = count(&tx, table)?;
            if copied != read {
                return Err(StoreError::Corrupt(format!("{table}: {read} rows read but {copied} on the target")));
            }
            report.tables.push((table.to_string(), copied));
        }
        tx.commit()?;
        Ok(report)
    }
}

/// Reads a table page by page: on SQLite by rowid (each page a range
/// scan), on PostgreSQL in the order of all its columns (a total order up
/// to identical rows, which are interchangeable).
struct Pages {
    sql: String,
    sqlite: bool,
    /// SQLite: the last rowid read; PostgreSQL: rows read so far.
    position: i64,
    done: bool,
}

impl Pages {
    fn new(db: &Db, table: &str, list: &str) -> Self {
        let sqlite = !db.is_postgres();
        let sql = if sqlite {
            // rowid last, so the row's columns keep their indexes.
            format!("SELECT {list}, rowid FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT {PAGE_ROWS}")
        } else {
            let n = list.split(", ").count();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            format!("SELECT {list} FROM {table} ORDER BY {} LIMIT {PAGE_ROWS} OFFSET ?1", order.join(", "))
        };
        Pages { sql, sqlite, position: if sqlite { i64::MIN } else { 0 }, done: false }
    }

    fn next_page(&mut self, db: &Db) -> Result<Option<Vec<super::db::Row>>> {
        if self.done {
            return Ok(None);
        }
        let rows = db.query(&self.sql, &super::db::params![self.position])?;
        if rows.len() < PAGE_ROWS {
            self.done = true;
        }
        if rows.is_empty() {
            return Ok(None);
        }
        if self.sqlite {
            let last = rows.last().map(|r| r.0.len()).unwrap_or(0);
            self.position = rows.last().map(|r| r.get::<i64>(last - 1)).transpose()?.unwrap_or(self.position);
        } else {
            self.position += rows.len() as i64;
        }
        Ok(Some(rows))
    }
}

fn count(db: &Db, table: &str) -> Result<u64> {
    let n: i64 = db.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])?.get(0)?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{table} has a negative row count")))
}

/// The columns of `table`, in order, from a query that returns none of its rows.
fn columns(db: &Db, table: &str) -> Result<Vec<String>> {
    let names = db.column_names(&format!("SELECT * FROM {table} WHERE 1 = 0"))?;
    if names.is_empty() {
        return Err(StoreError::Corrupt(format!("{table} has no columns")));
    }
    Ok(names)
}
