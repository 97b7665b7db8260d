//! Message digests: SHA-1/SHA-2 (aws-lc-rs) and SM3 (RustCrypto `sm3`).

use aws_lc_rs::digest as lc;
use sm3::Digest as _;

/// A hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sm3,
}

impl HashAlg {
    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 | HashAlg::Sm3 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha1 => "SHA-1",
            HashAlg::Sha224 => "SHA-224",
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
            HashAlg::Sha512 => "SHA-512",
            HashAlg::Sm3 => "SM3",
        }
    }

    /// The aws-lc digest algorithm, for the SHA family.
    pub(crate) fn aws_lc(self) -> Option<&'static lc::Algorithm> {
        Some(match self {
            HashAlg::Sha1 => &lc::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha224 => &lc::SHA224,
            HashAlg::Sha256 => &lc::SHA256,
            HashAlg::Sha384 => &lc::SHA384,
            HashAlg::Sha512 => &lc::SHA512,
            HashAlg::Sm3 => return None,
        })
    }
}

/// One-shot digest.
pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finish()
}

/// An incremental digest.
#[derive(Clone)]
pub struct Hasher(Inner);

#[derive(Clone)]
enum Inner {
    Lc(lc::Context),
    Sm3(sm3::Sm3),
}

impl Hasher {
    pub fn new(alg: HashAlg) -> Self {
        match alg.aws_lc() {
            Some(a) => Hasher(Inner::Lc(lc::Context::new(a))),
            None => Hasher(Inner::Sm3(sm3::Sm3::new())),
        }
    }

    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        match &mut self.0 {
            Inner::Lc(c) => c.update(data),
            Inner::Sm3(h) => h.update(data),
        }
        self
    }

    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            Inner::Lc(c) => c.finish().as_ref().to_vec(),
            Inner::Sm3(h) => h.finalize().to_vec(),
        }
    }
}

/// SM3 of `data` as a fixed array (used by SM2).
pub(crate) fn sm3(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = sm3::Sm3::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}
