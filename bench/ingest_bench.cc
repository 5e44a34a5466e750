// Throughput of the ingest hot path, one core. Each benchmark reports
// items_processed (lines), so the output shows lines/s.
//
//   build-ingest/bench/ingest_bench --benchmark_min_time=1
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "ingest/csv.h"
#include "ingest/device_protocol.h"
#include "ingest/json.h"
#include "ingest/line_framer.h"
#include "ingest/line_parser.h"
#include "ingest/message_framer.h"
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

// Device protocols (issue #15): a connection's stream of position reports,
// delivered in 64 KiB writes through the protocol's MessageFramer and
// decoder, replies into a reused buffer, as the session will run them.
// Items are messages. BM_CsvStream runs CSV lines the same way (LineFramer +
// LineParser) for comparison.
std::string MeitrackWithChecksum(const std::string& body) {
  unsigned sum = 0;
  for (unsigned char c : body) sum += c;
  char cs[8];
  std::snprintf(cs, sizeof cs, "%02X\r\n", sum & 0xff);
  return body + cs;
}

std::vector<std::string> DeviceMessages(DeviceProtocol protocol, size_t n) {
  std::vector<std::string> m;
  for (size_t i = 0; i < n; ++i) {
    char b[512];
    const unsigned hh = (i / 3600) % 24, mm = (i / 60) % 60, ss = i % 60;
    const double lat = 52.0 + (i % 1000) * 1e-4, lon = 13.0 + (i % 777) * 1e-4;
    const unsigned lat_min = static_cast<unsigned>((i * 7919) % 60000);
    const unsigned lon_min = static_cast<unsigned>((i * 104729) % 60000);
    const unsigned id = 100000 + static_cast<unsigned>(i % 10000);
    switch (protocol) {
      case DeviceProtocol::kH02:
        std::snprintf(b, sizeof b,
                      "*HQ,4210%06u,V1,%02u%02u%02u,A,52%02u.%04u,N,013%02u.%04u,E,%03u.%02u,%03u,"
                      "241126,FFFFFBFF#",
                      id, hh, mm, ss, lat_min / 1000, lat_min % 1000 * 10, lon_min / 1000,
                      lon_min % 1000 * 10, static_cast<unsigned>(i % 90),
                      static_cast<unsigned>(i % 100), static_cast<unsigned>(i % 360));
        break;
      case DeviceProtocol::kGps103:
        std::snprintf(b, sizeof b,
                      "imei:359710%09u,tracker,261124%02u%02u,,F,%02u%02u%02u.000,A,52%02u.%04u,N,"
                      "013%02u.%04u,E,%u.%02u,%u;",
                      id, hh, mm, hh, mm, ss, lat_min / 1000, lat_min % 1000 * 10, lon_min / 1000,
                      lon_min % 1000 * 10, static_cast<unsigned>(i % 50),
                      static_cast<unsigned>(i % 100), static_cast<unsigned>(i % 360));
        break;
      case DeviceProtocol::kTk103:
        std::snprintf(b, sizeof b,
                      "(088047%06uBR00261124A52%02u.%04uN013%02u.%04uE%03u.%u%02u%02u%02u%03u."
                      "%02u00000000L00009AA3)",
                      id, lat_min / 1000, lat_min % 1000 * 10, lon_min / 1000, lon_min % 1000 * 10,
                      static_cast<unsigned>(i % 200), static_cast<unsigned>(i % 10), hh, mm, ss,
                      static_cast<unsigned>(i % 360), static_cast<unsigned>(i % 100));
        break;
      case DeviceProtocol::kWatch: {
        char content[256];
        std::snprintf(content, sizeof content,
                      "UD,241126,%02u%02u%02u,A,%.6f,N,%.6f,E,%.2f,%u,%u,9,60,90,0,50,00000000,1,1,"
                      "460,0,9360,4082,131",
                      hh, mm, ss, lat, lon, (i % 300) / 10.0, static_cast<unsigned>(i % 360),
                      static_cast<unsigned>(i % 500));
        std::snprintf(b, sizeof b, "[SG*88000%05u*%04zX*%s]", id % 100000, std::strlen(content),
                      content);
        break;
      }
      case DeviceProtocol::kQueclink:
        std::snprintf(b, sizeof b,
                      "+RESP:GTFRI,060100,1357902468%05u,,,00,1,1,%.1f,%u,%.1f,%.6f,%.6f,"
                      "20261124%02u%02u%02u,0460,0000,18d8,6141,00,2000.0,12345:12:34,,,80,210100,,"
                      ",,20261124%02u%02u%02u,%04zX$",
                      id % 100000, (i % 300) / 10.0, static_cast<unsigned>(i % 360),
                      (i % 900) / 10.0, lon, lat, hh, mm, ss, hh, mm, ss, i % 0xffff);
        break;
      case DeviceProtocol::kMeitrack:
        std::snprintf(b, sizeof b,
                      "$$A150,0122070%08u,AAA,35,%.6f,%.6f,261124%02u%02u%02u,A,7,13,%u,%u,1.2,4,"
                      "13,20,460|0|27B3|0DB0,0000,0000|0000|0000|0000|0000,,*",
                      id, lat, lon, hh, mm, ss, static_cast<unsigned>(i % 120),
                      static_cast<unsigned>(i % 360));
        m.push_back(MeitrackWithChecksum(b));
        continue;
      case DeviceProtocol::kSuntech:
        std::snprintf(b, sizeof b,
                      "ST300STT;100%06u;01;010;20261124;%02u:%02u:%02u;00100;%+.6f;%+.6f;%07.3f;"
                      "%06.2f;9;1;0;15.30;001100;1;0072;0;4.5;1\r",
                      id, hh, mm, ss, lat, lon, (i % 1000) / 10.0, (i % 3600) / 10.0);
        break;
      case DeviceProtocol::kOsmAnd:
        std::snprintf(b, sizeof b,
                      "GET /?id=%u&lat=%.6f&lon=%.6f&timestamp=%lld&speed=%.1f&bearing=%u&"
                      "altitude=%u&accuracy=5 HTTP/1.1\r\nHost: gateway\r\n\r\n",
                      id, lat, lon, 1795515330LL + static_cast<long long>(i), (i % 300) / 10.0,
                      static_cast<unsigned>(i % 360), static_cast<unsigned>(i % 500));
        break;
      case DeviceProtocol::kCount:
        break;
    }
    m.emplace_back(b);
  }
  return m;
}

// Concatenates messages into one stream of about 4 MiB.
std::string Stream(const std::vector<std::string>& messages, size_t* per_stream) {
  std::string s;
  *per_stream = 0;
  while (s.size() < (4 << 20)) {
    for (const std::string& m : messages) s += m;
    *per_stream += messages.size();
  }
  return s;
}

template <typename Consume>
void RunStream(benchmark::State& state, const std::string& stream, Consume consume) {
  constexpr size_t kWrite = 64 * 1024;
  size_t offset = 0;
  for (auto _ : state) {
    const size_t n = std::min(kWrite, stream.size() - offset);
    consume(std::string_view(stream.data() + offset, n));
    offset = (offset + n) % stream.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kWrite);
}

void BM_Device(benchmark::State& state, DeviceProtocol protocol) {
  size_t per_stream;
  const std::string stream = Stream(DeviceMessages(protocol, 4096), &per_stream);
  std::unique_ptr<ProtocolDecoder> decoder = MakeProtocolDecoder(protocol);
  MessageFramer framer(*decoder, 4096);
  NullSink sink;
  std::string reply;
  int64_t messages = 0, published = 0;
  RunStream(state, stream, [&](std::string_view chunk) {
    absl::Span<char> space = framer.PrepareWrite(chunk.size());
    std::memcpy(space.data(), chunk.data(), chunk.size());
    framer.CommitWrite(chunk.size());
    DeviceFrame frame;
    while (framer.Next(&frame)) {
      ++messages;
      published += decoder->Decode(frame.text, kReceiveNs, sink, &reply) == LineOutcome::kPublished;
    }
    reply.clear();
  });
  state.SetItemsProcessed(messages);
  state.counters["bytes_per_message"] = static_cast<double>(stream.size()) / per_stream;
  // Every generated message is a valid position: anything else is a bug in
  // the generator or the decoder, and would make the figure meaningless.
  if (published < messages - 2) state.SkipWithError("messages not published");
}
BENCHMARK_CAPTURE(BM_Device, h02, DeviceProtocol::kH02);
BENCHMARK_CAPTURE(BM_Device, gps103, DeviceProtocol::kGps103);
BENCHMARK_CAPTURE(BM_Device, tk103, DeviceProtocol::kTk103);
BENCHMARK_CAPTURE(BM_Device, watch, DeviceProtocol::kWatch);
BENCHMARK_CAPTURE(BM_Device, queclink, DeviceProtocol::kQueclink);
BENCHMARK_CAPTURE(BM_Device, meitrack, DeviceProtocol::kMeitrack);
BENCHMARK_CAPTURE(BM_Device, suntech, DeviceProtocol::kSuntech);
BENCHMARK_CAPTURE(BM_Device, osmand, DeviceProtocol::kOsmAnd);

void BM_CsvStream(benchmark::State& state) {
  std::vector<std::string> lines = CsvLines(4096);
  for (std::string& l : lines) l += "\n";
  size_t per_stream;
  const std::string stream = Stream(lines, &per_stream);
  LineFramer framer(4096);
  LineParser parser;
  NullSink sink;
  int64_t n = 0;
  RunStream(state, stream, [&](std::string_view chunk) {
    absl::Span<char> space = framer.PrepareWrite(chunk.size());
    std::memcpy(space.data(), chunk.data(), chunk.size());
    framer.CommitWrite(chunk.size());
    Frame frame;
    while (framer.Next(&frame)) {
      ++n;
      benchmark::DoNotOptimize(parser.Parse(frame.text, kReceiveNs, sink));
    }
  });
  state.SetItemsProcessed(n);
  state.counters["bytes_per_message"] = static_cast<double>(stream.size()) / per_stream;
}
BENCHMARK(BM_CsvStream);

}  // namespace
}  // namespace fixstream::ingest

BENCHMARK_MAIN();
