#include "gateway/subscription_filter.h"

#include "absl/strings/str_cat.h"
#include "fixstream/v1/location.pb.h"
#include "ingest/location_record.h"

namespace fixstream::gateway {

absl::StatusOr<SubscriptionFilter> SubscriptionFilter::FromRequest(
    const v1::SubscribeRequest& request) {
  SubscriptionFilter filter;
  for (int i = 0; i < request.vehicle_ids_size(); ++i) {
    const std::string& id = request.vehicle_ids(i);
    if (!ingest::IsValidVehicleId(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("vehicle_ids[", i, "] is not a vehicle id: it must be 1-",
                       ingest::kMaxVehicleIdLength, " characters of [A-Za-z0-9._:-]"));
    }
    filter.vehicle_ids_.insert(id);
  }
  return filter;
}

}  // namespace fixstream::gateway
