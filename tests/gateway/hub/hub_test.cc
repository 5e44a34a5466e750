#include "gateway/hub/hub.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fixstream/v1/location.pb.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

using ingest::LocationRecord;

// Every record gets a fresh fix time, so none is a duplicate of another.
int64_t NextFixTime() {
  static std::atomic<int64_t> next{1'700'000'000'000'000'000};
  return next.fetch_add(1'000'000'000) + 1'000'000'000;
}

LocationRecord MakeRecord(std::string_view vehicle, double lat = 10, double lon = 20,
                          int64_t fix_time = NextFixTime()) {
  LocationRecord r;
  r.set_vehicle_id(vehicle);
  r.fix_time_unix_ns = fix_time;
  r.latitude = lat;
  r.longitude = lon;
  return r;
}

RecordBatch MakeBatch(int n, std::string_view vehicle = "v1", uint64_t connection = 1) {
  RecordBatch batch;
  for (int i = 0; i < n; ++i) batch.Add(MakeRecord(vehicle), 0, connection);
  return batch;
}

std::vector<v1::LocationRecord> Decode(const std::string& bytes) {
  v1::SubscribeResponse response;
  EXPECT_TRUE(response.ParseFromString(bytes));
  return {response.records().begin(), response.records().end()};
}

const SubscriptionFilter kAll;

TEST(HubTest, NumbersRecordsFromOneWithoutGapsAcrossBatches) {
  Hub hub(HubOptions{});
  RecordBatch a = MakeBatch(3);
  RecordBatch b = MakeBatch(2);
  EXPECT_EQ(hub.Publish(a).first_sequence, 1u);
  EXPECT_EQ(hub.Publish(b).first_sequence, 4u);
  EXPECT_EQ(hub.head(), 6u);
  std::string out;
  Hub::ReadResult r = hub.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_EQ(r.records, 5u);
  EXPECT_EQ(r.first_sequence, 1u);
  EXPECT_EQ(r.last_sequence, 5u);
  EXPECT_EQ(r.next_cursor, 6u);
  std::vector<v1::LocationRecord> records = Decode(out);
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(records[i].sequence(), static_cast<uint64_t>(i + 1));
}

TEST(HubTest, EmptyBatchPublishesNothing) {
  Hub hub(HubOptions{});
  RecordBatch empty;
  EXPECT_EQ(hub.Publish(empty).published, 0u);
  EXPECT_EQ(hub.head(), 1u);
}

TEST(HubTest, ReadRespectsRecordAndByteCaps) {
  Hub hub(HubOptions{});
  RecordBatch batch = MakeBatch(10);
  hub.Publish(batch);
  std::string out;
  Hub::ReadResult r = hub.Read(1, kAll, 4, 1 << 20, &out);
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.next_cursor, 5u);
  const size_t one = batch.entries[0].layout.size;
  out.clear();
  r = hub.Read(5, kAll, 100, 2 * one + 1, &out);
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.next_cursor, 7u);
  // A cap smaller than one record still returns one record.
  out.clear();
  r = hub.Read(7, kAll, 100, 1, &out);
  EXPECT_EQ(r.records, 1u);
}

TEST(HubTest, EvictsOldestByCount) {
  Hub hub(HubOptions{.max_records = 4, .max_bytes = 1 << 20, .vehicles = {}});
  RecordBatch batch = MakeBatch(10);
  hub.Publish(batch);
  EXPECT_EQ(hub.oldest(), 7u);
  EXPECT_EQ(hub.retained_records(), 4u);
  std::string out;
  Hub::ReadResult r = hub.Read(3, kAll, 100, 1 << 20, &out);
  EXPECT_TRUE(r.fell_behind);
  EXPECT_EQ(r.oldest, 7u);
  EXPECT_EQ(r.records, 0u);
  EXPECT_TRUE(out.empty());
  r = hub.Read(7, kAll, 100, 1 << 20, &out);
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(Decode(out).front().sequence(), 7u);
}

TEST(HubTest, EvictsOldestByBytesAndWrapsTheRing) {
  const size_t ring = 4 * kMaxEncodedRecordSize;
  Hub hub(HubOptions{.max_records = 1 << 20, .max_bytes = ring, .vehicles = {}});
  uint64_t published = 0;
  for (int round = 0; round < 50; ++round) {
    RecordBatch batch;
    batch.Add(MakeRecord(absl::StrCat("vehicle-", round)), 0, 1);
    hub.Publish(batch);
    ++published;
    EXPECT_LE(hub.retained_bytes(), ring);
    // Everything still retained reads back intact, in order.
    std::string out;
    Hub::ReadResult r = hub.Read(hub.oldest(), kAll, 1000, 1 << 20, &out);
    std::vector<v1::LocationRecord> records = Decode(out);
    ASSERT_EQ(records.size(), hub.retained_records());
    for (size_t i = 0; i < records.size(); ++i) {
      const uint64_t seq = hub.oldest() + i;
      EXPECT_EQ(records[i].sequence(), seq);
      EXPECT_EQ(records[i].vehicle_id(), absl::StrCat("vehicle-", seq - 1));
    }
    EXPECT_EQ(r.next_cursor, published + 1);
  }
  EXPECT_GT(hub.oldest(), 1u);
}

// A filter that matches every record but, unlike kAll, is checked record by
// record: the reference for Read()'s contiguous copy of unfiltered reads.
const SubscriptionFilter& WholeWorld() {
  static const SubscriptionFilter* const filter = [] {
    v1::SubscribeRequest request;
    request.mutable_bounding_box()->set_min_latitude(-90);
    request.mutable_bounding_box()->set_max_latitude(90);
    request.mutable_bounding_box()->set_min_longitude(-180);
    request.mutable_bounding_box()->set_max_longitude(180);
    return new SubscriptionFilter(*SubscriptionFilter::FromRequest(request));
  }();
  return *filter;
}

void ExpectSameRead(const Hub& hub, uint64_t cursor, size_t max_records, size_t max_bytes) {
  SCOPED_TRACE(
      absl::StrCat("cursor=", cursor, " max_records=", max_records, " max_bytes=", max_bytes));
  // Output already holding bytes: the byte cap counts only what is appended.
  std::string fast = "prefix";
  std::string scanned = "prefix";
  ASSERT_FALSE(WholeWorld().matches_all());
  const Hub::ReadResult f = hub.Read(cursor, kAll, max_records, max_bytes, &fast);
  const Hub::ReadResult s = hub.Read(cursor, WholeWorld(), max_records, max_bytes, &scanned);
  EXPECT_EQ(f.records, s.records);
  EXPECT_EQ(f.first_sequence, s.first_sequence);
  EXPECT_EQ(f.last_sequence, s.last_sequence);
  EXPECT_EQ(f.next_cursor, s.next_cursor);
  EXPECT_EQ(f.first_publish_unix_ns, s.first_publish_unix_ns);
  EXPECT_EQ(f.fell_behind, s.fell_behind);
  EXPECT_EQ(f.oldest, s.oldest);
  EXPECT_EQ(fast, scanned);
}

TEST(HubTest, UnfilteredReadsMatchRecordByRecordReadsAcrossTheRingsWrap) {
  // A small ring that wraps many times, frames of different sizes (vehicle
  // ids of different lengths) so wraps skip tails of different lengths.
  const size_t ring = 4 * kMaxEncodedRecordSize + 77;
  Hub hub(HubOptions{.max_records = 1 << 20, .max_bytes = ring, .vehicles = {}});
  for (int round = 0; round < 200; ++round) {
    RecordBatch batch;
    for (int i = 0; i <= round % 5; ++i) {
      batch.Add(MakeRecord(std::string(1 + (round * 7 + i * 13) % 60, 'a' + i)), 0, 1);
    }
    hub.Publish(batch);
    const size_t one = batch.entries[0].layout.size;
    for (uint64_t cursor = hub.oldest() > 1 ? hub.oldest() - 1 : 1; cursor <= hub.head();
         ++cursor) {
      for (size_t max_records : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{1000}}) {
        for (size_t max_bytes : {size_t{1}, one, 2 * one + 1, ring / 2, ring, size_t{1} << 20}) {
          ExpectSameRead(hub, cursor, max_records, max_bytes);
        }
      }
    }
  }
  EXPECT_GT(hub.oldest(), 100u);
}

TEST(HubTest, UnfilteredReadStopsAtTheScanLimit) {
  Hub hub(HubOptions{.max_records = 1 << 18, .max_bytes = 64 << 20, .vehicles = {}});
  RecordBatch batch = MakeBatch(Hub::kMaxScanPerRead + 10);
  hub.Publish(batch);
  ExpectSameRead(hub, 1, Hub::kMaxScanPerRead + 100, 64 << 20);
  std::string out;
  const Hub::ReadResult r = hub.Read(1, kAll, Hub::kMaxScanPerRead + 100, 64 << 20, &out);
  EXPECT_EQ(r.records, Hub::kMaxScanPerRead);
  EXPECT_EQ(r.next_cursor, 1u + Hub::kMaxScanPerRead);
}

TEST(HubTest, FilterSelectsByVehicleWithoutDecoding) {
  Hub hub(HubOptions{});
  RecordBatch batch;
  for (int i = 0; i < 30; ++i) batch.Add(MakeRecord(absl::StrCat("v", i % 3)), 0, 1);
  hub.Publish(batch);
  v1::SubscribeRequest request;
  request.add_vehicle_ids("v1");
  SubscriptionFilter filter = *SubscriptionFilter::FromRequest(request);
  std::string out;
  Hub::ReadResult r = hub.Read(1, filter, 100, 1 << 20, &out);
  EXPECT_EQ(r.records, 10u);
  EXPECT_EQ(r.first_sequence, 2u);
  EXPECT_EQ(r.last_sequence, 29u);
  for (const v1::LocationRecord& rec : Decode(out)) EXPECT_EQ(rec.vehicle_id(), "v1");
}

TEST(HubTest, ScanStopsAtLimitSoSelectiveFiltersDoNotHoldTheLock) {
  Hub hub(HubOptions{.max_records = 1 << 18, .max_bytes = 64 << 20, .vehicles = {}});
  RecordBatch batch = MakeBatch(Hub::kMaxScanPerRead + 10, "other");
  hub.Publish(batch);
  v1::SubscribeRequest request;
  request.add_vehicle_ids("wanted");
  SubscriptionFilter filter = *SubscriptionFilter::FromRequest(request);
  std::string out;
  Hub::ReadResult r = hub.Read(1, filter, 100, 1 << 20, &out);
  EXPECT_EQ(r.records, 0u);
  EXPECT_EQ(r.next_cursor, 1u + Hub::kMaxScanPerRead);
  r = hub.Read(r.next_cursor, filter, 100, 1 << 20, &out);
  EXPECT_EQ(r.next_cursor, hub.head());
}

TEST(HubTest, ClosedHubRefusesRecords) {
  Hub hub(HubOptions{});
  hub.Close();
  EXPECT_TRUE(hub.closed());
  RecordBatch batch = MakeBatch(1);
  const Hub::PublishResult result = hub.Publish(batch);
  EXPECT_EQ(result.published, 0u);
  EXPECT_EQ(result.refused, 1u);
  EXPECT_EQ(hub.head(), 1u);
}

struct CountingListener : Hub::Listener {
  void OnHubUpdated() override { calls.fetch_add(1); }
  uint64_t next_sequence() const override { return next.load(); }
  std::atomic<uint64_t> next{1};
  std::atomic<int> calls{0};
};

TEST(HubTest, WakesListenersUntilRemoved) {
  Hub hub(HubOptions{});
  CountingListener listener;
  hub.AddListener(&listener);
  RecordBatch batch = MakeBatch(1);
  hub.Publish(batch);
  EXPECT_EQ(listener.calls.load(), 1);
  hub.RemoveListener(&listener);
  RecordBatch again = MakeBatch(1);
  hub.Publish(again);
  hub.Close();
  EXPECT_EQ(listener.calls.load(), 1);
}

// Resident bytes of this process (/proc/self/statm).
size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0;
  size_t pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(HubTest, PrefaultedRingIsResidentFromTheStartAndStillWorks) {
  constexpr size_t kRing = 64 << 20;
  for (const bool prefault : {true, false}) {
    const int64_t before = static_cast<int64_t>(ResidentBytes());
    HubOptions options;
    options.max_records = 1024;
    options.max_bytes = kRing;
    options.prefault_ring = prefault;
    Hub hub(options);
    const int64_t grown = static_cast<int64_t>(ResidentBytes()) - before;
    if (prefault) {
      EXPECT_GE(grown, static_cast<int64_t>(kRing - (1 << 20))) << "prefault";
    } else {
      EXPECT_LT(grown, static_cast<int64_t>(kRing / 4)) << "lazy";
    }
    RecordBatch batch = MakeBatch(10);
    EXPECT_EQ(hub.Publish(batch).published, 10u);
    std::string out;
    EXPECT_EQ(hub.Read(1, kAll, 100, 1 << 20, &out).records, 10u);
  }
}

// The gateway's mode: construction returns at once, the ring becomes
// resident on a thread of its own, and records published meanwhile are
// untouched by it (the prefault populates pages without writing them).
TEST(HubTest, BackgroundPrefaultMakesTheRingResidentAndKeepsRecordsPublishedMeanwhile) {
  constexpr size_t kRing = 64 << 20;
  const int64_t before = static_cast<int64_t>(ResidentBytes());
  HubOptions options;
  options.max_records = 1 << 16;
  options.max_bytes = kRing;
  options.prefault_ring = true;
  options.prefault_in_background = true;
  Hub hub(options);
  uint64_t published = 0;
  for (int i = 0; i < 200; ++i) {
    RecordBatch batch = MakeBatch(100, absl::StrCat("v", i));
    published += hub.Publish(batch).published;
  }
  hub.AwaitRingPrefaulted();
  EXPECT_GE(static_cast<int64_t>(ResidentBytes()) - before,
            static_cast<int64_t>(kRing - (1 << 20)));
  std::string out;
  ASSERT_EQ(hub.Read(1, kAll, published, 64 << 20, &out).records, published);
  const std::vector<v1::LocationRecord> records = Decode(out);
  ASSERT_EQ(records.size(), published);
  for (uint64_t i = 0; i < published; ++i) {
    EXPECT_EQ(records[i].sequence(), i + 1);
    EXPECT_EQ(records[i].vehicle_id(), absl::StrCat("v", i / 100));
  }
}

TEST(HubTest, GatedOnDurabilityReadsServeOnlyDurableRecords) {
  Hub hub(HubOptions{});
  hub.GateOnDurable();
  CountingListener listener;
  hub.AddListener(&listener);
  RecordBatch batch = MakeBatch(5);
  const Hub::PublishResult published = hub.Publish(batch);
  EXPECT_EQ(published.next_sequence, 6u);
  EXPECT_EQ(hub.head(), 6u);
  EXPECT_EQ(hub.readable_end(), 1u);
  EXPECT_EQ(listener.calls.load(), 0);  // nothing readable yet: no wake-up
  std::string out;
  EXPECT_EQ(hub.Read(1, kAll, 100, 1 << 20, &out).records, 0u);
  hub.MarkDurable(3);
  EXPECT_EQ(listener.calls.load(), 1);
  Hub::ReadResult r = hub.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.next_cursor, 4u);
  hub.MarkDurable(2);  // never goes back, and wakes nobody
  EXPECT_EQ(listener.calls.load(), 1);
  hub.MarkDurable(100);  // capped at what was published
  EXPECT_EQ(hub.readable_end(), 6u);
  out.clear();
  EXPECT_EQ(hub.Read(4, kAll, 100, 1 << 20, &out).records, 2u);
  hub.RemoveListener(&listener);
}

TEST(HubTest, MaxListenerLagIsTheFurthestBehind) {
  Hub hub(HubOptions{});
  EXPECT_EQ(hub.MaxListenerLag(), 0u);
  CountingListener behind;
  CountingListener current;
  hub.AddListener(&behind);
  hub.AddListener(&current);
  RecordBatch batch = MakeBatch(10);
  hub.Publish(batch);
  current.next = 11;
  behind.next = 4;
  EXPECT_EQ(hub.MaxListenerLag(), 7u);
  hub.RemoveListener(&behind);
  EXPECT_EQ(hub.MaxListenerLag(), 0u);
  hub.RemoveListener(&current);
}

// Collects what the hub hands its log, as the journal would.
struct CapturingLog : Hub::RecordLog {
  void Append(uint64_t first_sequence, const std::vector<std::string_view>& frames) override {
    EXPECT_EQ(first_sequence, next);
    for (std::string_view f : frames) bytes.append(f);
    next += frames.size();
  }
  uint64_t next = 1;
  std::string bytes;
};

TEST(HubTest, LogGetsEveryPublishedFrameAndRestoreRebuildsTheHub) {
  CapturingLog log;
  Hub first(HubOptions{}, 1, &log);
  RecordBatch batch;
  batch.Add(MakeRecord("a", 1, 2, 5000), 0, 1);
  batch.Add(MakeRecord("b", 3, 4, 5000), 0, 1);
  batch.Add(MakeRecord("a", 5, 6, 4000), 0, 1);  // late: marked, logged as published
  batch.Add(MakeRecord("a", 1, 2, 5000), 0, 1);  // duplicate: neither published nor logged
  first.Publish(batch);
  EXPECT_EQ(log.next, 4u);
  std::string published;
  first.Read(1, kAll, 100, 1 << 20, &published);
  EXPECT_EQ(log.bytes, published);

  // After a "restart": a new hub continues the sequence from the log.
  Hub second(HubOptions{}, 1);
  EXPECT_EQ(second.Restore(log.bytes), 3u);
  EXPECT_EQ(second.head(), 4u);
  std::string restored;
  second.Read(1, kAll, 100, 1 << 20, &restored);
  EXPECT_EQ(restored, published);
  std::string latest;
  std::vector<std::string> unknown;
  second.LatestPositions({"a"}, &latest, &unknown);
  EXPECT_EQ(Decode(latest).at(0).latitude(), 1);  // the late fix did not move it
  // Duplicate windows survived: a replay is still caught.
  RecordBatch replay;
  replay.Add(MakeRecord("b", 3, 4, 5000), 0, 1);
  EXPECT_EQ(second.Publish(replay).duplicates, 1u);
  // Restore stops at bytes that are not frames of the next sequence.
  Hub third(HubOptions{}, 2);
  EXPECT_EQ(third.Restore(log.bytes), 0u);
  EXPECT_EQ(third.Restore("garbage"), 0u);
}

// A log that cannot take records (the journal's lease not extended): the
// batch is refused before any number is given, so no number can be reused.
struct RefusingLog : Hub::RecordLog {
  void Append(uint64_t first_sequence, const std::vector<std::string_view>& frames) override {
    appended += frames.size();
    last = first_sequence + frames.size() - 1;
  }
  bool CanAppend(uint64_t last_sequence) const override {
    asked = last_sequence;
    return last_sequence < limit;
  }
  uint64_t limit = 0;
  mutable uint64_t asked = 0;
  size_t appended = 0;
  uint64_t last = 0;
};

TEST(HubTest, ABatchTheLogCannotTakeIsRefusedUnnumbered) {
  RefusingLog log;
  log.limit = 3;  // sequences 1 and 2 only
  Hub hub(HubOptions{}, 1, &log);
  RecordBatch two = MakeBatch(2);
  EXPECT_EQ(hub.Publish(two).published, 2u);
  RecordBatch three = MakeBatch(3);
  const Hub::PublishResult refused = hub.Publish(three);
  EXPECT_EQ(log.asked, 5u);  // the last number the batch could take
  EXPECT_EQ(refused.published, 0u);
  EXPECT_EQ(refused.unavailable, 3u);
  EXPECT_EQ(refused.first_sequence, 0u);
  EXPECT_EQ(hub.head(), 3u);
  EXPECT_EQ(log.appended, 2u);
  log.limit = 100;  // the lease was extended
  RecordBatch again = MakeBatch(3);
  const Hub::PublishResult taken = hub.Publish(again);
  EXPECT_EQ(taken.first_sequence, 3u);
  EXPECT_EQ(taken.published, 3u);
  EXPECT_EQ(log.last, 5u);
}

// After a crash the journal continues at its lease; the hub skips with it,
// keeping latest positions and duplicate windows.
TEST(HubTest, SkipToEmptiesTheRingAndKeepsTheVehicles) {
  CapturingLog log;
  Hub hub(HubOptions{}, 1);
  RecordBatch batch;
  batch.Add(MakeRecord("a", 1, 2, 5000), 0, 1);
  {
    Hub first(HubOptions{}, 1, &log);
    first.Publish(batch);
  }
  ASSERT_EQ(hub.Restore(log.bytes), 1u);
  hub.SkipTo(100);
  EXPECT_EQ(hub.head(), 100u);
  EXPECT_EQ(hub.oldest(), 100u);
  std::string out;
  Hub::ReadResult r = hub.Read(1, kAll, 100, 1 << 20, &out);
  EXPECT_TRUE(r.fell_behind);
  std::string latest;
  std::vector<std::string> unknown;
  hub.LatestPositions({"a"}, &latest, &unknown);
  EXPECT_TRUE(unknown.empty());
  EXPECT_EQ(Decode(latest).at(0).sequence(), 1u);
  RecordBatch replay;
  replay.Add(MakeRecord("a", 1, 2, 5000), 0, 1);
  EXPECT_EQ(hub.Publish(replay).duplicates, 1u);
  RecordBatch fresh = MakeBatch(1);
  EXPECT_EQ(hub.Publish(fresh).first_sequence, 100u);
}

// Records, when the hub tells it a publish is over, how often the listener
// had been woken by then.
struct WakeOrderLog : Hub::RecordLog {
  explicit WakeOrderLog(const CountingListener& listener) : listener(listener) {}
  void Append(uint64_t, const std::vector<std::string_view>&) override { ++appends; }
  void AfterPublish() override { listener_calls_seen.push_back(listener.calls.load()); }
  const CountingListener& listener;
  int appends = 0;
  std::vector<int> listener_calls_seen;
};

TEST(HubTest, LogIsToldAfterTheListenersWereWoken) {
  CountingListener listener;
  WakeOrderLog log(listener);
  Hub hub(HubOptions{}, 1, &log);
  hub.AddListener(&listener);
  RecordBatch batch = MakeBatch(3);
  hub.Publish(batch);
  RecordBatch empty;
  hub.Publish(empty);  // nothing published: nothing logged, nothing to tell
  EXPECT_EQ(log.appends, 1);
  EXPECT_EQ(log.listener_calls_seen, std::vector<int>{1});
  hub.RemoveListener(&listener);
}

TEST(HubTest, ConcurrentPublishersGetDisjointContiguousRanges) {
  Hub hub(HubOptions{});
  constexpr int kThreads = 4;
  constexpr int kBatches = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&hub, t] {
      for (int i = 0; i < kBatches; ++i) {
        RecordBatch batch = MakeBatch(1 + i % 7, absl::StrCat("t", t), t + 1);
        hub.Publish(batch);
      }
    });
  }
  for (auto& t : threads) t.join();
  uint64_t expected = 0;
  for (int i = 0; i < kBatches; ++i) expected += 1 + i % 7;
  expected *= kThreads;
  EXPECT_EQ(hub.head(), expected + 1);
  // Every sequence is present exactly once, each batch contiguous per thread.
  std::string out;
  uint64_t cursor = 1;
  uint64_t seen = 0;
  while (cursor < hub.head()) {
    out.clear();
    Hub::ReadResult r = hub.Read(cursor, kAll, 100000, 64 << 20, &out);
    for (const v1::LocationRecord& rec : Decode(out)) EXPECT_EQ(rec.sequence(), ++seen);
    cursor = r.next_cursor;
  }
  EXPECT_EQ(seen, expected);
}

TEST(HubTest, DuplicatesAreDroppedAndCountedWithoutUsingASequence) {
  Hub hub(HubOptions{});
  RecordBatch batch;
  batch.Add(MakeRecord("v", 1, 2, 1000), 0, 1);
  batch.Add(MakeRecord("v", 1, 2, 2000), 0, 1);
  batch.Add(MakeRecord("v", 1, 2, 1000), 0, 1);  // replay
  batch.Add(MakeRecord("w", 1, 2, 1000), 0, 1);  // other vehicle, same time
  batch.Add(MakeRecord("v", 1, 2, 2000), 0, 1);  // replay of the newest
  const Hub::PublishResult result = hub.Publish(batch);
  EXPECT_EQ(result.published, 3u);
  EXPECT_EQ(result.duplicates, 2u);
  EXPECT_EQ(hub.head(), 4u);
  std::string out;
  hub.Read(1, kAll, 100, 1 << 20, &out);
  std::vector<v1::LocationRecord> records = Decode(out);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].vehicle_id(), "w");
  EXPECT_EQ(records[2].sequence(), 3u);
}

TEST(HubTest, LateRecordsAreMarkedAndDoNotMoveTheLatestPosition) {
  Hub hub(HubOptions{});
  RecordBatch batch;
  batch.Add(MakeRecord("v", 10, 20, 5000), 0, 1);
  batch.Add(MakeRecord("v", 11, 21, 3000), 0, 1);  // uploaded late
  batch.Add(MakeRecord("v", 12, 22, 4000), 0, 1);  // late too
  const Hub::PublishResult result = hub.Publish(batch);
  EXPECT_EQ(result.published, 3u);
  EXPECT_EQ(result.late, 2u);
  std::string out;
  hub.Read(1, kAll, 100, 1 << 20, &out);
  std::vector<v1::LocationRecord> records = Decode(out);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_FALSE(records[0].late());
  EXPECT_TRUE(records[1].late());
  EXPECT_TRUE(records[2].late());
  EXPECT_EQ(records[2].sequence(), 3u);
  EXPECT_EQ(records[2].latitude(), 12);
  // The late frame is still canonical protobuf.
  v1::SubscribeResponse reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(out));
  std::string canonical;
  reparsed.SerializeToString(&canonical);
  EXPECT_EQ(canonical, out);

  std::string latest;
  std::vector<std::string> unknown;
  hub.LatestPositions({"v", "nobody"}, &latest, &unknown);
  std::vector<v1::LocationRecord> got = Decode(latest);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].latitude(), 10);
  EXPECT_EQ(got[0].sequence(), 1u);
  EXPECT_EQ(unknown, std::vector<std::string>{"nobody"});
}

TEST(HubTest, DuplicateWindowIsBoundedPerVehicle) {
  HubOptions options;
  options.vehicles.dedup_window = 4;
  Hub hub(options);
  RecordBatch batch;
  for (int64_t t = 1; t <= 10; ++t) batch.Add(MakeRecord("v", 1, 2, t * 1000), 0, 1);
  hub.Publish(batch);
  RecordBatch replay;
  for (int64_t t = 1; t <= 10; ++t) replay.Add(MakeRecord("v", 1, 2, t * 1000), 0, 1);
  const Hub::PublishResult result = hub.Publish(replay);
  // Only the 4 newest fix times are remembered; older replays pass as late.
  EXPECT_EQ(result.duplicates, 4u);
  EXPECT_EQ(result.published, 6u);
  EXPECT_EQ(result.late, 6u);
  // A late record inside the window is remembered in order: replaying it
  // again is caught.
  RecordBatch late;
  late.Add(MakeRecord("v", 1, 2, 9500), 0, 1);
  late.Add(MakeRecord("v", 1, 2, 9500), 0, 1);
  late.Add(MakeRecord("v", 1, 2, 10000), 0, 1);
  const Hub::PublishResult again = hub.Publish(late);
  EXPECT_EQ(again.published, 1u);
  EXPECT_EQ(again.duplicates, 2u);
}

TEST(HubTest, VehicleCountIsBoundedByForgettingTheLeastRecentlySeen) {
  HubOptions options;
  options.vehicles.max_vehicles = 3;
  Hub hub(options);
  for (const char* id : {"a", "b", "c", "a", "d"}) {
    RecordBatch batch;
    batch.Add(MakeRecord(id), 0, 1);
    hub.Publish(batch);
  }
  EXPECT_EQ(hub.vehicles(), 3u);
  EXPECT_EQ(hub.vehicles_evicted(), 1u);
  std::vector<Hub::VehicleSummary> page = hub.VehiclesPage("", 10);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].id, "a");  // b was least recently seen
  EXPECT_EQ(page[1].id, "c");
  EXPECT_EQ(page[2].id, "d");
  EXPECT_EQ(page[0].records, 2u);
  page = hub.VehiclesPage("a", 1);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, "c");
}

TEST(HubTest, LatestPositionOutlivesTheRingCopy) {
  HubOptions options;
  options.max_records = 4;
  Hub hub(options);
  RecordBatch batch;
  batch.Add(MakeRecord("parked", 52.5, 13.4), 0, 1);
  for (int i = 0; i < 20; ++i) batch.Add(MakeRecord("busy", i, 1), 0, 1);
  hub.Publish(batch);
  ASSERT_GT(hub.oldest(), 1u);  // the parked vehicle's record left the ring
  std::string latest;
  std::vector<std::string> unknown;
  hub.LatestPositions({"parked", "busy"}, &latest, &unknown);
  std::vector<v1::LocationRecord> got = Decode(latest);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].vehicle_id(), "parked");
  EXPECT_EQ(got[0].sequence(), 1u);
  EXPECT_EQ(got[0].latitude(), 52.5);
  EXPECT_EQ(got[1].sequence(), 21u);
  EXPECT_EQ(got[1].latitude(), 19);
  EXPECT_TRUE(unknown.empty());
}

TEST(HubTest, FilterSelectsByBoundingBox) {
  Hub hub(HubOptions{});
  RecordBatch batch;
  batch.Add(MakeRecord("in", 52.5, 13.4), 0, 1);
  batch.Add(MakeRecord("edge", 53.0, 14.0), 0, 1);
  batch.Add(MakeRecord("out", 48.1, 11.5), 0, 1);
  hub.Publish(batch);
  v1::SubscribeRequest request;
  request.mutable_bounding_box()->set_min_latitude(52);
  request.mutable_bounding_box()->set_max_latitude(53);
  request.mutable_bounding_box()->set_min_longitude(13);
  request.mutable_bounding_box()->set_max_longitude(14);
  SubscriptionFilter filter = *SubscriptionFilter::FromRequest(request);
  std::string out;
  EXPECT_EQ(hub.Read(1, filter, 100, 1 << 20, &out).records, 2u);
  std::vector<v1::LocationRecord> got = Decode(out);
  EXPECT_EQ(got[0].vehicle_id(), "in");
  EXPECT_EQ(got[1].vehicle_id(), "edge");
}

}  // namespace
}  // namespace fixstream::gateway
