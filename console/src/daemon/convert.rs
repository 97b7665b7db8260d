//! The agent's protobuf report as the alert engine's [`HostReport`].

use crate::alerts::{HostReport, PackageInventory, TaReport, TokenReport};
use teehsm_wire::proto::fleet::v1 as pb;

/// Converts a heartbeat's report. The host id and group come from the
/// console's host record (never from the request); a negative agent
/// timestamp becomes 0; non-finite or negative percentages become 0.
pub fn report_from_proto(host_id: &str, group: &str, r: &pb::HostReport) -> HostReport {
    HostReport {
        host_id: host_id.to_owned(),
        group: group.to_owned(),
        reported_at_ms: u64::try_from(r.reported_at_ms).unwrap_or(0),
        tas: r
            .tas
            .iter()
            .map(|t| TaReport {
                ta_id: t.ta_id.clone(),
                version: t.version.clone(),
                up: t.up,
                restarts_total: t.restarts_total,
                self_test_ok: t.self_test_ok,
                audit_chain_ok: t.audit_chain_ok,
                tokens: t.tokens.iter().map(|k| TokenReport { slot: k.slot, label: k.label.clone(), keys: k.keys, capacity: k.capacity }).collect(),
                platform: t.platform.chars().take(32).collect(),
                measurement: t.measurement.chars().take(128).collect(),
            })
            .collect(),
        ta_cpu_percent: sane(r.ta_cpu_percent),
        ta_memory_bytes: r.ta_memory_bytes,
        ca_cpu_percent: sane(r.ca_cpu_percent),
        ca_memory_bytes: r.ca_memory_bytes,
        memory_limit_bytes: r.memory_limit_bytes,
        packages: r.packages.as_ref().map(|p| PackageInventory {
            active: version_or_empty(&p.active),
            previous: version_or_empty(&p.previous),
            installed: p.installed.iter().take(MAX_REPORTED_VERSIONS).map(|v| version_or_empty(v)).filter(|v| !v.is_empty()).collect(),
        }),
    }
}

/// Most installed versions kept from one report.
const MAX_REPORTED_VERSIONS: usize = 64;

/// A reported package version, or "" when it is not one (the agent only
/// installs valid versions; anything else is not stored).
fn version_or_empty(v: &str) -> String {
    if teehsm_agent::package::validate_version(v).is_ok() {
        v.to_owned()
    } else {
        String::new()
    }
}

fn sane(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_tas_tokens_and_takes_identity_from_the_console() {
        let r = pb::HostReport {
            reported_at_ms: 1234,
            tas: vec![pb::TaReport {
                attestation_report: Vec::new(),
                ta_id: "ta0".into(),
                version: "1.0".into(),
                up: true,
                restarts_total: 3,
                self_test_ok: true,
                audit_chain_ok: false,
                tokens: vec![pb::TokenReport { slot: 1, label: "t".into(), keys: 8, capacity: 10 }],
                platform: "sim".into(),
                measurement: "ab".into(),
            }],
            ta_cpu_percent: f64::NAN,
            ta_memory_bytes: 10,
            ca_cpu_percent: 5.5,
            ca_memory_bytes: 20,
            memory_limit_bytes: 100,
            ops_per_second: 1.0,
            p99_latency_ms: 2.0,
            tees: vec!["sim".into()],
            agent_version: "0.1".into(),
            packages: None,
        };
        let h = report_from_proto("h1", "g", &r);
        assert_eq!(h.host_id, "h1");
        assert_eq!(h.group, "g");
        assert_eq!(h.reported_at_ms, 1234);
        assert_eq!(h.tas.len(), 1);
        assert_eq!(h.tas[0].restarts_total, 3);
        assert!(!h.tas[0].audit_chain_ok);
        assert_eq!(h.tas[0].tokens, vec![TokenReport { slot: 1, label: "t".into(), keys: 8, capacity: 10 }]);
        assert_eq!(h.ta_cpu_percent, 0.0);
        assert_eq!(h.ca_cpu_percent, 5.5);
        assert_eq!(h.memory_limit_bytes, 100);
        let neg = pb::HostReport { reported_at_ms: -5, ..Default::default() };
        assert_eq!(report_from_proto("h", "", &neg).reported_at_ms, 0);
    }
}
