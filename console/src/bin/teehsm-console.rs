//! teehsm-console: the fleet console daemon (docs/fleet-console.md).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::path::PathBuf;
use teehsm_console::alerts::RuleSet;
use teehsm_console::daemon::https::HttpTls;
use teehsm_console::daemon::totp_api::SecondFactorPolicy;
use teehsm_console::daemon::{default_rules, run, Config};
use teehsm_console::licence::{VendorPublicKey, VerifiedLicence};

/// The teehsm fleet console: enrolls host agents, receives their heartbeats
/// over mutual TLS, evaluates alert rules and sends alerts to webhooks.
#[derive(Parser, Debug)]
#[command(name = "teehsm-console", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the console. Every option can also come from the environment
    /// (TEEHSM_CONSOLE_<OPTION>) or from the TOML file given by --config
    /// (keys named like the options, with underscores); a flag wins over
    /// the environment, which wins over the file.
    Serve(Box<Serve>),
    /// TA packages the console hands out in rollouts (docs/fleet-packages.md).
    #[command(subcommand)]
    Package(PackageCmd),
    /// Console users who log in to the web UI and the HTTP API
    /// (docs/fleet-console.md). Passwords are read from --password-file or
    /// standard input, never from the command line.
    #[command(subcommand)]
    User(UserCmd),
    /// The console's database (docs/fleet-console.md, "Store: SQLite or
    /// PostgreSQL").
    #[command(subcommand)]
    Store(StoreCmd),
    /// The console's audit log (docs/fleet-console.md, "Audit log").
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Key distribution by hand: generate the console's signing key, wrap
    /// a key to one attested TA (docs/key-distribution.md).
    Keydist {
        #[command(subcommand)]
        command: teehsm_console::keydist::cli::KeydistCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Add a user, e.g. the first admin: `teehsm-console user add
    /// --data-dir D --name alice --role admin < password-file`.
    Add {
        #[command(flatten)]
        store: StoreAt,
        /// User name: 1 to 64 of A-Z a-z 0-9 . _ @ -
        #[arg(long)]
        name: String,
        /// admin, operator or auditor.
        #[arg(long)]
        role: String,
        /// File holding the password (first line); without it, the first
        /// line of standard input. At least 12 characters.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Set a user's password (same password sources as `add`).
    Passwd {
        #[command(flatten)]
        store: StoreAt,
        #[arg(long)]
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List the users and their roles.
    List {
        #[command(flatten)]
        store: StoreAt,
    },
    /// Remove a user's second factor (a lost authenticator when no other
    /// admin can: `DELETE /api/users/{name}/totp` otherwise).
    TotpOff {
        #[command(flatten)]
        store: StoreAt,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Check the audit log's MAC chain with <data-dir>/audit-key: exit 0 if
    /// it holds, 1 with the first entry that does not. With --archive, check
    /// an archive file written by `audit prune` instead (the store is not
    /// opened; only the key in --data-dir is read).
    Verify {
        #[command(flatten)]
        store: StoreAt,
        /// An archive file of `audit prune` to check.
        #[arg(long, value_name = "FILE")]
        archive: Option<PathBuf>,
    },
    /// Move the entries older than --older-than-days (never the newest) to a
    /// new archive file (JSON Lines with their MACs, fsynced first), delete
    /// them from the store and leave a MAC'd anchor, so the log still
    /// verifies and the archive verifies on its own (`audit verify
    /// --archive`). Refuses a log whose chain is broken. Safe while the
    /// console runs.
    Prune {
        #[command(flatten)]
        store: StoreAt,
        /// Keep the entries of the last N days.
        #[arg(long, value_name = "N")]
        older_than_days: u64,
        /// The archive file to create (must not exist).
        #[arg(long, value_name = "FILE")]
        archive: PathBuf,
    },
    /// Write the entries after number --after as JSON Lines (with their
    /// MACs) on standard output, e.g. for archiving.
    Export {
        #[command(flatten)]
        store: StoreAt,
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
}

fn audit_cmd(cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Verify { store: at, archive: Some(file) } => {
            let key = teehsm_console::store::AuditKey::load(&at.data_dir)?;
            let f = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let a = teehsm_console::store::verify_audit_archive(&key, std::io::BufReader::new(f))?;
            match (a.check.broken_at, &a.check.reason) {
                (Some(entry), Some(why)) => {
                    eprintln!("teehsm-console: the archive's chain is broken at entry {entry}: {why}");
                    std::process::exit(1);
                }
                _ => println!(
                    "archive verified: entries {} to {} ({} entries); the next archive or the store's anchor goes on from entry {} with MAC {}",
                    a.after_seq + 1,
                    a.end_seq,
                    a.check.entries,
                    a.end_seq,
                    a.end_mac
                ),
            }
        }
        AuditCmd::Prune { store: at, older_than_days, archive } => {
            let key = teehsm_console::store::AuditKey::load(&at.data_dir)?;
            let now = teehsm_console::daemon::now_ms();
            let before = now.saturating_sub(older_than_days.saturating_mul(86_400_000));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&archive)
                .with_context(|| format!("cannot create the archive {} (it must not exist yet)", archive.display()))?;
            // The archive's directory entry must be durable before any entry is deleted.
            let parent = archive.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            std::fs::File::open(parent).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", parent.display()))?;
            let out = at.open()?.prune_audit(&key, before, now, &mut file);
            let out = match out {
                Ok(o) => o,
                Err(e) => {
                    drop(file);
                    let _ = std::fs::remove_file(&archive);
                    return Err(e.into());
                }
            };
            match out.anchor {
                Some(a) => println!(
                    "archived {} entries, through entry {}, to {} (SHA-256 {}); the log now starts after entry {}",
                    out.archived,
                    a.seq,
                    archive.display(),
                    a.archive_sha256,
                    a.seq
                ),
                None => {
                    drop(file);
                    let _ = std::fs::remove_file(&archive);
                    println!("nothing to prune: no entry is older than {older_than_days} days (the newest entry always stays)");
                }
            }
        }
        AuditCmd::Verify { store: at, archive: None } => {
            let key = teehsm_console::store::AuditKey::load(&at.data_dir)?;
            let check = at.open()?.verify_audit(&key)?;
            match (check.broken_at, &check.reason) {
                (Some(entry), Some(why)) => {
                    eprintln!("teehsm-console: the audit log's chain is broken at entry {entry}: {why}");
                    std::process::exit(1);
                }
                _ if check.pruned_through > 0 => println!(
                    "audit log verified: {} entries, the last is {}; entries up to {} were archived by `audit prune` ({} from before the chain began)",
                    check.entries, check.last_seq, check.pruned_through, check.unprotected
                ),
                _ => println!(
                    "audit log verified: {} entries, the last is {} ({} from before the chain began)",
                    check.entries, check.last_seq, check.unprotected
                ),
            }
        }
        AuditCmd::Export { store: at, after } => {
            use std::io::Write;
            let store = at.open()?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut last = after;
            loop {
                let page = store.audit_entries(last, 1000)?;
                let Some(end) = page.last().map(|e| e.seq) else { break };
                for e in &page {
                    writeln!(out, "{}", serde_json::to_string(e)?)?;
                }
                last = end;
            }
            out.flush()?;
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
enum StoreCmd {
    /// Copy every row of the store (<data-dir>/console.db, or --database-url)
    /// into another, empty database, e.g. from SQLite to PostgreSQL: `teehsm-console
    /// store copy --data-dir D --to postgres://teehsm@db/teehsm`. Stop the
    /// console first; then start it with --database-url set to the target.
    Copy {
        #[command(flatten)]
        store: StoreAt,
        /// The target: a postgres:// URL (the database must exist and be
        /// empty; the schema is created) or a new SQLite file path.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

fn store_cmd(cmd: StoreCmd) -> Result<()> {
    use teehsm_console::store::{Location, Store};
    match cmd {
        StoreCmd::Copy { store: at, to } => {
            let mut source = at.open()?;
            let target_at = Location::parse(&to).context("--to")?;
            let mut target = Store::open_at(&target_at, teehsm_console::daemon::now_ms())
                .with_context(|| format!("cannot open the target {}", target_at.display()))?;
            let report = source.copy_into(&mut target).with_context(|| format!("copying into {}", target_at.display()))?;
            for (table, rows) in &report.tables {
                println!("{table}\t{rows}");
            }
            eprintln!(
                "copied {} rows in {} tables into {}; start the console with --database-url set to it",
                report.rows(),
                report.tables.len(),
                target_at.display()
            );
        }
    }
    Ok(())
}

fn read_password(file: Option<&std::path::Path>) -> Result<zeroize::Zeroizing<String>> {
    let text = match file {
        Some(p) => zeroize::Zeroizing::new(std::fs::read_to_string(p).with_context(|| format!("cannot read --password-file {}", p.display()))?),
        None => {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
            line
        }
    };
    let first = text.lines().next().unwrap_or("");
    if first.is_empty() {
        bail!("no password given: put it on the first line of --password-file or of standard input");
    }
    Ok(zeroize::Zeroizing::new(first.to_owned()))
}

fn user_cmd(cmd: UserCmd) -> Result<()> {
    use teehsm_console::daemon::password::hash_password;
    use teehsm_console::daemon::routes::parse_role;
    use teehsm_console::store::User;
    let now = teehsm_console::daemon::now_ms();
    match cmd {
        UserCmd::Add { store: at, name, role, password_file } => {
            if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c)) {
                bail!("--name must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
            }
            let Some(role) = parse_role(&role) else { bail!("--role must be admin, operator or auditor") };
            let password = read_password(password_file.as_deref())?;
            let password_hash = hash_password(&password).context("password")?;
            let mut store = at.open()?;
            store.add_user(&User { name: name.clone(), role, password_hash }).with_context(|| format!("cannot add user {name}"))?;
            store.append_audit(now, "cli", "user_add", &name, &serde_json::json!({ "role": role.as_str() }))?;
            println!("user {name} added with role {}", role.as_str());
        }
        UserCmd::Passwd { store: at, name, password_file } => {
            let password = read_password(password_file.as_deref())?;
            let password_hash = hash_password(&password).context("password")?;
            let mut store = at.open()?;
            store.set_user_password_hash(&name, &password_hash).with_context(|| format!("cannot set the password of {name}"))?;
            store.append_audit(now, "cli", "user_passwd", &name, &serde_json::json!({}))?;
            println!("password of {name} changed (existing sessions end when the console restarts)");
        }
        UserCmd::List { store: at } => {
            let store = at.open()?;
            let with_totp = store.users_with_totp()?;
            for u in store.users()? {
                let totp = if with_totp.contains(&u.name) { "\tsecond factor" } else { "" };
                println!("{}\t{}{totp}", u.name, u.role.as_str());
            }
        }
        UserCmd::TotpOff { store: at, name } => {
            let mut store = at.open()?;
            if store.user_totp(&name)?.is_none() {
                bail!("user {name} has no second factor");
            }
            store.set_user_totp(&name, None)?;
            store.append_audit(teehsm_console::daemon::now_ms(), "cli", "totp_reset", &name, &serde_json::json!({}))?;
            eprintln!("removed the second factor of {name}; they log in with the password alone until they set up a new one");
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
enum PackageCmd {
    /// Verify a package directory (manifest.toml, manifest.sig, files) with
    /// the vendor key(s) and import it into the console's data directory.
    Add {
        #[command(flatten)]
        store: StoreAt,
        /// Vendor Ed25519 public key (64 hex digits, or a file holding them);
        /// repeat for several. The package must verify with one of them.
        #[arg(long = "vendor-key", required = true)]
        vendor_key: Vec<String>,
        /// The package directory.
        dir: PathBuf,
    },
    /// List the imported packages.
    List {
        #[command(flatten)]
        store: StoreAt,
    },
}

/// Where an administrative command finds the console's store.
#[derive(Args, Debug)]
struct StoreAt {
    /// The console's data directory.
    #[arg(long, env = "TEEHSM_CONSOLE_DATA_DIR")]
    data_dir: PathBuf,
    /// The store, if not <data-dir>/console.db: an SQLite path or a postgres:// URL.
    #[arg(long = "database-url", env = "TEEHSM_CONSOLE_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
}

impl StoreAt {
    fn open(&self) -> Result<teehsm_console::store::Store> {
        open_store(&self.data_dir, self.database.as_deref())
    }
}

fn open_store(data_dir: &std::path::Path, database: Option<&str>) -> Result<teehsm_console::store::Store> {
    use teehsm_console::store::{Location, Store};
    let loc = match database {
        Some(d) => Location::parse(d).context("--database-url")?,
        None => Location::Sqlite(data_dir.join("console.db")),
    };
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let key = teehsm_console::store::AuditKey::load_or_create(data_dir)?;
    let mut store = Store::open_at(&loc, teehsm_console::daemon::now_ms()).with_context(|| format!("cannot open the store {}", loc.display()))?;
    store.set_audit_key(std::sync::Arc::new(key));
    Ok(store)
}

fn package_cmd(cmd: PackageCmd) -> Result<()> {
    use teehsm_console::daemon::packages::{import, PACKAGES_DIR};
    match cmd {
        PackageCmd::Add { store: at, vendor_key, dir } => {
            let mut keys = teehsm_agent::package::VendorKeys::new();
            for k in &vendor_key {
                let text = if std::path::Path::new(k).is_file() {
                    std::fs::read_to_string(k).with_context(|| format!("cannot read --vendor-key {k}"))?
                } else {
                    k.clone()
                };
                keys.add_hex(&text).with_context(|| format!("--vendor-key {k}: want 64 hex digits or a file holding them"))?;
            }
            let mut store = at.open()?;
            let rec = import(&at.data_dir.join(PACKAGES_DIR), &dir, keys, &mut store, "cli", teehsm_console::daemon::now_ms())
                .with_context(|| format!("cannot import {}", dir.display()))?;
            println!("{}", serde_json::to_string(&rec)?);
        }
        PackageCmd::List { store: at } => {
            let store = at.open()?;
            for p in store.packages()? {
                println!("{}", serde_json::to_string(&p)?);
            }
        }
    }
    Ok(())
}

#[derive(Args, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Serve {
    /// TOML configuration file (keys: data_dir, database_url, grpc_listen,
    /// http_listen, http_tls, http_tls_cert, http_tls_key, grpc_tls_cert,
    /// grpc_tls_key, agent_ca_bundle, rules, webhook,
    /// server_names, sample_retention_days, job_retention_days, heartbeat_interval_ms, licence,
    /// vendor_key, allow_loopback_admin, require_second_factor, admin_password_file,
    /// keydist_signing_key, attestation_trust_anchor, attestation_policy).
    #[arg(long, env = "TEEHSM_CONSOLE_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Data directory: console CA (console-ca.pem; key mode 0600), server
    /// certificate, console.db (SQLite), grpc.addr and http.addr.
    #[arg(long, env = "TEEHSM_CONSOLE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The store: an SQLite file path, or a PostgreSQL URL
    /// postgres://user[:password]@host[:port]/database (the database must
    /// exist) [default: <data-dir>/console.db]. Add
    /// ?sslmode=verify-full&sslrootcert=<CA PEM file> for TLS with the
    /// server's certificate verified (without sslmode: plain TCP), and
    /// &sslcert=<PEM>&sslkey=<PEM> for a client certificate. Give a
    /// password through the environment or the config file, not the command line.
    #[arg(long, env = "TEEHSM_CONSOLE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Address of the agents' gRPC API (TLS) [default: 0.0.0.0:7443].
    #[arg(long, env = "TEEHSM_CONSOLE_GRPC_LISTEN")]
    grpc_listen: Option<String>,
    /// Address of the web UI, the HTTP API and /metrics [default:
    /// 127.0.0.1:7080]. The API needs a login (`teehsm-console user add`).
    #[arg(long, env = "TEEHSM_CONSOLE_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Alert rules file (TOML, docs/fleet-alerts.md). Default rules:
    /// tokens 80 % full (warning), 2 missed heartbeats (critical), TA down
    /// (critical), an agent certificate with under 14 days left (warning).
    #[arg(long, env = "TEEHSM_CONSOLE_RULES")]
    rules: Option<PathBuf>,
    /// http:// URL to POST alert changes to, as Alertmanager webhook JSON.
    /// Repeat for several receivers.
    #[arg(long, env = "TEEHSM_CONSOLE_WEBHOOK", value_delimiter = ',')]
    #[serde(default)]
    webhook: Vec<String>,
    /// A DNS name or IP address agents reach the console by, for its
    /// server certificate (besides localhost, 127.0.0.1 and ::1; e.g.
    /// console.bank.internal). Repeat for several; a change reissues the
    /// certificate from the same console CA [config: server_names = [...]].
    #[arg(long = "server-name", env = "TEEHSM_CONSOLE_SERVER_NAMES", value_delimiter = ',', value_name = "NAME")]
    #[serde(default)]
    server_names: Vec<String>,
    /// Days host samples (the charts' history, one per heartbeat) are kept;
    /// older ones are deleted at start and hourly, with expired enrollment
    /// tokens. 0 keeps them forever [default: 14].
    #[arg(long, env = "TEEHSM_CONSOLE_SAMPLE_RETENTION_DAYS", value_name = "DAYS")]
    sample_retention_days: Option<u64>,
    /// Days finished jobs and rollouts are kept (a rollout once all its
    /// jobs finished); older ones are deleted hourly. The audit log keeps
    /// their history. 0 keeps them forever [default: 0].
    #[arg(long, env = "TEEHSM_CONSOLE_JOB_RETENTION_DAYS", value_name = "DAYS")]
    job_retention_days: Option<u64>,
    /// Serve the web UI, the HTTP API and /metrics over HTTPS with the
    /// console's own server certificate (issued by console-ca.pem for
    /// localhost and the --server-name names; browsers must trust
    /// console-ca.pem). See --http-tls-cert for a certificate of your own.
    #[arg(long, env = "TEEHSM_CONSOLE_HTTP_TLS", conflicts_with = "http_tls_cert")]
    #[serde(default)]
    http_tls: bool,
    /// Serve the web UI, the HTTP API and /metrics over HTTPS with this
    /// certificate chain (PEM, leaf first; e.g. from your organisation's
    /// CA). Needs --http-tls-key. A renewed file takes effect at the next
    /// connection, without a restart.
    #[arg(long, env = "TEEHSM_CONSOLE_HTTP_TLS_CERT", requires = "http_tls_key", value_name = "PEM")]
    http_tls_cert: Option<PathBuf>,
    /// The private key of --http-tls-cert (PEM: PKCS#8, SEC1 or PKCS#1;
    /// readable by its owner only, chmod 600).
    #[arg(long, env = "TEEHSM_CONSOLE_HTTP_TLS_KEY", requires = "http_tls_cert", value_name = "PEM")]
    http_tls_key: Option<PathBuf>,
    /// Serve the agents' gRPC port with this certificate chain (PEM, leaf
    /// first) from your organisation's CA instead of the console CA's server
    /// certificate; agents then enroll with --console-ca set to that CA.
    /// Agents' client certificates still come from the console CA. A renewal
    /// (same CA) is loaded at the next connection, no restart needed. Needs
    /// --grpc-tls-key.
    #[arg(long, env = "TEEHSM_CONSOLE_GRPC_TLS_CERT", requires = "grpc_tls_key", value_name = "PEM")]
    grpc_tls_cert: Option<PathBuf>,
    /// CA certificates (PEM) agents are told to trust for the agents' port
    /// from now on, sent in every heartbeat answer: to move the port to a
    /// certificate of another CA without enrolling the agents again, list
    /// the old and the new CA here, wait until the agents took it (their
    /// console-ca.pem), then install the new certificate. Agents take a
    /// bundle only if it verifies the console; reloaded when it changes.
    #[arg(long, env = "TEEHSM_CONSOLE_AGENT_CA_BUNDLE", value_name = "PEM")]
    agent_ca_bundle: Option<PathBuf>,
    /// The private key of --grpc-tls-cert (PEM; chmod 600).
    #[arg(long, env = "TEEHSM_CONSOLE_GRPC_TLS_KEY", requires = "grpc_tls_cert", value_name = "PEM")]
    grpc_tls_key: Option<PathBuf>,
    /// Heartbeat interval the console asks agents for, in ms [default: 15000].
    #[arg(long, env = "TEEHSM_CONSOLE_HEARTBEAT_INTERVAL_MS")]
    heartbeat_interval_ms: Option<u64>,
    /// Licence file from the vendor; with it, enrollment is limited to the
    /// licence's host count (needs --vendor-key). Without it, no limit.
    #[arg(long, env = "TEEHSM_CONSOLE_LICENCE", requires = "vendor_key")]
    licence: Option<PathBuf>,
    /// The vendor's Ed25519 public key (64 hex digits) that signs licences;
    /// comma-separate several while the vendor rotates its key. Needed by
    /// --licence and by licence installation through the API.
    #[arg(long, env = "TEEHSM_CONSOLE_VENDOR_KEY")]
    vendor_key: Option<String>,
    /// For tests and local automation only: HTTP requests from a loopback
    /// address that carry no session and no browser fetch headers act as
    /// admin "loopback". Off by default.
    #[arg(long, env = "TEEHSM_CONSOLE_ALLOW_LOOPBACK_ADMIN")]
    #[serde(default)]
    allow_loopback_admin: bool,
    /// Who must use a second factor (TOTP): off (each user decides), admins
    /// or all. A user it covers who has none yet logs in with the password
    /// and can then only set one up (Account page) or log out; every other
    /// call answers 403 until it is on. Not with --allow-loopback-admin
    /// [default: off].
    #[arg(long, env = "TEEHSM_CONSOLE_REQUIRE_SECOND_FACTOR", value_name = "WHO", value_parser = ["off", "admins", "all"])]
    require_second_factor: Option<String>,
    /// First start: if the console has no user yet, create the user "admin"
    /// (role admin) with the password on the first line of this file
    /// (at least 12 characters). Ignored once any user exists.
    #[arg(long, env = "TEEHSM_CONSOLE_ADMIN_PASSWORD_FILE")]
    admin_password_file: Option<PathBuf>,
    /// Key distribution: the console's Ed25519 signing key (PKCS#8, from
    /// `teehsm-console keydist keygen`), whose public half token SOs trust
    /// with `teehsm keydist trust`. With the two attestation options it
    /// enables POST /api/keys/distribute [default: key distribution off].
    #[arg(long, env = "TEEHSM_CONSOLE_KEYDIST_SIGNING_KEY", requires_all = ["attestation_trust_anchor", "attestation_policy"])]
    keydist_signing_key: Option<PathBuf>,
    /// Key distribution: the trust anchor that signs TA attestation reports
    /// (the sim report key PEM, docs/attestation.md), or a directory of them
    /// (*.pem, read at every distribution: the simulated TEE has one report
    /// key per host).
    #[arg(long, env = "TEEHSM_CONSOLE_ATTESTATION_TRUST_ANCHOR")]
    attestation_trust_anchor: Option<PathBuf>,
    /// Key distribution: the attestation policy TOML a TA must satisfy
    /// before a key is wrapped to it (allowed measurements, signers,
    /// minimum security version; docs/attestation.md).
    #[arg(long, env = "TEEHSM_CONSOLE_ATTESTATION_POLICY")]
    attestation_policy: Option<PathBuf>,
}

/// `--admin-password-file`: the first admin, if there is no user yet.
fn bootstrap_admin(data_dir: &std::path::Path, database: Option<&str>, file: &std::path::Path) -> Result<()> {
    use teehsm_console::daemon::password::hash_password;
    use teehsm_console::store::{Role, User};
    let mut store = open_store(data_dir, database)?;
    if !store.users()?.is_empty() {
        tracing::info!("users exist; --admin-password-file is not used");
        return Ok(());
    }
    let password = read_password(Some(file))?;
    let password_hash = hash_password(&password).with_context(|| format!("--admin-password-file {}", file.display()))?;
    store.add_user(&User { name: "admin".into(), role: Role::Admin, password_hash }).context("cannot add the user admin")?;
    store.append_audit(teehsm_console::daemon::now_ms(), "bootstrap", "user_add", "admin", &serde_json::json!({ "role": "admin" }))?;
    tracing::info!("created the first user, admin, from --admin-password-file");
    Ok(())
}

fn merge(mut cli: Serve) -> Result<Serve> {
    let Some(path) = cli.config.clone() else { return Ok(cli) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: Serve = toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    cli.data_dir = cli.data_dir.or(file.data_dir);
    cli.database_url = cli.database_url.or(file.database_url);
    cli.grpc_listen = cli.grpc_listen.or(file.grpc_listen);
    cli.http_listen = cli.http_listen.or(file.http_listen);
    cli.rules = cli.rules.or(file.rules);
    if cli.webhook.is_empty() {
        cli.webhook = file.webhook;
    }
    if cli.server_names.is_empty() {
        cli.server_names = file.server_names;
    }
    cli.sample_retention_days = cli.sample_retention_days.or(file.sample_retention_days);
    cli.job_retention_days = cli.job_retention_days.or(file.job_retention_days);
    cli.http_tls = cli.http_tls || file.http_tls;
    cli.http_tls_cert = cli.http_tls_cert.or(file.http_tls_cert);
    cli.http_tls_key = cli.http_tls_key.or(file.http_tls_key);
    cli.grpc_tls_cert = cli.grpc_tls_cert.or(file.grpc_tls_cert);
    cli.grpc_tls_key = cli.grpc_tls_key.or(file.grpc_tls_key);
    cli.agent_ca_bundle = cli.agent_ca_bundle.or(file.agent_ca_bundle);
    cli.heartbeat_interval_ms = cli.heartbeat_interval_ms.or(file.heartbeat_interval_ms);
    cli.licence = cli.licence.or(file.licence);
    cli.vendor_key = cli.vendor_key.or(file.vendor_key);
    cli.allow_loopback_admin = cli.allow_loopback_admin || file.allow_loopback_admin;
    cli.require_second_factor = cli.require_second_factor.or(file.require_second_factor);
    cli.admin_password_file = cli.admin_password_file.or(file.admin_password_file);
    cli.keydist_signing_key = cli.keydist_signing_key.or(file.keydist_signing_key);
    cli.attestation_trust_anchor = cli.attestation_trust_anchor.or(file.attestation_trust_anchor);
    cli.attestation_policy = cli.attestation_policy.or(file.attestation_policy);
    Ok(cli)
}

fn config(s: Serve) -> Result<Config> {
    let s = merge(s)?;
    let Some(data_dir) = s.data_dir else { bail!("--data-dir is required (or data_dir in --config, or TEEHSM_CONSOLE_DATA_DIR)") };
    if let Some(url) = &s.database_url {
        teehsm_console::store::Location::parse(url).context("--database-url")?;
    }
    let interval = s.heartbeat_interval_ms.unwrap_or(15_000);
    if !(100..=3_600_000).contains(&interval) {
        bail!("--heartbeat-interval-ms must be 100 to 3600000");
    }
    let rules = match &s.rules {
        None => default_rules(interval),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read rules {}", path.display()))?;
            let mut set = RuleSet::from_toml(&text).with_context(|| format!("rules {}", path.display()))?;
            if set.heartbeat_interval_ms.is_none() {
                set.heartbeat_interval_ms = Some(interval);
            }
            set
        }
    };
    for url in &s.webhook {
        teehsm_console::daemon::webhook::parse_url(url).with_context(|| format!("--webhook {url}"))?;
    }
    for name in &s.server_names {
        teehsm_console::daemon::tls::check_server_name(name).map_err(|e| anyhow::anyhow!("--server-name: {e}"))?;
    }
    let vendor_keys = match &s.vendor_key {
        Some(list) => list
            .split(',')
            .map(|k| VendorPublicKey::from_hex(k.trim()).with_context(|| format!("--vendor-key {:?}", k.trim())))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let licence = match (&s.licence, &s.vendor_key) {
        (Some(path), Some(_)) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read licence {}", path.display()))?;
            let lic = VerifiedLicence::verify(&bytes, &vendor_keys).with_context(|| format!("licence {}", path.display()))?;
            tracing::info!(licence = lic.licence_id(), customer = lic.customer(), max_hosts = lic.max_hosts(), "licence loaded");
            Some(lic)
        }
        (Some(_), None) => bail!("--licence needs --vendor-key"),
        _ => None,
    };
    let keydist = match (&s.keydist_signing_key, &s.attestation_trust_anchor, &s.attestation_policy) {
        (Some(k), Some(a), Some(p)) => {
            let cfg = teehsm_console::daemon::keydist_api::KeydistConfig::load(k, a, p).context("key distribution")?;
            tracing::info!(signer = %hex::encode(cfg.signer.public_key()), "key distribution enabled");
            Some(cfg)
        }
        (None, None, None) => None,
        _ => bail!("key distribution needs all of --keydist-signing-key, --attestation-trust-anchor and --attestation-policy"),
    };
    let http_tls = match (s.http_tls, s.http_tls_cert, s.http_tls_key) {
        (false, None, None) => HttpTls::Off,
        (true, None, None) => HttpTls::ConsoleCertificate,
        (false, Some(cert), Some(key)) => HttpTls::Files { cert, key },
        (true, Some(_), _) => bail!("give either --http-tls (the console's own certificate) or --http-tls-cert and --http-tls-key, not both"),
        _ => bail!("--http-tls-cert and --http-tls-key go together: give both"),
    };
    let grpc_tls = match (s.grpc_tls_cert, s.grpc_tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => bail!("--grpc-tls-cert and --grpc-tls-key go together: give both"),
    };
    let require_second_factor = match s.require_second_factor.as_deref() {
        None => SecondFactorPolicy::Off,
        Some(v) => SecondFactorPolicy::parse(v).with_context(|| format!("require_second_factor = {v:?}: use off, admins or all"))?,
    };
    if require_second_factor != SecondFactorPolicy::Off && s.allow_loopback_admin {
        bail!(
            "--require-second-factor {} and --allow-loopback-admin do not go together: the loopback admin has no password and no second factor",
            require_second_factor.as_str()
        );
    }
    if let Some(file) = &s.admin_password_file {
        bootstrap_admin(&data_dir, s.database_url.as_deref(), file)?;
    }
    Ok(Config {
        data_dir,
        grpc_listen: s.grpc_listen.unwrap_or_else(|| "0.0.0.0:7443".into()),
        http_listen: s.http_listen.unwrap_or_else(|| "127.0.0.1:7080".into()),
        rules,
        webhooks: s.webhook,
        heartbeat_interval_ms: interval,
        licence,
        vendor_keys,
        allow_loopback_admin: s.allow_loopback_admin,
        require_second_factor,
        agent_ca_bundle: s.agent_ca_bundle,
        database_url: s.database_url,
        keydist,
        server_names: s.server_names,
        sample_retention_days: s.sample_retention_days.unwrap_or(14),
        job_retention_days: s.job_retention_days.unwrap_or(0),
        http_tls,
        grpc_tls,
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}

/// Exit codes: 0 ok (also after SIGTERM/SIGINT), 1 runtime failure, 2 configuration error.
/// Exit status of a maintenance command: 0, or 1 after printing the error chain.
fn exit_status(r: Result<()>) -> std::process::ExitCode {
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("teehsm-console: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Keydist { command } => {
            if let Err(e) = teehsm_console::keydist::cli::run(command) {
                eprintln!("teehsm-console: {e}");
                return std::process::ExitCode::from(2);
            }
        }
        // The maintenance commands: exit 1 with the error chain on failure.
        Command::User(cmd) => return exit_status(user_cmd(cmd)),
        Command::Package(cmd) => return exit_status(package_cmd(cmd)),
        Command::Store(cmd) => return exit_status(store_cmd(cmd)),
        Command::Audit(cmd) => return exit_status(audit_cmd(cmd)),
        Command::Serve(s) => {
            let cfg = match config(*s) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("teehsm-console: {e:#}");
                    return std::process::ExitCode::from(2);
                }
            };
            let served = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")
                .and_then(|rt| Ok(rt.block_on(run(cfg, shutdown_signal()))?));
            return exit_status(served);
        }
    }
    std::process::ExitCode::SUCCESS
}
