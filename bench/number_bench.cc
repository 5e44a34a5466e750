// ParseDouble implementations side by side, one number per iteration, on the
// numbers the line formats carry (issue #12). Time per iteration is ns/number.
//
//   build-release/bench/number_bench --benchmark_repetitions=5
//       --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true
//
// Candidates: ParseDouble itself (ingest/number.cc: a hand-written Clinger
// fast path, std::from_chars behind it), std::from_chars alone, and
// fast_float::from_chars (libfast-float-dev). ParseDouble's fast path stays
// only while it measures faster than both (docs/PERFORMANCE.md). Every
// candidate has ParseDouble's contract (number.h): the whole text, the set
// std::from_chars accepts, bit-identical values, kOutOfRange for over- and
// underflow; and each is called out of line, as the parsers call ParseDouble.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "benchmark/benchmark.h"
#include "fast_float/fast_float.h"
#include "ingest/number.h"

namespace fixstream::ingest {
namespace {

// --- (a) std::from_chars alone (libstdc++ 12: Eisel-Lemire) ---------------

[[gnu::noinline]] NumberStatus FromCharsParse(std::string_view text, double* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  if (ec == std::errc::invalid_argument || ptr != end) return NumberStatus::kInvalid;
  if (ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  return NumberStatus::kOk;
}

// --- (b) fast_float::from_chars (libfast-float-dev 3.9) ----------------------
// fast_float 3.9 reports neither overflow nor underflow (it returns inf or 0
// with errc{}); libstdc++'s copy of it does, so this wrapper does the same.

[[gnu::noinline]] NumberStatus FastFloatParse(std::string_view text, double* value) {
  const char* const end = text.data() + text.size();
  double result;
  const auto [ptr, ec] = fast_float::from_chars(text.data(), end, result);
  if (ec != std::errc() || ptr != end) return NumberStatus::kInvalid;
  if (std::isinf(result) || result == 0) [[unlikely]] {
    // inf is out of range unless the text spells "inf"/"infinity"; 0 unless
    // every mantissa digit is zero.
    const char* p = text.data() + (text[0] == '-');
    const bool spelled_out = *p == 'i' || *p == 'I';
    if (std::isinf(result) && !spelled_out) return NumberStatus::kOutOfRange;
    if (result == 0) {
      for (; p != end && *p != 'e' && *p != 'E'; ++p) {
        if (*p >= '1' && *p <= '9') return NumberStatus::kOutOfRange;
      }
    }
  }
  *value = result;
  return NumberStatus::kOk;
}

// --- inputs -----------------------------------------------------------------

constexpr size_t kCount = 4096;  // a power of two

// One number of the given kind (0..4), like the comment's example; u in [0, 1).
std::string Number(int kind, size_t i, double u) {
  char buf[32];
  const int minutes = static_cast<int>(u * 60000) % 60000;  // thousandths of a minute
  switch (kind) {
    case 0:  // CSV latitude, "52.520008"
      std::snprintf(buf, sizeof buf, "%.6f", 47.0 + 8.0 * u);
      break;
    case 1:  // CSV longitude, "-13.404954" (one or two integer digits)
      std::snprintf(buf, sizeof buf, "%.6f", -5.0 - 10.0 * u);
      break;
    case 2:  // NMEA latitude, "4807.038"
      std::snprintf(buf, sizeof buf, "%02d%02d.%03d", 45 + static_cast<int>(i % 10), minutes / 1000,
                    minutes % 1000);
      break;
    case 3:  // NMEA longitude, "01131.000"
      std::snprintf(buf, sizeof buf, "%03d%02d.%03d", 5 + static_cast<int>(i % 12), minutes / 1000,
                    minutes % 1000);
      break;
    default:  // speed or course, "022.4"
      std::snprintf(buf, sizeof buf, "%05.1f", 60.0 * u);
      break;
  }
  return buf;
}

// kCount numbers of one kind, or (kind 5) the five kinds in turn. Varying
// digits, so branch predictors see something like real traffic.
std::vector<std::string> Numbers(int kind) {
  std::mt19937_64 rng(12);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<std::string> out;
  for (size_t i = 0; i < kCount; ++i) {
    out.push_back(Number(kind == 5 ? static_cast<int>(i % 5) : kind, i, unit(rng)));
  }
  return out;
}

const char* const kKindNames[] = {"lat", "lon", "nmea_lat", "nmea_lon", "speed", "mix"};

using Parse = NumberStatus (*)(std::string_view, double*);

void BM_Parse(benchmark::State& state, Parse parse, int kind) {
  const std::vector<std::string> strings = Numbers(kind);
  std::vector<std::string_view> numbers(strings.begin(), strings.end());
  // All candidates must agree bit for bit on these inputs.
  for (std::string_view n : numbers) {
    double got = 0, want = 0;
    if (parse(n, &got) != NumberStatus::kOk || FromCharsParse(n, &want) != NumberStatus::kOk ||
        got != want) {
      state.SkipWithError("disagrees with std::from_chars");
      return;
    }
  }
  double value;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse(numbers[i++ & (kCount - 1)], &value));
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void Register() {
  const struct {
    const char* name;
    Parse parse;
  } candidates[] = {
      {"ParseDouble", ParseDouble},
      {"from_chars", FromCharsParse},
      {"fast_float", FastFloatParse},
  };
  for (int kind = 0; kind < 6; ++kind) {
    for (const auto& c : candidates) {
      benchmark::RegisterBenchmark(
          (std::string("BM_Parse/") + kKindNames[kind] + "/" + c.name).c_str(), BM_Parse, c.parse,
          kind);
    }
  }
}

}  // namespace
}  // namespace fixstream::ingest

int main(int argc, char** argv) {
  fixstream::ingest::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
