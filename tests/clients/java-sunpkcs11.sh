#!/usr/bin/env bash
# Java's SunPKCS11 provider (the JDK's own PKCS#11 bridge, as banking apps use
# it) against teehsm's module: tests/clients/java/SunPkcs11Check.java, compiled
# with javac and run against a fresh teehsm-ca (dev token, slot 0) on a
# temporary state directory. The CA is stopped with SIGTERM on exit.
#
# usage: tests/clients/java-sunpkcs11.sh
# Env:
#   TEEHSM_PKCS11_MODULE   module under test                (default: <repo>/target/debug/libteehsm_pkcs11.so)
#   TEEHSM_BIN_DIR         where teehsm-ca and teehsm-ta are (default: the module's directory)
#   JAVA_HOME              JDK to use (default: javac/java on PATH)
#   TEEHSM_JAVA_DEBUG=1    run Java with -Djava.security.debug=sunpkcs11 (every PKCS#11 call SunPKCS11 makes)
#   TEEHSM_JAVA_HARDENED_CONFIG=1  imported keys sensitive and non-extractable (config `import` entries)
# Needs: a JDK 17+ (scripts/install-deps.sh installs openjdk-17-jdk-headless),
# pkcs11-tool (opensc), and the binaries: cargo build -p teehsm-pkcs11 -p teehsm-ca -p teehsm-ta
# Exit status: 0 when the program reports "N passed, 0 failed".
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MODULE=${TEEHSM_PKCS11_MODULE:-$REPO/target/debug/libteehsm_pkcs11.so}
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")
BIN_DIR=${TEEHSM_BIN_DIR:-$(dirname "$MODULE")}
CA_BIN=$BIN_DIR/teehsm-ca
USER_PIN=123456
if [ -n "${JAVA_HOME:-}" ]; then
    JAVAC=$JAVA_HOME/bin/javac JAVA=$JAVA_HOME/bin/java
else
    JAVAC=javac JAVA=java
fi

die() { echo "java-sunpkcs11: $*" >&2; exit 1; }
command -v "$JAVAC" >/dev/null || die "javac not found (scripts/install-deps.sh installs openjdk-17-jdk-headless)"
command -v "$JAVA" >/dev/null || die "java not found (scripts/install-deps.sh installs openjdk-17-jdk-headless)"
command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (scripts/install-deps.sh installs opensc)"
[ -f "$MODULE" ] || die "no module at $MODULE (cargo build -p teehsm-pkcs11, or set TEEHSM_PKCS11_MODULE)"
[ -x "$CA_BIN" ] || die "no teehsm-ca at $CA_BIN (cargo build -p teehsm-ca -p teehsm-ta, or set TEEHSM_BIN_DIR)"
[ -x "$BIN_DIR/teehsm-ta" ] || die "no teehsm-ta at $BIN_DIR (cargo build -p teehsm-ta)"

TMP=$(mktemp -d -t teehsm-java-sunpkcs11.XXXXXX)
. "$REPO/tests/lib/dev-ca.sh"
cleanup() { dev_ca_stop; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

"$JAVAC" -d "$TMP/classes" "$REPO/tests/clients/java/SunPkcs11Check.java" || die "javac failed"

# A CA with the dev token (slot 0, user PIN 123456).
dev_ca_start "$TMP" || exit 1

# The SunPKCS11 configuration (docs/pkcs11.md, "Java (SunPKCS11)"): just
# name, library and slot, as an application would write it. SunPKCS11 sends
# no usage attributes when it generates or imports a key; the TA then grants
# the key type's ordinary uses (docs/key-policy.md).
# TEEHSM_JAVA_HARDENED_CONFIG=1 adds the two `import` entries that make keys
# SunPKCS11 imports (KeyStore.setKeyEntry of a JDK key, a SecretKeySpec)
# sensitive and non-extractable instead of C_CreateObject's readable defaults.
CFG=$TMP/teehsm-sunpkcs11.cfg
cat >"$CFG" <<EOF
name = teehsm
library = $MODULE
slot = 0
EOF
if [ "${TEEHSM_JAVA_HARDENED_CONFIG:-0}" = 1 ]; then
    cat >>"$CFG" <<'EOF'
attributes(import, CKO_SECRET_KEY, *) = {
  CKA_SENSITIVE = true
  CKA_EXTRACTABLE = false
}
attributes(import, CKO_PRIVATE_KEY, *) = {
  CKA_SENSITIVE = true
  CKA_EXTRACTABLE = false
}
EOF
fi

JAVA_OPTS=()
[ "${TEEHSM_JAVA_DEBUG:-0}" = 1 ] && JAVA_OPTS+=(-Djava.security.debug=sunpkcs11)
"$JAVA" ${JAVA_OPTS[@]+"${JAVA_OPTS[@]}"} -cp "$TMP/classes" SunPkcs11Check "$CFG" "$USER_PIN" 2>&1 | tee "$TMP/java.out"
rc=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$TMP/java.out" | tail -1)
if [ "$rc" -ne 0 ] || ! echo "$line" | grep -qE ', 0 failed$'; then
    echo "java-sunpkcs11: FAILED (exit $rc${line:+, $line})" >&2
    exit 1
fi
echo "java-sunpkcs11: ok ($line)"
