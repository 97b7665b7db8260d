//! EdDSA over edwards25519 (RFC 8032): Ed25519, Ed25519ctx and Ed25519ph, by
//! aws-lc (`ED25519*` functions, [`crate::lc`]). The private key kept in the
//! store is the 32-byte RFC 8032 private key (the seed); the 64-byte form
//! aws-lc signs with (seed || public key) is derived on load.
//!
//! EdDSA over edwards448 (RFC 8032 5.2): Ed448 (always with a context, possibly
//! empty) and Ed448ph (SHAKE256 prehash, computed here by aws-lc), by the
//! pure-Rust `ed448-goldilocks-plus` crate, since aws-lc has no Ed448. The
//! stored private key is the 57-byte seed. docs/mechanisms.md ("Ed448") has
//! what a reading of that crate says about constant-time signing.

use crate::lc;
pub use crate::lc::Ed25519Variant;
use crate::CryptoError;
use zeroize::Zeroizing;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 signing key.
pub struct Ed25519PrivateKey {
    seed: Zeroizing<Vec<u8>>,
    expanded: Zeroizing<[u8; 64]>,
    public: [u8; 32],
}

impl std::fmt::Debug for Ed25519PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519PrivateKey").field("public", &hex::encode(self.public)).finish_non_exhaustive()
    }
}

impl Ed25519PrivateKey {
    /// From the 32-byte RFC 8032 private key.
    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        let (public, expanded) = lc::ed25519_from_seed(seed)?;
        Ok(Ed25519PrivateKey { seed: Zeroizing::new(seed.to_vec()), expanded, public })
    }

    /// The 32-byte private key (for sealing).
    pub fn seed(&self) -> Zeroizing<Vec<u8>> {
        self.seed.clone()
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.public.to_vec()
    }

    /// Signs `msg` (for Ed25519ph: the message itself; the SHA-512 prehash is computed here).
    pub fn sign(&self, variant: Ed25519Variant, context: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        lc::ed25519_sign(&self.expanded, variant, context, msg)
    }
}

/// A fresh key from the TA's RNG.
pub fn generate() -> Result<Ed25519PrivateKey, CryptoError> {
    let mut seed = Zeroizing::new(vec![0u8; 32]);
    crate::rng::fill(&mut seed)?;
    Ed25519PrivateKey::from_seed(&seed)
}

/// Verifies an Ed25519 / Ed25519ctx / Ed25519ph signature.
pub fn verify(public: &[u8], variant: Ed25519Variant, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    lc::ed25519_verify(public, variant, context, msg, sig)
}

// ---------------------------------------------------------------- Ed448

/// Ed448 sizes (RFC 8032 5.2): 57-byte private key (seed) and public key, 114-byte signature.
pub const ED448_SEED_LEN: usize = 57;
pub const ED448_PUBLIC_KEY_LEN: usize = 57;
pub const ED448_SIGNATURE_LEN: usize = 114;
/// Ed448ph's prehash: SHAKE256 of the message, 64 bytes (RFC 8032 5.2).
pub const ED448_PREHASH_LEN: usize = 64;

/// The Ed448 variants of RFC 8032 5.2. Both take a context of 0..=255 bytes
/// (unlike Ed25519, plain Ed448 always has a context, possibly empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ed448Variant {
    /// PureEdDSA: dom4(0, context).
    Pure,
    /// HashEdDSA: dom4(1, context), message prehashed with SHAKE256 (64 bytes) here.
    Ph,
}

impl Ed448Variant {
    fn phflag(self) -> bool {
        self == Ed448Variant::Ph
    }
}

/// An Ed448 signing key, by the `ed448-goldilocks-plus` crate (aws-lc has no
/// Ed448). Its expanded form (seed, clamped scalar, hash prefix) is zeroized
/// when the key drops; the seed kept here for sealing is in `Zeroizing`.
pub struct Ed448PrivateKey {
    seed: Zeroizing<Vec<u8>>,
    // Boxed: the expanded key is ~500 bytes (it is zeroized in place on drop).
    key: Box<ed448_goldilocks_plus::SigningKey>,
    public: [u8; ED448_PUBLIC_KEY_LEN],
}

impl std::fmt::Debug for Ed448PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed448PrivateKey").field("public", &hex::encode(self.public)).finish_non_exhaustive()
    }
}

/// Copies `bytes` into a crate `SecretKey` that is wiped on drop.
struct SeedBuf(ed448_goldilocks_plus::SecretKey);

impl Drop for SeedBuf {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.as_mut_slice().zeroize();
    }
}

fn check_ed448_context(context: &[u8]) -> Result<(), CryptoError> {
    if context.len() > 255 {
        return Err(CryptoError::Unsupported("an EdDSA context is at most 255 bytes".into()));
    }
    Ok(())
}

/// SHAKE256(msg, 64): Ed448ph's PH(M).
fn ed448_prehash(msg: &[u8]) -> Result<[u8; ED448_PREHASH_LEN], CryptoError> {
    let h = lc::sha3(lc::Sha3::Shake256, &[msg], ED448_PREHASH_LEN)?;
    h.as_slice().try_into().map_err(|_| CryptoError::Internal("SHAKE256 output length".into()))
}

/// A computed PH(M) handed to the crate's prehashed sign/verify.
struct Prehashed([u8; ED448_PREHASH_LEN]);

impl ed448_goldilocks_plus::PreHash for Prehashed {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        let n = out.len().min(ED448_PREHASH_LEN);
        out[..n].copy_from_slice(&self.0[..n]);
    }
}

impl Ed448PrivateKey {
    /// From the 57-byte RFC 8032 private key.
    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        if seed.len() != ED448_SEED_LEN {
            return Err(CryptoError::InvalidKey(format!("an Ed448 private key is {ED448_SEED_LEN} bytes, got {}", seed.len())));
        }
        let mut buf = SeedBuf(ed448_goldilocks_plus::SecretKey::default());
        buf.0.as_mut_slice().copy_from_slice(seed);
        let key = Box::new(ed448_goldilocks_plus::SigningKey::from_bytes(&buf.0));
        let public = key.verifying_key().to_bytes();
        Ok(Ed448PrivateKey { seed: Zeroizing::new(seed.to_vec()), key, public })
    }

    /// The 57-byte private key (for sealing).
    pub fn seed(&self) -> Zeroizing<Vec<u8>> {
        self.seed.clone()
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.public.to_vec()
    }

    /// Signs `msg` with a 0..=255-byte context (for Ed448ph: the message
    /// itself; the SHAKE256 prehash is computed here).
    pub fn sign(&self, variant: Ed448Variant, context: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        check_ed448_context(context)?;
        let sig = match variant {
            Ed448Variant::Pure => self.key.sign_ctx(context, msg),
            Ed448Variant::Ph => self.key.sign_prehashed(Some(context), Prehashed(ed448_prehash(msg)?)),
        }
        .map_err(|_| CryptoError::Internal("Ed448 signing".into()))?;
        Ok(sig.to_bytes().to_vec())
    }
}

/// A fresh Ed448 key from the TA's RNG.
pub fn generate_ed448() -> Result<Ed448PrivateKey, CryptoError> {
    let mut seed = Zeroizing::new(vec![0u8; ED448_SEED_LEN]);
    crate::rng::fill(&mut seed)?;
    Ed448PrivateKey::from_seed(&seed)
}

/// Checks that `public` is a valid Ed448 public key (57 bytes, decodes to a
/// curve point other than the identity).
pub fn validate_ed448_public(public: &[u8]) -> Result<(), CryptoError> {
    ed448_public(public).map(|_| ())
}

fn ed448_public(public: &[u8]) -> Result<ed448_goldilocks_plus::VerifyingKey, CryptoError> {
    let bytes: &[u8; ED448_PUBLIC_KEY_LEN] = public
        .try_into()
        .map_err(|_| CryptoError::InvalidKey(format!("an Ed448 public key is {ED448_PUBLIC_KEY_LEN} bytes, got {}", public.len())))?;
    ed448_goldilocks_plus::VerifyingKey::from_bytes(bytes)
        .map_err(|_| CryptoError::InvalidKey("the Ed448 public key is not a valid curve point".into()))
}

/// Verifies an Ed448 / Ed448ph signature with a 0..=255-byte context.
pub fn verify_ed448(public: &[u8], variant: Ed448Variant, context: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    let vk = ed448_public(public)?;
    check_ed448_context(context)?;
    if sig.len() != ED448_SIGNATURE_LEN {
        return Err(CryptoError::DataLenRange(format!("an Ed448 signature is {ED448_SIGNATURE_LEN} bytes, got {}", sig.len())));
    }
    // A signature whose R does not decode or whose S is not canonical is
    // simply invalid (RFC 8032 5.2.7 step 1).
    let sig = ed448_goldilocks_plus::Signature::from_slice(sig).map_err(|_| CryptoError::InvalidSignature)?;
    let r =
        if variant.phflag() { vk.verify_prehashed(&sig, Some(context), Prehashed(ed448_prehash(msg)?)) } else { vk.verify_ctx(&sig, context, msg) };
    r.map_err(|_| CryptoError::InvalidSignature)
}
