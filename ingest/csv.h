// CSV location lines:
//   vehicle_id,timestamp,lat,lon[,speed_mps[,heading_deg[,altitude_m[,accuracy_m]]]]
// timestamp is RFC 3339 or integer Unix milliseconds (see timestamp.h). An
// empty optional field means absent. No quoting, no spaces around fields.
//
// Thread-safe, allocation-free.
#ifndef FIXSTREAM_INGEST_CSV_H_
#define FIXSTREAM_INGEST_CSV_H_

#include <string_view>

#include "ingest/line_outcome.h"
#include "ingest/location_record.h"

namespace fixstream::ingest {

// Parses and validates one CSV line (no terminator) into `*record`, which is
// overwritten. Returns kPublished on success, otherwise the rejection reason
// (checked in field order: field count, vehicle id, timestamp, numbers, ranges);
// `*record` is unspecified on rejection.
LineOutcome ParseCsvLine(std::string_view line, LocationRecord* record);

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_CSV_H_
