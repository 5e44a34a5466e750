#include "ingest/validate.h"

#include <limits>

namespace fixstream::ingest {
namespace {

bool IsNonNegativeFinite(double x) { return x >= 0 && x <= std::numeric_limits<double>::max(); }

}  // namespace

// Every comparison is written so that NaN fails it (comparisons with NaN are
// false) and infinities fall outside every bound, which makes separate
// isfinite() calls unnecessary.
bool IsInRange(const LocationRecord& r) {
  if (!(r.latitude >= -90 && r.latitude <= 90)) return false;
  if (!(r.longitude >= -180 && r.longitude <= 180)) return false;
  if (r.has(LocationRecord::kSpeed) && !IsNonNegativeFinite(r.speed_mps)) {
    return false;
  }
  if (r.has(LocationRecord::kHeading) && !(r.heading_deg >= 0 && r.heading_deg < 360)) {
    return false;
  }
  if (r.has(LocationRecord::kAltitude) &&
      !(r.altitude_m >= kMinAltitudeM && r.altitude_m <= kMaxAltitudeM)) {
    return false;
  }
  if (r.has(LocationRecord::kAccuracy) && !IsNonNegativeFinite(r.accuracy_m)) {
    return false;
  }
  if (r.has(LocationRecord::kHdop) && !IsNonNegativeFinite(r.hdop)) return false;
  return true;
}

}  // namespace fixstream::ingest
