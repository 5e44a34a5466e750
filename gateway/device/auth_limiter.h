// AuthLimiter: failed device authentications per source (issue #16,
// --device_policy=authenticated; docs/SECURITY.md, "Guessing secrets").
//
// A leaky bucket per source: each failure adds one, the level drains at
// `failures_per_minute` per minute, and a new connection from a source
// whose level is above `failures_per_minute` - 1 (no room for one more
// failure) is refused at accept (auth_rate_limited) until it drained so. So a source gets a burst
// of that many tries, then that many a minute, whatever it does.
//
// A source is an IPv4 address or an IPv6 /64 (one host's usual allocation:
// counting single IPv6 addresses would let one host try 2^64 times as
// often). At most `max_sources` are tracked; when full, drained entries are
// dropped first, and a failure from a new source that still finds no room
// is not tracked (counted in untracked_failures(): memory stays bounded
// against a source-spraying attacker; the limit then is the secret's
// strength, see docs/SECURITY.md).
//
// Thread safety: thread-safe (one short lock per call); called at accept
// and when a session fails to authenticate.
#ifndef FIXSTREAM_GATEWAY_DEVICE_AUTH_LIMITER_H_
#define FIXSTREAM_GATEWAY_DEVICE_AUTH_LIMITER_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "asio/ip/address.hpp"

namespace fixstream::gateway {

class AuthLimiter final {
 public:
  struct Options {
    uint32_t failures_per_minute = 10;  // 0: no limit
    size_t max_sources = 65536;
  };
  explicit AuthLimiter(Options options) : options_(options) {}

  // Whether a new connection from `source` may try to authenticate at
  // monotonic time `now_ns`.
  bool Allows(const asio::ip::address& source, int64_t now_ns) ABSL_LOCKS_EXCLUDED(mu_);
  // A connection from `source` failed to authenticate at `now_ns`.
  void Failed(const asio::ip::address& source, int64_t now_ns) ABSL_LOCKS_EXCLUDED(mu_);

  size_t tracked_sources() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t untracked_failures() const ABSL_LOCKS_EXCLUDED(mu_);
  const Options& options() const { return options_; }

 private:
  using Key = std::array<uint8_t, 16>;
  struct Bucket {
    double level = 0;  // failures not yet drained
    int64_t updated_ns = 0;
  };
  static Key KeyOf(const asio::ip::address& source);
  // The level at `now_ns`, drained since the bucket's last update.
  double LevelAt(const Bucket& bucket, int64_t now_ns) const;

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  uint64_t untracked_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_sweep_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_AUTH_LIMITER_H_
