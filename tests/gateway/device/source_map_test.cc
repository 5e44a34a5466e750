#include "gateway/device/source_map.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "asio.hpp"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

SourceVehicleMap MustParse(std::string_view text) {
  absl::StatusOr<SourceVehicleMap> map = SourceVehicleMap::Parse(text, "vehicles.map");
  EXPECT_TRUE(map.ok()) << map.status();
  return map.ok() ? *std::move(map) : SourceVehicleMap();
}

TEST(SourceVehicleMapTest, MapsIpv4AndIpv6AddressesAndPrefixes) {
  const SourceVehicleMap map = MustParse(
      "# APN fleet\n"
      "\n"
      "10.20.0.7        truck-7   # a single tracker\n"
      "10.20.1.0/24\tbus-depot\r\n"
      "2001:db8::42     van-42\n"
      "2001:db8:1::/48  ferry\n"
      "   \n");
  EXPECT_EQ(map.size(), 4u);
  EXPECT_EQ(map.Lookup(Ip("10.20.0.7")), "truck-7");
  EXPECT_EQ(map.Lookup(Ip("10.20.1.200")), "bus-depot");
  EXPECT_EQ(map.Lookup(Ip("2001:db8::42")), "van-42");
  EXPECT_EQ(map.Lookup(Ip("2001:db8:1:ffff::9")), "ferry");
  EXPECT_EQ(map.Lookup(Ip("10.20.0.8")), "");
  EXPECT_EQ(map.Lookup(Ip("2001:db8::43")), "");
  EXPECT_EQ(map.Lookup(Ip("10.20.2.1")), "");
}

TEST(SourceVehicleMapTest, TheMostSpecificPrefixWins) {
  const SourceVehicleMap map = MustParse(
      "0.0.0.0/0 anyone\n"
      "10.0.0.0/8 ten\n"
      "10.1.0.0/16 ten-one\n"
      "10.1.2.3/32 exact\n"
      "::/0 anyone6\n"
      "2001:db8::/32 doc\n"
      "2001:db8::1/128 doc-one\n");
  EXPECT_EQ(map.Lookup(Ip("10.1.2.3")), "exact");
  EXPECT_EQ(map.Lookup(Ip("10.1.2.4")), "ten-one");
  EXPECT_EQ(map.Lookup(Ip("10.2.0.1")), "ten");
  EXPECT_EQ(map.Lookup(Ip("192.0.2.1")), "anyone");
  EXPECT_EQ(map.Lookup(Ip("2001:db8::1")), "doc-one");
  EXPECT_EQ(map.Lookup(Ip("2001:db8::2")), "doc");
  EXPECT_EQ(map.Lookup(Ip("2001:db9::1")), "anyone6");
}

TEST(SourceVehicleMapTest, PrefixesNeedNotFallOnByteBoundaries) {
  const SourceVehicleMap map = MustParse("192.0.2.64/27 a\n2001:db8:8000::/33 b\n");
  EXPECT_EQ(map.Lookup(Ip("192.0.2.64")), "a");
  EXPECT_EQ(map.Lookup(Ip("192.0.2.95")), "a");
  EXPECT_EQ(map.Lookup(Ip("192.0.2.96")), "");
  EXPECT_EQ(map.Lookup(Ip("192.0.2.63")), "");
  EXPECT_EQ(map.Lookup(Ip("2001:db8:ffff::1")), "b");
  EXPECT_EQ(map.Lookup(Ip("2001:db8:7fff::1")), "");
}

// A dual-stack listener ([::]:PORT) sees IPv4 peers as ::ffff:a.b.c.d.
TEST(SourceVehicleMapTest, Ipv4MappedPeersAreLookedUpAsIpv4) {
  const SourceVehicleMap map = MustParse("10.0.0.7 truck-7\n::ffff:10.0.1.0/120 mapped\n");
  EXPECT_EQ(map.Lookup(Ip("::ffff:10.0.0.7")), "truck-7");
  EXPECT_EQ(map.Lookup(Ip("10.0.1.9")), "mapped");
  EXPECT_EQ(map.Lookup(Ip("::ffff:10.0.1.9")), "mapped");
}

TEST(SourceVehicleMapTest, AnEmptyFileMapsNothing) {
  EXPECT_EQ(MustParse("").size(), 0u);
  EXPECT_EQ(MustParse("# nothing yet\n").Lookup(Ip("10.0.0.1")), "");
}

struct BadCase {
  const char* text;
  const char* error;  // the message starts "vehicles.map:<line>: " + this
};

TEST(SourceVehicleMapTest, BadLinesNameTheFileLineAndProblem) {
  const BadCase cases[] = {
      {"10.0.0.1 a\n10.0.0.300 b\n", "vehicles.map:2: bad address '10.0.0.300'"},
      {"host.example a\n", "vehicles.map:1: bad address 'host.example'"},
      {"10.0.0.0/33 a\n", "vehicles.map:1: bad prefix length in '10.0.0.0/33': must be 0 to 32"},
      {"2001:db8::/129 a\n", "vehicles.map:1: bad prefix length in '2001:db8::/129'"},
      {"10.0.0.0/ a\n", "vehicles.map:1: bad prefix length"},
      {"10.0.0.0/-1 a\n", "vehicles.map:1: bad prefix length"},
      {"10.0.0.0/8x a\n", "vehicles.map:1: bad prefix length"},
      {"10.0.0.7/24 a\n", "vehicles.map:1: '10.0.0.7/24' has bits set beyond its /24 prefix"},
      {"2001:db8::1/64 a\n", "vehicles.map:1: '2001:db8::1/64' has bits set beyond its /64"},
      {"\n\n10.0.0.1 bus 17\n", "vehicles.map:3: expected `ADDRESS[/PREFIX] VEHICLE_ID`"},
      {"10.0.0.1\n", "vehicles.map:1: expected `ADDRESS[/PREFIX] VEHICLE_ID`, got '10.0.0.1'"},
      {"10.0.0.1 bus/17\n", "vehicles.map:1: bad vehicle id 'bus/17'"},
      {"10.0.0.1 x\n10.0.0.1/32 y\n", "vehicles.map:2: '10.0.0.1/32' is already mapped on line 1"},
      {"10.0.0.0/8 x\n10.255.0.0/8 y\n", "vehicles.map:2: '10.255.0.0/8' has bits set"},
      {"fe80::1%eth0 a\n", "vehicles.map:1: bad address 'fe80::1%eth0': scope ids"},
      {"::ffff:10.0.0.0/64 a\n", "vehicles.map:1: bad prefix length in '::ffff:10.0.0.0/64'"},
      {"10.0.0.1 a\n::ffff:10.0.0.1 b\n", "vehicles.map:2: '::ffff:10.0.0.1' is already mapped"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<SourceVehicleMap> map = SourceVehicleMap::Parse(c.text, "vehicles.map");
    ASSERT_FALSE(map.ok()) << c.text;
    EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(map.status().message(), c.error))
        << c.text << "\n  got: " << map.status().message() << "\n  want: " << c.error;
  }
  // 64 characters is the longest vehicle id.
  EXPECT_TRUE(SourceVehicleMap::Parse("10.0.0.1 " + std::string(64, 'v'), "f").ok());
  EXPECT_FALSE(SourceVehicleMap::Parse("10.0.0.1 " + std::string(65, 'v'), "f").ok());
}

// A mapping file in a directory of its own.
class SourceMapFileTest : public ::testing::Test {
 protected:
  SourceMapFileTest() {
    char dir[] = "/tmp/source_map_test.XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/vehicles.map";
  }
  ~SourceMapFileTest() override { std::filesystem::remove_all(dir_); }

  // Replaced as operators should: written aside, renamed over.
  void Write(std::string_view text) {
    const std::string aside = path_ + ".new";
    std::ofstream(aside) << text;
    std::filesystem::rename(aside, path_);
  }

  // Polls until something other than kNone happens (a change is read at
  // the second poll that sees it), at most `polls` times.
  SourceMapFile::Change Poll(SourceMapFile& file, std::string* error, int polls = 3) {
    for (int i = 0; i < polls; ++i) {
      const SourceMapFile::Change change = file.CheckForChange(error);
      if (change != SourceMapFile::Change::kNone) return change;
    }
    return SourceMapFile::Change::kNone;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SourceMapFileTest, LoadsAtStartAndFailsClearly) {
  SourceMapFile missing(path_);
  const absl::Status status = missing.Load();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), path_ + ": cannot read the source map"))
      << status;
  Write("10.0.0.1 a\n10.0.0.2 b c\n");
  SourceMapFile bad(path_);
  EXPECT_TRUE(absl::StartsWith(bad.Load().message(), path_ + ":2: expected")) << bad.Load();
  Write("10.0.0.1 a\n");
  SourceMapFile good(path_);
  ASSERT_TRUE(good.Load().ok());
  EXPECT_EQ(good.map().Lookup(Ip("10.0.0.1")), "a");
}

TEST_F(SourceMapFileTest, ReloadsAChangedFileOnceItLooksTheSameTwice) {
  Write("10.0.0.1 a\n");
  SourceMapFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  std::string error;
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kNone) << "unchanged";
  Write("10.0.0.1 b\n10.0.0.2 c\n");
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kNone) << "settling";
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "a");
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kReloaded);
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "b");
  EXPECT_EQ(file.map().size(), 2u);
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kNone) << "read once";
}

TEST_F(SourceMapFileTest, AChangeWhileSettlingWaitsAgain) {
  Write("10.0.0.1 a\n");
  SourceMapFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  std::string error;
  Write("10.0.0.1 half");
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kNone);
  Write("10.0.0.1 whole\n");
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kNone) << "changed again";
  EXPECT_EQ(file.CheckForChange(&error), SourceMapFile::Change::kReloaded);
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "whole");
}

TEST_F(SourceMapFileTest, ABadReloadKeepsTheOldMapAndIsReportedOnce) {
  Write("10.0.0.1 a\n");
  SourceMapFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  std::string error;
  Write("10.0.0.1 a\n10.0.0.0/33 b\n");
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kFailed);
  EXPECT_TRUE(absl::StartsWith(error, path_ + ":2: bad prefix length")) << error;
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "a") << "the old map stays";
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kNone) << "the same bad file: no news";
  Write("10.0.0.1 fixed\n");
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kReloaded);
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "fixed");
}

TEST_F(SourceMapFileTest, ADeletedFileKeepsTheOldMapUntilItIsBack) {
  Write("10.0.0.1 a\n");
  SourceMapFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  std::string error;
  std::filesystem::remove(path_);
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kFailed);
  EXPECT_TRUE(absl::StrContains(error, "cannot read the source map")) << error;
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "a");
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kNone) << "still gone: reported once";
  Write("10.0.0.1 back\n");
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kReloaded);
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.1")), "back");
}

TEST_F(SourceMapFileTest, AnInPlaceEditIsSeenToo) {
  Write("10.0.0.1 a\n");
  SourceMapFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  std::string error;
  // Same inode, a different size.
  std::ofstream(path_, std::ios::app) << "10.0.0.2 b\n";
  EXPECT_EQ(Poll(file, &error), SourceMapFile::Change::kReloaded);
  EXPECT_EQ(file.map().Lookup(Ip("10.0.0.2")), "b");
}

}  // namespace
}  // namespace fixstream::gateway
