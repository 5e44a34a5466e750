#include "ingest/number.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

// The reference: what std::from_chars says about the whole text.
NumberStatus Reference(std::string_view text, double* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  if (ec == std::errc::invalid_argument || ptr != end) return NumberStatus::kInvalid;
  if (ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  return NumberStatus::kOk;
}

void ExpectSameAsFromChars(std::string_view text) {
  double got = 0, want = 0;
  const NumberStatus got_status = ParseDouble(text, &got);
  const NumberStatus want_status = Reference(text, &want);
  ASSERT_EQ(got_status, want_status) << "'" << text << "'";
  if (got_status == NumberStatus::kOk && !std::isnan(want)) {
    ASSERT_EQ(std::bit_cast<uint64_t>(got), std::bit_cast<uint64_t>(want)) << "'" << text << "'";
  }
}

TEST(ParseDoubleTest, AgreesWithFromCharsOnEdgeCases) {
  for (std::string_view text :
       {"0",
        "-0",
        "1",
        "-1",
        "52.520008",
        "-13.404954",
        "0.1",
        "0.3",
        "123456789012345",
        "1234567890123456",
        "12345678901234567890",
        "0.000000000000001",
        "1.7976931348623157e308",
        "1e999",
        "1e-999",
        "nan",
        "inf",
        "-inf",
        "infinity",
        "NaN",
        "1e5",
        "1E5",
        ".5",
        "5.",
        "-",
        "",
        "+1",
        "1.2.3",
        "1,5",
        " 1",
        "1 ",
        "0x10",
        "--1",
        "1e",
        "00012.5000",
        "90.000000000000000000000000000000001",
        "0.00000000000000000000000000000000000000000000000000000000000000000000000000001"}) {
    ExpectSameAsFromChars(text);
  }
}

TEST(ParseDoubleTest, AgreesWithFromCharsOnRandomDecimals) {
  std::mt19937_64 rng(42);
  std::string text;
  for (int i = 0; i < 200'000; ++i) {
    text.clear();
    if (rng() % 2) text.push_back('-');
    const int int_digits = static_cast<int>(rng() % 8);
    for (int d = 0; d < int_digits; ++d) text.push_back(static_cast<char>('0' + rng() % 10));
    if (rng() % 4 != 0) {
      text.push_back('.');
      const int frac_digits = static_cast<int>(rng() % 18);
      for (int d = 0; d < frac_digits; ++d) text.push_back(static_cast<char>('0' + rng() % 10));
    }
    ExpectSameAsFromChars(text);
  }
}

// Fraction digits are read four and eight at a time; a stray byte at any
// offset of any chunk must end the number exactly where from_chars ends it.
TEST(ParseDoubleTest, AgreesWithFromCharsWithStrayByteInFraction) {
  for (size_t frac_digits = 1; frac_digits <= 17; ++frac_digits) {
    for (size_t at = 0; at < frac_digits; ++at) {
      for (char stray : {'e', '.', '/', ':', '\0', '\xb9', '-'}) {
        std::string text = "52." + std::string(frac_digits, '7');
        text[3 + at] = stray;
        ExpectSameAsFromChars(text);
        ExpectSameAsFromChars(text + "1");
        ExpectSameAsFromChars("-" + text);
      }
    }
  }
}

TEST(ParseDoubleTest, ReportsOutOfRangeForHugeNumbers) {
  double value;
  EXPECT_EQ(ParseDouble("1e400", &value), NumberStatus::kOutOfRange);
  EXPECT_EQ(ParseDouble(std::string(400, '9'), &value), NumberStatus::kOutOfRange);
  // A long mantissa that fits is fine (and exact, via from_chars).
  EXPECT_EQ(ParseDouble("52." + std::string(300, '5'), &value), NumberStatus::kOk);
  ExpectSameAsFromChars("52." + std::string(300, '5'));
}

TEST(ParseSmallUnsignedTest, AcceptsOnlyShortDigitStrings) {
  uint32_t v;
  EXPECT_TRUE(ParseSmallUnsigned("08", &v));
  EXPECT_EQ(v, 8u);
  EXPECT_TRUE(ParseSmallUnsigned("999999999", &v));
  EXPECT_FALSE(ParseSmallUnsigned("1234567890", &v));
  EXPECT_FALSE(ParseSmallUnsigned("", &v));
  EXPECT_FALSE(ParseSmallUnsigned("1a", &v));
  EXPECT_FALSE(ParseSmallUnsigned("-1", &v));
}

}  // namespace
}  // namespace fixstream::ingest
