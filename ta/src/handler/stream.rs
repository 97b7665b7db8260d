//! Multi-part digest, sign and verify (C_*Init / C_*Update / C_*Final).
//!
//! Hash-based mechanisms never hold the message: the TA hashes each part as
//! it arrives (for SM2 with SM3, after the Z value) and signs or verifies the
//! digest at the end; HMAC runs incrementally. Mechanisms that need the whole
//! message (raw ECDSA/RSA, CMAC, ML-DSA) collect it, up to MAX_BUFFERED.
//! The key is checked against the policy when the operation starts, as
//! PKCS#11 specifies; an error at any step ends the operation.

use super::{deny, Conn, Result, Ta};
use crate::keys::LoadedKey;
use crate::mech;
use crate::policy::Usage;
use std::sync::Arc;
use teehsm_crypto::digest::{HashAlg, Hasher};
use teehsm_crypto::mac_stream::HmacStream;
use teehsm_wire::ck::*;
use teehsm_wire::{MechParam, Mechanism, OpKind, Reply, Rv};
use zeroize::Zeroizing;

/// Most bytes collected for a mechanism that needs the whole message.
pub const MAX_BUFFERED: usize = 16 << 20;

/// An operation in progress.
pub struct ActiveOp {
    mech: Mechanism,
    key: Option<(u64, Arc<LoadedKey>)>,
    state: State,
    /// The mechanism signs a caller-computed value (CKM_HASH_ML_DSA): the
    /// whole input comes in one OpSingle; an OpUpdate ends the operation.
    single_part: bool,
}

impl ActiveOp {
    /// The handle of the key the operation uses (none for digests).
    pub fn key_handle(&self) -> Option<u64> {
        self.key.as_ref().map(|(h, _)| *h)
    }
}

enum State {
    /// Hashing the message; `then` says what to do with the digest.
    Hash {
        hasher: Hasher,
        then: Then,
    },
    Hmac(HmacStream),
    Buffer(Zeroizing<Vec<u8>>),
    Cipher(super::cipher_stream::CipherStream),
}

#[derive(Clone, Copy)]
enum Then {
    Output,
    Ecdsa,
    RsaPkcs1(HashAlg),
    RsaPss,
    Sm2,
}

fn op_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Digest => "Digest",
        OpKind::Sign => "Sign",
        OpKind::Verify => "Verify",
        OpKind::Encrypt => "Encrypt",
        OpKind::Decrypt => "Decrypt",
    }
}

fn not_initialized(kind: OpKind) -> super::Denied {
    deny(Rv::OPERATION_NOT_INITIALIZED, format!("no {} operation is active on this session", op_name(kind)))
}

impl Ta {
    /// Ends the operations of the sessions `which` selects (session closed, logout).
    pub(super) fn end_ops(&self, conn: &Conn, which: impl Fn(u64) -> bool) {
        if let Ok(mut ops) = conn.ops.lock() {
            ops.retain(|(session, _), _| !which(*session));
        }
    }

    fn ops(conn: &Conn) -> Result<std::sync::MutexGuard<'_, std::collections::HashMap<(u64, OpKind), ActiveOp>>> {
        conn.ops.lock().map_err(|_| deny(Rv::GENERAL_ERROR, "operation table lock poisoned"))
    }

    pub(super) fn op_init(&self, conn: &Conn, session: u64, kind: OpKind, m: Mechanism, key: u64) -> Result<Reply> {
        self.session(conn, session)?;
        if Self::ops(conn)?.contains_key(&(session, kind)) {
            return Err(deny(Rv::OPERATION_ACTIVE, format!("a {} operation is already active on this session", op_name(kind))));
        }
        let op = match kind {
            OpKind::Digest => {
                let h = mech::hash_of(m.mech)
                    .filter(|_| mech::offered(m.mech, CKF_DIGEST))
                    .ok_or_else(|| deny(Rv::MECHANISM_INVALID, format!("mechanism 0x{:x} is not a digest", m.mech)))?;
                ActiveOp { mech: m, key: None, state: State::Hash { hasher: Hasher::new(h), then: Then::Output }, single_part: false }
            }
            OpKind::Sign | OpKind::Verify => {
                let (usage, flag) = if kind == OpKind::Sign { (Usage::Sign, CKF_SIGN) } else { (Usage::Verify, CKF_VERIFY) };
                if !mech::offered(m.mech, flag) {
                    return Err(deny(Rv::MECHANISM_INVALID, format!("mechanism 0x{:x} is not offered for {}", m.mech, op_name(kind))));
                }
                let (_, k) = self.key_for(conn, session, key, usage, &m, Rv::KEY_HANDLE_INVALID)?;
                let state = self.sign_state(&k, &m)?;
                let single_part = mech::single_part_only(m.mech);
                ActiveOp { mech: m, key: Some((key, k)), state, single_part }
            }
            OpKind::Encrypt | OpKind::Decrypt => {
                let encrypt = kind == OpKind::Encrypt;
                let (usage, flag) = if encrypt { (Usage::Encrypt, CKF_ENCRYPT) } else { (Usage::Decrypt, CKF_DECRYPT) };
                if !mech::offered(m.mech, flag) {
                    return Err(deny(Rv::MECHANISM_INVALID, format!("mechanism 0x{:x} is not offered for {}", m.mech, op_name(kind))));
                }
                let (_, k) = self.key_for(conn, session, key, usage, &m, Rv::KEY_HANDLE_INVALID)?;
                let c = super::cipher_stream::CipherStream::new(m.clone(), k.clone(), encrypt)?;
                ActiveOp { mech: m, key: Some((key, k)), state: State::Cipher(c), single_part: false }
            }
        };
        Self::ops(conn)?.insert((session, kind), op);
        Ok(Reply::Done)
    }

    /// How a sign/verify mechanism consumes the message.
    fn sign_state(&self, k: &LoadedKey, m: &Mechanism) -> Result<State> {
        let hash = |then| Ok(State::Hash { hasher: Hasher::new(mech::hash_of(m.mech).unwrap_or(HashAlg::Sha256)), then });
        match m.mech {
            mech::ECDSA_HASHED!() if matches!(k, LoadedKey::Ec(_) | LoadedKey::EcPublic { .. }) => hash(Then::Ecdsa),
            mech::RSA_PKCS1_HASHED!() if matches!(k, LoadedKey::Rsa(_) | LoadedKey::RsaPublic(_)) => {
                let h = mech::hash_of(m.mech).unwrap_or(HashAlg::Sha256);
                hash(Then::RsaPkcs1(h))
            }
            mech::RSA_PSS_HASHED!() if matches!(k, LoadedKey::Rsa(_) | LoadedKey::RsaPublic(_)) => {
                mech::pss_params(m, mech::hash_of(m.mech))?;
                hash(Then::RsaPss)
            }
            CKM_SM2_SM3 => {
                let point = match k {
                    LoadedKey::Sm2(k) => k.public_point(),
                    LoadedKey::Sm2Public { point } => point.clone(),
                    _ => return Err(deny(Rv::KEY_TYPE_INCONSISTENT, "CKM_SM2_SM3 needs an SM2 key")),
                };
                let z = teehsm_crypto::sm2::compute_z(&point, mech::sm2_user_id(m)?).map_err(crate::keys::crypto_denied)?;
                let mut hasher = Hasher::new(HashAlg::Sm3);
                hasher.update(&z);
                Ok(State::Hash { hasher, then: Then::Sm2 })
            }
            mech::HMAC_MECHS!() => {
                let h = mech::hash_of(m.mech).unwrap_or(HashAlg::Sha256);
                Ok(State::Hmac(HmacStream::new(h, mech::hmac_key(k, m.mech)?).map_err(crate::keys::crypto_denied)?))
            }
            mech if mech::is_mldsa(mech) || mech == CKM_EDDSA => {
                // Parameters are checked when the operation starts.
                mech::check_params(m)?;
                Ok(State::Buffer(Zeroizing::new(Vec::new())))
            }
            _ => Ok(State::Buffer(Zeroizing::new(Vec::new()))),
        }
    }

    pub(super) fn op_update(&self, conn: &Conn, session: u64, kind: OpKind, data: &[u8]) -> Result<Reply> {
        self.op_update_part(conn, session, kind, data, false)
    }

    /// `whole`: `data` is the entire input (OpSingle), which single-part-only mechanisms require.
    fn op_update_part(&self, conn: &Conn, session: u64, kind: OpKind, data: &[u8], whole: bool) -> Result<Reply> {
        self.session(conn, session)?;
        let mut ops = Self::ops(conn)?;
        let op = ops.get_mut(&(session, kind)).ok_or_else(|| not_initialized(kind))?;
        if op.single_part && !whole {
            let mech = op.mech.mech;
            ops.remove(&(session, kind));
            return Err(deny(
                Rv::OPERATION_NOT_INITIALIZED,
                format!("mechanism 0x{mech:x} is single-part only: the operation ended (use C_{} after the init)", op_name(kind)),
            ));
        }
        match &mut op.state {
            State::Hash { hasher, .. } => {
                hasher.update(data);
            }
            State::Hmac(h) => h.update(data),
            State::Cipher(c) => {
                return match c.update(data) {
                    Ok(out) => Ok(Reply::Bytes(out)),
                    Err(e) => {
                        ops.remove(&(session, kind));
                        Err(e)
                    }
                };
            }
            State::Buffer(b) => {
                if b.len() + data.len() > MAX_BUFFERED {
                    ops.remove(&(session, kind));
                    return Err(deny(
                        Rv::DATA_LEN_RANGE,
                        format!("this mechanism needs the whole message and takes at most {MAX_BUFFERED} bytes in parts"),
                    ));
                }
                b.extend_from_slice(data);
            }
        }
        Ok(Reply::Done)
    }

    pub(super) fn op_final(&self, conn: &Conn, session: u64, kind: OpKind, signature: &[u8]) -> Result<Reply> {
        self.session(conn, session)?;
        let op = Self::ops(conn)?.remove(&(session, kind)).ok_or_else(|| not_initialized(kind))?;
        let ActiveOp { mech: m, key, state, .. } = op;
        let Some((handle, k)) = key else {
            return match state {
                State::Hash { hasher, .. } => Ok(Reply::Bytes(hasher.finish())),
                _ => Err(deny(Rv::GENERAL_ERROR, "digest operation without a hash state")),
            };
        };
        let r = match state {
            State::Cipher(c) => c.finish().map(Reply::Bytes),
            state => self.finish_signature(&k, &m, kind, state, signature),
        };
        self.audited(conn, op_name(kind), session, Some(handle), Some(m.mech), r, |_| None)
    }

    /// C_DigestKey: the key's value goes into the active digest, only when
    /// the caller could read that value anyway (rule R10's condition: a
    /// secret key, not sensitive, extractable), so no digest of a protected
    /// key ever leaves the TA.
    pub(super) fn digest_key(&self, conn: &Conn, session: u64, key: u64) -> Result<Reply> {
        let (s, actor) = self.actor(conn, session)?;
        let o = self.object(conn, s, actor, key, Rv::KEY_HANDLE_INVALID)?;
        crate::policy::check_value_readable_for(&o, "C_DigestKey", Rv::KEY_INDIGESTIBLE, Rv::KEY_INDIGESTIBLE)?;
        let value = o.secret.as_ref().ok_or_else(|| deny(Rv::KEY_INDIGESTIBLE, "the key has no value to digest"))?;
        let mut ops = Self::ops(conn)?;
        let op = ops.get_mut(&(session, OpKind::Digest)).ok_or_else(|| not_initialized(OpKind::Digest))?;
        match &mut op.state {
            State::Hash { hasher, .. } => {
                hasher.update(value);
                Ok(Reply::Done)
            }
            _ => Err(deny(Rv::GENERAL_ERROR, "digest operation without a hash state")),
        }
    }

    /// C_Sign / C_Verify / C_Encrypt / C_Decrypt / C_Digest after *Init:
    /// the whole input, then the end, in one request. Cipher output from the
    /// update and the final step is concatenated.
    pub(super) fn op_single(&self, conn: &Conn, session: u64, kind: OpKind, data: &[u8], signature: &[u8]) -> Result<Reply> {
        let head = match self.op_update_part(conn, session, kind, data, true)? {
            Reply::Bytes(b) => b,
            _ => Vec::new(),
        };
        match self.op_final(conn, session, kind, signature)? {
            Reply::Bytes(tail) if !head.is_empty() => {
                let mut out = head;
                out.extend_from_slice(&tail);
                Ok(Reply::Bytes(out))
            }
            r => Ok(r),
        }
    }

    fn finish_signature(&self, k: &LoadedKey, m: &Mechanism, kind: OpKind, state: State, signature: &[u8]) -> Result<Reply> {
        // The one-shot mechanism that finishes the job, and its input.
        let (mechanism, input): (Mechanism, Zeroizing<Vec<u8>>) = match state {
            State::Buffer(b) => (m.clone(), b),
            State::Cipher(_) => return Err(deny(Rv::GENERAL_ERROR, "cipher state in a signature operation")),
            State::Hmac(h) => {
                let tag = h.finish();
                return match kind {
                    OpKind::Sign => Ok(Reply::Bytes(tag)),
                    _ if signature.len() != tag.len() => Err(deny(Rv::SIGNATURE_LEN_RANGE, "MAC length out of range")),
                    _ if teehsm_crypto::kdf::ct_eq(&tag, signature) => Ok(Reply::Done),
                    _ => Err(deny(Rv::SIGNATURE_INVALID, "MAC does not match")),
                };
            }
            State::Hash { hasher, then } => {
                let digest = hasher.finish();
                match then {
                    Then::Output => return Ok(Reply::Bytes(digest)),
                    Then::Ecdsa => (Mechanism::new(CKM_ECDSA), Zeroizing::new(digest)),
                    Then::Sm2 => (Mechanism::new(CKM_SM2), Zeroizing::new(digest)),
                    Then::RsaPss => (Mechanism::with(CKM_RSA_PKCS_PSS, m.param.clone()), Zeroizing::new(digest)),
                    Then::RsaPkcs1(h) => {
                        let di = teehsm_crypto::rsa::digest_info(h, &digest).map_err(crate::keys::crypto_denied)?;
                        (Mechanism::with(CKM_RSA_PKCS, MechParam::None), Zeroizing::new(di))
                    }
                }
            }
        };
        match kind {
            OpKind::Sign => mech::sign(k, &mechanism, &input).map(Reply::Bytes),
            _ => mech::verify(k, &mechanism, &input, signature).map(|_| Reply::Done),
        }
    }
}
