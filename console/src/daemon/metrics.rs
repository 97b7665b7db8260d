//! The console's Prometheus metrics.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub hosts: IntGauge,
    pub alerts_firing: IntGaugeVec,
    pub heartbeats: IntCounter,
    pub heartbeat_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let hosts = IntGauge::new("teehsm_console_hosts", "Enrolled hosts.")?;
        let alerts_firing = IntGaugeVec::new(Opts::new("teehsm_console_alerts_firing", "Firing alerts, by severity."), &["severity"])?;
        let heartbeats = IntCounter::new("teehsm_console_heartbeats_total", "Heartbeats accepted.")?;
        let heartbeat_duration = Histogram::with_opts(
            HistogramOpts::new("teehsm_console_heartbeat_duration_seconds", "Time to handle a heartbeat (authentication and storing).")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
        )?;
        registry.register(Box::new(hosts.clone()))?;
        registry.register(Box::new(alerts_firing.clone()))?;
        registry.register(Box::new(heartbeats.clone()))?;
        registry.register(Box::new(heartbeat_duration.clone()))?;
        for s in ["info", "warning", "critical"] {
            alerts_firing.with_label_values(&[s]).set(0);
        }
        Ok(Metrics { registry, hosts, alerts_firing, heartbeats, heartbeat_duration })
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}
