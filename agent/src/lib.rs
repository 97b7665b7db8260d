//! teehsm-agent: runs on every host next to the CA service (issue 6) and
//! reports to the fleet console. The library holds what the agent measures
//! with (docs/fleet-agent.md):
//!
//! - [`tee_detect`]: which TEEs the host offers (also used by the TA's platform selection);
//! - [`procstat`]: CPU and memory of the TA and CA processes from /proc;
//! - [`ca_health`]: the CA's `/healthz` JSON (the TA's phase and pid);
//! - [`prom_text`]: a Prometheus text-format (0.0.4) parser for the CA's `/metrics`;
//! - [`scrape`]: ops/s, p99 latency and token object counts from two `/metrics` scrapes;
//! - [`enroll`]: the agent key, its CSR, and the enrolled certificate files (docs/fleet-enrollment.md);
//! - [`daemon`]: the `teehsm-agent` daemon's report building and data sources;
//! - [`package`]: signed TA packages, their install layout and the upgrade state machine (docs/fleet-packages.md).

pub mod attestation;
pub mod ca_health;
pub mod daemon;
pub mod enroll;
pub mod package;
pub mod procstat;
pub mod prom_text;
pub mod scrape;
pub mod tee_detect;

#[cfg(test)]
mod live_ca_tests;
