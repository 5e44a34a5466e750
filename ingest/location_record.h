// LocationRecord: one validated vehicle position, as parsed from one line (or
// one merged RMC+GGA pair) of a vehicle's TCP stream.
//
// The record is a plain value with fixed-size storage: parsers overwrite a
// reusable record in place, so parsing a line never touches the heap. The
// gateway adds what only it knows (sequence, receive time, connection) when it
// encodes the record for the hub.
#ifndef FIXSTREAM_INGEST_LOCATION_RECORD_H_
#define FIXSTREAM_INGEST_LOCATION_RECORD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fixstream::ingest {

// The wire format a record was parsed from.
enum class SourceFormat : uint8_t {
  kCsv = 1,
  kNmea = 2,
  kJson = 3,
  // Device protocols (ingest/device_protocol.h).
  kH02 = 4,
  kGps103 = 5,
  kTk103 = 6,
  kWatch = 7,
  kQueclink = 8,
  kMeitrack = 9,
  kSuntech = 10,
  kOsmAnd = 11,
};

std::string_view SourceFormatName(SourceFormat format);

// How the receiver computed a fix, as NMEA reports it (GGA quality, GNS/RMC/
// GLL mode indicator). The values are those of fixstream.v1.FixQuality, so
// the record codec writes them as they are. kNone is never published: a
// sentence without a fix produces no record.
enum class FixQuality : uint8_t {
  kNone = 0,       // no fix (never in a published record)
  kGps = 1,        // autonomous GNSS: GGA 1 (and 3, PPS), mode A or P
  kDgps = 2,       // differential GNSS (DGPS, SBAS): GGA 2 or 9, mode D
  kRtkFixed = 3,   // RTK, integer ambiguities: GGA 4, mode R
  kRtkFloat = 4,   // RTK, float ambiguities: GGA 5, mode F
  kEstimated = 5,  // dead reckoning: GGA 6, mode E; not a satellite fix
};

std::string_view FixQualityName(FixQuality quality);

// Longest accepted vehicle id, in bytes. Ids are [A-Za-z0-9._:-]{1,64}.
inline constexpr size_t kMaxVehicleIdLength = 64;

// Returns true if `id` is a syntactically valid vehicle id.
bool IsValidVehicleId(std::string_view id);

struct LocationRecord {
  // Presence bits for the optional fields.
  enum Field : uint32_t {
    kSpeed = 1u << 0,
    kHeading = 1u << 1,
    kAltitude = 1u << 2,
    kAccuracy = 1u << 3,
    kSatellites = 1u << 4,
    kHdop = 1u << 5,
    kFixQuality = 1u << 6,
  };

  std::string_view vehicle_id() const { return {vehicle_id_buf.data(), vehicle_id_len}; }
  // Precondition: IsValidVehicleId(id) (so it fits).
  void set_vehicle_id(std::string_view id);

  bool has(Field f) const { return (present & f) != 0; }
  void Clear();

  std::array<char, kMaxVehicleIdLength> vehicle_id_buf{};
  uint8_t vehicle_id_len = 0;
  SourceFormat format = SourceFormat::kCsv;
  uint32_t present = 0;          // bitwise OR of Field
  int64_t fix_time_unix_ns = 0;  // device fix time, UTC
  double latitude = 0;           // degrees, [-90, 90]
  double longitude = 0;          // degrees, [-180, 180]
  double speed_mps = 0;          // metres per second, >= 0
  double heading_deg = 0;        // degrees true, [0, 360)
  double altitude_m = 0;         // metres above mean sea level
  double accuracy_m = 0;         // horizontal accuracy radius, metres, >= 0
  uint32_t satellites = 0;       // satellites used in the fix
  double hdop = 0;               // horizontal dilution of precision, >= 0
  // How the receiver computed the fix (NMEA only; see FixQuality).
  FixQuality fix_quality = FixQuality::kNone;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_LOCATION_RECORD_H_
