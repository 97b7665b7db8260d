//! ML-DSA (FIPS 204) signatures, aws-lc: pure ML-DSA with the empty context
//! through aws-lc-rs; contexts, deterministic signing and HashML-DSA through
//! aws-lc's Sign_internal / Verify_internal ([`crate::lc`]). Keys are
//! generated from a 32-byte seed, which is what the store keeps (the expanded key is derived from it on load).

use crate::CryptoError;
use aws_lc_rs::encoding::AsRawBytes;
use aws_lc_rs::signature::{
    KeyPair, PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, UnparsedPublicKey, ML_DSA_44, ML_DSA_44_SIGNING, ML_DSA_65,
    ML_DSA_65_SIGNING, ML_DSA_87, ML_DSA_87_SIGNING,
};
use zeroize::Zeroizing;

/// An ML-DSA parameter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlDsaParam {
    MlDsa44,
    MlDsa65,
    MlDsa87,
}

impl MlDsaParam {
    fn signing(self) -> &'static PqdsaSigningAlgorithm {
        match self {
            MlDsaParam::MlDsa44 => &ML_DSA_44_SIGNING,
            MlDsaParam::MlDsa65 => &ML_DSA_65_SIGNING,
            MlDsaParam::MlDsa87 => &ML_DSA_87_SIGNING,
        }
    }

    fn verification(self) -> &'static PqdsaVerificationAlgorithm {
        match self {
            MlDsaParam::MlDsa44 => &ML_DSA_44,
            MlDsaParam::MlDsa65 => &ML_DSA_65,
            MlDsaParam::MlDsa87 => &ML_DSA_87,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MlDsaParam::MlDsa44 => "ML-DSA-44",
            MlDsaParam::MlDsa65 => "ML-DSA-65",
            MlDsaParam::MlDsa87 => "ML-DSA-87",
        }
    }

    pub fn public_key_len(self) -> usize {
        match self {
            MlDsaParam::MlDsa44 => 1312,
            MlDsaParam::MlDsa65 => 1952,
            MlDsaParam::MlDsa87 => 2592,
        }
    }

    pub fn signature_len(self) -> usize {
        match self {
            MlDsaParam::MlDsa44 => 2420,
            MlDsaParam::MlDsa65 => 3309,
            MlDsaParam::MlDsa87 => 4627,
        }
    }
}

/// An ML-DSA signing key.
pub struct MlDsaPrivateKey {
    param: MlDsaParam,
    seed: Option<Zeroizing<Vec<u8>>>,
    pair: PqdsaKeyPair,
}

impl std::fmt::Debug for MlDsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlDsaPrivateKey").field("param", &self.param).finish_non_exhaustive()
    }
}

impl MlDsaPrivateKey {
    /// From the 32-byte seed ξ (FIPS 204 ML-DSA.KeyGen_internal).
    pub fn from_seed(param: MlDsaParam, seed: &[u8]) -> Result<Self, CryptoError> {
        if seed.len() != 32 {
            return Err(CryptoError::InvalidKey(format!("{} seed must be 32 bytes, got {}", param.name(), seed.len())));
        }
        let pair = PqdsaKeyPair::from_seed(param.signing(), seed).map_err(|_| CryptoError::InvalidKey(format!("{} seed rejected", param.name())))?;
        Ok(MlDsaPrivateKey { param, seed: Some(Zeroizing::new(seed.to_vec())), pair })
    }

    /// From the FIPS 204 expanded private key encoding.
    pub fn from_raw_private(param: MlDsaParam, raw: &[u8]) -> Result<Self, CryptoError> {
        let pair = PqdsaKeyPair::from_raw_private_key(param.signing(), raw)
            .map_err(|_| CryptoError::InvalidKey(format!("not a valid {} private key", param.name())))?;
        Ok(MlDsaPrivateKey { param, seed: None, pair })
    }

    pub fn param(&self) -> MlDsaParam {
        self.param
    }

    /// The seed, when the key was made from one.
    pub fn seed(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.seed.clone()
    }

    /// The expanded private key encoding.
    pub fn raw_private(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let raw = self.pair.private_key().as_raw_bytes().map_err(|_| CryptoError::Internal("ML-DSA key export".into()))?;
        Ok(Zeroizing::new(raw.as_ref().to_vec()))
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Pure ML-DSA signature with an empty context.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut sig = vec![0u8; self.param.signature_len()];
        let n = self.pair.sign(msg, &mut sig).map_err(|_| CryptoError::Internal("ML-DSA sign".into()))?;
        sig.truncate(n);
        Ok(sig)
    }
}

/// A fresh key from a random seed.
pub fn generate(param: MlDsaParam) -> Result<MlDsaPrivateKey, CryptoError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    crate::rng::fill(&mut seed[..])?;
    MlDsaPrivateKey::from_seed(param, &seed[..])
}

/// Verifies a pure ML-DSA signature (empty context).
pub fn verify(param: MlDsaParam, public: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    if public.len() != param.public_key_len() {
        return Err(CryptoError::InvalidKey(format!("{} public key must be {} bytes, got {}", param.name(), param.public_key_len(), public.len())));
    }
    if sig.len() != param.signature_len() {
        return Err(CryptoError::DataLenRange(format!("{} signature must be {} bytes, got {}", param.name(), param.signature_len(), sig.len())));
    }
    UnparsedPublicKey::new(param.verification(), public).verify(msg, sig).map_err(|_| CryptoError::InvalidSignature)
}

// ---------------------------------------------------------------- contexts, deterministic signing, HashML-DSA

/// Where ML-DSA signing takes its 32-byte `rnd` from (FIPS 204 section 3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hedge {
    /// Fresh random bytes (the default, "hedged").
    Hedged,
    /// All zero: the deterministic variant.
    Deterministic,
}

/// The pre-hash functions HashML-DSA allows (FIPS 204 section 5.4), each named
/// in the signed message by its OID (2.16.840.1.101.3.4.2.x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreHash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Shake128,
    Shake256,
}

impl PreHash {
    fn oid_arc(self) -> u8 {
        match self {
            PreHash::Sha256 => 1,
            PreHash::Sha384 => 2,
            PreHash::Sha512 => 3,
            PreHash::Sha224 => 4,
            PreHash::Sha3_224 => 7,
            PreHash::Sha3_256 => 8,
            PreHash::Sha3_384 => 9,
            PreHash::Sha3_512 => 10,
            PreHash::Shake128 => 11,
            PreHash::Shake256 => 12,
        }
    }

    /// DER encoding of the hash function's OID.
    pub fn oid_der(self) -> [u8; 11] {
        [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, self.oid_arc()]
    }

    /// Length of PH(M): the digest length; 256 bits of SHAKE128, 512 of SHAKE256.
    pub fn output_len(self) -> usize {
        match self {
            PreHash::Sha224 | PreHash::Sha3_224 => 28,
            PreHash::Sha256 | PreHash::Sha3_256 | PreHash::Shake128 => 32,
            PreHash::Sha384 | PreHash::Sha3_384 => 48,
            PreHash::Sha512 | PreHash::Sha3_512 | PreHash::Shake256 => 64,
        }
    }

    /// PH(M).
    pub fn digest(self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        use crate::digest::{digest, HashAlg};
        use crate::lc::{sha3, Sha3};
        Ok(match self {
            PreHash::Sha224 => digest(HashAlg::Sha224, msg),
            PreHash::Sha256 => digest(HashAlg::Sha256, msg),
            PreHash::Sha384 => digest(HashAlg::Sha384, msg),
            PreHash::Sha512 => digest(HashAlg::Sha512, msg),
            PreHash::Sha3_224 => sha3(Sha3::Sha3_224, &[msg], 0)?,
            PreHash::Sha3_256 => sha3(Sha3::Sha3_256, &[msg], 0)?,
            PreHash::Sha3_384 => sha3(Sha3::Sha3_384, &[msg], 0)?,
            PreHash::Sha3_512 => sha3(Sha3::Sha3_512, &[msg], 0)?,
            PreHash::Shake128 => sha3(Sha3::Shake128, &[msg], 32)?,
            PreHash::Shake256 => sha3(Sha3::Shake256, &[msg], 64)?,
        })
    }
}

/// The M' header of FIPS 204 algorithms 2 and 4: domain byte, context length,
/// context, and for HashML-DSA the pre-hash OID.
fn message_prefix(ctx: &[u8], ph: Option<PreHash>) -> Result<Vec<u8>, CryptoError> {
    if ctx.len() > 255 {
        return Err(CryptoError::Unsupported(format!("an ML-DSA context is at most 255 bytes, got {}", ctx.len())));
    }
    let mut pre = vec![u8::from(ph.is_some()), ctx.len() as u8];
    pre.extend_from_slice(ctx);
    if let Some(ph) = ph {
        pre.extend_from_slice(&ph.oid_der());
    }
    Ok(pre)
}

fn rnd(hedge: Hedge) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut r = Zeroizing::new([0u8; 32]);
    if hedge == Hedge::Hedged {
        crate::rng::fill(&mut r[..])?;
    }
    Ok(r)
}

fn check_hash(ph: PreHash, hash: &[u8]) -> Result<(), CryptoError> {
    if hash.len() != ph.output_len() {
        return Err(CryptoError::DataLenRange(format!("a {ph:?} pre-hash is {} bytes, got {}", ph.output_len(), hash.len())));
    }
    Ok(())
}

impl MlDsaPrivateKey {
    /// ML-DSA.Sign (FIPS 204 algorithm 2): pure ML-DSA with context `ctx`.
    pub fn sign_with_context(&self, ctx: &[u8], msg: &[u8], hedge: Hedge) -> Result<Vec<u8>, CryptoError> {
        let pre = message_prefix(ctx, None)?;
        crate::lc::mldsa_sign_internal(self.param, &self.raw_private()?, &pre, msg, &*rnd(hedge)?)
    }

    /// HashML-DSA.Sign (FIPS 204 algorithm 4) over a pre-computed `hash` = PH(M).
    pub fn sign_prehashed(&self, ctx: &[u8], ph: PreHash, hash: &[u8], hedge: Hedge) -> Result<Vec<u8>, CryptoError> {
        check_hash(ph, hash)?;
        let pre = message_prefix(ctx, Some(ph))?;
        crate::lc::mldsa_sign_internal(self.param, &self.raw_private()?, &pre, hash, &*rnd(hedge)?)
    }
}

/// ML-DSA.Verify (FIPS 204 algorithm 3) with context `ctx`.
pub fn verify_with_context(param: MlDsaParam, public: &[u8], ctx: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let pre = message_prefix(ctx, None)?;
    crate::lc::mldsa_verify_internal(param, public, &pre, msg, sig)
}

/// HashML-DSA.Verify (FIPS 204 algorithm 5) over a pre-computed `hash` = PH(M).
pub fn verify_prehashed(param: MlDsaParam, public: &[u8], ctx: &[u8], ph: PreHash, hash: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    check_hash(ph, hash)?;
    let pre = message_prefix(ctx, Some(ph))?;
    crate::lc::mldsa_verify_internal(param, public, &pre, hash, sig)
}
