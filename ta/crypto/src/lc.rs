//! Safe wrappers over the aws-lc C API (`aws-lc-sys`, the library aws-lc-rs
//! itself is built on) for the operations aws-lc-rs does not expose:
//!
//! - RSA: PKCS#1 v1.5 signatures over caller-formatted data (CKM_RSA_PKCS),
//!   PSS with any salt length and MGF1 hash, OAEP with any hash, MGF1 hash
//!   and label (the same `RSA_*`/`EVP_PKEY_*` code aws-lc-rs calls: blinded,
//!   constant-time padding checks);
//! - Ed25519, Ed25519ctx and Ed25519ph (RFC 8032);
//! - ML-DSA.Sign_internal / Verify_internal (FIPS 204 algorithms 7 and 8)
//!   with a caller-built M' prefix and `rnd`, which lets the TA offer signing
//!   contexts, deterministic signing and HashML-DSA;
//! - SHA3 / SHAKE256.
//!
//! Every pointer handed to C comes from a live Rust slice or from an object
//! this module allocated and frees in `Drop`; every length is checked before
//! the call. Nothing here panics on caller input.

#![allow(unsafe_code)]

use crate::digest::HashAlg;
use crate::CryptoError;
use aws_lc_sys as sys;
use std::os::raw::c_int;
use zeroize::Zeroizing;

fn clear_errors() {
    // SAFETY: clears this thread's error queue; no arguments.
    unsafe { sys::ERR_clear_error() }
}

/// The aws-lc message digest for `h` (SHA-1 and SHA-2 only).
fn md(h: HashAlg) -> Result<*const sys::EVP_MD, CryptoError> {
    // SAFETY: these return pointers to static, immutable tables.
    Ok(unsafe {
        match h {
            HashAlg::Sha1 => sys::EVP_sha1(),
            HashAlg::Sha224 => sys::EVP_sha224(),
            HashAlg::Sha256 => sys::EVP_sha256(),
            HashAlg::Sha384 => sys::EVP_sha384(),
            HashAlg::Sha512 => sys::EVP_sha512(),
            HashAlg::Sm3 => return Err(CryptoError::Unsupported("SM3 with RSA".into())),
        }
    })
}

// ---------------------------------------------------------------- RSA

/// An owned `RSA*`.
struct Rsa(*mut sys::RSA);

impl Drop for Rsa {
    fn drop(&mut self) {
        // SAFETY: the pointer came from RSA_*_key_from_bytes and is freed once.
        unsafe { sys::RSA_free(self.0) }
    }
}

impl Rsa {
    fn private(pkcs1: &[u8]) -> Result<Rsa, CryptoError> {
        // SAFETY: reads `pkcs1.len()` bytes from a live slice; returns NULL on error.
        let p = unsafe { sys::RSA_private_key_from_bytes(pkcs1.as_ptr(), pkcs1.len()) };
        if p.is_null() {
            clear_errors();
            return Err(CryptoError::InvalidKey("RSA private key rejected".into()));
        }
        Ok(Rsa(p))
    }

    fn public(pkcs1: &[u8]) -> Result<Rsa, CryptoError> {
        // SAFETY: as above.
        let p = unsafe { sys::RSA_public_key_from_bytes(pkcs1.as_ptr(), pkcs1.len()) };
        if p.is_null() {
            clear_errors();
            return Err(CryptoError::InvalidKey("RSA public key rejected".into()));
        }
        Ok(Rsa(p))
    }

    fn size(&self) -> usize {
        // SAFETY: self.0 is a valid RSA.
        unsafe { sys::RSA_size(self.0) as usize }
    }

    /// An EVP_PKEY holding a reference to this key.
    fn pkey(&self) -> Result<Pkey, CryptoError> {
        // SAFETY: EVP_PKEY_new returns a fresh object or NULL; set1 takes its own reference.
        unsafe {
            let pk = sys::EVP_PKEY_new();
            if pk.is_null() {
                return Err(CryptoError::Internal("EVP_PKEY_new".into()));
            }
            let pk = Pkey(pk);
            if sys::EVP_PKEY_set1_RSA(pk.0, self.0) != 1 {
                clear_errors();
                return Err(CryptoError::Internal("EVP_PKEY_set1_RSA".into()));
            }
            Ok(pk)
        }
    }
}

struct Pkey(*mut sys::EVP_PKEY);

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: owned pointer, freed once.
        unsafe { sys::EVP_PKEY_free(self.0) }
    }
}

struct PkeyCtx(*mut sys::EVP_PKEY_CTX);

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: owned pointer, freed once.
        unsafe { sys::EVP_PKEY_CTX_free(self.0) }
    }
}

impl Pkey {
    fn ctx(&self) -> Result<PkeyCtx, CryptoError> {
        // SAFETY: self.0 is valid; the context takes its own reference.
        let c = unsafe { sys::EVP_PKEY_CTX_new(self.0, std::ptr::null_mut()) };
        if c.is_null() {
            clear_errors();
            return Err(CryptoError::Internal("EVP_PKEY_CTX_new".into()));
        }
        Ok(PkeyCtx(c))
    }
}

/// PKCS#1 v1.5 (block type 1) signature of caller-formatted data, usually a
/// DigestInfo: CKM_RSA_PKCS signing.
pub(crate) fn rsa_sign_pkcs1_raw(pkcs1: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let rsa = Rsa::private(pkcs1)?;
    let k = rsa.size();
    if data.len() + 11 > k {
        return Err(CryptoError::DataLenRange(format!("PKCS#1 v1.5 signs at most {} bytes with this key, got {}", k - 11, data.len())));
    }
    let mut out = vec![0u8; k];
    let mut n = 0usize;
    // SAFETY: `out` has k = RSA_size bytes (max_out); input is a live slice.
    let ok = unsafe { sys::RSA_sign_raw(rsa.0, &mut n, out.as_mut_ptr(), out.len(), data.as_ptr(), data.len(), sys::RSA_PKCS1_PADDING as c_int) };
    if ok != 1 || n != k {
        clear_errors();
        return Err(CryptoError::Internal("RSA PKCS#1 v1.5 signing".into()));
    }
    Ok(out)
}

/// Verifies a PKCS#1 v1.5 (block type 1) signature whose payload must equal `data`.
pub(crate) fn rsa_verify_pkcs1_raw(public_pkcs1: &[u8], data: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let rsa = Rsa::public(public_pkcs1)?;
    let k = rsa.size();
    if sig.len() != k {
        return Err(CryptoError::DataLenRange(format!("RSA signature must be {k} bytes, got {}", sig.len())));
    }
    let mut out = vec![0u8; k];
    let mut n = 0usize;
    // SAFETY: as above.
    let ok = unsafe { sys::RSA_verify_raw(rsa.0, &mut n, out.as_mut_ptr(), out.len(), sig.as_ptr(), sig.len(), sys::RSA_PKCS1_PADDING as c_int) };
    if ok != 1 {
        clear_errors();
        return Err(CryptoError::InvalidSignature);
    }
    if n == data.len() && crate::kdf::ct_eq(&out[..n], data) {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

fn salt_int(salt_len: usize, k: usize) -> Result<c_int, CryptoError> {
    if salt_len > k {
        return Err(CryptoError::Unsupported(format!("PSS salt of {salt_len} bytes is longer than the modulus")));
    }
    Ok(salt_len as c_int)
}

/// RSASSA-PSS over a hash computed with `h`, MGF1 with `mgf`, a salt of `salt_len` bytes.
pub(crate) fn rsa_sign_pss(pkcs1: &[u8], h: HashAlg, mgf: HashAlg, salt_len: usize, hash: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if hash.len() != h.output_len() {
        return Err(CryptoError::DataLenRange(format!("a {} hash is {} bytes, got {}", h.name(), h.output_len(), hash.len())));
    }
    let rsa = Rsa::private(pkcs1)?;
    let k = rsa.size();
    // emLen = ceil((modBits - 1) / 8) must hold hash + salt + 2 (RFC 8017 9.1.1).
    // SAFETY: rsa.0 is a valid RSA.
    let em_len = (unsafe { sys::RSA_bits(rsa.0) } as usize).saturating_sub(1).div_ceil(8);
    if h.output_len() + salt_len + 2 > em_len {
        return Err(CryptoError::Unsupported(format!("PSS salt of {salt_len} bytes does not fit this modulus with {}", h.name())));
    }
    let salt = salt_int(salt_len, k)?;
    let mut out = vec![0u8; k];
    let mut n = 0usize;
    // SAFETY: out has RSA_size bytes; digest is a live slice of the md's length.
    let ok = unsafe { sys::RSA_sign_pss_mgf1(rsa.0, &mut n, out.as_mut_ptr(), out.len(), hash.as_ptr(), hash.len(), md(h)?, md(mgf)?, salt) };
    if ok != 1 || n != k {
        clear_errors();
        return Err(CryptoError::Internal("RSA-PSS signing".into()));
    }
    Ok(out)
}

pub(crate) fn rsa_verify_pss(public_pkcs1: &[u8], h: HashAlg, mgf: HashAlg, salt_len: usize, hash: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    if hash.len() != h.output_len() {
        return Err(CryptoError::DataLenRange(format!("a {} hash is {} bytes, got {}", h.name(), h.output_len(), hash.len())));
    }
    let rsa = Rsa::public(public_pkcs1)?;
    let k = rsa.size();
    if sig.len() != k {
        return Err(CryptoError::DataLenRange(format!("RSA signature must be {k} bytes, got {}", sig.len())));
    }
    let salt = salt_int(salt_len, k)?;
    // SAFETY: all slices live; mds are static.
    let ok = unsafe { sys::RSA_verify_pss_mgf1(rsa.0, hash.as_ptr(), hash.len(), md(h)?, md(mgf)?, salt, sig.as_ptr(), sig.len()) };
    clear_errors();
    if ok == 1 {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

/// Sets OAEP padding, hashes and label on an encrypt/decrypt context.
fn oaep_setup(ctx: &PkeyCtx, h: HashAlg, mgf: HashAlg, label: &[u8]) -> Result<(), CryptoError> {
    let fail = |what: &str| {
        clear_errors();
        CryptoError::Internal(format!("OAEP setup: {what}"))
    };
    // SAFETY: ctx is valid; mds are static; the label copy is allocated with
    // OPENSSL_malloc because set0 takes ownership of it (and frees it).
    unsafe {
        if sys::EVP_PKEY_CTX_set_rsa_padding(ctx.0, sys::RSA_PKCS1_OAEP_PADDING as c_int) != 1 {
            return Err(fail("padding"));
        }
        if sys::EVP_PKEY_CTX_set_rsa_oaep_md(ctx.0, md(h)?) != 1 {
            return Err(fail("hash"));
        }
        if sys::EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.0, md(mgf)?) != 1 {
            return Err(fail("MGF1 hash"));
        }
        if !label.is_empty() {
            let p = sys::OPENSSL_malloc(label.len()) as *mut u8;
            if p.is_null() {
                return Err(fail("label allocation"));
            }
            std::ptr::copy_nonoverlapping(label.as_ptr(), p, label.len());
            if sys::EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.0, p, label.len()) != 1 {
                sys::OPENSSL_free(p as *mut std::os::raw::c_void);
                return Err(fail("label"));
            }
        }
    }
    Ok(())
}

/// RSAES-OAEP encryption with any hash / MGF1 hash and an optional label.
pub(crate) fn rsa_oaep_encrypt(public_pkcs1: &[u8], h: HashAlg, mgf: HashAlg, label: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let rsa = Rsa::public(public_pkcs1)?;
    let k = rsa.size();
    let max = k.saturating_sub(2 * h.output_len() + 2);
    if pt.len() > max {
        return Err(CryptoError::DataLenRange(format!("OAEP with {} can encrypt at most {max} bytes with this key, got {}", h.name(), pt.len())));
    }
    let pkey = rsa.pkey()?;
    let ctx = pkey.ctx()?;
    // SAFETY: ctx valid.
    if unsafe { sys::EVP_PKEY_encrypt_init(ctx.0) } != 1 {
        clear_errors();
        return Err(CryptoError::Internal("EVP_PKEY_encrypt_init".into()));
    }
    oaep_setup(&ctx, h, mgf, label)?;
    let mut out = vec![0u8; k];
    let mut n = out.len();
    // SAFETY: out has k bytes and n says so; input is a live slice.
    if unsafe { sys::EVP_PKEY_encrypt(ctx.0, out.as_mut_ptr(), &mut n, pt.as_ptr(), pt.len()) } != 1 {
        clear_errors();
        return Err(CryptoError::Internal("OAEP encryption".into()));
    }
    out.truncate(n);
    Ok(out)
}

/// RSAES-OAEP decryption; every failure after the length check is the same
/// `EncryptedDataInvalid` (no padding oracle).
pub(crate) fn rsa_oaep_decrypt(pkcs1: &[u8], h: HashAlg, mgf: HashAlg, label: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let rsa = Rsa::private(pkcs1)?;
    let k = rsa.size();
    if ct.len() != k {
        return Err(CryptoError::DataLenRange(format!("OAEP ciphertext must be {k} bytes, got {}", ct.len())));
    }
    let pkey = rsa.pkey()?;
    let ctx = pkey.ctx()?;
    // SAFETY: ctx valid.
    if unsafe { sys::EVP_PKEY_decrypt_init(ctx.0) } != 1 {
        clear_errors();
        return Err(CryptoError::Internal("EVP_PKEY_decrypt_init".into()));
    }
    oaep_setup(&ctx, h, mgf, label)?;
    let mut out = Zeroizing::new(vec![0u8; k]);
    let mut n = out.len();
    // SAFETY: out has k bytes and n says so; input is a live slice.
    let ok = unsafe { sys::EVP_PKEY_decrypt(ctx.0, out.as_mut_ptr(), &mut n, ct.as_ptr(), ct.len()) };
    clear_errors();
    if ok != 1 || n > k {
        return Err(CryptoError::EncryptedDataInvalid);
    }
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------- Ed25519

/// The Ed25519 variants of RFC 8032.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ed25519Variant {
    /// PureEdDSA, no context.
    Pure,
    /// Ed25519ctx with a 1..=255-byte context.
    Ctx,
    /// Ed25519ph (SHA-512 prehash), context 0..=255 bytes.
    Ph,
}

/// (public key, 64-byte aws-lc private key = seed || public) from a 32-byte seed.
pub(crate) fn ed25519_from_seed(seed: &[u8]) -> Result<([u8; 32], Zeroizing<[u8; 64]>), CryptoError> {
    if seed.len() != 32 {
        return Err(CryptoError::InvalidKey(format!("an Ed25519 private key is 32 bytes, got {}", seed.len())));
    }
    let mut public = [0u8; 32];
    let mut private = Zeroizing::new([0u8; 64]);
    // SAFETY: output buffers are 32 and 64 bytes, the seed 32, as the API requires.
    unsafe { sys::ED25519_keypair_from_seed(public.as_mut_ptr(), private.as_mut_ptr(), seed.as_ptr()) };
    Ok((public, private))
}

fn check_ctx(v: Ed25519Variant, context: &[u8]) -> Result<(), CryptoError> {
    match v {
        Ed25519Variant::Pure if !context.is_empty() => Err(CryptoError::Unsupported("pure Ed25519 takes no context".into())),
        Ed25519Variant::Ctx if context.is_empty() => Err(CryptoError::Unsupported("Ed25519ctx needs a non-empty context".into())),
        _ if context.len() > 255 => Err(CryptoError::Unsupported("an EdDSA context is at most 255 bytes".into())),
        _ => Ok(()),
    }
}

pub(crate) fn ed25519_sign(private: &[u8; 64], v: Ed25519Variant, context: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check_ctx(v, context)?;
    let mut sig = vec![0u8; 64];
    // SAFETY: sig is 64 bytes, private 64 bytes; message and context are live slices.
    let ok = unsafe {
        match v {
            Ed25519Variant::Pure => sys::ED25519_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), private.as_ptr()),
            Ed25519Variant::Ctx => sys::ED25519ctx_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), private.as_ptr(), context.as_ptr(), context.len()),
            Ed25519Variant::Ph => sys::ED25519ph_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), private.as_ptr(), context.as_ptr(), context.len()),
        }
    };
    if ok != 1 {
        clear_errors();
        return Err(CryptoError::Internal("Ed25519 signing".into()));
    }
    Ok(sig)
}

pub(crate) fn ed25519_verify(public: &[u8], v: Ed25519Variant, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    check_ctx(v, context)?;
    if public.len() != 32 {
        return Err(CryptoError::InvalidKey(format!("an Ed25519 public key is 32 bytes, got {}", public.len())));
    }
    if sig.len() != 64 {
        return Err(CryptoError::DataLenRange(format!("an Ed25519 signature is 64 bytes, got {}", sig.len())));
    }
    // SAFETY: lengths checked above.
    let ok = unsafe {
        match v {
            Ed25519Variant::Pure => sys::ED25519_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr()),
            Ed25519Variant::Ctx => sys::ED25519ctx_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr(), context.as_ptr(), context.len()),
            Ed25519Variant::Ph => sys::ED25519ph_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr(), context.as_ptr(), context.len()),
        }
    };
    clear_errors();
    if ok == 1 {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}

// ---------------------------------------------------------------- SHA-3 / SHAKE

struct MdCtx(*mut sys::EVP_MD_CTX);

impl Drop for MdCtx {
    fn drop(&mut self) {
        // SAFETY: owned pointer, freed once.
        unsafe { sys::EVP_MD_CTX_free(self.0) }
    }
}

/// A SHA-3 family function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sha3 {
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Shake128,
    Shake256,
}

impl Sha3 {
    fn md(self) -> *const sys::EVP_MD {
        // SAFETY: static tables.
        unsafe {
            match self {
                Sha3::Sha3_224 => sys::EVP_sha3_224(),
                Sha3::Sha3_256 => sys::EVP_sha3_256(),
                Sha3::Sha3_384 => sys::EVP_sha3_384(),
                Sha3::Sha3_512 => sys::EVP_sha3_512(),
                Sha3::Shake128 => sys::EVP_shake128(),
                Sha3::Shake256 => sys::EVP_shake256(),
            }
        }
    }

    /// Output length of the fixed-length functions (None for SHAKE).
    pub fn output_len(self) -> Option<usize> {
        match self {
            Sha3::Sha3_224 => Some(28),
            Sha3::Sha3_256 => Some(32),
            Sha3::Sha3_384 => Some(48),
            Sha3::Sha3_512 => Some(64),
            Sha3::Shake128 | Sha3::Shake256 => None,
        }
    }
}

/// SHA3-* of the concatenated `parts`, or `out_len` bytes of SHAKE.
pub fn sha3(f: Sha3, parts: &[&[u8]], out_len: usize) -> Result<Vec<u8>, CryptoError> {
    let len = f.output_len().unwrap_or(out_len);
    // SAFETY: the context is fresh and owned; each update reads a live slice;
    // the output buffer has `len` bytes.
    unsafe {
        let c = sys::EVP_MD_CTX_new();
        if c.is_null() {
            return Err(CryptoError::Internal("EVP_MD_CTX_new".into()));
        }
        let c = MdCtx(c);
        if sys::EVP_DigestInit_ex(c.0, f.md(), std::ptr::null_mut()) != 1 {
            clear_errors();
            return Err(CryptoError::Internal("SHA-3 init".into()));
        }
        for p in parts {
            if sys::EVP_DigestUpdate(c.0, p.as_ptr() as *const std::os::raw::c_void, p.len()) != 1 {
                clear_errors();
                return Err(CryptoError::Internal("SHA-3 update".into()));
            }
        }
        let mut out = vec![0u8; len];
        let ok = if f.output_len().is_some() {
            let mut n: std::os::raw::c_uint = 0;
            sys::EVP_DigestFinal_ex(c.0, out.as_mut_ptr(), &mut n) == 1 && n as usize == len
        } else {
            sys::EVP_DigestFinalXOF(c.0, out.as_mut_ptr(), len) == 1
        };
        if !ok {
            clear_errors();
            return Err(CryptoError::Internal("SHA-3 final".into()));
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- ML-DSA Sign_internal / Verify_internal

// FIPS 204 ML-DSA.Sign_internal / Verify_internal with the message prefix M'
// header (`pre`) and the 32-byte `rnd` given by the caller. aws-lc exports
// these (OPENSSL_EXPORT in crypto/fipsmodule/ml_dsa/ml_dsa.h) but aws-lc-sys
// generates no bindings for that internal header, so they are declared here
// under their prefixed symbol names. The prefix carries the aws-lc-sys
// version: a different aws-lc-sys fails to link rather than misbehave.
// Each returns 1 on success.
extern "C" {
    #[link_name = "aws_lc_0_47_0_ml_dsa_44_sign_internal"]
    fn ml_dsa_44_sign_internal(
        sk: *const u8,
        sig: *mut u8,
        sig_len: *mut usize,
        m: *const u8,
        m_len: usize,
        pre: *const u8,
        pre_len: usize,
        rnd: *const u8,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_65_sign_internal"]
    fn ml_dsa_65_sign_internal(
        sk: *const u8,
        sig: *mut u8,
        sig_len: *mut usize,
        m: *const u8,
        m_len: usize,
        pre: *const u8,
        pre_len: usize,
        rnd: *const u8,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_87_sign_internal"]
    fn ml_dsa_87_sign_internal(
        sk: *const u8,
        sig: *mut u8,
        sig_len: *mut usize,
        m: *const u8,
        m_len: usize,
        pre: *const u8,
        pre_len: usize,
        rnd: *const u8,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_44_verify_internal"]
    fn ml_dsa_44_verify_internal(pk: *const u8, sig: *const u8, sig_len: usize, m: *const u8, m_len: usize, pre: *const u8, pre_len: usize) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_65_verify_internal"]
    fn ml_dsa_65_verify_internal(pk: *const u8, sig: *const u8, sig_len: usize, m: *const u8, m_len: usize, pre: *const u8, pre_len: usize) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_87_verify_internal"]
    fn ml_dsa_87_verify_internal(pk: *const u8, sig: *const u8, sig_len: usize, m: *const u8, m_len: usize, pre: *const u8, pre_len: usize) -> c_int;
}

/// Expanded private key length of each parameter set (FIPS 204 table 2).
fn mldsa_sk_len(param: crate::mldsa::MlDsaParam) -> usize {
    match param {
        crate::mldsa::MlDsaParam::MlDsa44 => 2560,
        crate::mldsa::MlDsaParam::MlDsa65 => 4032,
        crate::mldsa::MlDsaParam::MlDsa87 => 4896,
    }
}

/// ML-DSA.Sign_internal(sk, M' = pre || msg, rnd).
pub(crate) fn mldsa_sign_internal(
    param: crate::mldsa::MlDsaParam,
    raw_private: &[u8],
    pre: &[u8],
    msg: &[u8],
    rnd: &[u8; 32],
) -> Result<Vec<u8>, CryptoError> {
    use crate::mldsa::MlDsaParam as P;
    if raw_private.len() != mldsa_sk_len(param) {
        return Err(CryptoError::InvalidKey(format!("{} private key must be {} bytes", param.name(), mldsa_sk_len(param))));
    }
    let mut sig = vec![0u8; param.signature_len()];
    let mut n = 0usize;
    let f = match param {
        P::MlDsa44 => ml_dsa_44_sign_internal,
        P::MlDsa65 => ml_dsa_65_sign_internal,
        P::MlDsa87 => ml_dsa_87_sign_internal,
    };
    // SAFETY: sk has the parameter set's length (checked), sig has the
    // signature length, rnd is 32 bytes; message and prefix are live slices.
    let ok = unsafe { f(raw_private.as_ptr(), sig.as_mut_ptr(), &mut n, msg.as_ptr(), msg.len(), pre.as_ptr(), pre.len(), rnd.as_ptr()) };
    if ok != 1 || n != sig.len() {
        clear_errors();
        return Err(CryptoError::Internal(format!("{} signing", param.name())));
    }
    Ok(sig)
}

/// ML-DSA.Verify_internal(pk, M' = pre || msg, sig).
pub(crate) fn mldsa_verify_internal(param: crate::mldsa::MlDsaParam, public: &[u8], pre: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    use crate::mldsa::MlDsaParam as P;
    if public.len() != param.public_key_len() {
        return Err(CryptoError::InvalidKey(format!("{} public key must be {} bytes", param.name(), param.public_key_len())));
    }
    if sig.len() != param.signature_len() {
        return Err(CryptoError::DataLenRange(format!("{} signature must be {} bytes, got {}", param.name(), param.signature_len(), sig.len())));
    }
    let f = match param {
        P::MlDsa44 => ml_dsa_44_verify_internal,
        P::MlDsa65 => ml_dsa_65_verify_internal,
        P::MlDsa87 => ml_dsa_87_verify_internal,
    };
    // SAFETY: lengths checked above; all slices live.
    let ok = unsafe { f(public.as_ptr(), sig.as_ptr(), sig.len(), msg.as_ptr(), msg.len(), pre.as_ptr(), pre.len()) };
    clear_errors();
    if ok == 1 {
        Ok(())
    } else {
        Err(CryptoError::InvalidSignature)
    }
}
