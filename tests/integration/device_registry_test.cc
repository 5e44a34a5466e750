// The device registry (--devices_file) and --device_policy over real
// loopback sockets against an in-process gateway: unregistered ids, ids
// from the wrong source address, name= mapping, and reloads (a change of
// the file, Gateway::ReloadDevices as on SIGHUP) while a connection sends.
// Sources are told apart by binding 127.0.0.x client addresses.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/devices_file_test.h"

namespace fixstream {
namespace {

using gateway::DevicePolicy;

class DeviceRegistryTest : public DevicesFileTest {
 protected:
  void Start(DevicePolicy policy) { StartWithDevices(policy); }
};

TEST_F(DeviceRegistryTest, RegisteredPolicyRejectsUnregisteredIdsAndWrongSources) {
  Write("bus-1\nbus-2 from=127.0.0.2\n");
  Start(DevicePolicy::kRegistered);
  auto subscriber = Subscribe();
  {
    TestConnection conn(gateway_->device_port(), "127.0.0.2");
    ASSERT_TRUE(conn.Send(Csv("bus-1") + Csv("intruder-9") + Csv("bus-2")));
    // (Published before the next connection sends: the order across
    // connections is otherwise the gateway's to choose.)
    ASSERT_TRUE(subscriber->WaitForCount(2));
  }
  {
    // bus-2 spoofed from another address.
    TestConnection conn(gateway_->device_port(), "127.0.0.3");
    ASSERT_TRUE(conn.Send(Csv("bus-2") + Csv("bus-1")));
  }
  ASSERT_TRUE(subscriber->WaitForCount(3));
  ASSERT_TRUE(WaitFor([&] {
    return Lines(LineOutcome::kUnregistered) == 1 && Lines(LineOutcome::kSourceMismatch) == 1;
  }));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1", "bus-2", "bus-1"}));
  EXPECT_EQ(Lines(LineOutcome::kPublished), 3u) << "every line published or counted by reason";
  EXPECT_EQ(gateway_->ingest_counters().device_registry_entries.load(), 2u);
}

TEST_F(DeviceRegistryTest, NameMapsTheDeviceIdToTheFleetVehicleId) {
  Write("358240051111110 name=bus-7\n");
  Start(DevicePolicy::kRegistered);
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port(), "127.0.0.2");
  ASSERT_TRUE(conn.Send(Csv("358240051111110") + testing::NmeaIdentify("358240051111110") +
                        testing::NmeaRmc(kStartMs + 500'000, 52.5, 13.4, 10)));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-7", "bus-7"}));
}

TEST_F(DeviceRegistryTest, OpenPolicyAcceptsAnyIdAndStillMapsNames) {
  Write("dev-1 name=bus-1 from=10.0.0.0/8\n");
  Start(DevicePolicy::kOpen);
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port(), "127.0.0.2");
  ASSERT_TRUE(conn.Send(Csv("dev-1") + Csv("anyone")));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1", "anyone"}));
  EXPECT_EQ(Lines(LineOutcome::kUnregistered), 0u);
}

TEST_F(DeviceRegistryTest, AReloadAppliesToAConnectionThatIsSending) {
  Write("bus-1\n");
  Start(DevicePolicy::kRegistered);
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port(), "127.0.0.2");
  ASSERT_TRUE(conn.Send(Csv("bus-1") + Csv("bus-2")));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kUnregistered) == 1; }));
  // A changed file, picked up by the poll: bus-2 in, bus-1 out.
  Write("bus-2\n");
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->ingest_counters().device_registry_reloads.load() == 1; }));
  ASSERT_TRUE(conn.Send(Csv("bus-2") + Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(2));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kUnregistered) == 2; }));
  // A broken file keeps the registry in force.
  Write("bus-3\nbus-3\n");
  ASSERT_TRUE(WaitFor(
      [&] { return gateway_->ingest_counters().device_registry_reload_failures.load() == 1; }));
  ASSERT_TRUE(conn.Send(Csv("bus-2")));
  ASSERT_TRUE(subscriber->WaitForCount(3));
  // SIGHUP's path: read now.
  Write("bus-1\nbus-2\n");
  gateway_->ReloadDevices();
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->ingest_counters().device_registry_entries.load() == 2; }));
  ASSERT_TRUE(conn.Send(Csv("bus-1")));
  ASSERT_TRUE(subscriber->WaitForCount(4));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"bus-1", "bus-2", "bus-2", "bus-1"}));
}

// Reloads while eight connections send: every line is published or
// counted unregistered (none lost, none counted twice), the ids every
// version of the file keeps lose nothing, and the server stays consistent.
TEST_F(DeviceRegistryTest, ReloadsUnderLoadLoseNoLine) {
  auto file = [](bool odd_too) {
    std::string text;
    for (int i = 0; i < 8; ++i) {
      if (odd_too || i % 2 == 0) absl::StrAppend(&text, "bus-", i, "\n");
    }
    return text;
  };
  Write(file(true));
  Start(DevicePolicy::kRegistered);
  auto subscriber = Subscribe();
  constexpr int kConnections = 8;
  constexpr int kLines = 4000;
  constexpr int kChunk = 100;
  std::atomic<bool> failed{false};
  std::vector<std::thread> senders;
  for (int c = 0; c < kConnections; ++c) {
    senders.emplace_back([&, c] {
      TestConnection conn(gateway_->device_port());
      for (int i = 0; i < kLines; i += kChunk) {
        std::string chunk;
        for (int j = i; j < i + kChunk; ++j) {
          chunk += testing::CsvLine(absl::StrCat("bus-", c), kStartMs + 1000LL * j, 52.5, 13.4, 0);
        }
        if (!conn.Send(chunk)) failed = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  for (int r = 0; r < 20; ++r) {
    Write(file(r % 2 == 1));
    gateway_->ReloadDevices();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (std::thread& t : senders) t.join();
  ASSERT_FALSE(failed);
  constexpr uint64_t kSent = uint64_t{kConnections} * kLines;
  ASSERT_TRUE(WaitFor([&] {
    return Lines(LineOutcome::kPublished) + Lines(LineOutcome::kUnregistered) == kSent;
  })) << Lines(LineOutcome::kPublished)
      << " + " << Lines(LineOutcome::kUnregistered);
  ASSERT_TRUE(subscriber->WaitForCount(Lines(LineOutcome::kPublished)));
  std::map<std::string, int> per_vehicle;
  for (const std::string& id : Vehicles(*subscriber)) ++per_vehicle[id];
  for (int c = 0; c < kConnections; c += 2) {
    EXPECT_EQ(per_vehicle[absl::StrCat("bus-", c)], kLines) << "bus-" << c << " is never removed";
  }
  EXPECT_GT(gateway_->ingest_counters().device_registry_reloads.load(), 10u);
}

}  // namespace
}  // namespace fixstream

namespace fixstream {
namespace {

// A tracker's heartbeat refreshes the last-seen time of the fleet name its
// device id is registered under (the vehicle its records are published as),
// and under the registered policy nothing for an unregistered device.
TEST_F(DeviceRegistryTest, AHeartbeatRefreshesTheMappedVehicle) {
  Write("864035052942928 name=truck-3\n");
  Start(DevicePolicy::kRegistered);
  const absl::Time now = absl::Now();
  const std::string position = absl::StrCat(
      "imei:864035052942928,tracker,", absl::FormatTime("%y%m%d%H%M%S", now, absl::UTCTimeZone()),
      ",,F,", absl::FormatTime("%H%M%S", now, absl::UTCTimeZone()),
      ".000,A,5231.2000,N,01324.0000,E,0.00,0;");
  auto subscriber = Subscribe();
  TestConnection device(gateway_->device_port());
  ASSERT_TRUE(device.Send(position));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_EQ(Vehicles(*subscriber), (std::vector<std::string>{"truck-3"}));
  auto last_seen = [&](const std::string& id) {
    for (const auto& v : gateway_->hub().VehiclesPage("", 10)) {
      if (v.id == id) return v.last_seen_unix_ns;
    }
    return int64_t{-1};
  };
  const int64_t before = last_seen("truck-3");
  ASSERT_GT(before, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(device.Send("864035052942928;"));
  EXPECT_TRUE(WaitFor([&] { return last_seen("truck-3") > before; }));
  EXPECT_EQ(last_seen("864035052942928"), -1);  // never under the device id
  // An unregistered tracker's heartbeat refreshes nothing and creates nothing.
  TestConnection stranger(gateway_->device_port());
  ASSERT_TRUE(stranger.Send("864035000000001;"));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kHeartbeat) == 2; }));
  EXPECT_EQ(gateway_->hub().VehiclesPage("", 10).size(), 1u);
}

}  // namespace
}  // namespace fixstream
