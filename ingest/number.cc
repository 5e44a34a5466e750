#include "ingest/number.h"

#include <charconv>
#include <system_error>

namespace fixstream::ingest {
namespace internal {
const double kExactPowersOfTen[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
}  // namespace internal

namespace {

bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') <= 9; }

NumberStatus ParseWithFromChars(std::string_view text, double* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  if (ec == std::errc::invalid_argument || ptr != end) return NumberStatus::kInvalid;
  if (ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  return NumberStatus::kOk;
}

}  // namespace

NumberStatus ParseDouble(std::string_view text, double* value) {
  // Clinger's fast path: when the decimal mantissa m < 2^53 and the number of
  // fraction digits f <= 22, both m and 10^f are exact doubles, so the single
  // IEEE division m / 10^f is the correctly rounded value -- the same bits
  // from_chars returns. Only "[-]digits[.digits]" with at most 15 significant
  // digits is taken here (15 digits always stay below 2^53).
  //
  // Kept because it measured faster than both std::from_chars and
  // fast_float::from_chars on the numbers the line formats carry, and one
  // digit at a time: reading fraction digits four or eight at a time
  // measured no faster (bench/number_bench.cc, docs/PERFORMANCE.md).
  const char* p = text.data();
  const char* const end = p + text.size();
  const bool negative = p != end && *p == '-';
  if (negative) ++p;
  const char* const int_begin = p;
  uint64_t mantissa = 0;
  while (p != end && IsDigit(*p)) {
    mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
    ++p;
  }
  size_t digits = p - int_begin;
  size_t fraction_digits = 0;
  bool fast = digits > 0;
  if (fast && p != end) {
    if (*p == '.') {
      ++p;
      const char* const frac_begin = p;
      while (p != end && IsDigit(*p)) {
        mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
        ++p;
      }
      fraction_digits = p - frac_begin;
      digits += fraction_digits;
      fast = fraction_digits > 0 && p == end;
    } else {
      fast = false;
    }
  }
  // Leading zeros count as digits here, so "0.000001234" qualifies only while
  // the total stays <= 15; longer inputs are still correct via from_chars.
  if (fast && digits <= 15) {
    double result = static_cast<double>(mantissa);
    if (fraction_digits > 0) result /= internal::kExactPowersOfTen[fraction_digits];
    *value = negative ? -result : result;
    return NumberStatus::kOk;
  }
  return ParseWithFromChars(text, value);
}

bool ParseSmallUnsigned(std::string_view text, uint32_t* value) {
  if (text.empty() || text.size() > 9) return false;
  uint32_t result = 0;
  for (char c : text) {
    if (!IsDigit(c)) return false;
    result = result * 10 + static_cast<uint32_t>(c - '0');
  }
  *value = result;
  return true;
}

}  // namespace fixstream::ingest
