// --device_policy=authenticated over real loopback sockets against an
// in-process gateway (issue #16, device side): the three authentication
// line forms, spoofing attempts (another vehicle's id after authenticating,
// wrong secrets, unknown ids, ids without a secret, the wrong source
// address), brute force against the per-source rate limit, revocation by a
// registry reload, per-listener policies, and acknowledgements. Sources are
// told apart by binding 127.0.0.x client addresses.
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/device/device_registry.h"
#include "tests/integration/devices_file_test.h"

namespace fixstream {
namespace {

using gateway::CloseReason;
using gateway::DevicePolicy;

std::string Sha256Hex(std::string_view secret) {
  const auto digest = gateway::DeviceRegistry::SecretDigest(secret);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

class DeviceAuthTest : public DevicesFileTest {
 protected:
  void SetUp() override {
    Write(absl::StrCat("bus-1 secret_sha256=", Sha256Hex("secret-one"),
                       "\n"
                       "dev-2 name=bus-2 secret_sha256=",
                       Sha256Hex("secret-two"),
                       "\n"
                       "bus-3 secret_sha256=",
                       Sha256Hex("secret-three"),
                       " from=127.0.0.3\n"
                       "bus-4\n"));
  }
  void Start(GatewayOptions options = {}) {
    StartWithDevices(DevicePolicy::kAuthenticated, std::move(options));
  }
  uint64_t Closed(CloseReason reason) { return gateway_->ingest_counters().closed_count(reason); }
};

TEST_F(DeviceAuthTest, EachFormAuthenticatesAndPublishesUnderTheDevicesVehicle) {
  Start();
  auto subscriber = Subscribe();
  {
    TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send("AUTH,bus-1,secret-one\r\n" + Csv("bus-1")));
    ASSERT_TRUE(subscriber->WaitForCount(1));
  }
  {
    // NMEA: the authentication line names the connection's vehicle, as a
    // $PFSID would; name= maps it.
    TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send(testing::WithNmeaChecksum("PFSID,dev-2,secret-two") +
                          testing::NmeaRmc(kStartMs + 500'000, 52.5, 13.4, 10)));
    ASSERT_TRUE(subscriber->WaitForCount(2));
  }
  {
    TestConnection conn(gateway_->device_port(), "127.0.0.3");
    ASSERT_TRUE(conn.Send(R"({"vehicle_id":"bus-3","secret":"secret-three"})"
                          "\n" +
                          testing::JsonLine("bus-3", kStartMs + 900'000, 52.5, 13.4, 1)));
    ASSERT_TRUE(subscriber->WaitForCount(3));
  }
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1", "bus-2", "bus-3"}));
  EXPECT_EQ(Lines(LineOutcome::kIdentified), 3u);
  EXPECT_EQ(Lines(LineOutcome::kAuthFailed), 0u);
}

TEST_F(DeviceAuthTest, AnAuthenticatedDeviceCannotPublishForAnother) {
  Start();
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port());
  ASSERT_TRUE(conn.Send("AUTH,bus-1,secret-one\n" + Csv("bus-2") + Csv("bus-1") +
                        testing::NmeaIdentify("bus-2") + Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kVehicleMismatch) == 2; }));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1", "bus-1"}));
  // Still open: a spoofed line costs that line, not the connection.
  ASSERT_TRUE(conn.Send(Csv("bus-1")));
  EXPECT_TRUE(subscriber->WaitForCount(3));
}

TEST_F(DeviceAuthTest, EveryFailedAuthenticationClosesAndPublishesNothing) {
  GatewayOptions options;
  options.device.auth_failures_per_minute = 0;  // (the limit has its own test)
  Start(options);
  auto subscriber = Subscribe();
  const std::vector<std::pair<std::string, const char*>> attempts = {
      {"AUTH,bus-1,secret-two\n", nullptr},        // another device's secret
      {"AUTH,bus-1,Secret-one\n", nullptr},        // almost
      {"AUTH,intruder,secret-one\n", nullptr},     // unknown id
      {"AUTH,bus-4,anything\n", nullptr},          // a device without a secret
      {"AUTH,bus-3,secret-three\n", "127.0.0.4"},  // right secret, wrong source
      {Csv("bus-1"), nullptr},                     // no authentication line at all
      {"$PFSID,bus-1\r\n", nullptr},               // identification without a secret
      {std::string(5000, 'A') + "\n", nullptr},    // over --max_line_length
  };
  for (const auto& [first, source] : attempts) {
    TestConnection conn(gateway_->device_port(), source);
    // What follows the failed line in the same read is counted, never read
    // as records.
    ASSERT_TRUE(conn.Send(first + Csv("bus-1") + Csv("bus-1") + "partial"));
    EXPECT_TRUE(conn.WaitForPeerClose(10'000)) << first.substr(0, 40);
  }
  const uint64_t n = attempts.size();
  ASSERT_TRUE(WaitFor([&] { return Closed(CloseReason::kAuthFailed) == n; }));
  EXPECT_EQ(Lines(LineOutcome::kAuthFailed), n - 1);
  EXPECT_EQ(Lines(LineOutcome::kTooLong), 1u) << "the over-long first line";
  EXPECT_EQ(Lines(LineOutcome::kUnauthenticated), 2 * n);
  EXPECT_EQ(Lines(LineOutcome::kUnterminated), n);
  EXPECT_EQ(gateway_->ingest_counters().records_published.load(), 0u);
  EXPECT_EQ(subscriber->records().size(), 0u);
  EXPECT_EQ(gateway_->hub().VehiclesPage("", 10).size(), 0u) << "no vehicle was created";
}

TEST_F(DeviceAuthTest, GuessingSecretsIsRateLimitedPerSource) {
  GatewayOptions options;
  options.device.auth_failures_per_minute = 3;
  Start(options);
  auto subscriber = Subscribe();
  for (int i = 0; i < 3; ++i) {
    TestConnection conn(gateway_->device_port(), "127.0.0.2");
    ASSERT_TRUE(conn.Send(absl::StrCat("AUTH,bus-1,guess-", i, "\n")));
    EXPECT_TRUE(conn.WaitForPeerClose(10'000));
  }
  ASSERT_TRUE(WaitFor([&] { return Closed(CloseReason::kAuthFailed) == 3; }));
  // The burst is spent: refused at accept, even with the right secret (the
  // guesser cannot tell a right guess), for the next ~20 s.
  for (int i = 0; i < 5; ++i) {
    TestConnection conn(gateway_->device_port(), "127.0.0.2");
    conn.Send("AUTH,bus-1,secret-one\n" + Csv("bus-1"));
    EXPECT_TRUE(conn.WaitForPeerClose(10'000));
  }
  ASSERT_TRUE(WaitFor([&] { return Closed(CloseReason::kAuthRateLimited) == 5; }));
  EXPECT_EQ(Closed(CloseReason::kAuthFailed), 3u);
  EXPECT_EQ(Lines(LineOutcome::kAuthFailed), 3u) << "refused connections are not read";
  EXPECT_EQ(gateway_->ingest_counters().auth_limiter_sources.load(), 1u);
  // Another source is not affected.
  TestConnection other(gateway_->device_port(), "127.0.0.5");
  ASSERT_TRUE(other.Send("AUTH,bus-1,secret-one\n" + Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1"}));
}

TEST_F(DeviceAuthTest, AReloadThatChangesTheDeviceRevokesItsConnection) {
  Start();
  auto subscriber = Subscribe();
  TestConnection one(gateway_->device_port());
  TestConnection two(gateway_->device_port());
  ASSERT_TRUE(one.Send("AUTH,bus-1,secret-one\n" + Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  ASSERT_TRUE(two.Send("AUTH,dev-2,secret-two\n" + Csv("dev-2")));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  // bus-1's secret is rotated; dev-2 stays as it was.
  Write(absl::StrCat("bus-1 secret_sha256=", Sha256Hex("rotated"),
                     "\ndev-2 name=bus-2 secret_sha256=", Sha256Hex("secret-two"), "\n"));
  gateway_->ReloadDevices();
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->ingest_counters().device_registry_entries.load() == 2; }));
  ASSERT_TRUE(one.Send(Csv("bus-1")));  // read after the reload: revoked
  EXPECT_TRUE(one.WaitForPeerClose(10'000));
  ASSERT_TRUE(WaitFor([&] { return Closed(CloseReason::kAuthRevoked) == 1; }));
  EXPECT_EQ(Lines(LineOutcome::kUnauthenticated), 1u);
  ASSERT_TRUE(two.Send(Csv("dev-2")));
  ASSERT_TRUE(subscriber->WaitForCount(3));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1", "bus-2", "bus-2"}));
  // The new secret works.
  TestConnection again(gateway_->device_port());
  ASSERT_TRUE(again.Send("AUTH,bus-1,rotated\n" + Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(4));
}

TEST_F(DeviceAuthTest, AConnectionThatNeverAuthenticatesIsClosedAfterTheLineTimeout) {
  GatewayOptions options;
  options.device.line_timeout = absl::Milliseconds(300);
  Start(options);
  auto subscriber = Subscribe();
  TestConnection silent(gateway_->device_port());
  TestConnection authenticated(gateway_->device_port());
  ASSERT_TRUE(authenticated.Send("AUTH,bus-1,secret-one\n"));
  EXPECT_TRUE(silent.WaitForPeerClose(10'000)) << "holds a slot without authenticating";
  ASSERT_TRUE(WaitFor([&] { return Closed(CloseReason::kAuthTimeout) == 1; }));
  // Authenticated, it may stay quiet for as long as --idle_timeout_ms lets it.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_TRUE(authenticated.Send(Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_EQ(Closed(CloseReason::kAuthTimeout), 1u);
}

TEST_F(DeviceAuthTest, AListenerPolicyOverridesTheDefault) {
  // Trackers that cannot send a secret on their own listener (registered),
  // authenticated devices on the default one.
  GatewayOptions options;
  gateway::ListenerOptions listener;
  listener.address = "127.0.0.1:0";
  options.device.listeners = {listener, listener};
  options.device.listeners[1].policy = DevicePolicy::kRegistered;
  Start(options);
  ASSERT_EQ(gateway_->device_ports().size(), 2u);
  auto subscriber = Subscribe();
  TestConnection registered(gateway_->device_ports()[1]);
  ASSERT_TRUE(registered.Send(Csv("bus-4") + Csv("intruder")));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kUnregistered) == 1; }));
  TestConnection authenticated(gateway_->device_ports()[0]);
  ASSERT_TRUE(authenticated.Send(Csv("bus-4")));
  EXPECT_TRUE(authenticated.WaitForPeerClose(10'000)) << "no authentication line";
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-4"}));
}

TEST_F(DeviceAuthTest, AnAuthenticatedPolicyNeedsALineListener) {
  GatewayOptions options;
  options.device.devices_file = path_;
  options.device.device_policy = DevicePolicy::kAuthenticated;
  gateway::ListenerOptions listener;
  listener.address = "127.0.0.1:0";
  listener.protocol = ingest::DeviceProtocol::kH02;
  options.device.listeners = {listener};
  options.grpc_listen = "127.0.0.1:0";
  Gateway gateway(options);
  const absl::Status status = gateway.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "policy=registered")) << status;
}

TEST_F(DeviceAuthTest, TheAuthenticationLineIsAcknowledgedWithTheRecords) {
  GatewayOptions options;
  options.journal.directory = dir_.path() + "/journal";
  options.device.ack_listen = "127.0.0.1:0";
  Start(options);
  TestConnection conn(gateway_->device_ack_port());
  ASSERT_TRUE(conn.Send("AUTH,bus-1,secret-one\n" + Csv("bus-1") + Csv("bus-1")));
  std::string received;
  EXPECT_TRUE(conn.ReceiveUntil("ACK 3\n", 10'000, &received)) << received;
}

}  // namespace
}  // namespace fixstream
