#include "gateway/common/log.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

// A clock the test moves by hand; readable from any thread.
class FakeClock {
 public:
  absl::Time Now() const { return absl::FromUnixNanos(ns_.load()); }
  void Advance(absl::Duration d) { ns_.fetch_add(absl::ToInt64Nanoseconds(d)); }
  RateLimitedLog::Clock AsClock() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> ns_{1'800'000'000'000'000'000};
};

TEST(RateLimitedLogTest, AdmitsOncePerIntervalAndCountsTheRest) {
  FakeClock clock;
  RateLimitedLog limiter(LogLevel::kWarning, absl::Seconds(10), clock.AsClock());
  uint64_t suppressed = 99;
  absl::Duration since = absl::InfiniteDuration();
  ASSERT_TRUE(limiter.Admit(&suppressed, &since));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_EQ(since, absl::ZeroDuration());

  for (int i = 0; i < 1234; ++i) {
    clock.Advance(absl::Milliseconds(5));
    EXPECT_FALSE(limiter.Admit(&suppressed, &since));
  }
  clock.Advance(absl::Seconds(10) - absl::Milliseconds(5) * 1234);
  ASSERT_TRUE(limiter.Admit(&suppressed, &since));
  EXPECT_EQ(suppressed, 1234u);
  EXPECT_EQ(since, absl::Seconds(10));

  // Quiet for a long time: the next event is admitted at once.
  clock.Advance(absl::Minutes(5));
  ASSERT_TRUE(limiter.Admit(&suppressed, &since));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_EQ(since, absl::Minutes(5));
}

TEST(RateLimitedLogTest, WritesTheSuppressedCountWithTheNextLine) {
  FakeClock clock;
  RateLimitedLog limiter(LogLevel::kWarning, absl::Seconds(10), clock.AsClock());
  int built = 0;
  auto make = [&built] {
    ++built;
    return std::string("connection limit reached");
  };
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(limiter.Log(make));
  for (int i = 0; i < 1234; ++i) EXPECT_FALSE(limiter.Log(make));
  clock.Advance(absl::Seconds(12));
  EXPECT_TRUE(limiter.Log(make));
  const std::string out = ::testing::internal::GetCapturedStderr();
  // Suppressed calls never build their message.
  EXPECT_EQ(built, 2);
  EXPECT_NE(out.find(" WARNING connection limit reached\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" WARNING connection limit reached (1234 similar suppressed in the last "
                     "12s)\n"),
            std::string::npos)
      << out;
}

TEST(RateLimitedLogTest, AcceptsAPlainString) {
  FakeClock clock;
  RateLimitedLog limiter(LogLevel::kError, absl::Seconds(1), clock.AsClock());
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(limiter.Log("disk full"));
  EXPECT_FALSE(limiter.Log("disk full"));
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find(" ERROR disk full\n"), std::string::npos) << out;
}

TEST(RateLimitedLogTest, EventsBelowTheLogLevelAreNeitherWrittenNorCounted) {
  FakeClock clock;
  RateLimitedLog limiter(LogLevel::kDebug, absl::Seconds(10), clock.AsClock());
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(limiter.Log("noisy"));  // default level is info
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  uint64_t suppressed = 7;
  absl::Duration since;
  EXPECT_TRUE(limiter.Admit(&suppressed, &since));
  EXPECT_EQ(suppressed, 0u);
}

TEST(RateLimitedLogTest, ConcurrentCallersAdmitExactlyOnePerIntervalAndLoseNoCount) {
  FakeClock clock;
  RateLimitedLog limiter(LogLevel::kWarning, absl::Seconds(10), clock.AsClock());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      uint64_t suppressed;
      absl::Duration since;
      for (int i = 0; i < kPerThread; ++i) {
        if (limiter.Admit(&suppressed, &since)) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1);  // the clock never moved
  clock.Advance(absl::Seconds(10));
  uint64_t suppressed = 0;
  absl::Duration since;
  ASSERT_TRUE(limiter.Admit(&suppressed, &since));
  EXPECT_EQ(suppressed, uint64_t{kThreads} * kPerThread - 1);
}

TEST(LogTest, ParsesLevelNames) {
  LogLevel level = LogLevel::kError;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("WARNING", &level));
  EXPECT_FALSE(ParseLogLevel("nonsense", &level));
}

}  // namespace
}  // namespace fixstream::gateway
