//! Token policies pushed by a fleet console (docs/key-distribution.md,
//! "Token policy"): the console's signed limit on how many objects a token
//! may hold and its algorithm rules ([`super::crypto_rules`]), applied only if its signer is trusted on the token (the same
//! trust as key distribution), it names this TA process and the session's
//! slot, is within its validity period, and is newer than the policy in
//! force. The policy is a sealed internal record, gone with the token on
//! C_InitToken.

use super::super::{deny, store_err, Conn, Result, Ta};
use super::crypto_rules::CryptoRules;
use crate::audit::now_ms;
use crate::object::{
    Object, CKA_TEEHSM_POLICY_MAX_OBJECTS, CKA_TEEHSM_POLICY_MIN_RSA_BITS, CKA_TEEHSM_POLICY_RULES, CKA_TEEHSM_POLICY_VERSION,
    CKO_TEEHSM_TOKEN_POLICY,
};
use crate::policy::Role;
use crate::store::Op;
use std::sync::Arc;
use teehsm_crypto::eddsa;
use teehsm_wire::ck::*;
use teehsm_wire::token_policy::{rules, v1_signed_message, TokenPolicy, MAX_MIN_RSA_BITS};
use teehsm_wire::{Reply, Rv};

/// The policy in force on a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InForce {
    pub object: u64,
    pub version: u64,
    pub max_objects: u64,
    pub crypto: CryptoRules,
}

impl Ta {
    /// The policy in force on the token in `slot`, if any.
    pub(crate) fn token_policy(&self, slot: u64) -> Option<InForce> {
        policy_in(&self.store.state(), slot)
    }

    /// The algorithm rules in force on the token in `slot` (none without a policy).
    pub(crate) fn crypto_rules(&self, slot: u64) -> CryptoRules {
        self.token_policy(slot).map(|p| p.crypto).unwrap_or_default()
    }

    /// The object limit of the token in `slot`: the policy's if it sets one
    /// (never above the TA's), else the TA's `max_token_objects`; 0 = none.
    pub(crate) fn effective_max_objects(&self, slot: u64) -> u64 {
        let ta = self.cfg.max_token_objects;
        match self.token_policy(slot).map(|p| p.max_objects).filter(|&m| m > 0) {
            Some(m) if ta == 0 => m,
            Some(m) => m.min(ta),
            None => ta,
        }
    }

    pub(in super::super) fn apply_token_policy(&self, conn: &mut Conn, session: u64, bytes: &[u8]) -> Result<Reply> {
        let parsed = TokenPolicy::from_bytes(bytes);
        let detail = match &parsed {
            Ok(p) => format!(
                "policy:v{} max_objects:{} min_rsa_bits:{} rules:{:#x} signer:{}",
                p.version,
                p.max_objects,
                p.min_rsa_bits,
                p.rules,
                hex::encode(p.signer)
            ),
            Err(_) => "policy:malformed".to_string(),
        };
        let r: Result<Reply> = (|| {
            let (s, actor) = self.actor(conn, session)?;
            if actor.role != Role::User {
                return Err(deny(Rv::USER_NOT_LOGGED_IN, "applying a token policy needs a session where the user is logged in"));
            }
            let p = parsed.map_err(|e| deny(Rv::ARGUMENTS_BAD, format!("the token policy is malformed: {e}")))?;
            let slot = s.slot;
            let signers = self.keydist_signers(slot);
            if !signers.iter().any(|(_, k)| k.as_slice() == p.signer.as_slice()) {
                return Err(deny(
                    Rv::TEEHSM_KEYDIST_UNTRUSTED,
                    format!("the policy's signer {} is not trusted on the token in slot {slot}; its SO must trust the console's key first (`teehsm keydist trust`)", hex::encode(p.signer)),
                ));
            }
            let message = v1_signed_message(bytes).unwrap_or_else(|| p.signed_message());
            if eddsa::verify(&p.signer, eddsa::Ed25519Variant::Pure, &[], &message, &p.signature).is_err() {
                return Err(deny(Rv::SIGNATURE_INVALID, "the policy's signature does not verify under its signer's key (tampered policy)"));
            }
            if p.target != *self.channel.public_key_hash() || p.slot != slot {
                return Err(deny(
                    Rv::TEEHSM_KEYDIST_MISTARGETED,
                    format!(
                        "the policy is for slot {} of channel key bundle {}, not slot {slot} of this TA ({})",
                        p.slot,
                        hex::encode(&p.target[..8]),
                        hex::encode(&self.channel.public_key_hash()[..8])
                    ),
                ));
            }
            let now = now_ms();
            if p.expires_ms <= p.created_ms
                || p.expires_ms - p.created_ms > super::KEYDIST_MAX_VALIDITY_MS
                || p.created_ms > now.saturating_add(super::KEYDIST_CLOCK_SKEW_MS)
                || now >= p.expires_ms
            {
                return Err(deny(
                    Rv::TEEHSM_KEYDIST_EXPIRED,
                    format!("the policy is valid from {} to {} ms; the TA clock says {now} ms", p.created_ms, p.expires_ms),
                ));
            }
            let ta_max = self.cfg.max_token_objects;
            if ta_max > 0 && p.max_objects > ta_max {
                return Err(deny(
                    Rv::ARGUMENTS_BAD,
                    format!("the policy allows {} objects but this TA holds at most {ta_max} per token (max_token_objects)", p.max_objects),
                ));
            }
            if p.rules & !rules::ALL != 0 || p.min_rsa_bits > MAX_MIN_RSA_BITS {
                return Err(deny(
                    Rv::ARGUMENTS_BAD,
                    format!(
                        "the policy sets rules {:#x} and min_rsa_bits {}; this TA knows the rules {:#x} and at most {MAX_MIN_RSA_BITS} bits",
                        p.rules,
                        p.min_rsa_bits,
                        rules::ALL
                    ),
                ));
            }
            let _admin = self.keydist_admin()?;
            let current = self.token_policy(slot);
            if let Some(c) = current {
                if p.version <= c.version {
                    return Err(deny(
                        Rv::TEEHSM_KEYDIST_REPLAY,
                        format!("policy version {} is not newer than the version in force ({})", p.version, c.version),
                    ));
                }
            }
            let mut o = Object::new(current.map_or_else(|| self.store.alloc_id(), |c| c.object), slot);
            o.set_ulong(CKA_CLASS, CKO_TEEHSM_TOKEN_POLICY);
            o.set_bool(CKA_TOKEN, true);
            o.set_bool(CKA_PRIVATE, true);
            o.set_ulong(CKA_TEEHSM_POLICY_VERSION, p.version);
            o.set_ulong(CKA_TEEHSM_POLICY_MAX_OBJECTS, p.max_objects);
            o.set_ulong(CKA_TEEHSM_POLICY_MIN_RSA_BITS, u64::from(p.min_rsa_bits));
            o.set_ulong(CKA_TEEHSM_POLICY_RULES, u64::from(p.rules));
            self.store.commit(vec![Op::PutObject(Arc::new(o))]).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        let rv = r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK);
        self.audit_keydist(conn, "ApplyTokenPolicy", session, None, detail, rv);
        r
    }
}

/// The policy in force on the token in `slot` of `st`, read under a lock
/// the caller already holds (one read of the store state on hot paths).
pub(crate) fn policy_in(st: &crate::store::State, slot: u64) -> Option<InForce> {
    st.policy_of(slot).filter(|o| o.class() == CKO_TEEHSM_TOKEN_POLICY).map(|o| InForce {
        object: o.id,
        version: o.ulong(CKA_TEEHSM_POLICY_VERSION).unwrap_or(0),
        max_objects: o.ulong(CKA_TEEHSM_POLICY_MAX_OBJECTS).unwrap_or(0),
        crypto: CryptoRules {
            min_rsa_bits: o.ulong(CKA_TEEHSM_POLICY_MIN_RSA_BITS).and_then(|b| u32::try_from(b).ok()).unwrap_or(0),
            rules: o.ulong(CKA_TEEHSM_POLICY_RULES).and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
        },
    })
}
