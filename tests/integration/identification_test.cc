// Device identification over real loopback sockets against an in-process
// gateway: listeners that know a connection's vehicle from its source
// address (a mapping file, reloaded when it changes) or from its first line,
// several listeners with different modes at once, and the legacy flags'
// listeners. Sources are told apart by binding 127.0.0.x client addresses.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/test_gateway.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

using gateway::CloseReason;
using gateway::Identification;
using gateway::ListenerOptions;
using testing::NmeaIdentify;
using testing::NmeaRmc;

ListenerOptions Listener(Identification identification, std::string source_map = {},
                         bool acks = false) {
  ListenerOptions listener;
  listener.address = "127.0.0.1:0";
  listener.identification = identification;
  listener.source_map = std::move(source_map);
  listener.acks = acks;
  return listener;
}

class IdentificationTest : public GatewayTest {
 protected:
  void SetUp() override {}  // each test starts its own listeners
  // The gateway stops before the directory with its journal and map goes.
  void TearDown() override { gateway_.reset(); }

  // Starts the gateway with `listeners` (and a journal, for the
  // acknowledging ones); source maps are polled every 10 ms.
  void Start(std::vector<ListenerOptions> listeners) {
    GatewayOptions options;
    options.device.listeners = std::move(listeners);
    options.journal.directory = dir_.path() + "/journal";
    options.device.source_map_poll_interval = absl::Milliseconds(10);
    StartGateway(options);
    ASSERT_EQ(gateway_->device_ports().size(), gateway_->device_listeners().size());
  }
  uint16_t Port(size_t listener) const { return gateway_->device_ports().at(listener); }

  // Replaces the mapping file as operators should: written aside, renamed.
  void WriteMap(const std::string& text) {
    const std::string aside = map_path_ + ".new";
    std::ofstream(aside) << text;
    std::filesystem::rename(aside, map_path_);
  }

  // The vehicle ids of the records a subscriber received, in order.
  static std::vector<std::string> Vehicles(Subscriber& subscriber) {
    std::vector<std::string> ids;
    for (const v1::LocationRecord& r : subscriber.records()) ids.push_back(r.vehicle_id());
    return ids;
  }

  uint64_t Closed(CloseReason reason) { return gateway_->ingest_counters().closed_count(reason); }

  // Sends one NMEA fix (no $PFSID) from `source` on listener `listener`.
  bool SendRmc(size_t listener, const char* source, int index, std::string prefix = {}) {
    TestConnection conn(Port(listener), source);
    return conn.Send(prefix + NmeaRmc(kStartMs + index * 1000LL, 52.5, 13.4, 10));
  }

  testing::TempDir dir_{"identification"};
  const std::string map_path_ = dir_.path() + "/vehicles.map";
};

TEST_F(IdentificationTest, NmeaFromAMappedSourceIsPublishedUnderItsVehicle) {
  WriteMap(
      "# the depot's APN\n"
      "127.0.0.0/8   loopback-fleet\n"
      "127.0.0.2     truck-2   # most specific wins\n");
  Start({Listener(Identification::kSourceAddress, map_path_)});
  auto subscriber = Subscribe();
  ASSERT_TRUE(SendRmc(0, "127.0.0.2", 1));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  ASSERT_TRUE(SendRmc(0, "127.0.0.3", 2));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"truck-2", "loopback-fleet"}));
  EXPECT_EQ(Lines(LineOutcome::kUnknownVehicle), 0u);
  EXPECT_EQ(gateway_->ingest_counters().source_map_entries.load(), 2u);
}

TEST_F(IdentificationTest, AConnectionFromAnUnmappedSourceIsRefused) {
  WriteMap("127.0.0.2 truck-2\n");
  Start({Listener(Identification::kSourceAddress, map_path_)});
  TestConnection conn(Port(0), "127.0.0.4");
  EXPECT_TRUE(conn.WaitForPeerClose(10'000)) << "refused at once";
  EXPECT_TRUE(WaitFor([&] { return Closed(CloseReason::kUnmappedSource) == 1; }));
  EXPECT_EQ(gateway_->ingest_counters().connections_accepted.load(), 1u);
  EXPECT_EQ(gateway_->ingest_counters().connections_active.load(), 0);
}

TEST_F(IdentificationTest, ALineNamingAnotherVehicleIsRejectedOnAMappedConnection) {
  WriteMap("127.0.0.2 truck-2\n");
  Start({Listener(Identification::kSourceAddress, map_path_)});
  auto subscriber = Subscribe();
  {
    TestConnection conn(Port(0), "127.0.0.2");
    ASSERT_TRUE(conn.Send(testing::CsvLine("truck-2", kStartMs, 1, 2, 0) +
                          testing::CsvLine("truck-9", kStartMs + 1000, 1, 2, 0) +
                          testing::JsonLine("truck-9", kStartMs + 2000, 1, 2, 0) +
                          NmeaIdentify("truck-9") + NmeaIdentify("truck-2") +
                          NmeaRmc(kStartMs + 3000, 52.5, 13.4, 10)));
  }
  ASSERT_TRUE(subscriber->WaitForCount(2));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kVehicleMismatch) == 3; }));
  EXPECT_EQ(Lines(LineOutcome::kIdentified), 1u) << "a $PFSID naming truck-2 only confirms";
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"truck-2", "truck-2"}));
}

TEST_F(IdentificationTest, AnEditedMappingFileIsPickedUpWithoutRestart) {
  WriteMap("127.0.0.2 truck-2\n");
  Start({Listener(Identification::kSourceAddress, map_path_)});
  auto subscriber = Subscribe();
  {
    TestConnection refused(Port(0), "127.0.0.5");
    ASSERT_TRUE(refused.WaitForPeerClose(10'000));
  }
  WriteMap("127.0.0.2 truck-2\n127.0.0.5 truck-5\n");
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().source_map_reloads.load() == 1; }));
  EXPECT_EQ(gateway_->ingest_counters().source_map_entries.load(), 2u);
  ASSERT_TRUE(SendRmc(0, "127.0.0.5", 1));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_EQ(Vehicles(*subscriber), std::vector<std::string>{"truck-5"});

  // A broken edit keeps the previous map: .5 is still truck-5, .6 unknown.
  WriteMap("127.0.0.2 truck-2\n127.0.0.5 truck-5\n127.0.0.6/33 truck-6\n");
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->ingest_counters().source_map_reload_failures.load() == 1; }));
  ASSERT_TRUE(SendRmc(0, "127.0.0.5", 2));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  {
    TestConnection refused(Port(0), "127.0.0.6");
    ASSERT_TRUE(refused.WaitForPeerClose(10'000));
  }
  EXPECT_EQ(Closed(CloseReason::kUnmappedSource), 2u);
  EXPECT_EQ(gateway_->ingest_counters().source_map_reloads.load(), 1u);
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"truck-5", "truck-5"}));
}

TEST_F(IdentificationTest, AMissingMappingFileFailsTheStart) {
  GatewayOptions options;
  options.device.listeners = {Listener(Identification::kSourceAddress, map_path_)};
  options.grpc_listen = "127.0.0.1:0";
  Gateway gateway(options);
  const absl::Status status = gateway.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), map_path_ + ": cannot read the source map"))
      << status;
  WriteMap("127.0.0.2 truck-2\n127.0.0.3 bad/id\n");
  Gateway invalid(options);
  EXPECT_TRUE(absl::StrContains(invalid.Start().message(), map_path_ + ":2: bad vehicle id"));
}

TEST_F(IdentificationTest, TheFirstLineNamesTheVehicle) {
  Start({Listener(Identification::kFirstLine)});
  auto subscriber = Subscribe();
  ASSERT_TRUE(SendRmc(0, nullptr, 1, "356938035643809\r\n"));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_EQ(Vehicles(*subscriber), std::vector<std::string>{"356938035643809"});
  EXPECT_EQ(Lines(LineOutcome::kIdentified), 1u);
}

TEST_F(IdentificationTest, ABadFirstLineClosesTheConnection) {
  Start({Listener(Identification::kFirstLine)});
  TestConnection conn(Port(0));
  ASSERT_TRUE(
      conn.Send(NmeaRmc(kStartMs, 52.5, 13.4, 10) + NmeaRmc(kStartMs + 1000, 52.5, 13.4, 10)));
  EXPECT_TRUE(conn.WaitForPeerClose(10'000));
  ASSERT_TRUE(WaitFor([&] { return Closed(CloseReason::kBadIdentification) == 1; }));
  EXPECT_EQ(Lines(LineOutcome::kBadVehicleId), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnknownVehicle), 1u);
  EXPECT_EQ(gateway_->ingest_counters().records_published.load(), 0u);
}

TEST_F(IdentificationTest, SeveralListenersWithDifferentModes) {
  WriteMap("127.0.0.7 router-7\n");
  ListenerOptions csv_only = Listener(Identification::kPfsid);
  csv_only.pinned_format = ingest::SourceFormat::kCsv;
  Start({Listener(Identification::kPfsid), Listener(Identification::kSourceAddress, map_path_),
         Listener(Identification::kFirstLine, {}, /*acks=*/true), csv_only});
  ASSERT_EQ(gateway_->device_ports().size(), 4u);
  EXPECT_EQ(
      std::set<uint16_t>(gateway_->device_ports().begin(), gateway_->device_ports().end()).size(),
      4u);
  EXPECT_EQ(gateway_->device_port(), Port(0));
  EXPECT_EQ(gateway_->device_ack_port(), Port(2));
  auto subscriber = Subscribe();

  ASSERT_TRUE(SendRmc(0, nullptr, 1, NmeaIdentify("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  ASSERT_TRUE(SendRmc(0, nullptr, 2));  // no $PFSID on a pfsid listener
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kUnknownVehicle) == 1; }));
  ASSERT_TRUE(SendRmc(1, "127.0.0.7", 3));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  {
    TestConnection acked(Port(2));
    ASSERT_TRUE(acked.Send("imei-3\n" + NmeaRmc(kStartMs + 4000, 52.5, 13.4, 10)));
    std::string received;
    EXPECT_TRUE(acked.ReceiveUntil("ACK 2\n", 10'000, &received)) << received;
  }
  ASSERT_TRUE(SendRmc(3, nullptr, 5));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kWrongFormat) == 1; }));
  {
    TestConnection csv(Port(3));
    ASSERT_TRUE(csv.Send(testing::CsvLine("van-4", kStartMs + 6000, 1, 2, 0)));
  }
  ASSERT_TRUE(subscriber->WaitForCount(4));
  EXPECT_EQ(Vehicles(*subscriber),
            (std::vector<std::string>{"bus-1", "router-7", "imei-3", "van-4"}));
}

// Without a list, the legacy fields make the listeners as they always did:
// --device_listen and the acknowledging --device_ack_listen, both pinned by
// --device_format.
TEST_F(IdentificationTest, TheLegacyListenersStillWork) {
  GatewayOptions options;
  options.device.ack_listen = "127.0.0.1:0";
  options.device.pinned_format = ingest::SourceFormat::kCsv;
  options.journal.directory = dir_.path() + "/journal";
  StartGateway(options);
  ASSERT_EQ(gateway_->device_listeners().size(), 2u);
  EXPECT_EQ(gateway::DescribeListener(gateway_->device_listeners()[0]),
            "127.0.0.1:0 format=csv ident=pfsid ack=off");
  EXPECT_EQ(gateway::DescribeListener(gateway_->device_listeners()[1]),
            "127.0.0.1:0 format=csv ident=pfsid ack=on");
  EXPECT_EQ(gateway_->device_ports()[1], gateway_->device_ack_port());
  TestConnection acked(gateway_->device_ack_port());
  ASSERT_TRUE(acked.Send(testing::CsvLine("v1", kStartMs, 1, 2, 0) + NmeaIdentify("v2")));
  std::string received;
  EXPECT_TRUE(acked.ReceiveUntil("ACK 2\n", 10'000, &received)) << received;
  EXPECT_EQ(Lines(LineOutcome::kWrongFormat), 1u);
}

}  // namespace
}  // namespace fixstream
