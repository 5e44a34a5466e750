#!/usr/bin/env bash
# Connection figures of a real fixstream gateway on loopback: what an idle
# device connection costs, how fast connections are accepted, and what
# slow-drip peers do to well-behaved ones.
#
#   bench/connections.sh                   # full run, about two minutes
#   CONNS_QUICK=1 bench/connections.sh     # small sizes, well under a minute
#
# Scenarios, each against a fresh gateway (the script raises its descriptor
# soft limit to the hard one for everything it starts; connection limits are
# raised by flags) on free loopback ports:
#   idle-N      fixstream-conns opens N idle connections over CONNS_SOURCES
#               source addresses (N = CONNS_IDLE, as many as the descriptor
#               limit allows minus headroom, and CONNS_ACCEPT = 10,000). Time
#               to establish them (client) and until the gateway's
#               fixstream_connections gauge shows them all (metrics, polled);
#               gateway VmRSS before and while holding them.
#   load        fixstream-load (CONNS_LOAD_CONNECTIONS connections, CONNS_LINES
#               mixed lines) to one fixstream-fanout subscriber, as in
#               bench/e2e.sh, alone ...
#   load+drip   ... and with CONNS_DRIP slow-drip connections attached (one
#               byte a second, never a newline; --line_timeout_ms=600000 keeps
#               them attached throughout).
#   cutoff-T    CONNS_DRIP slow-drip connections against --line_timeout_ms=T
#               (CONNS_CUTOFF_MS, 2000; and the default 30 s unless
#               CONNS_DEFAULT_CUTOFF=0): when the gateway closes them.
#
# Sizes (environment): CONNS_IDLE (19000), CONNS_ACCEPT (10000), CONNS_SOURCES
# (8), CONNS_DRIP (1000), CONNS_LINES (1000000), CONNS_LOAD_CONNECTIONS (8),
# CONNS_CUTOFF_MS (2000), CONNS_DEFAULT_CUTOFF (1; 0 skips the 30 s run);
# CONNS_QUICK=1 shrinks them. Build: CONNS_BUILD_DIR (build-release),
# CONNS_BUILD=0 to use existing binaries. CONNS_RUN_TIMEOUT (120) bounds every
# client process and every wait, in seconds. CONNS_KEEP=1 keeps the logs.
#
# Processes this script starts are tracked by PID and stopped on exit (TERM,
# then KILL after 5 s), Ctrl-C included. Nothing is killed by name. Every
# address is loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${CONNS_BUILD_DIR:-$ROOT/build-release}
if [[ "${CONNS_QUICK:-0}" == 1 ]]; then
  : "${CONNS_IDLE:=2000}" "${CONNS_ACCEPT:=1000}" "${CONNS_DRIP:=200}" "${CONNS_LINES:=200000}"
  : "${CONNS_DEFAULT_CUTOFF:=0}"
fi
IDLE=${CONNS_IDLE:-19000}
ACCEPT=${CONNS_ACCEPT:-10000}
SOURCES=${CONNS_SOURCES:-8}
DRIP=${CONNS_DRIP:-1000}
LINES=${CONNS_LINES:-1000000}
LOAD_CONNECTIONS=${CONNS_LOAD_CONNECTIONS:-8}
CUTOFF_MS=${CONNS_CUTOFF_MS:-2000}
DEFAULT_CUTOFF=${CONNS_DEFAULT_CUTOFF:-1}
RUN_TIMEOUT=${CONNS_RUN_TIMEOUT:-120}

GATEWAY=$BUILD_DIR/gateway/fixstream-gateway
LOAD=$BUILD_DIR/clients/fixstream-load
FANOUT=$BUILD_DIR/clients/fixstream-fanout
CONNS=$BUILD_DIR/clients/fixstream-conns
HARD_NOFILE=$(ulimit -Hn)
# Every process started from here (the gateway first) may open as many
# descriptors as the hard limit allows.
ulimit -n "$HARD_NOFILE"
ROWS=()
BENCH_NAME=connections
BENCH_KEEP=${CONNS_KEEP:-0}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_init
NOTES=()

build() {
  if [[ "${CONNS_BUILD:-1}" != 1 ]]; then return; fi
  ensure_release_build "$BUILD_DIR" fixstream-gateway fixstream-load fixstream-fanout \
    fixstream-conns
}

# The gateway flags this bench needs; checked up front, so that a gateway
# without them fails here and not halfway through.
check_gateway_flags() {
  local help flag
  help=$("$GATEWAY" --helpfull 2>&1 || true)
  for flag in max_connections max_connections_per_source line_timeout_ms max_fix_lead_s \
    metrics_listen; do
    grep -q -- "--$flag" <<<"$help" || die "$GATEWAY has no --$flag flag (rebuild?)"
  done
}

# Limits that admit everything a scenario opens.
limit_flags() {
  echo "--max_connections=$(($1 + 1000)) --max_connections_per_source=$(($1 + 1000))"
}

# start_conns NAME FLAGS...: starts fixstream-conns against the device port
# and waits until every connect completed (its "ready:" line); sets
# CONNS_PID and READY_LINE.
start_conns() {
  local name=$1
  shift
  timeout --kill-after=5 $((RUN_TIMEOUT + 15)) \
    "$CONNS" --target="127.0.0.1:$DEVICE_PORT" --source_addresses="$SOURCES" \
    --max_seconds="$RUN_TIMEOUT" "$@" >"$WORK/conns-$name.out" 2>"$WORK/conns-$name.err" &
  CONNS_PID=$!
  PIDS+=("$CONNS_PID")
  if await_output "$WORK/conns-$name.err" 'ready: established=' "$CONNS_PID" "$RUN_TIMEOUT"; then
    READY_LINE=$(grep 'ready: established=' "$WORK/conns-$name.err")
    return
  fi
  die "fixstream-conns did not get ready: $(tail -3 "$WORK/conns-$name.err")"
}

# finish_conns NAME: waits for fixstream-conns (it ends after --hold_seconds,
# on TERM once holding, or when the gateway closed every connection); sets
# CONNS_LINE.
finish_conns() {
  local name=$1 rc=0
  wait "$CONNS_PID" || rc=$?
  forget_pid "$CONNS_PID"
  CONNS_LINE=$(grep 'fixstream-conns: mode=' "$WORK/conns-$name.out" || true)
  if [[ $rc != 0 ]]; then log "$name: fixstream-conns exited $rc: $CONNS_LINE"; fi
}

# wait_gauge N DEADLINE_MS [down]: polls fixstream_connections every 10 ms
# until it reads at least N (with "down": at most N); prints the time (ms since
# the epoch) it first did, or nothing at the deadline.
wait_gauge() {
  local want=$1 deadline=$2 direction=${3:-up} got
  while (($(now_ms) < deadline)); do
    got=$(metric fixstream_connections)
    got=${got%.*}
    if [[ -n "$got" ]] && { [[ $direction == up && $got -ge $want ]] ||
      [[ $direction == down && $got -le $want ]]; }; then
      now_ms
      return
    fi
    sleep 0.01
  done
}

# row SCENARIO HELD ESTABLISHED CONNECT_MS GATEWAY_MS RSS PER_CONN RATE NS CLOSED
row() {
  ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 | $9 | ${10} |")
  log "${ROWS[-1]}"
}

scenario_idle() {
  local n=$1 name="idle-$1" rss0 rss1 rss2 t0 t_all connect_ms gateway_ms per_conn hold
  # shellcheck disable=SC2046
  start_gateway "$name" $(limit_flags "$n")
  sleep 0.5
  rss0=$(rss_kib "$GW_PID")
  t0=$(now_ms)
  # Long enough to poll and settle; the bench ends the hold with TERM.
  hold=$RUN_TIMEOUT
  start_conns "$name" --connections="$n" --hold_seconds="$hold"
  t_all=$(wait_gauge "$n" $((t0 + RUN_TIMEOUT * 1000)))
  connect_ms=$(awk -v us="$(value connect_us "$READY_LINE")" 'BEGIN { printf "%.0f", us / 1000 }')
  gateway_ms="-"
  if [[ -n "$t_all" ]]; then
    gateway_ms=$((t_all - t0))
  else
    log "$name: the gateway never showed $n connections: $(metric fixstream_connections)"
  fi
  # Let the I/O threads finish starting the last sessions.
  sleep 1
  rss1=$(rss_kib "$GW_PID")
  per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
  kill -TERM "$CONNS_PID"  # ends the hold: closes every connection, prints the summary
  finish_conns "$name"
  wait_gauge 0 $(($(now_ms) + 10000)) down >/dev/null
  sleep 0.5
  rss2=$(rss_kib "$GW_PID")
  NOTES+=("$name: gateway VmRSS ${rss0} KiB before, ${rss1} KiB holding $n, ${rss2} KiB after they closed; client: $CONNS_LINE")
  stop_gateway
  row "idle, $n conn over $SOURCES sources" "$n" \
    "$(value established "$READY_LINE") / $(value failed "$READY_LINE")" "$connect_ms" \
    "$gateway_ms" "$rss0 → $rss1" "$per_conn" "-" "-" \
    "$(value peer_closed "$CONNS_LINE")"
}

# scenario_load NAME DRIPPERS: the e2e throughput scenario, with DRIPPERS
# slow-drip connections attached (0: none).
scenario_load() {
  local name=$1 drippers=$2 before after rss0 rss1 fanout_rc=0 load_rc=0
  local fanout_line load_line records first last seconds rate ns closed="-" held=0
  # shellcheck disable=SC2046
  # --max_fix_lead_s=0: fixstream-load's NMEA vehicle (one per connection)
  # gets a quarter of the connection's lines, one second of fix time each, so
  # its fixes run hours past the clock and the default 900 s lead would reject
  # them as fix_in_future; this bench counts deliveries, not validation.
  start_gateway "$name" $(retention_flags "$LINES") $(limit_flags "$drippers") \
    --line_timeout_ms=600000 --max_fix_lead_s=0
  sleep 0.5
  rss0=$(rss_kib "$GW_PID")
  rss1=$rss0
  if ((drippers > 0)); then
    start_conns "$name" --mode=drip --connections="$drippers" --hold_seconds="$RUN_TIMEOUT"
    held=$(value established "$READY_LINE")
    sleep 1.5  # every dripper has sent its first bytes: a partial line each
    rss1=$(rss_kib "$GW_PID")
  fi
  timeout --kill-after=5 $((RUN_TIMEOUT + 15)) \
    "$FANOUT" --target="127.0.0.1:$GRPC_PORT" --max_seconds="$RUN_TIMEOUT" --subscribers=1 \
    --expect="$LINES" --idle_exit_ms=5000 >"$WORK/fanout-$name.out" 2>"$WORK/fanout-$name.err" &
  local fanout_pid=$! i
  PIDS+=("$fanout_pid")
  for ((i = 0; i < 600; i++)); do  # up to 30 s
    grep -q 'subscribed=' "$WORK/fanout-$name.err" && break
    kill -0 "$fanout_pid" 2>/dev/null || die "$name: fixstream-fanout: $(tail -2 "$WORK/fanout-$name.err")"
    sleep 0.05
  done
  before=$(cpu_ticks "$GW_PID")
  timeout --kill-after=5 $((RUN_TIMEOUT + 15)) \
    "$LOAD" --target="127.0.0.1:$DEVICE_PORT" --max_seconds="$RUN_TIMEOUT" \
    --generate="$LINES" --format=mixed --connections="$LOAD_CONNECTIONS" \
    >"$WORK/load-$name.out" 2>"$WORK/load-$name.err" || load_rc=$?
  wait "$fanout_pid" || fanout_rc=$?
  forget_pid "$fanout_pid"
  after=$(cpu_ticks "$GW_PID")
  ((load_rc == 0)) || log "$name: fixstream-load exited $load_rc: $(tail -2 "$WORK/load-$name.err")"
  ((fanout_rc == 0)) || log "$name: fixstream-fanout exited $fanout_rc"
  load_line=$(grep 'fixstream-load: connections=' "$WORK/load-$name.out" || true)
  fanout_line=$(grep 'fixstream-fanout: subscribers=' "$WORK/fanout-$name.out" || true)
  if ((drippers > 0)); then
    kill -TERM "$CONNS_PID"
    finish_conns "$name"
    closed=$(value peer_closed "$CONNS_LINE")
    NOTES+=("$name: gateway VmRSS ${rss0} KiB before, ${rss1} KiB with $drippers drippers attached; client: $CONNS_LINE")
  fi
  stop_gateway
  records=$(value records "$fanout_line")
  first=$(value first_send_unix_ns "$load_line")
  last=$(value last_unix_ns "$fanout_line")
  seconds=$(awk -v f="${first:-0}" -v l="${last:-0}" 'BEGIN { s = (l - f) / 1e9; printf "%.3f", (s > 0 ? s : 0) }')
  rate=$(awk -v n="${records:-0}" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  ns=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="${records:-0}" \
    'BEGIN { printf "%.0f", (n > 0 ? t / hz * 1e9 / n : 0) }')
  local label="load: $LOAD_CONNECTIONS conn × $LINES mixed lines → 1 sub"
  ((drippers > 0)) && label="$label, + $drippers drippers"
  row "$label" "$held" "-" "-" "-" "$rss0 → $rss1" \
    "$(awk -v a="$rss0" -v b="$rss1" -v n="$drippers" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "-" }')" \
    "$rate (${records:-?} in $seconds s)" "$ns" "$closed"
}

# scenario_cutoff NAME TIMEOUT_FLAGS...: drippers against a line timeout;
# fixstream-conns ends when the gateway closed them all.
scenario_cutoff() {
  local name=$1 hold=$2 lines_timeout
  shift 2
  # shellcheck disable=SC2046
  start_gateway "$name" $(limit_flags "$DRIP") "$@"
  start_conns "$name" --mode=drip --connections="$DRIP" --hold_seconds="$hold"
  finish_conns "$name"
  lines_timeout=$(metric 'fixstream_connections_closed_total{reason="line_timeout"}')
  stop_gateway
  row "drip cut-off, $DRIP drippers, ${name#cutoff-}" "$(value established "$READY_LINE")" \
    "$(value established "$READY_LINE") / $(value failed "$READY_LINE")" \
    "$(awk -v us="$(value connect_us "$READY_LINE")" 'BEGIN { printf "%.0f", us / 1000 }')" \
    "-" "-" "-" "-" "-" \
    "$(value peer_closed "$CONNS_LINE") (metric line_timeout: ${lines_timeout:-?}) after $(value peer_closed_after_ms_min "$CONNS_LINE") / $(value peer_closed_after_ms_p50 "$CONNS_LINE") / $(value peer_closed_after_ms_max "$CONNS_LINE") ms"
}

build
[[ -x "$GATEWAY" && -x "$LOAD" && -x "$FANOUT" && -x "$CONNS" ]] || die "binaries missing in $BUILD_DIR"
check_gateway_flags
((IDLE + 64 <= HARD_NOFILE)) || die "CONNS_IDLE=$IDLE does not fit the hard descriptor limit $HARD_NOFILE"

log "work dir $WORK; descriptor hard limit $HARD_NOFILE"
scenario_idle "$IDLE"
scenario_idle "$ACCEPT"
scenario_load load 0
scenario_load load-drip "$DRIP"
scenario_cutoff "cutoff-line_timeout_ms=$CUTOFF_MS" $((CUTOFF_MS * 3 / 1000 + 10)) \
  --line_timeout_ms="$CUTOFF_MS"
if [[ "$DEFAULT_CUTOFF" == 1 ]]; then
  scenario_cutoff "cutoff-default (30 s)" 50
fi

echo
echo "fixstream connections — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr), ulimit -Hn $HARD_NOFILE"
echo
echo "| scenario | connections held | established / failed | connect ms (client: first connect → all established) | gateway ms (client start → gauge shows all) | gateway VmRSS KiB before → holding | RSS B per held conn | records/s | gateway CPU ns/record | closed by gateway |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
printf '%s\n' "${NOTES[@]}"
