//! Incremental HMAC (RFC 2104) over the incremental hashers, for
//! multi-part C_SignUpdate/C_VerifyUpdate.

use crate::digest::{HashAlg, Hasher};
use crate::CryptoError;
use zeroize::Zeroizing;

fn block_len(alg: HashAlg) -> Option<usize> {
    match alg {
        HashAlg::Sha1 | HashAlg::Sha224 | HashAlg::Sha256 | HashAlg::Sm3 => Some(64),
        HashAlg::Sha384 | HashAlg::Sha512 => Some(128),
        #[allow(unreachable_patterns)] // hashes added later choose their block length here
        _ => None,
    }
}

/// An HMAC computation in progress.
pub struct HmacStream {
    alg: HashAlg,
    inner: Hasher,
    /// K' XOR opad, kept for the outer hash.
    outer_key: Zeroizing<Vec<u8>>,
}

impl HmacStream {
    pub fn new(alg: HashAlg, key: &[u8]) -> Result<Self, CryptoError> {
        let b = block_len(alg).ok_or_else(|| CryptoError::Unsupported(format!("incremental HMAC-{}", alg.name())))?;
        let mut k = Zeroizing::new(if key.len() > b { crate::digest::digest(alg, key) } else { key.to_vec() });
        k.resize(b, 0);
        let ipad: Zeroizing<Vec<u8>> = Zeroizing::new(k.iter().map(|x| x ^ 0x36).collect());
        let outer_key = Zeroizing::new(k.iter().map(|x| x ^ 0x5c).collect());
        let mut inner = Hasher::new(alg);
        inner.update(&ipad);
        Ok(HmacStream { alg, inner, outer_key })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        let inner = self.inner.finish();
        let mut outer = Hasher::new(self.alg);
        outer.update(&self.outer_key).update(&inner);
        outer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_one_shot_hmac_for_every_split_and_key_length() {
        let data: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        for alg in [HashAlg::Sha1, HashAlg::Sha224, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512, HashAlg::Sm3] {
            for key_len in [1usize, 20, 64, 65, 128, 129, 200] {
                let key = vec![0x0b; key_len];
                let want = crate::mac::hmac(alg, &key, &data).unwrap();
                for split in [0, 1, 63, 64, 150, 300] {
                    let mut s = HmacStream::new(alg, &key).unwrap();
                    s.update(&data[..split]);
                    s.update(&data[split..]);
                    assert_eq!(s.finish(), want, "{} key {key_len} split {split}", alg.name());
                }
            }
        }
    }
}
