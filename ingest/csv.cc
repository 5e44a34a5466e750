#include "ingest/csv.h"

#include <array>
#include <cstring>

#include "ingest/number.h"
#include "ingest/timestamp.h"
#include "ingest/validate.h"

namespace fixstream::ingest {
namespace {

constexpr size_t kMinFields = 4;
constexpr size_t kMaxFields = 8;

// Number errors map to outcomes: a number too large for a double is out of
// range, not malformed, so that "lat=1e999" is counted with the other
// impossible positions.
LineOutcome ToOutcome(NumberStatus status) {
  return status == NumberStatus::kOutOfRange ? LineOutcome::kOutOfRange : LineOutcome::kMalformed;
}

}  // namespace

LineOutcome ParseCsvLine(std::string_view line, LocationRecord* record) {
  std::array<std::string_view, kMaxFields> fields;
  size_t count = 0;
  const char* p = line.data();
  const char* const end = p + line.size();
  while (true) {
    const char* comma = static_cast<const char*>(std::memchr(p, ',', end - p));
    if (count == kMaxFields) return LineOutcome::kMalformed;
    if (comma == nullptr) {
      fields[count++] = std::string_view(p, end - p);
      break;
    }
    fields[count++] = std::string_view(p, comma - p);
    p = comma + 1;
  }
  if (count < kMinFields) return LineOutcome::kMalformed;

  record->Clear();
  record->format = SourceFormat::kCsv;
  if (!IsValidVehicleId(fields[0])) return LineOutcome::kBadVehicleId;
  record->set_vehicle_id(fields[0]);
  if (!ParseTimestamp(fields[1], &record->fix_time_unix_ns)) return LineOutcome::kBadTimestamp;
  if (NumberStatus s = ParseDouble(fields[2], &record->latitude); s != NumberStatus::kOk) {
    return ToOutcome(s);
  }
  if (NumberStatus s = ParseDouble(fields[3], &record->longitude); s != NumberStatus::kOk) {
    return ToOutcome(s);
  }
  double* const optional_values[] = {&record->speed_mps, &record->heading_deg, &record->altitude_m,
                                     &record->accuracy_m};
  static constexpr uint32_t kOptionalBits[] = {LocationRecord::kSpeed, LocationRecord::kHeading,
                                               LocationRecord::kAltitude,
                                               LocationRecord::kAccuracy};
  for (size_t i = kMinFields; i < count; ++i) {
    if (fields[i].empty()) continue;
    if (NumberStatus s = ParseDouble(fields[i], optional_values[i - kMinFields]);
        s != NumberStatus::kOk) {
      return ToOutcome(s);
    }
    record->present |= kOptionalBits[i - kMinFields];
  }
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

}  // namespace fixstream::ingest
