//! Wrapping key material for ImportKey: RSA-OAEP-SHA-256 of a fresh
//! AES-256 key, followed by AES-KWP (RFC 5649) of the material under that
//! key (Cloud KMS's RSA_OAEP_3072_SHA256_AES_256 format).

use crate::error::SdkError;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rand;
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use zeroize::Zeroizing;

/// `wrapped_key` for an [`crate::proto::ImportKeyRequest`]: `material`
/// wrapped to the RSA key whose SubjectPublicKeyInfo DER is
/// `wrapping_spki_der` (GetPublicKey of the RSA_DECRYPT_OAEP_* wrapping key).
pub fn wrap_key_material(wrapping_spki_der: &[u8], material: &[u8]) -> Result<Vec<u8>, SdkError> {
    let public = PublicEncryptingKey::from_der(wrapping_spki_der)
        .map_err(|e| SdkError::InvalidConfig(format!("the wrapping key is not an RSA SubjectPublicKeyInfo: {e}")))?;
    let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| SdkError::InvalidConfig("the wrapping key cannot do RSA-OAEP".into()))?;
    let mut aes = Zeroizing::new([0u8; 32]);
    rand::fill(aes.as_mut()).map_err(|_| SdkError::InvalidConfig("the system random generator failed".into()))?;
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let n = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, aes.as_ref(), &mut out, None)
        .map_err(|_| SdkError::InvalidConfig("RSA-OAEP encryption of the transport key failed".into()))?
        .len();
    out.truncate(n);
    let kek = AesKek::new(&AES_256, aes.as_ref()).map_err(|_| SdkError::InvalidConfig("AES-256 key set-up failed".into()))?;
    let mut wrapped = vec![0u8; material.len() + 16];
    let n = kek
        .wrap_with_padding(material, &mut wrapped)
        .map_err(|_| SdkError::InvalidConfig(format!("AES-KWP cannot wrap {} bytes of material", material.len())))?
        .len();
    out.extend_from_slice(&wrapped[..n]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};

    #[test]
    fn round_trip_with_aws_lc() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let spki = private.public_key().as_der().unwrap();
        let material = [0x5au8; 32];
        let w = wrap_key_material(spki.as_ref(), &material).unwrap();
        assert_eq!(w.len(), 256 + 40);
        let oaep = OaepPrivateDecryptingKey::new(private).unwrap();
        let mut aes = [0u8; 256];
        let aes = oaep.decrypt(&OAEP_SHA256_MGF1SHA256, &w[..256], &mut aes, None).unwrap();
        assert_eq!(aes.len(), 32);
        let mut out = [0u8; 64];
        let got = AesKek::new(&AES_256, aes).unwrap().unwrap_with_padding(&w[256..], &mut out).unwrap();
        assert_eq!(got, &material[..]);
        assert!(matches!(wrap_key_material(b"junk", &material), Err(SdkError::InvalidConfig(_))));
    }
}
