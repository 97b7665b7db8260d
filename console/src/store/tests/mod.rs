//! Tests of the store: each on a fresh SQLite file and (see
//! [`crate::store::testutil`]) on a fresh PostgreSQL database.

mod alerts;
mod audit_jobs;
mod backends;
mod copy;
mod hosts;
mod migrations;
mod tokens;
mod users_licence;
