//! Inputs of the alert engine: host reports (the agent's heartbeat), when
//! each host was last seen, and the licence status.

use serde::{Deserialize, Serialize};

/// One token of a TA, as reported by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenReport {
    pub slot: u64,
    pub label: String,
    /// Key objects held by the token.
    pub keys: u64,
    /// How many key objects the token can hold (0: unknown).
    pub capacity: u64,
}

/// One trusted application on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaReport {
    pub ta_id: String,
    pub version: String,
    pub up: bool,
    /// Restarts by the CA since the CA started (a counter).
    pub restarts_total: u64,
    pub self_test_ok: bool,
    pub audit_chain_ok: bool,
    #[serde(default)]
    pub tokens: Vec<TokenReport>,
    /// "sim", "sgx", ... as the TA's attestation report says ("" unknown).
    #[serde(default)]
    pub platform: String,
    /// Hex of the TA's measurement ("" unknown).
    #[serde(default)]
    pub measurement: String,
}

/// The report an agent sends with each heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub host_id: String,
    #[serde(default)]
    pub group: String,
    /// Agent's clock (informational; the engine uses the console's `now_ms`).
    pub reported_at_ms: u64,
    #[serde(default)]
    pub tas: Vec<TaReport>,
    pub ta_cpu_percent: f64,
    pub ta_memory_bytes: u64,
    pub ca_cpu_percent: f64,
    pub ca_memory_bytes: u64,
    /// Memory limit the percentages refer to (0: unknown, memory rules never fire).
    pub memory_limit_bytes: u64,
    /// The TA packages on the host; `None` when its agent does not manage
    /// packages (no `--package-root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<PackageInventory>,
}

/// The TA packages installed on a host, as its agent reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageInventory {
    /// The active version ("" = none).
    pub active: String,
    /// The version a rollback returns to ("" = none).
    pub previous: String,
    /// Every installed version, sorted.
    pub installed: Vec<String>,
}

/// When the console last received a heartbeat from a host (console clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSeen {
    pub host_id: String,
    #[serde(default)]
    pub group: String,
    pub last_seen_ms: u64,
    /// When the host's agent certificate expires (Unix ms), if known.
    #[serde(default)]
    pub cert_not_after_ms: Option<u64>,
}

/// Licence status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    pub max_hosts: u64,
    pub expires_at_ms: u64,
}
