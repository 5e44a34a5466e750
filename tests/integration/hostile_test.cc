// Hostile input and overload: connection floods, per-source limits, idle and
// slow-drip peers, keepalive, subscriber limits, and a soak with faults that
// checks the accounting identities exactly. In-process gateway on ephemeral
// loopback ports, real sockets.
#include <fstream>
#include <sstream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_gateway.h"

namespace fixstream {
namespace {

using gateway::CloseReason;

class HostileTest : public GatewayTest {
 protected:
  void SetUp() override {}  // each test starts its gateway with its own limits

  uint64_t Closed(CloseReason reason) { return gateway_->ingest_counters().closed_count(reason); }
  bool WaitForPublished(uint64_t n) {
    return WaitFor([&] { return gateway_->ingest_counters().records_published.load() >= n; });
  }
};

TEST_F(HostileTest, FloodOverTheConnectionLimitIsRefusedAndCountedWhileOthersKeepStreaming) {
  GatewayOptions options;
  options.device.max_connections = 20;
  StartGateway(options);
  auto subscriber = Subscribe();
  std::vector<std::unique_ptr<TestConnection>> held;
  for (int i = 0; i < 20; ++i) {
    held.push_back(std::make_unique<TestConnection>(gateway_->device_port()));
  }
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().connections_active.load() == 20; }));
  // The flood: every extra connection is closed at once.
  for (int i = 0; i < 30; ++i) {
    TestConnection extra(gateway_->device_port());
    EXPECT_TRUE(extra.WaitForPeerClose(5000)) << i;
  }
  EXPECT_EQ(Closed(CloseReason::kConnectionLimit), 30u);
  EXPECT_EQ(gateway_->ingest_counters().connections_active.load(), 20);
  // The held connections are unaffected and keep streaming.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(held[i]->Send(testing::CsvLine(absl::StrCat("held-", i), kStartMs, 1, 2, 0)));
  }
  ASSERT_TRUE(subscriber->WaitForCount(20));
  // Capacity freed by a close is available again.
  held.pop_back();
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().connections_active.load() == 19; }));
  TestConnection again(gateway_->device_port());
  ASSERT_TRUE(again.Send(testing::CsvLine("again", kStartMs, 1, 2, 0)));
  ASSERT_TRUE(subscriber->WaitForCount(21));
}

TEST_F(HostileTest, PerSourceLimitRefusesOnlyThatSource) {
  GatewayOptions options;
  options.device.max_connections_per_source = 3;
  StartGateway(options);
  std::vector<std::unique_ptr<TestConnection>> from_one;
  for (int i = 0; i < 3; ++i) {
    from_one.push_back(std::make_unique<TestConnection>(gateway_->device_port(), "127.0.0.1"));
  }
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().connections_active.load() == 3; }));
  TestConnection fourth(gateway_->device_port(), "127.0.0.1");
  EXPECT_TRUE(fourth.WaitForPeerClose(5000));
  EXPECT_EQ(Closed(CloseReason::kSourceLimit), 1u);
  // Another source address is not affected.
  TestConnection other(gateway_->device_port(), "127.0.0.2");
  ASSERT_TRUE(other.Send(testing::CsvLine("other", kStartMs, 1, 2, 0)));
  ASSERT_TRUE(WaitForPublished(1));
  EXPECT_FALSE(other.WaitForPeerClose(50));
}

TEST_F(HostileTest, IdleAndSlowDripPeersAreClosedWellBehavedOnesAreNot) {
  GatewayOptions options;
  options.device.idle_timeout = absl::Milliseconds(400);
  options.device.line_timeout = absl::Milliseconds(400);
  StartGateway(options);
  TestConnection idle(gateway_->device_port());
  TestConnection drip(gateway_->device_port());
  TestConnection good(gateway_->device_port());
  // For 1.2 s: the dripper sends one byte of a never-ending line every 20 ms
  // (never idle, never a newline); the good client sends a whole line every
  // 50 ms; the idle one sends nothing.
  const std::string line = testing::CsvLine("good", kStartMs, 1, 2, 0);
  int good_lines = 0;
  bool drip_closed = false;
  for (int tick = 0; tick < 60; ++tick) {
    if (!drip_closed && !drip.Send("x")) drip_closed = true;
    if (tick % 5 == 0) {
      ASSERT_TRUE(good.Send(testing::CsvLine("good", kStartMs + tick * 1000, 1, 2, 0)));
      ++good_lines;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // pacing, not waiting
  }
  EXPECT_TRUE(idle.WaitForPeerClose(5000));
  EXPECT_TRUE(drip.WaitForPeerClose(5000));
  EXPECT_FALSE(good.WaitForPeerClose(10));
  EXPECT_EQ(Closed(CloseReason::kIdleTimeout), 1u);
  EXPECT_EQ(Closed(CloseReason::kLineTimeout), 1u);
  ASSERT_TRUE(WaitForPublished(good_lines));
  // The drip's partial line was dropped and counted at close.
  EXPECT_EQ(Lines(LineOutcome::kUnterminated), 1u);
}

// Finds the gateway's side of a connection in /proc/net/tcp and returns its
// timer field ("tr": 2 means the keepalive timer is running).
int ServerSideTimer(uint16_t server_port, uint16_t client_port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  while (std::getline(tcp, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues, timer;
    in >> slot >> local >> remote >> state >> queues >> timer;
    const auto port_of = [](const std::string& addr) {
      return static_cast<uint16_t>(std::stoul(addr.substr(addr.find(':') + 1), nullptr, 16));
    };
    if (port_of(local) == server_port && port_of(remote) == client_port) {
      return std::stoi(timer.substr(0, timer.find(':')), nullptr, 16);
    }
  }
  return -1;
}

TEST_F(HostileTest, DeviceSocketsHaveTcpKeepalive) {
  StartGateway(GatewayOptions());
  TestConnection conn(gateway_->device_port());
  ASSERT_TRUE(conn.Send(testing::CsvLine("k", kStartMs, 1, 2, 0)));
  ASSERT_TRUE(WaitForPublished(1));
  // Idle and established: the only timer the kernel can be running on the
  // gateway's socket is the keepalive timer.
  int timer = -1;
  WaitFor(
      [&] {
        timer = ServerSideTimer(gateway_->device_port(), conn.local_port());
        return timer == 2;
      },
      std::chrono::seconds(5));
  EXPECT_EQ(timer, 2);
}

TEST_F(HostileTest, TooManySubscribersGetResourceExhausted) {
  GatewayOptions options;
  options.subscription.max_subscribers = 2;
  StartGateway(options);
  auto a = Subscribe();
  auto b = Subscribe();
  Subscriber c(gateway_->grpc_port(), v1::SubscribeRequest());
  ASSERT_TRUE(c.WaitForEnd());
  EXPECT_EQ(c.status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(c.status().error_message().find("--max_subscribers"), std::string::npos);
  // A slot freed by a cancel is available again.
  a->Cancel();
  ASSERT_TRUE(a->WaitForEnd());
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().active.load() == 1; }));
  auto d = Subscribe();
  EXPECT_EQ(gateway_->subscription_counters().rejected_too_many.load(), 1u);
}

// A bounded soak: well-behaved vehicles, vehicles that disconnect or reset
// mid-line, garbage, and subscribers cancelling mid-stream, all at once. No
// crash (run under ASan/UBSan too), and every byte and line accounted for.
TEST_F(HostileTest, SoakWithFaultsKeepsEveryAccountingIdentity) {
  GatewayOptions options;
  options.hub.max_records = 50'000;
  StartGateway(options);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> good_lines{0};
  std::atomic<uint64_t> connections{3};  // the well-behaved ones, plus each faulty one
  std::vector<std::thread> threads;
  // Well-behaved: each thread is one vehicle; counts the lines it sent.
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      TestConnection conn(gateway_->device_port());
      int64_t i = 0;
      while (!stop.load()) {
        std::string lines;
        for (int k = 0; k < 50; ++k, ++i) {
          lines += testing::CsvLine(absl::StrCat("soak-", t), kStartMs + i, 1, 2, 0);
        }
        if (!conn.Send(lines)) return;
        good_lines.fetch_add(50);
      }
    });
  }
  // Faulty: connect, send lines and half a line, then close or reset.
  threads.emplace_back([&] {
    std::mt19937 rng(7);
    for (int n = 0; !stop.load(); ++n) {
      TestConnection conn(gateway_->device_port());
      connections.fetch_add(1);
      std::string payload;
      for (int k = 0; k < 20; ++k)
        payload += testing::CsvLine("faulty", kStartMs + n * 100 + k, 1, 2, 0);
      payload += "faulty,2026-11-24T10:1";  // cut mid-line
      if (n % 3 == 0) {
        static constexpr char kGarbage[] = "\0\xff\xfe garbage\n";
        payload.append(kGarbage, sizeof(kGarbage) - 1);  // NUL included, final NUL not
      }
      conn.Send(payload);
      if (n % 2 == 0) {
        conn.Reset();
      } else {
        conn.Close();
      }
    }
  });
  // Subscribers that come and go mid-stream.
  threads.emplace_back([&] {
    while (!stop.load()) {
      Subscriber s(gateway_->grpc_port(), v1::SubscribeRequest());
      s.WaitForCount(500);
      s.Cancel();
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(4));  // the soak's duration
  stop.store(true);
  for (auto& t : threads) t.join();

  const gateway::IngestCounters& c = gateway_->ingest_counters();
  // Connections still in the listen backlog are accepted after the clients
  // are gone: wait for every connection the clients made to be accepted and
  // closed.
  ASSERT_TRUE(WaitFor([&] {
    return c.connections_accepted.load() == connections.load() && c.connections_active.load() == 0;
  })) << c.connections_accepted.load()
      << " of " << connections.load() << " accepted";
  // Connections: every accepted one is closed, under some reason.
  uint64_t closed_by_reason = 0;
  for (size_t r = 0; r < gateway::kCloseReasonCount; ++r)
    closed_by_reason += c.connections_closed_by[r].load();
  EXPECT_EQ(c.connections_accepted.load(), c.connections_closed.load());
  EXPECT_EQ(closed_by_reason, c.connections_closed.load());
  // Bytes: every byte read was framed into a line or discarded.
  EXPECT_EQ(c.bytes_read.load(), c.bytes_framed.load() + c.bytes_discarded.load());
  // Records: every line that made a record was published or a duplicate.
  EXPECT_EQ(c.line_count(LineOutcome::kPublished),
            c.records_published.load() + c.records_duplicate.load() +
                c.records_dropped_at_shutdown.load() + c.records_refused_unavailable.load());
  EXPECT_EQ(c.records_refused_unavailable.load(), 0u);  // a healthy disk
  EXPECT_EQ(gateway_->hub().head() - 1, c.records_published.load());
  // The well-behaved vehicles lost nothing.
  auto stub = v1::LocationService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", gateway_->grpc_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ListVehiclesRequest request;
  v1::ListVehiclesResponse response;
  ASSERT_TRUE(stub->ListVehicles(&context, request, &response).ok());
  uint64_t good_records = 0;
  for (const auto& v : response.vehicles()) {
    if (v.vehicle_id().starts_with("soak-")) good_records += v.records();
  }
  EXPECT_EQ(good_records, good_lines.load());
  EXPECT_GT(c.line_count(LineOutcome::kUnterminated), 0u);
  EXPECT_GT(c.line_count(LineOutcome::kMalformed), 0u);
}

}  // namespace
}  // namespace fixstream
