//! Public keys as X.509 SubjectPublicKeyInfo (RFC 5280 4.1.2.7) DER and PEM:
//! EC and SM2 as id-ecPublicKey with the named curve (SM2: OID
//! 1.2.156.10197.1.301, as OpenSSL 3 reads and writes it), RSA as
//! rsaEncryption with NULL parameters, ML-DSA (FIPS 204) and ML-KEM (FIPS 203)
//! with their NIST OIDs, no parameters, and the raw public key as the BIT STRING.

use super::super::error::{ApiError, ApiResult};
use super::material::{ec_curve, mldsa_param, mlkem_param, rsa_bits};
use super::{mismatch, purpose};
use crate::keys::{LoadedKey, SM2_EC_PARAMS};
use std::borrow::Cow;
use teehsm_crypto::der::{sequence, tlv};
use teehsm_crypto::mldsa::MlDsaParam;
use teehsm_crypto::mlkem::MlKemParam;
use teehsm_crypto::rsa::RsaPublicKey;
use teehsm_wire::proto::crc32c;
use teehsm_wire::proto::v1::{Algorithm, KeyPurpose, PublicKey};

/// OID 1.2.840.10045.2.1 (id-ecPublicKey).
const ID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }.
const RSA_ALG_ID: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
/// OID arc 2.16.840.1.101.3.4 (NIST algorithms); sigAlgs .3, kems .4.
const NIST_ARC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04];

/// SEQUENCE { algorithm, BIT STRING (no unused bits) key }.
fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    sequence(&[algorithm, &tlv(0x03, &[&[0], key].concat())])
}

/// AlgorithmIdentifier { id-ecPublicKey, namedCurve }.
fn ec_alg_id(curve_oid: &[u8]) -> Vec<u8> {
    sequence(&[ID_EC_PUBLIC_KEY, curve_oid])
}

/// AlgorithmIdentifier { 2.16.840.1.101.3.4.<group>.<id> } with absent parameters.
fn nist_alg_id(group: u8, id: u8) -> Vec<u8> {
    sequence(&[&tlv(0x06, &[NIST_ARC, &[group, id]].concat())])
}

fn mldsa_id(p: MlDsaParam) -> u8 {
    match p {
        MlDsaParam::MlDsa44 => 17,
        MlDsaParam::MlDsa65 => 18,
        MlDsaParam::MlDsa87 => 19,
    }
}

fn mlkem_id(p: MlKemParam) -> u8 {
    match p {
        MlKemParam::MlKem512 => 1,
        MlKemParam::MlKem768 => 2,
        MlKemParam::MlKem1024 => 3,
    }
}

/// The SubjectPublicKeyInfo DER of `key`, a key of `alg`.
pub(super) fn spki_der(alg: Algorithm, key: &LoadedKey, name: &str) -> ApiResult<Vec<u8>> {
    if matches!(purpose(alg), KeyPurpose::EncryptDecrypt | KeyPurpose::Mac) {
        return Err(ApiError::failed_precondition(format!("key {name} is symmetric; it has no public key")));
    }
    let bad = || mismatch(alg);
    Ok(match key {
        LoadedKey::Ec(k) if ec_curve(alg) == Some(k.curve()) => spki(&ec_alg_id(k.curve().ec_params_der()), &k.public_point()),
        LoadedKey::EcPublic { curve, point } if ec_curve(alg) == Some(*curve) => spki(&ec_alg_id(curve.ec_params_der()), point),
        LoadedKey::Sm2(k) if matches!(alg, Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt) => spki(&ec_alg_id(SM2_EC_PARAMS), &k.public_point()),
        LoadedKey::Sm2Public { point } if matches!(alg, Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt) => spki(&ec_alg_id(SM2_EC_PARAMS), point),
        LoadedKey::Rsa(k) if rsa_bits(alg) == Some(k.bits()) => spki(RSA_ALG_ID, &k.public_key().to_pkcs1_der()),
        LoadedKey::RsaPublic(k) if rsa_bits(alg) == Some(k.bits()) => spki(RSA_ALG_ID, &k.to_pkcs1_der()),
        LoadedKey::MlDsa(k) if mldsa_param(alg) == Some(k.param()) => spki(&nist_alg_id(3, mldsa_id(k.param())), &k.public_key()),
        LoadedKey::MlDsaPublic { param, key } if mldsa_param(alg) == Some(*param) => spki(&nist_alg_id(3, mldsa_id(*param)), key),
        LoadedKey::MlKem(k) if mlkem_param(alg) == Some(k.param()) => {
            let pk = k.public_key().map_err(|e| ApiError::internal(format!("ML-KEM public key: {e}")))?;
            spki(&nist_alg_id(4, mlkem_id(k.param())), &pk)
        }
        LoadedKey::MlKemPublic { param, key } if mlkem_param(alg) == Some(*param) => spki(&nist_alg_id(4, mlkem_id(*param)), key),
        _ => return Err(bad()),
    })
}

/// The RSA public key of an RSA key of `alg` (private or public).
pub(super) fn rsa_public<'a>(alg: Algorithm, key: &'a LoadedKey) -> ApiResult<Cow<'a, RsaPublicKey>> {
    match key {
        LoadedKey::Rsa(k) if rsa_bits(alg) == Some(k.bits()) => Ok(Cow::Owned(k.public_key())),
        LoadedKey::RsaPublic(k) if rsa_bits(alg) == Some(k.bits()) => Ok(Cow::Borrowed(k)),
        _ => Err(mismatch(alg)),
    }
}

/// The uncompressed public point of an SM2 key (private or public).
pub(super) fn sm2_point(alg: Algorithm, key: &LoadedKey) -> ApiResult<Cow<'_, [u8]>> {
    match key {
        LoadedKey::Sm2(k) => Ok(Cow::Owned(k.public_point())),
        LoadedKey::Sm2Public { point } => Ok(Cow::Borrowed(point)),
        _ => Err(mismatch(alg)),
    }
}

/// Standard base64 (RFC 4648 section 4) with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 7468 "PUBLIC KEY" PEM: base64 in 64-column lines, LF line ends.
pub(super) fn pem(der: &[u8]) -> String {
    let b64 = base64(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    out.push_str("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// GetPublicKey: the SubjectPublicKeyInfo of an asymmetric key version, as
/// DER and PEM (with the PEM's CRC32C).
pub fn get_public_key(alg: Algorithm, key: &LoadedKey, name: &str, version: u32) -> ApiResult<PublicKey> {
    let der = spki_der(alg, key, name)?;
    let pem = pem(&der);
    Ok(PublicKey { name: name.to_string(), version, algorithm: alg as i32, pem_crc32c: crc32c(pem.as_bytes()), der, pem })
}

#[cfg(test)]
mod tests {
    use super::super::testkeys::{key, ALL};
    use super::*;
    use crate::handler::api::code;

    #[test]
    fn base64_vectors() {
        // RFC 4648 section 10.
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn pem_lines() {
        let p = pem(&[0u8; 100]);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 136 - 128);
        assert_eq!(lines[4], "-----END PUBLIC KEY-----");
        assert!(p.ends_with("-----\n"));
    }

    #[test]
    fn public_keys_of_every_algorithm() {
        for &alg in ALL {
            let (k, _) = key(alg);
            let r = get_public_key(alg, &k, "a/key", 3);
            match purpose(alg) {
                KeyPurpose::EncryptDecrypt | KeyPurpose::Mac => {
                    let e = r.unwrap_err();
                    assert_eq!(e.code, code::FAILED_PRECONDITION);
                    assert_eq!(e.message, "key a/key is symmetric; it has no public key");
                }
                _ => {
                    let p = r.unwrap();
                    assert_eq!((p.name.as_str(), p.version, p.algorithm), ("a/key", 3, alg as i32));
                    assert_eq!(p.pem_crc32c, crc32c(p.pem.as_bytes()));
                    assert_eq!(p.der[0], 0x30);
                    let expect_oid: &[u8] = match alg {
                        Algorithm::MlDsa44 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11],
                        Algorithm::MlDsa65 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12],
                        Algorithm::MlDsa87 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13],
                        Algorithm::MlKem512 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x01],
                        Algorithm::MlKem768 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02],
                        Algorithm::MlKem1024 => &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x03],
                        Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt => &SM2_EC_PARAMS[2..],
                        Algorithm::EcSignP256Sha256 | Algorithm::EcSignP384Sha384 => &ID_EC_PUBLIC_KEY[2..],
                        _ => &RSA_ALG_ID[4..13],
                    };
                    assert!(p.der.windows(expect_oid.len()).any(|w| w == expect_oid), "{alg:?}: OID missing");
                }
            }
        }
    }

    #[test]
    fn mldsa_spki_layout() {
        // FIPS 204 / RFC 9881: SEQUENCE { SEQUENCE { OID }, BIT STRING { 00 || pk } } with no parameters.
        let (k, _) = key(Algorithm::MlDsa44);
        let der = spki_der(Algorithm::MlDsa44, &k, "k").unwrap();
        let LoadedKey::MlDsa(sk) = &*k else { panic!("not ML-DSA") };
        let pk = sk.public_key();
        assert_eq!(pk.len(), 1312);
        let head =
            [0x30, 0x82, 0x05, 0x32, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11, 0x03, 0x82, 0x05, 0x21, 0x00];
        assert_eq!(&der[..head.len()], &head);
        assert_eq!(&der[head.len()..], pk.as_slice());
    }

    #[test]
    fn mismatched_key_is_internal() {
        let (k, _) = key(Algorithm::EcSignP256Sha256);
        assert_eq!(spki_der(Algorithm::EcSignP384Sha384, &k, "k").unwrap_err().code, code::INTERNAL);
        assert_eq!(spki_der(Algorithm::MlKem512, &k, "k").unwrap_err().code, code::INTERNAL);
    }
}
