// fixstream-load speaking the tracker protocols to a real gateway process on
// its default (auto-detecting) device port: every message sent becomes one
// record, of its protocol, under its device's id — what bench/e2e.sh's
// `protocols` scenario measures is the gateway reading real trackers' bytes.
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

TEST(LoadProcessTest, EveryTrackerMessageBecomesOneRecordOfItsProtocol) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.device_port(), 0);
  constexpr int kConnections = 14;  // two per protocol
  constexpr int kMessages = 7000;
  ChildProcess load({FIXSTREAM_LOAD_BINARY,
                     absl::StrCat("--target=127.0.0.1:", gateway.device_port()),
                     absl::StrCat("--generate=", kMessages), "--format=trackers",
                     absl::StrCat("--connections=", kConnections), "--vehicles=140"});
  ASSERT_EQ(load.Wait(), 0) << load.output();
  EXPECT_TRUE(absl::StrContains(load.output(), absl::StrCat("lines=", kMessages, " ")))
      << load.output();

  ChildProcess subscriber(
      {FIXSTREAM_SUBSCRIBE_BINARY, absl::StrCat("--target=127.0.0.1:", gateway.grpc_port()),
       "--from=oldest", "--format=csv", absl::StrCat("--max_records=", kMessages)});
  ASSERT_EQ(subscriber.Wait(), 0) << subscriber.output().substr(0, 2000);
  std::map<std::string, int> per_format;
  std::set<std::string> sequences;
  std::map<std::string, std::set<std::string>> vehicles_per_format;
  for (absl::string_view line : absl::StrSplit(subscriber.output(), '\n')) {
    if (line.empty() || !absl::ascii_isdigit(line[0])) continue;
    const std::vector<std::string> fields = absl::StrSplit(line, ',');
    ASSERT_EQ(fields.size(), 16u) << line;
    sequences.insert(fields[0]);
    ++per_format[fields[12]];
    vehicles_per_format[fields[12]].insert(fields[1]);
  }
  EXPECT_EQ(sequences.size(), static_cast<size_t>(kMessages));
  const std::vector<std::string> expected = {"SOURCE_FORMAT_H02",      "SOURCE_FORMAT_GPS103",
                                             "SOURCE_FORMAT_TK103",    "SOURCE_FORMAT_WATCH",
                                             "SOURCE_FORMAT_QUECLINK", "SOURCE_FORMAT_MEITRACK",
                                             "SOURCE_FORMAT_SUNTECH"};
  ASSERT_EQ(per_format.size(), expected.size());
  for (const std::string& format : expected) {
    EXPECT_EQ(per_format[format], kMessages / 7) << format;
    // 140 vehicles over 14 connections: 20 per protocol, with numeric ids.
    EXPECT_EQ(vehicles_per_format[format].size(), 20u) << format;
    for (const std::string& id : vehicles_per_format[format]) {
      EXPECT_TRUE(id.starts_with("49") || id.starts_with("8640350")) << format << " " << id;
    }
  }
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

// fixstream-load --auth_secret against a gateway under the authenticated
// policy: each connection authenticates as its one vehicle first (CSV with
// AUTH, NMEA with $PFSID and the secret), and every generated line is then
// published; the secret never shows in the gateway's log.
TEST(LoadProcessTest, AuthenticatedConnectionsPublishEveryLine) {
  constexpr char kSecret[] = "load-test-0f3a9c77";
  constexpr char kHash[] = "2facb9d7dcf5f88305394eb95681c337d576a11c259ce8ea8d80136e5087db6e";
  constexpr int kConnections = 8;
  constexpr int kLines = 8000;
  testing::TempDir dir("load_auth");
  const std::string devices = dir.path() + "/devices";
  {
    std::ofstream out(devices);
    for (int i = 0; i < kConnections; ++i)
      out << "load-" << i << " secret_sha256=" << kHash << "\n";
  }
  GatewayProcess gateway(
      {absl::StrCat("--devices_file=", devices), "--device_policy=authenticated"});
  ASSERT_NE(gateway.device_port(), 0);
  ChildProcess load(
      {FIXSTREAM_LOAD_BINARY, absl::StrCat("--target=127.0.0.1:", gateway.device_port()),
       absl::StrCat("--generate=", kLines), "--format=mixed",
       absl::StrCat("--connections=", kConnections), absl::StrCat("--vehicles=", kConnections),
       absl::StrCat("--auth_secret=", kSecret)});
  ASSERT_EQ(load.Wait(), 0) << load.output();
  ChildProcess subscriber(
      {FIXSTREAM_SUBSCRIBE_BINARY, absl::StrCat("--target=127.0.0.1:", gateway.grpc_port()),
       "--from=oldest", "--format=csv", absl::StrCat("--max_records=", kLines)});
  ASSERT_EQ(subscriber.Wait(), 0) << subscriber.output().substr(0, 2000);
  std::set<std::string> vehicles;
  int records = 0;
  for (absl::string_view line : absl::StrSplit(subscriber.output(), '\n')) {
    if (line.empty() || !absl::ascii_isdigit(line[0])) continue;
    const std::vector<std::string> fields = absl::StrSplit(line, ',');
    ASSERT_GE(fields.size(), 2u) << line;
    vehicles.insert(fields[1]);
    ++records;
  }
  EXPECT_EQ(records, kLines);
  EXPECT_EQ(vehicles.size(), static_cast<size_t>(kConnections));
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
  const std::string log = gateway.output();
  EXPECT_TRUE(absl::StrContains(log, ": authenticated (--devices_file=")) << log;
  EXPECT_FALSE(absl::StrContains(log, kSecret));
  EXPECT_FALSE(absl::StrContains(log, kHash));
}

}  // namespace
}  // namespace fixstream
