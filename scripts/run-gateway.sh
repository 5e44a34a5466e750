#!/usr/bin/env bash
# Installs what is missing, builds fixstream (Release) and runs the gateway in
# the foreground with default settings: devices on 0.0.0.0:7878, gRPC in
# plaintext on 127.0.0.1:50051 (loopback only; docs/SECURITY.md for TLS and
# tokens). Extra arguments go to fixstream-gateway (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DFIXSTREAM_BUILD_TESTS=OFF -DFIXSTREAM_BUILD_BENCH=OFF >/dev/null
cmake --build build-release --target fixstream-gateway fixstream-subscribe fixstream-simulate
exec build-release/gateway/fixstream-gateway "$@"
