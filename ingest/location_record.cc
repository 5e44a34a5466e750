#include "ingest/location_record.h"

#include <array>
#include <cassert>
#include <cstring>

namespace fixstream::ingest {
namespace {

// A lookup table keeps IsValidVehicleId branch-light: it runs on every CSV and
// JSON line.
constexpr std::array<bool, 256> MakeVehicleIdChars() {
  std::array<bool, 256> table{};
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  table['.'] = table['_'] = table[':'] = table['-'] = true;
  return table;
}
constexpr std::array<bool, 256> kVehicleIdChars = MakeVehicleIdChars();

}  // namespace

std::string_view SourceFormatName(SourceFormat format) {
  switch (format) {
    case SourceFormat::kCsv:
      return "csv";
    case SourceFormat::kNmea:
      return "nmea";
    case SourceFormat::kJson:
      return "json";
    case SourceFormat::kH02:
      return "h02";
    case SourceFormat::kGps103:
      return "gps103";
    case SourceFormat::kTk103:
      return "tk103";
    case SourceFormat::kWatch:
      return "watch";
    case SourceFormat::kQueclink:
      return "queclink";
    case SourceFormat::kMeitrack:
      return "meitrack";
    case SourceFormat::kSuntech:
      return "suntech";
    case SourceFormat::kOsmAnd:
      return "osmand";
  }
  return "unknown";
}

std::string_view FixQualityName(FixQuality quality) {
  switch (quality) {
    case FixQuality::kNone:
      return "none";
    case FixQuality::kGps:
      return "gps";
    case FixQuality::kDgps:
      return "dgps";
    case FixQuality::kRtkFixed:
      return "rtk_fixed";
    case FixQuality::kRtkFloat:
      return "rtk_float";
    case FixQuality::kEstimated:
      return "estimated";
  }
  return "unknown";
}

bool IsValidVehicleId(std::string_view id) {
  if (id.empty() || id.size() > kMaxVehicleIdLength) return false;
  for (char c : id) {
    if (!kVehicleIdChars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

void LocationRecord::set_vehicle_id(std::string_view id) {
  assert(id.size() <= kMaxVehicleIdLength);
  std::memcpy(vehicle_id_buf.data(), id.data(), id.size());
  vehicle_id_len = static_cast<uint8_t>(id.size());
}

// Resets every field but leaves vehicle_id_buf's bytes alone: parsers clear
// a record per line, and the id is only ever read through vehicle_id_len.
void LocationRecord::Clear() {
  vehicle_id_len = 0;
  format = SourceFormat::kCsv;
  present = 0;
  fix_time_unix_ns = 0;
  latitude = longitude = speed_mps = heading_deg = altitude_m = accuracy_m = 0;
  satellites = 0;
  hdop = 0;
  fix_quality = FixQuality::kNone;
}

}  // namespace fixstream::ingest
