#!/usr/bin/env bash
# Builds teehsm and starts a working HSM on the simulated TEE, in the
# foreground: the CA service supervises the TA and initializes a dev token
# (label "dev-token", SO PIN 12345678, user PIN 123456). State lives in
# ./.teehsm (delete it to start over). Stop with Ctrl-C (graceful shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bins --locked
exec target/release/teehsm-ca --state-dir .teehsm --init-dev-token "$@"
