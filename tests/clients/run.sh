#!/usr/bin/env bash
# Runs the unchanged-client checks of the PKCS#11 module, each against its own
# fresh teehsm-ca (dev token) on a temporary directory:
#   openssl-engine.sh   OpenSSL 3 through libp11's engine (libengine-pkcs11-openssl)
#   python-pykcs11.py   Python through PyKCS11, checked with `cryptography`
# and ends with the line "clients: N passed, N failed" (the sum of both).
#
# usage: tests/clients/run.sh
# Env: TEEHSM_PKCS11_MODULE, TEEHSM_BIN_DIR (see the two scripts).
# Exit status: 0 when both ran and every check passed; 1 otherwise.
# Needs the module and the binaries built (cargo build --workspace) and
# scripts/install-deps.sh's packages.
set -uo pipefail

DIR=$(cd "$(dirname "$0")" && pwd)
TOTAL_PASSED=0
TOTAL_FAILED=0
STATUS=0
CHILD=""
OUT=$(mktemp -t teehsm-clients.XXXXXX)
cleanup() {
    if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; fi
    rm -f "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

run_client() { # NAME COMMAND...
    local name=$1; shift
    local out=$OUT rc line
    echo
    echo "==================== $name"
    # In the background so that a signal to this script is handled at once
    # (the trap stops the client, which stops its own CA).
    "$@" </dev/null >"$out" 2>&1 &
    CHILD=$!
    tail -n +1 -f --pid="$CHILD" "$out" &
    local tail_pid=$!
    wait "$CHILD"
    rc=$?
    CHILD=""
    wait "$tail_pid" 2>/dev/null
    [ "$rc" -eq 0 ] || STATUS=1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
    if [ -z "$line" ]; then
        echo "$name: no summary line (crashed?)"
        TOTAL_FAILED=$((TOTAL_FAILED + 1)); STATUS=1
        return
    fi
    local p f
    p=${line%% passed*}
    f=${line#*passed, }; f=${f%% failed*}
    TOTAL_PASSED=$((TOTAL_PASSED + p))
    TOTAL_FAILED=$((TOTAL_FAILED + f))
    [ "$f" -eq 0 ] || STATUS=1
}

run_client openssl-engine bash "$DIR/openssl-engine.sh"
run_client python-pykcs11 python3 "$DIR/python-pykcs11.py"
run_client java-sunpkcs11 bash "$DIR/java-sunpkcs11.sh"
run_client java-sunpkcs11-hardened env TEEHSM_JAVA_HARDENED_CONFIG=1 bash "$DIR/java-sunpkcs11.sh"

echo
echo "clients: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
exit $STATUS
