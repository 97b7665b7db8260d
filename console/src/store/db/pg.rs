//! The PostgreSQL backend: one connection of the synchronous `postgres`
//! client, owned by a thread of its own.
//!
//! The sync client drives a private tokio runtime and panics when called
//! on a thread that already runs one (a console handler). So the store
//! never calls it directly: each call is sent to the connection's thread
//! and the caller waits for the answer, as it waits for SQLite's file I/O.
//! The thread ends when the store is dropped.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};
use zeroize::Zeroizing;

use super::super::error::{pg_message, Result, StoreError};
use super::pg_tls::{self, MakeRustlsConnect, Mode};
use super::value::{Row, Value};

/// Advisory lock every write transaction takes first: it serializes
/// writers like SQLite's `BEGIN IMMEDIATE` (gap-free audit numbers, job
/// ids and one-at-a-time migrations, also across console processes).
const BEGIN_SERIALIZED: &str = "BEGIN; SELECT pg_advisory_xact_lock(746565687)";

/// Telemetry transactions (heartbeats) take no lock and do not wait for
/// the WAL flush at commit: a server crash may lose the last fraction of a
/// second of them (whole transactions, never half of one). Without this,
/// every heartbeat waits for a disk flush while holding the store.
const BEGIN_TELEMETRY: &str = "BEGIN; SET LOCAL synchronous_commit = off";

/// Used when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection (the store has fewer).
const STATEMENT_CACHE: usize = 256;

enum Op {
    Execute(String, Vec<Value>),
    Query(String, Vec<Value>),
    Columns(String),
    Batch(String),
    Begin { telemetry: bool },
    Commit,
    Rollback,
}

enum Out {
    Count(u64),
    Rows(Vec<Row>),
    Names(Vec<String>),
    Done,
}

struct Job {
    op: Op,
    reply: mpsc::SyncSender<Result<Out>>,
}

pub(crate) struct Postgres {
    jobs: mpsc::Sender<Job>,
    worker: Option<JoinHandle<()>>,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/db`, as
    /// libpq's URLs, with libpq's `sslmode` and `sslrootcert`: see
    /// `pg_tls`) from a new connection thread.
    pub(crate) fn connect(url: &str) -> Result<Self> {
        let shown = redact(url);
        // Errors about the URL name it (without its password).
        let in_url = |e: StoreError| match e {
            StoreError::BadLocation(why) => StoreError::BadLocation(format!("PostgreSQL URL {shown}: {why}")),
            other => other,
        };
        let (rest, tls_options) = pg_tls::split_tls_options(url).map_err(in_url)?;
        let rest = Zeroizing::new(rest);
        let mut config: postgres::Config = rest.parse().map_err(|e| StoreError::BadLocation(format!("PostgreSQL URL {shown}: {e}")))?;
        let tls = match tls_options.mode {
            Mode::Plain => {
                config.ssl_mode(SslMode::Disable);
                if let Some(host) = config.get_hosts().iter().find(|h| !is_local(h)) {
                    tracing::warn!(
                        url = %shown,
                        host = ?host,
                        "the connection to PostgreSQL is not encrypted: add sslmode=verify-full&sslrootcert=<CA PEM file> to the URL"
                    );
                }
                None
            }
            Mode::Verified => {
                config.ssl_mode(SslMode::Require);
                let client = pg_tls::client_config(&tls_options).map_err(in_url)?;
                Some(MakeRustlsConnect::new(client))
            }
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("teehsm-console");
        }
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
        let worker = std::thread::Builder::new()
            .name("teehsm-store-pg".into())
            .spawn(move || {
                let mut w = match Worker::connect(config, tls, shown) {
                    Ok(w) => w,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                for job in rx {
                    let out = w.run(job.op);
                    let _ = job.reply.send(out);
                }
            })
            .map_err(|e| StoreError::Worker(format!("cannot start the connection thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Postgres { jobs, worker: Some(worker) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(worker_gone()),
        }
    }

    fn call(&self, op: Op) -> Result<Out> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs.send(Job { op, reply }).map_err(|_| worker_gone())?;
        answer.recv().map_err(|_| worker_gone())?
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        match self.call(Op::Execute(sql.to_owned(), params.to_vec()))? {
            Out::Count(n) => Ok(n),
            _ => Err(StoreError::Worker("unexpected answer to execute".into())),
        }
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self.call(Op::Query(sql.to_owned(), params.to_vec()))? {
            Out::Rows(r) => Ok(r),
            _ => Err(StoreError::Worker("unexpected answer to query".into())),
        }
    }

    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        self.call(Op::Batch(sql.to_owned())).map(drop)
    }

    pub(crate) fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        match self.call(Op::Columns(sql.to_owned()))? {
            Out::Names(n) => Ok(n),
            _ => Err(StoreError::Worker("unexpected answer to a column query".into())),
        }
    }

    pub(crate) fn begin(&self, telemetry: bool) -> Result<()> {
        self.call(Op::Begin { telemetry }).map(drop)
    }

    pub(crate) fn commit(&self) -> Result<()> {
        self.call(Op::Commit).map(drop)
    }

    pub(crate) fn rollback(&self) -> Result<()> {
        self.call(Op::Rollback).map(drop)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the job channel ends the thread, which closes the connection.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn worker_gone() -> StoreError {
    StoreError::Worker("the PostgreSQL connection thread has stopped".into())
}

/// The connection thread's state.
struct Worker {
    config: postgres::Config,
    /// `None`: no TLS (sslmode disable, allow, prefer).
    tls: Option<MakeRustlsConnect>,
    shown_url: String,
    client: Client,
    statements: HashMap<String, Statement>,
    in_tx: bool,
}

impl Worker {
    fn connect(config: postgres::Config, tls: Option<MakeRustlsConnect>, shown_url: String) -> Result<Self> {
        let client = open(&config, tls.as_ref(), &shown_url)?;
        Ok(Worker { config, tls, shown_url, client, statements: HashMap::new(), in_tx: false })
    }

    fn run(&mut self, op: Op) -> Result<Out> {
        if self.client.is_closed() {
            // A transaction open on it died with the connection: nothing of
            // it was committed. Its rollback is answered without a new one.
            if matches!(op, Op::Rollback) {
                self.in_tx = false;
                return Ok(Out::Done);
            }
            if self.in_tx {
                return Err(StoreError::ConnectionLost);
            }
            tracing::warn!(url = %self.shown_url, "PostgreSQL connection closed; reconnecting");
            self.client = open(&self.config, self.tls.as_ref(), &self.shown_url)?;
            self.statements.clear();
        }
        match op {
            Op::Execute(sql, params) => {
                let stmt = self.prepare(&sql)?;
                let args = bind(&stmt, &params)?;
                let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
                let n = self.client.execute(&stmt, &refs);
                Ok(Out::Count(self.forget_on_error(&sql, n)?))
            }
            Op::Query(sql, params) => {
                let stmt = self.prepare(&sql)?;
                let args = bind(&stmt, &params)?;
                let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as _).collect();
                let rows = self.client.query(&stmt, &refs);
                let rows = self.forget_on_error(&sql, rows)?;
                Ok(Out::Rows(rows.iter().map(row_from_pg).collect::<Result<_>>()?))
            }
            Op::Columns(sql) => {
                let stmt = self.prepare(&sql)?;
                Ok(Out::Names(stmt.columns().iter().map(|c| c.name().to_owned()).collect()))
            }
            Op::Batch(sql) => {
                // A schema change may invalidate prepared statements.
                self.statements.clear();
                self.client.batch_execute(&sql)?;
                Ok(Out::Done)
            }
            Op::Begin { telemetry } => {
                // One round trip for BEGIN and the lock or setting.
                let sql = if telemetry { BEGIN_TELEMETRY } else { BEGIN_SERIALIZED };
                if let Err(e) = self.client.batch_execute(sql) {
                    if !self.client.is_closed() {
                        let _ = self.client.batch_execute("ROLLBACK");
                    }
                    return Err(e.into());
                }
                self.in_tx = true;
                Ok(Out::Done)
            }
            Op::Commit => {
                self.in_tx = false;
                self.client.batch_execute("COMMIT")?;
                Ok(Out::Done)
            }
            Op::Rollback => {
                self.in_tx = false;
                self.client.batch_execute("ROLLBACK")?;
                Ok(Out::Done)
            }
        }
    }

    /// A failed statement is prepared afresh next time (another session's
    /// schema change can leave a prepared statement unusable).
    fn forget_on_error<T>(&mut self, sql: &str, r: std::result::Result<T, postgres::Error>) -> Result<T> {
        if r.is_err() {
            self.statements.remove(sql);
        }
        Ok(r?)
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(&dollar_placeholders(sql))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

fn open(config: &postgres::Config, tls: Option<&MakeRustlsConnect>, shown_url: &str) -> Result<Client> {
    let connected = match tls {
        Some(tls) => config.connect(tls.clone()),
        None => config.connect(NoTls),
    };
    connected.map_err(|e| {
        let mut reason = pg_message(&e);
        if tls.is_some() && reason.contains("invalid peer certificate") {
            reason.push_str(" (sslrootcert must hold the CA that signed the server's certificate, and the certificate must name the URL's host)");
        }
        StoreError::Connect { url: shown_url.to_owned(), reason }
    })
}

/// A Unix socket or a loopback address: traffic that never leaves the host.
fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => name == "localhost" || name.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    }
}

/// Whether `e` is a unique or primary-key violation.
pub(crate) fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

type Arg = Box<dyn ToSql + Sync + Send>;

/// Converts the store's values to the types PostgreSQL inferred for the
/// statement's parameters.
fn bind(stmt: &Statement, params: &[Value]) -> Result<Vec<Arg>> {
    let types = stmt.params();
    if types.len() != params.len() {
        return Err(StoreError::Param(format!("the statement takes {} parameters, {} were given", types.len(), params.len())));
    }
    types.iter().zip(params).enumerate().map(|(i, (ty, v))| bind_one(i + 1, ty, v)).collect()
}

fn bind_one(n: usize, ty: &Type, v: &Value) -> Result<Arg> {
    let bad = || StoreError::Param(format!("parameter ${n}: cannot bind {v:?} to PostgreSQL type {ty}"));
    let int = || match v {
        Value::Null => Ok(None),
        Value::Int(i) => Ok(Some(*i)),
        _ => Err(bad()),
    };
    let real = || match v {
        Value::Null => Ok(None),
        Value::Real(r) => Ok(Some(*r)),
        Value::Int(i) => Ok(Some(*i as f64)),
        _ => Err(bad()),
    };
    let narrow = |i: i64| i32::try_from(i).map_err(|_| bad());
    Ok(match *ty {
        Type::INT8 => Box::new(int()?),
        Type::INT4 => Box::new(int()?.map(narrow).transpose()?),
        Type::INT2 => Box::new(int()?.map(|i| i16::try_from(i).map_err(|_| bad())).transpose()?),
        Type::BOOL => Box::new(int()?.map(|i| i != 0)),
        Type::FLOAT8 => Box::new(real()?),
        Type::FLOAT4 => Box::new(real()?.map(|r| r as f32)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => match v {
            Value::Null => Box::new(None::<String>),
            Value::Text(s) => Box::new(Some(s.clone())),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    })
}

fn row_from_pg(r: &postgres::Row) -> Result<Row> {
    let mut cols = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|x| Value::Int(x.into())),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|x| Value::Int(x.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|x| Value::Int(x.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|x| Value::Real(x.into())),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
            ref other => {
                return Err(StoreError::Corrupt(format!("column {:?} has PostgreSQL type {other}, which the store does not use", col.name())))
            }
        };
        cols.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(cols))
}

/// The store writes SQLite's numbered placeholders `?1`; PostgreSQL's are
/// `$1`. Text in single quotes is left alone.
pub(crate) fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// `url` with its password (in the user part or a `password=` parameter)
/// replaced by `***`, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(dollar_placeholders("SELECT ?1, '?2', ?10 WHERE a = ? AND b = ?3"), "SELECT $1, '?2', $10 WHERE a = ? AND b = $3");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db?password=x&sslmode=disable"), "postgres://u@h/db?password=***&sslmode=disable");
        assert_eq!(redact("postgresql://h/db"), "postgresql://h/db");
    }

    #[test]
    fn unreachable_server_is_a_connect_error_naming_the_redacted_url() {
        // Port 1 on loopback: nothing listens there.
        match Postgres::connect("postgres://u:pw@127.0.0.1:1/db?connect_timeout=2") {
            Err(e @ StoreError::Connect { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("postgres://u:***@127.0.0.1:1/db"), "{msg}");
                assert!(!msg.contains("pw"), "{msg}");
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("connected to port 1"),
        }
        assert!(matches!(Postgres::connect("postgres://h:notaport/db"), Err(StoreError::BadLocation(_))));
    }
}
