// SubscriptionFilter: which records a subscription receives — by vehicle id
// and/or by a latitude/longitude box, and within the vehicles the subscriber
// may read (a VehicleScope) — checked against a record's encoded bytes and
// coordinates without decoding it.
#ifndef FIXSTREAM_GATEWAY_HUB_SUBSCRIPTION_FILTER_H_
#define FIXSTREAM_GATEWAY_HUB_SUBSCRIPTION_FILTER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "gateway/hub/vehicle_scope.h"

namespace fixstream::v1 {
class SubscribeRequest;
}

namespace fixstream::gateway {

// Immutable after construction; safe to share between threads.
class SubscriptionFilter final {
 public:
  // Matches every record.
  SubscriptionFilter() = default;

  // Validates a request's filter. InvalidArgument names the bad field and
  // what to fix.
  static absl::StatusOr<SubscriptionFilter> FromRequest(const v1::SubscribeRequest& request);

  // Restricts the filter to `scope` (a principal's vehicles) as well; a
  // null or `*` scope restricts nothing. Every reader of the store applies
  // it where it applies the rest of the filter (ring and journal alike).
  void RestrictTo(std::shared_ptr<const VehicleScope> scope) {
    scope_ = scope != nullptr && !scope->all() ? std::move(scope) : nullptr;
  }

  bool Matches(std::string_view vehicle_id, double latitude, double longitude) const {
    if (has_box_ && (latitude < min_latitude_ || latitude > max_latitude_ ||
                     longitude < min_longitude_ || longitude > max_longitude_)) {
      return false;
    }
    if (scope_ != nullptr && !scope_->Contains(vehicle_id)) return false;
    return vehicle_ids_.empty() || vehicle_ids_.contains(vehicle_id);
  }
  bool matches_all() const { return vehicle_ids_.empty() && !has_box_ && scope_ == nullptr; }

 private:
  // Transparent so that lookups by std::string_view do not build a string.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  absl::flat_hash_set<std::string, Hash, Eq> vehicle_ids_;
  std::shared_ptr<const VehicleScope> scope_;  // null: no restriction
  bool has_box_ = false;
  double min_latitude_ = 0;
  double min_longitude_ = 0;
  double max_latitude_ = 0;
  double max_longitude_ = 0;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_SUBSCRIPTION_FILTER_H_
