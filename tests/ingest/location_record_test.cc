#include "ingest/location_record.h"

#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

TEST(IsValidVehicleIdTest, AcceptsAllowedCharacters) {
  EXPECT_TRUE(IsValidVehicleId("a"));
  EXPECT_TRUE(IsValidVehicleId("bus-17"));
  EXPECT_TRUE(IsValidVehicleId("Fleet.A_9:truck-2"));
  EXPECT_TRUE(IsValidVehicleId(std::string(kMaxVehicleIdLength, 'x')));
}

TEST(IsValidVehicleIdTest, RejectsEmptyLongAndForbiddenCharacters) {
  EXPECT_FALSE(IsValidVehicleId(""));
  EXPECT_FALSE(IsValidVehicleId(std::string(kMaxVehicleIdLength + 1, 'x')));
  for (std::string_view bad : {"a b", "a/b", "a,b", "\xc3\xa9", "a\tb", "a*b", "a$"}) {
    EXPECT_FALSE(IsValidVehicleId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidVehicleId(std::string_view("a\0b", 3)));
}

TEST(LocationRecordTest, StoresVehicleIdAndClears) {
  LocationRecord r;
  r.set_vehicle_id("bus-17");
  r.present = LocationRecord::kSpeed;
  EXPECT_EQ(r.vehicle_id(), "bus-17");
  EXPECT_TRUE(r.has(LocationRecord::kSpeed));
  r.Clear();
  EXPECT_EQ(r.vehicle_id(), "");
  EXPECT_FALSE(r.has(LocationRecord::kSpeed));
}

TEST(SourceFormatNameTest, NamesEveryFormat) {
  EXPECT_EQ(SourceFormatName(SourceFormat::kCsv), "csv");
  EXPECT_EQ(SourceFormatName(SourceFormat::kNmea), "nmea");
  EXPECT_EQ(SourceFormatName(SourceFormat::kJson), "json");
}

}  // namespace
}  // namespace fixstream::ingest
