// Test helper for the device protocol tests: the receive clock and a
// date-time to Unix nanoseconds shorthand.
#ifndef FIXSTREAM_TESTS_INGEST_DEVICE_TEST_UTIL_H_
#define FIXSTREAM_TESTS_INGEST_DEVICE_TEST_UTIL_H_

#include <cstdint>
#include <string_view>

#include "gtest/gtest.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest {

// 2026-12-02T06:30:00Z.
inline constexpr int64_t kTestReceive = 1'796'193'000LL * kNanosPerSecond;
inline constexpr std::string_view kTestReceiveCompact = "20261202063000";

inline int64_t Utc(std::string_view rfc3339) {
  int64_t ns = 0;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &ns)) << rfc3339;
  return ns;
}

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_TESTS_INGEST_DEVICE_TEST_UTIL_H_
