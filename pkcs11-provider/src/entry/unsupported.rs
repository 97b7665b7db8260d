//! Functions teehsm does not offer, each answering with the code the
//! standard gives for that case. Every one still runs inside the guard.

use crate::guard::guard;
use cryptoki_sys::*;

macro_rules! refuse {
    ($($name:ident ( $($arg:ident : $ty:ty),* ) => $rv:expr;)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            $(let _ = $arg;)*
            guard(stringify!($name), || Err($rv))
        }
    )*};
}

refuse! {
    // Operation state lives in the TA and is never exported.
    C_GetOperationState(s: CK_SESSION_HANDLE, st: CK_BYTE_PTR, len: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_SetOperationState(s: CK_SESSION_HANDLE, st: CK_BYTE_PTR, len: CK_ULONG, ek: CK_OBJECT_HANDLE, ak: CK_OBJECT_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    // Signatures with message recovery (RSA X9.31/ISO 9796) are not offered.
    C_SignRecoverInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, k: CK_OBJECT_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    C_SignRecover(s: CK_SESSION_HANDLE, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_VerifyRecoverInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, k: CK_OBJECT_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    C_VerifyRecover(s: CK_SESSION_HANDLE, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    // Dual-function operations.
    C_DigestEncryptUpdate(s: CK_SESSION_HANDLE, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_DecryptDigestUpdate(s: CK_SESSION_HANDLE, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_SignEncryptUpdate(s: CK_SESSION_HANDLE, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_DecryptVerifyUpdate(s: CK_SESSION_HANDLE, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    // Legacy parallel functions: the standard's fixed answer.
    C_GetFunctionStatus(s: CK_SESSION_HANDLE) => CKR_FUNCTION_NOT_PARALLEL;
    C_CancelFunction(s: CK_SESSION_HANDLE) => CKR_FUNCTION_NOT_PARALLEL;
    // Tokens are never inserted or removed.
    C_WaitForSlotEvent(f: CK_FLAGS, slot: CK_SLOT_ID_PTR, r: CK_VOID_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    // Streaming message encryption and message-based signing.
    C_EncryptMessageBegin(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_EncryptMessageNext(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR, f: CK_FLAGS) => CKR_FUNCTION_NOT_SUPPORTED;
    C_DecryptMessageBegin(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_DecryptMessageNext(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR, f: CK_FLAGS) => CKR_FUNCTION_NOT_SUPPORTED;
    C_MessageSignInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, k: CK_OBJECT_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    C_SignMessage(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_SignMessageBegin(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_SignMessageNext(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, d: CK_BYTE_PTR, n: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_MessageSignFinal(s: CK_SESSION_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    C_MessageVerifyInit(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, k: CK_OBJECT_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    C_VerifyMessage(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, d: CK_BYTE_PTR, n: CK_ULONG, sg: CK_BYTE_PTR, sn: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_VerifyMessageBegin(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_VerifyMessageNext(s: CK_SESSION_HANDLE, p: CK_VOID_PTR, pl: CK_ULONG, d: CK_BYTE_PTR, n: CK_ULONG, sg: CK_BYTE_PTR, sn: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_MessageVerifyFinal(s: CK_SESSION_HANDLE) => CKR_FUNCTION_NOT_SUPPORTED;
    // PKCS#11 3.2 validation flags, asynchronous calls, authenticated wrapping.
    C_GetSessionValidationFlags(s: CK_SESSION_HANDLE, t: CK_SESSION_VALIDATION_FLAGS_TYPE, f: *mut CK_FLAGS) => CKR_FUNCTION_NOT_SUPPORTED;
    C_AsyncComplete(s: CK_SESSION_HANDLE, f: *mut CK_UTF8CHAR, r: *mut CK_ASYNC_DATA) => CKR_FUNCTION_NOT_SUPPORTED;
    C_AsyncGetID(s: CK_SESSION_HANDLE, f: *mut CK_UTF8CHAR, id: *mut CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_AsyncJoin(s: CK_SESSION_HANDLE, f: *mut CK_UTF8CHAR, id: CK_ULONG, d: *mut CK_BYTE, n: CK_ULONG) => CKR_FUNCTION_NOT_SUPPORTED;
    C_WrapKeyAuthenticated(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, wk: CK_OBJECT_HANDLE, k: CK_OBJECT_HANDLE, a: CK_BYTE_PTR, al: CK_ULONG, o: CK_BYTE_PTR, on: CK_ULONG_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
    C_UnwrapKeyAuthenticated(s: CK_SESSION_HANDLE, m: CK_MECHANISM_PTR, uk: CK_OBJECT_HANDLE, w: CK_BYTE_PTR, wl: CK_ULONG, t: CK_ATTRIBUTE_PTR, tn: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG, k: CK_OBJECT_HANDLE_PTR) => CKR_FUNCTION_NOT_SUPPORTED;
}
