#include "gateway/device/auth_limiter.h"

#include "asio.hpp"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }
constexpr int64_t kSecond = 1'000'000'000;

TEST(AuthLimiterTest, ABurstOfFailuresThenAsManyAMinute) {
  AuthLimiter limiter({.failures_per_minute = 3});
  const auto source = Ip("192.0.2.1");
  int64_t now = 1000 * kSecond;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Allows(source, now)) << i;
    limiter.Failed(source, now);
  }
  EXPECT_FALSE(limiter.Allows(source, now)) << "the burst is spent";
  EXPECT_FALSE(limiter.Allows(source, now + 19 * kSecond)) << "one drains every 20 s";
  EXPECT_TRUE(limiter.Allows(source, now + 21 * kSecond));
  limiter.Failed(source, now + 21 * kSecond);
  EXPECT_FALSE(limiter.Allows(source, now + 21 * kSecond)) << "one try, and full again";
  EXPECT_TRUE(limiter.Allows(source, now + 21 * kSecond + 60 * kSecond));
  EXPECT_TRUE(limiter.Allows(Ip("192.0.2.2"), now)) << "other sources are not affected";
}

TEST(AuthLimiterTest, CountsAnIpv6Slash64AsOneSourceAndMappedIpv4AsIpv4) {
  AuthLimiter limiter({.failures_per_minute = 1});
  limiter.Failed(Ip("2001:db8:1:2::1"), 0);
  EXPECT_FALSE(limiter.Allows(Ip("2001:db8:1:2:ffff::9"), 0)) << "same /64";
  EXPECT_TRUE(limiter.Allows(Ip("2001:db8:1:3::1"), 0)) << "another /64";
  limiter.Failed(Ip("::ffff:192.0.2.7"), 0);
  EXPECT_FALSE(limiter.Allows(Ip("192.0.2.7"), 0));
  EXPECT_TRUE(limiter.Allows(Ip("192.0.2.8"), 0)) << "IPv4 sources are single addresses";
}

TEST(AuthLimiterTest, ZeroTurnsItOff) {
  AuthLimiter limiter({.failures_per_minute = 0});
  for (int i = 0; i < 100; ++i) limiter.Failed(Ip("192.0.2.1"), 0);
  EXPECT_TRUE(limiter.Allows(Ip("192.0.2.1"), 0));
  EXPECT_EQ(limiter.tracked_sources(), 0u);
}

TEST(AuthLimiterTest, TheTableIsBoundedAndDrainedEntriesMakeRoom) {
  AuthLimiter limiter({.failures_per_minute = 2, .max_sources = 4});
  for (int i = 0; i < 4; ++i) {
    limiter.Failed(asio::ip::make_address_v4(0xc0000200u + i), 0);
  }
  EXPECT_EQ(limiter.tracked_sources(), 4u);
  // Full, and nothing drained yet: a new source's failure is not tracked.
  limiter.Failed(Ip("198.51.100.1"), kSecond);
  EXPECT_EQ(limiter.tracked_sources(), 4u);
  EXPECT_EQ(limiter.untracked_failures(), 1u);
  // A minute on, the old entries drained: the sweep drops them.
  limiter.Failed(Ip("198.51.100.2"), 61 * kSecond);
  EXPECT_EQ(limiter.tracked_sources(), 1u);
  EXPECT_EQ(limiter.untracked_failures(), 1u);
}

}  // namespace
}  // namespace fixstream::gateway
