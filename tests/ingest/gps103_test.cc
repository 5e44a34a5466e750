// GPS103 / Coban through the framer and decoder (ingest/gps103.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

TEST(Gps103Test, LoginHeartbeatAndTheDocumentsReport) {
  // The session of the Coban protocol document: login, heartbeat, a report
  // dated in the device's local time (UTC+8) with the GPS time in UTC.
  const DeviceRun run =
      RunDevice(DeviceProtocol::kGps103,
                {"##,imei:359586015829802,A;", "359586015829802;",
                 "imei:359586015829802,tracker,0809231929,13554900601,F,112909.397,A,2234.4669,N,"
                 "11354.3287,E,0.11,;"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kIdentified, O::kHeartbeat, O::kPublished}));
  EXPECT_EQ(run.replies, "LOADON");
  ASSERT_EQ(run.records.size(), 1u);
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "359586015829802");
  EXPECT_EQ(r.fix_time_unix_ns, Utc("2008-09-23T11:29:09.397Z"));
  EXPECT_NEAR(r.latitude, 22.574448333, 1e-8);
  EXPECT_NEAR(r.longitude, 113.905478333, 1e-8);
  EXPECT_NEAR(r.speed_mps, 0.11 * 1852 / 3600, 1e-12);
}

TEST(Gps103Test, SosIsAcknowledged) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kGps103,
                {"imei:359586015829802,help me,0809231430,13554900601,F,063047.000,A,2234.4000,N,"
                 "11354.3200,E,0.00,;"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  EXPECT_EQ(run.replies, "**,imei:359586015829802,E;");
}

TEST(Gps103Test, CellOnlyReportIsAHeartbeat) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kGps103,
                {"imei:359710049075097,tracker,,,L,,,113b,,558f,,,,,0,0,,,;"}, kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kHeartbeat});
  EXPECT_TRUE(run.records.empty());
}

TEST(Gps103Test, InvalidFixIsNoFix) {
  const DeviceRun run = RunDevice(
      DeviceProtocol::kGps103,
      {"imei:359586015829802,tracker,0809231929,,F,112909.397,V,2234.4669,N,11354.3287,E,0,;"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kNoFix});
}

}  // namespace
}  // namespace fixstream::ingest
