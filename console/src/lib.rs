//! Fleet console of teehsm (issue #6).
//!
//! So far: the alert engine ([`alerts`]), a pure library without I/O or a
//! clock of its own, which the console daemon, its store and its webhook
//! sender build on.

pub mod alerts;
pub mod daemon;
pub mod enroll;
pub mod keydist;
pub mod licence;
pub mod store;
pub mod totp;
