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

#include "ingest/location_record.h"

namespace fixstream::ingest {

inline constexpr double kMinAltitudeM = -1000;
inline constexpr double kMaxAltitudeM = 100000;

// True if every present field of `record` is within its range.
bool IsInRange(const LocationRecord& record);

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_VALIDATE_H_
