//! Sign and Verify (ASYMMETRIC_SIGN keys).
//!
//! - EC_SIGN_P256_SHA256 / EC_SIGN_P384_SHA384: ECDSA; data is hashed with
//!   SHA-256 / SHA-384, a digest must be that hash.
//! - SM2_SIGN_SM3: SM2 (GB/T 32918.2); data is signed as e = SM3(Z || M) with Z
//!   from `sm2_user_id` (empty: "1234567812345678"); a digest is e itself, and
//!   then `sm2_user_id` must be empty.
//! - RSA_SIGN_PSS_*_SHA256: RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt.
//! - RSA_SIGN_PKCS1_*_SHA256: RSASSA-PKCS1-v1_5 over the SHA-256 DigestInfo.
//! - ML_DSA_*: pure ML-DSA (FIPS 204) with the empty context; data only.
//!
//! ECDSA and SM2 signatures are DER `SEQUENCE { r, s }` (default) or
//! `r || s` (format RAW); the other algorithms have one format.
//! Verify answers valid=false for any signature that does not verify,
//! including one of the wrong length or malformed DER; only requests of the
//! wrong shape are errors.

use super::super::error::{ApiError, ApiResult};
use super::material::{mldsa_param, rsa_bits};
use super::spki::{rsa_public, sm2_point};
use super::{input, mismatch, require};
use crate::keys::LoadedKey;
use std::borrow::Cow;
use teehsm_crypto::digest::{self, HashAlg};
use teehsm_crypto::ec::{self, Curve};
use teehsm_crypto::{mldsa, rsa, sm2, CryptoError};
use teehsm_wire::proto::crc32c;
use teehsm_wire::proto::v1::{Algorithm, KeyPurpose, SignRequest, SignResponse, SignatureFormat, VerifyRequest, VerifyResponse};

/// PSS salt length of the RSA_SIGN_PSS_*_SHA256 algorithms (the SHA-256 output size).
const PSS_SALT_LEN: usize = 32;
/// Longest SM2 user ID: its bit length ENTL is 16 bits (GB/T 32918.2 5.5), so 8191 bits.
const MAX_SM2_USER_ID: usize = 1023;

/// What is signed: the message, or the caller's digest of it.
#[derive(Clone, Copy)]
enum Msg<'a> {
    Data(&'a [u8]),
    Digest(&'a [u8]),
}

/// The kind of signature an algorithm makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Curve, HashAlg),
    Sm2,
    Pss,
    Pkcs1,
    MlDsa,
}

fn scheme(alg: Algorithm) -> Option<Scheme> {
    use Algorithm as A;
    Some(match alg {
        A::EcSignP256Sha256 => Scheme::Ecdsa(Curve::P256, HashAlg::Sha256),
        A::EcSignP384Sha384 => Scheme::Ecdsa(Curve::P384, HashAlg::Sha384),
        A::Sm2SignSm3 => Scheme::Sm2,
        A::RsaSignPss2048Sha256 | A::RsaSignPss3072Sha256 => Scheme::Pss,
        A::RsaSignPkcs12048Sha256 | A::RsaSignPkcs13072Sha256 => Scheme::Pkcs1,
        A::MlDsa44 | A::MlDsa65 | A::MlDsa87 => Scheme::MlDsa,
        _ => return None,
    })
}

/// The requested format, which only ECDSA and SM2 may set to RAW.
fn format_of(alg: Algorithm, s: Scheme, format: i32) -> ApiResult<SignatureFormat> {
    let f =
        SignatureFormat::try_from(format).map_err(|_| ApiError::invalid(format!("format {format} is not a SignatureFormat (0 = DER, 1 = RAW)")))?;
    if f == SignatureFormat::Raw && !matches!(s, Scheme::Ecdsa(..) | Scheme::Sm2) {
        return Err(ApiError::invalid(format!(
            "format RAW is for ECDSA and SM2 signatures; {} signatures have one format: leave format at DER (0)",
            alg.as_str_name()
        )));
    }
    Ok(f)
}

/// Checks the one-of data/digest rule, the digest's length and the SM2 user
/// ID; returns the input and the user ID to use.
fn message<'a>(alg: Algorithm, s: Scheme, data: &'a [u8], digest: &'a [u8], user_id: &'a [u8]) -> ApiResult<(Msg<'a>, &'a [u8])> {
    let name = alg.as_str_name();
    let msg = match (data.is_empty(), digest.is_empty()) {
        (false, false) => return Err(ApiError::invalid("send either data or digest, not both")),
        (true, true) => return Err(ApiError::invalid("send the message in data or its digest in digest; both are empty")),
        (false, true) => Msg::Data(data),
        (true, false) => Msg::Digest(digest),
    };
    if s != Scheme::Sm2 && !user_id.is_empty() {
        return Err(ApiError::invalid(format!("sm2_user_id is only for SM2_SIGN_SM3 keys; this key is {name}")));
    }
    if user_id.len() > MAX_SM2_USER_ID {
        return Err(ApiError::invalid(format!(
            "sm2_user_id is {} bytes; an SM2 user ID is at most {MAX_SM2_USER_ID} bytes (8191 bits)",
            user_id.len()
        )));
    }
    if let Msg::Digest(d) = msg {
        let (len, what) = match s {
            Scheme::Ecdsa(_, h) => (h.output_len(), h.name()),
            Scheme::Pss | Scheme::Pkcs1 => (32, "SHA-256"),
            Scheme::Sm2 => {
                if !user_id.is_empty() {
                    return Err(ApiError::invalid(
                        "sm2_user_id applies to data only: a digest is already e = SM3(Z || M); send data with the user ID, or the digest with no user ID",
                    ));
                }
                (32, "SM3 (e = SM3(Z || M))")
            }
            Scheme::MlDsa => return Err(ApiError::invalid("ML-DSA signs the message itself; send data")),
        };
        if d.len() != len {
            return Err(ApiError::invalid(format!("digest is {} bytes; {name} takes a {len}-byte {what} digest", d.len())));
        }
    }
    let uid = if user_id.is_empty() { sm2::DEFAULT_USER_ID } else { user_id };
    Ok((msg, uid))
}

fn sign_failed(e: CryptoError) -> ApiError {
    match e {
        CryptoError::InvalidInput(m) | CryptoError::DataLenRange(m) => ApiError::invalid(m),
        e => ApiError::internal(format!("signing failed: {e}")),
    }
}

/// The signature in the algorithm's native form (`r || s` for ECDSA and SM2).
fn sign_native(alg: Algorithm, s: Scheme, key: &LoadedKey, msg: Msg<'_>, uid: &[u8]) -> ApiResult<Vec<u8>> {
    let out = match (s, key, msg) {
        (Scheme::Ecdsa(c, h), LoadedKey::Ec(k), Msg::Data(d)) if k.curve() == c => k.sign(h, d),
        (Scheme::Ecdsa(c, _), LoadedKey::Ec(k), Msg::Digest(d)) if k.curve() == c => k.sign_prehashed(d),
        (Scheme::Sm2, LoadedKey::Sm2(k), Msg::Data(d)) => k.sign(uid, d),
        (Scheme::Sm2, LoadedKey::Sm2(k), Msg::Digest(e)) => k.sign_prehashed(e),
        (Scheme::Pss, LoadedKey::Rsa(k), m) if rsa_bits(alg) == Some(k.bits()) => {
            let owned;
            let h = match m {
                Msg::Data(d) => {
                    owned = digest::digest(HashAlg::Sha256, d);
                    &owned[..]
                }
                Msg::Digest(h) => h,
            };
            k.sign_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha256, h, PSS_SALT_LEN)
        }
        (Scheme::Pkcs1, LoadedKey::Rsa(k), Msg::Data(d)) if rsa_bits(alg) == Some(k.bits()) => k.sign_pkcs1v15(HashAlg::Sha256, d),
        (Scheme::Pkcs1, LoadedKey::Rsa(k), Msg::Digest(h)) if rsa_bits(alg) == Some(k.bits()) => {
            rsa::digest_info(HashAlg::Sha256, h).and_then(|di| k.sign_pkcs1v15_raw(&di))
        }
        (Scheme::MlDsa, LoadedKey::MlDsa(k), Msg::Data(d)) if mldsa_param(alg) == Some(k.param()) => k.sign(d),
        _ => return Err(mismatch(alg)),
    };
    out.map_err(sign_failed)
}

/// Sign: signs `data` (hashed in the TA) or `digest` with key `name` version `version`.
pub fn sign(alg: Algorithm, key: &LoadedKey, name: &str, version: u32, req: &SignRequest) -> ApiResult<SignResponse> {
    require(alg, "Sign", &[KeyPurpose::AsymmetricSign])?;
    let s = scheme(alg).ok_or_else(|| mismatch(alg))?;
    let verified_data_crc32c = input::field("data", &req.data, req.data_crc32c)?;
    let verified_digest_crc32c = input::field("digest", &req.digest, req.digest_crc32c)?;
    input::limit("sm2_user_id", &req.sm2_user_id)?;
    let format = format_of(alg, s, req.format)?;
    let (msg, uid) = message(alg, s, &req.data, &req.digest, &req.sm2_user_id)?;
    let native = sign_native(alg, s, key, msg, uid)?;
    let signature = match s {
        Scheme::Ecdsa(..) | Scheme::Sm2 if format == SignatureFormat::Der => ec::sig_rs_to_der(&native),
        _ => native,
    };
    Ok(SignResponse {
        signature_crc32c: crc32c(&signature),
        signature,
        verified_data_crc32c,
        verified_digest_crc32c,
        name: name.to_string(),
        version,
    })
}

/// Verifies in the algorithm's native form; Ok(false) for a signature that
/// does not verify or is malformed.
fn verify_native(alg: Algorithm, s: Scheme, key: &LoadedKey, msg: Msg<'_>, uid: &[u8], sig: &[u8]) -> ApiResult<bool> {
    let r = match s {
        Scheme::Ecdsa(c, h) => {
            let point: Cow<'_, [u8]> = match key {
                LoadedKey::Ec(k) if k.curve() == c => Cow::Owned(k.public_point()),
                LoadedKey::EcPublic { curve, point } if *curve == c => Cow::Borrowed(point),
                _ => return Err(mismatch(alg)),
            };
            match msg {
                Msg::Data(d) => ec::verify(c, &point, h, d, sig),
                Msg::Digest(d) => ec::verify_prehashed(c, &point, d, sig),
            }
        }
        Scheme::Sm2 => {
            let point = sm2_point(alg, key)?;
            match msg {
                Msg::Data(d) => sm2::verify(&point, uid, d, sig),
                Msg::Digest(e) => sm2::verify_prehashed(&point, e, sig),
            }
        }
        Scheme::Pss => {
            let k = rsa_public(alg, key)?;
            let owned;
            let h = match msg {
                Msg::Data(d) => {
                    owned = digest::digest(HashAlg::Sha256, d);
                    &owned[..]
                }
                Msg::Digest(h) => h,
            };
            k.verify_pss_mgf1_prehashed(HashAlg::Sha256, HashAlg::Sha256, h, sig, PSS_SALT_LEN)
        }
        Scheme::Pkcs1 => {
            let k = rsa_public(alg, key)?;
            match msg {
                Msg::Data(d) => k.verify_pkcs1v15(HashAlg::Sha256, d, sig),
                Msg::Digest(h) => rsa::digest_info(HashAlg::Sha256, h).and_then(|di| k.verify_pkcs1v15_raw(&di, sig)),
            }
        }
        Scheme::MlDsa => {
            let (param, pk): (_, Cow<'_, [u8]>) = match key {
                LoadedKey::MlDsa(k) if mldsa_param(alg) == Some(k.param()) => (k.param(), Cow::Owned(k.public_key())),
                LoadedKey::MlDsaPublic { param, key } if mldsa_param(alg) == Some(*param) => (*param, Cow::Borrowed(key)),
                _ => return Err(mismatch(alg)),
            };
            match msg {
                Msg::Data(d) => mldsa::verify(param, &pk, d, sig),
                Msg::Digest(_) => return Err(ApiError::invalid("ML-DSA signs the message itself; send data")),
            }
        }
    };
    match r {
        Ok(()) => Ok(true),
        Err(CryptoError::InvalidSignature | CryptoError::DataLenRange(_) | CryptoError::InvalidInput(_)) => Ok(false),
        Err(e) => Err(ApiError::internal(format!("verification failed: {e}"))),
    }
}

/// Verify: checks `signature` over `data` or `digest`, as Sign made it.
pub fn verify(alg: Algorithm, key: &LoadedKey, req: &VerifyRequest) -> ApiResult<VerifyResponse> {
    require(alg, "Verify", &[KeyPurpose::AsymmetricSign])?;
    let s = scheme(alg).ok_or_else(|| mismatch(alg))?;
    let verified_data_crc32c = input::field("data", &req.data, req.data_crc32c)?;
    let verified_digest_crc32c = input::field("digest", &req.digest, req.digest_crc32c)?;
    let verified_signature_crc32c = input::field("signature", &req.signature, req.signature_crc32c)?;
    input::limit("sm2_user_id", &req.sm2_user_id)?;
    let format = format_of(alg, s, req.format)?;
    let (msg, uid) = message(alg, s, &req.data, &req.digest, &req.sm2_user_id)?;
    let native: Option<Cow<'_, [u8]>> = match s {
        // SM2 signatures are 32-byte halves, as P-256's.
        Scheme::Ecdsa(..) | Scheme::Sm2 if format == SignatureFormat::Der => {
            let c = if let Scheme::Ecdsa(c, _) = s { c } else { Curve::P256 };
            ec::sig_der_to_rs(c, &req.signature).ok().map(Cow::Owned)
        }
        _ => Some(Cow::Borrowed(&req.signature)),
    };
    let valid = match native {
        Some(sig) => verify_native(alg, s, key, msg, uid, &sig)?,
        None => false,
    };
    Ok(VerifyResponse { valid, verified_data_crc32c, verified_digest_crc32c, verified_signature_crc32c })
}

#[cfg(test)]
mod tests {
    use super::super::testkeys::{key, ALL};
    use super::*;
    use crate::handler::api::algo::purpose;
    use crate::handler::api::code;

    fn sign_req(data: &[u8], digest: &[u8], format: SignatureFormat) -> SignRequest {
        SignRequest { data: data.to_vec(), digest: digest.to_vec(), format: format as i32, ..Default::default() }
    }

    fn verify_req(s: &SignRequest, signature: &[u8]) -> VerifyRequest {
        VerifyRequest {
            data: s.data.clone(),
            digest: s.digest.clone(),
            signature: signature.to_vec(),
            format: s.format,
            sm2_user_id: s.sm2_user_id.clone(),
            ..Default::default()
        }
    }

    fn sign_algs() -> impl Iterator<Item = Algorithm> {
        ALL.iter().copied().filter(|a| purpose(*a) == KeyPurpose::AsymmetricSign)
    }

    fn digest_for(alg: Algorithm, data: &[u8]) -> Option<Vec<u8>> {
        match scheme(alg)? {
            Scheme::Ecdsa(_, h) => Some(digest::digest(h, data)),
            Scheme::Pss | Scheme::Pkcs1 => Some(digest::digest(HashAlg::Sha256, data)),
            Scheme::Sm2 => None,
            Scheme::MlDsa => None,
        }
    }

    #[test]
    fn sign_verify_round_trips_and_tamper() {
        let data = b"the message to sign";
        for alg in sign_algs() {
            let (k, _) = key(alg);
            let formats: &[SignatureFormat] = if matches!(scheme(alg), Some(Scheme::Ecdsa(..) | Scheme::Sm2)) {
                &[SignatureFormat::Der, SignatureFormat::Raw]
            } else {
                &[SignatureFormat::Der]
            };
            for &f in formats {
                let mut reqs = vec![sign_req(data, b"", f)];
                if let Some(d) = digest_for(alg, data) {
                    reqs.push(sign_req(b"", &d, f));
                }
                for req in reqs {
                    let r = sign(alg, &k, "k1", 7, &req).unwrap();
                    assert_eq!((r.name.as_str(), r.version), ("k1", 7));
                    assert_eq!(r.signature_crc32c, crc32c(&r.signature));
                    assert!(!r.verified_data_crc32c && !r.verified_digest_crc32c);
                    let v = verify(alg, &k, &verify_req(&req, &r.signature)).unwrap();
                    assert!(v.valid, "{alg:?} {f:?} did not verify");
                    // Data and digest forms are the same signature (not for ML-DSA).
                    if let (Some(d), false) = (digest_for(alg, data), req.data.is_empty()) {
                        assert!(verify(alg, &k, &verify_req(&sign_req(b"", &d, f), &r.signature)).unwrap().valid, "{alg:?} data/digest");
                    }
                    // Tampered signature, tampered message, truncated signature, garbage.
                    let mut bad = r.signature.clone();
                    let mid = bad.len() / 2;
                    bad[mid] ^= 0x01;
                    assert!(!verify(alg, &k, &verify_req(&req, &bad)).unwrap().valid, "{alg:?} tampered sig");
                    let mut other = req.clone();
                    if other.data.is_empty() {
                        other.digest[0] ^= 1;
                    } else {
                        other.data.push(b'!');
                    }
                    assert!(!verify(alg, &k, &verify_req(&other, &r.signature)).unwrap().valid, "{alg:?} tampered msg");
                    assert!(!verify(alg, &k, &verify_req(&req, &r.signature[..r.signature.len() - 1])).unwrap().valid);
                    assert!(!verify(alg, &k, &verify_req(&req, &[0x30, 0x03, 0x02, 0x01])).unwrap().valid);
                }
            }
        }
    }

    #[test]
    fn signature_sizes_and_formats() {
        let (k, _) = key(Algorithm::EcSignP256Sha256);
        let raw = sign(Algorithm::EcSignP256Sha256, &k, "k", 1, &sign_req(b"x", b"", SignatureFormat::Raw)).unwrap();
        assert_eq!(raw.signature.len(), 64);
        let der = sign(Algorithm::EcSignP256Sha256, &k, "k", 1, &sign_req(b"x", b"", SignatureFormat::Der)).unwrap();
        assert_eq!(der.signature[0], 0x30);
        // A RAW signature does not verify as DER and vice versa.
        let mut v = verify_req(&sign_req(b"x", b"", SignatureFormat::Der), &raw.signature);
        assert!(!verify(Algorithm::EcSignP256Sha256, &k, &v).unwrap().valid);
        v.format = SignatureFormat::Raw as i32;
        assert!(verify(Algorithm::EcSignP256Sha256, &k, &v).unwrap().valid);
        let (k, _) = key(Algorithm::EcSignP384Sha384);
        let raw = sign(Algorithm::EcSignP384Sha384, &k, "k", 1, &sign_req(b"x", b"", SignatureFormat::Raw)).unwrap();
        assert_eq!(raw.signature.len(), 96);
        let (k, _) = key(Algorithm::Sm2SignSm3);
        let raw = sign(Algorithm::Sm2SignSm3, &k, "k", 1, &sign_req(b"x", b"", SignatureFormat::Raw)).unwrap();
        assert_eq!(raw.signature.len(), 64);
        for (alg, len) in [
            (Algorithm::RsaSignPss2048Sha256, 256),
            (Algorithm::RsaSignPkcs13072Sha256, 384),
            (Algorithm::MlDsa44, 2420),
            (Algorithm::MlDsa65, 3309),
            (Algorithm::MlDsa87, 4627),
        ] {
            let (k, _) = key(alg);
            assert_eq!(sign(alg, &k, "k", 1, &sign_req(b"x", b"", SignatureFormat::Der)).unwrap().signature.len(), len);
            let e = sign(alg, &k, "k", 1, &sign_req(b"x", b"", SignatureFormat::Raw)).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            assert!(e.message.starts_with("format RAW is for ECDSA and SM2 signatures"), "{}", e.message);
        }
        let (k, _) = key(Algorithm::EcSignP256Sha256);
        let mut r = sign_req(b"x", b"", SignatureFormat::Der);
        r.format = 9;
        assert_eq!(sign(Algorithm::EcSignP256Sha256, &k, "k", 1, &r).unwrap_err().message, "format 9 is not a SignatureFormat (0 = DER, 1 = RAW)");
    }

    #[test]
    fn pkcs1_is_deterministic_and_digest_equals_data() {
        let alg = Algorithm::RsaSignPkcs12048Sha256;
        let (k, _) = key(alg);
        let a = sign(alg, &k, "k", 1, &sign_req(b"abc", b"", SignatureFormat::Der)).unwrap().signature;
        let b = sign(alg, &k, "k", 1, &sign_req(b"", &digest::digest(HashAlg::Sha256, b"abc"), SignatureFormat::Der)).unwrap().signature;
        assert_eq!(a, b);
    }

    #[test]
    fn sm2_user_ids() {
        let alg = Algorithm::Sm2SignSm3;
        let (k, _) = key(alg);
        let LoadedKey::Sm2(sk) = &*k else { panic!("not SM2") };
        let point = sk.public_point();
        let mut req = sign_req(b"message", b"", SignatureFormat::Raw);
        // Default ID.
        let sig = sign(alg, &k, "k", 1, &req).unwrap().signature;
        sm2::verify(&point, b"1234567812345678", b"message", &sig).unwrap();
        // Explicit ID: a signature under one ID does not verify under another.
        req.sm2_user_id = b"alice@example.com".to_vec();
        let sig = sign(alg, &k, "k", 1, &req).unwrap().signature;
        sm2::verify(&point, b"alice@example.com", b"message", &sig).unwrap();
        assert!(verify(alg, &k, &verify_req(&req, &sig)).unwrap().valid);
        let mut other = verify_req(&req, &sig);
        other.sm2_user_id = b"bob@example.com".to_vec();
        assert!(!verify(alg, &k, &other).unwrap().valid);
        other.sm2_user_id.clear();
        assert!(!verify(alg, &k, &other).unwrap().valid);
        // Digest input is e = SM3(Z || M).
        let z = sm2::compute_z(&point, b"alice@example.com").unwrap();
        let e = digest::digest(HashAlg::Sm3, &[&z[..], b"message"].concat());
        let v = VerifyRequest { digest: e.clone(), signature: sig.clone(), format: SignatureFormat::Raw as i32, ..Default::default() };
        assert!(verify(alg, &k, &v).unwrap().valid);
        let s = sign(alg, &k, "k", 1, &sign_req(b"", &e, SignatureFormat::Raw)).unwrap().signature;
        sm2::verify(&point, b"alice@example.com", b"message", &s).unwrap();
        // Errors: digest with user ID, too long an ID, an ID for another algorithm.
        let mut bad = sign_req(b"", &e, SignatureFormat::Raw);
        bad.sm2_user_id = b"alice".to_vec();
        let err = sign(alg, &k, "k", 1, &bad).unwrap_err();
        assert_eq!(err.code, code::INVALID_ARGUMENT);
        assert!(err.message.starts_with("sm2_user_id applies to data only"), "{}", err.message);
        let mut bad = sign_req(b"m", b"", SignatureFormat::Raw);
        bad.sm2_user_id = vec![b'a'; 1024];
        assert_eq!(sign(alg, &k, "k", 1, &bad).unwrap_err().message, "sm2_user_id is 1024 bytes; an SM2 user ID is at most 1023 bytes (8191 bits)");
        bad.sm2_user_id = vec![b'a'; 1023];
        let sig = sign(alg, &k, "k", 1, &bad).unwrap().signature;
        assert!(verify(alg, &k, &verify_req(&bad, &sig)).unwrap().valid);
        let (ek, _) = key(Algorithm::EcSignP256Sha256);
        let mut bad = sign_req(b"m", b"", SignatureFormat::Der);
        bad.sm2_user_id = b"x".to_vec();
        assert_eq!(
            sign(Algorithm::EcSignP256Sha256, &ek, "k", 1, &bad).unwrap_err().message,
            "sm2_user_id is only for SM2_SIGN_SM3 keys; this key is EC_SIGN_P256_SHA256"
        );
    }

    #[test]
    fn request_shape_errors() {
        for alg in sign_algs() {
            let (k, _) = key(alg);
            let both = sign_req(b"a", &[0u8; 32], SignatureFormat::Der);
            let e = sign(alg, &k, "k", 1, &both).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (code::INVALID_ARGUMENT, "send either data or digest, not both"));
            assert_eq!(verify(alg, &k, &verify_req(&both, b"sig")).unwrap_err().code, code::INVALID_ARGUMENT);
            let neither = sign_req(b"", b"", SignatureFormat::Der);
            assert_eq!(sign(alg, &k, "k", 1, &neither).unwrap_err().code, code::INVALID_ARGUMENT);
            assert_eq!(verify(alg, &k, &verify_req(&neither, b"sig")).unwrap_err().code, code::INVALID_ARGUMENT);
            let short = sign_req(b"", &[0u8; 20], SignatureFormat::Der);
            let e = sign(alg, &k, "k", 1, &short).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            let ve = verify(alg, &k, &verify_req(&short, b"sig")).unwrap_err();
            assert_eq!(ve.code, code::INVALID_ARGUMENT);
            if scheme(alg) == Some(Scheme::MlDsa) {
                assert_eq!(e.message, "ML-DSA signs the message itself; send data");
                assert_eq!(ve.message, e.message);
            } else {
                assert!(e.message.starts_with("digest is 20 bytes; "), "{}", e.message);
            }
            // Size limits.
            let big = sign_req(&vec![0u8; 65537], b"", SignatureFormat::Der);
            assert_eq!(sign(alg, &k, "k", 1, &big).unwrap_err().message, "data is 65537 bytes; the limit is 65536");
            let mut v = verify_req(&sign_req(b"a", b"", SignatureFormat::Der), &vec![0u8; 65537]);
            assert_eq!(verify(alg, &k, &v).unwrap_err().message, "signature is 65537 bytes; the limit is 65536");
            v.signature.clear();
            assert!(!verify(alg, &k, &v).unwrap().valid);
        }
        // The largest data signs.
        let (k, _) = key(Algorithm::EcSignP256Sha256);
        let max = sign_req(&vec![0u8; 65536], b"", SignatureFormat::Der);
        assert!(sign(Algorithm::EcSignP256Sha256, &k, "k", 1, &max).is_ok());
    }

    #[test]
    fn crc_checks() {
        let alg = Algorithm::EcSignP256Sha256;
        let (k, _) = key(alg);
        let mut req = sign_req(b"data", b"", SignatureFormat::Der);
        req.data_crc32c = Some(crc32c(b"data"));
        let r = sign(alg, &k, "k", 1, &req).unwrap();
        assert!(r.verified_data_crc32c && !r.verified_digest_crc32c);
        req.data_crc32c = Some(crc32c(b"dat"));
        let e = sign(alg, &k, "k", 1, &req).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (code::INVALID_ARGUMENT, "data_crc32c does not match data: the request was corrupted in transit"));
        let d = digest::digest(HashAlg::Sha256, b"data");
        let mut req = sign_req(b"", &d, SignatureFormat::Der);
        req.digest_crc32c = Some(crc32c(&d));
        let r = sign(alg, &k, "k", 1, &req).unwrap();
        assert!(r.verified_digest_crc32c && !r.verified_data_crc32c);
        req.digest_crc32c = Some(0);
        assert_eq!(sign(alg, &k, "k", 1, &req).unwrap_err().message, "digest_crc32c does not match digest: the request was corrupted in transit");
        let mut v = VerifyRequest {
            digest: d.clone(),
            digest_crc32c: Some(crc32c(&d)),
            signature: r.signature.clone(),
            signature_crc32c: Some(crc32c(&r.signature)),
            ..Default::default()
        };
        let out = verify(alg, &k, &v).unwrap();
        assert!(out.valid && out.verified_digest_crc32c && out.verified_signature_crc32c && !out.verified_data_crc32c);
        v.signature_crc32c = Some(1);
        assert_eq!(verify(alg, &k, &v).unwrap_err().message, "signature_crc32c does not match signature: the request was corrupted in transit");
        let v = VerifyRequest { data: b"data".to_vec(), data_crc32c: Some(5), signature: r.signature, ..Default::default() };
        assert_eq!(verify(alg, &k, &v).unwrap_err().message, "data_crc32c does not match data: the request was corrupted in transit");
    }

    #[test]
    fn wrong_purpose() {
        for alg in [Algorithm::Aes256Gcm, Algorithm::HmacSha256, Algorithm::MlKem768, Algorithm::RsaDecryptOaep2048Sha256, Algorithm::Sm2Encrypt] {
            let (k, _) = key(alg);
            let e = sign(alg, &k, "k", 1, &sign_req(b"a", b"", SignatureFormat::Der)).unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.ends_with("Sign needs an ASYMMETRIC_SIGN key"), "{}", e.message);
            let e = verify(alg, &k, &VerifyRequest { data: b"a".to_vec(), ..Default::default() }).unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.ends_with("Verify needs an ASYMMETRIC_SIGN key"), "{}", e.message);
        }
    }

    #[test]
    fn public_key_only_verifies() {
        let alg = Algorithm::EcSignP256Sha256;
        let (k, _) = key(alg);
        let LoadedKey::Ec(sk) = &*k else { panic!("not EC") };
        let public = LoadedKey::EcPublic { curve: Curve::P256, point: sk.public_point() };
        let req = sign_req(b"m", b"", SignatureFormat::Der);
        let sig = sign(alg, &k, "k", 1, &req).unwrap().signature;
        assert!(verify(alg, &public, &verify_req(&req, &sig)).unwrap().valid);
        assert_eq!(sign(alg, &public, "k", 1, &req).unwrap_err().code, code::INTERNAL);
    }
}
