// DeviceServer::Stop() while the store's threads keep calling in (issue
// #13): the journal writer's commit and available callbacks post handlers to
// the sessions' threads at any moment, also while and after the server
// stops. Handlers that were posted but never run are destroyed with their
// io_context, after the session table; a session destroyed that way touches
// only what outlives the contexts (DeviceServer::Impl's member order). Run
// under ASan in the CI, this fails on any use after free; and every line
// read is accounted for: published, or counted as refused because its
// connection was paused by a stalled journal when the server stopped.
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "asio.hpp"
#include "fault_injecting_file_system.h"
#include "gateway/device/device_server.h"
#include "gateway/store/embedded_store.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

using asio::ip::tcp;

template <typename Done>
bool WaitFor(Done done) {
  for (int i = 0; i < 20000; ++i) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return done();
}

std::string CsvLines(const std::string& vehicle, int count) {
  std::string lines;
  for (int i = 0; i < count; ++i) {
    lines +=
        absl::StrCat(vehicle, ",",
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() - absl::Seconds(count - i),
                                      absl::UTCTimeZone()),
                     ",52.5,13.4\n");
  }
  return lines;
}

TEST(DeviceServerStopTest, CallbacksDuringAndAfterStopAreSafeAndEveryLineIsCounted) {
  std::string dir = ::testing::TempDir() + "device_server_stop_test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  FaultInjectingFileSystem fs;
  EmbeddedStore store{HubOptions()};
  IngestCounters counters;
  DeviceServerOptions options;
  options.listen = "127.0.0.1:0";
  options.ack_listen = "127.0.0.1:0";
  options.io_threads = 2;
  auto server = std::make_unique<DeviceServer>(options, store, counters);
  store.SetCommitCallback([&](uint64_t durable) { server->OnDurable(durable); });
  store.SetAvailableCallback([&] { server->OnStoreAvailable(); });
  JournalOptions journal;
  journal.directory = dir;
  journal.file_system = &fs;
  journal.retry_backoff = absl::Milliseconds(2);
  journal.retry_backoff_max = absl::Milliseconds(5);
  ASSERT_TRUE(store.OpenJournal(journal).ok());
  ASSERT_TRUE(server->Start().ok());
  const std::vector<uint16_t> ports = server->ports();
  ASSERT_EQ(ports.size(), 2u);

  asio::io_context io;
  std::vector<tcp::socket> devices;
  auto send_all = [&](int round) {
    for (size_t i = 0; i < devices.size(); ++i) {
      asio::write(devices[i], asio::buffer(CsvLines(absl::StrCat("v", i, "-", round), 20)));
    }
  };
  for (int i = 0; i < 8; ++i) {
    devices.emplace_back(io);
    devices.back().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), ports[i % 2]));
  }
  send_all(0);
  ASSERT_TRUE(WaitFor([&] { return counters.records_published.load() == 160; }));
  fs.Inject(Fault(FaultOp::kWrite, ENOSPC).OnPath(".fsj"));
  send_all(1);  // numbered before the writer fails, or refused once it did
  ASSERT_TRUE(WaitFor([&] { return store.journal()->stalled(); }));
  send_all(2);  // refused: these connections pause
  ASSERT_TRUE(WaitFor([&] { return server->paused_connections() == devices.size(); }));
  send_all(3);  // not read: waits in the kernel

  // The journal's threads, as they may call at any moment.
  std::atomic<bool> stop{false};
  std::thread poker([&] {
    for (uint64_t n = 1; !stop.load(); ++n) {
      server->OnDurable(n);
      server->OnStoreAvailable();
    }
  });
  server->Stop();
  fs.Clear();  // the journal recovers: its callbacks now run into a stopped server
  ASSERT_TRUE(WaitFor([&] { return !store.journal()->stalled(); }));
  absl::SleepFor(absl::Milliseconds(50));
  stop = true;
  poker.join();
  ASSERT_TRUE(store.CloseJournal().ok());
  server.reset();

  EXPECT_EQ(counters.connections_active.load(), 0);
  EXPECT_EQ(counters.connections_paused.load(), 0);
  // Lines read while a connection was paused could not be published at the
  // stop: counted, not lost silently.
  EXPECT_GT(counters.records_refused_unavailable.load(), 0u);
  EXPECT_EQ(counters.line_count(ingest::LineOutcome::kPublished),
            counters.records_published.load() + counters.records_duplicate.load() +
                counters.records_dropped_at_shutdown.load() +
                counters.records_refused_unavailable.load());
  EXPECT_EQ(counters.bytes_read.load(),
            counters.bytes_framed.load() + counters.bytes_discarded.load());
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace fixstream::gateway
