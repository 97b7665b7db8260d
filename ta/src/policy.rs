//! The key policy (DESIGN invariant 2), as one rule set. Every decision about
//! who may create, see, change, use, wrap or read an object is made here.
//!
//! The rules:
//! - R1 one purpose: a key that may wrap or unwrap may not also encrypt,
//!   decrypt, sign, verify, derive, encapsulate or decapsulate (defeats
//!   wrap-then-decrypt and encrypt-then-unwrap).
//! - R2 monotonic protection: CKA_SENSITIVE only goes false->true, CKA_EXTRACTABLE
//!   only true->false, CKA_MODIFIABLE/COPYABLE/DESTROYABLE only true->false,
//!   CKA_WRAP_WITH_TRUSTED only false->true; on set, on copy, everywhere.
//! - R3 provenance is the TA's to state: CKA_LOCAL, CKA_ALWAYS_SENSITIVE,
//!   CKA_NEVER_EXTRACTABLE and CKA_KEY_GEN_MECHANISM are computed from how the
//!   key came to be and can never be supplied or changed by a caller.
//! - R4 known keys cannot protect secrets: wrapping a sensitive key needs a
//!   wrapping key that no one outside the TA has ever known (generated here,
//!   always sensitive, never extractable) or one the SO marked CKA_TRUSTED.
//!   A key imported in plaintext or unwrapped is "known" (defeats unwrapping a
//!   known key and using it as a wrapping key). A public wrapping key
//!   counts only if the TA generated its pair with a private half that was
//!   always sensitive and never extractable (CKA_TEEHSM_PRIVATE_NEVER_KNOWN).
//! - R5 unwrapped keys are sensitive: C_UnwrapKey cannot produce a
//!   non-sensitive key (defeats re-unwrap as non-sensitive), and an unwrapping
//!   key's CKA_UNWRAP_TEMPLATE binds what it may produce.
//! - R6 wrapping needs consent: the target must be extractable, a
//!   CKA_WRAP_WITH_TRUSTED target needs a CKA_TRUSTED wrapping key, and a
//!   wrapping key's CKA_WRAP_TEMPLATE must match the target.
//! - R7 only the SO sets CKA_TRUSTED to true.
//! - R8 key material is readable only when not sensitive and extractable.
//! - R9 sessions: token objects need a read-write session; private objects
//!   need a logged-in user and are invisible otherwise.
//! - R10 byte-level derivations (concatenation, XOR with data, bit
//!   extraction) take only keys whose value is readable anyway (not
//!   sensitive, extractable): on a protected key they would let a caller
//!   build related or short keys and recover the value piece by piece.

use crate::object::{attr_kind, is_internal, is_key_material, value_well_formed, Object};
use teehsm_wire::ck::*;
use teehsm_wire::{Attribute, Rv};

/// A refusal, with the CKR code and a sentence that says which rule refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub rv: Rv,
    pub message: String,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rv, self.message)
    }
}

pub type Verdict = Result<(), Denied>;

fn deny(rv: Rv, message: impl Into<String>) -> Denied {
    Denied { rv, message: message.into() }
}

/// Who is acting, as the TA's session state says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub role: Role,
    pub rw: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Public,
    User,
    So,
}

/// How a new object came to exist.
pub enum Origin<'a> {
    /// C_GenerateKey / C_GenerateKeyPair inside the TA.
    Generated { mechanism: u64 },
    /// C_CreateObject: any key material came in plaintext.
    Created,
    /// C_UnwrapKey under `unwrapping_key`.
    Unwrapped { unwrapping_key: &'a Object },
    /// C_DeriveKey or C_DecapsulateKey from `base`.
    Derived { base: &'a Object },
    /// C_CopyObject of `source`.
    Copied { source: &'a Object },
}

/// What a key is being used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Sign,
    Verify,
    Encrypt,
    Decrypt,
    Wrap,
    Unwrap,
    Derive,
    Encapsulate,
    Decapsulate,
}

impl Usage {
    fn attribute(self) -> u64 {
        match self {
            Usage::Sign => CKA_SIGN,
            Usage::Verify => CKA_VERIFY,
            Usage::Encrypt => CKA_ENCRYPT,
            Usage::Decrypt => CKA_DECRYPT,
            Usage::Wrap => CKA_WRAP,
            Usage::Unwrap => CKA_UNWRAP,
            Usage::Derive => CKA_DERIVE,
            Usage::Encapsulate => CKA_ENCAPSULATE,
            Usage::Decapsulate => CKA_DECAPSULATE,
        }
    }
}

const KEY_TRANSPORT: [u64; 2] = [CKA_WRAP, CKA_UNWRAP];
const DATA_USES: [u64; 7] = [CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_DERIVE, CKA_ENCAPSULATE, CKA_DECAPSULATE];

/// Attributes only the TA sets (R3).
const TA_ASSIGNED: [u64; 5] = [CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_KEY_GEN_MECHANISM, CKA_TEEHSM_PRIVATE_NEVER_KNOWN];

/// Attributes fixed once the object exists.
const FIXED_AFTER_CREATION: [u64; 16] = [
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_VALUE_LEN,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_PARAMETER_SET,
    CKA_CERTIFICATE_TYPE,
    CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_ALLOWED_MECHANISMS,
];

fn is_secret_bearing(class: u64) -> bool {
    class == CKO_PRIVATE_KEY || class == CKO_SECRET_KEY
}

/// Shape checks shared by every template: known type, well-formed value, no TA-assigned attribute.
pub fn check_template_shape(template: &[Attribute]) -> Verdict {
    for a in template {
        if a.ty == CKA_UNIQUE_ID {
            return Err(deny(Rv::ATTRIBUTE_TYPE_INVALID, "CKA_UNIQUE_ID is assigned by the token and cannot be given or changed"));
        }
        if attr_kind(a.ty).is_none() {
            return Err(deny(Rv::ATTRIBUTE_TYPE_INVALID, format!("attribute type 0x{:x} is not supported", a.ty)));
        }
        if let Err(why) = value_well_formed(a.ty, &a.value) {
            return Err(deny(Rv::ATTRIBUTE_VALUE_INVALID, format!("attribute 0x{:x}: {why}", a.ty)));
        }
        if TA_ASSIGNED.contains(&a.ty) {
            return Err(deny(Rv::ATTRIBUTE_READ_ONLY, format!("attribute 0x{:x} is set by the TA (rule R3)", a.ty)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for a in template {
        if !seen.insert(a.ty) {
            return Err(deny(Rv::TEMPLATE_INCONSISTENT, format!("attribute 0x{:x} appears twice", a.ty)));
        }
    }
    Ok(())
}

/// R1: one purpose.
pub fn check_one_purpose(o: &Object) -> Verdict {
    let transports = KEY_TRANSPORT.iter().any(|t| o.bool(*t));
    let data = DATA_USES.iter().find(|t| o.bool(**t));
    if let (true, Some(other)) = (transports, data) {
        return Err(deny(
            Rv::TEMPLATE_INCONSISTENT,
            format!("a key that wraps or unwraps may not also have attribute 0x{other:x} (rule R1: one purpose per key)"),
        ));
    }
    Ok(())
}

/// R9: may this actor create (or hold) this object at all?
pub fn check_may_hold(o: &Object, actor: Actor) -> Verdict {
    if o.is_token() && !actor.rw {
        return Err(deny(Rv::SESSION_READ_ONLY, "token objects need a read-write session"));
    }
    if o.is_private() && actor.role != Role::User {
        return Err(deny(Rv::USER_NOT_LOGGED_IN, "private objects need a logged-in user"));
    }
    Ok(())
}

/// R9: is this object visible to this actor?
pub fn visible(o: &Object, actor: Actor) -> bool {
    // API client records (handler::clients) and API keys (handler::api)
    // are never PKCS#11 objects: not even the user may find or use them.
    !is_internal(o) && (!o.is_private() || actor.role == Role::User)
}

/// The attributes that grant a key a use.
const USAGE_ATTRIBUTES: [u64; 11] = [
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
    CKA_DERIVE,
    CKA_ENCAPSULATE,
    CKA_DECAPSULATE,
];

/// What a key of this class and type is ordinarily for, when its template
/// grants nothing: ciphers encrypt, decrypt and MAC; MAC keys sign and
/// verify; signature keys sign or verify; RSA and SM2 also decrypt or
/// encrypt; ML-KEM encapsulates or decapsulates; X25519 derives.
fn ordinary_uses(class: u64, key_type: Option<u64>) -> &'static [u64] {
    let Some(kt) = key_type else { return &[] };
    match (class, kt) {
        (CKO_SECRET_KEY, CKK_AES | CKK_SM4) => &[CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY],
        (CKO_SECRET_KEY, CKK_GENERIC_SECRET | CKK_SHA_1_HMAC | CKK_SHA224_HMAC | CKK_SHA256_HMAC | CKK_SHA384_HMAC | CKK_SHA512_HMAC) => {
            &[CKA_SIGN, CKA_VERIFY]
        }
        (CKO_PRIVATE_KEY, CKK_RSA | CKK_SM2) => &[CKA_SIGN, CKA_DECRYPT],
        (CKO_PRIVATE_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_ML_DSA) => &[CKA_SIGN],
        (CKO_PRIVATE_KEY, CKK_ML_KEM) => &[CKA_DECAPSULATE],
        (CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY) => &[CKA_DERIVE],
        (CKO_PUBLIC_KEY, CKK_RSA | CKK_SM2) => &[CKA_VERIFY, CKA_ENCRYPT],
        (CKO_PUBLIC_KEY, CKK_EC | CKK_EC_EDWARDS | CKK_ML_DSA) => &[CKA_VERIFY],
        (CKO_PUBLIC_KEY, CKK_ML_KEM) => &[CKA_ENCAPSULATE],
        _ => &[],
    }
}

/// Fills defaults and TA-assigned provenance for a new object and checks the
/// result against every creation rule. `o` holds the caller's template
/// attributes (already shape-checked) and, for keys, their material.
pub fn finalize_new_object(o: &mut Object, origin: Origin<'_>, actor: Actor) -> Verdict {
    let class = o.class();
    let secret_bearing = is_secret_bearing(class);
    // Defaults.
    for (ty, v) in [(CKA_TOKEN, false), (CKA_MODIFIABLE, true), (CKA_COPYABLE, true), (CKA_DESTROYABLE, true)] {
        o.attrs.entry(ty).or_insert_with(|| vec![v as u8]);
    }
    o.attrs.entry(CKA_PRIVATE).or_insert_with(|| vec![secret_bearing as u8]);
    o.attrs.entry(CKA_LABEL).or_default();
    if o.is_key() {
        // A template that grants no use at all (Java's SunPKCS11 sends such
        // templates) gets the ordinary uses of its key type; one that names
        // any usage attribute gets exactly what it names. Wrapping is never
        // a default (R1: a wrapping key does nothing else).
        let names_a_use = USAGE_ATTRIBUTES.iter().any(|t| o.attrs.contains_key(t));
        if !names_a_use && matches!(origin, Origin::Generated { .. } | Origin::Created) {
            for ty in ordinary_uses(class, o.key_type()) {
                o.set_bool(*ty, true);
            }
        }
        o.attrs.entry(CKA_ID).or_default();
        for ty in [CKA_DERIVE, CKA_START_DATE, CKA_END_DATE] {
            o.attrs.entry(ty).or_insert_with(|| if ty == CKA_DERIVE { vec![0] } else { Vec::new() });
        }
        // The usage attributes of the class default to false (a key may do
        // only what its template grants; C_GetAttributeValue reports them).
        let usages: &[u64] = match class {
            CKO_SECRET_KEY => &[CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP],
            CKO_PRIVATE_KEY => &[CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_UNWRAP],
            CKO_PUBLIC_KEY => &[CKA_ENCRYPT, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_WRAP],
            _ => &[],
        };
        for ty in usages {
            o.attrs.entry(*ty).or_insert_with(|| vec![0]);
        }
    }
    if secret_bearing {
        // Keys made in the TA (generated, derived, unwrapped) are protected
        // unless the template says otherwise. A key created from a value the
        // caller supplies (C_CreateObject) takes PKCS#11's permissive
        // defaults, as SoftHSMv2 and Kryoptic do: its value is already in the
        // caller's hands; a template that sets CKA_SENSITIVE/CKA_EXTRACTABLE
        // protects it from then on (R2 keeps it protected).
        let created = matches!(origin, Origin::Created);
        o.attrs.entry(CKA_SENSITIVE).or_insert_with(|| vec![!created as u8]);
        o.attrs.entry(CKA_EXTRACTABLE).or_insert_with(|| vec![created as u8]);
        for ty in [CKA_WRAP_WITH_TRUSTED, CKA_ALWAYS_AUTHENTICATE] {
            o.attrs.entry(ty).or_insert_with(|| vec![0]);
        }
    }
    if o.is_key() && class != CKO_PRIVATE_KEY {
        o.attrs.entry(CKA_TRUSTED).or_insert_with(|| vec![0]);
    }
    // R7
    if o.bool(CKA_TRUSTED) && actor.role != Role::So && !matches!(origin, Origin::Copied { source } if source.bool(CKA_TRUSTED)) {
        return Err(deny(Rv::ATTRIBUTE_READ_ONLY, "only the security officer may set CKA_TRUSTED (rule R7)"));
    }
    if o.bool(CKA_TRUSTED) && class == CKO_PRIVATE_KEY {
        return Err(deny(Rv::ATTRIBUTE_TYPE_INVALID, "CKA_TRUSTED does not apply to private keys"));
    }
    // R3 provenance
    let sensitive = o.bool(CKA_SENSITIVE);
    let extractable = o.bool(CKA_EXTRACTABLE);
    let (local, always_sensitive, never_extractable, gen_mech) = match origin {
        Origin::Generated { mechanism } => (true, sensitive, !extractable, Some(mechanism)),
        Origin::Created => (false, false, false, None),
        Origin::Unwrapped { unwrapping_key } => {
            // R5
            if o.attrs.get(&CKA_SENSITIVE).is_some_and(|v| v == &[0]) && secret_bearing {
                return Err(deny(Rv::TEMPLATE_INCONSISTENT, "unwrapped keys are always sensitive; CKA_SENSITIVE=false is refused (rule R5)"));
            }
            o.set_bool(CKA_SENSITIVE, true);
            check_unwrap_template(unwrapping_key, o)?;
            (false, false, false, None)
        }
        Origin::Derived { base } => (false, sensitive && base.bool(CKA_ALWAYS_SENSITIVE), !extractable && base.bool(CKA_NEVER_EXTRACTABLE), None),
        Origin::Copied { source } => {
            (source.bool(CKA_LOCAL), source.bool(CKA_ALWAYS_SENSITIVE), source.bool(CKA_NEVER_EXTRACTABLE), source.ulong(CKA_KEY_GEN_MECHANISM))
        }
    };
    if o.is_key() {
        o.set_bool(CKA_LOCAL, local);
        o.set_ulong(CKA_KEY_GEN_MECHANISM, gen_mech.unwrap_or(u64::MAX)); // CK_UNAVAILABLE_INFORMATION
    }
    if secret_bearing {
        o.set_bool(CKA_ALWAYS_SENSITIVE, always_sensitive && o.bool(CKA_SENSITIVE));
        o.set_bool(CKA_NEVER_EXTRACTABLE, never_extractable && !o.bool(CKA_EXTRACTABLE));
    }
    check_one_purpose(o)?;
    check_may_hold(o, actor)
}

/// R2/R3/R7/R1 for C_SetAttributeValue. Returns the object as it would be.
pub fn check_set_attributes(o: &Object, changes: &[Attribute], actor: Actor) -> Result<Object, Denied> {
    check_template_shape(changes)?;
    if !o.bool(CKA_MODIFIABLE) {
        return Err(deny(Rv::ACTION_PROHIBITED, "the object is not modifiable (CKA_MODIFIABLE=false)"));
    }
    let mut next = o.clone();
    for a in changes {
        apply_monotonic_change(o, &mut next, a, actor, "C_SetAttributeValue")?;
    }
    check_one_purpose(&next)?;
    check_may_hold(&next, actor)?;
    Ok(next)
}

fn apply_monotonic_change(o: &Object, next: &mut Object, a: &Attribute, actor: Actor, what: &str) -> Verdict {
    let new_true = a.value.first().is_some_and(|b| *b != 0);
    let old = o.get(a.ty);
    if old == Some(a.value.as_slice()) {
        return Ok(());
    }
    if is_key_material(a.ty, o.class()) || FIXED_AFTER_CREATION.contains(&a.ty) || (a.ty == CKA_VALUE) {
        return Err(deny(Rv::ATTRIBUTE_READ_ONLY, format!("{what}: attribute 0x{:x} cannot change after creation", a.ty)));
    }
    let refuse = |rule: &str| Err(deny(Rv::ATTRIBUTE_READ_ONLY, format!("{what}: attribute 0x{:x} cannot be changed that way ({rule})", a.ty)));
    match a.ty {
        CKA_SENSITIVE if !new_true => return refuse("rule R2: a sensitive key stays sensitive"),
        CKA_EXTRACTABLE if new_true => return refuse("rule R2: a non-extractable key stays non-extractable"),
        CKA_MODIFIABLE | CKA_COPYABLE | CKA_DESTROYABLE if new_true => return refuse("rule R2"),
        CKA_WRAP_WITH_TRUSTED if !new_true => return refuse("rule R2"),
        CKA_TRUSTED if new_true && actor.role != Role::So => return refuse("rule R7: only the SO sets CKA_TRUSTED"),
        _ => {}
    }
    next.attrs.insert(a.ty, a.value.clone());
    Ok(())
}

/// C_CopyObject: the copy keeps the source's material and provenance; the
/// template may only tighten protection (R2) or change label/id-like fields.
pub fn build_copy(source: &Object, template: &[Attribute], new_id: u64, actor: Actor) -> Result<Object, Denied> {
    check_template_shape(template)?;
    if !source.bool(CKA_COPYABLE) && source.attrs.contains_key(&CKA_COPYABLE) {
        return Err(deny(Rv::ACTION_PROHIBITED, "the object is not copyable (CKA_COPYABLE=false)"));
    }
    let mut copy = source.clone();
    copy.id = new_id;
    for a in template {
        match a.ty {
            // The copy may live elsewhere (session vs token) and be marked private.
            CKA_TOKEN => {
                copy.attrs.insert(a.ty, a.value.clone());
            }
            CKA_PRIVATE if a.value == [1] => {
                copy.attrs.insert(a.ty, a.value.clone());
            }
            _ => apply_monotonic_change(source, &mut copy, a, actor, "C_CopyObject")?,
        }
    }
    check_one_purpose(&copy)?;
    check_may_hold(&copy, actor)?;
    Ok(copy)
}

/// May `key` be used for `usage` with `mechanism`?
pub fn check_usage(key: &Object, usage: Usage, mechanism: u64) -> Verdict {
    if !key.is_key() {
        return Err(deny(Rv::KEY_HANDLE_INVALID, "the handle does not name a key"));
    }
    if !key.bool(usage.attribute()) {
        return Err(deny(
            Rv::KEY_FUNCTION_NOT_PERMITTED,
            format!("the key does not permit {usage:?} (attribute 0x{:x} is false)", usage.attribute()),
        ));
    }
    if let Some(list) = key.get(CKA_ALLOWED_MECHANISMS) {
        if !list.is_empty() && !list.chunks_exact(8).any(|c| c == mechanism.to_be_bytes()) {
            return Err(deny(Rv::MECHANISM_INVALID, format!("mechanism 0x{mechanism:x} is not in the key's CKA_ALLOWED_MECHANISMS")));
        }
    }
    // Defence in depth for R1, in case a stored object predates the rule.
    check_one_purpose(key).map_err(|d| deny(Rv::KEY_FUNCTION_NOT_PERMITTED, d.message))
}

/// R10: may a byte-level derivation (concatenate, XOR, extract) read `key`?
pub fn check_byte_derivation(key: &Object) -> Verdict {
    check_value_readable_for(key, "concatenation, XOR and extraction", Rv::KEY_TYPE_INCONSISTENT, Rv::KEY_FUNCTION_NOT_PERMITTED)
}

/// R10's condition for any use that exposes a function of a key's value
/// (`what`): a secret key (else `not_secret`) that is not sensitive and is
/// extractable (else `protected`), i.e. whose value the caller could read anyway.
pub fn check_value_readable_for(key: &Object, what: &str, not_secret: Rv, protected: Rv) -> Verdict {
    if key.class() != CKO_SECRET_KEY {
        return Err(deny(not_secret, format!("{what} take secret keys only")));
    }
    if key.bool(CKA_SENSITIVE) || !key.bool(CKA_EXTRACTABLE) {
        return Err(deny(protected, format!("{what} only take keys that are not sensitive and are extractable (rule R10)")));
    }
    Ok(())
}

/// R4 + R6: may `wrapping_key` wrap `target`?
pub fn check_wrap(wrapping_key: &Object, target: &Object) -> Verdict {
    if !is_secret_bearing(target.class()) {
        return Err(deny(Rv::KEY_NOT_WRAPPABLE, "only private and secret keys can be wrapped"));
    }
    if !target.bool(CKA_EXTRACTABLE) {
        return Err(deny(Rv::KEY_UNEXTRACTABLE, "the key is not extractable (CKA_EXTRACTABLE=false)"));
    }
    if target.bool(CKA_WRAP_WITH_TRUSTED) && !wrapping_key.bool(CKA_TRUSTED) {
        return Err(deny(Rv::KEY_NOT_WRAPPABLE, "the key may only be wrapped by a trusted key (CKA_WRAP_WITH_TRUSTED, rule R6)"));
    }
    if target.bool(CKA_SENSITIVE) && !never_known(wrapping_key) {
        return Err(deny(
            Rv::KEY_NOT_WRAPPABLE,
            "a sensitive key may only be wrapped by a key generated in the TA that was never extractable, or by an SO-trusted key (rule R4)",
        ));
    }
    if let Some(t) = wrapping_key.get(CKA_WRAP_TEMPLATE) {
        let template = teehsm_wire::decode_template(t).map_err(|_| deny(Rv::GENERAL_ERROR, "stored CKA_WRAP_TEMPLATE is malformed"))?;
        if !target.matches(&template) {
            return Err(deny(Rv::KEY_NOT_WRAPPABLE, "the key does not match the wrapping key's CKA_WRAP_TEMPLATE (rule R6)"));
        }
    }
    Ok(())
}

/// A key whose value no one outside the TA has ever known, or that the SO vouches for.
fn never_known(k: &Object) -> bool {
    if k.bool(CKA_TRUSTED) {
        return true;
    }
    match k.class() {
        CKO_SECRET_KEY => k.bool(CKA_LOCAL) && k.bool(CKA_ALWAYS_SENSITIVE) && k.bool(CKA_NEVER_EXTRACTABLE),
        // A public wrapping key protects only if its private half never left the TA.
        CKO_PUBLIC_KEY => k.bool(CKA_LOCAL) && k.bool(CKA_TEEHSM_PRIVATE_NEVER_KNOWN),
        _ => false,
    }
}

/// R4 for key pairs: records on the public half whether its private half is never known.
pub fn mark_pair(public: &mut Object, private: &Object) {
    public.set_bool(CKA_TEEHSM_PRIVATE_NEVER_KNOWN, private.bool(CKA_ALWAYS_SENSITIVE) && private.bool(CKA_NEVER_EXTRACTABLE));
}

/// R5: what an unwrapping key may produce.
fn check_unwrap_template(unwrapping_key: &Object, new_key: &Object) -> Verdict {
    if let Some(t) = unwrapping_key.get(CKA_UNWRAP_TEMPLATE) {
        let template = teehsm_wire::decode_template(t).map_err(|_| deny(Rv::GENERAL_ERROR, "stored CKA_UNWRAP_TEMPLATE is malformed"))?;
        for a in &template {
            if new_key.get(a.ty).is_some_and(|v| v != a.value.as_slice()) {
                return Err(deny(
                    Rv::TEMPLATE_INCONSISTENT,
                    format!("attribute 0x{:x} conflicts with the unwrapping key's CKA_UNWRAP_TEMPLATE (rule R5)", a.ty),
                ));
            }
        }
    }
    Ok(())
}

/// Applies an unwrapping key's CKA_UNWRAP_TEMPLATE to the new key's attributes.
pub fn apply_unwrap_template(unwrapping_key: &Object, new_key: &mut Object) {
    if let Some(Ok(template)) = unwrapping_key.get(CKA_UNWRAP_TEMPLATE).map(teehsm_wire::decode_template) {
        for a in &template {
            new_key.attrs.entry(a.ty).or_insert_with(|| a.value.clone());
        }
    }
}

/// R8: may attribute `ty` of `o` be read?
pub fn check_read(o: &Object, ty: u64) -> Result<(), Rv> {
    if is_key_material(ty, o.class()) && (o.bool(CKA_SENSITIVE) || !o.bool(CKA_EXTRACTABLE)) {
        return Err(Rv::ATTRIBUTE_SENSITIVE);
    }
    Ok(())
}

/// May this object be destroyed?
pub fn check_destroy(o: &Object, actor: Actor) -> Verdict {
    if o.attrs.contains_key(&CKA_DESTROYABLE) && !o.bool(CKA_DESTROYABLE) {
        return Err(deny(Rv::ACTION_PROHIBITED, "the object is not destroyable (CKA_DESTROYABLE=false)"));
    }
    if o.is_token() && !actor.rw {
        return Err(deny(Rv::SESSION_READ_ONLY, "destroying a token object needs a read-write session"));
    }
    Ok(())
}
