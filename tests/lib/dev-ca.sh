# shellcheck shell=bash
# A teehsm-ca with the dev token (slot 0, label dev-token, SO PIN 12345678,
# user PIN 123456) for the shell test scripts. Source it; set CA_BIN and
# MODULE first. dev_ca_start DIR starts it on DIR/state (log DIR/ca.log),
# exports TEEHSM_PKCS11_SOCKET and waits until the token has its user PIN;
# dev_ca_stop stops it with SIGTERM (call it from the script's EXIT trap).

CA_PID=""

dev_ca_start() {
    local dir=$1
    mkdir -p "$dir"
    TEEHSM_CA_LOG_LEVEL=${TEEHSM_CA_LOG_LEVEL:-warn} "$CA_BIN" --state-dir "$dir/state" --init-dev-token \
        --http-listen 127.0.0.1:0 >"$dir/ca.log" 2>&1 &
    CA_PID=$!
    export TEEHSM_PKCS11_SOCKET=$dir/state/ca.sock
    unset TEEHSM_PKCS11_CONF
    local i
    for i in $(seq 1 600); do
        if ! kill -0 "$CA_PID" 2>/dev/null; then
            wait "$CA_PID"; echo "teehsm-ca exited during start-up (status $?):" >&2
            tail -20 "$dir/ca.log" >&2; CA_PID=""; return 1
        fi
        if pkcs11-tool --module "$MODULE" -L 2>/dev/null | grep -q 'PIN initialized'; then
            echo "teehsm-ca (pid $CA_PID) ready: $TEEHSM_PKCS11_SOCKET"
            return 0
        fi
        sleep 0.1
    done
    echo "teehsm-ca did not become ready in 60 s:" >&2
    tail -20 "$dir/ca.log" >&2
    return 1
}

dev_ca_stop() {
    if [ -n "$CA_PID" ]; then
        kill -TERM "$CA_PID" 2>/dev/null
        wait "$CA_PID" 2>/dev/null
        CA_PID=""
    fi
}
