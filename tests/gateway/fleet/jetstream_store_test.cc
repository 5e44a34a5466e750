// JetStreamStore against real nats-server processes (127.0.0.1, an ephemeral
// port, a temporary store directory), started and stopped by PID. Skipped
// when nats-server is not installed (apt-get install nats-server).
#include "gateway/fleet/jetstream_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../store/test_batches.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway/hub/record_codec.h"
#include "gtest/gtest.h"
#include "test_nats_server.h"

namespace fixstream::gateway {
namespace {

using testing::MakeBatch;

using ::fixstream::testing::FindNatsServer;
using ::fixstream::testing::FreePort;
using ::fixstream::testing::NatsServer;

class JetStreamStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = FindNatsServer();
    if (binary_.empty()) {
      GTEST_SKIP() << "nats-server is not installed (apt-get install nats-server): the "
                      "JetStream store is not tested";
    }
    char templ[] = "/tmp/fixstream-js-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    port_ = FreePort();
    server_ = std::make_unique<NatsServer>(binary_, dir_, port_);
    ASSERT_TRUE(server_->Start()) << "nats-server did not listen on " << port_;
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    // Every store is gone: libnats's own threads and memory go too.
    nats_CloseAndWait(5000);
  }

  JetStreamStoreOptions Options(std::string id) const {
    JetStreamStoreOptions o;
    o.url = server_->url();
    o.stream = "TEST";
    o.gateway_id = std::move(id);
    o.batch_cap = 4;
    o.max_in_flight = 64;
    o.replay_timeout = absl::Seconds(20);
    o.hub.max_records = 1 << 14;
    o.hub.max_bytes = 8 << 20;
    o.hub.prefault_ring = false;
    return o;
  }

  std::string binary_;
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<NatsServer> server_;
};

// Publishes `batch` until the store takes it (waits out `unavailable`).
RecordStore::PublishResult PublishAll(RecordStore& store, RecordBatch batch) {
  for (int i = 0; i < 2000; ++i) {
    RecordStore::PublishResult r = store.Publish(batch);
    if (r.unavailable == 0) return r;
    absl::SleepFor(absl::Milliseconds(5));
  }
  ADD_FAILURE() << "the store never took the batch";
  return {};
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// Everything `store` serves from `cursor` on (all records), as frames.
std::string ReadFrom(const RecordStore& store, uint64_t cursor, uint64_t end) {
  std::string out;
  while (cursor < end) {
    RecordStore::ReadResult r = store.Read(cursor, SubscriptionFilter{}, 1000, 1 << 20, &out);
    EXPECT_FALSE(r.gap) << "gap at " << cursor;
    if (r.gap || r.next_cursor <= cursor) break;
    cursor = r.next_cursor;
  }
  return out;
}

// (sequence, vehicle) of each frame.
std::vector<std::pair<uint64_t, std::string>> Frames(std::string_view bytes) {
  std::vector<std::pair<uint64_t, std::string>> frames;
  while (!bytes.empty()) {
    const size_t size = FrameSize(bytes);
    DecodedFrame d;
    if (size == 0 || !DecodeFrame(bytes.substr(0, size), &d)) {
      ADD_FAILURE() << "frame does not decode";
      break;
    }
    frames.emplace_back(d.sequence,
                        std::string(bytes.substr(d.layout.vehicle_offset, d.layout.vehicle_size)));
    bytes.remove_prefix(size);
  }
  return frames;
}

TEST_F(JetStreamStoreTest, TwoGatewaysSeeEveryRecordOnceInTheSameOrder) {
  JetStreamStore a(Options("a"));
  JetStreamStore b(Options("b"));
  std::atomic<uint64_t> a_committed{0};
  std::atomic<uint64_t> b_committed{0};
  a.SetCommitCallback([&](uint64_t p) { a_committed = p; });
  b.SetCommitCallback([&](uint64_t p) { b_committed = p; });
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());

  constexpr int kBatches = 200;
  uint64_t a_last = 0;
  uint64_t b_last = 0;
  std::thread ta([&] {
    for (int i = 0; i < kBatches; ++i)
      a_last = PublishAll(a, MakeBatch(1 + i % 7, "va")).commit_position;
  });
  std::thread tb([&] {
    for (int i = 0; i < kBatches; ++i)
      b_last = PublishAll(b, MakeBatch(1 + i % 5, "vb")).commit_position;
  });
  ta.join();
  tb.join();
  uint64_t total = 0;
  for (int i = 0; i < kBatches; ++i) total += 1 + i % 7 + 1 + i % 5;

  ASSERT_TRUE(a.Flush().ok());
  ASSERT_TRUE(b.Flush().ok());
  // (Flush() returns once the positions are acknowledged; the commit
  // callback reports them right after, on libnats's thread.)
  EXPECT_TRUE(WaitFor([&] { return a_committed.load() == a_last; }))
      << a_committed.load() << " of " << a_last;
  EXPECT_TRUE(WaitFor([&] { return b_committed.load() == b_last; }))
      << b_committed.load() << " of " << b_last;
  ASSERT_TRUE(WaitFor([&] { return a.head() == total + 1 && b.head() == total + 1; }))
      << a.head() << " " << b.head() << " want " << total + 1;

  const std::string from_a = ReadFrom(a, 1, a.readable_end());
  const std::string from_b = ReadFrom(b, 1, b.readable_end());
  EXPECT_EQ(from_a, from_b) << "the two gateways serve different streams";
  const auto frames = Frames(from_a);
  ASSERT_EQ(frames.size(), total);
  size_t va = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].first, i + 1);  // dense, in order
    va += frames[i].second == "va";
  }
  size_t want_va = 0;
  for (int i = 0; i < kBatches; ++i) want_va += 1 + i % 7;
  EXPECT_EQ(va, want_va);

  // The fleet's vehicles, on either gateway.
  std::string latest;
  std::vector<std::string> unknown;
  b.LatestPositions({"va", "vb"}, &latest, &unknown);
  EXPECT_TRUE(unknown.empty());
  EXPECT_EQ(Frames(latest).size(), 2u);
}

TEST_F(JetStreamStoreTest, SubscriberMovesFromOneGatewayToTheOtherWithoutGapOrDuplicate) {
  JetStreamStore a(Options("a"));
  JetStreamStore b(Options("b"));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  for (int i = 0; i < 50; ++i) PublishAll(i % 2 ? a : b, MakeBatch(3, i % 2 ? "x" : "y"));
  ASSERT_TRUE(WaitFor([&] { return a.head() == 151 && b.head() == 151; }));

  // Read half from A, then resume on B at A's next cursor.
  std::string got;
  RecordStore::ReadResult r = a.Read(1, SubscriptionFilter{}, 70, 1 << 20, &got);
  ASSERT_EQ(r.records, 70u);
  ASSERT_EQ(r.next_cursor, 71u);
  got += ReadFrom(b, r.next_cursor, b.readable_end());
  const auto frames = Frames(got);
  ASSERT_EQ(frames.size(), 150u);
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(frames[i].first, i + 1);
  EXPECT_EQ(got, ReadFrom(a, 1, a.readable_end()));
}

TEST_F(JetStreamStoreTest, StartReplaysTheStreamsHistory) {
  {
    JetStreamStore a(Options("a"));
    ASSERT_TRUE(a.Start().ok());
    for (int i = 0; i < 30; ++i) PublishAll(a, MakeBatch(5, "h"));
    ASSERT_TRUE(a.Flush().ok());
  }
  JetStreamStore late(Options("late"));
  ASSERT_TRUE(late.Start().ok());
  EXPECT_EQ(late.head(), 151u);  // replayed before Start() returned
  EXPECT_EQ(Frames(ReadFrom(late, 1, late.readable_end())).size(), 150u);
  EXPECT_EQ(late.VehiclesPage("", 10).size(), 1u);
}

TEST_F(JetStreamStoreTest, RefusesWhileNatsIsDownAndResumesAfter) {
  JetStreamStore a(Options("a"));
  absl::Mutex mu;
  std::vector<bool> health;  // ok() of each report
  std::atomic<int> available{0};
  a.SetHealthCallback([&](const absl::Status& s) {
    absl::MutexLock lock(&mu);
    health.push_back(s.ok());
  });
  a.SetAvailableCallback([&] { ++available; });
  ASSERT_TRUE(a.Start().ok());
  PublishAll(a, MakeBatch(2, "d"));
  ASSERT_TRUE(a.Flush().ok());

  server_->Stop();
  ASSERT_TRUE(WaitFor([&] { return !a.connected(); }));
  RecordBatch batch = MakeBatch(3, "d");
  RecordStore::PublishResult r = a.Publish(batch);
  EXPECT_EQ(r.unavailable, 3u);
  EXPECT_EQ(r.published, 0u);
  // (The health report follows the disconnection on libnats's callback thread.)
  EXPECT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return !health.empty() && !health.back();
  })) << "no NOT_SERVING report";

  server_ = std::make_unique<NatsServer>(binary_, dir_, port_);  // same port, same store
  ASSERT_TRUE(server_->Start());
  ASSERT_TRUE(WaitFor([&] { return a.connected() && available.load() > 0; }));
  EXPECT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return !health.empty() && health.back();
  })) << "no SERVING report after the reconnection";
  r = PublishAll(a, std::move(batch));
  EXPECT_EQ(r.published, 3u);
  ASSERT_TRUE(a.Flush().ok());
  EXPECT_TRUE(WaitFor([&] { return a.head() == 6; })) << a.head();
}

}  // namespace
}  // namespace fixstream::gateway
