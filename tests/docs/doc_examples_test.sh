#!/usr/bin/env bash
# Runs the example commands of README.md, clients/README.md and docs/*.md —
# every command of their fenced ```sh blocks, as the docs write them —
# against a real gateway on ephemeral loopback ports.
#
#   tests/docs/doc_examples_test.sh SOURCE_DIR BUILD_DIR
#
# What is rewritten before a command runs, and nothing else:
#   127.0.0.1:50051 / :7878 / :9464  -> the test gateway's gRPC / device / metrics port
#   (and `nc 127.0.0.1 7878`)
#   build-release/                   -> BUILD_DIR/ (the build under test)
#   fixstream-<client> at the start of a command (clients/README.md names
#   them bare)                       -> BUILD_DIR/clients/fixstream-<client>, with
#                                       --target set to the test gateway first
#                                       (a --target in the command still wins)
#   /usr/local/bin/, /etc/           -> under a scratch root (install lines)
#
# A command passes if it exits 0. Those the docs describe as running until
# stopped (no --max_records, --hold_seconds=600, ...) are listed in
# RUNS_UNTIL_STOPPED: they pass if they are still running, unfailed, when
# their time is up. Commands that cannot run here are listed, with the
# reason, in NOT_RUN (the systemd and harness commands, and the build and
# benchmark recipes of docs/PERFORMANCE.md and docs/JOURNAL.md, whose
# scripts must exist); grpcurl commands are run by
# tests/integration/reflection_test.cc (EveryGrpcurlCommandOfTheDocsWorks),
# which does what grpcurl does. The self-contained demo scripts of
# SELF_CONTAINED (they start and stop their own servers on free ports) run
# from the source tree; exit 77 means they found a dependency missing
# (nats-server) and is reported as a skip. Any other command that fails, and any command
# in a doc that is in none of these categories and fails, fails the test.
set -uo pipefail

SOURCE_DIR=$(cd "$1" && pwd)
BUILD_DIR=$(cd "$2" && pwd)
DOCS=(README.md clients/README.md $(cd "$SOURCE_DIR" && ls docs/*.md))
BUDGET_S=${DOC_TEST_BUDGET_S:-180}    # a command that should end by itself
STOPPED_AFTER_S=${DOC_TEST_STOPPED_AFTER_S:-4}   # one that runs until stopped

RUNS_UNTIL_STOPPED=(
  "build-release/clients/fixstream-subscribe --target=127.0.0.1:50051"
  "fixstream-subscribe | jq -c '{vehicle_id, latitude, longitude}'"
  "fixstream-fanout --subscribers=100 --expect=500000"
  "fixstream-fanout --latency --idle_exit_ms=1000"
  "fixstream-conns --mode=drip --connections=1000 --source_addresses=8 --hold_seconds=60"
  "fixstream-conns --connections=100 --hello='\$PFSID,bus-7' --hold_seconds=600"
  "journalctl -u fixstream -f"
)
declare -A NOT_RUN=(
  ["./scripts/run-gateway.sh"]="builds build-release and runs a gateway on the default ports in the foreground; the doc test runs the same binary on ephemeral ports"
  ["./scripts/test.sh"]="the test command itself (it runs this test)"
  ["systemctl daemon-reload && systemctl enable --now fixstream"]="no systemd manager in the test environment; the unit's Type=notify protocol is tested by systemd_notify_test"
  ["journalctl -u fixstream -f"]="no systemd journal in the test environment"
)
# The build and benchmark recipes of docs/PERFORMANCE.md and docs/JOURNAL.md:
# each builds a Release tree of its own and loads the machine for minutes.
BENCH_RECIPE="a benchmark recipe (its own Release build, minutes of load): run by hand"
for recipe in \
  "cmake -S . -B build-journal -G Ninja && ninja -C build-journal -j2 journal_tests common_tests journal_bench" \
  "build-journal/tests/gateway/journal_tests; build-journal/tests/gateway/common_tests --gtest_filter='Crc32c*'" \
  "build-journal/bench/journal_bench --benchmark_min_time=2" \
  "cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release" \
  "cmake --build build-release --target ingest_bench" \
  "build-release/bench/ingest_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true" \
  "build-release/bench/ingest_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_filter='BM_Device|BM_CsvStream|BM_Csv\$'" \
  "cmake --build build-release --target number_bench" \
  "build-release/bench/number_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true" \
  "git worktree add /tmp/before df1d6b4" \
  "cmake -S /tmp/before -B /tmp/before/build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C /tmp/before/build journal_bench" \
  "cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-rel journal_bench" \
  "for b in /tmp/before/build build-rel; do \$b/bench/journal_bench --benchmark_min_time=2 --benchmark_filter='BM_Throughput|BM_DurableBatch'; done" \
  "git worktree add /tmp/base24 bcd524a" \
  "cmake -S /tmp/base24 -B /tmp/base24/build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build /tmp/base24/build -j2 --target fixstream-gateway fixstream-load fixstream-fanout"; do
  NOT_RUN["$recipe"]=$BENCH_RECIPE
done
SELF_CONTAINED=(scripts/fleet-demo.sh)
# (Commands followed by a comment: the recipe is the part before it.)
BENCH_SCRIPTS=(bench/e2e.sh bench/connections.sh bench/soak.sh bench/peers.sh bench/stall.sh
  bench/crash-soak.sh)

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/doc-examples-XXXXXX")
GATEWAY_PID=""
FEEDER_PID=""
cleanup() {
  [ -n "$FEEDER_PID" ] && kill "$FEEDER_PID" 2>/dev/null && wait "$FEEDER_PID" 2>/dev/null
  if [ -n "$GATEWAY_PID" ]; then
    kill -TERM "$GATEWAY_PID" 2>/dev/null
    wait "$GATEWAY_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Every command of a doc's sh blocks, as "file:line<TAB>command" with
# continuation lines joined and comment lines dropped.
extract() {
  awk -v file="$1" '
    /^```sh$/ { inblock = 1; next }
    /^```/ { inblock = 0; next }
    inblock {
      if (pending == "") start = NR
      line = $0
      if (line ~ /\\$/) { pending = pending substr(line, 1, length(line) - 1); next }
      command = pending line
      pending = ""
      sub(/^[ \t]+/, "", command)
      if (command == "" || command ~ /^#/) next
      printf "%s:%d\t%s\n", file, start, command
    }' "$SOURCE_DIR/$1"
}

# The gateway, default configuration but for the ports and the journal.
"$BUILD_DIR/gateway/fixstream-gateway" --device_listen=127.0.0.1:0 --grpc_listen=127.0.0.1:0 \
  --metrics_listen=127.0.0.1:0 --journal_dir="$WORK/journal" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
for _ in $(seq 300); do
  grep -q "grpc_port=" "$WORK/gateway.log" && break
  sleep 0.1
done
listening=$(grep -o "device_port=[0-9]* .*grpc_port=[0-9]* .*metrics_port=[0-9]*" "$WORK/gateway.log")
DEVICE_PORT=$(sed -E 's/.*device_port=([0-9]+).*/\1/' <<<"$listening")
GRPC_PORT=$(sed -E 's/.*grpc_port=([0-9]+).*/\1/' <<<"$listening")
METRICS_PORT=$(sed -E 's/.*metrics_port=([0-9]+).*/\1/' <<<"$listening")
if [ -z "$GRPC_PORT" ]; then
  cat "$WORK/gateway.log" >&2
  echo "FAIL: the gateway did not start" >&2
  exit 1
fi
echo "doc-examples: gateway device=$DEVICE_PORT grpc=$GRPC_PORT metrics=$METRICS_PORT"

# The clients as clients/README.md names them, aimed at the test gateway.
mkdir -p "$WORK/bin" "$WORK/root"
for client in subscribe fanout; do
  printf '#!/bin/sh\nexec %s --target=127.0.0.1:%s "$@"\n' \
    "$BUILD_DIR/clients/fixstream-$client" "$GRPC_PORT" >"$WORK/bin/fixstream-$client"
done
for client in simulate load conns; do
  printf '#!/bin/sh\nexec %s --target=127.0.0.1:%s "$@"\n' \
    "$BUILD_DIR/clients/fixstream-$client" "$DEVICE_PORT" >"$WORK/bin/fixstream-$client"
done
chmod +x "$WORK/bin/"*
# The file `fixstream-load --file=lines.txt` reads.
"$BUILD_DIR/clients/fixstream-simulate" --target=127.0.0.1:1 --connections=4 --lines=500 \
  --print --vehicle_prefix=file- 2>/dev/null >"$WORK/lines.txt"
# Records flowing all along, for the subscribers (sim-0 .. sim-3, near Berlin).
"$BUILD_DIR/clients/fixstream-simulate" --target="127.0.0.1:$DEVICE_PORT" --connections=4 \
  --lines=1000000 --rate=100 >"$WORK/feeder.log" 2>&1 &
FEEDER_PID=$!

is_listed() {
  local command=$1
  shift
  for entry in "$@"; do [ "$entry" = "$command" ] && return 0; done
  return 1
}

# fix_too_old + fix_in_future lines so far.
fix_time_rejections() {
  curl -s "127.0.0.1:$METRICS_PORT/metrics" |
    awk '/^fixstream_lines_total\{outcome="fix_(too_old|in_future)"\}/ { n += $2 } END { print n + 0 }'
}

run_command() {
  local where=$1 command=$2
  local rewritten=$command
  rewritten=${rewritten//127.0.0.1:50051/127.0.0.1:$GRPC_PORT}
  rewritten=${rewritten//127.0.0.1:7878/127.0.0.1:$DEVICE_PORT}
  rewritten=${rewritten//127.0.0.1 7878/127.0.0.1 $DEVICE_PORT}
  rewritten=${rewritten//127.0.0.1:9464/127.0.0.1:$METRICS_PORT}
  rewritten=${rewritten//build-release\//$BUILD_DIR/}
  rewritten=${rewritten//\/usr\/local\/bin\//$WORK/root/usr/local/bin/}
  rewritten=${rewritten//\/etc\//$WORK/root/etc/}
  local budget=$BUDGET_S stops=0
  if is_listed "$command" "${RUNS_UNTIL_STOPPED[@]}"; then
    budget=$STOPPED_AFTER_S
    stops=1
  fi
  mkdir -p "$WORK/root/usr/local/bin" "$WORK/root/etc/systemd/system"
  REJECTED=$(fix_time_rejections)
  (cd "$WORK" && PATH="$WORK/bin:$PATH" timeout "$budget" bash -c "$rewritten") \
    >"$WORK/out.txt" 2>&1
  local rc=$?
  if [[ $command == *"| nc "* ]]; then
    # A line sent by hand must be published, not rejected for its fix time
    # (the README's NMEA example once was: dated 1994, read as 2094).
    local rejected_after
    rejected_after=$(fix_time_rejections)
    if [ "$rejected_after" != "$REJECTED" ]; then
      fail "$where: lines rejected for their fix time: $REJECTED -> $rejected_after"
    fi
  fi
  if [ "$rc" -eq 0 ] || { [ "$stops" -eq 1 ] && [ "$rc" -eq 124 ]; }; then
    echo "ok   $where: $command"
  else
    fail "$where: $command (exit $rc)"
    tail -n 20 "$WORK/out.txt" >&2
  fi
}

checked_by_reflection=0
for doc in "${DOCS[@]}"; do
  while IFS=$'\t' read -r where command; do
    if [[ $command == grpcurl\ * ]]; then
      checked_by_reflection=$((checked_by_reflection + 1))
      echo "grpc $where: $command (run by reflection_test)"
      continue
    fi
    if [ -n "${NOT_RUN[$command]+x}" ]; then
      echo "skip $where: $command (${NOT_RUN[$command]})"
      continue
    fi
    bench_script=""
    for script in "${BENCH_SCRIPTS[@]}"; do
      [[ $command =~ ^([A-Z0-9_]+=[^ ]+ )*$script( |$) ]] && bench_script=$script
    done
    if [ -n "$bench_script" ]; then
      [ -x "$SOURCE_DIR/$bench_script" ] || fail "$where: $bench_script is not an executable script"
      echo "skip $where: $command ($BENCH_RECIPE)"
      continue
    fi
    self_contained=""
    for script in "${SELF_CONTAINED[@]}"; do
      [[ $command == "$script"* ]] && self_contained=$script
    done
    if [ -n "$self_contained" ]; then
      rewritten=${command//build-release\//$BUILD_DIR/}
      (cd "$SOURCE_DIR" && timeout "$BUDGET_S" bash -c "$rewritten") >"$WORK/out.txt" 2>&1
      rc=$?
      if [ "$rc" -eq 0 ]; then
        echo "ok   $where: $command"
      elif [ "$rc" -eq 77 ]; then
        echo "skip $where: $command ($(tail -n 1 "$WORK/out.txt"))"
      else
        fail "$where: $command (exit $rc)"
        tail -n 20 "$WORK/out.txt" >&2
      fi
      continue
    fi
    # install lines copy from the source tree (docs/...) and build tree.
    if [[ $command == install\ * ]]; then
      command_in_source=${command//docs\//$SOURCE_DIR/docs/}
      run_command "$where" "$command_in_source"
      continue
    fi
    run_command "$where" "$command"
  done < <(extract "$doc")
done

echo "doc-examples: $checked_by_reflection grpcurl commands checked by reflection_test"
if [ "$failures" -ne 0 ]; then
  echo "doc-examples: $failures failed" >&2
  exit 1
fi
echo "doc-examples: all passed"
