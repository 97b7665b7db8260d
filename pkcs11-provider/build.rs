//! Link flags of libteehsm_pkcs11.so.
//!
//! `-z nodelete`: the module cannot be unloaded. The attested channel's
//! cryptography (aws-lc, linked statically) registers per-thread state with
//! pthread key destructors; if an application dlclose()d the module (the
//! `cryptoki` crate does when its context is dropped; so do p11-kit and
//! OpenSC tools) and a thread that had called it exited afterwards, the
//! destructor would run from unmapped code and crash the process. With
//! nodelete, dlclose() keeps the code mapped; a later dlopen() gets the same
//! module, and C_Finalize / C_Initialize still reset its state.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
