#!/usr/bin/env bash
# Runs every test of the workspace: unit, known-answer, interop, policy,
# and the cross-component tests that start the real TA and CA processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# The console store's tests also run on PostgreSQL (they fail under CI=true
# without it): a throwaway server for this run, in a directory of its own so
# that concurrent runs do not share (or stop) each other's, removed on exit.
export TEEHSM_POSTGRES_TEST_DIR="${TEEHSM_POSTGRES_TEST_DIR:-/tmp/teehsm-postgres-test-$(id -u)-$$}"
TEEHSM_TEST_POSTGRES_URL="$(./scripts/postgres-test-server.sh start)"
export TEEHSM_TEST_POSTGRES_URL
# Its TLS CA, for the store test that connects with sslmode=verify-full.
TEEHSM_TEST_POSTGRES_CA="$(./scripts/postgres-test-server.sh ca)"
export TEEHSM_TEST_POSTGRES_CA
trap './scripts/postgres-test-server.sh stop' EXIT
# A one-shot full build gains nothing from incremental state, which costs
# gigabytes of target/ on a clean machine.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# One style everywhere (rustfmt.toml), including the fuzz crate outside the workspace.
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
# The cross-component tests run the built daemons and load the PKCS#11 module.
cargo build --workspace --locked
# No unwrap()/expect() outside tests in the TA and the PKCS#11 module (their
# lib.rs deny both; only clippy checks it): a panic there is a crashed TA or
# one caught at the C boundary instead of a precise error.
cargo clippy -p teehsm-ta -p teehsm-pkcs11 --lib --bins --locked -- -A clippy::all -D clippy::unwrap_used -D clippy::expect_used
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast --test-threads 2
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast -- --test-threads 2
fi
# The shipped Prometheus alert rules parse and fire as their unit tests say.
promtool check rules deploy/prometheus/teehsm-alerts.yml
(cd deploy/prometheus && promtool test rules teehsm-alerts.test.yml)
# External PKCS#11 conformance checks (../shared/checks: the cryptoki crate's
# own tests and OpenSC pkcs11-tool with OpenSSL cross-checks), each against a
# fresh CA + TA.
./tests/pkcs11/run-shared-checks.sh
# Unchanged PKCS#11 clients: OpenSSL through the libp11 engine, Python's PyKCS11.
./tests/clients/run.sh
# The gRPC API from Python (grpcio, cryptography) against a fresh CA + TA.
./tests/grpc/run.sh
