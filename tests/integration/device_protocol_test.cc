// Real trackers end to end (issue #15): every device protocol through a
// real in-process gateway on loopback, on the ordinary auto-detecting device
// port and on a listener pinned to the protocol, with the replies read back
// by the test's device; each message split at every byte boundary. The
// messages are Traccar's test vectors (../shared/data/traccar/vectors.json,
// real device messages); the test is skipped where that file is absent.
#include "ingest/device_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "simdjson.h"
#include "tests/integration/test_gateway.h"

#ifndef FIXSTREAM_TRACCAR_DATA_DIR
#define FIXSTREAM_TRACCAR_DATA_DIR ""
#endif

namespace fixstream {
namespace {

using ingest::DeviceProtocol;

struct Vector {
  DeviceProtocol protocol;
  std::string message;
  std::string device_id;
  std::string reply;  // a part of the expected reply (Traccar's check), "" if none
  bool position = false;
};

// Traccar's protocol names, where they differ from ours.
std::string OurName(std::string_view traccar) {
  return traccar == "gl200" ? "queclink" : std::string(traccar);
}

std::string Str(simdjson::dom::element e) {
  std::string_view s;
  if (e.is_null() || e.get_string().get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

// Per protocol: the first position (and its reply if Traccar expects one)
// and the first message of any kind that expects a reply.
bool LoadVectors(std::map<DeviceProtocol, Vector>* positions,
                 std::map<DeviceProtocol, Vector>* replies) {
  const std::string path = std::string(FIXSTREAM_TRACCAR_DATA_DIR) + "/vectors.json";
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.load(path).get(root) != simdjson::SUCCESS) return false;
  simdjson::dom::array all;
  if (root.get_array().get(all) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element v : all) {
    const std::optional<DeviceProtocol> protocol =
        ingest::DeviceProtocolFromName(OurName(Str(v["protocol"])));
    if (!protocol) continue;
    // A position the device does not call invalid (some protocols say
    // nothing about validity: "") that the decoder publishes: what each
    // message decodes to is the decoders' tests' business
    // (tests/ingest/traccar_vectors_test.cc); this one is about the gateway.
    Vector vector{*protocol, Str(v["message"]), Str(v["device_id"]), Str(v["reply_expected"]),
                  Str(v["kind"]) == "position" && Str(v["device_fix"]) != "invalid"};
    if (vector.position) {
      struct Discard : ingest::RecordSink {
        void OnRecord(const ingest::LocationRecord&) override {}
      } sink;
      std::string reply;
      auto decoder = ingest::MakeProtocolDecoder(*protocol);
      vector.position = decoder->Decode(vector.message, absl::GetCurrentTimeNanos(), sink,
                                        &reply) == LineOutcome::kPublished;
    }
    if (vector.position && !positions->contains(*protocol)) (*positions)[*protocol] = vector;
    // (Meitrack's D03, a photo taken: Traccar asks for the picture, fixstream
    // stores no media and does not — a deliberate difference, see
    // tests/ingest/traccar_vectors_test.cc.)
    const bool photo =
        *protocol == DeviceProtocol::kMeitrack && vector.message.find(",D03,") != std::string::npos;
    if (!vector.reply.empty() && !photo && !replies->contains(*protocol)) {
      (*replies)[*protocol] = vector;
    }
  }
  return !positions->empty();
}

class DeviceProtocolTest : public GatewayTest {
 protected:
  void SetUp() override {
    if (!LoadVectors(&positions_, &replies_)) {
      GTEST_SKIP() << "Traccar's device messages are not at " << FIXSTREAM_TRACCAR_DATA_DIR
                   << "/vectors.json (../shared beside the repository): skipped";
    }
    GatewayOptions options;
    std::vector<gateway::ListenerOptions> listeners;
    gateway::ListenerOptions listener;  // format=auto
    listener.address = "127.0.0.1:0";
    listeners.push_back(listener);
    for (size_t p = 0; p < ingest::kDeviceProtocolCount; ++p) {
      listener.protocol = static_cast<DeviceProtocol>(p);
      listeners.push_back(listener);
    }
    options.device.listeners = listeners;
    options.device.fix_time_window = {};  // the vectors' fixes are years old
    StartGateway(options);
  }
  uint16_t AutoPort() { return gateway_->device_ports()[0]; }
  uint16_t PinnedPort(DeviceProtocol p) {
    return gateway_->device_ports()[1 + static_cast<size_t>(p)];
  }
  const gateway::IngestCounters& Counters() { return gateway_->ingest_counters(); }
  uint64_t Messages(DeviceProtocol p, LineOutcome outcome) {
    return Counters()
        .protocol_messages[static_cast<size_t>(p)][static_cast<size_t>(outcome)]
        .load();
  }
  uint64_t MessagesOf(DeviceProtocol p) {
    uint64_t n = 0;
    for (const auto& c : Counters().protocol_messages[static_cast<size_t>(p)]) n += c.load();
    return n;
  }
  // Sends `message` on a new connection to `port` and reads until the reply
  // contains `reply` (when given) or 5 s pass.
  std::string SendAndReadReply(uint16_t port, const std::string& message,
                               const std::string& reply) {
    TestConnection device(port);
    EXPECT_TRUE(device.Send(message));
    std::string received;
    for (int i = 0; i < 50 && !reply.empty() && !absl::StrContains(received, reply); ++i) {
      device.ReceiveFor(100, &received);
    }
    return received;
  }

  std::map<DeviceProtocol, Vector> positions_;
  std::map<DeviceProtocol, Vector> replies_;
};

TEST_F(DeviceProtocolTest, EveryProtocolOnTheAutoPortAndOnItsPinnedPort) {
  EXPECT_EQ(positions_.size(), ingest::kDeviceProtocolCount);  // a position of every protocol
  EXPECT_GE(replies_.size(), ingest::kDeviceProtocolCount - 1);
  auto subscriber = Subscribe();
  std::set<std::string> vehicles;
  for (const auto& entry : positions_) {
    const DeviceProtocol protocol = entry.first;  // (not a binding: lambdas capture it)
    const Vector& vector = entry.second;
    const std::string name(ingest::DeviceProtocolName(protocol));
    SCOPED_TRACE(name + ": " + vector.message.substr(0, 60));
    for (uint16_t port : {AutoPort(), PinnedPort(protocol)}) {
      const uint64_t before = Messages(protocol, LineOutcome::kPublished);
      const std::string received = SendAndReadReply(port, vector.message, vector.reply);
      if (!vector.reply.empty()) {
        EXPECT_TRUE(absl::StrContains(received, vector.reply)) << received;
      }
      ASSERT_TRUE(WaitFor([&] {
        return Messages(protocol, LineOutcome::kPublished) == before + 1;
      })) << name
          << " on port " << port << ": published " << Messages(protocol, LineOutcome::kPublished)
          << " of " << MessagesOf(protocol) << " messages";
    }
    vehicles.insert(vector.device_id);
    EXPECT_EQ(Counters().protocol_connections[static_cast<size_t>(protocol)].load(), 2u);
  }
  // One record per protocol (the pinned port's copy is the same fix: a
  // duplicate), under the device's own id.
  ASSERT_TRUE(subscriber->WaitForCount(positions_.size()));
  std::set<std::string> received;
  for (const v1::LocationRecord& r : subscriber->records()) received.insert(r.vehicle_id());
  EXPECT_EQ(received, vehicles);
  // (Counted once the batch is published: after the message's outcome.)
  EXPECT_TRUE(WaitFor([&] { return Counters().records_duplicate.load() == positions_.size(); }))
      << Counters().records_duplicate.load();
}

TEST_F(DeviceProtocolTest, RepliesAreWrittenOnBothPorts) {
  for (const auto& entry : replies_) {
    const DeviceProtocol protocol = entry.first;  // (not a binding: lambdas capture it)
    const Vector& vector = entry.second;
    const std::string name(ingest::DeviceProtocolName(protocol));
    SCOPED_TRACE(name + ": " + vector.message.substr(0, 60));
    for (uint16_t port : {AutoPort(), PinnedPort(protocol)}) {
      const std::string received = SendAndReadReply(port, vector.message, vector.reply);
      EXPECT_TRUE(absl::StrContains(received, vector.reply))
          << name << " on port " << port << ": expected a reply containing '" << vector.reply
          << "', got '" << received << "'";
    }
    EXPECT_GE(Counters().protocol_replies[static_cast<size_t>(protocol)].load(), 2u);
  }
}

// However TCP cuts a message, the gateway reads the same one message: each
// position split in two writes at every byte, on the auto-detecting port.
TEST_F(DeviceProtocolTest, AMessageSplitAtEveryByteIsReadTheSame) {
  for (const auto& entry : positions_) {
    const DeviceProtocol protocol = entry.first;  // (not a binding: lambdas capture it)
    const Vector& vector = entry.second;
    const std::string name(ingest::DeviceProtocolName(protocol));
    SCOPED_TRACE(name);
    const uint64_t before = MessagesOf(protocol);
    const uint64_t published = Messages(protocol, LineOutcome::kPublished);
    const size_t n = vector.message.size();
    for (size_t cut = 1; cut < n; ++cut) {
      TestConnection device(AutoPort());
      ASSERT_TRUE(device.Send(vector.message.substr(0, cut)));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      ASSERT_TRUE(device.Send(vector.message.substr(cut)));
      device.ShutdownWrite();
      // (Reads the replies until the gateway closes after our EOF.)
      bool closed = false;
      std::string replies;
      for (int i = 0; i < 10 && !closed; ++i) closed = !device.ReceiveFor(500, &replies);
      ASSERT_TRUE(closed) << "cut at " << cut << " of " << n;
    }
    EXPECT_EQ(MessagesOf(protocol) - before, n - 1);
    EXPECT_EQ(Messages(protocol, LineOutcome::kPublished) - published, n - 1)
        << "malformed " << Messages(protocol, LineOutcome::kMalformed) << ", unterminated "
        << Messages(protocol, LineOutcome::kUnterminated);
  }
  // Every byte read is accounted for.
  EXPECT_EQ(Counters().bytes_read.load(),
            Counters().bytes_framed.load() + Counters().bytes_discarded.load());
}

// A CSV, JSON and NMEA connection on the auto-detecting port is still read
// as lines: detection never takes them for a device.
TEST_F(DeviceProtocolTest, TheLineFormatsStillWorkOnTheAutoPort) {
  TestConnection device(AutoPort());
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(device.Send(testing::CsvLine("csv-1", now_ms, 1, 2, 0)));
  TestConnection json(AutoPort());
  ASSERT_TRUE(json.Send(testing::JsonLine("json-1", now_ms, 1, 2, 0)));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kPublished) == 2; }));
  for (size_t p = 0; p < ingest::kDeviceProtocolCount; ++p) {
    EXPECT_EQ(Counters().protocol_connections[p].load(), 0u);
  }
}

}  // namespace
}  // namespace fixstream

namespace fixstream {
namespace {

// A device that sends but never reads the replies its protocol needs is
// closed as reply_timeout once they back up (the kernel's buffers full,
// then more than max_reply_backlog waiting), not buffered without bound.
TEST_F(DeviceProtocolTest, ADeviceThatDoesNotReadItsRepliesIsClosed) {
  ASSERT_TRUE(replies_.contains(DeviceProtocol::kTk103));
  const std::string message = replies_[DeviceProtocol::kTk103].message;
  GatewayOptions options;
  gateway::ListenerOptions listener;
  listener.address = "127.0.0.1:0";
  options.device.listeners = {listener};
  options.device.fix_time_window = {};
  options.device.max_reply_backlog = 64 * 1024;
  options.device.reply_timeout = absl::Seconds(1);
  StartGateway(options);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int small = 4096;
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(gateway_->device_ports()[0]);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += message;
  const auto& closed =
      gateway_->ingest_counters()
          .connections_closed_by[static_cast<size_t>(gateway::CloseReason::kReplyTimeout)];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (closed.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
        errno != EAGAIN && errno != EWOULDBLOCK) {
      break;  // closed by the gateway
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::close(fd);
  ASSERT_TRUE(WaitFor([&] { return closed.load() == 1; })) << "never closed as reply_timeout";
  EXPECT_GT(Counters().protocol_replies[static_cast<size_t>(DeviceProtocol::kTk103)].load(), 1000u);
}

}  // namespace
}  // namespace fixstream

namespace fixstream {
namespace {

// A heartbeat (GPS103's bare IMEI, answered "ON") moves the vehicle's
// last-seen time in ListVehicles without publishing a record; a heartbeat
// of a vehicle that never sent a position creates no vehicle.
TEST_F(DeviceProtocolTest, AHeartbeatRefreshesLastSeenWithoutARecord) {
  ASSERT_TRUE(positions_.contains(DeviceProtocol::kGps103));
  const Vector& position = positions_[DeviceProtocol::kGps103];
  auto stub = v1::LocationService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", gateway_->grpc_port()), grpc::InsecureChannelCredentials()));
  auto list = [&] {
    grpc::ClientContext context;
    v1::ListVehiclesRequest request;
    v1::ListVehiclesResponse response;
    EXPECT_TRUE(stub->ListVehicles(&context, request, &response).ok());
    return response;
  };
  auto last_seen_ns = [](const v1::VehicleStatus& v) {
    return v.last_seen_time().seconds() * 1'000'000'000 + v.last_seen_time().nanos();
  };

  TestConnection device(AutoPort());
  ASSERT_TRUE(device.Send(position.message));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kPublished) == 1; }));
  v1::ListVehiclesResponse before = list();
  ASSERT_EQ(before.vehicles_size(), 1);
  ASSERT_EQ(before.vehicles(0).vehicle_id(), position.device_id);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));

  ASSERT_TRUE(device.Send(position.device_id + ";"));
  std::string reply;
  for (int i = 0; i < 50 && !absl::StrContains(reply, "ON"); ++i) device.ReceiveFor(100, &reply);
  EXPECT_TRUE(absl::StrContains(reply, "ON")) << reply;
  ASSERT_TRUE(
      WaitFor([&] { return Messages(DeviceProtocol::kGps103, LineOutcome::kHeartbeat) == 1; }));
  ASSERT_TRUE(WaitFor([&] {
    const v1::ListVehiclesResponse now = list();
    return now.vehicles_size() == 1 &&
           last_seen_ns(now.vehicles(0)) > last_seen_ns(before.vehicles(0));
  })) << "last seen stayed at "
      << last_seen_ns(before.vehicles(0));
  const v1::ListVehiclesResponse after = list();
  EXPECT_EQ(after.vehicles(0).records(), before.vehicles(0).records());  // no record
  EXPECT_EQ(Lines(LineOutcome::kPublished), 1u);

  // A heartbeat from a device the gateway has no position of.
  TestConnection stranger(AutoPort());
  ASSERT_TRUE(stranger.Send("864180000000001;"));
  ASSERT_TRUE(
      WaitFor([&] { return Messages(DeviceProtocol::kGps103, LineOutcome::kHeartbeat) == 2; }));
  EXPECT_EQ(list().vehicles_size(), 1);
}

}  // namespace
}  // namespace fixstream

namespace fixstream {
namespace {

// A device that sends its message and closes its sending side at once still
// gets every reply before the gateway closes: the session waits for its
// replies as it waits for acknowledgements.
TEST_F(DeviceProtocolTest, RepliesReachADeviceThatClosedItsSendingSide) {
  for (const auto& entry : replies_) {
    const Vector& vector = entry.second;
    const std::string name(ingest::DeviceProtocolName(entry.first));
    SCOPED_TRACE(name + ": " + vector.message.substr(0, 60));
    for (int round = 0; round < 5; ++round) {
      TestConnection device(AutoPort());
      ASSERT_TRUE(device.Send(vector.message));
      device.ShutdownWrite();
      std::string received;
      bool closed = false;
      for (int i = 0; i < 20 && !closed; ++i) closed = !device.ReceiveFor(250, &received);
      EXPECT_TRUE(closed) << "the gateway did not close after the device's EOF";
      EXPECT_TRUE(absl::StrContains(received, vector.reply))
          << name << ": expected '" << vector.reply << "', got '" << received << "'";
    }
  }
}

}  // namespace
}  // namespace fixstream
