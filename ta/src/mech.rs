//! Mechanisms: which ones the TA offers, and how each maps onto the crypto
//! primitives. Authorization happens before these are called (policy.rs).

use crate::keys::{
    crypto_denied, denied, der_octet_string, edwards_curve, mldsa_param, mlkem_param, montgomery_params, unwrap_ec_point, LoadedKey, SM2_EC_PARAMS,
};
use crate::object::Object;
use crate::policy::Denied;
use teehsm_crypto::digest::HashAlg;
use teehsm_crypto::eddsa::{Ed25519Variant, Ed448Variant};
use teehsm_crypto::kdf::KdfHash;
use teehsm_crypto::lc::Sha3;
use teehsm_crypto::sym::Cipher;
use teehsm_crypto::{digest, ec, eddsa, keywrap, mac, mldsa, mlkem, rsa, sm2, sym, x25519};
use teehsm_wire::ck::*;
use teehsm_wire::{MechParam, Mechanism, Rv};
use zeroize::Zeroizing;

/// (mechanism, min key size, max key size, CKF_* flags) as C_GetMechanismInfo reports.
pub const MECHANISMS: &[(u64, u64, u64, u64)] = &[
    (CKM_EC_KEY_PAIR_GEN, 256, 384, CKF_HW | CKF_GENERATE_KEY_PAIR | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_ECDSA, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_ECDSA_SHA1, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_ECDSA_SHA224, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_ECDSA_SHA256, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_ECDSA_SHA384, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_ECDSA_SHA512, 256, 384, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    // Ed25519 (255 bits) and Ed448 (448 bits).
    (CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 448, CKF_HW | CKF_GENERATE_KEY_PAIR | CKF_EC_NAMED_CURVE),
    (CKM_EDDSA, 255, 448, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_NAMED_CURVE),
    (CKM_EC_MONTGOMERY_KEY_PAIR_GEN, 255, 255, CKF_HW | CKF_GENERATE_KEY_PAIR | CKF_EC_NAMED_CURVE),
    (CKM_ECDH1_DERIVE, 255, 384, CKF_HW | CKF_DERIVE | CKF_EC_F_P | CKF_EC_NAMED_CURVE | CKF_EC_UNCOMPRESS),
    (CKM_CONCATENATE_BASE_AND_KEY, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_CONCATENATE_BASE_AND_DATA, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_CONCATENATE_DATA_AND_BASE, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_XOR_BASE_AND_DATA, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_EXTRACT_KEY_FROM_KEY, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_SP800_108_COUNTER_KDF, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_SP800_108_FEEDBACK_KDF, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_SP800_108_DOUBLE_PIPELINE_KDF, 1, 512, CKF_HW | CKF_DERIVE),
    (CKM_AES_ECB_ENCRYPT_DATA, 16, 32, CKF_HW | CKF_DERIVE),
    (CKM_AES_CBC_ENCRYPT_DATA, 16, 32, CKF_HW | CKF_DERIVE),
    (CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR),
    (CKM_RSA_PKCS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
    (CKM_RSA_PKCS_PSS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_RSA_PKCS_OAEP, 2048, 4096, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
    (CKM_SHA1_RSA_PKCS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA224_RSA_PKCS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA256_RSA_PKCS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_RSA_PKCS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_RSA_PKCS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA1_RSA_PKCS_PSS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA224_RSA_PKCS_PSS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA_1, 0, 0, CKF_HW | CKF_DIGEST),
    (CKM_SHA224, 0, 0, CKF_HW | CKF_DIGEST),
    (CKM_SHA256, 0, 0, CKF_HW | CKF_DIGEST),
    (CKM_SHA384, 0, 0, CKF_HW | CKF_DIGEST),
    (CKM_SHA512, 0, 0, CKF_HW | CKF_DIGEST),
    (CKM_SHA_1_HMAC, 1, 512, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA224_HMAC, 1, 512, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA256_HMAC, 1, 512, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA384_HMAC, 1, 512, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SHA512_HMAC, 1, 512, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_GENERIC_SECRET_KEY_GEN, 1, 512, CKF_HW | CKF_GENERATE),
    (CKM_SHA_1_KEY_GEN, 1, 512, CKF_HW | CKF_GENERATE),
    (CKM_SHA224_KEY_GEN, 1, 512, CKF_HW | CKF_GENERATE),
    (CKM_SHA256_KEY_GEN, 1, 512, CKF_HW | CKF_GENERATE),
    (CKM_SHA384_KEY_GEN, 1, 512, CKF_HW | CKF_GENERATE),
    (CKM_SHA512_KEY_GEN, 1, 512, CKF_HW | CKF_GENERATE),
    (CKM_AES_KEY_GEN, 16, 32, CKF_HW | CKF_GENERATE),
    (CKM_AES_ECB, 16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_CBC, 16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_CBC_PAD, 16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_CTR, 16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_GCM, 16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_AES_CMAC, 16, 32, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_AES_KEY_WRAP, 16, 32, CKF_HW | CKF_WRAP | CKF_UNWRAP),
    (CKM_AES_KEY_WRAP_PAD, 16, 32, CKF_HW | CKF_WRAP | CKF_UNWRAP),
    (CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_HW | CKF_WRAP | CKF_UNWRAP),
    (CKM_ML_KEM_KEY_PAIR_GEN, 512, 1024, CKF_HW | CKF_GENERATE_KEY_PAIR),
    (CKM_ML_KEM, 512, 1024, CKF_HW | CKF_ENCAPSULATE | CKF_DECAPSULATE),
    (CKM_ML_DSA_KEY_PAIR_GEN, 44, 87, CKF_HW | CKF_GENERATE_KEY_PAIR),
    (CKM_ML_DSA, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA224, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA256, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA384, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA512, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_224, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_256, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_384, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHA3_512, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHAKE128, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_HASH_ML_DSA_SHAKE256, 44, 87, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SM3, 0, 0, CKF_HW | CKF_DIGEST),
    (CKM_SM3_HMAC, 1, 512, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SM4_KEY_GEN, 16, 16, CKF_HW | CKF_GENERATE),
    (CKM_SM4_ECB, 16, 16, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_SM4_CBC, 16, 16, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_SM4_CBC_PAD, 16, 16, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_SM4_CTR, 16, 16, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_SM4_GCM, 16, 16, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
    (CKM_SM4_MAC, 16, 16, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SM2_KEY_PAIR_GEN, 256, 256, CKF_HW | CKF_GENERATE_KEY_PAIR),
    (CKM_SM2, 256, 256, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SM2_SM3, 256, 256, CKF_HW | CKF_SIGN | CKF_VERIFY),
    (CKM_SM2_ENCRYPT, 256, 256, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT),
];

/// Mechanism groups, as patterns (used in several match arms here and in stream.rs).
macro_rules! ECDSA_HASHED {
    () => {
        CKM_ECDSA_SHA1 | CKM_ECDSA_SHA224 | CKM_ECDSA_SHA256 | CKM_ECDSA_SHA384 | CKM_ECDSA_SHA512
    };
}
macro_rules! RSA_PKCS1_HASHED {
    () => {
        CKM_SHA1_RSA_PKCS | CKM_SHA224_RSA_PKCS | CKM_SHA256_RSA_PKCS | CKM_SHA384_RSA_PKCS | CKM_SHA512_RSA_PKCS
    };
}
macro_rules! RSA_PSS_HASHED {
    () => {
        CKM_SHA1_RSA_PKCS_PSS | CKM_SHA224_RSA_PKCS_PSS | CKM_SHA256_RSA_PKCS_PSS | CKM_SHA384_RSA_PKCS_PSS | CKM_SHA512_RSA_PKCS_PSS
    };
}
macro_rules! HMAC_MECHS {
    () => {
        CKM_SHA_1_HMAC | CKM_SHA224_HMAC | CKM_SHA256_HMAC | CKM_SHA384_HMAC | CKM_SHA512_HMAC | CKM_SM3_HMAC
    };
}
pub(crate) use {ECDSA_HASHED, HMAC_MECHS, RSA_PKCS1_HASHED, RSA_PSS_HASHED};

fn invalid(mech: u64) -> Denied {
    denied(Rv::MECHANISM_INVALID, format!("mechanism 0x{mech:x} is not supported for this operation"))
}

/// The error for a (mechanism, key) pair no arm handles: the key is the
/// problem only when the mechanism is offered for this operation at all.
fn unhandled(mech: u64, op_flag: u64) -> Denied {
    if MECHANISMS.iter().any(|(x, _, _, flags)| *x == mech && flags & op_flag != 0) {
        inconsistent(mech)
    } else {
        invalid(mech)
    }
}

fn param_invalid(msg: impl Into<String>) -> Denied {
    denied(Rv::MECHANISM_PARAM_INVALID, msg)
}

fn inconsistent(mech: u64) -> Denied {
    denied(Rv::KEY_TYPE_INCONSISTENT, format!("the key's type does not fit mechanism 0x{mech:x}"))
}

pub(crate) fn hash_of(mech: u64) -> Option<HashAlg> {
    Some(match mech {
        CKM_SHA_1 | CKM_ECDSA_SHA1 | CKM_SHA1_RSA_PKCS | CKM_SHA1_RSA_PKCS_PSS | CKM_SHA_1_HMAC => HashAlg::Sha1,
        CKM_SHA224 | CKM_ECDSA_SHA224 | CKM_SHA224_RSA_PKCS | CKM_SHA224_RSA_PKCS_PSS | CKM_SHA224_HMAC => HashAlg::Sha224,
        CKM_SHA256 | CKM_ECDSA_SHA256 | CKM_SHA256_RSA_PKCS | CKM_SHA256_RSA_PKCS_PSS | CKM_SHA256_HMAC => HashAlg::Sha256,
        CKM_SHA384 | CKM_ECDSA_SHA384 | CKM_SHA384_RSA_PKCS | CKM_SHA384_RSA_PKCS_PSS | CKM_SHA384_HMAC => HashAlg::Sha384,
        CKM_SHA512 | CKM_ECDSA_SHA512 | CKM_SHA512_RSA_PKCS | CKM_SHA512_RSA_PKCS_PSS | CKM_SHA512_HMAC => HashAlg::Sha512,
        CKM_SM3 | CKM_SM3_HMAC => HashAlg::Sm3,
        _ => return None,
    })
}

fn hash_from_ckm(h: u64) -> Result<HashAlg, Denied> {
    hash_of(h).ok_or_else(|| param_invalid(format!("hash 0x{h:x} is not supported")))
}

/// The hash of a CKG_MGF1_* mask generation function.
fn mgf_hash(mgf: u64) -> Result<HashAlg, Denied> {
    Ok(match mgf {
        CKG_MGF1_SHA1 => HashAlg::Sha1,
        CKG_MGF1_SHA224 => HashAlg::Sha224,
        CKG_MGF1_SHA256 => HashAlg::Sha256,
        CKG_MGF1_SHA384 => HashAlg::Sha384,
        CKG_MGF1_SHA512 => HashAlg::Sha512,
        _ => return Err(param_invalid(format!("MGF 0x{mgf:x} is not supported (MGF1 with SHA-1 or SHA-2)"))),
    })
}

/// An RSA hash: SHA-1 or SHA-2 (not SM3).
fn rsa_hash(h: u64) -> Result<HashAlg, Denied> {
    match hash_from_ckm(h)? {
        HashAlg::Sm3 => Err(param_invalid("RSA does not take SM3")),
        a => Ok(a),
    }
}

/// Largest PSS salt PKCS#11 callers may ask for: sane bound, the modulus checks the rest.
const MAX_PSS_SALT: u64 = 1024;

/// CK_RSA_PKCS_PSS_PARAMS: (hash, MGF1 hash, salt length).
pub(crate) fn pss_params(m: &Mechanism, implied: Option<HashAlg>) -> Result<(HashAlg, HashAlg, usize), Denied> {
    match &m.param {
        MechParam::Pss { hash, mgf, salt_len } => {
            let h = rsa_hash(*hash)?;
            if implied.is_some_and(|i| i != h) {
                return Err(param_invalid("PSS hash differs from the mechanism's hash"));
            }
            if *salt_len > MAX_PSS_SALT {
                return Err(param_invalid(format!("PSS salt of {salt_len} bytes is too long")));
            }
            Ok((h, mgf_hash(*mgf)?, *salt_len as usize))
        }
        _ => Err(param_invalid("RSA-PSS needs CK_RSA_PKCS_PSS_PARAMS")),
    }
}

/// CKM_EDDSA's variant and context for an Ed25519 key. No parameter (or
/// phFlag false with no context) is PureEdDSA; phFlag false with a context is
/// Ed25519ctx; phFlag true is Ed25519ph (context optional).
fn eddsa_params(m: &Mechanism) -> Result<(Ed25519Variant, &[u8]), Denied> {
    let (v, ctx): (Ed25519Variant, &[u8]) = match &m.param {
        MechParam::None => (Ed25519Variant::Pure, &[]),
        MechParam::Eddsa { prehash: false, context } if context.is_empty() => (Ed25519Variant::Pure, &[]),
        MechParam::Eddsa { prehash: false, context } => (Ed25519Variant::Ctx, context),
        MechParam::Eddsa { prehash: true, context } => (Ed25519Variant::Ph, context),
        _ => return Err(param_invalid("CKM_EDDSA takes CK_EDDSA_PARAMS or no parameter")),
    };
    if ctx.len() > 255 {
        return Err(param_invalid("an EdDSA context is at most 255 bytes"));
    }
    Ok((v, ctx))
}

/// CKM_EDDSA's variant and context for an Ed448 key (RFC 8032 5.2: Ed448
/// always has a context, possibly empty). No parameter, or phFlag false, is
/// Ed448 with the given (or the empty) context; phFlag true is Ed448ph.
fn ed448_params(m: &Mechanism) -> Result<(Ed448Variant, &[u8]), Denied> {
    // The parameter's form and the context length are checked as for Ed25519.
    eddsa_params(m)?;
    Ok(match &m.param {
        MechParam::Eddsa { prehash: true, context } => (Ed448Variant::Ph, context),
        MechParam::Eddsa { prehash: false, context } => (Ed448Variant::Pure, context),
        _ => (Ed448Variant::Pure, &[]),
    })
}

pub(crate) fn sm2_user_id(m: &Mechanism) -> Result<&[u8], Denied> {
    match &m.param {
        MechParam::None => Ok(sm2::DEFAULT_USER_ID),
        MechParam::Sm2 { user_id } | MechParam::Bytes(user_id) if user_id.is_empty() => Ok(sm2::DEFAULT_USER_ID),
        MechParam::Sm2 { user_id } | MechParam::Bytes(user_id) => Ok(user_id),
        _ => Err(param_invalid("SM2 signatures take an optional user ID")),
    }
}

/// How an ML-DSA mechanism signs: pure, or HashML-DSA with the caller
/// supplying the hash (`prehashed`) or the TA computing it.
enum MlDsaMode {
    Pure,
    Hash { ph: mldsa::PreHash, prehashed: bool },
}

fn hedge_of(hedge: u64) -> Result<mldsa::Hedge, Denied> {
    match hedge {
        CKH_HEDGE_PREFERRED | CKH_HEDGE_REQUIRED => Ok(mldsa::Hedge::Hedged),
        CKH_DETERMINISTIC_REQUIRED => Ok(mldsa::Hedge::Deterministic),
        h => Err(param_invalid(format!("unknown ML-DSA hedge variant 0x{h:x}"))),
    }
}

/// The pre-hash a CKM_HASH_ML_DSA_* mechanism, or CK_HASH_SIGN_ADDITIONAL_CONTEXT's hash, names.
fn prehash_of(mech: u64) -> Option<mldsa::PreHash> {
    use mldsa::PreHash as P;
    Some(match mech {
        CKM_HASH_ML_DSA_SHA224 | CKM_SHA224 => P::Sha224,
        CKM_HASH_ML_DSA_SHA256 | CKM_SHA256 => P::Sha256,
        CKM_HASH_ML_DSA_SHA384 | CKM_SHA384 => P::Sha384,
        CKM_HASH_ML_DSA_SHA512 | CKM_SHA512 => P::Sha512,
        CKM_HASH_ML_DSA_SHA3_224 | CKM_SHA3_224 => P::Sha3_224,
        CKM_HASH_ML_DSA_SHA3_256 | CKM_SHA3_256 => P::Sha3_256,
        CKM_HASH_ML_DSA_SHA3_384 | CKM_SHA3_384 => P::Sha3_384,
        CKM_HASH_ML_DSA_SHA3_512 | CKM_SHA3_512 => P::Sha3_512,
        CKM_HASH_ML_DSA_SHAKE128 => P::Shake128,
        CKM_HASH_ML_DSA_SHAKE256 => P::Shake256,
        _ => return None,
    })
}

/// True for the ML-DSA signing mechanisms (all take an ML-DSA key).
pub(crate) fn is_mldsa(mech: u64) -> bool {
    mech == CKM_ML_DSA || mech == CKM_HASH_ML_DSA || (CKM_HASH_ML_DSA_SHA224..=CKM_HASH_ML_DSA_SHAKE256).contains(&mech)
}

/// True for mechanisms that sign a caller-computed value and so take no
/// multi-part input (PKCS#11 3.2: CKM_HASH_ML_DSA is single-part only).
pub(crate) fn single_part_only(mech: u64) -> bool {
    mech == CKM_HASH_ML_DSA
}

/// CKM_ML_DSA / CKM_HASH_ML_DSA(_*) parameters: (mode, context, hedge).
/// `None` (no parameter) is the empty context, hedged.
fn mldsa_params(m: &Mechanism) -> Result<(MlDsaMode, &[u8], mldsa::Hedge), Denied> {
    let (ctx, hedge): (&[u8], mldsa::Hedge) = match (&m.param, m.mech) {
        (MechParam::None, CKM_HASH_ML_DSA) => return Err(param_invalid("CKM_HASH_ML_DSA needs CK_HASH_SIGN_ADDITIONAL_CONTEXT (the hash)")),
        (MechParam::None, _) => (&[], mldsa::Hedge::Hedged),
        (MechParam::SignContext { hedge, context }, mech) if mech != CKM_HASH_ML_DSA => (context, hedge_of(*hedge)?),
        (MechParam::HashSignContext { hedge, context, .. }, CKM_HASH_ML_DSA) => (context, hedge_of(*hedge)?),
        _ => return Err(param_invalid("ML-DSA takes CK_SIGN_ADDITIONAL_CONTEXT (CK_HASH_SIGN_ADDITIONAL_CONTEXT for CKM_HASH_ML_DSA)")),
    };
    if ctx.len() > 255 {
        return Err(param_invalid("an ML-DSA context is at most 255 bytes"));
    }
    let mode = match (m.mech, &m.param) {
        (CKM_ML_DSA, _) => MlDsaMode::Pure,
        (CKM_HASH_ML_DSA, MechParam::HashSignContext { hash, .. }) => MlDsaMode::Hash {
            ph: prehash_of(*hash)
                .filter(|_| *hash < CKM_HASH_ML_DSA_SHA224 || *hash > CKM_HASH_ML_DSA_SHAKE256)
                .ok_or_else(|| param_invalid(format!("HashML-DSA with hash 0x{hash:x} is not supported")))?,
            prehashed: true,
        },
        (mech, _) => MlDsaMode::Hash { ph: prehash_of(mech).ok_or_else(|| invalid(mech))?, prehashed: false },
    };
    Ok((mode, ctx, hedge))
}

/// Checks a signature mechanism's parameters as C_SignInit / C_VerifyInit do
/// (ML-DSA and EdDSA; the others are checked by their own init paths).
pub(crate) fn check_params(m: &Mechanism) -> Result<(), Denied> {
    if m.mech == CKM_EDDSA {
        return eddsa_params(m).map(|_| ());
    }
    mldsa_params(m).map(|_| ())
}

fn mldsa_sign(k: &mldsa::MlDsaPrivateKey, m: &Mechanism, data: &[u8]) -> Result<Vec<u8>, Denied> {
    let c = crypto_denied;
    let (mode, ctx, hedge) = mldsa_params(m)?;
    match mode {
        // The empty context, hedged: aws-lc-rs' own ML-DSA signing.
        MlDsaMode::Pure if ctx.is_empty() && hedge == mldsa::Hedge::Hedged => k.sign(data).map_err(c),
        MlDsaMode::Pure => k.sign_with_context(ctx, data, hedge).map_err(c),
        MlDsaMode::Hash { ph, prehashed: true } => k.sign_prehashed(ctx, ph, data, hedge).map_err(c),
        MlDsaMode::Hash { ph, prehashed: false } => k.sign_prehashed(ctx, ph, &ph.digest(data).map_err(c)?, hedge).map_err(c),
    }
}

fn mldsa_verify(param: mldsa::MlDsaParam, key: &[u8], m: &Mechanism, data: &[u8], sig: &[u8]) -> Result<(), teehsm_crypto::CryptoError> {
    let (mode, ctx, _) = mldsa_params(m).map_err(|d| teehsm_crypto::CryptoError::Unsupported(d.message))?;
    match mode {
        MlDsaMode::Pure if ctx.is_empty() => mldsa::verify(param, key, data, sig),
        MlDsaMode::Pure => mldsa::verify_with_context(param, key, ctx, data, sig),
        MlDsaMode::Hash { ph, prehashed: true } => mldsa::verify_prehashed(param, key, ctx, ph, data, sig),
        MlDsaMode::Hash { ph, prehashed: false } => mldsa::verify_prehashed(param, key, ctx, ph, &ph.digest(data)?, sig),
    }
}

pub(crate) fn secret_for<'a>(k: &'a LoadedKey, mech: u64, types: &[u64]) -> Result<&'a [u8], Denied> {
    match k {
        LoadedKey::Secret { key_type, bytes } if types.contains(key_type) => Ok(bytes),
        _ => Err(inconsistent(mech)),
    }
}

/// The key bytes of an HMAC key (any HMAC-capable secret key type).
pub(crate) fn hmac_key(k: &LoadedKey, mech: u64) -> Result<&[u8], Denied> {
    secret_for(k, mech, HMAC_TYPES)
}

/// Is `mech` offered with CKF flag `op_flag`?
pub(crate) fn offered(mech: u64, op_flag: u64) -> bool {
    MECHANISMS.iter().any(|(x, _, _, flags)| *x == mech && flags & op_flag != 0)
}

const HMAC_TYPES: &[u64] = &[CKK_GENERIC_SECRET, CKK_SHA_1_HMAC, CKK_SHA224_HMAC, CKK_SHA256_HMAC, CKK_SHA384_HMAC, CKK_SHA512_HMAC];

/// C_Sign.
pub fn sign(k: &LoadedKey, m: &Mechanism, data: &[u8]) -> Result<Vec<u8>, Denied> {
    let c = crypto_denied;
    match (m.mech, k) {
        (CKM_ECDSA, LoadedKey::Ec(k)) => k.sign_prehashed(data).map_err(c),
        (ECDSA_HASHED!(), LoadedKey::Ec(k)) => k.sign(hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, data).map_err(c),
        (CKM_RSA_PKCS, LoadedKey::Rsa(k)) => k.sign_pkcs1v15_raw(data).map_err(c),
        (RSA_PKCS1_HASHED!(), LoadedKey::Rsa(k)) => k.sign_pkcs1v15(hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, data).map_err(c),
        (CKM_RSA_PKCS_PSS, LoadedKey::Rsa(k)) => {
            let (h, mgf, salt) = pss_params(m, None)?;
            k.sign_pss_mgf1_prehashed(h, mgf, data, salt).map_err(c)
        }
        (RSA_PSS_HASHED!(), LoadedKey::Rsa(k)) => {
            let (h, mgf, salt) = pss_params(m, hash_of(m.mech))?;
            k.sign_pss_mgf1_prehashed(h, mgf, &digest::digest(h, data), salt).map_err(c)
        }
        (CKM_EDDSA, LoadedKey::Ed25519(k)) => {
            let (v, ctx) = eddsa_params(m)?;
            k.sign(v, ctx, data).map_err(c)
        }
        (CKM_EDDSA, LoadedKey::Ed448(k)) => {
            let (v, ctx) = ed448_params(m)?;
            k.sign(v, ctx, data).map_err(c)
        }
        (CKM_SM2, LoadedKey::Sm2(k)) => k.sign_prehashed(data).map_err(c),
        (CKM_SM2_SM3, LoadedKey::Sm2(k)) => k.sign(sm2_user_id(m)?, data).map_err(c),
        (mech, LoadedKey::MlDsa(k)) if is_mldsa(mech) => mldsa_sign(k, m, data),
        (HMAC_MECHS!(), k) => mac::hmac(hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, secret_for(k, m.mech, HMAC_TYPES)?, data).map_err(c),
        (CKM_AES_CMAC, k) => mac::cmac(Cipher::Aes, secret_for(k, m.mech, &[CKK_AES])?, data).map(|t| t.to_vec()).map_err(c),
        (CKM_SM4_MAC, k) => mac::cmac(Cipher::Sm4, secret_for(k, m.mech, &[CKK_SM4])?, data).map(|t| t.to_vec()).map_err(c),
        (mech, _) => Err(unhandled(mech, CKF_SIGN)),
    }
}

/// C_Verify.
pub fn verify(k: &LoadedKey, m: &Mechanism, data: &[u8], sig: &[u8]) -> Result<(), Denied> {
    let c = |e: teehsm_crypto::CryptoError| match e {
        teehsm_crypto::CryptoError::DataLenRange(msg) if msg.contains("signature") => denied(Rv::SIGNATURE_LEN_RANGE, msg),
        e => crypto_denied(e),
    };
    match (m.mech, k) {
        (CKM_ECDSA, LoadedKey::EcPublic { curve, point }) => ec::verify_prehashed(*curve, point, data, sig).map_err(c),
        (ECDSA_HASHED!(), LoadedKey::EcPublic { curve, point }) => {
            ec::verify(*curve, point, hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, data, sig).map_err(c)
        }
        (CKM_RSA_PKCS, LoadedKey::RsaPublic(k)) => k.verify_pkcs1v15_raw(data, sig).map_err(c),
        (RSA_PKCS1_HASHED!(), LoadedKey::RsaPublic(k)) => k.verify_pkcs1v15(hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, data, sig).map_err(c),
        (CKM_RSA_PKCS_PSS, LoadedKey::RsaPublic(k)) => {
            let (h, mgf, salt) = pss_params(m, None)?;
            k.verify_pss_mgf1_prehashed(h, mgf, data, sig, salt).map_err(c)
        }
        (RSA_PSS_HASHED!(), LoadedKey::RsaPublic(k)) => {
            let (h, mgf, salt) = pss_params(m, hash_of(m.mech))?;
            k.verify_pss_mgf1_prehashed(h, mgf, &digest::digest(h, data), sig, salt).map_err(c)
        }
        (CKM_EDDSA, LoadedKey::Ed25519Public { key }) => {
            let (v, ctx) = eddsa_params(m)?;
            eddsa::verify(key, v, ctx, data, sig).map_err(c)
        }
        (CKM_EDDSA, LoadedKey::Ed448Public { key }) => {
            let (v, ctx) = ed448_params(m)?;
            eddsa::verify_ed448(key, v, ctx, data, sig).map_err(c)
        }
        (CKM_SM2, LoadedKey::Sm2Public { point }) => sm2::verify_prehashed(point, data, sig).map_err(c),
        (CKM_SM2_SM3, LoadedKey::Sm2Public { point }) => sm2::verify(point, sm2_user_id(m)?, data, sig).map_err(c),
        (mech, LoadedKey::MlDsaPublic { param, key }) if is_mldsa(mech) => {
            mldsa_params(m)?;
            mldsa_verify(*param, key, m, data, sig).map_err(c)
        }
        (HMAC_MECHS!(), k) => {
            mac::hmac_verify(hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, secret_for(k, m.mech, HMAC_TYPES)?, data, sig).map_err(c)
        }
        (CKM_AES_CMAC | CKM_SM4_MAC, k) => {
            let expect = sign(k, m, data)?;
            if sig.len() != expect.len() {
                return Err(denied(Rv::SIGNATURE_LEN_RANGE, "MAC length out of range"));
            }
            if teehsm_crypto::kdf::ct_eq(&expect[..sig.len()], sig) {
                Ok(())
            } else {
                Err(denied(Rv::SIGNATURE_INVALID, "MAC does not match"))
            }
        }
        (mech, _) => Err(unhandled(mech, CKF_VERIFY)),
    }
}

pub(crate) fn cipher_of(mech: u64) -> Option<(Cipher, u64)> {
    Some(match mech {
        CKM_AES_ECB | CKM_AES_CBC | CKM_AES_CBC_PAD | CKM_AES_CTR | CKM_AES_GCM => (Cipher::Aes, CKK_AES),
        CKM_SM4_ECB | CKM_SM4_CBC | CKM_SM4_CBC_PAD | CKM_SM4_CTR | CKM_SM4_GCM => (Cipher::Sm4, CKK_SM4),
        _ => return None,
    })
}

pub(crate) fn iv(m: &Mechanism) -> Result<&[u8], Denied> {
    match &m.param {
        MechParam::Bytes(iv) if iv.len() == 16 => Ok(iv),
        _ => Err(param_invalid("CBC needs a 16-byte IV")),
    }
}

pub(crate) fn gcm(m: &Mechanism) -> Result<(&[u8], &[u8], usize), Denied> {
    match &m.param {
        MechParam::Gcm { iv, aad, tag_bits }
            if matches!(tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128) && (1..=teehsm_crypto::gcm::MAX_IV_LEN).contains(&iv.len()) =>
        {
            Ok((iv, aad, *tag_bits as usize / 8))
        }
        _ => Err(param_invalid("GCM needs CK_GCM_PARAMS with a 1- to 256-byte IV and a tag of 32, 64 or 96..128 bits")),
    }
}

/// CK_AES_CTR_PARAMS (also used for SM4): a full counter block and a
/// counter width of 1..=128 bits.
pub(crate) fn ctr(m: &Mechanism) -> Result<(&[u8], u32), Denied> {
    match &m.param {
        MechParam::Ctr { counter_bits, counter_block } if counter_block.len() == 16 && (1..=128).contains(counter_bits) => {
            Ok((counter_block, *counter_bits))
        }
        _ => Err(param_invalid("CTR needs a 16-byte counter block and a counter width of 1 to 128 bits")),
    }
}

/// CK_RSA_PKCS_OAEP_PARAMS: (hash, MGF1 hash, label).
fn oaep(m: &Mechanism) -> Result<(HashAlg, HashAlg, &[u8]), Denied> {
    match &m.param {
        MechParam::Oaep { hash, mgf, source, source_data } => {
            let h = rsa_hash(*hash)?;
            let g = mgf_hash(*mgf)?;
            if *source != 0 && *source != CKZ_DATA_SPECIFIED {
                return Err(param_invalid("OAEP source must be CKZ_DATA_SPECIFIED"));
            }
            if *source == 0 && !source_data.is_empty() {
                return Err(param_invalid("OAEP source data needs source CKZ_DATA_SPECIFIED"));
            }
            Ok((h, g, source_data))
        }
        _ => Err(param_invalid("RSA-OAEP needs CK_RSA_PKCS_OAEP_PARAMS")),
    }
}

/// C_Encrypt.
pub fn encrypt(k: &LoadedKey, m: &Mechanism, data: &[u8]) -> Result<Vec<u8>, Denied> {
    let c = crypto_denied;
    if let Some((cipher, kt)) = cipher_of(m.mech) {
        let key = secret_for(k, m.mech, &[kt])?;
        return match m.mech {
            CKM_AES_ECB | CKM_SM4_ECB => sym::ecb_encrypt(cipher, key, data),
            CKM_AES_CBC | CKM_SM4_CBC => sym::cbc_encrypt(cipher, key, iv(m)?, data, false),
            CKM_AES_CBC_PAD | CKM_SM4_CBC_PAD => sym::cbc_encrypt(cipher, key, iv(m)?, data, true),
            CKM_AES_CTR | CKM_SM4_CTR => match &m.param {
                MechParam::Ctr { .. } => {
                    let (block, bits) = ctr(m)?;
                    sym::ctr_apply(cipher, key, block, bits, data)
                }
                _ => return Err(param_invalid("CTR needs CK_AES_CTR_PARAMS")),
            },
            _ => {
                let (iv, aad, tag) = gcm(m)?;
                sym::gcm_encrypt(cipher, key, iv, aad, data, tag)
            }
        }
        .map_err(c);
    }
    match (m.mech, k) {
        (CKM_RSA_PKCS_OAEP, LoadedKey::RsaPublic(k)) => {
            let (h, g, label) = oaep(m)?;
            k.encrypt_oaep_mgf1(h, g, label, data).map_err(c)
        }
        (CKM_RSA_PKCS, LoadedKey::RsaPublic(k)) => {
            no_param(m)?;
            k.encrypt_pkcs1v15(data).map_err(c)
        }
        (CKM_SM2_ENCRYPT, LoadedKey::Sm2Public { point }) => sm2::encrypt(point, data).map_err(c),
        (mech, _) => Err(unhandled(mech, CKF_ENCRYPT)),
    }
}

/// C_Decrypt.
pub fn decrypt(k: &LoadedKey, m: &Mechanism, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, Denied> {
    let c = crypto_denied;
    if let Some((cipher, kt)) = cipher_of(m.mech) {
        let key = secret_for(k, m.mech, &[kt])?;
        return match m.mech {
            CKM_AES_ECB | CKM_SM4_ECB => sym::ecb_decrypt(cipher, key, data).map(Zeroizing::new),
            CKM_AES_CBC | CKM_SM4_CBC => sym::cbc_decrypt(cipher, key, iv(m)?, data, false),
            CKM_AES_CBC_PAD | CKM_SM4_CBC_PAD => sym::cbc_decrypt(cipher, key, iv(m)?, data, true),
            CKM_AES_CTR | CKM_SM4_CTR => match &m.param {
                MechParam::Ctr { .. } => {
                    let (block, bits) = ctr(m)?;
                    sym::ctr_apply(cipher, key, block, bits, data).map(Zeroizing::new)
                }
                _ => return Err(param_invalid("CTR needs CK_AES_CTR_PARAMS")),
            },
            _ => {
                let (iv, aad, tag) = gcm(m)?;
                sym::gcm_decrypt(cipher, key, iv, aad, data, tag)
            }
        }
        .map_err(|e| match e {
            teehsm_crypto::CryptoError::DataLenRange(msg) => denied(Rv::ENCRYPTED_DATA_LEN_RANGE, msg),
            e => c(e),
        });
    }
    match (m.mech, k) {
        (CKM_RSA_PKCS_OAEP, LoadedKey::Rsa(k)) => {
            let (h, g, label) = oaep(m)?;
            k.decrypt_oaep_mgf1(h, g, label, data).map_err(rsa_decrypt_error)
        }
        (CKM_RSA_PKCS, LoadedKey::Rsa(k)) => {
            no_param(m)?;
            k.decrypt_pkcs1v15(data).map_err(rsa_decrypt_error)
        }
        (CKM_SM2_ENCRYPT, LoadedKey::Sm2(k)) => k.decrypt(data).map_err(|_| denied(Rv::ENCRYPTED_DATA_INVALID, "SM2 decryption failed")),
        (mech, _) => Err(unhandled(mech, CKF_DECRYPT)),
    }
}

/// RSA decryption failures: a wrong ciphertext length is a length error;
/// everything else is one indistinguishable CKR_ENCRYPTED_DATA_INVALID.
fn rsa_decrypt_error(e: teehsm_crypto::CryptoError) -> Denied {
    match e {
        teehsm_crypto::CryptoError::DataLenRange(msg) => denied(Rv::ENCRYPTED_DATA_LEN_RANGE, msg),
        teehsm_crypto::CryptoError::InvalidKey(msg) => denied(Rv::KEY_TYPE_INCONSISTENT, msg),
        _ => denied(Rv::ENCRYPTED_DATA_INVALID, "RSA decryption failed"),
    }
}

/// Mechanisms that take no parameter accept none (or an empty byte string).
fn no_param(m: &Mechanism) -> Result<(), Denied> {
    match &m.param {
        MechParam::None => Ok(()),
        MechParam::Bytes(b) if b.is_empty() => Ok(()),
        _ => Err(param_invalid(format!("mechanism 0x{:x} takes no parameter", m.mech))),
    }
}

/// C_Digest.
pub fn digest(m: &Mechanism, data: &[u8]) -> Result<Vec<u8>, Denied> {
    match m.mech {
        CKM_SHA_1 | CKM_SHA224 | CKM_SHA256 | CKM_SHA384 | CKM_SHA512 | CKM_SM3 => {
            Ok(digest::digest(hash_of(m.mech).ok_or_else(|| invalid(m.mech))?, data))
        }
        mech => Err(invalid(mech)),
    }
}

/// C_GenerateKey: returns (key type, key material) for a secret key.
pub fn generate_secret(m: &Mechanism, template: &Object) -> Result<(u64, Zeroizing<Vec<u8>>), Denied> {
    let (kt, default_len) = match m.mech {
        CKM_AES_KEY_GEN => (CKK_AES, None),
        CKM_SM4_KEY_GEN => (CKK_SM4, Some(16)),
        CKM_GENERIC_SECRET_KEY_GEN => (template.key_type().unwrap_or(CKK_GENERIC_SECRET), None),
        CKM_SHA_1_KEY_GEN => (CKK_SHA_1_HMAC, None),
        CKM_SHA224_KEY_GEN => (CKK_SHA224_HMAC, None),
        CKM_SHA256_KEY_GEN => (CKK_SHA256_HMAC, None),
        CKM_SHA384_KEY_GEN => (CKK_SHA384_HMAC, None),
        CKM_SHA512_KEY_GEN => (CKK_SHA512_HMAC, None),
        mech => return Err(invalid(mech)),
    };
    if let Some(t) = template.key_type() {
        if t != kt {
            return Err(denied(Rv::TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE does not match the key generation mechanism"));
        }
    }
    let len = match (template.ulong(CKA_VALUE_LEN), default_len) {
        (Some(l), _) => l as usize,
        (None, Some(d)) => d,
        (None, None) => return Err(denied(Rv::TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")),
    };
    crate::keys::check_secret_len(kt, len)?;
    Ok((kt, sym::generate_key(len).map_err(crypto_denied)?))
}

/// The result of C_GenerateKeyPair: public attributes to add to each half, and the private material.
pub struct GeneratedPair {
    pub key_type: u64,
    pub public_attrs: Vec<(u64, Vec<u8>)>,
    pub private_attrs: Vec<(u64, Vec<u8>)>,
    pub secret: Zeroizing<Vec<u8>>,
}

/// C_GenerateKeyPair.
pub fn generate_pair(m: &Mechanism, public: &Object, private: &Object) -> Result<GeneratedPair, Denied> {
    let c = crypto_denied;
    let either = |ty: u64| public.get(ty).or_else(|| private.get(ty));
    match m.mech {
        CKM_EC_KEY_PAIR_GEN => {
            let params = either(CKA_EC_PARAMS).ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required"))?;
            let curve = ec::Curve::from_ec_params(params).ok_or_else(|| denied(Rv::CURVE_NOT_SUPPORTED, "only P-256 and P-384 are supported"))?;
            let k = ec::generate(curve).map_err(c)?;
            let point = der_octet_string(&k.public_point());
            let p = curve.ec_params_der().to_vec();
            Ok(GeneratedPair {
                key_type: CKK_EC,
                public_attrs: vec![(CKA_EC_PARAMS, p.clone()), (CKA_EC_POINT, point.clone())],
                private_attrs: vec![(CKA_EC_PARAMS, p), (CKA_EC_POINT, point)],
                secret: k.scalar(),
            })
        }
        CKM_EC_EDWARDS_KEY_PAIR_GEN => {
            let (curve, p) = edwards_curve(either(CKA_EC_PARAMS))?;
            let (public, secret) = match curve {
                crate::keys::EdCurve::Ed25519 => {
                    let k = eddsa::generate().map_err(c)?;
                    (k.public_key(), k.seed())
                }
                crate::keys::EdCurve::Ed448 => {
                    let k = eddsa::generate_ed448().map_err(c)?;
                    (k.public_key(), k.seed())
                }
            };
            let point = der_octet_string(&public);
            Ok(GeneratedPair {
                key_type: CKK_EC_EDWARDS,
                public_attrs: vec![(CKA_EC_PARAMS, p.clone()), (CKA_EC_POINT, point.clone())],
                private_attrs: vec![(CKA_EC_PARAMS, p), (CKA_EC_POINT, point)],
                secret,
            })
        }
        CKM_EC_MONTGOMERY_KEY_PAIR_GEN => {
            let p = montgomery_params(either(CKA_EC_PARAMS))?;
            let k = x25519::generate().map_err(c)?;
            let point = der_octet_string(&k.public_key());
            Ok(GeneratedPair {
                key_type: CKK_EC_MONTGOMERY,
                public_attrs: vec![(CKA_EC_PARAMS, p.clone()), (CKA_EC_POINT, point.clone())],
                private_attrs: vec![(CKA_EC_PARAMS, p), (CKA_EC_POINT, point)],
                secret: k.to_bytes(),
            })
        }
        CKM_SM2_KEY_PAIR_GEN => {
            if let Some(p) = either(CKA_EC_PARAMS) {
                if p != SM2_EC_PARAMS {
                    return Err(denied(Rv::CURVE_NOT_SUPPORTED, "SM2 keys use the SM2 curve"));
                }
            }
            let k = sm2::generate().map_err(c)?;
            let point = der_octet_string(&k.public_point());
            Ok(GeneratedPair {
                key_type: CKK_SM2,
                public_attrs: vec![(CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec()), (CKA_EC_POINT, point.clone())],
                private_attrs: vec![(CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec()), (CKA_EC_POINT, point)],
                secret: k.scalar(),
            })
        }
        CKM_RSA_PKCS_KEY_PAIR_GEN => {
            let bits = public.ulong(CKA_MODULUS_BITS).ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_MODULUS_BITS is required"))?;
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err(denied(Rv::KEY_SIZE_RANGE, "RSA keys must be 2048, 3072 or 4096 bits"));
            }
            let e = public.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[1, 0, 1]);
            let k = rsa::generate(bits as usize, e).map_err(c)?;
            let (n, e) = (k.modulus(), k.public_exponent());
            Ok(GeneratedPair {
                key_type: CKK_RSA,
                public_attrs: vec![(CKA_MODULUS, n.clone()), (CKA_PUBLIC_EXPONENT, e.clone()), (CKA_MODULUS_BITS, bits.to_be_bytes().to_vec())],
                private_attrs: vec![(CKA_MODULUS, n), (CKA_PUBLIC_EXPONENT, e)],
                secret: k.to_pkcs1_der().map_err(c)?,
            })
        }
        CKM_ML_KEM_KEY_PAIR_GEN | CKM_ML_DSA_KEY_PAIR_GEN => {
            let set = public
                .ulong(CKA_PARAMETER_SET)
                .or_else(|| private.ulong(CKA_PARAMETER_SET))
                .ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_PARAMETER_SET is required"))?;
            let set_attr = (CKA_PARAMETER_SET, set.to_be_bytes().to_vec());
            if m.mech == CKM_ML_KEM_KEY_PAIR_GEN {
                let k = mlkem::generate(mlkem_param(set)?).map_err(c)?;
                Ok(GeneratedPair {
                    key_type: CKK_ML_KEM,
                    public_attrs: vec![set_attr.clone(), (CKA_VALUE, k.public_key().map_err(c)?)],
                    private_attrs: vec![set_attr],
                    secret: k.to_bytes().map_err(c)?,
                })
            } else {
                let k = mldsa::generate(mldsa_param(set)?).map_err(c)?;
                let secret = match k.seed() {
                    Some(s) => s,
                    None => k.raw_private().map_err(c)?,
                };
                Ok(GeneratedPair {
                    key_type: CKK_ML_DSA,
                    public_attrs: vec![set_attr.clone(), (CKA_VALUE, k.public_key())],
                    private_attrs: vec![set_attr],
                    secret,
                })
            }
        }
        mech => Err(invalid(mech)),
    }
}

const KW_KEK_SIZES: &str = "AES key wrap takes a 128- or 256-bit AES key (AES-192 is not supported)";

/// The AES key wrap backend accepts AES-128 and AES-256 key-encryption keys.
fn kw_kek_len_ok(kek: &[u8]) -> bool {
    matches!(kek.len(), 16 | 32)
}

/// C_WrapKey of a secret key's value.
pub fn wrap(wrapping: &LoadedKey, m: &Mechanism, key_bytes: &[u8]) -> Result<Vec<u8>, Denied> {
    let c = crypto_denied;
    if let (CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP, LoadedKey::Secret { key_type: CKK_AES, bytes }) = (m.mech, wrapping) {
        if !kw_kek_len_ok(bytes) {
            return Err(denied(Rv::WRAPPING_KEY_SIZE_RANGE, KW_KEK_SIZES));
        }
    }
    match (m.mech, wrapping) {
        (CKM_AES_KEY_WRAP, LoadedKey::Secret { key_type: CKK_AES, bytes }) => keywrap::aes_kw_wrap(bytes, key_bytes).map_err(c),
        (CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP, LoadedKey::Secret { key_type: CKK_AES, bytes }) => {
            keywrap::aes_kwp_wrap(bytes, key_bytes).map_err(c)
        }
        (CKM_RSA_PKCS_OAEP, LoadedKey::RsaPublic(k)) => {
            let (h, g, label) = oaep(m)?;
            k.encrypt_oaep_mgf1(h, g, label, key_bytes).map_err(c)
        }
        (CKM_RSA_PKCS, LoadedKey::RsaPublic(k)) => {
            no_param(m)?;
            k.encrypt_pkcs1v15(key_bytes).map_err(|e| match e {
                teehsm_crypto::CryptoError::DataLenRange(msg) => denied(Rv::KEY_SIZE_RANGE, msg),
                e => c(e),
            })
        }
        (CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP | CKM_RSA_PKCS_OAEP | CKM_RSA_PKCS, _) => {
            Err(denied(Rv::WRAPPING_KEY_TYPE_INCONSISTENT, "the wrapping key's type does not fit the mechanism"))
        }
        (mech, _) => Err(invalid(mech)),
    }
}

/// C_UnwrapKey: recovers key bytes.
pub fn unwrap(unwrapping: &LoadedKey, m: &Mechanism, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, Denied> {
    let bad = |_| denied(Rv::WRAPPED_KEY_INVALID, "the wrapped key does not authenticate under this unwrapping key");
    if let (CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP, LoadedKey::Secret { key_type: CKK_AES, bytes }) = (m.mech, unwrapping) {
        if !kw_kek_len_ok(bytes) {
            return Err(denied(Rv::UNWRAPPING_KEY_SIZE_RANGE, KW_KEK_SIZES));
        }
    }
    match (m.mech, unwrapping) {
        (CKM_AES_KEY_WRAP, LoadedKey::Secret { key_type: CKK_AES, bytes }) => keywrap::aes_kw_unwrap(bytes, wrapped).map_err(bad),
        (CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP, LoadedKey::Secret { key_type: CKK_AES, bytes }) => {
            keywrap::aes_kwp_unwrap(bytes, wrapped).map_err(bad)
        }
        (CKM_RSA_PKCS_OAEP, LoadedKey::Rsa(k)) => {
            let (h, g, label) = oaep(m)?;
            k.decrypt_oaep_mgf1(h, g, label, wrapped).map_err(bad)
        }
        (CKM_RSA_PKCS, LoadedKey::Rsa(k)) => {
            no_param(m)?;
            k.decrypt_pkcs1v15(wrapped).map_err(bad)
        }
        (CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP | CKM_RSA_PKCS_OAEP | CKM_RSA_PKCS, _) => {
            Err(denied(Rv::UNWRAPPING_KEY_TYPE_INCONSISTENT, "the unwrapping key's type does not fit the mechanism"))
        }
        (mech, _) => Err(invalid(mech)),
    }
}

/// True for the derivations that only rearrange key bytes (policy rule R10).
pub fn is_byte_derivation(mech: u64) -> bool {
    matches!(
        mech,
        CKM_CONCATENATE_BASE_AND_KEY
            | CKM_CONCATENATE_BASE_AND_DATA
            | CKM_CONCATENATE_DATA_AND_BASE
            | CKM_XOR_BASE_AND_DATA
            | CKM_EXTRACT_KEY_FROM_KEY
    )
}

fn derivation_data(m: &Mechanism) -> Result<&[u8], Denied> {
    match &m.param {
        MechParam::Bytes(d) if !d.is_empty() => Ok(d),
        _ => Err(param_invalid("this derivation needs CK_KEY_DERIVATION_STRING_DATA with at least one byte")),
    }
}

/// The key viewed as a bit string, rotated left by `bit` (PKCS#11
/// CKM_EXTRACT_KEY_FROM_KEY: bits are taken from `bit` on, wrapping around).
fn rotate_bits(key: &[u8], bit: u64) -> Zeroizing<Vec<u8>> {
    let n = key.len();
    let total = (n as u64) * 8;
    let shift = (bit % total.max(1)) as usize;
    let (bytes, bits) = (shift / 8, shift % 8);
    let mut out = Zeroizing::new(vec![0u8; n]);
    for i in 0..n {
        let a = key[(i + bytes) % n];
        let b = key[(i + bytes + 1) % n];
        out[i] = if bits == 0 { a } else { (a << bits) | (b >> (8 - bits)) };
    }
    out
}

/// C_DeriveKey: the derived key's bytes. `other` is the second key of
/// CKM_CONCATENATE_BASE_AND_KEY (the handler loads it; policy R10 applies to both).
///
/// `out_len` is the template's CKA_VALUE_LEN: how much a KDF produces (when
/// absent, one hash output).
pub fn derive(base: &LoadedKey, m: &Mechanism, other: Option<&LoadedKey>, out_len: Option<usize>) -> Result<Zeroizing<Vec<u8>>, Denied> {
    let base_bytes = |k: &LoadedKey| match k {
        LoadedKey::Secret { bytes, .. } => Ok(bytes.clone()),
        _ => Err(inconsistent(m.mech)),
    };
    match m.mech {
        CKM_CONCATENATE_BASE_AND_KEY => {
            let mut v = base_bytes(base)?;
            let second = other.ok_or_else(|| param_invalid("CKM_CONCATENATE_BASE_AND_KEY needs the second key's handle"))?;
            v.extend_from_slice(&base_bytes(second)?);
            return Ok(v);
        }
        CKM_CONCATENATE_BASE_AND_DATA => {
            let mut v = base_bytes(base)?;
            v.extend_from_slice(derivation_data(m)?);
            return Ok(v);
        }
        CKM_CONCATENATE_DATA_AND_BASE => {
            let mut v = Zeroizing::new(derivation_data(m)?.to_vec());
            v.extend_from_slice(&base_bytes(base)?);
            return Ok(v);
        }
        CKM_XOR_BASE_AND_DATA => {
            let b = base_bytes(base)?;
            let d = derivation_data(m)?;
            return Ok(Zeroizing::new(b.iter().zip(d).map(|(x, y)| x ^ y).collect()));
        }
        CKM_EXTRACT_KEY_FROM_KEY => {
            let bit = match &m.param {
                MechParam::Ulong(b) => *b,
                _ => return Err(param_invalid("CKM_EXTRACT_KEY_FROM_KEY needs CK_EXTRACT_PARAMS (a bit index)")),
            };
            return Ok(rotate_bits(&base_bytes(base)?, bit));
        }
        CKM_AES_ECB_ENCRYPT_DATA | CKM_AES_CBC_ENCRYPT_DATA => {
            let key = secret_for(base, m.mech, &[CKK_AES])?;
            let out = match (&m.param, m.mech) {
                (MechParam::Bytes(d), CKM_AES_ECB_ENCRYPT_DATA) if !d.is_empty() && d.len() % 16 == 0 => sym::ecb_encrypt(Cipher::Aes, key, d),
                (MechParam::CbcEncryptData { iv, data }, CKM_AES_CBC_ENCRYPT_DATA) if iv.len() == 16 && !data.is_empty() && data.len() % 16 == 0 => {
                    sym::cbc_encrypt(Cipher::Aes, key, iv, data, false)
                }
                _ => return Err(param_invalid("AES encrypt-data derivation needs whole 16-byte blocks of data (and a 16-byte IV for CBC)")),
            };
            return out.map(Zeroizing::new).map_err(crypto_denied);
        }
        _ => {}
    }
    match (m.mech, base) {
        (CKM_ECDH1_DERIVE, LoadedKey::Ec(_) | LoadedKey::X25519(_)) => match &m.param {
            MechParam::Ecdh { kdf, shared_data, public_data } => {
                let kdf = ecdh_kdf(*kdf)?;
                if kdf.is_none() && !shared_data.is_empty() {
                    return Err(param_invalid("CKD_NULL takes no shared data"));
                }
                // The peer's point is the mechanism parameter: a point not on
                // the curve is a parameter error, whatever the backend says.
                let peer_error = |e| match e {
                    teehsm_crypto::CryptoError::InvalidKey(msg) | teehsm_crypto::CryptoError::InvalidInput(msg) => {
                        param_invalid(format!("ECDH peer public point: {msg}"))
                    }
                    e => crypto_denied(e),
                };
                let z = match base {
                    LoadedKey::Ec(k) => k.ecdh(unwrap_ec_point(public_data)).map_err(peer_error)?,
                    LoadedKey::X25519(k) => k.agree(crate::keys::edwards_point(public_data)).map_err(peer_error)?,
                    _ => return Err(inconsistent(m.mech)),
                };
                let Some((kind, h)) = kdf else { return Ok(z) };
                let len = out_len.unwrap_or(match h {
                    KdfHash::Sha(a) => a.output_len(),
                    KdfHash::Sha3(f) => f.output_len().unwrap_or(32),
                });
                if len == 0 || len > teehsm_crypto::kdf::MAX_KDF_OUTPUT {
                    return Err(denied(Rv::KEY_SIZE_RANGE, format!("a KDF output of {len} bytes is not offered")));
                }
                match kind {
                    EcdhKdf::X963 => teehsm_crypto::kdf::x963_kdf(h, &z, shared_data, len),
                    EcdhKdf::Sp800 => teehsm_crypto::kdf::sp800_56c_one_step(h, &z, shared_data, len),
                }
                .map_err(crypto_denied)
            }
            _ => Err(param_invalid("ECDH needs CK_ECDH1_DERIVE_PARAMS")),
        },
        (CKM_ECDH1_DERIVE, _) => Err(inconsistent(m.mech)),
        (mech, _) => Err(invalid(mech)),
    }
}

/// True for the SP 800-108 mechanisms (which may derive several keys).
pub fn is_kbkdf(mech: u64) -> bool {
    matches!(mech, CKM_SP800_108_COUNTER_KDF | CKM_SP800_108_FEEDBACK_KDF | CKM_SP800_108_DOUBLE_PIPELINE_KDF)
}

/// The additional key templates of an SP 800-108 derivation.
pub fn kbkdf_additional_templates(m: &Mechanism) -> &[Vec<teehsm_wire::Attribute>] {
    match &m.param {
        MechParam::Kbkdf(k) if is_kbkdf(m.mech) => &k.additional_keys,
        _ => &[],
    }
}

/// C_DeriveKey with CKM_SP800_108_*: one value per entry of `key_lens`
/// (the primary key first, then the additional keys, in order).
pub fn kbkdf(base: &LoadedKey, m: &Mechanism, key_lens: &[usize]) -> Result<Vec<Zeroizing<Vec<u8>>>, Denied> {
    use teehsm_crypto::kbkdf::{self as kb, Field, IntFormat, Mode, Prf};
    use teehsm_wire::KdfDataParam as D;
    let MechParam::Kbkdf(p) = &m.param else {
        return Err(param_invalid("SP 800-108 derivation needs CK_SP800_108_KDF_PARAMS"));
    };
    let prf = match p.prf {
        CKM_AES_CMAC => Prf::AesCmac,
        CKM_SHA_1_HMAC | CKM_SHA224_HMAC | CKM_SHA256_HMAC | CKM_SHA384_HMAC | CKM_SHA512_HMAC => {
            Prf::Hmac(hash_of(p.prf).ok_or_else(|| invalid(p.prf))?)
        }
        other => return Err(param_invalid(format!("SP 800-108 PRF 0x{other:x} is not supported (HMAC-SHA-1/2 or AES-CMAC)"))),
    };
    let key = match prf {
        Prf::AesCmac => secret_for(base, m.mech, &[CKK_AES])?,
        Prf::Hmac(_) => secret_for(base, m.mech, HMAC_TYPES)?,
    };
    let mode = match m.mech {
        CKM_SP800_108_COUNTER_KDF => Mode::Counter,
        CKM_SP800_108_FEEDBACK_KDF => Mode::Feedback { iv: p.iv.clone() },
        _ => Mode::DoublePipeline,
    };
    if !matches!(mode, Mode::Feedback { .. }) && !p.iv.is_empty() {
        return Err(param_invalid("only feedback mode takes an IV"));
    }
    let fmt = |c: &teehsm_wire::CounterFormat| IntFormat { little_endian: c.little_endian, width_bits: c.width_bits };
    let fields = p
        .data
        .iter()
        .map(|d| {
            Ok(match d {
                D::IterationVariable { format } => Field::Iteration(format.as_ref().map(fmt)),
                D::Counter(c) => Field::Counter(fmt(c)),
                D::DkmLength { method, format } => Field::DkmLength {
                    sum_of_segments: match method {
                        1 => false,
                        2 => true,
                        m => return Err(param_invalid(format!("unknown DKM length method {m}"))),
                    },
                    format: fmt(format),
                },
                D::ByteArray(b) => Field::Bytes(b.clone()),
            })
        })
        .collect::<Result<Vec<_>, Denied>>()?;
    kb::derive(prf, key, &mode, &fields, key_lens).map_err(|e| match e {
        teehsm_crypto::CryptoError::InvalidInput(msg) => param_invalid(msg),
        teehsm_crypto::CryptoError::DataLenRange(msg) => denied(Rv::KEY_SIZE_RANGE, msg),
        e => crypto_denied(e),
    })
}

enum EcdhKdf {
    X963,
    Sp800,
}

/// CK_EC_KDF_TYPE: None for CKD_NULL, else the construction and its hash.
fn ecdh_kdf(kdf: u64) -> Result<Option<(EcdhKdf, KdfHash)>, Denied> {
    use teehsm_crypto::digest::HashAlg as H;
    Ok(Some(match kdf {
        CKD_NULL => return Ok(None),
        CKD_SHA1_KDF => (EcdhKdf::X963, KdfHash::Sha(H::Sha1)),
        CKD_SHA224_KDF => (EcdhKdf::X963, KdfHash::Sha(H::Sha224)),
        CKD_SHA256_KDF => (EcdhKdf::X963, KdfHash::Sha(H::Sha256)),
        CKD_SHA384_KDF => (EcdhKdf::X963, KdfHash::Sha(H::Sha384)),
        CKD_SHA512_KDF => (EcdhKdf::X963, KdfHash::Sha(H::Sha512)),
        CKD_SHA3_224_KDF => (EcdhKdf::X963, KdfHash::Sha3(Sha3::Sha3_224)),
        CKD_SHA3_256_KDF => (EcdhKdf::X963, KdfHash::Sha3(Sha3::Sha3_256)),
        CKD_SHA3_384_KDF => (EcdhKdf::X963, KdfHash::Sha3(Sha3::Sha3_384)),
        CKD_SHA3_512_KDF => (EcdhKdf::X963, KdfHash::Sha3(Sha3::Sha3_512)),
        CKD_SHA1_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha(H::Sha1)),
        CKD_SHA224_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha(H::Sha224)),
        CKD_SHA256_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha(H::Sha256)),
        CKD_SHA384_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha(H::Sha384)),
        CKD_SHA512_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha(H::Sha512)),
        CKD_SHA3_224_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha3(Sha3::Sha3_224)),
        CKD_SHA3_256_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha3(Sha3::Sha3_256)),
        CKD_SHA3_384_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha3(Sha3::Sha3_384)),
        CKD_SHA3_512_KDF_SP800 => (EcdhKdf::Sp800, KdfHash::Sha3(Sha3::Sha3_512)),
        k => return Err(param_invalid(format!("ECDH key derivation function 0x{k:x} is not supported"))),
    }))
}

/// C_EncapsulateKey: (ciphertext, shared secret).
pub fn encapsulate(public: &LoadedKey, m: &Mechanism) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Denied> {
    match (m.mech, public) {
        (CKM_ML_KEM, LoadedKey::MlKemPublic { param, key }) => mlkem::encapsulate(*param, key).map_err(crypto_denied),
        (CKM_ML_KEM, _) => Err(inconsistent(m.mech)),
        (mech, _) => Err(invalid(mech)),
    }
}

/// C_DecapsulateKey: shared secret.
pub fn decapsulate(private: &LoadedKey, m: &Mechanism, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Denied> {
    match (m.mech, private) {
        (CKM_ML_KEM, LoadedKey::MlKem(k)) => k.decapsulate(ct).map_err(|e| match e {
            teehsm_crypto::CryptoError::DataLenRange(msg) | teehsm_crypto::CryptoError::InvalidInput(msg) => {
                denied(Rv::ENCRYPTED_DATA_LEN_RANGE, msg)
            }
            e => crypto_denied(e),
        }),
        (CKM_ML_KEM, _) => Err(inconsistent(m.mech)),
        (mech, _) => Err(invalid(mech)),
    }
}
