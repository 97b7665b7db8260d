//! Mechanisms: reading a caller's `CK_MECHANISM` (and its parameter
//! structure) into the TA protocol's [`Mechanism`], writing back the outputs
//! that live inside mechanism parameters (SP 800-108 additional keys), and
//! mechanism names for logs.
//!
//! Everything read here comes from caller memory: each length is checked
//! against the structure it must describe and against the limits the TA's
//! decoder enforces (wire/src/msg.rs `get_mech`), so a bad parameter is
//! refused here with CKR_MECHANISM_PARAM_INVALID rather than as an
//! undecodable request. Semantic checks (IV sizes, tag lengths, supported
//! hashes, ...) are the TA's: it answers them with precise codes.

use cryptoki_sys as sys;
use std::ffi::c_void;
use std::mem::size_of;
use teehsm_wire::ck;
use teehsm_wire::{CounterFormat, KbkdfParams, KdfDataParam, MechParam, Mechanism, Rv};

/// Longest opaque parameter the TA decodes (wire/src/msg.rs `MAX_PARAM`,
/// private there): IVs, AAD, OAEP labels, ECDH data, derivation data.
const MAX_PARAM_LEN: usize = 64 * 1024;
/// Longest GCM IV the TA decodes.
const MAX_GCM_IV_LEN: usize = 256;
/// Longest SM2 user ID the TA decodes (the ENTL field is 16 bits of bit length).
const MAX_SM2_ID_LEN: usize = 8191;
/// Longest signing context (ML-DSA, EdDSA): one length byte in the standards.
const MAX_CONTEXT_LEN: usize = 255;

fn param_invalid() -> Rv {
    Rv::MECHANISM_PARAM_INVALID
}

/// A caller's CK_ULONG length as usize.
fn len_of(n: sys::CK_ULONG) -> Result<usize, Rv> {
    usize::try_from(n).map_err(|_| param_invalid())
}

/// Copies the `len` bytes at `p`. A zero length gives an empty vector
/// whatever `p` is; a null `p` with a non-zero length, or a length over
/// `max`, is CKR_MECHANISM_PARAM_INVALID.
///
/// # Safety
/// When `p` is not null and `len` is at most `max`, `p` points to `len` readable bytes.
unsafe fn copy_bytes(p: *const u8, len: sys::CK_ULONG, max: usize) -> Result<Vec<u8>, Rv> {
    let n = len_of(len)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() || n > max {
        return Err(param_invalid());
    }
    // SAFETY: p is non-null and, by the caller's promise, points to n readable bytes.
    let s = unsafe { std::slice::from_raw_parts(p, n) };
    Ok(s.to_vec())
}

/// Reads the parameter as a `T`, which it must be exactly the size of.
///
/// # Safety
/// When `p` is not null and `len` equals `size_of::<T>()`, `p` points to
/// `len` readable bytes holding a `T` (a plain C structure: any bit pattern
/// of its integer and pointer fields is a valid value).
unsafe fn read_struct<T: Copy>(p: *const c_void, len: usize) -> Result<T, Rv> {
    if p.is_null() || len != size_of::<T>() {
        return Err(param_invalid());
    }
    // SAFETY: p is non-null and points to size_of::<T>() readable bytes (caller's
    // promise); read_unaligned needs no alignment from caller memory.
    Ok(unsafe { std::ptr::read_unaligned(p.cast::<T>()) })
}

/// CK_GCM_PARAMS as PKCS#11 2.40's headers define it (before ulIvBits was
/// added in 2.40 errata / 3.0). Both layouts are accepted: they differ in size.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_snake_case)]
struct Gcm240 {
    pIv: *mut sys::CK_BYTE,
    ulIvLen: sys::CK_ULONG,
    pAAD: *mut sys::CK_BYTE,
    ulAADLen: sys::CK_ULONG,
    ulTagBits: sys::CK_ULONG,
}

fn flag(b: sys::CK_BBOOL) -> bool {
    b != 0
}

/// Reads a caller's CK_MECHANISM into the TA protocol's form.
///
/// A mechanism without a parameter (`ulParameterLen` 0) becomes
/// [`MechParam::None`]; mechanisms whose parameter is a known structure are
/// mapped to the matching [`MechParam`]; any other parameter is passed as
/// [`MechParam::Bytes`] (the TA then accepts it or refuses it with a precise
/// code).
///
/// # Safety
/// `m` is null or points to a CK_MECHANISM whose pParameter/ulParameterLen describe readable memory (the caller's promise under PKCS#11).
pub unsafe fn from_c(m: sys::CK_MECHANISM_PTR) -> Result<Mechanism, Rv> {
    if m.is_null() {
        return Err(Rv::ARGUMENTS_BAD);
    }
    // SAFETY: m is non-null and points to a CK_MECHANISM (caller's promise).
    let cm = unsafe { std::ptr::read_unaligned(m) };
    let mech = cm.mechanism;
    let len = len_of(cm.ulParameterLen)?;
    if len == 0 {
        return Ok(Mechanism::new(mech));
    }
    let p = cm.pParameter.cast_const();
    if p.is_null() {
        return Err(param_invalid());
    }
    let param = match mech {
        ck::CKM_AES_GCM | ck::CKM_SM4_GCM => {
            let g: sys::CK_GCM_PARAMS = if len == size_of::<Gcm240>() {
                // Callers built against PKCS#11 2.40 headers (no ulIvBits field).
                // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
                let o: Gcm240 = unsafe { read_struct(p, len)? };
                sys::CK_GCM_PARAMS { pIv: o.pIv, ulIvLen: o.ulIvLen, ulIvBits: 0, pAAD: o.pAAD, ulAADLen: o.ulAADLen, ulTagBits: o.ulTagBits }
            } else {
                // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
                unsafe { read_struct(p, len)? }
            };
            // ulIvBits is redundant with ulIvLen (and many callers leave it 0): ignored.
            MechParam::Gcm {
                // SAFETY: pIv/ulIvLen and pAAD/ulAADLen describe caller memory (PKCS#11).
                iv: unsafe { copy_bytes(g.pIv, g.ulIvLen, MAX_GCM_IV_LEN)? },
                // SAFETY: as above.
                aad: unsafe { copy_bytes(g.pAAD, g.ulAADLen, MAX_PARAM_LEN)? },
                tag_bits: u32::try_from(g.ulTagBits).map_err(|_| param_invalid())?,
            }
        }
        ck::CKM_AES_CTR | ck::CKM_SM4_CTR => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let c: sys::CK_AES_CTR_PARAMS = unsafe { read_struct(p, len)? };
            MechParam::Ctr { counter_bits: u32::try_from(c.ulCounterBits).map_err(|_| param_invalid())?, counter_block: c.cb.to_vec() }
        }
        ck::CKM_RSA_PKCS_PSS
        | sys::CKM_SHA1_RSA_PKCS_PSS
        | ck::CKM_SHA224_RSA_PKCS_PSS
        | ck::CKM_SHA256_RSA_PKCS_PSS
        | ck::CKM_SHA384_RSA_PKCS_PSS
        | ck::CKM_SHA512_RSA_PKCS_PSS
        | sys::CKM_SHA3_224_RSA_PKCS_PSS
        | sys::CKM_SHA3_256_RSA_PKCS_PSS
        | sys::CKM_SHA3_384_RSA_PKCS_PSS
        | sys::CKM_SHA3_512_RSA_PKCS_PSS => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let s: sys::CK_RSA_PKCS_PSS_PARAMS = unsafe { read_struct(p, len)? };
            MechParam::Pss { hash: s.hashAlg, mgf: s.mgf, salt_len: s.sLen }
        }
        ck::CKM_RSA_PKCS_OAEP => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let o: sys::CK_RSA_PKCS_OAEP_PARAMS = unsafe { read_struct(p, len)? };
            MechParam::Oaep {
                hash: o.hashAlg,
                mgf: o.mgf,
                source: o.source,
                // SAFETY: pSourceData/ulSourceDataLen describe caller memory (PKCS#11).
                source_data: unsafe { copy_bytes(o.pSourceData.cast_const().cast::<u8>(), o.ulSourceDataLen, MAX_PARAM_LEN)? },
            }
        }
        ck::CKM_ECDH1_DERIVE | sys::CKM_ECDH1_COFACTOR_DERIVE => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let e: sys::CK_ECDH1_DERIVE_PARAMS = unsafe { read_struct(p, len)? };
            MechParam::Ecdh {
                kdf: e.kdf,
                // SAFETY: pSharedData/ulSharedDataLen and pPublicData/ulPublicDataLen describe caller memory.
                shared_data: unsafe { copy_bytes(e.pSharedData, e.ulSharedDataLen, MAX_PARAM_LEN)? },
                // SAFETY: as above.
                public_data: unsafe { copy_bytes(e.pPublicData, e.ulPublicDataLen, MAX_PARAM_LEN)? },
            }
        }
        // SAFETY: p is non-null with len readable bytes (caller's promise); the parameter is the user ID itself.
        ck::CKM_SM2 | ck::CKM_SM2_SM3 => MechParam::Sm2 { user_id: unsafe { copy_bytes(p.cast::<u8>(), cm.ulParameterLen, MAX_SM2_ID_LEN)? } },
        ck::CKM_EDDSA => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let e: sys::CK_EDDSA_PARAMS = unsafe { read_struct(p, len)? };
            // SAFETY: pContextData/ulContextDataLen describe caller memory.
            MechParam::Eddsa { prehash: flag(e.phFlag), context: unsafe { copy_bytes(e.pContextData, e.ulContextDataLen, MAX_CONTEXT_LEN)? } }
        }
        ck::CKM_ML_DSA
        | sys::CKM_HASH_ML_DSA_SHA224
        | sys::CKM_HASH_ML_DSA_SHA256
        | sys::CKM_HASH_ML_DSA_SHA384
        | sys::CKM_HASH_ML_DSA_SHA512
        | sys::CKM_HASH_ML_DSA_SHA3_224
        | sys::CKM_HASH_ML_DSA_SHA3_256
        | sys::CKM_HASH_ML_DSA_SHA3_384
        | sys::CKM_HASH_ML_DSA_SHA3_512
        | sys::CKM_HASH_ML_DSA_SHAKE128
        | sys::CKM_HASH_ML_DSA_SHAKE256
        | sys::CKM_SLH_DSA => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let c: sys::CK_SIGN_ADDITIONAL_CONTEXT = unsafe { read_struct(p, len)? };
            // SAFETY: pContext/ulContextLen describe caller memory.
            MechParam::SignContext { hedge: c.hedgeVariant, context: unsafe { copy_bytes(c.pContext, c.ulContextLen, MAX_CONTEXT_LEN)? } }
        }
        ck::CKM_HASH_ML_DSA | sys::CKM_HASH_SLH_DSA => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let c: sys::CK_HASH_SIGN_ADDITIONAL_CONTEXT = unsafe { read_struct(p, len)? };
            MechParam::HashSignContext {
                hedge: c.hedgeVariant,
                // SAFETY: pContext/ulContextLen describe caller memory.
                context: unsafe { copy_bytes(c.pContext, c.ulContextLen, MAX_CONTEXT_LEN)? },
                hash: c.hash,
            }
        }
        // CK_OBJECT_HANDLE (the second key) / CK_EXTRACT_PARAMS (a bit index).
        ck::CKM_CONCATENATE_BASE_AND_KEY | ck::CKM_EXTRACT_KEY_FROM_KEY => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let v: sys::CK_ULONG = unsafe { read_struct(p, len)? };
            MechParam::Ulong(v)
        }
        ck::CKM_CONCATENATE_BASE_AND_DATA | ck::CKM_CONCATENATE_DATA_AND_BASE | ck::CKM_XOR_BASE_AND_DATA | ck::CKM_AES_ECB_ENCRYPT_DATA => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let d: sys::CK_KEY_DERIVATION_STRING_DATA = unsafe { read_struct(p, len)? };
            // SAFETY: pData/ulLen describe caller memory.
            MechParam::Bytes(unsafe { copy_bytes(d.pData, d.ulLen, MAX_PARAM_LEN)? })
        }
        ck::CKM_AES_CBC_ENCRYPT_DATA => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let d: sys::CK_AES_CBC_ENCRYPT_DATA_PARAMS = unsafe { read_struct(p, len)? };
            // SAFETY: pData/length describe caller memory.
            MechParam::CbcEncryptData { iv: d.iv.to_vec(), data: unsafe { copy_bytes(d.pData, d.length, MAX_PARAM_LEN)? } }
        }
        ck::CKM_SP800_108_COUNTER_KDF | ck::CKM_SP800_108_DOUBLE_PIPELINE_KDF => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let k: sys::CK_SP800_108_KDF_PARAMS = unsafe { read_struct(p, len)? };
            // SAFETY: the arrays the structure names are caller memory (PKCS#11).
            MechParam::Kbkdf(unsafe {
                kbkdf(k.prfType, k.ulNumberOfDataParams, k.pDataParams, Vec::new(), k.ulAdditionalDerivedKeys, k.pAdditionalDerivedKeys)?
            })
        }
        ck::CKM_SP800_108_FEEDBACK_KDF => {
            // SAFETY: p is non-null with len readable bytes (caller's promise); read_struct checks len is the structure's size.
            let k: sys::CK_SP800_108_FEEDBACK_KDF_PARAMS = unsafe { read_struct(p, len)? };
            // SAFETY: pIV/ulIVLen describe caller memory.
            let iv = unsafe { copy_bytes(k.pIV, k.ulIVLen, MAX_PARAM_LEN)? };
            // SAFETY: the arrays the structure names are caller memory (PKCS#11).
            MechParam::Kbkdf(unsafe {
                kbkdf(k.prfType, k.ulNumberOfDataParams, k.pDataParams, iv, k.ulAdditionalDerivedKeys, k.pAdditionalDerivedKeys)?
            })
        }
        // SAFETY: p is non-null with len readable bytes (caller's promise). CBC IVs (AES, SM4) and every other parameter: the raw bytes.
        _ => MechParam::Bytes(unsafe { copy_bytes(p.cast::<u8>(), cm.ulParameterLen, MAX_PARAM_LEN)? }),
    };
    Ok(Mechanism::with(mech, param))
}

/// The caller's array of `n` `T`s at `p` (empty when `n` is 0), at most `max` long.
///
/// # Safety
/// When `p` is not null and `n` is at most `max`, `p` points to `n` readable `T`s.
unsafe fn read_array<T: Copy>(p: *const T, n: sys::CK_ULONG, max: usize) -> Result<Vec<T>, Rv> {
    let n = len_of(n)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() || n > max {
        return Err(param_invalid());
    }
    // SAFETY: p is non-null and points to n readable Ts (caller's promise); each is
    // copied out unaligned.
    Ok((0..n).map(|i| unsafe { std::ptr::read_unaligned(p.add(i)) }).collect())
}

fn counter_format(f: &sys::CK_SP800_108_COUNTER_FORMAT) -> CounterFormat {
    CounterFormat { little_endian: flag(f.bLittleEndian), width_bits: f.ulWidthInBits }
}

/// The common part of CK_SP800_108_KDF_PARAMS and CK_SP800_108_FEEDBACK_KDF_PARAMS.
///
/// # Safety
/// `data`/`n_data` and `keys`/`n_keys` describe caller arrays, and the
/// pointers inside their elements describe caller memory (PKCS#11).
unsafe fn kbkdf(
    prf: sys::CK_SP800_108_PRF_TYPE,
    n_data: sys::CK_ULONG,
    data: *const sys::CK_PRF_DATA_PARAM,
    iv: Vec<u8>,
    n_keys: sys::CK_ULONG,
    keys: *const sys::CK_DERIVED_KEY,
) -> Result<KbkdfParams, Rv> {
    // SAFETY: data/n_data describe a caller array (this function's contract).
    let params = unsafe { read_array(data, n_data, teehsm_wire::MAX_KDF_PARTS)? };
    let mut out = Vec::with_capacity(params.len());
    for d in &params {
        let vlen = len_of(d.ulValueLen)?;
        let v = d.pValue.cast_const();
        out.push(match d.type_ {
            sys::CK_SP800_108_ITERATION_VARIABLE if vlen == 0 => KdfDataParam::IterationVariable { format: None },
            sys::CK_SP800_108_ITERATION_VARIABLE => {
                // SAFETY: pValue/ulValueLen describe caller memory; read_struct checks the length against the structure.
                let f: sys::CK_SP800_108_COUNTER_FORMAT = unsafe { read_struct(v, vlen)? };
                KdfDataParam::IterationVariable { format: Some(counter_format(&f)) }
            }
            sys::CK_SP800_108_OPTIONAL_COUNTER => {
                // SAFETY: pValue/ulValueLen describe caller memory; read_struct checks the length against the structure.
                let f: sys::CK_SP800_108_COUNTER_FORMAT = unsafe { read_struct(v, vlen)? };
                KdfDataParam::Counter(counter_format(&f))
            }
            sys::CK_SP800_108_DKM_LENGTH => {
                // SAFETY: pValue/ulValueLen describe caller memory; read_struct checks the length against the structure.
                let f: sys::CK_SP800_108_DKM_LENGTH_FORMAT = unsafe { read_struct(v, vlen)? };
                KdfDataParam::DkmLength {
                    method: f.dkmLengthMethod,
                    format: CounterFormat { little_endian: flag(f.bLittleEndian), width_bits: f.ulWidthInBits },
                }
            }
            // SAFETY: pValue/ulValueLen describe caller memory (copy_bytes refuses null with a length).
            sys::CK_SP800_108_BYTE_ARRAY => KdfDataParam::ByteArray(unsafe { copy_bytes(v.cast::<u8>(), d.ulValueLen, MAX_PARAM_LEN)? }),
            // CK_SP800_108_KEY_HANDLE (PKCS#11 3.1) and unknown types: not in the protocol.
            _ => return Err(param_invalid()),
        });
    }
    // SAFETY: keys/n_keys describe a caller array (this function's contract).
    let derived = unsafe { read_array(keys, n_keys, teehsm_wire::MAX_KDF_PARTS)? };
    let mut additional_keys = Vec::with_capacity(derived.len());
    for k in &derived {
        // The handle of each additional key is written back after the call
        // (write_back_derived): a key nobody could learn the handle of is refused.
        if k.phKey.is_null() {
            return Err(param_invalid());
        }
        let count = len_of(k.ulAttributeCount)?;
        if count > 0 && (k.pTemplate.is_null() || count > teehsm_wire::MAX_TEMPLATE_LEN) {
            return Err(param_invalid());
        }
        let template = if count == 0 {
            Vec::new()
        } else {
            // SAFETY: pTemplate is non-null and, with ulAttributeCount, describes a
            // caller CK_ATTRIBUTE array (PKCS#11).
            unsafe { crate::attrs::template_from_c(k.pTemplate, k.ulAttributeCount)? }
        };
        additional_keys.push(template);
    }
    Ok(KbkdfParams { prf, data: out, iv, additional_keys })
}

/// After a successful C_DeriveKey with an SP 800-108 mechanism, writes the handles of the additional derived keys into the caller's CK_DERIVED_KEY.phKey fields.
///
/// `additional` holds the handles that follow the primary key's in the TA's
/// reply, in the order of `pAdditionalDerivedKeys`. Does nothing for other
/// mechanisms or a parameter [`from_c`] would refuse.
///
/// # Safety
/// As for [`from_c`]; in addition the `phKey` fields of the caller's
/// CK_DERIVED_KEY array point to writable CK_OBJECT_HANDLEs (or are null).
pub unsafe fn write_back_derived(m: sys::CK_MECHANISM_PTR, additional: &[u64]) {
    if m.is_null() {
        return;
    }
    // SAFETY: m is non-null and points to a CK_MECHANISM (caller's promise).
    let cm = unsafe { std::ptr::read_unaligned(m) };
    let Ok(len) = len_of(cm.ulParameterLen) else { return };
    let p = cm.pParameter.cast_const();
    let (n, keys) = match cm.mechanism {
        // SAFETY: pParameter/ulParameterLen describe caller memory; read_struct checks the length against the structure.
        ck::CKM_SP800_108_COUNTER_KDF | ck::CKM_SP800_108_DOUBLE_PIPELINE_KDF => match unsafe { read_struct::<sys::CK_SP800_108_KDF_PARAMS>(p, len) }
        {
            Ok(k) => (k.ulAdditionalDerivedKeys, k.pAdditionalDerivedKeys),
            Err(_) => return,
        },
        // SAFETY: as above.
        ck::CKM_SP800_108_FEEDBACK_KDF => match unsafe { read_struct::<sys::CK_SP800_108_FEEDBACK_KDF_PARAMS>(p, len) } {
            Ok(k) => (k.ulAdditionalDerivedKeys, k.pAdditionalDerivedKeys),
            Err(_) => return,
        },
        _ => return,
    };
    if keys.is_null() {
        return;
    }
    let n = usize::try_from(n).unwrap_or(0).min(additional.len());
    for (i, handle) in additional.iter().take(n).enumerate() {
        // SAFETY: keys is non-null and points to ulAdditionalDerivedKeys (>= n > i)
        // CK_DERIVED_KEYs (caller's promise).
        let dk = unsafe { std::ptr::read_unaligned(keys.add(i)) };
        if !dk.phKey.is_null() {
            // SAFETY: phKey is non-null and points to a writable CK_OBJECT_HANDLE (caller's promise).
            unsafe { std::ptr::write_unaligned(dk.phKey, *handle) };
        }
    }
}

/// The CKM_ name of a mechanism, for logs ("CKM_VENDOR_DEFINED+?" for an
/// unknown vendor value, "CKM_?" for an unknown standard one).
pub fn name(mech: u64) -> &'static str {
    match NAMES.binary_search_by_key(&mech, |(v, _)| *v) {
        Ok(i) => NAMES.get(i).map_or("CKM_?", |(_, n)| n),
        Err(_) if mech >= ck::CKM_VENDOR_DEFINED => "CKM_VENDOR_DEFINED+?",
        Err(_) => "CKM_?",
    }
}

/// Every mechanism PKCS#11 3.2 names (from cryptoki-sys 0.5, aliases dropped
/// in favour of the current name) and teehsm's SM values, sorted by value.
#[rustfmt::skip]
const NAMES: &[(u64, &str)] = &[
    (0x0, "CKM_RSA_PKCS_KEY_PAIR_GEN"),
    (0x1, "CKM_RSA_PKCS"),
    (0x2, "CKM_RSA_9796"),
    (0x3, "CKM_RSA_X_509"),
    (0x4, "CKM_MD2_RSA_PKCS"),
    (0x5, "CKM_MD5_RSA_PKCS"),
    (0x6, "CKM_SHA1_RSA_PKCS"),
    (0x7, "CKM_RIPEMD128_RSA_PKCS"),
    (0x8, "CKM_RIPEMD160_RSA_PKCS"),
    (0x9, "CKM_RSA_PKCS_OAEP"),
    (0xa, "CKM_RSA_X9_31_KEY_PAIR_GEN"),
    (0xb, "CKM_RSA_X9_31"),
    (0xc, "CKM_SHA1_RSA_X9_31"),
    (0xd, "CKM_RSA_PKCS_PSS"),
    (0xe, "CKM_SHA1_RSA_PKCS_PSS"),
    (0xf, "CKM_ML_KEM_KEY_PAIR_GEN"),
    (0x10, "CKM_DSA_KEY_PAIR_GEN"),
    (0x11, "CKM_DSA"),
    (0x12, "CKM_DSA_SHA1"),
    (0x13, "CKM_DSA_SHA224"),
    (0x14, "CKM_DSA_SHA256"),
    (0x15, "CKM_DSA_SHA384"),
    (0x16, "CKM_DSA_SHA512"),
    (0x17, "CKM_ML_KEM"),
    (0x18, "CKM_DSA_SHA3_224"),
    (0x19, "CKM_DSA_SHA3_256"),
    (0x1a, "CKM_DSA_SHA3_384"),
    (0x1b, "CKM_DSA_SHA3_512"),
    (0x1c, "CKM_ML_DSA_KEY_PAIR_GEN"),
    (0x1d, "CKM_ML_DSA"),
    (0x1f, "CKM_HASH_ML_DSA"),
    (0x20, "CKM_DH_PKCS_KEY_PAIR_GEN"),
    (0x21, "CKM_DH_PKCS_DERIVE"),
    (0x23, "CKM_HASH_ML_DSA_SHA224"),
    (0x24, "CKM_HASH_ML_DSA_SHA256"),
    (0x25, "CKM_HASH_ML_DSA_SHA384"),
    (0x26, "CKM_HASH_ML_DSA_SHA512"),
    (0x27, "CKM_HASH_ML_DSA_SHA3_224"),
    (0x28, "CKM_HASH_ML_DSA_SHA3_256"),
    (0x29, "CKM_HASH_ML_DSA_SHA3_384"),
    (0x2a, "CKM_HASH_ML_DSA_SHA3_512"),
    (0x2b, "CKM_HASH_ML_DSA_SHAKE128"),
    (0x2c, "CKM_HASH_ML_DSA_SHAKE256"),
    (0x2d, "CKM_SLH_DSA_KEY_PAIR_GEN"),
    (0x2e, "CKM_SLH_DSA"),
    (0x30, "CKM_X9_42_DH_KEY_PAIR_GEN"),
    (0x31, "CKM_X9_42_DH_DERIVE"),
    (0x32, "CKM_X9_42_DH_HYBRID_DERIVE"),
    (0x33, "CKM_X9_42_MQV_DERIVE"),
    (0x34, "CKM_HASH_SLH_DSA"),
    (0x36, "CKM_HASH_SLH_DSA_SHA224"),
    (0x37, "CKM_HASH_SLH_DSA_SHA256"),
    (0x38, "CKM_HASH_SLH_DSA_SHA384"),
    (0x39, "CKM_HASH_SLH_DSA_SHA512"),
    (0x3a, "CKM_HASH_SLH_DSA_SHA3_224"),
    (0x3b, "CKM_HASH_SLH_DSA_SHA3_256"),
    (0x3c, "CKM_HASH_SLH_DSA_SHA3_384"),
    (0x3d, "CKM_HASH_SLH_DSA_SHA3_512"),
    (0x3e, "CKM_HASH_SLH_DSA_SHAKE128"),
    (0x3f, "CKM_HASH_SLH_DSA_SHAKE256"),
    (0x40, "CKM_SHA256_RSA_PKCS"),
    (0x41, "CKM_SHA384_RSA_PKCS"),
    (0x42, "CKM_SHA512_RSA_PKCS"),
    (0x43, "CKM_SHA256_RSA_PKCS_PSS"),
    (0x44, "CKM_SHA384_RSA_PKCS_PSS"),
    (0x45, "CKM_SHA512_RSA_PKCS_PSS"),
    (0x46, "CKM_SHA224_RSA_PKCS"),
    (0x47, "CKM_SHA224_RSA_PKCS_PSS"),
    (0x48, "CKM_SHA512_224"),
    (0x49, "CKM_SHA512_224_HMAC"),
    (0x4a, "CKM_SHA512_224_HMAC_GENERAL"),
    (0x4b, "CKM_SHA512_224_KEY_DERIVATION"),
    (0x4c, "CKM_SHA512_256"),
    (0x4d, "CKM_SHA512_256_HMAC"),
    (0x4e, "CKM_SHA512_256_HMAC_GENERAL"),
    (0x4f, "CKM_SHA512_256_KEY_DERIVATION"),
    (0x50, "CKM_SHA512_T"),
    (0x51, "CKM_SHA512_T_HMAC"),
    (0x52, "CKM_SHA512_T_HMAC_GENERAL"),
    (0x53, "CKM_SHA512_T_KEY_DERIVATION"),
    (0x56, "CKM_TLS12_EXTENDED_MASTER_KEY_DERIVE"),
    (0x57, "CKM_TLS12_EXTENDED_MASTER_KEY_DERIVE_DH"),
    (0x60, "CKM_SHA3_256_RSA_PKCS"),
    (0x61, "CKM_SHA3_384_RSA_PKCS"),
    (0x62, "CKM_SHA3_512_RSA_PKCS"),
    (0x63, "CKM_SHA3_256_RSA_PKCS_PSS"),
    (0x64, "CKM_SHA3_384_RSA_PKCS_PSS"),
    (0x65, "CKM_SHA3_512_RSA_PKCS_PSS"),
    (0x66, "CKM_SHA3_224_RSA_PKCS"),
    (0x67, "CKM_SHA3_224_RSA_PKCS_PSS"),
    (0x100, "CKM_RC2_KEY_GEN"),
    (0x101, "CKM_RC2_ECB"),
    (0x102, "CKM_RC2_CBC"),
    (0x103, "CKM_RC2_MAC"),
    (0x104, "CKM_RC2_MAC_GENERAL"),
    (0x105, "CKM_RC2_CBC_PAD"),
    (0x110, "CKM_RC4_KEY_GEN"),
    (0x111, "CKM_RC4"),
    (0x120, "CKM_DES_KEY_GEN"),
    (0x121, "CKM_DES_ECB"),
    (0x122, "CKM_DES_CBC"),
    (0x123, "CKM_DES_MAC"),
    (0x124, "CKM_DES_MAC_GENERAL"),
    (0x125, "CKM_DES_CBC_PAD"),
    (0x130, "CKM_DES2_KEY_GEN"),
    (0x131, "CKM_DES3_KEY_GEN"),
    (0x132, "CKM_DES3_ECB"),
    (0x133, "CKM_DES3_CBC"),
    (0x134, "CKM_DES3_MAC"),
    (0x135, "CKM_DES3_MAC_GENERAL"),
    (0x136, "CKM_DES3_CBC_PAD"),
    (0x137, "CKM_DES3_CMAC_GENERAL"),
    (0x138, "CKM_DES3_CMAC"),
    (0x140, "CKM_CDMF_KEY_GEN"),
    (0x141, "CKM_CDMF_ECB"),
    (0x142, "CKM_CDMF_CBC"),
    (0x143, "CKM_CDMF_MAC"),
    (0x144, "CKM_CDMF_MAC_GENERAL"),
    (0x145, "CKM_CDMF_CBC_PAD"),
    (0x150, "CKM_DES_OFB64"),
    (0x151, "CKM_DES_OFB8"),
    (0x152, "CKM_DES_CFB64"),
    (0x153, "CKM_DES_CFB8"),
    (0x200, "CKM_MD2"),
    (0x201, "CKM_MD2_HMAC"),
    (0x202, "CKM_MD2_HMAC_GENERAL"),
    (0x210, "CKM_MD5"),
    (0x211, "CKM_MD5_HMAC"),
    (0x212, "CKM_MD5_HMAC_GENERAL"),
    (0x220, "CKM_SHA_1"),
    (0x221, "CKM_SHA_1_HMAC"),
    (0x222, "CKM_SHA_1_HMAC_GENERAL"),
    (0x230, "CKM_RIPEMD128"),
    (0x231, "CKM_RIPEMD128_HMAC"),
    (0x232, "CKM_RIPEMD128_HMAC_GENERAL"),
    (0x240, "CKM_RIPEMD160"),
    (0x241, "CKM_RIPEMD160_HMAC"),
    (0x242, "CKM_RIPEMD160_HMAC_GENERAL"),
    (0x250, "CKM_SHA256"),
    (0x251, "CKM_SHA256_HMAC"),
    (0x252, "CKM_SHA256_HMAC_GENERAL"),
    (0x255, "CKM_SHA224"),
    (0x256, "CKM_SHA224_HMAC"),
    (0x257, "CKM_SHA224_HMAC_GENERAL"),
    (0x260, "CKM_SHA384"),
    (0x261, "CKM_SHA384_HMAC"),
    (0x262, "CKM_SHA384_HMAC_GENERAL"),
    (0x270, "CKM_SHA512"),
    (0x271, "CKM_SHA512_HMAC"),
    (0x272, "CKM_SHA512_HMAC_GENERAL"),
    (0x280, "CKM_SECURID_KEY_GEN"),
    (0x282, "CKM_SECURID"),
    (0x290, "CKM_HOTP_KEY_GEN"),
    (0x291, "CKM_HOTP"),
    (0x2a0, "CKM_ACTI"),
    (0x2a1, "CKM_ACTI_KEY_GEN"),
    (0x2b0, "CKM_SHA3_256"),
    (0x2b1, "CKM_SHA3_256_HMAC"),
    (0x2b2, "CKM_SHA3_256_HMAC_GENERAL"),
    (0x2b3, "CKM_SHA3_256_KEY_GEN"),
    (0x2b5, "CKM_SHA3_224"),
    (0x2b6, "CKM_SHA3_224_HMAC"),
    (0x2b7, "CKM_SHA3_224_HMAC_GENERAL"),
    (0x2b8, "CKM_SHA3_224_KEY_GEN"),
    (0x2c0, "CKM_SHA3_384"),
    (0x2c1, "CKM_SHA3_384_HMAC"),
    (0x2c2, "CKM_SHA3_384_HMAC_GENERAL"),
    (0x2c3, "CKM_SHA3_384_KEY_GEN"),
    (0x2d0, "CKM_SHA3_512"),
    (0x2d1, "CKM_SHA3_512_HMAC"),
    (0x2d2, "CKM_SHA3_512_HMAC_GENERAL"),
    (0x2d3, "CKM_SHA3_512_KEY_GEN"),
    (0x300, "CKM_CAST_KEY_GEN"),
    (0x301, "CKM_CAST_ECB"),
    (0x302, "CKM_CAST_CBC"),
    (0x303, "CKM_CAST_MAC"),
    (0x304, "CKM_CAST_MAC_GENERAL"),
    (0x305, "CKM_CAST_CBC_PAD"),
    (0x310, "CKM_CAST3_KEY_GEN"),
    (0x311, "CKM_CAST3_ECB"),
    (0x312, "CKM_CAST3_CBC"),
    (0x313, "CKM_CAST3_MAC"),
    (0x314, "CKM_CAST3_MAC_GENERAL"),
    (0x315, "CKM_CAST3_CBC_PAD"),
    (0x320, "CKM_CAST128_KEY_GEN"),
    (0x321, "CKM_CAST128_ECB"),
    (0x322, "CKM_CAST128_CBC"),
    (0x323, "CKM_CAST128_MAC"),
    (0x324, "CKM_CAST128_MAC_GENERAL"),
    (0x325, "CKM_CAST128_CBC_PAD"),
    (0x330, "CKM_RC5_KEY_GEN"),
    (0x331, "CKM_RC5_ECB"),
    (0x332, "CKM_RC5_CBC"),
    (0x333, "CKM_RC5_MAC"),
    (0x334, "CKM_RC5_MAC_GENERAL"),
    (0x335, "CKM_RC5_CBC_PAD"),
    (0x340, "CKM_IDEA_KEY_GEN"),
    (0x341, "CKM_IDEA_ECB"),
    (0x342, "CKM_IDEA_CBC"),
    (0x343, "CKM_IDEA_MAC"),
    (0x344, "CKM_IDEA_MAC_GENERAL"),
    (0x345, "CKM_IDEA_CBC_PAD"),
    (0x350, "CKM_GENERIC_SECRET_KEY_GEN"),
    (0x360, "CKM_CONCATENATE_BASE_AND_KEY"),
    (0x362, "CKM_CONCATENATE_BASE_AND_DATA"),
    (0x363, "CKM_CONCATENATE_DATA_AND_BASE"),
    (0x364, "CKM_XOR_BASE_AND_DATA"),
    (0x365, "CKM_EXTRACT_KEY_FROM_KEY"),
    (0x370, "CKM_SSL3_PRE_MASTER_KEY_GEN"),
    (0x371, "CKM_SSL3_MASTER_KEY_DERIVE"),
    (0x372, "CKM_SSL3_KEY_AND_MAC_DERIVE"),
    (0x373, "CKM_SSL3_MASTER_KEY_DERIVE_DH"),
    (0x374, "CKM_TLS_PRE_MASTER_KEY_GEN"),
    (0x375, "CKM_TLS_MASTER_KEY_DERIVE"),
    (0x376, "CKM_TLS_KEY_AND_MAC_DERIVE"),
    (0x377, "CKM_TLS_MASTER_KEY_DERIVE_DH"),
    (0x378, "CKM_TLS_PRF"),
    (0x380, "CKM_SSL3_MD5_MAC"),
    (0x381, "CKM_SSL3_SHA1_MAC"),
    (0x390, "CKM_MD5_KEY_DERIVATION"),
    (0x391, "CKM_MD2_KEY_DERIVATION"),
    (0x392, "CKM_SHA1_KEY_DERIVATION"),
    (0x393, "CKM_SHA256_KEY_DERIVATION"),
    (0x394, "CKM_SHA384_KEY_DERIVATION"),
    (0x395, "CKM_SHA512_KEY_DERIVATION"),
    (0x396, "CKM_SHA224_KEY_DERIVATION"),
    (0x397, "CKM_SHA3_256_KEY_DERIVE"),
    (0x398, "CKM_SHA3_224_KEY_DERIVE"),
    (0x399, "CKM_SHA3_384_KEY_DERIVE"),
    (0x39a, "CKM_SHA3_512_KEY_DERIVE"),
    (0x39b, "CKM_SHAKE_128_KEY_DERIVE"),
    (0x39c, "CKM_SHAKE_256_KEY_DERIVE"),
    (0x3a0, "CKM_PBE_MD2_DES_CBC"),
    (0x3a1, "CKM_PBE_MD5_DES_CBC"),
    (0x3a2, "CKM_PBE_MD5_CAST_CBC"),
    (0x3a3, "CKM_PBE_MD5_CAST3_CBC"),
    (0x3a4, "CKM_PBE_MD5_CAST128_CBC"),
    (0x3a5, "CKM_PBE_SHA1_CAST128_CBC"),
    (0x3a6, "CKM_PBE_SHA1_RC4_128"),
    (0x3a7, "CKM_PBE_SHA1_RC4_40"),
    (0x3a8, "CKM_PBE_SHA1_DES3_EDE_CBC"),
    (0x3a9, "CKM_PBE_SHA1_DES2_EDE_CBC"),
    (0x3aa, "CKM_PBE_SHA1_RC2_128_CBC"),
    (0x3ab, "CKM_PBE_SHA1_RC2_40_CBC"),
    (0x3ac, "CKM_SP800_108_COUNTER_KDF"),
    (0x3ad, "CKM_SP800_108_FEEDBACK_KDF"),
    (0x3ae, "CKM_SP800_108_DOUBLE_PIPELINE_KDF"),
    (0x3b0, "CKM_PKCS5_PBKD2"),
    (0x3c0, "CKM_PBA_SHA1_WITH_SHA1_HMAC"),
    (0x3d0, "CKM_WTLS_PRE_MASTER_KEY_GEN"),
    (0x3d1, "CKM_WTLS_MASTER_KEY_DERIVE"),
    (0x3d2, "CKM_WTLS_MASTER_KEY_DERIVE_DH_ECC"),
    (0x3d3, "CKM_WTLS_PRF"),
    (0x3d4, "CKM_WTLS_SERVER_KEY_AND_MAC_DERIVE"),
    (0x3d5, "CKM_WTLS_CLIENT_KEY_AND_MAC_DERIVE"),
    (0x3d6, "CKM_TLS10_MAC_SERVER"),
    (0x3d7, "CKM_TLS10_MAC_CLIENT"),
    (0x3d8, "CKM_TLS12_MAC"),
    (0x3d9, "CKM_TLS12_KDF"),
    (0x3e0, "CKM_TLS12_MASTER_KEY_DERIVE"),
    (0x3e1, "CKM_TLS12_KEY_AND_MAC_DERIVE"),
    (0x3e2, "CKM_TLS12_MASTER_KEY_DERIVE_DH"),
    (0x3e3, "CKM_TLS12_KEY_SAFE_DERIVE"),
    (0x3e4, "CKM_TLS_MAC"),
    (0x3e5, "CKM_TLS_KDF"),
    (0x400, "CKM_KEY_WRAP_LYNKS"),
    (0x401, "CKM_KEY_WRAP_SET_OAEP"),
    (0x500, "CKM_CMS_SIG"),
    (0x510, "CKM_KIP_DERIVE"),
    (0x511, "CKM_KIP_WRAP"),
    (0x512, "CKM_KIP_MAC"),
    (0x550, "CKM_CAMELLIA_KEY_GEN"),
    (0x551, "CKM_CAMELLIA_ECB"),
    (0x552, "CKM_CAMELLIA_CBC"),
    (0x553, "CKM_CAMELLIA_MAC"),
    (0x554, "CKM_CAMELLIA_MAC_GENERAL"),
    (0x555, "CKM_CAMELLIA_CBC_PAD"),
    (0x556, "CKM_CAMELLIA_ECB_ENCRYPT_DATA"),
    (0x557, "CKM_CAMELLIA_CBC_ENCRYPT_DATA"),
    (0x558, "CKM_CAMELLIA_CTR"),
    (0x560, "CKM_ARIA_KEY_GEN"),
    (0x561, "CKM_ARIA_ECB"),
    (0x562, "CKM_ARIA_CBC"),
    (0x563, "CKM_ARIA_MAC"),
    (0x564, "CKM_ARIA_MAC_GENERAL"),
    (0x565, "CKM_ARIA_CBC_PAD"),
    (0x566, "CKM_ARIA_ECB_ENCRYPT_DATA"),
    (0x567, "CKM_ARIA_CBC_ENCRYPT_DATA"),
    (0x650, "CKM_SEED_KEY_GEN"),
    (0x651, "CKM_SEED_ECB"),
    (0x652, "CKM_SEED_CBC"),
    (0x653, "CKM_SEED_MAC"),
    (0x654, "CKM_SEED_MAC_GENERAL"),
    (0x655, "CKM_SEED_CBC_PAD"),
    (0x656, "CKM_SEED_ECB_ENCRYPT_DATA"),
    (0x657, "CKM_SEED_CBC_ENCRYPT_DATA"),
    (0x1000, "CKM_SKIPJACK_KEY_GEN"),
    (0x1001, "CKM_SKIPJACK_ECB64"),
    (0x1002, "CKM_SKIPJACK_CBC64"),
    (0x1003, "CKM_SKIPJACK_OFB64"),
    (0x1004, "CKM_SKIPJACK_CFB64"),
    (0x1005, "CKM_SKIPJACK_CFB32"),
    (0x1006, "CKM_SKIPJACK_CFB16"),
    (0x1007, "CKM_SKIPJACK_CFB8"),
    (0x1008, "CKM_SKIPJACK_WRAP"),
    (0x1009, "CKM_SKIPJACK_PRIVATE_WRAP"),
    (0x100a, "CKM_SKIPJACK_RELAYX"),
    (0x1010, "CKM_KEA_KEY_PAIR_GEN"),
    (0x1011, "CKM_KEA_KEY_DERIVE"),
    (0x1012, "CKM_KEA_DERIVE"),
    (0x1020, "CKM_FORTEZZA_TIMESTAMP"),
    (0x1030, "CKM_BATON_KEY_GEN"),
    (0x1031, "CKM_BATON_ECB128"),
    (0x1032, "CKM_BATON_ECB96"),
    (0x1033, "CKM_BATON_CBC128"),
    (0x1034, "CKM_BATON_COUNTER"),
    (0x1035, "CKM_BATON_SHUFFLE"),
    (0x1036, "CKM_BATON_WRAP"),
    (0x1040, "CKM_EC_KEY_PAIR_GEN"),
    (0x1041, "CKM_ECDSA"),
    (0x1042, "CKM_ECDSA_SHA1"),
    (0x1043, "CKM_ECDSA_SHA224"),
    (0x1044, "CKM_ECDSA_SHA256"),
    (0x1045, "CKM_ECDSA_SHA384"),
    (0x1046, "CKM_ECDSA_SHA512"),
    (0x1047, "CKM_ECDSA_SHA3_224"),
    (0x1048, "CKM_ECDSA_SHA3_256"),
    (0x1049, "CKM_ECDSA_SHA3_384"),
    (0x104a, "CKM_ECDSA_SHA3_512"),
    (0x1050, "CKM_ECDH1_DERIVE"),
    (0x1051, "CKM_ECDH1_COFACTOR_DERIVE"),
    (0x1052, "CKM_ECMQV_DERIVE"),
    (0x1053, "CKM_ECDH_AES_KEY_WRAP"),
    (0x1054, "CKM_RSA_AES_KEY_WRAP"),
    (0x1055, "CKM_EC_EDWARDS_KEY_PAIR_GEN"),
    (0x1056, "CKM_EC_MONTGOMERY_KEY_PAIR_GEN"),
    (0x1057, "CKM_EDDSA"),
    (0x1060, "CKM_JUNIPER_KEY_GEN"),
    (0x1061, "CKM_JUNIPER_ECB128"),
    (0x1062, "CKM_JUNIPER_CBC128"),
    (0x1063, "CKM_JUNIPER_COUNTER"),
    (0x1064, "CKM_JUNIPER_SHUFFLE"),
    (0x1065, "CKM_JUNIPER_WRAP"),
    (0x1070, "CKM_FASTHASH"),
    (0x1071, "CKM_AES_XTS"),
    (0x1072, "CKM_AES_XTS_KEY_GEN"),
    (0x1080, "CKM_AES_KEY_GEN"),
    (0x1081, "CKM_AES_ECB"),
    (0x1082, "CKM_AES_CBC"),
    (0x1083, "CKM_AES_MAC"),
    (0x1084, "CKM_AES_MAC_GENERAL"),
    (0x1085, "CKM_AES_CBC_PAD"),
    (0x1086, "CKM_AES_CTR"),
    (0x1087, "CKM_AES_GCM"),
    (0x1088, "CKM_AES_CCM"),
    (0x1089, "CKM_AES_CTS"),
    (0x108a, "CKM_AES_CMAC"),
    (0x108b, "CKM_AES_CMAC_GENERAL"),
    (0x108c, "CKM_AES_XCBC_MAC"),
    (0x108d, "CKM_AES_XCBC_MAC_96"),
    (0x108e, "CKM_AES_GMAC"),
    (0x1090, "CKM_BLOWFISH_KEY_GEN"),
    (0x1091, "CKM_BLOWFISH_CBC"),
    (0x1092, "CKM_TWOFISH_KEY_GEN"),
    (0x1093, "CKM_TWOFISH_CBC"),
    (0x1094, "CKM_BLOWFISH_CBC_PAD"),
    (0x1095, "CKM_TWOFISH_CBC_PAD"),
    (0x1100, "CKM_DES_ECB_ENCRYPT_DATA"),
    (0x1101, "CKM_DES_CBC_ENCRYPT_DATA"),
    (0x1102, "CKM_DES3_ECB_ENCRYPT_DATA"),
    (0x1103, "CKM_DES3_CBC_ENCRYPT_DATA"),
    (0x1104, "CKM_AES_ECB_ENCRYPT_DATA"),
    (0x1105, "CKM_AES_CBC_ENCRYPT_DATA"),
    (0x1200, "CKM_GOSTR3410_KEY_PAIR_GEN"),
    (0x1201, "CKM_GOSTR3410"),
    (0x1202, "CKM_GOSTR3410_WITH_GOSTR3411"),
    (0x1203, "CKM_GOSTR3410_KEY_WRAP"),
    (0x1204, "CKM_GOSTR3410_DERIVE"),
    (0x1210, "CKM_GOSTR3411"),
    (0x1211, "CKM_GOSTR3411_HMAC"),
    (0x1220, "CKM_GOST28147_KEY_GEN"),
    (0x1221, "CKM_GOST28147_ECB"),
    (0x1222, "CKM_GOST28147"),
    (0x1223, "CKM_GOST28147_MAC"),
    (0x1224, "CKM_GOST28147_KEY_WRAP"),
    (0x1225, "CKM_CHACHA20_KEY_GEN"),
    (0x1226, "CKM_CHACHA20"),
    (0x1227, "CKM_POLY1305_KEY_GEN"),
    (0x1228, "CKM_POLY1305"),
    (0x140b, "CKM_EC_KEY_PAIR_GEN_W_EXTRA_BITS"),
    (0x2000, "CKM_DSA_PARAMETER_GEN"),
    (0x2001, "CKM_DH_PKCS_PARAMETER_GEN"),
    (0x2002, "CKM_X9_42_DH_PARAMETER_GEN"),
    (0x2003, "CKM_DSA_PROBABILISTIC_PARAMETER_GEN"),
    (0x2004, "CKM_DSA_SHAWE_TAYLOR_PARAMETER_GEN"),
    (0x2005, "CKM_DSA_FIPS_G_GEN"),
    (0x2104, "CKM_AES_OFB"),
    (0x2105, "CKM_AES_CFB64"),
    (0x2106, "CKM_AES_CFB8"),
    (0x2107, "CKM_AES_CFB128"),
    (0x2108, "CKM_AES_CFB1"),
    (0x2109, "CKM_AES_KEY_WRAP"),
    (0x210a, "CKM_AES_KEY_WRAP_PAD"),
    (0x210b, "CKM_AES_KEY_WRAP_KWP"),
    (0x210c, "CKM_AES_KEY_WRAP_PKCS7"),
    (0x4001, "CKM_RSA_PKCS_TPM_1_1"),
    (0x4002, "CKM_RSA_PKCS_OAEP_TPM_1_1"),
    (0x4003, "CKM_SHA_1_KEY_GEN"),
    (0x4004, "CKM_SHA224_KEY_GEN"),
    (0x4005, "CKM_SHA256_KEY_GEN"),
    (0x4006, "CKM_SHA384_KEY_GEN"),
    (0x4007, "CKM_SHA512_KEY_GEN"),
    (0x4008, "CKM_SHA512_224_KEY_GEN"),
    (0x4009, "CKM_SHA512_256_KEY_GEN"),
    (0x400a, "CKM_SHA512_T_KEY_GEN"),
    (0x400b, "CKM_NULL"),
    (0x400c, "CKM_BLAKE2B_160"),
    (0x400d, "CKM_BLAKE2B_160_HMAC"),
    (0x400e, "CKM_BLAKE2B_160_HMAC_GENERAL"),
    (0x400f, "CKM_BLAKE2B_160_KEY_DERIVE"),
    (0x4010, "CKM_BLAKE2B_160_KEY_GEN"),
    (0x4011, "CKM_BLAKE2B_256"),
    (0x4012, "CKM_BLAKE2B_256_HMAC"),
    (0x4013, "CKM_BLAKE2B_256_HMAC_GENERAL"),
    (0x4014, "CKM_BLAKE2B_256_KEY_DERIVE"),
    (0x4015, "CKM_BLAKE2B_256_KEY_GEN"),
    (0x4016, "CKM_BLAKE2B_384"),
    (0x4017, "CKM_BLAKE2B_384_HMAC"),
    (0x4018, "CKM_BLAKE2B_384_HMAC_GENERAL"),
    (0x4019, "CKM_BLAKE2B_384_KEY_DERIVE"),
    (0x401a, "CKM_BLAKE2B_384_KEY_GEN"),
    (0x401b, "CKM_BLAKE2B_512"),
    (0x401c, "CKM_BLAKE2B_512_HMAC"),
    (0x401d, "CKM_BLAKE2B_512_HMAC_GENERAL"),
    (0x401e, "CKM_BLAKE2B_512_KEY_DERIVE"),
    (0x401f, "CKM_BLAKE2B_512_KEY_GEN"),
    (0x4020, "CKM_SALSA20"),
    (0x4021, "CKM_CHACHA20_POLY1305"),
    (0x4022, "CKM_SALSA20_POLY1305"),
    (0x4023, "CKM_X3DH_INITIALIZE"),
    (0x4024, "CKM_X3DH_RESPOND"),
    (0x4025, "CKM_X2RATCHET_INITIALIZE"),
    (0x4026, "CKM_X2RATCHET_RESPOND"),
    (0x4027, "CKM_X2RATCHET_ENCRYPT"),
    (0x4028, "CKM_X2RATCHET_DECRYPT"),
    (0x4029, "CKM_XEDDSA"),
    (0x402a, "CKM_HKDF_DERIVE"),
    (0x402b, "CKM_HKDF_DATA"),
    (0x402c, "CKM_HKDF_KEY_GEN"),
    (0x402d, "CKM_SALSA20_KEY_GEN"),
    (0x402e, "CKM_IKE2_PRF_PLUS_DERIVE"),
    (0x402f, "CKM_IKE_PRF_DERIVE"),
    (0x4030, "CKM_IKE1_PRF_DERIVE"),
    (0x4031, "CKM_IKE1_EXTENDED_DERIVE"),
    (0x4032, "CKM_HSS_KEY_PAIR_GEN"),
    (0x4033, "CKM_HSS"),
    (0x4034, "CKM_XMSS_KEY_PAIR_GEN"),
    (0x4035, "CKM_XMSSMT_KEY_PAIR_GEN"),
    (0x4036, "CKM_XMSS"),
    (0x4037, "CKM_XMSSMT"),
    (0x4038, "CKM_ECDH_X_AES_KEY_WRAP"),
    (0x4039, "CKM_ECDH_COF_AES_KEY_WRAP"),
    (0x403a, "CKM_PUB_KEY_FROM_PRIV_KEY"),
    (0x80000000, "CKM_VENDOR_DEFINED"),
    (0x80000b01, "CKM_SM3"),
    (0x80000b02, "CKM_SM3_HMAC"),
    (0x80000b10, "CKM_SM4_KEY_GEN"),
    (0x80000b11, "CKM_SM4_ECB"),
    (0x80000b12, "CKM_SM4_CBC"),
    (0x80000b13, "CKM_SM4_CBC_PAD"),
    (0x80000b14, "CKM_SM4_CTR"),
    (0x80000b15, "CKM_SM4_GCM"),
    (0x80000b16, "CKM_SM4_MAC"),
    (0x80000b20, "CKM_SM2_KEY_PAIR_GEN"),
    (0x80000b21, "CKM_SM2"),
    (0x80000b22, "CKM_SM2_SM3"),
    (0x80000b23, "CKM_SM2_ENCRYPT"),
    (0x80000b24, "CKM_SM2_KEY_EXCHANGE"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::null_mut;

    fn ul(n: usize) -> sys::CK_ULONG {
        sys::CK_ULONG::try_from(n).unwrap()
    }

    /// A CK_MECHANISM whose parameter is `p` (its full size).
    fn with<T>(ty: u64, p: &mut T) -> sys::CK_MECHANISM {
        sys::CK_MECHANISM { mechanism: ty, pParameter: (p as *mut T).cast(), ulParameterLen: ul(size_of::<T>()) }
    }

    fn raw(ty: u64, b: &mut [u8]) -> sys::CK_MECHANISM {
        sys::CK_MECHANISM { mechanism: ty, pParameter: b.as_mut_ptr().cast(), ulParameterLen: ul(b.len()) }
    }

    fn run(mut m: sys::CK_MECHANISM) -> Result<Mechanism, Rv> {
        // SAFETY: every test mechanism points to live memory of the stated length.
        unsafe { from_c(&mut m) }
    }

    fn param(m: sys::CK_MECHANISM) -> MechParam {
        run(m).expect("mechanism accepted").param
    }

    const BAD: Result<Mechanism, Rv> = Err(Rv::MECHANISM_PARAM_INVALID);

    #[test]
    fn null_mechanism_is_arguments_bad() {
        // SAFETY: null is allowed.
        assert_eq!(unsafe { from_c(null_mut()) }, Err(Rv::ARGUMENTS_BAD));
        // SAFETY: null is allowed.
        unsafe { write_back_derived(null_mut(), &[1, 2]) };
    }

    #[test]
    fn no_parameter_is_none() {
        let m = sys::CK_MECHANISM { mechanism: ck::CKM_ECDSA_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(run(m), Ok(Mechanism::new(ck::CKM_ECDSA_SHA256)));
        // A pointer with a zero length is no parameter either.
        let mut b = [1u8; 4];
        let m = sys::CK_MECHANISM { mechanism: ck::CKM_AES_GCM, pParameter: b.as_mut_ptr().cast(), ulParameterLen: 0 };
        assert_eq!(run(m), Ok(Mechanism::new(ck::CKM_AES_GCM)));
    }

    #[test]
    fn null_parameter_with_length_is_refused() {
        for mech in [ck::CKM_AES_CBC, ck::CKM_AES_GCM, ck::CKM_SM2_SM3, 0x8123_4567] {
            let m = sys::CK_MECHANISM { mechanism: mech, pParameter: null_mut(), ulParameterLen: 16 };
            assert_eq!(run(m), BAD, "mechanism 0x{mech:x}");
        }
    }

    #[test]
    fn cbc_ivs_are_bytes() {
        for mech in [ck::CKM_AES_CBC, ck::CKM_AES_CBC_PAD, ck::CKM_SM4_CBC, ck::CKM_SM4_CBC_PAD, 0x8000_0B12, 0x8000_0B13] {
            let mut iv: [u8; 16] = std::array::from_fn(|i| i as u8);
            let m = run(raw(mech, &mut iv)).unwrap();
            assert_eq!(m, Mechanism::with(mech, MechParam::Bytes(iv.to_vec())));
        }
    }

    fn gcm(iv: &mut [u8], aad: &mut [u8], tag_bits: u64) -> sys::CK_GCM_PARAMS {
        sys::CK_GCM_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: ul(iv.len()),
            ulIvBits: ul(iv.len() * 8),
            pAAD: aad.as_mut_ptr(),
            ulAADLen: ul(aad.len()),
            ulTagBits: tag_bits,
        }
    }

    #[test]
    fn gcm_params() {
        let (mut iv, mut aad) = ([7u8; 12], *b"header");
        for mech in [ck::CKM_AES_GCM, ck::CKM_SM4_GCM, 0x8000_0B15] {
            let mut g = gcm(&mut iv, &mut aad, 128);
            assert_eq!(param(with(mech, &mut g)), MechParam::Gcm { iv: vec![7; 12], aad: b"header".to_vec(), tag_bits: 128 });
        }
        // ulIvBits is not checked; an empty AAD may have a null pointer.
        let mut g = gcm(&mut iv, &mut aad, 96);
        g.ulIvBits = 0;
        g.pAAD = null_mut();
        g.ulAADLen = 0;
        assert_eq!(param(with(ck::CKM_AES_GCM, &mut g)), MechParam::Gcm { iv: vec![7; 12], aad: vec![], tag_bits: 96 });
    }

    #[test]
    fn gcm_params_in_the_2_40_layout() {
        let (mut iv, mut aad) = ([7u8; 12], *b"header");
        let mut g = Gcm240 { pIv: iv.as_mut_ptr(), ulIvLen: ul(12), pAAD: aad.as_mut_ptr(), ulAADLen: ul(6), ulTagBits: 128 };
        let m = sys::CK_MECHANISM { mechanism: ck::CKM_AES_GCM, pParameter: (&mut g as *mut Gcm240).cast(), ulParameterLen: ul(size_of::<Gcm240>()) };
        assert_eq!(param(m), MechParam::Gcm { iv: vec![7; 12], aad: b"header".to_vec(), tag_bits: 128 });
    }

    #[test]
    fn gcm_errors() {
        let (mut iv, mut aad) = ([7u8; 12], [0u8; 4]);
        // Neither the 3.0 (48-byte) nor the 2.40 (40-byte) size: refused.
        let mut g = gcm(&mut iv, &mut aad, 128);
        let mut m = with(ck::CKM_AES_GCM, &mut g);
        m.ulParameterLen = 44;
        assert_eq!(run(m), BAD);
        let mut g = gcm(&mut iv, &mut aad, 128);
        g.pIv = null_mut();
        assert_eq!(run(with(ck::CKM_AES_GCM, &mut g)), BAD);
        let mut g = gcm(&mut iv, &mut aad, 128);
        g.pAAD = null_mut();
        assert_eq!(run(with(ck::CKM_AES_GCM, &mut g)), BAD);
        let mut g = gcm(&mut iv, &mut aad, 1 << 40);
        assert_eq!(run(with(ck::CKM_SM4_GCM, &mut g)), BAD);
        let mut long_iv = vec![1u8; MAX_GCM_IV_LEN + 1];
        let mut g = gcm(&mut long_iv, &mut aad, 128);
        assert_eq!(run(with(ck::CKM_AES_GCM, &mut g)), BAD);
        let mut long_aad = vec![1u8; MAX_PARAM_LEN + 1];
        let mut g = gcm(&mut iv, &mut long_aad, 128);
        assert_eq!(run(with(ck::CKM_AES_GCM, &mut g)), BAD);
        let mut ok_iv = vec![1u8; MAX_GCM_IV_LEN];
        let mut g = gcm(&mut ok_iv, &mut aad, 128);
        assert!(run(with(ck::CKM_AES_GCM, &mut g)).is_ok());
    }

    #[test]
    fn ctr_params() {
        for mech in [ck::CKM_AES_CTR, ck::CKM_SM4_CTR] {
            let mut c = sys::CK_AES_CTR_PARAMS { ulCounterBits: 32, cb: [9; 16] };
            assert_eq!(param(with(mech, &mut c)), MechParam::Ctr { counter_bits: 32, counter_block: vec![9; 16] });
            let mut m = with(mech, &mut c);
            m.ulParameterLen = 16;
            assert_eq!(run(m), BAD);
        }
        let mut c = sys::CK_AES_CTR_PARAMS { ulCounterBits: u64::MAX, cb: [0; 16] };
        assert_eq!(run(with(ck::CKM_AES_CTR, &mut c)), BAD);
    }

    #[test]
    fn rsa_params() {
        for mech in [ck::CKM_RSA_PKCS_PSS, ck::CKM_SHA256_RSA_PKCS_PSS, ck::CKM_SHA512_RSA_PKCS_PSS, sys::CKM_SHA3_256_RSA_PKCS_PSS] {
            let mut p = sys::CK_RSA_PKCS_PSS_PARAMS { hashAlg: ck::CKM_SHA256, mgf: ck::CKG_MGF1_SHA256, sLen: 32 };
            assert_eq!(param(with(mech, &mut p)), MechParam::Pss { hash: ck::CKM_SHA256, mgf: ck::CKG_MGF1_SHA256, salt_len: 32 });
            let mut m = with(mech, &mut p);
            m.ulParameterLen -= 1;
            assert_eq!(run(m), BAD);
        }
        let mut label = *b"label";
        let mut o = sys::CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: ck::CKM_SHA384,
            mgf: ck::CKG_MGF1_SHA384,
            source: ck::CKZ_DATA_SPECIFIED,
            pSourceData: label.as_mut_ptr().cast(),
            ulSourceDataLen: 5,
        };
        assert_eq!(
            param(with(ck::CKM_RSA_PKCS_OAEP, &mut o)),
            MechParam::Oaep { hash: ck::CKM_SHA384, mgf: ck::CKG_MGF1_SHA384, source: ck::CKZ_DATA_SPECIFIED, source_data: b"label".to_vec() }
        );
        o.pSourceData = null_mut();
        assert_eq!(run(with(ck::CKM_RSA_PKCS_OAEP, &mut o)), BAD);
        o.ulSourceDataLen = 0;
        assert_eq!(
            param(with(ck::CKM_RSA_PKCS_OAEP, &mut o)),
            MechParam::Oaep { hash: ck::CKM_SHA384, mgf: ck::CKG_MGF1_SHA384, source: ck::CKZ_DATA_SPECIFIED, source_data: vec![] }
        );
    }

    #[test]
    fn ecdh_params() {
        let mut point = [4u8; 65];
        let mut e = sys::CK_ECDH1_DERIVE_PARAMS {
            kdf: ck::CKD_NULL,
            ulSharedDataLen: 0,
            pSharedData: null_mut(),
            ulPublicDataLen: 65,
            pPublicData: point.as_mut_ptr(),
        };
        assert_eq!(param(with(ck::CKM_ECDH1_DERIVE, &mut e)), MechParam::Ecdh { kdf: ck::CKD_NULL, shared_data: vec![], public_data: vec![4; 65] });
        e.ulSharedDataLen = 3;
        assert_eq!(run(with(ck::CKM_ECDH1_DERIVE, &mut e)), BAD);
    }

    #[test]
    fn sm2_user_id() {
        for mech in [ck::CKM_SM2_SM3, ck::CKM_SM2, 0x8000_0B22, 0x8000_0B21] {
            let mut id = *b"alice@example.com";
            assert_eq!(param(raw(mech, &mut id)), MechParam::Sm2 { user_id: id.to_vec() });
            let mut long = vec![b'a'; MAX_SM2_ID_LEN + 1];
            assert_eq!(run(raw(mech, &mut long)), BAD);
        }
        // No parameter: the TA uses the default ID.
        let m = sys::CK_MECHANISM { mechanism: ck::CKM_SM2_SM3, pParameter: null_mut(), ulParameterLen: 0 };
        assert_eq!(param(m), MechParam::None);
    }

    #[test]
    fn signature_contexts() {
        let mut ctx = *b"ctx";
        let mut e = sys::CK_EDDSA_PARAMS { phFlag: 1, ulContextDataLen: 3, pContextData: ctx.as_mut_ptr() };
        assert_eq!(param(with(ck::CKM_EDDSA, &mut e)), MechParam::Eddsa { prehash: true, context: b"ctx".to_vec() });
        e.phFlag = 0;
        e.ulContextDataLen = 0;
        assert_eq!(param(with(ck::CKM_EDDSA, &mut e)), MechParam::Eddsa { prehash: false, context: vec![] });

        let mut s = sys::CK_SIGN_ADDITIONAL_CONTEXT { hedgeVariant: sys::CKH_DETERMINISTIC_REQUIRED, pContext: ctx.as_mut_ptr(), ulContextLen: 3 };
        assert_eq!(param(with(ck::CKM_ML_DSA, &mut s)), MechParam::SignContext { hedge: 2, context: b"ctx".to_vec() });
        let mut long = [0u8; 256];
        s.pContext = long.as_mut_ptr();
        s.ulContextLen = 256;
        assert_eq!(run(with(ck::CKM_ML_DSA, &mut s)), BAD);

        let mut h = sys::CK_HASH_SIGN_ADDITIONAL_CONTEXT {
            hedgeVariant: sys::CKH_HEDGE_PREFERRED,
            pContext: ctx.as_mut_ptr(),
            ulContextLen: 3,
            hash: ck::CKM_SHA256,
        };
        assert_eq!(param(with(ck::CKM_HASH_ML_DSA, &mut h)), MechParam::HashSignContext { hedge: 0, context: b"ctx".to_vec(), hash: ck::CKM_SHA256 });
        // A CK_SIGN_ADDITIONAL_CONTEXT where the hash variant is expected: wrong size.
        let mut m = with(ck::CKM_HASH_ML_DSA, &mut s);
        m.ulParameterLen = ul(size_of::<sys::CK_SIGN_ADDITIONAL_CONTEXT>());
        assert_eq!(run(m), BAD);
    }

    #[test]
    fn derivation_params() {
        let mut handle: sys::CK_OBJECT_HANDLE = 42;
        assert_eq!(param(with(ck::CKM_CONCATENATE_BASE_AND_KEY, &mut handle)), MechParam::Ulong(42));
        let mut bit: sys::CK_ULONG = 21;
        assert_eq!(param(with(ck::CKM_EXTRACT_KEY_FROM_KEY, &mut bit)), MechParam::Ulong(21));
        let mut short = [0u8; 4];
        assert_eq!(run(raw(ck::CKM_CONCATENATE_BASE_AND_KEY, &mut short)), BAD);

        let mut data = [5u8; 32];
        for mech in [ck::CKM_CONCATENATE_BASE_AND_DATA, ck::CKM_CONCATENATE_DATA_AND_BASE, ck::CKM_XOR_BASE_AND_DATA, ck::CKM_AES_ECB_ENCRYPT_DATA] {
            let mut d = sys::CK_KEY_DERIVATION_STRING_DATA { pData: data.as_mut_ptr(), ulLen: 32 };
            assert_eq!(param(with(mech, &mut d)), MechParam::Bytes(vec![5; 32]));
            d.pData = null_mut();
            assert_eq!(run(with(mech, &mut d)), BAD);
        }
        let mut c = sys::CK_AES_CBC_ENCRYPT_DATA_PARAMS { iv: [3; 16], pData: data.as_mut_ptr(), length: 32 };
        assert_eq!(param(with(ck::CKM_AES_CBC_ENCRYPT_DATA, &mut c)), MechParam::CbcEncryptData { iv: vec![3; 16], data: vec![5; 32] });
        let mut m = with(ck::CKM_AES_CBC_ENCRYPT_DATA, &mut c);
        m.ulParameterLen = 16;
        assert_eq!(run(m), BAD);
    }

    fn counter_fmt(width: u64) -> sys::CK_SP800_108_COUNTER_FORMAT {
        sys::CK_SP800_108_COUNTER_FORMAT { bLittleEndian: 0, ulWidthInBits: width }
    }

    fn data_param<T>(ty: sys::CK_ULONG, v: &mut T) -> sys::CK_PRF_DATA_PARAM {
        sys::CK_PRF_DATA_PARAM { type_: ty, pValue: (v as *mut T).cast(), ulValueLen: ul(size_of::<T>()) }
    }

    #[test]
    fn kbkdf_counter_mode_and_write_back() {
        let mut iter = counter_fmt(32);
        let mut dkm =
            sys::CK_SP800_108_DKM_LENGTH_FORMAT { dkmLengthMethod: sys::CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS, bLittleEndian: 1, ulWidthInBits: 16 };
        let mut label = *b"label";
        let mut data = [
            data_param(sys::CK_SP800_108_ITERATION_VARIABLE, &mut iter),
            sys::CK_PRF_DATA_PARAM { type_: sys::CK_SP800_108_BYTE_ARRAY, pValue: label.as_mut_ptr().cast(), ulValueLen: 5 },
            data_param(sys::CK_SP800_108_DKM_LENGTH, &mut dkm),
        ];
        let mut key_label = *b"k2";
        let mut attrs = [sys::CK_ATTRIBUTE { type_: ck::CKA_LABEL, pValue: key_label.as_mut_ptr().cast(), ulValueLen: 2 }];
        let (mut h1, mut h2): (sys::CK_OBJECT_HANDLE, sys::CK_OBJECT_HANDLE) = (0, 0);
        let mut derived = [
            sys::CK_DERIVED_KEY { pTemplate: attrs.as_mut_ptr(), ulAttributeCount: 1, phKey: &mut h1 },
            sys::CK_DERIVED_KEY { pTemplate: null_mut(), ulAttributeCount: 0, phKey: &mut h2 },
        ];
        let mut k = sys::CK_SP800_108_KDF_PARAMS {
            prfType: ck::CKM_SHA256_HMAC,
            ulNumberOfDataParams: 3,
            pDataParams: data.as_mut_ptr(),
            ulAdditionalDerivedKeys: 2,
            pAdditionalDerivedKeys: derived.as_mut_ptr(),
        };
        let MechParam::Kbkdf(p) = param(with(ck::CKM_SP800_108_COUNTER_KDF, &mut k)) else { panic!("not Kbkdf") };
        assert_eq!(p.prf, ck::CKM_SHA256_HMAC);
        assert_eq!(
            p.data,
            vec![
                KdfDataParam::IterationVariable { format: Some(CounterFormat { little_endian: false, width_bits: 32 }) },
                KdfDataParam::ByteArray(b"label".to_vec()),
                KdfDataParam::DkmLength { method: 1, format: CounterFormat { little_endian: true, width_bits: 16 } },
            ]
        );
        assert!(p.iv.is_empty());
        assert_eq!(p.additional_keys.len(), 2);
        assert_eq!(p.additional_keys[0].len(), 1);
        assert_eq!(p.additional_keys[0][0].ty, ck::CKA_LABEL);
        assert_eq!(p.additional_keys[0][0].value, b"k2");
        assert!(p.additional_keys[1].is_empty());

        let mut m = with(ck::CKM_SP800_108_COUNTER_KDF, &mut k);
        // SAFETY: m and everything it points to are live; phKey fields are writable.
        unsafe { write_back_derived(&mut m, &[77, 78, 79]) };
        assert_eq!((h1, h2), (77, 78));
        // Other mechanisms, and a structure of the wrong size, are left alone;
        // with fewer handles than keys only those are written.
        let cases: [(u64, &[u64], (u64, u64)); 3] = [
            (ck::CKM_SP800_108_FEEDBACK_KDF, &[5, 6], (0, 0)),
            (ck::CKM_AES_GCM, &[5, 6], (0, 0)),
            (ck::CKM_SP800_108_DOUBLE_PIPELINE_KDF, &[5], (5, 0)),
        ];
        for (mech, handles, expect) in cases {
            let (mut h1, mut h2): (sys::CK_OBJECT_HANDLE, sys::CK_OBJECT_HANDLE) = (0, 0);
            let mut derived = [
                sys::CK_DERIVED_KEY { pTemplate: null_mut(), ulAttributeCount: 0, phKey: &mut h1 },
                sys::CK_DERIVED_KEY { pTemplate: null_mut(), ulAttributeCount: 0, phKey: &mut h2 },
            ];
            let mut k = sys::CK_SP800_108_KDF_PARAMS {
                prfType: ck::CKM_SHA256_HMAC,
                ulNumberOfDataParams: 0,
                pDataParams: null_mut(),
                ulAdditionalDerivedKeys: 2,
                pAdditionalDerivedKeys: derived.as_mut_ptr(),
            };
            let mut m = with(mech, &mut k);
            // SAFETY: m and everything it points to are live; phKey fields are writable.
            unsafe { write_back_derived(&mut m, handles) };
            assert_eq!((h1, h2), expect, "mechanism 0x{mech:x}");
        }
    }

    #[test]
    fn kbkdf_feedback_mode() {
        let mut opt = counter_fmt(8);
        let mut data = [
            sys::CK_PRF_DATA_PARAM { type_: sys::CK_SP800_108_ITERATION_VARIABLE, pValue: null_mut(), ulValueLen: 0 },
            data_param(sys::CK_SP800_108_OPTIONAL_COUNTER, &mut opt),
        ];
        let mut iv = [0xAAu8; 16];
        let mut h: sys::CK_OBJECT_HANDLE = 0;
        let mut derived = [sys::CK_DERIVED_KEY { pTemplate: null_mut(), ulAttributeCount: 0, phKey: &mut h }];
        let mut k = sys::CK_SP800_108_FEEDBACK_KDF_PARAMS {
            prfType: ck::CKM_AES_CMAC,
            ulNumberOfDataParams: 2,
            pDataParams: data.as_mut_ptr(),
            ulIVLen: 16,
            pIV: iv.as_mut_ptr(),
            ulAdditionalDerivedKeys: 1,
            pAdditionalDerivedKeys: derived.as_mut_ptr(),
        };
        let MechParam::Kbkdf(p) = param(with(ck::CKM_SP800_108_FEEDBACK_KDF, &mut k)) else { panic!("not Kbkdf") };
        assert_eq!(p.prf, ck::CKM_AES_CMAC);
        assert_eq!(
            p.data,
            vec![KdfDataParam::IterationVariable { format: None }, KdfDataParam::Counter(CounterFormat { little_endian: false, width_bits: 8 })]
        );
        assert_eq!(p.iv, vec![0xAA; 16]);
        assert_eq!(p.additional_keys, vec![Vec::new()]);
        let mut m = with(ck::CKM_SP800_108_FEEDBACK_KDF, &mut k);
        // SAFETY: m and everything it points to are live; phKey is writable.
        unsafe { write_back_derived(&mut m, &[9]) };
        assert_eq!(h, 9);
        // The counter-mode structure is smaller: refused for feedback mode.
        let mut m = with(ck::CKM_SP800_108_FEEDBACK_KDF, &mut k);
        m.ulParameterLen = ul(size_of::<sys::CK_SP800_108_KDF_PARAMS>());
        assert_eq!(run(m), BAD);
        k.pIV = null_mut();
        assert_eq!(run(with(ck::CKM_SP800_108_FEEDBACK_KDF, &mut k)), BAD);
    }

    #[test]
    fn kbkdf_errors() {
        let mut iter = counter_fmt(32);
        let kdf = |data: &mut [sys::CK_PRF_DATA_PARAM], n: usize, keys: &mut [sys::CK_DERIVED_KEY]| sys::CK_SP800_108_KDF_PARAMS {
            prfType: ck::CKM_SHA256_HMAC,
            ulNumberOfDataParams: ul(n),
            pDataParams: data.as_mut_ptr(),
            ulAdditionalDerivedKeys: ul(keys.len()),
            pAdditionalDerivedKeys: if keys.is_empty() { null_mut() } else { keys.as_mut_ptr() },
        };
        let mech = ck::CKM_SP800_108_COUNTER_KDF;
        // The minimal valid call.
        let mut data = [data_param(sys::CK_SP800_108_ITERATION_VARIABLE, &mut iter)];
        let mut k = kdf(&mut data, 1, &mut []);
        assert!(run(with(mech, &mut k)).is_ok());
        // Counter format of the wrong size.
        let mut short = [0u8; 8];
        let mut data = [sys::CK_PRF_DATA_PARAM { type_: sys::CK_SP800_108_ITERATION_VARIABLE, pValue: short.as_mut_ptr().cast(), ulValueLen: 8 }];
        let mut k = kdf(&mut data, 1, &mut []);
        assert_eq!(run(with(mech, &mut k)), BAD);
        // CK_SP800_108_KEY_HANDLE and unknown types are not in the protocol.
        let mut handle: sys::CK_OBJECT_HANDLE = 3;
        for ty in [sys::CK_SP800_108_KEY_HANDLE, 99] {
            let mut data = [data_param(ty, &mut handle)];
            let mut k = kdf(&mut data, 1, &mut []);
            assert_eq!(run(with(mech, &mut k)), BAD, "type {ty}");
        }
        // Too many data parameters, or a null array.
        let mut many: Vec<_> = (0..=teehsm_wire::MAX_KDF_PARTS).map(|_| data_param(sys::CK_SP800_108_ITERATION_VARIABLE, &mut iter)).collect();
        let n = many.len();
        let mut k = kdf(&mut many, n, &mut []);
        assert_eq!(run(with(mech, &mut k)), BAD);
        let mut k = kdf(&mut [], 1, &mut []);
        k.pDataParams = null_mut();
        assert_eq!(run(with(mech, &mut k)), BAD);
        // An additional key without somewhere to put its handle, or with a null template.
        let mut data = [data_param(sys::CK_SP800_108_ITERATION_VARIABLE, &mut iter)];
        let mut keys = [sys::CK_DERIVED_KEY { pTemplate: null_mut(), ulAttributeCount: 0, phKey: null_mut() }];
        let mut k = kdf(&mut data, 1, &mut keys);
        assert_eq!(run(with(mech, &mut k)), BAD);
        let mut h: sys::CK_OBJECT_HANDLE = 0;
        let mut keys = [sys::CK_DERIVED_KEY { pTemplate: null_mut(), ulAttributeCount: 2, phKey: &mut h }];
        let mut k = kdf(&mut data, 1, &mut keys);
        assert_eq!(run(with(mech, &mut k)), BAD);
        // A byte array longer than the TA decodes.
        let mut big = vec![0u8; MAX_PARAM_LEN + 1];
        let mut data = [sys::CK_PRF_DATA_PARAM { type_: sys::CK_SP800_108_BYTE_ARRAY, pValue: big.as_mut_ptr().cast(), ulValueLen: ul(big.len()) }];
        let mut k = kdf(&mut data, 1, &mut []);
        assert_eq!(run(with(mech, &mut k)), BAD);
    }

    #[test]
    fn unknown_mechanisms_pass_raw_bytes() {
        let mut b = *b"opaque";
        assert_eq!(param(raw(0x8765_4321, &mut b)), MechParam::Bytes(b"opaque".to_vec()));
        assert_eq!(param(raw(ck::CKM_ECDSA, &mut b)), MechParam::Bytes(b"opaque".to_vec()));
        let mut big = vec![0u8; MAX_PARAM_LEN + 1];
        assert_eq!(run(raw(0x8765_4321, &mut big)), BAD);
        let mut max = vec![0u8; MAX_PARAM_LEN];
        assert!(run(raw(ck::CKM_AES_CBC, &mut max)).is_ok());
        // A length that does not fit in memory is refused before any read.
        let m = sys::CK_MECHANISM { mechanism: ck::CKM_AES_CBC, pParameter: b.as_mut_ptr().cast(), ulParameterLen: u64::MAX };
        assert_eq!(run(m), BAD);
    }

    #[test]
    fn names() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0), "NAMES must be sorted and unique");
        macro_rules! same {
            ($($n:ident),* $(,)?) => { $(assert_eq!(name(ck::$n), stringify!($n));)* };
        }
        same!(
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            CKM_RSA_PKCS,
            CKM_RSA_X_509,
            CKM_RSA_PKCS_OAEP,
            CKM_RSA_PKCS_PSS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_SHA384_RSA_PKCS_PSS,
            CKM_SHA512_RSA_PKCS_PSS,
            CKM_SHA_1,
            CKM_SHA256,
            CKM_SHA256_HMAC,
            CKM_SHA384,
            CKM_SHA384_HMAC,
            CKM_SHA512,
            CKM_SHA512_HMAC,
            CKM_GENERIC_SECRET_KEY_GEN,
            CKM_EC_KEY_PAIR_GEN,
            CKM_ECDSA,
            CKM_ECDSA_SHA256,
            CKM_ECDSA_SHA384,
            CKM_ECDSA_SHA512,
            CKM_ECDH1_DERIVE,
            CKM_AES_KEY_GEN,
            CKM_AES_ECB,
            CKM_AES_CBC,
            CKM_AES_CBC_PAD,
            CKM_AES_CTR,
            CKM_AES_GCM,
            CKM_AES_CMAC,
            CKM_AES_KEY_WRAP,
            CKM_AES_KEY_WRAP_PAD,
            CKM_ML_KEM_KEY_PAIR_GEN,
            CKM_ML_KEM,
            CKM_ML_DSA_KEY_PAIR_GEN,
            CKM_ML_DSA,
            CKM_HASH_ML_DSA,
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA224_RSA_PKCS_PSS,
            CKM_SHA_1_HMAC,
            CKM_SHA224,
            CKM_SHA224_HMAC,
            CKM_SHA3_256,
            CKM_SHA3_224,
            CKM_SHA3_384,
            CKM_SHA3_512,
            CKM_CONCATENATE_BASE_AND_KEY,
            CKM_CONCATENATE_BASE_AND_DATA,
            CKM_CONCATENATE_DATA_AND_BASE,
            CKM_XOR_BASE_AND_DATA,
            CKM_EXTRACT_KEY_FROM_KEY,
            CKM_SP800_108_COUNTER_KDF,
            CKM_SP800_108_FEEDBACK_KDF,
            CKM_SP800_108_DOUBLE_PIPELINE_KDF,
            CKM_SHA_1_KEY_GEN,
            CKM_SHA224_KEY_GEN,
            CKM_SHA256_KEY_GEN,
            CKM_SHA384_KEY_GEN,
            CKM_SHA512_KEY_GEN,
            CKM_EC_EDWARDS_KEY_PAIR_GEN,
            CKM_EDDSA,
            CKM_ECDSA_SHA224,
            CKM_AES_ECB_ENCRYPT_DATA,
            CKM_AES_CBC_ENCRYPT_DATA,
            CKM_VENDOR_DEFINED,
            CKM_SM3,
            CKM_SM3_HMAC,
            CKM_SM4_KEY_GEN,
            CKM_SM4_ECB,
            CKM_SM4_CBC,
            CKM_SM4_CBC_PAD,
            CKM_SM4_CTR,
            CKM_SM4_GCM,
            CKM_SM4_MAC,
            CKM_SM2_KEY_PAIR_GEN,
            CKM_SM2,
            CKM_SM2_SM3,
            CKM_SM2_ENCRYPT,
            CKM_SM2_KEY_EXCHANGE,
        );
        assert_eq!(name(ck::CKM_AES_KEY_WRAP_KWP), "CKM_AES_KEY_WRAP_KWP");
        assert_eq!(name(0x8000_0B12), "CKM_SM4_CBC");
        assert_eq!(name(0x8000_0B22), "CKM_SM2_SM3");
        assert_eq!(name(0x8fff_ffff), "CKM_VENDOR_DEFINED+?");
        assert_eq!(name(0x7fff_fff0), "CKM_?");
    }
}
