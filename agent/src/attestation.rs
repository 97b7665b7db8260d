//! The TA's attestation report as the agent sees it (issue 6: "TA inventory
//! (version, measurement, tokens)", and the input of key distribution,
//! docs/key-distribution.md).
//!
//! The agent asks the TA, through the CA's client socket, for a report over
//! a nonce the console chose, and forwards the report bytes (the format
//! `teehsm attest fetch` saves) with its heartbeat. The agent verifies
//! nothing: it is untrusted, and the console verifies the report against
//! its own policy and trust anchor before it wraps a key to the TA's
//! channel key. Here we only extract what the inventory shows.

use std::path::Path;
use teehsm_wire::client::Client;
use teehsm_wire::{AttestationReport, Reply, Request, ATTESTATION_NONCE_LEN};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AttestationError {
    #[error("cannot connect to the CA socket {socket}: {source}")]
    Connect { socket: String, source: teehsm_wire::client::CallError },
    #[error("GetAttestation through {socket} failed: {source}")]
    Call { socket: String, source: teehsm_wire::client::CallError },
    #[error("the TA answered GetAttestation with an unexpected reply")]
    UnexpectedReply,
    #[error("an attestation nonce must be {ATTESTATION_NONCE_LEN} bytes, got {0}")]
    BadNonce(usize),
}

/// What the console's inventory shows of a TA, from its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaIdentity {
    /// "sim", "sgx", ...
    pub platform: String,
    pub simulation: bool,
    /// Hex of the 32-byte measurement.
    pub measurement: String,
    /// Hex of the 32-byte signer identity.
    pub signer: String,
    pub security_version: u32,
    /// Hex SHA-256 of the TA's channel key bundle: names this TA process
    /// (a restarted TA has a new bundle).
    pub channel_key_sha256: String,
}

impl TaIdentity {
    pub fn of(report: &AttestationReport) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &report.channel_public_key);
        TaIdentity {
            platform: report.platform.clone(),
            simulation: report.simulation,
            measurement: hex::encode(report.measurement),
            signer: hex::encode(report.signer),
            security_version: report.security_version,
            channel_key_sha256: hex::encode(digest.as_ref()),
        }
    }
}

/// Asks the TA behind the CA's client `socket` for a report over `nonce`.
/// Blocking (a Unix-socket round trip and a signature in the TA): call it
/// from a blocking thread.
pub fn fetch_report(socket: &Path, nonce: &[u8]) -> Result<AttestationReport, AttestationError> {
    if nonce.len() != ATTESTATION_NONCE_LEN {
        return Err(AttestationError::BadNonce(nonce.len()));
    }
    let name = socket.display().to_string();
    let mut c = Client::connect(socket, "teehsm-agent").map_err(|source| AttestationError::Connect { socket: name.clone(), source })?;
    match c.call(&Request::GetAttestation { nonce: nonce.to_vec() }).map_err(|source| AttestationError::Call { socket: name, source })? {
        Reply::Attestation(r) => Ok(*r),
        _ => Err(AttestationError::UnexpectedReply),
    }
}
