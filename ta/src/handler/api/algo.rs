//! Per-algorithm cryptography of the gRPC API (teehsm.v1 `Algorithm`): key
//! generation and import, SubjectPublicKeyInfo/PEM, and Sign, Verify,
//! Encrypt, Decrypt, MacSign, MacVerify, Encapsulate and Decapsulate over an
//! already parsed [`LoadedKey`]. Everything here is stateless: the caller
//! (`call`) has authenticated the client, checked its ACL, resolved the key
//! version and loaded it; this module checks the request's shape (field
//! sizes, CRC32C, one-of rules) and runs the primitive from `teehsm-crypto`.
//!
//! Layout: `input` (64 KiB limits and CRC32C checks), `material` (generate,
//! import, Cloud KMS style wrapped import), `spki` (public keys as DER/PEM),
//! `sign` (Sign/Verify), `cipher` (Encrypt/Decrypt, AEAD ciphertext
//! format), `hmac` (MacSign/MacVerify), `kem` (Encapsulate/Decapsulate).

mod cipher;
mod hmac;
mod input;
mod kem;
mod material;
mod sign;
mod spki;

#[cfg(test)]
mod interop;
#[cfg(test)]
mod testkeys;

pub use cipher::{aead_ciphertext_version, decrypt, encrypt};
pub use hmac::{mac_sign, mac_verify};
pub use kem::{decapsulate, encapsulate};
pub use material::{generate, import, unwrap_import, Material};
pub use sign::{sign, verify};
pub use spki::get_public_key;

use super::error::{ApiError, ApiResult};
use teehsm_wire::proto::v1::{Algorithm, KeyPurpose};

/// What a key of `alg` is for; `UNSPECIFIED` for an unknown algorithm.
pub fn purpose(alg: Algorithm) -> KeyPurpose {
    use Algorithm as A;
    match alg {
        A::EcSignP256Sha256
        | A::EcSignP384Sha384
        | A::Sm2SignSm3
        | A::RsaSignPss2048Sha256
        | A::RsaSignPss3072Sha256
        | A::RsaSignPkcs12048Sha256
        | A::RsaSignPkcs13072Sha256
        | A::MlDsa44
        | A::MlDsa65
        | A::MlDsa87 => KeyPurpose::AsymmetricSign,
        A::RsaDecryptOaep2048Sha256 | A::RsaDecryptOaep3072Sha256 | A::Sm2Encrypt => KeyPurpose::AsymmetricDecrypt,
        A::Aes128Gcm | A::Aes256Gcm | A::Sm4Gcm => KeyPurpose::EncryptDecrypt,
        A::HmacSha256 | A::HmacSm3 => KeyPurpose::Mac,
        A::MlKem512 | A::MlKem768 | A::MlKem1024 => KeyPurpose::KeyEncapsulation,
        A::Unspecified => KeyPurpose::Unspecified,
    }
}

/// "a" or "an" before a purpose's name.
fn article(p: KeyPurpose) -> &'static str {
    if p.as_str_name().starts_with(['A', 'E']) {
        "an"
    } else {
        "a"
    }
}

/// FAILED_PRECONDITION unless `alg`'s purpose is one of `allowed` (the first
/// is the one the message names first).
fn require(alg: Algorithm, method: &str, allowed: &[KeyPurpose]) -> ApiResult<()> {
    let p = purpose(alg);
    if allowed.contains(&p) {
        return Ok(());
    }
    let wanted = allowed.iter().map(|a| a.as_str_name()).collect::<Vec<_>>().join(" or ");
    let first = allowed.first().copied().unwrap_or(KeyPurpose::Unspecified);
    Err(ApiError::failed_precondition(format!(
        "key uses {} ({}); {method} needs {} {wanted} key",
        alg.as_str_name(),
        p.as_str_name(),
        article(first)
    )))
}

/// The loaded key does not have the type its algorithm says: the key record
/// is inconsistent, which no request can cause.
fn mismatch(alg: Algorithm) -> ApiError {
    ApiError::internal(format!("the key material does not match its algorithm {}", alg.as_str_name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::api::code;

    #[test]
    fn purposes() {
        assert_eq!(purpose(Algorithm::EcSignP256Sha256), KeyPurpose::AsymmetricSign);
        assert_eq!(purpose(Algorithm::MlDsa87), KeyPurpose::AsymmetricSign);
        assert_eq!(purpose(Algorithm::Sm2Encrypt), KeyPurpose::AsymmetricDecrypt);
        assert_eq!(purpose(Algorithm::Sm4Gcm), KeyPurpose::EncryptDecrypt);
        assert_eq!(purpose(Algorithm::HmacSm3), KeyPurpose::Mac);
        assert_eq!(purpose(Algorithm::MlKem1024), KeyPurpose::KeyEncapsulation);
        assert_eq!(purpose(Algorithm::Unspecified), KeyPurpose::Unspecified);
    }

    #[test]
    fn wrong_purpose_message() {
        let e = require(Algorithm::Aes256Gcm, "Sign", &[KeyPurpose::AsymmetricSign]).unwrap_err();
        assert_eq!(e.code, code::FAILED_PRECONDITION);
        assert_eq!(e.message, "key uses AES_256_GCM (ENCRYPT_DECRYPT); Sign needs an ASYMMETRIC_SIGN key");
        let e = require(Algorithm::HmacSha256, "Encrypt", &[KeyPurpose::EncryptDecrypt, KeyPurpose::AsymmetricDecrypt]).unwrap_err();
        assert_eq!(e.message, "key uses HMAC_SHA256 (MAC); Encrypt needs an ENCRYPT_DECRYPT or ASYMMETRIC_DECRYPT key");
        let e = require(Algorithm::EcSignP256Sha256, "MacSign", &[KeyPurpose::Mac]).unwrap_err();
        assert_eq!(e.message, "key uses EC_SIGN_P256_SHA256 (ASYMMETRIC_SIGN); MacSign needs a MAC key");
        assert!(require(Algorithm::Sm2Encrypt, "Decrypt", &[KeyPurpose::EncryptDecrypt, KeyPurpose::AsymmetricDecrypt]).is_ok());
    }
}
