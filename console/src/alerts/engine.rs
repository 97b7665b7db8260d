//! The alert engine: evaluates rules against the latest reports and turns
//! holding conditions into alerts, deduplicated by fingerprint, delayed by
//! `for_ms`, resolved when the condition clears.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::alert::{Alert, AlertChange};
use super::conditions::{self, Condition, Inputs};
use super::fingerprint::fingerprint;
use super::report::{HostReport, HostSeen, Licence};
use super::restarts::RestartTracker;
use super::rules::{Rule, RuleSet};

/// A condition that holds but has not held for `for_ms` yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub since_ms: u64,
}

/// Everything the engine remembers between evaluations. The daemon may
/// persist it as JSON and hand it back with [`AlertEngine::with_state`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EngineState {
    /// By fingerprint.
    #[serde(default)]
    pub pending: BTreeMap<String, Pending>,
    /// Firing alerts by fingerprint.
    #[serde(default)]
    pub firing: BTreeMap<String, Alert>,
    #[serde(default)]
    pub restarts: RestartTracker,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct AlertEngine {
    rules: RuleSet,
    state: EngineState,
}

impl AlertEngine {
    pub fn new(rules: RuleSet) -> Self {
        AlertEngine { rules, state: EngineState::default() }
    }

    /// Resume from a persisted state.
    pub fn with_state(rules: RuleSet, state: EngineState) -> Self {
        AlertEngine { rules, state }
    }

    /// Rebuild from the firing alerts of the store (resolved ones are
    /// ignored). Pending `for_ms` timers and restart history start afresh.
    pub fn from_firing(rules: RuleSet, alerts: impl IntoIterator<Item = Alert>) -> Self {
        let firing = alerts.into_iter().filter(Alert::is_firing).map(|a| (a.fingerprint.clone(), a)).collect();
        AlertEngine { rules, state: EngineState { firing, ..EngineState::default() } }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Replace the rules (reload). Alerts of removed rules resolve at the
    /// next evaluation.
    pub fn set_rules(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    pub fn state(&self) -> &EngineState {
        &self.state
    }

    /// Firing alerts, in fingerprint order.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.state.firing.values()
    }

    /// Evaluate every rule at `now_ms` (console clock, Unix ms) against the
    /// latest report of each host, when each host was last seen, and the
    /// licence (none: licence rules stay quiet). Returns the alerts that
    /// fired and those that resolved; one that keeps firing is no change
    /// (its description is refreshed in the state).
    pub fn evaluate(&mut self, now_ms: u64, reports: &[HostReport], hosts_last_seen: &[HostSeen], licence: Option<&Licence>) -> Vec<AlertChange> {
        self.state.restarts.observe(now_ms, reports, self.rules.max_restart_window_ms());
        let inputs = Inputs {
            now_ms,
            reports,
            seen: hosts_last_seen,
            licence,
            restarts: &self.state.restarts,
            heartbeat_interval_ms: self.rules.heartbeat_interval_ms,
        };
        // Holding conditions by fingerprint (duplicates collapse).
        let mut holding: BTreeMap<String, (&Rule, Condition)> = BTreeMap::new();
        for rule in &self.rules.rules {
            for c in conditions::evaluate(rule, &inputs) {
                let fp = fingerprint(&rule.id, c.host.as_deref(), c.ta.as_deref(), c.slot);
                holding.entry(fp).or_insert((rule, c));
            }
        }

        let mut changes = Vec::new();
        // Resolve what no longer holds.
        let gone: Vec<String> = self.state.firing.keys().filter(|fp| !holding.contains_key(*fp)).cloned().collect();
        for fp in gone {
            if let Some(mut alert) = self.state.firing.remove(&fp) {
                alert.ends_at_ms = Some(now_ms.max(alert.starts_at_ms));
                changes.push(AlertChange::Resolved(alert));
            }
        }
        self.state.pending.retain(|fp, _| holding.contains_key(fp));

        // Fire (or keep firing, or keep pending) what holds.
        for (fp, (rule, c)) in holding {
            if let Some(alert) = self.state.firing.get_mut(&fp) {
                // Still firing: no change, but the texts follow the numbers.
                alert.summary = rule.summary.clone().unwrap_or(c.summary);
                alert.description = c.description;
                continue;
            }
            let since = self.state.pending.entry(fp.clone()).or_insert(Pending { since_ms: now_ms }).since_ms;
            if now_ms.saturating_sub(since) < rule.for_ms.unwrap_or(0) {
                continue;
            }
            self.state.pending.remove(&fp);
            let alert = Alert {
                fingerprint: fp.clone(),
                rule_id: rule.id.clone(),
                kind: rule.kind.name().to_string(),
                severity: rule.severity,
                host: c.host,
                group: c.group,
                ta: c.ta,
                slot: c.slot,
                summary: rule.summary.clone().unwrap_or(c.summary),
                description: c.description,
                starts_at_ms: now_ms,
                ends_at_ms: None,
                acknowledged_by: None,
                acknowledged_at_ms: None,
            };
            self.state.firing.insert(fp, alert.clone());
            changes.push(AlertChange::Fired(alert));
        }
        changes
    }
}

#[cfg(test)]
mod tests;
