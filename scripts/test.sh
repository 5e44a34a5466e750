#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test:
#   1. the full suite (unit, integration, process tests) in a normal build;
#   2. a clang build with -Wthread-safety -Werror (FIXSTREAM_THREAD_SAFETY),
#      compiled only: the Abseil lock annotations must hold;
#   3. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   4. each libFuzzer target for a bounded time (clang).
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

echo "== build (RelWithDebInfo) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"
echo "== tests =="
ctest --test-dir build --output-on-failure -j "$JOBS"

echo "== build (clang, -Wthread-safety; compile only) =="
CXX_CLANG=$(command -v clang++ || command -v clang++-14)
cmake -S . -B build-tsa -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$CXX_CLANG" \
  -DFIXSTREAM_THREAD_SAFETY=ON -DFIXSTREAM_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsa -j "$JOBS"

echo "== build (ASan + UBSan) =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFIXSTREAM_SANITIZE=ON \
  -DFIXSTREAM_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$JOBS"
echo "== tests under sanitizers =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS"

if [ -x tests/fuzz/run.sh ]; then
  echo "== fuzz (${FUZZ_SECONDS}s per target) =="
  FUZZ_SECONDS=$FUZZ_SECONDS tests/fuzz/run.sh
fi
echo "fixstream: all tests passed"
