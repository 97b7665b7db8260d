//! EdDSA over edwards25519 (RFC 8032): Ed25519, Ed25519ctx and Ed25519ph, by
//! aws-lc (`ED25519*` functions, [`crate::lc`]). The private key kept in the
//! store is the 32-byte RFC 8032 private key (the seed); the 64-byte form
//! aws-lc signs with (seed || public key) is derived on load.

use crate::lc;
pub use crate::lc::Ed25519Variant;
use crate::CryptoError;
use zeroize::Zeroizing;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 signing key.
pub struct Ed25519PrivateKey {
    seed: Zeroizing<Vec<u8>>,
    expanded: Zeroizing<[u8; 64]>,
    public: [u8; 32],
}

impl std::fmt::Debug for Ed25519PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519PrivateKey").field("public", &hex::encode(self.public)).finish_non_exhaustive()
    }
}

impl Ed25519PrivateKey {
    /// From the 32-byte RFC 8032 private key.
    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        let (public, expanded) = lc::ed25519_from_seed(seed)?;
        Ok(Ed25519PrivateKey { seed: Zeroizing::new(seed.to_vec()), expanded, public })
    }

    /// The 32-byte private key (for sealing).
    pub fn seed(&self) -> Zeroizing<Vec<u8>> {
        self.seed.clone()
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.public.to_vec()
    }

    /// Signs `msg` (for Ed25519ph: the message itself; the SHA-512 prehash is computed here).
    pub fn sign(&self, variant: Ed25519Variant, context: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        lc::ed25519_sign(&self.expanded, variant, context, msg)
    }
}

/// A fresh key from the TA's RNG.
pub fn generate() -> Result<Ed25519PrivateKey, CryptoError> {
    let mut seed = Zeroizing::new(vec![0u8; 32]);
    crate::rng::fill(&mut seed)?;
    Ed25519PrivateKey::from_seed(&seed)
}

/// Verifies an Ed25519 / Ed25519ctx / Ed25519ph signature.
pub fn verify(public: &[u8], variant: Ed25519Variant, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    lc::ed25519_verify(public, variant, context, msg, sig)
}
