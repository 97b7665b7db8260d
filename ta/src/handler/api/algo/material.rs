//! Key material for an API key version: freshly generated, imported raw, or
//! unwrapped from the Cloud KMS `RSA_OAEP_3072_SHA256_AES_256` format. The
//! result is what `crate::keys::load` parses: the attributes of the key
//! object (class, key type, curve / parameter set / modulus, public point)
//! and the secret in the TA's canonical encoding for that key type.

use super::super::error::{ApiError, ApiResult};
use super::{input, mismatch};
use crate::keys::{der_octet_string, LoadedKey, SM2_EC_PARAMS};
use teehsm_crypto::digest::HashAlg;
use teehsm_crypto::ec::Curve;
use teehsm_crypto::mldsa::MlDsaParam;
use teehsm_crypto::mlkem::MlKemParam;
use teehsm_crypto::pkcs8::{self, Pkcs8Key};
use teehsm_crypto::{ec, keywrap, mldsa, mlkem, rsa, sm2, sym, CryptoError};
use teehsm_wire::ck::*;
use teehsm_wire::proto::v1::Algorithm;
use zeroize::Zeroizing;

/// The attributes and secret of one key version's object.
pub struct Material {
    /// CKA_CLASS, CKA_KEY_TYPE and the public attributes `keys::load` reads
    /// (CKA_EC_PARAMS + CKA_EC_POINT, CKA_MODULUS + CKA_PUBLIC_EXPONENT +
    /// CKA_MODULUS_BITS, CKA_PARAMETER_SET, CKA_VALUE_LEN); ULONGs as 8 bytes big-endian.
    pub attrs: Vec<(u64, Vec<u8>)>,
    /// EC/SM2 scalar, RSA PKCS#1 DER, ML-DSA seed, ML-KEM decapsulation key, or the secret key bytes.
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Material {
    /// The attribute types and the secret's length, never its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<String> = self.attrs.iter().map(|(t, _)| format!("0x{t:x}")).collect();
        f.debug_struct("Material").field("attrs", &types).field("secret_len", &self.secret.len()).finish()
    }
}

fn ulong(ty: u64, v: u64) -> (u64, Vec<u8>) {
    (ty, v.to_be_bytes().to_vec())
}

/// The curve of an ECDSA algorithm.
pub(super) fn ec_curve(alg: Algorithm) -> Option<Curve> {
    match alg {
        Algorithm::EcSignP256Sha256 => Some(Curve::P256),
        Algorithm::EcSignP384Sha384 => Some(Curve::P384),
        _ => None,
    }
}

/// Modulus size of an RSA algorithm.
pub(super) fn rsa_bits(alg: Algorithm) -> Option<usize> {
    use Algorithm as A;
    match alg {
        A::RsaSignPss2048Sha256 | A::RsaSignPkcs12048Sha256 | A::RsaDecryptOaep2048Sha256 => Some(2048),
        A::RsaSignPss3072Sha256 | A::RsaSignPkcs13072Sha256 | A::RsaDecryptOaep3072Sha256 => Some(3072),
        _ => None,
    }
}

pub(super) fn mldsa_param(alg: Algorithm) -> Option<MlDsaParam> {
    match alg {
        Algorithm::MlDsa44 => Some(MlDsaParam::MlDsa44),
        Algorithm::MlDsa65 => Some(MlDsaParam::MlDsa65),
        Algorithm::MlDsa87 => Some(MlDsaParam::MlDsa87),
        _ => None,
    }
}

pub(super) fn mlkem_param(alg: Algorithm) -> Option<MlKemParam> {
    match alg {
        Algorithm::MlKem512 => Some(MlKemParam::MlKem512),
        Algorithm::MlKem768 => Some(MlKemParam::MlKem768),
        Algorithm::MlKem1024 => Some(MlKemParam::MlKem1024),
        _ => None,
    }
}

/// (PKCS#11 key type, key length) of an AEAD or MAC algorithm's secret key.
fn secret_type(alg: Algorithm) -> Option<(u64, usize)> {
    match alg {
        Algorithm::Aes128Gcm => Some((CKK_AES, 16)),
        Algorithm::Aes256Gcm => Some((CKK_AES, 32)),
        Algorithm::Sm4Gcm => Some((CKK_SM4, 16)),
        Algorithm::HmacSha256 => Some((CKK_SHA256_HMAC, 32)),
        // PKCS#11 has no HMAC-SM3 key type: a generic secret, as CKM_SM3_HMAC takes.
        Algorithm::HmacSm3 => Some((CKK_GENERIC_SECRET, 32)),
        _ => None,
    }
}

/// The HMAC hash of a MAC algorithm.
pub(super) fn hmac_hash(alg: Algorithm) -> Option<HashAlg> {
    match alg {
        Algorithm::HmacSha256 => Some(HashAlg::Sha256),
        Algorithm::HmacSm3 => Some(HashAlg::Sm3),
        _ => None,
    }
}

fn internal(what: &str) -> impl Fn(CryptoError) -> ApiError + '_ {
    move |e| ApiError::internal(format!("{what} failed: {e}"))
}

fn ec_material(curve: Curve, k: &ec::EcPrivateKey) -> Material {
    Material {
        attrs: vec![
            ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            ulong(CKA_KEY_TYPE, CKK_EC),
            (CKA_EC_PARAMS, curve.ec_params_der().to_vec()),
            (CKA_EC_POINT, der_octet_string(&k.public_point())),
        ],
        secret: k.scalar(),
    }
}

fn sm2_material(k: &sm2::Sm2PrivateKey) -> Material {
    Material {
        attrs: vec![
            ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            ulong(CKA_KEY_TYPE, CKK_SM2),
            (CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec()),
            (CKA_EC_POINT, der_octet_string(&k.public_point())),
        ],
        secret: k.scalar(),
    }
}

fn rsa_material(k: &rsa::RsaPrivateKey) -> ApiResult<Material> {
    Ok(Material {
        attrs: vec![
            ulong(CKA_CLASS, CKO_PRIVATE_KEY),
            ulong(CKA_KEY_TYPE, CKK_RSA),
            (CKA_MODULUS, k.modulus()),
            (CKA_PUBLIC_EXPONENT, k.public_exponent()),
            ulong(CKA_MODULUS_BITS, k.bits() as u64),
        ],
        secret: k.to_pkcs1_der().map_err(internal("RSA key export"))?,
    })
}

fn secret_material(key_type: u64, secret: Zeroizing<Vec<u8>>) -> Material {
    Material { attrs: vec![ulong(CKA_CLASS, CKO_SECRET_KEY), ulong(CKA_KEY_TYPE, key_type), ulong(CKA_VALUE_LEN, secret.len() as u64)], secret }
}

fn mldsa_set(p: MlDsaParam) -> u64 {
    match p {
        MlDsaParam::MlDsa44 => CKP_ML_DSA_44,
        MlDsaParam::MlDsa65 => CKP_ML_DSA_65,
        MlDsaParam::MlDsa87 => CKP_ML_DSA_87,
    }
}

fn mlkem_set(p: MlKemParam) -> u64 {
    match p {
        MlKemParam::MlKem512 => CKP_ML_KEM_512,
        MlKemParam::MlKem768 => CKP_ML_KEM_768,
        MlKemParam::MlKem1024 => CKP_ML_KEM_1024,
    }
}

/// A fresh key for `alg`: P-256/P-384/SM2, RSA 2048/3072 with e = 65537,
/// ML-DSA (kept as its 32-byte seed), ML-KEM, AES-128/256, SM4, and 32-byte HMAC keys.
pub fn generate(alg: Algorithm) -> ApiResult<Material> {
    if let Some(curve) = ec_curve(alg) {
        return Ok(ec_material(curve, &ec::generate(curve).map_err(internal("EC key generation"))?));
    }
    if matches!(alg, Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt) {
        return Ok(sm2_material(&sm2::generate().map_err(internal("SM2 key generation"))?));
    }
    if let Some(bits) = rsa_bits(alg) {
        return rsa_material(&rsa::generate(bits, &[1, 0, 1]).map_err(internal("RSA key generation"))?);
    }
    if let Some(p) = mldsa_param(alg) {
        let k = mldsa::generate(p).map_err(internal("ML-DSA key generation"))?;
        let seed = k.seed().ok_or_else(|| ApiError::internal("ML-DSA key generation gave no seed"))?;
        return Ok(Material {
            attrs: vec![ulong(CKA_CLASS, CKO_PRIVATE_KEY), ulong(CKA_KEY_TYPE, CKK_ML_DSA), ulong(CKA_PARAMETER_SET, mldsa_set(p))],
            secret: seed,
        });
    }
    if let Some(p) = mlkem_param(alg) {
        let k = mlkem::generate(p).map_err(internal("ML-KEM key generation"))?;
        return Ok(Material {
            attrs: vec![ulong(CKA_CLASS, CKO_PRIVATE_KEY), ulong(CKA_KEY_TYPE, CKK_ML_KEM), ulong(CKA_PARAMETER_SET, mlkem_set(p))],
            secret: k.to_bytes().map_err(internal("ML-KEM key export"))?,
        });
    }
    if let Some((key_type, len)) = secret_type(alg) {
        return Ok(secret_material(key_type, sym::generate_key(len).map_err(internal("secret key generation"))?));
    }
    Err(ApiError::invalid(format!("cannot generate a key for algorithm {}", alg.as_str_name())))
}

/// The private key of a PKCS#8 PrivateKeyInfo (as Cloud KMS takes
/// asymmetric keys), or why it is not one for `alg`.
fn pkcs8_for(alg: Algorithm, der: &[u8]) -> ApiResult<Pkcs8Key> {
    pkcs8::decode(der).map_err(|e| ApiError::invalid(format!("{} key material: {e}", alg.as_str_name())))
}

/// Key material from raw bytes: the secret of AES_128_GCM (16 bytes),
/// AES_256_GCM (32), SM4_GCM (16) and HMAC_* keys (16..=64); for EC_SIGN_*
/// and SM2_* keys the private scalar (big-endian, exactly the curve size,
/// in [1, n-1]; SM2 [1, n-2]) or a PKCS#8 PrivateKeyInfo of that curve; for
/// RSA_* keys a PKCS#8 PrivateKeyInfo of the algorithm's modulus size. The
/// public key is derived from the private key.
pub fn import(alg: Algorithm, raw: &[u8]) -> ApiResult<Material> {
    let name = alg.as_str_name();
    if let Some(bits) = rsa_bits(alg) {
        let Pkcs8Key::Rsa { pkcs1 } = pkcs8_for(alg, raw)? else {
            return Err(ApiError::invalid(format!("{name} key material must be a PKCS#8 RSA private key; this PKCS#8 holds another kind of key")));
        };
        let k = rsa::RsaPrivateKey::from_pkcs1_der(&pkcs1)
            .map_err(|e| ApiError::invalid(format!("{name} key material: the RSA private key does not check: {e}")))?;
        if k.bits() != bits {
            return Err(ApiError::invalid(format!("{name} needs a {bits}-bit RSA key; the PKCS#8 key has {} bits", k.bits())));
        }
        return rsa_material(&k);
    }
    let is_sm2 = matches!(alg, Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt);
    let scalar_len = ec_curve(alg).map(Curve::scalar_len).or(is_sm2.then_some(32));
    if scalar_len.is_some_and(|n| raw.len() != n && raw.first() == Some(&0x30)) {
        let scalar = match (pkcs8_for(alg, raw)?, ec_curve(alg)) {
            (Pkcs8Key::Ec { curve, scalar }, Some(want)) if curve == want => scalar,
            (Pkcs8Key::Sm2 { scalar }, None) => scalar,
            _ => return Err(ApiError::invalid(format!("{name} key material: the PKCS#8 key is not a key of this algorithm's curve"))),
        };
        return import(alg, &scalar);
    }
    if let Some(curve) = ec_curve(alg) {
        let n = curve.scalar_len();
        if raw.len() != n {
            return Err(ApiError::invalid(format!(
                "{name} key material is the {n}-byte private scalar or a PKCS#8 private key; got {} bytes",
                raw.len()
            )));
        }
        let k = ec::EcPrivateKey::from_scalar(curve, raw).map_err(|_| {
            ApiError::invalid(format!("{name} key material is not a valid {} private scalar (zero or not below the group order)", curve.name()))
        })?;
        return Ok(ec_material(curve, &k));
    }
    if matches!(alg, Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt) {
        if raw.len() != 32 {
            return Err(ApiError::invalid(format!(
                "{name} key material is the 32-byte private scalar or a PKCS#8 private key; got {} bytes",
                raw.len()
            )));
        }
        let k = sm2::Sm2PrivateKey::from_scalar(raw)
            .map_err(|_| ApiError::invalid(format!("{name} key material is not a valid SM2 private scalar (it must be in [1, n-2])")))?;
        return Ok(sm2_material(&k));
    }
    if let Some((key_type, len)) = secret_type(alg) {
        let ok = if hmac_hash(alg).is_some() { (16..=64).contains(&raw.len()) } else { raw.len() == len };
        if !ok {
            let want = if hmac_hash(alg).is_some() { "16 to 64 bytes".to_string() } else { format!("{len} bytes") };
            return Err(ApiError::invalid(format!("{name} key material is {want}; got {} bytes", raw.len())));
        }
        return Ok(secret_material(key_type, Zeroizing::new(raw.to_vec())));
    }
    Err(ApiError::invalid(format!("import of {name} is not supported")))
}

/// Size of the AES key the RSA-OAEP part of a wrapped key carries.
const TRANSPORT_KEY_LEN: usize = 32;

/// Unwraps `wrapped` (Cloud KMS `RSA_OAEP_3072_SHA256_AES_256`): the first
/// modulus-size bytes are RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) of a
/// 32-byte AES key; the rest is that key's AES-KWP (RFC 5649) wrap of the material.
pub fn unwrap_import(wrapping: &LoadedKey, wrapped: &[u8]) -> ApiResult<Zeroizing<Vec<u8>>> {
    input::limit("wrapped_key", wrapped)?;
    let LoadedKey::Rsa(k) = wrapping else {
        return Err(ApiError::failed_precondition("the wrapping key is not an RSA private key; use an RSA_DECRYPT_OAEP_*_SHA256 key"));
    };
    let n = k.bits().div_ceil(8);
    // AES-KWP output is at least 16 bytes.
    if wrapped.len() < n + 16 {
        return Err(ApiError::invalid(format!(
            "wrapped_key is {} bytes; with this {}-bit wrapping key it is the {n}-byte RSA-OAEP block followed by an AES-KWP wrap of at least 16 bytes",
            wrapped.len(),
            k.bits()
        )));
    }
    let (head, tail) = wrapped.split_at(n);
    let aes = k.decrypt_oaep_mgf1(HashAlg::Sha256, HashAlg::Sha256, &[], head).map_err(|_| {
        ApiError::invalid("the RSA-OAEP part of wrapped_key does not decrypt with the wrapping key (wrong wrapping key or version, not OAEP SHA-256 with MGF1-SHA-256 and an empty label, or corrupted data)")
    })?;
    if aes.len() != TRANSPORT_KEY_LEN {
        return Err(ApiError::invalid(format!(
            "the RSA-OAEP part of wrapped_key holds a {}-byte key; it must be a {TRANSPORT_KEY_LEN}-byte AES-256 key",
            aes.len()
        )));
    }
    keywrap::aes_kwp_unwrap(&aes, tail).map_err(|_| {
        ApiError::invalid(
            "the AES-KWP part of wrapped_key does not unwrap under the transported AES-256 key (RFC 5649 integrity check failed: corrupted data)",
        )
    })
}

/// The secret of a symmetric key, checked against its algorithm.
pub(super) fn secret_bytes(alg: Algorithm, key: &LoadedKey) -> ApiResult<&[u8]> {
    match (key, secret_type(alg)) {
        (LoadedKey::Secret { bytes, .. }, Some(_)) if hmac_hash(alg).is_some() && (16..=64).contains(&bytes.len()) => Ok(bytes),
        (LoadedKey::Secret { bytes, .. }, Some((_, len))) if bytes.len() == len => Ok(bytes),
        _ => Err(mismatch(alg)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkeys::{load, ALL};
    use super::*;
    use crate::handler::api::code;
    use teehsm_crypto::rsa::RsaPublicKey;

    #[test]
    fn generate_every_algorithm_loads() {
        for &alg in ALL {
            let m = generate(alg).unwrap();
            let k = load(&m);
            let ok = match (&*k, alg) {
                (LoadedKey::Ec(k), Algorithm::EcSignP256Sha256) => k.curve() == Curve::P256,
                (LoadedKey::Ec(k), Algorithm::EcSignP384Sha384) => k.curve() == Curve::P384,
                (LoadedKey::Sm2(_), Algorithm::Sm2SignSm3 | Algorithm::Sm2Encrypt) => true,
                (LoadedKey::Rsa(k), a) => Some(k.bits()) == rsa_bits(a) && k.public_exponent() == [1, 0, 1],
                (LoadedKey::MlDsa(k), a) => Some(k.param()) == mldsa_param(a) && m.secret.len() == 32,
                (LoadedKey::MlKem(k), a) => Some(k.param()) == mlkem_param(a),
                (LoadedKey::Secret { key_type, bytes }, a) => secret_type(a) == Some((*key_type, bytes.len())),
                _ => false,
            };
            assert!(ok, "{alg:?} generated the wrong key");
        }
        // Two generations differ.
        assert_ne!(generate(Algorithm::Aes256Gcm).unwrap().secret, generate(Algorithm::Aes256Gcm).unwrap().secret);
        assert!(generate(Algorithm::Unspecified).is_err());
    }

    #[test]
    fn import_secret_keys() {
        for (alg, good, bad) in [
            (Algorithm::Aes128Gcm, 16, 32),
            (Algorithm::Aes256Gcm, 32, 16),
            (Algorithm::Sm4Gcm, 16, 32),
            (Algorithm::HmacSha256, 64, 65),
            (Algorithm::HmacSm3, 16, 15),
        ] {
            let m = import(alg, &vec![7u8; good]).unwrap();
            assert!(matches!(&*load(&m), LoadedKey::Secret { bytes, .. } if bytes.as_slice() == vec![7u8; good].as_slice()));
            let e = import(alg, &vec![7u8; bad]).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT, "{alg:?}");
            assert!(e.message.contains(&format!("got {bad} bytes")), "{}", e.message);
        }
    }

    #[test]
    fn import_scalars() {
        let d = hex::decode("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721").unwrap();
        let m = import(Algorithm::EcSignP256Sha256, &d).unwrap();
        let LoadedKey::Ec(k) = &*load(&m) else { panic!("not EC") };
        // RFC 6979 A.2.5 public key.
        assert_eq!(hex::encode(&k.public_point()[1..33]), "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6");
        let n256 = hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
        for bad in [vec![0u8; 32], n256, vec![1u8; 31]] {
            assert_eq!(import(Algorithm::EcSignP256Sha256, &bad).unwrap_err().code, code::INVALID_ARGUMENT);
        }
        let m = import(Algorithm::EcSignP384Sha384, &[5u8; 48]).unwrap();
        assert!(matches!(&*load(&m), LoadedKey::Ec(k) if k.curve() == Curve::P384));
        let m = import(Algorithm::Sm2Encrypt, &[3u8; 32]).unwrap();
        assert!(matches!(&*load(&m), LoadedKey::Sm2(_)));
        assert_eq!(import(Algorithm::Sm2SignSm3, &[0u8; 32]).unwrap_err().code, code::INVALID_ARGUMENT);
        assert_eq!(import(Algorithm::Sm2SignSm3, &[1u8; 33]).unwrap_err().code, code::INVALID_ARGUMENT);
    }

    #[test]
    fn import_unsupported() {
        for alg in [Algorithm::MlDsa44, Algorithm::MlKem768] {
            let e = import(alg, &[1u8; 32]).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            assert_eq!(e.message, format!("import of {} is not supported", alg.as_str_name()));
        }
        // RSA keys come as PKCS#8 only.
        for alg in [Algorithm::RsaSignPss2048Sha256, Algorithm::RsaDecryptOaep3072Sha256] {
            let e = import(alg, &[1u8; 32]).unwrap_err();
            assert_eq!(e.code, code::INVALID_ARGUMENT);
            assert!(e.message.contains("not a PKCS#8 private key"), "{}", e.message);
        }
    }

    /// Wraps `material` as Cloud KMS' RSA_OAEP_3072_SHA256_AES_256 does, with the public key of `wrapping`.
    pub(crate) fn cloud_kms_wrap(public: &RsaPublicKey, aes: &[u8], material: &[u8]) -> Vec<u8> {
        let mut out = public.encrypt_oaep(HashAlg::Sha256, &[], aes).unwrap();
        out.extend(keywrap::aes_kwp_wrap(aes, material).unwrap());
        out
    }

    #[test]
    fn unwrap_import_round_trip_and_errors() {
        let wm = generate(Algorithm::RsaDecryptOaep3072Sha256).unwrap();
        let w = load(&wm);
        let LoadedKey::Rsa(rk) = &*w else { panic!("not RSA") };
        let public = rk.public_key();
        let aes = [9u8; 32];
        for material in [vec![0x42u8; 32], vec![1u8; 16], vec![2u8; 48], vec![3u8; 5]] {
            let wrapped = cloud_kms_wrap(&public, &aes, &material);
            assert_eq!(unwrap_import(&w, &wrapped).unwrap().as_slice(), material.as_slice());
        }
        let wrapped = cloud_kms_wrap(&public, &aes, &[0x42u8; 32]);
        // Corrupted KWP part, corrupted OAEP part, too short, wrong key size, wrong wrapping key.
        let mut bad = wrapped.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(unwrap_import(&w, &bad).unwrap_err().message.contains("AES-KWP"));
        let mut bad = wrapped.clone();
        bad[10] ^= 1;
        assert!(unwrap_import(&w, &bad).unwrap_err().message.contains("RSA-OAEP"));
        let e = unwrap_import(&w, &wrapped[..390]).unwrap_err();
        assert_eq!(e.code, code::INVALID_ARGUMENT);
        assert!(e.message.contains("384-byte RSA-OAEP block"), "{}", e.message);
        let short = cloud_kms_wrap(&public, &[9u8; 16], &[0x42u8; 32]);
        assert!(unwrap_import(&w, &short).unwrap_err().message.contains("holds a 16-byte key"));
        let other = load(&generate(Algorithm::RsaDecryptOaep3072Sha256).unwrap());
        assert_eq!(unwrap_import(&other, &wrapped).unwrap_err().code, code::INVALID_ARGUMENT);
        let aes_key = load(&generate(Algorithm::Aes256Gcm).unwrap());
        assert_eq!(unwrap_import(&aes_key, &wrapped).unwrap_err().code, code::FAILED_PRECONDITION);
        assert_eq!(unwrap_import(&w, &vec![0u8; 65537]).unwrap_err().message, "wrapped_key is 65537 bytes; the limit is 65536");
        // The unwrapped material imports.
        let m = unwrap_import(&w, &wrapped).unwrap();
        assert!(import(Algorithm::Aes256Gcm, &m).is_ok());
    }
}
