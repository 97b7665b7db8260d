//! Encrypt and Decrypt.
//!
//! ENCRYPT_DECRYPT keys (AES_128_GCM, AES_256_GCM, SM4_GCM) are AEAD; a
//! ciphertext is `version (u32 big-endian) || nonce (12 random bytes) ||
//! GCM ciphertext || tag (16 bytes)`, and `additional_authenticated_data` is
//! GCM's AAD, so Decrypt needs the same AAD.
//!
//! ASYMMETRIC_DECRYPT keys encrypt with the public key and decrypt in the TA;
//! they take no AAD:
//! - RSA_DECRYPT_OAEP_*_SHA256: RSAES-OAEP with SHA-256, MGF1-SHA-256 and the
//!   empty label; a ciphertext is exactly the modulus size.
//! - SM2_ENCRYPT: SM2 public-key encryption (GB/T 32918.4) with SM3, the
//!   TA's CKM_SM2_ENCRYPT. Encrypt returns the GM/T 0009 DER `SM2Cipher`
//!   `SEQUENCE { x, y, C3 (hash), C2 (ciphertext) }` — the C1C3C2 order in
//!   ASN.1, which is what OpenSSL 3 writes and reads (`openssl pkeyutl
//!   -encrypt`). Decrypt takes that DER or the raw `C1 || C3 || C2` bytes
//!   (C1 uncompressed, starting 04) that PKCS#11's CKM_SM2_ENCRYPT uses.

use super::super::error::{ApiError, ApiResult};
use super::material::{rsa_bits, secret_bytes};
use super::spki::{rsa_public, sm2_point};
use super::{input, mismatch, require};
use crate::keys::LoadedKey;
use teehsm_crypto::digest::HashAlg;
use teehsm_crypto::sym::{self, Cipher};
use teehsm_crypto::{rng, sm2, CryptoError};
use teehsm_wire::proto::crc32c;
use teehsm_wire::proto::v1::{Algorithm, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, KeyPurpose};

const VERSION_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The shortest AEAD ciphertext: version, nonce and tag around an empty message.
const MIN_AEAD_LEN: usize = VERSION_LEN + NONCE_LEN + TAG_LEN;
/// Largest SM2 ciphertext overhead: DER SM2Cipher with C1's coordinates
/// (2 x 35), C3 (34), C2's header (4) and the SEQUENCE header (4), rounded up.
const SM2_OVERHEAD: usize = 128;
/// OAEP with SHA-256 takes 2 * 32 + 2 bytes of the modulus (RFC 8017 7.1.1).
const OAEP_SHA256_OVERHEAD: usize = 66;

const PURPOSES: &[KeyPurpose] = &[KeyPurpose::EncryptDecrypt, KeyPurpose::AsymmetricDecrypt];

fn aead_cipher(alg: Algorithm) -> Option<Cipher> {
    match alg {
        Algorithm::Aes128Gcm | Algorithm::Aes256Gcm => Some(Cipher::Aes),
        Algorithm::Sm4Gcm => Some(Cipher::Sm4),
        _ => None,
    }
}

fn no_aad(alg: Algorithm, aad: &[u8]) -> ApiResult<()> {
    if aad.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{} keys take no additional_authenticated_data (only AEAD keys do); leave it empty", alg.as_str_name())))
    }
}

/// The key version an AEAD ciphertext names (its first 4 bytes); None for
/// asymmetric keys, whose ciphertexts do not carry it (the request's version
/// applies). INVALID_ARGUMENT for an AEAD ciphertext too short to be one.
pub fn aead_ciphertext_version(alg: Algorithm, ciphertext: &[u8]) -> ApiResult<Option<u32>> {
    if aead_cipher(alg).is_none() {
        return Ok(None);
    }
    match ciphertext.get(..VERSION_LEN).and_then(|v| <[u8; 4]>::try_from(v).ok()) {
        Some(v) if ciphertext.len() >= MIN_AEAD_LEN => Ok(Some(u32::from_be_bytes(v))),
        _ => Err(ApiError::invalid(format!(
            "ciphertext is {} bytes; an {} ciphertext is at least {MIN_AEAD_LEN} bytes (4-byte key version, 12-byte nonce, 16-byte tag)",
            ciphertext.len(),
            alg.as_str_name()
        ))),
    }
}

/// Encrypt: AEAD under key `name`'s version `version` (the primary, for AEAD
/// keys), or public-key encryption to that version.
pub fn encrypt(alg: Algorithm, key: &LoadedKey, name: &str, version: u32, req: &EncryptRequest) -> ApiResult<EncryptResponse> {
    require(alg, "Encrypt", PURPOSES)?;
    let verified_plaintext_crc32c = input::field("plaintext", &req.plaintext, req.plaintext_crc32c)?;
    let verified_additional_authenticated_data_crc32c =
        input::field("additional_authenticated_data", &req.additional_authenticated_data, req.additional_authenticated_data_crc32c)?;
    let pt = &req.plaintext;
    let ciphertext = if let Some(cipher) = aead_cipher(alg) {
        let k = secret_bytes(alg, key)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng::fill(&mut nonce).map_err(|e| ApiError::internal(format!("nonce generation failed: {e}")))?;
        let sealed = sym::gcm_encrypt(cipher, k, &nonce, &req.additional_authenticated_data, pt, TAG_LEN)
            .map_err(|e| ApiError::internal(format!("GCM encryption failed: {e}")))?;
        let mut out = Vec::with_capacity(VERSION_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    } else if let Some(bits) = rsa_bits(alg) {
        no_aad(alg, &req.additional_authenticated_data)?;
        let max = bits / 8 - OAEP_SHA256_OVERHEAD;
        if pt.len() > max {
            return Err(ApiError::invalid(format!("plaintext is {} bytes; {} encrypts at most {max} bytes", pt.len(), alg.as_str_name())));
        }
        rsa_public(alg, key)?.encrypt_oaep(HashAlg::Sha256, &[], pt).map_err(|e| ApiError::internal(format!("RSA-OAEP encryption failed: {e}")))?
    } else if alg == Algorithm::Sm2Encrypt {
        no_aad(alg, &req.additional_authenticated_data)?;
        if pt.is_empty() {
            return Err(ApiError::invalid("plaintext is empty; SM2 encrypts 1 to 65536 bytes"));
        }
        let raw = sm2::encrypt(&sm2_point(alg, key)?, pt).map_err(|e| ApiError::internal(format!("SM2 encryption failed: {e}")))?;
        sm2::ciphertext_to_der(&raw).map_err(|e| ApiError::internal(format!("SM2 ciphertext encoding failed: {e}")))?
    } else {
        return Err(mismatch(alg));
    };
    Ok(EncryptResponse {
        ciphertext_crc32c: crc32c(&ciphertext),
        ciphertext,
        verified_plaintext_crc32c,
        verified_additional_authenticated_data_crc32c,
        name: name.to_string(),
        version,
    })
}

/// Decrypt with key `req.name` version `version` (for AEAD keys, the version
/// the ciphertext names, which the caller resolved with [`aead_ciphertext_version`]).
pub fn decrypt(alg: Algorithm, key: &LoadedKey, version: u32, req: &DecryptRequest) -> ApiResult<DecryptResponse> {
    require(alg, "Decrypt", PURPOSES)?;
    let max = input::MAX_FIELD + if aead_cipher(alg).is_some() { MIN_AEAD_LEN } else { SM2_OVERHEAD };
    let verified_ciphertext_crc32c = input::field_to("ciphertext", &req.ciphertext, req.ciphertext_crc32c, max)?;
    let verified_additional_authenticated_data_crc32c =
        input::field("additional_authenticated_data", &req.additional_authenticated_data, req.additional_authenticated_data_crc32c)?;
    let ct = &req.ciphertext;
    let (name, alg_name) = (&req.name, alg.as_str_name());
    let mut plaintext = if let Some(cipher) = aead_cipher(alg) {
        let named = aead_ciphertext_version(alg, ct)?;
        if named != Some(version) {
            return Err(ApiError::invalid(format!("ciphertext names version {} of its key, not version {version}", named.unwrap_or_default())));
        }
        let k = secret_bytes(alg, key)?;
        let (nonce, sealed) = ct[VERSION_LEN..].split_at(NONCE_LEN);
        sym::gcm_decrypt(cipher, k, nonce, &req.additional_authenticated_data, sealed, TAG_LEN).map_err(|e| match e {
            CryptoError::EncryptedDataInvalid => {
                ApiError::invalid(format!("ciphertext does not authenticate with key {name} version {version} (wrong key, AAD or corrupted data)"))
            }
            e => ApiError::internal(format!("GCM decryption failed: {e}")),
        })?
    } else if let Some(bits) = rsa_bits(alg) {
        no_aad(alg, &req.additional_authenticated_data)?;
        let LoadedKey::Rsa(k) = key else { return Err(mismatch(alg)) };
        if k.bits() != bits {
            return Err(mismatch(alg));
        }
        if ct.len() != bits / 8 {
            return Err(ApiError::invalid(format!("ciphertext is {} bytes; {alg_name} ciphertexts are {} bytes", ct.len(), bits / 8)));
        }
        k.decrypt_oaep_mgf1(HashAlg::Sha256, HashAlg::Sha256, &[], ct).map_err(|_| {
            ApiError::invalid(format!(
                "ciphertext does not decrypt with key {name} version {version} (wrong key or version, not RSA-OAEP SHA-256 with MGF1-SHA-256 and an empty label, or corrupted data)"
            ))
        })?
    } else if alg == Algorithm::Sm2Encrypt {
        no_aad(alg, &req.additional_authenticated_data)?;
        let LoadedKey::Sm2(k) = key else { return Err(mismatch(alg)) };
        let not_sm2 = || ApiError::invalid("ciphertext is not an SM2 ciphertext (GM/T 0009 DER SM2Cipher, or C1 || C3 || C2 with C1 uncompressed)");
        let raw;
        let c1c3c2: &[u8] = match ct.first() {
            Some(0x30) => {
                raw = sm2::ciphertext_from_der(ct).map_err(|_| not_sm2())?;
                &raw
            }
            Some(0x04) => ct,
            _ => return Err(not_sm2()),
        };
        k.decrypt(c1c3c2).map_err(|_| {
            ApiError::invalid(format!("ciphertext does not decrypt with key {name} version {version} (wrong key or version, or corrupted data)"))
        })?
    } else {
        return Err(mismatch(alg));
    };
    // Moves the plaintext into the response (leaving an empty buffer to zeroize).
    let plaintext = std::mem::take(&mut *plaintext);
    Ok(DecryptResponse {
        plaintext_crc32c: crc32c(&plaintext),
        plaintext,
        verified_ciphertext_crc32c,
        verified_additional_authenticated_data_crc32c,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkeys::key;
    use super::*;
    use crate::handler::api::code;

    fn enc(pt: &[u8], aad: &[u8]) -> EncryptRequest {
        EncryptRequest { name: "k".into(), plaintext: pt.to_vec(), additional_authenticated_data: aad.to_vec(), ..Default::default() }
    }

    fn dec(ct: &[u8], aad: &[u8]) -> DecryptRequest {
        DecryptRequest { name: "k".into(), ciphertext: ct.to_vec(), additional_authenticated_data: aad.to_vec(), ..Default::default() }
    }

    const AEAD: &[Algorithm] = &[Algorithm::Aes128Gcm, Algorithm::Aes256Gcm, Algorithm::Sm4Gcm];
    const ASYM: &[Algorithm] = &[Algorithm::RsaDecryptOaep2048Sha256, Algorithm::RsaDecryptOaep3072Sha256, Algorithm::Sm2Encrypt];

    #[test]
    fn aead_round_trip_and_format() {
        for &alg in AEAD {
            let (k, _) = key(alg);
            for (pt, aad) in [(&b""[..], &b""[..]), (b"hello", b""), (b"hello", b"context"), (&[7u8; 65536][..], &[1u8; 65536][..])] {
                let r = encrypt(alg, &k, "k", 5, &enc(pt, aad)).unwrap();
                assert_eq!(r.ciphertext.len(), 4 + 12 + pt.len() + 16);
                assert_eq!(&r.ciphertext[..4], &[0, 0, 0, 5]);
                assert_eq!((r.name.as_str(), r.version, r.ciphertext_crc32c), ("k", 5, crc32c(&r.ciphertext)));
                assert_eq!(aead_ciphertext_version(alg, &r.ciphertext).unwrap(), Some(5));
                let d = decrypt(alg, &k, 5, &dec(&r.ciphertext, aad)).unwrap();
                assert_eq!((d.plaintext.as_slice(), d.version, d.plaintext_crc32c), (pt, 5, crc32c(pt)));
            }
            // Random nonces: two encryptions differ.
            let a = encrypt(alg, &k, "k", 1, &enc(b"x", b"")).unwrap().ciphertext;
            let b = encrypt(alg, &k, "k", 1, &enc(b"x", b"")).unwrap().ciphertext;
            assert_ne!(a[4..16], b[4..16]);
        }
    }

    #[test]
    fn aead_tamper_and_errors() {
        let msg = "ciphertext does not authenticate with key k version 1 (wrong key, AAD or corrupted data)";
        for &alg in AEAD {
            let (k, _) = key(alg);
            let ct = encrypt(alg, &k, "k", 1, &enc(b"secret data", b"aad")).unwrap().ciphertext;
            for i in [4, 16, ct.len() - 1] {
                let mut bad = ct.clone();
                bad[i] ^= 1;
                let e = decrypt(alg, &k, 1, &dec(&bad, b"aad")).unwrap_err();
                assert_eq!((e.code, e.message.as_str()), (code::INVALID_ARGUMENT, msg), "{alg:?} byte {i}");
            }
            assert_eq!(decrypt(alg, &k, 1, &dec(&ct, b"other")).unwrap_err().message, msg);
            assert_eq!(decrypt(alg, &k, 1, &dec(&ct, b"")).unwrap_err().message, msg);
            // Another key of the same algorithm.
            let other = super::super::testkeys::load(&super::super::material::generate(alg).unwrap());
            assert_eq!(decrypt(alg, &other, 1, &dec(&ct, b"aad")).unwrap_err().message, msg);
            // The version in the ciphertext must be the one resolved.
            let e = decrypt(alg, &k, 2, &dec(&ct, b"aad")).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (code::INVALID_ARGUMENT, "ciphertext names version 1 of its key, not version 2"));
            // Too short.
            let e = aead_ciphertext_version(alg, &ct[..31]).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            assert!(e.message.starts_with("ciphertext is 31 bytes; an "), "{}", e.message);
            assert_eq!(decrypt(alg, &k, 1, &dec(&[0, 0, 0, 1], b"")).unwrap_err().code, code::INVALID_ARGUMENT);
            assert_eq!(aead_ciphertext_version(alg, &[]).unwrap_err().code, code::INVALID_ARGUMENT);
            // Limits.
            assert_eq!(encrypt(alg, &k, "k", 1, &enc(&vec![0; 65537], b"")).unwrap_err().message, "plaintext is 65537 bytes; the limit is 65536");
            assert_eq!(
                encrypt(alg, &k, "k", 1, &enc(b"", &vec![0; 65537])).unwrap_err().message,
                "additional_authenticated_data is 65537 bytes; the limit is 65536"
            );
            assert_eq!(decrypt(alg, &k, 1, &dec(&vec![0; 65569], b"")).unwrap_err().message, "ciphertext is 65569 bytes; the limit is 65568");
        }
        for &alg in ASYM {
            assert_eq!(aead_ciphertext_version(alg, b"").unwrap(), None);
        }
    }

    #[test]
    fn asymmetric_round_trips() {
        for &alg in ASYM {
            let (k, _) = key(alg);
            for pt in [&b"k"[..], &[0x33u8; 190][..]] {
                let r = encrypt(alg, &k, "k", 3, &enc(pt, b"")).unwrap();
                assert_eq!((r.version, r.ciphertext_crc32c), (3, crc32c(&r.ciphertext)));
                let d = decrypt(alg, &k, 3, &dec(&r.ciphertext, b"")).unwrap();
                assert_eq!(d.plaintext, pt);
                let mut bad = r.ciphertext.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                let e = decrypt(alg, &k, 3, &dec(&bad, b"")).unwrap_err();
                assert_eq!(e.code, code::INVALID_ARGUMENT);
                assert!(e.message.starts_with("ciphertext does not decrypt with key k version 3"), "{}", e.message);
            }
            let e = encrypt(alg, &k, "k", 1, &enc(b"x", b"aad")).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            assert!(e.message.contains("take no additional_authenticated_data"));
            assert_eq!(decrypt(alg, &k, 1, &dec(b"x", b"aad")).unwrap_err().code, code::INVALID_ARGUMENT);
        }
    }

    #[test]
    fn rsa_limits() {
        for (alg, max, len) in [(Algorithm::RsaDecryptOaep2048Sha256, 190, 256), (Algorithm::RsaDecryptOaep3072Sha256, 318, 384)] {
            let (k, _) = key(alg);
            let ct = encrypt(alg, &k, "k", 1, &enc(&vec![1u8; max], b"")).unwrap().ciphertext;
            assert_eq!(ct.len(), len);
            let e = encrypt(alg, &k, "k", 1, &enc(&vec![1u8; max + 1], b"")).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            assert_eq!(e.message, format!("plaintext is {} bytes; {} encrypts at most {max} bytes", max + 1, alg.as_str_name()));
            let e = decrypt(alg, &k, 1, &dec(&ct[1..], b"")).unwrap_err();
            assert_eq!(e.message, format!("ciphertext is {} bytes; {} ciphertexts are {len} bytes", len - 1, alg.as_str_name()));
            // The empty message is a valid OAEP plaintext.
            let ct = encrypt(alg, &k, "k", 1, &enc(b"", b"")).unwrap().ciphertext;
            assert!(decrypt(alg, &k, 1, &dec(&ct, b"")).unwrap().plaintext.is_empty());
        }
    }

    #[test]
    fn sm2_formats() {
        let alg = Algorithm::Sm2Encrypt;
        let (k, _) = key(alg);
        let ct = encrypt(alg, &k, "k", 1, &enc(b"message", b"")).unwrap().ciphertext;
        assert_eq!(ct[0], 0x30);
        // The raw C1 || C3 || C2 form decrypts too.
        let raw = sm2::ciphertext_from_der(&ct).unwrap();
        assert_eq!(decrypt(alg, &k, 1, &dec(&raw, b"")).unwrap().plaintext, b"message");
        let e = decrypt(alg, &k, 1, &dec(b"\x05garbage", b"")).unwrap_err();
        assert!(e.message.starts_with("ciphertext is not an SM2 ciphertext"), "{}", e.message);
        assert_eq!(decrypt(alg, &k, 1, &dec(&ct[..ct.len() - 1], b"")).unwrap_err().code, code::INVALID_ARGUMENT);
        assert_eq!(encrypt(alg, &k, "k", 1, &enc(b"", b"")).unwrap_err().message, "plaintext is empty; SM2 encrypts 1 to 65536 bytes");
        let big = encrypt(alg, &k, "k", 1, &enc(&[9u8; 65536], b"")).unwrap().ciphertext;
        assert!(big.len() <= 65536 + SM2_OVERHEAD);
        assert_eq!(decrypt(alg, &k, 1, &dec(&big, b"")).unwrap().plaintext.len(), 65536);
        assert_eq!(decrypt(alg, &k, 1, &dec(&vec![0x30; 65536 + 129], b"")).unwrap_err().message, "ciphertext is 65665 bytes; the limit is 65664");
    }

    #[test]
    fn crc_flags() {
        let alg = Algorithm::Aes256Gcm;
        let (k, _) = key(alg);
        let mut e = enc(b"pt", b"aad");
        e.plaintext_crc32c = Some(crc32c(b"pt"));
        let r = encrypt(alg, &k, "k", 1, &e).unwrap();
        assert!(r.verified_plaintext_crc32c && !r.verified_additional_authenticated_data_crc32c);
        e.additional_authenticated_data_crc32c = Some(crc32c(b"aad"));
        let r = encrypt(alg, &k, "k", 1, &e).unwrap();
        assert!(r.verified_plaintext_crc32c && r.verified_additional_authenticated_data_crc32c);
        e.additional_authenticated_data_crc32c = Some(0);
        assert_eq!(
            encrypt(alg, &k, "k", 1, &e).unwrap_err().message,
            "additional_authenticated_data_crc32c does not match additional_authenticated_data: the request was corrupted in transit"
        );
        let mut d = dec(&r.ciphertext, b"aad");
        d.ciphertext_crc32c = Some(crc32c(&r.ciphertext));
        d.additional_authenticated_data_crc32c = Some(crc32c(b"aad"));
        let out = decrypt(alg, &k, 1, &d).unwrap();
        assert!(out.verified_ciphertext_crc32c && out.verified_additional_authenticated_data_crc32c);
        d.ciphertext_crc32c = Some(crc32c(b"x"));
        let err = decrypt(alg, &k, 1, &d).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (code::INVALID_ARGUMENT, "ciphertext_crc32c does not match ciphertext: the request was corrupted in transit")
        );
        e.additional_authenticated_data_crc32c = None;
        e.plaintext_crc32c = Some(1);
        assert_eq!(
            encrypt(alg, &k, "k", 1, &e).unwrap_err().message,
            "plaintext_crc32c does not match plaintext: the request was corrupted in transit"
        );
    }

    #[test]
    fn wrong_purpose() {
        for alg in [Algorithm::EcSignP256Sha256, Algorithm::HmacSm3, Algorithm::MlKem512, Algorithm::MlDsa44] {
            let (k, _) = key(alg);
            let e = encrypt(alg, &k, "k", 1, &enc(b"x", b"")).unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.ends_with("Encrypt needs an ENCRYPT_DECRYPT or ASYMMETRIC_DECRYPT key"), "{}", e.message);
            let e = decrypt(alg, &k, 1, &dec(&[0u8; 40], b"")).unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.ends_with("Decrypt needs an ENCRYPT_DECRYPT or ASYMMETRIC_DECRYPT key"), "{}", e.message);
            assert_eq!(aead_ciphertext_version(alg, b"").unwrap(), None);
        }
    }
}
