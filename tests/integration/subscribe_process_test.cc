// fixstream-subscribe against the real gateway binary: --from (now, oldest,
// a sequence), --bbox, --format (json, csv, geojson), and the last sequence
// it prints on exit so that a script can resume.
#include <signal.h>

#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_socket.h"

namespace fixstream {
namespace {

// Sends `lines` over one device connection and waits for the gateway to
// close it (so every line is published).
void Send(uint16_t device_port, const std::string& lines) {
  testing::TestConnection conn(device_port);
  ASSERT_TRUE(conn.Send(lines));
  conn.ShutdownWrite();
  EXPECT_TRUE(conn.WaitForPeerClose(10000));
}

// A CSV fix `age_s` seconds old at (lat, lon).
std::string Fix(const std::string& vehicle, int age_s, double lat, double lon) {
  return absl::StrCat(vehicle, ",", absl::ToUnixMillis(absl::Now()) - age_s * 1000, ",", lat, ",",
                      lon, ",8.5,90\n");
}

// Records 1-3: two in Berlin, one in Paris.
void PublishThree(const GatewayProcess& gateway) {
  Send(gateway.device_port(), Fix("van-1", 30, 52.52, 13.405) + Fix("van-2", 29, 48.8566, 2.3522) +
                                  Fix("van-1", 28, 52.53, 13.41));
}

std::vector<std::string> Subscriber(const GatewayProcess& gateway, std::vector<std::string> flags) {
  std::vector<std::string> argv = {FIXSTREAM_SUBSCRIBE_BINARY,
                                   absl::StrCat("--target=127.0.0.1:", gateway.grpc_port())};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

// The lines of `output` that start with `prefix`.
std::vector<std::string> LinesStartingWith(const std::string& output, const std::string& prefix) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, prefix)) lines.emplace_back(line);
  }
  return lines;
}

std::vector<std::string> Sequences(const std::string& output) {
  std::vector<std::string> sequences;
  static const std::regex kSequence(R"re("sequence":"(\d+)")re");
  for (const std::string& line : LinesStartingWith(output, "{")) {
    std::smatch m;
    if (std::regex_search(line, m, kSequence)) sequences.push_back(m[1]);
  }
  return sequences;
}

TEST(SubscribeProcessTest, FromOldestPrintsJsonAndTheLastSequenceOnExit) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  ChildProcess subscriber(Subscriber(gateway, {"--from=oldest", "--max_records=3"}));
  EXPECT_EQ(subscriber.Wait(), 0) << subscriber.output();
  EXPECT_EQ(Sequences(subscriber.output()), (std::vector<std::string>{"1", "2", "3"}))
      << subscriber.output();
  EXPECT_TRUE(absl::StrContains(subscriber.output(), R"("vehicle_id":"van-2")"));
  EXPECT_TRUE(absl::StrContains(subscriber.output(), "fixstream-subscribe: last_sequence=3\n"))
      << subscriber.output();
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, FromASequenceResumesThere) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  ChildProcess subscriber(Subscriber(gateway, {"--from=2", "--max_records=2"}));
  EXPECT_EQ(subscriber.Wait(), 0) << subscriber.output();
  EXPECT_EQ(Sequences(subscriber.output()), (std::vector<std::string>{"2", "3"}))
      << subscriber.output();
  EXPECT_TRUE(absl::StrContains(subscriber.output(), "last_sequence=3\n"));
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, FromNowGetsOnlyRecordsPublishedAfterItStarted) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  ChildProcess subscriber(Subscriber(gateway, {"--from=now", "--max_records=1"}));
  // It is subscribed at some point after it started: publish until a record
  // arrives (each a second newer, so none is a duplicate).
  std::smatch m;
  static const std::regex kRecord(R"re("sequence":"(\d+)")re");
  bool received = false;
  for (int i = 0; i < 100 && !received; ++i) {
    Send(gateway.device_port(), Fix("van-3", 20, 52.5, 13.4));
    subscriber.Poll();
    received = std::regex_search(subscriber.output(), m, kRecord);
  }
  ASSERT_TRUE(received) << subscriber.output();
  EXPECT_GE(std::stoi(m[1]), 4) << subscriber.output();
  EXPECT_EQ(subscriber.Wait(), 0) << subscriber.output();
  EXPECT_TRUE(absl::StrContains(subscriber.output(), absl::StrCat("last_sequence=", m[1].str())));
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, BoundingBoxFiltersRecords) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  // Berlin only: records 1 and 3.
  ChildProcess subscriber(
      Subscriber(gateway, {"--from=oldest", "--bbox=52.3,13.0,52.7,13.8", "--max_records=2"}));
  EXPECT_EQ(subscriber.Wait(), 0) << subscriber.output();
  EXPECT_EQ(Sequences(subscriber.output()), (std::vector<std::string>{"1", "3"}))
      << subscriber.output();
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, CsvPrintsAHeaderThenOneLinePerRecord) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  ChildProcess subscriber(
      Subscriber(gateway, {"--from=oldest", "--format=csv", "--max_records=3"}));
  EXPECT_EQ(subscriber.Wait(), 0) << subscriber.output();
  const std::vector<std::string> header = LinesStartingWith(subscriber.output(), "sequence,");
  ASSERT_EQ(header.size(), 1u) << subscriber.output();
  EXPECT_EQ(header[0],
            "sequence,vehicle_id,fix_time,receive_time,latitude,longitude,speed_mps,heading_deg,"
            "altitude_m,accuracy_m,satellites,hdop,source_format,connection_id,late,fix_quality");
  const std::vector<std::string> rows = LinesStartingWith(subscriber.output(), "2,");
  ASSERT_EQ(rows.size(), 1u) << subscriber.output();
  const std::vector<std::string> fields = absl::StrSplit(rows[0], ',');
  ASSERT_EQ(fields.size(), 16u) << rows[0];
  EXPECT_EQ(fields[1], "van-2");
  EXPECT_TRUE(absl::EndsWith(fields[2], "Z")) << fields[2];
  EXPECT_EQ(fields[4], "48.8566");
  EXPECT_EQ(fields[5], "2.3522");
  EXPECT_EQ(fields[6], "8.5");
  EXPECT_EQ(fields[8], "");  // no altitude in the line
  EXPECT_EQ(fields[12], "SOURCE_FORMAT_CSV");
  EXPECT_EQ(fields[14], "false");
  EXPECT_EQ(fields[15], "");  // CSV lines carry no fix quality
  EXPECT_EQ(LinesStartingWith(subscriber.output(), "1,").size(), 1u);
  EXPECT_EQ(LinesStartingWith(subscriber.output(), "3,").size(), 1u);
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, GeoJsonPrintsOneFeaturePerLine) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  ChildProcess subscriber(
      Subscriber(gateway, {"--from=oldest", "--format=geojson", "--max_records=3"}));
  EXPECT_EQ(subscriber.Wait(), 0) << subscriber.output();
  const std::vector<std::string> features =
      LinesStartingWith(subscriber.output(), R"({"type":"Feature",)");
  ASSERT_EQ(features.size(), 3u) << subscriber.output();
  // [longitude, latitude], and the record as properties.
  EXPECT_TRUE(absl::StartsWith(
      features[1],
      R"({"type":"Feature","geometry":{"type":"Point","coordinates":[2.3522,48.8566]},)"
      R"("properties":{"sequence":"2","vehicle_id":"van-2",)"))
      << features[1];
  EXPECT_TRUE(absl::EndsWith(features[1], "}}")) << features[1];
  EXPECT_TRUE(absl::StrContains(subscriber.output(), "last_sequence=3\n"));
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, SigtermExitsZeroAndNamesTheLastSequence) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  PublishThree(gateway);
  ChildProcess subscriber(Subscriber(gateway, {"--from=oldest"}));
  std::smatch m;
  ASSERT_TRUE(subscriber.WaitForOutput(std::regex(R"re("sequence":"3")re"), &m))
      << subscriber.output();
  EXPECT_EQ(subscriber.Wait(SIGTERM), 0) << subscriber.output();
  EXPECT_TRUE(absl::StrContains(subscriber.output(), "fixstream-subscribe: last_sequence=3\n"))
      << subscriber.output();
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
}

TEST(SubscribeProcessTest, AFailedCallExitsOneAndNamesSequenceZero) {
  // Nothing listens on port 1.
  ChildProcess subscriber({FIXSTREAM_SUBSCRIBE_BINARY, "--target=127.0.0.1:1"});
  EXPECT_EQ(subscriber.Wait(), 1) << subscriber.output();
  EXPECT_TRUE(absl::StrContains(subscriber.output(), "UNAVAILABLE")) << subscriber.output();
  EXPECT_TRUE(absl::StrContains(subscriber.output(), "last_sequence=0\n")) << subscriber.output();
}

TEST(SubscribeProcessTest, BadFlagsExitTwo) {
  for (const char* flag :
       {"--from=yesterday", "--from=0", "--bbox=1,2,3", "--bbox=a,b,c,d", "--format=xml"}) {
    ChildProcess subscriber({FIXSTREAM_SUBSCRIBE_BINARY, "--target=127.0.0.1:1", flag});
    EXPECT_EQ(subscriber.Wait(), 2) << flag << "\n" << subscriber.output();
  }
}

}  // namespace
}  // namespace fixstream
