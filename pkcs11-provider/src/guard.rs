//! The wrapper every `extern "C"` entry runs its body in: a panic becomes
//! CKR_GENERAL_ERROR (and a log line) instead of unwinding into C.

use cryptoki_sys::{CKR_GENERAL_ERROR, CKR_OK, CK_RV};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A PKCS#11 result: `Err` carries the CKR_* code.
pub type Result<T = ()> = std::result::Result<T, CK_RV>;

pub fn guard(function: &'static str, body: impl FnOnce() -> Result) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(rv)) => {
            crate::log::debug(format_args!("{function} -> 0x{rv:x}"));
            rv
        }
        Err(_) => {
            crate::log::error(format_args!("internal error (panic) in {function}; returning CKR_GENERAL_ERROR"));
            CKR_GENERAL_ERROR
        }
    }
}
