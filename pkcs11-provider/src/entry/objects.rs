//! Objects: create, copy, destroy, attributes, and finding.

use super::{done, handle, with_session};
use crate::attrs;
use crate::guard::guard;
use crate::out;
use cryptoki_sys::*;
use teehsm_wire::{Reply, Request};

#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(session: CK_SESSION_HANDLE, t: CK_ATTRIBUTE_PTR, n: CK_ULONG, object: CK_OBJECT_HANDLE_PTR) -> CK_RV {
    guard("C_CreateObject", || {
        with_session(session, |m, _| {
            if object.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            let h = handle(m, &Request::CreateObject { session: session as u64, template })?;
            // SAFETY: checked non-null.
            unsafe { out::put(object, h as CK_OBJECT_HANDLE) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_CopyObject(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    t: CK_ATTRIBUTE_PTR,
    n: CK_ULONG,
    new_object: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    guard("C_CopyObject", || {
        with_session(session, |m, _| {
            if new_object.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            let h = handle(m, &Request::CopyObject { session: session as u64, object: object as u64, template })?;
            // SAFETY: checked non-null.
            unsafe { out::put(new_object, h as CK_OBJECT_HANDLE) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DestroyObject(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> CK_RV {
    guard("C_DestroyObject", || with_session(session, |m, _| done(m, &Request::DestroyObject { session: session as u64, object: object as u64 })))
}

/// The object's size is not a number teehsm can give honestly (the TA
/// stores sealed records, not PKCS#11 objects): CKR_INFORMATION_SENSITIVE
/// is not right either, so the standard's "unavailable" answer is given.
#[no_mangle]
pub unsafe extern "C" fn C_GetObjectSize(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, size: CK_ULONG_PTR) -> CK_RV {
    guard("C_GetObjectSize", || {
        with_session(session, |m, _| {
            if size.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // Checks that the object exists and is visible to the session.
            match m.pool.request(&Request::GetAttributeValue {
                session: session as u64,
                object: object as u64,
                types: vec![teehsm_wire::ck::CKA_CLASS],
            })? {
                Reply::Attributes(_) => {
                    // SAFETY: checked non-null.
                    unsafe { out::put(size, CK_UNAVAILABLE_INFORMATION) }
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_GetAttributeValue", || {
        with_session(session, |m, _| {
            if t.is_null() && n != 0 {
                return Err(CKR_ARGUMENTS_BAD);
            }
            if n as usize > teehsm_wire::MAX_TEMPLATE_LEN {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // SAFETY: the caller's array holds n attributes.
            let types: Vec<u64> = unsafe { std::slice::from_raw_parts(t, n as usize) }.iter().map(|a| a.type_ as u64).collect();
            match m.pool.request(&Request::GetAttributeValue { session: session as u64, object: object as u64, types: types.clone() })? {
                Reply::Attributes(results) if results.len() == types.len() => {
                    // SAFETY: n attributes, each pValue null or writable for ulValueLen bytes.
                    unsafe { attrs::fill(t, &results) }
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SetAttributeValue(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_SetAttributeValue", || {
        with_session(session, |m, _| {
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            done(m, &Request::SetAttributeValue { session: session as u64, object: object as u64, template })
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(session: CK_SESSION_HANDLE, t: CK_ATTRIBUTE_PTR, n: CK_ULONG) -> CK_RV {
    guard("C_FindObjectsInit", || {
        with_session(session, |m, st| {
            if st.find.is_some() {
                return Err(CKR_OPERATION_ACTIVE);
            }
            // SAFETY: forwarded caller promise.
            let template = unsafe { attrs::template(t, n) }?;
            match m.pool.request(&Request::FindObjects { session: session as u64, template, max: u32::MAX })? {
                Reply::Handles(h) => {
                    st.find = Some((h, 0));
                    Ok(())
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(session: CK_SESSION_HANDLE, objects: CK_OBJECT_HANDLE_PTR, max: CK_ULONG, count: CK_ULONG_PTR) -> CK_RV {
    guard("C_FindObjects", || {
        with_session(session, |_, st| {
            if count.is_null() || (objects.is_null() && max != 0) {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let (handles, pos) = st.find.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            let n = (handles.len() - *pos).min(max as usize);
            for i in 0..n {
                // SAFETY: the caller's array holds max >= n handles.
                unsafe { objects.add(i).write(handles[*pos + i] as CK_OBJECT_HANDLE) };
            }
            *pos += n;
            // SAFETY: checked non-null.
            unsafe { out::put(count, n as CK_ULONG) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsFinal(session: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_FindObjectsFinal", || {
        with_session(session, |_, st| {
            st.find.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            Ok(())
        })
    })
}
