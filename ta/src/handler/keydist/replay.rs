//! The envelope ids this TA process has imported.
//!
//! An envelope names the SHA-256 of this process's channel key bundle,
//! which a restarted TA replaces, so an envelope can only ever be imported
//! by the process that was running when it was made: an in-memory cache of
//! ids is a complete replay defence. Ids are forgotten once their envelope
//! has expired (it can no longer pass the validity check).

use std::collections::HashMap;

/// Most ids remembered at once; beyond it imports are refused until old
/// envelopes expire, never accepted unchecked.
pub const MAX_REMEMBERED: usize = 100_000;

/// Why an id could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    Seen,
    Full,
}

#[derive(Default)]
pub struct ReplayCache {
    /// Envelope id -> its expiry (Unix ms).
    seen: HashMap<[u8; 16], u64>,
}

impl ReplayCache {
    /// Records `id` (valid until `expires_ms`), refusing one already recorded.
    pub fn insert(&mut self, id: [u8; 16], expires_ms: u64, now_ms: u64) -> Result<(), ReplayError> {
        if self.seen.contains_key(&id) {
            return Err(ReplayError::Seen);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            self.seen.retain(|_, exp| *exp >= now_ms);
            if self.seen.len() >= MAX_REMEMBERED {
                return Err(ReplayError::Full);
            }
        }
        self.seen.insert(id, expires_ms);
        Ok(())
    }

    /// Forgets `id` (its import failed for a reason that may pass on retry).
    pub fn remove(&mut self, id: &[u8; 16]) {
        self.seen.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_use_until_removed() {
        let mut c = ReplayCache::default();
        assert_eq!(c.insert([1; 16], 100, 0), Ok(()));
        assert_eq!(c.insert([1; 16], 100, 0), Err(ReplayError::Seen));
        assert_eq!(c.insert([2; 16], 100, 0), Ok(()));
        c.remove(&[1; 16]);
        assert_eq!(c.insert([1; 16], 100, 0), Ok(()));
    }

    #[test]
    fn a_full_cache_drops_expired_ids_first() {
        let mut c = ReplayCache::default();
        for i in 0..MAX_REMEMBERED as u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            c.seen.insert(id, if i == 0 { 5 } else { 1_000 });
        }
        assert_eq!(c.insert([9; 16], 1_000, 10), Ok(()));
        assert_eq!(c.insert([8; 16], 1_000, 10), Err(ReplayError::Full));
    }
}
