//! Wire types shared by the teehsm TA and its untrusted clients (the CA
//! service, the PKCS#11 module, tests). This crate holds no key-handling code:
//! it only frames, encodes and bounds-checks messages.

pub mod attr_kind;
pub mod ck;
pub mod client;
pub mod codec;
pub mod frame;
pub mod handoff;
pub mod keydist;
pub mod msg;
#[cfg(feature = "proto")]
pub mod proto;
pub mod rv;
pub mod spin;
pub mod stream;
pub mod time;
pub mod token_policy;

pub use client::Calls;
pub use msg::*;
pub use rv::Rv;
