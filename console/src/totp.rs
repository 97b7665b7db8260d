//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30 s
//! steps), the console users' second factor. Secrets are 20 random bytes,
//! shown once as base32 and an `otpauth://` URI for authenticator apps, and
//! kept sealed (AES-256-GCM under a key derived from the console's audit
//! key, so the database alone does not hold them).

use crate::store::AuditKey;
use aws_lc_rs::{aead, hmac, rand};
use zeroize::Zeroizing;

/// Seconds per time step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
const SECRET_LEN: usize = 20;
const SEAL_LABEL: &[u8] = b"teehsm console totp secrets v1";

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("no randomness available")]
    Random,
    #[error("the stored second-factor secret does not open with this console's audit key")]
    Sealed,
}

/// A TOTP secret.
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn generate() -> Result<Secret, TotpError> {
        let mut s = Zeroizing::new(vec![0u8; SECRET_LEN]);
        rand::fill(&mut s).map_err(|_| TotpError::Random)?;
        Ok(Secret(s))
    }

    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret(Zeroizing::new(bytes.to_vec()))
    }

    /// From its base32 form (case and padding ignored).
    pub fn from_base32(text: &str) -> Option<Secret> {
        let mut out = Zeroizing::new(Vec::new());
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in text.trim_end_matches('=').bytes() {
            let v = match c.to_ascii_uppercase() {
                b @ b'A'..=b'Z' => b - b'A',
                b @ b'2'..=b'7' => b - b'2' + 26,
                _ => return None,
            };
            acc = (acc << 5) | u32::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        (!out.is_empty()).then_some(Secret(out))
    }

    /// RFC 4648 base32, no padding: what users type into an authenticator.
    pub fn base32(&self) -> Zeroizing<String> {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = Zeroizing::new(String::new());
        let (mut acc, mut bits) = (0u32, 0u32);
        for &b in self.0.iter() {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    /// The `otpauth://totp/...` URI authenticator apps read (as a QR code).
    pub fn uri(&self, issuer: &str, user: &str) -> Zeroizing<String> {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect::<String>()
        };
        Zeroizing::new(format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            enc(issuer),
            enc(user),
            self.base32().as_str(),
            enc(issuer)
        ))
    }

    /// The code for time step `step` (RFC 4226 dynamic truncation).
    pub fn code_at(&self, step: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let h = mac.as_ref();
        let off = usize::from(h[h.len() - 1] & 0x0f);
        let bin = (u32::from(h[off] & 0x7f) << 24) | (u32::from(h[off + 1]) << 16) | (u32::from(h[off + 2]) << 8) | u32::from(h[off + 3]);
        bin % 10u32.pow(DIGITS)
    }

    /// The time step whose code `code` is, at `now_secs` give or take one
    /// step (clock skew); `None` if it is none of them.
    pub fn check(&self, code: &str, now_secs: u64) -> Option<u64> {
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let given: u32 = code.parse().ok()?;
        let now = now_secs / STEP_SECS;
        // Every candidate is computed, so timing says nothing about which matched.
        let mut found = None;
        for step in [now.saturating_sub(1), now, now + 1] {
            if self.code_at(step) == given && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// Sealed for the store: hex of nonce || AES-256-GCM(secret), the AAD
    /// binding it to `user`.
    pub fn seal(&self, key: &AuditKey, user: &str) -> Result<String, TotpError> {
        let sealing = seal_key(key)?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::fill(&mut nonce).map_err(|_| TotpError::Random)?;
        let mut buf = self.0.to_vec();
        sealing
            .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(user.as_bytes()), &mut buf)
            .map_err(|_| TotpError::Random)?;
        Ok(hex::encode([&nonce[..], &buf].concat()))
    }

    /// Opens what [`Secret::seal`] made for `user`.
    pub fn open(key: &AuditKey, user: &str, sealed: &str) -> Result<Secret, TotpError> {
        let bytes = Zeroizing::new(hex::decode(sealed).map_err(|_| TotpError::Sealed)?);
        if bytes.len() < aead::NONCE_LEN + 16 {
            return Err(TotpError::Sealed);
        }
        let (nonce, ct) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| TotpError::Sealed)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = seal_key(key)?.open_in_place(nonce, aead::Aad::from(user.as_bytes()), &mut buf).map_err(|_| TotpError::Sealed)?;
        Ok(Secret(Zeroizing::new(plain.to_vec())))
    }
}

fn seal_key(key: &AuditKey) -> Result<aead::LessSafeKey, TotpError> {
    let k = key.derive(SEAL_LABEL);
    aead::UnboundKey::new(&aead::AES_256_GCM, k.as_ref()).map(aead::LessSafeKey::new).map_err(|_| TotpError::Sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors_truncated_to_six_digits() {
        // RFC 6238 appendix B (SHA-1, seed "12345678901234567890"), last six digits.
        let s = Secret::from_bytes(b"12345678901234567890");
        for (t, code) in [
            (59u64, 287_082u32),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(s.code_at(t / STEP_SECS), code, "T={t}");
        }
        assert_eq!(s.base32().as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(Secret::from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq").unwrap().code_at(1), 287_082);
        assert!(Secret::from_base32("not base32!").is_none());
        assert_eq!(s.check("287082", 59), Some(1));
        assert_eq!(s.check("287082", 59 + 30), Some(1), "one step of skew");
        assert_eq!(s.check("287082", 59 + 90), None, "three steps later");
        for bad in ["28708", "2870820", "28708a", "", "-28708"] {
            assert_eq!(s.check(bad, 59), None, "{bad:?}");
        }
        assert!(s.uri("teehsm console", "alice@bank").starts_with("otpauth://totp/teehsm%20console:alice%40bank?secret=GEZDGNBV"));
    }

    #[test]
    fn sealed_secrets_open_only_with_the_key_and_for_the_user() {
        let key = AuditKey::from_bytes(&[1; 32]);
        let s = Secret::generate().unwrap();
        let sealed = s.seal(&key, "alice").unwrap();
        assert_eq!(Secret::open(&key, "alice", &sealed).unwrap().base32().as_str(), s.base32().as_str());
        assert!(Secret::open(&key, "bob", &sealed).is_err(), "bound to the user");
        assert!(Secret::open(&AuditKey::from_bytes(&[2; 32]), "alice", &sealed).is_err());
        assert!(Secret::open(&key, "alice", "zz").is_err());
    }
}
