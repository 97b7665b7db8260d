//! Block-cipher modes for AES (aws-lc-rs; RustCrypto `aes-gcm` for GCM with
//! PKCS#11's variable IV and tag lengths) and SM4 (RustCrypto `sm4`):
//! ECB, CBC (optionally PKCS#7-padded), CTR with a PKCS#11 counter width, GCM.

use crate::CryptoError;
use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::AeadInOut;
use aes_gcm::AesGcm;
use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_192, AES_256};
use aws_lc_rs::iv::FixedLength;
use sm4::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use zeroize::{Zeroize, Zeroizing};

const BLOCK: usize = 16;

/// A 128-bit block cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    Aes,
    Sm4,
}

impl Cipher {
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes => "AES",
            Cipher::Sm4 => "SM4",
        }
    }

    /// Whether `len` is a valid key length.
    pub fn key_len_ok(self, len: usize) -> bool {
        match self {
            Cipher::Aes => matches!(len, 16 | 24 | 32),
            Cipher::Sm4 => len == 16,
        }
    }
}

fn check_key(c: Cipher, key: &[u8]) -> Result<(), CryptoError> {
    if c.key_len_ok(key.len()) {
        Ok(())
    } else {
        Err(CryptoError::InvalidKey(format!("{} does not take a {}-byte key", c.name(), key.len())))
    }
}

fn aes_key(key: &[u8]) -> Result<UnboundCipherKey, CryptoError> {
    let alg = match key.len() {
        16 => &AES_128,
        24 => &AES_192,
        32 => &AES_256,
        n => return Err(CryptoError::InvalidKey(format!("AES does not take a {n}-byte key"))),
    };
    UnboundCipherKey::new(alg, key).map_err(|_| CryptoError::InvalidKey("AES key".into()))
}

fn sm4_cipher(key: &[u8]) -> Result<sm4::Sm4, CryptoError> {
    sm4::Sm4::new_from_slice(key).map_err(|_| CryptoError::InvalidKey(format!("SM4 does not take a {}-byte key", key.len())))
}

fn whole_blocks(what: &str, len: usize) -> Result<(), CryptoError> {
    if len.is_multiple_of(BLOCK) {
        Ok(())
    } else {
        Err(CryptoError::DataLenRange(format!("{what} needs a multiple of 16 bytes, got {len}")))
    }
}

fn sm4_blocks(c: &sm4::Sm4, buf: &mut [u8], encrypt: bool) {
    for chunk in buf.chunks_exact_mut(BLOCK) {
        // chunks_exact_mut yields exactly BLOCK bytes, so the conversion cannot fail.
        if let Ok(b) = <&mut Array<u8, U16>>::try_from(chunk) {
            if encrypt {
                c.encrypt_block(b);
            } else {
                c.decrypt_block(b);
            }
        }
    }
}

/// Encrypts whole blocks in place with the raw cipher (ECB). `buf.len()` must be a multiple of 16.
fn ecb_in_place(c: Cipher, key: &[u8], buf: &mut [u8], encrypt: bool) -> Result<(), CryptoError> {
    check_key(c, key)?;
    if buf.is_empty() {
        return Ok(());
    }
    match c {
        Cipher::Aes => {
            if encrypt {
                let k = EncryptingKey::ecb(aes_key(key)?).map_err(|_| CryptoError::Internal("AES-ECB key".into()))?;
                k.less_safe_encrypt(buf, EncryptionContext::None).map_err(|_| CryptoError::Internal("AES-ECB".into()))?;
            } else {
                let k = DecryptingKey::ecb(aes_key(key)?).map_err(|_| CryptoError::Internal("AES-ECB key".into()))?;
                k.decrypt(buf, DecryptionContext::None).map_err(|_| CryptoError::Internal("AES-ECB".into()))?;
            }
        }
        Cipher::Sm4 => sm4_blocks(&sm4_cipher(key)?, buf, encrypt),
    }
    Ok(())
}

/// ECB encryption of whole blocks.
pub fn ecb_encrypt(c: Cipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    whole_blocks("ECB", data.len())?;
    let mut out = data.to_vec();
    ecb_in_place(c, key, &mut out, true)?;
    Ok(out)
}

/// ECB decryption of whole blocks.
pub fn ecb_decrypt(c: Cipher, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    whole_blocks("ECB", data.len())?;
    let mut out = data.to_vec();
    ecb_in_place(c, key, &mut out, false)?;
    Ok(out)
}

fn iv16(iv: &[u8]) -> Result<[u8; 16], CryptoError> {
    iv.try_into().map_err(|_| CryptoError::InvalidInput(format!("CBC needs a 16-byte IV, got {}", iv.len())))
}

/// CBC encryption; with `pad`, PKCS#7 padding is added (any input length).
pub fn cbc_encrypt(c: Cipher, key: &[u8], iv: &[u8], data: &[u8], pad: bool) -> Result<Vec<u8>, CryptoError> {
    check_key(c, key)?;
    let iv = iv16(iv)?;
    let mut buf = data.to_vec();
    if pad {
        let n = BLOCK - data.len() % BLOCK;
        buf.resize(data.len() + n, n as u8);
    } else {
        whole_blocks("CBC without padding", data.len())?;
    }
    if buf.is_empty() {
        return Ok(buf);
    }
    match c {
        Cipher::Aes => {
            let k = EncryptingKey::cbc(aes_key(key)?).map_err(|_| CryptoError::Internal("AES-CBC key".into()))?;
            k.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(FixedLength::from(iv))).map_err(|_| CryptoError::Internal("AES-CBC".into()))?;
        }
        Cipher::Sm4 => {
            let s = sm4_cipher(key)?;
            let mut prev = iv;
            for chunk in buf.chunks_exact_mut(BLOCK) {
                for (b, p) in chunk.iter_mut().zip(prev.iter()) {
                    *b ^= p;
                }
                sm4_blocks(&s, chunk, true);
                prev.copy_from_slice(chunk);
            }
        }
    }
    Ok(buf)
}

/// CBC decryption; with `pad`, PKCS#7 padding is checked and removed.
pub fn cbc_decrypt(c: Cipher, key: &[u8], iv: &[u8], data: &[u8], pad: bool) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_key(c, key)?;
    let iv = iv16(iv)?;
    whole_blocks("CBC ciphertext", data.len())?;
    if pad && data.is_empty() {
        return Err(CryptoError::DataLenRange("padded CBC ciphertext cannot be empty".into()));
    }
    let mut buf = Zeroizing::new(data.to_vec());
    if buf.is_empty() {
        return Ok(buf);
    }
    match c {
        Cipher::Aes => {
            let k = DecryptingKey::cbc(aes_key(key)?).map_err(|_| CryptoError::Internal("AES-CBC key".into()))?;
            k.decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv))).map_err(|_| CryptoError::Internal("AES-CBC".into()))?;
        }
        Cipher::Sm4 => {
            let s = sm4_cipher(key)?;
            let mut prev = iv;
            for chunk in buf.chunks_exact_mut(BLOCK) {
                let mut this = [0u8; BLOCK];
                this.copy_from_slice(chunk);
                sm4_blocks(&s, chunk, false);
                for (b, p) in chunk.iter_mut().zip(prev.iter()) {
                    *b ^= p;
                }
                prev = this;
            }
        }
    }
    if pad {
        let n = buf[buf.len() - 1] as usize;
        // Padding check without early exit on the padding bytes' values.
        let mut bad = (n == 0) as u8 | (n > BLOCK) as u8;
        let n_clamped = n.clamp(1, BLOCK);
        for &b in &buf[buf.len() - n_clamped..] {
            bad |= (b != n as u8) as u8;
        }
        if bad != 0 {
            return Err(CryptoError::EncryptedDataInvalid);
        }
        let keep = buf.len() - n;
        buf[keep..].zeroize();
        buf.truncate(keep);
    }
    Ok(buf)
}

/// CTR mode with PKCS#11 semantics: the low `counter_bits` bits of the
/// 16-byte counter block are the counter (big-endian) and wrap within those
/// bits; encryption and decryption are the same operation. Refuses input
/// that would make the counter repeat.
pub fn ctr_apply(c: Cipher, key: &[u8], counter_block: &[u8], counter_bits: u32, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_key(c, key)?;
    let block: [u8; 16] =
        counter_block.try_into().map_err(|_| CryptoError::InvalidInput(format!("CTR needs a 16-byte counter block, got {}", counter_block.len())))?;
    if counter_bits == 0 || counter_bits > 128 {
        return Err(CryptoError::InvalidInput(format!("CTR counter width {counter_bits} is outside 1..=128 bits")));
    }
    let blocks = data.len().div_ceil(BLOCK) as u128;
    if counter_bits < 128 && blocks > (1u128 << counter_bits) {
        return Err(CryptoError::DataLenRange(format!("{} bytes would wrap a {counter_bits}-bit CTR counter", data.len())));
    }
    let mask: u128 = if counter_bits == 128 { u128::MAX } else { (1u128 << counter_bits) - 1 };
    let start = u128::from_be_bytes(block);
    let (fixed, ctr0) = (start & !mask, start & mask);
    let mut stream = Zeroizing::new(vec![0u8; blocks as usize * BLOCK]);
    for (i, chunk) in stream.chunks_exact_mut(BLOCK).enumerate() {
        let v = fixed | (ctr0.wrapping_add(i as u128) & mask);
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    ecb_in_place(c, key, &mut stream, true)?;
    Ok(data.iter().zip(stream.iter()).map(|(d, k)| d ^ k).collect())
}

fn gcm_tag_len(tag_len: usize) -> Result<(), CryptoError> {
    if matches!(tag_len, 4 | 8 | 12..=16) {
        Ok(())
    } else {
        Err(CryptoError::InvalidInput(format!("GCM tag length {tag_len} bytes is not one of 4, 8, 12..16")))
    }
}

/// Encrypts in place and returns the full 16-byte tag.
fn gcm_seal_full(c: Cipher, key: &[u8], iv: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 16], CryptoError> {
    check_key(c, key)?;
    macro_rules! run {
        ($cipher:ty, $n:ty) => {{
            let g = AesGcm::<$cipher, $n>::new_from_slice(key).map_err(|_| CryptoError::InvalidKey("GCM key".into()))?;
            let nonce = Array::<u8, $n>::try_from(iv).map_err(|_| CryptoError::InvalidInput("GCM IV".into()))?;
            let tag = g.encrypt_inout_detached(&nonce, aad, buf.into()).map_err(|_| CryptoError::DataLenRange("GCM input too long".into()))?;
            let mut t = [0u8; 16];
            t.copy_from_slice(&tag);
            Ok(t)
        }};
    }
    match (c, key.len(), iv.len()) {
        (Cipher::Aes, 16, 12) => run!(aes_gcm::aes::Aes128, U12),
        (Cipher::Aes, 16, 16) => run!(aes_gcm::aes::Aes128, U16),
        (Cipher::Aes, 24, 12) => run!(aes_gcm::aes::Aes192, U12),
        (Cipher::Aes, 24, 16) => run!(aes_gcm::aes::Aes192, U16),
        (Cipher::Aes, 32, 12) => run!(aes_gcm::aes::Aes256, U12),
        (Cipher::Aes, 32, 16) => run!(aes_gcm::aes::Aes256, U16),
        (Cipher::Sm4, 16, 12) => run!(sm4::Sm4, U12),
        (Cipher::Sm4, 16, 16) => run!(sm4::Sm4, U16),
        // Any other IV length: J0 from GHASH of the IV (SP 800-38D 7.1).
        _ => crate::gcm::seal(c, key, iv, aad, buf),
    }
}

/// GCM encryption: returns `ciphertext || tag[..tag_len]`.
pub fn gcm_encrypt(c: Cipher, key: &[u8], iv: &[u8], aad: &[u8], data: &[u8], tag_len: usize) -> Result<Vec<u8>, CryptoError> {
    gcm_tag_len(tag_len)?;
    let mut buf = data.to_vec();
    let tag = gcm_seal_full(c, key, iv, aad, &mut buf)?;
    buf.extend_from_slice(&tag[..tag_len]);
    Ok(buf)
}

/// GCM decryption of `ciphertext || tag[..tag_len]`; a wrong tag is
/// `EncryptedDataInvalid` and no plaintext is released.
pub fn gcm_decrypt(c: Cipher, key: &[u8], iv: &[u8], aad: &[u8], data: &[u8], tag_len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    gcm_tag_len(tag_len)?;
    if data.len() < tag_len {
        return Err(CryptoError::DataLenRange(format!("GCM input of {} bytes is shorter than its {tag_len}-byte tag", data.len())));
    }
    let (ct, tag) = data.split_at(data.len() - tag_len);
    // CTR is its own inverse: "encrypting" the ciphertext yields the
    // plaintext; sealing that plaintext again yields the genuine tag, whose
    // prefix is compared in constant time. This supports truncated tags,
    // which the AEAD interfaces do not.
    let mut plain = Zeroizing::new(ct.to_vec());
    gcm_seal_full(c, key, iv, aad, &mut plain)?;
    let mut again = Zeroizing::new(plain.to_vec());
    let expected = gcm_seal_full(c, key, iv, aad, &mut again)?;
    if !crate::kdf::ct_eq(&expected[..tag_len], tag) {
        return Err(CryptoError::EncryptedDataInvalid);
    }
    Ok(plain)
}

/// A fresh random secret key of `len` bytes.
pub fn generate_key(len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if len == 0 || len > 512 {
        return Err(CryptoError::DataLenRange(format!("secret key length {len} is outside 1..=512")));
    }
    let mut k = Zeroizing::new(vec![0u8; len]);
    crate::rng::fill(&mut k)?;
    Ok(k)
}
