#include "gateway/common/sha256.h"

#include <cctype>
#include <string>

#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

constexpr char kFoo[] = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

TEST(Sha256Test, DigestsAndReadsBackItsHex) {
  Sha256Digest parsed;
  ASSERT_TRUE(ParseSha256Hex(kFoo, &parsed));
  EXPECT_EQ(Sha256("foo"), parsed);
  std::string upper = kFoo;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Sha256Digest from_upper;
  ASSERT_TRUE(ParseSha256Hex(upper, &from_upper));
  EXPECT_EQ(from_upper, parsed);
  EXPECT_NE(Sha256("fo"), parsed);
}

TEST(Sha256Test, RejectsAnythingButSixtyFourHexDigits) {
  Sha256Digest digest{};
  digest[0] = 7;
  EXPECT_FALSE(ParseSha256Hex("", &digest));
  EXPECT_FALSE(ParseSha256Hex(std::string(kFoo).substr(1), &digest));
  EXPECT_FALSE(ParseSha256Hex(std::string(kFoo) + "0", &digest));
  EXPECT_FALSE(ParseSha256Hex(std::string(kFoo).replace(10, 1, "g"), &digest));
  EXPECT_EQ(digest[0], 7) << "left alone on an error";
}

}  // namespace
}  // namespace fixstream::gateway
