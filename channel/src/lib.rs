//! Client side of the teehsm attested end-to-end channel (DESIGN invariant
//! 8; suites "P256+MLKEM768/AES-256-GCM" and "SM2/SM3/SM4-GCM", protocol in
//! docs/channel.md).
//!
//! [`SecureClient::connect`] opens a connection (to the CA service, which
//! relays or hands it to the TA), asks for a fresh attestation report with
//! `OpenChannel { nonce }`, verifies it with `teehsm-attest` (trust anchor
//! and policy; the report binds the nonce and the TA's channel key bundle),
//! then runs the hybrid key exchange: an ephemeral P-256 ECDH with the TA's
//! P-256 key and an ML-KEM-768 encapsulation to its ML-KEM key, sent as
//! `ChannelKeys`. Both sides derive the keys with HKDF-SHA256 over the
//! transcript. From then on every frame in both directions is sealed with
//! AES-256-GCM under per-direction keys and sequence numbers, so the CA
//! service and the host see only lengths and ciphertext: not PINs, not
//! imported key material, not the application ticket.
//!
//! [`SecureClient::connect_with_suite`] with [`Suite::Sm2`] uses only
//! Chinese national algorithms for the channel itself: ephemeral-static
//! ECDH on the SM2 curve with the TA's attested static SM2 key (not the
//! GB/T 32918.3 key exchange protocol), HKDF-HMAC-SM3 and SM4-GCM. (The
//! attestation report's own binding of the bundle remains SHA-256.)
//!
//! The API mirrors [`teehsm_wire::client::Client`]: `call(&Request) ->
//! Result<Reply, CallError>`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::hkdf;
use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_768};
use sm2::elliptic_curve::point::AffineCoordinates;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use teehsm_attest::{Policy, Refused, TrustAnchor, Verified};
use teehsm_wire::client::CallError;
use teehsm_wire::frame::{read_reply_frame, write_frame};
use teehsm_wire::spin::{default_budget, SpinReader, SpinState};
use teehsm_wire::*;
use thiserror::Error;
use zeroize::Zeroizing;

/// The channel suites ([`SecureClient::connect_with_suite`]).
pub use teehsm_wire::ChannelSuite as Suite;

/// What a client trusts: the key that signs reports and the policy a report must meet.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub anchor: TrustAnchor,
    pub policy: Policy,
}

impl Verifier {
    pub fn new(anchor: TrustAnchor, policy: Policy) -> Self {
        Verifier { anchor, policy }
    }
}

/// Why a channel could not be opened.
#[derive(Debug, Error)]
pub enum ChannelError {
    /// Connecting or talking to the TA failed, or it answered with an error.
    #[error("channel handshake: {0}")]
    Call(#[from] CallError),
    /// The TA's attestation report was refused (wrong TA, stale report, swapped channel key...).
    #[error("attestation report REFUSED: {0}")]
    Refused(#[from] Refused),
    /// The handshake could not be completed (malformed bundle, crypto failure).
    #[error("channel handshake failed: {0}")]
    Handshake(String),
}

/// One direction of the channel: suite, key, IV base, next sequence number.
struct Direction {
    suite: Suite,
    /// 32 bytes (AES-256) or 16 (SM4).
    key: Zeroizing<Vec<u8>>,
    iv: Zeroizing<[u8; 12]>,
    seq: u64,
    dir: u8,
}

/// SM4-GCM with a 96-bit nonce (the generic GCM of the `aes-gcm` crate over `sm4`).
type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, aes_gcm::aead::consts::U12>;

impl Direction {
    fn aes(&self) -> Result<LessSafeKey, CallError> {
        UnboundKey::new(&AES_256_GCM, &self.key[..]).map(LessSafeKey::new).map_err(|_| CallError::UnexpectedReply("channel key"))
    }

    fn sm4(&self) -> Result<(Sm4Gcm, aes_gcm::aead::array::Array<u8, aes_gcm::aead::consts::U12>), CallError> {
        use aes_gcm::KeyInit;
        let g = Sm4Gcm::new_from_slice(&self.key[..]).map_err(|_| CallError::UnexpectedReply("channel key"))?;
        let n = aes_gcm::aead::array::Array::from(channel_nonce(&self.iv, self.seq));
        Ok((g, n))
    }

    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CallError> {
        let seq = self.seq;
        let next = seq.checked_add(1).ok_or(CallError::UnexpectedReply("channel sequence numbers exhausted"))?;
        let aad = channel_aad(self.dir, seq);
        let mut buf = plaintext.to_vec();
        match self.suite {
            Suite::Hybrid => self
                .aes()?
                .seal_in_place_append_tag(Nonce::assume_unique_for_key(channel_nonce(&self.iv, seq)), Aad::from(aad), &mut buf)
                .map_err(|_| CallError::UnexpectedReply("channel seal"))?,
            Suite::Sm2 => {
                use aes_gcm::AeadInOut;
                let (g, n) = self.sm4()?;
                g.encrypt_in_place(&n, &aad, &mut buf).map_err(|_| CallError::UnexpectedReply("channel seal"))?
            }
        }
        self.seq = next;
        Ok(buf)
    }

    fn open(&mut self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CallError> {
        const BAD: CallError = CallError::UnexpectedReply("a sealed reply that does not open (tampered or out of order)");
        let seq = self.seq;
        let next = seq.checked_add(1).ok_or(CallError::UnexpectedReply("channel sequence numbers exhausted"))?;
        let aad = channel_aad(self.dir, seq);
        let mut buf = Zeroizing::new(sealed.to_vec());
        match self.suite {
            Suite::Hybrid => {
                let n = self
                    .aes()?
                    .open_in_place(Nonce::assume_unique_for_key(channel_nonce(&self.iv, seq)), Aad::from(aad), &mut buf)
                    .map_err(|_| BAD)?
                    .len();
                buf.truncate(n);
            }
            Suite::Sm2 => {
                use aes_gcm::AeadInOut;
                let (g, n) = self.sm4()?;
                g.decrypt_in_place(&n, &aad, &mut *buf).map_err(|_| BAD)?;
            }
        }
        self.seq = next;
        Ok(buf)
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The key schedule of `suite` (docs/channel.md). Suite 1: HKDF-SHA256(IKM
/// = ecdh || mlkem, salt = nonce, info = "teehsm channel v1" ||
/// SHA-256(transcript)), 88 bytes. Suite 2: HKDF-HMAC-SM3(IKM = SM2 ecdh,
/// salt = nonce, info = "teehsm channel v1 sm2" || SM3(transcript)), 56
/// bytes. Output: c2t key, c2t IV (12), t2c key, t2c IV (12).
fn key_schedule(suite: Suite, ikm: &[u8], nonce: &[u8; 32], transcript: &[u8]) -> Result<(Direction, Direction), ChannelError> {
    let k = suite.key_len();
    let len = 2 * (k + 12);
    let mut out = Zeroizing::new(vec![0u8; len]);
    match suite {
        Suite::Hybrid => {
            let th = digest::digest(&digest::SHA256, transcript);
            let info = [CHANNEL_INFO_LABEL_V1, th.as_ref()];
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, nonce).extract(ikm);
            let okm = prk.expand(&info, Len(len)).map_err(|_| ChannelError::Handshake("HKDF expand".into()))?;
            okm.fill(&mut out[..]).map_err(|_| ChannelError::Handshake("HKDF fill".into()))?;
        }
        Suite::Sm2 => {
            use sm3::Digest;
            let mut info = CHANNEL_INFO_LABEL_SM2.to_vec();
            info.extend_from_slice(&sm3::Sm3::digest(transcript));
            ::hkdf::Hkdf::<sm3::Sm3>::new(Some(nonce), ikm)
                .expand(&info, &mut out[..])
                .map_err(|_| ChannelError::Handshake("HKDF-SM3 expand".into()))?;
        }
    }
    let dir = |at: usize, d: u8| {
        let key = Zeroizing::new(out[at..at + k].to_vec());
        let mut iv = Zeroizing::new([0u8; 12]);
        iv.copy_from_slice(&out[at + k..at + k + 12]);
        Direction { suite, key, iv, seq: 0, dir: d }
    };
    Ok((dir(0, CHANNEL_DIR_CLIENT_TO_TA), dir(k + 12, CHANNEL_DIR_TA_TO_CLIENT)))
}

/// The client's half of a key agreement: what `ChannelKeys` carries and the IKM.
struct Agreement {
    /// The client's ephemeral point (P-256 for suite 1, SM2 for suite 2).
    client_point: Vec<u8>,
    /// The ML-KEM-768 ciphertext (suite 1; empty for suite 2).
    mlkem_ct: Vec<u8>,
    ikm: Zeroizing<Vec<u8>>,
}

/// Suite 1's client messages and IKM: an ephemeral P-256 ECDH with the TA's
/// P-256 key and an ML-KEM-768 encapsulation to its ML-KEM key.
fn hybrid_agreement(ta_p256: &[u8], ta_mlkem: &[u8]) -> Result<Agreement, ChannelError> {
    let mine = agreement::PrivateKey::generate(&agreement::ECDH_P256).map_err(|_| ChannelError::Handshake("P-256 key generation".into()))?;
    let client_p256 = mine.compute_public_key().map_err(|_| ChannelError::Handshake("P-256 public key".into()))?.as_ref().to_vec();
    let ecdh = agreement::agree(
        &mine,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ta_p256),
        ChannelError::Handshake("the TA's P-256 channel key is not a valid point".into()),
        |z| Ok(Zeroizing::new(z.to_vec())),
    )?;
    let ek = EncapsulationKey::new(&ML_KEM_768, ta_mlkem).map_err(|_| ChannelError::Handshake("the TA's ML-KEM-768 key is invalid".into()))?;
    let (ct, kem) = ek.encapsulate().map_err(|_| ChannelError::Handshake("ML-KEM-768 encapsulation failed".into()))?;
    let mlkem_ct = ct.as_ref().to_vec();
    let mut ikm = Zeroizing::new(Vec::with_capacity(64));
    ikm.extend_from_slice(&ecdh);
    ikm.extend_from_slice(kem.as_ref());
    Ok(Agreement { client_point: client_p256, mlkem_ct, ikm })
}

/// Suite 2's client message and IKM: an ephemeral SM2 key pair; IKM = x
/// coordinate of e * P_TA (ephemeral-static ECDH on the SM2 curve).
fn sm2_agreement(ta_sm2: &[u8]) -> Result<Agreement, ChannelError> {
    if ta_sm2.len() != CHANNEL_SM2_POINT_LEN || ta_sm2.first() != Some(&4) {
        return Err(ChannelError::Handshake("the TA's SM2 channel key is not an uncompressed point".into()));
    }
    let ta = sm2::PublicKey::from_sec1_bytes(ta_sm2).map_err(|_| ChannelError::Handshake("the TA's SM2 channel key is not on the curve".into()))?;
    let mut secret = None;
    for _ in 0..8 {
        let mut d = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(&mut d[..]).map_err(|_| ChannelError::Handshake("RNG failure".into()))?;
        if let Ok(k) = sm2::SecretKey::from_slice(&d[..]) {
            secret = Some(k);
            break;
        }
    }
    let secret = secret.ok_or_else(|| ChannelError::Handshake("could not draw an SM2 key".into()))?;
    let client_sm2 = secret.public_key().to_sec1_bytes().to_vec();
    if client_sm2.len() != CHANNEL_SM2_POINT_LEN {
        return Err(ChannelError::Handshake("SM2 public key encoding".into()));
    }
    let e = Zeroizing::new(secret.to_nonzero_scalar());
    let shared = Zeroizing::new((ta.to_projective() * *e.as_ref()).to_affine());
    if bool::from(shared.is_identity()) {
        return Err(ChannelError::Handshake("SM2 ECDH gave the point at infinity".into()));
    }
    let x = Zeroizing::new(shared.x());
    let ikm = Zeroizing::new(x.to_vec());
    Ok(Agreement { client_point: client_sm2, mlkem_ct: Vec::new(), ikm })
}

/// A connection to the TA over the attested channel.
pub struct SecureClient {
    stream: UnixStream,
    next_id: u32,
    buf: Vec<u8>,
    spin: SpinState,
    send: Direction,
    recv: Direction,
    app_ticket: Zeroizing<Vec<u8>>,
    verified: Verified,
}

impl std::fmt::Debug for SecureClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureClient").field("send_seq", &self.send.seq).field("recv_seq", &self.recv.seq).finish_non_exhaustive()
    }
}

/// One plain request/reply during the handshake.
fn plain_call(stream: &UnixStream, spin: &mut SpinState, buf: &mut Vec<u8>, id: u32, req: &Request) -> Result<Reply, CallError> {
    let mut w = stream;
    write_frame(&mut w, &encode_request(id, req))?;
    if !read_reply_frame(&mut SpinReader::new(stream, default_budget(), spin), buf)? {
        return Err(CallError::Closed);
    }
    let (got, resp) = decode_response(buf)?;
    if got != id {
        return Err(CallError::Mismatch { want: id, got });
    }
    match resp {
        Response::Ok(r) => Ok(r),
        Response::Err { rv, message } => Err(CallError::Status { rv, message }),
    }
}

impl SecureClient {
    /// Connects, opens the attested channel with suite 1
    /// ("P256+MLKEM768/AES-256-GCM"; refusing a report that `verifier` does
    /// not accept), then sends Hello through it: a new application.
    pub fn connect(path: impl AsRef<Path>, client_name: &str, verifier: &Verifier) -> Result<Self, ChannelError> {
        Self::connect_with_suite(path, client_name, verifier, Suite::Hybrid)
    }

    /// As [`SecureClient::connect`] with the channel suite `suite`
    /// (e.g. [`Suite::Sm2`] for GM-only deployments).
    pub fn connect_with_suite(path: impl AsRef<Path>, client_name: &str, verifier: &Verifier, suite: Suite) -> Result<Self, ChannelError> {
        let p = path.as_ref();
        let stream = UnixStream::connect(p).map_err(|e| CallError::Connect(p.display().to_string(), e))?;
        Self::over_with_suite(stream, client_name, verifier, suite)
    }

    /// As [`SecureClient::connect`], over an already connected stream.
    pub fn over(stream: UnixStream, client_name: &str, verifier: &Verifier) -> Result<Self, ChannelError> {
        Self::over_with_suite(stream, client_name, verifier, Suite::Hybrid)
    }

    /// As [`SecureClient::connect_with_suite`], over an already connected stream.
    pub fn over_with_suite(stream: UnixStream, client_name: &str, verifier: &Verifier, suite: Suite) -> Result<Self, ChannelError> {
        let mut spin = SpinState::default();
        let mut buf = Vec::new();
        let mut nonce = [0u8; ATTESTATION_NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ChannelError::Handshake("RNG failure".into()))?;
        let report = match plain_call(&stream, &mut spin, &mut buf, 1, &Request::OpenChannel { nonce })? {
            Reply::Attestation(r) => r,
            _ => return Err(CallError::UnexpectedReply("OpenChannel").into()),
        };
        let verified = teehsm_attest::verify(&report, &nonce, &verifier.anchor, &verifier.policy)?;
        let parts = split_channel_bundle(&verified.channel_public_key).ok_or_else(|| {
            ChannelError::Handshake(format!(
                "the TA's channel key bundle is {} bytes, not {CHANNEL_BUNDLE_LEN} (P-256 || ML-KEM-768 || SM2)",
                verified.channel_public_key.len()
            ))
        })?;
        let Agreement { client_point: client_p256, mlkem_ct, ikm } = match suite {
            Suite::Hybrid => hybrid_agreement(parts.p256, parts.mlkem)?,
            Suite::Sm2 => sm2_agreement(parts.sm2)?,
        };
        let transcript = channel_transcript(&report.body, &verified.channel_public_key, &client_p256, &mlkem_ct);
        let (send, recv) = key_schedule(suite, &ikm, &nonce, &transcript)?;
        drop(ikm);
        match plain_call(&stream, &mut spin, &mut buf, 2, &Request::ChannelKeys { suite: suite.id(), client_p256, mlkem_ct })? {
            Reply::Done => {}
            _ => return Err(CallError::UnexpectedReply("ChannelKeys").into()),
        }
        let mut c = SecureClient { stream, next_id: 3, buf, spin, send, recv, app_ticket: Zeroizing::new(Vec::new()), verified };
        match c.call(&Request::Hello { client: client_name.to_string(), channel: ChannelMode::Secure })? {
            Reply::Hello { app_ticket, .. } => c.app_ticket = Zeroizing::new(app_ticket),
            _ => return Err(CallError::UnexpectedReply("Hello").into()),
        }
        Ok(c)
    }

    /// As [`SecureClient::connect`], then joins the application that
    /// `ticket` names (another channel's [`SecureClient::app_ticket`]).
    pub fn connect_joining(path: impl AsRef<Path>, client_name: &str, verifier: &Verifier, ticket: &[u8]) -> Result<Self, ChannelError> {
        let mut c = Self::connect(path, client_name, verifier)?;
        c.call_done(&Request::JoinApp { ticket: Secret(ticket.to_vec()) })?;
        c.app_ticket = Zeroizing::new(ticket.to_vec());
        Ok(c)
    }

    /// The channel suite this connection uses.
    pub fn suite(&self) -> Suite {
        self.send.suite
    }

    /// What the verified report said about the TA.
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    /// The ticket that names this connection's application (a bearer secret).
    pub fn app_ticket(&self) -> &[u8] {
        &self.app_ticket
    }

    /// Read/write timeouts on the underlying socket (none by default).
    pub fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_read_timeout(t)?;
        self.stream.set_write_timeout(t)
    }

    /// Sends a request sealed and waits for its sealed reply; error statuses become `CallError::Status`.
    pub fn call(&mut self, req: &Request) -> Result<Reply, CallError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let plain = Zeroizing::new(encode_request(id, req));
        let sealed = self.send.seal(&plain)?;
        drop(plain);
        write_frame(&mut &self.stream, &sealed)?;
        if !read_reply_frame(&mut SpinReader::new(&self.stream, default_budget(), &mut self.spin), &mut self.buf)? {
            return Err(CallError::Closed);
        }
        let plain = self.recv.open(&self.buf)?;
        let (got, resp) = decode_response(&plain)?;
        if got != id {
            return Err(CallError::Mismatch { want: id, got });
        }
        match resp {
            Response::Ok(r) => Ok(r),
            Response::Err { rv, message } => Err(CallError::Status { rv, message }),
        }
    }

    /// For tests of the TA's refusals: seals `req` as the next frame
    /// (consuming a sequence number) without sending it.
    pub fn seal_request(&mut self, req: &Request) -> Result<Vec<u8>, CallError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.send.seal(&Zeroizing::new(encode_request(id, req)))
    }

    /// For tests: sends `payload` as one frame as it is and returns the raw
    /// reply frame (`CallError::Closed` when the TA closed the connection).
    pub fn send_raw(&mut self, payload: &[u8]) -> Result<Vec<u8>, CallError> {
        write_frame(&mut &self.stream, payload)?;
        if !read_reply_frame(&mut SpinReader::new(&self.stream, default_budget(), &mut self.spin), &mut self.buf)? {
            return Err(CallError::Closed);
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// For tests: opens a raw reply frame from [`SecureClient::send_raw`]
    /// as the next TA-to-client frame and decodes it.
    pub fn open_raw(&mut self, sealed: &[u8]) -> Result<Response, CallError> {
        let plain = self.recv.open(sealed)?;
        Ok(decode_response(&plain)?.1)
    }
}

impl Calls for SecureClient {
    fn call(&mut self, req: &Request) -> Result<Reply, CallError> {
        SecureClient::call(self, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The same known answers as ta/src/channel.rs
    // (key_schedule_known_answers_shared_with_the_client_crate): the TA's
    // HKDF-HMAC-SM3 is its own code, ours is the `hkdf` crate.
    const SM2_OKM_KAT: &str = "fbd1193e8ee52be8f8694c8c6b8cca938763555506584063d020f9378330bfffa32850f09e50c8f04c08aafb6ed1c04b4849ff874666e6fa";
    const SM2_FRAME_KAT: &str = "c4f49db6862f784392ffc264c6f91d9871ee9f81d4";
    const HYBRID_OKM_KAT: &str = "990e16b98c1a6b4187face3e0e702c3edc7c22da7ac25ab154ae5c730ce6ac8bd2e8386cfd5acd2b66cc6248eae7f2756b2bb83ed735bb95362ccd56e4adc6d40be6cbfd24552d78815df2d9ad475933075731a1411c7f31";

    fn okm_of(send: &Direction, recv: &Direction) -> String {
        let mut v = send.key.to_vec();
        v.extend_from_slice(&send.iv[..]);
        v.extend_from_slice(&recv.key);
        v.extend_from_slice(&recv.iv[..]);
        hex::encode(v)
    }

    #[test]
    fn key_schedules_match_the_tas_known_answers() {
        let (mut send, recv) = key_schedule(Suite::Sm2, &[1; 32], &[2; 32], b"transcript").unwrap();
        assert_eq!((send.key.len(), send.dir, recv.dir), (16, CHANNEL_DIR_CLIENT_TO_TA, CHANNEL_DIR_TA_TO_CLIENT));
        assert_eq!(okm_of(&send, &recv), SM2_OKM_KAT);
        assert_eq!(hex::encode(send.seal(b"hello").unwrap()), SM2_FRAME_KAT);
        let (send, recv) = key_schedule(Suite::Hybrid, &[1; 64], &[2; 32], b"transcript").unwrap();
        assert_eq!(send.key.len(), 32);
        assert_eq!(okm_of(&send, &recv), HYBRID_OKM_KAT);
        // Another transcript, nonce or IKM: other keys.
        let (s2, r2) = key_schedule(Suite::Sm2, &[1; 32], &[2; 32], b"transcripT").unwrap();
        assert_ne!(okm_of(&s2, &r2), SM2_OKM_KAT);
        let (s2, r2) = key_schedule(Suite::Sm2, &[1; 32], &[3; 32], b"transcript").unwrap();
        assert_ne!(okm_of(&s2, &r2), SM2_OKM_KAT);
        let (s2, r2) = key_schedule(Suite::Sm2, &[0; 32], &[2; 32], b"transcript").unwrap();
        assert_ne!(okm_of(&s2, &r2), SM2_OKM_KAT);
    }

    /// SM4-GCM frames: a peer with the mirrored keys opens them in order;
    /// tampered, replayed and reflected frames do not open.
    #[test]
    fn sm4_gcm_frames_round_trip_and_refuse_tamper_and_replay() {
        let (mut c_send, mut c_recv) = key_schedule(Suite::Sm2, &[7; 32], &[8; 32], b"t").unwrap();
        let (mut t_recv, mut t_send) = key_schedule(Suite::Sm2, &[7; 32], &[8; 32], b"t").unwrap();
        for i in 0..3u8 {
            let f = c_send.seal(&[i; 40]).unwrap();
            assert_eq!(f.len(), 40 + CHANNEL_TAG_LEN);
            assert_eq!(&t_recv.open(&f).unwrap()[..], &[i; 40]);
            let r = t_send.seal(b"reply").unwrap();
            assert_eq!(&c_recv.open(&r).unwrap()[..], b"reply");
        }
        let f = c_send.seal(b"x").unwrap();
        let mut bad = f.clone();
        bad[0] ^= 1;
        assert!(t_recv.clone_for_test().open(&bad).is_err());
        assert!(t_recv.clone_for_test().open(&f[..f.len() - 1]).is_err());
        assert_eq!(&t_recv.open(&f).unwrap()[..], b"x");
        // Replayed.
        assert!(t_recv.open(&f).is_err());
        // Reflected: a client-to-TA frame presented as a TA-to-client one.
        let f = c_send.seal(b"y").unwrap();
        assert!(c_recv.open(&f).is_err());
    }

    impl Direction {
        fn clone_for_test(&self) -> Direction {
            Direction { suite: self.suite, key: self.key.clone(), iv: self.iv.clone(), seq: self.seq, dir: self.dir }
        }
    }

    /// The client's SM2 ECDH agrees with the peer's computation and refuses bad TA points.
    #[test]
    fn sm2_agreement_matches_the_peer_and_refuses_bad_points() {
        let ta = sm2::SecretKey::from_slice(&[0x42; 32]).unwrap();
        let ta_pub = ta.public_key().to_sec1_bytes().to_vec();
        let Agreement { client_point: client_pub, mlkem_ct, ikm } = sm2_agreement(&ta_pub).unwrap();
        assert!(mlkem_ct.is_empty());
        let cp = sm2::PublicKey::from_sec1_bytes(&client_pub).unwrap();
        let peer = (cp.to_projective() * *ta.to_nonzero_scalar().as_ref()).to_affine().x().to_vec();
        assert_eq!(&ikm[..], &peer[..]);
        let mut off = ta_pub.clone();
        off[64] ^= 1;
        assert!(sm2_agreement(&off).is_err());
        assert!(sm2_agreement(&ta_pub[..64]).is_err());
        // Fresh ephemeral keys each time.
        assert_ne!(sm2_agreement(&ta_pub).unwrap().client_point, client_pub);
    }
}
