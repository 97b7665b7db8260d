//! Key derivation (PBKDF2, HKDF) and constant-time comparison.

use crate::CryptoError;
use aws_lc_rs::{hkdf, pbkdf2};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let iterations = NonZeroU32::new(iterations).ok_or_else(|| CryptoError::InvalidInput("PBKDF2 needs at least one iteration".into()))?;
    if len == 0 || len > 1024 {
        return Err(CryptoError::DataLenRange(format!("PBKDF2 output length {len} is outside 1..=1024")));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, password, &mut out);
    Ok(out)
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info`.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if len == 0 || len > 255 * 32 {
        return Err(CryptoError::DataLenRange(format!("HKDF-SHA256 output length {len} is outside 1..=8160")));
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(len)).map_err(|_| CryptoError::Internal("HKDF expand".into()))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(&mut out).map_err(|_| CryptoError::Internal("HKDF fill".into()))?;
    Ok(out)
}

/// Constant-time equality (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
