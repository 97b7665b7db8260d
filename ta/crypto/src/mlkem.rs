//! ML-KEM (FIPS 203) key encapsulation, aws-lc-rs.

use crate::CryptoError;
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768};
use zeroize::Zeroizing;

/// An ML-KEM parameter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlKemParam {
    MlKem512,
    MlKem768,
    MlKem1024,
}

type Alg = aws_lc_rs::kem::Algorithm<aws_lc_rs::kem::AlgorithmId>;

impl MlKemParam {
    fn alg(self) -> &'static Alg {
        match self {
            MlKemParam::MlKem512 => &ML_KEM_512,
            MlKemParam::MlKem768 => &ML_KEM_768,
            MlKemParam::MlKem1024 => &ML_KEM_1024,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MlKemParam::MlKem512 => "ML-KEM-512",
            MlKemParam::MlKem768 => "ML-KEM-768",
            MlKemParam::MlKem1024 => "ML-KEM-1024",
        }
    }

    /// Encapsulation (public) key bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            MlKemParam::MlKem512 => 800,
            MlKemParam::MlKem768 => 1184,
            MlKemParam::MlKem1024 => 1568,
        }
    }

    /// Decapsulation (private) key bytes.
    pub fn private_key_len(self) -> usize {
        match self {
            MlKemParam::MlKem512 => 1632,
            MlKemParam::MlKem768 => 2400,
            MlKemParam::MlKem1024 => 3168,
        }
    }

    pub fn ciphertext_len(self) -> usize {
        match self {
            MlKemParam::MlKem512 => 768,
            MlKemParam::MlKem768 => 1088,
            MlKemParam::MlKem1024 => 1568,
        }
    }
}

/// An ML-KEM decapsulation key.
pub struct MlKemPrivateKey {
    param: MlKemParam,
    key: DecapsulationKey,
}

impl std::fmt::Debug for MlKemPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlKemPrivateKey").field("param", &self.param).finish_non_exhaustive()
    }
}

impl MlKemPrivateKey {
    /// From the FIPS 203 decapsulation key encoding.
    pub fn from_bytes(param: MlKemParam, dk: &[u8]) -> Result<Self, CryptoError> {
        if dk.len() != param.private_key_len() {
            return Err(CryptoError::InvalidKey(format!("{} private key must be {} bytes, got {}", param.name(), param.private_key_len(), dk.len())));
        }
        // FIPS 203 7.3 input check: H(ek) stored in dk must match ek.
        let k = 384
            * match param {
                MlKemParam::MlKem512 => 2,
                MlKemParam::MlKem768 => 3,
                MlKemParam::MlKem1024 => 4,
            };
        let ek = &dk[k..k + param.public_key_len()];
        let h = &dk[k + param.public_key_len()..k + param.public_key_len() + 32];
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA3_256, ek);
        if !crate::kdf::ct_eq(digest.as_ref(), h) {
            return Err(CryptoError::InvalidKey(format!("{} private key fails the FIPS 203 hash check", param.name())));
        }
        let key = DecapsulationKey::new(param.alg(), dk).map_err(|_| CryptoError::InvalidKey(format!("not a valid {} private key", param.name())))?;
        Ok(MlKemPrivateKey { param, key })
    }

    pub fn param(&self) -> MlKemParam {
        self.param
    }

    /// The FIPS 203 decapsulation key encoding.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let b = self.key.key_bytes().map_err(|_| CryptoError::Internal("ML-KEM key export".into()))?;
        Ok(Zeroizing::new(b.as_ref().to_vec()))
    }

    /// The encapsulation key.
    ///
    /// Read from the FIPS 203 decapsulation key encoding
    /// (dk_pke ‖ ek ‖ H(ek) ‖ z), which works for generated and imported
    /// keys alike; the backend cannot derive it for imported keys.
    pub fn public_key(&self) -> Result<Vec<u8>, CryptoError> {
        let dk = self.to_bytes()?;
        let start = self.param.private_key_len() - 64 - self.param.public_key_len();
        let ek = dk
            .get(start..start + self.param.public_key_len())
            .ok_or_else(|| CryptoError::Internal("ML-KEM key encoding has an unexpected length".into()))?;
        Ok(ek.to_vec())
    }

    /// Decapsulates; a malformed-but-right-sized ciphertext yields the
    /// implicit-rejection secret, as FIPS 203 specifies.
    pub fn decapsulate(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if ct.len() != self.param.ciphertext_len() {
            return Err(CryptoError::DataLenRange(format!(
                "{} ciphertext must be {} bytes, got {}",
                self.param.name(),
                self.param.ciphertext_len(),
                ct.len()
            )));
        }
        let ss = self.key.decapsulate(Ciphertext::from(ct)).map_err(|_| CryptoError::Internal("ML-KEM decapsulation".into()))?;
        Ok(Zeroizing::new(ss.as_ref().to_vec()))
    }
}

/// A fresh key pair.
pub fn generate(param: MlKemParam) -> Result<MlKemPrivateKey, CryptoError> {
    let key = DecapsulationKey::generate(param.alg()).map_err(|_| CryptoError::Internal("ML-KEM key generation".into()))?;
    Ok(MlKemPrivateKey { param, key })
}

/// Encapsulates to `ek`: (ciphertext, shared secret).
pub fn encapsulate(param: MlKemParam, ek: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), CryptoError> {
    if ek.len() != param.public_key_len() {
        return Err(CryptoError::InvalidKey(format!("{} public key must be {} bytes, got {}", param.name(), param.public_key_len(), ek.len())));
    }
    let key = EncapsulationKey::new(param.alg(), ek).map_err(|_| CryptoError::InvalidKey(format!("not a valid {} public key", param.name())))?;
    // The backend runs the FIPS 203 7.2 modulus check here: a failure
    // means the public key is malformed, not that the HSM broke.
    let (ct, ss) = key.encapsulate().map_err(|_| CryptoError::InvalidKey(format!("{} public key fails the FIPS 203 modulus check", param.name())))?;
    Ok((ct.as_ref().to_vec(), Zeroizing::new(ss.as_ref().to_vec())))
}
