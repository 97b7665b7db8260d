//! Key generation, wrapping, unwrapping, derivation, encapsulation, random.

use super::{bytes, handle, mech, with_session};
use crate::attrs;
use crate::guard::{guard, Result};
use crate::mechanism;
use crate::out;
use cryptoki_sys::*;
use teehsm_wire::ck::{CKA_PARAMETER_SET, CKP_ML_KEM_1024, CKP_ML_KEM_512, CKP_ML_KEM_768};
use teehsm_wire::{Reply, Request};

#[no_mangle]
pub unsafe extern "C" fn C_GenerateKey(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    t: CK_ATTRIBUTE_PTR,
    n: CK_ULONG,
    key: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_GenerateKey", || {
        with_session(s, |md, _| {
            if key.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            let h = handle(md, &Request::GenerateKey { session: s as u64, mechanism, template })?;
            // SAFETY: checked non-null.
            unsafe { out::put(key, h as CK_OBJECT_HANDLE) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GenerateKeyPair(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    pub_t: CK_ATTRIBUTE_PTR,
    pub_n: CK_ULONG,
    priv_t: CK_ATTRIBUTE_PTR,
    priv_n: CK_ULONG,
    pub_key: CK_OBJECT_HANDLE_PTR,
    priv_key: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_GenerateKeyPair", || {
        with_session(s, |md, _| {
            if pub_key.is_null() || priv_key.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            // SAFETY: forwarded caller promises.
            let (public_template, private_template) = unsafe { (attrs::template(pub_t, pub_n)?, attrs::template(priv_t, priv_n)?) };
            match md.pool.request(&Request::GenerateKeyPair { session: s as u64, mechanism, public_template, private_template })? {
                Reply::KeyPair { public, private } => {
                    // SAFETY: checked non-null.
                    unsafe {
                        out::put(pub_key, public as CK_OBJECT_HANDLE)?;
                        out::put(priv_key, private as CK_OBJECT_HANDLE)
                    }
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        })
    })
}

/// C_WrapKey. A length query wraps too (the TA does not say lengths
/// without doing the work); the wrapped bytes of that call are discarded.
#[no_mangle]
pub unsafe extern "C" fn C_WrapKey(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    wrapping_key: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    wrapped: CK_BYTE_PTR,
    wrapped_len: CK_ULONG_PTR,
) -> CK_RV {
    guard("C_WrapKey", || {
        with_session(s, |md, _| {
            if wrapped_len.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            let b = zeroize::Zeroizing::new(bytes(
                md,
                &Request::WrapKey { session: s as u64, mechanism, wrapping_key: wrapping_key as u64, key: key as u64 },
            )?);
            // SAFETY: forwarded caller promise.
            unsafe { out::deliver(&b, wrapped, wrapped_len) }.map(|_| ())
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_UnwrapKey(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    unwrapping_key: CK_OBJECT_HANDLE,
    wrapped: CK_BYTE_PTR,
    wrapped_len: CK_ULONG,
    t: CK_ATTRIBUTE_PTR,
    n: CK_ULONG,
    key: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_UnwrapKey", || {
        with_session(s, |md, _| {
            if key.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            // SAFETY: forwarded caller promises.
            let (wrapped, template) = unsafe { (out::input(wrapped, wrapped_len)?, attrs::template(t, n)?) };
            if wrapped.len() > 64 * 1024 {
                return Err(CKR_WRAPPED_KEY_LEN_RANGE);
            }
            let h = handle(
                md,
                &Request::UnwrapKey { session: s as u64, mechanism, unwrapping_key: unwrapping_key as u64, wrapped: wrapped.to_vec(), template },
            )?;
            // SAFETY: checked non-null.
            unsafe { out::put(key, h as CK_OBJECT_HANDLE) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DeriveKey(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    base: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_PTR,
    n: CK_ULONG,
    key: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_DeriveKey", || {
        with_session(s, |md, _| {
            if key.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            let handles = match md.pool.request(&Request::DeriveKey { session: s as u64, mechanism, base_key: base as u64, template })? {
                Reply::Handle(h) => vec![h],
                Reply::Handles(h) if !h.is_empty() => h,
                _ => return Err(CKR_DEVICE_ERROR),
            };
            // SAFETY: the caller's mechanism (its CK_DERIVED_KEY array for SP 800-108).
            unsafe { mechanism::write_back_derived(m, &handles[1..]) };
            // SAFETY: checked non-null.
            unsafe { out::put(key, handles[0] as CK_OBJECT_HANDLE) }
        })
    })
}

/// Accepted and not used: the TA's DRBG is seeded from the platform, and
/// caller-supplied seed material is never allowed to influence it.
#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(s: CK_SESSION_HANDLE, seed: CK_BYTE_PTR, len: CK_ULONG) -> CK_RV {
    guard("C_SeedRandom", || {
        with_session(s, |_, _| {
            // SAFETY: forwarded caller promise.
            unsafe { out::input(seed, len) }?;
            Ok(())
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(s: CK_SESSION_HANDLE, p: CK_BYTE_PTR, len: CK_ULONG) -> CK_RV {
    guard("C_GenerateRandom", || {
        with_session(s, |md, _| {
            if p.is_null() && len != 0 {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mut filled = 0usize;
            let total = usize::try_from(len).map_err(|_| CKR_ARGUMENTS_BAD)?;
            while filled < total {
                let chunk = (total - filled).min(teehsm_wire::MAX_DATA_LEN);
                let b = bytes(md, &Request::GenerateRandom { session: s as u64, len: chunk as u32 })?;
                if b.len() != chunk {
                    return Err(CKR_DEVICE_ERROR);
                }
                // SAFETY: the caller's buffer holds len bytes; filled + chunk <= len.
                unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), p.add(filled), chunk) };
                filled += chunk;
            }
            Ok(())
        })
    })
}

/// ML-KEM ciphertext length of a public key's parameter set.
fn ciphertext_len(md: &crate::state::Module, s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<usize> {
    match md.pool.request(&Request::GetAttributeValue { session: s as u64, object: key as u64, types: vec![CKA_PARAMETER_SET] })? {
        Reply::Attributes(a) if a.len() == 1 && a[0].status.is_ok() => {
            let set = <[u8; 8]>::try_from(a[0].value.as_slice()).map(u64::from_be_bytes).map_err(|_| CKR_DEVICE_ERROR)?;
            match set {
                CKP_ML_KEM_512 => Ok(768),
                CKP_ML_KEM_768 => Ok(1088),
                CKP_ML_KEM_1024 => Ok(1568),
                _ => Err(CKR_KEY_TYPE_INCONSISTENT),
            }
        }
        Reply::Attributes(_) => Err(CKR_KEY_TYPE_INCONSISTENT),
        _ => Err(CKR_DEVICE_ERROR),
    }
}

/// PKCS#11 3.2 C_EncapsulateKey. A length query (null ciphertext buffer)
/// or a short buffer is answered from the key's parameter set, without
/// creating a key.
#[no_mangle]
pub unsafe extern "C" fn C_EncapsulateKey(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    public_key: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_PTR,
    n: CK_ULONG,
    ct: CK_BYTE_PTR,
    ct_len: CK_ULONG_PTR,
    key: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_EncapsulateKey", || {
        with_session(s, |md, _| {
            if ct_len.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            // SAFETY: ct_len checked non-null.
            let have = unsafe { *ct_len } as usize;
            if ct.is_null() || have < ciphertext_len(md, s, public_key)? {
                let needed = ciphertext_len(md, s, public_key)?;
                // SAFETY: checked non-null.
                unsafe { *ct_len = needed as CK_ULONG };
                return if ct.is_null() { Ok(()) } else { Err(CKR_BUFFER_TOO_SMALL) };
            }
            if key.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            match md.pool.request(&Request::Encapsulate { session: s as u64, mechanism, public_key: public_key as u64, template })? {
                Reply::Encapsulated { ciphertext, handle } => {
                    // SAFETY: the buffer holds `have` >= ciphertext length bytes (checked above).
                    unsafe {
                        out::deliver(&ciphertext, ct, ct_len)?;
                        out::put(key, handle as CK_OBJECT_HANDLE)
                    }
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DecapsulateKey(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    private_key: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_PTR,
    n: CK_ULONG,
    ct: CK_BYTE_PTR,
    ct_len: CK_ULONG,
    key: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_DecapsulateKey", || {
        with_session(s, |md, _| {
            if key.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let mechanism = mech(m)?;
            // SAFETY: forwarded caller promises.
            let (template, ciphertext) = unsafe { (attrs::template(t, n)?, out::input(ct, ct_len)?) };
            if ciphertext.len() > 64 * 1024 {
                return Err(CKR_ENCRYPTED_DATA_LEN_RANGE);
            }
            let h = handle(
                md,
                &Request::Decapsulate { session: s as u64, mechanism, private_key: private_key as u64, ciphertext: ciphertext.to_vec(), template },
            )?;
            // SAFETY: checked non-null.
            unsafe { out::put(key, h as CK_OBJECT_HANDLE) }
        })
    })
}
