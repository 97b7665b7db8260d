//! The attested end-to-end channel, TA side (DESIGN invariant 8; suite
//! "P256+MLKEM768/AES-256-GCM", docs/channel.md).
//!
//! [`ChannelKey`] is the TA's channel key *bundle*: an ephemeral P-256 key
//! pair and an ML-KEM-768 key pair, generated when the TA starts, never
//! stored (a restarted TA has new keys and clients attest again). Every
//! attestation report binds it: `report_data = nonce || SHA-256(bundle)`,
//! `bundle = P-256 point (65) || ML-KEM-768 encapsulation key (1184)`.
//!
//! The handshake: `OpenChannel { nonce }` gets a report ([`Handshake`]
//! remembers its nonce and body); `ChannelKeys { client_p256, mlkem_ct }`
//! runs ECDH and ML-KEM decapsulation and derives the two directions' keys
//! ([`SealedChannel`]). The private halves never leave this module; shared
//! secrets and session keys live in zeroizing types.

use teehsm_crypto::{aead, digest, ec, kdf, mlkem, CryptoError};
use teehsm_wire::{
    channel_aad, channel_nonce, channel_transcript, CHANNEL_DIR_CLIENT_TO_TA, CHANNEL_DIR_TA_TO_CLIENT, CHANNEL_INFO_LABEL_V1,
    CHANNEL_MLKEM768_CT_LEN, CHANNEL_P256_POINT_LEN, MAX_FRAME_LEN,
};
use zeroize::Zeroizing;

/// The channel key bundle of this TA process.
pub struct ChannelKey {
    p256: ec::EcPrivateKey,
    mlkem: mlkem::MlKemPrivateKey,
    /// P-256 point || ML-KEM-768 encapsulation key.
    bundle: Vec<u8>,
    bundle_hash: [u8; 32],
}

impl std::fmt::Debug for ChannelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelKey").field("bundle", &self.bundle.len()).finish_non_exhaustive()
    }
}

impl ChannelKey {
    /// A fresh bundle from the TA's RNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let p256 = ec::generate(ec::Curve::P256)?;
        let mlkem = mlkem::generate(mlkem::MlKemParam::MlKem768)?;
        let mut bundle = p256.public_point();
        bundle.extend_from_slice(&mlkem.public_key()?);
        let mut bundle_hash = [0u8; 32];
        bundle_hash.copy_from_slice(&digest::digest(digest::HashAlg::Sha256, &bundle));
        Ok(ChannelKey { p256, mlkem, bundle, bundle_hash })
    }

    /// The public bundle: P-256 point (65 bytes) || ML-KEM-768 encapsulation key (1184 bytes).
    pub fn public_key(&self) -> &[u8] {
        &self.bundle
    }

    /// SHA-256 of [`ChannelKey::public_key`]: the second half of every report's caller data.
    pub fn public_key_hash(&self) -> &[u8; 32] {
        &self.bundle_hash
    }

    /// The 64 bytes a report binds: `nonce || SHA-256(bundle)`.
    pub fn report_data(&self, nonce: &[u8; 32]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..32].copy_from_slice(nonce);
        d[32..].copy_from_slice(&self.bundle_hash);
        d
    }

    /// Completes a handshake whose `OpenChannel` produced `hs`: ECDH with
    /// the client's point, ML-KEM decapsulation of its ciphertext, then the
    /// version 1 key schedule. Errors name what was wrong (never a secret).
    pub fn accept(&self, hs: &Handshake, client_p256: &[u8], mlkem_ct: &[u8]) -> Result<SealedChannel, String> {
        if client_p256.len() != CHANNEL_P256_POINT_LEN || mlkem_ct.len() != CHANNEL_MLKEM768_CT_LEN {
            return Err(format!(
                "ChannelKeys needs a {CHANNEL_P256_POINT_LEN}-byte P-256 point and a {CHANNEL_MLKEM768_CT_LEN}-byte ML-KEM-768 ciphertext, got {} and {}",
                client_p256.len(),
                mlkem_ct.len()
            ));
        }
        let ecdh = self.p256.ecdh(client_p256).map_err(|e| format!("the client's P-256 point was refused: {e}"))?;
        let kem = self.mlkem.decapsulate(mlkem_ct).map_err(|e| format!("ML-KEM decapsulation failed: {e}"))?;
        let mut ikm = Zeroizing::new(Vec::with_capacity(ecdh.len() + kem.len()));
        ikm.extend_from_slice(&ecdh);
        ikm.extend_from_slice(&kem);
        let transcript = channel_transcript(&hs.report_body, &self.bundle, client_p256, mlkem_ct);
        let mut info = CHANNEL_INFO_LABEL_V1.to_vec();
        info.extend_from_slice(&digest::digest(digest::HashAlg::Sha256, &transcript));
        let okm = kdf::hkdf_sha256(&ikm, &hs.nonce, &info, 88).map_err(|e| format!("key derivation failed: {e}"))?;
        Ok(SealedChannel::from_okm(&okm, false))
    }
}

/// What the TA remembers between `OpenChannel` and `ChannelKeys`.
pub struct Handshake {
    pub nonce: [u8; 32],
    pub report_body: Vec<u8>,
}

/// One direction's key, IV base and next sequence number.
struct Direction {
    key: Zeroizing<[u8; 32]>,
    iv: Zeroizing<[u8; 12]>,
    seq: u64,
    dir: u8,
}

/// A connection's sealed channel after the handshake.
pub struct SealedChannel {
    recv: Direction,
    send: Direction,
}

impl std::fmt::Debug for SealedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedChannel").field("recv_seq", &self.recv.seq).field("send_seq", &self.send.seq).finish_non_exhaustive()
    }
}

/// Why a sealed frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// The frame does not open under the expected key, nonce and AAD:
    /// tampered, replayed, reordered, or sealed under another key.
    Open { seq: u64 },
    /// The sequence number space is used up (2^64 frames).
    Exhausted,
    /// A reply too large to seal into one frame.
    TooLarge,
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::Open { seq } => write!(f, "sealed frame {seq} does not open (tampered, replayed, reordered or wrong key)"),
            ChannelError::Exhausted => f.write_str("channel sequence numbers exhausted"),
            ChannelError::TooLarge => f.write_str("reply too large for one sealed frame"),
        }
    }
}

impl SealedChannel {
    /// Splits the 88 bytes of key schedule output: client-to-TA key (32),
    /// IV base (12), TA-to-client key (32), IV base (12). `client` picks
    /// which direction is "send".
    fn from_okm(okm: &[u8], client: bool) -> Self {
        let dir = |at: usize, d: u8| {
            let mut key = Zeroizing::new([0u8; 32]);
            let mut iv = Zeroizing::new([0u8; 12]);
            key.copy_from_slice(&okm[at..at + 32]);
            iv.copy_from_slice(&okm[at + 32..at + 44]);
            Direction { key, iv, seq: 0, dir: d }
        };
        let c2t = dir(0, CHANNEL_DIR_CLIENT_TO_TA);
        let t2c = dir(44, CHANNEL_DIR_TA_TO_CLIENT);
        if client {
            SealedChannel { recv: t2c, send: c2t }
        } else {
            SealedChannel { recv: c2t, send: t2c }
        }
    }

    /// Opens the next frame from the peer; any failure is final (the caller closes the connection).
    pub fn open(&mut self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, ChannelError> {
        let d = &mut self.recv;
        let seq = d.seq;
        let next = seq.checked_add(1).ok_or(ChannelError::Exhausted)?;
        let pt = aead::aes256gcm_open(&d.key, &channel_nonce(&d.iv, seq), &channel_aad(d.dir, seq), sealed)
            .map_err(|_| ChannelError::Open { seq })?;
        d.seq = next;
        Ok(pt)
    }

    /// Seals the next frame to the peer.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if plaintext.len() + teehsm_wire::CHANNEL_TAG_LEN > MAX_FRAME_LEN {
            return Err(ChannelError::TooLarge);
        }
        let d = &mut self.send;
        let seq = d.seq;
        let next = seq.checked_add(1).ok_or(ChannelError::Exhausted)?;
        let out = aead::aes256gcm_seal(&d.key, &channel_nonce(&d.iv, seq), &channel_aad(d.dir, seq), plaintext)
            .map_err(|_| ChannelError::Open { seq })?;
        d.seq = next;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bundle_is_fresh_and_bound_by_its_hash() {
        let a = ChannelKey::generate().unwrap();
        let b = ChannelKey::generate().unwrap();
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(a.public_key().len(), teehsm_wire::CHANNEL_BUNDLE_LEN);
        ec::validate_point(ec::Curve::P256, &a.public_key()[..65]).unwrap();
        let d = a.report_data(&[7; 32]);
        assert_eq!(&d[..32], &[7; 32]);
        assert_eq!(&d[32..], &digest::digest(digest::HashAlg::Sha256, a.public_key())[..]);
        assert!(!format!("{a:?}").contains("scalar"));
    }

    /// A client built from the TA's own primitives: both sides derive the
    /// same keys; tampering, replay and reordering are refused.
    #[test]
    fn handshake_and_sealing_round_trip_and_refuse_replay_and_tamper() {
        let ta = ChannelKey::generate().unwrap();
        let hs = Handshake { nonce: [3; 32], report_body: b"body".to_vec() };
        let (tp, tk) = teehsm_wire::split_channel_bundle(ta.public_key()).unwrap();
        let client = ec::generate(ec::Curve::P256).unwrap();
        let cp = client.public_point();
        let (ct, kss) = mlkem::encapsulate(mlkem::MlKemParam::MlKem768, tk).unwrap();
        let mut ikm = client.ecdh(tp).unwrap().to_vec();
        ikm.extend_from_slice(&kss);
        let mut info = CHANNEL_INFO_LABEL_V1.to_vec();
        info.extend_from_slice(&digest::digest(digest::HashAlg::Sha256, &channel_transcript(b"body", ta.public_key(), &cp, &ct)));
        let okm = kdf::hkdf_sha256(&ikm, &[3; 32], &info, 88).unwrap();
        let mut c = SealedChannel::from_okm(&okm, true);
        let mut t = ta.accept(&hs, &cp, &ct).unwrap();
        let f0 = c.seal(b"hello").unwrap();
        assert_eq!(&t.open(&f0).unwrap()[..], b"hello");
        let r0 = t.seal(b"world").unwrap();
        assert_eq!(&c.open(&r0).unwrap()[..], b"world");
        // Replay of frame 0 as frame 1: refused.
        assert_eq!(t.open(&f0), Err(ChannelError::Open { seq: 1 }));
        let mut t2 = ta.accept(&hs, &cp, &ct).unwrap();
        let mut bad = f0.clone();
        bad[0] ^= 1;
        assert!(t2.open(&bad).is_err());
        // A reflected TA frame does not open as a client frame.
        let mut t3 = ta.accept(&hs, &cp, &ct).unwrap();
        let reflected = t3.seal(b"x").unwrap();
        assert!(t3.open(&reflected).is_err());
        // Wrong sizes are refused with a message.
        assert!(ta.accept(&hs, &cp[..64], &ct).is_err());
    }
}
