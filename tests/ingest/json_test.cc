#include "ingest/json.h"

#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kT = 1795515330LL * 1'000'000'000;  // 2026-11-24T10:15:30Z

TEST(JsonLineParserTest, ParsesRequiredFields) {
  JsonLineParser parser;
  LocationRecord r;
  ASSERT_EQ(parser.Parse(R"({"vehicle_id":"bus-17","timestamp":"2026-11-24T10:15:30Z",)"
                         R"("lat":52.520008,"lon":13.404954})",
                         &r),
            LineOutcome::kPublished);
  EXPECT_EQ(r.vehicle_id(), "bus-17");
  EXPECT_EQ(r.format, SourceFormat::kJson);
  EXPECT_EQ(r.fix_time_unix_ns, kT);
  EXPECT_DOUBLE_EQ(r.latitude, 52.520008);
  EXPECT_DOUBLE_EQ(r.longitude, 13.404954);
  EXPECT_EQ(r.present, 0u);
}

TEST(JsonLineParserTest, ParsesOptionalFieldsAnyOrderAndIntegerTimestamp) {
  JsonLineParser parser;
  LocationRecord r;
  ASSERT_EQ(parser.Parse(R"( { "accuracy_m": 4.8, "altitude_m": -12, "heading_deg": 270.5,)"
                         R"( "speed_mps": 8, "lon": -0.1276, "lat": 51.5072,)"
                         R"( "timestamp": 1795515330000, "vehicle_id": "truck:9" } )",
                         &r),
            LineOutcome::kPublished);
  EXPECT_EQ(r.vehicle_id(), "truck:9");
  EXPECT_EQ(r.fix_time_unix_ns, kT);
  EXPECT_DOUBLE_EQ(r.speed_mps, 8);
  EXPECT_DOUBLE_EQ(r.heading_deg, 270.5);
  EXPECT_DOUBLE_EQ(r.altitude_m, -12);
  EXPECT_DOUBLE_EQ(r.accuracy_m, 4.8);
  EXPECT_EQ(r.present, LocationRecord::kSpeed | LocationRecord::kHeading |
                           LocationRecord::kAltitude | LocationRecord::kAccuracy);
}

TEST(JsonLineParserTest, NullOptionalIsAbsent) {
  JsonLineParser parser;
  LocationRecord r;
  ASSERT_EQ(
      parser.Parse(R"({"vehicle_id":"v1","timestamp":1795515330000,"lat":1,"lon":2,)"
                   R"("speed_mps":null,"heading_deg":90,"altitude_m":null,"accuracy_m":null})",
                   &r),
      LineOutcome::kPublished);
  EXPECT_EQ(r.present, LocationRecord::kHeading);
}

TEST(JsonLineParserTest, IgnoresUnknownKeysIncludingNestedObjects) {
  JsonLineParser parser;
  LocationRecord r;
  ASSERT_EQ(parser.Parse(R"({"fw":"1.2","vehicle_id":"v1","meta":{"a":[1,{"lat":99}],"b":null},)"
                         R"("timestamp":"2026-11-24T10:15:30Z","lat":1,"x":[],"lon":2,"ok":true})",
                         &r),
            LineOutcome::kPublished);
  EXPECT_DOUBLE_EQ(r.latitude, 1);
}

TEST(JsonLineParserTest, UnescapesKeysAndVehicleId) {
  JsonLineParser parser;
  LocationRecord r;
  ASSERT_EQ(parser.Parse(R"({"vehicle_\u0069d":"bus\u002d17","timestamp":1795515330000,)"
                         R"("lat":1,"lon":2})",
                         &r),
            LineOutcome::kPublished);
  EXPECT_EQ(r.vehicle_id(), "bus-17");
}

TEST(JsonLineParserTest, ReusedParserHandlesLongerThenShorterLines) {
  JsonLineParser parser;
  LocationRecord r;
  const std::string padding(3000, 'x');
  ASSERT_EQ(parser.Parse(R"({"pad":")" + padding +
                             R"(","vehicle_id":"v1","timestamp":1795515330000,"lat":1,"lon":2})",
                         &r),
            LineOutcome::kPublished);
  ASSERT_EQ(parser.Parse(R"({"vehicle_id":"v2","timestamp":1795515330000,"lat":3,"lon":4})", &r),
            LineOutcome::kPublished);
  EXPECT_EQ(r.vehicle_id(), "v2");
  EXPECT_DOUBLE_EQ(r.latitude, 3);
}

struct RejectCase {
  const char* name;
  std::string line;
  LineOutcome outcome;
};

class JsonRejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(JsonRejectTest, Rejects) {
  JsonLineParser parser;
  LocationRecord r;
  EXPECT_EQ(parser.Parse(GetParam().line, &r), GetParam().outcome)
      << GetParam().name << ": " << GetParam().line;
  // The parser stays usable after any rejection.
  EXPECT_EQ(parser.Parse(R"({"vehicle_id":"v","timestamp":0,"lat":0,"lon":0})", &r),
            LineOutcome::kPublished);
}

#define BASE R"("vehicle_id":"v1","timestamp":1795515330000,"lat":1,"lon":2)"

INSTANTIATE_TEST_SUITE_P(
    Table, JsonRejectTest,
    ::testing::Values(
        RejectCase{"duplicate lat", "{" BASE R"(,"lat":3})", LineOutcome::kMalformed},
        RejectCase{"duplicate optional", "{" BASE R"(,"speed_mps":1,"speed_mps":null})",
                   LineOutcome::kMalformed},
        RejectCase{"missing lon", R"({"vehicle_id":"v1","timestamp":1795515330000,"lat":1})",
                   LineOutcome::kMalformed},
        RejectCase{"lat string", R"({"vehicle_id":"v1","timestamp":0,"lat":"1","lon":2})",
                   LineOutcome::kMalformed},
        RejectCase{"lat null", R"({"vehicle_id":"v1","timestamp":0,"lat":null,"lon":2})",
                   LineOutcome::kMalformed},
        RejectCase{"vehicle id number", R"({"vehicle_id":17,"timestamp":0,"lat":1,"lon":2})",
                   LineOutcome::kMalformed},
        RejectCase{"timestamp bool", R"({"vehicle_id":"v1","timestamp":true,"lat":1,"lon":2})",
                   LineOutcome::kMalformed},
        RejectCase{"speed string", "{" BASE R"(,"speed_mps":"fast"})", LineOutcome::kMalformed},
        RejectCase{"heading object", "{" BASE R"(,"heading_deg":{}})", LineOutcome::kMalformed},
        RejectCase{"trailing garbage", "{" BASE "} x", LineOutcome::kMalformed},
        RejectCase{"second object", "{" BASE "}{}", LineOutcome::kMalformed},
        RejectCase{"trailing brace", "{" BASE "}}", LineOutcome::kMalformed},
        RejectCase{"unterminated", "{" BASE, LineOutcome::kMalformed},
        RejectCase{"array", "[1,2]", LineOutcome::kMalformed},
        RejectCase{"bare brace", "{", LineOutcome::kMalformed},
        RejectCase{"empty object", "{}", LineOutcome::kMalformed},
        RejectCase{"trailing comma", "{" BASE ",}", LineOutcome::kMalformed},
        RejectCase{"single quotes", R"({'vehicle_id':'v1'})", LineOutcome::kMalformed},
        RejectCase{"nul bytes", std::string("{\"vehicle_id\":\"v\0\",\"lat\":1}", 25),
                   LineOutcome::kMalformed},
        RejectCase{"binary", "{\xff\xfe\x00\x01\x80}", LineOutcome::kMalformed},
        RejectCase{"bad id", R"({"vehicle_id":"bus 17","timestamp":0,"lat":1,"lon":2})",
                   LineOutcome::kBadVehicleId},
        RejectCase{"empty id", R"({"vehicle_id":"","timestamp":0,"lat":1,"lon":2})",
                   LineOutcome::kBadVehicleId},
        RejectCase{"bad date",
                   R"({"vehicle_id":"v1","timestamp":"2026-02-30T00:00:00Z","lat":1,"lon":2})",
                   LineOutcome::kBadTimestamp},
        RejectCase{"digits string",
                   R"({"vehicle_id":"v1","timestamp":"1795515330000","lat":1,"lon":2})",
                   LineOutcome::kBadTimestamp},
        RejectCase{"negative ms", R"({"vehicle_id":"v1","timestamp":-1,"lat":1,"lon":2})",
                   LineOutcome::kBadTimestamp},
        RejectCase{"fractional ms", R"({"vehicle_id":"v1","timestamp":1.5,"lat":1,"lon":2})",
                   LineOutcome::kBadTimestamp},
        RejectCase{"ms overflow",
                   R"({"vehicle_id":"v1","timestamp":9223372036855,"lat":1,"lon":2})",
                   LineOutcome::kBadTimestamp},
        RejectCase{"huge ms",
                   R"({"vehicle_id":"v1","timestamp":99999999999999999999999,"lat":1,"lon":2})",
                   LineOutcome::kBadTimestamp},
        RejectCase{"lat range", R"({"vehicle_id":"v1","timestamp":0,"lat":90.01,"lon":2})",
                   LineOutcome::kOutOfRange},
        RejectCase{"speed negative", "{" BASE R"(,"speed_mps":-1})", LineOutcome::kOutOfRange},
        RejectCase{"heading 360", "{" BASE R"(,"heading_deg":360})", LineOutcome::kOutOfRange},
        RejectCase{"accuracy negative", "{" BASE R"(,"accuracy_m":-0.5})",
                   LineOutcome::kOutOfRange},
        RejectCase{"altitude", "{" BASE R"(,"altitude_m":-5000})", LineOutcome::kOutOfRange},
        RejectCase{"long number", "{" BASE R"(,"accuracy_m":1)" + std::string(400, '0') + "}",
                   LineOutcome::kMalformed}));

#undef BASE

}  // namespace
}  // namespace fixstream::ingest
