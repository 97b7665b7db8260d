//! The TA's channel key pair: an ephemeral P-256 key generated when the TA
//! starts, whose public half every attestation report binds
//! (`report_data = nonce || SHA-256(channel public key)`).
//!
//! Today nothing else uses it. The attested end-to-end channel (issue 5,
//! part 2; DESIGN invariant 8) will run its key exchange against this key,
//! so a client that verified a report knows it talks to the attested TA and
//! not to the CA service or the host in between. The private half never
//! leaves this module: it is held by `EcPrivateKey`, whose scalar is
//! zeroized on drop, and it is never persisted (a restarted TA has a new key
//! and clients must attest again).

use teehsm_crypto::{digest, ec, CryptoError};

/// The channel key pair of this TA process.
pub struct ChannelKey {
    private: ec::EcPrivateKey,
    public: Vec<u8>,
    public_hash: [u8; 32],
}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelKey").field("public", &self.public.len()).finish_non_exhaustive()
    }
}

impl ChannelKey {
    /// A fresh key pair from the TA's RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let private = ec::generate(ec::Curve::P256)?;
        let public = private.public_point();
        let mut public_hash = [0u8; 32];
        public_hash.copy_from_slice(&digest::digest(digest::HashAlg::Sha256, &public));
        Ok(ChannelKey { private, public, public_hash })
    }

    /// The public key, an uncompressed P-256 point (65 bytes).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// SHA-256 of [`ChannelKey::public_key`]: the second half of every report's caller data.
    pub fn public_key_hash(&self) -> &[u8; 32] {
        &self.public_hash
    }

    /// The 64 bytes a report binds: `nonce || SHA-256(channel public key)`.
    pub fn report_data(&self, nonce: &[u8; 32]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..32].copy_from_slice(nonce);
        d[32..].copy_from_slice(&self.public_hash);
        d
    }

    /// The curve of the private half (kept so the channel code can reach it).
    pub fn curve(&self) -> ec::Curve {
        self.private.curve()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_fresh_and_bound_by_its_hash() {
        let a = ChannelKey::generate().unwrap();
        let b = ChannelKey::generate().unwrap();
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(a.public_key().len(), 65);
        ec::validate_point(ec::Curve::P256, a.public_key()).unwrap();
        let d = a.report_data(&[7; 32]);
        assert_eq!(&d[..32], &[7; 32]);
        assert_eq!(&d[32..], &digest::digest(digest::HashAlg::Sha256, a.public_key())[..]);
        assert!(!format!("{a:?}").contains("scalar"));
    }
}
