#!/usr/bin/env bash
# OpenSSL as a PKCS#11 client of teehsm, unchanged: the libp11 engine for
# OpenSSL 3 (Debian's libengine-pkcs11-openssl) loads libteehsm_pkcs11.so and
# signs, decrypts, derives and makes certificates with keys that pkcs11-tool
# generated on the token; plain OpenSSL (no engine) checks every result with
# the exported public keys.
#
# It starts its own teehsm-ca with the dev token (slot 0, label dev-token,
# user PIN 123456) on a temporary state directory and stops it (SIGTERM) on
# exit, whatever the exit path.
#
# usage: tests/clients/openssl-engine.sh
# Env:
#   TEEHSM_PKCS11_MODULE   module under test               (default: <repo>/target/debug/libteehsm_pkcs11.so)
#   TEEHSM_BIN_DIR         where teehsm-ca and teehsm-ta are (default: the module's directory)
#   TEEHSM_PKCS11_ENGINE   the libp11 engine .so           (default: from dpkg -L libengine-pkcs11-openssl)
# Output: one "PASS name" / "FAIL name" line per check, then "N passed, N failed".
# Exit status: 0 when every check passed, 1 otherwise.
#
# SM2 is not checked: libp11 0.4.12 knows only CKK_RSA and CKK_EC keys (an
# SM2 key is CKK_SM2, vendor-defined), and worse, it stops enumerating keys at
# the first key type it does not know, so with an SM2 (or any other non-RSA,
# non-EC) key pair on the token it finds *no* key at all. This script keeps
# its token free of such keys. See docs/pkcs11.md.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
MODULE=${TEEHSM_PKCS11_MODULE:-$REPO/target/debug/libteehsm_pkcs11.so}
BIN_DIR=${TEEHSM_BIN_DIR:-$(dirname "$MODULE")}
CA_BIN=$BIN_DIR/teehsm-ca
PIN=123456

die() { echo "openssl-engine: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
[ -f "$MODULE" ] || die "no module at $MODULE (cargo build -p teehsm-pkcs11, or set TEEHSM_PKCS11_MODULE)"
[ -x "$CA_BIN" ] || die "no teehsm-ca at $CA_BIN (cargo build --bins, or set TEEHSM_BIN_DIR)"
[ -x "$BIN_DIR/teehsm-ta" ] || die "no teehsm-ta at $BIN_DIR (cargo build --bins)"
command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found (scripts/install-deps.sh installs opensc)"
command -v openssl >/dev/null || die "openssl not found (scripts/install-deps.sh installs it)"
ENGINE_SO=${TEEHSM_PKCS11_ENGINE:-$(dpkg -L libengine-pkcs11-openssl 2>/dev/null | grep -m1 '/engines-3/pkcs11\.so$')}
[ -n "$ENGINE_SO" ] && [ -f "$ENGINE_SO" ] \
    || die "libp11's engine not found (scripts/install-deps.sh installs libengine-pkcs11-openssl, or set TEEHSM_PKCS11_ENGINE)"

TMP=$(mktemp -d -t teehsm-openssl-engine.XXXXXX)
. "$REPO/tests/lib/dev-ca.sh"
cleanup() { dev_ca_stop; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A CA with the dev token on $TMP/state; exports TEEHSM_PKCS11_SOCKET.
start_ca() { dev_ca_start "$TMP"; }

PASSED=0
FAILED=0
FAILED_NAMES=()
# check NAME COMMAND...: runs COMMAND (output to $TMP/log/NAME.log), PASS when it exits 0.
mkdir -p "$TMP/log"
check() {
    local name=$1; shift
    local log=$TMP/log/${name//[^A-Za-z0-9_.-]/_}.log
    if "$@" >"$log" 2>&1; then
        echo "PASS $name"; PASSED=$((PASSED + 1))
    else
        echo "FAIL $name"; FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name")
        sed 's/^/    | /' "$log" | tail -15
    fi
}
finish() {
    echo
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

start_ca || { FAILED=1; finish; }

# The engine through OpenSSL's config (a file of our own: OPENSSL_CONF is set
# only for the commands that use the engine; "plain" commands load none).
cat >"$TMP/openssl.cnf" <<EOF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE_SO
MODULE_PATH = $MODULE
init = 0
EOF
# The same with the engine's PIN option instead of a PIN in the URI.
sed 's/^init = 0$/PIN = '"$PIN"'\ninit = 0/' "$TMP/openssl.cnf" >"$TMP/openssl-pin.cnf"
eng() { OPENSSL_CONF=$TMP/openssl.cnf openssl "$@" </dev/null; }
plain() { env -u OPENSSL_CONF openssl "$@" </dev/null; }
P11="pkcs11-tool --module $MODULE --token-label dev-token"
U="$P11 --login --pin $PIN"
uri() { echo "pkcs11:token=dev-token;object=$1;type=${2:-private}"; }
urip() { echo "$(uri "$1" private)?pin-value=$PIN"; }

cd "$TMP"
printf 'teehsm: OpenSSL through the libp11 engine\n' >msg.txt
plain dgst -sha256 -binary msg.txt >msg.sha256

engine_loads() { eng engine -t -c pkcs11 | tee /dev/stderr | grep -q available; }
check "engine loads (openssl engine -t pkcs11)" engine_loads

# Keys generated on the token by pkcs11-tool; public keys exported by
# pkcs11-tool (not by the engine) for the plain-OpenSSL verifications.
check "keygen EC P-256 on the token (pkcs11-tool)" \
    $U --keypairgen --key-type EC:prime256v1 --id 01 --label ec-p256
check "keygen RSA-2048 on the token (pkcs11-tool)" \
    $U --keypairgen --key-type rsa:2048 --id 02 --label rsa-2048
export_pub() { # LABEL OUT.pem
    $P11 --read-object --type pubkey --label "$1" -o "$1.der" && plain pkey -pubin -inform DER -in "$1.der" -out "$2"
}
export_both() { export_pub ec-p256 ec-pub.pem && export_pub rsa-2048 rsa-pub.pem; }
check "export public keys (pkcs11-tool --read-object)" export_both

# The engine's view of the public keys equals pkcs11-tool's.
engine_pub_matches() { # LABEL PEM
    eng pkey -engine pkcs11 -pubin -inform engine -in "$(uri "$1" public)" -out "$1.engine.pem" \
        && cmp "$1.engine.pem" "$2"
}
check "engine loads the EC public key (= pkcs11-tool's)" engine_pub_matches ec-p256 ec-pub.pem
check "engine loads the RSA public key (= pkcs11-tool's)" engine_pub_matches rsa-2048 rsa-pub.pem

# --- signatures -------------------------------------------------------------
ecdsa_dgst() {
    eng dgst -sha256 -engine pkcs11 -keyform engine -sign "$(urip ec-p256)" -out ec.sig msg.txt \
        && plain dgst -sha256 -verify ec-pub.pem -signature ec.sig msg.txt
}
check "ECDSA P-256: openssl dgst -sign via engine, plain openssl verifies" ecdsa_dgst

ecdsa_pkeyutl() {
    eng pkeyutl -sign -engine pkcs11 -keyform engine -inkey "$(urip ec-p256)" \
        -in msg.sha256 -out ec-pk.sig \
        && plain pkeyutl -verify -pubin -inkey ec-pub.pem -in msg.sha256 -sigfile ec-pk.sig
}
check "ECDSA P-256: openssl pkeyutl -sign via engine, plain openssl verifies" ecdsa_pkeyutl

ecdsa_by_id() {
    eng pkeyutl -sign -engine pkcs11 -keyform engine -inkey "pkcs11:token=dev-token;id=%01;type=private?pin-value=$PIN" \
        -in msg.sha256 -out ec-id.sig \
        && plain pkeyutl -verify -pubin -inkey ec-pub.pem -in msg.sha256 -sigfile ec-id.sig
}
check "ECDSA P-256 with the key named by CKA_ID (pkcs11:...;id=%01)" ecdsa_by_id

rsa_pkcs1_dgst() {
    eng dgst -sha256 -engine pkcs11 -keyform engine -sign "$(urip rsa-2048)" -out rsa.sig msg.txt \
        && plain dgst -sha256 -verify rsa-pub.pem -signature rsa.sig msg.txt
}
check "RSA PKCS#1 v1.5 SHA-256: openssl dgst -sign via engine, plain openssl verifies" rsa_pkcs1_dgst

rsa_pkcs1_pkeyutl() {
    eng pkeyutl -sign -engine pkcs11 -keyform engine -inkey "$(urip rsa-2048)" -pkeyopt digest:sha256 \
        -in msg.sha256 -out rsa-pk.sig \
        && plain pkeyutl -verify -pubin -inkey rsa-pub.pem -pkeyopt digest:sha256 -in msg.sha256 -sigfile rsa-pk.sig \
        && cmp rsa-pk.sig rsa.sig   # PKCS#1 v1.5 is deterministic: same as the dgst signature
}
check "RSA PKCS#1 v1.5: openssl pkeyutl -sign via engine = dgst signature, plain openssl verifies" rsa_pkcs1_pkeyutl

rsa_pss() {
    eng dgst -sha256 -engine pkcs11 -keyform engine -sign "$(urip rsa-2048)" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out pss.sig msg.txt \
        && plain dgst -sha256 -verify rsa-pub.pem -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
            -signature pss.sig msg.txt
}
check "RSA-PSS SHA-256 (salt 32): openssl dgst -sign via engine, plain openssl verifies" rsa_pss

# --- certificates -----------------------------------------------------------
self_signed() { # LABEL PEM
    eng req -new -x509 -engine pkcs11 -keyform engine -key "$(urip "$1")" -sha256 -days 30 \
        -subj "/O=teehsm/CN=openssl-engine $1" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,digitalSignature,keyCertSign -addext subjectAltName=DNS:localhost -out "$1.crt" \
        && plain verify -CAfile "$1.crt" "$1.crt" \
        && plain x509 -in "$1.crt" -noout -checkend 86400 \
        && plain x509 -in "$1.crt" -noout -pubkey | cmp - "$2"
}
check "openssl req -x509 via engine (EC): self-signed cert verifies, key = token key" self_signed ec-p256 ec-pub.pem
check "openssl req -x509 via engine (RSA): self-signed cert verifies, key = token key" self_signed rsa-2048 rsa-pub.pem

csr() {
    eng req -new -engine pkcs11 -keyform engine -key "$(urip ec-p256)" -sha256 \
        -subj "/O=teehsm/CN=csr" -out ec.csr \
        && plain req -in ec.csr -noout -verify \
        && plain req -in ec.csr -noout -pubkey | cmp - ec-pub.pem
}
check "openssl req (CSR) via engine: plain openssl req -verify accepts it" csr

issue_cert() {
    # The token's EC key as a CA: plain openssl makes a leaf key and CSR, the
    # engine signs the certificate with the token key.
    plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
        -subj /CN=leaf -out leaf.csr \
        && eng x509 -req -in leaf.csr -engine pkcs11 -CAkeyform engine -CAkey "$(urip ec-p256)" \
            -CA ec-p256.crt -days 1 -sha256 -out leaf.crt \
        && plain verify -CAfile ec-p256.crt leaf.crt
}
check "openssl x509 -req with the token key as CA key (-CAkeyform engine): plain verify accepts the leaf" issue_cert

# TLS 1.3 on the loopback: openssl s_server with the token key (engine),
# plain openssl s_client verifies the server against the self-signed cert.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tls_server() { # LABEL expected-peer-signature-type
    local port srv i rc
    port=$(free_port) || return 1
    OPENSSL_CONF=$TMP/openssl.cnf timeout 60 openssl s_server -accept "127.0.0.1:$port" -naccept 1 -www \
        -engine pkcs11 -keyform engine -key "$(urip "$1")" -cert "$1.crt" </dev/null >"s_server.$1.log" 2>&1 &
    srv=$!
    for i in $(seq 1 100); do grep -q '^ACCEPT' "s_server.$1.log" && break; sleep 0.1; done
    echo | env -u OPENSSL_CONF timeout 30 openssl s_client -connect "127.0.0.1:$port" -tls1_3 \
        -CAfile "$1.crt" -verify_hostname localhost -verify_return_error >"s_client.$1.log" 2>&1
    rc=$?
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
    cat "s_server.$1.log" "s_client.$1.log"
    [ $rc -eq 0 ] && grep -q 'Verify return code: 0 (ok)' "s_client.$1.log" \
        && grep -q "Peer signature type: $2" "s_client.$1.log"
}
check "TLS 1.3: openssl s_server with the token EC key, s_client verifies (ECDSA)" tls_server ec-p256 ECDSA
check "TLS 1.3: openssl s_server with the token RSA key, s_client verifies (RSA-PSS)" tls_server rsa-2048 RSA-PSS

# --- RSA decryption, ECDH ---------------------------------------------------
rsa_decrypt() { # NAME pkeyopts...
    local name=$1; shift
    plain pkeyutl -encrypt -pubin -inkey rsa-pub.pem "$@" -in msg.txt -out "$name.ct" \
        && eng pkeyutl -decrypt -engine pkcs11 -keyform engine -inkey "$(urip rsa-2048)" "$@" \
            -in "$name.ct" -out "$name.pt" \
        && cmp "$name.pt" msg.txt
}
check "RSA-OAEP (SHA-1): plain openssl encrypts, engine decrypts" \
    rsa_decrypt oaep1 -pkeyopt rsa_padding_mode:oaep
check "RSA-OAEP (SHA-256, MGF1-SHA-256): plain openssl encrypts, engine decrypts" \
    rsa_decrypt oaep256 -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
check "RSA PKCS#1 v1.5: plain openssl encrypts, engine decrypts" \
    rsa_decrypt pkcs1 -pkeyopt rsa_padding_mode:pkcs1

ecdh() {
    plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.pem \
        && plain pkey -in peer.pem -pubout -out peer-pub.pem \
        && eng pkeyutl -derive -engine pkcs11 -keyform engine -inkey "$(urip ec-p256)" \
            -peerkey peer-pub.pem -out z-engine.bin \
        && plain pkeyutl -derive -inkey peer.pem -peerkey ec-pub.pem -out z-plain.bin \
        && [ "$(stat -c %s z-engine.bin)" -eq 32 ] && cmp z-engine.bin z-plain.bin
}
check "ECDH P-256: engine derives the same secret as plain openssl" ecdh

# --- ways to configure the engine and give the PIN --------------------------
env_module_path() {
    # No config file: the engine by id (OpenSSL's engines directory), the
    # module from PKCS11_MODULE_PATH, the PIN by -passin.
    env -u OPENSSL_CONF PKCS11_MODULE_PATH="$MODULE" openssl pkeyutl -sign -engine pkcs11 -keyform engine \
        -inkey "$(uri ec-p256)" -passin pass:$PIN -in msg.sha256 -out ec-env.sig </dev/null \
        && plain pkeyutl -verify -pubin -inkey ec-pub.pem -in msg.sha256 -sigfile ec-env.sig
}
check "engine from PKCS11_MODULE_PATH, PIN by -passin" env_module_path

pin_option() {
    OPENSSL_CONF=$TMP/openssl-pin.cnf openssl dgst -sha256 -engine pkcs11 -keyform engine \
        -sign "$(uri ec-p256)" -out ec-pinopt.sig msg.txt </dev/null \
        && plain dgst -sha256 -verify ec-pub.pem -signature ec-pinopt.sig msg.txt
}
check "PIN from the engine's PIN option in openssl.cnf" pin_option

wrong_pin() {
    # Must fail, and through the module's CKR_PIN_INCORRECT (libp11 prints "PIN incorrect").
    local out
    out=$(OPENSSL_CONF=$TMP/openssl.cnf openssl pkeyutl -sign -engine pkcs11 -keyform engine \
        -inkey "$(uri ec-p256)?pin-value=999999" -in msg.sha256 -out wrong.sig </dev/null 2>&1)
    local rc=$?
    echo "$out"
    [ $rc -ne 0 ] && grep -q 'PIN incorrect' <<<"$out"
}
check "wrong PIN: the engine fails with PIN incorrect" wrong_pin

# --- the TA did the work ----------------------------------------------------
# Stop the CA (the TA flushes its audit log) and check that the private-key
# operations above ran in the TA with the expected PKCS#11 mechanisms: the
# engine did not, say, fetch raw RSA and pad itself.
dev_ca_stop
audit_has() { # OP MECHANISM(decimal)
    grep -q "\"op\":\"$1\".*\"mechanism\":$2,\"rv\":0" "$TMP/state/ta-data/audit.log"
}
audit_mechanisms() {
    local ok=0 m
    # CKM_ECDSA 0x1041, CKM_RSA_PKCS 0x1, CKM_RSA_PKCS_PSS 0xd, CKM_RSA_PKCS_OAEP 0x9, CKM_ECDH1_DERIVE 0x1050
    for m in "Sign 4161" "Sign 1" "Sign 13" "Decrypt 9" "Decrypt 1" "DeriveKey 4176"; do
        if audit_has $m; then echo "audit: $m ok"; else echo "audit: no successful $m"; ok=1; fi
    done
    return $ok
}
check "TA audit log: ECDSA, RSA PKCS#1/PSS/OAEP, ECDH ran in the TA" audit_mechanisms

[ ${#FAILED_NAMES[@]} -eq 0 ] || printf 'failed: %s\n' "${FAILED_NAMES[@]}"
finish
