#include "gateway/common/latency_histogram.h"

#include <cmath>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

TEST(LatencyHistogramTest, BucketsFollowPrometheusLessOrEqual) {
  struct Case {
    int64_t ns;
    size_t bucket;
  };
  const Case kCases[] = {
      {-5, 0},  // clock skew: counted as 0
      {0, 0},
      {10'000, 0},  // exactly on the 10µs bound
      {10'001, 1},  // just above it
      {20'000, 1},
      {999'999, 6},          // under 1ms
      {1'000'000, 6},        // 1ms bound
      {10'000'000'000, 18},  // 10s, the last finite bound
      {10'000'000'001, 19},  // +Inf
      {INT64_MAX, LatencyHistogram::kBucketCount - 1},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(LatencyHistogram::BucketFor(c.ns), c.bucket) << c.ns;
  }
}

TEST(LatencyHistogramTest, BoundsAreAscending) {
  for (size_t i = 1; i < LatencyHistogram::kBoundsNs.size(); ++i) {
    EXPECT_LT(LatencyHistogram::kBoundsNs[i - 1], LatencyHistogram::kBoundsNs[i]);
  }
}

TEST(LatencyHistogramTest, ObserveCountsBatchesAndSums) {
  LatencyHistogram h;
  h.Observe(15'000);          // 15µs -> bucket 1
  h.Observe(3'000'000, 10);   // 3ms x10 -> bucket 8 (5ms)
  h.Observe(-1);              // recorded as 0 -> bucket 0
  h.Observe(20'000'000'000);  // 20s -> +Inf
  h.Observe(1'000, 0);        // count 0: nothing
  LatencyHistogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, 13u);
  EXPECT_EQ(s.buckets[0], 1u);
  EXPECT_EQ(s.buckets[1], 1u);
  EXPECT_EQ(s.buckets[8], 10u);
  EXPECT_EQ(s.buckets[LatencyHistogram::kBucketCount - 1], 1u);
  EXPECT_EQ(s.sum_ns, 15'000u + 30'000'000u + 20'000'000'000u);
}

TEST(LatencyHistogramTest, ConcurrentObserversLoseNothing) {
  LatencyHistogram h;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kPerThread; ++i) h.Observe((t + 1) * 1'000'000);  // 1..4ms
    });
  }
  for (auto& t : threads) t.join();
  LatencyHistogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.sum_ns, uint64_t{kPerThread} * (1 + 2 + 3 + 4) * 1'000'000);
  EXPECT_EQ(s.buckets[6], uint64_t{kPerThread});      // 1ms
  EXPECT_EQ(s.buckets[7], uint64_t{kPerThread});      // 2ms
  EXPECT_EQ(s.buckets[8], uint64_t{2 * kPerThread});  // 3ms, 4ms -> 5ms
}

}  // namespace
}  // namespace fixstream::gateway
