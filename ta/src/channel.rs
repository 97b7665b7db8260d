//! The attested end-to-end channel, TA side (DESIGN invariant 8; suites
//! 1 "P256+MLKEM768/AES-256-GCM" and 2 "SM2/SM3/SM4-GCM", docs/channel.md).
//!
//! [`ChannelKey`] is the TA's channel key *bundle*: a P-256 key pair, an
//! ML-KEM-768 key pair and an SM2 key pair, generated when the TA starts,
//! never stored (a restarted TA has new keys and clients attest again).
//! Every attestation report binds it: `report_data = nonce ||
//! SHA-256(bundle)`, `bundle = P-256 point (65) || ML-KEM-768 encapsulation
//! key (1184) || SM2 point (65)`.
//!
//! The handshake: `OpenChannel { nonce }` gets a report ([`Handshake`]
//! remembers its nonce and body); `ChannelKeys { suite, client_p256,
//! mlkem_ct }` runs the chosen suite's key agreement (suite 1: P-256 ECDH and
//! ML-KEM decapsulation; suite 2: ECDH on the SM2 curve with the TA's static
//! SM2 key) and derives the two directions' keys ([`SealedChannel`]). The
//! private halves never leave this module; shared secrets and session keys
//! live in zeroizing types.

use teehsm_crypto::{aead, digest, ec, kdf, mlkem, sm2, sym, CryptoError};
use teehsm_wire::{
    channel_aad, channel_nonce, channel_transcript, ChannelSuite, CHANNEL_DIR_CLIENT_TO_TA, CHANNEL_DIR_TA_TO_CLIENT, CHANNEL_INFO_LABEL_SM2,
    CHANNEL_INFO_LABEL_V1, CHANNEL_MLKEM768_CT_LEN, CHANNEL_P256_POINT_LEN, CHANNEL_SM2_POINT_LEN, CHANNEL_TAG_LEN, MAX_FRAME_LEN,
};
use zeroize::Zeroizing;

/// The channel key bundle of this TA process.
pub struct ChannelKey {
    p256: ec::EcPrivateKey,
    mlkem: mlkem::MlKemPrivateKey,
    sm2: sm2::Sm2PrivateKey,
    /// P-256 point || ML-KEM-768 encapsulation key || SM2 point.
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
        let sm2 = sm2::generate()?;
        let mut bundle = p256.public_point();
        bundle.extend_from_slice(&mlkem.public_key()?);
        bundle.extend_from_slice(&sm2.public_point());
        if bundle.len() != teehsm_wire::CHANNEL_BUNDLE_LEN {
            return Err(CryptoError::Internal("channel key bundle layout".into()));
        }
        let mut bundle_hash = [0u8; 32];
        bundle_hash.copy_from_slice(&digest::digest(digest::HashAlg::Sha256, &bundle));
        Ok(ChannelKey { p256, mlkem, sm2, bundle, bundle_hash })
    }

    /// The public bundle: P-256 point (65 bytes) || ML-KEM-768 encapsulation
    /// key (1184 bytes) || SM2 point (65 bytes).
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

    /// The hybrid shared secret of a key distribution envelope
    /// (docs/key-distribution.md): P-256 ECDH of the bundle's P-256 key with
    /// `peer_p256`, then ML-KEM-768 decapsulation of `mlkem_ct`, as
    /// `ecdh x || ML-KEM shared secret`. The envelope's own HKDF labels keep
    /// it apart from the channel handshake's key schedule.
    pub fn hybrid_secret(&self, peer_p256: &[u8], mlkem_ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let ecdh = self.p256.ecdh(peer_p256).map_err(|e| format!("the ephemeral P-256 point was refused: {e}"))?;
        let kem = self.mlkem.decapsulate(mlkem_ct).map_err(|e| format!("ML-KEM-768 decapsulation failed: {e}"))?;
        let mut ikm = Zeroizing::new(Vec::with_capacity(ecdh.len() + kem.len()));
        ikm.extend_from_slice(&ecdh);
        ikm.extend_from_slice(&kem);
        Ok(ikm)
    }

    /// Completes a handshake whose `OpenChannel` produced `hs` with the
    /// client's `ChannelKeys`: the suite it chose (an unknown id is refused),
    /// then that suite's key agreement and key schedule. Errors name what was
    /// wrong (never a secret); the caller closes the connection.
    pub fn accept(&self, hs: &Handshake, suite: u8, client_p256: &[u8], mlkem_ct: &[u8]) -> Result<SealedChannel, String> {
        match ChannelSuite::from_id(suite) {
            Some(ChannelSuite::Hybrid) => self.accept_hybrid(hs, client_p256, mlkem_ct),
            Some(ChannelSuite::Sm2) => self.accept_sm2(hs, client_p256, mlkem_ct),
            None => Err(format!("unknown channel suite {suite} (CKR_MECHANISM_INVALID): this TA offers suites 1 and 2")),
        }
    }

    /// Suite 1: ECDH with the client's P-256 point, ML-KEM decapsulation of
    /// its ciphertext, then HKDF-SHA256.
    fn accept_hybrid(&self, hs: &Handshake, client_p256: &[u8], mlkem_ct: &[u8]) -> Result<SealedChannel, String> {
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
        let okm = key_schedule(ChannelSuite::Hybrid, &ikm, &hs.nonce, &transcript).map_err(|e| format!("key derivation failed: {e}"))?;
        SealedChannel::from_okm(ChannelSuite::Hybrid, &okm, false)
    }

    /// Suite 2: ECDH on the SM2 curve between the client's ephemeral point
    /// and the TA's static SM2 channel key, then HKDF-HMAC-SM3.
    fn accept_sm2(&self, hs: &Handshake, client_sm2: &[u8], rest: &[u8]) -> Result<SealedChannel, String> {
        if client_sm2.len() != CHANNEL_SM2_POINT_LEN || !rest.is_empty() {
            return Err(format!(
                "ChannelKeys of suite 2 needs a {CHANNEL_SM2_POINT_LEN}-byte SM2 point and no ML-KEM ciphertext, got {} and {} bytes",
                client_sm2.len(),
                rest.len()
            ));
        }
        let ikm = self.sm2.ecdh(client_sm2).map_err(|e| format!("the client's SM2 point was refused: {e}"))?;
        let transcript = channel_transcript(&hs.report_body, &self.bundle, client_sm2, rest);
        let okm = key_schedule(ChannelSuite::Sm2, &ikm[..], &hs.nonce, &transcript).map_err(|e| format!("key derivation failed: {e}"))?;
        SealedChannel::from_okm(ChannelSuite::Sm2, &okm, false)
    }
}

/// The key schedule of `suite` (docs/channel.md): suite 1 is
/// HKDF-SHA256(ikm, salt = nonce, info = "teehsm channel v1" ||
/// SHA-256(transcript)), 88 bytes; suite 2 is HKDF-HMAC-SM3(ikm, salt =
/// nonce, info = "teehsm channel v1 sm2" || SM3(transcript)), 56 bytes.
/// Either way: c2t key || c2t IV (12) || t2c key || t2c IV (12).
pub fn key_schedule(suite: ChannelSuite, ikm: &[u8], nonce: &[u8; 32], transcript: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let len = 2 * (suite.key_len() + 12);
    match suite {
        ChannelSuite::Hybrid => {
            let mut info = CHANNEL_INFO_LABEL_V1.to_vec();
            info.extend_from_slice(&digest::digest(digest::HashAlg::Sha256, transcript));
            kdf::hkdf_sha256(ikm, nonce, &info, len)
        }
        ChannelSuite::Sm2 => {
            let mut info = CHANNEL_INFO_LABEL_SM2.to_vec();
            info.extend_from_slice(&digest::digest(digest::HashAlg::Sm3, transcript));
            kdf::hkdf_sm3(ikm, nonce, &info, len)
        }
    }
}

/// What the TA remembers between `OpenChannel` and `ChannelKeys`.
pub struct Handshake {
    pub nonce: [u8; 32],
    pub report_body: Vec<u8>,
}

/// One direction's key (32 bytes for AES-256, 16 for SM4), IV base and next sequence number.
struct Direction {
    key: Zeroizing<Vec<u8>>,
    iv: Zeroizing<[u8; 12]>,
    seq: u64,
    dir: u8,
}

/// A connection's sealed channel after the handshake.
pub struct SealedChannel {
    suite: ChannelSuite,
    recv: Direction,
    send: Direction,
}

impl std::fmt::Debug for SealedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedChannel")
            .field("suite", &self.suite)
            .field("recv_seq", &self.recv.seq)
            .field("send_seq", &self.send.seq)
            .finish_non_exhaustive()
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
    /// Splits the key schedule output: client-to-TA key, IV base (12),
    /// TA-to-client key, IV base (12). `client` picks which direction is "send".
    fn from_okm(suite: ChannelSuite, okm: &[u8], client: bool) -> Result<Self, String> {
        let k = suite.key_len();
        if okm.len() != 2 * (k + 12) {
            return Err("key schedule output has the wrong length".into());
        }
        let dir = |at: usize, d: u8| {
            let key = Zeroizing::new(okm[at..at + k].to_vec());
            let mut iv = Zeroizing::new([0u8; 12]);
            iv.copy_from_slice(&okm[at + k..at + k + 12]);
            Direction { key, iv, seq: 0, dir: d }
        };
        let c2t = dir(0, CHANNEL_DIR_CLIENT_TO_TA);
        let t2c = dir(k + 12, CHANNEL_DIR_TA_TO_CLIENT);
        Ok(if client { SealedChannel { suite, recv: t2c, send: c2t } } else { SealedChannel { suite, recv: c2t, send: t2c } })
    }

    /// The suite this channel was opened with.
    pub fn suite(&self) -> ChannelSuite {
        self.suite
    }

    /// Opens the next frame from the peer; any failure is final (the caller closes the connection).
    pub fn open(&mut self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, ChannelError> {
        let suite = self.suite;
        let d = &mut self.recv;
        let seq = d.seq;
        let next = seq.checked_add(1).ok_or(ChannelError::Exhausted)?;
        let (nonce, aad) = (channel_nonce(&d.iv, seq), channel_aad(d.dir, seq));
        let pt = match suite {
            ChannelSuite::Hybrid => {
                let key: &[u8; 32] = d.key[..].try_into().map_err(|_| ChannelError::Open { seq })?;
                aead::aes256gcm_open(key, &nonce, &aad, sealed)
            }
            ChannelSuite::Sm2 => sym::gcm_decrypt(sym::Cipher::Sm4, &d.key, &nonce, &aad, sealed, CHANNEL_TAG_LEN),
        }
        .map_err(|_| ChannelError::Open { seq })?;
        d.seq = next;
        Ok(pt)
    }

    /// Seals the next frame to the peer.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if plaintext.len() + CHANNEL_TAG_LEN > MAX_FRAME_LEN {
            return Err(ChannelError::TooLarge);
        }
        let suite = self.suite;
        let d = &mut self.send;
        let seq = d.seq;
        let next = seq.checked_add(1).ok_or(ChannelError::Exhausted)?;
        let (nonce, aad) = (channel_nonce(&d.iv, seq), channel_aad(d.dir, seq));
        let out = match suite {
            ChannelSuite::Hybrid => {
                let key: &[u8; 32] = d.key[..].try_into().map_err(|_| ChannelError::Open { seq })?;
                aead::aes256gcm_seal(key, &nonce, &aad, plaintext)
            }
            ChannelSuite::Sm2 => sym::gcm_encrypt(sym::Cipher::Sm4, &d.key, &nonce, &aad, plaintext, CHANNEL_TAG_LEN),
        }
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
        let parts = teehsm_wire::split_channel_bundle(a.public_key()).unwrap();
        ec::validate_point(ec::Curve::P256, parts.p256).unwrap();
        assert_eq!(parts.sm2, &a.sm2.public_point()[..]);
        sm2::compute_z(parts.sm2, b"1234567812345678").unwrap();
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
        let parts = teehsm_wire::split_channel_bundle(ta.public_key()).unwrap();
        let client = ec::generate(ec::Curve::P256).unwrap();
        let cp = client.public_point();
        let (ct, kss) = mlkem::encapsulate(mlkem::MlKemParam::MlKem768, parts.mlkem).unwrap();
        let mut ikm = client.ecdh(parts.p256).unwrap().to_vec();
        ikm.extend_from_slice(&kss);
        let mut info = CHANNEL_INFO_LABEL_V1.to_vec();
        info.extend_from_slice(&digest::digest(digest::HashAlg::Sha256, &channel_transcript(b"body", ta.public_key(), &cp, &ct)));
        let okm = kdf::hkdf_sha256(&ikm, &[3; 32], &info, 88).unwrap();
        let mut c = SealedChannel::from_okm(ChannelSuite::Hybrid, &okm, true).unwrap();
        let mut t = ta.accept(&hs, 1, &cp, &ct).unwrap();
        assert_eq!(t.suite(), ChannelSuite::Hybrid);
        let f0 = c.seal(b"hello").unwrap();
        assert_eq!(&t.open(&f0).unwrap()[..], b"hello");
        let r0 = t.seal(b"world").unwrap();
        assert_eq!(&c.open(&r0).unwrap()[..], b"world");
        // Replay of frame 0 as frame 1: refused.
        assert_eq!(t.open(&f0), Err(ChannelError::Open { seq: 1 }));
        let mut t2 = ta.accept(&hs, 1, &cp, &ct).unwrap();
        let mut bad = f0.clone();
        bad[0] ^= 1;
        assert!(t2.open(&bad).is_err());
        // A reflected TA frame does not open as a client frame.
        let mut t3 = ta.accept(&hs, 1, &cp, &ct).unwrap();
        let reflected = t3.seal(b"x").unwrap();
        assert!(t3.open(&reflected).is_err());
        // Wrong sizes are refused with a message.
        assert!(ta.accept(&hs, 1, &cp[..64], &ct).is_err());
        // Unknown suites are refused.
        for s in [0u8, 3, 255] {
            let e = ta.accept(&hs, s, &cp, &ct).unwrap_err();
            assert!(e.contains("unknown channel suite"), "{e}");
        }
    }

    /// Suite 2 with a client built from the TA's SM2 primitives: both
    /// sides derive the same SM4 keys (and the same as an independent
    /// HKDF-SM3 computation); frames are SM4-GCM; a different transcript or
    /// nonce gives other keys; tampering and replay are refused.
    #[test]
    fn sm2_suite_handshake_and_sealing() {
        let ta = ChannelKey::generate().unwrap();
        let hs = Handshake { nonce: [9; 32], report_body: b"report body".to_vec() };
        let parts = teehsm_wire::split_channel_bundle(ta.public_key()).unwrap();
        let client = sm2::generate().unwrap();
        let cp = client.public_point();
        let z = client.ecdh(parts.sm2).unwrap();
        assert_eq!(&z[..], &ta.sm2.ecdh(&cp).unwrap()[..]);
        let transcript = channel_transcript(b"report body", ta.public_key(), &cp, b"");
        let okm = key_schedule(ChannelSuite::Sm2, &z[..], &[9; 32], &transcript).unwrap();
        assert_eq!(okm.len(), 56);
        let mut info = b"teehsm channel v1 sm2".to_vec();
        info.extend_from_slice(&digest::digest(digest::HashAlg::Sm3, &transcript));
        assert_eq!(okm, kdf::hkdf_sm3(&z[..], &[9; 32], &info, 56).unwrap());
        // Another transcript, nonce or suite: other keys.
        let other = channel_transcript(b"report bodY", ta.public_key(), &cp, b"");
        assert_ne!(okm, key_schedule(ChannelSuite::Sm2, &z[..], &[9; 32], &other).unwrap());
        assert_ne!(okm, key_schedule(ChannelSuite::Sm2, &z[..], &[8; 32], &transcript).unwrap());
        assert_ne!(&okm[..], &key_schedule(ChannelSuite::Hybrid, &z[..], &[9; 32], &transcript).unwrap()[..56]);

        let mut c = SealedChannel::from_okm(ChannelSuite::Sm2, &okm, true).unwrap();
        let mut t = ta.accept(&hs, 2, &cp, &[]).unwrap();
        assert_eq!(t.suite(), ChannelSuite::Sm2);
        let f0 = c.seal(b"hello").unwrap();
        assert_eq!(f0.len(), 5 + CHANNEL_TAG_LEN);
        // The frame is SM4-GCM under the c2t key and nonce.
        let direct =
            sym::gcm_encrypt(sym::Cipher::Sm4, &okm[..16], &channel_nonce(okm[16..28].try_into().unwrap(), 0), &channel_aad(1, 0), b"hello", 16)
                .unwrap();
        assert_eq!(f0, direct);
        assert_eq!(&t.open(&f0).unwrap()[..], b"hello");
        let r0 = t.seal(b"world").unwrap();
        assert_eq!(&c.open(&r0).unwrap()[..], b"world");
        assert_eq!(t.open(&f0), Err(ChannelError::Open { seq: 1 }));
        let mut t2 = ta.accept(&hs, 2, &cp, &[]).unwrap();
        let mut bad = f0.clone();
        bad[2] ^= 4;
        assert!(t2.open(&bad).is_err());
        // A handshake with another report body: the client's frame does not open.
        let hs_other = Handshake { nonce: [9; 32], report_body: b"report bodY".to_vec() };
        let mut t3 = ta.accept(&hs_other, 2, &cp, &[]).unwrap();
        assert!(t3.open(&f0).is_err());
        // Wrong shapes and off-curve points are refused.
        assert!(ta.accept(&hs, 2, &cp[..64], &[]).is_err());
        assert!(ta.accept(&hs, 2, &cp, &[0]).is_err());
        let mut off = cp.clone();
        off[64] ^= 1;
        assert!(ta.accept(&hs, 2, &off, &[]).is_err());
        // A P-256 point is not an SM2 point (almost surely off the SM2 curve).
        assert!(ta.accept(&hs, 2, parts.p256, &[]).is_err());
    }

    /// Fixed key schedule outputs and a fixed SM4-GCM frame: the client
    /// crate (teehsm-channel, independent implementations: `hkdf` + `sm3`,
    /// `aes-gcm` over `sm4`, aws-lc HKDF) checks the same values, so both
    /// sides derive the same keys and seal the same frames.
    #[test]
    fn key_schedule_known_answers_shared_with_the_client_crate() {
        let okm = key_schedule(ChannelSuite::Sm2, &[1; 32], &[2; 32], b"transcript").unwrap();
        assert_eq!(hex::encode(&okm[..]), SM2_OKM_KAT);
        let mut c = SealedChannel::from_okm(ChannelSuite::Sm2, &okm, true).unwrap();
        assert_eq!(hex::encode(c.seal(b"hello").unwrap()), SM2_FRAME_KAT);
        let okm1 = key_schedule(ChannelSuite::Hybrid, &[1; 64], &[2; 32], b"transcript").unwrap();
        assert_eq!(hex::encode(&okm1[..]), HYBRID_OKM_KAT);
        assert_ne!(okm, key_schedule(ChannelSuite::Sm2, &[1; 32], &[2; 32], b"transcripT").unwrap());
    }

    const SM2_OKM_KAT: &str = "fbd1193e8ee52be8f8694c8c6b8cca938763555506584063d020f9378330bfffa32850f09e50c8f04c08aafb6ed1c04b4849ff874666e6fa";
    const SM2_FRAME_KAT: &str = "c4f49db6862f784392ffc264c6f91d9871ee9f81d4";
    const HYBRID_OKM_KAT: &str = "990e16b98c1a6b4187face3e0e702c3edc7c22da7ac25ab154ae5c730ce6ac8bd2e8386cfd5acd2b66cc6248eae7f2756b2bb83ed735bb95362ccd56e4adc6d40be6cbfd24552d78815df2d9ad475933075731a1411c7f31";
}
