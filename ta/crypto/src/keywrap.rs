//! AES key wrap (RFC 3394) and key wrap with padding (RFC 5649), aws-lc-rs.

use crate::CryptoError;
use aws_lc_rs::key_wrap::{AesKek, KeyWrap, KeyWrapPadded, AES_128, AES_256};
use zeroize::Zeroizing;

fn kek(key: &[u8]) -> Result<AesKek, CryptoError> {
    let cipher = match key.len() {
        16 => &AES_128,
        32 => &AES_256,
        n => return Err(CryptoError::InvalidKey(format!("AES key wrap needs a 16- or 32-byte key, not {n}"))),
    };
    AesKek::new(cipher, key).map_err(|_| CryptoError::InvalidKey("AES key-encryption key".into()))
}

/// RFC 3394: input a multiple of 8 bytes, at least 16.
pub fn aes_kw_wrap(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.len() < 16 || !plaintext.len().is_multiple_of(8) {
        return Err(CryptoError::DataLenRange(format!("AES-KW wraps multiples of 8 bytes (at least 16), not {}", plaintext.len())));
    }
    let mut out = vec![0u8; plaintext.len() + 8];
    let n = kek(key)?.wrap(plaintext, &mut out).map_err(|_| CryptoError::Internal("AES-KW wrap".into()))?.len();
    out.truncate(n);
    Ok(out)
}

/// RFC 3394 unwrap; an integrity failure is `EncryptedDataInvalid`.
pub fn aes_kw_unwrap(key: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::DataLenRange(format!("AES-KW ciphertext must be a multiple of 8 bytes, at least 24, not {}", wrapped.len())));
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = kek(key)?.unwrap(wrapped, &mut out).map_err(|_| CryptoError::EncryptedDataInvalid)?.len();
    out.truncate(n);
    Ok(out)
}

/// RFC 5649: any non-empty input.
pub fn aes_kwp_wrap(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.is_empty() || plaintext.len() > 65536 {
        return Err(CryptoError::DataLenRange("AES-KWP wraps 1..=65536 bytes".into()));
    }
    let mut out = vec![0u8; plaintext.len() + 16];
    let n = kek(key)?.wrap_with_padding(plaintext, &mut out).map_err(|_| CryptoError::Internal("AES-KWP wrap".into()))?.len();
    out.truncate(n);
    Ok(out)
}

/// RFC 5649 unwrap.
pub fn aes_kwp_unwrap(key: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::DataLenRange(format!("AES-KWP ciphertext must be a multiple of 8 bytes, at least 16, not {}", wrapped.len())));
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = kek(key)?.unwrap_with_padding(wrapped, &mut out).map_err(|_| CryptoError::EncryptedDataInvalid)?.len();
    out.truncate(n);
    Ok(out)
}
