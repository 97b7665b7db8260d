#!/usr/bin/env bash
# Builds teehsm and starts a working HSM on the simulated TEE, in the
# foreground: the CA service supervises the TA and initializes a dev token
# (label "dev-token", SO PIN 12345678, user PIN 123456), and serves the gRPC
# API on 127.0.0.1:8443 with a generated development TLS certificate
# (<state>/grpc-dev-tls/ca.pem is the CA clients trust). State lives in
# ./.teehsm (delete it to start over). Stop with Ctrl-C (graceful shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bins --locked
cargo build --release --locked -p teehsm-pkcs11
STATE=$PWD/.teehsm
GRPC=127.0.0.1:8443
cat >&2 <<EOF2
teehsm: starting the CA service (state in .teehsm). In another shell:

PKCS#11:
  export TEEHSM_PKCS11_SOCKET=$STATE/ca.sock
  pkcs11-tool --module $PWD/target/release/libteehsm_pkcs11.so -L

gRPC (TLS, https://$GRPC; trust $STATE/grpc-dev-tls/ca.pem):
  with grpcurl (optional; not packaged in the registries this project uses):
    grpcurl -cacert $STATE/grpc-dev-tls/ca.pem $GRPC list
    grpcurl -cacert $STATE/grpc-dev-tls/ca.pem -d '{"service":"teehsm.v1.KeyManagementService"}' $GRPC grpc.health.v1.Health/Check
    grpcurl -cacert $STATE/grpc-dev-tls/ca.pem -d '{"length_bytes":32}' $GRPC teehsm.v1.KeyManagementService/GenerateRandom
  with Python (grpcio, installed by scripts/install-deps.sh): anonymous GenerateRandom
    python3 -m grpc_tools.protoc -I wire/proto --python_out=/tmp/teehsm-py --grpc_python_out=/tmp/teehsm-py teehsm/v1/kms.proto
    PYTHONPATH=/tmp/teehsm-py python3 -c 'import grpc; from teehsm.v1 import kms_pb2 as pb, kms_pb2_grpc as g; ch = grpc.secure_channel("$GRPC", grpc.ssl_channel_credentials(open("$STATE/grpc-dev-tls/ca.pem", "rb").read())); print(g.KeyManagementServiceStub(ch).GenerateRandom(pb.GenerateRandomRequest(length_bytes=32)).data.hex())'
  Other calls need a registered API client (teehsm client add; docs/client-auth.md).
  Health and metrics over HTTP: curl http://127.0.0.1:9464/healthz  /metrics
EOF2
exec target/release/teehsm-ca --state-dir .teehsm --init-dev-token --grpc-listen "$GRPC" --grpc-dev-tls "$@"
