//! PIN verifiers: PBKDF2-HMAC-SHA-256 with a random salt and a configurable
//! (>= 100,000) iteration count, compared in constant time.

use crate::token::PinVerifier;
use teehsm_crypto::kdf;

/// The fewest PBKDF2 iterations the TA accepts.
pub const MIN_ITERATIONS: u32 = 100_000;

pub fn make(pin: &[u8], iterations: u32) -> Result<PinVerifier, teehsm_crypto::CryptoError> {
    let mut salt = [0u8; 16];
    teehsm_crypto::rng::fill(&mut salt)?;
    let iterations = iterations.max(MIN_ITERATIONS);
    let h = kdf::pbkdf2_sha256(pin, &salt, iterations, 32)?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&h[..32]);
    Ok(PinVerifier { salt, iterations, hash })
}

pub fn matches(v: &PinVerifier, pin: &[u8]) -> bool {
    match kdf::pbkdf2_sha256(pin, &v.salt, v.iterations, 32) {
        Ok(h) => kdf::ct_eq(&h[..], &v.hash),
        Err(_) => false,
    }
}
