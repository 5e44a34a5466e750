#include "ingest/csv.h"

#include <array>
#include <cstdint>

#include "ingest/byte_scan.h"
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
  // One pass over the line, eight bytes at a time, finds every comma; a
  // memchr per field paid a call and its setup for fields of ~10 bytes.
  // Trivial, so the array is not cleared per line (a string_view array is
  // zeroed on construction, 128 bytes of rep stos per line).
  struct Field {
    const char* data;
    size_t size;
    std::string_view view() const { return {data, size}; }
  };
  std::array<Field, kMaxFields> fields;
  size_t count = 0;
  const char* const end = line.data() + line.size();
  const char* field = line.data();
  // Returns false on a comma that would start a ninth field.
  auto close_field = [&](const char* comma) {
    if (count == kMaxFields - 1) return false;
    fields[count++] = Field{field, static_cast<size_t>(comma - field)};
    field = comma + 1;
    return true;
  };
  const char* p = line.data();
  for (; end - p >= 8; p += 8) {
    for (uint64_t m = internal::MatchingBytes(internal::LoadWord(p), ','); m != 0; m &= m - 1) {
      if (!close_field(p + internal::FirstByte(m))) return LineOutcome::kMalformed;
    }
  }
  if (p != end) {
    if (line.size() >= 8) {
      // The last eight bytes, minus those the loop above already scanned.
      const char* const last = end - 8;
      uint64_t m = internal::MatchingBytes(internal::LoadWord(last), ',') &
                   ~internal::BytesBefore(static_cast<size_t>(p - last));
      for (; m != 0; m &= m - 1) {
        if (!close_field(last + internal::FirstByte(m))) return LineOutcome::kMalformed;
      }
    } else {
      for (; p != end; ++p) {
        if (*p == ',' && !close_field(p)) return LineOutcome::kMalformed;
      }
    }
  }
  fields[count++] = Field{field, static_cast<size_t>(end - field)};
  if (count < kMinFields) return LineOutcome::kMalformed;

  record->Clear();
  record->format = SourceFormat::kCsv;
  if (!IsValidVehicleId(fields[0].view())) return LineOutcome::kBadVehicleId;
  record->set_vehicle_id(fields[0].view());
  if (!ParseTimestamp(fields[1].view(), &record->fix_time_unix_ns))
    return LineOutcome::kBadTimestamp;
  if (NumberStatus s = ParseDouble(fields[2].view(), &record->latitude); s != NumberStatus::kOk) {
    return ToOutcome(s);
  }
  if (NumberStatus s = ParseDouble(fields[3].view(), &record->longitude); s != NumberStatus::kOk) {
    return ToOutcome(s);
  }
  double* const optional_values[] = {&record->speed_mps, &record->heading_deg, &record->altitude_m,
                                     &record->accuracy_m};
  static constexpr uint32_t kOptionalBits[] = {LocationRecord::kSpeed, LocationRecord::kHeading,
                                               LocationRecord::kAltitude,
                                               LocationRecord::kAccuracy};
  for (size_t i = kMinFields; i < count; ++i) {
    if (fields[i].size == 0) continue;
    if (NumberStatus s = ParseDouble(fields[i].view(), optional_values[i - kMinFields]);
        s != NumberStatus::kOk) {
      return ToOutcome(s);
    }
    record->present |= kOptionalBits[i - kMinFields];
  }
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

}  // namespace fixstream::ingest
