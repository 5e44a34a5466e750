#include "gateway/journal/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fixstream/v1/location.pb.h"
#include "gateway/hub/record_codec.h"
#include "gtest/gtest.h"
#include "test_payloads.h"

namespace fixstream::gateway {
namespace {

using testing::Expected;
using testing::Payload;

namespace fs = std::filesystem;

// A substring check with a readable failure message (no gmock here).
::testing::AssertionResult HasSubstrImpl(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << '"' << text << "\" does not contain \"" << part << '"';
}
#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(HasSubstrImpl(std::string(text), std::string(part)))

void AppendRange(Journal& journal, uint64_t first, uint64_t count, uint64_t batch = 7) {
  std::vector<std::string> storage;
  std::vector<std::string_view> views;
  for (uint64_t s = first; s < first + count; s += batch) {
    const uint64_t n = std::min(batch, first + count - s);
    storage.clear();
    views.clear();
    for (uint64_t i = 0; i < n; ++i) storage.push_back(Payload(s + i));
    for (const std::string& p : storage) views.push_back(p);
    ASSERT_TRUE(journal.Append(s, views).ok());
  }
}

// Everything readable from `from` on, in calls of at most 100 records.
std::string ReadAll(const Journal& journal, uint64_t from, Journal::ReadResult* last = nullptr) {
  std::string out;
  Journal::ReadResult r;
  for (;;) {
    absl::StatusOr<Journal::ReadResult> result = journal.Read(from, 100, 1 << 20, &out);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) break;
    r = *result;
    if (r.records == 0) break;
    from = r.next_sequence;
  }
  if (last != nullptr) *last = r;
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Offset of each frame in a segment file.
std::vector<size_t> FrameOffsets(const std::string& segment) {
  std::vector<size_t> offsets;
  size_t pos = kSegmentHeaderSize;
  while (pos + kFrameHeaderSize <= segment.size()) {
    uint32_t length;
    std::memcpy(&length, segment.data() + pos, 4);
    offsets.push_back(pos);
    pos += kFrameHeaderSize + length;
  }
  return offsets;
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "journal_test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  JournalOptions Options() const {
    JournalOptions o;
    o.directory = dir_;
    return o;
  }

  std::unique_ptr<Journal> OpenOrDie(JournalOptions options, RecoveryReport* report = nullptr) {
    absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(std::move(options), report);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? std::move(*j) : nullptr;
  }

  std::vector<std::string> Segments() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name.starts_with("seg-") && name.ends_with(".fsj")) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Writes `count` records into a fresh journal and closes it.
  void WriteJournal(uint64_t count, JournalOptions options) {
    std::unique_ptr<Journal> j = OpenOrDie(options);
    ASSERT_NE(j, nullptr);
    AppendRange(*j, 1, count);
    ASSERT_TRUE(j->Close().ok());
  }

  std::string dir_;
};

TEST_F(JournalTest, NewJournalIsEmpty) {
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->next_sequence(), 1u);
  EXPECT_EQ(j->oldest_sequence(), 1u);
  EXPECT_EQ(j->durable_sequence(), 0u);
  EXPECT_EQ(report.segments, 0u);
  std::string out;
  auto r = j->Read(1, 10, 1 << 20, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 0u);
  EXPECT_TRUE(r->at_end);
  EXPECT_FALSE(r->hole);
  EXPECT_EQ(r->next_sequence, 1u);
  EXPECT_TRUE(j->Flush().ok());
}

TEST_F(JournalTest, ServesEverythingAfterCloseAndReopen) {
  constexpr uint64_t kCount = 1000;
  WriteJournal(kCount, Options());
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->next_sequence(), kCount + 1);
  EXPECT_EQ(j->durable_sequence(), kCount);
  EXPECT_EQ(report.frames, kCount);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_TRUE(report.lost_ranges.empty());
  Journal::ReadResult last;
  EXPECT_EQ(ReadAll(*j, 1, &last), Expected(1, kCount));
  EXPECT_TRUE(last.at_end);

  // And it goes on where it stopped.
  AppendRange(*j, kCount + 1, 10);
  ASSERT_TRUE(j->Close().ok());
  j = OpenOrDie(Options());
  EXPECT_EQ(j->next_sequence(), kCount + 11);
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, kCount + 10));
}

TEST_F(JournalTest, ReadStopsAtRecordAndByteLimits) {
  auto j = OpenOrDie(Options());
  AppendRange(*j, 1, 200);
  ASSERT_TRUE(j->Flush().ok());
  std::string out;
  auto r = j->Read(10, 5, 1 << 20, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 5u);
  EXPECT_EQ(r->first_sequence, 10u);
  EXPECT_EQ(r->last_sequence, 14u);
  EXPECT_EQ(r->next_sequence, 15u);
  EXPECT_EQ(out, Expected(10, 14));

  out.clear();
  const size_t budget = Payload(100).size() + Payload(101).size();
  r = j->Read(100, 1000, budget, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 2u);
  EXPECT_EQ(out, Expected(100, 101));

  // At least one record even if it alone exceeds max_bytes.
  out.clear();
  r = j->Read(150, 1000, 1, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 1u);
  EXPECT_EQ(out, Payload(150));
}

TEST_F(JournalTest, RejectsOutOfOrderAndOversizedAppends) {
  auto j = OpenOrDie(Options());
  const std::string p = Payload(1);
  std::vector<std::string_view> one{p};
  absl::Status s = j->Append(2, one);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_CONTAINS(std::string(s.message()), "out of order");
  const std::string big(65 << 10, 'x');
  std::vector<std::string_view> oversized{p, big};
  EXPECT_EQ(j->Append(1, oversized).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(j->next_sequence(), 1u);  // nothing of the batch was queued
  EXPECT_TRUE(j->Append(1, one).ok());
  EXPECT_EQ(j->next_sequence(), 2u);
}

TEST_F(JournalTest, ClosedJournalRefusesAppendsAndReads) {
  auto j = OpenOrDie(Options());
  AppendRange(*j, 1, 3);
  ASSERT_TRUE(j->Close().ok());
  EXPECT_TRUE(j->Close().ok());  // idempotent
  const std::string p = Payload(4);
  std::vector<std::string_view> one{p};
  EXPECT_EQ(j->Append(4, one).code(), absl::StatusCode::kFailedPrecondition);
  std::string out;
  EXPECT_EQ(j->Read(1, 10, 100, &out).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(JournalTest, ConcatenatedPayloadsParseAsSubscribeResponse) {
  auto j = OpenOrDie(Options());
  std::string frames;
  std::vector<EncodedRecordLayout> layouts;
  for (int i = 0; i < 50; ++i) {
    ingest::LocationRecord record;
    record.set_vehicle_id(absl::StrCat("van-", i % 5));
    record.fix_time_unix_ns = 1'700'000'000'000'000'000 + i * 1'000'000'000LL;
    record.latitude = 52.5 + i * 1e-4;
    record.longitude = 13.4;
    layouts.push_back(AppendEncodedRecord(record, 0, 1, &frames));
  }
  std::vector<std::string_view> payloads;
  size_t offset = 0;
  for (size_t i = 0; i < layouts.size(); ++i) {
    PatchSequence(frames.data() + offset, layouts[i], i + 1);
    payloads.emplace_back(frames.data() + offset, layouts[i].size);
    offset += layouts[i].size;
  }
  ASSERT_TRUE(j->Append(1, payloads).ok());
  ASSERT_TRUE(j->Close().ok());
  j = OpenOrDie(Options());
  std::string out;
  auto r = j->Read(1, 1000, 1 << 20, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(out, frames);
  v1::SubscribeResponse response;
  ASSERT_TRUE(response.ParseFromString(out));
  ASSERT_EQ(response.records_size(), 50);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(response.records(i).sequence(), uint64_t(i + 1));
}

TEST_F(JournalTest, RollsSegmentsAndRetentionByBytesDeletesTheOldest) {
  JournalOptions o = Options();
  o.segment_bytes = 4096;
  o.retention_bytes = 16384;
  auto j = OpenOrDie(o);
  constexpr uint64_t kCount = 2000;  // ~200 KB: ~50 segments written
  AppendRange(*j, 1, kCount);
  ASSERT_TRUE(j->Flush().ok());
  j->EnforceRetention();
  const JournalStats stats = j->stats();
  EXPECT_LE(stats.disk_bytes, o.retention_bytes);
  EXPECT_GE(stats.segments_deleted, 40u);
  EXPECT_EQ(stats.segments, Segments().size());
  for (const std::string& s : Segments()) EXPECT_LE(fs::file_size(s), o.segment_bytes);
  const uint64_t oldest = j->oldest_sequence();
  EXPECT_GT(oldest, 1u);

  std::string out;
  auto r = j->Read(1, 100, 1 << 20, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->hole);
  EXPECT_EQ(r->hole_first, 1u);
  EXPECT_EQ(r->hole_last, oldest - 1);
  EXPECT_EQ(r->next_sequence, oldest);
  EXPECT_EQ(r->records, 0u);
  EXPECT_EQ(ReadAll(*j, oldest), Expected(oldest, kCount));

  // Survives a restart.
  ASSERT_TRUE(j->Close().ok());
  j = OpenOrDie(o);
  EXPECT_EQ(j->oldest_sequence(), oldest);
  EXPECT_EQ(j->next_sequence(), kCount + 1);
  EXPECT_EQ(ReadAll(*j, oldest), Expected(oldest, kCount));
}

TEST_F(JournalTest, RetentionByAgeKeepsOnlyTheActiveSegment) {
  auto now = std::make_shared<std::atomic<int64_t>>(absl::ToUnixSeconds(absl::Now()));
  JournalOptions o = Options();
  o.segment_bytes = 4096;
  o.retention_age = absl::Hours(24);
  o.now = [now] { return absl::FromUnixSeconds(now->load()); };
  auto j = OpenOrDie(o);
  AppendRange(*j, 1, 500);
  ASSERT_TRUE(j->Flush().ok());
  j->EnforceRetention();
  const uint64_t segments = j->stats().segments;
  EXPECT_GT(segments, 5u);
  EXPECT_EQ(j->oldest_sequence(), 1u);
  now->fetch_add(25 * 3600);
  j->EnforceRetention();
  EXPECT_EQ(j->stats().segments, 1u);
  EXPECT_EQ(Segments().size(), 1u);
  EXPECT_GT(j->oldest_sequence(), 1u);
  EXPECT_EQ(ReadAll(*j, j->oldest_sequence()), Expected(j->oldest_sequence(), 500));
}

TEST_F(JournalTest, SecondOpenOfTheSameDirectoryFailsUntilClosed) {
  auto first = OpenOrDie(Options());
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(ReadFile(dir_ + "/LOCK"), absl::StrCat(::getpid(), "\n"));
  absl::StatusOr<std::unique_ptr<Journal>> second = Journal::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_CONTAINS(std::string(second.status().message()), dir_);
  EXPECT_CONTAINS(std::string(second.status().message()), "locked by another process");
  ASSERT_TRUE(first->Close().ok());
  second = Journal::Open(Options());
  EXPECT_TRUE(second.ok()) << second.status();
}

TEST_F(JournalTest, OpenFailsWhileAnotherProcessHoldsTheLock) {
  int ready[2];
  int release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  const std::string lock_path = dir_ + "/LOCK";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls in the child of a threaded process.
    ::close(ready[0]);
    ::close(release[1]);
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) ::_exit(1);
    char pid[32];
    int n = 0;
    for (pid_t p = ::getpid(); p > 0; p /= 10) pid[n++] = static_cast<char>('0' + p % 10);
    std::reverse(pid, pid + n);
    pid[n++] = '\n';
    if (::ftruncate(fd, 0) != 0 || ::write(fd, pid, n) != n) ::_exit(1);
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    (void)!::read(release[0], &c, 1);  // until the parent closes its end
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_CONTAINS(std::string(j.status().message()),
                  absl::StrCat(dir_, " is locked by another process (pid ", child, ")"));
  ::close(release[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  j = Journal::Open(Options());
  EXPECT_TRUE(j.ok()) << j.status();
}

TEST_F(JournalTest, DirectoryThatCannotBeCreatedIsAClearError) {
  WriteFile(dir_ + "/file", "x");
  JournalOptions o = Options();
  o.directory = dir_ + "/file/journal";
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o);
  ASSERT_FALSE(j.ok());
  EXPECT_CONTAINS(std::string(j.status().message()), "cannot create journal directory");
  EXPECT_CONTAINS(std::string(j.status().message()), o.directory);
  EXPECT_CONTAINS(std::string(j.status().message()), "Not a directory");
}

TEST_F(JournalTest, UnwritableDirectoryIsAClearError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const std::string sub = dir_ + "/ro";
  ASSERT_EQ(::mkdir(sub.c_str(), 0500), 0);
  JournalOptions o = Options();
  o.directory = sub;
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_CONTAINS(std::string(j.status().message()), sub);
  EXPECT_CONTAINS(std::string(j.status().message()), "Permission denied");
}

// --- Recovery from damage -------------------------------------------------

// These exercise the segment scan alone: the LEASE file is removed before
// each recovery, as for a journal written before the sequence lease existed
// (so recovery continues right after the last good frame). A damaged tail
// under a lease is JournalLeaseTest's.
class JournalRecoveryTest : public JournalTest {
 protected:
  static constexpr uint64_t kCount = 30;

  void RemoveLease() { fs::remove(fs::path(dir_) / "LEASE"); }

  void SetUp() override {
    JournalTest::SetUp();
    WriteJournal(kCount, Options());
    RemoveLease();
    const std::vector<std::string> segments = Segments();
    ASSERT_EQ(segments.size(), 1u);
    segment_path_ = segments[0];
    original_ = ReadFile(segment_path_);
    offsets_ = FrameOffsets(original_);
    ASSERT_EQ(offsets_.size(), kCount);
  }

  std::string segment_path_;
  std::string original_;
  std::vector<size_t> offsets_;  // offsets_[i] is the frame of sequence i + 1
};

TEST_F(JournalRecoveryTest, TruncatedTailAtEveryByteOfTheLastThreeFramesRecoversCompleteFrames) {
  for (size_t cut = offsets_[kCount - 3]; cut <= original_.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut));
    WriteFile(segment_path_, original_.substr(0, cut));
    RemoveLease();
    // Complete frames before the cut.
    uint64_t complete = 0;
    while (complete < kCount &&
           (complete + 1 < kCount ? offsets_[complete + 1] : original_.size()) <= cut) {
      ++complete;
    }
    RecoveryReport report;
    auto j = OpenOrDie(Options(), &report);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->next_sequence(), complete + 1);
    EXPECT_EQ(report.frames, complete);
    const size_t good_end = complete == kCount ? original_.size() : offsets_[complete];
    EXPECT_EQ(report.truncated_bytes, cut - good_end);
    if (cut > good_end) {
      EXPECT_EQ(report.first_bad_offset, good_end);
    }
    EXPECT_TRUE(report.lost_ranges.empty());
    EXPECT_EQ(fs::file_size(segment_path_), good_end);
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, complete));
    // Appends continue right after the last complete frame.
    AppendRange(*j, complete + 1, 1);
    ASSERT_TRUE(j->Close().ok());
    j = OpenOrDie(Options(), &report);
    EXPECT_EQ(report.truncated_bytes, 0u);
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, complete + 1));
    j.reset();
  }
}

TEST_F(JournalRecoveryTest, CorruptLastFrameIsTruncated) {
  std::string damaged = original_;
  damaged[offsets_[kCount - 1] + kFrameHeaderSize + 3] ^= 0x20;
  WriteFile(segment_path_, damaged);
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  EXPECT_EQ(j->next_sequence(), kCount);
  EXPECT_EQ(report.truncated_bytes, original_.size() - offsets_[kCount - 1]);
  EXPECT_EQ(report.first_bad_offset, offsets_[kCount - 1]);
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, kCount - 1));
}

TEST_F(JournalRecoveryTest, GarbageAfterTheLastFrameIsTruncated) {
  WriteFile(segment_path_, original_ + std::string(37, '\x5A'));
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  EXPECT_EQ(j->next_sequence(), kCount + 1);
  EXPECT_EQ(report.truncated_bytes, 37u);
  EXPECT_EQ(report.first_bad_offset, original_.size());
  EXPECT_EQ(fs::file_size(segment_path_), original_.size());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, kCount));
}

// A flipped byte anywhere in a middle frame (length, sequence, checksum or
// payload): that record is reported lost, everything around it is served.
TEST_F(JournalRecoveryTest, CorruptMiddleFrameIsReportedAndTheRestServed) {
  constexpr uint64_t kBad = 12;
  const size_t frame = offsets_[kBad - 1];
  const size_t frame_size = offsets_[kBad] - frame;
  for (size_t at :
       {frame, frame + 5, frame + 13, frame + kFrameHeaderSize + 7, frame + frame_size - 1}) {
    SCOPED_TRACE(absl::StrCat("flip at ", at - frame));
    std::string damaged = original_;
    damaged[at] ^= 0x01;
    WriteFile(segment_path_, damaged);
    RemoveLease();
    RecoveryReport report;
    auto j = OpenOrDie(Options(), &report);
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->next_sequence(), kCount + 1);
    EXPECT_EQ(report.corrupt_regions, 1u);
    EXPECT_EQ(report.truncated_bytes, 0u);
    using Range = std::pair<uint64_t, uint64_t>;
    EXPECT_EQ(report.lost_ranges, (std::vector<Range>{{kBad, kBad}}));
    EXPECT_EQ(j->lost_ranges(), (std::vector<Range>{{kBad, kBad}}));

    Journal::ReadResult last;
    EXPECT_EQ(ReadAll(*j, 1, &last), Expected(1, kBad - 1));
    std::string out;
    auto r = j->Read(kBad, 100, 1 << 20, &out);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->hole);
    EXPECT_EQ(r->hole_first, kBad);
    EXPECT_EQ(r->hole_last, kBad);
    EXPECT_EQ(r->next_sequence, kBad + 1);
    EXPECT_EQ(ReadAll(*j, kBad + 1), Expected(kBad + 1, kCount));
    // New records are appended after the damage, and the damage stays
    // reported (not truncated) on the next start.
    AppendRange(*j, kCount + 1, 2);
    ASSERT_TRUE(j->Close().ok());
    j = OpenOrDie(Options(), &report);
    EXPECT_EQ(report.lost_ranges, (std::vector<Range>{{kBad, kBad}}));
    EXPECT_EQ(ReadAll(*j, kBad + 1), Expected(kBad + 1, kCount + 2));
    j.reset();
    WriteFile(segment_path_, original_);
  }
}

TEST_F(JournalRecoveryTest, SeveralConsecutiveCorruptFramesAreOneLostRange) {
  std::string damaged = original_;
  for (uint64_t s = 5; s <= 8; ++s) damaged[offsets_[s - 1] + kFrameHeaderSize] ^= 0x40;
  WriteFile(segment_path_, damaged);
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  using Range = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(report.lost_ranges, (std::vector<Range>{{5, 8}}));
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 4));
  EXPECT_EQ(ReadAll(*j, 9), Expected(9, kCount));
}

TEST_F(JournalRecoveryTest, LastSegmentShorterThanAHeaderIsRemoved) {
  WriteFile(segment_path_, original_.substr(0, 7));
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  EXPECT_EQ(j->next_sequence(), 1u);
  EXPECT_EQ(report.truncated_bytes, 7u);
  EXPECT_TRUE(Segments().empty());
  AppendRange(*j, 1, 3);
  ASSERT_TRUE(j->Close().ok());
  j = OpenOrDie(Options());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 3));
}

TEST_F(JournalTest, DamagedHeaderOfAMiddleSegmentIsReportedAndItsFramesServed) {
  JournalOptions o = Options();
  o.segment_bytes = 2048;
  WriteJournal(300, o);
  std::vector<std::string> segments = Segments();
  ASSERT_GE(segments.size(), 4u);
  std::string bytes = ReadFile(segments[1]);
  bytes[1] ^= 0x7F;  // the magic
  WriteFile(segments[1], bytes);
  RecoveryReport report;
  auto j = OpenOrDie(o, &report);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(report.corrupt_segments, 1u);
  EXPECT_EQ(j->next_sequence(), 301u);
  EXPECT_TRUE(report.lost_ranges.empty());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 300));
}

TEST_F(JournalTest, DamagedHeaderAndFramesOfAMiddleSegmentLeaveAHoleOthersServed) {
  JournalOptions o = Options();
  o.segment_bytes = 2048;
  WriteJournal(300, o);
  std::vector<std::string> segments = Segments();
  ASSERT_GE(segments.size(), 4u);
  const uint64_t first2 = std::stoull(fs::path(segments[1]).filename().string().substr(4, 20));
  const uint64_t first3 = std::stoull(fs::path(segments[2]).filename().string().substr(4, 20));
  WriteFile(segments[1], std::string(fs::file_size(segments[1]), '\x33'));
  RecoveryReport report;
  auto j = OpenOrDie(o, &report);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(report.corrupt_segments, 1u);
  using Range = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(report.lost_ranges, (std::vector<Range>{{first2, first3 - 1}}));
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, first2 - 1));
  std::string out;
  auto r = j->Read(first2, 10, 1 << 20, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->hole);
  EXPECT_EQ(r->hole_last, first3 - 1);
  EXPECT_EQ(ReadAll(*j, first3), Expected(first3, 300));
  EXPECT_EQ(j->next_sequence(), 301u);
}

// --- Durability -------------------------------------------------------------

TEST_F(JournalTest, PerBatchRecordsAreInTheFileOnceDurable) {
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  absl::Mutex mu;
  std::vector<uint64_t> notified;
  o.on_durable = [&](uint64_t d) {
    absl::MutexLock lock(&mu);
    notified.push_back(d);
  };
  auto j = OpenOrDie(o);
  uint64_t previous = 0;
  for (uint64_t batch = 0; batch < 20; ++batch) {
    const uint64_t first = batch * 5 + 1;
    AppendRange(*j, first, 5, 5);
    ASSERT_TRUE(j->AwaitDurable(first + 4, absl::Now() + absl::Seconds(10)).ok());
    const uint64_t durable = j->durable_sequence();
    EXPECT_GE(durable, first + 4);
    EXPECT_GE(durable, previous);
    previous = durable;
    // The bytes are in the file (a reader that is not this journal).
    const std::string file = ReadFile(Segments().back());
    for (uint64_t seq = first; seq <= first + 4; ++seq) {
      EXPECT_NE(file.find(Payload(seq)), std::string::npos) << seq;
    }
  }
  EXPECT_GE(j->stats().fsyncs, 20u);
  ASSERT_TRUE(j->Close().ok());
  absl::MutexLock lock(&mu);
  ASSERT_FALSE(notified.empty());
  EXPECT_TRUE(std::is_sorted(notified.begin(), notified.end()));
  EXPECT_EQ(std::adjacent_find(notified.begin(), notified.end()), notified.end());
  EXPECT_EQ(notified.back(), 100u);
}

TEST_F(JournalTest, GroupCommitFsyncsFarLessOftenThanBatches) {
  JournalOptions o = Options();
  o.group_commit_interval = absl::Milliseconds(50);
  auto j = OpenOrDie(o);
  constexpr uint64_t kBatches = 2000;
  AppendRange(*j, 1, kBatches, 1);
  ASSERT_TRUE(j->AwaitDurable(kBatches, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(j->durable_sequence(), kBatches);
  EXPECT_LT(j->stats().fsyncs, kBatches / 20);
  EXPECT_EQ(j->stats().frames_appended, kBatches);
}

TEST_F(JournalTest, GroupCommitFsyncsOnceTheByteThresholdIsReached) {
  JournalOptions o = Options();
  o.group_commit_interval = absl::Hours(1);
  o.group_commit_bytes = 4096;
  auto j = OpenOrDie(o);
  AppendRange(*j, 1, 100, 100);  // ~9 KB: over the threshold
  EXPECT_TRUE(j->AwaitDurable(100, absl::Now() + absl::Seconds(10)).ok());
  // Below the threshold and long before the interval: not durable yet.
  AppendRange(*j, 101, 1, 1);
  EXPECT_EQ(j->AwaitDurable(101, absl::Now() + absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(j->Flush().ok());
  EXPECT_EQ(j->durable_sequence(), 101u);
}

TEST_F(JournalTest, EveryFsyncIsTimed) {
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  o.segment_bytes = 1024;  // rolls fsync the finished segment too
  auto j = OpenOrDie(o);
  EXPECT_EQ(j->fsync_latency().Read().count, 0u);
  for (uint64_t first = 1; first <= 100; first += 10) {
    AppendRange(*j, first, 10, 10);
    ASSERT_TRUE(j->AwaitDurable(first + 9, absl::Now() + absl::Seconds(10)).ok());
  }
  const JournalStats stats = j->stats();
  EXPECT_GT(stats.segments, 2u);
  EXPECT_GE(stats.fsyncs, 10u);
  const LatencyHistogram::Snapshot latency = j->fsync_latency().Read();
  EXPECT_EQ(latency.count, stats.fsyncs);
  EXPECT_GT(latency.sum_ns, 0u);
}

TEST_F(JournalTest, DeferredAppendIsWrittenOnceTheWriterIsWoken) {
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  o.retention_check_interval = absl::Hours(1);  // the writer's only other deadline
  auto j = OpenOrDie(o);
  // Let the writer settle into waiting for the next append.
  AppendRange(*j, 1, 1);
  ASSERT_TRUE(j->AwaitDurable(1, absl::Now() + absl::Seconds(10)).ok());
  const std::string payload = Payload(2);
  const std::vector<std::string_view> views = {payload};
  ASSERT_TRUE(j->Append(2, views, Journal::Wake::kDeferred).ok());
  j->WakeWriter();
  EXPECT_TRUE(j->AwaitDurable(2, absl::Now() + absl::Seconds(10)).ok());
  j->WakeWriter();  // nothing queued: harmless
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 2));
}

TEST_F(JournalTest, AwaitDurableFailsOnceClosed) {
  auto j = OpenOrDie(Options());
  ASSERT_TRUE(j->Close().ok());
  EXPECT_EQ(j->AwaitDurable(5, absl::InfiniteFuture()).code(),
            absl::StatusCode::kFailedPrecondition);
}

// --- Concurrency ------------------------------------------------------------

TEST_F(JournalTest, ConcurrentReadsSeeAPrefixInOrderWhileAppending) {
  JournalOptions o = Options();
  o.segment_bytes = 64 << 10;  // many rolls during the test
  o.index_interval = 16;
  auto j = OpenOrDie(o);
  constexpr uint64_t kCount = 20000;
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      uint64_t next = 1;
      std::string out;
      while (next <= kCount && !failed) {
        out.clear();
        auto result = j->Read(next, 37 + r * 100, 1 << 16, &out);
        if (!result.ok() || result->hole) {
          failed = true;
          ADD_FAILURE() << (result.ok() ? "unexpected hole" : result.status().ToString());
          return;
        }
        if (result->records == 0) {
          std::this_thread::yield();
          continue;
        }
        if (result->first_sequence != next ||
            out != Expected(result->first_sequence, result->last_sequence)) {
          failed = true;
          ADD_FAILURE() << "wrong records from " << next;
          return;
        }
        next = result->next_sequence;
      }
    });
  }
  AppendRange(*j, 1, kCount, 50);
  ASSERT_TRUE(j->Flush().ok());
  for (std::thread& t : readers) t.join();
  EXPECT_FALSE(failed);
  EXPECT_GT(j->stats().segments, 10u);
}

// --- The sequence lease ------------------------------------------------------

// A snapshot of a live journal directory, as a crash (power loss included,
// for what was fsynced) leaves it: the files as they are now, without Close().
void SnapshotDirectory(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

using Range = std::pair<uint64_t, uint64_t>;

TEST_F(JournalTest, ACleanCloseContinuesExactlyWhereItStopped) {
  JournalOptions o = Options();
  o.sequence_lease = 100;
  WriteJournal(10, o);
  auto j = OpenOrDie(o);
  EXPECT_EQ(j->next_sequence(), 11u);
  EXPECT_TRUE(j->lost_ranges().empty());
  EXPECT_EQ(j->lease(), 111u);  // leased ahead again
}

// Under group commit records are delivered before their fsync; after a crash
// their numbers must not name other records: the journal continues at the
// lease and reports the numbers in between as lost.
TEST_F(JournalTest, AfterACrashTheJournalContinuesAtTheLease) {
  JournalOptions o = Options();
  o.sequence_lease = 100;
  auto j = OpenOrDie(o);
  AppendRange(*j, 1, 10);
  ASSERT_TRUE(j->Flush().ok());
  const std::string crashed = dir_ + "-crashed";
  SnapshotDirectory(dir_, crashed);
  j.reset();

  JournalOptions c = o;
  c.directory = crashed;
  RecoveryReport report;
  auto r = OpenOrDie(c, &report);
  EXPECT_EQ(r->next_sequence(), 101u);
  EXPECT_EQ(report.lost_ranges, (std::vector<Range>{{11, 100}}));
  EXPECT_EQ(r->lost_ranges(), (std::vector<Range>{{11, 100}}));
  EXPECT_EQ(ReadAll(*r, 1), Expected(1, 10));
  std::string out;
  auto hole = r->Read(11, 10, 1 << 20, &out);
  ASSERT_TRUE(hole.ok());
  EXPECT_TRUE(hole->hole);
  EXPECT_EQ(hole->hole_first, 11u);
  EXPECT_EQ(hole->hole_last, 100u);
  // New records start a new segment at the lease, and the range stays
  // reported (as the gap between the segments) after a clean restart.
  AppendRange(*r, 101, 3);
  ASSERT_TRUE(r->Close().ok());
  r = OpenOrDie(c, &report);
  EXPECT_EQ(r->next_sequence(), 104u);
  EXPECT_EQ(r->lost_ranges(), (std::vector<Range>{{11, 100}}));
  EXPECT_EQ(ReadAll(*r, 101), Expected(101, 103));
  r.reset();
  fs::remove_all(crashed);
}

// Under fsync-per-batch nothing is delivered before it is durable, so a
// crash skips nothing.
TEST_F(JournalTest, PerBatchLeaseIsExact) {
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  auto j = OpenOrDie(o);
  AppendRange(*j, 1, 10);
  ASSERT_TRUE(j->Flush().ok());
  const std::string crashed = dir_ + "-crashed";
  SnapshotDirectory(dir_, crashed);
  j.reset();
  JournalOptions c = o;
  c.directory = crashed;
  auto r = OpenOrDie(c);
  EXPECT_EQ(r->next_sequence(), 11u);
  EXPECT_TRUE(r->lost_ranges().empty());
  r.reset();
  fs::remove_all(crashed);
}

// A record whose frame is gone after a clean close (the disk lost it) keeps
// its number: it is reported lost, not given to the next record.
TEST_F(JournalTest, ARecordLostFromTheTailKeepsItsNumber) {
  WriteJournal(30, Options());
  const std::string segment = Segments().back();
  fs::resize_file(segment, fs::file_size(segment) - 3);
  RecoveryReport report;
  auto j = OpenOrDie(Options(), &report);
  EXPECT_GT(report.truncated_bytes, 0u);
  EXPECT_EQ(j->next_sequence(), 31u);
  EXPECT_EQ(j->lost_ranges(), (std::vector<Range>{{30, 30}}));
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 29));
}

TEST_F(JournalTest, TheLeaseIsExtendedAheadOfNeed) {
  JournalOptions o = Options();
  o.sequence_lease = 16;
  auto j = OpenOrDie(o);
  EXPECT_EQ(j->lease(), 17u);
  EXPECT_TRUE(j->CanAppend(16));
  EXPECT_FALSE(j->CanAppend(17));
  for (uint64_t s = 1; s <= 200; ++s) {
    AppendRange(*j, s, 1);
    // The writer extends it once half is used; give it the time it needs.
    for (int i = 0; i < 1000 && !j->CanAppend(s + 1); ++i) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_GT(j->lease(), 200u);
  EXPECT_LE(j->lease(), 201u + 16);
  // After a clean close the lease on disk is exact: in the newer intact slot.
  ASSERT_TRUE(j->Close().ok());
  const std::string bytes = ReadFile(dir_ + "/LEASE");
  ASSERT_EQ(bytes.size(), journal_format::kLeaseSlotSize + journal_format::kLeaseRecordSize);
  journal_format::LeaseRecord newest;
  for (size_t i = 0; i < 2; ++i) {
    const journal_format::LeaseRecord r =
        journal_format::DecodeLeaseRecord(bytes.data() + i * journal_format::kLeaseSlotSize);
    ASSERT_TRUE(r.intact) << "slot " << i;
    if (r.generation > newest.generation) newest = r;
  }
  EXPECT_GT(newest.generation, 2u);  // extended at least once
  EXPECT_EQ(newest.lease, 201u);
}

TEST_F(JournalTest, ATornLeaseSlotFallsBackToTheOtherOne) {
  JournalOptions o = Options();
  o.sequence_lease = 100;
  WriteJournal(10, o);  // the lease of Open (generation 1, slot 1: 101), of Close (2, slot 0: 11)
  std::string bytes = ReadFile(dir_ + "/LEASE");
  bytes[20] ^= 0x01;  // slot 0, inside its lease field
  WriteFile(dir_ + "/LEASE", bytes);
  auto j = OpenOrDie(o);
  // Generation 1 said 101: the journal cannot know the clean close happened.
  EXPECT_EQ(j->next_sequence(), 101u);
  EXPECT_EQ(j->lost_ranges(), (std::vector<Range>{{11, 100}}));
}

TEST_F(JournalTest, ADamagedLeaseFileRefusesToOpen) {
  WriteJournal(10, Options());
  std::string bytes = ReadFile(dir_ + "/LEASE");
  bytes[0] ^= 0x01;
  bytes[journal_format::kLeaseSlotSize] ^= 0x01;
  WriteFile(dir_ + "/LEASE", bytes);
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_CONTAINS(std::string(j.status().message()), dir_ + "/LEASE is damaged");
  EXPECT_CONTAINS(std::string(j.status().message()), "delete the file and restart");
}

// --- Retention and durability -------------------------------------------------

// Retention never deletes a segment while the next one holds no durable
// record: a power loss then would leave neither, and recovery would start
// below numbers already handed out.
TEST_F(JournalTest, RetentionKeepsASegmentUntilItsSuccessorHasADurableRecord) {
  JournalOptions o = Options();
  o.segment_bytes = 1024;
  o.retention_bytes = 2048;
  o.group_commit_interval = absl::Hours(1);  // no fsync but the rolls' own
  o.group_commit_bytes = size_t{1} << 30;
  auto j = OpenOrDie(o);
  AppendRange(*j, 1, 100);
  auto written = [&] {
    std::string out;
    absl::StatusOr<Journal::ReadResult> r = j->Read(100, 1, 1 << 20, &out);
    return r.ok() && r->records == 1;
  };
  for (int i = 0; i < 5000 && !written(); ++i) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(written());
  const uint64_t segments = j->stats().segments;
  ASSERT_GE(segments, 5u);
  j->EnforceRetention();
  EXPECT_EQ(j->stats().segments, segments);
  EXPECT_EQ(j->oldest_sequence(), 1u);
  // Once the newest records are durable the deferred retention runs.
  ASSERT_TRUE(j->Flush().ok());
  for (int i = 0; i < 5000 && j->stats().segments > 3; ++i) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_LE(j->stats().segments, 3u);
  EXPECT_GT(j->oldest_sequence(), 1u);
  EXPECT_EQ(ReadAll(*j, j->oldest_sequence()), Expected(j->oldest_sequence(), 100));
}

TEST_F(JournalTest, RetentionThatCannotHoldTwoSegmentsIsRefused) {
  JournalOptions o = Options();
  o.segment_bytes = 1 << 20;
  o.retention_bytes = (1 << 20) + 1;
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(std::string(j.status().message()), "at least two segments");
  o.retention_bytes = 2 << 20;
  EXPECT_TRUE(Journal::Open(o).ok());
}

}  // namespace
}  // namespace fixstream::gateway
