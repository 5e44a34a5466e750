#!/usr/bin/env bash
# End-to-end figures of a real fixstream gateway on loopback: lines in over
# TCP (fixstream-load), records out over gRPC (fixstream-fanout).
#
#   bench/e2e.sh                 # full run, a few minutes
#   E2E_QUICK=1 bench/e2e.sh     # small sizes, under a minute
#
# Scenarios, each against a fresh gateway on free loopback ports:
#   throughput  8 connections blast a generated mixed file (75 % CSV, 25 % NMEA
#               RMC) to one subscriber; lines/s from the first send to the last
#               record delivered.
#   fanout-S    S subscribers each receive every record of an unpaced run.
#   latency     CSV lines stamped with their send time: one every 10 ms, then
#               a steady aggregate rate; receive time minus stamp.
#   journal     the throughput scenario again with the journal off, under
#               group commit and under fsync-per-batch (same load, same run),
#               with fsyncs/s from the gateway's metrics; and the at-rest
#               latency under fsync-per-batch (delivery waits for the fsync).
#   security    the throughput, a 10-subscriber fan-out and the at-rest latency
#               scenarios twice in a row: plaintext gRPC without tokens, then
#               TLS (a P-256 certificate made here with openssl) with a bearer
#               token checked against a tokens file (docs/SECURITY.md).
#   protocols   one load per format, 14 connections each, paced at
#               E2E_PROTOCOLS_RATE lines/s (300000) so the rows compare gateway
#               CPU per record at one rate (same gateway flags, same run): CSV,
#               today's mixed file, and fixstream-load --format=trackers, where
#               connection c speaks the c-th of the seven tracker protocols
#               (H02, GPS103, TK103, Watch, Queclink, Meitrack, Suntech) to the
#               auto-detecting port and reads the replies (H02's V4). Unpaced,
#               the load's one thread falls behind reading H02's replies and the
#               gateway closes those connections as reply_timeout (more than
#               1 MiB of replies waiting): docs/PERFORMANCE.md. Not in the
#               default set.
#   devices     the device policies at one paced rate (E2E_PROTOCOLS_RATE),
#               CSV over 8 connections of one vehicle each, same run: open
#               without a devices file, registered (a file of the 8 ids plus
#               E2E_DEVICES_EXTRA others, 100000), and authenticated (the same
#               file with each id's secret_sha256=; fixstream-load
#               --auth_secret). Gateway CPU per record is the cost of the
#               registry lookup, the name= check and the policy. Not in the
#               default set.
#   secure      throughput and latency (100 k lines/s and at rest) with the
#               whole path plaintext, then with TLS on both sides (device TLS,
#               gRPC TLS) and a bearer token: the cost of securing everything.
#               Not in the default set.
#   device_tls  the throughput and the at-rest latency scenarios with the
#               devices on plain TCP, then on TLS (fixstream-load --tls to a
#               --device_tls_listen port; a P-256 certificate made here with
#               openssl); every gateway has both listeners, so the rows differ
#               only in the device transport. Not in the default set.
#   jetstream   the throughput scenario and both latency scenarios twice in a
#               row: with the embedded log (journal, group commit) and with
#               --log=jetstream on one nats-server started here (-js, a free
#               loopback port, file store under the work dir; each gateway gets
#               a stream and subject prefix of its own, so none replays another
#               one's records). Needs nats-server and a gateway built with
#               libnats. Not in the default set.
# Every gateway journals (the default, group commit) into its own directory
# under the work dir unless a scenario says otherwise.
# Gateway CPU is utime+stime from /proc/PID/stat, read after the subscribers
# are registered and again after they got everything.
#
# Sizes (environment): E2E_THROUGHPUT_LINES (2000000), E2E_FANOUT_LINES
# (500000), E2E_FANOUT_SUBSCRIBERS ("1 10 100"), E2E_REST_SECONDS (5),
# E2E_LOAD_RATE (100000), E2E_LOAD_SECONDS (5); E2E_QUICK=1 shrinks them all.
# Build: E2E_BUILD_DIR (build-release), E2E_BUILD=0 to use existing binaries.
# E2E_RUN_TIMEOUT (120) bounds every client process, in seconds.
# E2E_SCENARIOS ("throughput fanout latency journal security") picks scenarios;
# E2E_LOG=jetstream runs every chosen scenario on --log=jetstream (a
# nats-server started here) instead of the embedded log.
# E2E_LATENCY_SUBSCRIBER (callback) is how the latency scenarios' subscriber
# reads: callback (reactors, as everywhere else) or sync (fixstream-fanout
# --sync: a thread per stream on the blocking API; it measured no faster).
#
# Processes this script starts are tracked by PID and stopped on exit
# (TERM, then KILL after 5 s), Ctrl-C included. Nothing is killed by name.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${E2E_BUILD_DIR:-$ROOT/build-release}
if [[ "${E2E_QUICK:-0}" == 1 ]]; then
  : "${E2E_THROUGHPUT_LINES:=200000}" "${E2E_FANOUT_LINES:=50000}" "${E2E_REST_SECONDS:=2}"
  : "${E2E_LOAD_SECONDS:=2}"
fi
THROUGHPUT_LINES=${E2E_THROUGHPUT_LINES:-2000000}
THROUGHPUT_CONNECTIONS=${E2E_THROUGHPUT_CONNECTIONS:-8}
FANOUT_LINES=${E2E_FANOUT_LINES:-500000}
FANOUT_SUBSCRIBERS=${E2E_FANOUT_SUBSCRIBERS:-1 10 100}
REST_SECONDS=${E2E_REST_SECONDS:-5}
LOAD_RATE=${E2E_LOAD_RATE:-100000}
LOAD_SECONDS=${E2E_LOAD_SECONDS:-5}
RUN_TIMEOUT=${E2E_RUN_TIMEOUT:-120}
LATENCY_SUBSCRIBER=${E2E_LATENCY_SUBSCRIBER:-callback}
case $LATENCY_SUBSCRIBER in
  sync) LATENCY_SYNC=1 ;;
  callback) LATENCY_SYNC= ;;
  *) echo "e2e: E2E_LATENCY_SUBSCRIBER must be sync or callback" >&2; exit 2 ;;
esac
SCENARIOS=${E2E_SCENARIOS:-throughput fanout latency journal security}

GATEWAY=$BUILD_DIR/gateway/fixstream-gateway
LOAD=$BUILD_DIR/clients/fixstream-load
FANOUT=$BUILD_DIR/clients/fixstream-fanout
ROWS=()
BENCH_NAME=e2e
BENCH_KEEP=${E2E_KEEP:-0}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_init

build() {
  if [[ "${E2E_BUILD:-1}" != 1 ]]; then return; fi
  ensure_release_build "$BUILD_DIR" fixstream-gateway fixstream-load fixstream-fanout
}

# Extra flags of every gateway and subscriber a scenario starts (the security
# scenario sets them to TLS + token).
GATEWAY_SECURITY=()
FANOUT_SECURITY=()
LOAD_SECURITY=()
# --log=jetstream (E2E_LOG, the jetstream scenario): the local nats-server's
# URL; empty: the embedded log.
NATS_URL=""
LOG_LABEL=""

# start_nats: one nats-server -js on a free loopback port, its store under
# WORK, tracked by PID; sets NATS_URL.
start_nats() {
  local binary port log_file
  binary=$(command -v nats-server || true)
  [[ -n "$binary" ]] || die "nats-server is not installed (apt-get install nats-server)"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log_file="$WORK/nats-server.log"
  mkdir -p "$WORK/nats"
  "$binary" -js -a 127.0.0.1 -p "$port" -sd "$WORK/nats" >"$log_file" 2>&1 &
  PIDS+=("$!")
  await_output "$log_file" 'Server is ready' "$!" 10 ||
    die "nats-server did not start: $(tail -3 "$log_file")"
  NATS_URL="nats://127.0.0.1:$port"
  log "nats-server $("$binary" --version 2>&1 | head -1) at $NATS_URL"
}

# log_flags NAME: the --log flags of a gateway for scenario NAME: under
# jetstream a stream and subject prefix of its own (named after the scenario
# and the time: this runs in a command substitution, so no counter would
# survive it).
log_flags() {
  [[ -n "$NATS_URL" ]] || return 0
  local token
  token="${1//[^A-Za-z0-9]/_}_$(date +%s%N)"
  echo "--log=jetstream --nats_url=$NATS_URL --nats_stream=E2E_$token" \
    "--nats_subject=e2e.$token --nats_gateway_id=bench"
}

# start_fanout NAME FLAGS...: starts a subscriber process and waits until all
# its streams are registered at the gateway; sets FANOUT_PID.
start_fanout() {
  local name=$1
  shift
  timeout --kill-after=5 $((RUN_TIMEOUT + 15)) \
    "$FANOUT" --target="127.0.0.1:$GRPC_PORT" --max_seconds="$RUN_TIMEOUT" \
    ${FANOUT_SECURITY[@]+"${FANOUT_SECURITY[@]}"} "$@" \
    >"$WORK/fanout-$name.out" 2>"$WORK/fanout-$name.err" &
  FANOUT_PID=$!
  PIDS+=("$FANOUT_PID")
  await_output "$WORK/fanout-$name.err" 'subscribed=' "$FANOUT_PID" 30 && return
  die "subscribers did not register: $(tail -3 "$WORK/fanout-$name.err")"
}

# finish_fanout NAME: waits for the subscriber process; sets FANOUT_LINE and
# LATENCY_LINE.
finish_fanout() {
  local name=$1 rc=0
  wait "$FANOUT_PID" || rc=$?
  forget_pid "$FANOUT_PID"
  FANOUT_LINE=$(grep 'fixstream-fanout: subscribers=' "$WORK/fanout-$name.out" || true)
  LATENCY_LINE=$(grep 'fixstream-fanout: latency_us' "$WORK/fanout-$name.out" || true)
  if [[ $rc != 0 ]]; then
    log "$name: fixstream-fanout exited $rc: $FANOUT_LINE $(tail -2 "$WORK/fanout-$name.err")"
  fi
}

# run_load NAME FLAGS...: sends, bounded; sets LOAD_LINE.
run_load() {
  local name=$1 rc=0
  shift
  timeout --kill-after=5 $((RUN_TIMEOUT + 15)) \
    "$LOAD" --target="127.0.0.1:${LOAD_PORT:-$DEVICE_PORT}" --max_seconds="$RUN_TIMEOUT" \
    ${LOAD_SECURITY[@]+"${LOAD_SECURITY[@]}"} "$@" \
    >"$WORK/load-$name.out" 2>"$WORK/load-$name.err" || rc=$?
  LOAD_LINE=$(grep 'fixstream-load: connections=' "$WORK/load-$name.out" || true)
  if [[ $rc != 0 ]]; then log "$name: fixstream-load exited $rc: $(tail -2 "$WORK/load-$name.err")"; fi
}

# record NAME CPU_TICKS: appends a table row from LOAD_LINE, FANOUT_LINE and
# LATENCY_LINE.
record() {
  local name=$1 ticks=$2
  local lines records first last seconds rate cpu_s cpu_pct ns_per latency
  lines=$(value lines "$LOAD_LINE")
  records=$(value records "$FANOUT_LINE")
  first=$(value first_send_unix_ns "$LOAD_LINE")
  last=$(value last_unix_ns "$FANOUT_LINE")
  seconds=$(awk -v f="${first:-0}" -v l="${last:-0}" 'BEGIN { s = (l - f) / 1e9; printf "%.3f", (s > 0 ? s : 0) }')
  rate=$(awk -v n="${records:-0}" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  cpu_s=$(awk -v t="$ticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
  cpu_pct=$(awk -v c="$cpu_s" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? 100 * c / s : 0) }')
  ns_per=$(awk -v c="$cpu_s" -v n="${records:-0}" 'BEGIN { printf "%.0f", (n > 0 ? c * 1e9 / n : 0) }')
  latency="-"
  if [[ -n "$LATENCY_LINE" ]]; then
    latency="$(value p50 "$LATENCY_LINE") / $(value p99 "$LATENCY_LINE") / $(value p99.9 "$LATENCY_LINE") / $(value max "$LATENCY_LINE")"
  fi
  ROWS+=("| $name | ${lines:-?} | ${records:-?} | $seconds | $rate | $cpu_s | $cpu_pct | $ns_per | $latency | $(value cpu_ns_per_record "$FANOUT_LINE") |")
  log "$name: ${ROWS[-1]}"
}

# scenario_protocols: one throughput row per load format.
scenario_protocols() {
  local format before after
  for format in csv mixed trackers; do
    # shellcheck disable=SC2046
    start_gateway "protocols-$format" $(retention_flags "$THROUGHPUT_LINES")
    start_fanout "protocols-$format" --subscribers=1 --expect="$THROUGHPUT_LINES" \
      --idle_exit_ms=5000
    before=$(cpu_ticks "$GW_PID")
    run_load "protocols-$format" --generate="$THROUGHPUT_LINES" --format="$format" \
      --connections=14 --rate="${E2E_PROTOCOLS_RATE:-300000}"
    finish_fanout "protocols-$format"
    after=$(cpu_ticks "$GW_PID")
    stop_gateway
    record "${E2E_PROTOCOLS_RATE:-300000} lines/s, 14 conn → 1 sub, $format" $((after - before))
  done
}

# scenario_devices: one paced row per device policy.
scenario_devices() {
  local policy before after file=$WORK/devices extra=${E2E_DEVICES_EXTRA:-100000} hash
  local secret
  secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  hash=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
  {
    for i in 0 1 2 3 4 5 6 7; do printf 'load-%d secret_sha256=%s\n' "$i" "$hash"; done
    awk -v n="$extra" 'BEGIN { for (i = 0; i < n; i++) printf "other-%d\n", i }'
  } >"$file"
  for policy in open registered authenticated; do
    local flags=() load_flags=()
    if [[ $policy != open ]]; then flags=(--devices_file="$file" --device_policy="$policy"); fi
    if [[ $policy == authenticated ]]; then load_flags=(--auth_secret="$secret"); fi
    # shellcheck disable=SC2046
    start_gateway "devices-$policy" $(retention_flags "$THROUGHPUT_LINES") \
      ${flags[@]+"${flags[@]}"}
    start_fanout "devices-$policy" --subscribers=1 --expect="$THROUGHPUT_LINES" \
      --idle_exit_ms=5000
    before=$(cpu_ticks "$GW_PID")
    run_load "devices-$policy" --generate="$THROUGHPUT_LINES" --format=csv --connections=8 \
      --vehicles=8 --rate="${E2E_PROTOCOLS_RATE:-300000}" ${load_flags[@]+"${load_flags[@]}"}
    finish_fanout "devices-$policy"
    after=$(cpu_ticks "$GW_PID")
    stop_gateway
    record "${E2E_PROTOCOLS_RATE:-300000} lines/s, 8 conn → 1 sub, csv, policy $policy" \
      $((after - before))
  done
}

scenario_throughput() {
  local before after name
  name="throughput${1:+-$1}${LOG_LABEL:+-${LOG_LABEL// /-}}"
  # shellcheck disable=SC2046
  start_gateway "$name" $(retention_flags "$THROUGHPUT_LINES") \
    $(log_flags "$name") ${GATEWAY_SECURITY[@]+"${GATEWAY_SECURITY[@]}"}
  start_fanout "$name" --subscribers=1 --expect="$THROUGHPUT_LINES" \
    --idle_exit_ms=5000
  before=$(cpu_ticks "$GW_PID")
  run_load "$name" --generate="$THROUGHPUT_LINES" --format=mixed \
    --connections="$THROUGHPUT_CONNECTIONS"
  finish_fanout "$name"
  after=$(cpu_ticks "$GW_PID")
  stop_gateway
  record "throughput, ${THROUGHPUT_CONNECTIONS} conn → 1 sub${1:+, $1}${LOG_LABEL:+, $LOG_LABEL}" \
    $((after - before))
}

# scenario_journal POLICY: the throughput scenario with the journal off,
# group or batch; the row names the fsyncs per second it took.
scenario_journal() {
  local policy=$1 before after fsyncs0 fsyncs1 flags seconds
  if [[ $policy == off ]]; then flags=(--journal_dir=); else flags=(--journal_durability="$policy"); fi
  # shellcheck disable=SC2046
  start_gateway "journal-$policy" $(retention_flags "$THROUGHPUT_LINES") "${flags[@]}"
  start_fanout "journal-$policy" --subscribers=1 --expect="$THROUGHPUT_LINES" --idle_exit_ms=5000
  before=$(cpu_ticks "$GW_PID")
  fsyncs0=$(metric fixstream_journal_fsyncs_total)
  run_load "journal-$policy" --generate="$THROUGHPUT_LINES" --format=mixed \
    --connections="$THROUGHPUT_CONNECTIONS"
  finish_fanout "journal-$policy"
  after=$(cpu_ticks "$GW_PID")
  fsyncs1=$(metric fixstream_journal_fsyncs_total)
  stop_gateway
  seconds=$(awk -v f="$(value first_send_unix_ns "$LOAD_LINE")" -v l="$(value last_unix_ns "$FANOUT_LINE")" \
    'BEGIN { printf "%.3f", (l - f) / 1e9 }')
  local what="journal off"
  if [[ $policy != off ]]; then
    what="journal $policy, $(awk -v a="${fsyncs0:-0}" -v b="${fsyncs1:-0}" -v s="$seconds" \
      'BEGIN { printf "%.0f", (s > 0 ? (b - a) / s : 0) }') fsyncs/s"
  fi
  record "throughput, ${THROUGHPUT_CONNECTIONS} conn → 1 sub, $what" $((after - before))
}

# scenario_fanout SUBSCRIBERS [LABEL]
scenario_fanout() {
  local subscribers=$1 label=${2:-} before after name
  name="fanout-$subscribers${label:+-$label}"
  # shellcheck disable=SC2046
  start_gateway "$name" $(retention_flags "$FANOUT_LINES") $(log_flags "$name") \
    ${GATEWAY_SECURITY[@]+"${GATEWAY_SECURITY[@]}"}
  start_fanout "$name" --subscribers="$subscribers" --expect="$FANOUT_LINES" --idle_exit_ms=5000
  before=$(cpu_ticks "$GW_PID")
  run_load "$name" --generate="$FANOUT_LINES" --format=mixed --connections=8
  finish_fanout "$name"
  after=$(cpu_ticks "$GW_PID")
  stop_gateway
  record "fan-out, 8 conn → $subscribers sub${label:+, $label}${LOG_LABEL:+, $LOG_LABEL}" \
    $((after - before))
}

# scenario_latency NAME RATE SECONDS CONNECTIONS [GATEWAY_FLAGS...]
scenario_latency() {
  local name=$1 rate=$2 seconds=$3 connections=$4 lines before after
  shift 4
  lines=$(awk -v r="$rate" -v s="$seconds" 'BEGIN { printf "%d", r * s }')
  # shellcheck disable=SC2046
  start_gateway "$name" $(retention_flags "$lines") $(log_flags "$name") "$@" \
    ${GATEWAY_SECURITY[@]+"${GATEWAY_SECURITY[@]}"}
  start_fanout "$name" --subscribers=1 --latency --expect="$lines" --idle_exit_ms=3000 \
    ${LATENCY_SYNC:+--sync}
  before=$(cpu_ticks "$GW_PID")
  run_load "$name" --generate="$lines" --format=csv --connections="$connections" --rate="$rate" \
    --stamp_send_time
  finish_fanout "$name"
  after=$(cpu_ticks "$GW_PID")
  stop_gateway
  record "latency, $rate lines/s × ${seconds} s, $connections conn${*:+, $*}${LATENCY_LABEL:+, $LATENCY_LABEL}${LOG_LABEL:+, $LOG_LABEL}${LATENCY_SYNC:+, blocking-API subscriber}" \
    $((after - before))
}

# A CA, a gateway certificate for 127.0.0.1 and a token with its tokens file,
# all under WORK; sets GATEWAY_TLS_TOKEN and FANOUT_TLS_TOKEN.
make_credentials() {
  local d=$WORK/credentials token
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
    -out "$d/ca.pem" -days 2 -subj /CN=e2e-ca >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/server.key" \
    -out "$d/server.csr" -subj /CN=localhost >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.pem" >/dev/null 2>&1 ||
    die "openssl could not make the bench certificates"
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s\n' "$token" >"$d/token"
  printf '%s bench calls=Subscribe vehicles=*\n' \
    "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" >"$d/tokens"
  GATEWAY_TLS_TOKEN=(--grpc_tls_cert="$d/server.pem" --grpc_tls_key="$d/server.key"
    --grpc_tokens_file="$d/tokens")
  FANOUT_TLS_TOKEN=(--tls_ca="$d/ca.pem" --token_file="$d/token")
}

# The security scenario: each measurement plaintext, then TLS + token.
# Both device listeners on every gateway; the load picks one. DEVICE_TLS=1:
# the TLS port (the second of device_ports=).
scenario_device_tls() {
  make_credentials
  local d=$WORK/credentials mode
  GATEWAY_SECURITY=(--device_tls_listen=127.0.0.1:0 --device_tls_cert="$d/server.pem"
    --device_tls_key="$d/server.key")
  for mode in "device plain TCP" "device TLS"; do
    if [[ $mode == "device TLS" ]]; then
      LOAD_SECURITY=(--tls --tls_ca="$d/ca.pem")
    else
      LOAD_SECURITY=()
    fi
    DEVICE_TLS=$([[ $mode == "device TLS" ]] && echo 1 || echo 0) scenario_throughput "$mode"
  done
  for mode in "device plain TCP" "device TLS"; do
    if [[ $mode == "device TLS" ]]; then
      LOAD_SECURITY=(--tls --tls_ca="$d/ca.pem")
    else
      LOAD_SECURITY=()
    fi
    DEVICE_TLS=$([[ $mode == "device TLS" ]] && echo 1 || echo 0) LATENCY_LABEL=$mode \
      scenario_latency "latency-rest-${mode//[^A-Za-z]/}" 100 "$REST_SECONDS" 1
  done
  GATEWAY_SECURITY=()
  LOAD_SECURITY=()
}

# scenario_secure: the whole path plaintext (devices on plain TCP, gRPC
# plaintext without a token) against the whole path secured (devices on TLS,
# gRPC on TLS with a bearer token); every gateway has both device listeners.
scenario_secure() {
  make_credentials
  local d=$WORK/credentials mode tls
  for mode in "all plaintext" "TLS both sides + token"; do
    GATEWAY_SECURITY=(--device_tls_listen=127.0.0.1:0 --device_tls_cert="$d/server.pem"
      --device_tls_key="$d/server.key")
    LOAD_SECURITY=()
    FANOUT_SECURITY=()
    tls=0
    if [[ $mode != "all plaintext" ]]; then
      GATEWAY_SECURITY+=("${GATEWAY_TLS_TOKEN[@]}")
      LOAD_SECURITY=(--tls --tls_ca="$d/ca.pem")
      FANOUT_SECURITY=("${FANOUT_TLS_TOKEN[@]}")
      tls=1
    fi
    DEVICE_TLS=$tls scenario_throughput "$mode"
    DEVICE_TLS=$tls LATENCY_LABEL=$mode \
      scenario_latency "latency-load-${mode//[^A-Za-z]/}" "$LOAD_RATE" "$LOAD_SECONDS" 4
    DEVICE_TLS=$tls LATENCY_LABEL=$mode \
      scenario_latency "latency-rest-${mode//[^A-Za-z]/}" 100 "$REST_SECONDS" 1
  done
  GATEWAY_SECURITY=()
  LOAD_SECURITY=()
  FANOUT_SECURITY=()
}

scenario_security() {
  make_credentials
  local mode
  for mode in plaintext "TLS + token"; do
    if [[ $mode == plaintext ]]; then
      GATEWAY_SECURITY=()
      FANOUT_SECURITY=()
    else
      GATEWAY_SECURITY=("${GATEWAY_TLS_TOKEN[@]}")
      FANOUT_SECURITY=("${FANOUT_TLS_TOKEN[@]}")
    fi
    scenario_throughput "$mode"
  done
  for mode in plaintext "TLS + token"; do
    if [[ $mode == plaintext ]]; then
      GATEWAY_SECURITY=()
      FANOUT_SECURITY=()
    else
      GATEWAY_SECURITY=("${GATEWAY_TLS_TOKEN[@]}")
      FANOUT_SECURITY=("${FANOUT_TLS_TOKEN[@]}")
    fi
    scenario_fanout 10 "$mode"
    LATENCY_LABEL=$mode scenario_latency "latency-rest-${mode//[^A-Za-z]/}" 100 "$REST_SECONDS" 1
  done
  GATEWAY_SECURITY=()
  FANOUT_SECURITY=()
}

# scenario_jetstream: throughput and latency, embedded log then jetstream,
# in one run.
scenario_jetstream() {
  local mode saved_url
  [[ -n "$NATS_URL" ]] || start_nats
  saved_url=$NATS_URL
  for mode in embedded jetstream; do
    if [[ $mode == embedded ]]; then NATS_URL=""; else NATS_URL=$saved_url; fi
    LOG_LABEL="$mode log"
    scenario_throughput
    scenario_latency "latency-rest-$mode" 100 "$REST_SECONDS" 1
    scenario_latency "latency-load-$mode" "$LOAD_RATE" "$LOAD_SECONDS" 4
  done
  LOG_LABEL=""
  NATS_URL=""
}

build
[[ -x "$GATEWAY" && -x "$LOAD" && -x "$FANOUT" ]] || die "binaries missing in $BUILD_DIR"
case ${E2E_LOG:-embedded} in
  embedded) ;;
  jetstream) start_nats; LOG_LABEL="jetstream log" ;;
  *) die "E2E_LOG must be embedded or jetstream" ;;
esac

log "work dir $WORK"
wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }
if wants throughput; then scenario_throughput; fi
if wants protocols; then scenario_protocols; fi
if wants devices; then scenario_devices; fi
if wants fanout; then
  for subscribers in $FANOUT_SUBSCRIBERS; do scenario_fanout "$subscribers"; done
fi
if wants latency; then
  scenario_latency "latency-rest" 100 "$REST_SECONDS" 1
  scenario_latency "latency-load" "$LOAD_RATE" "$LOAD_SECONDS" 4
fi
if wants journal; then
  for policy in off group batch; do scenario_journal "$policy"; done
  scenario_latency "latency-rest-batch" 100 "$REST_SECONDS" 1 --journal_durability=batch
fi
if wants security; then scenario_security; fi
if wants device_tls; then scenario_device_tls; fi
if wants secure; then scenario_secure; fi
if wants jetstream; then
  saved_nats_url=$NATS_URL saved_log_label=$LOG_LABEL
  scenario_jetstream
  NATS_URL=$saved_nats_url LOG_LABEL=$saved_log_label
fi

echo
echo "fixstream end to end — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(uname -sr)"
echo
echo "| scenario | lines sent | records delivered | s (first send → last record) | records/s | gateway CPU s | gateway CPU % | gateway CPU ns/record | latency µs p50 / p99 / p99.9 / max | subscriber CPU ns/record |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
