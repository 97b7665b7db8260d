//! teehsm: client-side tools for a teehsm deployment: attestation checks,
//! API client administration, and the gRPC API from the command line.

mod client;
mod csr;
mod keydist;
mod kms;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use teehsm_attest::{verify, Policy, TrustAnchor};
use teehsm_wire::client::Client;
use teehsm_wire::{AttestationReport, Reply, Request, ATTESTATION_NONCE_LEN};

/// Exit status when a report was fetched but refused.
const EXIT_REFUSED: u8 = 1;
/// Exit status for usage, configuration and connection errors.
const EXIT_ERROR: u8 = 2;

/// Client-side tools for teehsm.
#[derive(Parser)]
#[command(name = "teehsm", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch and verify the TA's attestation report.
    Attest {
        #[command(subcommand)]
        command: AttestCommand,
    },
    /// Register API clients of the signing API and set their ACLs.
    ///
    /// Each client gets a secret from the TA; the TA then runs a client's
    /// request only if it carries a valid MAC under that secret, a fresh
    /// timestamp and nonce, and its ACL allows the operation on the key
    /// (docs/client-auth.md). These commands log in as the token's SO.
    Client {
        #[command(subcommand)]
        command: client::ClientCommand,
    },
    /// Call the gRPC API (teehsm.v1.KeyManagementService) as an API client.
    ///
    /// Connects to teehsm-ca over TLS (--endpoint, --ca-cert; mTLS with
    /// --client-cert/--client-key) and calls as the API client --client-id,
    /// whose secret (64 hex digits, as `teehsm client add` printed it) is read
    /// from --secret-file. Every flag can also come from the environment
    /// variable shown. Each call carries the client's authenticator, and each
    /// answer is used only if its TA response MAC checks (docs/grpc-client.md).
    ///
    /// Exit status: 0 success (verify: the signature is valid); 1 verify: the
    /// signature is invalid; 2 usage, configuration, file or connection error,
    /// or an answer that fails its response-MAC or CRC32C check; 3 the server
    /// refused the call with a gRPC status, printed as `error: CODE: message`
    /// (e.g. PERMISSION_DENIED when the client's ACL does not allow it).
    Kms {
        #[command(flatten)]
        conn: kms::KmsConn,
        #[command(subcommand)]
        command: kms::KmsCommand,
    },
    /// Key distribution: trust a fleet console's signing key on a token (SO)
    /// and import the envelopes it wraps to this TA (user); see
    /// docs/key-distribution.md.
    Keydist {
        #[command(subcommand)]
        command: keydist::KeydistCommand,
    },
    /// Make a PKCS#10 certificate signing request for a private key in the
    /// TA, signed inside the TA (as the token's user). Writes PEM (or DER
    /// with --der) to --out.
    Csr(Box<csr::CsrArgs>),
}

#[derive(Subcommand)]
enum AttestCommand {
    /// Verify the TA's attestation report against a trust anchor and a policy.
    ///
    /// Online (--socket): sends a fresh random 32-byte nonce through the CA
    /// service, then checks the report's signature under the trust anchor,
    /// that it answers this nonce, that it binds the TA's channel public key,
    /// and that the policy allows its measurement, signer, product, security
    /// version and platform (simulation reports are refused unless the policy
    /// says allow_simulation = true).
    ///
    /// Offline (--report FILE --nonce HEX): the same checks on a report saved
    /// by `teehsm attest fetch`, with the nonce it printed.
    ///
    /// Prints a summary and exits 0 when the report is accepted; prints why and
    /// exits 1 when it is refused; exits 2 on usage, file or connection errors.
    /// See docs/attestation.md.
    Verify(VerifyArgs),
    /// Fetch the TA's attestation report and save it to a file.
    ///
    /// Sends a fresh random 32-byte nonce (or --nonce), writes the report to
    /// --out and prints the nonce in hex, for a later
    /// `teehsm attest verify --report FILE --nonce HEX`. Checks nothing.
    Fetch(FetchArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// Client socket of the CA service (or a TA socket) to ask for a report.
    #[arg(long, env = "TEEHSM_SOCKET", conflicts_with = "report", required_unless_present = "report")]
    socket: Option<PathBuf>,
    /// A report file saved by `teehsm attest fetch`, verified offline (needs --nonce).
    #[arg(long, requires = "nonce")]
    report: Option<PathBuf>,
    /// The nonce the saved report must answer (64 hex digits), as `fetch` printed it.
    #[arg(long, requires = "report")]
    nonce: Option<String>,
    /// Policy file (TOML): allowed_measurements, allowed_signers, product_id,
    /// min_security_version, allow_simulation (docs/attestation.md).
    #[arg(long)]
    policy: PathBuf,
    /// The platform's report-signing public key: for sim, the output of
    /// `teehsm-ta platform report-key` (PEM or hex).
    #[arg(long)]
    trust_anchor: PathBuf,
}

#[derive(Args)]
struct FetchArgs {
    /// Client socket of the CA service (or a TA socket).
    #[arg(long, env = "TEEHSM_SOCKET")]
    socket: PathBuf,
    /// Where to write the report.
    #[arg(long)]
    out: PathBuf,
    /// Nonce to send (64 hex digits) [default: 32 fresh random bytes].
    #[arg(long)]
    nonce: Option<String>,
}

fn parse_nonce(s: &str) -> anyhow::Result<[u8; ATTESTATION_NONCE_LEN]> {
    let b = hex::decode(s.trim()).context("--nonce is not hex")?;
    <[u8; ATTESTATION_NONCE_LEN]>::try_from(b.as_slice()).map_err(|_| {
        anyhow::anyhow!("--nonce must be {ATTESTATION_NONCE_LEN} bytes ({} hex digits), got {} bytes", ATTESTATION_NONCE_LEN * 2, b.len())
    })
}

fn fresh_nonce() -> anyhow::Result<[u8; ATTESTATION_NONCE_LEN]> {
    let mut n = [0u8; ATTESTATION_NONCE_LEN];
    aws_lc_rs::rand::fill(&mut n).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(n)
}

fn fetch_report(socket: &std::path::Path, nonce: &[u8; ATTESTATION_NONCE_LEN]) -> anyhow::Result<AttestationReport> {
    let mut c = Client::connect(socket, "teehsm-attest").with_context(|| format!("connecting to {}", socket.display()))?;
    match c.call(&Request::GetAttestation { nonce: nonce.to_vec() }).context("GetAttestation")? {
        Reply::Attestation(r) => Ok(*r),
        _ => anyhow::bail!("the TA answered GetAttestation with an unexpected reply"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Attest { command: AttestCommand::Verify(a) } => run_verify(a),
        Command::Attest { command: AttestCommand::Fetch(a) } => run_fetch(a).map(|()| ExitCode::SUCCESS),
        Command::Client { command } => client::run(command).map(|()| ExitCode::SUCCESS),
        Command::Kms { conn, command } => return kms::run(conn, command),
        Command::Keydist { command } => keydist::run(command).map(|()| ExitCode::SUCCESS),
        Command::Csr(a) => csr::run(*a).map(|()| ExitCode::SUCCESS),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("teehsm: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run_fetch(a: FetchArgs) -> anyhow::Result<()> {
    let nonce = match &a.nonce {
        Some(s) => parse_nonce(s)?,
        None => fresh_nonce()?,
    };
    let report = fetch_report(&a.socket, &nonce)?;
    std::fs::write(&a.out, report.to_bytes()).with_context(|| format!("writing {}", a.out.display()))?;
    println!("nonce: {}", hex::encode(nonce));
    println!("report ({} platform{}) written to {}", report.platform, if report.simulation { ", SIMULATION" } else { "" }, a.out.display());
    Ok(())
}

fn run_verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(&a.policy)?;
    let anchor = TrustAnchor::load_sim(&a.trust_anchor)?;
    let (report, nonce) = match (&a.socket, &a.report, &a.nonce) {
        (Some(socket), _, _) => {
            let nonce = fresh_nonce()?;
            (fetch_report(socket, &nonce)?, nonce)
        }
        (None, Some(path), Some(nonce)) => {
            let nonce = parse_nonce(nonce)?;
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let report = AttestationReport::from_bytes(&bytes).with_context(|| format!("{} is not a teehsm attestation report", path.display()))?;
            (report, nonce)
        }
        _ => anyhow::bail!("give --socket, or --report and --nonce"),
    };
    match verify(&report, &nonce, &anchor, &policy) {
        Ok(v) => {
            println!("attestation report VERIFIED");
            println!("{v}");
            if v.simulation {
                println!("warning: this TA runs in a SIMULATED TEE; the host can read its keys");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(refused) => {
            eprintln!("teehsm: attestation report REFUSED: {refused}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}
