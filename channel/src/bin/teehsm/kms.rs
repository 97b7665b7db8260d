//! `teehsm kms ...`: the gRPC API (`teehsm.v1.KeyManagementService`,
//! docs/grpc-client.md) from the command line, through the Rust SDK: every
//! call carries the client's authenticator and every answer's TA response
//! MAC is checked before anything is printed or written.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use teehsm_sdk::proto::*;
use teehsm_sdk::{ApiClient, ApiClientConfig, Credentials, FillCrc32c, SdkError};
use teehsm_wire::proto::crc32c;
use teehsm_wire::ATTESTATION_NONCE_LEN;

/// `verify`: the signature does not verify.
const EXIT_INVALID: u8 = 1;
/// Usage, configuration, file and connection errors, and answers that fail
/// the response-MAC or CRC32C checks.
const EXIT_ERROR: u8 = 2;
/// The server answered with a gRPC status other than OK.
const EXIT_STATUS: u8 = 3;

/// How to reach the endpoint and who to call as. Every flag can be given
/// before or after the subcommand.
#[derive(Args)]
pub struct KmsConn {
    /// The gRPC endpoint of teehsm-ca, `https://host:port` (with
    /// `--grpc-listen 127.0.0.1:0` the CA writes the address to <state-dir>/grpc.addr).
    #[arg(long, env = "TEEHSM_GRPC_ENDPOINT", global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// PEM of the CA that signed the server's TLS certificate (with
    /// `--grpc-dev-tls`: <state-dir>/grpc-dev-tls/ca.pem).
    #[arg(long, env = "TEEHSM_GRPC_CA_CERT", global = true, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Verify the server certificate for this name instead of the endpoint's host.
    #[arg(long, env = "TEEHSM_GRPC_DOMAIN_NAME", global = true, value_name = "NAME")]
    domain_name: Option<String>,
    /// mTLS: the client certificate (PEM), for a CA started with --grpc-client-ca.
    #[arg(long, env = "TEEHSM_GRPC_CLIENT_CERT", global = true, requires = "client_key", value_name = "PEM")]
    client_cert: Option<PathBuf>,
    /// mTLS: the client certificate's private key (PEM).
    #[arg(long, env = "TEEHSM_GRPC_CLIENT_KEY", global = true, requires = "client_cert", value_name = "PEM")]
    client_key: Option<PathBuf>,
    /// The API client id registered with `teehsm client add`.
    #[arg(long, env = "TEEHSM_CLIENT_ID", global = true, value_name = "ID")]
    client_id: Option<String>,
    /// File holding the client's secret as 64 hex digits, as `teehsm client
    /// add` printed it (the secret itself is never taken on the command line).
    #[arg(long, env = "TEEHSM_CLIENT_SECRET_FILE", global = true, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Deadline of each call, in seconds (1-86400).
    #[arg(long, env = "TEEHSM_GRPC_TIMEOUT", global = true, default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
}

#[derive(Subcommand)]
pub enum KmsCommand {
    /// Create a key (CreateKey) and print it.
    CreateKey {
        /// Key name: 1-128 characters from [A-Za-z0-9._/-]; the client's ACL
        /// must allow `generate` on it.
        name: String,
        /// The key's algorithm: a proto Algorithm name, any case (e.g.
        /// EC_SIGN_P256_SHA256, SM2_SIGN_SM3, AES_256_GCM, HMAC_SHA256).
        #[arg(long, value_name = "ALGORITHM")]
        algorithm: String,
        /// Makes the call safe to retry: repeating it with the same id and
        /// fields returns the key it created instead of ALREADY_EXISTS.
        #[arg(long)]
        request_id: Option<String>,
        /// How long DestroyKey waits before the material goes [server default: 86400].
        #[arg(long, value_name = "SECONDS")]
        destroy_scheduled_duration: Option<u64>,
        /// Rotate a symmetric key (AES/SM4-GCM, HMAC) automatically every
        /// N days (1 to 36500) [default: no automatic rotation].
        #[arg(long, value_name = "DAYS")]
        rotation_period_days: Option<u64>,
        /// When the first automatic rotation is due, Unix ms [default: now + the period].
        #[arg(long, value_name = "UNIX_MS", requires = "rotation_period_days")]
        next_rotation_ms: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Disable a version: kept, but refused for every operation until
    /// enabled again (UpdateKeyVersionState).
    DisableVersion {
        name: String,
        /// The version [default: the primary].
        #[arg(long, default_value_t = 0)]
        version: u32,
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled version again (UpdateKeyVersionState).
    EnableVersion {
        name: String,
        /// The version [default: the primary].
        #[arg(long, default_value_t = 0)]
        version: u32,
        #[arg(long)]
        json: bool,
    },
    /// Set (or, with --period-days 0, remove) a symmetric key's automatic
    /// rotation (UpdateKeyRotation).
    SetRotation {
        name: String,
        /// Days between rotations, 1 to 36500; 0 removes the schedule.
        #[arg(long, value_name = "DAYS")]
        period_days: u64,
        /// When the next rotation is due, Unix ms [default: now + the period].
        #[arg(long, value_name = "UNIX_MS")]
        next_rotation_ms: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Show a key, its versions and their states (GetKey).
    GetKey {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List the keys the client may see, following every page (ListKeys).
    ListKeys {
        /// Only keys whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Keys per call (1-1000) [server default: 100].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Add a version and make it the primary (RotateKey).
    RotateKey {
        name: String,
        /// Makes the call safe to retry.
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Schedule the destruction of every version of a key (DestroyKey).
    DestroyKey {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a scheduled destruction (RestoreKey).
    RestoreKey {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a key's public key as PEM (GetPublicKey).
    PublicKey {
        name: String,
        /// Key version [default: the primary].
        #[arg(long, default_value_t = 0)]
        version: u32,
        /// Also write the SubjectPublicKeyInfo DER to this file.
        #[arg(long, value_name = "FILE")]
        der_out: Option<PathBuf>,
        /// Write the PEM to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Sign a file (Sign) and write the signature to --out.
    ///
    /// The data (or with --digest, the digest) is sent with its CRC32C; the
    /// command fails unless the TA confirms the CRC and the signature
    /// arrives with a matching CRC.
    Sign(SignArgs),
    /// Verify a signature over a file (Verify): exit 0 valid, 1 invalid.
    Verify(VerifyArgs),
    /// Encrypt a file (Encrypt): AEAD keys (AES_*_GCM, SM4_GCM) or the
    /// public half of RSA_DECRYPT_OAEP_* / SM2_ENCRYPT keys.
    Encrypt(CryptArgs),
    /// Decrypt a file (Decrypt).
    Decrypt(CryptArgs),
    /// Print N random bytes from the TA, in hex (GenerateRandom; works without credentials).
    Random {
        /// How many bytes (1-1024).
        #[arg(value_parser = clap::value_parser!(u32).range(1..=1024))]
        n: u32,
    },
    /// Ask for the TA's attestation report (GetAttestation; works without
    /// credentials). Checks nothing: verify the saved report with
    /// `teehsm attest verify --report FILE --nonce HEX`.
    Attestation {
        /// Nonce to send (64 hex digits) [default: 32 fresh random bytes].
        #[arg(long, value_name = "HEX")]
        nonce_hex: Option<String>,
        /// Write the report to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// ECDSA/SM2: DER SEQUENCE { r, s } (what OpenSSL reads).
    Der,
    /// ECDSA/SM2: r || s.
    Raw,
}

impl Format {
    fn proto(self) -> SignatureFormat {
        match self {
            Format::Der => SignatureFormat::Der,
            Format::Raw => SignatureFormat::Raw,
        }
    }
}

#[derive(Args)]
pub struct SigOpts {
    /// Key version [default: the primary].
    #[arg(long, default_value_t = 0)]
    version: u32,
    /// --in holds the digest (the algorithm's hash; for SM2 e = SM3(Z || M)), not the message.
    #[arg(long)]
    digest: bool,
    /// Signature encoding for ECDSA and SM2.
    #[arg(long, value_enum, default_value = "der")]
    format: Format,
    /// SM2 signer ID for Z (message input only) [default: 1234567812345678].
    #[arg(long, value_name = "ID")]
    sm2_id: Option<String>,
}

#[derive(Args)]
pub struct SignArgs {
    name: String,
    /// The message (or with --digest, its digest).
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// Where to write the signature.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    opts: SigOpts,
}

#[derive(Args)]
pub struct VerifyArgs {
    name: String,
    /// The message (or with --digest, its digest).
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    /// The signature to check.
    #[arg(long, value_name = "FILE")]
    signature: PathBuf,
    #[command(flatten)]
    opts: SigOpts,
}

#[derive(Args)]
pub struct CryptArgs {
    name: String,
    #[arg(long = "in", value_name = "FILE")]
    input: PathBuf,
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Additional authenticated data (AEAD keys only); decrypt needs the same.
    #[arg(long, value_name = "FILE")]
    aad: Option<PathBuf>,
    /// Key version (asymmetric keys only; AEAD uses the primary to encrypt
    /// and the version the ciphertext names to decrypt) [default: the primary].
    #[arg(long, default_value_t = 0)]
    version: u32,
}

/// Why a command failed, and so its exit status.
enum Failure {
    /// A gRPC status from the server (exit 3).
    Status { code: i32, message: String, authenticated: bool, anonymous: bool },
    /// Anything else (exit 2).
    Local(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Local(e)
    }
}

/// The canonical name of a gRPC status code.
fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("UNKNOWN")
}

type R<T> = Result<T, Failure>;

/// Maps an SDK error of the call `what` to a [`Failure`].
fn sdk(api: &ApiClient, what: &str, e: SdkError) -> Failure {
    match e {
        SdkError::Status { code, message, authenticated } => {
            Failure::Status { code: code as i32, message, authenticated, anonymous: api.credentials().is_none() }
        }
        SdkError::ResponseMacMismatch { .. } => Failure::Local(anyhow::anyhow!(
            "{what}: {e}; do not trust this endpoint's answers until you know what changed them (check that \
             --client-id/--secret-file match the registered client and that nothing but teehsm-ca answers on --endpoint)"
        )),
        SdkError::Transport(m) => {
            Failure::Local(anyhow::anyhow!("{what}: connection failed: {m} (check --endpoint, --ca-cert and, for mTLS, --client-cert/--client-key)"))
        }
        SdkError::InvalidConfig(m) => Failure::Local(anyhow::anyhow!("{what}: {m}")),
    }
}

pub fn run(conn: KmsConn, cmd: KmsCommand) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match rt.block_on(run_async(conn, cmd)) {
        Ok(code) => code,
        Err(Failure::Status { code, message, authenticated, anonymous }) => {
            eprintln!("error: {}: {message}", code_name(code));
            if !authenticated && !anonymous {
                eprintln!(
                    "note: this status carries no TA response MAC: it comes from teehsm-ca or from the TA before it \
                     knew the client (unknown client id, wrong secret, stale clock, replayed nonce)"
                );
            }
            ExitCode::from(EXIT_STATUS)
        }
        Err(Failure::Local(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn write(path: &Path, what: &str, data: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, data).with_context(|| format!("cannot write {what} {}", path.display()))
}

/// The credentials from --client-id and --secret-file; `None` when
/// `optional` and neither is given.
fn credentials(c: &KmsConn, optional: bool) -> anyhow::Result<Option<Credentials>> {
    match (&c.client_id, &c.secret_file) {
        (None, None) if optional => Ok(None),
        (None, _) => anyhow::bail!("no API client id: give --client-id ID or set TEEHSM_CLIENT_ID (the id registered with `teehsm client add`)"),
        (Some(_), None) => anyhow::bail!(
            "no API client secret: give --secret-file FILE or set TEEHSM_CLIENT_SECRET_FILE (a file holding the 64 hex digits `teehsm client add` printed)"
        ),
        (Some(id), Some(f)) => {
            let raw = zeroize::Zeroizing::new(read(f, "the secret file (--secret-file / TEEHSM_CLIENT_SECRET_FILE)")?);
            let text = std::str::from_utf8(&raw)
                .map_err(|_| anyhow::anyhow!("--secret-file {} must hold the secret as 64 hex digits, not binary data", f.display()))?;
            anyhow::ensure!(
                !text.trim().is_empty(),
                "--secret-file {} is empty; it must hold the 64 hex digits `teehsm client add` printed",
                f.display()
            );
            let creds = Credentials::from_hex(id.as_str(), text).map_err(|e| {
                anyhow::anyhow!("--client-id {id:?} / --secret-file {}: {e} (the file must hold the 64 hex digits `teehsm client add` printed)", f.display())
            })?;
            Ok(Some(creds))
        }
    }
}

async fn connect(c: &KmsConn, creds: Option<Credentials>) -> anyhow::Result<ApiClient> {
    let endpoint = c.endpoint.clone().context("no endpoint: give --endpoint https://HOST:PORT or set TEEHSM_GRPC_ENDPOINT")?;
    let ca = c
        .ca_cert
        .as_ref()
        .context("no CA certificate: give --ca-cert PEM or set TEEHSM_GRPC_CA_CERT (the CA that signed the server's TLS certificate)")?;
    let ca_pem = read(ca, "the CA certificate (--ca-cert / TEEHSM_GRPC_CA_CERT)")?;
    anyhow::ensure!(
        ca_pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----"),
        "--ca-cert {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ca.display()
    );
    let mut cfg = ApiClientConfig::new(endpoint.clone(), ca_pem).timeout(std::time::Duration::from_secs(c.timeout));
    if let Some(d) = &c.domain_name {
        cfg = cfg.domain_name(d.clone());
    }
    if let (Some(cert), Some(key)) = (&c.client_cert, &c.client_key) {
        cfg = cfg.identity(read(cert, "the client certificate (--client-cert)")?, read(key, "the client key (--client-key)")?);
    }
    if let Some(creds) = creds {
        cfg = cfg.credentials(creds);
    }
    ApiClient::connect(cfg).await.map_err(|e| match e {
        SdkError::Transport(m) => {
            anyhow::anyhow!("cannot connect to {endpoint}: {m} (check --endpoint, --ca-cert and, for mTLS, --client-cert/--client-key)")
        }
        other => anyhow::anyhow!("cannot connect to {endpoint}: {other}"),
    })
}

/// Parses an Algorithm name, case-insensitively.
fn parse_algorithm(s: &str) -> anyhow::Result<Algorithm> {
    match Algorithm::from_str_name(&s.trim().to_ascii_uppercase()) {
        Some(a) if a != Algorithm::Unspecified => Ok(a),
        _ => anyhow::bail!("unknown --algorithm {s:?}; one of: {}", algorithm_names().join(", ")),
    }
}

fn algorithm_names() -> Vec<&'static str> {
    (1..=255).filter_map(|i| Algorithm::try_from(i).ok()).map(|a| a.as_str_name()).collect()
}

fn enum_name<E: TryFrom<i32>>(v: i32, name: impl Fn(&E) -> &'static str) -> String {
    E::try_from(v).map(|e| name(&e).to_string()).unwrap_or_else(|_| format!("UNKNOWN({v})"))
}

/// A listing time ("-" when unset).
fn time(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    teehsm_wire::time::fmt_time(ms)
}

fn key_text(k: &Key) -> String {
    let mut s = format!(
        "name: {}\nalgorithm: {}\npurpose: {}\nprimary version: {}\ncreated: {}\ncreator: {}\ndestroy scheduled duration: {} s\nversions:",
        k.name,
        enum_name(k.algorithm, Algorithm::as_str_name),
        enum_name(k.purpose, KeyPurpose::as_str_name),
        k.primary_version,
        time(k.create_time_ms),
        k.creator,
        k.destroy_scheduled_duration_seconds,
    );
    if k.rotation_period_seconds > 0 {
        s = s.replacen(
            "\nversions:",
            &format!("\nrotation: every {} s, next {}\nversions:", k.rotation_period_seconds, time(k.next_rotation_time_ms)),
            1,
        );
    }
    for v in &k.versions {
        s.push_str(&format!("\n  {}  {}  created {}", v.version, enum_name(v.state, KeyVersionState::as_str_name), time(v.create_time_ms)));
        if v.destroy_time_ms > 0 {
            s.push_str(&format!("  destroy {}", time(v.destroy_time_ms)));
        }
        if v.imported {
            s.push_str("  imported");
        }
    }
    s
}

fn key_json(k: &Key) -> serde_json::Value {
    serde_json::json!({
        "name": k.name,
        "algorithm": enum_name(k.algorithm, Algorithm::as_str_name),
        "purpose": enum_name(k.purpose, KeyPurpose::as_str_name),
        "primary_version": k.primary_version,
        "create_time_ms": k.create_time_ms,
        "creator": k.creator,
        "destroy_scheduled_duration_seconds": k.destroy_scheduled_duration_seconds,
        "rotation_period_seconds": k.rotation_period_seconds,
        "next_rotation_time_ms": k.next_rotation_time_ms,
        "versions": k.versions.iter().map(|v| serde_json::json!({
            "version": v.version,
            "state": enum_name(v.state, KeyVersionState::as_str_name),
            "create_time_ms": v.create_time_ms,
            "destroy_time_ms": v.destroy_time_ms,
            "imported": v.imported,
        })).collect::<Vec<_>>(),
    })
}

/// disable-version / enable-version (UpdateKeyVersionState).
async fn set_version_state(api: &ApiClient, name: String, version: u32, state: KeyVersionState, json: bool) -> R<ExitCode> {
    let k = api
        .update_key_version_state(UpdateKeyVersionStateRequest { name, version, state: state as i32 })
        .await
        .map_err(|e| sdk(api, "UpdateKeyVersionState", e))?;
    print_key(&k, json);
    Ok(ExitCode::SUCCESS)
}

fn print_key(k: &Key, json: bool) {
    if json {
        println!("{}", key_json(k));
    } else {
        println!("{}", key_text(k));
    }
}

/// One line of `list-keys`: name, algorithm, primary version, version states.
fn key_line(k: &Key) -> String {
    let states: Vec<String> = k.versions.iter().map(|v| format!("{}:{}", v.version, enum_name(v.state, KeyVersionState::as_str_name))).collect();
    format!("{}  {}  primary={}  versions={}", k.name, enum_name(k.algorithm, Algorithm::as_str_name), k.primary_version, states.join(","))
}

#[track_caller]
/// The input file as Sign/Verify's `data` (hashed in the TA) or `digest` field.
fn data_or_digest(is_digest: bool, input: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    if is_digest {
        (Vec::new(), input)
    } else {
        (input, Vec::new())
    }
}

/// Sign/Verify: the TA must confirm the CRC32C of whichever input was sent.
fn ensure_input_crcs(has_data: bool, data_ok: bool, has_digest: bool, digest_ok: bool) -> anyhow::Result<()> {
    if has_data {
        ensure_crc(data_ok, "data")?;
    }
    if has_digest {
        ensure_crc(digest_ok, "digest")?;
    }
    Ok(())
}

fn ensure_crc(ok: bool, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        ok,
        "the TA did not confirm the CRC32C of the {what}, so it may not have received what was sent; retry, and check the network path if it recurs"
    );
    Ok(())
}

fn check_crc(data: &[u8], crc: u32, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        crc32c(data) == crc,
        "the {what} arrived with a wrong CRC32C ({:08x}, expected {crc:08x}): it was corrupted in transit; retry",
        crc32c(data)
    );
    Ok(())
}

async fn run_async(conn: KmsConn, cmd: KmsCommand) -> R<ExitCode> {
    let anonymous_ok = matches!(cmd, KmsCommand::Random { .. } | KmsCommand::Attestation { .. });
    // Check local inputs before connecting, so usage errors come first.
    let algorithm = match &cmd {
        KmsCommand::CreateKey { algorithm, .. } => Some(parse_algorithm(algorithm)?),
        _ => None,
    };
    let nonce = match &cmd {
        KmsCommand::Attestation { nonce_hex: Some(h), .. } => {
            let b = hex::decode(h.trim()).map_err(|e| anyhow::anyhow!("--nonce-hex is not hex: {e}"))?;
            let n = <[u8; ATTESTATION_NONCE_LEN]>::try_from(b.as_slice()).map_err(|_| {
                anyhow::anyhow!("--nonce-hex must be {ATTESTATION_NONCE_LEN} bytes ({} hex digits), got {} bytes", ATTESTATION_NONCE_LEN * 2, b.len())
            })?;
            Some(n)
        }
        _ => None,
    };
    let creds = credentials(&conn, anonymous_ok)?;
    let api = connect(&conn, creds).await?;
    let api = &api;
    let out = match cmd {
        KmsCommand::CreateKey { name, request_id, destroy_scheduled_duration, rotation_period_days, next_rotation_ms, json, .. } => {
            let alg = algorithm.unwrap_or(Algorithm::Unspecified);
            let k = api
                .create_key(CreateKeyRequest {
                    name,
                    algorithm: alg as i32,
                    request_id: request_id.unwrap_or_default(),
                    destroy_scheduled_duration_seconds: destroy_scheduled_duration.unwrap_or(0),
                    rotation_period_seconds: rotation_period_days.unwrap_or(0).saturating_mul(86_400),
                    next_rotation_time_ms: next_rotation_ms.unwrap_or(0),
                })
                .await
                .map_err(|e| sdk(api, "CreateKey", e))?;
            print_key(&k, json);
            ExitCode::SUCCESS
        }
        KmsCommand::GetKey { name, json } => {
            let k = api.get_key(GetKeyRequest { name }).await.map_err(|e| sdk(api, "GetKey", e))?;
            print_key(&k, json);
            ExitCode::SUCCESS
        }
        KmsCommand::ListKeys { prefix, page_size, json } => {
            let mut keys = Vec::new();
            let mut token = String::new();
            loop {
                let r = api
                    .list_keys(ListKeysRequest {
                        page_size: page_size.unwrap_or(0),
                        page_token: token.clone(),
                        name_prefix: prefix.clone().unwrap_or_default(),
                    })
                    .await
                    .map_err(|e| sdk(api, "ListKeys", e))?;
                let progressed = !r.keys.is_empty();
                keys.extend(r.keys);
                if r.next_page_token.is_empty() {
                    break;
                }
                if !progressed || r.next_page_token == token {
                    return Err(anyhow::anyhow!(
                        "ListKeys returned page token {:?} again without progress; the server is misbehaving",
                        r.next_page_token
                    )
                    .into());
                }
                token = r.next_page_token;
            }
            if json {
                println!("{}", serde_json::json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }));
            } else {
                for k in &keys {
                    println!("{}", key_line(k));
                }
                eprintln!("{} key{}", keys.len(), if keys.len() == 1 { "" } else { "s" });
            }
            ExitCode::SUCCESS
        }
        KmsCommand::RotateKey { name, request_id, json } => {
            let k =
                api.rotate_key(RotateKeyRequest { name, request_id: request_id.unwrap_or_default() }).await.map_err(|e| sdk(api, "RotateKey", e))?;
            print_key(&k, json);
            ExitCode::SUCCESS
        }
        KmsCommand::DisableVersion { name, version, json } => set_version_state(api, name, version, KeyVersionState::Disabled, json).await?,
        KmsCommand::EnableVersion { name, version, json } => set_version_state(api, name, version, KeyVersionState::Enabled, json).await?,
        KmsCommand::SetRotation { name, period_days, next_rotation_ms, json } => {
            let req = UpdateKeyRotationRequest {
                name,
                rotation_period_seconds: period_days.saturating_mul(86_400),
                next_rotation_time_ms: next_rotation_ms.unwrap_or(0),
            };
            let k = api.update_key_rotation(req).await.map_err(|e| sdk(api, "UpdateKeyRotation", e))?;
            print_key(&k, json);
            ExitCode::SUCCESS
        }
        KmsCommand::DestroyKey { name, json } => {
            let k = api.destroy_key(DestroyKeyRequest { name }).await.map_err(|e| sdk(api, "DestroyKey", e))?;
            print_key(&k, json);
            ExitCode::SUCCESS
        }
        KmsCommand::RestoreKey { name, json } => {
            let k = api.restore_key(RestoreKeyRequest { name }).await.map_err(|e| sdk(api, "RestoreKey", e))?;
            print_key(&k, json);
            ExitCode::SUCCESS
        }
        KmsCommand::PublicKey { name, version, der_out, out } => {
            let p = api.get_public_key(GetPublicKeyRequest { name, version }).await.map_err(|e| sdk(api, "GetPublicKey", e))?;
            check_crc(p.pem.as_bytes(), p.pem_crc32c, "public key PEM")?;
            if let Some(f) = &der_out {
                write(f, "the DER public key (--der-out)", &p.der)?;
            }
            match &out {
                Some(f) => {
                    write(f, "the PEM public key (--out)", p.pem.as_bytes())?;
                    eprintln!(
                        "public key of {} version {} ({}) written to {}",
                        p.name,
                        p.version,
                        enum_name(p.algorithm, Algorithm::as_str_name),
                        f.display()
                    );
                }
                None => print!("{}", p.pem),
            }
            ExitCode::SUCCESS
        }
        KmsCommand::Sign(a) => {
            let input = read(&a.input, "the input (--in)")?;
            let mut req = SignRequest {
                name: a.name,
                version: a.opts.version,
                format: a.opts.format.proto() as i32,
                sm2_user_id: a.opts.sm2_id.map(String::into_bytes).unwrap_or_default(),
                ..Default::default()
            };
            (req.data, req.digest) = data_or_digest(a.opts.digest, input);
            let (has_data, has_digest) = (!req.data.is_empty(), !req.digest.is_empty());
            let r = api.sign(req.with_crc32c()).await.map_err(|e| sdk(api, "Sign", e))?;
            ensure_input_crcs(has_data, r.verified_data_crc32c, has_digest, r.verified_digest_crc32c)?;
            check_crc(&r.signature, r.signature_crc32c, "signature")?;
            write(&a.out, "the signature (--out)", &r.signature)?;
            eprintln!("signed with {} version {}: {} bytes written to {}", r.name, r.version, r.signature.len(), a.out.display());
            ExitCode::SUCCESS
        }
        KmsCommand::Verify(a) => {
            let input = read(&a.input, "the input (--in)")?;
            let signature = read(&a.signature, "the signature (--signature)")?;
            let mut req = VerifyRequest {
                name: a.name,
                version: a.opts.version,
                signature,
                format: a.opts.format.proto() as i32,
                sm2_user_id: a.opts.sm2_id.map(String::into_bytes).unwrap_or_default(),
                ..Default::default()
            };
            (req.data, req.digest) = data_or_digest(a.opts.digest, input);
            let (has_data, has_digest, has_sig) = (!req.data.is_empty(), !req.digest.is_empty(), !req.signature.is_empty());
            let r = api.verify(req.with_crc32c()).await.map_err(|e| sdk(api, "Verify", e))?;
            ensure_input_crcs(has_data, r.verified_data_crc32c, has_digest, r.verified_digest_crc32c)?;
            if has_sig {
                ensure_crc(r.verified_signature_crc32c, "signature")?;
            }
            if r.valid {
                println!("signature valid");
                ExitCode::SUCCESS
            } else {
                println!("signature INVALID");
                ExitCode::from(EXIT_INVALID)
            }
        }
        KmsCommand::Encrypt(a) => {
            let plaintext = zeroize::Zeroizing::new(read(&a.input, "the plaintext (--in)")?);
            let aad = match &a.aad {
                Some(f) => read(f, "the additional authenticated data (--aad)")?,
                None => Vec::new(),
            };
            let has_aad = !aad.is_empty();
            let req = EncryptRequest {
                name: a.name,
                version: a.version,
                plaintext: plaintext.to_vec(),
                additional_authenticated_data: aad,
                ..Default::default()
            };
            let has_pt = !req.plaintext.is_empty();
            let r = api.encrypt(req.with_crc32c()).await.map_err(|e| sdk(api, "Encrypt", e))?;
            if has_pt {
                ensure_crc(r.verified_plaintext_crc32c, "plaintext")?;
            }
            if has_aad {
                ensure_crc(r.verified_additional_authenticated_data_crc32c, "additional authenticated data")?;
            }
            check_crc(&r.ciphertext, r.ciphertext_crc32c, "ciphertext")?;
            write(&a.out, "the ciphertext (--out)", &r.ciphertext)?;
            eprintln!("encrypted with {} version {}: {} bytes written to {}", r.name, r.version, r.ciphertext.len(), a.out.display());
            ExitCode::SUCCESS
        }
        KmsCommand::Decrypt(a) => {
            let ciphertext = read(&a.input, "the ciphertext (--in)")?;
            let aad = match &a.aad {
                Some(f) => read(f, "the additional authenticated data (--aad)")?,
                None => Vec::new(),
            };
            let (has_ct, has_aad) = (!ciphertext.is_empty(), !aad.is_empty());
            let req = DecryptRequest { name: a.name, version: a.version, ciphertext, additional_authenticated_data: aad, ..Default::default() };
            let r = api.decrypt(req.with_crc32c()).await.map_err(|e| sdk(api, "Decrypt", e))?;
            let plaintext = zeroize::Zeroizing::new(r.plaintext);
            if has_ct {
                ensure_crc(r.verified_ciphertext_crc32c, "ciphertext")?;
            }
            if has_aad {
                ensure_crc(r.verified_additional_authenticated_data_crc32c, "additional authenticated data")?;
            }
            check_crc(&plaintext, r.plaintext_crc32c, "plaintext")?;
            write(&a.out, "the plaintext (--out)", &plaintext)?;
            eprintln!("decrypted with version {}: {} bytes written to {}", r.version, plaintext.len(), a.out.display());
            ExitCode::SUCCESS
        }
        KmsCommand::Random { n } => {
            let r = api.generate_random(GenerateRandomRequest { length_bytes: n }).await.map_err(|e| sdk(api, "GenerateRandom", e))?;
            check_crc(&r.data, r.data_crc32c, "random data")?;
            if r.data.len() != n as usize {
                return Err(anyhow::anyhow!("GenerateRandom returned {} bytes instead of {n}", r.data.len()).into());
            }
            println!("{}", hex::encode(&r.data));
            ExitCode::SUCCESS
        }
        KmsCommand::Attestation { out, .. } => {
            let nonce = match nonce {
                Some(n) => n,
                None => {
                    let mut n = [0u8; ATTESTATION_NONCE_LEN];
                    aws_lc_rs::rand::fill(&mut n).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
                    n
                }
            };
            let r = api.get_attestation(GetAttestationRequest { nonce: nonce.to_vec() }).await.map_err(|e| sdk(api, "GetAttestation", e))?;
            println!("nonce: {}", hex::encode(nonce));
            println!("platform: {}", r.platform);
            println!("measurement: {}", hex::encode(&r.measurement));
            println!("signer: {}", hex::encode(&r.signer));
            println!("security version: {}", r.security_version);
            match &out {
                Some(f) => {
                    write(f, "the report (--out)", &r.report)?;
                    println!("report ({} bytes, NOT verified) written to {}", r.report.len(), f.display());
                    println!("verify it: teehsm attest verify --report {} --nonce {} --policy P --trust-anchor A", f.display(), hex::encode(nonce));
                }
                None => println!("report: {} bytes, NOT verified (save it with --out and run `teehsm attest verify`)", r.report.len()),
            }
            ExitCode::SUCCESS
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_parse_case_insensitively() {
        assert_eq!(parse_algorithm("ec_sign_p256_sha256").unwrap(), Algorithm::EcSignP256Sha256);
        assert_eq!(parse_algorithm("SM2_SIGN_SM3").unwrap(), Algorithm::Sm2SignSm3);
        let e = parse_algorithm("p256").unwrap_err().to_string();
        assert!(e.contains("EC_SIGN_P256_SHA256") && e.contains("ML_KEM_1024") && !e.contains("UNSPECIFIED"), "{e}");
        assert!(parse_algorithm("ALGORITHM_UNSPECIFIED").is_err());
    }

    #[test]
    fn names_and_times() {
        assert_eq!(code_name(7), "PERMISSION_DENIED");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
        assert_eq!(time(0), "-");
        assert_eq!(time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
