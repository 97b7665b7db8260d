//! Alert engine of the fleet console.
//!
//! - [`report`]: what an agent sends in its heartbeat, and the licence status;
//! - [`rules`]: alert rules, loadable from TOML, validated;
//! - [`conditions`]: which conditions of a rule hold right now (pure);
//! - [`engine`]: [`AlertEngine`], turning conditions into fired/resolved
//!   alerts with dedup by fingerprint and `for_ms` delays;
//! - [`alertmanager`]: Alertmanager webhook payload for a batch of changes.
//!
//! Nothing here reads a clock or does I/O: time is passed in as Unix
//! milliseconds, state is a serializable value.

pub mod alert;
pub mod alertmanager;
pub mod conditions;
pub mod engine;
pub mod fingerprint;
pub mod report;
pub mod restarts;
pub mod rules;
mod text;

pub use alert::{Alert, AlertChange};
pub use alertmanager::alertmanager_payload;
pub use engine::{AlertEngine, EngineState};
pub use report::{HostReport, HostSeen, Licence, PackageInventory, TaReport, TokenReport};
pub use rules::{Process, Rule, RuleKind, RuleSet, RulesError, Scope, Severity};
