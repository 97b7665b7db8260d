//! Encapsulate and Decapsulate (KEY_ENCAPSULATION keys): ML-KEM-512/768/1024
//! (FIPS 203). Encapsulate runs on the public half and returns the
//! ciphertext and the 32-byte shared secret; Decapsulate returns the shared
//! secret (for a right-sized but wrong ciphertext, FIPS 203's implicit
//! rejection value, which matches nothing the sender holds).

use super::super::error::{ApiError, ApiResult};
use super::material::mlkem_param;
use super::{input, mismatch, require};
use crate::keys::LoadedKey;
use std::borrow::Cow;
use teehsm_crypto::mlkem;
use teehsm_wire::proto::crc32c;
use teehsm_wire::proto::v1::{Algorithm, DecapsulateRequest, DecapsulateResponse, EncapsulateResponse, KeyPurpose};

/// Encapsulate: a fresh shared secret and its ciphertext for key version `version`.
pub fn encapsulate(alg: Algorithm, key: &LoadedKey, version: u32) -> ApiResult<EncapsulateResponse> {
    require(alg, "Encapsulate", &[KeyPurpose::KeyEncapsulation])?;
    let (param, ek): (_, Cow<'_, [u8]>) = match key {
        LoadedKey::MlKem(k) if mlkem_param(alg) == Some(k.param()) => {
            (k.param(), Cow::Owned(k.public_key().map_err(|e| ApiError::internal(format!("ML-KEM public key: {e}")))?))
        }
        LoadedKey::MlKemPublic { param, key } if mlkem_param(alg) == Some(*param) => (*param, Cow::Borrowed(key)),
        _ => return Err(mismatch(alg)),
    };
    let (ciphertext, mut ss) = mlkem::encapsulate(param, &ek).map_err(|e| ApiError::internal(format!("ML-KEM encapsulation failed: {e}")))?;
    Ok(EncapsulateResponse { ciphertext_crc32c: crc32c(&ciphertext), ciphertext, shared_secret: std::mem::take(&mut *ss), version })
}

/// Decapsulate: the shared secret of `ciphertext`.
pub fn decapsulate(alg: Algorithm, key: &LoadedKey, req: &DecapsulateRequest) -> ApiResult<DecapsulateResponse> {
    require(alg, "Decapsulate", &[KeyPurpose::KeyEncapsulation])?;
    let verified_ciphertext_crc32c = input::field("ciphertext", &req.ciphertext, req.ciphertext_crc32c)?;
    let LoadedKey::MlKem(k) = key else { return Err(mismatch(alg)) };
    if mlkem_param(alg) != Some(k.param()) {
        return Err(mismatch(alg));
    }
    let len = k.param().ciphertext_len();
    if req.ciphertext.len() != len {
        return Err(ApiError::invalid(format!("ciphertext is {} bytes; {} ciphertexts are {len} bytes", req.ciphertext.len(), alg.as_str_name())));
    }
    let mut ss = k.decapsulate(&req.ciphertext).map_err(|e| ApiError::internal(format!("ML-KEM decapsulation failed: {e}")))?;
    let shared_secret = std::mem::take(&mut *ss);
    Ok(DecapsulateResponse { shared_secret_crc32c: crc32c(&shared_secret), shared_secret, verified_ciphertext_crc32c })
}

#[cfg(test)]
mod tests {
    use super::super::testkeys::key;
    use super::*;
    use crate::handler::api::code;

    #[test]
    fn round_trips_tamper_and_errors() {
        for (alg, ct_len) in [(Algorithm::MlKem512, 768), (Algorithm::MlKem768, 1088), (Algorithm::MlKem1024, 1568)] {
            let (k, _) = key(alg);
            let e = encapsulate(alg, &k, 4).unwrap();
            assert_eq!((e.ciphertext.len(), e.shared_secret.len(), e.version), (ct_len, 32, 4));
            assert_eq!(e.ciphertext_crc32c, crc32c(&e.ciphertext));
            let req = DecapsulateRequest { ciphertext: e.ciphertext.clone(), ciphertext_crc32c: Some(crc32c(&e.ciphertext)), ..Default::default() };
            let d = decapsulate(alg, &k, &req).unwrap();
            assert_eq!(d.shared_secret, e.shared_secret);
            assert!(d.verified_ciphertext_crc32c);
            assert_eq!(d.shared_secret_crc32c, crc32c(&d.shared_secret));
            // Two encapsulations differ.
            assert_ne!(encapsulate(alg, &k, 4).unwrap().shared_secret, e.shared_secret);
            // Tampered: implicit rejection gives a different secret, not an error.
            let mut bad = e.ciphertext.clone();
            bad[0] ^= 1;
            let d = decapsulate(alg, &k, &DecapsulateRequest { ciphertext: bad, ..Default::default() }).unwrap();
            assert_ne!(d.shared_secret, e.shared_secret);
            assert!(!d.verified_ciphertext_crc32c);
            // Wrong length, bad CRC, too long.
            let err = decapsulate(alg, &k, &DecapsulateRequest { ciphertext: e.ciphertext[1..].to_vec(), ..Default::default() }).unwrap_err();
            assert_eq!(err.code, code::INVALID_ARGUMENT);
            assert_eq!(err.message, format!("ciphertext is {} bytes; {} ciphertexts are {ct_len} bytes", ct_len - 1, alg.as_str_name()));
            let err =
                decapsulate(alg, &k, &DecapsulateRequest { ciphertext: e.ciphertext.clone(), ciphertext_crc32c: Some(0), ..Default::default() })
                    .unwrap_err();
            assert_eq!(err.message, "ciphertext_crc32c does not match ciphertext: the request was corrupted in transit");
            let err = decapsulate(alg, &k, &DecapsulateRequest { ciphertext: vec![0; 65537], ..Default::default() }).unwrap_err();
            assert_eq!(err.message, "ciphertext is 65537 bytes; the limit is 65536");
        }
    }

    #[test]
    fn public_half_encapsulates() {
        let alg = Algorithm::MlKem768;
        let (k, _) = key(alg);
        let LoadedKey::MlKem(sk) = &*k else { panic!("not ML-KEM") };
        let public = LoadedKey::MlKemPublic { param: sk.param(), key: sk.public_key().unwrap() };
        let e = encapsulate(alg, &public, 1).unwrap();
        let d = decapsulate(alg, &k, &DecapsulateRequest { ciphertext: e.ciphertext, ..Default::default() }).unwrap();
        assert_eq!(d.shared_secret, e.shared_secret);
    }

    #[test]
    fn wrong_purpose_and_mismatch() {
        for alg in [Algorithm::Aes256Gcm, Algorithm::MlDsa65, Algorithm::RsaDecryptOaep2048Sha256] {
            let (k, _) = key(alg);
            let e = encapsulate(alg, &k, 1).unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.ends_with("Encapsulate needs a KEY_ENCAPSULATION key"), "{}", e.message);
            let e = decapsulate(alg, &k, &DecapsulateRequest::default()).unwrap_err();
            assert!(e.message.ends_with("Decapsulate needs a KEY_ENCAPSULATION key"), "{}", e.message);
        }
        let (k, _) = key(Algorithm::MlKem512);
        assert_eq!(encapsulate(Algorithm::MlKem768, &k, 1).unwrap_err().code, code::INTERNAL);
    }
}
