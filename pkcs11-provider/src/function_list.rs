//! The function tables: PKCS#11 2.40 (C_GetFunctionList), 3.0 and 3.2
//! (C_GetInterfaceList / C_GetInterface, interface name "PKCS 11").
//! Every entry points at a real function; the ones teehsm does not offer
//! answer with the standard's code for that (see `entry::unsupported`).
#![allow(non_snake_case)]

use crate::entry::crypto::*;
use crate::entry::general::*;
use crate::entry::keys::*;
use crate::entry::message::*;
use crate::entry::objects::*;
use crate::entry::sessions::*;
use crate::entry::unsupported::*;
use crate::guard::guard;
use cryptoki_sys::*;

/// `CK_x { version, C_a: Some(C_a), ... }` for the functions named.
macro_rules! function_table {
    ($ty:ident ($major:expr, $minor:expr) $($f:ident)*) => {
        $ty { version: CK_VERSION { major: $major, minor: $minor }, $($f: Some($f),)* }
    };
}

/// Calls `function_table!` with the PKCS#11 2.40 functions, then `$more`.
macro_rules! with_v2_40 {
    ($ty:ident ($major:expr, $minor:expr) $($more:ident)*) => {
        function_table!($ty ($major, $minor)
        C_Initialize C_Finalize C_GetInfo C_GetFunctionList C_GetSlotList C_GetSlotInfo
        C_GetTokenInfo C_GetMechanismList C_GetMechanismInfo C_InitToken C_InitPIN C_SetPIN
        C_OpenSession C_CloseSession C_CloseAllSessions C_GetSessionInfo C_GetOperationState
        C_SetOperationState C_Login C_Logout C_CreateObject C_CopyObject C_DestroyObject
        C_GetObjectSize C_GetAttributeValue C_SetAttributeValue C_FindObjectsInit C_FindObjects
        C_FindObjectsFinal C_EncryptInit C_Encrypt C_EncryptUpdate C_EncryptFinal C_DecryptInit
        C_Decrypt C_DecryptUpdate C_DecryptFinal C_DigestInit C_Digest C_DigestUpdate C_DigestKey
        C_DigestFinal C_SignInit C_Sign C_SignUpdate C_SignFinal C_SignRecoverInit C_SignRecover
        C_VerifyInit C_Verify C_VerifyUpdate C_VerifyFinal C_VerifyRecoverInit C_VerifyRecover
        C_DigestEncryptUpdate C_DecryptDigestUpdate C_SignEncryptUpdate C_DecryptVerifyUpdate
        C_GenerateKey C_GenerateKeyPair C_WrapKey C_UnwrapKey C_DeriveKey C_SeedRandom
        C_GenerateRandom C_GetFunctionStatus C_CancelFunction C_WaitForSlotEvent
            $($more)*)
    };
}

/// The same with the functions PKCS#11 3.0 added, then `$more`.
macro_rules! with_v3_0 {
    ($ty:ident ($major:expr, $minor:expr) $($more:ident)*) => {
        with_v2_40!($ty ($major, $minor)
        C_GetInterfaceList C_GetInterface C_LoginUser C_SessionCancel C_MessageEncryptInit
        C_EncryptMessage C_EncryptMessageBegin C_EncryptMessageNext C_MessageEncryptFinal
        C_MessageDecryptInit C_DecryptMessage C_DecryptMessageBegin C_DecryptMessageNext
        C_MessageDecryptFinal C_MessageSignInit C_SignMessage C_SignMessageBegin C_SignMessageNext
        C_MessageSignFinal C_MessageVerifyInit C_VerifyMessage C_VerifyMessageBegin
        C_VerifyMessageNext C_MessageVerifyFinal
            $($more)*)
    };
}

pub static CK_FUNCTION_LIST_TABLE: CK_FUNCTION_LIST = with_v2_40!(CK_FUNCTION_LIST(2, 40));

pub static CK_FUNCTION_LIST_3_0_TABLE: CK_FUNCTION_LIST_3_0 = with_v3_0!(CK_FUNCTION_LIST_3_0(3, 0));

/// 3.0 plus the functions PKCS#11 3.2 added.
pub static CK_FUNCTION_LIST_3_2_TABLE: CK_FUNCTION_LIST_3_2 = with_v3_0!(CK_FUNCTION_LIST_3_2 (3, 2)
    C_EncapsulateKey C_DecapsulateKey C_VerifySignatureInit C_VerifySignature
    C_VerifySignatureUpdate C_VerifySignatureFinal C_GetSessionValidationFlags C_AsyncComplete
    C_AsyncGetID C_AsyncJoin C_WrapKeyAuthenticated C_UnwrapKeyAuthenticated
);

/// The name every interface is published under.
static INTERFACE_NAME: &[u8; 8] = b"PKCS 11\0";

/// CK_INTERFACE holds raw pointers; these point at immutable statics only.
struct Interfaces([CK_INTERFACE; 3]);
// SAFETY: the pointers inside are to 'static immutable data that no one writes.
unsafe impl Sync for Interfaces {}

/// Newest first: C_GetInterface with no name and no version returns the first.
static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &CK_FUNCTION_LIST_3_2_TABLE as *const CK_FUNCTION_LIST_3_2 as *mut std::ffi::c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &CK_FUNCTION_LIST_3_0_TABLE as *const CK_FUNCTION_LIST_3_0 as *mut std::ffi::c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &CK_FUNCTION_LIST_TABLE as *const CK_FUNCTION_LIST as *mut std::ffi::c_void,
        flags: 0,
    },
]);

const VERSIONS: [CK_VERSION; 3] = [CK_VERSION { major: 3, minor: 2 }, CK_VERSION { major: 3, minor: 0 }, CK_VERSION { major: 2, minor: 40 }];

/// # Safety
/// `list` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard("C_GetFunctionList", || {
        let table = &CK_FUNCTION_LIST_TABLE as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST;
        // SAFETY: the caller's out-pointer, checked for null.
        unsafe { crate::out::put(list, table) }
    })
}

/// # Safety
/// The buffer-size protocol: `count` writable, `list` null or holding `*count` entries.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    guard("C_GetInterfaceList", || {
        // SAFETY: the caller's array and count, per the buffer-size protocol.
        unsafe { crate::out::deliver_list(&INTERFACES.0, list, count) }
    })
}

/// # Safety
/// `name` null or NUL-terminated, `version` null or readable, `out` writable.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(name: *mut CK_UTF8CHAR, version: *mut CK_VERSION, out: *mut *mut CK_INTERFACE, flags: CK_FLAGS) -> CK_RV {
    guard("C_GetInterface", || {
        if out.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        if !name.is_null() {
            // SAFETY: a non-null name is a NUL-terminated string.
            let n = unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) };
            if n.to_bytes() != b"PKCS 11" {
                return Err(CKR_ARGUMENTS_BAD);
            }
        }
        // SAFETY: a non-null version points to a CK_VERSION.
        let wanted = if version.is_null() { None } else { Some(unsafe { *version }) };
        let found = INTERFACES
            .0
            .iter()
            .zip(VERSIONS)
            .find(|(i, v)| wanted.is_none_or(|w| w.major == v.major && w.minor == v.minor) && (i.flags & flags) == flags);
        match found {
            Some((i, _)) => {
                // SAFETY: checked non-null; the interface is a 'static.
                unsafe { *out = i as *const CK_INTERFACE as *mut CK_INTERFACE };
                Ok(())
            }
            None => Err(CKR_ARGUMENTS_BAD),
        }
    })
}
