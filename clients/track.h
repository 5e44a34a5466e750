// Simulated vehicle tracks and the vehicle line formats they are sent in.
//
// A Track is a deterministic sequence of plausible GPS fixes for one vehicle:
// it starts at a seeded random point near an origin, moves at a roughly
// constant speed along a slowly drifting heading, and advances its fix time by
// a fixed interval per fix. The Format* functions append one fix in one of the
// line formats of docs/PROTOCOL.md to a caller-owned buffer, and VehicleFeed
// combines a Track with a line format into the byte stream one simulated
// vehicle connection sends. The simulator, load generators and tests share
// them; nothing here does I/O, allocates per line once the output buffer has
// grown, or uses threads.
//
// Line terminators: CSV, JSON and $PFSID lines end in "\n"; NMEA RMC/GGA
// sentences end in "\r\n", as real receivers send them.
//
// Thread safety: the free functions are thread-safe; a Track or VehicleFeed
// must not be used by two threads at once.
#ifndef FIXSTREAM_CLIENTS_TRACK_H_
#define FIXSTREAM_CLIENTS_TRACK_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace fixstream::clients {

// One GPS fix of a simulated vehicle.
struct Fix {
  int64_t time_unix_ms = 0;  // fix time, UTC
  double latitude_deg = 0;   // WGS84, [-90, 90]
  double longitude_deg = 0;  // WGS84, [-180, 180]
  double speed_mps = 0;      // ground speed, >= 0
  double heading_deg = 0;    // course over ground, degrees true, [0, 360)
  double altitude_m = 0;     // above mean sea level
  double accuracy_m = 0;     // horizontal accuracy radius, >= 0
  uint32_t satellites = 0;   // satellites used in the fix
  double hdop = 0;           // horizontal dilution of precision, > 0
};

struct TrackOptions {
  // The track starts at a uniformly random point within `start_radius_deg`
  // (in latitude and in longitude) of the origin. Default: central Berlin.
  double origin_latitude_deg = 52.52;
  double origin_longitude_deg = 13.40;
  double start_radius_deg = 0.1;
  // Fix time of the first fix.
  int64_t start_time_unix_ms = 0;
  // Fix time (and travel time) between consecutive fixes. Must be > 0.
  int64_t interval_ms = 1000;
  // The same seed always yields the same fixes (on every platform).
  uint64_t seed = 1;
};

// A deterministic sequence of fixes. Cheap to copy.
class Track final {
 public:
  // Speeds stay within [kMinSpeedMps, kMaxSpeedMps].
  static constexpr double kMinSpeedMps = 5.0;
  static constexpr double kMaxSpeedMps = 30.0;

  // Precondition: options.interval_ms > 0.
  explicit Track(const TrackOptions& options);

  // The current fix.
  const Fix& fix() const { return fix_; }
  // Moves to the next fix: one interval later, speed * interval further along
  // the heading, with speed, heading and quality drifting a little.
  void Advance();

 private:
  // Uniform in [lo, hi), from the raw engine bits so that a seed yields the
  // same track with every standard library (distributions are not portable).
  double Uniform(double lo, double hi);

  std::mt19937_64 rng_;
  int64_t interval_ms_;
  Fix fix_;
};

// Returns true if `id` is a valid vehicle id: 1-64 characters of
// [A-Za-z0-9._:-].
bool IsValidVehicleId(std::string_view id);

// XOR of all bytes of `body`: the NMEA checksum of a sentence whose text
// between '$' and '*' is `body`.
uint8_t NmeaChecksum(std::string_view body);

// How CSV lines write their timestamp; both are valid per docs/PROTOCOL.md.
enum class CsvTimestamp : uint8_t {
  kRfc3339,    // 2026-11-24T10:15:30.256Z
  kUnixMillis  // 1795515330256
};

// Appends `fix` as a CSV line with all eight fields:
// vehicle_id,timestamp,lat,lon,speed_mps,heading_deg,altitude_m,accuracy_m\n
void FormatCsv(std::string_view vehicle_id, const Fix& fix, CsvTimestamp timestamp,
               std::string* out);

// Appends `fix` as a JSON line with the keys vehicle_id, timestamp (RFC 3339),
// lat, lon, speed_mps and heading_deg. Precondition: IsValidVehicleId(vehicle_id)
// (so the id needs no JSON escaping).
void FormatJson(std::string_view vehicle_id, const Fix& fix, std::string* out);

// Appends the NMEA identification line "$PFSID,<vehicle_id>*hh\n" that names
// the vehicle of the NMEA sentences that follow on a connection.
void FormatNmeaIdentification(std::string_view vehicle_id, std::string* out);

// Appends `fix` as "$GPRMC,...*hh\r\n" (NMEA 0183 2.3, with the mode
// indicator): time, status A, position in ddmm.mmmm/dddmm.mmmm, speed in
// knots, course, date, empty magnetic variation, mode A.
void FormatNmeaRmc(const Fix& fix, std::string* out);

// Appends `fix` as "$GPGGA,...*hh\r\n": time, position, quality 1 (GPS fix),
// satellites, HDOP, altitude above mean sea level in metres, geoid
// separation 0.0 and empty DGPS fields.
void FormatNmeaGga(const Fix& fix, std::string* out);

// The tracker protocols fixstream-load can speak (docs/PROTOCOL.md, "Device
// protocols"), with their names there. OsmAnd (HTTP) is not among them: its
// requests are not lines.
enum class TrackerProtocol : uint8_t {
  kH02,
  kGps103,
  kTk103,
  kWatch,
  kQueclink,
  kMeitrack,
  kSuntech
};
inline constexpr int kTrackerProtocolCount = 7;
// "h02", "gps103", ...; nullopt for anything else.
std::optional<TrackerProtocol> ParseTrackerProtocol(std::string_view name);
std::string_view TrackerProtocolName(TrackerProtocol protocol);

// Appends `fix` as the position report a tracker of `protocol` sends, then
// "\n" (the gateway skips whitespace between device messages, as trackers
// send it): H02 `*HQ,<id>,V1,...#`, GPS103 `imei:<id>,tracker,...;`, TK103
// `(<id>,DW3B,...)`, Watch `[SG*<id>*<len>*UD2,...]`, Queclink
// `+RESP:GTFRI,...$`, Meitrack `$$A<len>,<id>,AAA,...*hh\r\n`, Suntech
// `ST300STT;<id>;...\r`. The gateway acknowledges H02's V1
// (V4); the other reports get no answer. `device_id`
// must be what the protocol allows (digits: an IMEI or serial, 10 for H02 and
// Watch, 15 for the others, 12 for TK103 works too); the fix time has one
// second's resolution in every protocol but Meitrack and Suntech (also
// seconds), so callers space fixes at least a second apart.
void FormatTrackerMessage(TrackerProtocol protocol, std::string_view device_id, const Fix& fix,
                          std::string* out);

// The line formats a VehicleFeed can send.
enum class FeedFormat : uint8_t {
  kCsv,
  kJson,
  kNmea,   // each fix as an RMC + GGA pair
  kMixed,  // one format per fix in rotation: CSV, JSON, NMEA, CSV, ...
};

// Parses "csv", "json", "nmea" or "mixed".
std::optional<FeedFormat> ParseFeedFormat(std::string_view name);

// The bytes one simulated vehicle connection sends: fixes of a Track in a
// FeedFormat. Every fix becomes one record at the gateway but one line (CSV,
// JSON) or two (NMEA RMC + GGA of the same fix time). A feed that may send
// NMEA (kNmea, kMixed) starts with the $PFSID identification line.
class VehicleFeed final {
 public:
  // Upper bound on the bytes one AppendNextFix() call appends (the longest
  // case is the first NMEA fix: $PFSID with a 64-char id, RMC and GGA), so
  // that callers can fill a bounded buffer. Holds for fixes of a Track, whose
  // values stay in their plausible ranges.
  static constexpr size_t kMaxFixBytes = 256;

  // Precondition: IsValidVehicleId(vehicle_id).
  VehicleFeed(std::string vehicle_id, FeedFormat format, CsvTimestamp csv_timestamp,
              const Track& track);

  // Appends the next fix to `out` (preceded by the identification line on
  // the first call, for NMEA-capable formats) and advances the track.
  // Returns the number of lines appended.
  int AppendNextFix(std::string* out);

  const std::string& vehicle_id() const { return vehicle_id_; }
  // Fixes appended so far.
  int64_t fixes() const { return fixes_; }

 private:
  std::string vehicle_id_;
  FeedFormat format_;
  CsvTimestamp csv_timestamp_;
  Track track_;
  int64_t fixes_ = 0;
};

}  // namespace fixstream::clients

#endif  // FIXSTREAM_CLIENTS_TRACK_H_
