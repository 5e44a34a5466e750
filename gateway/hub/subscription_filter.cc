#include "gateway/hub/subscription_filter.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "fixstream/v1/location.pb.h"
#include "ingest/location_record.h"

namespace fixstream::gateway {
namespace {

bool InRange(double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

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
  if (request.has_bounding_box()) {
    const v1::BoundingBox& box = request.bounding_box();
    if (!InRange(box.min_latitude(), -90, 90) || !InRange(box.max_latitude(), -90, 90)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bounding_box latitudes must be in [-90, 90]; got min_latitude=", box.min_latitude(),
          " max_latitude=", box.max_latitude()));
    }
    if (!InRange(box.min_longitude(), -180, 180) || !InRange(box.max_longitude(), -180, 180)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bounding_box longitudes must be in [-180, 180]; got min_longitude=", box.min_longitude(),
          " max_longitude=", box.max_longitude()));
    }
    if (box.min_latitude() > box.max_latitude()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bounding_box is inverted: min_latitude=", box.min_latitude(),
                       " is greater than max_latitude=", box.max_latitude(), "; swap them"));
    }
    if (box.min_longitude() > box.max_longitude()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bounding_box is inverted: min_longitude=", box.min_longitude(),
                       " is greater than max_longitude=", box.max_longitude(),
                       "; swap them (a box across the antimeridian needs two subscriptions)"));
    }
    filter.has_box_ = true;
    filter.min_latitude_ = box.min_latitude();
    filter.max_latitude_ = box.max_latitude();
    filter.min_longitude_ = box.min_longitude();
    filter.max_longitude_ = box.max_longitude();
  }
  return filter;
}

}  // namespace fixstream::gateway
