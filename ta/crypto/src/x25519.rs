//! X25519 key agreement (RFC 7748) by aws-lc-rs, for PKCS#11 CKK_EC_MONTGOMERY
//! keys and CKM_ECDH1_DERIVE. The private key is the 32-byte RFC 7748 scalar
//! as given (aws-lc clamps it when it is used).

use crate::CryptoError;
use aws_lc_rs::agreement::{self, X25519};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;

/// An X25519 private key.
pub struct X25519PrivateKey {
    scalar: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

impl std::fmt::Debug for X25519PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X25519PrivateKey").field("public", &hex::encode(&self.public)).finish_non_exhaustive()
    }
}

fn private(scalar: &[u8]) -> Result<agreement::PrivateKey, CryptoError> {
    if scalar.len() != KEY_LEN {
        return Err(CryptoError::InvalidKey(format!("an X25519 private key is 32 bytes, got {}", scalar.len())));
    }
    agreement::PrivateKey::from_private_key(&X25519, scalar).map_err(|_| CryptoError::InvalidKey("X25519 private key rejected".into()))
}

impl X25519PrivateKey {
    pub fn from_bytes(scalar: &[u8]) -> Result<Self, CryptoError> {
        let k = private(scalar)?;
        let public = k.compute_public_key().map_err(|_| CryptoError::Internal("X25519 public key".into()))?.as_ref().to_vec();
        Ok(X25519PrivateKey { scalar: Zeroizing::new(scalar.to_vec()), public })
    }

    /// The 32-byte private key (for sealing).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.scalar.clone()
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// The shared secret with `peer` (32 bytes); an all-zero result (a
    /// small-order peer point) is refused.
    pub fn agree(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if peer.len() != KEY_LEN {
            return Err(CryptoError::InvalidInput(format!("an X25519 public key is 32 bytes, got {}", peer.len())));
        }
        let me = private(&self.scalar)?;
        let peer = agreement::UnparsedPublicKey::new(&X25519, peer);
        agreement::agree(&me, peer, CryptoError::InvalidInput("the peer's X25519 public key was refused".into()), |z| Ok(Zeroizing::new(z.to_vec())))
    }
}

/// A fresh key from the TA's RNG.
pub fn generate() -> Result<X25519PrivateKey, CryptoError> {
    let mut s = Zeroizing::new(vec![0u8; KEY_LEN]);
    crate::rng::fill(&mut s)?;
    X25519PrivateKey::from_bytes(&s)
}
