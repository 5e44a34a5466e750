#include "gateway/store/embedded_store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "fixstream/v1/location.pb.h"
#include "gateway/hub/record_codec.h"
#include "gtest/gtest.h"
#include "test_batches.h"

namespace fixstream::gateway {
namespace {

using testing::MakeBatch;

using ingest::LocationRecord;

constexpr absl::Duration kDeadline = absl::Seconds(10);

// The sequence and vehicle of each frame of a concatenation.
struct Frame {
  uint64_t sequence;
  std::string vehicle;
};
std::vector<Frame> Frames(std::string_view bytes) {
  std::vector<Frame> frames;
  while (!bytes.empty()) {
    const size_t size = FrameSize(bytes);
    DecodedFrame d;
    if (size == 0 || size > bytes.size() || !DecodeFrame(bytes.substr(0, size), &d)) {
      ADD_FAILURE() << "not a frame";
      break;
    }
    frames.push_back(Frame{
        d.sequence, std::string(bytes.substr(d.layout.vehicle_offset, d.layout.vehicle_size))});
    bytes.remove_prefix(size);
  }
  return frames;
}

HubOptions SmallRing(size_t records) {
  HubOptions options;
  options.max_records = records;
  options.max_bytes = 1 << 20;
  options.prefault_ring = false;
  return options;
}

const SubscriptionFilter kAll;

class EmbeddedStoreTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  JournalOptions Journal(DurabilityPolicy durability = DurabilityPolicy::kGroupCommit) {
    if (dir_.empty()) {
      std::string pattern = ::testing::TempDir() + "embedded_store_test-XXXXXX";
      EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
      dir_ = pattern;
    }
    JournalOptions options;
    options.directory = dir_;
    options.durability = durability;
    return options;
  }

  // Reads [cursor, readable_end()) call after call, as a subscriber does.
  static std::vector<Frame> ReadAll(const EmbeddedStore& store, uint64_t cursor,
                                    const SubscriptionFilter& filter,
                                    std::vector<RecordStore::ReadResult>* results = nullptr) {
    std::vector<Frame> frames;
    while (cursor < store.readable_end()) {
      std::string out;
      const RecordStore::ReadResult r = store.Read(cursor, filter, 100, 1 << 20, &out);
      EXPECT_GT(r.next_cursor, cursor);
      if (r.next_cursor <= cursor) break;
      for (Frame& f : Frames(out)) frames.push_back(std::move(f));
      if (results != nullptr) results->push_back(r);
      cursor = r.next_cursor;
    }
    return frames;
  }

  std::string dir_;
};

TEST_F(EmbeddedStoreTest, NumbersBatchesAndReadsThemBackFromMemory) {
  EmbeddedStore store(SmallRing(1024));
  RecordBatch a = MakeBatch(3);
  RecordBatch b = MakeBatch(2);
  const RecordStore::PublishResult ra = store.Publish(a);
  const RecordStore::PublishResult rb = store.Publish(b);
  EXPECT_EQ(ra.first_sequence, 1u);
  EXPECT_EQ(ra.published, 3u);
  EXPECT_EQ(ra.commit_position, 3u);
  EXPECT_EQ(rb.first_sequence, 4u);
  EXPECT_EQ(rb.commit_position, 5u);
  EXPECT_EQ(store.head(), 6u);
  EXPECT_EQ(store.readable_end(), 6u);
  std::string out;
  const RecordStore::ReadResult r = store.Read(2, kAll, 100, 1 << 20, &out);
  EXPECT_FALSE(r.gap);
  EXPECT_FALSE(r.from_history);
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.first_sequence, 2u);
  EXPECT_EQ(r.last_sequence, 5u);
  EXPECT_EQ(r.next_cursor, 6u);
  EXPECT_GT(r.first_publish_unix_ns, 0);
  ASSERT_EQ(Frames(out).size(), 4u);
  EXPECT_EQ(Frames(out)[0].sequence, 2u);
}

TEST_F(EmbeddedStoreTest, DuplicatesAreCountedAndCommittedWithTheirBatch) {
  EmbeddedStore store(SmallRing(1024));
  RecordBatch batch = MakeBatch(2);
  RecordBatch replay = batch;
  store.Publish(batch);
  const RecordStore::PublishResult r = store.Publish(replay);
  EXPECT_EQ(r.published, 0u);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(r.commit_position, 2u);
}

TEST_F(EmbeddedStoreTest, WithoutHistoryTheGapIsExactlyWhatLeftTheRing) {
  EmbeddedStore store(SmallRing(8));
  RecordBatch batch = MakeBatch(20);
  store.Publish(batch);
  EXPECT_EQ(store.oldest(), 13u);
  EXPECT_EQ(store.oldest_in_memory(), 13u);
  std::string out;
  const RecordStore::ReadResult r = store.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_TRUE(r.gap);
  EXPECT_EQ(r.gap_first, 1u);
  EXPECT_EQ(r.gap_last, 12u);
  EXPECT_EQ(r.next_cursor, 13u);
  EXPECT_EQ(r.records, 0u);
  EXPECT_TRUE(out.empty());
}

TEST_F(EmbeddedStoreTest, ReadsOlderThanTheRingFromTheJournalWithoutASeam) {
  EmbeddedStore store(SmallRing(8));
  ASSERT_TRUE(store.OpenJournal(Journal()).ok());
  for (int i = 0; i < 10; ++i) {
    RecordBatch batch = MakeBatch(10);
    store.Publish(batch);
  }
  ASSERT_TRUE(store.Flush().ok());
  EXPECT_EQ(store.oldest(), 1u);
  EXPECT_EQ(store.oldest_in_memory(), 93u);
  std::vector<RecordStore::ReadResult> results;
  const std::vector<Frame> frames = ReadAll(store, 1, kAll, &results);
  ASSERT_EQ(frames.size(), 100u);
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(frames[i].sequence, i + 1);
  ASSERT_FALSE(results.empty());
  EXPECT_TRUE(results.front().from_history);
  for (const RecordStore::ReadResult& r : results) EXPECT_FALSE(r.gap);
  // (A history read may reach into what the ring holds; from there on the
  // ring serves.)
  std::string out;
  EXPECT_FALSE(store.Read(store.oldest_in_memory(), kAll, 100, 1 << 20, &out).from_history);
}

TEST_F(EmbeddedStoreTest, FiltersHistoryLikeTheRing) {
  EmbeddedStore store(SmallRing(8));
  ASSERT_TRUE(store.OpenJournal(Journal()).ok());
  for (int i = 0; i < 30; ++i) {
    RecordBatch batch = MakeBatch(1, i % 3 == 0 ? "wanted" : "other");
    store.Publish(batch);
  }
  ASSERT_TRUE(store.Flush().ok());
  absl::StatusOr<SubscriptionFilter> wanted = SubscriptionFilter::FromRequest([] {
    v1::SubscribeRequest request;
    request.add_vehicle_ids("wanted");
    return request;
  }());
  ASSERT_TRUE(wanted.ok());
  const std::vector<Frame> frames = ReadAll(store, 1, *wanted);
  ASSERT_EQ(frames.size(), 10u);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].sequence, 3 * i + 1);
    EXPECT_EQ(frames[i].vehicle, "wanted");
  }
}

TEST_F(EmbeddedStoreTest, HistoryDeletedByRetentionIsAnExactGap) {
  EmbeddedStore store(SmallRing(8));
  JournalOptions options = Journal();
  options.segment_bytes = 4096;
  options.retention_bytes = 8192;
  ASSERT_TRUE(store.OpenJournal(options).ok());
  for (int i = 0; i < 50; ++i) {
    RecordBatch batch = MakeBatch(10);
    store.Publish(batch);
  }
  ASSERT_TRUE(store.Flush().ok());
  // The writer enforces retention after the fsync that Flush waits for.
  const absl::Time deadline = absl::Now() + kDeadline;
  while (store.journal()->oldest_sequence() == 1 && absl::Now() < deadline) {
    std::this_thread::yield();
  }
  const uint64_t oldest = store.journal()->oldest_sequence();
  ASSERT_GT(oldest, 1u);
  ASSERT_LT(oldest, store.oldest_in_memory());
  EXPECT_EQ(store.oldest(), oldest);
  std::string out;
  const RecordStore::ReadResult gap = store.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_TRUE(gap.gap);
  EXPECT_EQ(gap.gap_first, 1u);
  EXPECT_EQ(gap.gap_last, oldest - 1);
  EXPECT_EQ(gap.next_cursor, oldest);
  // What follows is on disk.
  const RecordStore::ReadResult next = store.Read(gap.next_cursor, kAll, 100, 1 << 20, &out);
  EXPECT_FALSE(next.gap);
  EXPECT_TRUE(next.from_history);
  EXPECT_EQ(next.first_sequence, oldest);
}

TEST_F(EmbeddedStoreTest, CommitCallbackReportsDurablePositionsInIncreasingOrder) {
  EmbeddedStore store(SmallRing(1024));
  absl::Mutex mu;
  std::vector<uint64_t> commits;
  store.SetCommitCallback([&](uint64_t position) {
    absl::MutexLock lock(&mu);
    commits.push_back(position);
  });
  ASSERT_TRUE(store.OpenJournal(Journal()).ok());
  uint64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    RecordBatch batch = MakeBatch(5);
    last = store.Publish(batch).commit_position;
  }
  EXPECT_EQ(last, 100u);
  ASSERT_TRUE(store.Flush().ok());
  absl::MutexLock lock(&mu);
  // Flush returns once the records are durable; the callback that reports
  // it runs on the writer thread right after, so it may still be on its way.
  auto all_committed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return !commits.empty() && commits.back() == 100u;
  };
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_committed), absl::Seconds(10)));
  for (size_t i = 1; i < commits.size(); ++i) EXPECT_GT(commits[i], commits[i - 1]);
}

TEST_F(EmbeddedStoreTest, UnderFsyncPerBatchOnlyCommittedRecordsAreReadable) {
  EmbeddedStore store(SmallRing(1024));
  JournalOptions options = Journal(DurabilityPolicy::kPerBatch);
  absl::Notification release;
  std::atomic<bool> hold{true};
  options.before_sync = [&] {
    if (hold.load()) release.WaitForNotification();
  };
  ASSERT_TRUE(store.OpenJournal(options).ok());
  RecordBatch batch = MakeBatch(3);
  EXPECT_EQ(store.Publish(batch).commit_position, 3u);
  EXPECT_EQ(store.head(), 4u);
  EXPECT_EQ(store.readable_end(), 1u);  // published, not committed
  std::string out;
  const RecordStore::ReadResult r = store.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_EQ(r.records, 0u);
  EXPECT_FALSE(r.gap);
  EXPECT_EQ(r.next_cursor, 1u);
  hold.store(false);
  release.Notify();
  const absl::Time deadline = absl::Now() + kDeadline;
  while (store.readable_end() < 4 && absl::Now() < deadline) std::this_thread::yield();
  EXPECT_EQ(store.readable_end(), 4u);
  EXPECT_EQ(store.Read(1, kAll, 100, 1 << 20, &out).records, 3u);
}

// Under gated delivery the ring may evict records that are not committed
// yet (more are waiting for the fsync than the ring holds): they are on
// their way to the journal, so a caught-up reader must wait for them, not be
// told they are gone.
TEST_F(EmbeddedStoreTest, UnderFsyncPerBatchRecordsEvictedBeforeTheirCommitAreNoGap) {
  EmbeddedStore store(SmallRing(4));
  JournalOptions options = Journal(DurabilityPolicy::kPerBatch);
  absl::Notification release;
  std::atomic<bool> hold{true};
  options.before_sync = [&] {
    if (hold.load()) release.WaitForNotification();
  };
  ASSERT_TRUE(store.OpenJournal(options).ok());
  for (int i = 0; i < 5; ++i) {
    RecordBatch batch = MakeBatch(4);
    store.Publish(batch);
  }
  ASSERT_EQ(store.head(), 21u);
  ASSERT_GT(store.oldest_in_memory(), 1u);  // evicted while still uncommitted
  std::string out;
  const RecordStore::ReadResult r = store.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_FALSE(r.gap) << "gap " << r.gap_first << "-" << r.gap_last;
  EXPECT_EQ(r.records, 0u);
  EXPECT_EQ(r.next_cursor, 1u);
  hold.store(false);
  release.Notify();
  const absl::Time deadline = absl::Now() + kDeadline;
  while (store.readable_end() < 21 && absl::Now() < deadline) std::this_thread::yield();
  ASSERT_EQ(store.readable_end(), 21u);
  const RecordStore::ReadResult later = store.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_FALSE(later.gap);
  EXPECT_TRUE(later.from_history);
  EXPECT_EQ(later.first_sequence, 1u);
}

TEST_F(EmbeddedStoreTest, ReopeningContinuesTheNumberingAndRestoresMemory) {
  {
    EmbeddedStore store(SmallRing(1024));
    ASSERT_TRUE(store.OpenJournal(Journal()).ok());
    RecordBatch batch = MakeBatch(10);
    store.Publish(batch);
    ASSERT_TRUE(store.CloseJournal().ok());
  }
  EmbeddedStore store(SmallRing(1024));
  std::atomic<uint64_t> committed{0};
  store.SetCommitCallback([&](uint64_t position) { committed.store(position); });
  ASSERT_TRUE(store.OpenJournal(Journal()).ok());
  EXPECT_EQ(store.head(), 11u);
  EXPECT_EQ(store.oldest_in_memory(), 1u);
  EXPECT_EQ(committed.load(), 10u);  // what is on disk counts as committed
  RecordBatch batch = MakeBatch(1);
  EXPECT_EQ(store.Publish(batch).first_sequence, 11u);
  std::string out;
  EXPECT_EQ(store.Read(1, kAll, 100, 1 << 20, &out).records, 11u);
}

// A crash under group commit: the store continues at the journal's lease,
// with the records before it restored to memory and the skipped numbers an
// exact gap for a reader.
TEST_F(EmbeddedStoreTest, AfterACrashNumberingContinuesAtTheLeaseAndMemoryIsRestored) {
  const std::string crashed = Journal().directory + "-crashed";
  {
    EmbeddedStore store(SmallRing(1024));
    JournalOptions o = Journal();
    o.sequence_lease = 50;
    ASSERT_TRUE(store.OpenJournal(o).ok());
    RecordBatch batch = MakeBatch(10, "v1");
    store.Publish(batch);
    ASSERT_TRUE(store.Flush().ok());
    std::filesystem::remove_all(crashed);
    std::filesystem::copy(o.directory, crashed, std::filesystem::copy_options::recursive);
  }
  EmbeddedStore store(SmallRing(1024));
  JournalOptions o = Journal();
  o.directory = crashed;
  o.sequence_lease = 50;
  ASSERT_TRUE(store.OpenJournal(o).ok());
  EXPECT_EQ(store.head(), 51u);
  std::string frames;
  std::vector<std::string> unknown;
  store.LatestPositions({"v1"}, &frames, &unknown);
  EXPECT_TRUE(unknown.empty());
  std::vector<RecordStore::ReadResult> results;
  std::vector<Frame> read = ReadAll(store, 1, kAll, &results);
  ASSERT_EQ(read.size(), 10u);
  EXPECT_EQ(read.back().sequence, 10u);
  bool gap = false;
  for (const RecordStore::ReadResult& r : results) {
    if (r.gap) {
      gap = true;
      EXPECT_EQ(r.gap_first, 11u);
      EXPECT_EQ(r.gap_last, 50u);
    }
  }
  EXPECT_TRUE(gap);
  RecordBatch next = MakeBatch(1, "v2");
  EXPECT_EQ(store.Publish(next).first_sequence, 51u);
  ASSERT_TRUE(store.CloseJournal().ok());
  std::filesystem::remove_all(crashed);
}

struct CountingListener final : RecordStore::Listener {
  void OnRecordsAvailable() override { wakes.fetch_add(1); }
  uint64_t next_sequence() const override { return next; }
  std::atomic<int> wakes{0};
  uint64_t next = 1;
};

TEST_F(EmbeddedStoreTest, WakesListenersUntilRemovedAndReportsTheirLag) {
  EmbeddedStore store(SmallRing(1024));
  CountingListener listener;
  store.AddListener(&listener);
  RecordBatch batch = MakeBatch(4);
  store.Publish(batch);
  EXPECT_EQ(listener.wakes.load(), 1);
  EXPECT_EQ(store.MaxListenerLag(), 4u);
  store.RemoveListener(&listener);
  RecordBatch more = MakeBatch(1);
  store.Publish(more);
  EXPECT_EQ(listener.wakes.load(), 1);
  EXPECT_EQ(store.MaxListenerLag(), 0u);
}

TEST_F(EmbeddedStoreTest, RefusesAfterCloseAndCommitsNothingForIt) {
  EmbeddedStore store(SmallRing(1024));
  CountingListener listener;
  store.AddListener(&listener);
  store.Close();
  EXPECT_TRUE(store.closed());
  EXPECT_EQ(listener.wakes.load(), 1);  // woken so readers can finish
  RecordBatch batch = MakeBatch(2);
  const RecordStore::PublishResult r = store.Publish(batch);
  EXPECT_EQ(r.refused, 2u);
  EXPECT_EQ(r.published, 0u);
  EXPECT_EQ(r.commit_position, 0u);
  store.RemoveListener(&listener);
}

}  // namespace
}  // namespace fixstream::gateway
