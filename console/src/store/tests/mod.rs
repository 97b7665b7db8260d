//! Tests of the store, on temp-file databases.

mod alerts;
mod audit_jobs;
mod hosts;
mod migrations;
mod tokens;
mod users_licence;
