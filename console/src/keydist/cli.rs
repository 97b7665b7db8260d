//! `teehsm-console keydist ...`: key distribution by hand.

use super::{now_ms, read, verify_report, wrap, KeyMaterial, KeySpec, KeydistError, SigningKey, WrapParams};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use teehsm_attest::{Policy, TrustAnchor};
use zeroize::Zeroizing;

#[derive(Subcommand, Debug)]
pub enum KeydistCommand {
    /// Generate the console's Ed25519 key distribution signing key.
    ///
    /// Writes the private key (PKCS#8 PEM, mode 0600; never overwrites) to
    /// --out and its public key (PEM) to --public-out; give the public key
    /// to each token's SO for `teehsm keydist trust --console-key`.
    Keygen {
        /// Private key file to create.
        #[arg(long, env = "TEEHSM_CONSOLE_KEYDIST_KEY")]
        out: PathBuf,
        /// Public key file to write.
        #[arg(long)]
        public_out: PathBuf,
    },
    /// Print the public key (PEM) of a signing key.
    Pubkey {
        /// The signing key (PKCS#8 PEM or DER).
        #[arg(long, env = "TEEHSM_CONSOLE_KEYDIST_KEY")]
        signing_key: PathBuf,
    },
    /// Wrap a key to one TA and sign the envelope.
    ///
    /// Verifies the TA's attestation report (as `teehsm attest fetch` saved
    /// it) against --trust-anchor and --policy, and refuses it if it does not
    /// verify; then wraps the key to the report's channel key bundle for
    /// --slot (and --token-serial, if given), signs it with --signing-key and
    /// writes the envelope to --out. Import it with `teehsm keydist import`
    /// before it expires and before that TA restarts (a restarted TA has a
    /// new channel key and refuses it as mis-targeted).
    Wrap(Box<WrapArgs>),
}

#[derive(Args, Debug)]
pub struct WrapArgs {
    /// The console's signing key (PKCS#8 PEM or DER, from `keygen`).
    #[arg(long, env = "TEEHSM_CONSOLE_KEYDIST_KEY")]
    signing_key: PathBuf,
    /// The TA's attestation report (`teehsm attest fetch --out`).
    #[arg(long)]
    report: PathBuf,
    /// The nonce the report must answer (64 hex digits, as `fetch` printed
    /// it) [default: accept the report's own nonce].
    #[arg(long)]
    nonce: Option<String>,
    /// Attestation policy (TOML; docs/attestation.md).
    #[arg(long)]
    policy: PathBuf,
    /// The platform's report-signing public key (PEM or hex).
    #[arg(long)]
    trust_anchor: PathBuf,
    /// The key to distribute: raw bytes for aes and generic-secret, a
    /// PKCS#8 private key (PEM or DER) for ec-p256.
    #[arg(long)]
    key_file: PathBuf,
    /// Key type: aes, generic-secret or ec-p256.
    #[arg(long, default_value = "aes")]
    key_type: String,
    /// CKA_LABEL of the new key object.
    #[arg(long)]
    label: String,
    /// CKA_ID of the new key object, in hex.
    #[arg(long)]
    id: Option<String>,
    /// Comma-separated uses: sign, verify, encrypt, decrypt, wrap, unwrap,
    /// derive [default: the ordinary uses of the key type].
    #[arg(long)]
    usage: Option<String>,
    /// Let the key's value be read back (CKA_SENSITIVE=false). Default: sensitive.
    #[arg(long)]
    not_sensitive: bool,
    /// Let the key be wrapped out (CKA_EXTRACTABLE=true). Default: not extractable.
    #[arg(long)]
    extractable: bool,
    /// Slot of the target token.
    #[arg(long, default_value_t = 0)]
    slot: u64,
    /// Serial of the target token (as C_GetTokenInfo shows it) [default: any token in --slot].
    #[arg(long, default_value = "")]
    token_serial: String,
    /// How long the envelope stays valid, in seconds (at most 7 days).
    #[arg(long, default_value_t = 3600)]
    valid_for_secs: u64,
    /// Envelope file to write.
    #[arg(long)]
    out: PathBuf,
}

fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, KeydistError> {
    hex::decode(s.trim()).map_err(|e| KeydistError::Invalid(format!("{what} is not hex: {e}")))
}

/// Runs one subcommand; prints what it did on stdout.
pub fn run(cmd: KeydistCommand) -> Result<(), KeydistError> {
    match cmd {
        KeydistCommand::Keygen { out, public_out } => {
            let key = SigningKey::generate_to_files(&out, &public_out)?;
            println!("signing key written to {} (mode 0600), public key to {}", out.display(), public_out.display());
            println!("public key: {}", hex::encode(key.public_key()));
        }
        KeydistCommand::Pubkey { signing_key } => {
            print!("{}", SigningKey::load(&signing_key)?.public_key_pem());
        }
        KeydistCommand::Wrap(a) => run_wrap(*a)?,
    }
    Ok(())
}

fn run_wrap(a: WrapArgs) -> Result<(), KeydistError> {
    let signer = SigningKey::load(&a.signing_key)?;
    let policy = Policy::load(&a.policy)?;
    let anchor = TrustAnchor::load_sim(&a.trust_anchor)?;
    let nonce = match &a.nonce {
        Some(n) => {
            let b = parse_hex("--nonce", n)?;
            Some(
                b.as_slice()
                    .try_into()
                    .map_err(|_| KeydistError::Invalid(format!("--nonce must be 32 bytes (64 hex digits), got {} bytes", b.len())))?,
            )
        }
        None => None,
    };
    let target = verify_report(&read(&a.report)?, nonce, &anchor, &policy)?;
    let key = KeyMaterial::from_bytes(&a.key_type, &Zeroizing::new(read(&a.key_file)?))?;
    let spec = KeySpec {
        label: a.label.clone(),
        id: a.id.as_deref().map(|s| parse_hex("--id", s)).transpose()?.unwrap_or_default(),
        usages: a.usage.as_deref().map(KeySpec::parse_usages).transpose()?.unwrap_or_default(),
        sensitive: a.not_sensitive.then_some(false),
        extractable: a.extractable.then_some(true),
        token: None,
    };
    if a.valid_for_secs == 0 || a.valid_for_secs > 7 * 24 * 3600 {
        return Err(KeydistError::Invalid(format!("--valid-for-secs must be 1 to {} (7 days), got {}", 7 * 24 * 3600, a.valid_for_secs)));
    }
    let created_ms = now_ms();
    let params = WrapParams { slot: a.slot, token_serial: a.token_serial.clone(), created_ms, expires_ms: created_ms + a.valid_for_secs * 1000 };
    let env = wrap(&target, &params, spec.template(&key), &key.material(), &signer)?;
    std::fs::write(&a.out, env.to_bytes()).map_err(|source| KeydistError::Io { path: a.out.display().to_string(), source })?;
    println!("envelope {} written to {}", hex::encode(env.id), a.out.display());
    println!(
        "target: TA channel key bundle {} ({} platform{}), slot {}",
        hex::encode(target.bundle_hash),
        target.verified.platform,
        if target.verified.simulation { ", SIMULATION" } else { "" },
        a.slot
    );
    println!("expires: {} ms since the epoch", params.expires_ms);
    Ok(())
}
