// The journal wired into a running gateway: records survive a restart with
// their sequence numbers, subscribers resume across it, and two gateways
// cannot share one journal. In-process gateways on ephemeral ports.
#include <stdlib.h>

#include <filesystem>

#include "tests/integration/test_gateway.h"

namespace fixstream {
namespace {

class JournalIntegrationTest : public GatewayTest {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "fixstream-journal-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    gateway_.reset();
    std::filesystem::remove_all(dir_);
  }
  GatewayOptions WithJournal() {
    GatewayOptions options;
    options.journal.directory = dir_;
    options.journal.durability = gateway::DurabilityPolicy::kPerBatch;
    return options;
  }
  void SendAndWait(uint64_t already, int count, int first_index) {
    TestConnection conn(gateway_->device_port());
    std::string lines;
    for (int i = first_index; i < first_index + count; ++i) {
      lines += testing::CsvLine("j", kStartMs + i * 1000LL, 1, 2, 0);
    }
    ASSERT_TRUE(conn.Send(lines));
    ASSERT_TRUE(WaitFor(
        [&] { return gateway_->ingest_counters().records_published.load() == already + count; }));
  }
  std::string dir_;
};

TEST_F(JournalIntegrationTest, RecordsSurviveARestartAndSequencesContinue) {
  StartGateway(WithJournal());
  SendAndWait(0, 300, 0);
  gateway_->Shutdown();
  gateway_.reset();

  StartGateway(WithJournal());
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
  StartGateway(options);
  SendAndWait(0, 250, 0);
  gateway_->Shutdown();
  gateway_.reset();
  StartGateway(options);
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

}  // namespace
}  // namespace fixstream
