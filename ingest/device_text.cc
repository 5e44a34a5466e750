#include "ingest/device_text.h"

#include <cmath>

#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool ParseDecimal(std::string_view s, double* value) {
  s = TrimSpaces(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || !(IsDigit(s.front()) || s.front() == '-' || s.front() == '.')) return false;
  if (ParseDouble(s, value) != NumberStatus::kOk) return false;
  return std::isfinite(*value);
}

bool ParseFixedDigits(std::string_view s, size_t n, int* value) {
  if (s.size() < n || n == 0 || n > 9) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!IsDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *value = v;
  return true;
}

bool ParseDegreesMinutes(std::string_view s, double* degrees) {
  s = TrimSpaces(s);
  const size_t dot = s.find('.');
  const size_t int_digits = dot == std::string_view::npos ? s.size() : dot;
  if (int_digits < 2 || int_digits > 5) return false;  // 0 to 3 digits of degrees
  for (size_t i = 0; i < int_digits; ++i) {
    if (!IsDigit(s[i])) return false;
  }
  double minutes;
  if (!ParseDecimal(s.substr(int_digits - 2), &minutes) || minutes < 0 || minutes >= 60) {
    return false;
  }
  int deg = 0;
  for (size_t i = 0; i < int_digits - 2; ++i) deg = deg * 10 + (s[i] - '0');
  *degrees = deg + minutes / 60.0;
  return true;
}

bool ApplyHemisphere(char hemisphere, double* degrees) {
  switch (hemisphere) {
    case 'N':
    case 'E':
      return true;
    case 'S':
    case 'W':
      *degrees = -*degrees;
      return true;
    default:
      return false;
  }
}

bool ParseHhmmss(std::string_view s, int64_t* nanos_of_day) {
  int h, m, sec;
  if (s.size() < 6 || !ParseFixedDigits(s, 2, &h) || !ParseFixedDigits(s.substr(2), 2, &m) ||
      !ParseFixedDigits(s.substr(4), 2, &sec) || h > 23 || m > 59 || sec > 60) {
    return false;
  }
  int64_t frac = 0;
  if (s.size() > 6) {
    if (s[6] != '.' || s.size() == 7 || s.size() > 16) return false;
    int64_t scale = kNanosPerSecond;
    for (size_t i = 7; i < s.size(); ++i) {
      if (!IsDigit(s[i])) return false;
      scale /= 10;
      frac += (s[i] - '0') * scale;
    }
  }
  if (sec == 60) {
    sec = 59;
    frac = kNanosPerSecond - 1;
  }
  *nanos_of_day = ((h * 60 + m) * 60 + sec) * kNanosPerSecond + frac;
  return true;
}

bool ParseSixDigitDate(std::string_view s, bool year_first, int64_t* days) {
  int a, b, c;
  if (s.size() != 6 || !ParseFixedDigits(s, 2, &a) || !ParseFixedDigits(s.substr(2), 2, &b) ||
      !ParseFixedDigits(s.substr(4), 2, &c)) {
    return false;
  }
  const int year = 2000 + (year_first ? a : c);
  const int day = year_first ? c : a;
  if (!IsValidDate(year, b, day)) return false;
  *days = DaysFromCivil(year, b, day);
  return true;
}

bool ParseCompactDateTime(std::string_view s, int64_t* unix_ns) {
  int year = 0;
  if (s.size() == 14 && AllDigits(s)) {
    ParseFixedDigits(s, 4, &year);
    s.remove_prefix(4);
  } else if (s.size() == 12 && AllDigits(s)) {
    ParseFixedDigits(s, 2, &year);
    year += 2000;
    s.remove_prefix(2);
  } else {
    return false;
  }
  int month = 0, day = 0, hour = 0, minute = 0, second = 0;
  ParseFixedDigits(s, 2, &month);
  ParseFixedDigits(s.substr(2), 2, &day);
  ParseFixedDigits(s.substr(4), 2, &hour);
  ParseFixedDigits(s.substr(6), 2, &minute);
  ParseFixedDigits(s.substr(8), 2, &second);
  if (!IsValidDate(year, month, day)) return false;
  return CivilToUnixNanos(year, month, day, hour, minute, second, 0, unix_ns);
}

bool ResolveId(std::string_view id, std::string_view remembered_id, std::string_view* resolved,
               LineOutcome* outcome) {
  if (id.empty()) id = remembered_id;
  if (id.empty()) {
    *outcome = LineOutcome::kUnknownVehicle;
    return false;
  }
  if (!IsValidVehicleId(id)) {
    *outcome = LineOutcome::kBadVehicleId;
    return false;
  }
  *resolved = id;
  return true;
}

LineOutcome FinishPosition(std::string_view id, std::string_view remembered_id, bool valid,
                           const ProtocolDecoderOptions& options, int64_t receive_time_unix_ns,
                           LocationRecord& record, RecordSink& sink) {
  std::string_view resolved;
  LineOutcome outcome;
  if (!ResolveId(id, remembered_id, &resolved, &outcome)) return outcome;
  if (!valid) return LineOutcome::kNoFix;
  record.set_vehicle_id(resolved);
  if (!std::isfinite(record.latitude) || !std::isfinite(record.longitude) || !IsInRange(record)) {
    return LineOutcome::kOutOfRange;
  }
  const LineOutcome time =
      CheckFixTime(record.fix_time_unix_ns, receive_time_unix_ns, options.fix_time_window);
  if (time != LineOutcome::kPublished) return time;
  sink.OnRecord(record);
  return LineOutcome::kPublished;
}

namespace {

// Howard Hinnant's civil_from_days (the inverse of DaysFromCivil).
void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

char* PutTwo(int v, char* p) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

}  // namespace

void AppendCompactDateTime(int64_t unix_ns, bool short_year, std::string* out) {
  int64_t secs = unix_ns / kNanosPerSecond;
  if (unix_ns < 0 && secs * kNanosPerSecond != unix_ns) --secs;
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  int64_t year;
  int month, day;
  CivilFromDays(days, &year, &month, &day);
  char buf[14];
  char* p = buf;
  if (!short_year) p = PutTwo(static_cast<int>(year / 100), p);
  p = PutTwo(static_cast<int>(year % 100), p);
  p = PutTwo(month, p);
  p = PutTwo(day, p);
  p = PutTwo(static_cast<int>(sod / 3600), p);
  p = PutTwo(static_cast<int>(sod / 60 % 60), p);
  p = PutTwo(static_cast<int>(sod % 60), p);
  out->append(buf, p - buf);
}

void AppendHex(uint32_t value, int width, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int i = width - 1; i >= 0; --i) out->push_back(kHex[(value >> (4 * i)) & 0xf]);
}

}  // namespace fixstream::ingest::internal
