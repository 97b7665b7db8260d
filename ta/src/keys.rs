//! Key material: validating it on import, generating it, parsing it into
//! crypto objects (cached on the object), and rendering readable attributes.

use crate::object::Object;
use crate::policy::Denied;
use std::sync::Arc;
use teehsm_crypto::pkcs8::{self, Pkcs8Key};
use teehsm_crypto::{ec, eddsa, mldsa, mlkem, rsa, sm2, x25519, CryptoError};
use teehsm_wire::ck::*;
use teehsm_wire::Rv;
use zeroize::Zeroizing;

/// DER of the SM2 curve OID 1.2.156.10197.1.301.
pub const SM2_EC_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// CKA_EC_PARAMS for Ed25519: the printable string "edwards25519" (PKCS#11 3.0 5.2.1) ...
pub const ED25519_EC_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";
/// ... or the RFC 8410 OID id-Ed25519 (1.3.101.112), which the TA writes when the template has none.
pub const ED25519_EC_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// CKA_EC_PARAMS for Ed448: the printable string "edwards448" (PKCS#11 3.0 5.2.1) ...
pub const ED448_EC_PARAMS_NAME: &[u8] = b"\x13\x0aedwards448";
/// ... or the RFC 8410 OID id-Ed448 (1.3.101.113).
pub const ED448_EC_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];

/// The curve of a CKK_EC_EDWARDS key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdCurve {
    Ed25519,
    Ed448,
}

/// Checks an Edwards key's CKA_EC_PARAMS (Ed25519 or Ed448, by name or OID;
/// none is Ed25519) and returns the curve and the value to store.
pub fn edwards_curve(params: Option<&[u8]>) -> Result<(EdCurve, Vec<u8>), Denied> {
    match params {
        None => Ok((EdCurve::Ed25519, ED25519_EC_PARAMS_OID.to_vec())),
        Some(p) if p == ED25519_EC_PARAMS_NAME || p == ED25519_EC_PARAMS_OID => Ok((EdCurve::Ed25519, p.to_vec())),
        Some(p) if p == ED448_EC_PARAMS_NAME || p == ED448_EC_PARAMS_OID => Ok((EdCurve::Ed448, p.to_vec())),
        Some(_) => Err(denied(
            Rv::CURVE_NOT_SUPPORTED,
            "only Ed25519 (edwards25519, OID 1.3.101.112) and Ed448 (edwards448, OID 1.3.101.113) are supported for CKK_EC_EDWARDS",
        )),
    }
}

/// Checks an Edwards key's CKA_EC_PARAMS; returns the value to store.
pub fn edwards_params(params: Option<&[u8]>) -> Result<Vec<u8>, Denied> {
    edwards_curve(params).map(|(_, p)| p)
}

/// CKA_EC_PARAMS for X25519: the printable string "curve25519" or the RFC 8410 OID id-X25519 (1.3.101.110).
pub const X25519_EC_PARAMS_NAME: &[u8] = b"\x13\x0acurve25519";
pub const X25519_EC_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];

/// Checks a Montgomery key's CKA_EC_PARAMS: X25519 only.
pub fn montgomery_params(params: Option<&[u8]>) -> Result<Vec<u8>, Denied> {
    match params {
        None => Ok(X25519_EC_PARAMS_OID.to_vec()),
        Some(p) if p == X25519_EC_PARAMS_NAME || p == X25519_EC_PARAMS_OID => Ok(p.to_vec()),
        Some(_) => Err(denied(Rv::CURVE_NOT_SUPPORTED, "only X25519 (curve25519, OID 1.3.101.110) is supported for CKK_EC_MONTGOMERY")),
    }
}

/// An Edwards public key from CKA_EC_POINT: 32 (Ed25519, X25519) or 57
/// (Ed448) raw bytes, or a DER OCTET STRING of them.
pub fn edwards_point(v: &[u8]) -> &[u8] {
    match v {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        [0x04, 0x39, rest @ ..] if rest.len() == 57 => rest,
        _ => v,
    }
}

/// A key ready for use.
pub enum LoadedKey {
    Ed25519(eddsa::Ed25519PrivateKey),
    Ed25519Public { key: Vec<u8> },
    Ed448(eddsa::Ed448PrivateKey),
    Ed448Public { key: Vec<u8> },
    X25519(x25519::X25519PrivateKey),
    X25519Public { key: Vec<u8> },
    Ec(ec::EcPrivateKey),
    EcPublic { curve: ec::Curve, point: Vec<u8> },
    Sm2(sm2::Sm2PrivateKey),
    Sm2Public { point: Vec<u8> },
    Rsa(rsa::RsaPrivateKey),
    RsaPublic(rsa::RsaPublicKey),
    MlKem(mlkem::MlKemPrivateKey),
    MlKemPublic { param: mlkem::MlKemParam, key: Vec<u8> },
    MlDsa(mldsa::MlDsaPrivateKey),
    MlDsaPublic { param: mldsa::MlDsaParam, key: Vec<u8> },
    Secret { key_type: u64, bytes: Zeroizing<Vec<u8>> },
}

pub fn denied(rv: Rv, message: impl Into<String>) -> Denied {
    Denied { rv, message: message.into() }
}

/// Maps a crypto failure to the CKR code PKCS#11 prescribes for it.
pub fn crypto_denied(e: CryptoError) -> Denied {
    let rv = match &e {
        CryptoError::InvalidKey(_) => Rv::KEY_TYPE_INCONSISTENT,
        CryptoError::InvalidInput(_) => Rv::DATA_INVALID,
        CryptoError::InvalidSignature => Rv::SIGNATURE_INVALID,
        CryptoError::DataLenRange(_) => Rv::DATA_LEN_RANGE,
        CryptoError::EncryptedDataInvalid => Rv::ENCRYPTED_DATA_INVALID,
        CryptoError::Unsupported(_) => Rv::MECHANISM_PARAM_INVALID,
        CryptoError::Rng(_) | CryptoError::SelfTest(_) => Rv::DEVICE_ERROR,
        _ => Rv::GENERAL_ERROR,
    };
    denied(rv, e.to_string())
}

/// Wraps a point in the DER OCTET STRING PKCS#11 uses for CKA_EC_POINT.
pub fn der_octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    if v.len() < 0x80 {
        out.push(v.len() as u8);
    } else if v.len() < 0x100 {
        out.extend_from_slice(&[0x81, v.len() as u8]);
    } else {
        out.extend_from_slice(&[0x82, (v.len() >> 8) as u8, v.len() as u8]);
    }
    out.extend_from_slice(v);
    out
}

/// Accepts CKA_EC_POINT / ECDH public data either raw (04||X||Y) or DER-wrapped.
pub fn unwrap_ec_point(v: &[u8]) -> &[u8] {
    match v {
        [0x04, len, rest @ ..] if *len as usize == rest.len() && rest.first() == Some(&0x04) => rest,
        [0x04, 0x81, len, rest @ ..] if *len as usize == rest.len() => rest,
        _ => v,
    }
}

pub fn mlkem_param(set: u64) -> Result<mlkem::MlKemParam, Denied> {
    Ok(match set {
        CKP_ML_KEM_512 => mlkem::MlKemParam::MlKem512,
        CKP_ML_KEM_768 => mlkem::MlKemParam::MlKem768,
        CKP_ML_KEM_1024 => mlkem::MlKemParam::MlKem1024,
        _ => return Err(denied(Rv::ATTRIBUTE_VALUE_INVALID, format!("unknown ML-KEM parameter set {set}"))),
    })
}

pub fn mldsa_param(set: u64) -> Result<mldsa::MlDsaParam, Denied> {
    Ok(match set {
        CKP_ML_DSA_44 => mldsa::MlDsaParam::MlDsa44,
        CKP_ML_DSA_65 => mldsa::MlDsaParam::MlDsa65,
        CKP_ML_DSA_87 => mldsa::MlDsaParam::MlDsa87,
        _ => return Err(denied(Rv::ATTRIBUTE_VALUE_INVALID, format!("unknown ML-DSA parameter set {set}"))),
    })
}

fn ec_curve(o: &Object) -> Result<ec::Curve, Denied> {
    let params = o.get(CKA_EC_PARAMS).ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required"))?;
    ec::Curve::from_ec_params(params).ok_or_else(|| denied(Rv::CURVE_NOT_SUPPORTED, "only P-256 and P-384 (and SM2 keys) are supported"))
}

fn param_set(o: &Object) -> Result<u64, Denied> {
    o.ulong(CKA_PARAMETER_SET).ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_PARAMETER_SET is required"))
}

/// Secret-key lengths each key type accepts.
pub fn check_secret_len(key_type: u64, len: usize) -> Result<(), Denied> {
    let ok = match key_type {
        CKK_AES => matches!(len, 16 | 24 | 32),
        CKK_SM4 => len == 16,
        CKK_GENERIC_SECRET | CKK_SHA_1_HMAC | CKK_SHA224_HMAC | CKK_SHA256_HMAC | CKK_SHA384_HMAC | CKK_SHA512_HMAC => (1..=512).contains(&len),
        _ => return Err(denied(Rv::KEY_TYPE_INCONSISTENT, format!("key type 0x{key_type:x} is not a secret key type"))),
    };
    if ok {
        Ok(())
    } else {
        Err(denied(Rv::KEY_SIZE_RANGE, format!("{len}-byte key is not valid for key type 0x{key_type:x}")))
    }
}

/// Parses (once) and returns the usable key for `o`.
pub fn load(o: &Object) -> Result<Arc<LoadedKey>, Denied> {
    if let Some(k) = o.loaded.get() {
        return Ok(k.clone());
    }
    let k = Arc::new(parse(o)?);
    Ok(o.loaded.get_or_init(|| k).clone())
}

fn secret(o: &Object) -> Result<&[u8], Denied> {
    o.secret.as_deref().map(Vec::as_slice).ok_or_else(|| denied(Rv::KEY_HANDLE_INVALID, "the key has no key material"))
}

fn parse(o: &Object) -> Result<LoadedKey, Denied> {
    let kt = o.key_type().ok_or_else(|| denied(Rv::KEY_HANDLE_INVALID, "the object is not a key"))?;
    let class = o.class();
    let c = crypto_denied;
    Ok(match (class, kt) {
        (CKO_PRIVATE_KEY, CKK_EC) => LoadedKey::Ec(ec::EcPrivateKey::from_scalar(ec_curve(o)?, secret(o)?).map_err(c)?),
        (CKO_PUBLIC_KEY, CKK_EC) => {
            let curve = ec_curve(o)?;
            let point = unwrap_ec_point(o.get(CKA_EC_POINT).unwrap_or(&[])).to_vec();
            ec::validate_point(curve, &point).map_err(c)?;
            LoadedKey::EcPublic { curve, point }
        }
        (CKO_PRIVATE_KEY, CKK_SM2) => LoadedKey::Sm2(sm2::Sm2PrivateKey::from_scalar(secret(o)?).map_err(c)?),
        (CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY) => {
            montgomery_params(o.get(CKA_EC_PARAMS))?;
            LoadedKey::X25519(x25519::X25519PrivateKey::from_bytes(secret(o)?).map_err(c)?)
        }
        (CKO_PUBLIC_KEY, CKK_EC_MONTGOMERY) => {
            montgomery_params(o.get(CKA_EC_PARAMS))?;
            let key = edwards_point(o.get(CKA_EC_POINT).unwrap_or(&[])).to_vec();
            if key.len() != x25519::KEY_LEN {
                return Err(denied(Rv::KEY_TYPE_INCONSISTENT, "an X25519 public key (CKA_EC_POINT) is 32 bytes"));
            }
            LoadedKey::X25519Public { key }
        }
        (CKO_PRIVATE_KEY, CKK_EC_EDWARDS) => match edwards_curve(o.get(CKA_EC_PARAMS))?.0 {
            EdCurve::Ed25519 => LoadedKey::Ed25519(eddsa::Ed25519PrivateKey::from_seed(secret(o)?).map_err(c)?),
            EdCurve::Ed448 => LoadedKey::Ed448(eddsa::Ed448PrivateKey::from_seed(secret(o)?).map_err(c)?),
        },
        (CKO_PUBLIC_KEY, CKK_EC_EDWARDS) => {
            let curve = edwards_curve(o.get(CKA_EC_PARAMS))?.0;
            let key = edwards_point(o.get(CKA_EC_POINT).unwrap_or(&[])).to_vec();
            match curve {
                EdCurve::Ed25519 if key.len() != eddsa::PUBLIC_KEY_LEN => {
                    return Err(denied(Rv::KEY_TYPE_INCONSISTENT, "an Ed25519 public key (CKA_EC_POINT) is 32 bytes"))
                }
                EdCurve::Ed25519 => LoadedKey::Ed25519Public { key },
                EdCurve::Ed448 if key.len() != eddsa::ED448_PUBLIC_KEY_LEN => {
                    return Err(denied(Rv::KEY_TYPE_INCONSISTENT, "an Ed448 public key (CKA_EC_POINT) is 57 bytes"))
                }
                EdCurve::Ed448 => {
                    eddsa::validate_ed448_public(&key).map_err(c)?;
                    LoadedKey::Ed448Public { key }
                }
            }
        }
        (CKO_PUBLIC_KEY, CKK_SM2) => LoadedKey::Sm2Public { point: unwrap_ec_point(o.get(CKA_EC_POINT).unwrap_or(&[])).to_vec() },
        (CKO_PRIVATE_KEY, CKK_RSA) => LoadedKey::Rsa(rsa::RsaPrivateKey::from_pkcs1_der(secret(o)?).map_err(c)?),
        (CKO_PUBLIC_KEY, CKK_RSA) => LoadedKey::RsaPublic(
            rsa::RsaPublicKey::from_components(o.get(CKA_MODULUS).unwrap_or(&[]), o.get(CKA_PUBLIC_EXPONENT).unwrap_or(&[])).map_err(c)?,
        ),
        (CKO_PRIVATE_KEY, CKK_ML_KEM) => LoadedKey::MlKem(mlkem::MlKemPrivateKey::from_bytes(mlkem_param(param_set(o)?)?, secret(o)?).map_err(c)?),
        (CKO_PUBLIC_KEY, CKK_ML_KEM) => LoadedKey::MlKemPublic { param: mlkem_param(param_set(o)?)?, key: o.get(CKA_VALUE).unwrap_or(&[]).to_vec() },
        (CKO_PRIVATE_KEY, CKK_ML_DSA) => {
            let p = mldsa_param(param_set(o)?)?;
            let s = secret(o)?;
            LoadedKey::MlDsa(
                if s.len() == 32 { mldsa::MlDsaPrivateKey::from_seed(p, s) } else { mldsa::MlDsaPrivateKey::from_raw_private(p, s) }.map_err(c)?,
            )
        }
        (CKO_PUBLIC_KEY, CKK_ML_DSA) => LoadedKey::MlDsaPublic { param: mldsa_param(param_set(o)?)?, key: o.get(CKA_VALUE).unwrap_or(&[]).to_vec() },
        (CKO_SECRET_KEY, kt) => LoadedKey::Secret { key_type: kt, bytes: Zeroizing::new(secret(o)?.to_vec()) },
        _ => return Err(denied(Rv::KEY_TYPE_INCONSISTENT, format!("unsupported key: class {class}, type 0x{kt:x}"))),
    })
}

/// Moves key material out of a C_CreateObject template into `o.secret`,
/// validating it and filling the public attributes it implies.
pub fn import_material(o: &mut Object, material: Vec<(u64, Zeroizing<Vec<u8>>)>) -> Result<(), Denied> {
    let class = o.class();
    let kt = o.key_type().ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required for keys"))?;
    let get = |ty: u64| material.iter().find(|(t, _)| *t == ty).map(|(_, v)| v.as_slice());
    let need = |ty: u64| get(ty).ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, format!("attribute 0x{ty:x} is required")));
    let c = crypto_denied;
    let bad = |e: CryptoError| denied(Rv::ATTRIBUTE_VALUE_INVALID, e.to_string());
    match (class, kt) {
        (CKO_SECRET_KEY, _) => {
            let v = need(CKA_VALUE)?;
            check_secret_len(kt, v.len())?;
            o.set_ulong(CKA_VALUE_LEN, v.len() as u64);
            o.secret = Some(Zeroizing::new(v.to_vec()));
        }
        (CKO_PRIVATE_KEY, CKK_EC) => {
            let k = ec::EcPrivateKey::from_scalar(ec_curve(o)?, need(CKA_VALUE)?).map_err(bad)?;
            o.attrs.insert(CKA_EC_POINT, der_octet_string(&k.public_point()));
            o.secret = Some(k.scalar());
        }
        (CKO_PRIVATE_KEY, CKK_EC_EDWARDS) => {
            let (curve, params) = edwards_curve(o.get(CKA_EC_PARAMS)).map_err(|d| denied(Rv::ATTRIBUTE_VALUE_INVALID, d.message))?;
            o.attrs.insert(CKA_EC_PARAMS, params);
            let (public, seed) = match curve {
                EdCurve::Ed25519 => {
                    let k = eddsa::Ed25519PrivateKey::from_seed(need(CKA_VALUE)?).map_err(bad)?;
                    (k.public_key(), k.seed())
                }
                EdCurve::Ed448 => {
                    let k = eddsa::Ed448PrivateKey::from_seed(need(CKA_VALUE)?).map_err(bad)?;
                    (k.public_key(), k.seed())
                }
            };
            o.attrs.insert(CKA_EC_POINT, der_octet_string(&public));
            o.secret = Some(seed);
        }
        (CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY) => {
            let params = montgomery_params(o.get(CKA_EC_PARAMS)).map_err(|d| denied(Rv::ATTRIBUTE_VALUE_INVALID, d.message))?;
            o.attrs.insert(CKA_EC_PARAMS, params);
            let k = x25519::X25519PrivateKey::from_bytes(need(CKA_VALUE)?).map_err(bad)?;
            o.attrs.insert(CKA_EC_POINT, der_octet_string(&k.public_key()));
            o.secret = Some(k.to_bytes());
        }
        (CKO_PRIVATE_KEY, CKK_SM2) => {
            o.attrs.entry(CKA_EC_PARAMS).or_insert_with(|| SM2_EC_PARAMS.to_vec());
            let k = sm2::Sm2PrivateKey::from_scalar(need(CKA_VALUE)?).map_err(bad)?;
            o.attrs.insert(CKA_EC_POINT, der_octet_string(&k.public_point()));
            o.secret = Some(k.scalar());
        }
        (CKO_PRIVATE_KEY, CKK_RSA) => {
            let comps = rsa::RsaComponents {
                n: o.get(CKA_MODULUS).map(<[u8]>::to_vec).ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_MODULUS is required"))?,
                e: o.get(CKA_PUBLIC_EXPONENT).map(<[u8]>::to_vec).unwrap_or_else(|| vec![1, 0, 1]),
                d: need(CKA_PRIVATE_EXPONENT)?.to_vec(),
                p: need(CKA_PRIME_1)?.to_vec(),
                q: need(CKA_PRIME_2)?.to_vec(),
                dp: get(CKA_EXPONENT_1).map(<[u8]>::to_vec).unwrap_or_default(),
                dq: get(CKA_EXPONENT_2).map(<[u8]>::to_vec).unwrap_or_default(),
                qinv: get(CKA_COEFFICIENT).map(<[u8]>::to_vec).unwrap_or_default(),
            };
            let k = rsa::RsaPrivateKey::from_components(&comps).map_err(bad)?;
            o.set_ulong(CKA_MODULUS_BITS, k.bits() as u64);
            o.attrs.insert(CKA_PUBLIC_EXPONENT, k.public_exponent());
            o.secret = Some(k.to_pkcs1_der().map_err(c)?);
        }
        (CKO_PRIVATE_KEY, CKK_ML_KEM) => {
            let p = mlkem_param(param_set(o)?)?;
            let k = mlkem::MlKemPrivateKey::from_bytes(p, need(CKA_VALUE)?).map_err(bad)?;
            o.secret = Some(k.to_bytes().map_err(c)?);
        }
        (CKO_PRIVATE_KEY, CKK_ML_DSA) => {
            let p = mldsa_param(param_set(o)?)?;
            let k = match get(CKA_SEED) {
                Some(seed) => mldsa::MlDsaPrivateKey::from_seed(p, seed),
                None => mldsa::MlDsaPrivateKey::from_raw_private(p, need(CKA_VALUE)?),
            }
            .map_err(bad)?;
            o.secret = Some(match k.seed() {
                Some(s) => s,
                None => k.raw_private().map_err(c)?,
            });
        }
        _ => return Err(denied(Rv::KEY_TYPE_INCONSISTENT, format!("cannot import key material for class {class}, type 0x{kt:x}"))),
    }
    Ok(())
}

/// Validates a public key object's attributes on import.
pub fn validate_public(o: &mut Object) -> Result<(), Denied> {
    let kt = o.key_type().ok_or_else(|| denied(Rv::TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required for keys"))?;
    if kt == CKK_SM2 {
        o.attrs.entry(CKA_EC_PARAMS).or_insert_with(|| SM2_EC_PARAMS.to_vec());
    }
    if kt == CKK_EC || kt == CKK_SM2 {
        if let Some(p) = o.get(CKA_EC_POINT) {
            let raw = unwrap_ec_point(p).to_vec();
            o.attrs.insert(CKA_EC_POINT, der_octet_string(&raw));
        }
    }
    if kt == CKK_EC_EDWARDS || kt == CKK_EC_MONTGOMERY {
        let check = if kt == CKK_EC_EDWARDS { edwards_params } else { montgomery_params };
        let params = check(o.get(CKA_EC_PARAMS)).map_err(|d| denied(Rv::ATTRIBUTE_VALUE_INVALID, d.message))?;
        o.attrs.insert(CKA_EC_PARAMS, params);
        if let Some(p) = o.get(CKA_EC_POINT) {
            let raw = edwards_point(p).to_vec();
            o.attrs.insert(CKA_EC_POINT, der_octet_string(&raw));
        }
    }
    if kt == CKK_RSA {
        if let Some(n) = o.get(CKA_MODULUS) {
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            o.set_ulong(CKA_MODULUS_BITS, bits as u64);
        }
    }
    parse(o).map(|_| ()).map_err(|d| denied(Rv::ATTRIBUTE_VALUE_INVALID, d.message))
}

/// The value of a key-material attribute, for a caller policy allowed to read it.
pub fn material_attribute(o: &Object, ty: u64) -> Option<Vec<u8>> {
    let s = o.secret.as_deref()?;
    match (o.class(), o.key_type()?, ty) {
        (CKO_SECRET_KEY, _, CKA_VALUE) => Some(s.to_vec()),
        (CKO_PRIVATE_KEY, CKK_EC | CKK_SM2 | CKK_ML_KEM | CKK_EC_EDWARDS | CKK_EC_MONTGOMERY, CKA_VALUE) => Some(s.to_vec()),
        (CKO_PRIVATE_KEY, CKK_ML_DSA, CKA_SEED) if s.len() == 32 => Some(s.to_vec()),
        (CKO_PRIVATE_KEY, CKK_ML_DSA, CKA_VALUE) => match load(o).ok()?.as_ref() {
            LoadedKey::MlDsa(k) => k.raw_private().ok().map(|z| z.to_vec()),
            _ => None,
        },
        (CKO_PRIVATE_KEY, CKK_RSA, _) => {
            let k = rsa::RsaPrivateKey::from_pkcs1_der(s).ok()?;
            let c = k.components().ok()?;
            match ty {
                CKA_PRIVATE_EXPONENT => Some(c.d.clone()),
                CKA_PRIME_1 => Some(c.p.clone()),
                CKA_PRIME_2 => Some(c.q.clone()),
                CKA_EXPONENT_1 => Some(c.dp.clone()),
                CKA_EXPONENT_2 => Some(c.dq.clone()),
                CKA_COEFFICIENT => Some(c.qinv.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The PKCS#8 DER of private key `o`, for C_WrapKey (docs/key-policy.md,
/// "Wrapping private keys").
pub fn to_pkcs8(o: &Object) -> Result<Zeroizing<Vec<u8>>, Denied> {
    let s = secret(o)?;
    let bytes = || Zeroizing::new(s.to_vec());
    let key = match o.key_type() {
        Some(CKK_RSA) => Pkcs8Key::Rsa { pkcs1: bytes() },
        Some(CKK_EC) => Pkcs8Key::Ec { curve: ec_curve(o)?, scalar: bytes() },
        Some(CKK_SM2) => Pkcs8Key::Sm2 { scalar: bytes() },
        Some(CKK_EC_EDWARDS) => match edwards_curve(o.get(CKA_EC_PARAMS))?.0 {
            EdCurve::Ed25519 => Pkcs8Key::Ed25519 { seed: bytes() },
            EdCurve::Ed448 => Pkcs8Key::Ed448 { seed: bytes() },
        },
        Some(CKK_EC_MONTGOMERY) => Pkcs8Key::X25519 { key: bytes() },
        _ => {
            return Err(denied(
                Rv::KEY_NOT_WRAPPABLE,
                "this TA wraps RSA, EC, SM2, Ed25519, Ed448 and X25519 private keys (as PKCS#8); ML-KEM and ML-DSA private keys are not wrapped",
            ))
        }
    };
    let point = match &key {
        Pkcs8Key::Ec { .. } | Pkcs8Key::Sm2 { .. } => o.get(CKA_EC_POINT).map(unwrap_ec_point),
        _ => None,
    };
    Ok(pkcs8::encode(&key, point))
}

/// What an unwrapped PKCS#8 private key becomes: its key type, the public
/// attributes it implies, and the key material for [`import_material`].
pub struct FromPkcs8 {
    pub key_type: u64,
    pub attrs: Vec<(u64, Vec<u8>)>,
    pub material: Vec<(u64, Zeroizing<Vec<u8>>)>,
}

/// Reads a PKCS#8 private key that C_UnwrapKey decrypted.
pub fn from_pkcs8(der: &[u8]) -> Result<FromPkcs8, Denied> {
    let bad = |e: CryptoError| denied(Rv::WRAPPED_KEY_INVALID, format!("the unwrapped data is not a usable private key: {e}"));
    let key = pkcs8::decode(der).map_err(bad)?;
    let value = |v: Zeroizing<Vec<u8>>| vec![(CKA_VALUE, v)];
    Ok(match key {
        Pkcs8Key::Rsa { pkcs1 } => {
            let c = rsa::RsaPrivateKey::from_pkcs1_der(&pkcs1).and_then(|k| k.components()).map_err(bad)?;
            let z = |v: &Vec<u8>| Zeroizing::new(v.clone());
            FromPkcs8 {
                key_type: CKK_RSA,
                attrs: vec![(CKA_MODULUS, c.n.clone()), (CKA_PUBLIC_EXPONENT, c.e.clone())],
                material: vec![
                    (CKA_PRIVATE_EXPONENT, z(&c.d)),
                    (CKA_PRIME_1, z(&c.p)),
                    (CKA_PRIME_2, z(&c.q)),
                    (CKA_EXPONENT_1, z(&c.dp)),
                    (CKA_EXPONENT_2, z(&c.dq)),
                    (CKA_COEFFICIENT, z(&c.qinv)),
                ],
            }
        }
        Pkcs8Key::Ec { curve, scalar } => {
            FromPkcs8 { key_type: CKK_EC, attrs: vec![(CKA_EC_PARAMS, curve.ec_params_der().to_vec())], material: value(scalar) }
        }
        Pkcs8Key::Sm2 { scalar } => FromPkcs8 { key_type: CKK_SM2, attrs: vec![(CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec())], material: value(scalar) },
        Pkcs8Key::Ed25519 { seed } => {
            FromPkcs8 { key_type: CKK_EC_EDWARDS, attrs: vec![(CKA_EC_PARAMS, ED25519_EC_PARAMS_OID.to_vec())], material: value(seed) }
        }
        Pkcs8Key::Ed448 { seed } => {
            FromPkcs8 { key_type: CKK_EC_EDWARDS, attrs: vec![(CKA_EC_PARAMS, ED448_EC_PARAMS_OID.to_vec())], material: value(seed) }
        }
        Pkcs8Key::X25519 { key } => {
            FromPkcs8 { key_type: CKK_EC_MONTGOMERY, attrs: vec![(CKA_EC_PARAMS, X25519_EC_PARAMS_OID.to_vec())], material: value(key) }
        }
    })
}

/// Whether a template's value `given` for attribute `ty` names the same
/// thing as the unwrapped key's `implied` value (curves may be named by OID
/// or by name).
pub fn same_implied_attribute(ty: u64, given: &[u8], implied: &[u8]) -> bool {
    if given == implied {
        return true;
    }
    if ty != CKA_EC_PARAMS {
        return ty == CKA_PUBLIC_EXPONENT && trim_zeros(given) == trim_zeros(implied);
    }
    match (edwards_curve(Some(given)), edwards_curve(Some(implied))) {
        (Ok((a, _)), Ok((b, _))) => a == b,
        _ => montgomery_params(Some(given)).is_ok() && montgomery_params(Some(implied)).is_ok(),
    }
}

fn trim_zeros(v: &[u8]) -> &[u8] {
    let z = v.iter().take_while(|&&b| b == 0).count();
    &v[z..]
}
