//! The algorithm rules of a token policy (`teehsm_wire::token_policy::rules`,
//! `min_rsa_bits`): which keys a token may hold and which mechanisms its
//! keys may be used with. Pure functions of the rules, the mechanism and
//! the key object; `Ta::key_for` and `Ta::persist` apply them.

use crate::object::Object;
use crate::policy::{Denied, Usage};
use teehsm_wire::ck::*;
use teehsm_wire::token_policy::rules;
use teehsm_wire::{MechParam, Mechanism, Rv};

/// The rules in force on a token (all zero: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CryptoRules {
    pub min_rsa_bits: u32,
    pub rules: u32,
}

fn refused(rv: Rv, what: String) -> Denied {
    Denied { rv, message: format!("{what}: refused by the token's policy (pushed by the fleet console)") }
}

/// The SM algorithms: what [`rules::SM_ONLY`] leaves.
fn is_sm_mechanism(m: u64) -> bool {
    matches!(
        m,
        CKM_SM3
            | CKM_SM3_HMAC
            | CKM_SM4_KEY_GEN
            | CKM_SM4_ECB
            | CKM_SM4_CBC
            | CKM_SM4_CBC_PAD
            | CKM_SM4_CTR
            | CKM_SM4_GCM
            | CKM_SM4_MAC
            | CKM_SM2_KEY_PAIR_GEN
            | CKM_SM2
            | CKM_SM2_SM3
            | CKM_SM2_ENCRYPT
            | CKM_SM2_KEY_EXCHANGE
            // HMAC-SM3 keys are generic secrets.
            | CKM_GENERIC_SECRET_KEY_GEN
    )
}

/// The RSA mechanisms (their key sizes are RSA modulus bits).
fn is_rsa_mechanism(m: u64) -> bool {
    matches!(
        m,
        CKM_RSA_PKCS_KEY_PAIR_GEN
            | CKM_RSA_PKCS
            | CKM_RSA_PKCS_PSS
            | CKM_RSA_PKCS_OAEP
            | CKM_SHA1_RSA_PKCS
            | CKM_SHA224_RSA_PKCS
            | CKM_SHA256_RSA_PKCS
            | CKM_SHA384_RSA_PKCS
            | CKM_SHA512_RSA_PKCS
            | CKM_SHA1_RSA_PKCS_PSS
            | CKM_SHA224_RSA_PKCS_PSS
            | CKM_SHA256_RSA_PKCS_PSS
            | CKM_SHA384_RSA_PKCS_PSS
            | CKM_SHA512_RSA_PKCS_PSS
    )
}

fn uses_sha1(m: &Mechanism) -> bool {
    matches!(m.mech, CKM_SHA1_RSA_PKCS | CKM_SHA1_RSA_PKCS_PSS | CKM_ECDSA_SHA1 | CKM_SHA_1_HMAC)
        || matches!(m.param, MechParam::Pss { hash, mgf, .. } if hash == CKM_SHA_1 || mgf == CKG_MGF1_SHA1)
}

impl CryptoRules {
    pub fn is_empty(&self) -> bool {
        self.min_rsa_bits == 0 && self.rules == 0
    }

    /// Whether a key of the token may be used with `m` for `usage`
    /// (`None`: the mechanism makes a new key, as C_GenerateKey does).
    pub fn check_mechanism(&self, m: &Mechanism, usage: Option<Usage>) -> Result<(), Denied> {
        if self.rules & rules::SM_ONLY != 0 && !is_sm_mechanism(m.mech) {
            return Err(refused(Rv::MECHANISM_INVALID, format!("mechanism 0x{:x}: the token allows only SM2, SM3, SM4 and HMAC-SM3", m.mech)));
        }
        let signing = matches!(usage, Some(Usage::Sign | Usage::Verify));
        if self.rules & rules::FORBID_SHA1 != 0 && signing && uses_sha1(m) {
            return Err(refused(
                Rv::MECHANISM_INVALID,
                format!("mechanism 0x{:x} with SHA-1: the token forbids SHA-1 in signatures and MACs", m.mech),
            ));
        }
        let encrypting = matches!(usage, Some(Usage::Encrypt | Usage::Decrypt | Usage::Wrap | Usage::Unwrap));
        if self.rules & rules::FORBID_RSA_PKCS1_ENCRYPTION != 0 && encrypting && m.mech == CKM_RSA_PKCS {
            return Err(refused(
                Rv::MECHANISM_INVALID,
                "CKM_RSA_PKCS encryption: the token forbids PKCS#1 v1.5 encryption; use CKM_RSA_PKCS_OAEP".into(),
            ));
        }
        Ok(())
    }

    /// What C_GetMechanismInfo says about `mech` on the token, given what
    /// the TA supports (`min`, `max` key size, `flags`): `None` when the
    /// rules refuse the mechanism outright, else the supported values with
    /// the refused uses and sizes taken out. C_GetMechanismList lists the
    /// mechanisms that are not `None`.
    pub fn mechanism_info(&self, mech: u64, min: u64, max: u64, flags: u64) -> Option<(u64, u64, u64)> {
        let m = Mechanism::new(mech);
        if self.rules & rules::SM_ONLY != 0 && !is_sm_mechanism(mech) {
            return None;
        }
        // Every SHA-1 mechanism signs, verifies or MACs, and nothing else.
        if self.rules & rules::FORBID_SHA1 != 0 && uses_sha1(&m) {
            return None;
        }
        let mut flags = flags;
        if self.rules & rules::FORBID_RSA_PKCS1_ENCRYPTION != 0 && mech == CKM_RSA_PKCS {
            flags &= !(CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
        }
        let mut min = min;
        if self.min_rsa_bits > 0 && is_rsa_mechanism(mech) {
            min = min.max(u64::from(self.min_rsa_bits));
            if min > max {
                return None;
            }
        }
        Some((min, max, flags))
    }

    /// Whether the token may hold (or use) the key `o`; objects that are
    /// not keys always pass.
    pub fn check_key(&self, o: &Object) -> Result<(), Denied> {
        if !matches!(o.class(), CKO_PRIVATE_KEY | CKO_PUBLIC_KEY | CKO_SECRET_KEY) {
            return Ok(());
        }
        let key_type = o.key_type().unwrap_or(u64::MAX);
        if self.rules & rules::SM_ONLY != 0 && !matches!(key_type, CKK_SM2 | CKK_SM4 | CKK_GENERIC_SECRET) {
            return Err(refused(
                Rv::TEMPLATE_INCONSISTENT,
                format!("key type 0x{key_type:x}: the token allows only SM2, SM4 and generic secret (HMAC-SM3) keys"),
            ));
        }
        if key_type == CKK_RSA && self.min_rsa_bits > 0 {
            let bits = rsa_bits(o);
            if bits < u64::from(self.min_rsa_bits) {
                return Err(refused(Rv::KEY_SIZE_RANGE, format!("a {bits}-bit RSA key: the token needs at least {} bits", self.min_rsa_bits)));
            }
        }
        Ok(())
    }
}

/// The key's modulus length in bits (CKA_MODULUS without leading zeros,
/// else CKA_MODULUS_BITS; 0 when neither is there).
fn rsa_bits(o: &Object) -> u64 {
    match o.get(CKA_MODULUS) {
        Some(n) => {
            let n = match n.iter().position(|&b| b != 0) {
                Some(i) => &n[i..],
                None => return 0,
            };
            (n.len() as u64 - 1) * 8 + u64::from(8 - n[0].leading_zeros())
        }
        None => o.ulong(CKA_MODULUS_BITS).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(class: u64, key_type: u64) -> Object {
        let mut o = Object::new(1, 0);
        o.set_ulong(CKA_CLASS, class);
        o.set_ulong(CKA_KEY_TYPE, key_type);
        o
    }

    fn rsa(bits: usize) -> Object {
        let mut o = key(CKO_PUBLIC_KEY, CKK_RSA);
        let mut n = vec![0u8; bits / 8];
        n[0] = 0x80;
        o.attrs.insert(CKA_MODULUS, [vec![0u8], n].concat());
        o
    }

    #[test]
    fn no_rules_allow_everything() {
        let r = CryptoRules::default();
        assert!(r.is_empty());
        assert!(r.check_mechanism(&Mechanism::new(CKM_ECDSA_SHA1), Some(Usage::Sign)).is_ok());
        assert!(r.check_key(&rsa(1024)).is_ok());
    }

    #[test]
    fn rsa_minimum_counts_the_modulus_bits() {
        let r = CryptoRules { min_rsa_bits: 2048, rules: 0 };
        assert_eq!(r.check_key(&rsa(1024)).unwrap_err().rv, Rv::KEY_SIZE_RANGE);
        assert!(r.check_key(&rsa(2048)).is_ok(), "a leading zero byte does not count");
        let mut by_bits = key(CKO_PRIVATE_KEY, CKK_RSA);
        by_bits.set_ulong(CKA_MODULUS_BITS, 1536);
        assert!(r.check_key(&by_bits).is_err());
        assert!(r.check_key(&key(CKO_PRIVATE_KEY, CKK_EC)).is_ok());
    }

    #[test]
    fn sm_only_leaves_the_sm_family() {
        let r = CryptoRules { min_rsa_bits: 0, rules: rules::SM_ONLY };
        assert!(r.check_mechanism(&Mechanism::new(CKM_SM2_SM3), Some(Usage::Sign)).is_ok());
        assert!(r.check_mechanism(&Mechanism::new(CKM_SM4_GCM), Some(Usage::Encrypt)).is_ok());
        assert_eq!(r.check_mechanism(&Mechanism::new(CKM_ECDSA), Some(Usage::Sign)).unwrap_err().rv, Rv::MECHANISM_INVALID);
        assert!(r.check_mechanism(&Mechanism::new(CKM_EC_KEY_PAIR_GEN), None).is_err());
        assert!(r.check_key(&key(CKO_PRIVATE_KEY, CKK_SM2)).is_ok());
        assert!(r.check_key(&key(CKO_SECRET_KEY, CKK_GENERIC_SECRET)).is_ok());
        assert_eq!(r.check_key(&key(CKO_SECRET_KEY, CKK_AES)).unwrap_err().rv, Rv::TEMPLATE_INCONSISTENT);
        let mut cert = Object::new(2, 0);
        cert.set_ulong(CKA_CLASS, CKO_CERTIFICATE);
        assert!(r.check_key(&cert).is_ok(), "certificates and data are not keys");
    }

    #[test]
    fn sha1_is_refused_in_signatures_only() {
        let r = CryptoRules { min_rsa_bits: 0, rules: rules::FORBID_SHA1 };
        for m in [Mechanism::new(CKM_ECDSA_SHA1), Mechanism::new(CKM_SHA1_RSA_PKCS), Mechanism::new(CKM_SHA_1_HMAC)] {
            assert!(r.check_mechanism(&m, Some(Usage::Sign)).is_err(), "0x{:x}", m.mech);
        }
        let pss_sha1 = Mechanism::with(CKM_RSA_PKCS_PSS, MechParam::Pss { hash: CKM_SHA_1, mgf: CKG_MGF1_SHA1, salt_len: 20 });
        assert!(r.check_mechanism(&pss_sha1, Some(Usage::Verify)).is_err());
        let pss_sha256 = Mechanism::with(CKM_RSA_PKCS_PSS, MechParam::Pss { hash: CKM_SHA256, mgf: CKG_MGF1_SHA256, salt_len: 32 });
        assert!(r.check_mechanism(&pss_sha256, Some(Usage::Sign)).is_ok());
        assert!(r.check_mechanism(&Mechanism::new(CKM_ECDSA_SHA256), Some(Usage::Sign)).is_ok());
    }

    #[test]
    fn mechanism_info_follows_the_rules() {
        let all = CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;
        let none = CryptoRules::default();
        assert_eq!(none.mechanism_info(CKM_RSA_PKCS, 2048, 4096, all), Some((2048, 4096, all)));
        let strict = CryptoRules { min_rsa_bits: 3072, rules: rules::FORBID_SHA1 | rules::FORBID_RSA_PKCS1_ENCRYPTION };
        assert_eq!(strict.mechanism_info(CKM_RSA_PKCS, 2048, 4096, all), Some((3072, 4096, CKF_SIGN | CKF_VERIFY)));
        assert_eq!(strict.mechanism_info(CKM_SHA1_RSA_PKCS, 2048, 4096, CKF_SIGN), None);
        assert_eq!(strict.mechanism_info(CKM_ECDSA, 256, 521, CKF_SIGN), Some((256, 521, CKF_SIGN)), "EC sizes are not RSA bits");
        let huge = CryptoRules { min_rsa_bits: 8192, rules: 0 };
        assert_eq!(huge.mechanism_info(CKM_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN), None, "no RSA key can be big enough");
        let sm = CryptoRules { min_rsa_bits: 0, rules: rules::SM_ONLY };
        assert_eq!(sm.mechanism_info(CKM_AES_GCM, 16, 32, CKF_ENCRYPT), None);
        assert!(sm.mechanism_info(CKM_SM4_GCM, 16, 16, CKF_ENCRYPT).is_some());
    }

    #[test]
    fn pkcs1_encryption_is_refused_but_pkcs1_signatures_are_not() {
        let r = CryptoRules { min_rsa_bits: 0, rules: rules::FORBID_RSA_PKCS1_ENCRYPTION };
        for u in [Usage::Encrypt, Usage::Decrypt, Usage::Wrap, Usage::Unwrap] {
            assert!(r.check_mechanism(&Mechanism::new(CKM_RSA_PKCS), Some(u)).is_err(), "{u:?}");
        }
        assert!(r.check_mechanism(&Mechanism::new(CKM_RSA_PKCS), Some(Usage::Sign)).is_ok());
        assert!(r.check_mechanism(&Mechanism::new(CKM_RSA_PKCS_OAEP), Some(Usage::Decrypt)).is_ok());
    }
}
