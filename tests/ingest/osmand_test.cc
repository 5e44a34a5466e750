// OsmAnd (HTTP) through the framer and decoder (ingest/osmand.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kBad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n";

TEST(OsmAndTest, KeepAliveRequestsInOneReadEachGetTheirAnswer) {
  // The Traccar Client's query string (osmand protocol page).
  const DeviceRun run = RunDevice(
      DeviceProtocol::kOsmAnd,
      {"GET /?id=123456&lat=60.0&lon=30.0&timestamp=1377177267&speed=10.0&bearing=90&"
       "altitude=12&accuracy=5 HTTP/1.1\r\nHost: gw\r\n\r\n"
       "POST /?id=123456&lat=60.1&lon=30.1&timestamp=2016-01-27T18%3A55%3A47Z HTTP/1.1\r\n"
       "Host: gw\r\nContent-Length: 0\r\n\r\n"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kPublished, O::kPublished}));
  EXPECT_EQ(run.replies, std::string(kOk) + std::string(kOk));
  ASSERT_EQ(run.records.size(), 2u);
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "123456");
  EXPECT_EQ(r.fix_time_unix_ns, 1377177267LL * kNanosPerSecond);
  EXPECT_NEAR(r.speed_mps, 10.0 * 1852 / 3600, 1e-12);  // the app sends knots
  EXPECT_DOUBLE_EQ(r.heading_deg, 90);
  EXPECT_DOUBLE_EQ(r.accuracy_m, 5);
  EXPECT_EQ(run.records[1].fix_time_unix_ns, Utc("2016-01-27T18:55:47Z"));
  EXPECT_FALSE(run.close);
}

TEST(OsmAndTest, FormAndChunkedJsonBodies) {
  const std::string json =
      R"({"location":{"timestamp":"2021-07-21T08:06:34.444Z","coords":{"latitude":-6.1148096,)"
      R"("longitude":106.6837015,"speed":18.67,"heading":63}},"device_id":"8737767034"})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", json.size());
  const DeviceRun run = RunDevice(
      DeviceProtocol::kOsmAnd,
      {"POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
       "Content-Length: 30\r\n\r\nid=abc&lat=1.5&lon=2.5&valid=0",
       "POST / HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
           std::string(size) + "\r\n" + json + "\r\n0\r\n\r\n"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kNoFix, O::kPublished}));
  ASSERT_EQ(run.records.size(), 1u);
  EXPECT_EQ(run.records[0].vehicle_id(), "8737767034");
  EXPECT_EQ(run.records[0].fix_time_unix_ns, Utc("2021-07-21T08:06:34.444Z"));
  EXPECT_DOUBLE_EQ(run.records[0].speed_mps, 18.67);  // m/s in the JSON form
}

TEST(OsmAndTest, NoIdIsABadRequest) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kOsmAnd, {"GET /?lat=60.0&lon=30.0 HTTP/1.1\r\nHost: gw\r\n\r\n"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kUnknownVehicle});
  EXPECT_EQ(run.replies, std::string(kBad) + "\r\n");
}

TEST(OsmAndTest, ConnectionCloseAndGarbageAskForTheConnectionToClose) {
  DeviceRun run =
      RunDevice(DeviceProtocol::kOsmAnd,
                {"GET /?id=1&lat=1&lon=2 HTTP/1.1\r\nConnection: close\r\n\r\n"}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  EXPECT_EQ(run.replies, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(run.close);

  run = RunDevice(DeviceProtocol::kOsmAnd, {"\x16\x03\x01 not http\r\n\r\n"}, kTestReceive);
  ASSERT_FALSE(run.outcomes.empty());
  for (LineOutcome o : run.outcomes) EXPECT_EQ(o, O::kMalformed);
  EXPECT_EQ(run.replies, std::string(kBad) + "Connection: close\r\n\r\n");
  EXPECT_TRUE(run.close);
}

TEST(OsmAndTest, TimestampBeyondTheNanosecondRangeIsABadTimestamp) {
  // 9377177267 s is in 2267, past int64 nanoseconds (found by osmand_fuzz).
  const DeviceRun run =
      RunDevice(DeviceProtocol::kOsmAnd,
                {"GET /?id=1&lat=1&lon=2&timestamp=9377177267 HTTP/1.1\r\n\r\n"}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kBadTimestamp});
  EXPECT_TRUE(run.records.empty());
}

TEST(OsmAndTest, ARejectedReportIsStillAnsweredOkSoTheAppMovesOn) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kOsmAnd,
                {"GET /?id=7&lat=95&lon=2 HTTP/1.1\r\n\r\nGET /?id=7&lat=x&lon=2 HTTP/1.1\r\n\r\n"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kOutOfRange, O::kMalformed}));
  EXPECT_EQ(run.replies, std::string(kOk) + std::string(kOk));
  EXPECT_TRUE(run.records.empty());
}

}  // namespace
}  // namespace fixstream::ingest
