#!/usr/bin/env bash
# A throwaway PostgreSQL server for the console store's tests (and the fleet
# bench on PostgreSQL): a fresh cluster in a temporary directory, listening
# on a free loopback port, user "postgres" without password (trust, loopback
# only). It also serves TLS (ssl=on) with a server certificate for localhost
# and 127.0.0.1 from a CA made for this run, whose certificate is
# <dir>/tls/ca.pem (`ca` prints the path), so the tests can connect with
# sslmode=verify-full; connections without TLS are accepted too. The role
# teehsm_cert logs in only over TLS with a client certificate
# (<dir>/tls/client.crt and client.key, from the same CA); the role
# teehsm_scram only over TLS with the password "teehsm-scram-test" (SCRAM,
# so clients can bind it to the TLS session: channel_binding=require).
#
#   scripts/postgres-test-server.sh start [--durable]  # prints the URL on stdout
#   scripts/postgres-test-server.sh stop               # stops it, removes its files
#   scripts/postgres-test-server.sh url                # prints the running one's URL
#   scripts/postgres-test-server.sh ca                 # prints the path of its CA certificate
#
# The directory is $TEEHSM_POSTGRES_TEST_DIR (default
# /tmp/teehsm-postgres-test-<uid>); `start` replaces a server left there.
# Without --durable, fsync is off (fast tests; a crash loses the data, which
# is thrown away anyway); the fleet bench uses --durable to compare fairly
# with SQLite, which syncs every commit.
# PostgreSQL refuses to run as root: as root the server runs as the
# "postgres" user (Debian's postgresql package creates it; install it with
# scripts/install-deps.sh).
# Use: export TEEHSM_TEST_POSTGRES_URL="$(scripts/postgres-test-server.sh start)"
set -euo pipefail

dir="${TEEHSM_POSTGRES_TEST_DIR:-/tmp/teehsm-postgres-test-$(id -u)}"
data="$dir/data"

die() { echo "postgres-test-server: $*" >&2; exit 1; }

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$d" ] || die "PostgreSQL server binaries not found (no pg_ctl on PATH, no /usr/lib/postgresql/*/bin): install Debian's postgresql package (scripts/install-deps.sh) or set PG_BIN"
  echo "$d"
}

# Runs a command as the cluster's owner: ourselves, or "postgres" when root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run the server as: install Debian's postgresql package (scripts/install-deps.sh)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  if [ -f "$data/PG_VERSION" ]; then
    as_owner "$(find_bin)/pg_ctl" -D "$data" stop -m immediate -w >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

# A CA and a server certificate (localhost, 127.0.0.1) signed by it, in $1.
make_tls() {
  local tls="$1"
  mkdir -p "$tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -days 7 -subj "/CN=teehsm test PostgreSQL CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1 || die "openssl could not make the test CA"
  openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1 \
    || die "openssl could not make the server key"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 7 \
    -extfile "$tls/server.ext" -out "$tls/server.crt" >/dev/null 2>&1 || die "openssl could not sign the server certificate"
  openssl req "${ec[@]}" -subj "/CN=teehsm_cert" -keyout "$tls/client.key" -out "$tls/client.csr" >/dev/null 2>&1 \
    || die "openssl could not make the client key"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$tls/client.ext"
  openssl x509 -req -in "$tls/client.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 7 \
    -extfile "$tls/client.ext" -out "$tls/client.crt" >/dev/null 2>&1 || die "openssl could not sign the client certificate"
  rm -f "$tls/ca.key" "$tls/server.csr" "$tls/server.ext" "$tls/client.csr" "$tls/client.ext" "$tls/ca.srl"
  chmod 0600 "$tls/server.key" "$tls/client.key"
  chmod 0644 "$tls/ca.pem" "$tls/server.crt" "$tls/client.crt"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$tls"
  return 0
}

start() {
  local durable=0
  [ "${1:-}" = "--durable" ] && durable=1
  local bin
  bin="$(find_bin)"
  stop
  mkdir -p "$dir"
  chmod 0700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || die "initdb failed; see $dir/initdb.log"
  make_tls "$dir/tls"
  # teehsm_cert: TLS with a client certificate only (first matching line wins).
  { printf 'hostssl all teehsm_cert 127.0.0.1/32 cert\nhost all teehsm_cert 127.0.0.1/32 reject\n'
    printf 'hostssl all teehsm_scram 127.0.0.1/32 scram-sha-256\nhost all teehsm_scram 127.0.0.1/32 reject\n'
    cat "$data/pg_hba.conf"; } >"$dir/pg_hba.conf"
  mv "$dir/pg_hba.conf" "$data/pg_hba.conf"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$data/pg_hba.conf"
  local opts="-c listen_addresses=127.0.0.1 -k $dir -c max_connections=200"
  opts="$opts -c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key -c ssl_ca_file=$dir/tls/ca.pem"
  [ "$durable" -eq 0 ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  local port tries
  for tries in 1 2 3; do
    port="$(free_port)"
    if as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 30 -o "-p $port $opts" start >/dev/null; then
      echo "postgres://postgres@127.0.0.1:$port/postgres" >"$dir/url"
      "$(command -v psql || echo "$bin/psql")" "$(cat "$dir/url")" -q -v ON_ERROR_STOP=1 -c "CREATE ROLE teehsm_cert LOGIN" \
        -c "SET password_encryption = 'scram-sha-256'" -c "CREATE ROLE teehsm_scram LOGIN PASSWORD 'teehsm-scram-test'" >/dev/null \
        || die "cannot create the roles teehsm_cert and teehsm_scram; see $dir/server.log"
      cat "$dir/url"
      return 0
    fi
  done
  die "the server did not start; see $dir/server.log"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  url) [ -f "$dir/url" ] || die "no server running in $dir"; cat "$dir/url" ;;
  ca) [ -f "$dir/tls/ca.pem" ] || die "no server running in $dir"; echo "$dir/tls/ca.pem" ;;
  *) echo "usage: $0 start [--durable] | stop | url | ca" >&2; exit 2 ;;
esac
