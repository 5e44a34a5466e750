// Timestamps as vehicles send them, converted to Unix nanoseconds (UTC).
//
// Two forms are accepted:
//   - RFC 3339 date-times: "2026-11-24T10:15:30Z", with an optional fraction
//     of 1 to 9 digits and a "Z" or "+hh:mm"/"-hh:mm" offset. "t" and "z" may
//     be lower case; a space instead of "T" is rejected.
//   - Unix milliseconds: a non-empty string of ASCII digits.
// A leap second (second 60) is accepted and read as the last representable
// instant of that minute, hh:mm:59.999999999, so ordering is preserved and no
// two distinct leap-second readings collapse onto a later minute.
//
// The result must lie in [1970-01-01T00:00:00Z, 2262-04-11T23:47:16.854775807Z]:
// years before 1970 or after 9999 are rejected outright, and the int64
// nanosecond range ends in 2262.
//
// All functions are pure arithmetic (no libc time zone calls, no allocation)
// and thread-safe.
#ifndef FIXSTREAM_INGEST_TIMESTAMP_H_
#define FIXSTREAM_INGEST_TIMESTAMP_H_

#include <cstdint>
#include <string_view>

namespace fixstream::ingest {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kNanosPerDay = 86'400 * kNanosPerSecond;

// Days since 1970-01-01 of a proleptic Gregorian date. Precondition: the date
// is valid (see IsValidDate).
int64_t DaysFromCivil(int64_t year, int month, int day);

// True if year/month/day names a real day (leap years included).
bool IsValidDate(int64_t year, int month, int day);

// Converts a UTC civil time to Unix nanoseconds. Validates every field
// (hour < 24, minute < 60, second <= 60, nanos < 1e9, year in [1970, 9999])
// and the int64 range. Second 60 is read as second 59 + 999999999 ns.
// Returns false if anything is out of range.
bool CivilToUnixNanos(int64_t year, int month, int day, int hour, int minute, int second,
                      int64_t nanos, int64_t* unix_ns);

// Parses an RFC 3339 date-time (see the file comment). Returns false on any
// syntax or range error; `*unix_ns` is unspecified then.
bool ParseRfc3339(std::string_view text, int64_t* unix_ns);

// Parses non-negative integer Unix milliseconds. Returns false if `text` is
// not 1+ ASCII digits or the value overflows int64 nanoseconds.
bool ParseUnixMillis(std::string_view text, int64_t* unix_ns);

// ParseUnixMillis if `text` is all digits, ParseRfc3339 otherwise.
bool ParseTimestamp(std::string_view text, int64_t* unix_ns);

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_TIMESTAMP_H_
