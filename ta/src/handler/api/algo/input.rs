//! Checks every request byte field gets: at most 64 KiB, and its optional
//! CRC32C (teehsm_wire::proto::crc32c) must match when the client sent one.

use super::super::error::{ApiError, ApiResult};
use teehsm_wire::proto::crc32c;

/// The largest input byte field the API accepts.
pub const MAX_FIELD: usize = 65536;

/// INVALID_ARGUMENT when `value` is longer than [`MAX_FIELD`].
pub fn limit(field: &str, value: &[u8]) -> ApiResult<()> {
    limit_to(field, value, MAX_FIELD)
}

/// INVALID_ARGUMENT when `value` is longer than `max`.
pub fn limit_to(field: &str, value: &[u8], max: usize) -> ApiResult<()> {
    if value.len() > max {
        return Err(ApiError::invalid(format!("{field} is {} bytes; the limit is {max}", value.len())));
    }
    Ok(())
}

/// Checks `field`'s size and, when `crc` is set, its CRC32C. Returns true
/// when a CRC was sent and matched (the response's `verified_<field>_crc32c`).
pub fn field(name: &str, value: &[u8], crc: Option<u32>) -> ApiResult<bool> {
    field_to(name, value, crc, MAX_FIELD)
}

/// [`field`] with a limit of `max` bytes (ciphertexts of the largest plaintext).
pub fn field_to(name: &str, value: &[u8], crc: Option<u32>, max: usize) -> ApiResult<bool> {
    limit_to(name, value, max)?;
    match crc {
        None => Ok(false),
        Some(c) if c == crc32c(value) => Ok(true),
        Some(_) => Err(ApiError::invalid(format!("{name}_crc32c does not match {name}: the request was corrupted in transit"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::api::code;

    #[test]
    fn limits_and_crcs() {
        assert_eq!(field("data", b"abc", None), Ok(false));
        assert_eq!(field("data", b"abc", Some(crc32c(b"abc"))), Ok(true));
        assert_eq!(field("data", b"", Some(0)), Ok(true));
        let e = field("data", b"abc", Some(crc32c(b"abd"))).unwrap_err();
        assert_eq!(e.code, code::INVALID_ARGUMENT);
        assert_eq!(e.message, "data_crc32c does not match data: the request was corrupted in transit");
        assert!(field("data", &vec![0u8; MAX_FIELD], None).is_ok());
        let e = field("plaintext", &vec![0u8; MAX_FIELD + 1], Some(0)).unwrap_err();
        assert_eq!(e.code, code::INVALID_ARGUMENT);
        assert_eq!(e.message, "plaintext is 65537 bytes; the limit is 65536");
    }
}
