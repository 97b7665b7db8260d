use thiserror::Error;

/// Why a cryptographic operation did not produce a result.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Key bytes are malformed, of the wrong size, or inconsistent.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Input data or a parameter is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A signature did not verify.
    #[error("signature did not verify")]
    InvalidSignature,
    /// Input has a length the operation cannot accept.
    #[error("length out of range: {0}")]
    DataLenRange(String),
    /// Ciphertext failed authentication, padding or structure checks.
    #[error("encrypted data is invalid")]
    EncryptedDataInvalid,
    /// The combination of algorithm and parameters is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The random number generator failed.
    #[error("random number generator failure: {0}")]
    Rng(String),
    /// A known-answer self-test failed.
    #[error("self-test failed: {0}")]
    SelfTest(String),
    /// An unexpected backend failure.
    #[error("internal crypto error: {0}")]
    Internal(String),
}
