//! HMAC (aws-lc-rs for SHA-2; RustCrypto `hmac` + `sm3` for SM3) and CMAC
//! (aws-lc-rs for AES; RustCrypto `cmac` + `sm4` for SM4).

use crate::digest::HashAlg;
use crate::sym::Cipher;
use crate::CryptoError;
use aws_lc_rs::{cmac as lc_cmac, hmac as lc_hmac};
use hmac::{KeyInit, Mac};

fn lc_hmac_alg(alg: HashAlg) -> Option<lc_hmac::Algorithm> {
    Some(match alg {
        HashAlg::Sha1 => lc_hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlg::Sha224 => lc_hmac::HMAC_SHA224,
        HashAlg::Sha256 => lc_hmac::HMAC_SHA256,
        HashAlg::Sha384 => lc_hmac::HMAC_SHA384,
        HashAlg::Sha512 => lc_hmac::HMAC_SHA512,
        HashAlg::Sm3 => return None,
    })
}

/// HMAC of `data` under `key`.
pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if key.is_empty() {
        return Err(CryptoError::InvalidKey("HMAC key is empty".into()));
    }
    match lc_hmac_alg(alg) {
        Some(a) => Ok(lc_hmac::sign(&lc_hmac::Key::new(a, key), data).as_ref().to_vec()),
        None => {
            let mut m = <hmac::Hmac<sm3::Sm3> as KeyInit>::new_from_slice(key).map_err(|_| CryptoError::InvalidKey("HMAC-SM3 key".into()))?;
            m.update(data);
            Ok(m.finalize().into_bytes().to_vec())
        }
    }
}

/// Verifies a full-length HMAC tag in constant time.
pub fn hmac_verify(alg: HashAlg, key: &[u8], data: &[u8], tag: &[u8]) -> Result<(), CryptoError> {
    if tag.len() != alg.output_len() {
        return Err(CryptoError::DataLenRange(format!("{} HMAC signature must be {} bytes", alg.name(), alg.output_len())));
    }
    let expect = hmac(alg, key, data)?;
    if crate::kdf::ct_eq(&expect, tag) {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

/// CMAC (NIST SP 800-38B) with a full 16-byte tag.
pub fn cmac(c: Cipher, key: &[u8], data: &[u8]) -> Result<[u8; 16], CryptoError> {
    let mut out = [0u8; 16];
    match c {
        Cipher::Aes => {
            let alg = match key.len() {
                16 => lc_cmac::AES_128,
                24 => lc_cmac::AES_192,
                32 => lc_cmac::AES_256,
                n => return Err(CryptoError::InvalidKey(format!("AES-CMAC does not take a {n}-byte key"))),
            };
            let k = lc_cmac::Key::new(alg, key).map_err(|_| CryptoError::InvalidKey("AES-CMAC key".into()))?;
            let t = lc_cmac::sign(&k, data).map_err(|_| CryptoError::Internal("AES-CMAC".into()))?;
            out.copy_from_slice(t.as_ref());
        }
        Cipher::Sm4 => {
            let mut m = <cmac::Cmac<sm4::Sm4> as cmac::KeyInit>::new_from_slice(key)
                .map_err(|_| CryptoError::InvalidKey(format!("SM4-MAC does not take a {}-byte key", key.len())))?;
            cmac::Mac::update(&mut m, data);
            out.copy_from_slice(&cmac::Mac::finalize(m).into_bytes());
        }
    }
    Ok(out)
}
