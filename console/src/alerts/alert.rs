//! The alert record and the changes the engine reports.

use serde::{Deserialize, Serialize};

use super::rules::Severity;

/// One alert, firing or resolved. The store keeps these; acknowledgement
/// is the store's business (the engine never sets or reads those fields,
/// it only carries them along).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Rule id + host + TA + slot, hashed (see `fingerprint`).
    pub fingerprint: String,
    /// The rule's id, also the `alertname` label.
    pub rule_id: String,
    /// The rule's kind (`key_count_percent`, ...).
    pub kind: String,
    pub severity: Severity,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub ta: Option<String>,
    #[serde(default)]
    pub slot: Option<u64>,
    pub summary: String,
    /// With the numbers, as of the latest evaluation while firing.
    pub description: String,
    /// When the alert fired (console clock, Unix ms).
    pub starts_at_ms: u64,
    /// When it resolved; `None` while firing.
    #[serde(default)]
    pub ends_at_ms: Option<u64>,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default)]
    pub acknowledged_at_ms: Option<u64>,
}

impl Alert {
    pub fn is_firing(&self) -> bool {
        self.ends_at_ms.is_none()
    }
}

/// What changed in one evaluation. An alert that keeps firing is no change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum AlertChange {
    Fired(Alert),
    Resolved(Alert),
}

impl AlertChange {
    pub fn alert(&self) -> &Alert {
        match self {
            AlertChange::Fired(a) | AlertChange::Resolved(a) => a,
        }
    }
}
