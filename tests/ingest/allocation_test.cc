// Asserts that parsing allocates nothing per line once warmed up. Global
// operator new/delete are replaced with counting versions, which is why this
// test is its own executable.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ingest/device_protocol.h"
#include "ingest/line_framer.h"
#include "ingest/line_parser.h"
#include "ingest/message_framer.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, std::align_val_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const size_t a = static_cast<size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size, std::align_val_t align) { return operator new(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace fixstream::ingest {
namespace {

class CountingSink final : public RecordSink {
 public:
  void OnRecord(const LocationRecord& record) override {
    checksum += record.latitude;
    ++count;
  }
  double checksum = 0;
  uint64_t count = 0;
};

std::vector<std::string> MixedLines() {
  return {
      "$PFSID,bus-17*2B",
      "bus-17,2026-11-24T10:15:30Z,52.520008,13.404954",
      "truck:9,1795515330000,-33.8688,151.2093,12.5,270,35.2,4.8",
      "v1,1795515330000,1,2,,90",
      "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
      "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
      "$GNRMC,101530.00,A,5231.20048,N,01324.29724,E,0.123,270.5,241126,,,A*41",
      "$GNGGA,101530.00,5231.20048,N,01324.29724,E,1,12,0.78,34.5,M,44.1,M,,*7E",
      "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
      R"({"vehicle_id":"bus-17","timestamp":"2026-11-24T10:15:30.250+01:00","lat":52.52,)"
      R"("lon":13.40,"speed_mps":null,"meta":{"fw":[1,2,3]}})",
      R"({"vehicle_id":"v2","timestamp":1795515330000,"lat":1,"lon":2,"accuracy_m":3})",
      "",
      // Rejections must not allocate either.
      "v1,1795515330000,nan,2",
      "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6B",
      R"({"vehicle_id":"v1","vehicle_id":"v1"})",
      "v1,1795515330000,1,2,3,4,5,6,7,8",
  };
}

TEST(AllocationTest, ParsingAllocatesNothingAfterWarmUp) {
  const std::vector<std::string> lines = MixedLines();
  LineParser parser;
  CountingSink sink;
  const int64_t receive = 3920186119LL * 1'000'000'000;
  const uint64_t start = g_allocations.load();
  for (const std::string& line : lines) parser.Parse(line, receive, sink);  // warm-up
  parser.Flush(sink);
  const uint64_t before = g_allocations.load();
  // The counter is live: warming up the JSON parser allocates its buffers.
  EXPECT_GT(before - start, 0u);

  for (int i = 0; i < 10'000; ++i) {
    parser.Parse(lines[i % lines.size()], receive, sink);
    if (i % 7 == 0) parser.Flush(sink);
  }
  parser.Flush(sink);
  const uint64_t after = g_allocations.load();
  EXPECT_EQ(after - before, 0u);
  // Records really flowed: of every 13 lines, 4 are rejections, 1 ignored,
  // 1 empty and 2 NMEA pairs merge, so roughly 45% of lines make a record.
  EXPECT_GT(sink.count, 4000u);
}

// Real receivers' sentences (gpsd's corpus): talkers merged into cycles,
// GNS, GLL, ZDA dating and the GPS week rollover correction.
TEST(AllocationTest, ReceiverSentencesAllocateNothing) {
  const std::vector<std::string> lines = {
      "$PFSID,bus-17",
      "$GNZDA,213712.000,12,02,2026,,*4B",
      "$GNGNS,213712.000,4111.59903,N,11156.54809,W,AANN,13,0.93,01482.5,-016.5,,*52",
      "$GNGLL,4111.59903,N,11156.54809,W,213712.000,A,A*50",
      "$GPGGA,020935.000,4404.1351,N,12118.8556,W,1,08,0.9,1123.9,M,-19.6,M,,0000*5E",
      "$GLGGA,020935.000,4404.1351,N,12118.8556,W,1,02,0.9,1123.9,M,-19.6,M,,0000*48",
      "$GNRMC,020935.000,A,4404.1351,N,12118.8556,W,0.04,359.11,050219,,,A*6C",
      "$GPRMC,043539.00,A,4333.190206,N,00127.618380,E,0.0,,040925,1.7,W,A,V*7C\r",
      "$GPRMC,000231.42,A,4829.0005,N,00022.0016,E,0.16,212.28,220899,,,A*59",
      "$GPGGA,125108,3854.5087,N,07726.4523,W,8,10,2.0,268.8,M,-33.9,M,,*71",
  };
  // 2019-04-07: the 1999 RMC is corrected into this window.
  const int64_t receive = 1'554'595'361LL * 1'000'000'000;
  const FixTimeWindow window{.max_age_ns = 10LL * 365 * 86'400 * 1'000'000'000,
                             .max_lead_ns = 8LL * 365 * 86'400 * 1'000'000'000};
  LineParser parser(LineParserOptions{.pinned_format = std::nullopt, .fix_time_window = window});
  CountingSink sink;
  for (const std::string& line : lines) parser.Parse(line, receive, sink);  // warm-up
  parser.Flush(sink);
  const uint64_t before = g_allocations.load();
  for (int i = 0; i < 10'000; ++i) {
    parser.Parse(lines[i % lines.size()], receive, sink);
    if (i % 5 == 0) parser.Flush(sink);
  }
  parser.Flush(sink);
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_GT(sink.count, 3000u);
  EXPECT_GT(parser.week_rollovers_corrected(), 0u);
}

TEST(AllocationTest, FramingAllocatesOnlyWhenTheBufferGrows) {
  std::string stream;
  for (const std::string& line : MixedLines()) stream += line + "\r\n";
  LineFramer framer(4096);
  Frame frame;
  auto feed = [&] {
    for (size_t offset = 0; offset < stream.size(); offset += 100) {
      const size_t n = std::min<size_t>(100, stream.size() - offset);
      absl::Span<char> space = framer.PrepareWrite(100);
      std::memcpy(space.data(), stream.data() + offset, n);
      framer.CommitWrite(n);
      while (framer.Next(&frame)) {
      }
    }
  };
  feed();  // warm-up
  const uint64_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) feed();
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

}  // namespace
}  // namespace fixstream::ingest

namespace fixstream::ingest {
namespace {

// A device connection of each protocol: framing, decoding and the replies
// (into a reused output buffer) allocate nothing once warmed up.
TEST(AllocationTest, DeviceProtocolsAllocateNothingAfterWarmUp) {
  const std::pair<DeviceProtocol, std::string> kTraffic[] = {
      {DeviceProtocol::kH02,
       "*HQ,4210051400,V1,164550,A,0956.3800,N,08406.7000,W,000.00,000,221215,FFFFFBFF,712,01,"
       "0,0,6#*HQ,135790246811220,HTBT#"},
      {DeviceProtocol::kGps103,
       "##,imei:359586015829802,A;359586015829802;imei:359710045559400,tracker,151030080104,,F,"
       "000102.000,A,5443.3800,N,02512.9000,E,0.00,0;"},
      {DeviceProtocol::kTk103,
       "(088047365400BP05354188047365400150929A3258.1700S02755.4300E009.4193927301.9000000000"
       "L00000000)(087073005534BP00HSO)"},
      {DeviceProtocol::kWatch,
       "[SG*8800000015*0002*LK][SG*8800000015*0087*UD,220414,134652,A,22.571707,N,113.8613968,"
       "E,0.1,0.0,100,7,60,90,1000,50,0000,4,1,460,0,9360,4082,131,9360,4092,148]"},
      {DeviceProtocol::kQueclink,
       "+RESP:GTFRI,060100,135790246811220,,,00,1,1,4.3,92,70.0,121.354335,31.222073,"
       "20090214013254,0460,0000,18d8,6141,00,2000.0,12345:12:34,,,80,210100,,,,20090214093254,"
       "11F0$+ACK:GTHBD,1A0401,135790246811220,,20100214093254,11F0$"},
      {DeviceProtocol::kMeitrack,
       "$$z27,012207005843985,AAC,1*D5\r\n$$A138,012207005843985,AAA,35,22.543095,114.047660,"
       "101216073325,A,7,13,0,"
       "0,1.2,4,13,20,460|0|27B3|0DB0,0000,0000|0000|0000|0000|0000,,*4F\r\n"},
      {DeviceProtocol::kSuntech,
       "SA200STT;317600;042;20120718;15:37:13;16d41;-15.618700;-056.083200;000.024;000.00;8;1;"
       "41548;12.17;100000;2;1979\rSA200ALV;317600\r"},
      {DeviceProtocol::kOsmAnd,
       "GET /?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0 "
       "HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nPOST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
       "application/json\r\nContent-Length: "
       "133\r\n\r\n{\"location\":{\"timestamp\":\"2021-07-21T08:"
       "06:34.444Z\",\"coords\":{\"latitude\":-6.1148096,\"longitude\":106.6837015}},\"device_id\":"
       "\"87377670\"}"},
  };
  const int64_t receive = 1'796'193'000LL * 1'000'000'000;
  for (const auto& entry : kTraffic) {
    // Named copies: clang 14 cannot capture structured bindings in lambdas.
    const DeviceProtocol protocol = entry.first;
    const std::string& traffic = entry.second;
    std::unique_ptr<ProtocolDecoder> decoder = MakeProtocolDecoder(protocol);
    MessageFramer framer(*decoder, 4096);
    CountingSink sink;
    std::string reply;
    uint64_t outcomes = 0;
    auto connection_reads = [&](int n) {
      for (int i = 0; i < n; ++i) {
        // Two reads, split mid-message, as a socket may deliver them.
        const size_t half = traffic.size() / 2 + 1;
        for (std::string_view chunk :
             {std::string_view(traffic).substr(0, half), std::string_view(traffic).substr(half)}) {
          absl::Span<char> space = framer.PrepareWrite(4096);
          std::memcpy(space.data(), chunk.data(), chunk.size());
          framer.CommitWrite(chunk.size());
          DeviceFrame frame;
          while (framer.Next(&frame)) {
            ASSERT_EQ(frame.kind, DeviceFrame::Kind::kMessage) << DeviceProtocolName(protocol);
            const LineOutcome o = decoder->Decode(frame.text, receive, sink, &reply);
            ASSERT_FALSE(IsRejection(o)) << DeviceProtocolName(protocol) << " " << frame.text;
            ++outcomes;
          }
        }
        reply.clear();  // the session wrote it
      }
    };
    connection_reads(3);  // warm-up
    const uint64_t before = g_allocations.load();
    const uint64_t records_before = sink.count;
    connection_reads(1000);
    EXPECT_EQ(g_allocations.load() - before, 0u) << DeviceProtocolName(protocol);
    EXPECT_GE(sink.count - records_before, 1000u) << DeviceProtocolName(protocol);
    EXPECT_GE(outcomes, 2000u) << DeviceProtocolName(protocol);
  }
}

}  // namespace
}  // namespace fixstream::ingest

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
