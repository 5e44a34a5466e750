// The journal wired into a running gateway: records survive a restart with
// their sequence numbers, subscribers resume across it, and two gateways
// cannot share one journal. In-process gateways on ephemeral ports.
#include <stdlib.h>

#include <filesystem>

#include "tests/integration/test_gateway.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

// Holds the journal's fsyncs while closed (JournalOptions::before_sync).
class FsyncGate {
 public:
  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void Pass() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&open_));
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
};

class JournalIntegrationTest : public GatewayTest {
 protected:
  void SetUp() override {}  // the gateway starts in each test, with its journal
  void TearDown() override {
    fsyncs_.Open();    // a failed test may have left fsyncs held
    gateway_.reset();  // before journal_dir_ is removed
  }
  GatewayOptions WithJournal() {
    GatewayOptions options;
    options.journal.directory = dir_;
    options.journal.durability = gateway::DurabilityPolicy::kPerBatch;
    return options;
  }
  testing::TempDir journal_dir_{"fixstream-journal"};
  const std::string dir_ = journal_dir_.path();
  FsyncGate fsyncs_;  // outlives the gateway: its journal's before_sync calls it
};

TEST_F(JournalIntegrationTest, RecordsSurviveARestartAndSequencesContinue) {
  RestartAfterPublishing(WithJournal(), 300);
  EXPECT_EQ(gateway_->hub().head(), 301u);
  // A subscriber from sequence 1 gets exactly the 300, then new ones at 301.
  Subscriber s(gateway_->grpc_port(), [] {
    v1::SubscribeRequest r;
    r.set_start_sequence(1);
    return r;
  }());
  ASSERT_TRUE(s.WaitForCount(300));
  SendAndWait(0, 5, 300);
  ASSERT_TRUE(s.WaitForCount(305));
  std::vector<v1::LocationRecord> got = s.records();
  ASSERT_EQ(got.size(), 305u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sequence(), i + 1);
    EXPECT_EQ(got[i].fix_time().seconds() * 1000, kStartMs + static_cast<int64_t>(i) * 1000);
  }
  // Duplicate windows survived the restart too: a replay is not republished.
  {
    TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send(testing::CsvLine("j", kStartMs + 299 * 1000LL, 1, 2, 0)));
  }
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().records_duplicate.load() == 1; }));
}

TEST_F(JournalIntegrationTest, SubscribersResumeFromDiskBeyondTheRing) {
  GatewayOptions options = WithJournal();
  options.hub.max_records = 100;  // the ring keeps the newest 100 only
  options.subscription.max_batch_records = 64;
  RestartAfterPublishing(options, 250);
  ASSERT_EQ(gateway_->hub().oldest(), 151u);
  // From sequence 1: 1..150 come from disk, 151..250 from the ring, in order.
  v1::SubscribeRequest from_one;
  from_one.set_start_sequence(1);
  Subscriber all(gateway_->grpc_port(), from_one);
  // The same through a vehicle filter (disk frames are decoded to filter).
  v1::SubscribeRequest filtered = from_one;
  filtered.add_vehicle_ids("j");
  Subscriber vehicle(gateway_->grpc_port(), filtered);
  ASSERT_TRUE(all.WaitForCount(250));
  ASSERT_TRUE(vehicle.WaitForCount(250));
  std::vector<v1::LocationRecord> got = all.records();
  ASSERT_EQ(got.size(), 250u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].sequence(), i + 1);
  EXPECT_TRUE(all.gaps().empty());
  // Each catch-up read is a whole batch, so the last one may reach into the
  // ring's range: at least the 150 evicted records per subscriber came from
  // disk, at most one batch more.
  const uint64_t from_disk = gateway_->subscription_counters().records_from_journal.load();
  EXPECT_GE(from_disk, 2u * 150);
  EXPECT_LE(from_disk, 2u * (150 + 64));
  // A filter that matches nothing on disk skips it without a gap.
  v1::SubscribeRequest other = from_one;
  other.add_vehicle_ids("nobody");
  Subscriber none(gateway_->grpc_port(), other);
  {
    TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send(testing::CsvLine("nobody", kStartMs, 1, 2, 0)));
  }
  ASSERT_TRUE(none.WaitForCount(1));
  EXPECT_EQ(none.records()[0].vehicle_id(), "nobody");
  EXPECT_TRUE(none.gaps().empty());
}

TEST_F(JournalIntegrationTest, ASecondGatewayOnTheSameJournalRefusesToStart) {
  StartGateway(WithJournal());
  GatewayOptions options = WithJournal();
  options.device.listen = "127.0.0.1:0";
  options.grpc_listen = "127.0.0.1:0";
  Gateway second(options);
  absl::Status status = second.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("--journal_dir=" + dir_), std::string::npos) << status;
  EXPECT_NE(status.message().find("locked"), std::string::npos) << status;
}

// Acknowledgements (docs/PROTOCOL.md): `ACK <n>\n` once lines 1..n are
// durable, on the acknowledging listener only.
std::vector<uint64_t> ParseAcks(const std::string& received) {
  std::vector<uint64_t> acks;
  size_t pos = 0;
  while (pos < received.size()) {
    const size_t end = received.find('\n', pos);
    EXPECT_NE(end, std::string::npos) << "unterminated ack in: " << received;
    if (end == std::string::npos) break;
    const std::string line = received.substr(pos, end - pos);
    EXPECT_TRUE(line.starts_with("ACK ")) << line;
    acks.push_back(std::stoull(line.substr(4)));
    pos = end + 1;
  }
  return acks;
}

TEST_F(JournalIntegrationTest, AcksComeOnlyOnceTheLinesAreDurable) {
  GatewayOptions options = WithJournal();
  // Group commit with a long interval: the records stay in memory for 3 s.
  options.journal.durability = gateway::DurabilityPolicy::kGroupCommit;
  options.journal.group_commit_interval = absl::Seconds(3);
  options.device.ack_listen = "127.0.0.1:0";
  StartGateway(options);
  ASSERT_NE(gateway_->device_ack_port(), 0);
  TestConnection conn(gateway_->device_ack_port());
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += testing::CsvLine("ack", kStartMs + i * 1000LL, 1, 2, 0);
  ASSERT_TRUE(conn.Send(lines));
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().records_published.load() == 10; }));
  std::string received;
  ASSERT_TRUE(conn.ReceiveFor(500, &received));
  // Published, delivered to subscribers, but not fsynced: not acknowledged.
  EXPECT_EQ(received, "") << "acknowledged at durable sequence "
                          << gateway_->journal()->durable_sequence();
  ASSERT_TRUE(conn.ReceiveUntil("ACK 10\n", 10'000, &received)) << received;
  EXPECT_GE(gateway_->journal()->durable_sequence(), 10u);
  EXPECT_EQ(ParseAcks(received), std::vector<uint64_t>{10});
}

TEST_F(JournalIntegrationTest, AcksCountEveryLineAndAHalfClosedDeviceGetsTheLast) {
  GatewayOptions options = WithJournal();
  options.device.ack_listen = "127.0.0.1:0";
  StartGateway(options);
  TestConnection conn(gateway_->device_ack_port());
  // 3 records, a rejected line, a blank line, a duplicate of the first: 6 lines.
  ASSERT_TRUE(conn.Send(testing::CsvLine("h", kStartMs, 1, 2, 0) +
                        testing::CsvLine("h", kStartMs + 1000, 1, 2, 0) + "not a fix\n\n" +
                        testing::CsvLine("h", kStartMs + 2000, 1, 2, 0) +
                        testing::CsvLine("h", kStartMs, 1, 2, 0)));
  std::string received;
  ASSERT_TRUE(conn.ReceiveUntil("ACK 6\n", 10'000, &received)) << received;
  // More lines in separate writes; acks never go down and end at the total.
  for (int i = 3; i < 50; ++i) {
    ASSERT_TRUE(conn.Send(testing::CsvLine("h", kStartMs + i * 1000LL, 1, 2, 0)));
  }
  // The device closes its sending side and reads acks until the gateway
  // closes: the last one covers every line.
  conn.ShutdownWrite();
  bool closed = false;
  for (int i = 0; i < 30 && !closed; ++i) closed = !conn.ReceiveFor(1'000, &received);
  ASSERT_TRUE(closed) << "the gateway did not close a half-closed connection: " << received;
  const std::vector<uint64_t> acks = ParseAcks(received);
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back(), 53u) << received;
  EXPECT_TRUE(std::is_sorted(acks.begin(), acks.end()));
  EXPECT_EQ(std::adjacent_find(acks.begin(), acks.end()), acks.end()) << "repeated ack";
  EXPECT_EQ(gateway_->ingest_counters().records_published.load(), 50u);
  EXPECT_GE(gateway_->journal()->durable_sequence(), 50u);
}

TEST_F(JournalIntegrationTest, ThePlainListenerSendsNoAcks) {
  GatewayOptions options = WithJournal();
  options.device.ack_listen = "127.0.0.1:0";
  StartGateway(options);
  TestConnection conn(gateway_->device_port());
  ASSERT_TRUE(conn.Send(testing::CsvLine("p", kStartMs, 1, 2, 0)));
  ASSERT_TRUE(WaitFor([&] { return gateway_->journal()->durable_sequence() == 1; }));
  std::string received;
  EXPECT_TRUE(conn.ReceiveFor(300, &received));
  EXPECT_EQ(received, "");
}

TEST_F(JournalIntegrationTest, AcksWithoutAJournalAreRefused) {
  GatewayOptions options;
  options.device.listen = "127.0.0.1:0";
  options.device.ack_listen = "127.0.0.1:0";
  options.grpc_listen = "127.0.0.1:0";
  Gateway gateway(options);
  absl::Status status = gateway.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("--device_ack_listen"), std::string::npos) << status;
}

TEST_F(JournalIntegrationTest, UnderPerBatchSubscribersOnlySeeDurableRecords) {
  GatewayOptions options = WithJournal();  // fsync per batch
  options.journal.before_sync = [this] { fsyncs_.Pass(); };
  StartGateway(options);
  auto s = Subscribe();
  fsyncs_.Close();
  SendAndWait(0, 50, 0);  // published, written, not fsynced
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(s->count(), 0u) << "a subscriber got a record before it was fsynced";
  EXPECT_EQ(gateway_->journal()->durable_sequence(), 0u);
  fsyncs_.Open();
  ASSERT_TRUE(s->WaitForCount(50));
  EXPECT_GE(gateway_->journal()->durable_sequence(), 50u);
}

TEST_F(JournalIntegrationTest, UnderPerBatchANewSubscriberGetsOnlyNewRecords) {
  GatewayOptions options = WithJournal();
  options.journal.before_sync = [this] { fsyncs_.Pass(); };
  StartGateway(options);
  fsyncs_.Close();
  SendAndWait(0, 10, 0);  // 1..10, not durable yet
  auto s = Subscribe();   // new records only: from 11
  fsyncs_.Open();
  SendAndWait(10, 5, 10);  // 11..15
  ASSERT_TRUE(s->WaitForCount(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<v1::LocationRecord> got = s->records();
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].sequence(), 11 + i);
}

}  // namespace
}  // namespace fixstream
