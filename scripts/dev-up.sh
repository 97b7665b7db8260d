#!/usr/bin/env bash
# Builds teehsm and starts a working HSM on the simulated TEE, in the
# foreground: the CA service supervises the TA and initializes a dev token
# (label "dev-token", SO PIN 12345678, user PIN 123456). State lives in
# ./.teehsm (delete it to start over). Stop with Ctrl-C (graceful shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bins --locked
cargo build --release --locked -p teehsm-pkcs11
cat >&2 <<EOF
teehsm: starting the CA service (state in .teehsm). In another shell:
  export TEEHSM_PKCS11_SOCKET=$PWD/.teehsm/ca.sock
  pkcs11-tool --module $PWD/target/release/libteehsm_pkcs11.so -L
EOF
exec target/release/teehsm-ca --state-dir .teehsm --init-dev-token "$@"
