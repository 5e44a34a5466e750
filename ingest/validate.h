// Range validation shared by every line format, so that a record means the
// same thing whichever format it arrived in.
//
// Ranges: latitude [-90, 90], longitude [-180, 180], speed >= 0, heading
// [0, 360), altitude [-1000, 100000] metres, accuracy >= 0, hdop >= 0; every
// present number finite. Absent optional fields are not checked.
//
// Thread-safe, allocation-free.
#ifndef FIXSTREAM_INGEST_VALIDATE_H_
#define FIXSTREAM_INGEST_VALIDATE_H_

#include <cstdint>

#include "ingest/line_outcome.h"
#include "ingest/location_record.h"

namespace fixstream::ingest {

inline constexpr double kMinAltitudeM = -1000;
inline constexpr double kMaxAltitudeM = 100000;

// True if every present field of `record` is within its range.
bool IsInRange(const LocationRecord& record);

// The fix times accepted relative to when the gateway read the line. Devices
// with broken clocks (or fixes buffered for longer than anyone wants them)
// are rejected rather than published with an absurd time. 0 disables a side.
struct FixTimeWindow {
  int64_t max_age_ns = 0;   // fix at most this long before the receive time
  int64_t max_lead_ns = 0;  // fix at most this long after the receive time
};

// kPublished if `fix_unix_ns` is inside `window` around `receive_unix_ns`,
// else kFixTooOld / kFixInFuture.
inline LineOutcome CheckFixTime(int64_t fix_unix_ns, int64_t receive_unix_ns,
                                const FixTimeWindow& window) {
  if (window.max_age_ns > 0 && fix_unix_ns < receive_unix_ns - window.max_age_ns) {
    return LineOutcome::kFixTooOld;
  }
  if (window.max_lead_ns > 0 && fix_unix_ns > receive_unix_ns + window.max_lead_ns) {
    return LineOutcome::kFixInFuture;
  }
  return LineOutcome::kPublished;
}

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_VALIDATE_H_
