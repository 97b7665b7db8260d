//! Key-use operations. Each one: find the key, ask the policy, run the
//! mechanism, audit the outcome.

use super::{deny, Conn, Result, Ta};
use crate::keys::{self, LoadedKey};
use crate::mech;
use crate::object::Object;
use crate::policy::{self, Origin, Usage};
use std::sync::Arc;
use teehsm_wire::ck::*;
use teehsm_wire::{Attribute, Mechanism, Reply, Rv};

impl Ta {
    /// Finds `handle`, checks `usage` and the token policy's algorithm
    /// rules, and returns the object and its loaded key.
    pub(super) fn key_for(
        &self,
        conn: &Conn,
        session: u64,
        handle: u64,
        usage: Usage,
        mechanism: &Mechanism,
        missing: Rv,
    ) -> Result<(Arc<Object>, Arc<LoadedKey>)> {
        let (s, actor) = self.actor(conn, session)?;
        let o = self.object(conn, s, actor, handle, missing)?;
        policy::check_usage(&o, usage, mechanism.mech)?;
        let rules = self.crypto_rules(o.slot);
        if !rules.is_empty() {
            rules.check_mechanism(mechanism, Some(usage))?;
            rules.check_key(&o)?;
        }
        let k = keys::load(&o)?;
        Ok((o, k))
    }

    pub(super) fn sign(&self, conn: &Conn, session: u64, m: &Mechanism, key: u64, data: &[u8]) -> Result<Reply> {
        let r = self.key_for(conn, session, key, Usage::Sign, m, Rv::KEY_HANDLE_INVALID).and_then(|(_, k)| mech::sign(&k, m, data)).map(Reply::Bytes);
        self.audited(conn, "Sign", session, Some(key), Some(m.mech), r, |_| None)
    }

    pub(super) fn verify(&self, conn: &Conn, session: u64, m: &Mechanism, key: u64, data: &[u8], sig: &[u8]) -> Result<Reply> {
        let r = self
            .key_for(conn, session, key, Usage::Verify, m, Rv::KEY_HANDLE_INVALID)
            .and_then(|(_, k)| mech::verify(&k, m, data, sig))
            .map(|_| Reply::Done);
        self.audited(conn, "Verify", session, Some(key), Some(m.mech), r, |_| None)
    }

    pub(super) fn encrypt(&self, conn: &Conn, session: u64, m: &Mechanism, key: u64, data: &[u8]) -> Result<Reply> {
        let r = self
            .key_for(conn, session, key, Usage::Encrypt, m, Rv::KEY_HANDLE_INVALID)
            .and_then(|(_, k)| mech::encrypt(&k, m, data))
            .map(Reply::Bytes);
        self.audited(conn, "Encrypt", session, Some(key), Some(m.mech), r, |_| None)
    }

    pub(super) fn decrypt(&self, conn: &Conn, session: u64, m: &Mechanism, key: u64, data: &[u8]) -> Result<Reply> {
        let r = self
            .key_for(conn, session, key, Usage::Decrypt, m, Rv::KEY_HANDLE_INVALID)
            .and_then(|(_, k)| mech::decrypt(&k, m, data))
            .map(|p| Reply::Bytes(p.to_vec()));
        self.audited(conn, "Decrypt", session, Some(key), Some(m.mech), r, |_| None)
    }

    pub(super) fn wrap_key(&self, conn: &Conn, session: u64, m: &Mechanism, wrapping_key: u64, key: u64) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let (wk, wl) = self.key_for(conn, session, wrapping_key, Usage::Wrap, m, Rv::WRAPPING_KEY_HANDLE_INVALID)?;
            let target = self.object(conn, s, actor, key, Rv::KEY_HANDLE_INVALID)?;
            policy::check_wrap(&wk, &target)?;
            // Secret keys wrap as their value, private keys as PKCS#8.
            let value = match target.class() {
                CKO_PRIVATE_KEY => keys::to_pkcs8(&target)?,
                _ => target.secret.clone().ok_or_else(|| deny(Rv::KEY_NOT_WRAPPABLE, "the key has no value"))?,
            };
            mech::wrap(&wl, m, &value).map(Reply::Bytes)
        })();
        self.audited(conn, "WrapKey", session, Some(key), Some(m.mech), r, |_| None)
    }

    pub(super) fn unwrap_key(
        &self,
        conn: &mut Conn,
        session: u64,
        m: &Mechanism,
        unwrapping_key: u64,
        wrapped: &[u8],
        template: Vec<Attribute>,
    ) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let (uk, ul) = self.key_for(conn, session, unwrapping_key, Usage::Unwrap, m, Rv::UNWRAPPING_KEY_HANDLE_INVALID)?;
            let value = mech::unwrap(&ul, m, wrapped)?;
            let class = template.iter().find(|a| a.ty == CKA_CLASS).and_then(Attribute::as_ulong);
            let o = match class {
                Some(CKO_PRIVATE_KEY) => self.new_private_key_from_pkcs8(s, actor, template, &value, &uk)?,
                _ => self.new_secret_key(s, actor, template, value, Origin::Unwrapped { unwrapping_key: &uk })?,
            };
            Ok(Reply::Handle(self.persist(conn, session, vec![o])?[0]))
        })();
        self.audited(conn, "UnwrapKey", session, Some(unwrapping_key), Some(m.mech), r, |rep| match rep {
            Reply::Handle(h) => Some(*h),
            _ => None,
        })
    }

    pub(super) fn derive_key(&self, conn: &mut Conn, session: u64, m: &Mechanism, base_key: u64, template: Vec<Attribute>) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let (base, bl) = self.key_for(conn, session, base_key, Usage::Derive, m, Rv::KEY_HANDLE_INVALID)?;
            let other = if mech::is_byte_derivation(m.mech) {
                policy::check_byte_derivation(&base)?;
                match (m.mech, &m.param) {
                    (CKM_CONCATENATE_BASE_AND_KEY, teehsm_wire::MechParam::Ulong(h)) => {
                        let o = self.object(conn, s, actor, *h, Rv::MECHANISM_PARAM_INVALID)?;
                        policy::check_byte_derivation(&o)?;
                        Some(keys::load(&o)?)
                    }
                    _ => None,
                }
            } else {
                None
            };
            let out_len = template.iter().find(|a| a.ty == CKA_VALUE_LEN).and_then(Attribute::as_ulong).map(|l| l as usize);
            if mech::is_kbkdf(m.mech) {
                // The primary key, then the additional keys: all or none.
                let mut templates = vec![template];
                templates.extend(mech::kbkdf_additional_templates(m).iter().cloned());
                let lens = templates.iter().map(|t| derived_key_len(t)).collect::<Result<Vec<_>>>()?;
                let values = mech::kbkdf(&bl, m, &lens)?;
                let mut objects = Vec::with_capacity(values.len());
                for (t, v) in templates.into_iter().zip(values) {
                    objects.push(self.new_secret_key(s, actor, t, v, Origin::Derived { base: &base })?);
                }
                let handles = self.persist(conn, session, objects)?;
                return Ok(if handles.len() == 1 { Reply::Handle(handles[0]) } else { Reply::Handles(handles) });
            }
            let value = mech::derive(&bl, m, other.as_deref(), out_len)?;
            let o = self.new_secret_key(s, actor, template, value, Origin::Derived { base: &base })?;
            Ok(Reply::Handle(self.persist(conn, session, vec![o])?[0]))
        })();
        self.audited(conn, "DeriveKey", session, Some(base_key), Some(m.mech), r, |rep| match rep {
            Reply::Handle(h) => Some(*h),
            Reply::Handles(v) => v.first().copied(),
            _ => None,
        })
    }

    pub(super) fn encapsulate(&self, conn: &mut Conn, session: u64, m: &Mechanism, public_key: u64, template: Vec<Attribute>) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let (pk, pl) = self.key_for(conn, session, public_key, Usage::Encapsulate, m, Rv::KEY_HANDLE_INVALID)?;
            let (ciphertext, secret) = mech::encapsulate(&pl, m)?;
            // The shared secret was never outside the TA: treat it as generated here.
            let _ = &pk;
            let o = self.new_secret_key(s, actor, template, secret, Origin::Generated { mechanism: m.mech })?;
            let handle = self.persist(conn, session, vec![o])?[0];
            Ok(Reply::Encapsulated { ciphertext, handle })
        })();
        self.audited(conn, "Encapsulate", session, Some(public_key), Some(m.mech), r, |rep| match rep {
            Reply::Encapsulated { handle, .. } => Some(*handle),
            _ => None,
        })
    }

    pub(super) fn decapsulate(
        &self,
        conn: &mut Conn,
        session: u64,
        m: &Mechanism,
        private_key: u64,
        ciphertext: &[u8],
        template: Vec<Attribute>,
    ) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let (sk, kl) = self.key_for(conn, session, private_key, Usage::Decapsulate, m, Rv::KEY_HANDLE_INVALID)?;
            let secret = mech::decapsulate(&kl, m, ciphertext)?;
            let o = self.new_secret_key(s, actor, template, secret, Origin::Derived { base: &sk })?;
            Ok(Reply::Handle(self.persist(conn, session, vec![o])?[0]))
        })();
        self.audited(conn, "Decapsulate", session, Some(private_key), Some(m.mech), r, |rep| match rep {
            Reply::Handle(h) => Some(*h),
            _ => None,
        })
    }
}

/// The length of a key an SP 800-108 derivation makes: CKA_VALUE_LEN, or the
/// fixed length of its key type (SM4).
fn derived_key_len(template: &[Attribute]) -> Result<usize> {
    if let Some(l) = template.iter().find(|a| a.ty == CKA_VALUE_LEN).and_then(Attribute::as_ulong) {
        return Ok(l as usize);
    }
    match template.iter().find(|a| a.ty == CKA_KEY_TYPE).and_then(Attribute::as_ulong) {
        Some(CKK_SM4) => Ok(16),
        _ => Err(super::deny(Rv::TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required for each SP 800-108 derived key")),
    }
}
