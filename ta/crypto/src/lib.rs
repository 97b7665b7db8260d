//! Cryptographic primitives for the teehsm TA.
