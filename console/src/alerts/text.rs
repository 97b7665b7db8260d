//! Small formatting helpers for alert texts.

/// A percentage with at most one decimal: `90`, `87.5`.
pub(crate) fn pct(v: f64) -> String {
    if !v.is_finite() {
        return "?".to_string();
    }
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// `part` as a percentage of `whole` (`whole` > 0).
pub(crate) fn ratio_pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 * 100.0 / whole as f64
}

/// RFC 3339 UTC time of Unix milliseconds.
pub(crate) fn rfc3339(ms: u64) -> String {
    teehsm_wire::time::fmt_time(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A duration in ms, human readable: `90 s`, `15 min`, `3 d`.
pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if !ms.is_multiple_of(1000) || s == 0 {
        format!("{ms} ms")
    } else if s.is_multiple_of(86_400) {
        format!("{} d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(pct(90.0), "90");
        assert_eq!(pct(87.54), "87.5");
        assert_eq!(pct(f64::NAN), "?");
        assert_eq!(ratio_pct(900, 1000), 90.0);
        assert_eq!(ratio_pct(1, 0), 0.0);
        assert_eq!(duration(90_000), "90 s");
        assert_eq!(duration(900_000), "15 min");
        assert_eq!(duration(3 * 86_400_000), "3 d");
        assert_eq!(duration(1500), "1500 ms");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert!(rfc3339(u64::MAX).ends_with('Z'));
    }
}
