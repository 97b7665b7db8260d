//! Client side of the teehsm attested end-to-end channel (DESIGN invariant
//! 8; suite "P256+MLKEM768/AES-256-GCM", protocol in docs/channel.md).
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
//! The API mirrors [`teehsm_wire::client::Client`]: `call(&Request) ->
//! Result<Reply, CallError>`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::hkdf;
use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_768};
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

/// One direction of the channel: key, IV base, next sequence number.
struct Direction {
    key: Zeroizing<[u8; 32]>,
    iv: Zeroizing<[u8; 12]>,
    seq: u64,
    dir: u8,
}

impl Direction {
    fn aead(&self) -> Result<LessSafeKey, CallError> {
        UnboundKey::new(&AES_256_GCM, &self.key[..]).map(LessSafeKey::new).map_err(|_| CallError::UnexpectedReply("channel key"))
    }

    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CallError> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(CallError::UnexpectedReply("channel sequence numbers exhausted"))?;
        let mut buf = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(channel_nonce(&self.iv, seq)), Aad::from(channel_aad(self.dir, seq)), &mut buf)
            .map_err(|_| CallError::UnexpectedReply("channel seal"))?;
        Ok(buf)
    }

    fn open(&mut self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CallError> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(CallError::UnexpectedReply("channel sequence numbers exhausted"))?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let n = self
            .aead()?
            .open_in_place(Nonce::assume_unique_for_key(channel_nonce(&self.iv, seq)), Aad::from(channel_aad(self.dir, seq)), &mut buf)
            .map_err(|_| CallError::UnexpectedReply("a sealed reply that does not open (tampered or out of order)"))?
            .len();
        buf.truncate(n);
        Ok(buf)
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The version 1 key schedule: HKDF-SHA256(IKM = ecdh || mlkem, salt =
/// nonce, info = label || SHA-256(transcript)) -> c2t key, c2t IV, t2c key, t2c IV.
fn key_schedule(ikm: &[u8], nonce: &[u8; 32], transcript: &[u8]) -> Result<(Direction, Direction), ChannelError> {
    let th = digest::digest(&digest::SHA256, transcript);
    let info = [CHANNEL_INFO_LABEL_V1, th.as_ref()];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, nonce).extract(ikm);
    let okm = prk.expand(&info, Len(88)).map_err(|_| ChannelError::Handshake("HKDF expand".into()))?;
    let mut out = Zeroizing::new([0u8; 88]);
    okm.fill(&mut out[..]).map_err(|_| ChannelError::Handshake("HKDF fill".into()))?;
    let dir = |at: usize, d: u8| {
        let mut key = Zeroizing::new([0u8; 32]);
        let mut iv = Zeroizing::new([0u8; 12]);
        key.copy_from_slice(&out[at..at + 32]);
        iv.copy_from_slice(&out[at + 32..at + 44]);
        Direction { key, iv, seq: 0, dir: d }
    };
    Ok((dir(0, CHANNEL_DIR_CLIENT_TO_TA), dir(44, CHANNEL_DIR_TA_TO_CLIENT)))
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
    /// Connects, opens the attested channel (refusing a report that
    /// `verifier` does not accept), then sends Hello through it: a new application.
    pub fn connect(path: impl AsRef<Path>, client_name: &str, verifier: &Verifier) -> Result<Self, ChannelError> {
        let p = path.as_ref();
        let stream = UnixStream::connect(p).map_err(|e| CallError::Connect(p.display().to_string(), e))?;
        Self::over(stream, client_name, verifier)
    }

    /// As [`SecureClient::connect`], over an already connected stream.
    pub fn over(stream: UnixStream, client_name: &str, verifier: &Verifier) -> Result<Self, ChannelError> {
        let mut spin = SpinState::default();
        let mut buf = Vec::new();
        let mut nonce = [0u8; ATTESTATION_NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ChannelError::Handshake("RNG failure".into()))?;
        let report = match plain_call(&stream, &mut spin, &mut buf, 1, &Request::OpenChannel { nonce })? {
            Reply::Attestation(r) => r,
            _ => return Err(CallError::UnexpectedReply("OpenChannel").into()),
        };
        let verified = teehsm_attest::verify(&report, &nonce, &verifier.anchor, &verifier.policy)?;
        let (ta_p256, ta_mlkem) = split_channel_bundle(&verified.channel_public_key).ok_or_else(|| {
            ChannelError::Handshake(format!(
                "the TA's channel key bundle is {} bytes, not {CHANNEL_BUNDLE_LEN} (suite {CHANNEL_SUITE_V1})",
                verified.channel_public_key.len()
            ))
        })?;
        // ECDH with an ephemeral P-256 key.
        let mine = agreement::PrivateKey::generate(&agreement::ECDH_P256).map_err(|_| ChannelError::Handshake("P-256 key generation".into()))?;
        let client_p256 = mine.compute_public_key().map_err(|_| ChannelError::Handshake("P-256 public key".into()))?.as_ref().to_vec();
        let ecdh = agreement::agree(
            &mine,
            agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ta_p256),
            ChannelError::Handshake("the TA's P-256 channel key is not a valid point".into()),
            |z| Ok(Zeroizing::new(z.to_vec())),
        )?;
        // ML-KEM-768 encapsulation.
        let ek = EncapsulationKey::new(&ML_KEM_768, ta_mlkem).map_err(|_| ChannelError::Handshake("the TA's ML-KEM-768 key is invalid".into()))?;
        let (ct, kem) = ek.encapsulate().map_err(|_| ChannelError::Handshake("ML-KEM-768 encapsulation failed".into()))?;
        let mlkem_ct = ct.as_ref().to_vec();
        let mut ikm = Zeroizing::new(Vec::with_capacity(64));
        ikm.extend_from_slice(&ecdh);
        ikm.extend_from_slice(kem.as_ref());
        drop(kem);
        let transcript = channel_transcript(&report.body, &verified.channel_public_key, &client_p256, &mlkem_ct);
        let (send, recv) = key_schedule(&ikm, &nonce, &transcript)?;
        drop(ikm);
        match plain_call(&stream, &mut spin, &mut buf, 2, &Request::ChannelKeys { client_p256, mlkem_ct })? {
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

    pub fn call_handle(&mut self, req: &Request) -> Result<u64, CallError> {
        match self.call(req)? {
            Reply::Handle(h) => Ok(h),
            _ => Err(CallError::UnexpectedReply(req.name())),
        }
    }

    pub fn call_bytes(&mut self, req: &Request) -> Result<Vec<u8>, CallError> {
        match self.call(req)? {
            Reply::Bytes(b) => Ok(b),
            _ => Err(CallError::UnexpectedReply(req.name())),
        }
    }

    pub fn call_done(&mut self, req: &Request) -> Result<(), CallError> {
        match self.call(req)? {
            Reply::Done => Ok(()),
            _ => Err(CallError::UnexpectedReply(req.name())),
        }
    }

    /// Opens a session on `slot`, read-write if `rw`.
    pub fn open_session(&mut self, slot: u64, rw: bool) -> Result<u64, CallError> {
        let flags = ck::CKF_SERIAL_SESSION | if rw { ck::CKF_RW_SESSION } else { 0 };
        self.call_handle(&Request::OpenSession { slot, flags })
    }

    pub fn login(&mut self, session: u64, user_type: u64, pin: &[u8]) -> Result<(), CallError> {
        self.call_done(&Request::Login { session, user_type, pin: Secret(pin.to_vec()) })
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
