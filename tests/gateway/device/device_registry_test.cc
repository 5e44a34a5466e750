#include "gateway/device/device_registry.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "asio.hpp"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

constexpr char kHash[] = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

TEST(DeviceRegistryTest, ParsesIdsNamesSecretsAndNetworks) {
  absl::StatusOr<DeviceRegistry> registry = DeviceRegistry::Parse(
      absl::StrCat("# fleet\n\n"
                   "358240051111110 name=bus-7 from=10.64.0.0/16,2001:db8::/48\n"
                   "tracker-2\tsecret_sha256=",
                   kHash,
                   "   # a comment\r\n"
                   "plain\n"),
      "devices");
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_EQ(registry->size(), 3u);
  const DeviceRegistry::Device* bus = registry->Find("358240051111110");
  ASSERT_NE(bus, nullptr);
  EXPECT_EQ(bus->name, "bus-7");
  EXPECT_TRUE(bus->AllowsSource(Ip("10.64.3.17")));
  EXPECT_TRUE(bus->AllowsSource(Ip("::ffff:10.64.3.17"))) << "dual-stack peers as IPv4";
  EXPECT_TRUE(bus->AllowsSource(Ip("2001:db8::9")));
  EXPECT_FALSE(bus->AllowsSource(Ip("10.65.0.1")));
  EXPECT_FALSE(bus->AllowsSource(Ip("127.0.0.1")));
  const DeviceRegistry::Device* tracker = registry->Find("tracker-2");
  ASSERT_NE(tracker, nullptr);
  ASSERT_TRUE(tracker->secret_sha256.has_value());
  EXPECT_EQ((*tracker->secret_sha256)[0], 0x2c);
  EXPECT_EQ((*tracker->secret_sha256)[31], 0xae);
  EXPECT_TRUE(tracker->AllowsSource(Ip("192.0.2.1"))) << "no from=: anywhere";
  EXPECT_EQ(registry->Find("plain")->name, "");
  EXPECT_EQ(registry->Find("unknown"), nullptr);
}

TEST(DeviceRegistryTest, BadLinesNameTheFileAndLineButNotTheContent) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"ok\nbad/id\n", "devices:2: bad device id"},
      {"a\na\n", "devices:2: device id listed twice"},
      {"a name=\n", "devices:1: bad name="},
      {"a name=x name=y\n", "devices:1: name= given twice"},
      {"a secret_sha256=abc\n", "devices:1: secret_sha256= is not 64 hex digits"},
      {absl::StrCat("a secret_sha256=", std::string(63, 'a'), "g\n"),
       "devices:1: secret_sha256= is not 64 hex digits"},
      {"a from=10.0.0.1/24\n", "devices:1: from= network 1: bits set beyond the prefix"},
      {"a from=10.0.0.0/8,nope\n", "devices:1: from= network 2: not an IP address"},
      {"a from=10.0.0.0/33\n", "devices:1: from= network 1: prefix length out of range"},
      {"a from=fe80::1%eth0\n", "devices:1: from= network 1: scope ids"},
      {"a hunter2\n", "devices:1: field 2: expected name=, secret_sha256= or from="},
      {"a password=hunter2\n", "devices:1: field 2: unknown key"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<DeviceRegistry> registry = DeviceRegistry::Parse(c.text, "devices");
    ASSERT_FALSE(registry.ok()) << c.text;
    EXPECT_TRUE(absl::StartsWith(registry.status().message(), c.error))
        << c.text << " -> " << registry.status();
    EXPECT_FALSE(absl::StrContains(registry.status().message(), "hunter2"))
        << "a secret pasted by mistake is never echoed";
  }
}

class DeviceRegistryFileTest : public ::testing::Test {
 protected:
  DeviceRegistryFileTest() {
    char pattern[] = "/tmp/device_registry_test.XXXXXX";
    dir_ = ::mkdtemp(pattern);
    path_ = dir_ + "/devices";
  }
  ~DeviceRegistryFileTest() override { std::filesystem::remove_all(dir_); }
  void Write(std::string_view text) {
    std::ofstream(path_ + ".new") << text;
    std::filesystem::rename(path_ + ".new", path_);
  }
  DeviceRegistryFile::Change Poll(DeviceRegistryFile& file, std::string* error) {
    for (int i = 0; i < 3; ++i) {
      const DeviceRegistryFile::Change change = file.Check(error);
      if (change != DeviceRegistryFile::Change::kNone) return change;
    }
    return DeviceRegistryFile::Change::kNone;
  }
  std::string dir_;
  std::string path_;
};

TEST_F(DeviceRegistryFileTest, ReloadsOnChangeKeepsTheOldOneOnErrorsAndReloadsOnDemand) {
  DeviceRegistryFile file(path_);
  EXPECT_TRUE(absl::StrContains(file.Load().message(), path_ + ": cannot read"));
  Write("a\n");
  ASSERT_TRUE(file.Load().ok());
  const uint64_t generation = file.generation();
  std::string error;
  EXPECT_EQ(Poll(file, &error), DeviceRegistryFile::Change::kNone) << "unchanged";
  Write("a\nb\n");
  EXPECT_EQ(Poll(file, &error), DeviceRegistryFile::Change::kReloaded);
  EXPECT_EQ(file.current()->size(), 2u);
  EXPECT_GT(file.generation(), generation);
  Write("a\nb\nb\n");
  EXPECT_EQ(Poll(file, &error), DeviceRegistryFile::Change::kFailed);
  EXPECT_TRUE(absl::StartsWith(error, path_ + ":3: device id listed twice")) << error;
  EXPECT_EQ(file.current()->size(), 2u) << "the previous registry stays";
  EXPECT_EQ(Poll(file, &error), DeviceRegistryFile::Change::kNone) << "reported once";
  Write("c\n");
  EXPECT_EQ(file.Reload(&error), DeviceRegistryFile::Change::kReloaded) << "SIGHUP";
  EXPECT_NE(file.current()->Find("c"), nullptr);
  std::filesystem::remove(path_);
  EXPECT_EQ(Poll(file, &error), DeviceRegistryFile::Change::kFailed);
  EXPECT_EQ(file.current()->size(), 1u);
}

TEST(DeviceRegistryTest, AuthenticatesASecretAgainstItsHashAndNetworks) {
  // kHash is the SHA-256 of "foo".
  absl::StatusOr<DeviceRegistry> registry =
      DeviceRegistry::Parse(absl::StrCat("bus-1 name=fleet-1 secret_sha256=", kHash,
                                         "\n"
                                         "bus-2 secret_sha256=",
                                         absl::AsciiStrToUpper(kHash),
                                         " from=10.0.0.0/8\n"
                                         "bus-3\n"),
                            "devices");
  ASSERT_TRUE(registry.ok()) << registry.status();
  using Result = DeviceRegistry::AuthResult;
  const DeviceRegistry::Device* device = nullptr;
  EXPECT_EQ(registry->Authenticate("bus-1", "foo", Ip("192.0.2.1"), &device), Result::kOk);
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(device->name, "fleet-1");
  EXPECT_EQ(registry->Authenticate("bus-1", "fo", Ip("192.0.2.1"), &device), Result::kWrongSecret);
  EXPECT_EQ(registry->Authenticate("bus-1", "foo ", Ip("192.0.2.1"), &device),
            Result::kWrongSecret);
  EXPECT_EQ(registry->Authenticate("bus-2", "foo", Ip("10.1.2.3"), &device), Result::kOk)
      << "upper-case hex is the same hash";
  EXPECT_EQ(registry->Authenticate("bus-2", "foo", Ip("192.0.2.1"), &device),
            Result::kSourceMismatch);
  EXPECT_EQ(registry->Authenticate("bus-3", "foo", Ip("192.0.2.1"), &device), Result::kNoSecret);
  EXPECT_EQ(registry->Authenticate("bus-4", "foo", Ip("192.0.2.1"), &device),
            Result::kUnknownDevice);
  // A secret whose digest is all zeros cannot exist, so the stand-in
  // compared for devices without one never matches.
  EXPECT_EQ(registry->Authenticate("bus-3", "", Ip("192.0.2.1"), &device), Result::kNoSecret);
}

TEST(DeviceRegistryTest, SameCredentialsComparesNameSecretAndNetworks) {
  auto parse = [](const std::string& text) {
    absl::StatusOr<DeviceRegistry> registry = DeviceRegistry::Parse(text, "devices");
    EXPECT_TRUE(registry.ok()) << registry.status();
    return *std::move(registry);
  };
  const std::string base = absl::StrCat("bus-1 name=a secret_sha256=", kHash, " from=10.0.0.0/8");
  const DeviceRegistry before = parse(base);
  const DeviceRegistry::Device& device = *before.Find("bus-1");
  EXPECT_TRUE(parse(base + "\nbus-2\n").Find("bus-1")->SameCredentials(device));
  EXPECT_FALSE(parse(absl::StrCat("bus-1 name=b secret_sha256=", kHash, " from=10.0.0.0/8"))
                   .Find("bus-1")
                   ->SameCredentials(device));
  EXPECT_FALSE(
      parse(absl::StrCat("bus-1 name=a secret_sha256=", std::string(64, 'a'), " from=10.0.0.0/8"))
          .Find("bus-1")
          ->SameCredentials(device));
  EXPECT_FALSE(parse(absl::StrCat("bus-1 name=a secret_sha256=", kHash, " from=10.0.0.0/16"))
                   .Find("bus-1")
                   ->SameCredentials(device));
  EXPECT_FALSE(parse("bus-1 name=a from=10.0.0.0/8").Find("bus-1")->SameCredentials(device));
}

}  // namespace
}  // namespace fixstream::gateway
