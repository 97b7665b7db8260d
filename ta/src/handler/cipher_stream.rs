//! Multi-part encryption and decryption (C_EncryptUpdate / C_DecryptUpdate).
//!
//! ECB, CBC, CBC_PAD and CTR (AES and SM4) stream: each update returns every
//! whole block it can, carrying the chaining value (CBC) or counter (CTR) to
//! the next; CBC_PAD decryption holds back the last block until the end,
//! where the padding is. GCM, RSA-OAEP and SM2 need the whole input (GCM
//! releases no plaintext before the tag is checked) and collect it, up to
//! `stream::MAX_BUFFERED`.

use super::deny;
use crate::keys::{crypto_denied, LoadedKey};
use crate::mech;
use crate::policy::Denied;
use std::sync::Arc;
use teehsm_crypto::sym::{self, Cipher};
use teehsm_wire::ck::*;
use teehsm_wire::{Mechanism, Rv};
use zeroize::Zeroizing;

const BLOCK: usize = 16;

enum Mode {
    Ecb,
    Cbc {
        iv: [u8; 16],
        pad: bool,
    },
    Ctr {
        counter: u128,
        mask: u128,
        blocks_left: Option<u128>,
    },
    /// Whole input at the end.
    Collect,
}

/// A multi-part cipher operation.
pub struct CipherStream {
    mech: Mechanism,
    key: Arc<LoadedKey>,
    encrypt: bool,
    mode: Mode,
    /// Input not yet processed (a partial block, or everything for Collect).
    pending: Zeroizing<Vec<u8>>,
}

fn len_error(encrypt: bool, msg: impl Into<String>) -> Denied {
    deny(if encrypt { Rv::DATA_LEN_RANGE } else { Rv::ENCRYPTED_DATA_LEN_RANGE }, msg)
}

impl CipherStream {
    /// Validates the mechanism's parameters against the key, as C_EncryptInit does.
    pub fn new(mech: Mechanism, key: Arc<LoadedKey>, encrypt: bool) -> Result<Self, Denied> {
        let mode = match mech.mech {
            CKM_AES_ECB | CKM_SM4_ECB => Mode::Ecb,
            CKM_AES_CBC | CKM_SM4_CBC | CKM_AES_CBC_PAD | CKM_SM4_CBC_PAD => {
                let mut iv = [0u8; 16];
                iv.copy_from_slice(mech::iv(&mech)?);
                Mode::Cbc { iv, pad: matches!(mech.mech, CKM_AES_CBC_PAD | CKM_SM4_CBC_PAD) }
            }
            CKM_AES_CTR | CKM_SM4_CTR => {
                let (block, bits) = mech::ctr(&mech)?;
                let mut b = [0u8; 16];
                b.copy_from_slice(block);
                let mask = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
                Mode::Ctr { counter: u128::from_be_bytes(b), mask, blocks_left: (bits < 128).then(|| 1u128 << bits) }
            }
            CKM_AES_GCM | CKM_SM4_GCM => {
                mech::gcm(&mech)?;
                Mode::Collect
            }
            _ => Mode::Collect,
        };
        if let Some((_, kt)) = mech::cipher_of(mech.mech) {
            mech::secret_for(&key, mech.mech, &[kt])?;
        }
        Ok(CipherStream { mech, key, encrypt, mode, pending: Zeroizing::new(Vec::new()) })
    }

    fn cipher_key(&self) -> Result<(Cipher, &[u8]), Denied> {
        let (cipher, kt) = mech::cipher_of(self.mech.mech).ok_or_else(|| deny(Rv::MECHANISM_INVALID, "not a block cipher mechanism"))?;
        Ok((cipher, mech::secret_for(&self.key, self.mech.mech, &[kt])?))
    }

    /// Feeds `data`; returns the output ready now.
    pub fn update(&mut self, data: &[u8]) -> Result<Vec<u8>, Denied> {
        self.pending.extend_from_slice(data);
        if let Mode::Collect = self.mode {
            if self.pending.len() > super::stream::MAX_BUFFERED {
                return Err(len_error(self.encrypt, format!("this mechanism needs the whole input, at most {} bytes", super::stream::MAX_BUFFERED)));
            }
            return Ok(Vec::new());
        }
        // Whole blocks to process now; CBC_PAD decryption keeps the last one back.
        let mut ready = self.pending.len() / BLOCK * BLOCK;
        if matches!(self.mode, Mode::Cbc { pad: true, .. }) && !self.encrypt && ready == self.pending.len() && ready > 0 {
            ready -= BLOCK;
        }
        if ready == 0 {
            return Ok(Vec::new());
        }
        let input = Zeroizing::new(self.pending.drain(..ready).collect::<Vec<u8>>());
        self.blocks(&input)
    }

    /// Processes whole blocks, advancing the chaining state.
    fn blocks(&mut self, input: &[u8]) -> Result<Vec<u8>, Denied> {
        let encrypt = self.encrypt;
        let (cipher, key) = self.cipher_key()?;
        let key = Zeroizing::new(key.to_vec());
        let out = match &mut self.mode {
            Mode::Ecb if encrypt => sym::ecb_encrypt(cipher, &key, input).map_err(crypto_denied)?,
            Mode::Ecb => sym::ecb_decrypt(cipher, &key, input).map_err(crypto_denied)?,
            Mode::Cbc { iv, .. } => {
                let out = if encrypt {
                    sym::cbc_encrypt(cipher, &key, iv, input, false).map_err(crypto_denied)?
                } else {
                    sym::cbc_decrypt(cipher, &key, iv, input, false).map_err(crypto_denied)?.to_vec()
                };
                let last = if encrypt { &out[out.len() - BLOCK..] } else { &input[input.len() - BLOCK..] };
                iv.copy_from_slice(last);
                out
            }
            Mode::Ctr { counter, mask, blocks_left } => {
                let n = input.len().div_ceil(BLOCK) as u128;
                if let Some(left) = blocks_left {
                    if n > *left {
                        return Err(len_error(encrypt, "the input would wrap the CTR counter"));
                    }
                    *left -= n;
                }
                let out = sym::ctr_apply(cipher, &key, &counter.to_be_bytes(), mask.count_ones(), input).map_err(crypto_denied)?;
                *counter = (*counter & !*mask) | (counter.wrapping_add(n) & *mask);
                out
            }
            Mode::Collect => return Err(deny(Rv::GENERAL_ERROR, "collecting mode has no blocks")),
        };
        Ok(out)
    }

    /// Ends the operation: the remaining output.
    pub fn finish(mut self) -> Result<Vec<u8>, Denied> {
        let rest = Zeroizing::new(std::mem::take(&mut *self.pending));
        match &self.mode {
            Mode::Collect => {
                if self.encrypt {
                    mech::encrypt(&self.key, &self.mech, &rest)
                } else {
                    mech::decrypt(&self.key, &self.mech, &rest).map(|p| p.to_vec())
                }
            }
            Mode::Ctr { .. } if rest.is_empty() => Ok(Vec::new()),
            Mode::Ctr { .. } => self.blocks(&rest),
            Mode::Cbc { iv, pad: true } => {
                let (cipher, key) = self.cipher_key()?;
                if self.encrypt {
                    sym::cbc_encrypt(cipher, key, iv, &rest, true).map_err(crypto_denied)
                } else {
                    if rest.len() != BLOCK {
                        return Err(len_error(false, "CBC_PAD ciphertext must be whole blocks"));
                    }
                    sym::cbc_decrypt(cipher, key, iv, &rest, true).map(|p| p.to_vec()).map_err(|e| match e {
                        teehsm_crypto::CryptoError::DataLenRange(m) => deny(Rv::ENCRYPTED_DATA_LEN_RANGE, m),
                        e => crypto_denied(e),
                    })
                }
            }
            Mode::Ecb | Mode::Cbc { .. } if rest.is_empty() => Ok(Vec::new()),
            Mode::Ecb | Mode::Cbc { .. } => {
                Err(len_error(self.encrypt, format!("{} bytes left over: this mode takes whole 16-byte blocks", rest.len())))
            }
        }
    }
}
