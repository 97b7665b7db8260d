//! Encrypt, decrypt, digest, sign and verify: single-part and multi-part.
//!
//! C_*Init starts the operation in the TA (which checks key, mechanism and
//! policy then, as PKCS#11 specifies). A single-part call (C_Sign, C_Encrypt,
//! ...) then costs one round trip: `OpSingle` runs the whole input and ends
//! the operation. Once the TA has accepted a (kind, key, mechanism) in a
//! session, later inits of the same triple are deferred and the single-part
//! call sends the TA's one-shot request instead, so a repeated
//! C_SignInit + C_Sign costs one round trip, not two. The TA checks key,
//! mechanism and policy on every request either way; only *when* a refusal
//! is reported can move (to the C_Sign after a deferred C_SignInit, if the
//! key changed in between). When the caller only asks for the output length, or its
//! buffer is too small, the computed output is kept and handed over on the
//! next call instead of computing it again (a second ECDSA or OAEP run would
//! give different bytes).

use super::{mech, with_session};
use crate::guard::{guard, Result};
use crate::out;
use crate::state::{Kind, Module, Op, Phase, SessionState};
use cryptoki_sys::*;
use teehsm_wire::{Reply, Request};
use zeroize::Zeroizing;

/// Verify and VerifySignature share the TA's verify operation.
fn conflicting(kind: Kind) -> Option<Kind> {
    match kind {
        Kind::Verify => Some(Kind::VerifySignature),
        Kind::VerifySignature => Some(Kind::Verify),
        _ => None,
    }
}

pub(crate) fn init(session: CK_SESSION_HANDLE, kind: Kind, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> Result<()> {
    init_with(session, kind, m, key, Vec::new())
}

fn init_with(session: CK_SESSION_HANDLE, kind: Kind, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE, signature: Vec<u8>) -> Result<()> {
    with_session(session, |md, st| {
        if m.is_null() {
            // PKCS#11 3.0: C_*Init with a NULL mechanism ends the active operation.
            if let Some(op) = st.ops.remove(&kind) {
                end_in_ta(md, session, kind, &op);
            }
            return Ok(());
        }
        if st.ops.contains_key(&kind) || conflicting(kind).is_some_and(|k| st.ops.contains_key(&k)) {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let mechanism = mech(m)?;
        let triple = (kind, key as u64, mechanism.mech);
        let phase = if st.accepted.contains(&triple) {
            Phase::Deferred { mechanism, key: key as u64 }
        } else {
            super::done(md, &Request::OpInit { session: session as u64, kind: kind.wire(), mechanism, key: key as u64 })?;
            st.accepted.insert(triple);
            Phase::Started
        };
        let mut op = Op::started();
        op.phase = phase;
        op.signature = signature;
        st.ops.insert(kind, op);
        Ok(())
    })
}

/// Starts a deferred operation in the TA (before an update or a final call).
fn ensure_started(m: &Module, st: &mut SessionState, session: CK_SESSION_HANDLE, kind: Kind) -> Result<()> {
    let Some(op) = st.ops.get_mut(&kind) else { return Err(CKR_OPERATION_NOT_INITIALIZED) };
    let Phase::Deferred { mechanism, key } = &op.phase else { return Ok(()) };
    let req = Request::OpInit { session: session as u64, kind: kind.wire(), mechanism: mechanism.clone(), key: *key };
    match super::done(m, &req) {
        Ok(()) => {
            op.phase = Phase::Started;
            Ok(())
        }
        Err(rv) => {
            st.ops.remove(&kind);
            Err(rv)
        }
    }
}

/// The TA's one-shot request for a deferred single-part call.
fn one_shot(kind: Kind, session: CK_SESSION_HANDLE, mechanism: teehsm_wire::Mechanism, key: u64, data: Vec<u8>, signature: Vec<u8>) -> Request {
    let session = session as u64;
    match kind {
        Kind::Sign => Request::Sign { session, mechanism, key, data },
        Kind::Verify | Kind::VerifySignature => Request::Verify { session, mechanism, key, data, signature },
        Kind::Encrypt | Kind::MessageEncrypt => Request::Encrypt { session, mechanism, key, data },
        Kind::Decrypt | Kind::MessageDecrypt => Request::Decrypt { session, mechanism, key, data },
        Kind::Digest => Request::Digest { session, mechanism, data },
    }
}

/// Ends an operation the module gives up on (bad arguments, cancel) in the TA too.
pub(crate) fn end_in_ta(m: &Module, session: CK_SESSION_HANDLE, kind: Kind, op: &Op) {
    if matches!(op.phase, Phase::Started | Phase::Updating) && op.message.is_none() {
        let _ = m.pool.request(&Request::OpFinal { session: session as u64, kind: kind.wire(), signature: Vec::new() });
    }
}

/// Ends `kind` with error `rv` (module side and TA side).
fn fail(m: &Module, st: &mut SessionState, session: CK_SESSION_HANDLE, kind: Kind, rv: CK_RV) -> Result<()> {
    if let Some(op) = st.ops.remove(&kind) {
        end_in_ta(m, session, kind, &op);
    }
    Err(rv)
}

/// Hands a computed output over with the buffer-size protocol, keeping it
/// for the next call when it could not be delivered.
unsafe fn hand_over(st: &mut SessionState, kind: Kind, output: Zeroizing<Vec<u8>>, p: *mut CK_BYTE, len: *mut CK_ULONG) -> Result<()> {
    // SAFETY: forwarded caller promise.
    match unsafe { out::deliver(&output, p, len) } {
        Ok(true) => {
            st.ops.remove(&kind);
            Ok(())
        }
        Ok(false) | Err(CKR_BUFFER_TOO_SMALL) if st.ops.contains_key(&kind) => {
            let r = if p.is_null() { Ok(()) } else { Err(CKR_BUFFER_TOO_SMALL) };
            if let Some(op) = st.ops.get_mut(&kind) {
                op.phase = Phase::Output(output);
            }
            r
        }
        Ok(false) => Ok(()),
        Err(rv) => {
            st.ops.remove(&kind);
            Err(rv)
        }
    }
}

/// The most input one request carries; longer inputs go in several updates.
const CHUNK: usize = teehsm_wire::MAX_DATA_LEN;

/// Feeds `input` to the operation in CHUNK-sized updates (starting a
/// deferred one first) and returns the concatenated cipher output.
fn stream_parts(m: &Module, st: &mut SessionState, session: CK_SESSION_HANDLE, kind: Kind, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    ensure_started(m, st, session, kind)?;
    let mut out = Zeroizing::new(Vec::new());
    for part in input.chunks(CHUNK) {
        match m.pool.request(&Request::OpUpdate { session: session as u64, kind: kind.wire(), data: part.to_vec() })? {
            Reply::Bytes(b) => out.extend_from_slice(&b),
            Reply::Done => {}
            _ => return Err(CKR_DEVICE_ERROR),
        }
    }
    if let Some(op) = st.ops.get_mut(&kind) {
        op.phase = Phase::Updating;
    }
    Ok(out)
}

/// C_Sign, C_Encrypt, C_Decrypt, C_Digest.
pub(crate) unsafe fn single(
    session: CK_SESSION_HANDLE,
    kind: Kind,
    data: *const CK_BYTE,
    data_len: CK_ULONG,
    p: *mut CK_BYTE,
    len: *mut CK_ULONG,
) -> Result<()> {
    with_session(session, |m, st| {
        let op = st.ops.get_mut(&kind).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let deferred = match &op.phase {
            Phase::Output(o) => {
                let o = o.clone();
                // SAFETY: forwarded caller promise.
                return unsafe { hand_over(st, kind, o, p, len) };
            }
            Phase::Updating => return Err(CKR_OPERATION_ACTIVE),
            Phase::Started => None,
            Phase::Deferred { mechanism, key } => Some((mechanism.clone(), *key)),
        };
        if len.is_null() {
            return fail(m, st, session, kind, CKR_ARGUMENTS_BAD);
        }
        // SAFETY: forwarded caller promise.
        let input = match unsafe { out::input(data, data_len) } {
            Ok(i) => i,
            Err(rv) => return fail(m, st, session, kind, rv),
        };
        if input.len() > CHUNK {
            // Larger than one request: stream it through update calls.
            let r = stream_parts(m, st, session, kind, input).and_then(|mut out| {
                match m.pool.request(&Request::OpFinal { session: session as u64, kind: kind.wire(), signature: Vec::new() })? {
                    Reply::Bytes(b) => {
                        out.extend_from_slice(&b);
                        Ok(out)
                    }
                    _ => Err(CKR_DEVICE_ERROR),
                }
            });
            return match r {
                // SAFETY: forwarded caller promise.
                Ok(out) => unsafe { hand_over(st, kind, out, p, len) },
                Err(rv) => {
                    st.ops.remove(&kind);
                    Err(rv)
                }
            };
        }
        let req = match deferred {
            Some((mechanism, key)) => one_shot(kind, session, mechanism, key, input.to_vec(), Vec::new()),
            None => Request::OpSingle { session: session as u64, kind: kind.wire(), data: input.to_vec(), signature: Vec::new() },
        };
        match m.pool.request(&req) {
            Ok(Reply::Bytes(b)) => {
                // SAFETY: forwarded caller promise.
                unsafe { hand_over(st, kind, Zeroizing::new(b), p, len) }
            }
            Ok(_) => {
                st.ops.remove(&kind);
                Err(CKR_DEVICE_ERROR)
            }
            Err(rv) => {
                // The TA ended the operation.
                st.ops.remove(&kind);
                Err(rv)
            }
        }
    })
}

/// C_SignUpdate, C_VerifyUpdate, C_DigestUpdate (no output) and
/// C_EncryptUpdate, C_DecryptUpdate (output with the buffer-size protocol).
pub(crate) unsafe fn update(
    session: CK_SESSION_HANDLE,
    kind: Kind,
    data: *const CK_BYTE,
    data_len: CK_ULONG,
    p: *mut CK_BYTE,
    len: *mut CK_ULONG,
) -> Result<()> {
    let has_output = matches!(kind, Kind::Encrypt | Kind::Decrypt);
    with_session(session, |m, st| {
        let op = st.ops.get_mut(&kind).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if matches!(op.phase, Phase::Output(_)) {
            return Err(CKR_OPERATION_ACTIVE);
        }
        if has_output {
            if len.is_null() {
                return fail(m, st, session, kind, CKR_ARGUMENTS_BAD);
            }
            if let Some(pending) = op.pending_update.take() {
                // The output of this same part, computed when the caller asked for its length.
                // SAFETY: forwarded caller promise.
                return match unsafe { out::deliver(&pending, p, len) } {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        op.pending_update = Some(pending);
                        Ok(())
                    }
                    Err(CKR_BUFFER_TOO_SMALL) => {
                        op.pending_update = Some(pending);
                        Err(CKR_BUFFER_TOO_SMALL)
                    }
                    Err(rv) => fail(m, st, session, kind, rv),
                };
            }
        }
        // SAFETY: forwarded caller promise.
        let input = match unsafe { out::input(data, data_len) } {
            Ok(i) => i,
            Err(rv) => return fail(m, st, session, kind, rv),
        };
        let r = if input.len() > CHUNK {
            stream_parts(m, st, session, kind, input).map(|out| if has_output { Reply::Bytes(out.to_vec()) } else { Reply::Done })
        } else {
            ensure_started(m, st, session, kind)?;
            m.pool.request(&Request::OpUpdate { session: session as u64, kind: kind.wire(), data: input.to_vec() })
        };
        let op = st.ops.get_mut(&kind).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        match r {
            Ok(Reply::Done) if !has_output => {
                op.phase = Phase::Updating;
                Ok(())
            }
            Ok(Reply::Bytes(b)) if has_output => {
                op.phase = Phase::Updating;
                let b = Zeroizing::new(b);
                // SAFETY: forwarded caller promise.
                match unsafe { out::deliver(&b, p, len) } {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        op.pending_update = Some(b);
                        Ok(())
                    }
                    Err(CKR_BUFFER_TOO_SMALL) => {
                        op.pending_update = Some(b);
                        Err(CKR_BUFFER_TOO_SMALL)
                    }
                    Err(rv) => fail(m, st, session, kind, rv),
                }
            }
            Ok(_) => fail(m, st, session, kind, CKR_DEVICE_ERROR),
            Err(rv) => fail(m, st, session, kind, rv),
        }
    })
}

/// C_SignFinal, C_EncryptFinal, C_DecryptFinal, C_DigestFinal.
pub(crate) unsafe fn finish(session: CK_SESSION_HANDLE, kind: Kind, p: *mut CK_BYTE, len: *mut CK_ULONG) -> Result<()> {
    with_session(session, |m, st| {
        let op = st.ops.get_mut(&kind).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if let Phase::Output(o) = &op.phase {
            let o = o.clone();
            // SAFETY: forwarded caller promise.
            return unsafe { hand_over(st, kind, o, p, len) };
        }
        if len.is_null() {
            return fail(m, st, session, kind, CKR_ARGUMENTS_BAD);
        }
        ensure_started(m, st, session, kind)?;
        match m.pool.request(&Request::OpFinal { session: session as u64, kind: kind.wire(), signature: Vec::new() }) {
            // SAFETY: forwarded caller promise.
            Ok(Reply::Bytes(b)) => unsafe { hand_over(st, kind, Zeroizing::new(b), p, len) },
            Ok(_) => {
                st.ops.remove(&kind);
                Err(CKR_DEVICE_ERROR)
            }
            Err(rv) => {
                st.ops.remove(&kind);
                Err(rv)
            }
        }
    })
}

/// C_Verify and C_VerifySignature (single-part), C_VerifyFinal and
/// C_VerifySignatureFinal (`data` None): the operation ends either way.
unsafe fn verify_end(
    session: CK_SESSION_HANDLE,
    kind: Kind,
    data: Option<(*const CK_BYTE, CK_ULONG)>,
    sig: Option<(*const CK_BYTE, CK_ULONG)>,
) -> Result<()> {
    with_session(session, |m, st| {
        let op = st.ops.get(&kind).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if data.is_some() && matches!(op.phase, Phase::Updating) {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let signature = match sig {
            // SAFETY: forwarded caller promise.
            Some((p, n)) => match unsafe { out::input(p, n) } {
                Ok(s) if s.len() <= teehsm_wire::MAX_SIGNATURE_LEN => s.to_vec(),
                Ok(_) => return fail(m, st, session, kind, CKR_SIGNATURE_LEN_RANGE),
                Err(rv) => return fail(m, st, session, kind, rv),
            },
            None => op.signature.clone(),
        };
        let deferred = match &op.phase {
            Phase::Deferred { mechanism, key } => Some((mechanism.clone(), *key)),
            _ => None,
        };
        let req = match data {
            Some((p, n)) => {
                // SAFETY: forwarded caller promise.
                let input = match unsafe { out::input(p, n) } {
                    Ok(i) => i,
                    Err(rv) => return fail(m, st, session, kind, rv),
                };
                if input.len() > CHUNK {
                    if let Err(rv) = stream_parts(m, st, session, kind, input) {
                        st.ops.remove(&kind);
                        return Err(rv);
                    }
                    let r = m.pool.request(&Request::OpFinal { session: session as u64, kind: kind.wire(), signature });
                    st.ops.remove(&kind);
                    return match r? {
                        Reply::Done => Ok(()),
                        _ => Err(CKR_DEVICE_ERROR),
                    };
                }
                let input = input.to_vec();
                match deferred {
                    Some((mechanism, key)) => one_shot(kind, session, mechanism, key, input, signature),
                    None => Request::OpSingle { session: session as u64, kind: kind.wire(), data: input, signature },
                }
            }
            None => {
                ensure_started(m, st, session, kind)?;
                Request::OpFinal { session: session as u64, kind: kind.wire(), signature }
            }
        };
        let r = m.pool.request(&req);
        st.ops.remove(&kind);
        match r? {
            Reply::Done => Ok(()),
            _ => Err(CKR_DEVICE_ERROR),
        }
    })
}

// ------------------------------------------------------------------ encrypt

#[no_mangle]
pub unsafe extern "C" fn C_EncryptInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_EncryptInit", || init(s, Kind::Encrypt, m, key))
}

#[no_mangle]
pub unsafe extern "C" fn C_Encrypt(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_Encrypt", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_Encrypt.
        unsafe { single(s, Kind::Encrypt, data, n, out, out_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_EncryptUpdate(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_EncryptUpdate", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_EncryptUpdate.
        unsafe { update(s, Kind::Encrypt, data, n, out, out_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_EncryptFinal(s: CK_SESSION_HANDLE, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_EncryptFinal", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_EncryptFinal.
        unsafe { finish(s, Kind::Encrypt, out, out_len) }
    })
}

// ------------------------------------------------------------------ decrypt

#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DecryptInit", || init(s, Kind::Decrypt, m, key))
}

#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_Decrypt", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_Decrypt.
        unsafe { single(s, Kind::Decrypt, data, n, out, out_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DecryptUpdate(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_DecryptUpdate", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_DecryptUpdate.
        unsafe { update(s, Kind::Decrypt, data, n, out, out_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DecryptFinal(s: CK_SESSION_HANDLE, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_DecryptFinal", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_DecryptFinal.
        unsafe { finish(s, Kind::Decrypt, out, out_len) }
    })
}

// ------------------------------------------------------------------ digest

#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR) -> CK_RV {
    guard("C_DigestInit", || init(s, Kind::Digest, m, 0))
}

#[no_mangle]
pub unsafe extern "C" fn C_Digest(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_Digest", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_Digest.
        unsafe { single(s, Kind::Digest, data, n, out, out_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_DigestUpdate", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_DigestUpdate.
        unsafe { update(s, Kind::Digest, data, n, std::ptr::null_mut(), std::ptr::null_mut()) }
    })
}

/// C_DigestKey: the TA digests the key's value only when the caller could
/// read that value anyway (not sensitive, extractable); otherwise
/// CKR_KEY_INDIGESTIBLE. An error ends the digest operation.
#[no_mangle]
pub unsafe extern "C" fn C_DigestKey(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DigestKey", || {
        with_session(s, |m, st| {
            let op = st.ops.get_mut(&Kind::Digest).ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            if matches!(op.phase, Phase::Output(_)) {
                return Err(CKR_OPERATION_ACTIVE);
            }
            ensure_started(m, st, s, Kind::Digest)?;
            match m.pool.request(&Request::DigestKey { session: s as u64, key: key as u64 }) {
                Ok(Reply::Done) => {
                    if let Some(op) = st.ops.get_mut(&Kind::Digest) {
                        op.phase = Phase::Updating;
                    }
                    Ok(())
                }
                Ok(_) => fail(m, st, s, Kind::Digest, CKR_DEVICE_ERROR),
                Err(rv) => fail(m, st, s, Kind::Digest, rv),
            }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(s: CK_SESSION_HANDLE, out: CK_BYTE_PTR, out_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_DigestFinal", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_DigestFinal.
        unsafe { finish(s, Kind::Digest, out, out_len) }
    })
}

// ------------------------------------------------------------------ sign

#[no_mangle]
pub unsafe extern "C" fn C_SignInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_SignInit", || init(s, Kind::Sign, m, key))
}

#[no_mangle]
pub unsafe extern "C" fn C_Sign(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, sig: CK_BYTE_PTR, sig_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_Sign", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_Sign.
        unsafe { single(s, Kind::Sign, data, n, sig, sig_len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_SignUpdate", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_SignUpdate.
        unsafe { update(s, Kind::Sign, data, n, std::ptr::null_mut(), std::ptr::null_mut()) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(s: CK_SESSION_HANDLE, sig: CK_BYTE_PTR, sig_len: CK_ULONG_PTR) -> CK_RV {
    guard("C_SignFinal", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_SignFinal.
        unsafe { finish(s, Kind::Sign, sig, sig_len) }
    })
}

// ------------------------------------------------------------------ verify

#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_VerifyInit", || init(s, Kind::Verify, m, key))
}

#[no_mangle]
pub unsafe extern "C" fn C_Verify(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG, sig: CK_BYTE_PTR, sig_len: CK_ULONG) -> CK_RV {
    guard("C_Verify", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_Verify.
        unsafe { verify_end(s, Kind::Verify, Some((data, n)), Some((sig, sig_len))) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_VerifyUpdate", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_VerifyUpdate.
        unsafe { update(s, Kind::Verify, data, n, std::ptr::null_mut(), std::ptr::null_mut()) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(s: CK_SESSION_HANDLE, sig: CK_BYTE_PTR, sig_len: CK_ULONG) -> CK_RV {
    guard("C_VerifyFinal", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_VerifyFinal.
        unsafe { verify_end(s, Kind::Verify, None, Some((sig, sig_len))) }
    })
}

// ------------------------------------------------------------------ PKCS#11 3.2 verify-signature

#[no_mangle]
pub unsafe extern "C" fn C_VerifySignatureInit(
    s: CK_SESSION_HANDLE,
    m: CK_MECHANISM_PTR,
    key: CK_OBJECT_HANDLE,
    sig: CK_BYTE_PTR,
    sig_len: CK_ULONG,
) -> CK_RV {
    guard("C_VerifySignatureInit", || {
        // SAFETY: forwarded caller promise.
        let signature = unsafe { out::input(sig, sig_len) }?;
        if signature.len() > teehsm_wire::MAX_SIGNATURE_LEN {
            return Err(CKR_SIGNATURE_LEN_RANGE);
        }
        init_with(s, Kind::VerifySignature, m, key, signature.to_vec())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifySignature(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_VerifySignature", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_VerifySignature.
        unsafe { verify_end(s, Kind::VerifySignature, Some((data, n)), None) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifySignatureUpdate(s: CK_SESSION_HANDLE, data: CK_BYTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_VerifySignatureUpdate", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_VerifySignatureUpdate.
        unsafe { update(s, Kind::VerifySignature, data, n, std::ptr::null_mut(), std::ptr::null_mut()) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifySignatureFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_VerifySignatureFinal", || {
        // SAFETY: the caller's pointers, as PKCS#11 specifies them for C_VerifySignatureFinal.
        unsafe { verify_end(s, Kind::VerifySignature, None, None) }
    })
}
