#include "clients/track.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <numbers>
#include <system_error>
#include <utility>

namespace fixstream::clients {
namespace {

constexpr double kEarthRadiusM = 6371008.8;  // mean radius; plenty for a simulation
constexpr double kKnotsPerMps = 3600.0 / 1852.0;
constexpr double kDegreesPerRadian = 180.0 / std::numbers::pi;
// The track turns around before the poles, where a longitude step per metre
// grows without bound.
constexpr double kMaxAbsLatitudeDeg = 89.9;
constexpr uint32_t kMinSatellites = 4;
constexpr uint32_t kMaxSatellites = 16;
constexpr size_t kMaxVehicleIdLength = 64;

void AppendFixed(double value, int precision, std::string* out) {
  // Large enough for any double in fixed notation (309 integer digits) plus
  // the few decimals used here, so to_chars cannot fail.
  std::array<char, 400> buf;
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value,
                                       std::chars_format::fixed, precision);
  assert(ec == std::errc());
  out->append(buf.data(), end);
}

void AppendInt(int64_t value, std::string* out) {
  std::array<char, 24> buf;
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  assert(ec == std::errc());
  out->append(buf.data(), end);
}

// Appends `value` zero-padded to at least `width` digits. Precondition: value >= 0.
void AppendPadded(int64_t value, int width, std::string* out) {
  std::array<char, 24> buf;
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  assert(ec == std::errc());
  const auto digits = static_cast<int>(end - buf.data());
  if (digits < width) out->append(static_cast<size_t>(width - digits), '0');
  out->append(buf.data(), end);
}

// Headings round to tenths; rounding up from 359.95 must wrap to 0.0, since
// parsers require [0, 360).
void AppendHeading(double heading_deg, std::string* out) {
  const int64_t tenths = std::llround(heading_deg * 10.0) % 3600;
  AppendInt(tenths / 10, out);
  out->push_back('.');
  AppendInt(tenths % 10, out);
}

struct CivilTime {
  int year;
  unsigned month, day, hour, minute, second, millisecond;
};

CivilTime ToCivil(int64_t unix_ms) {
  using std::chrono::milliseconds;
  const std::chrono::sys_time<milliseconds> time{milliseconds{unix_ms}};
  const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day ymd{day};
  const int64_t ms_of_day = (time - day).count();
  return CivilTime{
      .year = static_cast<int>(ymd.year()),
      .month = static_cast<unsigned>(ymd.month()),
      .day = static_cast<unsigned>(ymd.day()),
      .hour = static_cast<unsigned>(ms_of_day / 3'600'000),
      .minute = static_cast<unsigned>(ms_of_day / 60'000 % 60),
      .second = static_cast<unsigned>(ms_of_day / 1000 % 60),
      .millisecond = static_cast<unsigned>(ms_of_day % 1000),
  };
}

void AppendRfc3339(int64_t unix_ms, std::string* out) {
  const CivilTime t = ToCivil(unix_ms);
  AppendPadded(t.year, 4, out);
  out->push_back('-');
  AppendPadded(t.month, 2, out);
  out->push_back('-');
  AppendPadded(t.day, 2, out);
  out->push_back('T');
  AppendPadded(t.hour, 2, out);
  out->push_back(':');
  AppendPadded(t.minute, 2, out);
  out->push_back(':');
  AppendPadded(t.second, 2, out);
  out->push_back('.');
  AppendPadded(t.millisecond, 3, out);
  out->push_back('Z');
}

// NMEA time of day: hhmmss.sss. Milliseconds are kept so that the fix time
// survives the trip through NMEA exactly.
void AppendNmeaTime(const CivilTime& t, std::string* out) {
  AppendPadded(t.hour, 2, out);
  AppendPadded(t.minute, 2, out);
  AppendPadded(t.second, 2, out);
  out->push_back('.');
  AppendPadded(t.millisecond, 3, out);
}

// Appends |degrees| as <degree_digits digits of degrees><mm.mmmm>,<hemisphere>.
// Rounding happens once, on the whole value in units of 1e-4 minute, so that
// 59.99996 minutes carry into the degrees instead of printing as "60.0000".
void AppendNmeaAngle(double degrees, int degree_digits, char positive, char negative,
                     std::string* out) {
  constexpr int64_t kUnitsPerMinute = 10'000;
  constexpr int64_t kUnitsPerDegree = 60 * kUnitsPerMinute;
  const int64_t units = std::llround(std::fabs(degrees) * static_cast<double>(kUnitsPerDegree));
  AppendPadded(units / kUnitsPerDegree, degree_digits, out);
  const int64_t minute_units = units % kUnitsPerDegree;
  AppendPadded(minute_units / kUnitsPerMinute, 2, out);
  out->push_back('.');
  AppendPadded(minute_units % kUnitsPerMinute, 4, out);
  out->push_back(',');
  out->push_back(degrees < 0 ? negative : positive);
}

// Wraps up a sentence whose '$' is at `dollar`: checksum over everything after
// it, then the terminator.
void FinishNmeaSentence(size_t dollar, std::string_view terminator, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const uint8_t checksum =
      NmeaChecksum(std::string_view(*out).substr(dollar + 1, out->size() - dollar - 1));
  out->push_back('*');
  out->push_back(kHex[checksum >> 4]);
  out->push_back(kHex[checksum & 0xF]);
  out->append(terminator);
}

double WrapDegrees360(double degrees) {
  double wrapped = std::fmod(degrees, 360.0);
  if (wrapped < 0) wrapped += 360.0;
  // fmod of a tiny negative value plus 360 rounds to exactly 360.
  return wrapped < 360.0 ? wrapped : 0.0;
}

}  // namespace

Track::Track(const TrackOptions& options) : rng_(options.seed), interval_ms_(options.interval_ms) {
  assert(options.interval_ms > 0);
  const double r = options.start_radius_deg;
  fix_.time_unix_ms = options.start_time_unix_ms;
  fix_.latitude_deg = std::clamp(options.origin_latitude_deg + Uniform(-r, r), -kMaxAbsLatitudeDeg,
                                 kMaxAbsLatitudeDeg);
  fix_.longitude_deg = options.origin_longitude_deg + Uniform(-r, r);
  if (fix_.longitude_deg > 180.0) fix_.longitude_deg -= 360.0;
  if (fix_.longitude_deg < -180.0) fix_.longitude_deg += 360.0;
  fix_.speed_mps = Uniform(kMinSpeedMps, kMaxSpeedMps);
  fix_.heading_deg = Uniform(0.0, 360.0);
  fix_.altitude_m = Uniform(30.0, 60.0);
  fix_.satellites = 6 + static_cast<uint32_t>(Uniform(0.0, 9.0));
  fix_.hdop = 8.0 / fix_.satellites * Uniform(0.9, 1.1);
  fix_.accuracy_m = fix_.hdop * Uniform(2.5, 4.0);
}

void Track::Advance() {
  const double dt_s = static_cast<double>(interval_ms_) / 1000.0;
  fix_.time_unix_ms += interval_ms_;

  // Flat-earth step: fixes are metres to a few hundred metres apart, where the
  // error against a great-circle step is far below GPS noise.
  const double distance_m = fix_.speed_mps * dt_s;
  const double heading_rad = fix_.heading_deg / kDegreesPerRadian;
  const double latitude_rad = fix_.latitude_deg / kDegreesPerRadian;
  fix_.latitude_deg += distance_m * std::cos(heading_rad) / kEarthRadiusM * kDegreesPerRadian;
  fix_.longitude_deg += distance_m * std::sin(heading_rad) /
                        (kEarthRadiusM * std::cos(latitude_rad)) * kDegreesPerRadian;
  if (std::fabs(fix_.latitude_deg) > kMaxAbsLatitudeDeg) {
    // Bounce off the polar limit: mirror the latitude and the heading.
    const double limit = std::copysign(kMaxAbsLatitudeDeg, fix_.latitude_deg);
    fix_.latitude_deg = 2 * limit - fix_.latitude_deg;
    fix_.heading_deg = WrapDegrees360(180.0 - fix_.heading_deg);
  }
  if (fix_.longitude_deg > 180.0) fix_.longitude_deg -= 360.0;
  if (fix_.longitude_deg < -180.0) fix_.longitude_deg += 360.0;

  // Random walks scaled by the interval, so a track looks alike whatever the
  // fix rate: speed wanders a little, the heading drifts by a few degrees.
  fix_.speed_mps =
      std::clamp(fix_.speed_mps + Uniform(-0.5, 0.5) * dt_s, kMinSpeedMps, kMaxSpeedMps);
  fix_.heading_deg = WrapDegrees360(fix_.heading_deg + Uniform(-3.0, 3.0) * dt_s);
  fix_.altitude_m += Uniform(-0.3, 0.3) * dt_s;
  const double satellite_roll = Uniform(0.0, 1.0);
  if (satellite_roll < 0.05 && fix_.satellites > kMinSatellites) --fix_.satellites;
  if (satellite_roll > 0.95 && fix_.satellites < kMaxSatellites) ++fix_.satellites;
  // More satellites in view give better geometry: HDOP and the accuracy
  // radius follow the satellite count.
  fix_.hdop = 8.0 / fix_.satellites * Uniform(0.9, 1.1);
  fix_.accuracy_m = fix_.hdop * Uniform(2.5, 4.0);
}

double Track::Uniform(double lo, double hi) {
  const double unit = static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // [0, 1)
  return lo + (hi - lo) * unit;
}

bool IsValidVehicleId(std::string_view id) {
  if (id.empty() || id.size() > kMaxVehicleIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

uint8_t NmeaChecksum(std::string_view body) {
  uint8_t checksum = 0;
  for (const char c : body) checksum ^= static_cast<uint8_t>(c);
  return checksum;
}

void FormatCsv(std::string_view vehicle_id, const Fix& fix, CsvTimestamp timestamp,
               std::string* out) {
  out->append(vehicle_id);
  out->push_back(',');
  if (timestamp == CsvTimestamp::kRfc3339) {
    AppendRfc3339(fix.time_unix_ms, out);
  } else {
    AppendInt(fix.time_unix_ms, out);
  }
  out->push_back(',');
  AppendFixed(fix.latitude_deg, 7, out);  // 7 decimals: about 1 cm
  out->push_back(',');
  AppendFixed(fix.longitude_deg, 7, out);
  out->push_back(',');
  AppendFixed(fix.speed_mps, 2, out);
  out->push_back(',');
  AppendHeading(fix.heading_deg, out);
  out->push_back(',');
  AppendFixed(fix.altitude_m, 1, out);
  out->push_back(',');
  AppendFixed(fix.accuracy_m, 1, out);
  out->push_back('\n');
}

void FormatJson(std::string_view vehicle_id, const Fix& fix, std::string* out) {
  assert(IsValidVehicleId(vehicle_id));
  out->append(R"({"vehicle_id":")");
  out->append(vehicle_id);
  out->append(R"(","timestamp":")");
  AppendRfc3339(fix.time_unix_ms, out);
  out->append(R"(","lat":)");
  AppendFixed(fix.latitude_deg, 7, out);
  out->append(R"(,"lon":)");
  AppendFixed(fix.longitude_deg, 7, out);
  out->append(R"(,"speed_mps":)");
  AppendFixed(fix.speed_mps, 2, out);
  out->append(R"(,"heading_deg":)");
  AppendHeading(fix.heading_deg, out);
  out->append("}\n");
}

void FormatNmeaIdentification(std::string_view vehicle_id, std::string* out) {
  const size_t dollar = out->size();
  out->append("$PFSID,");
  out->append(vehicle_id);
  FinishNmeaSentence(dollar, "\n", out);
}

void FormatNmeaRmc(const Fix& fix, std::string* out) {
  const CivilTime t = ToCivil(fix.time_unix_ms);
  const size_t dollar = out->size();
  out->append("$GPRMC,");
  AppendNmeaTime(t, out);
  out->append(",A,");
  AppendNmeaAngle(fix.latitude_deg, 2, 'N', 'S', out);
  out->push_back(',');
  AppendNmeaAngle(fix.longitude_deg, 3, 'E', 'W', out);
  out->push_back(',');
  AppendFixed(fix.speed_mps * kKnotsPerMps, 2, out);
  out->push_back(',');
  AppendHeading(fix.heading_deg, out);
  out->push_back(',');
  AppendPadded(t.day, 2, out);
  AppendPadded(t.month, 2, out);
  AppendPadded(t.year % 100, 2, out);
  out->append(",,,A");  // no magnetic variation; mode A (autonomous)
  FinishNmeaSentence(dollar, "\r\n", out);
}

void FormatNmeaGga(const Fix& fix, std::string* out) {
  const CivilTime t = ToCivil(fix.time_unix_ms);
  const size_t dollar = out->size();
  out->append("$GPGGA,");
  AppendNmeaTime(t, out);
  out->push_back(',');
  AppendNmeaAngle(fix.latitude_deg, 2, 'N', 'S', out);
  out->push_back(',');
  AppendNmeaAngle(fix.longitude_deg, 3, 'E', 'W', out);
  out->append(",1,");  // quality 1: GPS fix
  AppendPadded(fix.satellites, 2, out);
  out->push_back(',');
  AppendFixed(fix.hdop, 1, out);
  out->push_back(',');
  AppendFixed(fix.altitude_m, 1, out);
  out->append(",M,0.0,M,,");  // geoid separation unknown; no DGPS
  FinishNmeaSentence(dollar, "\r\n", out);
}

namespace {

// yymmdd / ddmmyy / yyyymmdd and hhmmss from a civil time.
void AppendYymmdd(const CivilTime& t, std::string* out) {
  AppendPadded(t.year % 100, 2, out);
  AppendPadded(t.month, 2, out);
  AppendPadded(t.day, 2, out);
}
void AppendDdmmyy(const CivilTime& t, std::string* out) {
  AppendPadded(t.day, 2, out);
  AppendPadded(t.month, 2, out);
  AppendPadded(t.year % 100, 2, out);
}
void AppendHhmmss(const CivilTime& t, std::string* out) {
  AppendPadded(t.hour, 2, out);
  AppendPadded(t.minute, 2, out);
  AppendPadded(t.second, 2, out);
}
// NMEA-style ddmm.mmmm without the hemisphere's comma: "5231.2000N".
void AppendAngleHemisphere(double degrees, int degree_digits, char positive, char negative,
                           bool comma, std::string* out) {
  AppendNmeaAngle(degrees, degree_digits, positive, negative, out);
  if (!comma) out->erase(out->size() - 2, 1);
}

void FormatH02(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  out->append("*HQ,");
  out->append(id);
  out->append(",V1,");
  AppendHhmmss(t, out);
  out->append(",A,");
  AppendAngleHemisphere(fix.latitude_deg, 2, 'N', 'S', true, out);
  out->push_back(',');
  AppendAngleHemisphere(fix.longitude_deg, 3, 'E', 'W', true, out);
  out->push_back(',');
  AppendFixed(fix.speed_mps * kKnotsPerMps, 2, out);
  out->push_back(',');
  AppendInt(std::llround(fix.heading_deg) % 360, out);
  out->push_back(',');
  AppendDdmmyy(t, out);
  out->append(",FFFFFBFF,262,01,1f4b,6c2d,6#\n");
}

void FormatGps103(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  out->append("imei:");
  out->append(id);
  out->append(",tracker,");
  AppendYymmdd(t, out);
  AppendHhmmss(t, out);
  out->append(",,F,");
  AppendHhmmss(t, out);
  out->append(".000,A,");
  AppendAngleHemisphere(fix.latitude_deg, 2, 'N', 'S', true, out);
  out->push_back(',');
  AppendAngleHemisphere(fix.longitude_deg, 3, 'E', 'W', true, out);
  out->push_back(',');
  AppendFixed(fix.speed_mps * kKnotsPerMps, 2, out);
  out->push_back(',');
  AppendHeading(fix.heading_deg, out);
  out->append(";\n");
}

void FormatTk103(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  out->push_back('(');
  out->append(id);
  out->append(",DW3B,");
  AppendDdmmyy(t, out);
  out->append(",A,");
  AppendAngleHemisphere(fix.latitude_deg, 2, 'N', 'S', false, out);
  out->push_back(',');
  AppendAngleHemisphere(fix.longitude_deg, 3, 'E', 'W', false, out);
  out->push_back(',');
  AppendFixed(fix.speed_mps * 3.6, 3, out);
  out->push_back(',');
  AppendHhmmss(t, out);
  out->push_back(',');
  AppendFixed(fix.heading_deg < 359.9995 ? fix.heading_deg : 0.0, 3, out);
  out->push_back(',');
  AppendFixed(fix.altitude_m, 3, out);
  out->push_back(',');
  AppendInt(fix.satellites, out);
  out->append(",0)\n");
}

void FormatWatch(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  std::string content = "UD2,";
  AppendDdmmyy(t, &content);
  content.push_back(',');
  AppendHhmmss(t, &content);
  content.append(",A,");
  AppendFixed(std::fabs(fix.latitude_deg), 6, &content);
  content.append(fix.latitude_deg < 0 ? ",S," : ",N,");
  AppendFixed(std::fabs(fix.longitude_deg), 6, &content);
  content.append(fix.longitude_deg < 0 ? ",W," : ",E,");
  AppendFixed(fix.speed_mps * 3.6, 2, &content);
  content.push_back(',');
  AppendInt(std::llround(fix.heading_deg) % 360, &content);
  content.push_back(',');
  AppendInt(std::llround(fix.altitude_m), &content);
  content.push_back(',');
  AppendInt(fix.satellites, &content);
  content.append(",100,90,0,0,00000000,0,0]");
  static constexpr char kHex[] = "0123456789ABCDEF";
  const size_t length = content.size() - 1;  // (without the ']')
  out->append("[SG*");
  out->append(id);
  out->push_back('*');
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(length >> shift) & 0xf]);
  out->push_back('*');
  out->append(content);
  out->push_back('\n');
}

void AppendYyyymmddhhmmss(const CivilTime& t, std::string* out) {
  AppendPadded(t.year, 4, out);
  AppendPadded(t.month, 2, out);
  AppendPadded(t.day, 2, out);
  AppendHhmmss(t, out);
}

void FormatQueclink(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  out->append("+RESP:GTFRI,DF0200,");
  out->append(id);
  out->append(",gv300,14051,10,1,1,");
  AppendFixed(fix.speed_mps * 3.6, 1, out);
  out->push_back(',');
  AppendInt(std::llround(fix.heading_deg) % 360, out);
  out->push_back(',');
  AppendFixed(fix.altitude_m, 1, out);
  out->push_back(',');
  AppendFixed(fix.longitude_deg, 6, out);
  out->push_back(',');
  AppendFixed(fix.latitude_deg, 6, out);
  out->push_back(',');
  AppendYyyymmddhhmmss(t, out);
  out->append(",0262,0001,1F4B,06C2D,,0.0,,,,100,21,,,,");
  AppendYyyymmddhhmmss(t, out);
  out->append(",0001$\n");
}

void FormatMeitrack(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  std::string payload = ",";
  payload.append(id);
  payload.append(",AAA,35,");
  AppendFixed(fix.latitude_deg, 6, &payload);
  payload.push_back(',');
  AppendFixed(fix.longitude_deg, 6, &payload);
  payload.push_back(',');
  AppendYymmdd(t, &payload);
  AppendHhmmss(t, &payload);
  payload.append(",A,");
  AppendInt(fix.satellites, &payload);
  payload.append(",20,");
  AppendInt(std::llround(fix.speed_mps * 3.6), &payload);
  payload.push_back(',');
  AppendInt(std::llround(fix.heading_deg) % 360, &payload);
  payload.push_back(',');
  AppendFixed(fix.hdop, 1, &payload);
  payload.push_back(',');
  AppendInt(std::llround(fix.altitude_m), &payload);
  payload.append(",0,0,262|1|1F4B|06C2D,0000,0000|0000|0000|018D|04F0,*");
  // The length counts from the comma after it to the end of "\r\n".
  const size_t start = out->size();
  out->append("$$A");
  AppendInt(static_cast<int64_t>(payload.size() + 4), out);
  out->append(payload);
  uint32_t sum = 0;
  for (size_t i = start; i < out->size(); ++i) sum += static_cast<uint8_t>((*out)[i]);
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->push_back(kHex[(sum >> 4) & 0xf]);
  out->push_back(kHex[sum & 0xf]);
  out->append("\r\n");
}

void FormatSuntech(std::string_view id, const Fix& fix, const CivilTime& t, std::string* out) {
  out->append("ST300STT;");
  out->append(id);
  out->append(";04;1097B;");
  AppendPadded(t.year, 4, out);
  AppendPadded(t.month, 2, out);
  AppendPadded(t.day, 2, out);
  out->push_back(';');
  AppendPadded(t.hour, 2, out);
  out->push_back(':');
  AppendPadded(t.minute, 2, out);
  out->push_back(':');
  AppendPadded(t.second, 2, out);
  out->append(";33e530;");
  if (fix.latitude_deg >= 0) out->push_back('+');
  AppendFixed(fix.latitude_deg, 6, out);
  out->push_back(';');
  if (fix.longitude_deg >= 0) out->push_back('+');
  AppendFixed(fix.longitude_deg, 6, out);
  out->push_back(';');
  AppendFixed(fix.speed_mps * 3.6, 3, out);
  out->push_back(';');
  AppendFixed(fix.heading_deg < 359.995 ? fix.heading_deg : 0.0, 2, out);
  out->push_back(';');
  AppendInt(fix.satellites, out);
  out->append(";1;0;15.30;000000;1;0072;0\r\n");
}

constexpr std::string_view kTrackerNames[kTrackerProtocolCount] = {
    "h02", "gps103", "tk103", "watch", "queclink", "meitrack", "suntech"};

}  // namespace

std::optional<TrackerProtocol> ParseTrackerProtocol(std::string_view name) {
  for (int i = 0; i < kTrackerProtocolCount; ++i) {
    if (kTrackerNames[i] == name) return static_cast<TrackerProtocol>(i);
  }
  return std::nullopt;
}

std::string_view TrackerProtocolName(TrackerProtocol protocol) {
  return kTrackerNames[static_cast<size_t>(protocol)];
}

void FormatTrackerMessage(TrackerProtocol protocol, std::string_view device_id, const Fix& fix,
                          std::string* out) {
  const CivilTime t = ToCivil(fix.time_unix_ms);
  switch (protocol) {
    case TrackerProtocol::kH02:
      return FormatH02(device_id, fix, t, out);
    case TrackerProtocol::kGps103:
      return FormatGps103(device_id, fix, t, out);
    case TrackerProtocol::kTk103:
      return FormatTk103(device_id, fix, t, out);
    case TrackerProtocol::kWatch:
      return FormatWatch(device_id, fix, t, out);
    case TrackerProtocol::kQueclink:
      return FormatQueclink(device_id, fix, t, out);
    case TrackerProtocol::kMeitrack:
      return FormatMeitrack(device_id, fix, t, out);
    case TrackerProtocol::kSuntech:
      return FormatSuntech(device_id, fix, t, out);
  }
}

std::optional<FeedFormat> ParseFeedFormat(std::string_view name) {
  if (name == "csv") return FeedFormat::kCsv;
  if (name == "json") return FeedFormat::kJson;
  if (name == "nmea") return FeedFormat::kNmea;
  if (name == "mixed") return FeedFormat::kMixed;
  return std::nullopt;
}

VehicleFeed::VehicleFeed(std::string vehicle_id, FeedFormat format, CsvTimestamp csv_timestamp,
                         const Track& track)
    : vehicle_id_(std::move(vehicle_id)),
      format_(format),
      csv_timestamp_(csv_timestamp),
      track_(track) {
  assert(IsValidVehicleId(vehicle_id_));
}

int VehicleFeed::AppendNextFix(std::string* out) {
  int lines = 0;
  // The identification goes first, before any fix, because the gateway
  // attributes NMEA sentences to the vehicle the connection named last.
  if (fixes_ == 0 && (format_ == FeedFormat::kNmea || format_ == FeedFormat::kMixed)) {
    FormatNmeaIdentification(vehicle_id_, out);
    ++lines;
  }
  FeedFormat format = format_;
  if (format == FeedFormat::kMixed) {
    static constexpr FeedFormat kRotation[] = {FeedFormat::kCsv, FeedFormat::kJson,
                                               FeedFormat::kNmea};
    format = kRotation[fixes_ % std::size(kRotation)];
  }
  const Fix& fix = track_.fix();
  switch (format) {
    case FeedFormat::kCsv:
      FormatCsv(vehicle_id_, fix, csv_timestamp_, out);
      lines += 1;
      break;
    case FeedFormat::kJson:
      FormatJson(vehicle_id_, fix, out);
      lines += 1;
      break;
    case FeedFormat::kNmea:
    case FeedFormat::kMixed:  // unreachable: resolved above
      FormatNmeaRmc(fix, out);
      FormatNmeaGga(fix, out);
      lines += 2;
      break;
  }
  track_.Advance();
  ++fixes_;
  return lines;
}

}  // namespace fixstream::clients
