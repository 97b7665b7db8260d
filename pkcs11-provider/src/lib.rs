//! `libteehsm_pkcs11.so`: the PKCS#11 3.2 module that applications load.
//!
//! The module holds no key and makes no security decision: every call
//! becomes a TA protocol request sent through the teehsm CA service's client
//! socket, and the TA checks PINs, sessions and key policy. What lives here
//! is the C ABI (function lists and interfaces, the buffer-size protocol,
//! native CK_ULONG conversion), a pool of connections that share one TA
//! application (so the threads of a process run in parallel), find cursors,
//! and the bookkeeping of operations in progress.
//!
//! Layout: [`entry`] holds every `extern "C"` function (each wrapped by
//! [`guard::guard`], so no panic crosses the C boundary); [`function_list`]
//! the 2.40 / 3.0 / 3.2 tables; [`state`] the process-wide module state and
//! fork detection; [`conn`] the connection pool; [`attrs`] and
//! [`mechanism`] the C <-> wire conversions; [`config`] how the CA socket is
//! found; [`log`] the module's log lines.
// Hostile input must get an error code, never a panic (in the TA, or across
// the C boundary): no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// CK_ULONG is 64 bits here but 32 on other targets: the casts between it and
// the protocol's u64 are needed for portability even where they are no-ops.
#![allow(clippy::unnecessary_cast)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod attrs;
pub mod config;
pub mod conn;
pub mod entry;
pub mod function_list;
pub mod guard;
pub mod log;
pub mod mechanism;
pub mod out;
pub mod state;
