//! teehsm-ca: the untrusted host daemon. It supervises the TA process,
//! relays clients to it frame by frame, and serves health and metrics. It
//! holds no key material and makes no security decision (the TA re-checks
//! everything); see `docs/architecture.md`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//!
//! Modules, one job each:
//! - [`config`]: flags, environment, TOML file, defaults.
//! - [`supervisor`]: start/watch/restart the TA; [`backoff`] and [`exit`] decide
//!   how long to wait and what an exit means.
//! - [`bootstrap`]: the `--init-dev-token` development token.
//! - [`relay`]: the client socket and the per-client frame relay; [`registry`]
//!   tracks live clients so they can all be closed at once.
//! - [`http`]: `/healthz` ([`health`]) and `/metrics` ([`metrics`]); [`admin`]:
//!   the loopback-only drain/resume/restart calls the agent uses for upgrades.
//! - [`grpc`]: the gRPC key management API (TLS), forwarded call by call to
//!   the TA, with health and reflection.
//! - [`token_stats`]: per-slot object counts for `/metrics`.
//! - [`state`]: what those share.

pub mod admin;
pub mod backoff;
pub mod bootstrap;
pub mod config;
pub mod exit;
pub mod grpc;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod registry;
pub mod relay;
pub mod state;
pub mod supervisor;
pub mod token_stats;
