// Queclink through the framer and decoder (ingest/queclink.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

// The @Track protocol document's GTFRI example.
constexpr std::string_view kFri =
    "+RESP:GTFRI,060100,135790246811220,,,00,1,1,4.3,92,70.0,121.354335,31.222073,"
    "20090214013254,0460,0000,18d8,6141,00,2000.0,12345:12:34,,,80,210100,,,,20090214093254,"
    "11F0$";

TEST(QueclinkTest, DecodesTheDocumentsFixedReport) {
  const DeviceRun run = RunDevice(DeviceProtocol::kQueclink, {kFri}, kTestReceive);
  ASSERT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  ASSERT_EQ(run.records.size(), 1u);
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "135790246811220");
  EXPECT_EQ(r.fix_time_unix_ns, Utc("2009-02-14T01:32:54Z"));
  EXPECT_DOUBLE_EQ(r.longitude, 121.354335);
  EXPECT_DOUBLE_EQ(r.latitude, 31.222073);
  EXPECT_NEAR(r.speed_mps, 4.3 / 3.6, 1e-12);
  EXPECT_DOUBLE_EQ(r.heading_deg, 92);
  EXPECT_DOUBLE_EQ(r.altitude_m, 70);
  EXPECT_TRUE(run.replies.empty());
}

TEST(QueclinkTest, BufferedReportIsPublished) {
  std::string buffered(kFri);
  buffered.replace(0, 6, "+BUFF:");
  const DeviceRun run = RunDevice(DeviceProtocol::kQueclink, {buffered}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kPublished});
}

TEST(QueclinkTest, EveryFixOfAMultiFixReport) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kQueclink,
                {"+RESP:GTFRI,020102,135790246811220,,0,0,2,1,4.3,92,70.0,121.354335,31.222073,"
                 "20090214013254,0460,0000,18d8,6141,00,0,4.3,92,70.0,121.354336,31.222074,"
                 "20090214013304,0460,0000,18d8,6141,00,,20090214093254,11F0$"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  ASSERT_EQ(run.records.size(), 2u);
  EXPECT_EQ(run.records[1].fix_time_unix_ns, Utc("2009-02-14T01:33:04Z"));
}

TEST(QueclinkTest, HeartbeatIsAcknowledged) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kQueclink,
                {"+ACK:GTHBD,060100,135790246811220,,20100214093254,11F0$"}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kHeartbeat});
  EXPECT_EQ(run.replies, "+SACK:GTHBD,060100,11F0$");
}

}  // namespace
}  // namespace fixstream::ingest
