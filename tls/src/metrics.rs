//! The metrics of one TLS listener.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// `<prefix>_certificate_expiry_timestamp_seconds`,
/// `<prefix>_certificate_reloads_total{result="ok|error"}` and
/// `<prefix>_tls_handshake_failures_total` of one listener.
#[derive(Clone, Debug)]
pub struct TlsMetrics {
    /// Unix time at which the leaf certificate in use expires (0 before one is loaded).
    pub expiry: IntGauge,
    /// Loads of changed certificate files, by result.
    pub reloads: IntCounterVec,
    /// Handshakes that failed or timed out.
    pub handshake_failures: IntCounter,
}

impl TlsMetrics {
    /// `listener` names the listener in the help texts ("the gRPC API
    /// listener"), `options` the files' options ("--grpc-tls-cert/--grpc-tls-key").
    pub fn new(prefix: &str, listener: &str, options: &str) -> Result<TlsMetrics, prometheus::Error> {
        let expiry = IntGauge::new(
            format!("{prefix}_certificate_expiry_timestamp_seconds"),
            format!("When the certificate of {listener} expires (Unix time; 0 without TLS)."),
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(format!("{prefix}_certificate_reloads_total"), format!("Loads of a changed {options}, by result (ok, error).")),
            &["result"],
        )?;
        for result in ["ok", "error"] {
            reloads.with_label_values(&[result]).inc_by(0);
        }
        let handshake_failures =
            IntCounter::new(format!("{prefix}_tls_handshake_failures_total"), format!("TLS handshakes on {listener} that failed or timed out."))?;
        Ok(TlsMetrics { expiry, reloads, handshake_failures })
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.expiry.clone()))?;
        registry.register(Box::new(self.reloads.clone()))?;
        registry.register(Box::new(self.handshake_failures.clone()))
    }
}
