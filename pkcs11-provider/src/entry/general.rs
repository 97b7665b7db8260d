//! Library, slot, token and mechanism information; initialization; PINs.

use super::{done, module};
use crate::config::Config;
use crate::guard::{guard, Result};
use crate::log;
use crate::out::{self, padded};
use crate::state;
use cryptoki_sys::*;
use teehsm_wire::{Reply, Request, Secret};

/// Library version reported in CK_INFO.
fn library_version() -> CK_VERSION {
    let major = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    CK_VERSION { major, minor }
}

#[no_mangle]
pub unsafe extern "C" fn C_Initialize(init_args: CK_VOID_PTR) -> CK_RV {
    guard("C_Initialize", || {
        if !init_args.is_null() {
            // SAFETY: a non-null argument points to CK_C_INITIALIZE_ARGS.
            let args = unsafe { &*(init_args as *const CK_C_INITIALIZE_ARGS) };
            if !args.pReserved.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let some = [args.CreateMutex.is_some(), args.DestroyMutex.is_some(), args.LockMutex.is_some(), args.UnlockMutex.is_some()];
            if some.iter().any(|s| *s) && !some.iter().all(|s| *s) {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // We always use OS locking; with mutex callbacks but without
            // CKF_OS_LOCKING_OK we could only honour them by ignoring them.
            if some[0] && args.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(CKR_CANT_LOCK);
            }
        }
        let cfg = Config::from_env().map_err(|e| {
            log::error(&e);
            CKR_GENERAL_ERROR
        })?;
        log::debug(format_args!("C_Initialize: CA socket {} (from {})", cfg.socket.display(), cfg.socket_source));
        match &cfg.channel_source {
            Some((policy, anchor)) => {
                log::debug(format_args!("C_Initialize: attested channel (policy {}, trust anchor {})", policy.display(), anchor.display()))
            }
            None => log::debug("C_Initialize: plain connections (no attestation policy and trust anchor configured)"),
        }
        state::initialize(cfg)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Finalize(reserved: CK_VOID_PTR) -> CK_RV {
    guard("C_Finalize", || {
        if !reserved.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        state::finalize()
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(info: CK_INFO_PTR) -> CK_RV {
    guard("C_GetInfo", || {
        module()?;
        let i = CK_INFO {
            cryptokiVersion: CK_VERSION { major: 3, minor: 2 },
            manufacturerID: padded("teehsm"),
            flags: 0,
            libraryDescription: padded("teehsm PKCS#11 (keys in a TEE)"),
            libraryVersion: library_version(),
        };
        // SAFETY: the caller's CK_INFO is writable.
        unsafe { out::put(info, i) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(_token_present: CK_BBOOL, list: CK_SLOT_ID_PTR, count: CK_ULONG_PTR) -> CK_RV {
    guard("C_GetSlotList", || {
        let m = module()?;
        if count.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let slots: Vec<CK_SLOT_ID> = match m.pool.request(&Request::GetSlotList)? {
            Reply::Handles(h) => h.into_iter().map(|s| s as CK_SLOT_ID).collect(),
            _ => return Err(CKR_DEVICE_ERROR),
        };
        // Every slot holds its token (the TA's), so the two lists are the same.
        // SAFETY: list/count follow the caller's promise.
        unsafe { out::deliver_list(&slots, list, count) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: CK_SLOT_INFO_PTR) -> CK_RV {
    guard("C_GetSlotInfo", || {
        let m = module()?;
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let ta = match m.pool.request(&Request::GetTaInfo)? {
            Reply::TaInfo(t) => t,
            _ => return Err(CKR_DEVICE_ERROR),
        };
        if slot as u64 >= ta.slots as u64 {
            return Err(CKR_SLOT_ID_INVALID);
        }
        let i = CK_SLOT_INFO {
            slotDescription: padded(&format!("teehsm slot {slot} ({} TEE{})", ta.platform, if ta.simulation { ", simulated" } else { "" })),
            manufacturerID: padded("teehsm"),
            // Not CKF_HW_SLOT: the token is a TEE application, not a reader or a device.
            flags: CKF_TOKEN_PRESENT,
            hardwareVersion: CK_VERSION { major: 0, minor: 0 },
            firmwareVersion: version_of(&ta.version),
        };
        // SAFETY: checked non-null above; writable by the caller's promise.
        unsafe { out::put(info, i) }
    })
}

fn version_of(v: &str) -> CK_VERSION {
    let mut it = v.split('.').map(|p| p.parse::<u8>().unwrap_or(0));
    CK_VERSION { major: it.next().unwrap_or(0), minor: it.next().unwrap_or(0) }
}

#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: CK_TOKEN_INFO_PTR) -> CK_RV {
    guard("C_GetTokenInfo", || {
        let m = module()?;
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let t = match m.pool.request(&Request::GetTokenInfo { slot: slot as u64 })? {
            Reply::TokenInfo(t) => t,
            _ => return Err(CKR_DEVICE_ERROR),
        };
        let ta = match m.pool.request(&Request::GetTaInfo)? {
            Reply::TaInfo(t) => t,
            _ => return Err(CKR_DEVICE_ERROR),
        };
        let i = CK_TOKEN_INFO {
            label: padded(&t.label),
            manufacturerID: padded("teehsm"),
            model: padded(&format!("TA {}", ta.platform)),
            serialNumber: padded(&t.serial),
            flags: t.flags as CK_FLAGS,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: t.session_count as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: t.rw_session_count as CK_ULONG,
            ulMaxPinLen: t.max_pin_len as CK_ULONG,
            ulMinPinLen: t.min_pin_len as CK_ULONG,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION { major: 0, minor: 0 },
            firmwareVersion: version_of(&ta.version),
            utcTime: [b' '; 16],
        };
        // SAFETY: checked non-null above; writable by the caller's promise.
        unsafe { out::put(info, i) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(slot: CK_SLOT_ID, list: CK_MECHANISM_TYPE_PTR, count: CK_ULONG_PTR) -> CK_RV {
    guard("C_GetMechanismList", || {
        let m = module()?;
        if count.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let mechs: Vec<CK_MECHANISM_TYPE> = match m.pool.request(&Request::GetMechanismList { slot: slot as u64 })? {
            Reply::Mechanisms(v) => v.into_iter().map(|x| x as CK_MECHANISM_TYPE).collect(),
            _ => return Err(CKR_DEVICE_ERROR),
        };
        // SAFETY: list/count follow the caller's promise.
        unsafe { out::deliver_list(&mechs, list, count) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE, info: CK_MECHANISM_INFO_PTR) -> CK_RV {
    guard("C_GetMechanismInfo", || {
        let m = module()?;
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        match m.pool.request(&Request::GetMechanismInfo { slot: slot as u64, mech: mech as u64 })? {
            Reply::MechanismInfo { min_key, max_key, flags } => {
                let i = CK_MECHANISM_INFO { ulMinKeySize: min_key as CK_ULONG, ulMaxKeySize: max_key as CK_ULONG, flags: flags as CK_FLAGS };
                // SAFETY: checked non-null above.
                unsafe { out::put(info, i) }
            }
            _ => Err(CKR_DEVICE_ERROR),
        }
    })
}

/// The caller's PIN bytes (kept in a zeroizing buffer).
pub(crate) unsafe fn pin(p: CK_UTF8CHAR_PTR, len: CK_ULONG) -> Result<Secret> {
    if len as usize > teehsm_wire::MAX_PIN_LEN {
        return Err(CKR_PIN_LEN_RANGE);
    }
    // SAFETY: the caller promises len readable bytes.
    Ok(Secret(unsafe { out::input(p, len) }?.to_vec()))
}

#[no_mangle]
pub unsafe extern "C" fn C_InitToken(slot: CK_SLOT_ID, so_pin: CK_UTF8CHAR_PTR, pin_len: CK_ULONG, label: CK_UTF8CHAR_PTR) -> CK_RV {
    guard("C_InitToken", || {
        let m = module()?;
        if label.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        // SAFETY: the label is a 32-byte padded field by the standard.
        let raw = unsafe { std::slice::from_raw_parts(label, 32) };
        let label = std::str::from_utf8(raw).map_err(|_| CKR_ARGUMENTS_BAD)?.trim_end_matches([' ', '\0']).to_string();
        // SAFETY: forwarded caller promise.
        let so_pin = unsafe { pin(so_pin, pin_len) }?;
        done(&m, &Request::InitToken { slot: slot as u64, so_pin, label })?;
        m.remove_slot_sessions(slot);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(session: CK_SESSION_HANDLE, p: CK_UTF8CHAR_PTR, len: CK_ULONG) -> CK_RV {
    guard("C_InitPIN", || {
        super::with_session(session, |m, _| {
            // SAFETY: forwarded caller promise.
            let pin = unsafe { pin(p, len) }?;
            done(m, &Request::InitPin { session: session as u64, pin })
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    session: CK_SESSION_HANDLE,
    old: CK_UTF8CHAR_PTR,
    old_len: CK_ULONG,
    new: CK_UTF8CHAR_PTR,
    new_len: CK_ULONG,
) -> CK_RV {
    guard("C_SetPIN", || {
        super::with_session(session, |m, _| {
            // SAFETY: forwarded caller promises.
            let (old_pin, new_pin) = unsafe { (pin(old, old_len)?, pin(new, new_len)?) };
            done(m, &Request::SetPin { session: session as u64, old_pin, new_pin })
        })
    })
}
