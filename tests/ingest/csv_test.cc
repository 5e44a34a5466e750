#include "ingest/csv.h"

#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kT = 1795515330LL * 1'000'000'000;  // 2026-11-24T10:15:30Z

TEST(ParseCsvLineTest, ParsesRequiredFieldsOnly) {
  LocationRecord r;
  ASSERT_EQ(ParseCsvLine("bus-17,2026-11-24T10:15:30Z,52.520008,13.404954", &r),
            LineOutcome::kPublished);
  EXPECT_EQ(r.vehicle_id(), "bus-17");
  EXPECT_EQ(r.format, SourceFormat::kCsv);
  EXPECT_EQ(r.fix_time_unix_ns, kT);
  EXPECT_DOUBLE_EQ(r.latitude, 52.520008);
  EXPECT_DOUBLE_EQ(r.longitude, 13.404954);
  EXPECT_EQ(r.present, 0u);
}

TEST(ParseCsvLineTest, ParsesAllOptionalFields) {
  LocationRecord r;
  ASSERT_EQ(ParseCsvLine("truck:9,1795515330000,-33.8688,151.2093,12.5,270,35.2,4.8", &r),
            LineOutcome::kPublished);
  EXPECT_EQ(r.fix_time_unix_ns, kT);
  EXPECT_DOUBLE_EQ(r.latitude, -33.8688);
  EXPECT_DOUBLE_EQ(r.longitude, 151.2093);
  EXPECT_TRUE(r.has(LocationRecord::kSpeed));
  EXPECT_DOUBLE_EQ(r.speed_mps, 12.5);
  EXPECT_DOUBLE_EQ(r.heading_deg, 270);
  EXPECT_DOUBLE_EQ(r.altitude_m, 35.2);
  EXPECT_DOUBLE_EQ(r.accuracy_m, 4.8);
  EXPECT_EQ(r.present, LocationRecord::kSpeed | LocationRecord::kHeading |
                           LocationRecord::kAltitude | LocationRecord::kAccuracy);
}

TEST(ParseCsvLineTest, EmptyOptionalFieldIsAbsent) {
  LocationRecord r;
  ASSERT_EQ(ParseCsvLine("v1,1795515330000,1,2,,90", &r), LineOutcome::kPublished);
  EXPECT_FALSE(r.has(LocationRecord::kSpeed));
  EXPECT_TRUE(r.has(LocationRecord::kHeading));
  EXPECT_DOUBLE_EQ(r.heading_deg, 90);
  ASSERT_EQ(ParseCsvLine("v1,1795515330000,1,2,,,,", &r), LineOutcome::kPublished);
  EXPECT_EQ(r.present, 0u);
}

TEST(ParseCsvLineTest, ReusedRecordDoesNotKeepOldFields) {
  LocationRecord r;
  ASSERT_EQ(ParseCsvLine("v1,1795515330000,1,2,3,4,5,6", &r), LineOutcome::kPublished);
  ASSERT_EQ(ParseCsvLine("v2,1795515330000,1,2", &r), LineOutcome::kPublished);
  EXPECT_EQ(r.vehicle_id(), "v2");
  EXPECT_EQ(r.present, 0u);
}

struct RejectCase {
  std::string line;
  LineOutcome outcome;
};

class CsvRejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(CsvRejectTest, Rejects) {
  LocationRecord r;
  EXPECT_EQ(ParseCsvLine(GetParam().line, &r), GetParam().outcome) << "'" << GetParam().line << "'";
}

INSTANTIATE_TEST_SUITE_P(
    Table, CsvRejectTest,
    ::testing::Values(
        RejectCase{"", LineOutcome::kMalformed}, RejectCase{"v1", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,1", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,1,2,3,4,5,6,7", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,,2", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,1,", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,1.5x,2", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000, 1.5,2", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,+1.5,2", LineOutcome::kMalformed},
        RejectCase{"v1,1795515330000,1,2,fast", LineOutcome::kMalformed},
        RejectCase{",1795515330000,1,2", LineOutcome::kBadVehicleId},
        RejectCase{"bus 17,1795515330000,1,2", LineOutcome::kBadVehicleId},
        RejectCase{std::string(65, 'v') + ",1795515330000,1,2", LineOutcome::kBadVehicleId},
        RejectCase{"\"v1\",1795515330000,1,2", LineOutcome::kBadVehicleId},
        RejectCase{"v1,,1,2", LineOutcome::kBadTimestamp},
        RejectCase{"v1,yesterday,1,2", LineOutcome::kBadTimestamp},
        RejectCase{"v1,2026-02-30T00:00:00Z,1,2", LineOutcome::kBadTimestamp},
        RejectCase{"v1,-1795515330000,1,2", LineOutcome::kBadTimestamp},
        RejectCase{"v1,1795515330000,90.5,2", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,-181", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,nan,2", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,inf", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,2,-inf", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,2,-1", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,2,1,360", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,2,1,90,200000", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1,2,1,90,10,-3", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1e999,2", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,1" + std::string(5000, '0') + ",2", LineOutcome::kOutOfRange},
        RejectCase{"v1,1795515330000,0." + std::string(5000, '0') + "1x,2",
                   LineOutcome::kMalformed},
        RejectCase{std::string("v1,1795515330000,1\0,2", 21), LineOutcome::kMalformed},
        RejectCase{std::string("\0\0\0\0", 4), LineOutcome::kMalformed},
        RejectCase{"\xff\xfe,\x01\x02,\x80,\x90", LineOutcome::kBadVehicleId}));

TEST(ParseCsvLineTest, AcceptsExtremelyLongButValidNumber) {
  LocationRecord r;
  const std::string line = "v1,1795515330000,52." + std::string(3000, '1') + ",13";
  ASSERT_EQ(ParseCsvLine(line, &r), LineOutcome::kPublished);
  EXPECT_DOUBLE_EQ(r.latitude, 52.11111111111111);
}

}  // namespace
}  // namespace fixstream::ingest
