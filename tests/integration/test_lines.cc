#include "tests/integration/test_lines.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace fixstream::testing {
namespace {

std::string NmeaAngle(double degrees, int degree_digits) {
  const double abs = std::fabs(degrees);
  const int whole = static_cast<int>(abs);
  const double minutes = (abs - whole) * 60.0;
  return absl::StrFormat("%0*d%07.4f", degree_digits, whole, minutes);
}

}  // namespace

std::string Rfc3339Millis(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string CsvLine(std::string_view vehicle, int64_t unix_ms, double lat, double lon,
                    double speed_mps) {
  return absl::StrFormat("%s,%s,%.6f,%.6f,%.1f\n", std::string(vehicle), Rfc3339Millis(unix_ms),
                         lat, lon, speed_mps);
}

std::string JsonLine(std::string_view vehicle, int64_t unix_ms, double lat, double lon,
                     double speed_mps) {
  return absl::StrFormat(
      "{\"vehicle_id\":\"%s\",\"timestamp\":%d,\"lat\":%.6f,\"lon\":%.6f,\"speed_mps\":%.1f}\n",
      std::string(vehicle), unix_ms, lat, lon, speed_mps);
}

std::string WithNmeaChecksum(std::string_view body) {
  unsigned sum = 0;
  for (char c : body) sum ^= static_cast<unsigned char>(c);
  return absl::StrFormat("$%s*%02X\r\n", std::string(body), sum);
}

std::string NmeaIdentify(std::string_view vehicle) {
  return WithNmeaChecksum(absl::StrCat("PFSID,", std::string(vehicle)));
}

std::string NmeaRmc(int64_t unix_ms, double lat, double lon, double speed_knots) {
  const absl::Time t = absl::FromUnixMillis(unix_ms);
  return WithNmeaChecksum(absl::StrFormat(
      "GPRMC,%s,A,%s,%c,%s,%c,%.1f,,%s,,,A", absl::FormatTime("%H%M%E2S", t, absl::UTCTimeZone()),
      NmeaAngle(lat, 2), lat >= 0 ? 'N' : 'S', NmeaAngle(lon, 3), lon >= 0 ? 'E' : 'W', speed_knots,
      absl::FormatTime("%d%m%y", t, absl::UTCTimeZone())));
}

std::string NmeaGga(int64_t unix_ms, double lat, double lon, double altitude_m, int satellites) {
  const absl::Time t = absl::FromUnixMillis(unix_ms);
  return WithNmeaChecksum(absl::StrFormat(
      "GNGGA,%s,%s,%c,%s,%c,1,%02d,0.9,%.1f,M,46.9,M,,",
      absl::FormatTime("%H%M%E2S", t, absl::UTCTimeZone()), NmeaAngle(lat, 2), lat >= 0 ? 'N' : 'S',
      NmeaAngle(lon, 3), lon >= 0 ? 'E' : 'W', satellites, altitude_m));
}

}  // namespace fixstream::testing
