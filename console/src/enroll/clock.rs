//! Unix milliseconds to certificate validity times, without a clock (and
//! without a `time` dependency: the type is reached through rcgen).

use super::EnrollError;
use rcgen::CertificateParams;
use std::time::Duration;

/// 9999-12-31T23:59:59Z, the end of X.509 time, in Unix milliseconds.
const MAX_MS: u64 = 253_402_300_799_000;

/// Sets the validity of `params` to `[from_ms, to_ms]` (truncated to the
/// second), after checking both are representable and in order.
pub(super) fn set_validity(params: &mut CertificateParams, from_ms: u64, to_ms: u64) -> Result<(), EnrollError> {
    for ms in [from_ms, to_ms] {
        if ms > MAX_MS {
            return Err(EnrollError::TimeOutOfRange(ms));
        }
    }
    if to_ms < from_ms {
        return Err(EnrollError::TimeOutOfRange(to_ms));
    }
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(from_ms / 1000);
    params.not_after = epoch + Duration::from_secs(to_ms / 1000);
    Ok(())
}

/// `now_ms` plus `d`, checked.
pub(super) fn plus(now_ms: u64, d: Duration) -> Result<u64, EnrollError> {
    u64::try_from(d.as_millis()).ok().and_then(|d| now_ms.checked_add(d)).ok_or(EnrollError::TimeOutOfRange(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_times_are_refused() {
        let mut p = CertificateParams::default();
        assert!(set_validity(&mut p, 0, 1_700_000_000_000).is_ok());
        assert!(matches!(set_validity(&mut p, 0, u64::MAX), Err(EnrollError::TimeOutOfRange(_))));
        assert!(matches!(set_validity(&mut p, 2, 1), Err(EnrollError::TimeOutOfRange(_))));
        assert!(plus(u64::MAX, Duration::from_secs(1)).is_err());
        assert_eq!(plus(1, Duration::from_millis(2)).ok(), Some(3));
    }
}
