// The journal under injected disk faults (FaultInjectingFileSystem): what
// docs/JOURNAL.md promises when a write, an fsync, a directory or a file
// fails — the writer stalls (status() names the error, CanAppend() says no,
// Flush() and AwaitDurable() return the error), retries with backoff and
// writes everything again once the disk recovers; Open() names the path and
// the errno text; and what recovery finds after a reopen.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "fault_injecting_file_system.h"
#include "gateway/journal/journal.h"
#include "gtest/gtest.h"
#include "test_payloads.h"

namespace fixstream::gateway {
namespace {

using testing::Expected;
using testing::Payload;

namespace fs = std::filesystem;

// Appends records first..first+count-1 as one batch.
absl::Status AppendBatch(Journal& journal, uint64_t first, uint64_t count) {
  std::vector<std::string> storage;
  std::vector<std::string_view> views;
  for (uint64_t s = first; s < first + count; ++s) storage.push_back(Payload(s));
  for (const std::string& p : storage) views.push_back(p);
  return journal.Append(first, views);
}

std::string ReadAll(const Journal& journal, uint64_t from) {
  std::string out;
  for (;;) {
    absl::StatusOr<Journal::ReadResult> r = journal.Read(from, 100, 1 << 20, &out);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->records == 0) break;
    from = r->next_sequence;
  }
  return out;
}

// Polls `done` for up to 10 s.
template <typename Done>
bool WaitFor(Done done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return done();
}

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

class JournalFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "journal_fault_test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  // Options on the fault-injecting file system.
  JournalOptions Options() {
    JournalOptions o;
    o.directory = dir_;
    o.file_system = &fs_;
    return o;
  }
  // Options on the real one, for reopening after a fault.
  JournalOptions PosixOptions() const {
    JournalOptions o;
    o.directory = dir_;
    return o;
  }

  std::unique_ptr<Journal> OpenOrDie(JournalOptions options, RecoveryReport* report = nullptr) {
    absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(std::move(options), report);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? std::move(*j) : nullptr;
  }

  std::string SegmentPath(uint64_t first) const {
    return absl::StrCat(dir_, "/", JournalSegmentFileName(first));
  }

  FaultInjectingFileSystem fs_;
  std::string dir_;
};

// --- Open ------------------------------------------------------------------

// The root-proof variant of JournalTest.UnwritableDirectoryIsAClearError:
// each step of Open() that needs a writable directory fails with EACCES.
TEST_F(JournalFaultTest, UnwritableDirectoryIsAClearErrorEvenAsRoot) {
  struct Case {
    FaultOp op;
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {FaultOp::kCreateDirectories, "", "cannot create journal directory " + dir_ + "/sub"},
      {FaultOp::kOpen, "/LOCK", "cannot open journal lock file " + dir_ + "/sub/LOCK"},
      {FaultOp::kOpen, "/.write-probe", "cannot write to journal directory " + dir_ + "/sub"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    fs_.Clear();
    fs_.Inject(Fault(c.op, EACCES).OnPath(c.path));
    JournalOptions o = Options();
    o.directory = dir_ + "/sub";
    absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(j.status().message(), c.message + ": Permission denied");
    // Nothing holds the directory afterwards.
    fs_.Clear();
    EXPECT_TRUE(Journal::Open(o).ok());
  }
}

TEST_F(JournalFaultTest, DirectoryCreationFailureNamesTheErrno) {
  fs_.Inject(Fault(FaultOp::kCreateDirectories, ENOSPC));
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(j.status().message(),
            absl::StrCat("cannot create journal directory ", dir_, ": ", ErrnoText(ENOSPC)));
}

TEST_F(JournalFaultTest, LockFailureOtherThanContentionIsAnError) {
  fs_.Inject(Fault(FaultOp::kTryLock, ENOLCK));
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(j.status().message(),
            absl::StrCat("cannot lock journal lock file ", dir_, "/LOCK: ", ErrnoText(ENOLCK)));
}

TEST_F(JournalFaultTest, UnreadableDirectoryFailsOpen) {
  fs_.Inject(Fault(FaultOp::kListDirectory, EIO));
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(),
            absl::StrCat("cannot read journal directory ", dir_, ": ", ErrnoText(EIO)));
}

// Recovery fails Open() when a segment cannot be opened, read, truncated or
// synced (a damaged tail is never the reason: an I/O error is).
TEST_F(JournalFaultTest, RecoveryIoErrorsFailOpenWithThePath) {
  {
    auto j = OpenOrDie(PosixOptions());
    ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
    ASSERT_TRUE(j->Close().ok());
  }
  // A torn tail, so that recovery truncates.
  const std::string segment = SegmentPath(1);
  fs::resize_file(segment, fs::file_size(segment) - 3);
  struct Case {
    FaultOp op;
    std::string message;
  };
  const std::vector<Case> cases = {
      {FaultOp::kOpen, "cannot open journal segment " + segment},
      {FaultOp::kStat, "cannot stat journal segment " + segment},
      {FaultOp::kMap, "cannot map journal segment " + segment},
      {FaultOp::kTruncate, "cannot truncate the damaged tail of journal segment " + segment},
      {FaultOp::kSync, "cannot truncate the damaged tail of journal segment " + segment},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    fs_.Clear();
    fs_.Inject(Fault(c.op, EIO).OnPath(".fsj"));
    absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.status().message(), c.message + ": " + ErrnoText(EIO));
  }
  // The fsync that makes a recovered (untruncated) last segment durable.
  RecoveryReport report;
  OpenOrDie(PosixOptions(), &report).reset();  // truncates the tail
  EXPECT_EQ(report.frames, 9u);
  fs_.Clear();
  fs_.Inject(Fault(FaultOp::kSync, EIO).OnPath(".fsj"));
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(Options());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(),
            absl::StrCat("cannot fsync journal segment ", segment, ": ", ErrnoText(EIO)));
  // And with the disk healthy again everything recovered is there.
  fs_.Clear();
  auto healthy = OpenOrDie(Options());
  // Sequence 10 was handed out before the clean close (the lease says so) and
  // its frame is gone: it is a lost range, never given to another record.
  EXPECT_EQ(healthy->next_sequence(), 11u);
  using Range = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(healthy->lost_ranges(), (std::vector<Range>{{10, 10}}));
  EXPECT_EQ(ReadAll(*healthy, 1), Expected(1, 9));
}

// --- The writer --------------------------------------------------------------

// A write that fails (disk full, I/O error) stalls the journal: waiters get
// the error, CanAppend() says no, health hears it, what was written before
// stays readable. Once the disk takes writes again the writer writes what it
// kept and everything appended is durable, readable and recovered after a
// restart, without a gap or a repeat.
TEST_F(JournalFaultTest, WriteErrorStallsUntilTheDiskRecovers) {
  for (int error : {ENOSPC, EIO}) {
    SCOPED_TRACE(ErrnoText(error));
    fs::remove_all(dir_);
    fs_.Clear();
    absl::Mutex mu;
    std::vector<absl::Status> health;
    int available = 0;
    JournalOptions o = Options();
    o.durability = DurabilityPolicy::kPerBatch;
    o.retry_backoff = absl::Milliseconds(5);
    o.retry_backoff_max = absl::Milliseconds(20);
    o.on_health = [&](const absl::Status& s) {
      absl::MutexLock lock(&mu);
      health.push_back(s);
    };
    o.on_available = [&] {
      absl::MutexLock lock(&mu);
      ++available;
    };
    auto j = OpenOrDie(o);
    ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
    ASSERT_TRUE(j->Flush().ok());
    EXPECT_TRUE(j->status().ok());

    fs_.Inject(Fault(FaultOp::kWrite, error).OnPath(".fsj"));
    ASSERT_TRUE(AppendBatch(*j, 11, 5).ok());  // queued; the writer fails on it
    const absl::Status flushed = j->Flush();
    EXPECT_EQ(flushed.code(), absl::ErrnoToStatusCode(error));
    EXPECT_EQ(flushed.message(),
              absl::StrCat("journal segment ", SegmentPath(1), ": write: ", ErrnoText(error)));
    EXPECT_TRUE(j->stalled());
    EXPECT_EQ(j->status(), flushed);
    EXPECT_FALSE(j->CanAppend(16));
    EXPECT_EQ(j->AwaitDurable(15, absl::InfiniteFuture()), flushed);
    EXPECT_TRUE(j->AwaitDurable(10, absl::InfiniteFuture()).ok());
    EXPECT_EQ(j->durable_sequence(), 10u);
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 10));  // reads still work
    // It keeps trying (with backoff), and keeps failing while the disk does.
    const uint64_t errors = j->write_errors();
    ASSERT_TRUE(WaitFor([&] { return j->write_errors() > errors + 2; }));
    EXPECT_TRUE(j->stalled());
    {
      absl::MutexLock lock(&mu);
      ASSERT_EQ(health.size(), 1u);
      EXPECT_EQ(health[0], flushed);
    }

    fs_.Clear();  // space freed, the device is back
    ASSERT_TRUE(WaitFor(
        [&] { return j->durable_sequence() >= 15; }));  // (AwaitDurable: the error while stalled)
    EXPECT_FALSE(j->stalled());
    EXPECT_TRUE(j->status().ok());
    EXPECT_TRUE(j->CanAppend(16));
    {
      absl::MutexLock lock(&mu);
      ASSERT_EQ(health.size(), 2u);
      EXPECT_TRUE(health[1].ok());
    }
    ASSERT_TRUE(WaitFor([&] {
      absl::MutexLock lock(&mu);
      return available >= 1;  // the CanAppend() above that said no is answered
    }));
    ASSERT_TRUE(AppendBatch(*j, 16, 5).ok());
    ASSERT_TRUE(j->Flush().ok());
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 20));
    ASSERT_TRUE(j->Close().ok());

    RecoveryReport report;
    j = OpenOrDie(PosixOptions(), &report);
    EXPECT_EQ(report.truncated_bytes, 0u);
    EXPECT_EQ(report.frames, 20u);
    EXPECT_TRUE(report.lost_ranges.empty());
    EXPECT_EQ(j->next_sequence(), 21u);
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 20));
  }
}

// A short write is not an error: the writer writes the rest.
TEST_F(JournalFaultTest, ShortWritesAreCompleted) {
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  auto j = OpenOrDie(o);
  fs_.Inject(Fault::ShortWrite(7).OnPath(".fsj"));
  for (uint64_t first = 1; first <= 50; first += 10) {
    ASSERT_TRUE(AppendBatch(*j, first, 10).ok());
    ASSERT_TRUE(j->AwaitDurable(first + 9, absl::InfiniteFuture()).ok());
  }
  EXPECT_GT(fs_.injected(), 100u);
  EXPECT_TRUE(j->status().ok());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 50));
  ASSERT_TRUE(j->Close().ok());
  RecoveryReport report;
  j = OpenOrDie(PosixOptions(), &report);
  EXPECT_EQ(report.frames, 50u);
  EXPECT_EQ(report.truncated_bytes, 0u);
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 50));
}

// What a filling disk does: one short write, then ENOSPC. The partial frame
// it leaves is a torn tail that recovery truncates.
TEST_F(JournalFaultTest, ShortWriteThenDiskFullLeavesATornTailForRecovery) {
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  auto j = OpenOrDie(o);
  ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
  ASSERT_TRUE(j->Flush().ok());
  const uint64_t good_size = fs::file_size(SegmentPath(1));
  fs_.Inject(Fault::ShortWrite(30).Times(1));
  fs_.Inject(Fault(FaultOp::kWrite, ENOSPC).After(1));
  ASSERT_TRUE(AppendBatch(*j, 11, 10).ok());
  EXPECT_EQ(j->Flush().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(fs_.injected(), 2u);
  EXPECT_EQ(fs::file_size(SegmentPath(1)), good_size + 30);
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 10));  // the torn frame is not served
  j.reset();

  RecoveryReport report;
  j = OpenOrDie(PosixOptions(), &report);
  EXPECT_EQ(report.truncated_bytes, 30u);
  EXPECT_EQ(report.first_bad_offset, good_size);
  EXPECT_EQ(fs::file_size(SegmentPath(1)), good_size);
  EXPECT_EQ(j->next_sequence(), 11u);
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 10));
}

// A failed fdatasync may have dropped the dirty pages (Linux reports the
// error once and marks them clean): the fault here zeroes what was written
// since the last good sync, as that can. The journal never counts them
// durable after a failure; it writes them again from memory and fsyncs, and
// only then are they durable — so after a restart every record is there.
TEST_F(JournalFaultTest, FsyncFailureRewritesWhatWasNotDurable) {
  for (DurabilityPolicy policy : {DurabilityPolicy::kPerBatch, DurabilityPolicy::kGroupCommit}) {
    SCOPED_TRACE(policy == DurabilityPolicy::kPerBatch ? "per batch" : "group commit");
    fs::remove_all(dir_);
    fs_.Clear();
    absl::Mutex mu;
    std::vector<uint64_t> notified;
    JournalOptions o = Options();
    o.durability = policy;
    o.retry_backoff = absl::Milliseconds(200);  // a window to look at the stalled journal
    o.on_durable = [&](uint64_t d) {
      absl::MutexLock lock(&mu);
      notified.push_back(d);
    };
    auto j = OpenOrDie(o);
    ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
    ASSERT_TRUE(j->Flush().ok());
    const uint64_t size_before = fs::file_size(SegmentPath(1));

    fs_.Inject(Fault(FaultOp::kDataSync, EIO).OnPath(".fsj").LosingUnsyncedData().Times(1));
    ASSERT_TRUE(AppendBatch(*j, 11, 10).ok());
    const absl::Status failed = j->AwaitDurable(20, absl::InfiniteFuture());
    EXPECT_EQ(failed.code(), absl::StatusCode::kUnknown);  // EIO
    EXPECT_EQ(failed.message(),
              absl::StrCat("cannot fsync journal segment ", SegmentPath(1), ": ", ErrnoText(EIO)));
    EXPECT_EQ(j->durable_sequence(), 10u);
    {
      // The lost pages, as the disk has them now.
      std::string tail(fs::file_size(SegmentPath(1)) - size_before, 'x');
      std::FILE* f = std::fopen(SegmentPath(1).c_str(), "rb");
      ASSERT_NE(f, nullptr);
      std::fseek(f, static_cast<long>(size_before), SEEK_SET);
      ASSERT_EQ(std::fread(tail.data(), 1, tail.size(), f), tail.size());
      std::fclose(f);
      EXPECT_EQ(tail, std::string(tail.size(), '\0'));
    }
    // The retry writes them again and fsyncs.
    ASSERT_TRUE(WaitFor(
        [&] { return j->durable_sequence() >= 20; }));  // (AwaitDurable: the error while stalled)
    EXPECT_TRUE(j->status().ok());
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 20));
    {
      absl::MutexLock lock(&mu);
      ASSERT_FALSE(notified.empty());
      EXPECT_EQ(notified.back(), 20u);
      EXPECT_TRUE(std::is_sorted(notified.begin(), notified.end()));
    }
    ASSERT_TRUE(j->Close().ok());
    RecoveryReport report;
    j = OpenOrDie(PosixOptions(), &report);
    EXPECT_EQ(report.truncated_bytes, 0u);
    EXPECT_EQ(report.corrupt_regions, 0u);
    EXPECT_EQ(j->next_sequence(), 21u);  // a clean close: the lease is exact
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 20));
    j.reset();
  }
}

// A segment roll fsyncs the finished segment and the directory and creates
// the next segment: a failure of any of them stalls the journal; once the
// disk recovers the roll is done again (a segment file the failed roll left
// behind is removed first) and the journal goes on with no gap, no repeat
// and no stray file.
TEST_F(JournalFaultTest, RollFailuresStallUntilTheRollSucceeds) {
  struct Case {
    Fault fault;
    std::string message;
  };
  const std::string second = JournalSegmentFileName(2);
  const std::vector<Case> cases = {
      {Fault(FaultOp::kDataSync, EIO),
       "cannot fsync journal segment " + SegmentPath(1) + ": " + ErrnoText(EIO)},
      {Fault(FaultOp::kOpen, ENOSPC).OnPath(second),
       "cannot create journal segment " + SegmentPath(2) + ": " + ErrnoText(ENOSPC)},
      {Fault(FaultOp::kWrite, ENOSPC).OnPath(second),
       "journal segment " + SegmentPath(2) + ": write: " + ErrnoText(ENOSPC)},
      {Fault(FaultOp::kSync, EIO).OnPath(dir_),
       "cannot fsync journal directory " + dir_ + ": " + ErrnoText(EIO)},
      {Fault(FaultOp::kOpen, EMFILE).OnPath(dir_).After(1),
       "cannot open journal directory " + dir_ + ": " + ErrnoText(EMFILE)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    fs::remove_all(dir_);
    fs_.Clear();
    JournalOptions o = Options();
    o.durability = DurabilityPolicy::kPerBatch;
    o.segment_bytes = 100;  // one record per segment
    o.retention_bytes = 1 << 20;
    o.retry_backoff = absl::Milliseconds(5);
    auto j = OpenOrDie(o);
    ASSERT_TRUE(AppendBatch(*j, 1, 1).ok());
    ASSERT_TRUE(j->Flush().ok());
    fs_.Inject(c.fault);
    ASSERT_TRUE(AppendBatch(*j, 2, 1).ok());
    const absl::Status failed = j->Flush();
    EXPECT_FALSE(failed.ok());
    EXPECT_EQ(failed.message(), c.message);
    EXPECT_TRUE(j->stalled());
    EXPECT_FALSE(j->CanAppend(3));
    EXPECT_EQ(j->durable_sequence(), 1u);
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 1));
    fs_.Clear();
    ASSERT_TRUE(WaitFor(
        [&] { return j->durable_sequence() >= 2; }));  // (AwaitDurable: the error while stalled)
    ASSERT_TRUE(AppendBatch(*j, 3, 1).ok());
    ASSERT_TRUE(j->Flush().ok());
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 3));
    ASSERT_TRUE(j->Close().ok());
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path().filename());
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files,
              (std::vector<std::string>{"LEASE", "LOCK", JournalSegmentFileName(1),
                                        JournalSegmentFileName(2), JournalSegmentFileName(3)}));
    RecoveryReport report;
    j = OpenOrDie(PosixOptions(), &report);
    EXPECT_EQ(report.corrupt_segments, 0u);
    EXPECT_TRUE(report.lost_ranges.empty());
    EXPECT_EQ(j->next_sequence(), 4u);
    EXPECT_EQ(ReadAll(*j, 1), Expected(1, 3));
    j.reset();
  }
}

// After a failure the writer has nothing to do until its next retry (100 ms,
// then longer): it must sleep, not spin on a group-commit deadline that no
// fsync will meet.
TEST_F(JournalFaultTest, FailedWriterWaitsInsteadOfSpinning) {
  for (DurabilityPolicy policy : {DurabilityPolicy::kPerBatch, DurabilityPolicy::kGroupCommit}) {
    SCOPED_TRACE(policy == DurabilityPolicy::kPerBatch ? "per batch" : "group commit");
    fs::remove_all(dir_);
    fs_.Clear();
    JournalOptions o = Options();
    o.durability = policy;
    o.retention_check_interval = absl::Hours(1);
    auto j = OpenOrDie(o);
    fs_.Inject(Fault(FaultOp::kDataSync, EIO));
    ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
    ASSERT_FALSE(j->Flush().ok());
    timespec start;
    ASSERT_EQ(::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start), 0);
    absl::SleepFor(absl::Milliseconds(300));  // a window to measure, not a wait for an event
    timespec end;
    ASSERT_EQ(::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end), 0);
    const absl::Duration cpu = absl::DurationFromTimespec(end) - absl::DurationFromTimespec(start);
    EXPECT_LT(cpu, absl::Milliseconds(20)) << "the failed writer thread is busy";
    EXPECT_FALSE(j->Close().ok());
  }
}

// The hub asks CanAppend() and then appends, under its own lock: an Append
// racing with the writer's failure has numbered its records already, so it
// is queued, not refused, and written once the disk recovers.
TEST_F(JournalFaultTest, AppendRacingTheWritersFailureIsQueuedAndWrittenLater) {
  for (int round = 0; round < 50; ++round) {
    fs::remove_all(dir_);
    fs_.Clear();
    JournalOptions o = Options();
    o.durability = DurabilityPolicy::kPerBatch;
    o.retry_backoff = absl::Milliseconds(1);
    auto j = OpenOrDie(o);
    ASSERT_NE(j, nullptr);
    fs_.Inject(Fault(FaultOp::kWrite, ENOSPC).After(1));
    uint64_t seq = 1;
    for (; seq < 100000 && j->CanAppend(seq); ++seq) {
      ASSERT_TRUE(AppendBatch(*j, seq, 1).ok()) << "round " << round;
    }
    ASSERT_TRUE(j->stalled());
    ASSERT_TRUE(AppendBatch(*j, seq, 1).ok()) << "round " << round;  // the racing one
    fs_.Clear();
    ASSERT_TRUE(WaitFor(
        [&] { return j->durable_sequence() >= seq; }));  // (AwaitDurable: the error while stalled)
    ASSERT_EQ(ReadAll(*j, 1), Expected(1, seq)) << "round " << round;
  }
}

// --- Reads and retention -----------------------------------------------------

TEST_F(JournalFaultTest, ReadErrorIsDataLossWithTheOffset) {
  auto j = OpenOrDie(Options());
  ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
  ASSERT_TRUE(j->Flush().ok());
  fs_.Inject(Fault(FaultOp::kReadAt, EIO).OnPath(".fsj").Times(1));
  std::string out;
  absl::StatusOr<Journal::ReadResult> r = j->Read(1, 100, 1 << 20, &out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message(),
            absl::StrCat("cannot read journal segment ", SegmentPath(1), " at offset ",
                         kSegmentHeaderSize, ": ", ErrnoText(EIO)));
  // A read error is not the writer's: appends and the next read go on.
  EXPECT_TRUE(j->status().ok());
  ASSERT_TRUE(AppendBatch(*j, 11, 1).ok());
  EXPECT_TRUE(j->Flush().ok());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 11));
}

TEST_F(JournalFaultTest, SegmentThatRetentionCannotDeleteIsLoggedAndAppendsGoOn) {
  JournalOptions o = Options();
  o.segment_bytes = 2048;
  o.retention_bytes = 4096;
  auto j = OpenOrDie(o);
  fs_.Inject(Fault(FaultOp::kRemoveFile, EACCES).OnPath(".fsj"));
  ASSERT_TRUE(AppendBatch(*j, 1, 100).ok());
  ASSERT_TRUE(j->Flush().ok());
  j->EnforceRetention();
  EXPECT_GT(fs_.injected(), 0u);
  EXPECT_EQ(j->stats().segments_deleted, 0u);
  EXPECT_TRUE(j->status().ok());
  ASSERT_TRUE(AppendBatch(*j, 101, 10).ok());
  EXPECT_TRUE(j->Flush().ok());
  EXPECT_EQ(ReadAll(*j, j->oldest_sequence()), Expected(j->oldest_sequence(), 110));
}

// A journal directory just created survives a power loss only once its
// parent's entries are on disk: Open() fsyncs the parent, and says so when
// it cannot.
TEST_F(JournalFaultTest, TheParentOfANewJournalDirectoryIsSynced) {
  JournalOptions o = Options();
  o.directory = dir_ + "/sub";
  fs_.Inject(Fault(FaultOp::kSync, EIO).OnPath(dir_).Times(1));
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().message(), absl::StrCat("cannot fsync the parent of journal directory ",
                                               dir_, "/sub ", dir_, ": ", ErrnoText(EIO)));
  fs_.Clear();
  j = Journal::Open(o);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_GE(fs_.calls(FaultOp::kSync), 1u);
}

// The lease cannot be extended (its fdatasync fails): the journal stalls as
// on any write error, and no number beyond the durable lease is accepted —
// a restart meanwhile continues at that lease. Once the lease file can be
// written again, the journal extends it and takes appends.
TEST_F(JournalFaultTest, ALeaseThatCannotBeExtendedRefusesNumbersBeyondIt) {
  JournalOptions o = Options();
  o.sequence_lease = 16;
  o.retry_backoff = absl::Milliseconds(5);
  auto j = OpenOrDie(o);
  ASSERT_EQ(j->lease(), 17u);
  fs_.Inject(Fault(FaultOp::kDataSync, EIO).OnPath("/LEASE"));
  ASSERT_TRUE(AppendBatch(*j, 1, 9).ok());  // half the lease used: the writer tries to extend
  ASSERT_TRUE(WaitFor([&] { return !j->status().ok(); }));
  EXPECT_EQ(j->status().message(),
            absl::StrCat("cannot fsync journal lease file ", dir_, "/LEASE: ", ErrnoText(EIO)));
  EXPECT_EQ(j->lease(), 17u);
  EXPECT_FALSE(j->CanAppend(16));             // stalled
  EXPECT_FALSE(AppendBatch(*j, 10, 8).ok());  // beyond the lease: never
  {
    // A restart while it cannot be extended continues at the lease.
    const std::string copy = dir_ + "-copy";
    fs::remove_all(copy);
    fs::copy(dir_, copy);
    fs::remove(copy + "/LOCK");
    JournalOptions p = PosixOptions();
    p.directory = copy;
    auto reopened = OpenOrDie(p);
    EXPECT_GE(reopened->next_sequence(), 17u);
    EXPECT_EQ(ReadAll(*reopened, 1), Expected(1, 9));
    reopened.reset();
    fs::remove_all(copy);
  }
  fs_.Clear();
  ASSERT_TRUE(WaitFor([&] { return !j->stalled(); }));
  EXPECT_GT(j->lease(), 17u);
  EXPECT_TRUE(j->CanAppend(17));
  ASSERT_TRUE(AppendBatch(*j, 10, 8).ok());
  ASSERT_TRUE(j->Flush().ok());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, 17));
}

// A disk slower than the input: once more than max_pending_bytes wait for
// the writer, CanAppend() says no (the hub pauses the devices) instead of
// the buffer growing; when the writer catches up, on_available says so.
TEST_F(JournalFaultTest, PendingBytesAreBoundedWhileTheDiskIsSlow) {
  absl::Mutex mu;
  bool release = false;
  int available = 0;
  JournalOptions o = Options();
  o.durability = DurabilityPolicy::kPerBatch;
  o.max_pending_bytes = 4096;
  o.before_sync = [&] {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&release));
  };
  o.on_available = [&] {
    absl::MutexLock lock(&mu);
    ++available;
  };
  auto j = OpenOrDie(o);
  uint64_t seq = 1;
  while (j->CanAppend(seq + 9)) {
    ASSERT_TRUE(AppendBatch(*j, seq, 10).ok());
    seq += 10;
    ASSERT_LT(seq, 100000u) << "the pending bytes are not bounded";
  }
  const JournalStats stats = j->stats();
  EXPECT_GT(stats.pending_bytes, o.max_pending_bytes);
  EXPECT_LT(stats.pending_bytes, o.max_pending_bytes + 20 * (kFrameHeaderSize + 64));
  EXPECT_TRUE(j->status().ok());  // slow is not failed
  EXPECT_FALSE(j->stalled());
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(available, 0);
    release = true;
  }
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return available > 0;
  }));
  EXPECT_TRUE(j->CanAppend(seq + 9));
  ASSERT_TRUE(j->Flush().ok());
  EXPECT_EQ(ReadAll(*j, 1), Expected(1, seq - 1));
}

// The writer retries with backoff (doubling up to retry_backoff_max), not
// in a loop; Close() during a stall returns the error at once (nothing is
// waited for), and a restart keeps every record that was durable — under
// group commit, it continues at the sequence lease, so numbers that may
// have been delivered are never reused.
TEST_F(JournalFaultTest, RetriesBackOffAndCloseDuringAStallDoesNotWait) {
  JournalOptions o = Options();
  o.retry_backoff = absl::Milliseconds(20);
  o.retry_backoff_max = absl::Milliseconds(80);
  auto j = OpenOrDie(o);
  ASSERT_TRUE(AppendBatch(*j, 1, 10).ok());
  ASSERT_TRUE(j->Flush().ok());
  fs_.Inject(Fault(FaultOp::kWrite, ENOSPC).OnPath(".fsj"));
  ASSERT_TRUE(AppendBatch(*j, 11, 10).ok());
  ASSERT_FALSE(j->Flush().ok());
  const uint64_t first = j->write_errors();
  absl::SleepFor(absl::Milliseconds(500));  // a window to count attempts in
  const uint64_t attempts = j->write_errors() - first;
  // 20 + 40 + 80 + 80 ... ms: about 7 in 500 ms; a loop would make thousands.
  EXPECT_GE(attempts, 3u);
  EXPECT_LE(attempts, 12u);
  const absl::Time start = absl::Now();
  EXPECT_EQ(j->Close().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  j.reset();
  fs_.Clear();
  auto reopened = OpenOrDie(PosixOptions());
  EXPECT_EQ(reopened->next_sequence(), 1 + o.sequence_lease);
  EXPECT_EQ(ReadAll(*reopened, 1), Expected(1, 10));
}

}  // namespace
}  // namespace fixstream::gateway
