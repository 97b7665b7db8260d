//! Sessions and logins. The TA owns session state and verifies PINs; the
//! module mirrors open sessions only to keep their find cursors and
//! operations in progress.

use super::{done, handle, module, with_session};
use crate::guard::{guard, Result};
use crate::out;
use cryptoki_sys::*;
use teehsm_wire::{Reply, Request};

#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: CK_VOID_PTR,
    _notify: CK_NOTIFY,
    session: CK_SESSION_HANDLE_PTR,
) -> CK_RV {
    guard("C_OpenSession", || {
        let m = module()?;
        if session.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        let h = handle(&m, &Request::OpenSession { slot: slot as u64, flags: flags as u64 })?;
        let h = CK_SESSION_HANDLE::try_from(h).map_err(|_| CKR_DEVICE_ERROR)?;
        m.add_session(h, slot);
        // SAFETY: checked non-null; writable by the caller's promise.
        unsafe { out::put(session, h) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseSession(session: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_CloseSession", || {
        let m = module()?;
        m.session(session)?;
        let r = done(&m, &Request::CloseSession { session: session as u64 });
        // Closed (or already unknown to the TA): gone either way.
        if r.is_ok() || r == Err(CKR_SESSION_HANDLE_INVALID) {
            m.remove_session(session);
        }
        r
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard("C_CloseAllSessions", || {
        let m = module()?;
        done(&m, &Request::CloseAllSessions { slot: slot as u64 })?;
        m.remove_slot_sessions(slot);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(session: CK_SESSION_HANDLE, info: CK_SESSION_INFO_PTR) -> CK_RV {
    guard("C_GetSessionInfo", || {
        with_session(session, |m, _| {
            if info.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            match m.pool.request(&Request::GetSessionInfo { session: session as u64 })? {
                Reply::SessionInfo(s) => {
                    let i =
                        CK_SESSION_INFO { slotID: s.slot as CK_SLOT_ID, state: s.state as CK_STATE, flags: s.flags as CK_FLAGS, ulDeviceError: 0 };
                    // SAFETY: checked non-null above.
                    unsafe { out::put(info, i) }
                }
                _ => Err(CKR_DEVICE_ERROR),
            }
        })
    })
}

fn login(session: CK_SESSION_HANDLE, user_type: CK_USER_TYPE, pin: teehsm_wire::Secret) -> Result {
    with_session(session, |m, _| done(m, &Request::Login { session: session as u64, user_type: user_type as u64, pin }))
}

#[no_mangle]
pub unsafe extern "C" fn C_Login(session: CK_SESSION_HANDLE, user_type: CK_USER_TYPE, pin: CK_UTF8CHAR_PTR, len: CK_ULONG) -> CK_RV {
    guard("C_Login", || {
        // SAFETY: forwarded caller promise.
        let pin = unsafe { super::general::pin(pin, len) }?;
        login(session, user_type, pin)
    })
}

/// PKCS#11 3.0 C_LoginUser: teehsm tokens have one user per role, so the
/// user name must be empty or absent (a name would name a user that does not exist).
#[no_mangle]
pub unsafe extern "C" fn C_LoginUser(
    session: CK_SESSION_HANDLE,
    user_type: CK_USER_TYPE,
    pin: CK_UTF8CHAR_PTR,
    len: CK_ULONG,
    username: CK_UTF8CHAR_PTR,
    username_len: CK_ULONG,
) -> CK_RV {
    guard("C_LoginUser", || {
        // SAFETY: forwarded caller promises.
        let name = unsafe { out::input(username, username_len) }?;
        if !name.is_empty() {
            return Err(CKR_USER_TYPE_INVALID);
        }
        // SAFETY: forwarded caller promise.
        let pin = unsafe { super::general::pin(pin, len) }?;
        login(session, user_type, pin)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Logout(session: CK_SESSION_HANDLE) -> CK_RV {
    guard("C_Logout", || {
        let m = module()?;
        let slot = {
            let s = m.session(session)?;
            // Held across the call: no other call runs on this session meanwhile.
            let _st = crate::state::lock(&s.state);
            done(&m, &Request::Logout { session: session as u64 })?;
            s.slot
        };
        // The TA ends the operations of every session of the application on
        // that token at logout; inits are checked by the TA again from now on.
        m.for_slot_sessions(slot, |st| {
            st.ops.clear();
            st.accepted.clear();
        });
        Ok(())
    })
}

/// PKCS#11 3.0 C_SessionCancel: ends the operations `flags` names.
#[no_mangle]
pub unsafe extern "C" fn C_SessionCancel(session: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    guard("C_SessionCancel", || {
        use crate::state::Kind;
        with_session(session, |m, st| {
            let kinds = [
                (CKF_DIGEST, Kind::Digest),
                (CKF_SIGN, Kind::Sign),
                (CKF_VERIFY, Kind::Verify),
                (CKF_VERIFY, Kind::VerifySignature),
                (CKF_ENCRYPT, Kind::Encrypt),
                (CKF_DECRYPT, Kind::Decrypt),
                (CKF_MESSAGE_ENCRYPT, Kind::MessageEncrypt),
                (CKF_MESSAGE_DECRYPT, Kind::MessageDecrypt),
            ];
            for (flag, kind) in kinds {
                if flags & flag != 0 {
                    if let Some(op) = st.ops.remove(&kind) {
                        super::crypto::end_in_ta(m, session, kind, &op);
                    }
                }
            }
            if flags & CKF_FIND_OBJECTS != 0 {
                st.find = None;
            }
            Ok(())
        })
    })
}
