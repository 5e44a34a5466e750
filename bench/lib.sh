# Shared pieces of the bench scripts (e2e.sh, connections.sh, soak.sh):
# process tracking and clean-up, a gateway on free loopback ports with its
# own journal directory, /proc readings and metric scrapes. Source it after
# setting BENCH_NAME (log prefix) and BENCH_KEEP (1: keep the work dir);
# bench_init creates WORK and installs the traps.
#
# Processes started through these helpers are tracked by PID and stopped on
# exit (TERM, then KILL after 5 s), Ctrl-C included. Nothing is killed by name.

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Stops one process we started: TERM, up to 5 s, then KILL; reaps it.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

forget_pid() {
  local keep=() pid
  for pid in "${PIDS[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
  PIDS=("${keep[@]}")
}

bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}

# bench_init: WORK (a fresh temp dir), PIDS, CLK_TCK, traps.
bench_init() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/fixstream-$BENCH_NAME.XXXXXX")
  PIDS=()
  CLK_TCK=$(getconf CLK_TCK)
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ensure_release_build BUILD_DIR TARGETS...: configures (Release, Ninja) if
# needed and builds the targets.
ensure_release_build() {
  local dir=$1
  shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  fi
  grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$dir/CMakeCache.txt" ||
    die "$dir is not a Release build"
  cmake --build "$dir" -j2 --target "$@" >&2
}

# value KEY LINE: the value of KEY=... in a key=value summary line.
value() {
  awk -v key="$1" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (n > 0 && substr($i, 1, n - 1) == key) { print substr($i, n + 1); exit } } }' <<<"$2"
}

# CPU time of a process in clock ticks (utime + stime; fields 14 and 15 of
# stat, counted after the parenthesised command name, which may contain
# spaces).
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# await_output FILE PATTERN PID SECONDS: waits (polling every 10 ms) until
# FILE has a line containing PATTERN, while PID is alive, at most SECONDS;
# returns 0 once it does.
await_output() {
  local file=$1 pattern=$2 pid=$3 seconds=$4 i
  for ((i = 0; i < seconds * 100; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  grep -q -- "$pattern" "$file" 2>/dev/null
}

# metric NAME: the value of one sample line of the gateway's /metrics (NAME
# may carry labels, e.g. 'fixstream_connections_closed_total{reason="x"}');
# empty if absent or the scrape failed. Plain bash /dev/tcp: no HTTP client.
metric() {
  local body
  exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT" 2>/dev/null || return 0
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  body=$(timeout 2 cat <&3 || true)
  exec 3<&-
  awk -v name="$1" '$1 == name { print $2; exit }' <<<"$body"
}

# start_gateway NAME EXTRA_FLAGS...: $GATEWAY on free loopback ports with its
# own journal directory under WORK (EXTRA_FLAGS may override it); sets
# GW_PID, DEVICE_PORT, GRPC_PORT, METRICS_PORT.
start_gateway() {
  local name=$1 log_file extra=()
  shift
  # BENCH_GATEWAY_FLAGS: extra flags for every gateway a bench starts (an
  # experiment: e.g. "--journal_dir=" to take the journal out of the picture).
  read -r -a extra <<<"${BENCH_GATEWAY_FLAGS:-}"
  log_file="$WORK/gateway-$name.log"
  : >"$log_file"
  "$GATEWAY" --device_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
    --journal_dir="$WORK/journal-${name//[^A-Za-z0-9-]/_}" "$@" "${extra[@]}" 2>>"$log_file" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  DEVICE_PORT=""
  GRPC_PORT=""
  METRICS_PORT=""
  if await_output "$log_file" 'metrics_port=' "$GW_PID" 10; then
    DEVICE_PORT=$(grep -o 'device_port=[0-9]*' "$log_file" | head -1 | cut -d= -f2)
    # DEVICE_TLS=1: the loads go to the second device listener (a TLS one).
    LOAD_PORT=$DEVICE_PORT
    if [[ "${DEVICE_TLS:-0}" == 1 ]]; then
      LOAD_PORT=$(grep -o 'device_ports=[0-9,]*' "$log_file" | head -1 | cut -d= -f2 | cut -d, -f2)
    fi
    GRPC_PORT=$(grep -o 'grpc_port=[0-9]*' "$log_file" | head -1 | cut -d= -f2)
    METRICS_PORT=$(grep -o 'metrics_port=[0-9]*' "$log_file" | head -1 | cut -d= -f2)
  fi
  [[ -n "$DEVICE_PORT" && -n "$GRPC_PORT" && -n "$METRICS_PORT" ]] ||
    die "gateway did not start: $(tail -3 "$log_file")"
  # One scrape before any baseline: the metrics server's own first-use
  # allocations are not charged to what a scenario measures.
  metric fixstream_connections >/dev/null
}

stop_gateway() {
  stop_pid "$GW_PID"
  forget_pid "$GW_PID"
}

# Retention large enough that a subscriber trailing an unpaced sender of
# LINES records never falls off the end: the benches measure delivery, not
# the eviction policy.
retention_flags() {
  local records=$(($1 * 2 > 1048576 ? $1 * 2 : 1048576))
  echo "--retention_records=$records --retention_bytes=$((1 << 30))"
}
