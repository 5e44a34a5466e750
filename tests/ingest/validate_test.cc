#include "ingest/validate.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

LocationRecord Valid() {
  LocationRecord r;
  r.latitude = 52.52;
  r.longitude = 13.40;
  return r;
}

struct RangeCase {
  const char* name;
  double LocationRecord::*member;
  uint32_t presence;  // 0 for lat/lon
  double value;
  bool ok;
};

class IsInRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(IsInRangeTest, ChecksBound) {
  const RangeCase& c = GetParam();
  LocationRecord r = Valid();
  r.*c.member = c.value;
  r.present |= c.presence;
  EXPECT_EQ(IsInRange(r), c.ok) << c.name << "=" << c.value;
}

using R = LocationRecord;
INSTANTIATE_TEST_SUITE_P(
    Bounds, IsInRangeTest,
    ::testing::Values(RangeCase{"lat", &R::latitude, 0, 90, true},
                      RangeCase{"lat", &R::latitude, 0, -90, true},
                      RangeCase{"lat", &R::latitude, 0, 90.0000001, false},
                      RangeCase{"lat", &R::latitude, 0, kNan, false},
                      RangeCase{"lat", &R::latitude, 0, -kInf, false},
                      RangeCase{"lon", &R::longitude, 0, 180, true},
                      RangeCase{"lon", &R::longitude, 0, -180, true},
                      RangeCase{"lon", &R::longitude, 0, -180.5, false},
                      RangeCase{"lon", &R::longitude, 0, kInf, false},
                      RangeCase{"speed", &R::speed_mps, R::kSpeed, 0, true},
                      RangeCase{"speed", &R::speed_mps, R::kSpeed, -0.1, false},
                      RangeCase{"speed", &R::speed_mps, R::kSpeed, kInf, false},
                      RangeCase{"speed", &R::speed_mps, R::kSpeed, kNan, false},
                      RangeCase{"speed absent", &R::speed_mps, 0, -5, true},
                      RangeCase{"heading", &R::heading_deg, R::kHeading, 0, true},
                      RangeCase{"heading", &R::heading_deg, R::kHeading, 359.999, true},
                      RangeCase{"heading", &R::heading_deg, R::kHeading, 360, false},
                      RangeCase{"heading", &R::heading_deg, R::kHeading, -1, false},
                      RangeCase{"altitude", &R::altitude_m, R::kAltitude, -1000, true},
                      RangeCase{"altitude", &R::altitude_m, R::kAltitude, 100000, true},
                      RangeCase{"altitude", &R::altitude_m, R::kAltitude, -1000.5, false},
                      RangeCase{"altitude", &R::altitude_m, R::kAltitude, 100001, false},
                      RangeCase{"altitude", &R::altitude_m, R::kAltitude, kNan, false},
                      RangeCase{"accuracy", &R::accuracy_m, R::kAccuracy, 0, true},
                      RangeCase{"accuracy", &R::accuracy_m, R::kAccuracy, -1, false},
                      RangeCase{"accuracy", &R::accuracy_m, R::kAccuracy, kInf, false},
                      RangeCase{"hdop", &R::hdop, R::kHdop, 0.9, true},
                      RangeCase{"hdop", &R::hdop, R::kHdop, -0.1, false},
                      RangeCase{"hdop", &R::hdop, R::kHdop, kNan, false}));

}  // namespace
}  // namespace fixstream::ingest
