// H02 through the framer and decoder (ingest/h02.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

// The example position of the H02 protocol document.
constexpr std::string_view kDocPosition =
    "*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,100815,FFFFFBFF#";

TEST(H02Test, DecodesTheDocumentsPositionAndAcknowledgesIt) {
  const DeviceRun run = RunDevice(DeviceProtocol::kH02, {kDocPosition}, kTestReceive);
  ASSERT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  ASSERT_EQ(run.records.size(), 1u);
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "865205030330012");
  EXPECT_EQ(r.format, SourceFormat::kH02);
  EXPECT_EQ(r.fix_time_unix_ns, Utc("2015-08-10T14:54:52Z"));
  EXPECT_NEAR(r.latitude, 22.6758635, 1e-9);
  EXPECT_NEAR(r.longitude, 113.9720648, 1e-7);
  EXPECT_TRUE(r.has(LocationRecord::kSpeed));
  EXPECT_EQ(run.replies, "*HQ,865205030330012,V4,V1," + std::string(kTestReceiveCompact) + "#");
}

TEST(H02Test, InvalidFixIsNoFixButStillAcknowledged) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kH02,
                {"*HQ,3800008700,V1,062508,V,3048.2400,N,03058.5600,E,000.00,000,250413,FFFFFBFF#"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kNoFix});
  EXPECT_TRUE(run.records.empty());
  EXPECT_EQ(run.replies, "*HQ,3800008700,V4,V1," + std::string(kTestReceiveCompact) + "#");
}

TEST(H02Test, HeartbeatIsEchoedUpToItsType) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kH02, {"*HQ,865205030330012,HTBT,90#"}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kHeartbeat});
  EXPECT_EQ(run.replies, "*HQ,865205030330012,HTBT#");
}

TEST(H02NoIdUsesTheConnectionsId, AMessageWithoutIdIsTheLastNamedDevices) {
  DeviceHarness h(DeviceProtocol::kH02);
  h.Read("*HQ,,V1,173213,A,2225.78800,S,02829.19000,E,0.00,0,290418,FFFFFBFF#", kTestReceive);
  h.Read(kDocPosition, kTestReceive);
  h.Read("*HQ,,V1,173213,A,2225.78800,S,02829.19000,E,0.00,0,290418,FFFFFBFF#", kTestReceive);
  const DeviceRun run = h.Finish();
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kUnknownVehicle, O::kPublished, O::kPublished}));
  ASSERT_EQ(run.records.size(), 2u);
  EXPECT_EQ(run.records[1].vehicle_id(), "865205030330012");
  EXPECT_NEAR(run.records[1].latitude, -(22 + 25.788 / 60), 1e-9);
}

TEST(H02Test, ABadMessageCostsOnlyThatMessage) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kH02,
                {"garbage\r\n*HQ,123,V1,145452,A,XX,N,11358.32389,E,0.00,0,100815,FFFFFBFF#\r\n",
                 std::string(kDocPosition) + "\r\n"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kMalformed, O::kMalformed, O::kPublished}));
  EXPECT_EQ(run.records.size(), 1u);
}

TEST(H02Test, RejectsBadDatesAndIds) {
  const DeviceRun run = RunDevice(
      DeviceProtocol::kH02,
      {"*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,321315,FFFFFBFF#"
       "*HQ,86520X,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,100815,FFFFFBFF#"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kBadTimestamp, O::kBadVehicleId}));
  EXPECT_TRUE(run.records.empty());
}

}  // namespace
}  // namespace fixstream::ingest
