#!/usr/bin/env bash
# Runs every test of the workspace: unit, known-answer, interop, policy,
# and the cross-component tests that start the real TA and CA processes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# The cross-component tests run the built daemons.
cargo build --workspace --bins --locked
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast --test-threads 2
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast -- --test-threads 2
fi
