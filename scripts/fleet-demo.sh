#!/usr/bin/env bash
# Two gateways on one local nats-server (docs/FLEET.md), end to end and
# bounded: starts nats-server -js (a free loopback port, a temporary store
# directory), gateways A and B with --log=jetstream on it (free loopback
# ports), sends simulated vehicles to both, then checks with
# fixstream-subscribe that
#   1. A and B deliver the same records in the same order (one numbering);
#   2. a subscriber that read part of the stream from A and resumes on B with
#      --from=<last + 1> gets the rest: no gap, no duplicate.
# Stops everything it started by PID. Exits 0 when both hold, 1 otherwise, 77
# when nats-server is not installed.
#
#   scripts/fleet-demo.sh [BUILD_DIR]     # default: build-release
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build-release}
GATEWAY=$BUILD/gateway/fixstream-gateway
SIMULATE=$BUILD/clients/fixstream-simulate
SUBSCRIBE=$BUILD/clients/fixstream-subscribe
for binary in "$GATEWAY" "$SIMULATE" "$SUBSCRIBE"; do
  [[ -x $binary ]] || { echo "fleet-demo: $binary is missing (build first)" >&2; exit 1; }
done
NATS=$(command -v nats-server || true)
if [[ -z $NATS ]]; then
  echo "fleet-demo: nats-server is not installed (apt-get install nats-server)" >&2
  exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fixstream-fleet-demo.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# await FILE PATTERN PID: up to 20 s for PATTERN in FILE while PID lives.
await() {
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  echo "fleet-demo: gave up waiting for '$2' in $1:" >&2
  tail -5 "$1" >&2
  exit 1
}

NATS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$NATS" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
PIDS+=("$!")
await "$WORK/nats.log" 'Server is ready' "$!"
echo "fleet-demo: nats-server on 127.0.0.1:$NATS_PORT"

# start_gateway NAME: sets <NAME>_DEVICE and <NAME>_GRPC.
start_gateway() {
  local name=$1 log=$WORK/gateway-$1.log
  "$GATEWAY" --log=jetstream --nats_url="nats://127.0.0.1:$NATS_PORT" --nats_gateway_id="$name" \
    --device_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
    >"$log" 2>&1 &
  PIDS+=("$!")
  await "$log" 'grpc_port=' "$!"
  printf -v "${name}_DEVICE" '%s' "$(grep -o 'device_port=[0-9]*' "$log" | head -1 | cut -d= -f2)"
  printf -v "${name}_GRPC" '%s' "$(grep -o 'grpc_port=[0-9]*' "$log" | head -1 | cut -d= -f2)"
  echo "fleet-demo: gateway $name: $(grep -o 'log: jetstream.*' "$log" | head -1)"
}
start_gateway A
start_gateway B

# 2 vehicles on each gateway, 250 fixes each.
"$SIMULATE" --target="127.0.0.1:$A_DEVICE" --connections=2 --lines=250 --vehicle_prefix=a- \
  >/dev/null
"$SIMULATE" --target="127.0.0.1:$B_DEVICE" --connections=2 --lines=250 --vehicle_prefix=b- \
  >/dev/null
TOTAL=1000

subscribe() {  # PORT FROM COUNT OUT
  timeout 30 "$SUBSCRIBE" --target="127.0.0.1:$1" --from="$2" --max_records="$3" --format=csv \
    | tail -n +2 >"$4"
}
subscribe "$A_GRPC" oldest "$TOTAL" "$WORK/a.csv"
subscribe "$B_GRPC" oldest "$TOTAL" "$WORK/b.csv"
[[ $(wc -l <"$WORK/a.csv") == "$TOTAL" ]] || { echo "fleet-demo: A delivered $(wc -l <"$WORK/a.csv") of $TOTAL" >&2; exit 1; }
if ! cmp -s "$WORK/a.csv" "$WORK/b.csv"; then
  echo "fleet-demo: A and B delivered different streams" >&2
  diff "$WORK/a.csv" "$WORK/b.csv" | head -5 >&2
  exit 1
fi
echo "fleet-demo: A and B delivered the same $TOTAL records in the same order"

# Part of the stream from A, the rest from B.
subscribe "$A_GRPC" oldest 400 "$WORK/part1.csv"
last=$(tail -1 "$WORK/part1.csv" | cut -d, -f1)
subscribe "$B_GRPC" $((last + 1)) $((TOTAL - 400)) "$WORK/part2.csv"
if ! cat "$WORK/part1.csv" "$WORK/part2.csv" | cmp -s - "$WORK/a.csv"; then
  echo "fleet-demo: resuming on B after sequence $last did not give the rest of the stream" >&2
  exit 1
fi
echo "fleet-demo: read 1..$last from A, resumed on B at $((last + 1)): no gap, no duplicate"
