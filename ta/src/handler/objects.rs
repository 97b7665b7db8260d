//! Object management: create, copy, destroy, attributes, search, key generation.

use super::{deny, store_err, Conn, Result, Session, Ta};
use crate::keys;
use crate::object::{is_key_material, Object, SESSION_OBJECT_BIT};
use crate::policy::{self, Actor, Origin};
use crate::store::Op;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use teehsm_wire::ck::*;
use teehsm_wire::{AttrResult, Attribute, Mechanism, Reply, Rv};
use zeroize::Zeroizing;

/// Key material taken out of a template: (attribute type, value).
type Material = Vec<(u64, Zeroizing<Vec<u8>>)>;

/// Splits a template into attributes and key material for an object of `class`.
fn split(template: Vec<Attribute>, class: u64) -> (Vec<Attribute>, Material) {
    let mut attrs = Vec::new();
    let mut material = Vec::new();
    for a in template {
        if is_key_material(a.ty, class) {
            material.push((a.ty, Zeroizing::new(a.value.clone())));
        } else {
            attrs.push(a);
        }
    }
    (attrs, material)
}

fn class_of(template: &[Attribute]) -> Result<u64> {
    template.iter().find(|a| a.ty == CKA_CLASS).and_then(Attribute::as_ulong).ok_or_else(|| deny(Rv::TEMPLATE_INCOMPLETE, "CKA_CLASS is required"))
}

impl Ta {
    /// A new object in the session's slot, with the template's attributes.
    pub(super) fn blank(&self, s: Session, template: &[Attribute]) -> Object {
        let mut o = Object::new(0, s.slot);
        for a in template {
            o.attrs.insert(a.ty, a.value.clone());
        }
        o
    }

    /// Assigns a handle and stores the object: token objects durably,
    /// session objects in the connection. Keys the token's policy does not
    /// allow (algorithm rules) are refused first.
    pub(super) fn persist(&self, conn: &mut Conn, session: u64, objects: Vec<Object>) -> Result<Vec<u64>> {
        let mut handles = Vec::with_capacity(objects.len());
        let mut ops = Vec::new();
        let mut session_objects = Vec::new();
        for o in &objects {
            self.crypto_rules(o.slot).check_key(o)?;
        }
        for mut o in objects {
            o.id = if o.is_token() { self.store.alloc_id() } else { SESSION_OBJECT_BIT | self.next_session_object.fetch_add(1, Ordering::Relaxed) };
            // PKCS#11 3.0 CKA_UNIQUE_ID: handles are never reused, so the handle names the object for good.
            o.attrs.insert(CKA_UNIQUE_ID, format!("{:016x}", o.id).into_bytes());
            handles.push(o.id);
            if o.is_token() {
                ops.push(Op::PutObject(Arc::new(o)));
            } else {
                session_objects.push(o);
            }
        }
        if !ops.is_empty() {
            self.check_capacity(&ops).map_err(|f| deny(Rv::DEVICE_MEMORY, f.message()))?;
            self.store.commit(ops).map_err(store_err)?;
        }
        for o in session_objects {
            conn.objects.insert(o.id, (session, Arc::new(o)));
        }
        Ok(handles)
    }

    /// Replaces an existing object (after C_SetAttributeValue).
    fn replace(&self, conn: &mut Conn, o: Object) -> Result<()> {
        if o.id & SESSION_OBJECT_BIT != 0 {
            if let Some(entry) = conn.objects.get_mut(&o.id) {
                entry.1 = Arc::new(o);
            }
            Ok(())
        } else {
            self.store.commit(vec![Op::PutObject(Arc::new(o))]).map_err(store_err)
        }
    }

    pub(super) fn create_object(&self, conn: &mut Conn, session: u64, template: Vec<Attribute>) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            policy::check_template_shape(&template)?;
            let class = class_of(&template)?;
            let (attrs, material) = split(template, class);
            let mut o = self.blank(s, &attrs);
            match class {
                CKO_PRIVATE_KEY | CKO_SECRET_KEY => keys::import_material(&mut o, material)?,
                CKO_PUBLIC_KEY => keys::validate_public(&mut o)?,
                CKO_DATA => data_object_defaults(&mut o),
                CKO_CERTIFICATE => certificate_defaults(&mut o)?,
                _ => return Err(deny(Rv::ATTRIBUTE_VALUE_INVALID, format!("object class {class} cannot be created"))),
            }
            policy::finalize_new_object(&mut o, Origin::Created, actor)?;
            Ok(Reply::Handle(self.persist(conn, session, vec![o])?[0]))
        })();
        self.audited(conn, "CreateObject", session, None, None, r, handle_of)
    }

    pub(super) fn copy_object(&self, conn: &mut Conn, session: u64, object: u64, template: Vec<Attribute>) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let src = self.object(conn, s, actor, object, Rv::OBJECT_HANDLE_INVALID)?;
            let copy = policy::build_copy(&src, &template, 0, actor)?;
            Ok(Reply::Handle(self.persist(conn, session, vec![copy])?[0]))
        })();
        self.audited(conn, "CopyObject", session, Some(object), None, r, handle_of)
    }

    pub(super) fn destroy_object(&self, conn: &mut Conn, session: u64, object: u64) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let o = self.object(conn, s, actor, object, Rv::OBJECT_HANDLE_INVALID)?;
            policy::check_destroy(&o, actor)?;
            if object & SESSION_OBJECT_BIT != 0 {
                conn.objects.remove(&object);
            } else {
                self.store.commit(vec![Op::DeleteObject(object)]).map_err(store_err)?;
            }
            Ok(Reply::Done)
        })();
        self.audited(conn, "DestroyObject", session, Some(object), None, r, |_| None)
    }

    pub(super) fn get_attributes(&self, conn: &Conn, session: u64, object: u64, types: &[u64]) -> Result<Reply> {
        let (s, actor) = self.actor(conn, session)?;
        let o = self.object(conn, s, actor, object, Rv::OBJECT_HANDLE_INVALID)?;
        let class = o.class();
        let out = types
            .iter()
            .map(|&ty| {
                let (status, value) = if is_key_material(ty, class) {
                    match policy::check_read(&o, ty) {
                        Err(rv) => (rv, Vec::new()),
                        Ok(()) => match keys::material_attribute(&o, ty) {
                            Some(v) => (Rv::OK, v),
                            None => (Rv::ATTRIBUTE_TYPE_INVALID, Vec::new()),
                        },
                    }
                } else {
                    match o.get(ty) {
                        Some(v) => (Rv::OK, v.to_vec()),
                        None => (Rv::ATTRIBUTE_TYPE_INVALID, Vec::new()),
                    }
                };
                AttrResult { ty, status, value }
            })
            .collect();
        Ok(Reply::Attributes(out))
    }

    pub(super) fn set_attributes(&self, conn: &mut Conn, session: u64, object: u64, template: Vec<Attribute>) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            let o = self.object(conn, s, actor, object, Rv::OBJECT_HANDLE_INVALID)?;
            if o.is_token() && !actor.rw {
                return Err(deny(Rv::SESSION_READ_ONLY, "changing a token object needs a read-write session"));
            }
            let next = policy::check_set_attributes(&o, &template, actor)?;
            self.replace(conn, next)?;
            Ok(Reply::Done)
        })();
        self.audited(conn, "SetAttributeValue", session, Some(object), None, r, |_| None)
    }

    pub(super) fn find_objects(&self, conn: &Conn, session: u64, template: &[Attribute], max: u32) -> Result<Reply> {
        let (s, actor) = self.actor(conn, session)?;
        let visible = |o: &Object| o.slot == s.slot && policy::visible(o, actor) && o.matches(template);
        let mut found: Vec<u64> = {
            let st = self.store.state();
            st.candidates(template).filter(|o| visible(o)).map(|o| o.id).collect()
        };
        found.extend(conn.objects.values().filter(|(_, o)| visible(o)).map(|(_, o)| o.id));
        found.sort_unstable();
        found.truncate((max as usize).min(teehsm_wire::MAX_HANDLES));
        Ok(Reply::Handles(found))
    }

    pub(super) fn generate_key(&self, conn: &mut Conn, session: u64, mechanism: Mechanism, template: Vec<Attribute>) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            self.crypto_rules(s.slot).check_mechanism(&mechanism, None)?;
            policy::check_template_shape(&template)?;
            if template.iter().any(|a| is_key_material(a.ty, CKO_SECRET_KEY)) {
                return Err(deny(Rv::TEMPLATE_INCONSISTENT, "a generated key's value cannot be supplied"));
            }
            let mut o = self.blank(s, &template);
            if o.class() != CKO_SECRET_KEY && o.attrs.contains_key(&CKA_CLASS) {
                return Err(deny(Rv::TEMPLATE_INCONSISTENT, "C_GenerateKey makes secret keys"));
            }
            let (kt, value) = crate::mech::generate_secret(&mechanism, &o)?;
            o.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
            o.set_ulong(CKA_KEY_TYPE, kt);
            o.set_ulong(CKA_VALUE_LEN, value.len() as u64);
            o.secret = Some(value);
            policy::finalize_new_object(&mut o, Origin::Generated { mechanism: mechanism.mech }, actor)?;
            Ok(Reply::Handle(self.persist(conn, session, vec![o])?[0]))
        })();
        self.audited(conn, "GenerateKey", session, None, Some(mechanism.mech), r, handle_of)
    }

    pub(super) fn generate_key_pair(
        &self,
        conn: &mut Conn,
        session: u64,
        mechanism: Mechanism,
        public_template: Vec<Attribute>,
        private_template: Vec<Attribute>,
    ) -> Result<Reply> {
        let r = (|| {
            let (s, actor) = self.actor(conn, session)?;
            self.crypto_rules(s.slot).check_mechanism(&mechanism, None)?;
            policy::check_template_shape(&public_template)?;
            policy::check_template_shape(&private_template)?;
            if private_template.iter().any(|a| is_key_material(a.ty, CKO_PRIVATE_KEY)) {
                return Err(deny(Rv::TEMPLATE_INCONSISTENT, "a generated key's private value cannot be supplied"));
            }
            let mut public = self.blank(s, &public_template);
            let mut private = self.blank(s, &private_template);
            let g = crate::mech::generate_pair(&mechanism, &public, &private)?;
            for (o, class, extra) in [(&mut public, CKO_PUBLIC_KEY, &g.public_attrs), (&mut private, CKO_PRIVATE_KEY, &g.private_attrs)] {
                if o.attrs.contains_key(&CKA_CLASS) && o.class() != class {
                    return Err(deny(Rv::TEMPLATE_INCONSISTENT, "CKA_CLASS does not fit the half of the key pair"));
                }
                if o.key_type().is_some_and(|k| k != g.key_type) {
                    return Err(deny(Rv::TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE does not fit the mechanism"));
                }
                o.set_ulong(CKA_CLASS, class);
                o.set_ulong(CKA_KEY_TYPE, g.key_type);
                for (ty, v) in extra.iter() {
                    o.attrs.insert(*ty, v.clone());
                }
            }
            private.secret = Some(g.secret);
            let origin = || Origin::Generated { mechanism: mechanism.mech };
            policy::finalize_new_object(&mut public, origin(), actor)?;
            policy::finalize_new_object(&mut private, origin(), actor)?;
            policy::mark_pair(&mut public, &private);
            let h = self.persist(conn, session, vec![public, private])?;
            Ok(Reply::KeyPair { public: h[0], private: h[1] })
        })();
        self.audited(conn, "GenerateKeyPair", session, None, Some(mechanism.mech), r, |rep| match rep {
            Reply::KeyPair { private, .. } => Some(*private),
            _ => None,
        })
    }

    /// Builds a new secret key object from derived/unwrapped/decapsulated bytes.
    pub(super) fn new_secret_key(
        &self,
        s: Session,
        actor: Actor,
        template: Vec<Attribute>,
        value: Zeroizing<Vec<u8>>,
        origin: Origin<'_>,
    ) -> Result<Object> {
        policy::check_template_shape(&template)?;
        let class = template.iter().find(|a| a.ty == CKA_CLASS).and_then(Attribute::as_ulong).unwrap_or(CKO_SECRET_KEY);
        if class != CKO_SECRET_KEY {
            return Err(deny(Rv::TEMPLATE_INCONSISTENT, "only secret keys can be created this way"));
        }
        if template.iter().any(|a| is_key_material(a.ty, CKO_SECRET_KEY)) {
            return Err(deny(Rv::TEMPLATE_INCONSISTENT, "the key value comes from the operation, not the template"));
        }
        let mut o = self.blank(s, &template);
        if let Origin::Unwrapped { unwrapping_key } = &origin {
            policy::apply_unwrap_template(unwrapping_key, &mut o);
        }
        let kt = o.key_type().unwrap_or(CKK_GENERIC_SECRET);
        let len = o.ulong(CKA_VALUE_LEN).map(|l| l as usize).unwrap_or(value.len());
        if len > value.len() {
            return Err(deny(Rv::TEMPLATE_INCONSISTENT, format!("CKA_VALUE_LEN {len} exceeds the {} bytes available", value.len())));
        }
        keys::check_secret_len(kt, len)?;
        o.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        o.set_ulong(CKA_KEY_TYPE, kt);
        o.set_ulong(CKA_VALUE_LEN, len as u64);
        o.secret = Some(Zeroizing::new(value[..len].to_vec()));
        policy::finalize_new_object(&mut o, origin, actor)?;
        Ok(o)
    }
}

impl Ta {
    /// The private key an unwrap produced from PKCS#8 `der`: its type and
    /// public attributes come from the key; the template may name them too
    /// (they must agree) and sets the rest. No public key object is made.
    pub(super) fn new_private_key_from_pkcs8(
        &self,
        s: Session,
        actor: Actor,
        template: Vec<Attribute>,
        der: &[u8],
        unwrapping_key: &Object,
    ) -> Result<Object> {
        policy::check_template_shape(&template)?;
        if template.iter().any(|a| is_key_material(a.ty, CKO_PRIVATE_KEY)) {
            return Err(deny(Rv::TEMPLATE_INCONSISTENT, "the key value comes from the wrapped data, not the template"));
        }
        let key = keys::from_pkcs8(der)?;
        let mut o = self.blank(s, &template);
        policy::apply_unwrap_template(unwrapping_key, &mut o);
        if let Some(kt) = o.key_type().filter(|kt| *kt != key.key_type) {
            return Err(deny(
                Rv::TEMPLATE_INCONSISTENT,
                format!("the wrapped key is of type 0x{:x}; the template says CKA_KEY_TYPE 0x{kt:x}", key.key_type),
            ));
        }
        o.set_ulong(CKA_CLASS, CKO_PRIVATE_KEY);
        o.set_ulong(CKA_KEY_TYPE, key.key_type);
        for (ty, implied) in key.attrs {
            match o.get(ty) {
                Some(given) if !keys::same_implied_attribute(ty, given, &implied) => {
                    return Err(deny(Rv::TEMPLATE_INCONSISTENT, format!("attribute 0x{ty:x} of the template differs from the wrapped key's")));
                }
                Some(_) => {}
                None => {
                    o.attrs.insert(ty, implied);
                }
            }
        }
        keys::import_material(&mut o, key.material).map_err(|d| deny(Rv::WRAPPED_KEY_INVALID, format!("the wrapped private key: {}", d.message)))?;
        policy::finalize_new_object(&mut o, Origin::Unwrapped { unwrapping_key }, actor)?;
        Ok(o)
    }
}

fn handle_of(r: &Reply) -> Option<u64> {
    match r {
        Reply::Handle(h) => Some(*h),
        _ => None,
    }
}

/// PKCS#11 3.0 section 4.5: a data object's attributes and their defaults.
fn data_object_defaults(o: &mut Object) {
    for ty in [CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE] {
        o.attrs.entry(ty).or_default();
    }
}

/// PKCS#11 3.0 sections 4.6.2-4.6.3: a certificate names its type (only
/// X.509 public-key certificates are kept), an X.509 certificate its
/// subject and its value (or a URL); the other attributes take the
/// standard's defaults, and CKA_CHECK_VALUE is the first three bytes of the
/// SHA-1 of the value (a supplied one must match).
fn certificate_defaults(o: &mut Object) -> Result<()> {
    let Some(cert_type) = o.ulong(CKA_CERTIFICATE_TYPE) else {
        return Err(deny(Rv::TEMPLATE_INCOMPLETE, "a certificate needs CKA_CERTIFICATE_TYPE"));
    };
    if cert_type != CKC_X_509 {
        return Err(deny(Rv::ATTRIBUTE_VALUE_INVALID, format!("certificate type {cert_type} is not kept (only CKC_X_509)")));
    }
    if !o.attrs.contains_key(&CKA_SUBJECT) {
        return Err(deny(Rv::TEMPLATE_INCOMPLETE, "an X.509 certificate needs CKA_SUBJECT"));
    }
    let has_url = o.attrs.get(&CKA_URL).is_some_and(|u| !u.is_empty());
    let value = o.attrs.get(&CKA_VALUE).filter(|v| !v.is_empty()).cloned();
    if value.is_none() && !has_url {
        return Err(deny(Rv::TEMPLATE_INCOMPLETE, "an X.509 certificate needs CKA_VALUE (or CKA_URL)"));
    }
    if let Some(v) = &value {
        let check = teehsm_crypto::digest::digest(teehsm_crypto::digest::HashAlg::Sha1, v)[..3].to_vec();
        match o.attrs.get(&CKA_CHECK_VALUE) {
            Some(given) if !given.is_empty() && *given != check => {
                return Err(deny(Rv::ATTRIBUTE_VALUE_INVALID, "CKA_CHECK_VALUE does not match the certificate"));
            }
            _ => {
                o.attrs.insert(CKA_CHECK_VALUE, check);
            }
        }
    }
    for ty in [
        CKA_VALUE,
        CKA_ID,
        CKA_ISSUER,
        CKA_SERIAL_NUMBER,
        CKA_URL,
        CKA_HASH_OF_SUBJECT_PUBLIC_KEY,
        CKA_HASH_OF_ISSUER_PUBLIC_KEY,
        CKA_START_DATE,
        CKA_END_DATE,
        CKA_PUBLIC_KEY_INFO,
        CKA_CHECK_VALUE,
    ] {
        o.attrs.entry(ty).or_default();
    }
    for (ty, v) in [(CKA_CERTIFICATE_CATEGORY, 0), (CKA_JAVA_MIDP_SECURITY_DOMAIN, 0), (CKA_NAME_HASH_ALGORITHM, CKM_SHA_1)] {
        o.attrs.entry(ty).or_insert_with(|| v.to_be_bytes().to_vec());
    }
    // CKA_TRUSTED defaults to false; only the SO sets it (rule R7, checked when the object is finalized).
    o.attrs.entry(CKA_TRUSTED).or_insert_with(|| vec![0]);
    Ok(())
}
