#!/usr/bin/env bash
# The stall benchmark (issue #12): does a subscriber far behind, with a
# filter that matches nothing, hold up everyone else?
#
#   bench/stall.sh
#   STALL_BUILDS="before=/path/to/old/build-release after=build-release" bench/stall.sh
#
# A journal of STALL_HISTORY (1,000,000) records is written once. Then, per
# gateway build and per ring size (STALL_RINGS: "4096 1048576" records of
# --retention_records), a gateway starts over a copy of it, and:
#   control  a paced load (STALL_RATE lines/s, 1000, for STALL_SECONDS, 10)
#            to one normal subscriber, which histograms send → deliver
#            latency (fixstream-load --stamp_send_time, fixstream-fanout
#            --latency), while /metrics is scraped every 100 ms (curl's
#            time_total);
#   stalled  the same, while STALL_CLIENTS (2) clients keep subscribing from
#            sequence 1 with a vehicle filter that matches nothing (each
#            subscription lasts up to 1 s, then the next one starts over).
# Target: stalled p99 within 2× the control's, /metrics under 50 ms.
#
# STALL_BUILDS lists NAME=BUILD_DIR pairs whose gateways are compared, in
# one run, side by side (default: this tree's build-release, built if
# needed). The clients (fixstream-load, fixstream-fanout --start_sequence)
# always come from STALL_CLIENT_BUILD_DIR (default build-release).
# STALL_ROUNDS (1) repeats every measurement, alternating the builds (the
# figures of a shared machine are noisy). STALL_KEEP=1 keeps the work dir. Processes are tracked by PID and stopped
# on exit; nothing is killed by name.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENT_DIR=${STALL_CLIENT_BUILD_DIR:-$ROOT/build-release}
BUILDS=${STALL_BUILDS:-this=$CLIENT_DIR}
HISTORY=${STALL_HISTORY:-1000000}
RINGS=${STALL_RINGS:-4096 1048576}
RATE=${STALL_RATE:-1000}
SECONDS_PER_RUN=${STALL_SECONDS:-10}
CLIENTS=${STALL_CLIENTS:-2}
ROUNDS=${STALL_ROUNDS:-1}
LOAD=$CLIENT_DIR/clients/fixstream-load
FANOUT=$CLIENT_DIR/clients/fixstream-fanout
BENCH_NAME=stall
BENCH_KEEP=${STALL_KEEP:-0}
ROWS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_init

if [[ "${STALL_BUILD:-1}" == 1 && -z "${STALL_BUILDS:-}" ]]; then
  ensure_release_build "$CLIENT_DIR" fixstream-gateway fixstream-load fixstream-fanout
fi
[[ -x "$LOAD" && -x "$FANOUT" ]] || die "clients missing in $CLIENT_DIR"
[[ "$("$FANOUT" --helpfull 2>&1 || true)" == *start_sequence* ]] || die "$FANOUT has no --start_sequence"

# ring_flags RECORDS: retention of RECORDS records, bytes to match.
ring_flags() {
  local bytes=$((64 << 20))
  if (($1 > 65536)); then bytes=$((256 << 20)); fi
  echo "--retention_records=$1 --retention_bytes=$bytes"
}

# The shared history: HISTORY records, written once by the first gateway.
make_history() {
  local first_dir=${BUILDS%% *}
  first_dir=${first_dir#*=}
  GATEWAY=$first_dir/gateway/fixstream-gateway
  log "writing a journal of $HISTORY records"
  start_gateway history "--journal_dir=$WORK/history" $(ring_flags 4096)
  timeout 300 "$LOAD" --target="127.0.0.1:$DEVICE_PORT" --generate="$HISTORY" --format=csv \
    --connections=4 --max_seconds=280 >"$WORK/load-history.out" 2>&1 ||
    die "history load failed: $(tail -2 "$WORK/load-history.out")"
  # (A clean stop drains the connections and flushes the journal.)
  stop_gateway
}

# stall_clients: CLIENTS loops, each subscribing from sequence 1 with a
# filter nothing matches, one subscription after the other, until
# $WORK/stop exists. Sets STALL_PIDS.
stall_clients() {
  local c
  STALL_PIDS=()
  rm -f "$WORK/stop"
  for ((c = 0; c < CLIENTS; c++)); do
    (
      while [[ ! -e "$WORK/stop" ]]; do
        timeout 10 "$FANOUT" --target="127.0.0.1:$GRPC_PORT" --start_sequence=1 \
          --vehicle_ids=never-seen --max_seconds=1 --idle_exit_ms=0 >/dev/null 2>&1 || true
      done
    ) &
    STALL_PIDS+=($!)
    PIDS+=($!)
  done
}

stop_loops() {
  local pid
  touch "$WORK/stop"
  for pid in "$@"; do
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
  done
}

# scrape_metrics FILE: curl's time_total of a /metrics scrape every 100 ms
# into FILE until $WORK/stop exists. Sets SCRAPE_PID.
scrape_metrics() {
  local file=$1
  : >"$file"
  (
    while [[ ! -e "$WORK/stop" ]]; do
      curl -s -o /dev/null -m 10 -w '%{time_total}\n' "http://127.0.0.1:$METRICS_PORT/metrics" \
        >>"$file" || true
      sleep 0.1
    done
  ) &
  SCRAPE_PID=$!
  PIDS+=("$SCRAPE_PID")
}

# run NAME BUILD_DIR RING MODE: one measurement; appends a table row.
run() {
  local name=$1 dir=$2 ring=$3 mode=$4 lines rc=0 latency scrapes
  GATEWAY=$dir/gateway/fixstream-gateway
  lines=$((RATE * SECONDS_PER_RUN))
  rm -rf "$WORK/journal-run"
  cp -r "$WORK/history" "$WORK/journal-run"
  start_gateway "$name-$ring-$mode" "--journal_dir=$WORK/journal-run" $(ring_flags "$ring")
  rm -f "$WORK/stop"
  STALL_PIDS=()
  if [[ $mode == stalled ]]; then
    stall_clients
    sleep 1
  fi
  timeout $((SECONDS_PER_RUN + 60)) "$FANOUT" --target="127.0.0.1:$GRPC_PORT" --latency \
    --subscribers=1 --expect="$lines" --idle_exit_ms=3000 --max_seconds=$((SECONDS_PER_RUN + 30)) \
    >"$WORK/fanout.out" 2>"$WORK/fanout.err" &
  local fanout_pid=$!
  PIDS+=("$fanout_pid")
  await_output "$WORK/fanout.err" 'subscribed=' "$fanout_pid" 30 || die "subscriber did not register"
  scrape_metrics "$WORK/scrapes"
  timeout $((SECONDS_PER_RUN + 60)) "$LOAD" --target="127.0.0.1:$DEVICE_PORT" --generate="$lines" \
    --format=csv --connections=1 --rate="$RATE" --stamp_send_time \
    --max_seconds=$((SECONDS_PER_RUN + 30)) >"$WORK/load.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || log "$name: fixstream-load exited $rc"
  wait "$fanout_pid" || log "$name: fixstream-fanout exited $?"
  forget_pid "$fanout_pid"
  stop_loops "$SCRAPE_PID" "${STALL_PIDS[@]}"
  stop_gateway
  latency=$(grep 'latency_us' "$WORK/fanout.out" || true)
  scrapes=$(sort -n "$WORK/scrapes" | awk '{ v[NR] = $1 * 1000 } END {
    if (NR == 0) { print "- / - / -"; exit }
    printf "%.1f / %.1f / %.1f", v[int((NR + 1) / 2)], v[int(NR * 0.99 + 0.999)], v[NR] }')
  ROWS+=("| $name | $ring | $mode | $(value n "$latency") | $(value p50 "$latency") | $(value p99 "$latency") | $(value max "$latency") | $(wc -l <"$WORK/scrapes") | $scrapes |")
  log "${ROWS[-1]}"
}

make_history
for ring in $RINGS; do
  for ((round = 0; round < ROUNDS; round++)); do
    for mode in control stalled; do
      for build in $BUILDS; do run "${build%%=*}" "${build#*=}" "$ring" "$mode"; done
    done
  done
done

echo
echo "fixstream stall benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, history $HISTORY records, $RATE lines/s × ${SECONDS_PER_RUN} s, $CLIENTS stalling clients"
echo
echo "| build | ring records | mode | records | send→deliver µs p50 | p99 | max | /metrics scrapes | scrape ms p50 / p99 / max |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
