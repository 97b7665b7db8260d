//! The TLS server side teehsm-ca (the gRPC API) and teehsm-console (the
//! web UI and the agents' port) share:
//!
//! - [`pem`]: certificate chains and private keys from the operator's PEM
//!   files (a private key others than its owner may read is refused);
//! - [`ServerCertificate`]: the certificate a listener presents, either
//!   fixed or from the operator's files, which are looked at again on
//!   every handshake, so a renewed certificate takes effect without a
//!   restart and a renewal that does not load keeps the one in use;
//! - [`server_config`]: a rustls configuration (TLS 1.2/1.3, aws-lc-rs, the
//!   same provider as tonic's) with optional client certificates, whose CA
//!   file may also be reloaded when it changes ([`ClientCaFile`]);
//! - [`incoming`]: a TCP accept loop that runs the TLS handshakes
//!   concurrently and hands tonic the finished streams (tonic still reads
//!   the client's certificates from them);
//! - [`TlsMetrics`]: the certificate's expiry, reloads and failed
//!   handshakes, under the daemon's metric prefix.

mod certificate;
mod client_cas;
mod config;
mod incoming;
mod metrics;
pub mod pem;

pub use certificate::{file_stamp, FileOptions, FileStamp, ServerCertificate};
pub use client_cas::ClientCaFile;
pub use config::{server_config, ClientAuth};
pub use incoming::{incoming, incoming_with_timeout, TlsIncoming, HANDSHAKE_TIMEOUT};
pub use metrics::TlsMetrics;
pub use tokio_rustls;

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    /// A file that cannot be used (unreadable, not PEM, key readable by others).
    #[error("{option} {path}: {why}")]
    File { option: &'static str, path: PathBuf, why: String },
    /// The leaf certificate does not parse, or the key does not belong to it.
    #[error("{cert_option}/{key_option}: {why}")]
    Pair { cert_option: &'static str, key_option: &'static str, why: String },
    /// rustls refused the configuration (for example an unusable client CA).
    #[error("TLS setup: {0}")]
    Setup(String),
}

#[cfg(test)]
mod tests;
