// VehicleScope: the vehicles a principal may read, as a set of vehicle-id
// patterns — an exact id (`bus-7`), a prefix followed by `*` (`acme-*`), or
// `*` alone for every vehicle. The gRPC layer gives a scoped principal's
// subscription filter and vehicle queries one of these; the hub and the
// journal reader then apply it wherever records or vehicles are read, so
// catch-up reads honour it like live ones.
#ifndef FIXSTREAM_GATEWAY_HUB_VEHICLE_SCOPE_H_
#define FIXSTREAM_GATEWAY_HUB_VEHICLE_SCOPE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace fixstream::gateway {

// Immutable after construction; safe to share between threads.
class VehicleScope final {
 public:
  // Parses patterns; InvalidArgument names the first bad one (by index) and
  // what a pattern may be. An empty list is an error (it would allow no
  // vehicle: say so explicitly by giving the principal no read calls).
  static absl::StatusOr<VehicleScope> FromPatterns(const std::vector<std::string>& patterns);

  // Whether `id` matches one of the patterns.
  bool Contains(std::string_view id) const {
    if (all_) return true;
    for (const std::string& prefix : prefixes_) {
      if (id.size() >= prefix.size() && id.compare(0, prefix.size(), prefix) == 0) return true;
    }
    return exact_.contains(id);
  }
  // True for `*`: the scope restricts nothing.
  bool all() const { return all_; }

  // The smallest string >= `id` that Contains() may accept (`id` itself
  // when it matches), or nullopt when no id >= `id` can match: lets an
  // ordered scan of vehicle ids skip the ids outside the scope. The view
  // points into `id` or into this scope.
  std::optional<std::string_view> Seek(std::string_view id) const;

  // The patterns, sorted, comma-separated (for messages).
  std::string ToString() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  bool all_ = false;
  std::vector<std::string> prefixes_;  // sorted, without the `*`
  absl::flat_hash_set<std::string, Hash, Eq> exact_;
  std::vector<std::string> sorted_exact_;  // exact_, sorted (for Seek)
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_VEHICLE_SCOPE_H_
