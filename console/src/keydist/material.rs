//! The key an envelope carries: its material (sealed) and the PKCS#11
//! template of the object the TA makes (signed, in clear).

use super::KeydistError;
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use teehsm_wire::ck::*;
use teehsm_wire::keydist::pem_decode;
use teehsm_wire::Attribute;
use zeroize::Zeroizing;

/// DER of the P-256 curve OID (CKA_EC_PARAMS).
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The SubjectPublicKeyInfo (DER) of an uncompressed P-256 point.
pub fn p256_spki(point: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        0x03, 0x42, 0x00,
    ];
    [&PREFIX[..], point].concat()
}

/// Key material to distribute.
pub enum KeyMaterial {
    /// An AES key (16, 24 or 32 bytes).
    Aes(Zeroizing<Vec<u8>>),
    /// A generic secret (HMAC key, ...).
    GenericSecret(Zeroizing<Vec<u8>>),
    /// A P-256 private key: its 32-byte scalar.
    EcP256(Zeroizing<Vec<u8>>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, len) = match self {
            KeyMaterial::Aes(v) => ("Aes", v.len()),
            KeyMaterial::GenericSecret(v) => ("GenericSecret", v.len()),
            KeyMaterial::EcP256(v) => ("EcP256", v.len()),
        };
        write!(f, "{kind}({len} bytes)")
    }
}

/// Key types `KeyMaterial::from_file` reads, as the CLI names them.
pub const KEY_TYPES: [&str; 3] = ["aes", "generic-secret", "ec-p256"];

impl KeyMaterial {
    /// Reads key material: raw bytes for `aes` and `generic-secret`, a
    /// PKCS#8 private key (PEM `PRIVATE KEY` or DER) for `ec-p256`.
    pub fn from_bytes(key_type: &str, bytes: &[u8]) -> Result<KeyMaterial, KeydistError> {
        match key_type {
            "aes" => {
                if !matches!(bytes.len(), 16 | 24 | 32) {
                    return Err(KeydistError::Material(format!("an AES key is 16, 24 or 32 raw bytes, the file has {}", bytes.len())));
                }
                Ok(KeyMaterial::Aes(Zeroizing::new(bytes.to_vec())))
            }
            "generic-secret" => {
                if bytes.is_empty() || bytes.len() > 512 {
                    return Err(KeydistError::Material(format!("a generic secret is 1 to 512 raw bytes, the file has {}", bytes.len())));
                }
                Ok(KeyMaterial::GenericSecret(Zeroizing::new(bytes.to_vec())))
            }
            "ec-p256" => {
                let der = match std::str::from_utf8(bytes) {
                    Ok(t) if t.contains("-----BEGIN") => Zeroizing::new(pem_decode("PRIVATE KEY", t).map_err(KeydistError::Material)?),
                    _ => Zeroizing::new(bytes.to_vec()),
                };
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
                    .map_err(|e| KeydistError::Material(format!("not a P-256 PKCS#8 private key: {e}")))?;
                let scalar = pair.private_key().as_be_bytes().map_err(|_| KeydistError::Crypto("reading the P-256 private scalar"))?;
                Ok(KeyMaterial::EcP256(Zeroizing::new(scalar.as_ref().to_vec())))
            }
            other => Err(KeydistError::Material(format!("unknown key type {other:?} (one of {})", KEY_TYPES.join(", ")))),
        }
    }

    /// (CKA_CLASS, CKA_KEY_TYPE, other public attributes this key needs).
    fn public_attributes(&self) -> Vec<Attribute> {
        match self {
            KeyMaterial::Aes(_) => vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_AES)],
            KeyMaterial::GenericSecret(_) => vec![Attribute::ulong(CKA_CLASS, CKO_SECRET_KEY), Attribute::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)],
            KeyMaterial::EcP256(_) => vec![
                Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
                Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
                Attribute::new(CKA_EC_PARAMS, P256_EC_PARAMS.to_vec()),
            ],
        }
    }

    /// The material attributes (sealed in the envelope).
    pub fn material(&self) -> Vec<Attribute> {
        let v = match self {
            KeyMaterial::Aes(v) | KeyMaterial::GenericSecret(v) | KeyMaterial::EcP256(v) => v,
        };
        vec![Attribute::new(CKA_VALUE, v.to_vec())]
    }
}

/// Uses the CLI names: sign, verify, encrypt, decrypt, wrap, unwrap, derive.
pub const USAGES: [(&str, u64); 7] = [
    ("sign", CKA_SIGN),
    ("verify", CKA_VERIFY),
    ("encrypt", CKA_ENCRYPT),
    ("decrypt", CKA_DECRYPT),
    ("wrap", CKA_WRAP),
    ("unwrap", CKA_UNWRAP),
    ("derive", CKA_DERIVE),
];

/// The key object's attributes.
#[derive(Clone, Debug, Default)]
pub struct KeySpec {
    pub label: String,
    /// CKA_ID (empty: none).
    pub id: Vec<u8>,
    /// Usage attributes set to true (CKA_SIGN, CKA_DECRYPT, ...); empty: the
    /// ordinary uses of the key type.
    pub usages: Vec<u64>,
    /// CKA_SENSITIVE; `None` = the TA's default for distributed keys (true).
    pub sensitive: Option<bool>,
    /// CKA_EXTRACTABLE; `None` = the TA's default for distributed keys (false).
    pub extractable: Option<bool>,
    /// CKA_TOKEN; `None` = the TA's default (a token object).
    pub token: Option<bool>,
}

impl KeySpec {
    /// Parses comma-separated usage names into attribute types.
    pub fn parse_usages(s: &str) -> Result<Vec<u64>, KeydistError> {
        s.split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| {
                USAGES.iter().find(|(n, _)| *n == u).map(|(_, t)| *t).ok_or_else(|| {
                    KeydistError::Invalid(format!("unknown usage {u:?} (one of {})", USAGES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")))
                })
            })
            .collect()
    }

    /// The signed template for `key`.
    pub fn template(&self, key: &KeyMaterial) -> Vec<Attribute> {
        let mut t = key.public_attributes();
        t.push(Attribute::new(CKA_LABEL, self.label.as_bytes().to_vec()));
        if !self.id.is_empty() {
            t.push(Attribute::new(CKA_ID, self.id.clone()));
        }
        for u in &self.usages {
            if !t.iter().any(|a| a.ty == *u) {
                t.push(Attribute::bool(*u, true));
            }
        }
        for (ty, v) in [(CKA_SENSITIVE, self.sensitive), (CKA_EXTRACTABLE, self.extractable), (CKA_TOKEN, self.token)] {
            if let Some(v) = v {
                t.push(Attribute::bool(ty, v));
            }
        }
        t
    }
}
