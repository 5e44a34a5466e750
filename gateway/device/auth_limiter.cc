#include "gateway/device/auth_limiter.h"

#include <algorithm>

namespace fixstream::gateway {

AuthLimiter::Key AuthLimiter::KeyOf(const asio::ip::address& source) {
  Key key{};
  if (source.is_v4()) {
    key = asio::ip::make_address_v6(asio::ip::v4_mapped, source.to_v4()).to_bytes();
    return key;
  }
  const asio::ip::address_v6 v6 = source.to_v6();
  key = v6.to_bytes();
  if (v6.is_v4_mapped()) return key;         // an IPv4 peer of a dual-stack listener
  std::fill(key.begin() + 8, key.end(), 0);  // its /64
  return key;
}

double AuthLimiter::LevelAt(const Bucket& bucket, int64_t now_ns) const {
  const double elapsed_min =
      static_cast<double>(std::max<int64_t>(now_ns - bucket.updated_ns, 0)) / 60e9;
  return std::max(0.0, bucket.level - elapsed_min * options_.failures_per_minute);
}

bool AuthLimiter::Allows(const asio::ip::address& source, int64_t now_ns) {
  if (options_.failures_per_minute == 0) return true;
  absl::MutexLock lock(&mu_);
  const auto it = buckets_.find(KeyOf(source));
  if (it == buckets_.end()) return true;
  // Room for one more whole failure.
  return LevelAt(it->second, now_ns) + 1 <= options_.failures_per_minute;
}

void AuthLimiter::Failed(const asio::ip::address& source, int64_t now_ns) {
  if (options_.failures_per_minute == 0) return;
  absl::MutexLock lock(&mu_);
  const Key key = KeyOf(source);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    // A sweep is O(max_sources): at most one a second, so a stream of
    // failures from new sources cannot turn each into one.
    if (buckets_.size() >= options_.max_sources && now_ns >= next_sweep_ns_) {
      next_sweep_ns_ = now_ns + 1'000'000'000;
      absl::erase_if(buckets_,
                     [&](const auto& entry) { return LevelAt(entry.second, now_ns) == 0; });
    }
    if (buckets_.size() >= options_.max_sources) {
      ++untracked_failures_;
      return;
    }
    it = buckets_.emplace(key, Bucket{}).first;
  }
  Bucket& bucket = it->second;
  bucket.level = LevelAt(bucket, now_ns) + 1;
  bucket.updated_ns = now_ns;
}

size_t AuthLimiter::tracked_sources() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

uint64_t AuthLimiter::untracked_failures() const {
  absl::MutexLock lock(&mu_);
  return untracked_failures_;
}

}  // namespace fixstream::gateway
