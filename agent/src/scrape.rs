//! What the agent reads from the CA's `/metrics` (ca-service/src/metrics.rs),
//! and the rates it derives from two scrapes:
//!
//! - `teehsm_grpc_requests_total{method,code}` → ops/s and errors/s per method and overall;
//! - `teehsm_grpc_request_duration_seconds{method}` (histogram) → p99 latency per
//!   method and overall, interpolated within a bucket as Prometheus'
//!   `histogram_quantile` does;
//! - `teehsm_token_objects{slot}`, `teehsm_token_capacity{slot}` and
//!   `teehsm_token_info{slot,label}` → objects per token against the TA's
//!   capacity (`max_token_objects`; the caller may override it per slot),
//!   and the token's label;
//! - unlabelled `teehsm_ca_*` samples → counter rates (`*_total`) and gauge values.
//!
//! Counter resets (a CA restart) are handled as Prometheus' `rate()` does: a
//! counter lower than before counts from zero. Series that do not make sense
//! (missing labels, negative or NaN counts, a histogram without `+Inf`) are
//! left out rather than failing the whole scrape.

use crate::prom_text::{self, Exposition, ParseError};
use std::collections::BTreeMap;
use thiserror::Error;

pub const REQUESTS: &str = "teehsm_grpc_requests_total";
pub const DURATION: &str = "teehsm_grpc_request_duration_seconds";
pub const TOKEN_OBJECTS: &str = "teehsm_token_objects";
pub const TOKEN_CAPACITY: &str = "teehsm_token_capacity";
pub const TOKEN_INFO: &str = "teehsm_token_info";
pub const CA_PREFIX: &str = "teehsm_ca_";

/// A cumulative histogram: (upper bound, observations <= bound), sorted by
/// bound, the last bound `+Inf`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
}

impl Histogram {
    /// Observations (the `+Inf` bucket).
    pub fn count(&self) -> f64 {
        self.buckets.last().map(|b| b.1).unwrap_or(0.0)
    }

    fn same_bounds(&self, other: &Histogram) -> bool {
        self.buckets.len() == other.buckets.len() && self.buckets.iter().zip(&other.buckets).all(|(a, b)| a.0 == b.0)
    }

    /// Observations between `prev` and `self`; `self` alone if the histogram
    /// was reset (a count went down) or its buckets changed.
    pub fn since(&self, prev: Option<&Histogram>) -> Histogram {
        let Some(prev) = prev else { return self.clone() };
        if !self.same_bounds(prev) || self.buckets.iter().zip(&prev.buckets).any(|(c, p)| c.1 < p.1) {
            return self.clone();
        }
        Histogram { buckets: self.buckets.iter().zip(&prev.buckets).map(|(c, p)| (c.0, c.1 - p.1)).collect(), sum: self.sum - prev.sum }
    }

    /// The `q` quantile (0..=1), see [`histogram_quantile`].
    pub fn quantile(&self, q: f64) -> Option<f64> {
        histogram_quantile(q, &self.buckets)
    }
}

/// Prometheus' `histogram_quantile`: finds the bucket holding rank `q * count`
/// and interpolates linearly inside it (from 0 for the first bucket). A rank
/// in the `+Inf` bucket gives the highest finite bound. None when there are
/// no observations, fewer than two buckets, no `+Inf` bucket, or `q` is not
/// within 0..=1.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) || buckets.len() < 2 {
        return None;
    }
    let (last_bound, _) = buckets[buckets.len() - 1];
    if last_bound != f64::INFINITY || buckets.windows(2).any(|w| w[0].0.partial_cmp(&w[1].0) != Some(std::cmp::Ordering::Less)) {
        return None;
    }
    // Monotonic counts (Prometheus repairs small non-monotonicity the same way).
    let mut counts = Vec::with_capacity(buckets.len());
    let mut max = 0.0f64;
    for &(_, c) in buckets {
        if !c.is_finite() || c < 0.0 {
            return None;
        }
        max = max.max(c);
        counts.push(max);
    }
    let total = counts[counts.len() - 1];
    if total <= 0.0 {
        return None;
    }
    let mut rank = q * total;
    let b = counts.iter().position(|&c| c >= rank)?;
    if b == buckets.len() - 1 {
        return Some(buckets[b - 1].0);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return Some(buckets[0].0);
    }
    let (start, mut count) = if b == 0 { (0.0, counts[0]) } else { (buckets[b - 1].0, counts[b] - counts[b - 1]) };
    if b > 0 {
        rank -= counts[b - 1];
    }
    if count <= 0.0 {
        count = 1.0;
        rank = 0.0;
    }
    let end = buckets[b].0;
    Some(start + (end - start) * (rank / count))
}

/// The CA's metrics from one scrape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaMetrics {
    /// `teehsm_grpc_requests_total` by (method, code).
    pub requests: BTreeMap<(String, String), f64>,
    /// `teehsm_grpc_request_duration_seconds` by method.
    pub latency: BTreeMap<String, Histogram>,
    /// `teehsm_token_objects` by slot.
    pub token_objects: BTreeMap<u64, u64>,
    /// `teehsm_token_capacity` by slot (0: the TA sets no limit).
    pub token_capacity: BTreeMap<u64, u64>,
    /// The `label` of `teehsm_token_info` by slot.
    pub token_labels: BTreeMap<u64, String>,
    /// Unlabelled `teehsm_ca_*` samples (counters and gauges) by name.
    pub ca: BTreeMap<String, f64>,
}

fn count_value(v: f64) -> Option<f64> {
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A non-negative integral value that fits a u64.
fn u64_value(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 18_446_744_073_709_551_616.0).then_some(v as u64)
}

impl CaMetrics {
    /// Parses a `/metrics` body.
    pub fn parse(text: &str) -> Result<CaMetrics, ParseError> {
        Ok(CaMetrics::from_exposition(&prom_text::parse(text)?))
    }

    pub fn from_exposition(e: &Exposition) -> CaMetrics {
        let mut m = CaMetrics::default();
        let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut sums: BTreeMap<String, f64> = BTreeMap::new();
        let bucket_name = format!("{DURATION}_bucket");
        let sum_name = format!("{DURATION}_sum");
        for s in &e.samples {
            let name = s.name.as_str();
            if name == REQUESTS {
                if let (Some(method), Some(code), Some(v)) = (s.label("method"), s.label("code"), count_value(s.value)) {
                    m.requests.insert((method.to_string(), code.to_string()), v);
                }
            } else if name == bucket_name {
                let le = s.label("le").and_then(prom_text::parse_value).filter(|le| !le.is_nan());
                if let (Some(method), Some(le), Some(v)) = (s.label("method"), le, count_value(s.value)) {
                    buckets.entry(method.to_string()).or_default().push((le, v));
                }
            } else if name == sum_name {
                if let (Some(method), true) = (s.label("method"), s.value.is_finite()) {
                    sums.insert(method.to_string(), s.value);
                }
            } else if name == TOKEN_OBJECTS || name == TOKEN_CAPACITY {
                let slot = s.label("slot").and_then(|v| v.parse::<u64>().ok());
                if let (Some(slot), Some(n)) = (slot, u64_value(s.value)) {
                    let map = if name == TOKEN_OBJECTS { &mut m.token_objects } else { &mut m.token_capacity };
                    map.insert(slot, n);
                }
            } else if name == TOKEN_INFO {
                let slot = s.label("slot").and_then(|v| v.parse::<u64>().ok());
                if let (Some(slot), Some(label)) = (slot, s.label("label")) {
                    m.token_labels.insert(slot, label.to_string());
                }
            } else if name.starts_with(CA_PREFIX) && s.labels.is_empty() && !s.value.is_nan() {
                m.ca.insert(name.to_string(), s.value);
            }
        }
        for (method, mut b) in buckets {
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            b.dedup_by(|x, y| x.0 == y.0);
            if b.len() >= 2 && b.last().map(|l| l.0) == Some(f64::INFINITY) {
                let sum = sums.get(&method).copied().unwrap_or(0.0);
                m.latency.insert(method, Histogram { buckets: b, sum });
            }
        }
        m
    }
}

/// Rates and latency of one method (or all).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MethodStats {
    /// Answered calls per second.
    pub ops_per_sec: f64,
    /// Calls answered with a code other than OK, per second.
    pub errors_per_sec: f64,
    /// 99th percentile latency over the interval; None without calls.
    pub p99_seconds: Option<f64>,
}

/// What changed between two scrapes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rates {
    pub interval_secs: f64,
    pub methods: BTreeMap<String, MethodStats>,
    pub overall: MethodStats,
    /// Per-second rates of the `teehsm_ca_*_total` counters (e.g. relayed PKCS#11 requests).
    pub ca_counters_per_sec: BTreeMap<String, f64>,
}

#[derive(Debug, Error, PartialEq)]
pub enum RateError {
    #[error("the interval between scrapes must be a positive number of seconds, got {0}")]
    BadInterval(f64),
}

/// How much a counter grew; a lower value than before is a reset and counts from zero.
pub fn counter_increase(prev: Option<f64>, cur: f64) -> f64 {
    match prev {
        Some(p) if cur >= p => cur - p,
        _ => cur,
    }
}

/// Rates between scrape `prev` and scrape `cur`, `interval_secs` apart (measured
/// by the caller on a monotonic clock).
pub fn rates(prev: &CaMetrics, cur: &CaMetrics, interval_secs: f64) -> Result<Rates, RateError> {
    if !(interval_secs.is_finite() && interval_secs > 0.0) {
        return Err(RateError::BadInterval(interval_secs));
    }
    let mut out = Rates { interval_secs, ..Default::default() };
    let mut overall_calls = 0.0;
    let mut overall_errors = 0.0;
    for ((method, code), &v) in &cur.requests {
        let inc = counter_increase(prev.requests.get(&(method.clone(), code.clone())).copied(), v);
        let stats = out.methods.entry(method.clone()).or_default();
        stats.ops_per_sec += inc;
        overall_calls += inc;
        if code != "OK" {
            stats.errors_per_sec += inc;
            overall_errors += inc;
        }
    }
    for stats in out.methods.values_mut() {
        stats.ops_per_sec /= interval_secs;
        stats.errors_per_sec /= interval_secs;
    }
    out.overall.ops_per_sec = overall_calls / interval_secs;
    out.overall.errors_per_sec = overall_errors / interval_secs;

    // Latency: per-method bucket increases, and their sum when every method has the same buckets.
    let mut merged: Option<Histogram> = None;
    let mut mergeable = true;
    for (method, h) in &cur.latency {
        let d = h.since(prev.latency.get(method));
        let p99 = d.quantile(0.99);
        if d.count() > 0.0 || out.methods.contains_key(method) {
            out.methods.entry(method.clone()).or_default().p99_seconds = p99;
        }
        match &mut merged {
            None => merged = Some(d),
            Some(m) if m.same_bounds(&d) => {
                for (a, b) in m.buckets.iter_mut().zip(&d.buckets) {
                    a.1 += b.1;
                }
                m.sum += d.sum;
            }
            Some(_) => mergeable = false,
        }
    }
    out.overall.p99_seconds = merged.filter(|_| mergeable).and_then(|m| m.quantile(0.99));

    for (name, &v) in &cur.ca {
        if name.ends_with("_total") && v >= 0.0 && v.is_finite() {
            let inc = counter_increase(prev.ca.get(name).copied(), v);
            out.ca_counters_per_sec.insert(name.clone(), inc / interval_secs);
        }
    }
    Ok(out)
}

/// Objects on one token, against its capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenUsage {
    pub slot: u64,
    /// The token's label (empty if the CA did not name it).
    pub label: String,
    pub objects: u64,
    /// The agent's configured capacity for the slot if any, else the TA's
    /// (`teehsm_token_capacity`) unless that is 0 (no limit): None.
    pub capacity: Option<u64>,
    /// objects / capacity in percent (None without a capacity; 0 capacity is 100 % when full).
    pub used_percent: Option<f64>,
}

/// Token object counts from a scrape, against the configured capacity of
/// each slot in `overrides`, else the TA's.
pub fn token_usage(m: &CaMetrics, overrides: &BTreeMap<u64, u64>) -> Vec<TokenUsage> {
    m.token_objects
        .iter()
        .map(|(&slot, &objects)| {
            let capacity = overrides.get(&slot).copied().or_else(|| m.token_capacity.get(&slot).copied().filter(|&c| c > 0));
            let used_percent = capacity.map(|c| if c == 0 { 100.0 } else { objects as f64 * 100.0 / c as f64 });
            let label = m.token_labels.get(&slot).cloned().unwrap_or_default();
            TokenUsage { slot, label, objects, capacity, used_percent }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: [&str; 14] =
        ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"];

    /// A /metrics text shaped like the CA's (prometheus crate encoder).
    fn ca_text(sign_ok: u64, sign_err: u64, rnd: u64, sign_buckets: [u64; 14], rnd_buckets: [u64; 14], relayed: u64) -> String {
        let mut t = String::new();
        t += "# HELP teehsm_ca_relayed_requests_total Requests relayed to the TA and answered.\n";
        t += "# TYPE teehsm_ca_relayed_requests_total counter\n";
        t += &format!("teehsm_ca_relayed_requests_total {relayed}\n");
        t += "# HELP teehsm_ca_ta_up 1 if the TA is running and serving clients, else 0.\n# TYPE teehsm_ca_ta_up gauge\nteehsm_ca_ta_up 1\n";
        t += "# HELP teehsm_grpc_request_duration_seconds Time from receiving a gRPC call to answering it, by method.\n";
        t += "# TYPE teehsm_grpc_request_duration_seconds histogram\n";
        for (method, b) in [("GenerateRandom", rnd_buckets), ("Sign", sign_buckets)] {
            for (le, n) in BOUNDS.iter().zip(b) {
                t += &format!("teehsm_grpc_request_duration_seconds_bucket{{method=\"{method}\",le=\"{le}\"}} {n}\n");
            }
            t += &format!("teehsm_grpc_request_duration_seconds_sum{{method=\"{method}\"}} 0.5\n");
            t += &format!("teehsm_grpc_request_duration_seconds_count{{method=\"{method}\"}} {}\n", b[13]);
        }
        t += "# HELP teehsm_grpc_requests_total gRPC calls answered, by method and gRPC status code.\n# TYPE teehsm_grpc_requests_total counter\n";
        t += &format!("teehsm_grpc_requests_total{{code=\"OK\",method=\"GenerateRandom\"}} {rnd}\n");
        t += &format!("teehsm_grpc_requests_total{{code=\"OK\",method=\"Sign\"}} {sign_ok}\n");
        t += &format!("teehsm_grpc_requests_total{{code=\"UNAUTHENTICATED\",method=\"Sign\"}} {sign_err}\n");
        t += "# HELP teehsm_token_objects Objects on each slot's token.\n# TYPE teehsm_token_objects gauge\n";
        t += "teehsm_token_objects{slot=\"0\"} 7\nteehsm_token_objects{slot=\"1\"} 0\n";
        t
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1e-9)
    }

    #[test]
    fn quantile_matches_prometheus() {
        let inf = f64::INFINITY;
        // 100 observations: 50 in (0, 1], 40 in (1, 2], 10 in (2, 4].
        let b = [(1.0, 50.0), (2.0, 90.0), (4.0, 100.0), (inf, 100.0)];
        assert_eq!(histogram_quantile(0.5, &b), Some(1.0));
        assert_eq!(histogram_quantile(0.25, &b), Some(0.5), "first bucket interpolates from 0");
        assert!(close(histogram_quantile(0.7, &b).unwrap(), 1.5));
        assert!(close(histogram_quantile(0.99, &b).unwrap(), 3.8));
        assert_eq!(histogram_quantile(1.0, &b), Some(4.0));
        assert_eq!(histogram_quantile(0.0, &b), Some(0.0));
        // Rank in the +Inf bucket: the highest finite bound.
        assert_eq!(histogram_quantile(0.99, &[(1.0, 50.0), (2.0, 90.0), (inf, 100.0)]), Some(2.0));
        // Non-positive first bound is returned as is.
        assert_eq!(histogram_quantile(0.1, &[(-1.0, 5.0), (inf, 10.0)]), Some(-1.0));
        // Non-monotonic counts are repaired, not a panic.
        assert!(histogram_quantile(0.5, &[(1.0, 10.0), (2.0, 5.0), (inf, 20.0)]).is_some());
        for bad in [
            vec![],
            vec![(inf, 10.0)],
            vec![(1.0, 0.0), (inf, 0.0)],
            vec![(1.0, 5.0), (2.0, 10.0)],
            vec![(2.0, 5.0), (1.0, 6.0), (inf, 10.0)],
            vec![(1.0, f64::NAN), (inf, 10.0)],
            vec![(1.0, -1.0), (inf, 10.0)],
            vec![(f64::NAN, 1.0), (inf, 10.0)],
        ] {
            assert_eq!(histogram_quantile(0.99, &bad), None, "{bad:?}");
        }
        assert_eq!(histogram_quantile(1.5, &b), None);
        assert_eq!(histogram_quantile(f64::NAN, &b), None);
    }

    #[test]
    fn reads_the_ca_metrics() {
        let mut sb = [0u64; 14];
        sb[3..].iter_mut().for_each(|n| *n = 10);
        let m = CaMetrics::parse(&ca_text(8, 2, 5, sb, [0; 14], 42)).unwrap();
        assert_eq!(m.requests[&("Sign".to_string(), "OK".to_string())], 8.0);
        assert_eq!(m.requests[&("Sign".to_string(), "UNAUTHENTICATED".to_string())], 2.0);
        assert_eq!(m.latency["Sign"].count(), 10.0);
        assert_eq!(m.latency["Sign"].buckets.len(), 14);
        assert_eq!(m.latency["Sign"].sum, 0.5);
        assert_eq!(m.token_objects, BTreeMap::from([(0, 7), (1, 0)]));
        assert_eq!(m.ca["teehsm_ca_ta_up"], 1.0);
        assert_eq!(m.ca["teehsm_ca_relayed_requests_total"], 42.0);
        let usage = token_usage(&m, &BTreeMap::from([(0, 10), (1, 0)]));
        assert_eq!(usage[0], TokenUsage { slot: 0, label: String::new(), objects: 7, capacity: Some(10), used_percent: Some(70.0) });
        assert_eq!(usage[1].used_percent, Some(100.0));
        assert_eq!(token_usage(&m, &BTreeMap::new())[0].used_percent, None);
    }

    #[test]
    fn token_capacity_and_label_from_the_ta() {
        let text = "# TYPE teehsm_token_objects gauge\nteehsm_token_objects{slot=\"0\"} 8\nteehsm_token_objects{slot=\"1\"} 3\n\
# TYPE teehsm_token_capacity gauge\nteehsm_token_capacity{slot=\"0\"} 10\nteehsm_token_capacity{slot=\"1\"} 0\n\
# TYPE teehsm_token_info gauge\nteehsm_token_info{label=\"payments\",slot=\"0\"} 1\n";
        let m = CaMetrics::parse(text).unwrap();
        let u = token_usage(&m, &BTreeMap::new());
        assert_eq!(u[0], TokenUsage { slot: 0, label: "payments".into(), objects: 8, capacity: Some(10), used_percent: Some(80.0) });
        // 0 = the TA sets no limit: no percentage unless configured.
        assert_eq!((u[1].capacity, u[1].used_percent, u[1].label.as_str()), (None, None, ""));
        // A configured capacity overrides the TA's.
        let u = token_usage(&m, &BTreeMap::from([(0, 16), (1, 6)]));
        assert_eq!((u[0].capacity, u[0].used_percent), (Some(16), Some(50.0)));
        assert_eq!((u[1].capacity, u[1].used_percent), (Some(6), Some(50.0)));
    }

    #[test]
    fn rates_and_p99_between_scrapes() {
        let zero = [0u64; 14];
        let prev = CaMetrics::parse(&ca_text(100, 0, 50, [0, 0, 0, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100], zero, 10)).unwrap();
        // 10 s later: Sign +200 OK +10 errors; 210 new Sign observations: 100 in (0.5ms,1ms], 100 in (1ms,2.5ms], 10 in (5ms,10ms].
        let cur_b = [0, 0, 0, 200, 300, 300, 310, 310, 310, 310, 310, 310, 310, 310];
        let rnd_b = [40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40];
        let cur = CaMetrics::parse(&ca_text(300, 10, 90, cur_b, rnd_b, 30)).unwrap();
        let r = rates(&prev, &cur, 10.0).unwrap();
        let sign = &r.methods["Sign"];
        assert!(close(sign.ops_per_sec, 21.0), "{sign:?}");
        assert!(close(sign.errors_per_sec, 1.0), "{sign:?}");
        // rank 0.99*210 = 207.9 in (5ms, 10ms]: 5ms + 5ms * (7.9 / 10).
        assert!(close(sign.p99_seconds.unwrap(), 0.005 + 0.005 * 0.79), "{sign:?}");
        let rnd = &r.methods["GenerateRandom"];
        assert!(close(rnd.ops_per_sec, 4.0));
        // 40 observations all in the first bucket: 0.99 * 0.1 ms.
        assert!(close(rnd.p99_seconds.unwrap(), 0.000099), "{rnd:?}");
        assert!(close(r.overall.ops_per_sec, 25.0));
        assert!(close(r.overall.errors_per_sec, 1.0));
        // Merged: 250 observations, rank 247.5 -> (5ms,10ms] holds 10, 240 below.
        assert!(close(r.overall.p99_seconds.unwrap(), 0.005 + 0.005 * 0.75), "{:?}", r.overall);
        assert!(close(r.ca_counters_per_sec["teehsm_ca_relayed_requests_total"], 2.0));
        assert!(!r.ca_counters_per_sec.contains_key("teehsm_ca_ta_up"), "gauges have no rate");
        // No traffic: zero rates, no p99.
        let idle = rates(&cur, &cur, 5.0).unwrap();
        assert_eq!(idle.overall.ops_per_sec, 0.0);
        assert_eq!(idle.overall.p99_seconds, None);
        assert_eq!(idle.methods["Sign"].p99_seconds, None);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(rates(&prev, &cur, bad).is_err());
        }
    }

    #[test]
    fn counter_and_histogram_resets() {
        assert_eq!(counter_increase(Some(10.0), 15.0), 5.0);
        assert_eq!(counter_increase(Some(10.0), 3.0), 3.0);
        assert_eq!(counter_increase(None, 3.0), 3.0);
        // The CA restarted: everything lower than before.
        let before =
            CaMetrics::parse(&ca_text(1000, 50, 500, [0, 0, 0, 900, 1050, 1050, 1050, 1050, 1050, 1050, 1050, 1050, 1050, 1050], [0; 14], 99))
                .unwrap();
        let after = CaMetrics::parse(&ca_text(20, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 20], [0; 14], 1)).unwrap();
        let r = rates(&before, &after, 2.0).unwrap();
        assert!(close(r.methods["Sign"].ops_per_sec, 10.0));
        assert_eq!(r.methods["Sign"].errors_per_sec, 0.0, "the error series went to 0: no increase");
        // All 20 new calls in (0.5 s, 1 s].
        assert!(close(r.methods["Sign"].p99_seconds.unwrap(), 0.5 + 0.5 * (19.8 / 20.0)));
        assert!(close(r.ca_counters_per_sec["teehsm_ca_relayed_requests_total"], 0.5));
        // A method seen for the first time counts in full.
        let mut first = after.clone();
        first.requests.insert(("Decrypt".into(), "OK".into()), 6.0);
        assert!(close(rates(&after, &first, 2.0).unwrap().methods["Decrypt"].ops_per_sec, 3.0));
    }

    #[test]
    fn odd_series_are_left_out() {
        let text = "\
teehsm_grpc_requests_total{method=\"Sign\"} 5
teehsm_grpc_requests_total{code=\"OK\"} 5
teehsm_grpc_requests_total{code=\"OK\",method=\"Neg\"} -1
teehsm_grpc_requests_total{code=\"OK\",method=\"Nan\"} NaN
teehsm_grpc_requests_total{code=\"OK\",method=\"Inf\"} +Inf
teehsm_grpc_requests_total{code=\"OK\",method=\"Fine\",extra=\"x\"} 3
teehsm_grpc_request_duration_seconds_bucket{method=\"NoInf\",le=\"1\"} 3
teehsm_grpc_request_duration_seconds_bucket{method=\"BadLe\",le=\"soon\"} 3
teehsm_grpc_request_duration_seconds_bucket{method=\"BadLe\",le=\"+Inf\"} 3
teehsm_grpc_request_duration_seconds_bucket{le=\"+Inf\"} 3
teehsm_grpc_request_duration_seconds_bucket{method=\"Ok\",le=\"+Inf\"} 4
teehsm_grpc_request_duration_seconds_bucket{method=\"Ok\",le=\"0.5\"} 2
teehsm_grpc_request_duration_seconds_bucket{method=\"Ok\",le=\"0.5\"} 2
teehsm_token_objects{slot=\"x\"} 1
teehsm_token_objects{slot=\"-1\"} 1
teehsm_token_objects{slot=\"2\"} 1.5
teehsm_token_objects{slot=\"3\"} 1e30
teehsm_token_objects{slot=\"4\"} -0
teehsm_token_objects{slot=\"18446744073709551615\"} 9007199254740992
teehsm_ca_ta_up{x=\"y\"} 1
teehsm_ca_client_refusals_total NaN
";
        let m = CaMetrics::parse(text).unwrap();
        assert_eq!(m.requests.keys().map(|k| k.1.as_str()).collect::<Vec<_>>(), ["OK"]);
        assert_eq!(m.requests.keys().next().unwrap().0, "Fine");
        assert_eq!(m.latency.keys().collect::<Vec<_>>(), ["Ok"], "only the histogram with two bounds incl. +Inf");
        assert_eq!(m.latency["Ok"].buckets, vec![(0.5, 2.0), (f64::INFINITY, 4.0)], "sorted, duplicate bound dropped");
        assert_eq!(m.token_objects, BTreeMap::from([(4, 0), (u64::MAX, 9_007_199_254_740_992)]));
        assert!(m.ca.is_empty());
        // A malformed line fails the scrape (as in Prometheus).
        assert!(CaMetrics::parse("teehsm_token_objects{slot=\"0\" 1\n").is_err());
        // Histograms with other bounds are not merged into the overall p99.
        let mut a = CaMetrics::default();
        a.latency.insert("A".into(), Histogram { buckets: vec![(1.0, 10.0), (f64::INFINITY, 10.0)], sum: 1.0 });
        a.latency.insert("B".into(), Histogram { buckets: vec![(2.0, 10.0), (f64::INFINITY, 10.0)], sum: 1.0 });
        let r = rates(&CaMetrics::default(), &a, 1.0).unwrap();
        assert!(r.methods["A"].p99_seconds.is_some() && r.methods["B"].p99_seconds.is_some());
        assert_eq!(r.overall.p99_seconds, None);
    }
}
