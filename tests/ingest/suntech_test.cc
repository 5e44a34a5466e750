// Suntech through the framer and decoder (ingest/suntech.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

TEST(SuntechTest, DecodesTheDocumentsStatusReport) {
  // The ST300 protocol document's STT example.
  const DeviceRun run = RunDevice(
      DeviceProtocol::kSuntech,
      {"ST300STT;100850000;01;010;20081017;07:41:56;00100;+37.478519;+126.886819;000.012;000.00;"
       "9;1;0;15.30;001100;1;0072;0;4.5;1\r"},
      kTestReceive);
  ASSERT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "100850000");
  EXPECT_EQ(r.fix_time_unix_ns, Utc("2008-10-17T07:41:56Z"));
  EXPECT_DOUBLE_EQ(r.latitude, 37.478519);
  EXPECT_DOUBLE_EQ(r.longitude, 126.886819);
  EXPECT_EQ(r.satellites, 9u);
  EXPECT_TRUE(run.replies.empty());  // Suntech devices expect no answer
}

TEST(SuntechTest, AliveIsAHeartbeatAndNoFixIsNoFix) {
  const DeviceRun run = RunDevice(
      DeviceProtocol::kSuntech,
      {"SA200ALV;317600\r",
       "SA200STT;317600;042;20120718;15:37:13;16d41;-15.618700;-056.083200;000.024;000.00;8;0;"
       "41548;12.17;100000;2;1979\r"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kHeartbeat, O::kNoFix}));
}

TEST(SuntechTest, UexTextMayHoldCrLfWhereverTheReadsSplit) {
  // The text "RFID:008FB2BEBA00\r\n" is length-prefixed (19): its CR does not
  // end the frame, even when the read ends right after it.
  const std::string uex =
      "ST300UEX;511248200;45;311;20220701;18:42:09;14c943;-22.975200;-043.373000;000.000;"
      "000.00;9;1;0;12.14;100010;19;RFID:008FB2BEBA00\r\n;3E;000135;4.1;1;00000000000000;0\r";
  const size_t cr = uex.find("\r\n");
  const DeviceRun run =
      RunDevice(DeviceProtocol::kSuntech,
                {std::string_view(uex).substr(0, cr + 1), std::string_view(uex).substr(cr + 1)},
                kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  EXPECT_EQ(run.tail, MessageFramer::Tail::kNone);
}

}  // namespace
}  // namespace fixstream::ingest
