// JSON location lines: one object per line,
//   {"vehicle_id":"bus-17","timestamp":"2026-11-24T10:15:30Z","lat":52.52,"lon":13.40,
//    "speed_mps":8.3,"heading_deg":270,"altitude_m":35,"accuracy_m":4}
// vehicle_id is a string; timestamp an RFC 3339 string or integer Unix
// milliseconds; lat and lon numbers; the other four optional numbers (null
// means absent). Unknown keys are ignored (whatever their value); a known key
// twice, a wrong type, or anything but whitespace after the object is
// malformed. Parsed with simdjson On-Demand.
#ifndef FIXSTREAM_INGEST_JSON_H_
#define FIXSTREAM_INGEST_JSON_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "ingest/line_outcome.h"
#include "ingest/location_record.h"

namespace fixstream::ingest {

// Thread safety: none; one per connection (it owns reusable buffers).
// Allocation: only when a line longer than any seen before arrives (the
// padded copy of the line and simdjson's buffers grow to fit it).
class JsonLineParser final {
 public:
  JsonLineParser();
  ~JsonLineParser();
  JsonLineParser(const JsonLineParser&) = delete;
  JsonLineParser& operator=(const JsonLineParser&) = delete;

  // Parses and validates one JSON line into `*record` (overwritten). Returns
  // kPublished or the rejection reason. After a successful parse, checks run
  // in a fixed order: missing field (malformed), vehicle id, timestamp,
  // ranges.
  LineOutcome Parse(std::string_view line, LocationRecord* record);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_JSON_H_
