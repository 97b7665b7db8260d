//! AES-256-GCM with a 96-bit nonce and full tag: the sealing AEAD of the store.

use crate::CryptoError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

fn key(k: &[u8; 32]) -> Result<LessSafeKey, CryptoError> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).map_err(|_| CryptoError::InvalidKey("AES-256-GCM key".into()))?))
}

/// Returns `ciphertext || 16-byte tag`.
pub fn aes256gcm_seal(k: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut buf = plaintext.to_vec();
    key(k)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Internal("AES-256-GCM seal".into()))?;
    Ok(buf)
}

/// Opens `ciphertext || tag`; any tampering gives `EncryptedDataInvalid`.
pub fn aes256gcm_open(k: &[u8; 32], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 16 {
        return Err(CryptoError::EncryptedDataInvalid);
    }
    let mut buf = Zeroizing::new(sealed.to_vec());
    let n =
        key(k)?.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf).map_err(|_| CryptoError::EncryptedDataInvalid)?.len();
    buf.truncate(n);
    Ok(buf)
}
