#!/usr/bin/env bash
# Installs the system packages teehsm's build and tests need, only if missing.
# Debian/Ubuntu; needs root (or sudo). Safe to run repeatedly.
set -euo pipefail
need=()
for pkg in openssl opensc softhsm2 python3 python3-cryptography ca-certificates pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required: https://rustup.rs" >&2; exit 1; }
