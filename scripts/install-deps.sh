#!/usr/bin/env bash
# Installs what fixstream needs to build, test and run on Debian 12, with
# apt-get, skipping what is already there. Safe to run repeatedly.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libssl-dev openssl libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libasio-dev libsimdjson-dev prometheus-cpp-dev libsystemd-dev
  libhttp-parser-dev  # ingest/osmand.cc: the OsmAnd protocol's HTTP requests
  libnats-dev nats-server  # gateway/fleet: the JetStream store (issue #17) and its tests
  libgtest-dev libgmock-dev libbenchmark-dev
  libfast-float-dev  # bench/number_bench only: the ParseDouble comparison
  clang libclang-rt-14-dev netcat-openbsd
  # the doc examples' tools (tests/docs/doc_examples_test.sh runs them)
  curl jq
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
