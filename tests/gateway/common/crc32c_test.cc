#include "gateway/common/crc32c.h"

#include <cstring>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace fixstream::gateway::crc32c {
namespace {

// RFC 3720 (iSCSI), appendix B.4, plus the common check value.
TEST(Crc32cTest, MatchesStandardVectors) {
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(Value(ones), 0x62A8AB43u);
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Value(ascending), 0x46DD794Eu);
  EXPECT_EQ(Value(descending), 0x113FDB5Cu);
  EXPECT_EQ(Value(""), 0u);
}

TEST(Crc32cTest, SoftwareMatchesStandardVectors) {
  EXPECT_EQ(ExtendSoftware(0, "123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(ExtendSoftware(0, zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(Crc32cTest, ExtendEqualsValueOfConcatenation) {
  const std::string a = "hello, ";
  const std::string b = "journal world with more than eight bytes";
  EXPECT_EQ(Extend(Value(a), b.data(), b.size()), Value(a + b));
  EXPECT_EQ(ExtendSoftware(ExtendSoftware(0, a.data(), a.size()), b.data(), b.size()),
            Value(a + b));
}

TEST(Crc32cTest, HardwareAndSoftwareAgreeOnRandomBuffers) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937_64 rng(42);
  std::string buffer(4096 + 16, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  for (int round = 0; round < 2000; ++round) {
    // Every alignment and many lengths, including the 0-7 byte tails.
    const size_t offset = rng() % 16;
    const size_t size = round < 64 ? static_cast<size_t>(round) : rng() % 4096;
    const uint32_t seed = static_cast<uint32_t>(rng());
    const char* p = buffer.data() + offset;
    ASSERT_EQ(ExtendHardware(seed, p, size), ExtendSoftware(seed, p, size))
        << "offset " << offset << " size " << size;
  }
}

TEST(Crc32cTest, DetectsSingleBitFlips) {
  std::string data(100, 'x');
  const uint32_t good = Value(data);
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      data[i] ^= static_cast<char>(1 << bit);
      EXPECT_NE(Value(data), good);
      data[i] ^= static_cast<char>(1 << bit);
    }
  }
}

}  // namespace
}  // namespace fixstream::gateway::crc32c
