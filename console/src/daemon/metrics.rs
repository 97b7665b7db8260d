//! The console's Prometheus metrics.

use crate::alerts::{HostReport, HostSeen};
use prometheus::{GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    pub hosts: IntGauge,
    pub alerts_firing: IntGaugeVec,
    pub heartbeats: IntCounter,
    pub heartbeat_duration: Histogram,
    /// Rows the housekeeping deleted, by table (daemon::maintenance).
    pub pruned_rows: IntCounterVec,
    pub fleet: FleetGauges,
    /// The audit log's chain verified (1) or broken (0), and its last number.
    pub audit_chain_ok: IntGauge,
    pub audit_entries: IntGauge,
    /// Console users by role and whether they have a second factor (read at scrape).
    pub users: IntGaugeVec,
    /// Agent certificates issued by RenewCertificate.
    pub agent_certificates_issued: IntCounter,
    /// The HTTPS listener: certificate expiry, reloads of
    /// --http-tls-cert/--http-tls-key, failed handshakes.
    pub https: teehsm_tls::TlsMetrics,
    /// The agents' gRPC listener: certificate expiry, reloads of
    /// --grpc-tls-cert/--grpc-tls-key, failed handshakes.
    pub grpc_tls: teehsm_tls::TlsMetrics,
}

/// Per-host gauges from the hosts' latest reports, refreshed by every
/// alert evaluation (docs/fleet-console.md, "Metrics"): what the shipped
/// Prometheus rules (deploy/prometheus/) and Grafana dashboard
/// (deploy/grafana/) read. About 6 series per host plus 2 per token.
#[derive(Clone, Debug)]
pub struct FleetGauges {
    last_heartbeat: GaugeVec,
    ta_up: IntGaugeVec,
    ta_self_test_ok: IntGaugeVec,
    token_keys: IntGaugeVec,
    token_capacity: IntGaugeVec,
    cpu: GaugeVec,
    memory: IntGaugeVec,
    memory_limit: IntGaugeVec,
    cert_expiry: GaugeVec,
}

impl FleetGauges {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let g = |name: &str, help: &str, labels: &[&str]| -> Result<GaugeVec, prometheus::Error> {
            let v = GaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(v.clone()))?;
            Ok(v)
        };
        let i = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let v = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(v.clone()))?;
            Ok(v)
        };
        Ok(FleetGauges {
            last_heartbeat: g(
                "teehsm_console_host_last_heartbeat_timestamp_seconds",
                "When the console last accepted a heartbeat from the host (Unix time).",
                &["host", "group"],
            )?,
            ta_up: i("teehsm_console_ta_up", "1 if the host's agent reports its TA up and serving.", &["host", "group", "ta", "version"])?,
            ta_self_test_ok: i("teehsm_console_ta_self_test_ok", "1 if the TA's known-answer self-tests passed.", &["host", "group", "ta"])?,
            token_keys: i("teehsm_console_token_keys", "Key objects held by a token of a host's TA.", &["host", "group", "ta", "slot"])?,
            token_capacity: i("teehsm_console_token_capacity", "Key objects the token can hold (0: unknown).", &["host", "group", "ta", "slot"])?,
            cpu: g(
                "teehsm_console_process_cpu_ratio",
                "CPU use of the host's TA or CA process, in cores (1.0 = one core busy).",
                &["host", "group", "process"],
            )?,
            memory: i(
                "teehsm_console_process_resident_memory_bytes",
                "Resident memory of the host's TA or CA process.",
                &["host", "group", "process"],
            )?,
            memory_limit: i("teehsm_console_host_memory_limit_bytes", "Memory the host's percentages refer to (0: unknown).", &["host", "group"])?,
            cert_expiry: g(
                "teehsm_console_agent_certificate_expiry_timestamp_seconds",
                "When the client certificate of the host's agent expires (Unix time; agents renew it 30 days before).",
                &["host", "group"],
            )?,
        })
    }

    /// Replaces the certificate expiry series with those of the active
    /// `hosts` whose certificate's end is known.
    pub fn refresh_certificates(&self, hosts: &[crate::store::Host]) {
        self.cert_expiry.reset();
        for h in hosts.iter().filter(|h| h.status == crate::store::HostStatus::Active) {
            if let Some(ms) = h.cert_not_after_ms {
                self.cert_expiry.with_label_values(&[h.id.as_str(), h.group.as_str()]).set(ms as f64 / 1000.0);
            }
        }
    }

    /// Replaces every series with the given reports and heartbeat times.
    pub fn refresh(&self, reports: &[HostReport], seen: &[HostSeen]) {
        for v in [&self.last_heartbeat, &self.cpu] {
            v.reset();
        }
        for v in [&self.ta_up, &self.ta_self_test_ok, &self.token_keys, &self.token_capacity, &self.memory, &self.memory_limit] {
            v.reset();
        }
        for s in seen {
            self.last_heartbeat.with_label_values(&[s.host_id.as_str(), s.group.as_str()]).set(s.last_seen_ms as f64 / 1000.0);
        }
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for r in reports {
            let (host, group) = (r.host_id.as_str(), r.group.as_str());
            for ta in &r.tas {
                let id = ta.ta_id.as_str();
                self.ta_up.with_label_values(&[host, group, id, ta.version.as_str()]).set(i64::from(ta.up));
                self.ta_self_test_ok.with_label_values(&[host, group, id]).set(i64::from(ta.self_test_ok));
                for t in &ta.tokens {
                    let slot = t.slot.to_string();
                    self.token_keys.with_label_values(&[host, group, id, slot.as_str()]).set(clamp(t.keys));
                    self.token_capacity.with_label_values(&[host, group, id, slot.as_str()]).set(clamp(t.capacity));
                }
            }
            for (process, cpu, mem) in [("ta", r.ta_cpu_percent, r.ta_memory_bytes), ("ca", r.ca_cpu_percent, r.ca_memory_bytes)] {
                self.cpu.with_label_values(&[host, group, process]).set(cpu / 100.0);
                self.memory.with_label_values(&[host, group, process]).set(clamp(mem));
            }
            self.memory_limit.with_label_values(&[host, group]).set(clamp(r.memory_limit_bytes));
        }
    }
}

impl Metrics {
    /// Sets `teehsm_console_users` from the store's counts (every role and
    /// state present, zero where there is no such user).
    pub fn refresh_users(&self, counts: &[(crate::store::Role, bool, u64)]) {
        use crate::store::Role;
        for role in [Role::Admin, Role::Operator, Role::Auditor] {
            for (factor, label) in [(true, "on"), (false, "off")] {
                let n = counts.iter().find(|(r, f, _)| *r == role && *f == factor).map(|c| c.2).unwrap_or(0);
                self.users.with_label_values(&[role.as_str(), label]).set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }

    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let hosts = IntGauge::new("teehsm_console_hosts", "Enrolled hosts that are active (not revoked or disabled).")?;
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
        let pruned_rows = IntCounterVec::new(
            Opts::new(
                "teehsm_console_pruned_rows_total",
                "Rows the hourly housekeeping deleted (old host samples, expired enrollment tokens, finished jobs and rollouts), by table.",
            ),
            &["table"],
        )?;
        registry.register(Box::new(pruned_rows.clone()))?;
        for t in ["host_samples", "enrollment_tokens", "jobs", "rollouts"] {
            pruned_rows.with_label_values(&[t]).inc_by(0);
        }
        let https = teehsm_tls::TlsMetrics::new("teehsm_console_http", "the HTTPS listener", "--http-tls-cert/--http-tls-key")?;
        let grpc_tls = teehsm_tls::TlsMetrics::new("teehsm_console_grpc", "the agents' gRPC listener", "--grpc-tls-cert/--grpc-tls-key")?;
        let agent_certificates_issued =
            IntCounter::new("teehsm_console_agent_certificate_renewals_total", "Agent client certificates issued by a renewal (RenewCertificate).")?;
        registry.register(Box::new(agent_certificates_issued.clone()))?;
        let audit_chain_ok = IntGauge::new(
            "teehsm_console_audit_chain_ok",
            "1 if the audit log's MAC chain verified at the last check (hourly, and on GET /api/audit/verify), 0 if broken.",
        )?;
        let audit_entries = IntGauge::new("teehsm_console_audit_entries", "Number of the last audit log entry at the last check.")?;
        audit_chain_ok.set(1);
        registry.register(Box::new(audit_chain_ok.clone()))?;
        registry.register(Box::new(audit_entries.clone()))?;
        https.register(&registry)?;
        grpc_tls.register(&registry)?;
        let users = IntGaugeVec::new(
            Opts::new("teehsm_console_users", "Console users by role and whether they have a TOTP second factor (second_factor: on, off)."),
            &["role", "second_factor"],
        )?;
        registry.register(Box::new(users.clone()))?;
        // Every (role, second_factor) series exists from the start, at 0.
        for role in ["admin", "operator", "auditor"] {
            for factor in ["on", "off"] {
                users.with_label_values(&[role, factor]).set(0);
            }
        }
        let fleet = FleetGauges::new(&registry)?;
        for s in ["info", "warning", "critical"] {
            alerts_firing.with_label_values(&[s]).set(0);
        }
        Ok(Metrics {
            registry,
            hosts,
            alerts_firing,
            heartbeats,
            heartbeat_duration,
            pruned_rows,
            fleet,
            audit_chain_ok,
            audit_entries,
            users,
            agent_certificates_issued,
            https,
            grpc_tls,
        })
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{TaReport, TokenReport};

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

    fn report() -> HostReport {
        HostReport {
            host_id: "host-1".into(),
            group: "e2e".into(),
            reported_at_ms: 1,
            tas: vec![TaReport {
                platform: String::new(),
                measurement: String::new(),
                ta_id: "ta0".into(),
                version: "1.0.0".into(),
                up: true,
                restarts_total: 0,
                self_test_ok: true,
                audit_chain_ok: true,
                tokens: vec![TokenReport { slot: 0, label: "dev-token".into(), keys: 8, capacity: 10 }],
            }],
            ta_cpu_percent: 50.0,
            ta_memory_bytes: 1 << 20,
            ca_cpu_percent: 5.0,
            ca_memory_bytes: 2 << 20,
            memory_limit_bytes: 1 << 30,
            packages: None,
        }
    }

    #[test]
    fn fleet_gauges_follow_the_latest_reports() {
        let m = Metrics::new().unwrap();
        let seen = vec![HostSeen { host_id: "host-1".into(), group: "e2e".into(), last_seen_ms: 1_500, cert_not_after_ms: None }];
        m.fleet.refresh(&[report()], &seen);
        let t = m.render();
        for line in [
            "teehsm_console_token_keys{group=\"e2e\",host=\"host-1\",slot=\"0\",ta=\"ta0\"} 8\n",
            "teehsm_console_token_capacity{group=\"e2e\",host=\"host-1\",slot=\"0\",ta=\"ta0\"} 10\n",
            "teehsm_console_ta_up{group=\"e2e\",host=\"host-1\",ta=\"ta0\",version=\"1.0.0\"} 1\n",
            "teehsm_console_process_cpu_ratio{group=\"e2e\",host=\"host-1\",process=\"ta\"} 0.5\n",
            "teehsm_console_process_resident_memory_bytes{group=\"e2e\",host=\"host-1\",process=\"ca\"} 2097152\n",
            "teehsm_console_host_last_heartbeat_timestamp_seconds{group=\"e2e\",host=\"host-1\"} 1.5\n",
        ] {
            assert!(t.contains(line), "missing {line:?} in\n{t}");
        }
        // A host that is gone from the reports is gone from the metrics.
        m.fleet.refresh(&[], &[]);
        assert!(!m.render().contains("host-1"));
    }

    #[test]
    fn deploy_files_use_only_exported_metrics() {
        let m = Metrics::new().unwrap();
        m.fleet.refresh(&[report()], &[HostSeen { host_id: "host-1".into(), group: "e2e".into(), last_seen_ms: 1, cert_not_after_ms: None }]);
        let host = crate::store::Host {
            id: "host-1".into(),
            name: "host-1".into(),
            group: "e2e".into(),
            enrolled_at_ms: 1,
            last_seen_ms: Some(1),
            cert_fingerprint: "f".into(),
            status: crate::store::HostStatus::Active,
            cert_not_after_ms: Some(7_776_000_000),
            pending_cert_fingerprint: None,
            renew_requested: false,
        };
        m.fleet.refresh_certificates(&[host.clone(), crate::store::Host { id: "gone".into(), status: crate::store::HostStatus::Revoked, ..host }]);
        assert!(m.render().contains("teehsm_console_agent_certificate_expiry_timestamp_seconds{group=\"e2e\",host=\"host-1\"} 7776000\n"));
        assert!(!m.render().contains("host=\"gone\""), "revoked hosts have no certificate series");
        m.heartbeat_duration.observe(0.001);
        let t = m.render();
        let used = deploy_metric_names("teehsm_console_");
        assert!(used.len() >= 8, "{used:?}");
        for name in used {
            assert!(t.contains(&format!("# TYPE {name} ")), "deploy/ uses {name}, which the console does not export");
        }
    }
}
