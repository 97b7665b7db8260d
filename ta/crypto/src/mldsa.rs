//! ML-DSA (FIPS 204) signatures, aws-lc-rs: pure ML-DSA, empty context,
//! hedged signing. Keys are generated from a 32-byte seed, which is what the
//! store keeps (the expanded key is derived from it on load).

use crate::CryptoError;
use aws_lc_rs::encoding::AsRawBytes;
use aws_lc_rs::signature::{
    KeyPair, PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, UnparsedPublicKey, ML_DSA_44, ML_DSA_44_SIGNING,
    ML_DSA_65, ML_DSA_65_SIGNING, ML_DSA_87, ML_DSA_87_SIGNING,
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
