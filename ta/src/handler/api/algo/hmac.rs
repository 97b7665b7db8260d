//! MacSign and MacVerify (MAC keys): HMAC-SHA-256 (HMAC_SHA256) and
//! HMAC-SM3 (HMAC_SM3), full 32-byte tags. MacVerify compares in constant
//! time and answers success=false for a tag of the wrong length or value.

use super::super::error::{ApiError, ApiResult};
use super::material::{hmac_hash, secret_bytes};
use super::{input, mismatch, require};
use crate::keys::LoadedKey;
use teehsm_crypto::{kdf, mac};
use teehsm_wire::proto::crc32c;
use teehsm_wire::proto::v1::{Algorithm, KeyPurpose, MacSignRequest, MacSignResponse, MacVerifyRequest, MacVerifyResponse};

fn tag(alg: Algorithm, key: &LoadedKey, data: &[u8]) -> ApiResult<Vec<u8>> {
    let h = hmac_hash(alg).ok_or_else(|| mismatch(alg))?;
    mac::hmac(h, secret_bytes(alg, key)?, data).map_err(|e| ApiError::internal(format!("HMAC failed: {e}")))
}

/// MacSign: the HMAC of `data` under key version `version`.
pub fn mac_sign(alg: Algorithm, key: &LoadedKey, version: u32, req: &MacSignRequest) -> ApiResult<MacSignResponse> {
    require(alg, "MacSign", &[KeyPurpose::Mac])?;
    let verified_data_crc32c = input::field("data", &req.data, req.data_crc32c)?;
    let mac = tag(alg, key, &req.data)?;
    Ok(MacSignResponse { mac_crc32c: crc32c(&mac), mac, verified_data_crc32c, version })
}

/// MacVerify: whether `mac` is the HMAC of `data`.
pub fn mac_verify(alg: Algorithm, key: &LoadedKey, req: &MacVerifyRequest) -> ApiResult<MacVerifyResponse> {
    require(alg, "MacVerify", &[KeyPurpose::Mac])?;
    let verified_data_crc32c = input::field("data", &req.data, req.data_crc32c)?;
    let verified_mac_crc32c = input::field("mac", &req.mac, req.mac_crc32c)?;
    let expect = tag(alg, key, &req.data)?;
    // ct_eq is constant time for equal lengths; the length is public.
    let success = expect.len() == req.mac.len() && kdf::ct_eq(&expect, &req.mac);
    Ok(MacVerifyResponse { success, verified_data_crc32c, verified_mac_crc32c })
}

#[cfg(test)]
mod tests {
    use super::super::material::import;
    use super::super::testkeys::{key, load};
    use super::*;
    use crate::handler::api::code;

    #[test]
    fn rfc4231_case_1() {
        // RFC 4231 test case 1 (a 20-byte key).
        let m = import(Algorithm::HmacSha256, &[0x0b; 20]).unwrap();
        let k = load(&m);
        let r = mac_sign(Algorithm::HmacSha256, &k, 2, &MacSignRequest { data: b"Hi There".to_vec(), ..Default::default() }).unwrap();
        assert_eq!(hex::encode(&r.mac), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_eq!((r.version, r.mac_crc32c, r.verified_data_crc32c), (2, crc32c(&r.mac), false));
    }

    #[test]
    fn hmac_sm3_known_answer() {
        // HMAC-SM3 with a 16-byte key, checked against the RustCrypto reference below.
        let m = import(Algorithm::HmacSm3, &[0x01; 16]).unwrap();
        let k = load(&m);
        let r = mac_sign(Algorithm::HmacSm3, &k, 1, &MacSignRequest { data: b"abc".to_vec(), ..Default::default() }).unwrap();
        use ::hmac::{KeyInit, Mac};
        let mut reference = <::hmac::Hmac<sm3::Sm3> as KeyInit>::new_from_slice(&[0x01; 16]).unwrap();
        reference.update(b"abc");
        assert_eq!(r.mac, reference.finalize().into_bytes().to_vec());
    }

    #[test]
    fn sign_verify_tamper_and_crc() {
        for alg in [Algorithm::HmacSha256, Algorithm::HmacSm3] {
            let (k, _) = key(alg);
            let s =
                mac_sign(alg, &k, 1, &MacSignRequest { data: b"data".to_vec(), data_crc32c: Some(crc32c(b"data")), ..Default::default() }).unwrap();
            assert_eq!(s.mac.len(), 32);
            assert!(s.verified_data_crc32c);
            let mut v = MacVerifyRequest { data: b"data".to_vec(), mac: s.mac.clone(), mac_crc32c: Some(crc32c(&s.mac)), ..Default::default() };
            let r = mac_verify(alg, &k, &v).unwrap();
            assert!(r.success && r.verified_mac_crc32c && !r.verified_data_crc32c);
            v.mac_crc32c = None;
            v.mac[31] ^= 1;
            assert!(!mac_verify(alg, &k, &v).unwrap().success);
            v.mac.truncate(16);
            assert!(!mac_verify(alg, &k, &v).unwrap().success);
            v.mac.clear();
            assert!(!mac_verify(alg, &k, &v).unwrap().success);
            let v = MacVerifyRequest { data: b"datA".to_vec(), mac: s.mac.clone(), ..Default::default() };
            assert!(!mac_verify(alg, &k, &v).unwrap().success);
            // Empty data is a valid message.
            let e = mac_sign(alg, &k, 1, &MacSignRequest::default()).unwrap();
            assert!(mac_verify(alg, &k, &MacVerifyRequest { mac: e.mac, ..Default::default() }).unwrap().success);
            // Errors.
            let err = mac_sign(alg, &k, 1, &MacSignRequest { data: b"x".to_vec(), data_crc32c: Some(0), ..Default::default() }).unwrap_err();
            assert_eq!(
                (err.code, err.message.as_str()),
                (code::INVALID_ARGUMENT, "data_crc32c does not match data: the request was corrupted in transit")
            );
            let err = mac_verify(alg, &k, &MacVerifyRequest { mac: vec![1], mac_crc32c: Some(0), ..Default::default() }).unwrap_err();
            assert_eq!(err.message, "mac_crc32c does not match mac: the request was corrupted in transit");
            let err = mac_sign(alg, &k, 1, &MacSignRequest { data: vec![0; 65537], ..Default::default() }).unwrap_err();
            assert_eq!(err.message, "data is 65537 bytes; the limit is 65536");
            let err = mac_verify(alg, &k, &MacVerifyRequest { mac: vec![0; 65537], ..Default::default() }).unwrap_err();
            assert_eq!(err.message, "mac is 65537 bytes; the limit is 65536");
        }
        // The two algorithms give different tags for the same key bytes.
        let a = load(&import(Algorithm::HmacSha256, &[5; 32]).unwrap());
        let b = load(&import(Algorithm::HmacSm3, &[5; 32]).unwrap());
        let req = MacSignRequest { data: b"x".to_vec(), ..Default::default() };
        assert_ne!(mac_sign(Algorithm::HmacSha256, &a, 1, &req).unwrap().mac, mac_sign(Algorithm::HmacSm3, &b, 1, &req).unwrap().mac);
    }

    #[test]
    fn wrong_purpose() {
        for alg in [Algorithm::Aes128Gcm, Algorithm::EcSignP384Sha384] {
            let (k, _) = key(alg);
            let e = mac_sign(alg, &k, 1, &MacSignRequest::default()).unwrap_err();
            assert_eq!(e.code, code::FAILED_PRECONDITION);
            assert!(e.message.ends_with("MacSign needs a MAC key"), "{}", e.message);
            let e = mac_verify(alg, &k, &MacVerifyRequest::default()).unwrap_err();
            assert!(e.message.ends_with("MacVerify needs a MAC key"), "{}", e.message);
        }
    }
}
