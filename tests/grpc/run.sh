#!/usr/bin/env bash
# The gRPC API from Python (grpcio + cryptography; scripts/install-deps.sh):
# starts a fresh teehsm-ca (dev token, gRPC on 127.0.0.1:<free port> with
# the dev TLS certificate) on a temporary directory, generates the Python
# stubs from wire/proto/teehsm/v1/kms.proto with grpc_tools.protoc,
# registers two API clients with `teehsm client add`, and runs
# client_test.py, which ends with the line "N passed, M failed".
#
# usage: tests/grpc/run.sh
# Env: TEEHSM_BIN_DIR (default target/debug; needs teehsm-ca, teehsm-ta, teehsm).
# Exit status: 0 when every check passed; 1 otherwise.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN_DIR=${TEEHSM_BIN_DIR:-$ROOT/target/debug}
TMP=$(mktemp -d -t teehsm-grpc-py.XXXXXX)
CA_PID=""
cleanup() {
    if [ -n "$CA_PID" ]; then kill -TERM "$CA_PID" 2>/dev/null; wait "$CA_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() { echo "grpc-python: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

for b in teehsm-ca teehsm-ta teehsm; do
    [ -x "$BIN_DIR/$b" ] || fail "$BIN_DIR/$b is missing: cargo build --workspace"
done
python3 -c "import grpc, grpc_tools, cryptography" 2>/dev/null \
    || fail "python3 needs grpcio, grpcio-tools and cryptography: scripts/install-deps.sh"

# Stubs, generated at test time so they always match the .proto.
mkdir -p "$TMP/gen"
python3 -m grpc_tools.protoc -I "$ROOT/wire/proto" --python_out="$TMP/gen" --grpc_python_out="$TMP/gen" \
    teehsm/v1/kms.proto || fail "grpc_tools.protoc failed"

STATE=$TMP/state
TEEHSM_CA_LOG_LEVEL=${TEEHSM_CA_LOG_LEVEL:-warn} "$BIN_DIR/teehsm-ca" --state-dir "$STATE" --init-dev-token \
    --http-listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0 --grpc-dev-tls >"$TMP/ca.log" 2>&1 &
CA_PID=$!
printf '12345678\n' >"$TMP/so.pin"
ready=""
for _ in $(seq 1 600); do
    if ! kill -0 "$CA_PID" 2>/dev/null; then
        wait "$CA_PID"; st=$?; CA_PID=""
        tail -20 "$TMP/ca.log" >&2
        fail "teehsm-ca exited during start-up (status $st)"
    fi
    if [ -s "$STATE/grpc.addr" ] && [ -s "$STATE/grpc-dev-tls/ca.pem" ] \
        && "$BIN_DIR/teehsm" client list --socket "$STATE/ca.sock" --so-pin-file "$TMP/so.pin" >/dev/null 2>&1; then
        ready=1; break
    fi
    sleep 0.1
done
[ -n "$ready" ] || { tail -20 "$TMP/ca.log" >&2; fail "teehsm-ca did not serve gRPC with a dev token in 60 s"; }

add_client() { # ID ACL...
    local id=$1; shift
    local args=()
    for a in "$@"; do args+=(--acl "$a"); done
    "$BIN_DIR/teehsm" client add "$id" "${args[@]}" --socket "$STATE/ca.sock" --so-pin-file "$TMP/so.pin" 2>/dev/null
}
FULL_SECRET=$(add_client svc-py 'py/:all') || fail "teehsm client add svc-py failed"
RO_SECRET=$(add_client svc-py-ro 'py/p256:verify,get_public') || fail "teehsm client add svc-py-ro failed"

echo "teehsm-ca (pid $CA_PID) serves gRPC on $(cat "$STATE/grpc.addr")"

# The README's grpcurl commands (reflection, health, anonymous GenerateRandom).
G=(grpcurl -cacert "$STATE/grpc-dev-tls/ca.pem")
ADDR=$(cat "$STATE/grpc.addr")
command -v grpcurl >/dev/null || fail "grpcurl is missing: scripts/install-deps.sh"
"${G[@]}" "$ADDR" list | grep -qx teehsm.v1.KeyManagementService || fail "grpcurl list does not show teehsm.v1.KeyManagementService"
"${G[@]}" "$ADDR" describe teehsm.v1.KeyManagementService.Sign >/dev/null || fail "grpcurl describe Sign failed"
"${G[@]}" -d '{"service":"teehsm.v1.KeyManagementService"}' "$ADDR" grpc.health.v1.Health/Check | grep -q '"SERVING"' \
    || fail "grpcurl health check is not SERVING"
"${G[@]}" -d '{"length_bytes":32}' "$ADDR" teehsm.v1.KeyManagementService/GenerateRandom | grep -q '"data"' \
    || fail "grpcurl GenerateRandom failed"
out=$("${G[@]}" -d '{"name":"py/x","digest":"AAAA"}' "$ADDR" teehsm.v1.KeyManagementService/Sign 2>&1) \
    && fail "anonymous Sign through grpcurl was not refused"
grep -q Unauthenticated <<<"$out" || fail "anonymous Sign through grpcurl: expected Unauthenticated, got: $out"
echo "grpcurl: list, describe, health, GenerateRandom, anonymous Sign refused: ok"
PYTHONPATH="$TMP/gen" \
TEEHSM_GRPC_ADDR=$(cat "$STATE/grpc.addr") \
TEEHSM_GRPC_CA="$STATE/grpc-dev-tls/ca.pem" \
TEEHSM_CLIENT_ID=svc-py TEEHSM_CLIENT_SECRET=$FULL_SECRET \
TEEHSM_RO_CLIENT_ID=svc-py-ro TEEHSM_RO_CLIENT_SECRET=$RO_SECRET \
TEEHSM_TMP="$TMP" \
    python3 "$ROOT/tests/grpc/client_test.py"
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "--- teehsm-ca log (tail)"; tail -20 "$TMP/ca.log"
fi
exit "$rc"
