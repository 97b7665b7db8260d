//! Counters kept by the relay and the supervisor, and their Prometheus text
//! exposition (format 0.0.4), hand-written: a handful of samples needs no library.

use std::fmt::Write;
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

fn sample(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The exposition text for all metrics.
pub fn render(m: &Metrics, ta: TaGauges) -> String {
    let mut out = String::with_capacity(2048);
    sample(&mut out, "teehsm_ca_ta_up", "gauge", "1 if the TA is running and serving clients, else 0.", ta.up as u8);
    sample(
        &mut out,
        "teehsm_ca_ta_security_failure",
        "gauge",
        "1 if the TA's last exit was a security failure (self-test, store rollback or corruption) and it is not running.",
        ta.security_failure as u8,
    );
    sample(&mut out, "teehsm_ca_ta_restarts_total", "counter", "TA processes started after the first one.", get(&m.ta_restarts));
    sample(
        &mut out,
        "teehsm_ca_ta_last_exit_code",
        "gauge",
        "Exit code of the last TA exit (128+signal if killed by a signal; -1 if the TA has not exited).",
        ta.last_exit_code.unwrap_or(-1),
    );
    sample(&mut out, "teehsm_ca_client_connections_total", "counter", "Client connections accepted.", get(&m.client_connections));
    sample(&mut out, "teehsm_ca_client_connections_active", "gauge", "Client connections open now.", get(&m.client_active));
    sample(
        &mut out,
        "teehsm_ca_client_refusals_total",
        "counter",
        "Client connections refused because the TA was not available.",
        get(&m.client_refusals),
    );
    sample(
        &mut out,
        "teehsm_ca_client_handoffs_total",
        "counter",
        "Client connections handed to the TA (client_transport = handoff); their requests bypass the CA.",
        get(&m.client_handoffs),
    );
    sample(
        &mut out,
        "teehsm_ca_relayed_requests_total",
        "counter",
        "Requests relayed to the TA and answered.",
        get(&m.relayed_requests),
    );
    sample(
        &mut out,
        "teehsm_ca_relay_errors_total",
        "counter",
        "Relayed connections ended by an error (oversized or torn frame, TA lost mid-request).",
        get(&m.relay_errors),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_help_type_and_values() {
        let m = Metrics::default();
        inc(&m.ta_restarts);
        {
            let _a = ActiveClient::new(&m);
            let _b = ActiveClient::new(&m);
            let t = render(&m, TaGauges { up: true, ..Default::default() });
            assert!(t.contains("\nteehsm_ca_client_connections_active 2\n"), "{t}");
        }
        let t = render(&m, TaGauges { up: false, security_failure: true, last_exit_code: Some(4) });
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
        assert!(t.contains("# TYPE teehsm_ca_ta_restarts_total counter\nteehsm_ca_ta_restarts_total 1\n"));
        assert!(t.contains("\nteehsm_ca_ta_up 0\n"));
        assert!(t.contains("\nteehsm_ca_ta_security_failure 1\n"));
        assert!(t.contains("\nteehsm_ca_ta_last_exit_code 4\n"));
        assert!(t.contains("\nteehsm_ca_client_connections_total 2\n"));
        assert!(t.contains("\nteehsm_ca_client_connections_active 0\n"));
        assert!(t.ends_with('\n'));
        let fresh = render(&Metrics::default(), TaGauges::default());
        assert!(fresh.contains("\nteehsm_ca_ta_last_exit_code -1\n"));
    }
}
