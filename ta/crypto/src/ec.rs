//! ECDSA and ECDH on NIST P-256 and P-384 (aws-lc-rs).
//!
//! Points are uncompressed SEC1 (`04 || X || Y`); signatures are raw
//! `r || s`, each half the curve's field size, as PKCS#11 specifies.

use crate::digest::{self, HashAlg};
use crate::CryptoError;
use aws_lc_rs::agreement;
use aws_lc_rs::digest::{Digest, SHA256, SHA384};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair, ParsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use zeroize::Zeroizing;

/// DER of the named-curve OID for P-256 (CKA_EC_PARAMS).
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the named-curve OID for P-384.
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A supported NIST curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    /// Recognizes CKA_EC_PARAMS (a DER named-curve OID).
    pub fn from_ec_params(params: &[u8]) -> Option<Curve> {
        match params {
            P256_PARAMS => Some(Curve::P256),
            P384_PARAMS => Some(Curve::P384),
            _ => None,
        }
    }

    /// CKA_EC_PARAMS for this curve.
    pub fn ec_params_der(self) -> &'static [u8] {
        match self {
            Curve::P256 => P256_PARAMS,
            Curve::P384 => P384_PARAMS,
        }
    }

    /// Bytes in a scalar or coordinate.
    pub fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// Bytes in an uncompressed point.
    pub fn point_len(self) -> usize {
        1 + 2 * self.scalar_len()
    }

    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &ECDSA_P384_SHA384_FIXED_SIGNING,
        }
    }

    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &ECDSA_P384_SHA384_FIXED,
        }
    }

    fn agreement(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
        }
    }

    /// A pre-computed hash as the digest type aws-lc signs: truncated to the
    /// leftmost field-size bytes, or left-padded with zeros (the same integer),
    /// per FIPS 186-5 for hashes of another length.
    fn digest_for(self, hash: &[u8]) -> Result<Digest, CryptoError> {
        if hash.is_empty() || hash.len() > 64 {
            return Err(CryptoError::DataLenRange(format!("ECDSA input hash of {} bytes is outside 1..=64", hash.len())));
        }
        let n = self.scalar_len();
        let mut e = vec![0u8; n];
        if hash.len() >= n {
            e.copy_from_slice(&hash[..n]);
        } else {
            e[n - hash.len()..].copy_from_slice(hash);
        }
        let alg = match self {
            Curve::P256 => &SHA256,
            Curve::P384 => &SHA384,
        };
        Digest::import_less_safe(&e, alg).map_err(|_| CryptoError::Internal("digest import".into()))
    }
}

/// An ECDSA/ECDH private key.
pub struct EcPrivateKey {
    curve: Curve,
    scalar: Zeroizing<Vec<u8>>,
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcPrivateKey").field("curve", &self.curve).finish_non_exhaustive()
    }
}

impl EcPrivateKey {
    /// From a big-endian scalar (shorter values are left-padded).
    pub fn from_scalar(curve: Curve, scalar: &[u8]) -> Result<Self, CryptoError> {
        let n = curve.scalar_len();
        if scalar.is_empty() || scalar.len() > n {
            return Err(CryptoError::InvalidKey(format!("{} private key must be 1..={n} bytes, got {}", curve.name(), scalar.len())));
        }
        let mut s = Zeroizing::new(vec![0u8; n]);
        s[n - scalar.len()..].copy_from_slice(scalar);
        let bad = |_| CryptoError::InvalidKey(format!("not a valid {} private key (zero or not below the group order)", curve.name()));
        let ecdh = agreement::PrivateKey::from_private_key(curve.agreement(), &s).map_err(bad)?;
        let public = ecdh.compute_public_key().map_err(|_| CryptoError::Internal("EC public key".into()))?;
        let pair = EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), &s, public.as_ref())
            .map_err(|_| CryptoError::InvalidKey(format!("not a valid {} private key", curve.name())))?;
        Ok(EcPrivateKey { curve, scalar: s, pair })
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The private scalar, big-endian, field-size bytes.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        self.scalar.clone()
    }

    /// The public point, uncompressed.
    pub fn public_point(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// ECDSA over a caller-supplied hash (CKM_ECDSA).
    pub fn sign_prehashed(&self, hash: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let d = self.curve.digest_for(hash)?;
        let sig = self.pair.sign_digest(&d).map_err(|_| CryptoError::Internal("ECDSA sign".into()))?;
        Ok(sig.as_ref().to_vec())
    }

    /// ECDSA of a message hashed with `hash` (CKM_ECDSA_SHA256, ...).
    pub fn sign(&self, hash: HashAlg, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.sign_prehashed(&digest::digest(hash, msg))
    }

    /// ECDH (CKD_NULL): the x-coordinate of the shared point.
    pub fn ecdh(&self, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        validate_point(self.curve, peer_point)?;
        let me =
            agreement::PrivateKey::from_private_key(self.curve.agreement(), &self.scalar).map_err(|_| CryptoError::Internal("ECDH key".into()))?;
        let peer = agreement::UnparsedPublicKey::new(self.curve.agreement(), peer_point);
        agreement::agree(&me, peer, CryptoError::InvalidInput("the peer's public point was refused".into()), |z| Ok(Zeroizing::new(z.to_vec())))
    }
}

/// A fresh key pair.
pub fn generate(curve: Curve) -> Result<EcPrivateKey, CryptoError> {
    let pair = EcdsaKeyPair::generate(curve.signing()).map_err(|_| CryptoError::Rng("EC key generation".into()))?;
    let bin = pair.private_key().as_be_bytes().map_err(|_| CryptoError::Internal("EC key export".into()))?;
    let scalar = Zeroizing::new(bin.as_ref().to_vec());
    Ok(EcPrivateKey { curve, scalar, pair })
}

/// Checks that `point` is an uncompressed point on `curve` (not infinity).
pub fn validate_point(curve: Curve, point: &[u8]) -> Result<(), CryptoError> {
    parse(curve, point).map(|_| ())
}

fn parse(curve: Curve, point: &[u8]) -> Result<ParsedPublicKey, CryptoError> {
    if point.len() != curve.point_len() || point[0] != 0x04 {
        return Err(CryptoError::InvalidKey(format!(
            "{} public key must be an uncompressed point of {} bytes starting 04",
            curve.name(),
            curve.point_len()
        )));
    }
    ParsedPublicKey::new(curve.verification(), point).map_err(|_| CryptoError::InvalidKey(format!("the point is not on {}", curve.name())))
}

fn check_sig_len(curve: Curve, sig: &[u8]) -> Result<(), CryptoError> {
    if sig.len() != 2 * curve.scalar_len() {
        return Err(CryptoError::DataLenRange(format!(
            "{} ECDSA signature must be {} bytes (r||s), got {}",
            curve.name(),
            2 * curve.scalar_len(),
            sig.len()
        )));
    }
    Ok(())
}

/// Verifies `r||s` over a caller-supplied hash.
pub fn verify_prehashed(curve: Curve, point: &[u8], hash: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    check_sig_len(curve, sig)?;
    let key = parse(curve, point)?;
    let d = curve.digest_for(hash)?;
    key.verify_digest_sig(&d, sig).map_err(|_| CryptoError::InvalidSignature)
}

/// Verifies `r||s` over `msg` hashed with `hash`.
pub fn verify(curve: Curve, point: &[u8], hash: HashAlg, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    verify_prehashed(curve, point, &digest::digest(hash, msg), sig)
}

/// `r||s` to a DER `ECDSA-Sig-Value` (for OpenSSL and X.509).
pub fn sig_rs_to_der(rs: &[u8]) -> Vec<u8> {
    let half = rs.len() / 2;
    let int = crate::der::unsigned_integer;
    crate::der::sequence(&[&int(&rs[..half]), &int(&rs[half..])])
}

/// A DER `ECDSA-Sig-Value` to `r||s` with halves of `curve`'s size.
pub fn sig_der_to_rs(curve: Curve, der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    der_sig_to_rs(curve.scalar_len(), der)
}

pub(crate) fn der_sig_to_rs(n: usize, der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = || CryptoError::InvalidInput("malformed DER ECDSA signature".into());
    let mut r = crate::der::Reader::new(der);
    let mut seq = r.sequence().map_err(|_| bad())?;
    r.finish().map_err(|_| bad())?;
    let mut out = vec![0u8; 2 * n];
    for i in 0..2 {
        let v = seq.unsigned_integer().map_err(|_| bad())?;
        if v.len() > n {
            return Err(bad());
        }
        out[i * n + n - v.len()..(i + 1) * n].copy_from_slice(v);
    }
    seq.finish().map_err(|_| bad())?;
    Ok(out)
}
