// Decimal number parsing for the line formats.
//
// ParseDouble accepts exactly what std::from_chars(first, last, double&) with
// std::chars_format::general accepts and must consume the whole text; it
// returns bit-identical values. Plain decimals of up to 15 significant digits
// (the common case: "52.520008", "-13.4049") take an exact fast path; anything
// else (exponents, long mantissas, "nan", "inf") goes to std::from_chars.
//
// Thread-safe, allocation-free.
#ifndef FIXSTREAM_INGEST_NUMBER_H_
#define FIXSTREAM_INGEST_NUMBER_H_

#include <cstdint>
#include <string_view>

namespace fixstream::ingest {

enum class NumberStatus : uint8_t {
  kOk,
  kInvalid,     // empty, not a number, or trailing characters
  kOutOfRange,  // syntactically a number, but beyond double's range
};

NumberStatus ParseDouble(std::string_view text, double* value);

// Parses 1 to 9 ASCII digits into `*value`. Returns false otherwise.
bool ParseSmallUnsigned(std::string_view text, uint32_t* value);

namespace internal {
// Exact powers of ten representable in a double: 1e0 .. 1e22.
extern const double kExactPowersOfTen[23];
}  // namespace internal

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_NUMBER_H_
