// Two in-process gateways with --log=jetstream on one real nats-server
// (127.0.0.1, an ephemeral port, JetStream on, a temporary store directory,
// stopped by PID): devices send to both over TCP, subscribers read over
// gRPC. Skipped when nats-server is not installed (apt-get install
// nats-server).
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/server/gateway.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/gateway/fleet/test_nats_server.h"
#include "tests/integration/test_gateway.h"
#include "tests/integration/test_health.h"

namespace fixstream {
namespace {

using grpc::health::v1::HealthCheckResponse;

// One record as a subscriber saw it: (sequence, vehicle, fix time in ms).
using Seen = std::tuple<uint64_t, std::string, int64_t>;

std::vector<Seen> Flatten(const std::vector<v1::LocationRecord>& records) {
  std::vector<Seen> out;
  out.reserve(records.size());
  for (const v1::LocationRecord& r : records) {
    out.emplace_back(r.sequence(), r.vehicle_id(),
                     r.fix_time().seconds() * 1000 + r.fix_time().nanos() / 1'000'000);
  }
  return out;
}

// `count` CSV lines of `vehicle`, fix times kStartMs + (first + i) seconds.
std::string Lines(const std::string& vehicle, int first, int count) {
  std::string lines;
  for (int i = first; i < first + count; ++i) {
    lines += testing::CsvLine(vehicle, kStartMs + i * 1000LL, 52.5, 13.4, 1.0);
  }
  return lines;
}

class FleetGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = testing::FindNatsServer();
    if (binary_.empty()) {
      GTEST_SKIP() << "nats-server is not installed (apt-get install nats-server): the "
                      "gateway's --log=jetstream is not tested";
    }
    if (!gateway::JetStreamLogBuilt()) GTEST_SKIP() << "built without libnats";
    char templ[] = "/tmp/fixstream-fleet-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    port_ = testing::FreePort();
    nats_ = std::make_unique<testing::NatsServer>(binary_, dir_, port_);
    ASSERT_TRUE(nats_->Start()) << "nats-server did not listen on " << port_;
  }
  void TearDown() override {
    gateways_.clear();
    nats_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    gateway::ReleaseNatsLibrary();
  }

  Gateway& StartGateway(const std::string& id) {
    GatewayOptions options;
    options.log = gateway::LogKind::kJetStream;
    options.fleet.url = absl::StrCat("nats://127.0.0.1:", port_);
    options.fleet.stream = "FLEETTEST";
    options.fleet.gateway_id = id;
    options.fleet.replay_timeout = absl::Seconds(20);
    options.device.listen = "127.0.0.1:0";
    options.grpc_listen = "127.0.0.1:0";
    options.device.io_threads = 2;
    options.hub.max_records = 1 << 16;
    options.hub.max_bytes = 16 << 20;
    options.hub.prefault_ring = false;
    options.subscriber_drain_timeout = absl::Seconds(10);
    auto g = std::make_unique<Gateway>(options);
    const absl::Status status = g->Start();
    EXPECT_TRUE(status.ok()) << status;
    gateways_.push_back(std::move(g));
    return *gateways_.back();
  }

  // A live subscriber (from the gateway's head), registered when returned.
  std::unique_ptr<Subscriber> Subscribe(Gateway& g, v1::SubscribeRequest request = {}) {
    const uint64_t before = g.subscription_counters().started.load();
    auto s = std::make_unique<Subscriber>(g.grpc_port(), std::move(request));
    EXPECT_TRUE(WaitFor([&] { return g.subscription_counters().started.load() > before; }));
    return s;
  }

  static HealthCheckResponse::ServingStatus Health(const Gateway& g) {
    return testing::GatewayHealth(g.grpc_port());
  }

  // Every record sent, once: (vehicle, fix ms) -> how many times seen.
  static std::map<std::pair<std::string, int64_t>, int> Count(const std::vector<Seen>& seen) {
    std::map<std::pair<std::string, int64_t>, int> counts;
    for (const auto& [sequence, vehicle, fix_ms] : seen) ++counts[{vehicle, fix_ms}];
    return counts;
  }

  std::string binary_;
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<testing::NatsServer> nats_;
  std::vector<std::unique_ptr<Gateway>> gateways_;
};

TEST_F(FleetGatewayTest, TwoGatewaysDeliverEveryRecordOnceInTheSameOrder) {
  Gateway& a = StartGateway("a");
  Gateway& b = StartGateway("b");
  auto on_a = Subscribe(a);
  auto on_b = Subscribe(b);

  // Three vehicles on each gateway, each on its own connection, all at once.
  constexpr int kPerVehicle = 400;
  std::vector<std::thread> senders;
  std::set<std::pair<std::string, int64_t>> sent;
  for (Gateway* g : {&a, &b}) {
    for (int v = 0; v < 3; ++v) {
      const std::string vehicle = absl::StrCat(g == &a ? "va" : "vb", v);
      for (int i = 0; i < kPerVehicle; ++i) sent.insert({vehicle, kStartMs + i * 1000LL});
      senders.emplace_back([port = g->device_port(), vehicle] {
        testing::TestConnection conn(port);
        // In pieces, so that each gateway publishes many batches.
        for (int i = 0; i < kPerVehicle; i += 50) EXPECT_TRUE(conn.Send(Lines(vehicle, i, 50)));
      });
    }
  }
  for (std::thread& t : senders) t.join();
  const size_t total = sent.size();
  ASSERT_EQ(total, 6u * kPerVehicle);
  ASSERT_TRUE(on_a->WaitForCount(total)) << on_a->count() << " of " << total;
  ASSERT_TRUE(on_b->WaitForCount(total)) << on_b->count() << " of " << total;

  const std::vector<Seen> seen_a = Flatten(on_a->records());
  const std::vector<Seen> seen_b = Flatten(on_b->records());
  // Nothing more than what was sent arrives (a duplicate would be extra).
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(on_a->count(), total);
  EXPECT_EQ(on_b->count(), total);
  ASSERT_EQ(seen_a.size(), total);
  // One numbering: dense from 1, and the same record at each sequence on
  // both gateways.
  for (size_t i = 0; i < total; ++i) {
    EXPECT_EQ(std::get<0>(seen_a[i]), i + 1) << i;
  }
  EXPECT_EQ(seen_a, seen_b) << "the gateways disagree on the fleet's order";
  // Every record from both gateways, exactly once.
  const auto counts = Count(seen_a);
  EXPECT_EQ(counts.size(), total);
  for (const auto& [key, n] : counts) {
    EXPECT_EQ(n, 1) << key.first << " " << key.second;
    EXPECT_TRUE(sent.contains(key)) << key.first << " " << key.second;
  }
  EXPECT_TRUE(on_a->gaps().empty());
  EXPECT_TRUE(on_b->gaps().empty());

  // The vehicle queries answer for the whole fleet on either gateway.
  for (Gateway* g : {&a, &b}) {
    auto stub = v1::LocationService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", g->grpc_port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext list_context;
    v1::ListVehiclesRequest list;
    v1::ListVehiclesResponse vehicles;
    ASSERT_TRUE(stub->ListVehicles(&list_context, list, &vehicles).ok());
    EXPECT_EQ(vehicles.vehicles_size(), 6);
    grpc::ClientContext latest_context;
    v1::GetLatestPositionsRequest latest;
    latest.add_vehicle_ids("va0");
    latest.add_vehicle_ids("vb2");
    v1::GetLatestPositionsResponse positions;
    ASSERT_TRUE(stub->GetLatestPositions(&latest_context, latest, &positions).ok());
    ASSERT_EQ(positions.records_size(), 2);
    for (const v1::LocationRecord& r : positions.records()) {
      EXPECT_EQ(r.fix_time().seconds() * 1000, kStartMs + (kPerVehicle - 1) * 1000LL);
    }
  }
}

TEST_F(FleetGatewayTest, SubscriberResumesOnTheOtherGatewayWithoutGapOrDuplicate) {
  Gateway& a = StartGateway("a");
  Gateway& b = StartGateway("b");
  v1::SubscribeRequest from_start;
  from_start.set_start_oldest(true);
  auto first = Subscribe(a, from_start);

  // Devices keep sending to both gateways while the subscriber moves.
  constexpr int kPerVehicle = 1500;
  std::vector<std::thread> senders;
  for (Gateway* g : {&a, &b}) {
    const std::string vehicle = g == &a ? "ma" : "mb";
    senders.emplace_back([port = g->device_port(), vehicle] {
      testing::TestConnection conn(port);
      for (int i = 0; i < kPerVehicle; i += 25) {
        EXPECT_TRUE(conn.Send(Lines(vehicle, i, 25)));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  constexpr size_t kTotal = 2 * kPerVehicle;
  // Part of the stream from A, then away.
  ASSERT_TRUE(first->WaitForCount(kTotal / 4));
  first->Cancel();
  ASSERT_TRUE(first->WaitForEnd());
  const std::vector<Seen> part1 = Flatten(first->records());
  ASSERT_FALSE(part1.empty());
  const uint64_t last = std::get<0>(part1.back());
  // Resume on B after the last record received.
  ASSERT_TRUE(WaitFor([&] { return b.store().head() > last + 1; }));
  v1::SubscribeRequest resume;
  resume.set_start_sequence(last + 1);
  auto second = Subscribe(b, resume);
  for (std::thread& t : senders) t.join();
  ASSERT_TRUE(second->WaitForCount(kTotal - part1.size()))
      << second->count() << " + " << part1.size() << " of " << kTotal;
  absl::SleepFor(absl::Milliseconds(300));  // nothing more may come
  std::vector<Seen> all = part1;
  for (const Seen& s : Flatten(second->records())) all.push_back(s);
  ASSERT_EQ(all.size(), kTotal);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(std::get<0>(all[i]), i + 1) << "a gap or a duplicate at " << i;
  }
  const auto counts = Count(all);
  EXPECT_EQ(counts.size(), kTotal);
  for (const auto& [key, n] : counts) EXPECT_EQ(n, 1) << key.first << " " << key.second;
  EXPECT_TRUE(first->gaps().empty());
  EXPECT_TRUE(second->gaps().empty());
  // Each vehicle's records in the order they were sent.
  std::map<std::string, int64_t> newest;
  for (const auto& [sequence, vehicle, fix_ms] : all) {
    EXPECT_GT(fix_ms, newest[vehicle]) << vehicle << " out of order at " << sequence;
    newest[vehicle] = fix_ms;
  }
}

TEST_F(FleetGatewayTest, WhileNatsIsDownLinesWaitHealthIsNotServingAndPublishingResumes) {
  Gateway& a = StartGateway("a");
  auto subscriber = Subscribe(a);
  ASSERT_EQ(Health(a), HealthCheckResponse::SERVING);
  testing::TestConnection conn(a.device_port());
  ASSERT_TRUE(conn.Send(Lines("down", 0, 100)));
  ASSERT_TRUE(WaitFor([&] { return a.ingest_counters().records_published.load() == 100; }));
  ASSERT_TRUE(subscriber->WaitForCount(100));

  nats_->Stop();
  ASSERT_TRUE(WaitFor([&] { return !a.jetstream_connected(); }));
  ASSERT_TRUE(WaitFor([&] { return Health(a) == HealthCheckResponse::NOT_SERVING; }))
      << "health stayed SERVING while NATS JetStream was unreachable";
  // Lines sent meanwhile are read and held: the connection pauses (its
  // records are counted as lines, not published, never dropped).
  ASSERT_TRUE(conn.Send(Lines("down", 100, 200)));
  ASSERT_TRUE(WaitFor([&] { return a.ingest_counters().connections_paused.load() == 1; }));
  EXPECT_GE(a.ingest_counters().connection_pauses.load(), 1u);
  EXPECT_EQ(a.ingest_counters().records_published.load(), 100u);
  EXPECT_EQ(a.ingest_counters().records_refused_unavailable.load(), 0u);
  EXPECT_EQ(subscriber->count(), 100u);

  nats_ = std::make_unique<testing::NatsServer>(binary_, dir_, port_);  // same port and store
  ASSERT_TRUE(nats_->Start());
  ASSERT_TRUE(WaitFor([&] { return Health(a) == HealthCheckResponse::SERVING; }))
      << "health did not recover after NATS came back";
  ASSERT_TRUE(WaitFor([&] { return a.ingest_counters().records_published.load() == 300; }))
      << a.ingest_counters().records_published.load();
  ASSERT_TRUE(subscriber->WaitForCount(300)) << subscriber->count();
  absl::SleepFor(absl::Milliseconds(300));
  const std::vector<Seen> seen = Flatten(subscriber->records());
  ASSERT_EQ(seen.size(), 300u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(std::get<0>(seen[i]), i + 1) << i;
    EXPECT_EQ(std::get<2>(seen[i]), kStartMs + static_cast<int64_t>(i) * 1000) << i;
  }
  EXPECT_EQ(a.ingest_counters().connections_paused.load(), 0);
  EXPECT_EQ(a.ingest_counters().records_refused_unavailable.load(), 0u);
  EXPECT_EQ(a.ingest_counters().records_duplicate.load(), 0u);
}

// NATS must be reachable at start: a clear error, and no listener opens.
TEST_F(FleetGatewayTest, StartFailsClearlyWhenNatsIsUnreachable) {
  GatewayOptions options;
  options.log = gateway::LogKind::kJetStream;
  options.fleet.url = absl::StrCat("nats://127.0.0.1:", testing::FreePort());  // nobody there
  options.device.listen = "127.0.0.1:0";
  options.grpc_listen = "127.0.0.1:0";
  Gateway g(options);
  const absl::Status status = g.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "--log=jetstream: nats: connect to")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "is nats-server -js running")) << status;
  EXPECT_EQ(g.device_port(), 0);
  EXPECT_EQ(g.grpc_port(), 0);
}

}  // namespace
}  // namespace fixstream
