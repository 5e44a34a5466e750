#!/usr/bin/env bash
# fixstream measured the way ../shared/peers measures rsyslog, the Elixir seed
# and NATS: the same generated file (2,000,000 lines, ~66 B, 25 % NMEA RMC),
# the same sender (`sendlines`: the file in RAM, one slice per connection,
# 1 MiB writes), the same CPU accounting and result table (peers/common.sh).
# The window runs from the sender's start to the last record arriving at a
# subscriber (fixstream-fanout, one stream, counting records).
#
#   bench/peers.sh                          # needs ../shared/peers beside the repo
#   PEERS_DIR=/path/to/peers bench/peers.sh
#   FIXSTREAM_PEERS_VARIANTS="fixstream-c8" RUNS=5 bench/peers.sh
#
# Variants: fixstream-cN (journal off) and fixstream-journal-cN (the default
# journal, group commit), N sending connections. The peers file's NMEA lines
# carry no `$PFSID` identification, so the gateway parses them (envelope,
# checksum, fields) and rejects them as unknown_vehicle; its CSV lines become
# records, less the few the generator repeated (same vehicle and fix time:
# duplicates; which repeat lands inside a vehicle's duplicate window depends
# on how the connections interleave, so the count varies by a few). A first,
# unmeasured run finds how many records the file makes; a measured run ends
# when the subscriber has that many less 1,000 (0.07 %), and must then have
# counted every line sent and delivered every record it published.
# The ring is left at its default 256 MiB (resident from the start: srvRSS).
#
# Build: FIXSTREAM_BUILD_DIR (build-release), FIXSTREAM_BUILD=0 to use
# existing binaries. Loopback only; processes are stopped by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/peers}
[[ -f "$PEERS_DIR/common.sh" ]] || { echo "peers: no $PEERS_DIR/common.sh" >&2; exit 1; }
# shellcheck source=/dev/null
source "$PEERS_DIR/common.sh"
BUILD_DIR=${FIXSTREAM_BUILD_DIR:-$ROOT/build-release}
VARIANTS=${FIXSTREAM_PEERS_VARIANTS:-fixstream-c8 fixstream-journal-c8 fixstream-c1}
GATEWAY=$BUILD_DIR/gateway/fixstream-gateway
FANOUT=$BUILD_DIR/clients/fixstream-fanout
D="$PEERS_TMP/fixstream"
mkdir -p "$D"

if [[ "${FIXSTREAM_BUILD:-1}" == 1 ]]; then
  if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  fi
  cmake --build "$BUILD_DIR" -j2 --target fixstream-gateway fixstream-fanout >&2
fi
ensure_built
ensure_data

# metric PORT NAME: one sample of the gateway's /metrics (bash /dev/tcp).
metric() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 0
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  body=$(timeout 2 cat <&3 || true)
  exec 3<&-
  awk -v name="$2" '$1 == name { print $2; exit }' <<<"$body"
}

# lines_accounted PORT: every line the gateway counted, under any outcome.
lines_accounted() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 0
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  body=$(timeout 2 cat <&3 || true)
  exec 3<&-
  awk '$1 ~ /^fixstream_lines_total\{/ { n += $2 } END { printf "%.0f", n }' <<<"$body"
}

# one_run VARIANT EXPECT: starts a gateway and a subscriber expecting EXPECT
# records (0: stop 5 s after the last record), sends the file; sets SND,
# RECORDS, T_DONE, ACCOUNTED, PUBLISHED, RSS and the measure_* figures.
one_run() {
  local v=$1 expect=$2 conns journal port grpc mport gp fp done_line
  conns="${v##*-c}"
  journal=(--journal_dir=)
  [[ "$v" == *journal* ]] && journal=(--journal_dir="$D/journal")
  rm -rf "$D/journal"
  start_bg "$D/gateway.log" "$GATEWAY" --device_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 \
    --metrics_listen=127.0.0.1:0 "${journal[@]}" --retention_records=4194304
  gp=$BG_PID
  wait_for_line "$D/gateway.log" "device_port=" 30 >/dev/null ||
    { log "gateway did not start: $(cat "$D/gateway.log")"; exit 1; }
  port=$(kv "$D/gateway.log" device_port)
  grpc=$(kv "$D/gateway.log" grpc_port)
  mport=$(kv "$D/gateway.log" metrics_port)
  start_bg "$D/fanout.out" "$FANOUT" --target="127.0.0.1:$grpc" --subscribers=1 \
    --expect="$expect" --idle_exit_ms=5000 --max_seconds="$RUN_TIMEOUT"
  fp=$BG_PID
  wait_for_line "$D/fanout.out" "subscribed=" 30 >/dev/null || { log "subscriber did not start"; exit 1; }
  measure_begin "$gp"
  SND="$("$BIN/sendlines" -p "$port" -c "$conns" -t "$RUN_TIMEOUT" "$DATA")"
  wait "$fp" || true
  forget_pid "$fp"
  measure_end
  done_line="$(grep 'fixstream-fanout: subscribers=' "$D/fanout.out" || true)"
  RECORDS="$(kv "$done_line" records)"
  T_DONE="$(kv "$done_line" last_unix_ns)"
  for _ in $(seq 100); do  # the last lines may still be in flight: up to 5 s
    ACCOUNTED=$(lines_accounted "$mport")
    [[ "$ACCOUNTED" == "$(kv "$SND" lines)" ]] && break
    sleep 0.05
  done
  PUBLISHED=$(metric "$mport" fixstream_records_published_total)
  RSS=$(proc_hwm_mb "$gp")
  stop_pid "$gp"
}

log "calibration run: how many records the file makes"
one_run fixstream-c8 0
EXPECTED=$PUBLISHED
[[ -n "$EXPECTED" && "$EXPECTED" -gt 1000 && "$RECORDS" == "$EXPECTED" ]] ||
  { log "calibration failed: published=${PUBLISHED:-?} delivered=${RECORDS:-?}"; exit 1; }
log "the file makes $EXPECTED records from $DATA_LINES lines"
EXPECTED=$((EXPECTED - 1000))

for v in $VARIANTS; do
  for run in $(seq "$RUNS"); do
    one_run "$v" "$EXPECTED"
    note=ok
    [[ -n "$T_DONE" ]] || { note="NOT-DONE"; T_DONE=$(date +%s%N); }
    [[ "${RECORDS:-0}" -ge "$EXPECTED" && "${ACCOUNTED:-0}" == "$(kv "$SND" lines)" ]] ||
      note="LINE-MISMATCH(records=${RECORDS:-?} lines_counted=${ACCOUNTED:-?})"
    [[ "$note" == ok ]] && note="ok published=$PUBLISHED"
    secs=$(secs_between "$(kv "$SND" t_start_ns)" "$T_DONE")
    record fixstream "$v" "$run" "$(kv "$SND" lines)" "$(kv "$SND" bytes)" "$secs" \
      "$SRV_CPU_PCT" "$(pct_of_window "$(kv "$SND" cpu_s)")" "$SYS_BUSY_PCT" "$STEAL_PCT" "$RSS" \
      "$note$(connect_note "$SND")"
  done
done
finish
