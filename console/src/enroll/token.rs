//! One-time enrollment tokens. The admin is shown the token once; the
//! console keeps a [`TokenRecord`] with its SHA-256 hash and expiry only.
//!
//! Using a token once is the store's job: it looks the record up by
//! [`token_id`], calls [`check_token`], and deletes (or marks used) the
//! record in the same transaction that creates the host.

use aws_lc_rs::{constant_time, digest, rand};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;
use zeroize::Zeroizing;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "teehsm-enroll-";
/// Random bytes of a token (hex-encoded after the prefix).
pub const TOKEN_BYTES: usize = 32;

/// What the console stores about a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Lookup key: the first 16 hex digits of the hash.
    pub id: String,
    /// SHA-256 of the whole token string, lowercase hex.
    pub sha256: String,
    /// The token is refused from this time on (Unix ms).
    pub expires_at_ms: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not an enrollment token (expected {TOKEN_PREFIX} and {} hex digits)", TOKEN_BYTES * 2)]
    Malformed,
    #[error("the enrollment token is not valid")]
    Mismatch,
    #[error("the enrollment token expired")]
    Expired,
    #[error("the token's lifetime is out of range")]
    BadTtl,
    #[error("no randomness available")]
    Random,
}

/// A new token valid for `ttl` from `now_ms`: the token string, to show
/// once, and the record to store.
pub fn new_token(ttl: Duration, now_ms: u64) -> Result<(Zeroizing<String>, TokenRecord), TokenError> {
    let expires_at_ms = u64::try_from(ttl.as_millis()).ok().and_then(|t| now_ms.checked_add(t)).ok_or(TokenError::BadTtl)?;
    let mut secret = Zeroizing::new([0u8; TOKEN_BYTES]);
    rand::fill(secret.as_mut()).map_err(|_| TokenError::Random)?;
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", Zeroizing::new(hex::encode(secret.as_ref())).as_str()));
    let hash = hash(&token);
    Ok((token, TokenRecord { id: hash[..16].to_owned(), sha256: hash, expires_at_ms }))
}

/// The record id to look `presented` up by.
pub fn token_id(presented: &str) -> Result<String, TokenError> {
    well_formed(presented)?;
    Ok(hash(presented)[..16].to_owned())
}

/// Checks `presented` against `record` at `now_ms`: same hash (compared in
/// constant time), not expired.
pub fn check_token(presented: &str, record: &TokenRecord, now_ms: u64) -> Result<(), TokenError> {
    well_formed(presented)?;
    constant_time::verify_slices_are_equal(hash(presented).as_bytes(), record.sha256.as_bytes()).map_err(|_| TokenError::Mismatch)?;
    if now_ms >= record.expires_at_ms {
        return Err(TokenError::Expired);
    }
    Ok(())
}

fn well_formed(presented: &str) -> Result<(), TokenError> {
    let hex_part = presented.strip_prefix(TOKEN_PREFIX).ok_or(TokenError::Malformed)?;
    if hex_part.len() != TOKEN_BYTES * 2 || !hex_part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(TokenError::Malformed);
    }
    Ok(())
}

fn hash(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000_000;
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn fresh_token_checks_until_expiry() {
        let (token, rec) = new_token(HOUR, NOW).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(rec.expires_at_ms, NOW + 3_600_000);
        assert_eq!(token_id(&token).unwrap(), rec.id);
        assert!(!rec.sha256.contains(&token[TOKEN_PREFIX.len()..]));
        assert_eq!(check_token(&token, &rec, NOW), Ok(()));
        assert_eq!(check_token(&token, &rec, NOW + 3_599_999), Ok(()));
        assert_eq!(check_token(&token, &rec, NOW + 3_600_000), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_are_distinct_and_do_not_cross_check() {
        let (a, ra) = new_token(HOUR, NOW).unwrap();
        let (b, rb) = new_token(HOUR, NOW).unwrap();
        assert_ne!(*a, *b);
        assert_ne!(ra.id, rb.id);
        assert_eq!(check_token(&a, &rb, NOW), Err(TokenError::Mismatch));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let (token, rec) = new_token(HOUR, NOW).unwrap();
        let upper = token.to_uppercase();
        let short = &token[..token.len() - 1];
        for bad in ["", "teehsm-enroll-", short, &upper, &format!("{}0", token.as_str()), &token.replace("teehsm", "xeehsm")] {
            assert_eq!(check_token(bad, &rec, NOW), Err(TokenError::Malformed), "{bad:?}");
            assert_eq!(token_id(bad), Err(TokenError::Malformed));
        }
        let mut flipped = token.to_string();
        let last = if flipped.ends_with('0') { "1" } else { "0" };
        flipped.replace_range(flipped.len() - 1.., last);
        assert_eq!(check_token(&flipped, &rec, NOW), Err(TokenError::Mismatch));
    }

    #[test]
    fn overflowing_ttl_is_refused() {
        assert_eq!(new_token(Duration::MAX, NOW).map(|_| ()), Err(TokenError::BadTtl));
    }

    #[test]
    fn record_round_trips_through_json() {
        let (_, rec) = new_token(HOUR, NOW).unwrap();
        let back: TokenRecord = serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(back, rec);
    }
}
