//! The CA's metrics and their Prometheus text exposition (format 0.0.4),
//! through the `prometheus` crate: the relay's and supervisor's counters
//! ([`Metrics`], atomics sampled at scrape time), the gRPC server's request
//! counters and latency histogram ([`ApiMetrics`], kept in a registry), and
//! per-slot token object counts sampled from the TA at scrape time.
//! No per-key or per-client labels: label values come from fixed sets
//! (method names, gRPC codes, algorithm names, slot numbers).

use prometheus::proto::MetricFamily;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use std::sync::atomic::{AtomicU64, Ordering};

/// Content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default, Debug)]
pub struct Metrics {
    pub ta_restarts: AtomicU64,
    pub client_connections: AtomicU64,
    pub client_active: AtomicU64,
    pub relayed_requests: AtomicU64,
    pub relay_errors: AtomicU64,
    pub client_refusals: AtomicU64,
    pub client_handoffs: AtomicU64,
}

/// Increments a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Counts one active client connection while alive.
pub struct ActiveClient<'a>(&'a Metrics);

impl<'a> ActiveClient<'a> {
    pub fn new(m: &'a Metrics) -> Self {
        inc(&m.client_connections);
        inc(&m.client_active);
        ActiveClient(m)
    }
}

impl Drop for ActiveClient<'_> {
    fn drop(&mut self) {
        self.0.client_active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// TA-state values sampled at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaGauges {
    pub up: bool,
    pub security_failure: bool,
    /// None until the TA has exited once.
    pub last_exit_code: Option<i64>,
}

/// Latency buckets of `teehsm_grpc_request_duration_seconds`: 0.1 ms to 1 s.
pub const DURATION_BUCKETS: [f64; 13] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// The gRPC server's metrics, in their own registry.
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    ta_operations: IntCounterVec,
    /// The gRPC listener's certificate expiry, reloads and failed handshakes.
    pub tls: teehsm_tls::TlsMetrics,
    /// Loads of a changed grpc_client_ca file, by result.
    pub client_ca_reloads: IntCounterVec,
}

impl ApiMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests =
            IntCounterVec::new(Opts::new("teehsm_grpc_requests_total", "gRPC calls answered, by method and gRPC status code."), &["method", "code"])?;
        let duration = HistogramVec::new(
            HistogramOpts::new("teehsm_grpc_request_duration_seconds", "Time from receiving a gRPC call to answering it, by method.")
                .buckets(DURATION_BUCKETS.to_vec()),
            &["method"],
        )?;
        let ta_operations = IntCounterVec::new(
            Opts::new(
                "teehsm_ta_operations_total",
                "API calls the TA completed successfully, by method and the teehsm.v1 Algorithm of the key used (none: no key).",
            ),
            &["method", "algorithm"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(ta_operations.clone()))?;
        let tls = teehsm_tls::TlsMetrics::new("teehsm_grpc", "the gRPC listener", "grpc_tls_cert/grpc_tls_key")?;
        tls.register(&registry)?;
        let client_ca_reloads = IntCounterVec::new(
            Opts::new("teehsm_grpc_client_ca_reloads_total", "Loads of a changed grpc_client_ca file, by result (ok, error); 0 without mTLS."),
            &["result"],
        )?;
        for result in ["ok", "error"] {
            client_ca_reloads.with_label_values(&[result]).inc_by(0);
        }
        registry.register(Box::new(client_ca_reloads.clone()))?;
        Ok(ApiMetrics { registry, requests, duration, ta_operations, tls, client_ca_reloads })
    }

    /// Records one answered call. `code` is the gRPC code's canonical name ("OK", "UNAVAILABLE").
    pub fn observe(&self, method: &str, code: &str, elapsed: std::time::Duration) {
        self.requests.with_label_values(&[method, code]).inc();
        self.duration.with_label_values(&[method]).observe(elapsed.as_secs_f64());
    }

    /// Records one successful TA operation.
    pub fn ta_operation(&self, method: &str, algorithm: &str) {
        self.ta_operations.with_label_values(&[method, algorithm]).inc();
    }

    fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }
}

/// Everything sampled at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ta: TaGauges,
    /// Every token's GetTokenInfo counts; empty while the TA is down.
    pub token_objects: Vec<crate::token_stats::TokenCount>,
}

fn counter(r: &Registry, name: &str, help: &str, value: u64) -> Result<(), prometheus::Error> {
    // A counter that is only ever set from our atomics: exposed as a counter.
    let c = prometheus::IntCounter::new(name, help)?;
    c.inc_by(value);
    r.register(Box::new(c))
}

fn gauge(r: &Registry, name: &str, help: &str, value: i64) -> Result<(), prometheus::Error> {
    let g = IntGauge::new(name, help)?;
    g.set(value);
    r.register(Box::new(g))
}

/// The CA's own samples, as metric families.
fn ca_families(m: &Metrics, snap: &Snapshot) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let r = Registry::new();
    let ta = snap.ta;
    gauge(&r, "teehsm_ca_ta_up", "1 if the TA is running and serving clients, else 0.", ta.up as i64)?;
    gauge(
        &r,
        "teehsm_ca_ta_security_failure",
        "1 if the TA's last exit was a security failure (self-test, store rollback or corruption) and it is not running.",
        ta.security_failure as i64,
    )?;
    counter(&r, "teehsm_ca_ta_restarts_total", "TA processes started after the first one.", get(&m.ta_restarts))?;
    gauge(
        &r,
        "teehsm_ca_ta_last_exit_code",
        "Exit code of the last TA exit (128+signal if killed by a signal; -1 if the TA has not exited).",
        ta.last_exit_code.unwrap_or(-1),
    )?;
    counter(&r, "teehsm_ca_client_connections_total", "Client connections accepted.", get(&m.client_connections))?;
    gauge(&r, "teehsm_ca_client_connections_active", "Client connections open now.", get(&m.client_active) as i64)?;
    counter(&r, "teehsm_ca_client_refusals_total", "Client connections refused because the TA was not available.", get(&m.client_refusals))?;
    counter(
        &r,
        "teehsm_ca_client_handoffs_total",
        "Client connections handed to the TA (client_transport = handoff); their requests bypass the CA.",
        get(&m.client_handoffs),
    )?;
    counter(&r, "teehsm_ca_relayed_requests_total", "Requests relayed to the TA and answered.", get(&m.relayed_requests))?;
    counter(
        &r,
        "teehsm_ca_relay_errors_total",
        "Relayed connections ended by an error (oversized or torn frame, TA lost mid-request).",
        get(&m.relay_errors),
    )?;
    let objects = IntGaugeVec::new(
        Opts::new(
            "teehsm_token_objects",
            "Objects on each slot's token (GetTokenInfo total_objects; API key versions included), sampled at scrape time.",
        ),
        &["slot"],
    )?;
    let capacity = IntGaugeVec::new(
        Opts::new("teehsm_token_capacity", "Objects each slot's token may hold (the TA's max_token_objects; 0: no limit), sampled at scrape time."),
        &["slot"],
    )?;
    let info = IntGaugeVec::new(Opts::new("teehsm_token_info", "Always 1; names each slot's token (CKA label)."), &["slot", "label"])?;
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    for t in &snap.token_objects {
        let slot = t.slot.to_string();
        objects.with_label_values(&[slot.as_str()]).set(clamp(t.objects));
        capacity.with_label_values(&[slot.as_str()]).set(clamp(t.capacity));
        info.with_label_values(&[slot.as_str(), t.label.as_str()]).set(1);
    }
    r.register(Box::new(objects))?;
    r.register(Box::new(capacity))?;
    r.register(Box::new(info))?;
    Ok(r.gather())
}

/// The exposition text for all metrics.
pub fn render(m: &Metrics, api: &ApiMetrics, snap: &Snapshot) -> Result<String, prometheus::Error> {
    let mut families = ca_families(m, snap)?;
    families.extend(api.gather());
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = String::with_capacity(4096);
    TextEncoder::new().encode_utf8(&families, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text(m: &Metrics, api: &ApiMetrics, snap: &Snapshot) -> String {
        render(m, api, snap).unwrap()
    }

    #[test]
    fn exposition_has_help_type_and_values() {
        let m = Metrics::default();
        let api = ApiMetrics::new().unwrap();
        inc(&m.ta_restarts);
        {
            let _a = ActiveClient::new(&m);
            let _b = ActiveClient::new(&m);
            let t = text(&m, &api, &Snapshot { ta: TaGauges { up: true, ..Default::default() }, ..Default::default() });
            assert!(t.contains("\nteehsm_ca_client_connections_active 2\n"), "{t}");
        }
        let t = text(&m, &api, &Snapshot { ta: TaGauges { up: false, security_failure: true, last_exit_code: Some(4) }, ..Default::default() });
        for name in [
            "teehsm_ca_ta_up",
            "teehsm_ca_ta_restarts_total",
            "teehsm_ca_client_connections_total",
            "teehsm_ca_client_connections_active",
            "teehsm_ca_relayed_requests_total",
            "teehsm_ca_relay_errors_total",
            "teehsm_ca_ta_last_exit_code",
        ] {
            assert!(t.contains(&format!("# HELP {name} ")), "{name}");
            assert!(t.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert!(t.contains("# TYPE teehsm_ca_ta_restarts_total counter\nteehsm_ca_ta_restarts_total 1\n"), "{t}");
        assert!(t.contains("\nteehsm_ca_ta_up 0\n"));
        assert!(t.contains("\nteehsm_ca_ta_security_failure 1\n"));
        assert!(t.contains("\nteehsm_ca_ta_last_exit_code 4\n"));
        assert!(t.contains("\nteehsm_ca_client_connections_total 2\n"));
        assert!(t.contains("\nteehsm_ca_client_connections_active 0\n"));
        assert!(t.ends_with('\n'));
        let fresh = text(&Metrics::default(), &api, &Snapshot::default());
        assert!(fresh.contains("\nteehsm_ca_ta_last_exit_code -1\n"));
    }

    #[test]
    fn grpc_and_token_metrics() {
        let m = Metrics::default();
        let api = ApiMetrics::new().unwrap();
        api.observe("GenerateRandom", "OK", Duration::from_micros(300));
        api.observe("GenerateRandom", "OK", Duration::from_millis(2));
        api.observe("Sign", "UNAUTHENTICATED", Duration::from_micros(50));
        api.ta_operation("Sign", "EC_SIGN_P256_SHA256");
        api.ta_operation("GenerateRandom", "none");
        let tc = |slot, label: &str, objects, capacity| crate::token_stats::TokenCount { slot, label: label.into(), objects, capacity };
        let snap = Snapshot { token_objects: vec![tc(0, "payments", 7, 100), tc(1, "", 0, 0)], ..Default::default() };
        let t = text(&m, &api, &snap);
        assert!(t.contains("# TYPE teehsm_grpc_requests_total counter\n"), "{t}");
        assert!(t.contains("teehsm_grpc_requests_total{code=\"OK\",method=\"GenerateRandom\"} 2\n"), "{t}");
        assert!(t.contains("teehsm_grpc_requests_total{code=\"UNAUTHENTICATED\",method=\"Sign\"} 1\n"), "{t}");
        assert!(t.contains("# TYPE teehsm_grpc_request_duration_seconds histogram\n"), "{t}");
        assert!(t.contains("teehsm_grpc_request_duration_seconds_bucket{method=\"GenerateRandom\",le=\"0.0005\"} 1\n"), "{t}");
        assert!(t.contains("teehsm_grpc_request_duration_seconds_bucket{method=\"GenerateRandom\",le=\"0.0025\"} 2\n"), "{t}");
        assert!(t.contains("teehsm_grpc_request_duration_seconds_count{method=\"GenerateRandom\"} 2\n"), "{t}");
        assert!(t.contains("teehsm_ta_operations_total{algorithm=\"EC_SIGN_P256_SHA256\",method=\"Sign\"} 1\n"), "{t}");
        assert!(t.contains("teehsm_ta_operations_total{algorithm=\"none\",method=\"GenerateRandom\"} 1\n"), "{t}");
        assert!(t.contains("# TYPE teehsm_token_objects gauge\n"), "{t}");
        assert!(t.contains("teehsm_token_objects{slot=\"0\"} 7\n"), "{t}");
        assert!(t.contains("teehsm_token_objects{slot=\"1\"} 0\n"), "{t}");
        assert!(t.contains("teehsm_token_capacity{slot=\"0\"} 100\n"), "{t}");
        assert!(t.contains("teehsm_token_capacity{slot=\"1\"} 0\n"), "{t}");
        assert!(t.contains("teehsm_token_info{label=\"payments\",slot=\"0\"} 1\n"), "{t}");
    }

    /// Metric names (with `prefix`) that the shipped Prometheus rules and
    /// Grafana dashboard (deploy/) use, with histogram suffixes removed.
    fn deploy_metric_names(prefix: &str) -> std::collections::BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let mut names = std::collections::BTreeSet::new();
        for f in ["prometheus/teehsm-alerts.yml", "grafana/teehsm-fleet.json"] {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            for (i, _) in text.match_indices(prefix) {
                let name: String = text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
                names.insert(base.to_string());
            }
        }
        names
    }

    #[test]
    fn deploy_files_use_only_exported_metrics() {
        let api = ApiMetrics::new().unwrap();
        api.observe("Sign", "OK", Duration::from_micros(300));
        api.ta_operation("Sign", "EC_SIGN_P256_SHA256");
        let snap = Snapshot {
            token_objects: vec![crate::token_stats::TokenCount { slot: 0, label: "t".into(), objects: 7, capacity: 10 }],
            ..Default::default()
        };
        let t = text(&Metrics::default(), &api, &snap);
        let used: Vec<String> = ["teehsm_ca_", "teehsm_grpc_", "teehsm_ta_", "teehsm_token_"].iter().flat_map(|p| deploy_metric_names(p)).collect();
        assert!(used.len() >= 5, "{used:?}");
        for name in used {
            assert!(t.contains(&format!("# TYPE {name} ")), "deploy/ uses {name}, which teehsm-ca does not export");
        }
    }
}
