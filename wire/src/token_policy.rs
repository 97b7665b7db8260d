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
//!   magic            8   "TEEHSMP1"
//!   version          8   u64, higher than the policy in force
//!   target          32   SHA-256 of the TA's channel key bundle
//!   slot             8   u64
//!   created_ms       8   u64, Unix ms
//!   expires_ms       8   u64, Unix ms
//!   signer          32   Ed25519 public key of the console
//!   max_objects      8   u64: most objects the token may hold (0: the
//!                        TA's max_token_objects); at most the TA's limit
//! policy:
//!   body
//!   signature       64   Ed25519(signer, "teehsm-token-policy-v1" || body)
//! ```

use crate::codec::{DecodeError, Reader, Writer};

pub const POLICY_MAGIC: &[u8; 8] = b"TEEHSMP1";
/// Domain separation prefix of the signed message.
pub const POLICY_SIGN_CONTEXT: &[u8] = b"teehsm-token-policy-v1";
/// Length of an encoded policy.
pub const POLICY_LEN: usize = 8 + 8 + 32 + 8 + 8 + 8 + 32 + 8 + 64;

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
    pub signature: [u8; 64],
}

impl TokenPolicy {
    /// Everything but the signature.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(POLICY_LEN);
        w.raw(POLICY_MAGIC).u64(self.version).raw(&self.target).u64(self.slot).u64(self.created_ms).u64(self.expires_ms);
        w.raw(&self.signer).u64(self.max_objects);
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

    /// Decodes a policy, refusing anything of the wrong size or magic.
    pub fn from_bytes(b: &[u8]) -> Result<TokenPolicy, DecodeError> {
        if b.len() != POLICY_LEN {
            return Err(DecodeError::Invalid { what: "token policy", why: "not 176 bytes long" });
        }
        let mut r = Reader::new(b);
        let magic: [u8; 8] = r.array("policy magic")?;
        if &magic != POLICY_MAGIC {
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
            signature: r.array("policy signature")?,
        };
        r.finish()?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let p =
            TokenPolicy { version: 7, target: [1; 32], slot: 2, created_ms: 3, expires_ms: 4, signer: [5; 32], max_objects: 6, signature: [9; 64] };
        let b = p.to_bytes();
        assert_eq!(b.len(), POLICY_LEN);
        assert_eq!(POLICY_LEN, 176, "the layout in the docs says 176 bytes");
        assert_eq!(TokenPolicy::from_bytes(&b).unwrap(), p);
        assert!(p.signed_message().starts_with(POLICY_SIGN_CONTEXT));
        assert!(TokenPolicy::from_bytes(&b[..POLICY_LEN - 1]).is_err());
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert!(TokenPolicy::from_bytes(&bad).is_err());
    }
}
