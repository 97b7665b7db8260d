//! SM2 digital signatures (GB/T 32918.2) and public-key encryption
//! (GB/T 32918.4) on the recommended curve (GB/T 32918.5), RustCrypto `sm2`.
//!
//! The user-ID digest Z is computed here so that any byte string can be a
//! user ID (the `sm2` crate takes UTF-8 only). Signatures are `r || s`
//! (64 bytes); ciphertexts are `C1 || C3 || C2` with an uncompressed C1.

use crate::der::{self, Reader};
use crate::digest::sm3;
use crate::CryptoError;
use sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm2::{FieldBytes, ProjectivePoint, Scalar};
use zeroize::Zeroizing;

/// The default user ID of GB/T 32918 / GM/T 0009: "1234567812345678".
pub const DEFAULT_USER_ID: &[u8] = b"1234567812345678";

/// Any UTF-8 ID the `sm2` crate accepts; Z is computed by us, so its value is irrelevant.
const CRATE_DISTID: &str = "1234567812345678";

// Curve parameters a, b, Gx, Gy of the recommended curve (GB/T 32918.5).
const A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
const B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
const GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
const GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";

/// Random source for the `sm2` crate, backed by the TA's generator.
struct TaRng;

#[derive(Debug)]
struct RngFailure;
impl std::fmt::Display for RngFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("random generator failure")
    }
}
impl std::error::Error for RngFailure {}

impl rand_core::TryRng for TaRng {
    type Error = RngFailure;
    fn try_next_u32(&mut self) -> Result<u32, RngFailure> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, RngFailure> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailure> {
        crate::rng::fill(dst).map_err(|_| RngFailure)
    }
}
impl rand_core::TryCryptoRng for TaRng {}

fn point_of(public: &[u8]) -> Result<VerifyingKey, CryptoError> {
    if public.len() != 65 || public[0] != 0x04 {
        return Err(CryptoError::InvalidKey("SM2 public key must be an uncompressed 65-byte point starting 04".into()));
    }
    VerifyingKey::from_sec1_bytes(CRATE_DISTID, public).map_err(|_| CryptoError::InvalidKey("the point is not on the SM2 curve".into()))
}

/// Z = SM3(ENTL || ID || a || b || Gx || Gy || xA || yA) (GB/T 32918.2, 5.5).
pub fn compute_z(public: &[u8], user_id: &[u8]) -> Result<[u8; 32], CryptoError> {
    point_of(public)?;
    if user_id.len() >= 8192 {
        return Err(CryptoError::InvalidInput("SM2 user ID must be shorter than 8192 bytes".into()));
    }
    let entl = ((user_id.len() * 8) as u16).to_be_bytes();
    let h = |s: &str| hex::decode(s).unwrap_or_default();
    let (a, b, gx, gy) = (h(A), h(B), h(GX), h(GY));
    Ok(sm3(&[&entl, user_id, &a, &b, &gx, &gy, &public[1..33], &public[33..65]]))
}

/// e = SM3(Z || M).
fn message_digest(public: &[u8], user_id: &[u8], msg: &[u8]) -> Result<[u8; 32], CryptoError> {
    let z = compute_z(public, user_id)?;
    Ok(sm3(&[&z, msg]))
}

/// An SM2 private key.
pub struct Sm2PrivateKey {
    signing: SigningKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for Sm2PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm2PrivateKey")
    }
}

impl Sm2PrivateKey {
    /// From a 32-byte big-endian scalar d in [1, n-2].
    pub fn from_scalar(scalar: &[u8]) -> Result<Self, CryptoError> {
        if scalar.len() != 32 {
            return Err(CryptoError::InvalidKey(format!("SM2 private key must be 32 bytes, got {}", scalar.len())));
        }
        let signing = SigningKey::from_slice(CRATE_DISTID, scalar)
            .map_err(|_| CryptoError::InvalidKey("not a valid SM2 private key (zero or not below the group order)".into()))?;
        // d = n-1 makes (1+d) non-invertible: GB/T 32918.1 requires d in [1, n-2].
        let d = *signing.as_nonzero_scalar().as_ref();
        if bool::from((d + Scalar::ONE).is_zero()) {
            return Err(CryptoError::InvalidKey("SM2 private key must be below n-1".into()));
        }
        let public = signing.verifying_key().to_sec1_bytes().to_vec();
        if public.len() != 65 {
            return Err(CryptoError::Internal("SM2 public key encoding".into()));
        }
        Ok(Sm2PrivateKey { signing, public })
    }

    /// The private scalar, 32 bytes big-endian.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.signing.to_bytes().to_vec())
    }

    /// The public point, uncompressed (65 bytes).
    pub fn public_point(&self) -> Vec<u8> {
        self.public.clone()
    }

    /// Signs `msg` with the user ID `user_id` (CKM_SM2_SM3): returns r||s.
    pub fn sign(&self, user_id: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let e = message_digest(&self.public, user_id, msg)?;
        self.sign_prehashed(&e)
    }

    /// Signs a pre-computed e = SM3(Z || M) (CKM_SM2): returns r||s.
    pub fn sign_prehashed(&self, e: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if e.len() != 32 {
            return Err(CryptoError::DataLenRange(format!("CKM_SM2 signs a 32-byte SM3 digest, got {} bytes", e.len())));
        }
        let sig: Signature = self.signing.sign_prehash_with_rng(&mut TaRng, e).map_err(|_| CryptoError::Internal("SM2 sign".into()))?;
        Ok(sig.to_bytes().to_vec())
    }

    /// Signature with a caller-chosen k, for known-answer tests only.
    #[doc(hidden)]
    pub fn sign_prehashed_with_k(&self, e: &[u8], k: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (e, k) = match (<[u8; 32]>::try_from(e), <[u8; 32]>::try_from(k)) {
            (Ok(e), Ok(k)) => (e, k),
            _ => return Err(CryptoError::DataLenRange("e and k must be 32 bytes".into())),
        };
        let d = *self.signing.as_nonzero_scalar().as_ref();
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(e));
        let k = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(k));
        let x1 = (ProjectivePoint::GENERATOR * k).to_affine().x();
        let r = e + <Scalar as Reduce<FieldBytes>>::reduce(&x1);
        if bool::from(r.is_zero()) || bool::from((r + k).is_zero()) {
            return Err(CryptoError::InvalidInput("this k gives r = 0 or r + k = n".into()));
        }
        let inv = Option::<Scalar>::from((Scalar::ONE + d).invert()).ok_or_else(|| CryptoError::Internal("1+d".into()))?;
        let s = inv * (k - r * d);
        if bool::from(s.is_zero()) {
            return Err(CryptoError::InvalidInput("this k gives s = 0".into()));
        }
        Ok([r.to_bytes().to_vec(), s.to_bytes().to_vec()].concat())
    }

    /// Elliptic-curve Diffie-Hellman on the SM2 curve: the x coordinate of
    /// d * P for the peer's uncompressed point P (validated on the curve).
    /// Plain ECDH, not the GB/T 32918.3 key exchange protocol.
    pub fn ecdh(&self, peer: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let p = point_of(peer)?;
        let d = Zeroizing::new(*self.signing.as_nonzero_scalar().as_ref());
        let shared = Zeroizing::new((ProjectivePoint::from(*p.as_affine()) * *d).to_affine());
        if bool::from(shared.is_identity()) {
            return Err(CryptoError::InvalidKey("SM2 ECDH gave the point at infinity".into()));
        }
        let x = Zeroizing::new(shared.x());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&x[..]);
        Ok(out)
    }

    /// Decrypts `C1 || C3 || C2`.
    pub fn decrypt(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if ct.len() < 65 + 32 + 1 || ct[0] != 0x04 {
            return Err(CryptoError::EncryptedDataInvalid);
        }
        let dk = DecryptingKey::new_with_mode(*self.signing.as_nonzero_scalar(), Mode::C1C3C2);
        dk.decrypt(ct).map(Zeroizing::new).map_err(|_| CryptoError::EncryptedDataInvalid)
    }
}

/// A fresh key pair.
pub fn generate() -> Result<Sm2PrivateKey, CryptoError> {
    for _ in 0..8 {
        let mut d = Zeroizing::new([0u8; 32]);
        crate::rng::fill(&mut d[..])?;
        if let Ok(k) = Sm2PrivateKey::from_scalar(&d[..]) {
            return Ok(k);
        }
    }
    Err(CryptoError::Rng("could not draw a valid SM2 private key".into()))
}

fn parse_sig(sig: &[u8]) -> Result<Signature, CryptoError> {
    if sig.len() != 64 {
        return Err(CryptoError::DataLenRange(format!("SM2 signature must be 64 bytes (r||s), got {}", sig.len())));
    }
    Signature::from_slice(sig).map_err(|_| CryptoError::InvalidSignature)
}

/// Verifies r||s over `msg` with user ID `user_id`.
pub fn verify(public: &[u8], user_id: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let e = message_digest(public, user_id, msg)?;
    verify_prehashed(public, &e, sig)
}

/// Verifies r||s over a pre-computed e.
pub fn verify_prehashed(public: &[u8], e: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let key = point_of(public)?;
    let sig = parse_sig(sig)?;
    if e.len() != 32 {
        return Err(CryptoError::DataLenRange(format!("CKM_SM2 verifies a 32-byte SM3 digest, got {} bytes", e.len())));
    }
    key.verify_prehash(e, &sig).map_err(|_| CryptoError::InvalidSignature)
}

/// Encrypts to `public`: returns `C1 || C3 || C2`.
pub fn encrypt(public: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
    point_of(public)?;
    if pt.is_empty() {
        return Err(CryptoError::DataLenRange("SM2 cannot encrypt an empty message".into()));
    }
    let pk = sm2::PublicKey::from_sec1_bytes(public).map_err(|_| CryptoError::InvalidKey("SM2 public key".into()))?;
    let ek = EncryptingKey::new_with_mode(pk, Mode::C1C3C2);
    ek.encrypt(&mut TaRng, pt).map_err(|_| CryptoError::Internal("SM2 encrypt".into()))
}

/// `C1 || C3 || C2` to the GM/T 0009 DER `SM2Cipher` structure.
pub fn ciphertext_to_der(raw: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if raw.len() < 65 + 32 || raw[0] != 0x04 {
        return Err(CryptoError::InvalidInput("not an SM2 C1||C3||C2 ciphertext".into()));
    }
    Ok(der::sequence(&[
        &der::unsigned_integer(&raw[1..33]),
        &der::unsigned_integer(&raw[33..65]),
        &der::tlv(0x04, &raw[65..97]),
        &der::tlv(0x04, &raw[97..]),
    ]))
}

/// GM/T 0009 DER `SM2Cipher` to `C1 || C3 || C2`.
pub fn ciphertext_from_der(der_bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |_| CryptoError::InvalidInput("not a DER SM2Cipher".into());
    let mut outer = Reader::new(der_bytes);
    let mut r = outer.sequence().map_err(bad)?;
    outer.finish().map_err(bad)?;
    let x = r.unsigned_integer().map_err(bad)?;
    let y = r.unsigned_integer().map_err(bad)?;
    let c3 = r.octet_string().map_err(bad)?;
    let c2 = r.octet_string().map_err(bad)?;
    r.finish().map_err(bad)?;
    if x.len() > 32 || y.len() > 32 || c3.len() != 32 {
        return Err(CryptoError::InvalidInput("SM2Cipher field sizes are wrong".into()));
    }
    let mut out = vec![0x04];
    out.extend(std::iter::repeat_n(0, 32 - x.len()));
    out.extend_from_slice(x);
    out.extend(std::iter::repeat_n(0, 32 - y.len()));
    out.extend_from_slice(y);
    out.extend_from_slice(c3);
    out.extend_from_slice(c2);
    Ok(out)
}
