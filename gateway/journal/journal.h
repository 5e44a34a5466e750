// Journal: the durable, append-only log of every published record on local
// disk, so records and their sequence numbers survive restarts and crashes.
//
// The journal stores exactly the bytes the hub sends: each payload is one
// encoded SubscribeResponse.records frame (record_codec.h) whose sequence is
// already patched. Sequence numbers are contiguous; the caller (the hub)
// appends batch after batch starting at next_sequence().
//
// When a write or fsync fails (disk full, I/O error) the journal stalls
// instead of failing for good: it keeps every record not yet durable in
// memory, CanAppend() says no (so the hub numbers nothing new and devices
// are paused), and the writer retries with backoff — rewriting the unsynced
// bytes from memory at their offsets (a failed fsync may have dropped the
// dirty pages, so they are never trusted), writing what was not written
// yet, and fsyncing — until it succeeds; then it accepts records again by
// itself. on_health and on_available tell the gateway.
//
// On disk (format, policies and loss windows: docs/JOURNAL.md) a directory
// holds `LOCK` and segment files `seg-<first sequence, 20 digits>.fsj`
// (byte layout: journal_format.h). All I/O goes through a FileSystem
// (file_system.h; POSIX by default, a fault-injecting one in tests).
// Appends are copied into an in-memory buffer on the caller's thread and
// written with write(2) and fsync(2) by the journal's own writer thread, so
// a caller never waits for the disk. durable_sequence(), AwaitDurable() and
// the on_durable callback say how far the journal is fsynced.
//
// Open() recovers the directory: a torn or corrupt tail of the last segment
// is truncated at the last good frame; a corrupt frame in the middle of a
// segment is reported, the records around it stay readable and the lost
// sequence range is recorded (lost_ranges()).
//
// Thread safety: unless a method says otherwise it is thread-safe. Close()
// and the destructor must not race with any other call.
//
// Implementation: journal.cc (Open, the lock, Append, the writer thread,
// durability, retention), recovery.cc (Open's scan of the directory) and
// reader.cc (Read), sharing journal_internal.h.
#ifndef FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_H_
#define FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gateway/common/latency_histogram.h"
#include "gateway/common/log.h"
#include "gateway/common/monotonic_clock.h"
#include "gateway/journal/file_system.h"
#include "gateway/journal/journal_format.h"

namespace fixstream::gateway {

enum class DurabilityPolicy {
  // fsync at most group_commit_interval after a write, or as soon as
  // group_commit_bytes are unsynced, whichever comes first.
  kGroupCommit,
  // Every appended batch is written and fsynced before it is reported
  // durable (batches queued during an fsync share the next one).
  kPerBatch,
};

struct JournalOptions {
  // The journal directory; created (with parents) if missing.
  std::string directory;
  DurabilityPolicy durability = DurabilityPolicy::kGroupCommit;
  absl::Duration group_commit_interval = absl::Milliseconds(10);
  size_t group_commit_bytes = size_t{1} << 20;
  // A segment is closed and a new one started before a frame would make it
  // larger than this (a segment holds at least one frame).
  uint64_t segment_bytes = uint64_t{64} << 20;
  // Whole oldest segments are deleted (never the one being appended to)
  // while the journal is larger than retention_bytes, or while their newest
  // record was appended longer than retention_age ago.
  uint64_t retention_bytes = uint64_t{10} << 30;
  absl::Duration retention_age = absl::Hours(7 * 24);
  // How often the writer checks retention by age when no segment rolls.
  absl::Duration retention_check_interval = absl::Minutes(1);
  // Frames with a longer payload are refused by Append() and treated as
  // corrupt by recovery (a corrupt length can't make us read gigabytes).
  uint32_t max_payload_bytes = 64 << 10;
  // One sparse read-index entry every this many frames of a segment.
  uint32_t index_interval = 64;
  // Group commit only: how many sequence numbers ahead of the next one the
  // journal keeps durably leased (the LEASE file, docs/JOURNAL.md). Records
  // delivered before their fsync may be lost to a crash; their numbers are
  // never handed out again, because a restart continues at the lease. After a
  // crash up to this many numbers are skipped (reported as a lost range);
  // after a clean Close() none. Under kPerBatch nothing is delivered before
  // it is durable, so the lease is exact and nothing is skipped.
  uint64_t sequence_lease = uint64_t{1} << 20;
  // Appended records waiting for the writer (pending_bytes) above which
  // CanAppend() says no: a disk slower than the input pauses the devices
  // instead of growing memory without bound.
  size_t max_pending_bytes = size_t{64} << 20;
  // After a failed write or fsync the writer retries after retry_backoff,
  // doubling up to retry_backoff_max between attempts.
  absl::Duration retry_backoff = absl::Milliseconds(100);
  absl::Duration retry_backoff_max = absl::Seconds(5);
  // Called on the writer thread after each fsync with the new
  // durable_sequence(); values strictly increase. Must be quick, and must not
  // call Flush(), AwaitDurable() or Close() (they wait for this thread).
  std::function<void(uint64_t durable_sequence)> on_durable;
  // Called on the writer thread when the journal stalls on a failed write
  // or fsync (with the error) and when it writes again (with OK). The same
  // rules as on_durable.
  std::function<void(const absl::Status& status)> on_health;
  // Called on the writer thread once appends may succeed again after
  // CanAppend() said no (a stall ended, the pending bytes drained, the lease
  // was extended). May be called when nobody was refused. Same rules.
  std::function<void()> on_available;
  // Test hook: called on the writer thread just before each fsync of a
  // segment. A test can block in it to keep records written but not durable.
  std::function<void()> before_sync;
  // Clock for retention by age (injectable for tests); any thread.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  // Where the directory and its files live; null means FileSystem::Default()
  // (POSIX). Not owned: must outlive the Journal. Tests pass a
  // fault-injecting one.
  FileSystem* file_system = nullptr;
};

// What Open() found and did. Also logged.
struct RecoveryReport {
  size_t segments = 0;            // live segments after recovery
  size_t corrupt_segments = 0;    // segments whose header was unreadable
  uint64_t frames = 0;            // good frames recovered
  uint64_t bytes = 0;             // bytes of the live segments after recovery
  uint64_t truncated_bytes = 0;   // dropped from the tail of the last segment
  uint64_t first_bad_offset = 0;  // in the last segment, when truncated_bytes > 0
  uint64_t corrupt_regions = 0;   // mid-segment corruptions skipped by resync
  std::vector<std::pair<uint64_t, uint64_t>> lost_ranges;  // inclusive
  absl::Duration duration;
};

struct JournalStats {
  uint64_t frames_appended = 0;   // by Append() since Open()
  uint64_t bytes_written = 0;     // by write(2) since Open() (frames and headers)
  uint64_t fsyncs = 0;            // of segment files since Open()
  uint64_t segments = 0;          // live segment files now
  uint64_t disk_bytes = 0;        // total size of the live segment files now
  uint64_t segments_deleted = 0;  // by retention since Open()
  uint64_t pending_bytes = 0;     // appended, not yet written
};

namespace journal_internal {
struct Segment;
struct SegmentLocation;
}  // namespace journal_internal

class Journal final {
 public:
  // Locks `options.directory` (creating it if needed) and recovers it. Fails
  // with FailedPrecondition if another Journal — in this or another process —
  // holds the directory, and with a message naming the path and the errno
  // text if it cannot be created, read or written. A damaged tail is never a
  // reason to fail. `report`, if not null, receives what recovery found.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(JournalOptions options,
                                                       RecoveryReport* report = nullptr);

  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  // Close()s.
  ~Journal();

  // Queues `payloads` as the records first_sequence, first_sequence + 1, ...
  // for the writer thread and returns without waiting for the disk (one
  // memcpy and a CRC per payload under a short lock). Preconditions, checked:
  // first_sequence == next_sequence() and every payload at most
  // max_payload_bytes long. Returns FailedPrecondition on a sequence
  // mismatch or after Close(), InvalidArgument for an oversized payload,
  // Unavailable beyond the sequence lease (nothing of the batch is queued
  // then). While the journal is stalled it still queues (a caller that
  // asked CanAppend() just before the stall began has numbered the batch
  // already); the batch is written once the disk takes writes again.
  // With Wake::kDeferred the writer thread is not woken: the caller must
  // call WakeWriter() soon after (until then the batch waits for the
  // writer's next deadline), which lets it do its own latency-critical work
  // first.
  enum class Wake { kNow, kDeferred };
  absl::Status Append(uint64_t first_sequence, absl::Span<const std::string_view> payloads,
                      Wake wake = Wake::kNow);
  // Wakes the writer thread for batches appended with Wake::kDeferred; does
  // nothing when none is queued. Thread-safe.
  void WakeWriter();

  // Whether records up to `last_sequence` should be appended now: false
  // while the journal is stalled on a failing disk, while more than
  // max_pending_bytes wait for the writer, or while the sequence lease does
  // not cover them yet (the writer extends it ahead of need). Numbering a
  // record the journal cannot keep would let a restart reuse its number, so
  // the hub asks before numbering. After a false, on_available is called
  // once appends may succeed again. Lock-free.
  bool CanAppend(uint64_t last_sequence) const {
    if (last_sequence < lease_.load(std::memory_order_acquire) &&
        !stalled_.load(std::memory_order_acquire) &&
        pending_bytes_.load(std::memory_order_relaxed) <= options_.max_pending_bytes) {
      return true;
    }
    refused_.store(true, std::memory_order_release);
    return false;
  }
  // Stalled on a failed write or fsync, retrying (status() says why).
  bool stalled() const { return stalled_.load(std::memory_order_acquire); }
  // Every sequence handed out so far is below this; durable (see
  // sequence_lease). Lock-free.
  uint64_t lease() const { return lease_.load(std::memory_order_acquire); }

  // The sequence the next appended record must have (1 for a new journal).
  uint64_t next_sequence() const { return next_sequence_.load(std::memory_order_acquire); }
  // Highest sequence known to be fsynced (0 if none); monotonic, lock-free.
  uint64_t durable_sequence() const { return durable_.load(std::memory_order_acquire); }
  // Oldest sequence still in the journal (== next_sequence() when empty).
  uint64_t oldest_sequence() const { return oldest_.load(std::memory_order_acquire); }

  // Waits until durable_sequence() >= sequence. Returns OK then,
  // DeadlineExceeded at `deadline`, the writer's error if the journal is
  // (or becomes) stalled before, or FailedPrecondition once it closed.
  // Never forces an fsync (under group commit it waits up to
  // group_commit_interval).
  absl::Status AwaitDurable(uint64_t sequence, absl::Time deadline) const;

  // Writes and fsyncs everything appended before the call; returns once it
  // is durable, or the writer's error at once while it is stalled.
  absl::Status Flush();

  // Flush()es, stops the writer thread, closes the files and releases the
  // lock. Idempotent. Later Append()/Read() calls fail with
  // FailedPrecondition. Must not race with other calls.
  absl::Status Close();

  struct ReadResult {
    size_t records = 0;           // payloads appended to `out`
    uint64_t first_sequence = 0;  // of the first and last appended payload
    uint64_t last_sequence = 0;
    uint64_t next_sequence = 0;  // where the next Read() should start
    // Set when from_sequence is not in the journal any more: before
    // oldest_sequence() (deleted by retention) or inside a lost range.
    // Nothing was read; [hole_first, hole_last] is missing and
    // next_sequence == hole_last + 1.
    bool hole = false;
    uint64_t hole_first = 0;
    uint64_t hole_last = 0;
    // Set when nothing more is on disk yet: records from next_sequence on
    // were appended but not written yet, or were not appended at all.
    bool at_end = false;
  };
  // Appends the payloads of records from_sequence, from_sequence + 1, ... to
  // `out` (their concatenation is a valid sequence of SubscribeResponse
  // records), stopping at max_records or once `out` grew by max_bytes (at
  // least one record if any is available), at the end of what is written,
  // or just before a lost range (the next Read() reports it as a hole).
  // Thread-safe with concurrent appends and never blocks them: disk reads
  // are pread(2)s made without any lock held. Returns DataLoss if a frame
  // read back fails its CRC, FailedPrecondition after Close().
  absl::StatusOr<ReadResult> Read(uint64_t from_sequence, size_t max_records, size_t max_bytes,
                                  std::string* out) const;

  // Sequence ranges (inclusive) found missing by recovery that are still
  // newer than oldest_sequence(), oldest first.
  std::vector<std::pair<uint64_t, uint64_t>> lost_ranges() const;

  // Deletes segments outside retention now (the writer also does it after
  // each segment roll and every retention_check_interval).
  void EnforceRetention();

  JournalStats stats() const;
  // Duration of each successful fsync of a segment file (the ones
  // stats().fsyncs counts), observed by the writer thread; read it from any
  // thread (metrics).
  const LatencyHistogram& fsync_latency() const { return fsync_latency_; }
  const std::string& directory() const { return options_.directory; }

  // Why the writer is stalled: the last failed write or fsync; OK while
  // it writes.
  absl::Status status() const;
  // Failed writes, fsyncs and retries since Open() (each attempt counts).
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  using Segment = journal_internal::Segment;
  using Location = journal_internal::SegmentLocation;

  explicit Journal(JournalOptions options);
  absl::Status Lock();
  // Scans the directory (recovery.cc) and sets up the segment list, the
  // sequences and the active segment from what it found.
  absl::Status Recover(RecoveryReport* report);
  // After Recover(): reads the LEASE file, continues at its lease if
  // recovery found less (the numbers in between are a lost range), and
  // leases ahead. Open only.
  absl::Status ApplyLease(RecoveryReport* report);
  // Writes `lease` to the older slot of the LEASE file and fdatasyncs it;
  // then lease() returns it. Open, the writer thread and Close only.
  absl::Status WriteLease(uint64_t lease);
  // Whether the writer should lease further ahead now.
  bool LeaseLow() const;
  void WriterLoop();
  // Waits on writer_cv_ until notified or `deadline` (monotonic); true at
  // the deadline.
  bool WaitForWork(Clock::time_point deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_) {
    return writer_cv_.WaitUntil(append_mu_, deadline);
  }
  // When the unsynced bytes are due for their fsync (never if none).
  Clock::time_point GroupCommitDeadline() const {
    if (first_unsynced_ == Clock::time_point::max()) return first_unsynced_;
    return first_unsynced_ + std::chrono::duration_cast<Clock::duration>(
                                 absl::ToChronoNanoseconds(options_.group_commit_interval));
  }
  // Writer thread only: writes `frames` (whole frames) to the active
  // segment(s), rolling as needed. On failure *done says how many bytes of
  // `frames` were written (whole frames).
  absl::Status WriteFrames(std::string_view frames, absl::Time now, size_t* done);
  absl::Status RollTo(uint64_t first_sequence, absl::Time now);
  absl::Status SyncActive();
  // Writer thread only: a write, fsync or retry failed with `status` (the
  // frames that did not reach the file are in unwritten_). Stalls (or stays
  // stalled) and schedules the next attempt.
  void Stall(absl::Status status);
  // Writer thread only: one attempt to get back to a durable state (see the
  // file comment); true once everything taken from pending_ is durable.
  bool Retry();
  // Writer thread only: calls on_available if a CanAppend() said no and
  // appends may succeed now.
  void MaybeNotifyAvailable();
  void PublishDurable(uint64_t sequence);
  // Finds where `sequence` is on disk; see Read().
  Location Locate(uint64_t sequence) const;

  const JournalOptions options_;
  FileSystem* const file_system_;    // options_.file_system or the default
  std::unique_ptr<File> lock_file_;  // holds the flock while open
  std::atomic<bool> closed_{false};  // Close() ran

  // Appends queue here; the writer swaps the buffer out.
  mutable absl::Mutex append_mu_;
  // Waited on with deadlines of the monotonic clock (absl's timed waits
  // follow the wall clock: a step back would postpone fsyncs and
  // acknowledgements); see WaitForWork().
  MonotonicCondVar writer_cv_;
  std::string pending_ ABSL_GUARDED_BY(append_mu_);
  bool stop_ ABSL_GUARDED_BY(append_mu_) = false;
  bool sync_requested_ ABSL_GUARDED_BY(append_mu_) = false;
  bool refuse_appends_ ABSL_GUARDED_BY(append_mu_) = false;  // closed
  std::atomic<uint64_t> next_sequence_{1};
  // Stalled on a failed write or fsync (written by the writer thread).
  std::atomic<bool> stalled_{false};
  // A CanAppend() said no since the writer last called on_available.
  mutable std::atomic<bool> refused_{false};

  // Segment list and read index; held briefly by the writer (after each
  // write, on roll) and by readers (to locate a sequence), never across I/O.
  mutable absl::Mutex segments_mu_ ABSL_ACQUIRED_AFTER(append_mu_);
  std::vector<std::shared_ptr<Segment>> segments_ ABSL_GUARDED_BY(segments_mu_);
  std::vector<std::pair<uint64_t, uint64_t>> lost_ranges_ ABSL_GUARDED_BY(segments_mu_);
  std::atomic<uint64_t> oldest_{1};
  absl::Mutex retention_mu_ ABSL_ACQUIRED_BEFORE(segments_mu_);
  // Retention stopped short of a segment because its successor held no
  // durable record yet; the writer retries after the next fsync.
  std::atomic<bool> retention_deferred_{false};

  // The sequence lease (Open, the writer thread, Close).
  std::unique_ptr<File> lease_file_;
  uint64_t lease_generation_ = 0;
  std::atomic<uint64_t> lease_{UINT64_MAX};

  // Writer-thread state.
  std::shared_ptr<Segment> active_;    // null until the first write of a new journal
  std::unique_ptr<File> active_file_;  // active_ opened for appending, if not sealed
  uint64_t unsynced_bytes_ = 0;
  uint64_t written_sequence_ = 0;  // last sequence written to a file
  // The active file's bytes up to this offset are fsynced; the ones after it
  // (up to active_->file_bytes) are kept in active_unsynced_ until they are,
  // so that a failed fsync or write can be repaired by writing them again.
  uint64_t active_synced_bytes_ = 0;
  std::string active_unsynced_;
  // While stalled: frames taken from pending_ that were not written, and a
  // segment file a failed roll created but never used (removed on retry).
  std::string unwritten_;
  std::string stray_segment_;
  Clock::time_point retry_at_ = Clock::time_point::max();
  absl::Duration retry_backoff_;
  Clock::time_point stalled_since_;
  uint64_t stall_attempts_ = 0;
  RateLimitedLog retry_log_{LogLevel::kWarning, absl::Seconds(30)};
  // Deadlines of the writer, on the monotonic clock (wall time is only for
  // retention by age, options_.now).
  Clock::time_point first_unsynced_ = Clock::time_point::max();
  Clock::time_point next_retention_check_;
  std::thread writer_;

  // Durability. Append() takes it under append_mu_ (for the writer's error).
  mutable absl::Mutex durable_mu_ ABSL_ACQUIRED_AFTER(append_mu_);
  mutable absl::CondVar durable_cv_;
  absl::Status writer_status_ ABSL_GUARDED_BY(durable_mu_);
  bool writer_stopped_ ABSL_GUARDED_BY(durable_mu_) = false;
  std::atomic<uint64_t> durable_{0};

  std::atomic<uint64_t> frames_appended_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> segments_deleted_{0};
  std::atomic<uint64_t> pending_bytes_{0};
  std::atomic<uint64_t> write_errors_{0};
  LatencyHistogram fsync_latency_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_H_
