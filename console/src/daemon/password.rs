//! Console user passwords: PBKDF2-HMAC-SHA256 (aws-lc-rs) with a random
//! 16-byte salt and 600,000 iterations, stored as
//! `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`. Verification is
//! constant time (aws-lc-rs `pbkdf2::verify`).

use aws_lc_rs::pbkdf2;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::num::NonZeroU32;

/// Iterations of new hashes (OWASP 2023 recommendation for PBKDF2-SHA256).
pub const ITERATIONS: u32 = 600_000;
/// Stored hashes with more iterations are refused (a corrupt or hostile
/// row must not stall a login thread for minutes).
const MAX_ITERATIONS: u32 = 10_000_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const SCHEME: &str = "pbkdf2-sha256";
/// Shortest and longest password accepted for new users.
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("the stored password hash is not of the form pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>")]
    BadStoredHash,
    #[error("the system random generator failed")]
    Random,
}

/// Checks the length rules for a new password.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// Hashes a new password (after [`check_new_password`]).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_new_password(password)?;
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new().fill(&mut salt).map_err(|_| PasswordError::Random)?;
    Ok(hash_with(password.as_bytes(), &salt, ITERATIONS))
}

fn hash_with(password: &[u8], salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; HASH_LEN];
    let n = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, n, salt, password, &mut out);
    format!("{SCHEME}${iterations}${}${}", hex::encode(salt), hex::encode(out))
}

struct Parsed {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(stored: &str) -> Result<Parsed, PasswordError> {
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(it), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(PasswordError::BadStoredHash);
    };
    let iterations = it.parse::<u32>().ok().filter(|n| *n <= MAX_ITERATIONS).and_then(NonZeroU32::new).ok_or(PasswordError::BadStoredHash)?;
    let salt = hex::decode(salt).map_err(|_| PasswordError::BadStoredHash)?;
    let hash = hex::decode(hash).map_err(|_| PasswordError::BadStoredHash)?;
    if salt.is_empty() || hash.len() != HASH_LEN {
        return Err(PasswordError::BadStoredHash);
    }
    Ok(Parsed { iterations, salt, hash })
}

/// Whether `password` matches the stored hash (constant-time compare).
pub fn verify_password(stored: &str, password: &str) -> Result<bool, PasswordError> {
    let p = parse(stored)?;
    Ok(pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, p.iterations, &p.salt, password.as_bytes(), &p.hash).is_ok())
}

/// Spends the same time as a real verification, for logins of unknown
/// users (so response times do not tell which names exist).
pub fn verify_dummy(password: &str) {
    let mut out = [0u8; HASH_LEN];
    let n = NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, n, &[0u8; SALT_LEN], password.as_bytes(), &mut out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("pbkdf2-sha256$600000$"), "{h}");
        assert!(verify_password(&h, "correct horse battery").unwrap());
        assert!(!verify_password(&h, "correct horse batterY").unwrap());
        // Salted: the same password hashes differently.
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn cheap_known_vector() {
        // RFC 7914 section 11 test vector of PBKDF2-HMAC-SHA256 (1 iteration, 64 bytes) starts with 55ac046e.
        let h = hash_with(b"passwd", b"salt", 1);
        assert!(h.starts_with("pbkdf2-sha256$1$73616c74$55ac046e56e3089fec1691c22544b605"), "{h}");
        assert!(verify_password(&h, "passwd").unwrap());
    }

    #[test]
    fn rules_and_bad_hashes() {
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
        assert_eq!(check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)), Err(PasswordError::TooLong));
        for bad in [
            "",
            "plain",
            "pbkdf2-sha256$0$00$00",
            "pbkdf2-sha256$600000$zz$00",
            "pbkdf2-sha256$600000$00$00",
            "pbkdf2-sha256$99999999999$00$0000000000000000000000000000000000000000000000000000000000000000",
            "argon2id$v=19$m=1$x$y",
            "pbkdf2-sha256$1$00$0000000000000000000000000000000000000000000000000000000000000000$extra",
        ] {
            assert_eq!(verify_password(bad, "anything").unwrap_err(), PasswordError::BadStoredHash, "{bad}");
        }
    }
}
