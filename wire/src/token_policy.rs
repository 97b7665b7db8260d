//! Token policies pushed by a fleet console (docs/key-distribution.md,
//! "Token policy"): layout only.
//!
//! A console signs a policy for one token of one TA process with the same
//! Ed25519 key the token's SO trusts for key distribution; the TA applies
//! it with `Request::ApplyTokenPolicy` only if the signer is trusted on the
//! token, the policy names this TA's channel key bundle and the session's
//! slot, is within its validity period, and its version is higher than the
//! one in force (so an old policy cannot be replayed to undo a newer one).
//!
//! Layout (integers big-endian):
//!
//! ```text
//! body:
//!   magic            8   "TEEHSMP2" ("TEEHSMP1": the first version, which
//!                        ends after max_objects; still accepted)
//!   version          8   u64, higher than the policy in force
//!   target          32   SHA-256 of the TA's channel key bundle
//!   slot             8   u64
//!   created_ms       8   u64, Unix ms
//!   expires_ms       8   u64, Unix ms
//!   signer          32   Ed25519 public key of the console
//!   max_objects      8   u64: most objects the token may hold (0: the
//!                        TA's max_token_objects); at most the TA's limit
//!   min_rsa_bits     4   u32: smallest RSA modulus a key may have (0: any)
//!   rules            4   u32: [`rules`] bits, algorithm restrictions
//! policy:
//!   body
//!   signature       64   Ed25519(signer, "teehsm-token-policy-v1" || body)
//! ```

use crate::codec::{DecodeError, Reader, Writer};

pub const POLICY_MAGIC: &[u8; 8] = b"TEEHSMP2";
/// Magic of the first layout (no algorithm rules).
pub const POLICY_V1_MAGIC: &[u8; 8] = b"TEEHSMP1";
/// Domain separation prefix of the signed message.
pub const POLICY_SIGN_CONTEXT: &[u8] = b"teehsm-token-policy-v1";
/// Length of an encoded policy (the longest accepted).
pub const POLICY_LEN: usize = POLICY_V1_LEN + 4 + 4;
/// Length of a first-layout policy.
pub const POLICY_V1_LEN: usize = 8 + 8 + 32 + 8 + 8 + 8 + 32 + 8 + 64;
/// Largest `min_rsa_bits` a policy may set.
pub const MAX_MIN_RSA_BITS: u32 = 16384;

/// The algorithm restrictions of a policy, enforced by the TA on every key
/// created on the token and every use of its keys.
pub mod rules {
    /// No SHA-1 in signatures, verifications or HMACs (CKM_*SHA1*, CKM_SHA_1_HMAC*).
    pub const FORBID_SHA1: u32 = 1;
    /// Only the SM algorithms: SM2, SM3, SM4 and HMAC-SM3 keys and mechanisms
    /// (GM/T compliance); everything else is refused.
    pub const SM_ONLY: u32 = 2;
    /// No RSA PKCS#1 v1.5 encryption, decryption or key wrapping (CKM_RSA_PKCS
    /// there; Bleichenbacher-style padding oracles). Signatures are unaffected.
    pub const FORBID_RSA_PKCS1_ENCRYPTION: u32 = 4;
    /// Every bit defined so far; a policy with others is refused.
    pub const ALL: u32 = FORBID_SHA1 | SM_ONLY | FORBID_RSA_PKCS1_ENCRYPTION;
    /// The names the console's API and the docs use, by bit.
    pub const NAMES: [(u32, &str); 3] =
        [(FORBID_SHA1, "forbid_sha1"), (SM_ONLY, "sm_only"), (FORBID_RSA_PKCS1_ENCRYPTION, "forbid_rsa_pkcs1_encryption")];
}

/// A decoded token policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPolicy {
    pub version: u64,
    pub target: [u8; 32],
    pub slot: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub signer: [u8; 32],
    pub max_objects: u64,
    /// Smallest RSA modulus in bits (0: no minimum).
    pub min_rsa_bits: u32,
    /// [`rules`] bits.
    pub rules: u32,
    pub signature: [u8; 64],
}

impl TokenPolicy {
    /// Everything but the signature.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(POLICY_LEN);
        w.raw(POLICY_MAGIC).u64(self.version).raw(&self.target).u64(self.slot).u64(self.created_ms).u64(self.expires_ms);
        w.raw(&self.signer).u64(self.max_objects).u32(self.min_rsa_bits).u32(self.rules);
        w.into_vec()
    }

    /// What the signer signs: `"teehsm-token-policy-v1" || body`.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = POLICY_SIGN_CONTEXT.to_vec();
        m.extend_from_slice(&self.body_bytes());
        m
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.body_bytes();
        v.extend_from_slice(&self.signature);
        v
    }

    /// Decodes a policy, refusing anything of the wrong size or magic. A
    /// first-layout policy decodes with no RSA minimum and no rules; its
    /// signature covers [`v1_signed_message`] of the bytes received, not
    /// [`TokenPolicy::signed_message`].
    pub fn from_bytes(b: &[u8]) -> Result<TokenPolicy, DecodeError> {
        let v1 = match b.len() {
            POLICY_LEN => false,
            POLICY_V1_LEN => true,
            _ => return Err(DecodeError::Invalid { what: "token policy", why: "not 184 bytes long (176 for the first layout)" }),
        };
        let mut r = Reader::new(b);
        let magic: [u8; 8] = r.array("policy magic")?;
        if &magic != if v1 { POLICY_V1_MAGIC } else { POLICY_MAGIC } {
            return Err(DecodeError::Invalid { what: "policy magic", why: "not a teehsm token policy" });
        }
        let p = TokenPolicy {
            version: r.u64("policy version")?,
            target: r.array("policy target")?,
            slot: r.u64("policy slot")?,
            created_ms: r.u64("policy creation time")?,
            expires_ms: r.u64("policy expiry time")?,
            signer: r.array("policy signer")?,
            max_objects: r.u64("policy max_objects")?,
            min_rsa_bits: if v1 { 0 } else { r.u32("policy min_rsa_bits")? },
            rules: if v1 { 0 } else { r.u32("policy rules")? },
            signature: r.array("policy signature")?,
        };
        r.finish()?;
        Ok(p)
    }
}

/// The body bytes a first-layout policy was signed over (its first 112
/// bytes), for verifying one: `"teehsm-token-policy-v1" || body`.
pub fn v1_signed_message(encoded: &[u8]) -> Option<Vec<u8>> {
    (encoded.len() == POLICY_V1_LEN && encoded.starts_with(POLICY_V1_MAGIC)).then(|| {
        let mut m = POLICY_SIGN_CONTEXT.to_vec();
        m.extend_from_slice(&encoded[..POLICY_V1_LEN - 64]);
        m
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let p = TokenPolicy {
            version: 7,
            target: [1; 32],
            slot: 2,
            created_ms: 3,
            expires_ms: 4,
            signer: [5; 32],
            max_objects: 6,
            min_rsa_bits: 3072,
            rules: rules::FORBID_SHA1,
            signature: [9; 64],
        };
        let b = p.to_bytes();
        assert_eq!(b.len(), POLICY_LEN);
        assert_eq!((POLICY_LEN, POLICY_V1_LEN), (184, 176), "the layout in the docs says 184 bytes");
        assert_eq!(TokenPolicy::from_bytes(&b).unwrap(), p);
        assert!(p.signed_message().starts_with(POLICY_SIGN_CONTEXT));
        assert!(TokenPolicy::from_bytes(&b[..POLICY_LEN - 1]).is_err());
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert!(TokenPolicy::from_bytes(&bad).is_err());

        // A first-layout policy: no minimum, no rules; its signed message is its own first 112 bytes.
        let mut v1 = POLICY_V1_MAGIC.to_vec();
        v1.extend_from_slice(&b[8..POLICY_V1_LEN - 64]);
        v1.extend_from_slice(&[9; 64]);
        let old = TokenPolicy::from_bytes(&v1).unwrap();
        assert_eq!((old.max_objects, old.min_rsa_bits, old.rules), (6, 0, 0));
        let msg = v1_signed_message(&v1).unwrap();
        assert!(msg.ends_with(&v1[..POLICY_V1_LEN - 64]) && msg.starts_with(POLICY_SIGN_CONTEXT));
        assert_eq!(v1_signed_message(&b), None);
        let mut v1_with_v2_magic = v1.clone();
        v1_with_v2_magic[..8].copy_from_slice(POLICY_MAGIC);
        assert!(TokenPolicy::from_bytes(&v1_with_v2_magic).is_err());
        assert_eq!(rules::NAMES.iter().fold(0, |a, (bit, _)| a | bit), rules::ALL);
    }
}
