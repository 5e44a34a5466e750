#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time
# (FUZZ_SECONDS, default 20) from the checked-in seed corpus. New inputs go
# to a scratch copy, so the repository's corpus stays small.
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
CXX_CLANG=$(command -v clang++ || command -v clang++-14)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$CXX_CLANG" -DFIXSTREAM_FUZZ=ON -DFIXSTREAM_BUILD_BENCH=OFF >/dev/null
TARGETS=(line_framer_fuzz line_parser_fuzz subscribe_request_fuzz token_file_fuzz device_auth_fuzz
  h02_fuzz gps103_fuzz tk103_fuzz watch_fuzz queclink_fuzz meitrack_fuzz suntech_fuzz osmand_fuzz)
cmake --build build-fuzz --target "${TARGETS[@]}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${TARGETS[@]}"; do
  mkdir -p "$scratch/$t"
  cp tests/fuzz/corpus/"$t"/* "$scratch/$t/"
  echo "fuzz: $t for ${FUZZ_SECONDS}s"
  status=0
  build-fuzz/tests/fuzz/"$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
    "$scratch/$t" >"$scratch/$t.log" 2>&1 || status=$?
  grep -E "^stat::(number_of_executed_units|new_units_added)" "$scratch/$t.log" || true
  if [ "$status" -ne 0 ]; then
    tail -50 "$scratch/$t.log"
    echo "fuzz: $t FAILED (exit $status)"
    exit 1
  fi
done
echo "fuzz: all targets clean"
