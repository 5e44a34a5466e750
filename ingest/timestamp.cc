#include "ingest/timestamp.h"

#include <limits>

#include "ingest/byte_scan.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kMinYear = 1970;
constexpr int64_t kMaxYear = 9999;

bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') <= 9; }

// Reads exactly `n` digits at `p`. The caller has checked the length.
bool ReadDigits(const char* p, int n, int* out) {
  int value = 0;
  for (int i = 0; i < n; ++i) {
    if (!IsDigit(p[i])) return false;
    value = value * 10 + (p[i] - '0');
  }
  *out = value;
  return true;
}

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

}  // namespace

// Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
// calendar and free of the libc time zone machinery (timegm is neither
// portable nor allocation-free).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t yoe = year - era * 400;
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsValidDate(int64_t year, int month, int day) {
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const int limit = kDaysInMonth[month - 1] + (month == 2 && IsLeapYear(year) ? 1 : 0);
  return day <= limit;
}

bool CivilToUnixNanos(int64_t year, int month, int day, int hour, int minute, int second,
                      int64_t nanos, int64_t* unix_ns) {
  if (year < kMinYear || year > kMaxYear || !IsValidDate(year, month, day)) return false;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60 ||
      nanos < 0 || nanos >= kNanosPerSecond) {
    return false;
  }
  if (second == 60) {
    second = 59;
    nanos = kNanosPerSecond - 1;
  }
  const int64_t seconds =
      DaysFromCivil(year, month, day) * 86'400 + hour * 3'600 + minute * 60 + second;
  // Years up to 9999 fit in int64 seconds but not in int64 nanoseconds.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / kNanosPerSecond;
  if (seconds > kMaxSeconds) return false;
  const int64_t whole = seconds * kNanosPerSecond;
  if (nanos > std::numeric_limits<int64_t>::max() - whole) return false;
  *unix_ns = whole + nanos;
  return true;
}

bool ParseRfc3339(std::string_view text, int64_t* unix_ns) {
  // Shortest form: "YYYY-MM-DDTHH:MM:SSZ" (20 bytes).
  if (text.size() < 20) return false;
  const char* p = text.data();
  int year, month, day, hour, minute, second;
  if (!ReadDigits(p, 4, &year) || p[4] != '-' || !ReadDigits(p + 5, 2, &month) || p[7] != '-' ||
      !ReadDigits(p + 8, 2, &day) || (p[10] != 'T' && p[10] != 't') ||
      !ReadDigits(p + 11, 2, &hour) || p[13] != ':' || !ReadDigits(p + 14, 2, &minute) ||
      p[16] != ':' || !ReadDigits(p + 17, 2, &second)) {
    return false;
  }
  size_t i = 19;
  int64_t nanos = 0;
  if (text[i] == '.') {
    ++i;
    int digits = 0;
    while (i < text.size() && IsDigit(text[i])) {
      if (++digits > 9) return false;
      nanos = nanos * 10 + (text[i] - '0');
      ++i;
    }
    if (digits == 0) return false;
    for (int d = digits; d < 9; ++d) nanos *= 10;
  }
  if (i >= text.size()) return false;
  int64_t offset_seconds = 0;
  const char zone = text[i];
  if (zone == 'Z' || zone == 'z') {
    ++i;
  } else if (zone == '+' || zone == '-') {
    int offset_hours, offset_minutes;
    if (text.size() - i < 6 || !ReadDigits(p + i + 1, 2, &offset_hours) || p[i + 3] != ':' ||
        !ReadDigits(p + i + 4, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return false;
    }
    offset_seconds = (offset_hours * 60 + offset_minutes) * 60;
    if (zone == '-') offset_seconds = -offset_seconds;
    i += 6;
  } else {
    return false;
  }
  if (i != text.size()) return false;

  int64_t local_ns;
  if (!CivilToUnixNanos(year, month, day, hour, minute, second, nanos, &local_ns)) {
    // A local time in the first hours of 1970 with a negative offset, or near
    // the 2262 limit with a positive one, can still be a valid UTC instant,
    // but no vehicle sends those; rejecting keeps the check simple.
    return false;
  }
  // UTC = local - offset.
  const int64_t offset_ns = offset_seconds * kNanosPerSecond;
  if (offset_ns > 0 ? local_ns < offset_ns
                    : local_ns > std::numeric_limits<int64_t>::max() + offset_ns) {
    return false;  // before the epoch or past the int64 range
  }
  *unix_ns = local_ns - offset_ns;
  return true;
}

bool ParseUnixMillis(std::string_view text, int64_t* unix_ns) {
  // 18 digits always fit in int64, so the loop needs no per-digit overflow
  // check; one comparison at the end bounds the result.
  if (text.empty() || text.size() > 18) return false;
  constexpr int64_t kMaxMillis = std::numeric_limits<int64_t>::max() / 1'000'000;
  int64_t millis = 0;
  // Eight digits at a time: millisecond timestamps have 13.
  size_t i = 0;
  for (; text.size() - i >= 8; i += 8) {
    const uint64_t word = internal::LoadWord(text.data() + i);
    if (!internal::AllDigits(word)) return false;
    millis = millis * 100'000'000 + internal::EightDigitsValue(word);
  }
  for (; i < text.size(); ++i) {
    if (!IsDigit(text[i])) return false;
    millis = millis * 10 + (text[i] - '0');
  }
  if (millis > kMaxMillis) return false;
  *unix_ns = millis * 1'000'000;
  return true;
}

bool ParseTimestamp(std::string_view text, int64_t* unix_ns) {
  // RFC 3339 always has '-' at index 4; Unix ms never does.
  if (text.size() > 4 && text[4] == '-') return ParseRfc3339(text, unix_ns);
  return ParseUnixMillis(text, unix_ns);
}

}  // namespace fixstream::ingest
