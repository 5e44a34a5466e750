// Fuzzes Subscribe request validation: arbitrary bytes as a serialized
// SubscribeRequest (what a buggy or hostile client can send), through the
// same parse + SubscriptionFilter::FromRequest path the service uses. A filter
// that validates must only ever match coordinates inside its box, and match
// calls must be safe for any input.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fixstream/v1/location.pb.h"
#include "gateway/hub/subscription_filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fixstream::v1::SubscribeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<fixstream::gateway::SubscriptionFilter> filter =
      fixstream::gateway::SubscriptionFilter::FromRequest(request);
  if (!filter.ok()) {
    // Rejections always explain themselves.
    if (filter.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    if (filter.status().message().empty()) std::abort();
    return 0;
  }
  const double probes[][2] = {{0, 0}, {90, 180}, {-90, -180}, {45.5, 7.25}, {-0.0, 0.0}};
  for (const auto& p : probes) {
    const bool match = filter->Matches("probe", p[0], p[1]);
    if (match && request.has_bounding_box()) {
      const auto& box = request.bounding_box();
      if (p[0] < box.min_latitude() || p[0] > box.max_latitude() || p[1] < box.min_longitude() ||
          p[1] > box.max_longitude()) {
        std::abort();
      }
    }
  }
  for (const std::string& id : request.vehicle_ids()) {
    if (!filter->Matches(id, 0, 0) && !request.has_bounding_box()) std::abort();
  }
  return 0;
}
