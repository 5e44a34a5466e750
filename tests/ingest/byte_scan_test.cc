#include "ingest/byte_scan.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest::internal {
namespace {

uint64_t WordOf(const char (&bytes)[8]) {
  uint64_t word;
  std::memcpy(&word, bytes, sizeof word);
  return word;
}

// Every byte value at every position, against a filler that could carry or
// borrow into its neighbours (0x00, 0x7f, 0xff) or not ('5').
TEST(ByteScanTest, MasksAreExactForEveryByteAtEveryPosition) {
  for (int filler : {0x00, int{'5'}, 0x7f, 0xff, int{','}}) {
    for (size_t pos = 0; pos < 8; ++pos) {
      for (int b = 0; b < 256; ++b) {
        char bytes[8];
        std::memset(bytes, filler, sizeof bytes);
        bytes[pos] = static_cast<char>(b);
        const uint64_t word = WordOf(bytes);
        uint64_t want_comma = 0, want_nonprintable = 0;
        bool want_digits = true;
        for (size_t i = 0; i < 8; ++i) {
          const auto c = static_cast<unsigned char>(bytes[i]);
          if (c == ',') want_comma |= uint64_t{0x80} << (8 * i);
          if (c < 0x20 || c > 0x7e) want_nonprintable |= uint64_t{0x80} << (8 * i);
          if (c < '0' || c > '9') want_digits = false;
        }
        EXPECT_EQ(MatchingBytes(word, ','), want_comma) << filler << " " << pos << " " << b;
        EXPECT_EQ(NonPrintableBytes(word), want_nonprintable) << filler << " " << pos << " " << b;
        EXPECT_EQ(AllDigits(word), want_digits) << filler << " " << pos << " " << b;
      }
    }
  }
}

TEST(ByteScanTest, FirstByteAndBytesBeforeFollowMemoryOrder) {
  const char bytes[8] = {'a', 'b', ',', 'c', ',', 'd', 'e', ','};
  uint64_t mask = MatchingBytes(WordOf(bytes), ',');
  EXPECT_EQ(FirstByte(mask), 2u);
  mask &= mask - 1;
  EXPECT_EQ(FirstByte(mask), 4u);
  mask &= mask - 1;
  EXPECT_EQ(FirstByte(mask), 7u);
  EXPECT_EQ(MatchingBytes(WordOf(bytes), ',') & BytesBefore(4), uint64_t{0x80} << 16);
  EXPECT_EQ(BytesBefore(0), 0u);
}

TEST(ByteScanTest, EightDigitsValueReadsMostSignificantFirst) {
  for (const char* digits : {"00000000", "12345678", "99999999", "00000001", "10000000"}) {
    char bytes[8];
    std::memcpy(bytes, digits, 8);
    EXPECT_EQ(EightDigitsValue(WordOf(bytes)), std::stoul(digits)) << digits;
  }
}

TEST(ByteScanTest, FourByteDigitHelpersMatchEveryByte) {
  for (int filler : {int{'0'}, int{'9'}, 0x00, 0xff}) {
    for (size_t pos = 0; pos < 4; ++pos) {
      for (int b = 0; b < 256; ++b) {
        char bytes[4];
        std::memset(bytes, filler, sizeof bytes);
        bytes[pos] = static_cast<char>(b);
        uint32_t word;
        std::memcpy(&word, bytes, sizeof word);
        bool want = true;
        for (char c : bytes) want = want && c >= '0' && c <= '9';
        ASSERT_EQ(AllDigits(word), want) << filler << " " << pos << " " << b;
        if (want) {
          EXPECT_EQ(FourDigitsValue(word), std::stoul(std::string(bytes, 4)));
          EXPECT_EQ(LoadHalfWord(bytes), word);
        }
      }
    }
  }
}

}  // namespace
}  // namespace fixstream::ingest::internal
