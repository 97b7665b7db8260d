//! Agent enrollment on the console side (issue #6, docs/fleet-enrollment.md).
//!
//! - [`ca`]: the console CA (ECDSA P-256), created once or loaded from PEM;
//! - [`token`]: one-time enrollment tokens, of which the console keeps only
//!   a SHA-256 hash and an expiry;
//! - [`issue`]: agent client certificates from the agent's CSR, with the
//!   subject forced to the host id the console assigned.
//!
//! Like the alert engine, nothing here reads a clock or does I/O: time is
//! passed in as Unix milliseconds, and the caller stores what is returned.
//! That a token is used only once is the store's job: it deletes (or marks
//! used) the token record in the same transaction that accepts it.

pub mod ca;
mod clock;
pub mod issue;
pub(crate) mod pem;
pub mod token;

#[cfg(test)]
mod tests;

pub use ca::ConsoleCa;
pub use issue::{issue_client_cert, renew_client_cert, IssuedCert, CLIENT_CERT_VALIDITY};
pub use token::{check_token, new_token, token_id, TokenError, TokenRecord, TOKEN_PREFIX};

use thiserror::Error;

/// What can go wrong creating or loading the CA, or issuing a certificate.
#[derive(Debug, Error)]
pub enum EnrollError {
    #[error("no PEM {expected} block in the input")]
    NoPem { expected: &'static str },
    #[error("the CA certificate cannot be parsed: {0}")]
    BadCaCert(rcgen::Error),
    #[error("the CA key cannot be parsed: {0}")]
    BadCaKey(rcgen::Error),
    #[error("the CA key is not an ECDSA P-256 key")]
    CaKeyNotP256,
    #[error("the CA key does not belong to the CA certificate")]
    CaKeyMismatch,
    #[error("the certificate signing request cannot be parsed")]
    BadCsr,
    #[error("the certificate signing request's signature does not verify")]
    CsrSignature,
    #[error("the certificate signing request asks for an extension the console does not accept")]
    CsrExtension,
    #[error("the certificate signing request's key is not an ECDSA P-256 key")]
    CsrKeyNotP256,
    #[error("the certificate signing request is for the key of the current certificate; renew with a new key")]
    CsrKeyReused,
    #[error("invalid host id {0:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -")]
    BadHostId(String),
    #[error("time {0} ms is out of the range certificates can express")]
    TimeOutOfRange(u64),
    #[error("no randomness available")]
    Random,
    #[error("cannot build the certificate: {0}")]
    Build(rcgen::Error),
}
