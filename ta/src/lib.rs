//! The teehsm trusted application: it holds every secret and private key,
//! makes every authorization decision, seals its store to the platform, keeps
//! the audit log, and refuses to serve until its self-tests pass.
// Hostile input must get an error code, never a panic (in the TA, or across
// the C boundary): no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod channel;
pub mod handler;
pub mod keys;
pub mod mech;
pub mod object;
pub mod pin;
pub mod platform;
pub mod policy;
pub mod server;
pub mod store;
pub mod token;
