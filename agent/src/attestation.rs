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
use teehsm_wire::{AttestationReport, Reply, Request, TaInfo, ATTESTATION_NONCE_LEN};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AttestationError {
    #[error("cannot connect to the CA socket {socket}: {source}")]
    Connect { socket: String, source: teehsm_wire::client::CallError },
    #[error("GetAttestation through {socket} failed: {source}")]
    Call { socket: String, source: teehsm_wire::client::CallError },
    #[error("the TA answered {0} with an unexpected reply")]
    UnexpectedReply(&'static str),
    #[error("an attestation nonce must be {ATTESTATION_NONCE_LEN} bytes, got {0}")]
    BadNonce(usize),
}

/// What the console's inventory shows of a TA, from its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaIdentity {
    /// The TA's own version (GetTaInfo), "" if not asked.
    pub version: String,
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
            version: String::new(),
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
    fetch(socket, nonce).map(|(report, _)| report)
}

/// As [`fetch_report`], and the TA's own description (GetTaInfo) on the
/// same connection: the report and the identity with the TA's version.
pub fn fetch(socket: &Path, nonce: &[u8]) -> Result<(AttestationReport, TaIdentity), AttestationError> {
    if nonce.len() != ATTESTATION_NONCE_LEN {
        return Err(AttestationError::BadNonce(nonce.len()));
    }
    let name = socket.display().to_string();
    let mut c = Client::connect(socket, "teehsm-agent").map_err(|source| AttestationError::Connect { socket: name.clone(), source })?;
    let report =
        match c.call(&Request::GetAttestation { nonce: nonce.to_vec() }).map_err(|source| AttestationError::Call { socket: name.clone(), source })? {
            Reply::Attestation(r) => *r,
            _ => return Err(AttestationError::UnexpectedReply("GetAttestation")),
        };
    let info: TaInfo = match c.call(&Request::GetTaInfo).map_err(|source| AttestationError::Call { socket: name, source })? {
        Reply::TaInfo(i) => i,
        _ => return Err(AttestationError::UnexpectedReply("GetTaInfo")),
    };
    let mut id = TaIdentity::of(&report);
    id.version = info.version;
    Ok((report, id))
}

/// The daemon's attestation state: the console's latest nonce, the
/// report fetched for it from the current TA process, and whether the
/// console has it yet. A report is fetched again when the nonce or the TA
/// process changes, and attached to heartbeats until one is accepted.
#[derive(Debug, Default)]
pub struct Attester {
    nonce: Vec<u8>,
    /// (nonce, TA pid) of the report held.
    fetched: Option<(Vec<u8>, u32)>,
    sent: Option<(Vec<u8>, u32)>,
    report: Option<Vec<u8>>,
    identity: Option<TaIdentity>,
}

impl Attester {
    /// The nonce of the console's last heartbeat answer (ignored unless
    /// [`ATTESTATION_NONCE_LEN`] bytes).
    pub fn set_nonce(&mut self, nonce: &[u8]) {
        if nonce.len() == ATTESTATION_NONCE_LEN {
            self.nonce = nonce.to_vec();
        }
    }

    /// The TA's identity from the last report fetched.
    pub fn identity(&self) -> Option<&TaIdentity> {
        self.identity.as_ref()
    }

    /// Fetches a report from the TA at `socket` (whose process is `ta_pid`)
    /// unless the one held already answers the current nonce from that
    /// process. Without a console nonce yet, a random one is used so that
    /// the inventory (version, measurement) is known from the start.
    pub async fn refresh(&mut self, socket: &Path, ta_pid: Option<u32>) {
        let Some(pid) = ta_pid else { return };
        if self.nonce.is_empty() {
            let mut n = [0u8; ATTESTATION_NONCE_LEN];
            if aws_lc_rs::rand::fill(&mut n).is_err() {
                return;
            }
            self.nonce = n.to_vec();
        }
        let want = (self.nonce.clone(), pid);
        if self.fetched.as_ref() == Some(&want) {
            return;
        }
        let (socket, nonce) = (socket.to_path_buf(), self.nonce.clone());
        match tokio::task::spawn_blocking(move || fetch(&socket, &nonce)).await {
            Ok(Ok((report, id))) => {
                tracing::info!(platform = %id.platform, measurement = %id.measurement, version = %id.version, channel_key = %id.channel_key_sha256, "TA attestation report fetched");
                self.report = Some(report.to_bytes());
                self.identity = Some(id);
                self.fetched = Some(want);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot fetch the TA's attestation report"),
            Err(e) => tracing::warn!(error = %e, "the attestation fetch task failed"),
        }
    }

    /// The report bytes to attach to the next heartbeat, if the console
    /// has not accepted them yet.
    pub fn attachment(&self) -> Option<Vec<u8>> {
        (self.fetched.is_some() && self.fetched != self.sent).then(|| self.report.clone()).flatten()
    }

    /// A heartbeat carrying [`Attester::attachment`] was accepted.
    pub fn mark_sent(&mut self) {
        self.sent = self.fetched.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attaches_a_report_until_it_is_accepted_and_refetches_on_change() {
        let mut a = Attester::default();
        assert_eq!(a.attachment(), None);
        a.set_nonce(&[1, 2, 3]);
        assert!(a.nonce.is_empty(), "a short nonce is ignored");
        a.set_nonce(&[9; ATTESTATION_NONCE_LEN]);
        // As refresh() leaves it after a fetch.
        a.fetched = Some((a.nonce.clone(), 42));
        a.report = Some(vec![1, 2]);
        assert_eq!(a.attachment(), Some(vec![1, 2]));
        a.mark_sent();
        assert_eq!(a.attachment(), None);
        a.fetched = Some((a.nonce.clone(), 43));
        assert_eq!(a.attachment(), Some(vec![1, 2]), "a new TA process: attach again");
    }
}
