//! The TA's random number generator: aws-lc's DRBG seeded from the OS.

use crate::CryptoError;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new().fill(buf).map_err(|_| CryptoError::Rng("the system random generator failed".into()))
}

/// Continuous health check run at start-up: two draws must differ and neither
/// may be constant (a stuck generator is the failure this catches).
pub fn health_check() -> Result<(), CryptoError> {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    fill(&mut a)?;
    fill(&mut b)?;
    if a == b {
        return Err(CryptoError::Rng("two consecutive 32-byte draws were identical".into()));
    }
    if a.iter().all(|&x| x == a[0]) || b.iter().all(|&x| x == b[0]) {
        return Err(CryptoError::Rng("a 32-byte draw was constant".into()));
    }
    Ok(())
}
