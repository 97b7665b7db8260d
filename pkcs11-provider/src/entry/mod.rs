//! Every `extern "C"` function of the module. Each body runs inside
//! [`crate::guard::guard`]; raw pointers are read and written only through
//! [`crate::out`], [`crate::attrs`] and [`crate::mechanism`].
#![allow(non_snake_case)]
#![allow(clippy::missing_safety_doc)]

pub mod crypto;
pub mod general;
pub mod keys;
pub mod message;
pub mod objects;
pub mod sessions;
pub mod unsupported;

use crate::guard::Result;
use crate::state::{self, Module, SessionState};
use cryptoki_sys::*;
use std::sync::Arc;
use teehsm_wire::{Reply, Request};

/// Runs `f` with the module and the session's state locked (calls on one
/// session are serialized, as PKCS#11 expects of a session).
pub(crate) fn with_session<T>(h: CK_SESSION_HANDLE, f: impl FnOnce(&Module, &mut SessionState) -> Result<T>) -> Result<T> {
    let m = state::module()?;
    let s = m.session(h)?;
    let mut st = state::lock(&s.state);
    f(&m, &mut st)
}

pub(crate) fn module() -> Result<Arc<Module>> {
    state::module()
}

/// The caller's CK_MECHANISM in the TA protocol's form, refusals as CKR codes.
pub(crate) fn mech(p: CK_MECHANISM_PTR) -> Result<teehsm_wire::Mechanism> {
    // SAFETY: the caller's CK_MECHANISM, as PKCS#11 requires.
    unsafe { crate::mechanism::from_c(p) }.map_err(|rv| rv.to_standard().0 as CK_RV)
}

/// Sends a request and expects `Done`.
pub(crate) fn done(m: &Module, req: &Request) -> Result {
    match m.pool.request(req)? {
        Reply::Done => Ok(()),
        _ => Err(CKR_DEVICE_ERROR),
    }
}

/// Sends a request and expects one handle.
pub(crate) fn handle(m: &Module, req: &Request) -> Result<u64> {
    match m.pool.request(req)? {
        Reply::Handle(h) => Ok(h),
        _ => Err(CKR_DEVICE_ERROR),
    }
}

/// Sends a request and expects bytes.
pub(crate) fn bytes(m: &Module, req: &Request) -> Result<Vec<u8>> {
    match m.pool.request(req)? {
        Reply::Bytes(b) => Ok(b),
        _ => Err(CKR_DEVICE_ERROR),
    }
}
