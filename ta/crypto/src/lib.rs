//! Cryptographic primitives used inside the teehsm TA.
//!
//! Backends follow DESIGN.md: aws-lc-rs for AES, SHA-2, HMAC, ECDSA, ECDH,
//! RSA, ML-KEM and ML-DSA; the RustCrypto `sm2`/`sm3`/`sm4` crates for the
//! Chinese national algorithms; `ed448-goldilocks-plus` for Ed448 (aws-lc has
//! none). Every function returns a typed [`CryptoError`]; nothing here panics
//! on caller-supplied bytes. Secret outputs are returned in `Zeroizing`
//! containers.
//!
//! Known-answer vectors live in [`vectors`]; [`selftest::run_all`] runs them
//! at TA start-up (DESIGN invariant 7) and the test suite runs them again.

pub mod aead;
pub mod der;
pub mod digest;
pub mod ec;
pub mod eddsa;
mod error;
pub mod gcm;
pub mod kbkdf;
pub mod kdf;
pub mod keywrap;
pub mod lc;
pub mod mac;
pub mod mac_stream;
pub mod mldsa;
pub mod mlkem;
pub mod pkcs8;
pub mod rng;
pub mod rsa;
pub mod selftest;
pub mod sm2;
pub mod sym;
pub mod vectors;
pub mod x25519;

pub use error::CryptoError;
