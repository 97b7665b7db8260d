//! The agent daemon's building blocks (docs/fleet-agent.md, "Daemon"):
//! what `teehsm-agent run` reads from the local CA and turns into a
//! [`HostReport`](teehsm_wire::proto::fleet::v1::HostReport).
//!
//! - [`report`]: one observation of the host (health, metrics, process use)
//!   and the pure function that builds the heartbeat report from it;
//! - [`sources`]: the CA's HTTP address file, a bounded HTTP GET, and
//!   finding the CA's pid from its HTTP listener;
//! - [`jobs`]: the console's jobs (TA upgrades): choosing, fetching the
//!   package, running and reporting them; [`upgrade`]: the upgrade hooks
//!   (drain, restart, health check, rollback) over [`ca_admin`], the CA's
//!   local admin calls; [`key_import`]: the `import_key` job (a
//!   console-signed key-distribution envelope handed to the TA);
//!   [`cert_jobs`]: `generate_csr` and `import_certificate`;
//! - [`cert_renewal`]: renewing the agent's own client certificate.

pub mod ca_admin;
pub mod cert_jobs;
pub mod cert_renewal;
pub mod jobs;
pub mod key_import;
pub mod report;
pub mod sources;
pub mod upgrade;
