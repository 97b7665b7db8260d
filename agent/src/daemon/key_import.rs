//! The `import_key` job (docs/key-distribution.md, "Through the fleet
//! console"): hand a console-signed key-distribution envelope to the TA.
//!
//! The agent cannot read or change the key: the envelope is wrapped to the
//! TA's attested channel key and signed by the console, and the TA checks
//! signer, target, validity and replay itself. The agent only needs a user
//! session on the token (`--user-pin-file`), as any PKCS#11 application
//! creating a token object does.

use std::path::Path;
use teehsm_wire::ck::CKU_USER;
use teehsm_wire::client::{CallError, Client};
use teehsm_wire::{Calls, Reply, Request};
use thiserror::Error;

/// The job kind.
pub const KIND_IMPORT_KEY: &str = "import_key";
/// Largest envelope the agent accepts in a job (hex is twice this).
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// An `import_key` job's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKeyJob {
    pub slot: u64,
    pub label: String,
    pub envelope: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("payload: {0}")]
    Payload(String),
    #[error("the CA socket {socket}: {source}")]
    Connect { socket: String, source: CallError },
    #[error("{step}: {source}")]
    Ta { step: &'static str, source: CallError },
    #[error("the TA answered {0} with an unexpected reply")]
    Unexpected(&'static str),
}

impl ImportKeyJob {
    /// Reads `{"slot": N, "label": "...", "envelope_hex": "..."}`.
    pub fn parse(payload_json: &str) -> Result<Self, ImportError> {
        let v: serde_json::Value = serde_json::from_str(payload_json).map_err(|e| ImportError::Payload(format!("not JSON: {e}")))?;
        let slot = v.get("slot").and_then(|s| s.as_u64()).ok_or_else(|| ImportError::Payload("no \"slot\" number".into()))?;
        let label = v.get("label").and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        let hex_env = v.get("envelope_hex").and_then(|s| s.as_str()).ok_or_else(|| ImportError::Payload("no \"envelope_hex\" string".into()))?;
        if hex_env.len() > 2 * MAX_ENVELOPE_BYTES {
            return Err(ImportError::Payload(format!("the envelope is larger than {MAX_ENVELOPE_BYTES} bytes")));
        }
        let envelope = hex::decode(hex_env).map_err(|e| ImportError::Payload(format!("envelope_hex is not hex: {e}")))?;
        Ok(ImportKeyJob { slot, label, envelope })
    }
}

/// Opens a user session on the job's slot through the CA's client
/// `socket`, imports the envelope and closes the session; returns the new
/// key's handle. Blocking: run it on a blocking thread.
pub fn import_key(socket: &Path, user_pin: &[u8], job: &ImportKeyJob) -> Result<u64, ImportError> {
    let mut c = Client::connect(socket, "teehsm-agent").map_err(|source| ImportError::Connect { socket: socket.display().to_string(), source })?;
    let ta = |step| move |source| ImportError::Ta { step, source };
    let session = c.open_session(job.slot, true).map_err(ta("OpenSession"))?;
    let r = (|| {
        c.login(session, CKU_USER, user_pin).map_err(ta("user login (check --user-pin-file)"))?;
        match c.call(&Request::ImportDistributedKey { session, envelope: job.envelope.clone() }).map_err(ta("ImportDistributedKey"))? {
            Reply::Handle(h) => Ok(h),
            _ => Err(ImportError::Unexpected("ImportDistributedKey")),
        }
    })();
    let _ = c.call(&Request::CloseSession { session });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let j = ImportKeyJob::parse(r#"{"slot": 1, "label": "k", "envelope_hex": "0a0b"}"#).unwrap();
        assert_eq!(j, ImportKeyJob { slot: 1, label: "k".into(), envelope: vec![10, 11] });
        for (bad, why) in [
            ("nope", "not JSON"),
            (r#"{"label": "k", "envelope_hex": "00"}"#, "slot"),
            (r#"{"slot": 0}"#, "envelope_hex"),
            (r#"{"slot": 0, "envelope_hex": "zz"}"#, "not hex"),
        ] {
            let e = ImportKeyJob::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let huge = format!(r#"{{"slot": 0, "envelope_hex": "{}"}}"#, "00".repeat(MAX_ENVELOPE_BYTES + 1));
        assert!(ImportKeyJob::parse(&huge).unwrap_err().to_string().contains("larger"));
    }
}
