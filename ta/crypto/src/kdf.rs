//! Key derivation (PBKDF2, HKDF) and constant-time comparison.

use crate::CryptoError;
use aws_lc_rs::{hkdf, pbkdf2};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let iterations = NonZeroU32::new(iterations).ok_or_else(|| CryptoError::InvalidInput("PBKDF2 needs at least one iteration".into()))?;
    if len == 0 || len > 1024 {
        return Err(CryptoError::DataLenRange(format!("PBKDF2 output length {len} is outside 1..=1024")));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, password, &mut out);
    Ok(out)
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info`.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if len == 0 || len > 255 * 32 {
        return Err(CryptoError::DataLenRange(format!("HKDF-SHA256 output length {len} is outside 1..=8160")));
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(len)).map_err(|_| CryptoError::Internal("HKDF expand".into()))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(&mut out).map_err(|_| CryptoError::Internal("HKDF fill".into()))?;
    Ok(out)
}

/// Constant-time equality (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The hash under an ECDH key derivation function (PKCS#11 CKD_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfHash {
    Sha(crate::digest::HashAlg),
    Sha3(crate::lc::Sha3),
}

impl KdfHash {
    fn output_len(self) -> usize {
        match self {
            KdfHash::Sha(h) => h.output_len(),
            KdfHash::Sha3(f) => f.output_len().unwrap_or(32),
        }
    }

    fn hash(self, parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Ok(Zeroizing::new(match self {
            KdfHash::Sha(crate::digest::HashAlg::Sm3) => return Err(CryptoError::Unsupported("SM3 KDF".into())),
            KdfHash::Sha(h) => {
                let mut c = crate::digest::Hasher::new(h);
                for p in parts {
                    c.update(p);
                }
                c.finish()
            }
            KdfHash::Sha3(f) if f.output_len().is_some() => crate::lc::sha3(f, parts, 0)?,
            KdfHash::Sha3(_) => return Err(CryptoError::Unsupported("SHAKE is not a KDF hash here".into())),
        }))
    }
}

/// Most bytes the ECDH KDFs produce (a 4096-bit key, with room).
pub const MAX_KDF_OUTPUT: usize = 512;

fn counter_kdf(h: KdfHash, len: usize, block: impl Fn(&[u8; 4]) -> Result<Zeroizing<Vec<u8>>, CryptoError>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if len == 0 || len > MAX_KDF_OUTPUT {
        return Err(CryptoError::DataLenRange(format!("KDF output length {len} is outside 1..={MAX_KDF_OUTPUT}")));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(len + h.output_len()));
    let mut counter = 1u32;
    while out.len() < len {
        out.extend_from_slice(&block(&counter.to_be_bytes())?);
        counter += 1;
    }
    out.truncate(len);
    Ok(out)
}

/// ANSI X9.63 KDF (SEC 1 3.6.1), PKCS#11 CKD_SHA*_KDF: Hash(Z || counter || SharedInfo), counter from 1.
pub fn x963_kdf(h: KdfHash, z: &[u8], shared_info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    counter_kdf(h, len, |c| h.hash(&[z, c, shared_info]))
}

/// NIST SP 800-56C rev. 2 one-step KDF with a hash (section 4.1, option 1),
/// PKCS#11 CKD_SHA*_KDF_SP800: Hash(counter || Z || OtherInfo), counter from 1.
pub fn sp800_56c_one_step(h: KdfHash, z: &[u8], other_info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    counter_kdf(h, len, |c| h.hash(&[c, z, other_info]))
}
