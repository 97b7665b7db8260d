//! `teehsm client ...`: registers API clients in the TA and sets their ACLs
//! (docs/client-auth.md). Every command logs in as the token's SO; the TA
//! checks that, not this tool.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use teehsm_attest::{Policy, TrustAnchor};
use teehsm_channel::{SecureClient, Verifier};
use teehsm_wire::ck::{CKF_RW_SESSION, CKF_SERIAL_SESSION, CKU_SO};
use teehsm_wire::client::{Calls, Client};
use teehsm_wire::{acl_op, valid_client_id, AclEntry, ClientInfo, Reply, Request, Secret};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an API client and print its secret (64 hex digits) once.
    ///
    /// The TA generates the 32-byte secret and returns it only in this
    /// reply; give it to the client service, which MACs every request with
    /// it. Without --channel the CA service relays the reply in clear and
    /// could keep the secret: register over the attested channel
    /// (--channel --policy P --trust-anchor A) unless the CA host is yours.
    Add {
        /// Client id: 1 to 64 characters from [A-Za-z0-9._-].
        id: String,
        #[command(flatten)]
        acl: AclArgs,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Replace a registered client's ACL (takes effect at once).
    Acl {
        /// Client id.
        id: String,
        #[command(flatten)]
        acl: AclArgs,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// List the registered clients and their ACLs (never their secrets).
    List {
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Remove a registered client; its secret stops working at once.
    Remove {
        /// Client id.
        id: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

#[derive(Args)]
pub struct AclArgs {
    /// An ACL entry, `LABEL_PREFIX:OP[,OP...]`, repeatable: the operations
    /// allowed on keys whose CKA_LABEL starts with LABEL_PREFIX (empty
    /// prefix, as in `:get_public`, means any key). OP is one of sign,
    /// verify, encrypt, decrypt, wrap, unwrap, derive, encapsulate,
    /// decapsulate, generate (create keys with such labels), destroy,
    /// get_public (read attributes), or `all`. With no --acl the client may
    /// only send requests that use no key (random, session info, ...).
    #[arg(long = "acl", value_name = "PREFIX:OPS")]
    entries: Vec<String>,
}

#[derive(Args)]
pub struct ConnArgs {
    /// Client socket of the CA service (or a TA socket).
    #[arg(long, env = "TEEHSM_SOCKET")]
    socket: PathBuf,
    /// File holding the token's SO PIN (trailing newline ignored).
    #[arg(long, env = "TEEHSM_SO_PIN_FILE")]
    so_pin_file: PathBuf,
    /// Slot of the token whose SO manages the clients.
    #[arg(long, default_value_t = 0)]
    slot: u64,
    /// Talk to the TA over the attested end-to-end channel (docs/channel.md),
    /// so the CA service sees neither the SO PIN nor a new client's secret.
    #[arg(long, requires_all = ["policy", "trust_anchor"])]
    channel: bool,
    /// With --channel: the attestation policy (TOML) the TA must meet.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// With --channel: the platform's report-signing public key.
    #[arg(long)]
    trust_anchor: Option<PathBuf>,
}

/// Parses `PREFIX:OP[,OP...]`.
pub fn parse_acl_entry(s: &str) -> anyhow::Result<AclEntry> {
    let (prefix, ops) = s.rsplit_once(':').with_context(|| format!("ACL entry {s:?} is not PREFIX:OPS"))?;
    let mut bits = 0u32;
    for op in ops.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        bits |= if op == "all" {
            acl_op::ALL
        } else {
            acl_op::NAMES.iter().find(|(n, _)| *n == op).map(|(_, b)| *b).with_context(|| {
                format!("unknown operation {op:?} in {s:?} (one of {}, all)", acl_op::NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
            })?
        };
    }
    anyhow::ensure!(bits != 0, "ACL entry {s:?} names no operation");
    Ok(AclEntry { key_label_prefix: prefix.to_string(), operations: bits })
}

fn parse_acl(a: &AclArgs) -> anyhow::Result<Vec<AclEntry>> {
    a.entries.iter().map(|e| parse_acl_entry(e)).collect()
}

fn check_id(id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(valid_client_id(id), "client id {id:?} must be 1 to 64 characters from [A-Za-z0-9._-]");
    Ok(())
}

/// One line per client: `id  prefix:ops  prefix:ops ...`.
fn show(c: &ClientInfo) -> String {
    let mut line = c.client_id.clone();
    if c.acl.is_empty() {
        line.push_str("  (no ACL entries)");
    }
    for e in &c.acl {
        line.push_str(&format!("  {}:{}", e.key_label_prefix, acl_op::names(e.operations)));
    }
    line
}

/// An SO session on the TA, logged out and closed on drop.
struct SoSession {
    calls: Box<dyn Calls>,
    session: u64,
}

impl SoSession {
    fn open(a: &ConnArgs) -> anyhow::Result<SoSession> {
        let pin = std::fs::read(&a.so_pin_file).with_context(|| format!("reading {}", a.so_pin_file.display()))?;
        let pin = pin.strip_suffix(b"\n").unwrap_or(&pin);
        let pin = pin.strip_suffix(b"\r").unwrap_or(pin).to_vec();
        let mut calls: Box<dyn Calls> = if a.channel {
            let (Some(policy), Some(anchor)) = (&a.policy, &a.trust_anchor) else {
                anyhow::bail!("--channel needs --policy and --trust-anchor");
            };
            let verifier = Verifier::new(TrustAnchor::load_sim(anchor)?, Policy::load(policy)?);
            Box::new(
                SecureClient::connect(&a.socket, "teehsm-client-admin", &verifier)
                    .with_context(|| format!("opening the attested channel through {}", a.socket.display()))?,
            )
        } else {
            Box::new(Client::connect(&a.socket, "teehsm-client-admin").with_context(|| format!("connecting to {}", a.socket.display()))?)
        };
        let session = match calls.call(&Request::OpenSession { slot: a.slot, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION }).context("OpenSession")? {
            Reply::Handle(h) => h,
            _ => anyhow::bail!("the TA answered OpenSession with an unexpected reply"),
        };
        let mut s = SoSession { calls, session };
        s.calls.call(&Request::Login { session, user_type: CKU_SO, pin: Secret(pin) }).context("SO login")?;
        Ok(s)
    }
}

impl Drop for SoSession {
    fn drop(&mut self) {
        let _ = self.calls.call(&Request::Logout { session: self.session });
        let _ = self.calls.call(&Request::CloseSession { session: self.session });
    }
}

pub fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Add { id, acl, conn } => {
            check_id(&id)?;
            let acl = parse_acl(&acl)?;
            if !conn.channel {
                eprintln!("teehsm: warning: without --channel the CA service relays the new client's secret in clear");
            }
            let mut s = SoSession::open(&conn)?;
            let r = s.calls.call(&Request::RegisterClient { session: s.session, client_id: id.clone(), acl }).context("RegisterClient")?;
            let Reply::Bytes(secret) = r else { anyhow::bail!("the TA answered RegisterClient with an unexpected reply") };
            let secret = zeroize::Zeroizing::new(secret);
            eprintln!("teehsm: client {id} registered; its secret is shown once, below");
            println!("{}", hex::encode(&*secret));
        }
        ClientCommand::Acl { id, acl, conn } => {
            check_id(&id)?;
            let acl = parse_acl(&acl)?;
            let mut s = SoSession::open(&conn)?;
            s.calls.call(&Request::SetClientAcl { session: s.session, client_id: id.clone(), acl }).context("SetClientAcl")?;
            eprintln!("teehsm: ACL of client {id} replaced");
        }
        ClientCommand::List { conn } => {
            let mut s = SoSession::open(&conn)?;
            let Reply::Clients(v) = s.calls.call(&Request::ListClients { session: s.session }).context("ListClients")? else {
                anyhow::bail!("the TA answered ListClients with an unexpected reply")
            };
            for c in &v {
                println!("{}", show(c));
            }
        }
        ClientCommand::Remove { id, conn } => {
            check_id(&id)?;
            let mut s = SoSession::open(&conn)?;
            s.calls.call(&Request::RemoveClient { session: s.session, client_id: id.clone() }).context("RemoveClient")?;
            eprintln!("teehsm: client {id} removed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_entries_parse() {
        let e = parse_acl_entry("pay/:sign,verify").unwrap();
        assert_eq!(e, AclEntry { key_label_prefix: "pay/".into(), operations: acl_op::SIGN | acl_op::VERIFY });
        assert_eq!(parse_acl_entry(":get_public").unwrap().key_label_prefix, "");
        assert_eq!(parse_acl_entry("a:b:all").unwrap(), AclEntry { key_label_prefix: "a:b".into(), operations: acl_op::ALL });
        assert!(parse_acl_entry("nocolon").is_err());
        assert!(parse_acl_entry("x:").is_err());
        assert!(parse_acl_entry("x:sign,fly").is_err());
        assert_eq!(show(&ClientInfo { client_id: "a".into(), acl: vec![e] }), "a  pay/:sign,verify");
    }
}
