// Throughput of the ingest hot path, one core. Each benchmark reports
// items_processed (lines), so the output shows lines/s.
//
//   build-ingest/bench/ingest_bench --benchmark_min_time=1
#include <cstring>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "ingest/csv.h"
#include "ingest/json.h"
#include "ingest/line_framer.h"
#include "ingest/line_parser.h"
#include "ingest/nmea.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kReceiveNs = 1795515330LL * 1'000'000'000;

// Realistic lines with varying digits, so branch predictors and caches see
// something like real traffic rather than one repeated string.
std::vector<std::string> CsvLines(size_t n) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < n; ++i) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "veh-%05zu,%lld,%.6f,%.6f,%.1f,%.1f", i % 10000,
                  1795515330000LL + static_cast<long long>(i) * 1000, 52.0 + (i % 1000) * 1e-4,
                  13.0 + (i % 777) * 1e-4, (i % 300) / 10.0, (i % 3600) / 10.0);
    lines.emplace_back(buf);
  }
  return lines;
}

std::string WithChecksum(const std::string& body) {
  unsigned checksum = 0;
  for (char c : body) checksum ^= static_cast<unsigned char>(c);
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "*%02X", checksum);
  return "$" + body + suffix;
}

std::vector<std::string> RmcLines(size_t n) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < n; ++i) {
    char buf[160];
    std::snprintf(
        buf, sizeof buf,
        "GNRMC,%02zu%02zu%02zu.00,A,52%02zu.%05zu,N,013%02zu.%05zu,E,%.3f,%.1f,241126,,,A",
        (i / 3600) % 24, (i / 60) % 60, i % 60, i % 60, (i * 7919) % 100000, (i / 7) % 60,
        (i * 104729) % 100000, (i % 500) / 10.0, (i % 3600) / 10.0);
    lines.push_back(WithChecksum(buf));
  }
  return lines;
}

std::vector<std::string> JsonLines(size_t n) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < n; ++i) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  R"({"vehicle_id":"veh-%05zu","timestamp":"2026-11-24T10:%02zu:%02zu.%03zuZ",)"
                  R"("lat":%.6f,"lon":%.6f,"speed_mps":%.1f,"heading_deg":%.1f})",
                  i % 10000, (i / 60) % 60, i % 60, i % 1000, 52.0 + (i % 1000) * 1e-4,
                  13.0 + (i % 777) * 1e-4, (i % 300) / 10.0, (i % 3600) / 10.0);
    lines.emplace_back(buf);
  }
  return lines;
}

class NullSink final : public RecordSink {
 public:
  void OnRecord(const LocationRecord& record) override {
    benchmark::DoNotOptimize(record.latitude);
  }
};

void BM_Framer(benchmark::State& state) {
  // 66-byte lines (65 + "\n") delivered in 64 KiB writes.
  std::string stream;
  const std::string line = std::string(65, 'x') + "\n";
  while (stream.size() < (4 << 20)) stream += line;
  constexpr size_t kWrite = 64 * 1024;
  LineFramer framer(4096);
  size_t offset = 0;
  int64_t lines = 0;
  for (auto _ : state) {
    const size_t n = std::min(kWrite, stream.size() - offset);
    absl::Span<char> space = framer.PrepareWrite(kWrite);
    std::memcpy(space.data(), stream.data() + offset, n);
    framer.CommitWrite(n);
    offset = (offset + n) % stream.size();
    Frame frame;
    while (framer.Next(&frame)) {
      benchmark::DoNotOptimize(frame.text.data());
      ++lines;
    }
  }
  state.SetItemsProcessed(lines);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kWrite);
}
BENCHMARK(BM_Framer);

void BM_Csv(benchmark::State& state) {
  const std::vector<std::string> lines = CsvLines(4096);
  LocationRecord record;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseCsvLine(lines[i++ & 4095], &record));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Csv);

void BM_NmeaRmc(benchmark::State& state) {
  const std::vector<std::string> lines = RmcLines(4096);
  NmeaSession session;
  NullSink sink;
  session.Parse("$PFSID,veh-00001", kReceiveNs, sink);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(session.Parse(lines[i++ & 4095], kReceiveNs, sink));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NmeaRmc);

// A receiver's cycle: an RMC and a GGA of each fix time, which merge.
std::vector<std::string> RmcGgaLines(size_t n) {
  const std::vector<std::string> rmc = RmcLines(n / 2);
  std::vector<std::string> lines;
  for (size_t i = 0; i < n / 2; ++i) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "GNGGA,%02zu%02zu%02zu.00,52%02zu.%05zu,N,013%02zu.%05zu,E,1,%zu,0.%zu,%zu.%zu,M,"
                  "44.1,M,,",
                  (i / 3600) % 24, (i / 60) % 60, i % 60, i % 60, (i * 7919) % 100000, (i / 7) % 60,
                  (i * 104729) % 100000, 4 + i % 9, 5 + i % 5, 30 + i % 20, i % 10);
    lines.push_back(rmc[i]);
    lines.push_back(WithChecksum(buf));
  }
  return lines;
}

void BM_NmeaRmcGga(benchmark::State& state) {
  const std::vector<std::string> lines = RmcGgaLines(4096);
  NmeaSession session;
  NullSink sink;
  session.Parse("$PFSID,veh-00001", kReceiveNs, sink);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(session.Parse(lines[i++ & 4095], kReceiveNs, sink));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_NmeaRmcGga);

void BM_Json(benchmark::State& state) {
  const std::vector<std::string> lines = JsonLines(4096);
  JsonLineParser parser;
  LocationRecord record;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parser.Parse(lines[i++ & 4095], &record));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Json);

void BM_LineParserMix(benchmark::State& state) {
  // 75% CSV, 25% NMEA RMC, as one connection would see it if a fleet mixed
  // trackers behind a concentrator.
  const std::vector<std::string> csv = CsvLines(3072);
  const std::vector<std::string> rmc = RmcLines(1024);
  std::vector<std::string> lines;
  for (size_t i = 0; i < 1024; ++i) {
    lines.push_back(csv[3 * i]);
    lines.push_back(csv[3 * i + 1]);
    lines.push_back(rmc[i]);
    lines.push_back(csv[3 * i + 2]);
  }
  LineParser parser;
  NullSink sink;
  parser.Parse("$PFSID,veh-00001", kReceiveNs, sink);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parser.Parse(lines[i++ & 4095], kReceiveNs, sink));
  }
  parser.Flush(sink);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LineParserMix);

}  // namespace
}  // namespace fixstream::ingest

BENCHMARK_MAIN();
