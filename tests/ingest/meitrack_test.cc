// Meitrack through the framer and decoder (ingest/meitrack.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

// The Meitrack GPRS protocol document's AAA example (its checksum: the
// bytes up to '*' summed modulo 256).
constexpr std::string_view kAaa =
    "$$A138,012207005843985,AAA,35,22.543095,114.047660,101216073325,A,7,13,0,0,1.2,4,13,20,"
    "460|0|27B3|0DB0,0000,0000|0000|0000|0000|0000,,*4F\r\n";

TEST(MeitrackTest, DecodesTheDocumentsReport) {
  const DeviceRun run = RunDevice(DeviceProtocol::kMeitrack, {kAaa}, kTestReceive);
  ASSERT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "012207005843985");
  EXPECT_EQ(r.fix_time_unix_ns, Utc("2010-12-16T07:33:25Z"));
  EXPECT_DOUBLE_EQ(r.latitude, 22.543095);
  EXPECT_DOUBLE_EQ(r.longitude, 114.047660);
  EXPECT_EQ(r.satellites, 7u);
  EXPECT_DOUBLE_EQ(r.hdop, 1.2);
}

TEST(MeitrackTest, RejectsABadChecksum) {
  std::string bad(kAaa);
  bad[bad.size() - 3] = '0';
  const DeviceRun run = RunDevice(DeviceProtocol::kMeitrack, {bad, kAaa}, kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kBadChecksum, O::kPublished}));
}

TEST(MeitrackTest, AnswersAacWithItsChecksum) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kMeitrack, {"$$z27,012207005843985,AAC,1*D5\r\n"}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kHeartbeat});
  EXPECT_EQ(run.replies, "@@z27,012207005843985,AAC,1*0D\r\n");
}

}  // namespace
}  // namespace fixstream::ingest
