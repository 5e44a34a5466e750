#!/usr/bin/env bash
# The crash soak (issue #13): the crash loop of tests/integration/crash_test.cc
# (a real gateway under a device on the acknowledging listener and a live
# subscriber, SIGKILLed at random moments, restarted and checked after every
# kill) run again and again for CRASH_SOAK_MINUTES, alternating fsync-per-batch
# and group commit, then one table:
#
#   bench/crash-soak.sh                        # 10 minutes
#   CRASH_SOAK_MINUTES=60 bench/crash-soak.sh
#
# Reported per durability: loops, kills survived, lines acknowledged, records
# delivered, delivered records lost to kills (group commit only: delivered
# before their fsync; their numbers stay gaps), acknowledged lines lost (must
# be 0), sequences reused (must be 0: a delivered sequence naming another
# record), longest SIGTERM drain at the end of a loop. A loop whose checks
# fail is counted and its output kept; the script then exits 1.
#
# Environment: CRASH_SOAK_MINUTES (10), CRASH_KILLS (kills per loop, 20),
# CRASH_SOAK_BUILD_DIR (build: the tree's normal build, built if needed).
# Every gateway runs on ephemeral loopback ports with its own journal under
# the test's temporary directory, and is stopped by the test itself.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${CRASH_SOAK_BUILD_DIR:-$ROOT/build}
MINUTES=${CRASH_SOAK_MINUTES:-10}
export CRASH_KILLS=${CRASH_KILLS:-20}

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$BUILD_DIR" -j2 --target crash_test >&2
TEST_BIN=$BUILD_DIR/tests/integration/crash_test
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fixstream-crash-soak.XXXXXX")
echo "crash-soak: ${MINUTES} min, ${CRASH_KILLS} kills per loop, output in $WORK" >&2

declare -A LOOPS KILLS ACKED DELIVERED LOST_DELIVERED DRAIN FAILED
for d in batch group; do
  LOOPS[$d]=0 KILLS[$d]=0 ACKED[$d]=0 DELIVERED[$d]=0 LOST_DELIVERED[$d]=0 DRAIN[$d]=0 FAILED[$d]=0
done
end=$((SECONDS + MINUTES * 60))
n=0
while ((SECONDS < end)); do
  for d in batch group; do
    ((SECONDS < end)) || break
    n=$((n + 1))
    if [[ $d == batch ]]; then filter=CrashTest.RepeatedSigkill*; else filter=CrashTest.UnderGroupCommit*; fi
    out=$WORK/loop-$n-$d.txt
    # Bounded: a loop of 20 kills takes about half a minute.
    if ! timeout --kill-after=10 600 "$TEST_BIN" --gtest_filter="$filter" >"$out" 2>&1; then
      FAILED[$d]=$((FAILED[$d] + 1))
      echo "crash-soak: loop $n ($d) FAILED, see $out" >&2
      continue
    fi
    line=$(grep '^summary:' "$out" | tail -1)
    val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
    LOOPS[$d]=$((LOOPS[$d] + 1))
    KILLS[$d]=$((KILLS[$d] + $(val kills)))
    ACKED[$d]=$((ACKED[$d] + $(val acknowledged)))
    DELIVERED[$d]=$((DELIVERED[$d] + $(val delivered)))
    LOST_DELIVERED[$d]=$((LOST_DELIVERED[$d] + $(val delivered_lost_to_kills)))
    drain=$(val drain_ms)
    ((drain > DRAIN[$d])) && DRAIN[$d]=$drain
    rm -f "$out"
  done
done

echo
echo "fixstream crash soak — $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MINUTES} min, $(nproc) CPUs, ${CRASH_KILLS} kills per loop"
echo
echo "| durability | loops | kills survived | lines acknowledged | records delivered | delivered lost to kills | acknowledged lost | sequences reused | longest drain ms | failed loops |"
echo "|---|---|---|---|---|---|---|---|---|---|"
status=0
for d in batch group; do
  echo "| $d | ${LOOPS[$d]} | ${KILLS[$d]} | ${ACKED[$d]} | ${DELIVERED[$d]} | ${LOST_DELIVERED[$d]} | 0 | 0 | ${DRAIN[$d]} | ${FAILED[$d]} |"
  ((FAILED[$d] == 0)) || status=1
done
# (A loop passes only if no acknowledged line was lost and no delivered
# sequence named another record: those columns are 0 by construction, and
# any violation is a failed loop.)
[[ $status == 0 ]] && rmdir "$WORK" 2>/dev/null || true
exit $status
