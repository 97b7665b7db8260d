//! Objects with PKCS#11 semantics: attributes plus, for private and secret
//! keys, key material held apart from the attributes and never returned
//! unless the policy allows it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use teehsm_wire::ck::*;
use teehsm_wire::codec::{DecodeError, Reader, Writer};
use teehsm_wire::Attribute;
use zeroize::Zeroizing;

use crate::keys::LoadedKey;

/// Token objects have small ids; session objects live above this bit so the
/// two never collide and a handle says which table holds it.
pub const SESSION_OBJECT_BIT: u64 = 1 << 40;

pub use teehsm_wire::attr_kind::{attr_kind, AttrKind};

/// Internal object class of an API client record (docs/client-auth.md;
/// `CKO_VENDOR_DEFINED | 0x540001`). The TA keeps these among its token
/// objects, so they are sealed and durable like keys, but never shows them
/// through PKCS#11 (`policy::visible`); so they are not in the C header.
pub const CKO_TEEHSM_CLIENT: u64 = 0x8000_0000 | 0x0054_0001;
/// Internal: the id of an API client record (indexed by the store).
pub const CKA_TEEHSM_CLIENT_ID: u64 = CKA_VENDOR_DEFINED | 0x0054_0010;
/// Internal: the encoded ACL of an API client record.
pub const CKA_TEEHSM_CLIENT_ACL: u64 = CKA_VENDOR_DEFINED | 0x0054_0011;

/// Internal object class of a gRPC API key's metadata record
/// (docs/grpc-api.md; `handler::api::keys`): name, algorithm, versions and
/// their states. Hidden from PKCS#11 like client records.
pub const CKO_TEEHSM_API_KEY: u64 = 0x8000_0000 | 0x0054_0002;
/// Internal: the name of an API key, on its metadata record (indexed by the store).
pub const CKA_TEEHSM_API_KEY_NAME: u64 = CKA_VENDOR_DEFINED | 0x0054_0020;
/// Internal: the encoded metadata of an API key record.
pub const CKA_TEEHSM_API_KEY_META: u64 = CKA_VENDOR_DEFINED | 0x0054_0021;
/// Internal: on a key object that is one version of an API key, the
/// version number (CK_ULONG). Its presence alone hides the object from PKCS#11.
pub const CKA_TEEHSM_API_KEY_VERSION: u64 = CKA_VENDOR_DEFINED | 0x0054_0022;
/// Internal: on an API key version, the object id of its metadata record (CK_ULONG).
pub const CKA_TEEHSM_API_KEY_RECORD: u64 = CKA_VENDOR_DEFINED | 0x0054_0023;

/// Internal object class of a trusted key distribution signer
/// (docs/key-distribution.md; `handler::keydist`): an Ed25519 public key
/// the token's SO registered. Hidden from PKCS#11 like client records.
pub const CKO_TEEHSM_KEYDIST_SIGNER: u64 = 0x8000_0000 | 0x0054_0003;
/// Internal: the 32-byte Ed25519 public key of a key distribution signer record.
pub const CKA_TEEHSM_KEYDIST_SIGNER_KEY: u64 = CKA_VENDOR_DEFINED | 0x0054_0030;

/// Internal object class of a token's policy pushed by a fleet console
/// (docs/key-distribution.md, "Token policy"; `handler::keydist::policy`).
pub const CKO_TEEHSM_TOKEN_POLICY: u64 = 0x8000_0000 | 0x0054_0004;
/// Internal: the version of the policy in force (CK_ULONG).
pub const CKA_TEEHSM_POLICY_VERSION: u64 = CKA_VENDOR_DEFINED | 0x0054_0031;
/// Internal: the policy's object limit for the token (CK_ULONG; 0 = the TA's).
pub const CKA_TEEHSM_POLICY_MAX_OBJECTS: u64 = CKA_VENDOR_DEFINED | 0x0054_0032;
/// Internal: the policy's smallest RSA modulus in bits (CK_ULONG; 0 = any).
pub const CKA_TEEHSM_POLICY_MIN_RSA_BITS: u64 = CKA_VENDOR_DEFINED | 0x0054_0033;
/// Internal: the policy's algorithm rules (CK_ULONG; `token_policy::rules` bits).
pub const CKA_TEEHSM_POLICY_RULES: u64 = CKA_VENDOR_DEFINED | 0x0054_0034;

/// True for the TA's internal objects that PKCS#11 never sees: API client
/// records, API key records, API key versions and key distribution signers.
pub fn is_internal(o: &Object) -> bool {
    is_internal_record(o) || o.attrs.contains_key(&CKA_TEEHSM_API_KEY_VERSION)
}

/// True for internal bookkeeping records (client, API key and key
/// distribution signer records), which are not keys; API key versions are
/// keys and count as token objects.
pub fn is_internal_record(o: &Object) -> bool {
    let class = o.class();
    class == CKO_TEEHSM_CLIENT || class == CKO_TEEHSM_API_KEY || class == CKO_TEEHSM_KEYDIST_SIGNER || class == CKO_TEEHSM_TOKEN_POLICY
}

/// Attributes that are key material: they live in [`Object::secret`], never in the attribute map.
pub fn is_key_material(ty: u64, class: u64) -> bool {
    match ty {
        CKA_PRIVATE_EXPONENT | CKA_PRIME_1 | CKA_PRIME_2 | CKA_EXPONENT_1 | CKA_EXPONENT_2 | CKA_COEFFICIENT => true,
        CKA_VALUE | CKA_SEED => class == CKO_PRIVATE_KEY || class == CKO_SECRET_KEY,
        _ => false,
    }
}

/// Checks that a value has the shape its attribute kind requires.
pub fn value_well_formed(ty: u64, value: &[u8]) -> Result<(), &'static str> {
    match attr_kind(ty) {
        None => Err("unknown attribute type"),
        Some(AttrKind::Bool) if value.len() != 1 => Err("CK_BBOOL must be one byte"),
        Some(AttrKind::Ulong) if value.len() != 8 => Err("CK_ULONG must be eight bytes on the wire"),
        Some(AttrKind::Text) if value.len() > 256 => Err("text attribute longer than 256 bytes"),
        Some(AttrKind::Date) if !(value.is_empty() || (value.len() == 8 && value.iter().all(u8::is_ascii_digit))) => {
            Err("CK_DATE must be 8 ASCII digits or empty")
        }
        Some(AttrKind::MechList) if !value.len().is_multiple_of(8) => Err("mechanism list must be a multiple of 8 bytes"),
        Some(AttrKind::Template) => teehsm_wire::decode_template(value).map(|_| ()).map_err(|_| "malformed nested template"),
        _ => Ok(()),
    }
}

/// An object held by the TA.
pub struct Object {
    /// Handle: stable across restarts for token objects.
    pub id: u64,
    /// Slot (token) the object belongs to.
    pub slot: u64,
    /// Public attributes (everything except key material).
    pub attrs: BTreeMap<u64, Vec<u8>>,
    /// Key material in the TA's canonical encoding for its key type
    /// (EC/SM2 scalar, RSA PKCS#1 DER, ML-KEM dk, ML-DSA seed or sk, secret bytes).
    pub secret: Option<Zeroizing<Vec<u8>>>,
    /// The parsed key, built on first use and kept for later operations.
    pub loaded: OnceLock<Arc<LoadedKey>>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object").field("id", &self.id).field("slot", &self.slot).field("attrs", &self.attrs.len()).finish()
    }
}

impl Clone for Object {
    fn clone(&self) -> Self {
        Object { id: self.id, slot: self.slot, attrs: self.attrs.clone(), secret: self.secret.clone(), loaded: OnceLock::new() }
    }
}

impl Object {
    pub fn new(id: u64, slot: u64) -> Self {
        Object { id, slot, attrs: BTreeMap::new(), secret: None, loaded: OnceLock::new() }
    }

    pub fn get(&self, ty: u64) -> Option<&[u8]> {
        self.attrs.get(&ty).map(Vec::as_slice)
    }
    pub fn bool(&self, ty: u64) -> bool {
        matches!(self.get(ty), Some([b]) if *b != 0)
    }
    pub fn ulong(&self, ty: u64) -> Option<u64> {
        let a: [u8; 8] = self.get(ty)?.try_into().ok()?;
        Some(u64::from_be_bytes(a))
    }
    pub fn set_bool(&mut self, ty: u64, v: bool) {
        self.attrs.insert(ty, vec![v as u8]);
    }
    pub fn set_ulong(&mut self, ty: u64, v: u64) {
        self.attrs.insert(ty, v.to_be_bytes().to_vec());
    }
    pub fn class(&self) -> u64 {
        self.ulong(CKA_CLASS).unwrap_or(u64::MAX)
    }
    pub fn key_type(&self) -> Option<u64> {
        self.ulong(CKA_KEY_TYPE)
    }
    pub fn is_token(&self) -> bool {
        self.bool(CKA_TOKEN)
    }
    pub fn is_private(&self) -> bool {
        self.bool(CKA_PRIVATE)
    }
    pub fn label(&self) -> &[u8] {
        self.get(CKA_LABEL).unwrap_or(&[])
    }
    pub fn is_key(&self) -> bool {
        matches!(self.class(), CKO_PRIVATE_KEY | CKO_SECRET_KEY | CKO_PUBLIC_KEY)
    }

    /// True if every attribute in `template` is present with an equal value
    /// (C_FindObjects matching). Key material never matches a search.
    pub fn matches(&self, template: &[Attribute]) -> bool {
        template.iter().all(|a| self.get(a.ty) == Some(a.value.as_slice()))
    }

    /// Serializes for sealed storage.
    pub fn encode(&self, w: &mut Writer) {
        w.u64(self.id).u64(self.slot).u32(self.attrs.len() as u32);
        for (ty, v) in &self.attrs {
            w.u64(*ty).bytes(v);
        }
        match &self.secret {
            Some(s) => {
                w.u8(1).bytes(s);
            }
            None => {
                w.u8(0);
            }
        }
    }

    /// Reads what [`Object::encode`] wrote.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u64("object id")?;
        let slot = r.u64("object slot")?;
        let n = r.count("object attributes", 4096, 12)?;
        let mut o = Object::new(id, slot);
        for _ in 0..n {
            let ty = r.u64("attribute type")?;
            let v = r.bytes("attribute value", teehsm_wire::MAX_ATTR_VALUE_LEN)?;
            o.attrs.insert(ty, v);
        }
        o.secret = match r.u8("secret flag")? {
            0 => None,
            1 => Some(Zeroizing::new(r.bytes("key material", 1 << 20)?)),
            t => return Err(DecodeError::UnknownTag { what: "secret flag", tag: t as u64 }),
        };
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trip() {
        let mut o = Object::new(7, 0);
        o.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        o.set_bool(CKA_TOKEN, true);
        o.attrs.insert(CKA_LABEL, b"k".to_vec());
        o.secret = Some(Zeroizing::new(vec![1, 2, 3]));
        let mut w = Writer::new();
        o.encode(&mut w);
        let v = w.into_vec();
        let mut r = Reader::new(&v);
        let d = Object::decode(&mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(d.attrs, o.attrs);
        assert_eq!(d.secret.as_deref(), Some(&vec![1u8, 2, 3]));
        assert!(d.matches(&[Attribute::new(CKA_LABEL, b"k".to_vec())]));
        assert!(!d.matches(&[Attribute::new(CKA_LABEL, b"x".to_vec())]));
    }

    #[test]
    fn attribute_shapes_are_checked() {
        assert!(value_well_formed(CKA_SIGN, &[1]).is_ok());
        assert!(value_well_formed(CKA_SIGN, &[1, 0]).is_err());
        assert!(value_well_formed(CKA_CLASS, &[0; 4]).is_err());
        assert!(value_well_formed(0xdead_beef, &[]).is_err());
        assert!(is_key_material(CKA_VALUE, CKO_SECRET_KEY));
        assert!(!is_key_material(CKA_VALUE, CKO_CERTIFICATE));
    }
}
