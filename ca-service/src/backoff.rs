//! Restart backoff for the TA: exponential from a minimum to a maximum,
//! reset after a run that stayed up long enough, pinned at the maximum after
//! a security failure.

use std::time::Duration;

/// A TA that stayed up this long is considered healthy: the backoff resets.
pub const STABLE_UPTIME: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// `min` is raised to at least 1 ms and `max` to at least `min`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        let max = max.max(min);
        Backoff { min, max, next: min }
    }

    /// The next delay; the one after it doubles, capped at the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        d
    }

    /// Back to the minimum.
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay before restarting a TA whose last run lasted `uptime` and
    /// ended as described: a stable run resets the backoff first; a security
    /// failure always waits the maximum (no fast crash loop on a bad store).
    pub fn after_exit(&mut self, uptime: Duration, security_failure: bool) -> Duration {
        if uptime >= STABLE_UPTIME {
            self.reset();
        }
        if security_failure {
            self.next = self.max;
            return self.max;
        }
        self.next_delay()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn doubles_up_to_the_maximum() {
        let mut b = Backoff::new(ms(200), ms(30_000));
        let got: Vec<u64> = (0..10).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(got, [200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
    }

    #[test]
    fn reset_returns_to_the_minimum() {
        let mut b = Backoff::new(ms(100), ms(1000));
        for _ in 0..5 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.next_delay(), ms(100));
    }

    #[test]
    fn stable_run_resets_before_the_next_delay() {
        let mut b = Backoff::new(ms(200), ms(30_000));
        assert_eq!(b.after_exit(ms(10), false), ms(200));
        assert_eq!(b.after_exit(ms(10), false), ms(400));
        assert_eq!(b.after_exit(ms(10), false), ms(800));
        assert_eq!(b.after_exit(STABLE_UPTIME, false), ms(200));
        assert_eq!(b.after_exit(ms(10), false), ms(400));
    }

    #[test]
    fn security_failure_waits_the_maximum() {
        let mut b = Backoff::new(ms(200), ms(30_000));
        assert_eq!(b.after_exit(ms(5), true), ms(30_000));
        assert_eq!(b.after_exit(ms(5), true), ms(30_000));
        // a crash right after a security failure does not drop back to fast restarts
        assert_eq!(b.after_exit(ms(5), false), ms(30_000));
        // but a stable run does
        assert_eq!(b.after_exit(STABLE_UPTIME * 2, false), ms(200));
    }

    #[test]
    fn degenerate_bounds_and_no_overflow() {
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(b.next_delay(), ms(1));
        assert_eq!(b.next_delay(), ms(1));
        let b = Backoff::new(ms(5), ms(1));
        assert_eq!(b.max(), ms(5));
        let mut big = Backoff::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        for _ in 0..4 {
            big.next_delay();
        }
        assert_eq!(big.next_delay(), Duration::MAX);
    }
}
