#include "ingest/timestamp.h"

#include <cstdint>
#include <string_view>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kS = kNanosPerSecond;

struct TimestampCase {
  std::string_view text;
  bool ok;
  int64_t unix_ns;
};

class ParseTimestampTest : public ::testing::TestWithParam<TimestampCase> {};

TEST_P(ParseTimestampTest, MatchesExpectation) {
  const TimestampCase& c = GetParam();
  int64_t ns = -1;
  ASSERT_EQ(ParseTimestamp(c.text, &ns), c.ok) << c.text;
  if (c.ok) {
    EXPECT_EQ(ns, c.unix_ns) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3339, ParseTimestampTest,
    ::testing::Values(TimestampCase{"2026-11-24T10:15:30Z", true, 1795515330 * kS},
                      TimestampCase{"2026-11-24t10:15:30z", true, 1795515330 * kS},
                      TimestampCase{"2026-11-24T10:15:30.5Z", true, 1795515330 * kS + 500'000'000},
                      TimestampCase{"2026-11-24T10:15:30.123456789Z", true,
                                    1795515330 * kS + 123456789},
                      TimestampCase{"2026-11-24T12:15:30+02:00", true, 1795515330 * kS},
                      TimestampCase{"2026-11-24T04:45:30-05:30", true, 1795515330 * kS},
                      TimestampCase{"2026-11-24T10:15:30+00:00", true, 1795515330 * kS},
                      TimestampCase{"1970-01-01T00:00:00Z", true, 0},
                      TimestampCase{"2000-02-29T00:00:00Z", true, 951782400 * kS},
                      TimestampCase{"2024-02-29T12:00:00Z", true, 1709208000 * kS},
                      // Leap second: the last instant of the minute.
                      TimestampCase{"2024-12-31T23:59:60Z", true, 1735689599 * kS + 999'999'999},
                      TimestampCase{"2024-12-31T23:59:60.5Z", true, 1735689599 * kS + 999'999'999},
                      // Last representable instant in int64 nanoseconds.
                      TimestampCase{"2262-04-11T23:47:16.854775807Z", true, INT64_MAX},
                      TimestampCase{"2262-04-11T23:47:16.854775808Z", false, 0},
                      TimestampCase{"9999-12-31T23:59:59Z", false, 0},
                      TimestampCase{"1969-12-31T23:59:59Z", false, 0},
                      TimestampCase{"1970-01-01T00:30:00+01:00", false, 0},  // 1969 in UTC
                      TimestampCase{"2026-11-24 10:15:30Z", false, 0},       // space separator
                      TimestampCase{"2026-11-24T10:15:30", false, 0},        // no zone
                      TimestampCase{"2026-11-24T10:15:30.Z", false, 0},
                      TimestampCase{"2026-11-24T10:15:30.1234567891Z", false, 0},  // 10 digits
                      TimestampCase{"2026-11-24T10:15:30Z ", false, 0},
                      TimestampCase{"2026-11-24T10:15:30+2:00", false, 0},
                      TimestampCase{"2026-11-24T10:15:30+24:00", false, 0},
                      TimestampCase{"2026-11-24T10:15:30+02:60", false, 0},
                      TimestampCase{"2026-11-24T10:15:30+0200", false, 0},
                      TimestampCase{"2025-02-29T00:00:00Z", false, 0},  // not a leap year
                      TimestampCase{"2100-02-29T00:00:00Z", false, 0},  // century, not leap
                      TimestampCase{"2026-13-01T00:00:00Z", false, 0},
                      TimestampCase{"2026-00-01T00:00:00Z", false, 0},
                      TimestampCase{"2026-04-31T00:00:00Z", false, 0},
                      TimestampCase{"2026-04-00T00:00:00Z", false, 0},
                      TimestampCase{"2026-11-24T24:00:00Z", false, 0},
                      TimestampCase{"2026-11-24T23:60:00Z", false, 0},
                      TimestampCase{"2026-11-24T23:59:61Z", false, 0},
                      TimestampCase{"2026-1-24T10:15:30Z", false, 0},
                      TimestampCase{"2026-11-24T10:15:3OZ", false, 0},
                      TimestampCase{"", false, 0}));

INSTANTIATE_TEST_SUITE_P(
    UnixMillis, ParseTimestampTest,
    ::testing::Values(TimestampCase{"0", true, 0},
                      TimestampCase{"1795515330000", true, 1795515330 * kS},
                      TimestampCase{"1795515330123", true, 1795515330 * kS + 123'000'000},
                      TimestampCase{"9223372036854", true, 9223372036854'000'000},
                      TimestampCase{"9223372036855", false, 0},  // overflows int64 ns
                      TimestampCase{"99999999999999999999999999", false, 0},
                      TimestampCase{"-1", false, 0}, TimestampCase{"+1", false, 0},
                      TimestampCase{"1795515330000.5", false, 0},
                      TimestampCase{"17955x", false, 0}));

TEST(DaysFromCivilTest, AgreesWithIsValidDateAcrossCenturies) {
  // Walking day by day from 1970 must advance DaysFromCivil by exactly one.
  int64_t expected = 0;
  for (int64_t year = 1970; year <= 2400; ++year) {
    for (int month = 1; month <= 12; ++month) {
      for (int day = 1; day <= 31; ++day) {
        if (!IsValidDate(year, month, day)) continue;
        ASSERT_EQ(DaysFromCivil(year, month, day), expected) << year << "-" << month << "-" << day;
        ++expected;
      }
    }
  }
}

TEST(CivilToUnixNanosTest, RejectsFieldsOutOfRange) {
  int64_t ns;
  EXPECT_TRUE(CivilToUnixNanos(2026, 11, 24, 10, 15, 30, 0, &ns));
  EXPECT_EQ(ns, 1795515330 * kS);
  EXPECT_FALSE(CivilToUnixNanos(1969, 12, 31, 0, 0, 0, 0, &ns));
  EXPECT_FALSE(CivilToUnixNanos(10000, 1, 1, 0, 0, 0, 0, &ns));
  EXPECT_FALSE(CivilToUnixNanos(2026, 11, 24, 10, 15, 30, kNanosPerSecond, &ns));
  EXPECT_FALSE(CivilToUnixNanos(2026, 11, 24, -1, 15, 30, 0, &ns));
}

}  // namespace
}  // namespace fixstream::ingest
