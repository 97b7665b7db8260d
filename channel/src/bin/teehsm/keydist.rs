//! `teehsm keydist ...`: key distribution (docs/key-distribution.md). The
//! token's SO trusts a console's signing key; a user imports the envelopes
//! that console wraps to this TA. The TA checks everything; this tool only
//! carries the requests.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use teehsm_attest::{Policy, TrustAnchor};
use teehsm_channel::{SecureClient, Verifier};
use teehsm_wire::ck::{CKF_RW_SESSION, CKF_SERIAL_SESSION, CKU_SO, CKU_USER};
use teehsm_wire::client::{Calls, Client};
use teehsm_wire::keydist::{parse_signer_public_key, Envelope};
use teehsm_wire::{Reply, Request, Secret};

#[derive(Subcommand)]
pub enum KeydistCommand {
    /// Trust a console's key distribution signing key on a token (as its SO).
    ///
    /// From then on the token's user may import envelopes that console
    /// signed and wrapped to this TA (`teehsm-console keydist wrap`).
    Trust {
        /// The console's public key: PEM (`teehsm-console keydist keygen
        /// --public-out`) or 64 hex digits.
        #[arg(long)]
        console_key: PathBuf,
        /// File holding the token's SO PIN (trailing newline ignored).
        #[arg(long, env = "TEEHSM_SO_PIN_FILE")]
        so_pin_file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop trusting a console's signing key on a token (as its SO).
    Untrust {
        /// The console's public key (PEM or hex).
        #[arg(long)]
        console_key: PathBuf,
        /// File holding the token's SO PIN.
        #[arg(long, env = "TEEHSM_SO_PIN_FILE")]
        so_pin_file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// List the console keys a token trusts (as its SO), one hex key per line.
    List {
        /// File holding the token's SO PIN.
        #[arg(long, env = "TEEHSM_SO_PIN_FILE")]
        so_pin_file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Import a key from an envelope (as the token's user); prints the new
    /// object's handle.
    ///
    /// The TA refuses the envelope unless a trusted console signed it, it
    /// is wrapped to this TA process and this token, it has not expired and
    /// it was not imported before.
    Import {
        /// The envelope file (`teehsm-console keydist wrap --out`).
        #[arg(long)]
        envelope: PathBuf,
        /// File holding the token's user PIN (trailing newline ignored).
        #[arg(long, env = "TEEHSM_PIN_FILE")]
        pin_file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Args)]
pub struct Conn {
    /// Client socket of the CA service (or a TA socket).
    #[arg(long, env = "TEEHSM_SOCKET")]
    socket: PathBuf,
    /// Slot of the token.
    #[arg(long, default_value_t = 0)]
    slot: u64,
    /// Talk to the TA over the attested end-to-end channel (docs/channel.md),
    /// so the CA service does not see the PIN.
    #[arg(long, requires_all = ["policy", "trust_anchor"])]
    channel: bool,
    /// With --channel: the attestation policy (TOML) the TA must meet.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// With --channel: the platform's report-signing public key.
    #[arg(long)]
    trust_anchor: Option<PathBuf>,
}

impl Conn {
    /// The slot these options name.
    pub fn slot(&self) -> u64 {
        self.slot
    }
}

pub fn read_pin(path: &Path) -> anyhow::Result<Secret> {
    let pin = zeroize::Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let pin = pin.strip_suffix(b"\n").unwrap_or(&pin);
    Ok(Secret(pin.strip_suffix(b"\r").unwrap_or(pin).to_vec()))
}

/// A logged-in session, logged out and closed on drop.
pub struct Session {
    pub calls: Box<dyn Calls>,
    pub session: u64,
}

impl Session {
    pub fn open(a: &Conn, user_type: u64, pin: Secret) -> anyhow::Result<Session> {
        let mut calls: Box<dyn Calls> = if a.channel {
            let (Some(policy), Some(anchor)) = (&a.policy, &a.trust_anchor) else {
                anyhow::bail!("--channel needs --policy and --trust-anchor");
            };
            let verifier = Verifier::new(TrustAnchor::load_sim(anchor)?, Policy::load(policy)?);
            Box::new(
                SecureClient::connect(&a.socket, "teehsm-keydist", &verifier)
                    .with_context(|| format!("opening the attested channel through {}", a.socket.display()))?,
            )
        } else {
            Box::new(Client::connect(&a.socket, "teehsm-keydist").with_context(|| format!("connecting to {}", a.socket.display()))?)
        };
        let session = match calls.call(&Request::OpenSession { slot: a.slot, flags: CKF_SERIAL_SESSION | CKF_RW_SESSION }).context("OpenSession")? {
            Reply::Handle(h) => h,
            _ => anyhow::bail!("the TA answered OpenSession with an unexpected reply"),
        };
        let mut s = Session { calls, session };
        let who = if user_type == CKU_SO { "SO login" } else { "user login" };
        s.calls.call(&Request::Login { session, user_type, pin }).context(who)?;
        Ok(s)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.calls.call(&Request::Logout { session: self.session });
        let _ = self.calls.call(&Request::CloseSession { session: self.session });
    }
}

fn console_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_signer_public_key(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn run(cmd: KeydistCommand) -> anyhow::Result<()> {
    match cmd {
        KeydistCommand::Trust { console_key: key, so_pin_file, conn } => {
            let key = console_key(&key)?;
            let mut s = Session::open(&conn, CKU_SO, read_pin(&so_pin_file)?)?;
            s.calls.call(&Request::TrustKeydistSigner { session: s.session, public_key: key.to_vec() }).context("TrustKeydistSigner")?;
            eprintln!("teehsm: console key {} is now trusted on slot {}", hex::encode(key), conn.slot);
        }
        KeydistCommand::Untrust { console_key: key, so_pin_file, conn } => {
            let key = console_key(&key)?;
            let mut s = Session::open(&conn, CKU_SO, read_pin(&so_pin_file)?)?;
            s.calls.call(&Request::UntrustKeydistSigner { session: s.session, public_key: key.to_vec() }).context("UntrustKeydistSigner")?;
            eprintln!("teehsm: console key {} is no longer trusted on slot {}", hex::encode(key), conn.slot);
        }
        KeydistCommand::List { so_pin_file, conn } => {
            let mut s = Session::open(&conn, CKU_SO, read_pin(&so_pin_file)?)?;
            let Reply::Bytes(keys) = s.calls.call(&Request::ListKeydistSigners { session: s.session }).context("ListKeydistSigners")? else {
                anyhow::bail!("the TA answered ListKeydistSigners with an unexpected reply")
            };
            anyhow::ensure!(keys.len() % 32 == 0, "the TA's signer list is not a whole number of 32-byte keys");
            for k in keys.chunks(32) {
                println!("{}", hex::encode(k));
            }
        }
        KeydistCommand::Import { envelope, pin_file, conn } => {
            let bytes = std::fs::read(&envelope).with_context(|| format!("reading {}", envelope.display()))?;
            // Checked here only to give a clear message; the TA checks it again.
            let (env, _) =
                Envelope::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{} is not a key distribution envelope: {e}", envelope.display()))?;
            let mut s = Session::open(&conn, CKU_USER, read_pin(&pin_file)?)?;
            let r = s.calls.call(&Request::ImportDistributedKey { session: s.session, envelope: bytes }).context("ImportDistributedKey")?;
            let Reply::Handle(h) = r else { anyhow::bail!("the TA answered ImportDistributedKey with an unexpected reply") };
            eprintln!("teehsm: envelope {} imported", hex::encode(env.id));
            println!("{h}");
        }
    }
    Ok(())
}
