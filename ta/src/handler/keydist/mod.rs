//! Key distribution (docs/key-distribution.md): keys a fleet console wraps
//! to this TA's attested channel key bundle and signs.
//!
//! The token's SO registers the console's Ed25519 public key as a trusted
//! signer (`TrustKeydistSigner`; a sealed, durable internal record of class
//! `CKO_TEEHSM_KEYDIST_SIGNER`, hidden from PKCS#11 and gone with the token
//! on C_InitToken). A logged-in user then imports an envelope
//! (`ImportDistributedKey`); the TA refuses it unless, in this order:
//! its signer is trusted on the session's token (TEEHSM_KEYDIST_UNTRUSTED),
//! the signature verifies (SIGNATURE_INVALID), it names this process's
//! channel key bundle, the session's slot and (if given) the token's serial
//! (TEEHSM_KEYDIST_MISTARGETED), the TA clock is within its validity period
//! (TEEHSM_KEYDIST_EXPIRED), its id was not imported before
//! (TEEHSM_KEYDIST_REPLAY) and the key material opens under the bundle
//! (WRAPPED_KEY_INVALID). The key object is then made like a
//! C_CreateObject one (CKA_LOCAL false) but sensitive, non-extractable and
//! a token object unless the signed template says otherwise. Every request
//! is audited with the envelope id.

pub mod crypto_rules;
mod open;
mod replay;
pub mod token_policy;

use super::{deny, store_err, Conn, Result, Ta};
use crate::audit::{now_ms, Event};
use crate::keys;
use crate::object::{is_key_material, Object, CKA_TEEHSM_KEYDIST_SIGNER_KEY, CKO_TEEHSM_KEYDIST_SIGNER};
use crate::policy::{self, Origin, Role};
use crate::store::Op;
use std::sync::{Arc, Mutex};
use teehsm_wire::ck::*;
use teehsm_wire::keydist::{decode_material, Envelope, KEYDIST_MAX_SIGNERS, KEYDIST_SIGNER_LEN};
use teehsm_wire::{Attribute, Reply, Rv};
use zeroize::Zeroizing;

pub use replay::MAX_REMEMBERED as MAX_REMEMBERED_ENVELOPES;

/// How far ahead of the TA clock an envelope's creation time may be.
pub const KEYDIST_CLOCK_SKEW_MS: u64 = 120_000;
/// Longest validity period (expiry minus creation) an envelope may have.
pub const KEYDIST_MAX_VALIDITY_MS: u64 = 7 * 24 * 3600 * 1000;

/// Key distribution state of the running TA.
#[derive(Default)]
pub struct Keydist {
    replay: Mutex<replay::ReplayCache>,
    /// Serializes signer registration and removal.
    admin: Mutex<()>,
}

fn signer_key(public_key: &[u8]) -> Result<[u8; KEYDIST_SIGNER_LEN]> {
    public_key.try_into().map_err(|_| {
        deny(
            Rv::ARGUMENTS_BAD,
            format!("a key distribution signer is a {KEYDIST_SIGNER_LEN}-byte Ed25519 public key, got {} bytes", public_key.len()),
        )
    })
}

impl Ta {
    /// The public keys of the signers trusted on the token in `slot`.
    fn keydist_signers(&self, slot: u64) -> Vec<(u64, Vec<u8>)> {
        let st = self.store.state();
        st.objects
            .values()
            .filter(|o| o.slot == slot && o.class() == CKO_TEEHSM_KEYDIST_SIGNER)
            .filter_map(|o| Some((o.id, o.get(CKA_TEEHSM_KEYDIST_SIGNER_KEY)?.to_vec())))
            .collect()
    }

    fn keydist_so_slot(&self, conn: &Conn, session: u64) -> Result<u64> {
        let (s, actor) = self.actor(conn, session)?;
        if actor.role != Role::So {
            return Err(deny(Rv::USER_NOT_LOGGED_IN, "managing key distribution signers needs a session where the SO is logged in"));
        }
        Ok(s.slot)
    }

    fn keydist_admin(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.keydist.admin.lock().map_err(|_| deny(Rv::GENERAL_ERROR, "key distribution administration lock poisoned"))
    }

    fn audit_keydist(&self, conn: &Conn, op: &str, session: u64, object: Option<u64>, detail: String, rv: Rv) {
        self.audit.append(Event {
            op: op.to_string(),
            client: if conn.client.is_empty() { None } else { Some(conn.client.clone()) },
            slot: conn.sessions.get(&session).map(|s| s.slot),
            session: Some(session),
            object,
            mechanism: None,
            key: Some(detail),
            rv: rv.0,
        });
    }

    pub(super) fn trust_keydist_signer(&self, conn: &Conn, session: u64, public_key: &[u8]) -> Result<Reply> {
        let r: Result<Reply> = (|| {
            let slot = self.keydist_so_slot(conn, session)?;
            let key = signer_key(public_key)?;
            let _admin = self.keydist_admin()?;
            let signers = self.keydist_signers(slot);
            if signers.iter().any(|(_, k)| k.as_slice() == key.as_slice()) {
                return Err(deny(Rv::ARGUMENTS_BAD, format!("signer {} is already trusted on the token in slot {slot}", hex::encode(key))));
            }
            if signers.len() >= KEYDIST_MAX_SIGNERS {
                return Err(deny(
                    Rv::DEVICE_MEMORY,
                    format!("the token in slot {slot} already trusts {KEYDIST_MAX_SIGNERS} signers; remove one first"),
                ));
            }
            let mut o = Object::new(self.store.alloc_id(), slot);
            o.set_ulong(CKA_CLASS, CKO_TEEHSM_KEYDIST_SIGNER);
            o.set_bool(CKA_TOKEN, true);
            o.set_bool(CKA_PRIVATE, true);
            o.attrs.insert(CKA_TEEHSM_KEYDIST_SIGNER_KEY, key.to_vec());
            self.store.commit(vec![Op::PutObject(Arc::new(o))]).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        let rv = r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK);
        self.audit_keydist(conn, "TrustKeydistSigner", session, None, format!("signer:{}", hex::encode(public_key)), rv);
        r
    }

    pub(super) fn untrust_keydist_signer(&self, conn: &Conn, session: u64, public_key: &[u8]) -> Result<Reply> {
        let r: Result<Reply> = (|| {
            let slot = self.keydist_so_slot(conn, session)?;
            let key = signer_key(public_key)?;
            let _admin = self.keydist_admin()?;
            let (id, _) = self
                .keydist_signers(slot)
                .into_iter()
                .find(|(_, k)| k.as_slice() == key.as_slice())
                .ok_or_else(|| deny(Rv::ARGUMENTS_BAD, format!("signer {} is not trusted on the token in slot {slot}", hex::encode(key))))?;
            self.store.commit(vec![Op::DeleteObject(id)]).map_err(store_err)?;
            Ok(Reply::Done)
        })();
        let rv = r.as_ref().err().map(|d| d.rv).unwrap_or(Rv::OK);
        self.audit_keydist(conn, "UntrustKeydistSigner", session, None, format!("signer:{}", hex::encode(public_key)), rv);
        r
    }

    pub(super) fn list_keydist_signers(&self, conn: &Conn, session: u64) -> Result<Reply> {
        let slot = self.keydist_so_slot(conn, session)?;
        let mut keys: Vec<Vec<u8>> = self.keydist_signers(slot).into_iter().map(|(_, k)| k).collect();
        keys.sort();
        Ok(Reply::Bytes(keys.concat()))
    }

    pub(super) fn import_distributed_key(&self, conn: &mut Conn, session: u64, bytes: &[u8]) -> Result<Reply> {
        let parsed = Envelope::from_bytes(bytes);
        let detail = match &parsed {
            Ok((e, _)) => format!("envelope:{} signer:{}", hex::encode(e.id), hex::encode(e.signer)),
            Err(_) => "envelope:malformed".to_string(),
        };
        let r: Result<Reply> = (|| {
            let (s, actor) = self.actor(conn, session)?;
            if actor.role != Role::User {
                return Err(deny(Rv::USER_NOT_LOGGED_IN, "importing a distributed key needs a session where the user is logged in"));
            }
            let (env, layout) = parsed.map_err(|e| deny(Rv::WRAPPED_KEY_INVALID, format!("the key distribution envelope is malformed: {e}")))?;
            self.check_envelope(s.slot, bytes, layout, &env)?;
            let now = now_ms();
            {
                let mut cache = self.keydist.replay.lock().map_err(|_| deny(Rv::GENERAL_ERROR, "envelope replay cache lock poisoned"))?;
                cache.insert(env.id, env.expires_ms, now).map_err(|e| match e {
                    replay::ReplayError::Seen => {
                        deny(Rv::TEEHSM_KEYDIST_REPLAY, format!("envelope {} was already imported (replayed)", hex::encode(env.id)))
                    }
                    replay::ReplayError::Full => deny(
                        Rv::FUNCTION_FAILED,
                        format!("{} unexpired envelopes were imported already; retry once some expire", replay::MAX_REMEMBERED),
                    ),
                })?;
            }
            let made = (|| {
                let material = open::key_material(&self.channel, bytes, layout, &env).map_err(|why| deny(Rv::WRAPPED_KEY_INVALID, why))?;
                let o = self.distributed_object(s, actor, env.template.clone(), &material)?;
                self.persist(conn, session, vec![o])
            })();
            match made {
                Ok(h) => h.first().copied().map(Reply::Handle).ok_or_else(|| deny(Rv::GENERAL_ERROR, "no handle for the imported key")),
                Err(d) => {
                    // A store failure may pass on retry; every other refusal
                    // is a property of the signed envelope and stays final.
                    if d.rv == Rv::DEVICE_ERROR {
                        if let Ok(mut cache) = self.keydist.replay.lock() {
                            cache.remove(&env.id);
                        }
                    }
                    Err(d)
                }
            }
        })();
        let (object, rv) = match &r {
            Ok(Reply::Handle(h)) => (Some(*h), Rv::OK),
            Ok(_) => (None, Rv::OK),
            Err(d) => (None, d.rv),
        };
        self.audit_keydist(conn, "ImportDistributedKey", session, object, detail, rv);
        r
    }

    /// Signer, signature, target and validity period, in that order.
    fn check_envelope(&self, slot: u64, bytes: &[u8], layout: teehsm_wire::keydist::EnvelopeLayout, env: &Envelope) -> Result<()> {
        let signers = self.keydist_signers(slot);
        if signers.is_empty() {
            return Err(deny(
                Rv::TEEHSM_KEYDIST_UNTRUSTED,
                format!("no key distribution signer is trusted on the token in slot {slot}; its SO must register the console's key first (`teehsm keydist trust`)"),
            ));
        }
        if !signers.iter().any(|(_, k)| k.as_slice() == env.signer.as_slice()) {
            return Err(deny(
                Rv::TEEHSM_KEYDIST_UNTRUSTED,
                format!("the envelope's signer {} is not trusted on the token in slot {slot}", hex::encode(env.signer)),
            ));
        }
        if !open::signature_ok(bytes, layout, env, &env.signer) {
            return Err(deny(Rv::SIGNATURE_INVALID, "the envelope's signature does not verify under its signer's key (tampered envelope)"));
        }
        if env.target != *self.channel.public_key_hash() {
            return Err(deny(
                Rv::TEEHSM_KEYDIST_MISTARGETED,
                format!(
                    "the envelope is wrapped to channel key bundle {} but this TA's is {}: it was made for another TA, or for this one before it restarted; wrap it again to a fresh report",
                    hex::encode(&env.target[..8]),
                    hex::encode(&self.channel.public_key_hash()[..8])
                ),
            ));
        }
        if env.slot != slot {
            return Err(deny(Rv::TEEHSM_KEYDIST_MISTARGETED, format!("the envelope is for slot {} but the session is in slot {slot}", env.slot)));
        }
        if !env.token_serial.is_empty() {
            let serial = self.store.state().tokens.get(&slot).map(|t| t.serial.clone()).unwrap_or_default();
            if serial != env.token_serial {
                return Err(deny(
                    Rv::TEEHSM_KEYDIST_MISTARGETED,
                    format!("the envelope is for token {:?} but slot {slot} holds token {serial:?}", env.token_serial),
                ));
            }
        }
        let now = now_ms();
        if env.expires_ms <= env.created_ms || env.expires_ms - env.created_ms > KEYDIST_MAX_VALIDITY_MS {
            return Err(deny(
                Rv::TEEHSM_KEYDIST_EXPIRED,
                format!(
                    "the envelope's validity period ({} to {}) is empty or longer than {} days",
                    env.created_ms,
                    env.expires_ms,
                    KEYDIST_MAX_VALIDITY_MS / 86_400_000
                ),
            ));
        }
        if env.created_ms > now.saturating_add(KEYDIST_CLOCK_SKEW_MS) {
            return Err(deny(
                Rv::TEEHSM_KEYDIST_EXPIRED,
                format!("the envelope was made at {} ms, after the TA clock ({now} ms): check the console's clock", env.created_ms),
            ));
        }
        if now >= env.expires_ms {
            return Err(deny(Rv::TEEHSM_KEYDIST_EXPIRED, format!("the envelope expired at {} ms (TA clock {now} ms)", env.expires_ms)));
        }
        Ok(())
    }

    /// The key object: the signed template's attributes, the material, and
    /// protective defaults.
    fn distributed_object(&self, s: super::Session, actor: policy::Actor, mut template: Vec<Attribute>, material: &[u8]) -> Result<Object> {
        policy::check_template_shape(&template)?;
        let class = template
            .iter()
            .find(|a| a.ty == CKA_CLASS)
            .and_then(Attribute::as_ulong)
            .ok_or_else(|| deny(Rv::TEMPLATE_INCOMPLETE, "the envelope's template has no CKA_CLASS"))?;
        if class != CKO_SECRET_KEY && class != CKO_PRIVATE_KEY {
            return Err(deny(
                Rv::TEMPLATE_INCONSISTENT,
                format!("only secret and private keys can be distributed, the envelope's CKA_CLASS is {class}"),
            ));
        }
        if let Some(a) = template.iter().find(|a| is_key_material(a.ty, class)) {
            return Err(deny(Rv::TEMPLATE_INCONSISTENT, format!("the envelope's public template carries key material (attribute 0x{:x})", a.ty)));
        }
        let material =
            decode_material(material).map_err(|e| deny(Rv::WRAPPED_KEY_INVALID, format!("the unwrapped key material is malformed: {e}")))?;
        let mut parts = Vec::with_capacity(material.len());
        for a in &material {
            if !is_key_material(a.ty, class) {
                return Err(deny(
                    Rv::WRAPPED_KEY_INVALID,
                    format!("the unwrapped key material holds attribute 0x{:x}, which is not key material", a.ty),
                ));
            }
            if parts.iter().any(|(t, _)| *t == a.ty) {
                return Err(deny(Rv::WRAPPED_KEY_INVALID, format!("the unwrapped key material holds attribute 0x{:x} twice", a.ty)));
            }
            parts.push((a.ty, Zeroizing::new(a.value.clone())));
        }
        for (ty, v) in [(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, false), (CKA_TOKEN, true)] {
            if !template.iter().any(|a| a.ty == ty) {
                template.push(Attribute::bool(ty, v));
            }
        }
        let mut o = self.blank(s, &template);
        keys::import_material(&mut o, parts)?;
        policy::finalize_new_object(&mut o, Origin::Created, actor)?;
        Ok(o)
    }
}
