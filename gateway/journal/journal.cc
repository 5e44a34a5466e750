// Journal: Open, the lock, Append, the writer thread, durability and
// retention. Recovery is in recovery.cc, Read in reader.cc.
#include "gateway/journal/journal.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "gateway/common/log.h"
#include "gateway/journal/journal_format.h"
#include "gateway/journal/journal_internal.h"

namespace fixstream::gateway {

namespace {

using journal_format::kLeaseFileName;
using journal_format::kLeaseRecordSize;
using journal_format::kLeaseSlotSize;
using journal_internal::SyncDirectory;
using journal_internal::WithPath;
using journal_internal::WriteFully;

// fdatasync(2) of a segment, timed into `latency` when it succeeds. A
// monotonic clock: the wall clock may step while the disk is slow.
absl::Status TimedDataSync(File& file, LatencyHistogram& latency) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = file.DataSync();
  if (status.ok()) {
    latency.Observe(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }
  return status;
}

// Writes all of `data` at `offset` with as many WriteAt() calls as it takes.
absl::Status WriteAtFully(File& file, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    absl::StatusOr<size_t> n = file.WriteAt(data, offset);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::DataLossError("write returned 0 bytes");
    data.remove_prefix(*n);
    offset += *n;
  }
  return absl::OkStatus();
}

}  // namespace

Journal::Journal(JournalOptions options)
    : options_(std::move(options)),
      file_system_(options_.file_system != nullptr ? options_.file_system : FileSystem::Default()) {
}

Journal::~Journal() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(JournalOptions options,
                                                       RecoveryReport* report) {
  if (options.directory.empty()) return absl::InvalidArgumentError("journal directory is empty");
  if (options.segment_bytes < kSegmentHeaderSize + kFrameHeaderSize) {
    return absl::InvalidArgumentError("journal segment_bytes is too small");
  }
  if (options.retention_bytes < 2 * options.segment_bytes) {
    // Retention must be able to keep a sealed segment while its successor
    // is being filled, or it deletes the last durable record.
    return absl::InvalidArgumentError(absl::StrCat(
        "journal retention_bytes (", options.retention_bytes,
        ") must hold at least two segments of segment_bytes (", options.segment_bytes, ")"));
  }
  if (options.index_interval == 0) options.index_interval = 1;
  if (options.sequence_lease == 0) options.sequence_lease = 1;
  std::unique_ptr<Journal> journal(new Journal(std::move(options)));
  if (absl::Status s = journal->Lock(); !s.ok()) return s;
  RecoveryReport local_report;
  RecoveryReport* used_report = report != nullptr ? report : &local_report;
  if (absl::Status s = journal->Recover(used_report); !s.ok()) return s;
  if (absl::Status s = journal->ApplyLease(used_report); !s.ok()) return s;
  journal->writer_ = std::thread([j = journal.get()] { j->WriterLoop(); });
  return journal;
}

absl::Status Journal::Lock() {
  const std::string& dir = options_.directory;
  if (absl::Status s = file_system_->CreateDirectories(dir); !s.ok()) {
    return WithPath(s, "cannot create journal directory", dir);
  }
  // A directory just created exists after a power loss only once its
  // parent's entries are on disk.
  {
    std::string parent = dir;
    while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
    const size_t slash = parent.rfind('/');
    parent = slash == std::string::npos ? "." : slash == 0 ? "/" : parent.substr(0, slash);
    absl::StatusOr<std::unique_ptr<File>> parent_dir =
        file_system_->Open(parent, OpenMode::kDirectory);
    absl::Status synced = parent_dir.ok() ? (*parent_dir)->Sync() : parent_dir.status();
    if (!synced.ok()) {
      return WithPath(synced, absl::StrCat("cannot fsync the parent of journal directory ", dir),
                      parent);
    }
  }
  const std::string lock_path = dir + "/LOCK";
  absl::StatusOr<std::unique_ptr<File>> lock_file =
      file_system_->Open(lock_path, OpenMode::kCreateOrOpen);
  if (!lock_file.ok()) {
    return WithPath(lock_file.status(), "cannot open journal lock file", lock_path);
  }
  absl::StatusOr<bool> locked = (*lock_file)->TryLock();
  if (!locked.ok()) return WithPath(locked.status(), "cannot lock journal lock file", lock_path);
  if (!*locked) {
    char pid_text[32] = {};
    absl::StatusOr<size_t> n = (*lock_file)->ReadAt(0, sizeof pid_text - 1, pid_text);
    std::string pid = n.ok() && *n > 0 ? std::string(pid_text, strnlen(pid_text, *n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    const bool self = pid == std::to_string(::getpid());
    return absl::FailedPreconditionError(absl::StrCat(
        "journal directory ", dir, " is locked by another process (pid ", pid,
        self ? ", this process" : "", "); two gateways must not share a journal directory"));
  }
  lock_file_ = std::move(*lock_file);
  const std::string pid = absl::StrCat(::getpid(), "\n");
  absl::Status written = lock_file_->Truncate(0);
  if (written.ok()) written = lock_file_->WriteAt(pid, 0).status();
  if (!written.ok()) return WithPath(written, "cannot write journal lock file", lock_path);
  // The LOCK file may have existed: prove the directory itself is writable
  // now rather than at the first segment roll.
  const std::string probe = dir + "/.write-probe";
  absl::StatusOr<std::unique_ptr<File>> probe_file =
      file_system_->Open(probe, OpenMode::kCreateOrTruncate);
  if (!probe_file.ok()) {
    return WithPath(probe_file.status(), "cannot write to journal directory", dir);
  }
  probe_file->reset();
  file_system_->RemoveFile(probe).IgnoreError();
  return absl::OkStatus();
}

absl::Status Journal::Append(uint64_t first_sequence, absl::Span<const std::string_view> payloads,
                             Wake wake) {
  size_t bytes = 0;
  for (std::string_view p : payloads) {
    if (p.size() > options_.max_payload_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("journal payload of ", p.size(),
                                                     " bytes exceeds the maximum of ",
                                                     options_.max_payload_bytes));
    }
    bytes += kFrameHeaderSize + p.size();
  }
  absl::MutexLock lock(&append_mu_);
  if (refuse_appends_) {
    absl::MutexLock durable_lock(&durable_mu_);
    return writer_status_.ok() ? absl::FailedPreconditionError("journal is closed")
                               : writer_status_;
  }
  const uint64_t next = next_sequence_.load(std::memory_order_relaxed);
  if (first_sequence != next) {
    return absl::FailedPreconditionError(absl::StrCat(
        "journal append out of order: sequence ", first_sequence, " given, ", next, " expected"));
  }
  if (payloads.empty()) return absl::OkStatus();
  // Only the lease: a stalled or busy writer still queues (see the header).
  if (first_sequence + payloads.size() - 1 >= lease()) {
    writer_cv_.Signal();  // (it extends the lease when it can)
    return absl::UnavailableError(
        absl::StrCat("journal sequence lease (", lease(), ") does not cover sequence ",
                     first_sequence + payloads.size() - 1, " yet: the writer could not extend it"));
  }
  size_t at = pending_.size();
  pending_.resize(at + bytes);
  char* out = pending_.data();
  uint64_t seq = first_sequence;
  for (std::string_view p : payloads) {
    journal_format::EncodeFrame(seq, p, out + at);
    at += kFrameHeaderSize + p.size();
    ++seq;
  }
  next_sequence_.store(seq, std::memory_order_release);
  frames_appended_.fetch_add(payloads.size(), std::memory_order_relaxed);
  pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (wake == Wake::kNow) writer_cv_.Signal();
  return absl::OkStatus();
}

void Journal::WakeWriter() {
  absl::MutexLock lock(&append_mu_);
  if (!pending_.empty()) writer_cv_.Signal();
}

void Journal::WriterLoop() {
  std::string frames;
  for (;;) {
    if (stalled_.load(std::memory_order_relaxed)) {
      // Nothing new is taken from pending_ until what was taken is durable.
      bool stop = false;
      {
        absl::MutexLock lock(&append_mu_);
        while (!stop_ && Clock::now() < retry_at_) WaitForWork(retry_at_);
        stop = stop_;
      }
      if (stop) break;
      Retry();
      MaybeNotifyAvailable();
      continue;
    }
    bool stop = false;
    bool sync_requested = false;
    {
      absl::MutexLock lock(&append_mu_);
      while (!stop_ && pending_.empty() && !sync_requested_ && (refuse_appends_ || !LeaseLow())) {
        // Wake for the group-commit deadline and for retention by age, and
        // soon while a refused publisher waits for on_available.
        Clock::time_point deadline = next_retention_check_;
        if (unsynced_bytes_ > 0) deadline = std::min(deadline, GroupCommitDeadline());
        if (refused_.load(std::memory_order_acquire)) {
          deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
        }
        if (WaitForWork(deadline)) break;
      }
      frames.swap(pending_);
      stop = stop_;
      sync_requested = sync_requested_;
      sync_requested_ = false;
    }
    pending_bytes_.fetch_sub(frames.size(), std::memory_order_relaxed);
    if (!frames.empty()) {
      size_t done = 0;
      if (absl::Status s = WriteFrames(frames, options_.now(), &done); !s.ok()) {
        unwritten_.assign(frames, done);
        frames.clear();
        Stall(std::move(s));
        continue;
      }
      if (first_unsynced_ == Clock::time_point::max()) first_unsynced_ = Clock::now();
      unsynced_bytes_ += frames.size();
    }
    frames.clear();
    if (unsynced_bytes_ > 0) {
      const bool due = options_.durability == DurabilityPolicy::kPerBatch || sync_requested ||
                       stop || unsynced_bytes_ >= options_.group_commit_bytes ||
                       Clock::now() >= GroupCommitDeadline();
      if (due) {
        if (absl::Status s = SyncActive(); !s.ok()) {
          Stall(std::move(s));
          continue;
        }
        PublishDurable(written_sequence_);
        if (retention_deferred_.exchange(false)) EnforceRetention();
      }
    }
    if (LeaseLow()) {
      const uint64_t next = next_sequence_.load(std::memory_order_acquire);
      if (absl::Status s = WriteLease(next + options_.sequence_lease); !s.ok()) {
        Stall(std::move(s));
        continue;
      }
    }
    if (Clock::now() >= next_retention_check_) {
      EnforceRetention();
      next_retention_check_ =
          Clock::now() + absl::ToChronoNanoseconds(options_.retention_check_interval);
    }
    MaybeNotifyAvailable();
    if (stop) break;
  }
  absl::MutexLock lock(&durable_mu_);
  writer_stopped_ = true;
  durable_cv_.SignalAll();
}

absl::Status Journal::WriteFrames(std::string_view frames, absl::Time now, size_t* done) {
  using journal_format::FramePayloadLength;
  using journal_format::FrameSequence;
  const char* data = frames.data();
  size_t pos = 0;
  bool rolled = false;
  *done = 0;
  while (pos < frames.size()) {
    const uint64_t first = FrameSequence(data + pos);
    const uint64_t size0 = kFrameHeaderSize + FramePayloadLength(data + pos);
    if (active_ == nullptr || active_->sealed || active_file_ == nullptr ||
        (active_->frames > 0 && active_->file_bytes + size0 > options_.segment_bytes)) {
      if (absl::Status s = RollTo(first, now); !s.ok()) return s;
      rolled = true;
    }
    // Take the frames that fit in the active segment.
    uint64_t bytes = active_->file_bytes;
    uint64_t frames_in_segment = active_->frames;
    uint64_t last = first;
    std::vector<std::pair<uint64_t, uint64_t>> index;
    size_t end = pos;
    while (end < frames.size()) {
      const uint64_t size = kFrameHeaderSize + FramePayloadLength(data + end);
      if (frames_in_segment > 0 && bytes + size > options_.segment_bytes) break;
      last = FrameSequence(data + end);
      if (frames_in_segment % options_.index_interval == 0) index.emplace_back(last, bytes);
      bytes += size;
      end += size;
      ++frames_in_segment;
    }
    // A failed write may leave part of the chunk in the file, after
    // file_bytes: Retry() truncates it.
    const std::string_view chunk(data + pos, end - pos);
    if (absl::Status s = WriteFully(*active_file_, chunk); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("journal segment ", active_->path, ": ", s.message()));
    }
    active_unsynced_.append(chunk);
    written_sequence_ = last;
    bytes_written_.fetch_add(end - pos, std::memory_order_relaxed);
    {
      absl::MutexLock lock(&segments_mu_);
      active_->index.insert(active_->index.end(), index.begin(), index.end());
      active_->frames = frames_in_segment;
      active_->file_bytes = bytes;
      active_->readable_bytes = bytes;
      active_->next_sequence = last + 1;
      active_->last_append = now;
    }
    pos = end;
    *done = pos;
  }
  if (rolled) next_retention_check_ = Clock::now();
  return absl::OkStatus();
}

absl::Status Journal::RollTo(uint64_t first_sequence, absl::Time now) {
  if (active_file_ != nullptr) {
    // The old segment is complete: make it durable before a newer one
    // exists, so recovery only ever finds a torn tail in the last segment.
    if (options_.before_sync) options_.before_sync();
    if (absl::Status s = TimedDataSync(*active_file_, fsync_latency_); !s.ok()) {
      return WithPath(s, "cannot fsync journal segment", active_->path);
    }
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    // The whole segment is durable: nothing of it is kept to rewrite.
    active_file_.reset();
    active_unsynced_.clear();
    active_synced_bytes_ = active_->file_bytes;
  }
  const std::string path =
      absl::StrCat(options_.directory, "/", JournalSegmentFileName(first_sequence));
  // Until the segment is in the list, a failure leaves a file nothing uses
  // (maybe not even created): Retry() removes it before rolling again.
  stray_segment_ = path;
  absl::StatusOr<std::unique_ptr<File>> file =
      file_system_->Open(path, OpenMode::kCreateNewForAppend);
  if (!file.ok()) return WithPath(file.status(), "cannot create journal segment", path);
  char header[kSegmentHeaderSize];
  journal_format::EncodeSegmentHeader(first_sequence, header);
  if (absl::Status s = WriteFully(**file, std::string_view(header, sizeof header)); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("journal segment ", path, ": ", s.message()));
  }
  bytes_written_.fetch_add(sizeof header, std::memory_order_relaxed);
  if (absl::Status s = SyncDirectory(*file_system_, options_.directory); !s.ok()) return s;
  auto segment = std::make_shared<Segment>(first_sequence, path);
  absl::StatusOr<std::unique_ptr<File>> read_file = file_system_->Open(path, OpenMode::kReadOnly);
  if (!read_file.ok()) return WithPath(read_file.status(), "cannot open journal segment", path);
  stray_segment_.clear();
  segment->read_file = std::move(*read_file);
  segment->next_sequence = first_sequence;
  segment->readable_bytes = kSegmentHeaderSize;
  segment->file_bytes = kSegmentHeaderSize;
  segment->last_append = now;
  active_file_ = std::move(*file);
  active_synced_bytes_ = 0;
  active_unsynced_.assign(header, sizeof header);
  unsynced_bytes_ += kSegmentHeaderSize;
  {
    absl::MutexLock lock(&segments_mu_);
    if (active_ != nullptr) active_->last_append = std::max(active_->last_append, now);
    segments_.push_back(segment);
    if (segments_.size() == 1) oldest_.store(first_sequence, std::memory_order_release);
  }
  active_ = std::move(segment);
  return absl::OkStatus();
}

absl::Status Journal::SyncActive() {
  if (active_file_ != nullptr) {
    if (options_.before_sync) options_.before_sync();
    if (absl::Status s = TimedDataSync(*active_file_, fsync_latency_); !s.ok()) {
      return WithPath(s, "cannot fsync journal segment", active_->path);
    }
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    active_synced_bytes_ = active_->file_bytes;
    active_unsynced_.clear();
  }
  unsynced_bytes_ = 0;
  first_unsynced_ = Clock::time_point::max();
  return absl::OkStatus();
}

void Journal::Stall(absl::Status status) {
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  const bool first = !stalled_.load(std::memory_order_relaxed);
  const Clock::time_point now = Clock::now();
  if (first) {
    retry_backoff_ = options_.retry_backoff;
    stalled_since_ = now;
    stall_attempts_ = 0;
    LogError(absl::StrCat("journal ", options_.directory, ": ", status.ToString(),
                          "; not accepting records until the disk takes writes again (retrying "
                          "with backoff up to ",
                          absl::FormatDuration(options_.retry_backoff_max), ")"));
  } else {
    retry_backoff_ = std::min(retry_backoff_ * 2, options_.retry_backoff_max);
    retry_log_.Log([&] {
      return absl::StrCat("journal ", options_.directory, ": still failing after ", stall_attempts_,
                          " retries: ", status.ToString());
    });
  }
  retry_at_ = now + std::chrono::duration_cast<Clock::duration>(
                        absl::ToChronoNanoseconds(std::max(retry_backoff_, absl::ZeroDuration())));
  // Nothing is synced until a retry succeeds: no group-commit deadline may
  // wake the writer meanwhile.
  unsynced_bytes_ = 0;
  first_unsynced_ = Clock::time_point::max();
  stalled_.store(true, std::memory_order_release);
  {
    absl::MutexLock lock(&durable_mu_);
    writer_status_ = status;
    durable_cv_.SignalAll();
  }
  if (first && options_.on_health) options_.on_health(status);
}

bool Journal::Retry() {
  ++stall_attempts_;
  if (!stray_segment_.empty()) {
    absl::Status removed = file_system_->RemoveFile(stray_segment_);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      Stall(WithPath(removed, "cannot remove unused journal segment", stray_segment_));
      return false;
    }
    stray_segment_.clear();
  }
  if (active_file_ != nullptr) {
    // What was written since the last good fsync is written again from
    // memory (a failed fsync may have dropped the dirty pages, and its error
    // is reported once), and a partial frame of a failed write is cut off.
    // Through a second descriptor: the appending one cannot write at an
    // offset. The fsync below syncs the file whichever descriptor wrote.
    absl::StatusOr<std::unique_ptr<File>> file =
        file_system_->Open(active_->path, OpenMode::kReadWrite);
    absl::Status s = file.status();
    if (s.ok() && !active_unsynced_.empty()) {
      s = WriteAtFully(**file, active_unsynced_, active_synced_bytes_);
    }
    if (s.ok()) s = (*file)->Truncate(active_->file_bytes);
    if (!s.ok()) {
      Stall(WithPath(s, "cannot rewrite journal segment", active_->path));
      return false;
    }
  }
  if (!unwritten_.empty()) {
    size_t done = 0;
    absl::Status s = WriteFrames(unwritten_, options_.now(), &done);
    unwritten_.erase(0, done);
    if (!s.ok()) {
      Stall(std::move(s));
      return false;
    }
  }
  if (absl::Status s = SyncActive(); !s.ok()) {
    Stall(std::move(s));
    return false;
  }
  if (LeaseLow()) {
    const uint64_t next = next_sequence_.load(std::memory_order_acquire);
    if (absl::Status s = WriteLease(next + options_.sequence_lease); !s.ok()) {
      Stall(std::move(s));
      return false;
    }
  }
  // Healthy before the durable sequence moves: whoever sees it move (an
  // acknowledged device, a test) sees the journal writing again.
  {
    absl::MutexLock lock(&durable_mu_);
    writer_status_ = absl::OkStatus();
  }
  stalled_.store(false, std::memory_order_release);
  retry_at_ = Clock::time_point::max();
  LogInfo(absl::StrCat(
      "journal ", options_.directory, ": writing again after ",
      absl::FormatDuration(absl::Milliseconds(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stalled_since_)
              .count())),
      " and ", stall_attempts_, " retries; accepting records (durable up to sequence ",
      written_sequence_, ")"));
  if (options_.on_health) options_.on_health(absl::OkStatus());
  PublishDurable(written_sequence_);
  if (retention_deferred_.exchange(false)) EnforceRetention();
  return true;
}

void Journal::MaybeNotifyAvailable() {
  if (!refused_.load(std::memory_order_acquire)) return;
  if (stalled_.load(std::memory_order_relaxed) ||
      pending_bytes_.load(std::memory_order_relaxed) > options_.max_pending_bytes ||
      next_sequence_.load(std::memory_order_acquire) >= lease_.load(std::memory_order_acquire)) {
    return;
  }
  refused_.store(false, std::memory_order_release);
  if (options_.on_available) options_.on_available();
}

absl::Status Journal::status() const {
  absl::MutexLock lock(&durable_mu_);
  return writer_status_;
}

void Journal::PublishDurable(uint64_t sequence) {
  if (sequence <= durable_.load(std::memory_order_relaxed)) return;
  {
    absl::MutexLock lock(&durable_mu_);
    durable_.store(sequence, std::memory_order_release);
    durable_cv_.SignalAll();
  }
  if (options_.on_durable) options_.on_durable(sequence);
}

absl::Status Journal::AwaitDurable(uint64_t sequence, absl::Time deadline) const {
  absl::MutexLock lock(&durable_mu_);
  for (;;) {
    if (durable_.load(std::memory_order_acquire) >= sequence) return absl::OkStatus();
    if (!writer_status_.ok()) return writer_status_;
    if (writer_stopped_) {
      return absl::FailedPreconditionError(
          absl::StrCat("journal closed before sequence ", sequence, " was durable"));
    }
    if (durable_cv_.WaitWithDeadline(&durable_mu_, deadline) &&
        durable_.load(std::memory_order_acquire) < sequence) {
      return absl::DeadlineExceededError(absl::StrCat(
          "sequence ", sequence,
          " not durable yet (durable: ", durable_.load(std::memory_order_acquire), ")"));
    }
  }
}

absl::Status Journal::Flush() {
  uint64_t target = 0;
  {
    absl::MutexLock lock(&append_mu_);
    target = next_sequence_.load(std::memory_order_relaxed) - 1;
    sync_requested_ = true;
    writer_cv_.Signal();
  }
  return AwaitDurable(target, absl::InfiniteFuture());
}

absl::Status Journal::Close() {
  if (closed_) return status();
  closed_ = true;
  absl::Status result;
  if (writer_.joinable()) {
    result = Flush();
    {
      absl::MutexLock lock(&append_mu_);
      stop_ = true;
      refuse_appends_ = true;
      writer_cv_.Signal();
    }
    writer_.join();
    // Everything handed out is durable: a restart continues exactly here.
    if (result.ok() && status().ok() && lease_file_ != nullptr) {
      if (absl::Status s = WriteLease(next_sequence_.load(std::memory_order_acquire)); !s.ok()) {
        LogError(s.ToString());
      }
    }
  }
  lease_file_.reset();
  active_file_.reset();
  active_.reset();
  {
    absl::MutexLock lock(&segments_mu_);
    segments_.clear();
  }
  lock_file_.reset();  // releases the flock
  {
    absl::MutexLock lock(&durable_mu_);
    writer_stopped_ = true;
    durable_cv_.SignalAll();
  }
  {
    absl::MutexLock lock(&append_mu_);
    refuse_appends_ = true;
  }
  return result;
}

bool Journal::LeaseLow() const {
  if (options_.durability != DurabilityPolicy::kGroupCommit || lease_file_ == nullptr) return false;
  const uint64_t lease = lease_.load(std::memory_order_acquire);
  return next_sequence_.load(std::memory_order_acquire) + options_.sequence_lease / 2 >= lease;
}

absl::Status Journal::ApplyLease(RecoveryReport* report) {
  const std::string path = absl::StrCat(options_.directory, "/", kLeaseFileName);
  absl::StatusOr<std::unique_ptr<File>> file = file_system_->Open(path, OpenMode::kCreateOrOpen);
  if (!file.ok()) return WithPath(file.status(), "cannot open journal lease file", path);
  char slots[2 * kLeaseSlotSize] = {};
  size_t have = 0;
  while (have < sizeof slots) {
    absl::StatusOr<size_t> n = (*file)->ReadAt(have, sizeof slots - have, slots + have);
    if (!n.ok()) return WithPath(n.status(), "cannot read journal lease file", path);
    if (*n == 0) break;
    have += *n;
  }
  journal_format::LeaseRecord newest;
  for (size_t i = 0; i < 2; ++i) {
    if (have < i * kLeaseSlotSize + kLeaseRecordSize) continue;
    const journal_format::LeaseRecord r =
        journal_format::DecodeLeaseRecord(slots + i * kLeaseSlotSize);
    if (r.intact && (!newest.intact || r.generation > newest.generation)) newest = r;
  }
  if (have > 0 && !newest.intact) {
    // Without it the journal cannot know which numbers were handed out
    // before a crash; continuing could give them to other records.
    return absl::DataLossError(absl::StrCat(
        "journal lease file ", path, " is damaged (no intact slot in ", have,
        " bytes): the gateway cannot tell which sequence numbers were already handed out. "
        "If losing that guarantee is acceptable, delete the file and restart"));
  }
  lease_file_ = std::move(*file);
  lease_generation_ = newest.intact ? newest.generation : 0;
  uint64_t next = next_sequence_.load(std::memory_order_relaxed);
  if (newest.intact && newest.lease > next) {
    // Numbers up to the lease may have been handed out (and delivered)
    // before a crash lost their records: continue after them.
    const std::pair<uint64_t, uint64_t> skipped{next, newest.lease - 1};
    LogWarning(absl::StrCat("journal ", options_.directory, ": continuing at the sequence lease ",
                            newest.lease, "; sequences ", skipped.first, "-", skipped.second,
                            " may have been handed out before the last stop and are not in the "
                            "journal (lost range)"));
    {
      absl::MutexLock lock(&segments_mu_);
      if (segments_.empty()) {
        // Nothing older is readable: the journal simply starts there.
        oldest_.store(newest.lease, std::memory_order_release);
      } else {
        lost_ranges_.push_back(skipped);
        report->lost_ranges.push_back(skipped);
      }
    }
    // Frames of a segment are contiguous: the next write starts a new one.
    if (active_ != nullptr) {
      active_->sealed = true;
      active_file_.reset();
    }
    next = newest.lease;
    next_sequence_.store(next, std::memory_order_release);
    durable_.store(next - 1, std::memory_order_release);
    written_sequence_ = next - 1;
  }
  const bool ahead = options_.durability == DurabilityPolicy::kGroupCommit;
  if (absl::Status s = WriteLease(ahead ? next + options_.sequence_lease : next); !s.ok()) return s;
  if (!ahead) lease_.store(UINT64_MAX, std::memory_order_release);  // durable before delivery
  return absl::OkStatus();
}

absl::Status Journal::WriteLease(uint64_t lease) {
  const uint64_t generation = lease_generation_ + 1;
  char slot[kLeaseRecordSize];
  journal_format::EncodeLeaseRecord(generation, lease, slot);
  const std::string path = absl::StrCat(options_.directory, "/", kLeaseFileName);
  absl::StatusOr<size_t> n =
      lease_file_->WriteAt(std::string_view(slot, sizeof slot), (generation % 2) * kLeaseSlotSize);
  if (!n.ok()) return WithPath(n.status(), "cannot write journal lease file", path);
  if (*n != sizeof slot) {
    return absl::DataLossError(absl::StrCat("short write to journal lease file ", path));
  }
  if (absl::Status s = lease_file_->DataSync(); !s.ok()) {
    return WithPath(s, "cannot fsync journal lease file", path);
  }
  lease_generation_ = generation;
  lease_.store(lease, std::memory_order_release);
  return absl::OkStatus();
}

void Journal::EnforceRetention() {
  // Serialised, so that when a call returns every deletion it (or a
  // concurrent call) decided on is done.
  absl::MutexLock retention_lock(&retention_mu_);
  const absl::Time now = options_.now();
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    absl::MutexLock lock(&segments_mu_);
    uint64_t total = 0;
    for (const auto& s : segments_) total += s->file_bytes;
    // Never the last segment: it is (or will be) the one appended to.
    while (segments_.size() > 1) {
      const std::shared_ptr<Segment>& front = segments_.front();
      const bool too_big = total > options_.retention_bytes;
      const bool too_old = now - front->last_append > options_.retention_age;
      if (!too_big && !too_old) break;
      // Never before the next segment holds a durable record: a power loss
      // would leave neither the old records nor the new ones, and recovery
      // would start below sequences already handed out.
      if (durable_.load(std::memory_order_acquire) < segments_[1]->first_sequence) {
        retention_deferred_.store(true);
        break;
      }
      total -= front->file_bytes;
      doomed.push_back(front);
      segments_.erase(segments_.begin());
    }
    if (!doomed.empty()) {
      const uint64_t oldest = segments_.front()->first_sequence;
      oldest_.store(oldest, std::memory_order_release);
      std::vector<std::pair<uint64_t, uint64_t>> kept;
      for (auto [a, b] : lost_ranges_) {
        if (b >= oldest) kept.emplace_back(std::max(a, oldest), b);
      }
      lost_ranges_ = std::move(kept);
    }
  }
  if (doomed.empty()) return;
  for (const auto& s : doomed) {
    // Readers holding the segment keep their fd; the file goes when they do.
    if (absl::Status removed = file_system_->RemoveFile(s->path); !removed.ok()) {
      LogError(absl::StrCat("journal: cannot delete segment ", s->path, ": ", removed.message()));
      continue;
    }
    segments_deleted_.fetch_add(1, std::memory_order_relaxed);
    LogInfo(absl::StrCat("journal: retention deleted segment ", s->path, " (sequences ",
                         s->first_sequence, "-", s->next_sequence - 1, ", ", s->file_bytes,
                         " bytes)"));
  }
  if (absl::Status s = SyncDirectory(*file_system_, options_.directory); !s.ok()) {
    LogError(s.ToString());
  }
}

std::vector<std::pair<uint64_t, uint64_t>> Journal::lost_ranges() const {
  absl::MutexLock lock(&segments_mu_);
  return lost_ranges_;
}

JournalStats Journal::stats() const {
  JournalStats s;
  s.frames_appended = frames_appended_.load(std::memory_order_relaxed);
  s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  s.fsyncs = fsyncs_.load(std::memory_order_relaxed);
  s.segments_deleted = segments_deleted_.load(std::memory_order_relaxed);
  s.pending_bytes = pending_bytes_.load(std::memory_order_relaxed);
  absl::MutexLock lock(&segments_mu_);
  s.segments = segments_.size();
  for (const auto& seg : segments_) s.disk_bytes += seg->file_bytes;
  return s;
}

}  // namespace fixstream::gateway
