#include "gateway/common/latency_histogram.h"

#include <algorithm>
#include <limits>

namespace fixstream::gateway {

size_t LatencyHistogram::BucketFor(int64_t ns) {
  // lower_bound: the first bound >= ns, so a value equal to a bound counts in
  // that bound's bucket, as Prometheus' `le` requires.
  return static_cast<size_t>(std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns) -
                             kBoundsNs.begin());
}

void LatencyHistogram::Observe(int64_t ns, uint64_t count) {
  if (count == 0) return;
  if (ns < 0) ns = 0;
  // Relaxed: the counters are statistics; a scrape needs no ordering with the
  // data they describe.
  buckets_[BucketFor(ns)].fetch_add(count, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns) * count, std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot snapshot;
  for (size_t i = 0; i < kBucketCount; ++i) {
    snapshot.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    snapshot.count += snapshot.buckets[i];
  }
  snapshot.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  return snapshot;
}

}  // namespace fixstream::gateway
