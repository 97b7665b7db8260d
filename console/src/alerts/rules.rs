//! Alert rules: types, TOML loading and validation.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Which hosts/TAs a rule looks at. In TOML: `scope = "all"` (the default),
/// `scope = { group = "eu-west" }`, `scope = { host = "h1" }`,
/// `scope = { ta = "ta-0" }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    All,
    Group(String),
    Host(String),
    /// A TA id: per-TA rules look at that TA only; host-level rules (CPU,
    /// memory, heartbeats) at the hosts whose latest report lists it.
    Ta(String),
}

/// Which process a CPU/memory rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    Ta,
    Ca,
}

impl Process {
    pub fn as_str(self) -> &'static str {
        match self {
            Process::Ta => "TA",
            Process::Ca => "CA",
        }
    }
}

fn one() -> u64 {
    1
}

/// The condition of a rule. In TOML: `kind = { type = "cpu_percent", process = "ta", threshold = 90 }`.
/// (Variants without parameters are empty struct variants so that unknown
/// fields are rejected for them too.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Per token: `keys >= threshold_percent % of capacity` (capacity 0 never fires).
    KeyCountPercent { threshold_percent: f64 },
    /// Per host: the process's CPU use `>= threshold` percent.
    CpuPercent { process: Process, threshold: f64 },
    /// Per host: the process's memory `>= threshold` percent of `memory_limit_bytes`
    /// (limit 0 never fires).
    MemoryPercent { process: Process, threshold: f64 },
    /// Per host: no heartbeat for more than `intervals` heartbeat intervals.
    MissedHeartbeats { intervals: u64 },
    /// Per TA: reported down.
    TaDown {},
    /// Per TA: at least `min_restarts` restarts (increases of `restarts_total`
    /// seen by the console) within the last `restarts_within_ms`.
    TaRestarting {
        restarts_within_ms: u64,
        #[serde(default = "one")]
        min_restarts: u64,
    },
    /// Per TA: self-tests failed.
    SelfTestFailed {},
    /// Per TA: the audit log's hash chain does not verify.
    AuditChainBroken {},
    /// Global: the licence expires within `warn_before_ms` (or has expired).
    LicenceExpiry { warn_before_ms: u64 },
    /// Per host: the agent's client certificate expires within
    /// `warn_before_ms` (or has expired): its agent has not renewed it.
    AgentCertificateExpiry { warn_before_ms: u64 },
    /// Global: more hosts known than the licence allows.
    LicenceHostsExceeded {},
}

impl RuleKind {
    /// Name of the kind, as in the rules file.
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::KeyCountPercent { .. } => "key_count_percent",
            RuleKind::CpuPercent { .. } => "cpu_percent",
            RuleKind::MemoryPercent { .. } => "memory_percent",
            RuleKind::MissedHeartbeats { .. } => "missed_heartbeats",
            RuleKind::TaDown {} => "ta_down",
            RuleKind::TaRestarting { .. } => "ta_restarting",
            RuleKind::SelfTestFailed {} => "self_test_failed",
            RuleKind::AuditChainBroken {} => "audit_chain_broken",
            RuleKind::LicenceExpiry { .. } => "licence_expiry",
            RuleKind::AgentCertificateExpiry { .. } => "agent_certificate_expiry",
            RuleKind::LicenceHostsExceeded {} => "licence_hosts_exceeded",
        }
    }

    fn is_global(&self) -> bool {
        matches!(self, RuleKind::LicenceExpiry { .. } | RuleKind::LicenceHostsExceeded {})
    }
}

/// One alert rule. Its `id` is the alert's `alertname`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default)]
    pub scope: Scope,
    pub kind: RuleKind,
    pub severity: Severity,
    /// The condition must hold this long before the alert fires (default 0).
    #[serde(default)]
    pub for_ms: Option<u64>,
    /// Optional summary replacing the generated one.
    #[serde(default)]
    pub summary: Option<String>,
}

/// Why a rules file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules file: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("a rule has an empty id")]
    EmptyId,
    #[error("rule id {0:?} is used twice")]
    DuplicateId(String),
    #[error("rule {rule:?}: threshold {value} out of range ({range})")]
    Threshold { rule: String, value: f64, range: &'static str },
    #[error("rule {0:?}: intervals must be at least 1")]
    ZeroIntervals(String),
    #[error("rule {0:?}: missed_heartbeats needs heartbeat_interval_ms (> 0) in the rules file")]
    NoHeartbeatInterval(String),
    #[error("rule {0:?}: restarts_within_ms and min_restarts must be at least 1")]
    ZeroRestartWindow(String),
    #[error("rule {0:?}: licence rules are global, scope must be \"all\"")]
    LicenceScope(String),
}

/// A validated set of rules plus the heartbeat interval they refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Interval at which agents heartbeat (needed by `missed_heartbeats`).
    #[serde(default)]
    pub heartbeat_interval_ms: Option<u64>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// Validate rules.
    pub fn new(heartbeat_interval_ms: Option<u64>, rules: Vec<Rule>) -> Result<Self, RulesError> {
        let set = RuleSet { heartbeat_interval_ms, rules };
        set.validate()?;
        Ok(set)
    }

    /// Parse and validate a rules file.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let set: RuleSet = toml::from_str(text)?;
        set.validate()?;
        Ok(set)
    }

    /// No rules at all.
    pub fn empty() -> Self {
        RuleSet { heartbeat_interval_ms: None, rules: Vec::new() }
    }

    /// Longest `restarts_within_ms` of all `ta_restarting` rules (0 if none).
    pub fn max_restart_window_ms(&self) -> u64 {
        self.rules
            .iter()
            .filter_map(|r| match r.kind {
                RuleKind::TaRestarting { restarts_within_ms, .. } => Some(restarts_within_ms),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    fn validate(&self) -> Result<(), RulesError> {
        let mut ids = BTreeSet::new();
        for rule in &self.rules {
            if rule.id.trim().is_empty() {
                return Err(RulesError::EmptyId);
            }
            if !ids.insert(rule.id.as_str()) {
                return Err(RulesError::DuplicateId(rule.id.clone()));
            }
            if rule.kind.is_global() && rule.scope != Scope::All {
                return Err(RulesError::LicenceScope(rule.id.clone()));
            }
            self.validate_kind(rule)?;
        }
        Ok(())
    }

    fn validate_kind(&self, rule: &Rule) -> Result<(), RulesError> {
        let threshold = |value: f64, max: Option<f64>, range: &'static str| {
            let ok = value.is_finite() && value > 0.0 && max.is_none_or(|m| value <= m);
            if ok {
                Ok(())
            } else {
                Err(RulesError::Threshold { rule: rule.id.clone(), value, range })
            }
        };
        match rule.kind {
            RuleKind::KeyCountPercent { threshold_percent } => threshold(threshold_percent, Some(100.0), "0 < threshold_percent <= 100"),
            RuleKind::CpuPercent { threshold: t, .. } | RuleKind::MemoryPercent { threshold: t, .. } => threshold(t, None, "a finite number > 0"),
            RuleKind::MissedHeartbeats { intervals } => {
                if intervals == 0 {
                    return Err(RulesError::ZeroIntervals(rule.id.clone()));
                }
                match self.heartbeat_interval_ms {
                    Some(ms) if ms > 0 => Ok(()),
                    _ => Err(RulesError::NoHeartbeatInterval(rule.id.clone())),
                }
            }
            RuleKind::TaRestarting { restarts_within_ms, min_restarts } => {
                if restarts_within_ms == 0 || min_restarts == 0 {
                    Err(RulesError::ZeroRestartWindow(rule.id.clone()))
                } else {
                    Ok(())
                }
            }
            RuleKind::TaDown {}
            | RuleKind::SelfTestFailed {}
            | RuleKind::AuditChainBroken {}
            | RuleKind::LicenceExpiry { .. }
            | RuleKind::AgentCertificateExpiry { .. }
            | RuleKind::LicenceHostsExceeded {} => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = r#"
heartbeat_interval_ms = 15000

[[rules]]
id = "TokenNearlyFull"
kind = { type = "key_count_percent", threshold_percent = 80 }
severity = "warning"

[[rules]]
id = "TaCpuHigh"
scope = { group = "eu-west" }
kind = { type = "cpu_percent", process = "ta", threshold = 90.5 }
severity = "warning"
for_ms = 300000

[[rules]]
id = "CaMemoryHigh"
kind = { type = "memory_percent", process = "ca", threshold = 85 }
severity = "warning"

[[rules]]
id = "HostSilent"
kind = { type = "missed_heartbeats", intervals = 3 }
severity = "critical"

[[rules]]
id = "TaDown"
scope = { host = "h1" }
kind = { type = "ta_down" }
severity = "critical"

[[rules]]
id = "TaRestarting"
scope = { ta = "ta-0" }
kind = { type = "ta_restarting", restarts_within_ms = 600000 }
severity = "warning"

[[rules]]
id = "SelfTestFailed"
kind = { type = "self_test_failed" }
severity = "critical"

[[rules]]
id = "AuditChainBroken"
kind = { type = "audit_chain_broken" }
severity = "critical"

[[rules]]
id = "LicenceExpiring"
kind = { type = "licence_expiry", warn_before_ms = 2592000000 }
severity = "info"

[[rules]]
id = "LicenceHostsExceeded"
kind = { type = "licence_hosts_exceeded" }
severity = "critical"
summary = "Too many hosts for the licence"
"#;

    #[test]
    fn example_parses() {
        let set = RuleSet::from_toml(EXAMPLE).expect("parses");
        assert_eq!(set.heartbeat_interval_ms, Some(15_000));
        assert_eq!(set.rules.len(), 10);
        assert_eq!(set.rules[0].kind, RuleKind::KeyCountPercent { threshold_percent: 80.0 });
        assert_eq!(set.rules[0].scope, Scope::All);
        assert_eq!(set.rules[1].scope, Scope::Group("eu-west".into()));
        assert_eq!(set.rules[1].for_ms, Some(300_000));
        assert_eq!(set.rules[1].kind, RuleKind::CpuPercent { process: Process::Ta, threshold: 90.5 });
        assert_eq!(set.rules[4].scope, Scope::Host("h1".into()));
        assert_eq!(set.rules[5].kind, RuleKind::TaRestarting { restarts_within_ms: 600_000, min_restarts: 1 });
        assert_eq!(set.rules[8].severity, Severity::Info);
        assert_eq!(set.max_restart_window_ms(), 600_000);
        // Round trip through serde.
        let again: RuleSet = toml::from_str(&toml::to_string(&set).expect("ser")).expect("de");
        assert_eq!(again, set);
    }

    fn err(text: &str) -> RulesError {
        match RuleSet::from_toml(text) {
            Ok(set) => panic!("accepted: {set:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn rejects_bad_files() {
        let r = |kind: &str| format!("heartbeat_interval_ms = 1000\n[[rules]]\nid = \"r\"\nseverity = \"info\"\nkind = {kind}\n");
        assert!(matches!(err(&r("{ type = \"key_count_percent\", threshold_percent = 0 }")), RulesError::Threshold { .. }));
        assert!(matches!(err(&r("{ type = \"key_count_percent\", threshold_percent = 101 }")), RulesError::Threshold { .. }));
        assert!(matches!(err(&r("{ type = \"cpu_percent\", process = \"ta\", threshold = -1 }")), RulesError::Threshold { .. }));
        assert!(matches!(err(&r("{ type = \"missed_heartbeats\", intervals = 0 }")), RulesError::ZeroIntervals(_)));
        assert!(matches!(err(&r("{ type = \"ta_restarting\", restarts_within_ms = 0 }")), RulesError::ZeroRestartWindow(_)));
        // Unknown kind, unknown field in a kind, unknown field in a rule, typo in severity.
        assert!(matches!(err(&r("{ type = \"disk_full\" }")), RulesError::Toml(_)));
        assert!(matches!(err(&r("{ type = \"ta_down\", threshold = 3 }")), RulesError::Toml(_)));
        assert!(matches!(err(&r("{ type = \"key_count_percent\", threshold = 3 }")), RulesError::Toml(_)));
        assert!(matches!(err(&r("{ type = \"key_count_percent\", threshold_percent = 3, x = 1 }")), RulesError::Toml(_)));
        assert!(matches!(err(&format!("{}for = 3\n", r("{ type = \"ta_down\" }"))), RulesError::Toml(_)));
        assert!(matches!(err("[[rules]]\nid = \"r\"\nseverity = \"bad\"\nkind = { type = \"ta_down\" }\n"), RulesError::Toml(_)));
        // Missing heartbeat interval.
        assert!(matches!(
            err("[[rules]]\nid = \"r\"\nseverity = \"info\"\nkind = { type = \"missed_heartbeats\", intervals = 2 }\n"),
            RulesError::NoHeartbeatInterval(_)
        ));
        // Licence rules are global.
        assert!(matches!(
            err("[[rules]]\nid = \"r\"\nseverity = \"info\"\nscope = { host = \"h\" }\nkind = { type = \"licence_hosts_exceeded\" }\n"),
            RulesError::LicenceScope(_)
        ));
        // Duplicate and empty ids.
        let dup = format!("{}{}", r("{ type = \"ta_down\" }"), "[[rules]]\nid = \"r\"\nseverity = \"info\"\nkind = { type = \"ta_down\" }\n");
        assert!(matches!(err(&dup), RulesError::DuplicateId(_)));
        assert!(matches!(err("[[rules]]\nid = \" \"\nseverity = \"info\"\nkind = { type = \"ta_down\" }\n"), RulesError::EmptyId));
        // Empty file: no rules.
        assert_eq!(RuleSet::from_toml("").expect("empty"), RuleSet::empty());
    }
}
