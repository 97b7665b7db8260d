//! PKCS#8 PrivateKeyInfo (RFC 5208; OneAsymmetricKey, RFC 5958) for the
//! private keys the TA can wrap and unwrap: RSA (PKCS#1 inside), EC P-256
//! and P-384 and SM2 (RFC 5915 ECPrivateKey inside; SM2 as OpenSSL writes
//! it: id-ecPublicKey with the sm2p256v1 curve), Ed25519, Ed448 and X25519
//! (RFC 8410). The decoder reads bytes a caller decrypted with its own key,
//! so it is bounded and total: malformed input is an error, never a panic
//! (fuzzed by `fuzz/fuzz_targets/pkcs8.rs`). It checks structure only; the
//! key values are validated where they are loaded.

use crate::der::{self, Reader};
use crate::ec::Curve;
use crate::error::CryptoError;
use zeroize::Zeroizing;

/// rsaEncryption 1.2.840.113549.1.1.1
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey 1.2.840.10045.2.1
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// sm2p256v1 1.2.156.10197.1.301 (the curve, as an EC parameter)
const OID_SM2_CURVE: &[u8] = &[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
/// id-X25519, id-Ed25519, id-Ed448 (RFC 8410)
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

const TAG_OID: u8 = 0x06;
const TAG_NULL: u8 = 0x05;
const TAG_BIT_STRING: u8 = 0x03;
/// ECPrivateKey's [0] parameters and [1] publicKey (explicit).
const TAG_EC_PARAMS: u8 = 0xa0;
const TAG_EC_PUBLIC: u8 = 0xa1;

/// A private key as PKCS#8 carries it.
#[derive(PartialEq, Eq)]
pub enum Pkcs8Key {
    /// The PKCS#1 RSAPrivateKey DER.
    Rsa {
        pkcs1: Zeroizing<Vec<u8>>,
    },
    /// The scalar, left-padded to the curve's size.
    Ec {
        curve: Curve,
        scalar: Zeroizing<Vec<u8>>,
    },
    Sm2 {
        scalar: Zeroizing<Vec<u8>>,
    },
    Ed25519 {
        seed: Zeroizing<Vec<u8>>,
    },
    Ed448 {
        seed: Zeroizing<Vec<u8>>,
    },
    X25519 {
        key: Zeroizing<Vec<u8>>,
    },
}

impl std::fmt::Debug for Pkcs8Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Pkcs8Key::Rsa { .. } => "Rsa",
            Pkcs8Key::Ec { curve: Curve::P256, .. } => "Ec(P-256)",
            Pkcs8Key::Ec { curve: Curve::P384, .. } => "Ec(P-384)",
            Pkcs8Key::Sm2 { .. } => "Sm2",
            Pkcs8Key::Ed25519 { .. } => "Ed25519",
            Pkcs8Key::Ed448 { .. } => "Ed448",
            Pkcs8Key::X25519 { .. } => "X25519",
        };
        write!(f, "Pkcs8Key::{name}(..)")
    }
}

fn oid(body: &[u8]) -> Vec<u8> {
    der::tlv(TAG_OID, body)
}

fn ec_private_key(scalar: &[u8], public_point: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let version = der::unsigned_integer(&[1]);
    let key = Zeroizing::new(der::tlv(0x04, scalar));
    let public = public_point.map(|p| {
        let mut bits = Vec::with_capacity(p.len() + 1);
        bits.push(0); // no unused bits
        bits.extend_from_slice(p);
        der::tlv(TAG_EC_PUBLIC, &der::tlv(TAG_BIT_STRING, &bits))
    });
    Zeroizing::new(der::sequence(&[&version, &key, public.as_deref().unwrap_or(&[])]))
}

/// The PKCS#8 DER of `key` (version 0). `public_point` (uncompressed EC or
/// SM2 point) goes into the ECPrivateKey when given, as OpenSSL writes it.
pub fn encode(key: &Pkcs8Key, public_point: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let (algorithm, private): (Vec<u8>, Zeroizing<Vec<u8>>) = match key {
        Pkcs8Key::Rsa { pkcs1 } => (der::sequence(&[&oid(OID_RSA), &[TAG_NULL, 0]]), pkcs1.clone()),
        Pkcs8Key::Ec { curve, scalar } => (der::sequence(&[&oid(OID_EC), curve.ec_params_der()]), ec_private_key(scalar, public_point)),
        Pkcs8Key::Sm2 { scalar } => (der::sequence(&[&oid(OID_EC), &oid(OID_SM2_CURVE)]), ec_private_key(scalar, public_point)),
        Pkcs8Key::Ed25519 { seed } => (der::sequence(&[&oid(OID_ED25519)]), Zeroizing::new(der::tlv(0x04, seed))),
        Pkcs8Key::Ed448 { seed } => (der::sequence(&[&oid(OID_ED448)]), Zeroizing::new(der::tlv(0x04, seed))),
        Pkcs8Key::X25519 { key } => (der::sequence(&[&oid(OID_X25519)]), Zeroizing::new(der::tlv(0x04, key))),
    };
    let version = der::unsigned_integer(&[0]);
    let private = Zeroizing::new(der::tlv(0x04, &private));
    Zeroizing::new(der::sequence(&[&version, &algorithm, &private]))
}

fn bad(why: &str) -> CryptoError {
    CryptoError::InvalidKey(format!("not a PKCS#8 private key: {why}"))
}

/// Skips the context-specific fields that may end a structure
/// (OneAsymmetricKey's attributes and publicKey, ECPrivateKey's).
fn skip_context_fields(r: &mut Reader<'_>) -> Result<(), CryptoError> {
    while let Some(tag) = r.peek() {
        if tag & 0xc0 != 0x80 {
            return Err(bad("unexpected data after the private key"));
        }
        r.tlv(tag).map_err(|_| bad("a malformed optional field"))?;
    }
    Ok(())
}

/// The scalar of an RFC 5915 ECPrivateKey, left-padded to `len` bytes; its
/// optional parameters must name `curve_params` (an OID TLV) if present.
fn ec_scalar(der: &[u8], len: usize, curve_params: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut outer = Reader::new(der);
    let mut r = outer.sequence().map_err(|_| bad("the EC private key is not a SEQUENCE"))?;
    outer.finish().map_err(|_| bad("data after the EC private key"))?;
    if r.unsigned_integer().map_err(|_| bad("no EC private key version"))? != [1] {
        return Err(bad("the EC private key version is not 1"));
    }
    let scalar = r.octet_string().map_err(|_| bad("no EC private key value"))?;
    if scalar.is_empty() || scalar.len() > len {
        return Err(bad("the EC private key value has the wrong length for its curve"));
    }
    if r.peek() == Some(TAG_EC_PARAMS) {
        let params = r.tlv(TAG_EC_PARAMS).map_err(|_| bad("malformed EC parameters"))?;
        if params != curve_params {
            return Err(bad("the EC private key names another curve than its algorithm"));
        }
    }
    if r.peek() == Some(TAG_EC_PUBLIC) {
        r.tlv(TAG_EC_PUBLIC).map_err(|_| bad("malformed EC public key"))?;
    }
    r.finish().map_err(|_| bad("unexpected data in the EC private key"))?;
    let mut padded = Zeroizing::new(vec![0u8; len]);
    padded[len - scalar.len()..].copy_from_slice(scalar);
    Ok(padded)
}

/// A CurvePrivateKey (RFC 8410): an OCTET STRING of exactly `len` bytes.
fn curve_key(der: &[u8], len: usize, what: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut r = Reader::new(der);
    let key = r.octet_string().map_err(|_| bad(&format!("the {what} key is not an OCTET STRING")))?;
    r.finish().map_err(|_| bad(&format!("data after the {what} key")))?;
    if key.len() != len {
        return Err(bad(&format!("an {what} private key is {len} bytes, not {}", key.len())));
    }
    Ok(Zeroizing::new(key.to_vec()))
}

/// Reads a PKCS#8 PrivateKeyInfo or OneAsymmetricKey (version 0 or 1;
/// attributes and an embedded public key are ignored). Encrypted PKCS#8
/// and algorithms other than the ones above are errors.
pub fn decode(input: &[u8]) -> Result<Pkcs8Key, CryptoError> {
    let mut outer = Reader::new(input);
    let mut r = outer.sequence().map_err(|_| bad("not a DER SEQUENCE (an encrypted PKCS#8 is not accepted either)"))?;
    outer.finish().map_err(|_| bad("data after the PrivateKeyInfo"))?;
    let version = r.unsigned_integer().map_err(|_| bad("no version"))?;
    if version != [0] && version != [1] {
        return Err(bad("version is neither 0 nor 1"));
    }
    let mut alg = r.sequence().map_err(|_| bad("no AlgorithmIdentifier"))?;
    let algorithm = alg.tlv(TAG_OID).map_err(|_| bad("no algorithm OID"))?;
    let params = alg.rest();
    let private = r.octet_string().map_err(|_| bad("no privateKey OCTET STRING"))?;
    skip_context_fields(&mut r)?;
    let curve_oid = |p: &[u8]| -> Result<Vec<u8>, CryptoError> {
        let mut pr = Reader::new(p);
        let body = pr.tlv(TAG_OID).map_err(|_| bad("EC keys need a named curve (explicit curve parameters are not accepted)"))?;
        pr.finish().map_err(|_| bad("data after the curve OID"))?;
        Ok(body.to_vec())
    };
    match algorithm {
        OID_RSA => {
            if !(params.is_empty() || params == [TAG_NULL, 0]) {
                return Err(bad("rsaEncryption takes NULL parameters"));
            }
            Ok(Pkcs8Key::Rsa { pkcs1: Zeroizing::new(private.to_vec()) })
        }
        OID_EC => {
            let curve = curve_oid(params)?;
            if curve == OID_SM2_CURVE {
                return Ok(Pkcs8Key::Sm2 { scalar: ec_scalar(private, 32, &oid(OID_SM2_CURVE))? });
            }
            let full = oid(&curve);
            let curve = Curve::from_ec_params(&full).ok_or_else(|| bad("the EC curve is not P-256, P-384 or SM2"))?;
            Ok(Pkcs8Key::Ec { curve, scalar: ec_scalar(private, curve.scalar_len(), &full)? })
        }
        OID_ED25519 | OID_ED448 | OID_X25519 => {
            if !params.is_empty() {
                return Err(bad("RFC 8410 keys have no algorithm parameters"));
            }
            Ok(match algorithm {
                OID_ED25519 => Pkcs8Key::Ed25519 { seed: curve_key(private, 32, "Ed25519")? },
                OID_ED448 => Pkcs8Key::Ed448 { seed: curve_key(private, 57, "Ed448")? },
                _ => Pkcs8Key::X25519 { key: curve_key(private, 32, "X25519")? },
            })
        }
        _ => Err(CryptoError::Unsupported(
            "PKCS#8 private keys of this algorithm (only RSA, EC P-256/P-384, SM2, Ed25519, Ed448 and X25519 are accepted)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl CLI");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// A key OpenSSL generated, as unencrypted PKCS#8 DER.
    fn openssl_key(genpkey: &[&str]) -> Vec<u8> {
        let pem = openssl(&[&["genpkey"], genpkey].concat(), b"");
        openssl(&["pkcs8", "-topk8", "-nocrypt", "-outform", "DER"], &pem)
    }

    #[test]
    fn keys_from_openssl_decode_and_encode_back_to_what_openssl_reads() {
        for (args, expect) in [
            (&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..], "Rsa"),
            (&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..], "Ec(P-256)"),
            (&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"][..], "Ec(P-384)"),
            (&["-algorithm", "SM2"][..], "Sm2"),
            (&["-algorithm", "ED25519"][..], "Ed25519"),
            (&["-algorithm", "ED448"][..], "Ed448"),
            (&["-algorithm", "X25519"][..], "X25519"),
        ] {
            let der = openssl_key(args);
            let key = decode(&der).unwrap_or_else(|e| panic!("{expect}: {e}"));
            assert_eq!(format!("{key:?}"), format!("Pkcs8Key::{expect}(..)"));
            // Our encoding (without the optional public key) carries the same private key.
            let ours = encode(&key, None);
            assert_eq!(decode(&ours).unwrap(), key, "{expect}");
            let theirs = openssl(&["pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER"], &ours);
            assert_eq!(decode(&theirs).unwrap(), key, "{expect}: OpenSSL reads ours and writes the same key");
        }
    }

    #[test]
    fn malformed_and_unsupported_input_is_an_error() {
        let good = openssl_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        for n in 0..good.len() {
            let _ = decode(&good[..n]); // no panic on any truncation
            assert!(decode(&good[..n]).is_err(), "truncated at {n}");
        }
        let mut flipped = good.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = decode(&flipped);
            flipped[i] ^= 0xff;
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        let pss = openssl_key(&["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"]);
        assert!(matches!(decode(&pss), Err(CryptoError::Unsupported(_))), "RSA-PSS keys are not taken");
        assert!(decode(b"").is_err());
        let encrypted = openssl(&["pkcs8", "-topk8", "-inform", "DER", "-outform", "DER", "-passout", "pass:x"], &good);
        assert!(decode(&encrypted).is_err(), "encrypted PKCS#8 is refused");
    }
}
