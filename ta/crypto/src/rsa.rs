//! RSA (aws-lc): PKCS#1 v1.5 and PSS signatures, OAEP and PKCS#1 v1.5
//! encryption.
//!
//! Private keys are held as PKCS#1 `RSAPrivateKey` DER (the sealed form in
//! the store); moduli from 2048 to 8192 bits. The common cases (SHA-256/384/512,
//! PSS salt = hash length, OAEP with MGF1 over the same hash) go through
//! aws-lc-rs; SHA-1/SHA-224, other PSS salts, other MGF1 hashes, OAEP with
//! SHA-224 and PKCS#1 v1.5 signatures over caller-formatted blocks go through
//! the same aws-lc C functions directly ([`crate::lc`]).
//!
//! PKCS#1 v1.5 *decryption* is offered because PKCS#11 callers need it
//! (CKM_RSA_PKCS): aws-lc checks the padding in constant time (no Marvin
//! timing leak, unlike the `rsa` crate, RUSTSEC-2023-0071), but a caller that
//! tells an attacker whether decryption failed still runs a Bleichenbacher
//! oracle; OAEP is the mechanism to use.

use crate::der::{self, Reader};
use crate::digest::{self, HashAlg};
use crate::CryptoError;
use aws_lc_rs::digest::{Digest, SHA256, SHA384, SHA512};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeyPairComponents, KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
    OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
};
use aws_lc_rs::signature::{
    ParsedPublicKey, RsaEncoding, RsaParameters, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512,
    RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 8192;
/// DER of AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_ALG_ID: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/// DigestInfo prefixes (RFC 8017 9.2 note 1).
const DI_SHA1: &[u8] = &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];
const DI_SHA224: &[u8] = &[0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c];
const DI_SHA256: &[u8] = &[0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];
const DI_SHA384: &[u8] = &[0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30];
const DI_SHA512: &[u8] = &[0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40];

/// The integers of an RSA private key, big-endian unsigned.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct RsaComponents {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Vec<u8>,
    pub p: Vec<u8>,
    pub q: Vec<u8>,
    pub dp: Vec<u8>,
    pub dq: Vec<u8>,
    pub qinv: Vec<u8>,
}

fn bit_len(n: &[u8]) -> usize {
    let n = der::trim(n);
    match n.first() {
        None => 0,
        Some(&b) => n.len() * 8 - b.leading_zeros() as usize,
    }
}

fn pkcs1_encoding(h: HashAlg) -> Result<(&'static dyn RsaEncoding, &'static RsaParameters, &'static aws_lc_rs::digest::Algorithm), CryptoError> {
    Ok(match h {
        HashAlg::Sha256 => (&RSA_PKCS1_SHA256, &RSA_PKCS1_2048_8192_SHA256, &SHA256),
        HashAlg::Sha384 => (&RSA_PKCS1_SHA384, &RSA_PKCS1_2048_8192_SHA384, &SHA384),
        HashAlg::Sha512 => (&RSA_PKCS1_SHA512, &RSA_PKCS1_2048_8192_SHA512, &SHA512),
        h => return Err(CryptoError::Unsupported(format!("RSA PKCS#1 v1.5 with {} (use SHA-256, SHA-384 or SHA-512)", h.name()))),
    })
}

fn pss_encoding(h: HashAlg) -> Result<(&'static dyn RsaEncoding, &'static RsaParameters, &'static aws_lc_rs::digest::Algorithm), CryptoError> {
    Ok(match h {
        HashAlg::Sha256 => (&RSA_PSS_SHA256, &RSA_PSS_2048_8192_SHA256, &SHA256),
        HashAlg::Sha384 => (&RSA_PSS_SHA384, &RSA_PSS_2048_8192_SHA384, &SHA384),
        HashAlg::Sha512 => (&RSA_PSS_SHA512, &RSA_PSS_2048_8192_SHA512, &SHA512),
        h => return Err(CryptoError::Unsupported(format!("RSA-PSS with {} (use SHA-256, SHA-384 or SHA-512)", h.name()))),
    })
}

fn oaep_alg(h: HashAlg) -> Result<&'static OaepAlgorithm, CryptoError> {
    Ok(match h {
        HashAlg::Sha1 => &OAEP_SHA1_MGF1SHA1,
        HashAlg::Sha256 => &OAEP_SHA256_MGF1SHA256,
        HashAlg::Sha384 => &OAEP_SHA384_MGF1SHA384,
        HashAlg::Sha512 => &OAEP_SHA512_MGF1SHA512,
        h => return Err(CryptoError::Unsupported(format!("RSA-OAEP with {}", h.name()))),
    })
}

fn check_salt(h: HashAlg, salt_len: usize) -> Result<(), CryptoError> {
    if salt_len == h.output_len() {
        Ok(())
    } else {
        Err(CryptoError::Unsupported(format!(
            "RSA-PSS salt of {salt_len} bytes with {} (the salt must be {} bytes, the hash length)",
            h.name(),
            h.output_len()
        )))
    }
}

fn import_digest(hash: &[u8], alg: &'static aws_lc_rs::digest::Algorithm, h: HashAlg) -> Result<Digest, CryptoError> {
    if hash.len() != h.output_len() {
        return Err(CryptoError::DataLenRange(format!("a {} hash is {} bytes, got {}", h.name(), h.output_len(), hash.len())));
    }
    Digest::import_less_safe(hash, alg).map_err(|_| CryptoError::Internal("digest import".into()))
}

/// The DER `DigestInfo` of `hash` (RFC 8017 9.2), as EMSA-PKCS1-v1_5 signs it.
pub fn digest_info(h: HashAlg, hash: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let prefix = match h {
        HashAlg::Sha1 => DI_SHA1,
        HashAlg::Sha224 => DI_SHA224,
        HashAlg::Sha256 => DI_SHA256,
        HashAlg::Sha384 => DI_SHA384,
        HashAlg::Sha512 => DI_SHA512,
        HashAlg::Sm3 => return Err(CryptoError::Unsupported("RSA PKCS#1 v1.5 with SM3".into())),
    };
    if hash.len() != h.output_len() {
        return Err(CryptoError::DataLenRange(format!("a {} hash is {} bytes, got {}", h.name(), h.output_len(), hash.len())));
    }
    Ok([prefix, hash].concat())
}

/// True when aws-lc-rs' own PSS encoding fits: SHA-256/384/512, MGF1 over the same hash, salt = hash length.
fn pss_fast(h: HashAlg, mgf: HashAlg, salt_len: usize) -> bool {
    h == mgf && salt_len == h.output_len() && matches!(h, HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512)
}

/// True when aws-lc-rs' own OAEP algorithms fit: MGF1 over the OAEP hash, SHA-1/256/384/512.
fn oaep_fast(h: HashAlg, mgf: HashAlg) -> bool {
    h == mgf && matches!(h, HashAlg::Sha1 | HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512)
}

/// Splits a DigestInfo into (hash algorithm, hash).
fn parse_digest_info(data: &[u8]) -> Option<(HashAlg, &[u8])> {
    for (prefix, h) in [(DI_SHA256, HashAlg::Sha256), (DI_SHA384, HashAlg::Sha384), (DI_SHA512, HashAlg::Sha512)] {
        if data.len() == prefix.len() + h.output_len() && data.starts_with(prefix) {
            return Some((h, &data[prefix.len()..]));
        }
    }
    None
}

/// An RSA private key.
pub struct RsaPrivateKey {
    pkcs1: Zeroizing<Vec<u8>>,
    pair: KeyPair,
    oaep: OaepPrivateDecryptingKey,
    public: RsaPublicKey,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPrivateKey").field("bits", &self.bits()).finish_non_exhaustive()
    }
}

fn parse_pkcs1(der_bytes: &[u8]) -> Result<RsaComponents, CryptoError> {
    let bad = |_| CryptoError::InvalidKey("not a PKCS#1 RSAPrivateKey".into());
    let mut outer = Reader::new(der_bytes);
    let mut r = outer.sequence().map_err(bad)?;
    outer.finish().map_err(bad)?;
    let version = r.unsigned_integer().map_err(bad)?;
    if version != [0] {
        return Err(CryptoError::InvalidKey("only two-prime RSA keys (version 0) are supported".into()));
    }
    let mut next = || r.unsigned_integer().map(<[u8]>::to_vec).map_err(bad);
    let c = RsaComponents { n: next()?, e: next()?, d: next()?, p: next()?, q: next()?, dp: next()?, dq: next()?, qinv: next()? };
    r.finish().map_err(bad)?;
    Ok(c)
}

fn encode_pkcs1(c: &RsaComponents) -> Zeroizing<Vec<u8>> {
    let parts: Vec<Zeroizing<Vec<u8>>> =
        [&[0u8][..], &c.n, &c.e, &c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qinv].iter().map(|v| Zeroizing::new(der::unsigned_integer(v))).collect();
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    Zeroizing::new(der::sequence(&refs))
}

fn pkcs8_of(pkcs1: &[u8]) -> Zeroizing<Vec<u8>> {
    let inner = Zeroizing::new(der::tlv(0x04, pkcs1));
    Zeroizing::new(der::sequence(&[&[0x02, 0x01, 0x00], RSA_ALG_ID, &inner]))
}

/// Extracts the PKCS#1 key from a PKCS#8 PrivateKeyInfo.
fn pkcs1_of_pkcs8(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let bad = |_| CryptoError::Internal("unexpected PKCS#8 from the RSA backend".into());
    let mut outer = Reader::new(pkcs8);
    let mut r = outer.sequence().map_err(bad)?;
    r.unsigned_integer().map_err(bad)?;
    r.sequence().map_err(bad)?;
    Ok(Zeroizing::new(r.octet_string().map_err(bad)?.to_vec()))
}

impl RsaPrivateKey {
    /// From PKCS#1 `RSAPrivateKey` DER.
    pub fn from_pkcs1_der(pkcs1: &[u8]) -> Result<Self, CryptoError> {
        let c = parse_pkcs1(pkcs1)?;
        let bits = bit_len(&c.n);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(CryptoError::InvalidKey(format!("RSA modulus of {bits} bits is outside {MIN_BITS}..={MAX_BITS}")));
        }
        let pair = KeyPair::from_der(pkcs1).map_err(|e| CryptoError::InvalidKey(format!("RSA key rejected: {e}")))?;
        let oaep = PrivateDecryptingKey::from_pkcs8(&pkcs8_of(pkcs1))
            .map_err(|e| CryptoError::InvalidKey(format!("RSA key rejected: {e}")))
            .and_then(|k| OaepPrivateDecryptingKey::new(k).map_err(|_| CryptoError::InvalidKey("RSA key rejected for OAEP".into())))?;
        let public = RsaPublicKey::from_components(&c.n, &c.e)?;
        Ok(RsaPrivateKey { pkcs1: Zeroizing::new(pkcs1.to_vec()), pair, oaep, public })
    }

    /// From separate integers; all CRT values are required.
    pub fn from_components(c: &RsaComponents) -> Result<Self, CryptoError> {
        if [&c.n, &c.d, &c.p, &c.q].iter().any(|v| der::trim(v).is_empty()) {
            return Err(CryptoError::InvalidKey("RSA import needs the modulus, private exponent and both primes".into()));
        }
        if [&c.dp, &c.dq, &c.qinv].iter().any(|v| der::trim(v).is_empty()) {
            return Err(CryptoError::InvalidKey("RSA import needs the CRT values (exponent 1, exponent 2, coefficient)".into()));
        }
        let comps = KeyPairComponents {
            public_key: PublicKeyComponents { n: der::trim(&c.n), e: der::trim(&c.e) },
            d: der::trim(&c.d),
            p: der::trim(&c.p),
            q: der::trim(&c.q),
            dP: der::trim(&c.dp),
            dQ: der::trim(&c.dq),
            qInv: der::trim(&c.qinv),
        };
        // Runs RSA_check_key: rejects inconsistent components.
        KeyPair::from_components(&comps).map_err(|e| CryptoError::InvalidKey(format!("inconsistent RSA components: {e}")))?;
        let trimmed = RsaComponents {
            n: der::trim(&c.n).to_vec(),
            e: der::trim(&c.e).to_vec(),
            d: der::trim(&c.d).to_vec(),
            p: der::trim(&c.p).to_vec(),
            q: der::trim(&c.q).to_vec(),
            dp: der::trim(&c.dp).to_vec(),
            dq: der::trim(&c.dq).to_vec(),
            qinv: der::trim(&c.qinv).to_vec(),
        };
        Self::from_pkcs1_der(&encode_pkcs1(&trimmed))
    }

    /// PKCS#1 `RSAPrivateKey` DER.
    pub fn to_pkcs1_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Ok(self.pkcs1.clone())
    }

    pub fn components(&self) -> Result<RsaComponents, CryptoError> {
        parse_pkcs1(&self.pkcs1)
    }

    pub fn modulus(&self) -> Vec<u8> {
        self.public.n.clone()
    }

    pub fn public_exponent(&self) -> Vec<u8> {
        self.public.e.clone()
    }

    pub fn bits(&self) -> usize {
        self.public.bits()
    }

    pub fn public_key(&self) -> RsaPublicKey {
        self.public.clone()
    }

    fn sig_buf(&self) -> Vec<u8> {
        vec![0u8; self.pair.public_modulus_len()]
    }

    fn sign_digest_with(&self, enc: &'static dyn RsaEncoding, d: &Digest) -> Result<Vec<u8>, CryptoError> {
        let mut sig = self.sig_buf();
        self.pair.sign_digest(enc, d, &mut sig).map_err(|_| CryptoError::Internal("RSA sign".into()))?;
        Ok(sig)
    }

    /// CKM_RSA_PKCS signing: EMSA-PKCS1-v1_5 block type 1 around `data`
    /// (normally a DigestInfo the caller built), at most k - 11 bytes.
    pub fn sign_pkcs1v15_raw(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() + 11 > self.pair.public_modulus_len() {
            return Err(CryptoError::DataLenRange(format!("{} bytes is too long for PKCS#1 v1.5 with this modulus", data.len())));
        }
        if let Some((h, hash)) = parse_digest_info(data) {
            return self.sign_pkcs1v15_prehashed(h, hash);
        }
        crate::lc::rsa_sign_pkcs1_raw(&self.pkcs1, data)
    }

    fn sign_pkcs1v15_prehashed(&self, h: HashAlg, hash: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match pkcs1_encoding(h) {
            Ok((enc, _, alg)) => self.sign_digest_with(enc, &import_digest(hash, alg, h)?),
            Err(_) => crate::lc::rsa_sign_pkcs1_raw(&self.pkcs1, &digest_info(h, hash)?),
        }
    }

    /// PKCS#1 v1.5 signature of `msg` hashed with `h` (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512).
    pub fn sign_pkcs1v15(&self, h: HashAlg, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        digest_info(h, &vec![0; h.output_len()])?;
        self.sign_pkcs1v15_prehashed(h, &digest::digest(h, msg))
    }

    /// PSS over a pre-computed hash, MGF1 over the same hash.
    pub fn sign_pss_prehashed(&self, h: HashAlg, hash: &[u8], salt_len: usize) -> Result<Vec<u8>, CryptoError> {
        self.sign_pss_mgf1_prehashed(h, h, hash, salt_len)
    }

    /// PSS over a pre-computed `h` hash with MGF1 over `mgf` and any salt length that fits.
    pub fn sign_pss_mgf1_prehashed(&self, h: HashAlg, mgf: HashAlg, hash: &[u8], salt_len: usize) -> Result<Vec<u8>, CryptoError> {
        if pss_fast(h, mgf, salt_len) {
            check_salt(h, salt_len)?;
            let (enc, _, alg) = pss_encoding(h)?;
            return self.sign_digest_with(enc, &import_digest(hash, alg, h)?);
        }
        crate::lc::rsa_sign_pss(&self.pkcs1, h, mgf, salt_len, hash)
    }

    /// PSS signature of `msg` hashed with `h`, MGF1 over the same hash.
    pub fn sign_pss(&self, h: HashAlg, msg: &[u8], salt_len: usize) -> Result<Vec<u8>, CryptoError> {
        self.sign_pss_mgf1_prehashed(h, h, &digest::digest(h, msg), salt_len)
    }

    /// PKCS#1 v1.5 (RSAES-PKCS1-v1_5) decryption. See the module note on
    /// padding oracles: every failure is the same `EncryptedDataInvalid`.
    pub fn decrypt_pkcs1v15(&self, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let k = self.pair.public_modulus_len();
        if ct.len() != k {
            return Err(CryptoError::DataLenRange(format!("RSA ciphertext must be {k} bytes, got {}", ct.len())));
        }
        let key = PrivateDecryptingKey::from_pkcs8(&pkcs8_of(&self.pkcs1))
            .ok()
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
            .ok_or_else(|| CryptoError::InvalidKey("RSA key rejected for PKCS#1 v1.5 decryption".into()))?;
        let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let n = key.decrypt(ct, &mut out).map_err(|_| CryptoError::EncryptedDataInvalid)?.len();
        out.truncate(n);
        Ok(out)
    }

    /// OAEP decryption with MGF1 over `mgf` and an optional label.
    pub fn decrypt_oaep_mgf1(&self, h: HashAlg, mgf: HashAlg, label: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if oaep_fast(h, mgf) {
            return self.decrypt_oaep(h, label, ct);
        }
        crate::lc::rsa_oaep_decrypt(&self.pkcs1, h, mgf, label, ct)
    }

    /// OAEP decryption with MGF1 over the same hash.
    pub fn decrypt_oaep(&self, h: HashAlg, label: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let alg = oaep_alg(h)?;
        if ct.len() != self.oaep.key_size_bytes() {
            return Err(CryptoError::DataLenRange(format!("OAEP ciphertext must be {} bytes, got {}", self.oaep.key_size_bytes(), ct.len())));
        }
        let mut out = Zeroizing::new(vec![0u8; self.oaep.min_output_size()]);
        let label = (!label.is_empty()).then_some(label);
        let n = self.oaep.decrypt(alg, ct, &mut out, label).map_err(|_| CryptoError::EncryptedDataInvalid)?.len();
        out.truncate(n);
        Ok(out)
    }
}

/// A fresh RSA key. Sizes 2048, 3072, 4096 and 8192 with e = 65537.
pub fn generate(bits: usize, e: &[u8]) -> Result<RsaPrivateKey, CryptoError> {
    if der::trim(e) != [1, 0, 1] {
        return Err(CryptoError::Unsupported("RSA key generation uses the public exponent 65537 only".into()));
    }
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        8192 => KeySize::Rsa8192,
        b => return Err(CryptoError::Unsupported(format!("RSA key generation of {b} bits (use 2048, 3072, 4096 or 8192)"))),
    };
    let pair = KeyPair::generate(size).map_err(|_| CryptoError::Internal("RSA key generation".into()))?;
    let pkcs8 = pair.as_der().map_err(|_| CryptoError::Internal("RSA key export".into()))?;
    let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
    RsaPrivateKey::from_pkcs1_der(&pkcs1_of_pkcs8(&pkcs8)?)
}

/// An RSA public key.
#[derive(Clone)]
pub struct RsaPublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
    pkcs1: Vec<u8>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPublicKey").field("bits", &self.bits()).finish()
    }
}

impl RsaPublicKey {
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, CryptoError> {
        let (n, e) = (der::trim(n), der::trim(e));
        let bits = bit_len(n);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(CryptoError::InvalidKey(format!("RSA modulus of {bits} bits is outside {MIN_BITS}..={MAX_BITS}")));
        }
        if n[n.len() - 1] & 1 == 0 {
            return Err(CryptoError::InvalidKey("RSA modulus is even".into()));
        }
        if e.is_empty() || e.len() > 8 || e[e.len() - 1] & 1 == 0 || (e.len() == 1 && e[0] < 3) {
            return Err(CryptoError::InvalidKey("RSA public exponent must be odd, at least 3 and at most 64 bits".into()));
        }
        let pkcs1 = der::sequence(&[&der::unsigned_integer(n), &der::unsigned_integer(e)]);
        Ok(RsaPublicKey { n: n.to_vec(), e: e.to_vec(), pkcs1 })
    }

    /// From PKCS#1 `RSAPublicKey` DER.
    pub fn from_pkcs1_der(der_bytes: &[u8]) -> Result<Self, CryptoError> {
        let bad = |_| CryptoError::InvalidKey("not a PKCS#1 RSAPublicKey".into());
        let mut outer = Reader::new(der_bytes);
        let mut r = outer.sequence().map_err(bad)?;
        outer.finish().map_err(bad)?;
        let n = r.unsigned_integer().map_err(bad)?;
        let e = r.unsigned_integer().map_err(bad)?;
        r.finish().map_err(bad)?;
        Self::from_components(n, e)
    }

    pub fn modulus(&self) -> Vec<u8> {
        self.n.clone()
    }

    pub fn public_exponent(&self) -> Vec<u8> {
        self.e.clone()
    }

    pub fn bits(&self) -> usize {
        bit_len(&self.n)
    }

    /// PKCS#1 `RSAPublicKey` DER.
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        self.pkcs1.clone()
    }

    fn modulus_len(&self) -> usize {
        self.n.len()
    }

    fn check_sig_len(&self, sig: &[u8]) -> Result<(), CryptoError> {
        if sig.len() != self.modulus_len() {
            return Err(CryptoError::DataLenRange(format!("RSA signature must be {} bytes, got {}", self.modulus_len(), sig.len())));
        }
        Ok(())
    }

    fn verify_digest(&self, params: &'static RsaParameters, d: &Digest, sig: &[u8]) -> Result<(), CryptoError> {
        self.check_sig_len(sig)?;
        let key = ParsedPublicKey::new(params, &self.pkcs1).map_err(|_| CryptoError::InvalidKey("RSA public key".into()))?;
        key.verify_digest_sig(d, sig).map_err(|_| CryptoError::InvalidSignature)
    }

    /// CKM_RSA_PKCS verification: the signature's block type 1 payload must equal `data`.
    pub fn verify_pkcs1v15_raw(&self, data: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.check_sig_len(sig)?;
        crate::lc::rsa_verify_pkcs1_raw(&self.pkcs1, data, sig)
    }

    pub fn verify_pkcs1v15(&self, h: HashAlg, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let hash = digest::digest(h, msg);
        match pkcs1_encoding(h) {
            Ok((_, params, alg)) => self.verify_digest(params, &import_digest(&hash, alg, h)?, sig),
            Err(_) => {
                let di = digest_info(h, &hash)?;
                self.check_sig_len(sig)?;
                crate::lc::rsa_verify_pkcs1_raw(&self.pkcs1, &di, sig)
            }
        }
    }

    pub fn verify_pss_prehashed(&self, h: HashAlg, hash: &[u8], sig: &[u8], salt_len: usize) -> Result<(), CryptoError> {
        self.verify_pss_mgf1_prehashed(h, h, hash, sig, salt_len)
    }

    /// PSS verification over a pre-computed `h` hash, MGF1 over `mgf`, salt of `salt_len` bytes.
    pub fn verify_pss_mgf1_prehashed(&self, h: HashAlg, mgf: HashAlg, hash: &[u8], sig: &[u8], salt_len: usize) -> Result<(), CryptoError> {
        if pss_fast(h, mgf, salt_len) {
            let (_, params, alg) = pss_encoding(h)?;
            return self.verify_digest(params, &import_digest(hash, alg, h)?, sig);
        }
        self.check_sig_len(sig)?;
        crate::lc::rsa_verify_pss(&self.pkcs1, h, mgf, salt_len, hash, sig)
    }

    pub fn verify_pss(&self, h: HashAlg, msg: &[u8], sig: &[u8], salt_len: usize) -> Result<(), CryptoError> {
        self.verify_pss_mgf1_prehashed(h, h, &digest::digest(h, msg), sig, salt_len)
    }

    fn spki(&self) -> Vec<u8> {
        der::sequence(&[RSA_ALG_ID, &der::tlv(0x03, &[&[0u8][..], &self.pkcs1].concat())])
    }

    /// PKCS#1 v1.5 (RSAES-PKCS1-v1_5) encryption of at most k - 11 bytes.
    pub fn encrypt_pkcs1v15(&self, pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = PublicEncryptingKey::from_der(&self.spki())
            .ok()
            .and_then(|k| Pkcs1PublicEncryptingKey::new(k).ok())
            .ok_or_else(|| CryptoError::InvalidKey("RSA public key".into()))?;
        let max = key.max_plaintext_size();
        if pt.len() > max {
            return Err(CryptoError::DataLenRange(format!("PKCS#1 v1.5 can encrypt at most {max} bytes with this key, got {}", pt.len())));
        }
        let mut out = vec![0u8; key.ciphertext_size()];
        let n = key.encrypt(pt, &mut out).map_err(|_| CryptoError::Internal("PKCS#1 v1.5 encrypt".into()))?.len();
        out.truncate(n);
        Ok(out)
    }

    /// OAEP encryption with MGF1 over `mgf` and an optional label.
    pub fn encrypt_oaep_mgf1(&self, h: HashAlg, mgf: HashAlg, label: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if oaep_fast(h, mgf) {
            return self.encrypt_oaep(h, label, pt);
        }
        crate::lc::rsa_oaep_encrypt(&self.pkcs1, h, mgf, label, pt)
    }

    /// OAEP encryption with MGF1 over the same hash.
    pub fn encrypt_oaep(&self, h: HashAlg, label: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let alg = oaep_alg(h)?;
        let key = PublicEncryptingKey::from_der(&self.spki())
            .ok()
            .and_then(|k| OaepPublicEncryptingKey::new(k).ok())
            .ok_or_else(|| CryptoError::InvalidKey("RSA public key".into()))?;
        let max = key.max_plaintext_size(alg);
        if pt.len() > max {
            return Err(CryptoError::DataLenRange(format!("OAEP can encrypt at most {max} bytes with this key, got {}", pt.len())));
        }
        let mut out = vec![0u8; key.ciphertext_size()];
        let label = (!label.is_empty()).then_some(label);
        let n = key.encrypt(alg, pt, &mut out, label).map_err(|_| CryptoError::Internal("OAEP encrypt".into()))?.len();
        out.truncate(n);
        Ok(out)
    }
}
