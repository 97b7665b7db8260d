#!/usr/bin/env bash
# Runs the external PKCS#11 conformance checks (shared/checks, written outside
# this project) against teehsm's module:
#   01-cryptoki-crate-tests.sh  the `cryptoki` crate's own integration tests
#   02-opensc-pkcs11-tool.sh    pkcs11-tool --test plus keygen/sign/verify with OpenSSL
# Each check gets its own teehsm-ca on a fresh temporary state directory with
# the dev token (--init-dev-token: SO PIN 12345678, user PIN 123456); the
# checks re-initialise the token themselves. TEEHSM_PKCS11_SOCKET points the
# module at that CA; the CA is stopped with SIGTERM when the check ends (and
# on exit, whatever the exit path).
#
# usage: tests/pkcs11/run-shared-checks.sh
# Env:
#   TEEHSM_SHARED_CHECKS   directory of the check scripts   (default: <repo>/../shared/checks)
#   TEEHSM_PKCS11_MODULE   module under test               (default: <repo>/target/debug/libteehsm_pkcs11.so)
#   TEEHSM_BIN_DIR         where teehsm-ca and teehsm-ta are (default: the module's directory)
#   HOLDOUT_CARGO_TARGET   cargo target dir for check 01's build (default: <repo>/target/holdout-cryptoki,
#                          kept between runs so the cryptoki tests are built once)
#   TEEHSM_CHECKS          which checks to run, space-separated (default: "01 02")
#   plus the checks' own HOLDOUT_* variables (see shared/checks/common.sh).
# Exit status: 0 when every check ran and reported "N passed, 0 failed"; 1 otherwise.
# Needs the module and the binaries built: cargo build --bins -p teehsm-pkcs11
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CHECKS=${TEEHSM_SHARED_CHECKS:-$REPO/../shared/checks}
MODULE=${TEEHSM_PKCS11_MODULE:-$REPO/target/debug/libteehsm_pkcs11.so}
BIN_DIR=${TEEHSM_BIN_DIR:-$(dirname "$MODULE")}
CA_BIN=$BIN_DIR/teehsm-ca
export HOLDOUT_CARGO_TARGET=${HOLDOUT_CARGO_TARGET:-$REPO/target/holdout-cryptoki}
RUN=${TEEHSM_CHECKS:-01 02}

# The dev token's PINs, and the SO PIN the cryptoki crate's tests hard-code
# (they call C_InitToken with it, which on an initialised teehsm token needs
# the current SO PIN: check 01 first switches the SO PIN to it with C_SetPIN).
DEV_SO_PIN=12345678
CRYPTOKI_TESTS_SO_PIN=abcdef654321

die() { echo "run-shared-checks: $*" >&2; exit 1; }
[ -d "$CHECKS" ] || die "no check scripts at $CHECKS (set TEEHSM_SHARED_CHECKS)"
[ -f "$MODULE" ] || die "no module at $MODULE (cargo build -p teehsm-pkcs11, or set TEEHSM_PKCS11_MODULE)"
[ -x "$CA_BIN" ] || die "no teehsm-ca at $CA_BIN (cargo build --bins, or set TEEHSM_BIN_DIR)"
[ -x "$BIN_DIR/teehsm-ta" ] || die "no teehsm-ta at $BIN_DIR (cargo build --bins)"
command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (scripts/install-deps.sh installs opensc)"

TMP=$(mktemp -d -t teehsm-shared-checks.XXXXXX)
CHECK_PID=""
. "$REPO/tests/lib/dev-ca.sh"
stop_ca() { dev_ca_stop; }
# A check runs in its own process group (setsid), so stopping it stops what
# it started too (cargo, rustc, the test binaries, pkcs11-tool).
stop_check() {
    if [ -n "$CHECK_PID" ]; then
        kill -TERM -- "-$CHECK_PID" 2>/dev/null
        wait "$CHECK_PID" 2>/dev/null
        CHECK_PID=""
    fi
}
cleanup() { stop_check; stop_ca; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# start_ca NAME: a CA with the dev token on $TMP/NAME/state; exports TEEHSM_PKCS11_SOCKET.
start_ca() { dev_ca_start "$TMP/$1"; }

declare -A SUMMARY STATUS
FAILED=0

# run_check ID SCRIPT [setup-function]
run_check() {
    local id=$1 script=$2 setup=${3:-}
    echo
    echo "==================== $id: $script"
    if ! start_ca "check$id"; then
        SUMMARY[$id]="not run: teehsm-ca did not start"; STATUS[$id]=1; FAILED=1; stop_ca; return
    fi
    if [ -n "$setup" ] && ! $setup; then
        SUMMARY[$id]="not run: setup ($setup) failed"; STATUS[$id]=1; FAILED=1; stop_ca; return
    fi
    local out=$TMP/check$id.out rc tail_pid
    : >"$out"
    # In the background, so that a signal to this script is handled at once.
    setsid bash "$CHECKS/$script" "$MODULE" >"$out" 2>&1 </dev/null &
    CHECK_PID=$!
    tail -n +1 -f --pid="$CHECK_PID" "$out" &
    tail_pid=$!
    wait "$CHECK_PID"
    rc=$?
    CHECK_PID=""
    wait "$tail_pid" 2>/dev/null
    stop_ca
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    SUMMARY[$id]=${line:-"no summary line (exit $rc)"}
    STATUS[$id]=$rc
    if [ "$rc" -ne 0 ] || [ -z "$line" ] || ! echo "$line" | grep -qE ', 0 failed$'; then
        FAILED=1
    fi
}

# Check 01: the cryptoki crate's tests re-initialise the token with their own SO PIN.
so_pin_for_cryptoki_tests() {
    pkcs11-tool --module "$MODULE" --login --login-type so --so-pin "$DEV_SO_PIN" \
        --change-pin --pin "$DEV_SO_PIN" --new-pin "$CRYPTOKI_TESTS_SO_PIN" >"$TMP/so-pin.log" 2>&1 ||
        { echo "C_SetPIN of the SO PIN failed:" >&2; cat "$TMP/so-pin.log" >&2; return 1; }
}

for id in $RUN; do
    case $id in
        01) run_check 01 01-cryptoki-crate-tests.sh so_pin_for_cryptoki_tests ;;
        02) HOLDOUT_SO_PIN=${HOLDOUT_SO_PIN:-$DEV_SO_PIN} run_check 02 02-opensc-pkcs11-tool.sh ;;
        *) die "unknown check '$id' (01, 02)" ;;
    esac
done

echo
echo "==================== summary (module: $MODULE)"
TOTAL_PASS=0
TOTAL_FAIL=0
for id in $RUN; do
    printf '%s  %s\n' "$id" "${SUMMARY[$id]}"
    if [[ ${SUMMARY[$id]} =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        TOTAL_PASS=$((TOTAL_PASS + BASH_REMATCH[1]))
        TOTAL_FAIL=$((TOTAL_FAIL + BASH_REMATCH[2]))
    else
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
    fi
done
echo "pkcs11-checks: $TOTAL_PASS passed, $TOTAL_FAIL failed"
exit $FAILED
