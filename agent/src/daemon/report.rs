//! Turning what the agent observed into a heartbeat [`HostReport`].

use crate::ca_health::{CaHealth, HealthStatus};
use crate::procstat::{CpuSampler, ProcFs};
use crate::scrape::{rates, CaMetrics, Rates};
use crate::tee_detect::{Detection, TeeKind};
use std::time::Instant;
use teehsm_wire::proto::fleet::v1::{HostReport, TaReport, TokenReport};

/// CPU and memory of one process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcUse {
    /// Percent of one core since the previous sample (None on the first sample).
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
}

/// Everything observed in one round. `None` means "could not be read".
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub health: Option<CaHealth>,
    pub metrics: Option<CaMetrics>,
    /// Rates between the previous and this scrape.
    pub rates: Option<Rates>,
    pub ta: Option<ProcUse>,
    pub ca: Option<ProcUse>,
    pub mem_total_bytes: Option<u64>,
    pub tees: Vec<String>,
    /// The TA package version running (or active), if known.
    pub ta_version: Option<String>,
    /// The TA as its attestation report and GetTaInfo describe it, if fetched.
    pub identity: Option<crate::attestation::TaIdentity>,
}

/// Fixed settings of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSettings {
    pub ta_id: String,
    /// Capacity of every token (objects) from `--token-capacity`, overriding
    /// the TA's `max_token_objects`.
    pub token_capacity: Option<u64>,
    pub agent_version: String,
}

/// Builds the heartbeat report. The TA is `up` only when `/healthz` answered
/// with status ok; when the CA cannot be reached the TA is reported down with
/// no tokens.
pub fn build_report(o: &Observation, s: &ReportSettings, now_ms: i64) -> HostReport {
    let up = matches!(o.health.as_ref().map(|h| &h.status), Some(HealthStatus::Ok));
    let security_failure = o.health.as_ref().is_some_and(|h| h.security_failure);
    let tokens = o
        .metrics
        .as_ref()
        .map(|m| {
            let overrides: std::collections::BTreeMap<u64, u64> =
                s.token_capacity.map(|c| m.token_objects.keys().map(|&slot| (slot, c)).collect()).unwrap_or_default();
            crate::scrape::token_usage(m, &overrides)
                .into_iter()
                .map(|u| TokenReport {
                    slot: u.slot,
                    label: if u.label.is_empty() { format!("slot-{}", u.slot) } else { u.label },
                    keys: u.objects,
                    capacity: u.capacity.unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    let ta = TaReport {
        ta_id: s.ta_id.clone(),
        // The package version (--package-root) names what the console rolls
        // out; without packages, the version the TA reports about itself.
        version: o.ta_version.clone().or_else(|| o.identity.as_ref().map(|i| i.version.clone()).filter(|v| !v.is_empty())).unwrap_or_default(),
        up,
        restarts_total: o.health.as_ref().map_or(0, |h| h.ta_restarts),
        // The CA only reports READY after the TA's power-on self test and store/audit
        // verification passed; a security failure (e.g. rollback) clears both.
        self_test_ok: up && !security_failure,
        audit_chain_ok: up && !security_failure,
        tokens,
        platform: o.identity.as_ref().map(|i| i.platform.clone()).unwrap_or_default(),
        measurement: o.identity.as_ref().map(|i| i.measurement.clone()).unwrap_or_default(),
        // Attached by the daemon when the console asks for a fresh one.
        attestation_report: Vec::new(),
    };
    let r = o.rates.as_ref();
    HostReport {
        reported_at_ms: now_ms,
        tas: vec![ta],
        ta_cpu_percent: o.ta.and_then(|p| p.cpu_percent).unwrap_or(0.0),
        ta_memory_bytes: o.ta.and_then(|p| p.rss_bytes).unwrap_or(0),
        ca_cpu_percent: o.ca.and_then(|p| p.cpu_percent).unwrap_or(0.0),
        ca_memory_bytes: o.ca.and_then(|p| p.rss_bytes).unwrap_or(0),
        memory_limit_bytes: o.mem_total_bytes.unwrap_or(0),
        ops_per_second: r.map_or(0.0, |r| r.overall.ops_per_sec),
        p99_latency_ms: r.and_then(|r| r.overall.p99_seconds).map_or(0.0, |s| s * 1000.0),
        tees: o.tees.clone(),
        agent_version: s.agent_version.clone(),
        // Filled in by the daemon when it manages packages (--package-root).
        packages: None,
    }
}

/// The package version of a TA executable the CA reports (`ta_binary`):
/// `<root>/versions/<version>/teehsm-ta` with `root` the canonical package root.
pub fn version_of_binary(binary: &str, root: &std::path::Path) -> Option<String> {
    let rest = std::path::Path::new(binary).strip_prefix(root.join("versions")).ok()?;
    let mut parts = rest.components();
    let (Some(v), Some(file), None) = (parts.next(), parts.next(), parts.next()) else { return None };
    if file.as_os_str() != crate::package::TA_BINARY {
        return None;
    }
    let v = v.as_os_str().to_str()?;
    crate::package::validate_version(v).ok().map(|()| v.to_owned())
}

/// The protocol's name of a TEE kind ("sgx", "sev-snp", ...).
pub fn tee_name(kind: TeeKind) -> &'static str {
    match kind {
        TeeKind::SgxHost => "sgx",
        TeeKind::GramineSgx => "gramine-sgx",
        TeeKind::SevSnpGuest => "sev-snp",
        TeeKind::TdxGuest => "tdx",
        TeeKind::OpTee => "optee",
    }
}

/// The TEEs to report: the usable ones from `detection`, plus "sim" (the
/// simulated TA runs everywhere).
pub fn tee_names(detection: &Detection) -> Vec<String> {
    let mut out = vec!["sim".to_string()];
    out.extend(detection.usable().map(|f| tee_name(f.kind).to_string()));
    out
}

/// State kept between rounds: the previous scrape and the CPU samplers.
#[derive(Debug)]
pub struct Tracker {
    procfs: ProcFs,
    prev_scrape: Option<(CaMetrics, Instant)>,
    ta_cpu: CpuSampler,
    ca_cpu: CpuSampler,
}

impl Tracker {
    pub fn new(procfs: ProcFs) -> Self {
        Tracker { procfs, prev_scrape: None, ta_cpu: CpuSampler::new(), ca_cpu: CpuSampler::new() }
    }

    /// Rates since the previous scrape (None on the first one or after a failed scrape).
    pub fn scrape(&mut self, cur: Option<&CaMetrics>, at: Instant) -> Option<Rates> {
        let Some(cur) = cur else {
            self.prev_scrape = None;
            return None;
        };
        let out = self.prev_scrape.as_ref().and_then(|(prev, t)| {
            let secs = at.saturating_duration_since(*t).as_secs_f64();
            rates(prev, cur, secs).ok()
        });
        self.prev_scrape = Some((cur.clone(), at));
        out
    }

    /// CPU and memory of the TA.
    pub fn ta(&mut self, pid: Option<u32>) -> Option<ProcUse> {
        sample(&self.procfs, &mut self.ta_cpu, pid)
    }

    /// CPU and memory of the CA.
    pub fn ca(&mut self, pid: Option<u32>) -> Option<ProcUse> {
        sample(&self.procfs, &mut self.ca_cpu, pid)
    }

    /// The machine's memory (MemTotal).
    pub fn mem_total(&self) -> Option<u64> {
        self.procfs.mem_total().ok()
    }
}

fn sample(procfs: &ProcFs, sampler: &mut CpuSampler, pid: Option<u32>) -> Option<ProcUse> {
    let Some(pid) = pid else {
        sampler.reset();
        return None;
    };
    match procfs.sample(pid) {
        Ok(s) => {
            let rss_bytes = s.rss_bytes;
            let cpu_percent = sampler.update(s).map(|u| u.percent_of_core);
            Some(ProcUse { cpu_percent, rss_bytes })
        }
        Err(e) => {
            tracing::debug!(pid, error = %e, "cannot sample process");
            sampler.reset();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca_health::parse_healthz;

    fn settings() -> ReportSettings {
        ReportSettings { ta_id: "ta-1".into(), token_capacity: Some(100), agent_version: "0.1.0".into() }
    }

    const METRICS_1: &str = "# TYPE teehsm_token_objects gauge\n\
teehsm_token_objects{slot=\"0\"} 3\n\
teehsm_token_objects{slot=\"2\"} 7\n\
# TYPE teehsm_grpc_requests_total counter\n\
teehsm_grpc_requests_total{method=\"Sign\",code=\"OK\"} 10\n";
    const METRICS_2: &str = "# TYPE teehsm_token_objects gauge\n\
teehsm_token_objects{slot=\"0\"} 4\n\
teehsm_token_objects{slot=\"2\"} 7\n\
# TYPE teehsm_grpc_requests_total counter\n\
teehsm_grpc_requests_total{method=\"Sign\",code=\"OK\"} 30\n";

    #[test]
    fn healthy_ca_gives_up_ta_with_tokens_and_rates() {
        let mut t = Tracker::new(ProcFs::new("/nonexistent-proc"));
        let t0 = Instant::now();
        let m1 = CaMetrics::parse(METRICS_1).unwrap();
        assert!(t.scrape(Some(&m1), t0).is_none());
        let m2 = CaMetrics::parse(METRICS_2).unwrap();
        let rates = t.scrape(Some(&m2), t0 + std::time::Duration::from_secs(2)).unwrap();
        let o = Observation {
            health: Some(parse_healthz(r#"{"status":"ok","ta":"running","ta_restarts":2,"ta_pid":4242}"#).unwrap()),
            metrics: Some(m2),
            rates: Some(rates),
            ta: Some(ProcUse { cpu_percent: Some(12.5), rss_bytes: Some(1 << 20) }),
            ca: Some(ProcUse { cpu_percent: None, rss_bytes: Some(2 << 20) }),
            mem_total_bytes: Some(8 << 30),
            tees: vec!["sim".into()],
            ta_version: Some("1.0.0".into()),
            identity: Some(crate::attestation::TaIdentity {
                version: "0.9.0".into(),
                platform: "sim".into(),
                simulation: true,
                measurement: "ab".repeat(32),
                signer: "cd".repeat(32),
                security_version: 1,
                channel_key_sha256: "ef".repeat(32),
            }),
        };
        let r = build_report(&o, &settings(), 1234);
        assert_eq!(r.reported_at_ms, 1234);
        assert_eq!(r.tas.len(), 1);
        let ta = &r.tas[0];
        assert!(ta.up && ta.self_test_ok && ta.audit_chain_ok);
        assert_eq!((ta.ta_id.as_str(), ta.restarts_total), ("ta-1", 2));
        assert_eq!(
            ta.tokens,
            vec![
                TokenReport { slot: 0, label: "slot-0".into(), keys: 4, capacity: 100 },
                TokenReport { slot: 2, label: "slot-2".into(), keys: 7, capacity: 100 },
            ]
        );
        assert!((r.ops_per_second - 10.0).abs() < 1e-9);
        assert_eq!((r.ta_cpu_percent, r.ta_memory_bytes), (12.5, 1 << 20));
        assert_eq!((r.ca_cpu_percent, r.ca_memory_bytes), (0.0, 2 << 20));
        assert_eq!(r.memory_limit_bytes, 8 << 30);
        assert_eq!(r.tees, vec!["sim".to_string()]);
        assert_eq!(r.agent_version, "0.1.0");
        assert_eq!(r.tas[0].version, "1.0.0", "the package version wins over the TA's own");
        assert_eq!((r.tas[0].platform.as_str(), r.tas[0].measurement.as_str()), ("sim", "ab".repeat(32).as_str()));
        // Without packages: the version the TA reports about itself.
        let o = Observation { ta_version: None, ..o };
        assert_eq!(build_report(&o, &settings(), 1).tas[0].version, "0.9.0");
    }

    #[test]
    fn unreachable_ca_reports_ta_down() {
        let r = build_report(&Observation::default(), &settings(), 1);
        assert_eq!(r.tas.len(), 1);
        assert!(!r.tas[0].up && !r.tas[0].self_test_ok);
        assert!(r.tas[0].tokens.is_empty());
        assert_eq!((r.ops_per_second, r.p99_latency_ms), (0.0, 0.0));
    }

    #[test]
    fn failed_ta_with_security_failure_is_down() {
        let h = parse_healthz(
            r#"{"status":"unavailable","ta":"failed","reason":"store rollback detected","security_failure":true,"ta_restarts":7,"ta_pid":null}"#,
        )
        .unwrap();
        let o = Observation { health: Some(h), ..Observation::default() };
        let r = build_report(&o, &settings(), 1);
        assert!(!r.tas[0].up && !r.tas[0].audit_chain_ok);
        assert_eq!(r.tas[0].restarts_total, 7);
    }

    #[test]
    fn failed_scrape_restarts_rates_and_missing_process_resets() {
        let mut t = Tracker::new(ProcFs::new("/nonexistent-proc"));
        let t0 = Instant::now();
        let m1 = CaMetrics::parse(METRICS_1).unwrap();
        t.scrape(Some(&m1), t0);
        assert!(t.scrape(None, t0).is_none());
        assert!(t.scrape(Some(&m1), t0).is_none());
        assert!(t.ta(Some(4242)).is_none());
        assert!(t.ca(None).is_none());
        assert!(t.mem_total().is_none());
    }

    #[test]
    fn versions_from_binaries() {
        let root = std::path::Path::new("/p");
        assert_eq!(version_of_binary("/p/versions/2.0.0/teehsm-ta", root).as_deref(), Some("2.0.0"));
        assert_eq!(version_of_binary("/p/versions/2.0.0/other", root), None);
        assert_eq!(version_of_binary("/q/versions/2.0.0/teehsm-ta", root), None);
        assert_eq!(version_of_binary("/p/versions/2.0.0/x/teehsm-ta", root), None);
        assert_eq!(version_of_binary("/usr/bin/teehsm-ta", root), None);
    }

    #[test]
    fn tee_names_always_include_sim() {
        let d = Detection { tees: vec![], virtualized: false, cpuinfo_read: true };
        assert_eq!(tee_names(&d), vec!["sim".to_string()]);
    }
}
