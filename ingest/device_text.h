// Helpers the device protocol decoders share: field splitting without
// allocation, the number, coordinate and date forms trackers send, and the
// common end of decoding a position (id, range and fix-time checks, emit).
//
// Internal to the ingest library. Thread-safe, allocation-free.
#ifndef FIXSTREAM_INGEST_DEVICE_TEXT_H_
#define FIXSTREAM_INGEST_DEVICE_TEXT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/device_protocol.h"
#include "ingest/line_outcome.h"
#include "ingest/line_parser.h"
#include "ingest/location_record.h"
#include "ingest/validate.h"

namespace fixstream::ingest::internal {

inline constexpr double kKnotsToMps = 1852.0 / 3600.0;
inline constexpr double kKmhToMps = 1000.0 / 3600.0;

// Up to N fields of a message split at one delimiter. A message with more
// fields keeps the rest, delimiters and all, in the last one (`overflow`).
template <size_t N>
struct Fields {
  std::array<std::string_view, N> field;
  size_t count = 0;
  bool overflow = false;
  // Field i, or "" past the end.
  std::string_view operator[](size_t i) const { return i < count ? field[i] : std::string_view(); }
  size_t size() const { return count; }
};

// One pass over the bytes (fields are short: a call per field to memchr
// costs more than it saves).
template <size_t N>
Fields<N> Split(std::string_view text, char delimiter) {
  Fields<N> f;
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* begin = p;
  for (; p != end; ++p) {
    if (*p != delimiter) continue;
    if (f.count == N - 1) {
      f.field[f.count++] = std::string_view(begin, end - begin);
      f.overflow = true;
      return f;
    }
    f.field[f.count++] = std::string_view(begin, p - begin);
    begin = p + 1;
  }
  f.field[f.count++] = std::string_view(begin, end - begin);
  return f;
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool AllDigits(std::string_view s);  // non-empty and only 0-9
std::string_view TrimSpaces(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);

// A decimal number ("12.5", "-3", "+04.72", " 3.34"): spaces around and one
// leading '+' allowed, then what ParseDouble accepts, but finite only.
bool ParseDecimal(std::string_view s, double* value);
// Exactly `n` (1..9) digits at s[0..n).
bool ParseFixedDigits(std::string_view s, size_t n, int* value);

// NMEA-style [ddd]mm.mmmm (0 to 3 digits of degrees, then minutes) to
// degrees. False if unparsable or minutes >= 60.
bool ParseDegreesMinutes(std::string_view s, double* degrees);
// Applies a hemisphere letter ('N','S','E','W'); false for anything else.
bool ApplyHemisphere(char hemisphere, double* degrees);

// hhmmss[.f...] into nanoseconds of the day.
bool ParseHhmmss(std::string_view s, int64_t* nanos_of_day);
// ddmmyy (or yymmdd with `year_first`) into days since 1970 (years 2000-2099).
bool ParseSixDigitDate(std::string_view s, bool year_first, int64_t* days);
// yyyyMMddHHmmss or yyMMddHHmmss into Unix nanoseconds.
bool ParseCompactDateTime(std::string_view s, int64_t* unix_ns);

// The common end of a decoded position. Sets the record's id (`id`, else the
// decoder's remembered one), checks it, the ranges and the fix time, emits
// the record and remembers the id. Returns kPublished or the rejection.
// `valid` false (the device marked the fix invalid) yields kNoFix and emits
// nothing, after the id checks.
LineOutcome FinishPosition(std::string_view id, std::string_view remembered_id, bool valid,
                           const ProtocolDecoderOptions& options, int64_t receive_time_unix_ns,
                           LocationRecord& record, RecordSink& sink);

// kPublished-or-not id check for messages without a position: the id to use
// (`id`, else `remembered_id`), or a rejection in *outcome.
bool ResolveId(std::string_view id, std::string_view remembered_id, std::string_view* resolved,
               LineOutcome* outcome);

// Appends "yyyyMMddHHmmss" (or "yyMMddHHmmss" with `short_year`) of `unix_ns`.
void AppendCompactDateTime(int64_t unix_ns, bool short_year, std::string* out);
// Appends `value` as `width` upper-case hex digits.
void AppendHex(uint32_t value, int width, std::string* out);

}  // namespace fixstream::ingest::internal

#endif  // FIXSTREAM_INGEST_DEVICE_TEXT_H_
