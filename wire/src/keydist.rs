//! Key distribution envelopes (docs/key-distribution.md): layout only.
//!
//! A fleet console wraps a key to one TA's attested channel key bundle and
//! signs the result with its Ed25519 key distribution key; the TA imports it
//! with `Request::ImportDistributedKey` only if the signer is registered on
//! the token, the envelope names this TA's bundle and token, is within its
//! validity period and was not seen before. This module holds the byte
//! layout shared by the console (teehsm-console, aws-lc-rs) and the TA
//! (teehsm-ta); all cryptography lives in those two.
//!
//! Layout (integers big-endian, `bytes` = u32 length then the bytes):
//!
//! ```text
//! header:
//!   magic            8   "TEEHSMK1"
//!   version          1   1
//!   envelope id     16   random
//!   target          32   SHA-256 of the TA's channel key bundle
//!   slot             8   u64
//!   token serial         bytes (0..=32, empty = any token in the slot)
//!   created_ms       8   u64, Unix ms
//!   expires_ms       8   u64, Unix ms
//!   signer          32   Ed25519 public key of the console
//!   ephemeral P-256 65   uncompressed point (ECDH with the bundle's P-256 key)
//!   ML-KEM ct     1088   ML-KEM-768 ciphertext to the bundle's ML-KEM key
//!   template             u32 count, then per attribute u64 type, bytes value
//! body:
//!   header
//!   ciphertext           bytes: AES-256-GCM(key, iv, aad = header, plaintext) || tag
//! envelope:
//!   body
//!   signature       64   Ed25519(signer, "teehsm-keydist-v1" || body)
//! ```
//!
//! Key schedule: `okm = HKDF-SHA-256(ikm = ECDH x || ML-KEM shared secret,
//! salt = envelope id, info = "teehsm keydist v1" || envelope id || target
//! || slot (u64 BE), 44 bytes)`; key = okm[..32], iv = okm[32..44]. The
//! plaintext is a template of key material attributes (CKA_VALUE,
//! CKA_PRIVATE_EXPONENT, ...) in the template encoding above.

use crate::codec::{DecodeError, Reader, Writer};
use crate::msg::{decode_template, encode_template, Attribute, CHANNEL_MLKEM768_CT_LEN, CHANNEL_P256_POINT_LEN};
use zeroize::Zeroizing;

/// First bytes of every envelope.
pub const KEYDIST_MAGIC: &[u8; 8] = b"TEEHSMK1";
/// Envelope format version.
pub const KEYDIST_VERSION: u8 = 1;
/// Domain separation prefix of the signed message.
pub const KEYDIST_SIGN_CONTEXT: &[u8] = b"teehsm-keydist-v1";
/// HKDF info label of the key schedule.
pub const KEYDIST_KDF_LABEL: &[u8] = b"teehsm keydist v1";
/// Length of an envelope id.
pub const KEYDIST_ID_LEN: usize = 16;
/// Length of an Ed25519 public key (the signer).
pub const KEYDIST_SIGNER_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const KEYDIST_SIGNATURE_LEN: usize = 64;
/// Longest token serial an envelope may name.
pub const KEYDIST_MAX_SERIAL_LEN: usize = 32;
/// Most attributes in the public template.
pub const KEYDIST_MAX_TEMPLATE: usize = 64;
/// Largest attribute value in the public template.
pub const KEYDIST_MAX_ATTR_LEN: usize = 8 * 1024;
/// Largest ciphertext (key material of an RSA-8192 key fits easily).
pub const KEYDIST_MAX_CIPHERTEXT: usize = 32 * 1024;
/// Largest envelope.
pub const KEYDIST_MAX_ENVELOPE: usize = 128 * 1024;
/// Length of the key schedule output: AES-256 key and GCM IV.
pub const KEYDIST_OKM_LEN: usize = 44;
/// Most signers one token may trust.
pub const KEYDIST_MAX_SIGNERS: usize = 64;

/// A decoded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub id: [u8; KEYDIST_ID_LEN],
    /// SHA-256 of the target TA's channel key bundle.
    pub target: [u8; 32],
    pub slot: u64,
    /// Serial of the target token; empty = whatever token is in `slot`.
    pub token_serial: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    /// The console's Ed25519 public key.
    pub signer: [u8; KEYDIST_SIGNER_LEN],
    pub ephemeral_p256: [u8; CHANNEL_P256_POINT_LEN],
    pub mlkem_ct: Vec<u8>,
    /// The new key object's attributes (no key material).
    pub template: Vec<Attribute>,
    /// The sealed key material (GCM tag included).
    pub ciphertext: Vec<u8>,
    pub signature: [u8; KEYDIST_SIGNATURE_LEN],
}

/// Where the signed parts of an encoded envelope end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvelopeLayout {
    /// Length of the header (the GCM AAD).
    pub header_len: usize,
    /// Length of header + ciphertext (what the signature covers).
    pub body_len: usize,
}

impl Envelope {
    /// The header (the GCM additional data).
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(1400);
        w.raw(KEYDIST_MAGIC).u8(KEYDIST_VERSION).raw(&self.id).raw(&self.target).u64(self.slot).str(&self.token_serial);
        w.u64(self.created_ms).u64(self.expires_ms).raw(&self.signer).raw(&self.ephemeral_p256).raw(&self.mlkem_ct);
        w.raw(&encode_template(&self.template));
        w.into_vec()
    }

    /// Header and ciphertext: what the signature covers (after the context).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(1400 + self.ciphertext.len());
        w.raw(&self.header_bytes()).bytes(&self.ciphertext);
        w.into_vec()
    }

    /// The message the console signs: `"teehsm-keydist-v1" || body`.
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.body_bytes())
    }

    /// The whole envelope.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.body_bytes();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Decodes an envelope, refusing anything malformed or out of bounds.
    pub fn from_bytes(b: &[u8]) -> Result<(Envelope, EnvelopeLayout), DecodeError> {
        if b.len() > KEYDIST_MAX_ENVELOPE {
            return Err(DecodeError::Invalid { what: "key distribution envelope", why: "larger than 128 KiB" });
        }
        let mut r = Reader::new(b);
        let magic: [u8; 8] = r.array("envelope magic")?;
        if &magic != KEYDIST_MAGIC {
            return Err(DecodeError::Invalid { what: "envelope magic", why: "not a teehsm key distribution envelope" });
        }
        let version = r.u8("envelope version")?;
        if version != KEYDIST_VERSION {
            return Err(DecodeError::UnknownTag { what: "envelope version", tag: version as u64 });
        }
        let id = r.array("envelope id")?;
        let target = r.array("envelope target")?;
        let slot = r.u64("envelope slot")?;
        let token_serial = r.string("envelope token serial", KEYDIST_MAX_SERIAL_LEN)?;
        let created_ms = r.u64("envelope creation time")?;
        let expires_ms = r.u64("envelope expiry time")?;
        let signer = r.array("envelope signer")?;
        let ephemeral_p256 = r.array("ephemeral P-256 point")?;
        let mlkem_ct = r.array::<CHANNEL_MLKEM768_CT_LEN>("ML-KEM-768 ciphertext")?.to_vec();
        let n = r.count("envelope template", KEYDIST_MAX_TEMPLATE, 12)?;
        let mut template = Vec::with_capacity(n);
        for _ in 0..n {
            let ty = r.u64("attribute type")?;
            let value = r.bytes("attribute value", KEYDIST_MAX_ATTR_LEN)?;
            template.push(Attribute { ty, value });
        }
        let header_len = b.len() - r.remaining();
        let ciphertext = r.bytes("envelope ciphertext", KEYDIST_MAX_CIPHERTEXT)?;
        let body_len = b.len() - r.remaining();
        let signature = r.array("envelope signature")?;
        r.finish()?;
        let env =
            Envelope { id, target, slot, token_serial, created_ms, expires_ms, signer, ephemeral_p256, mlkem_ct, template, ciphertext, signature };
        Ok((env, EnvelopeLayout { header_len, body_len }))
    }
}

/// `"teehsm-keydist-v1" || body`.
pub fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(KEYDIST_SIGN_CONTEXT.len() + body.len());
    m.extend_from_slice(KEYDIST_SIGN_CONTEXT);
    m.extend_from_slice(body);
    m
}

/// The HKDF info of the key schedule: `"teehsm keydist v1" || id || target || slot`.
pub fn kdf_info(id: &[u8; KEYDIST_ID_LEN], target: &[u8; 32], slot: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(KEYDIST_KDF_LABEL.len() + KEYDIST_ID_LEN + 32 + 8);
    m.extend_from_slice(KEYDIST_KDF_LABEL);
    m.extend_from_slice(id);
    m.extend_from_slice(target);
    m.extend_from_slice(&slot.to_be_bytes());
    m
}

/// Encodes the key material plaintext (a template of material attributes).
pub fn encode_material(material: &[Attribute]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(encode_template(material))
}

/// Decodes the key material plaintext.
pub fn decode_material(b: &[u8]) -> Result<Vec<Attribute>, DecodeError> {
    decode_template(b)
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// A signer's public key as PEM (`PUBLIC KEY`, Ed25519 SubjectPublicKeyInfo),
/// as `teehsm-console keydist keygen` writes it.
pub fn signer_public_key_pem(key: &[u8; KEYDIST_SIGNER_LEN]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key);
    pem_encode("PUBLIC KEY", &der)
}

/// Parses a signer's public key: PEM `PUBLIC KEY` (Ed25519
/// SubjectPublicKeyInfo) or 64 hex digits. The error says what is wrong.
pub fn parse_signer_public_key(text: &str) -> Result<[u8; KEYDIST_SIGNER_LEN], String> {
    let text = text.trim();
    let raw = if text.starts_with("-----BEGIN") {
        let der = pem_decode("PUBLIC KEY", text)?;
        der.strip_prefix(&ED25519_SPKI_PREFIX[..]).map(<[u8]>::to_vec).ok_or("the PEM public key is not an Ed25519 key")?
    } else {
        hex_decode(text).ok_or("neither a PEM public key nor hex")?
    };
    raw.as_slice().try_into().map_err(|_| format!("an Ed25519 public key is {KEYDIST_SIGNER_LEN} bytes, got {}", raw.len()))
}

/// PEM with 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first PEM block labelled `label`.
pub fn pem_decode(label: &str, text: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or_else(|| format!("no {begin} line"))? + begin.len();
    let stop = text[start..].find(&end).ok_or_else(|| format!("no {end} line"))? + start;
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut out = Vec::new();
    for c in text[start..stop].bytes().filter(|c| !c.is_ascii_whitespace()).take_while(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("the {label} PEM body is not base64")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    s.chunks(2).map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            id: [1; 16],
            target: [2; 32],
            slot: 3,
            token_serial: "0011223344556677".into(),
            created_ms: 10,
            expires_ms: 20,
            signer: [4; 32],
            ephemeral_p256: [5; 65],
            mlkem_ct: vec![6; CHANNEL_MLKEM768_CT_LEN],
            template: vec![Attribute::ulong(crate::ck::CKA_CLASS, crate::ck::CKO_SECRET_KEY), Attribute::new(crate::ck::CKA_LABEL, b"k".to_vec())],
            ciphertext: vec![7; 48],
            signature: [8; 64],
        }
    }

    #[test]
    fn envelope_round_trips_with_layout() {
        let e = sample();
        let b = e.to_bytes();
        let (d, layout) = Envelope::from_bytes(&b).unwrap();
        assert_eq!(d, e);
        assert_eq!(&b[..layout.header_len], e.header_bytes().as_slice());
        assert_eq!(&b[..layout.body_len], e.body_bytes().as_slice());
        assert_eq!(layout.body_len + KEYDIST_SIGNATURE_LEN, b.len());
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        let b = sample().to_bytes();
        for cut in [0, 7, 8, 9, 100, b.len() - 1] {
            assert!(Envelope::from_bytes(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(Envelope::from_bytes(&long).is_err());
        let mut bad_magic = b.clone();
        bad_magic[0] ^= 1;
        assert!(Envelope::from_bytes(&bad_magic).is_err());
        let mut bad_version = b.clone();
        bad_version[8] = 2;
        assert!(matches!(Envelope::from_bytes(&bad_version), Err(DecodeError::UnknownTag { .. })));
        assert!(Envelope::from_bytes(&vec![0u8; KEYDIST_MAX_ENVELOPE + 1]).is_err());
    }

    #[test]
    fn signer_keys_parse_from_pem_and_hex() {
        let k = [0xab; 32];
        let pem = signer_public_key_pem(&k);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert_eq!(parse_signer_public_key(&pem), Ok(k));
        assert_eq!(parse_signer_public_key(&"ab".repeat(32)), Ok(k));
        assert!(parse_signer_public_key(&"ab".repeat(31)).unwrap_err().contains("32 bytes"));
        assert!(parse_signer_public_key("zz").is_err());
        let p256 = pem_encode("PUBLIC KEY", &[0x30, 0x59, 1, 2, 3]);
        assert!(parse_signer_public_key(&p256).unwrap_err().contains("not an Ed25519"));
        for n in 0..7 {
            let der: Vec<u8> = (0..n).collect();
            assert_eq!(pem_decode("X", &pem_encode("X", &der)).unwrap(), der);
        }
    }

    #[test]
    fn material_round_trips() {
        let m = vec![Attribute::new(crate::ck::CKA_VALUE, vec![9; 32])];
        assert_eq!(decode_material(&encode_material(&m)).unwrap(), m);
        assert_eq!(kdf_info(&[1; 16], &[2; 32], 3).len(), KEYDIST_KDF_LABEL.len() + 56);
    }
}
