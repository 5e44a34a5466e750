#!/usr/bin/env bash
# Memory under a steady load held for minutes: a real fixstream-gateway with
# its defaults (journal on, group commit), SOAK_CONNECTIONS devices sending
# SOAK_RATE lines/s in total for SOAK_SECONDS, one subscriber receiving
# everything. The gateway's resident memory is sampled every
# SOAK_INTERVAL seconds; the table shows it over time and the growth from
# the first sample after SOAK_WARMUP seconds (the ring has wrapped by then
# at the default rate) to the last.
#
#   bench/soak.sh                    # 100,000 lines/s for 180 s
#   SOAK_SECONDS=30 bench/soak.sh    # shorter
#
# SOAK_GATEWAY_FLAGS adds gateway flags (e.g. --journal_dir= for no journal).
# Build: SOAK_BUILD_DIR (build-release), SOAK_BUILD=0 to use existing
# binaries. SOAK_KEEP=1 keeps the logs. Every address is loopback; the load
# stops by itself after SOAK_SECONDS.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${SOAK_BUILD_DIR:-$ROOT/build-release}
RATE=${SOAK_RATE:-100000}
SECONDS_TOTAL=${SOAK_SECONDS:-180}
INTERVAL=${SOAK_INTERVAL:-10}
WARMUP=${SOAK_WARMUP:-30}
CONNECTIONS=${SOAK_CONNECTIONS:-8}

GATEWAY=$BUILD_DIR/gateway/fixstream-gateway
LOAD=$BUILD_DIR/clients/fixstream-load
FANOUT=$BUILD_DIR/clients/fixstream-fanout
BENCH_NAME=soak
BENCH_KEEP=${SOAK_KEEP:-0}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_init

if [[ "${SOAK_BUILD:-1}" == 1 ]]; then
  ensure_release_build "$BUILD_DIR" fixstream-gateway fixstream-load fixstream-fanout
fi
[[ -x "$GATEWAY" && -x "$LOAD" && -x "$FANOUT" ]] || die "binaries missing in $BUILD_DIR"
((WARMUP < SECONDS_TOTAL)) || die "SOAK_WARMUP must be below SOAK_SECONDS"

lines=$((RATE * SECONDS_TOTAL))
# shellcheck disable=SC2086
start_gateway soak ${SOAK_GATEWAY_FLAGS:-}
timeout --kill-after=5 $((SECONDS_TOTAL + 60)) "$FANOUT" --target="127.0.0.1:$GRPC_PORT" \
  --subscribers=1 --expect="$lines" --idle_exit_ms=5000 --max_seconds=$((SECONDS_TOTAL + 45)) \
  >"$WORK/fanout.out" 2>"$WORK/fanout.err" &
FANOUT_PID=$!
PIDS+=("$FANOUT_PID")
await_output "$WORK/fanout.err" 'subscribed=' "$FANOUT_PID" 30 ||
  die "subscriber did not register: $(tail -3 "$WORK/fanout.err")"
rss_start=$(rss_kib "$GW_PID")
timeout --kill-after=5 $((SECONDS_TOTAL + 30)) "$LOAD" --target="127.0.0.1:$DEVICE_PORT" \
  --generate="$lines" --format=mixed --connections="$CONNECTIONS" --rate="$RATE" \
  --max_seconds=$((SECONDS_TOTAL + 20)) >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

ROWS=()
rss_warm=""
t0=$(now_ms)
for ((t = INTERVAL; t <= SECONDS_TOTAL; t += INTERVAL)); do
  sleep $((t - ($(now_ms) - t0) / 1000 > 0 ? t - ($(now_ms) - t0) / 1000 : 0))
  kill -0 "$GW_PID" 2>/dev/null || die "gateway exited: $(tail -3 "$WORK/gateway-soak.log")"
  rss=$(rss_kib "$GW_PID")
  published=$(metric fixstream_records_published_total)
  ROWS+=("| $t | $rss | ${published:-?} |")
  log "t=${t}s rss=${rss} KiB published=${published:-?}"
  if [[ -z "$rss_warm" && $t -ge $WARMUP ]]; then rss_warm=$rss; fi
done
wait "$LOAD_PID" || log "fixstream-load exited $?: $(tail -2 "$WORK/load.err")"
forget_pid "$LOAD_PID"
wait "$FANOUT_PID" || log "fixstream-fanout exited $?: $(tail -2 "$WORK/fanout.err")"
forget_pid "$FANOUT_PID"
rss_end=$(rss_kib "$GW_PID")
stop_gateway

echo
echo "fixstream soak — $(date -u +%Y-%m-%dT%H:%M:%SZ), $RATE lines/s over $CONNECTIONS connections for ${SECONDS_TOTAL} s, 1 subscriber, gateway flags: ${SOAK_GATEWAY_FLAGS:-(defaults)}"
echo
echo "| s | gateway RSS KiB | records published |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "RSS at start (subscriber attached, before load): $rss_start KiB; after ${WARMUP} s: ${rss_warm:-?} KiB; at the end: $rss_end KiB; growth after warm-up: $((rss_end - ${rss_warm:-$rss_end})) KiB"
echo "$(grep 'fixstream-fanout: subscribers=' "$WORK/fanout.out" || true)"
