//! PKCS#11 3.0 message-based encryption for AEAD (AES-GCM, SM4-GCM):
//! C_MessageEncryptInit, C_EncryptMessage, C_MessageEncryptFinal and the
//! decrypt side. Each message is one TA Encrypt/Decrypt with its own IV,
//! AAD and tag length (CK_GCM_MESSAGE_PARAMS). IVs are the caller's
//! (CKG_NO_GENERATE) or drawn from the TA's RNG after the fixed prefix
//! (CKG_GENERATE_RANDOM); counter generators are refused with
//! CKR_MECHANISM_PARAM_INVALID. The streaming Begin/Next calls and message
//! signing are not offered (CKR_FUNCTION_NOT_SUPPORTED).

use super::with_session;
use crate::guard::{guard, Result};
use crate::out;
use crate::state::{Kind, Op};
use cryptoki_sys::*;
use teehsm_wire::ck::{CKM_AES_GCM, CKM_SM4_GCM};
use teehsm_wire::{MechParam, Mechanism, Reply, Request};
use zeroize::Zeroizing;

fn message_init(s: CK_SESSION_HANDLE, kind: Kind, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> Result {
    if m.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: non-null caller CK_MECHANISM. Its parameter, if any, is
    // per-message (given again to each C_EncryptMessage), so only the type is read.
    let mech = unsafe { (*m).mechanism } as u64;
    if mech != CKM_AES_GCM && mech != CKM_SM4_GCM {
        return Err(CKR_MECHANISM_INVALID);
    }
    with_session(s, |_, st| {
        if st.ops.contains_key(&kind) {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let mut op = Op::started();
        op.message = Some((Mechanism::new(mech), key as u64));
        st.ops.insert(kind, op);
        Ok(())
    })
}

fn message_final(s: CK_SESSION_HANDLE, kind: Kind) -> Result {
    with_session(s, |_, st| st.ops.remove(&kind).map(|_| ()).ok_or(CKR_OPERATION_NOT_INITIALIZED))
}

/// Reads CK_GCM_MESSAGE_PARAMS.
unsafe fn gcm_params<'a>(p: CK_VOID_PTR, len: CK_ULONG) -> Result<&'a mut CK_GCM_MESSAGE_PARAMS> {
    if p.is_null() || len as usize != std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    // SAFETY: non-null and of the struct's size; the caller's promise.
    let g = unsafe { &mut *(p as *mut CK_GCM_MESSAGE_PARAMS) };
    if g.pIv.is_null() || g.ulIvLen == 0 || g.ulIvLen > 256 || g.pTag.is_null() || g.ulTagBits % 8 != 0 || g.ulTagBits == 0 || g.ulTagBits > 128 {
        return Err(CKR_MECHANISM_PARAM_INVALID);
    }
    Ok(g)
}

#[allow(clippy::too_many_arguments)]
unsafe fn crypt_message(
    s: CK_SESSION_HANDLE,
    kind: Kind,
    param: CK_VOID_PTR,
    param_len: CK_ULONG,
    aad: CK_BYTE_PTR,
    aad_len: CK_ULONG,
    input: CK_BYTE_PTR,
    input_len: CK_ULONG,
    output: CK_BYTE_PTR,
    output_len: CK_ULONG_PTR,
) -> Result {
    with_session(s, |m, st| {
        let (mech, key) = st.ops.get(&kind).and_then(|o| o.message.clone()).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        // SAFETY: forwarded caller promises.
        let (g, aad, data) = unsafe { (gcm_params(param, param_len)?, out::input(aad, aad_len)?, out::input(input, input_len)?) };
        if output_len.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        // GCM output is exactly as long as its input: answer length queries here.
        if output.is_null() {
            // SAFETY: checked non-null.
            unsafe { *output_len = data.len() as CK_ULONG };
            return Ok(());
        }
        // SAFETY: checked non-null.
        if (unsafe { *output_len } as usize) < data.len() {
            // SAFETY: checked non-null.
            unsafe { *output_len = data.len() as CK_ULONG };
            return Err(CKR_BUFFER_TOO_SMALL);
        }
        let tag_len = (g.ulTagBits / 8) as usize;
        let iv_len = g.ulIvLen as usize;
        if kind == Kind::MessageEncrypt {
            match g.ivGenerator {
                CKG_NO_GENERATE => {}
                CKG_GENERATE_RANDOM => {
                    let fixed = (g.ulIvFixedBits as usize).div_ceil(8);
                    if g.ulIvFixedBits % 8 != 0 || fixed > iv_len {
                        return Err(CKR_MECHANISM_PARAM_INVALID);
                    }
                    let fresh = super::bytes(m, &Request::GenerateRandom { session: s as u64, len: (iv_len - fixed) as u32 })?;
                    // SAFETY: pIv holds ulIvLen bytes (checked non-null); the caller lets us write the generated part.
                    unsafe { std::ptr::copy_nonoverlapping(fresh.as_ptr(), g.pIv.add(fixed), fresh.len()) };
                }
                _ => return Err(CKR_MECHANISM_PARAM_INVALID),
            }
        }
        // SAFETY: pIv holds ulIvLen bytes.
        let iv = unsafe { std::slice::from_raw_parts(g.pIv, iv_len) }.to_vec();
        let mechanism = Mechanism::with(mech.mech, MechParam::Gcm { iv, aad: aad.to_vec(), tag_bits: g.ulTagBits as u32 });
        if kind == Kind::MessageEncrypt {
            let b = Zeroizing::new(super::bytes(m, &Request::Encrypt { session: s as u64, mechanism, key, data: data.to_vec() })?);
            if b.len() != data.len() + tag_len {
                return Err(CKR_DEVICE_ERROR);
            }
            // SAFETY: output holds >= data.len() bytes (checked); pTag holds ulTagBits/8 bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(b.as_ptr(), output, data.len());
                std::ptr::copy_nonoverlapping(b[data.len()..].as_ptr(), g.pTag, tag_len);
                *output_len = data.len() as CK_ULONG;
            }
            Ok(())
        } else {
            let mut ct = data.to_vec();
            // SAFETY: pTag holds ulTagBits/8 bytes.
            ct.extend_from_slice(unsafe { std::slice::from_raw_parts(g.pTag, tag_len) });
            match m.pool.request(&Request::Decrypt { session: s as u64, mechanism, key, data: ct })? {
                Reply::Bytes(b) => {
                    let b = Zeroizing::new(b);
                    // SAFETY: forwarded caller promise (the length was checked above).
                    unsafe { out::deliver(&b, output, output_len) }.map(|_| ())
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_MessageEncryptInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_MessageEncryptInit", || message_init(s, Kind::MessageEncrypt, m, key))
}

#[no_mangle]
pub unsafe extern "C" fn C_EncryptMessage(
    s: CK_SESSION_HANDLE,
    param: CK_VOID_PTR,
    param_len: CK_ULONG,
    aad: CK_BYTE_PTR,
    aad_len: CK_ULONG,
    pt: CK_BYTE_PTR,
    pt_len: CK_ULONG,
    ct: CK_BYTE_PTR,
    ct_len: CK_ULONG_PTR,
) -> CK_RV {
    guard("C_EncryptMessage", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_EncryptMessage.
        unsafe { crypt_message(s, Kind::MessageEncrypt, param, param_len, aad, aad_len, pt, pt_len, ct, ct_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_MessageEncryptFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_MessageEncryptFinal", || message_final(s, Kind::MessageEncrypt))
}

#[no_mangle]
pub unsafe extern "C" fn C_MessageDecryptInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_MessageDecryptInit", || message_init(s, Kind::MessageDecrypt, m, key))
}

#[no_mangle]
pub unsafe extern "C" fn C_DecryptMessage(
    s: CK_SESSION_HANDLE,
    param: CK_VOID_PTR,
    param_len: CK_ULONG,
    aad: CK_BYTE_PTR,
    aad_len: CK_ULONG,
    ct: CK_BYTE_PTR,
    ct_len: CK_ULONG,
    pt: CK_BYTE_PTR,
    pt_len: CK_ULONG_PTR,
) -> CK_RV {
    guard("C_DecryptMessage", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_DecryptMessage.
        unsafe { crypt_message(s, Kind::MessageDecrypt, param, param_len, aad, aad_len, ct, ct_len, pt, pt_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_MessageDecryptFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_MessageDecryptFinal", || message_final(s, Kind::MessageDecrypt))
}
