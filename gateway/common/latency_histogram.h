// LatencyHistogram: a lock-free latency distribution for the data path, read
// by the metrics collector at scrape time.
//
// Buckets are fixed: upper bounds 10µs, 20µs, 50µs, 100µs, ... 5s, 10s (a
// 1-2-5 series per decade, readable as Prometheus `le` labels) plus +Inf.
// Observe() is a few relaxed atomic adds, so sessions and subscription
// reactors can call it at line rate from any thread; passing `count` records
// one latency for a whole batch with a single call.
#ifndef FIXSTREAM_GATEWAY_COMMON_LATENCY_HISTOGRAM_H_
#define FIXSTREAM_GATEWAY_COMMON_LATENCY_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fixstream::gateway {

// Thread safety: every method is thread-safe and wait-free.
class LatencyHistogram final {
 public:
  // Finite bucket upper bounds in nanoseconds, ascending.
  static constexpr std::array<int64_t, 19> kBoundsNs = {
      10'000,        20'000,        50'000,        100'000,        200'000,
      500'000,       1'000'000,     2'000'000,     5'000'000,      10'000'000,
      20'000'000,    50'000'000,    100'000'000,   200'000'000,    500'000'000,
      1'000'000'000, 2'000'000'000, 5'000'000'000, 10'000'000'000,
  };
  // Finite buckets plus the +Inf bucket.
  static constexpr size_t kBucketCount = kBoundsNs.size() + 1;

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Records `count` observations of `ns` nanoseconds each. A value lands in
  // the first bucket whose bound is >= it (Prometheus `le` semantics).
  // Negative values (clocks of different threads) are recorded as 0.
  void Observe(int64_t ns, uint64_t count = 1);

  // A point-in-time copy. Taken while Observe() runs concurrently, `sum_ns`
  // and the bucket counts may disagree by the observations in flight.
  struct Snapshot {
    std::array<uint64_t, kBucketCount> buckets{};  // per bucket, not cumulative
    uint64_t count = 0;                            // sum of buckets
    uint64_t sum_ns = 0;
  };
  Snapshot Read() const;

  // Index of the bucket `ns` falls in; kBucketCount - 1 is +Inf.
  static size_t BucketFor(int64_t ns);

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_COMMON_LATENCY_HISTOGRAM_H_
