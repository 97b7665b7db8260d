//! Unsigned <-> signed conversions: the schema's BIGINT is signed 64-bit
//! in both SQLite and PostgreSQL, the console's times and counters are `u64`.

use super::error::{Result, StoreError};

/// `u64` into a BIGINT parameter; refuses values above `i64::MAX`.
pub(crate) fn to_db(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange(v))
}

/// Optional `u64` into a nullable BIGINT parameter.
pub(crate) fn opt_to_db(v: Option<u64>) -> Result<Option<i64>> {
    v.map(to_db).transpose()
}

/// BIGINT column into `u64`; a negative value is corruption.
pub(crate) fn from_db(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative value {v}")))
}

/// Nullable BIGINT column into `Option<u64>`.
pub(crate) fn opt_from_db(v: Option<i64>) -> Result<Option<u64>> {
    v.map(from_db).transpose()
}

/// A page of a listing: skip `offset` rows, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
}

impl Page {
    pub fn new(offset: u64, limit: u64) -> Self {
        Page { offset, limit }
    }

    /// `(limit, offset)` as SQL parameters.
    pub(crate) fn params(self) -> Result<(i64, i64)> {
        Ok((to_db(self.limit)?, to_db(self.offset)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checks() {
        assert_eq!(to_db(5).ok(), Some(5));
        assert!(matches!(to_db(u64::MAX), Err(StoreError::OutOfRange(_))));
        assert!(matches!(from_db(-1), Err(StoreError::Corrupt(_))));
        assert_eq!(opt_from_db(None).ok(), Some(None));
    }
}
