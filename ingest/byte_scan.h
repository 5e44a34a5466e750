// Eight-bytes-at-a-time scanning of a line (SWAR: SIMD within a register), for
// the parsers' single pass over a line: finding every ',' of a CSV line, and
// the NMEA checksum, printable check and field split in one loop.
//
// A mask has bit 7 of byte i set iff byte i of the word (in memory order)
// matches, and no other bits, so FirstByte() and clearing the lowest set bit
// walk the matches in order. Exact: no false positives from carries.
//
// Internal to the ingest library. Thread-safe, allocation-free; every
// function reads exactly the 8 bytes it is given.
#ifndef FIXSTREAM_INGEST_BYTE_SCAN_H_
#define FIXSTREAM_INGEST_BYTE_SCAN_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace fixstream::ingest::internal {

// The mask layout below maps memory order to bit order.
static_assert(std::endian::native == std::endian::little, "byte_scan.h assumes little endian");

inline constexpr uint64_t kLowBytes = 0x0101010101010101ull;
inline constexpr uint64_t kHighBits = 0x8080808080808080ull;
inline constexpr uint64_t kLow7Bits = 0x7f7f7f7f7f7f7f7full;

// Reads p[0..8). Precondition: all eight bytes are readable.
inline uint64_t LoadWord(const char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// Bytes equal to zero.
inline uint64_t ZeroBytes(uint64_t word) {
  // Adding 0x7f to the low seven bits sets bit 7 unless they are all zero and
  // never carries into the next byte; or-ing in the byte itself catches 0x80.
  return ~(((word & kLow7Bits) + kLow7Bits) | word | kLow7Bits);
}

// Bytes equal to `c`.
inline uint64_t MatchingBytes(uint64_t word, char c) {
  return ZeroBytes(word ^ (kLowBytes * static_cast<uint8_t>(c)));
}

// Bytes outside printable ASCII [0x20, 0x7e].
inline uint64_t NonPrintableBytes(uint64_t word) {
  const uint64_t low7 = word & kLow7Bits;
  // Neither sum carries out of its byte (low7 <= 0x7f).
  const uint64_t at_least_space = (low7 + kLowBytes * 0x60) & kHighBits;
  const uint64_t is_delete = (low7 + kLowBytes * 0x01) & kHighBits;
  return (word & kHighBits) | (at_least_space ^ kHighBits) | is_delete;
}

// Index (0..7) of the first matching byte. Precondition: mask != 0.
inline size_t FirstByte(uint64_t mask) { return static_cast<size_t>(std::countr_zero(mask)) / 8; }

// Bytes before byte index `n` (0..7).
inline uint64_t BytesBefore(size_t n) { return (uint64_t{1} << (8 * n)) - 1; }

// True if all eight bytes are ASCII digits.
inline bool AllDigits(uint64_t word) {
  // A byte below '0' borrows into bit 7 of (word - '0'); one above '9'
  // carries into bit 7 of (word + 0x46); a byte >= 0x80 shows in both.
  return (((word + kLowBytes * 0x46) | (word - kLowBytes * '0')) & kHighBits) == 0;
}

// The value of eight ASCII digits, first byte most significant.
// Precondition: AllDigits(word).
inline uint32_t EightDigitsValue(uint64_t word) {
  word -= kLowBytes * '0';
  word = (word * 10) + (word >> 8);  // adjacent pairs: bytes 0, 2, 4, 6 hold 0..99
  constexpr uint64_t kPairMask = 0x000000FF000000FFull;
  constexpr uint64_t kMul1 = 100 + (1000000ull << 32);
  constexpr uint64_t kMul2 = 1 + (10000ull << 32);
  return static_cast<uint32_t>(
      (((word & kPairMask) * kMul1) + (((word >> 16) & kPairMask) * kMul2)) >> 32);
}

// Reads p[0..4). Precondition: all four bytes are readable.
inline uint32_t LoadHalfWord(const char* p) {
  uint32_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// AllDigits for four bytes.
inline bool AllDigits(uint32_t word) {
  constexpr uint32_t kLow = 0x01010101u;
  return (((word + kLow * 0x46) | (word - kLow * '0')) & 0x80808080u) == 0;
}

// The value of four ASCII digits, first byte most significant.
// Precondition: AllDigits(word).
inline uint32_t FourDigitsValue(uint32_t word) {
  word -= 0x30303030u;
  word = (word * 10) + (word >> 8);  // bytes 0 and 2 hold 0..99
  return (word & 0xff) * 100 + ((word >> 16) & 0xff);
}

}  // namespace fixstream::ingest::internal

#endif  // FIXSTREAM_INGEST_BYTE_SCAN_H_
