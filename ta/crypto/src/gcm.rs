//! GCM with an IV of any length (NIST SP 800-38D, section 7.1).
//!
//! The AEAD crates fix the nonce length at compile time (96 bits, or 128);
//! PKCS#11 lets the caller pass any IV length (CK_GCM_PARAMS.ulIvLen), and
//! Wycheproof has valid vectors with 64- to 2048-bit IVs. For those lengths
//! the pre-counter block J0 is GHASH_H(IV || 0^s || 0^64 || [len(IV)]_64),
//! which this module computes; the rest is GCTR and GHASH over the block
//! cipher, as the standard writes it.

use crate::CryptoError;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use sm4::cipher::{BlockCipherEncrypt, KeyInit};
use zeroize::Zeroizing;

/// Longest IV accepted (2048 bits; what PKCS#11 2.40's ulIvBits allowed in practice).
pub const MAX_IV_LEN: usize = 256;

/// The block cipher under GCM.
enum Block {
    Aes128(aes_gcm::aes::Aes128),
    Aes192(aes_gcm::aes::Aes192),
    Aes256(aes_gcm::aes::Aes256),
    Sm4(sm4::Sm4),
}

impl Block {
    fn new(cipher: crate::sym::Cipher, key: &[u8]) -> Result<Self, CryptoError> {
        let bad = |_| CryptoError::InvalidKey(format!("{}-byte key does not fit this cipher", key.len()));
        Ok(match (cipher, key.len()) {
            (crate::sym::Cipher::Aes, 16) => Block::Aes128(aes_gcm::aes::Aes128::new_from_slice(key).map_err(bad)?),
            (crate::sym::Cipher::Aes, 24) => Block::Aes192(aes_gcm::aes::Aes192::new_from_slice(key).map_err(bad)?),
            (crate::sym::Cipher::Aes, 32) => Block::Aes256(aes_gcm::aes::Aes256::new_from_slice(key).map_err(bad)?),
            (crate::sym::Cipher::Sm4, 16) => Block::Sm4(sm4::Sm4::new_from_slice(key).map_err(bad)?),
            _ => return Err(CryptoError::InvalidKey(format!("{}-byte key does not fit this cipher", key.len()))),
        })
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        let b = (&mut *block).into();
        match self {
            Block::Aes128(c) => c.encrypt_block(b),
            Block::Aes192(c) => c.encrypt_block(b),
            Block::Aes256(c) => c.encrypt_block(b),
            Block::Sm4(c) => c.encrypt_block(b),
        }
    }
}

fn inc32(counter: &mut [u8; 16]) {
    let mut c = [0u8; 4];
    c.copy_from_slice(&counter[12..]);
    counter[12..].copy_from_slice(&u32::from_be_bytes(c).wrapping_add(1).to_be_bytes());
}

fn lengths_block(a_bytes: usize, b_bytes: usize) -> [u8; 16] {
    let mut l = [0u8; 16];
    l[..8].copy_from_slice(&((a_bytes as u64) * 8).to_be_bytes());
    l[8..].copy_from_slice(&((b_bytes as u64) * 8).to_be_bytes());
    l
}

fn ghash(h: &[u8; 16], parts: &[&[u8]], lengths: [u8; 16]) -> [u8; 16] {
    let mut g = GHash::new(h.into());
    for p in parts {
        g.update_padded(p);
    }
    g.update_padded(&lengths);
    let mut out = [0u8; 16];
    out.copy_from_slice(&g.finalize());
    out
}

/// Encrypts `buf` in place with GCM and returns the full 16-byte tag.
/// Any IV length from 1 to [`MAX_IV_LEN`] bytes.
pub fn seal(cipher: crate::sym::Cipher, key: &[u8], iv: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 16], CryptoError> {
    if iv.is_empty() || iv.len() > MAX_IV_LEN {
        return Err(CryptoError::InvalidInput(format!("GCM IV must be 1 to {MAX_IV_LEN} bytes, got {}", iv.len())));
    }
    // SP 800-38D limits the plaintext to 2^39 - 256 bits.
    if buf.len() as u64 > (1u64 << 36) - 32 {
        return Err(CryptoError::DataLenRange("GCM input too long".into()));
    }
    let block = Block::new(cipher, key)?;
    let mut h = Zeroizing::new([0u8; 16]);
    block.encrypt(&mut h);
    let mut j0 = [0u8; 16];
    if iv.len() == 12 {
        j0[..12].copy_from_slice(iv);
        j0[15] = 1;
    } else {
        j0 = ghash(&h, &[iv], lengths_block(0, iv.len()));
    }
    let mut counter = j0;
    for chunk in buf.chunks_mut(16) {
        inc32(&mut counter);
        let mut ks = Zeroizing::new(counter);
        block.encrypt(&mut ks);
        for (b, k) in chunk.iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
    }
    let s = ghash(&h, &[aad, buf], lengths_block(aad.len(), buf.len()));
    let mut tag = j0;
    block.encrypt(&mut tag);
    for (t, x) in tag.iter_mut().zip(s.iter()) {
        *t ^= x;
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sym::Cipher;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The GCM specification's (McGrew & Viega) test cases 6 (60-byte IV) and 5 (8-byte IV).
    #[test]
    fn gcm_spec_vectors_with_non_96_bit_ivs() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let iv6 = hex("9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b");
        let mut buf = pt.clone();
        let tag = seal(Cipher::Aes, &key, &iv6, &aad, &mut buf).unwrap();
        assert_eq!(
            buf,
            hex("8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5")
        );
        assert_eq!(tag.to_vec(), hex("619cc5aefffe0bfa462af43c1699d050"));
        let iv5 = hex("cafebabefacedbad");
        let mut buf = pt.clone();
        let tag = seal(Cipher::Aes, &key, &iv5, &aad, &mut buf).unwrap();
        assert_eq!(
            buf,
            hex("61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598")
        );
        assert_eq!(tag.to_vec(), hex("3612d2e79e3b0785561be14aaca2fccb"));
    }

    /// With a 96-bit IV the result equals the AEAD crate's (test case 4).
    #[test]
    fn agrees_with_the_96_bit_fast_path() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let mut buf = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let tag = seal(Cipher::Aes, &key, &iv, &hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"), &mut buf).unwrap();
        assert_eq!(tag.to_vec(), hex("5bc94fbc3221a5db94fae95ae7121a47"));
    }

    #[test]
    fn iv_bounds() {
        let mut buf = [0u8; 4];
        assert!(seal(Cipher::Aes, &[0; 16], &[], b"", &mut buf).is_err());
        assert!(seal(Cipher::Aes, &[0; 16], &[0; MAX_IV_LEN + 1], b"", &mut buf).is_err());
        assert!(seal(Cipher::Aes, &[0; 16], &[0; MAX_IV_LEN], b"", &mut buf).is_ok());
        assert!(seal(Cipher::Aes, &[0; 15], &[0; 12], b"", &mut buf).is_err());
    }
}
