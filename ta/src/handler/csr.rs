//! PKCS#10 certificate signing requests (RFC 2986) for TA-held private
//! keys, signed inside the TA (docs/key-distribution.md, "CSR generation").
//!
//! The request carries the key's public half (SubjectPublicKeyInfo), the
//! subject DN the caller gives and no attributes; the signature is made
//! with the key through the ordinary policy checks (CKA_SIGN, allowed
//! mechanisms), so a key that may not sign cannot get a CSR either.

use super::{deny, Conn, Result, Ta};
use crate::keys::LoadedKey;
use crate::policy::Usage;
use teehsm_crypto::der::{sequence, tlv};
use teehsm_crypto::ec;
use teehsm_wire::ck::*;
use teehsm_wire::{Mechanism, Reply, Rv};

/// Most relative distinguished names in a subject.
pub const MAX_RDNS: usize = 16;
/// Longest value of one DN attribute.
pub const MAX_RDN_VALUE: usize = 64;

const ID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const RSA_ALG_ID: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
const ED25519_ALG_ID: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
const ECDSA_SHA256_ALG_ID: &[u8] = &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const ECDSA_SHA384_ALG_ID: &[u8] = &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const SHA256_RSA_ALG_ID: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00];

/// DN attribute names, their OIDs (2.5.4.x) and whether the value is a PrintableString.
const DN_ATTRIBUTES: [(&str, u8, bool); 7] =
    [("CN", 3, false), ("SERIALNUMBER", 5, true), ("C", 6, true), ("L", 7, false), ("ST", 8, false), ("O", 10, false), ("OU", 11, false)];

fn bad_dn(why: impl Into<String>) -> crate::policy::Denied {
    deny(Rv::ARGUMENTS_BAD, format!("CSR subject: {}", why.into()))
}

fn printable(v: &str) -> bool {
    v.bytes().all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// Splits "CN=a,O=b" at unescaped commas into (name, value) pairs; `\` escapes the next character.
fn split_dn(dn: &str) -> Result<Vec<(String, String)>> {
    let mut parts = vec![String::new()];
    let mut chars = dn.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => parts.last_mut().into_iter().for_each(|p| p.push(n)),
                None => return Err(bad_dn("it ends with a lone backslash")),
            },
            ',' => parts.push(String::new()),
            c => parts.last_mut().into_iter().for_each(|p| p.push(c)),
        }
    }
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        let (name, value) = p.split_once('=').ok_or_else(|| bad_dn(format!("{p:?} is not NAME=VALUE")))?;
        out.push((name.trim().to_ascii_uppercase(), value.trim().to_string()));
    }
    Ok(out)
}

/// The DER Name of a subject string.
pub fn subject_der(dn: &str) -> Result<Vec<u8>> {
    if dn.trim().is_empty() {
        return Err(bad_dn("it is empty; give at least CN=..."));
    }
    let parts = split_dn(dn)?;
    if parts.len() > MAX_RDNS {
        return Err(bad_dn(format!("at most {MAX_RDNS} attributes, got {}", parts.len())));
    }
    let mut rdns = Vec::with_capacity(parts.len());
    for (name, value) in &parts {
        let (_, oid, is_printable) = DN_ATTRIBUTES.iter().find(|(n, _, _)| n == name).ok_or_else(|| {
            bad_dn(format!("unknown attribute {name:?} (one of {})", DN_ATTRIBUTES.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")))
        })?;
        if value.is_empty() || value.chars().count() > MAX_RDN_VALUE {
            return Err(bad_dn(format!("{name} must have 1 to {MAX_RDN_VALUE} characters")));
        }
        if name == "C" && !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(bad_dn(format!("C must be a two-letter country code such as DE, got {value:?}")));
        }
        if *is_printable && !printable(value) {
            return Err(bad_dn(format!("{name} may only hold letters, digits and ' ()+,-./:=?")));
        }
        if value.chars().any(char::is_control) {
            return Err(bad_dn(format!("{name} holds a control character")));
        }
        let string_tag = if *is_printable { 0x13 } else { 0x0c };
        let atv = sequence(&[&tlv(0x06, &[0x55, 0x04, *oid]), &tlv(string_tag, value.as_bytes())]);
        rdns.push(tlv(0x31, &atv));
    }
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    Ok(sequence(&refs))
}

/// DER INTEGER of an unsigned big-endian value.
fn integer(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len().saturating_sub(1));
    let v = match v.get(start..) {
        Some(rest) if !rest.is_empty() => rest,
        _ => &[0u8][..],
    };
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        tlv(0x02, &[&[0u8][..], v].concat())
    } else {
        tlv(0x02, v)
    }
}

fn bit_string(v: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], v].concat())
}

/// The key's SubjectPublicKeyInfo and the signature AlgorithmIdentifier for `mech`.
fn spki_and_alg(key: &LoadedKey, mech: u64) -> Result<(Vec<u8>, &'static [u8])> {
    let wrong = |what: &str| deny(Rv::KEY_TYPE_INCONSISTENT, format!("mechanism 0x{mech:x} cannot sign a CSR with {what}"));
    match key {
        LoadedKey::Ec(k) => {
            let alg = match (k.curve(), mech) {
                (ec::Curve::P256 | ec::Curve::P384, CKM_ECDSA_SHA256) => ECDSA_SHA256_ALG_ID,
                (ec::Curve::P384, CKM_ECDSA_SHA384) => ECDSA_SHA384_ALG_ID,
                (c, _) => return Err(wrong(&format!("a {} key (use CKM_ECDSA_SHA256 or, for P-384, CKM_ECDSA_SHA384)", c.name()))),
            };
            let alg_id = sequence(&[ID_EC_PUBLIC_KEY, k.curve().ec_params_der()]);
            Ok((sequence(&[&alg_id, &bit_string(&k.public_point())]), alg))
        }
        LoadedKey::Rsa(k) if mech == CKM_SHA256_RSA_PKCS => {
            Ok((sequence(&[RSA_ALG_ID, &bit_string(&k.public_key().to_pkcs1_der())]), SHA256_RSA_ALG_ID))
        }
        LoadedKey::Rsa(_) => Err(wrong("an RSA key (use CKM_SHA256_RSA_PKCS)")),
        LoadedKey::Ed25519(k) if mech == CKM_EDDSA => Ok((sequence(&[ED25519_ALG_ID, &bit_string(&k.public_key())]), ED25519_ALG_ID)),
        LoadedKey::Ed25519(_) => Err(wrong("an Ed25519 key (use CKM_EDDSA)")),
        _ => Err(deny(Rv::KEY_TYPE_INCONSISTENT, "CSRs are made for EC (P-256, P-384), RSA and Ed25519 private keys only")),
    }
}

impl Ta {
    pub(super) fn generate_csr(&self, conn: &Conn, session: u64, key: u64, subject: &str, mech: u64) -> Result<Reply> {
        let r = (|| {
            let name = subject_der(subject)?;
            let (o, k) = self.key_for(conn, session, key, Usage::Sign, &Mechanism::new(mech), Rv::KEY_HANDLE_INVALID)?;
            if o.class() != CKO_PRIVATE_KEY {
                return Err(deny(Rv::KEY_TYPE_INCONSISTENT, "a CSR needs a private key"));
            }
            let (spki, alg) = spki_and_alg(&k, mech)?;
            let info = sequence(&[&integer(&[0]), &name, &spki, &[0xa0, 0x00]]);
            let sig = crate::mech::sign(&k, &Mechanism::new(mech), &info)?;
            let sig = if matches!(&*k, LoadedKey::Ec(_)) { ec::sig_rs_to_der(&sig) } else { sig };
            Ok(Reply::Bytes(sequence(&[&info, alg, &bit_string(&sig)])))
        })();
        self.audited(conn, "GenerateCsr", session, Some(key), Some(mech), r, |_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_encode_and_bad_ones_say_why() {
        let d = subject_der("CN=host.example, O=Example\\, Inc., C=DE").unwrap();
        assert_eq!(d[0], 0x30);
        assert!(d.windows(13).any(|w| w == b"Example, Inc."));
        assert!(d.windows(2).any(|w| w == b"DE"));
        for (bad, why) in [
            ("", "empty"),
            ("CN", "NAME=VALUE"),
            ("XX=1", "unknown attribute"),
            ("C=Germany", "two-letter"),
            ("CN=", "1 to 64"),
            ("CN=a\\", "backslash"),
            ("SERIALNUMBER=a*b", "only hold"),
        ] {
            let e = subject_der(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad:?}: {}", e.message);
        }
        assert!(subject_der(&vec!["CN=a"; MAX_RDNS + 1].join(",")).is_err());
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(&[0]), vec![2, 1, 0]);
        assert_eq!(integer(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(integer(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(integer(&[]), vec![2, 1, 0]);
    }
}
