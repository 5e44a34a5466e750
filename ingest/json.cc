#include "ingest/json.h"

#include <cstdint>
#include <cstring>
#include <utility>

#include "ingest/timestamp.h"
#include "ingest/validate.h"
#include "simdjson.h"

namespace fixstream::ingest {
namespace {

namespace od = simdjson::ondemand;

enum Key : uint32_t {
  kVehicleIdKey = 1u << 0,
  kTimestampKey = 1u << 1,
  kLatKey = 1u << 2,
  kLonKey = 1u << 3,
  kSpeedKey = 1u << 4,
  kHeadingKey = 1u << 5,
  kAltitudeKey = 1u << 6,
  kAccuracyKey = 1u << 7,
};

uint32_t LookupKey(std::string_view key) {
  // Dispatch on length first: one comparison per line field in the usual case.
  switch (key.size()) {
    case 3:
      if (key == "lat") return kLatKey;
      if (key == "lon") return kLonKey;
      break;
    case 9:
      if (key == "timestamp") return kTimestampKey;
      if (key == "speed_mps") return kSpeedKey;
      break;
    case 10:
      if (key == "vehicle_id") return kVehicleIdKey;
      if (key == "altitude_m") return kAltitudeKey;
      if (key == "accuracy_m") return kAccuracyKey;
      break;
    case 11:
      if (key == "heading_deg") return kHeadingKey;
      break;
  }
  return 0;
}

// Reads a number that may be null (absent). Returns false on a wrong type.
bool ReadOptionalNumber(od::value& value, double* out, bool* present) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return false;
  if (type == od::json_type::null) {
    bool is_null = false;
    *present = false;
    return value.is_null().get(is_null) == simdjson::SUCCESS && is_null;
  }
  *present = true;
  return type == od::json_type::number && value.get_double().get(*out) == simdjson::SUCCESS;
}

}  // namespace

struct JsonLineParser::Impl {
  od::parser parser;
  // simdjson reads up to SIMDJSON_PADDING bytes past the input, which a view
  // into the framer's buffer cannot promise; lines are copied here first.
  std::unique_ptr<char[]> padded;
  size_t padded_capacity = 0;
};

JsonLineParser::JsonLineParser() : impl_(std::make_unique<Impl>()) {}
JsonLineParser::~JsonLineParser() = default;

LineOutcome JsonLineParser::Parse(std::string_view line, LocationRecord* record) {
  Impl& impl = *impl_;
  const size_t needed = line.size() + simdjson::SIMDJSON_PADDING;
  if (needed > impl.padded_capacity) {
    impl.padded = std::make_unique_for_overwrite<char[]>(needed);
    impl.padded_capacity = needed;
  }
  std::memcpy(impl.padded.get(), line.data(), line.size());
  std::memset(impl.padded.get() + line.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  if (impl.parser.iterate(impl.padded.get(), line.size(), impl.padded_capacity).get(doc) !=
      simdjson::SUCCESS) {
    return LineOutcome::kMalformed;
  }
  od::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return LineOutcome::kMalformed;

  record->Clear();
  record->format = SourceFormat::kJson;
  uint32_t seen = 0;
  std::string_view vehicle_id;
  std::string_view timestamp_text;
  bool timestamp_is_integer = false;
  bool timestamp_ok = true;
  int64_t timestamp_millis = 0;
  for (auto field_result : object) {
    od::field field;
    std::string_view key;
    if (std::move(field_result).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return LineOutcome::kMalformed;
    }
    const uint32_t bit = LookupKey(key);
    if (bit == 0) continue;  // simdjson skips the unread value, nested or not
    if ((seen & bit) != 0) return LineOutcome::kMalformed;
    seen |= bit;
    od::value value = field.value();
    bool present = true;
    bool ok = true;
    switch (bit) {
      case kVehicleIdKey:
        ok = value.get_string().get(vehicle_id) == simdjson::SUCCESS;
        break;
      case kTimestampKey: {
        od::json_type type;
        ok = value.type().get(type) == simdjson::SUCCESS;
        if (!ok) break;
        if (type == od::json_type::string) {
          ok = value.get_string().get(timestamp_text) == simdjson::SUCCESS;
        } else if (type == od::json_type::number) {
          // A fraction, a negative or an int64 overflow is a number but not a
          // timestamp: counted as bad_timestamp, not malformed.
          timestamp_is_integer = true;
          timestamp_ok =
              value.get_int64().get(timestamp_millis) == simdjson::SUCCESS && timestamp_millis >= 0;
        } else {
          ok = false;
        }
        break;
      }
      case kLatKey:
        ok = value.get_double().get(record->latitude) == simdjson::SUCCESS;
        break;
      case kLonKey:
        ok = value.get_double().get(record->longitude) == simdjson::SUCCESS;
        break;
      case kSpeedKey:
        ok = ReadOptionalNumber(value, &record->speed_mps, &present);
        if (present) record->present |= LocationRecord::kSpeed;
        break;
      case kHeadingKey:
        ok = ReadOptionalNumber(value, &record->heading_deg, &present);
        if (present) record->present |= LocationRecord::kHeading;
        break;
      case kAltitudeKey:
        ok = ReadOptionalNumber(value, &record->altitude_m, &present);
        if (present) record->present |= LocationRecord::kAltitude;
        break;
      case kAccuracyKey:
        ok = ReadOptionalNumber(value, &record->accuracy_m, &present);
        if (present) record->present |= LocationRecord::kAccuracy;
        break;
    }
    if (!ok) return LineOutcome::kMalformed;
  }
  // On-Demand stops at the object's closing brace; anything after it that is
  // not whitespace leaves a token behind.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return LineOutcome::kMalformed;

  constexpr uint32_t kRequired = kVehicleIdKey | kTimestampKey | kLatKey | kLonKey;
  if ((seen & kRequired) != kRequired) return LineOutcome::kMalformed;
  if (!IsValidVehicleId(vehicle_id)) return LineOutcome::kBadVehicleId;
  record->set_vehicle_id(vehicle_id);
  if (timestamp_is_integer) {
    constexpr int64_t kMaxMillis = INT64_MAX / 1'000'000;
    if (!timestamp_ok || timestamp_millis > kMaxMillis) return LineOutcome::kBadTimestamp;
    record->fix_time_unix_ns = timestamp_millis * 1'000'000;
  } else if (!ParseRfc3339(timestamp_text, &record->fix_time_unix_ns)) {
    return LineOutcome::kBadTimestamp;
  }
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

}  // namespace fixstream::ingest
