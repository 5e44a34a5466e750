#include "gateway/journal/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/common/crc32c.h"
#include "gateway/common/log.h"

namespace fixstream::gateway {

struct Journal::Segment {
  Segment(uint64_t first, std::string file_path)
      : first_sequence(first), path(std::move(file_path)) {}
  ~Segment() {
    if (read_fd >= 0) ::close(read_fd);
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const uint64_t first_sequence;
  const std::string path;
  int read_fd = -1;  // set before the segment is published; shared by readers (pread)
  // A recovered segment whose header was damaged: its frames are served but
  // nothing is appended to it.
  bool sealed = false;

  // Written by the writer thread (or recovery) under segments_mu_; read by
  // readers under segments_mu_ and by the writer without it.
  uint64_t next_sequence = 0;   // one past the last readable frame
  uint64_t readable_bytes = 0;  // file prefix holding the header and readable frames
  uint64_t file_bytes = 0;      // size of the file (>= readable_bytes)
  uint64_t frames = 0;
  std::vector<std::pair<uint64_t, uint64_t>> index;  // (sequence, offset), ascending
  // Corrupt regions found by recovery: (offset of the bad frame, offset of
  // the next good frame). A reader reaching the first jumps to the second.
  std::vector<std::pair<uint64_t, uint64_t>> skips;
  absl::Time last_append;
};

// Where a sequence is on disk (see Locate()).
struct Journal::Location {
  enum Kind { kFound, kHole, kEnd } kind = kEnd;
  std::shared_ptr<Segment> segment;
  uint64_t offset = 0;  // start scanning here
  uint64_t limit = 0;   // stop scanning here
  uint64_t hole_last = 0;
  std::vector<std::pair<uint64_t, uint64_t>> skips;  // the segment's, at or after offset
};

namespace {

// Frames and headers are little-endian whatever the host.
void PutFixed32(char* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  std::memcpy(p, &v, sizeof v);
}
void PutFixed64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof v);
}
uint32_t GetFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
uint64_t GetFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

uint32_t FrameCrc(const char* sequence_bytes, const char* payload, size_t size) {
  return crc32c::Extend(crc32c::Value(sequence_bytes, 8), payload, size);
}

void EncodeHeader(uint64_t first_sequence, char* out) {
  std::memcpy(out, kJournalMagic, 4);
  PutFixed32(out + 4, kJournalVersion);
  PutFixed64(out + 8, first_sequence);
  PutFixed32(out + 16, crc32c::Value(out, 16));
}

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

absl::Status ErrnoStatus(int error, absl::string_view what, absl::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

bool ParseSegmentName(const char* name, uint64_t* first_sequence) {
  // "seg-" + 20 digits + ".fsj"
  const size_t length = std::strlen(name);
  if (length != 28 || std::strncmp(name, "seg-", 4) != 0 || std::strcmp(name + 24, ".fsj") != 0) {
    return false;
  }
  for (int i = 4; i < 24; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  return absl::SimpleAtoi(absl::string_view(name + 4, 20), first_sequence) && *first_sequence > 0;
}

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Reads exactly `size` bytes at `offset`; false on a short read or error
// (errno is 0 for a short read).
bool PreadAll(int fd, char* data, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = 0;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

// fdatasync(2) of a segment, timed into `latency` when it succeeds. A
// monotonic clock: the wall clock may step while the disk is slow.
int TimedFdatasync(int fd, LatencyHistogram& latency) {
  const auto start = std::chrono::steady_clock::now();
  const int rc = ::fdatasync(fd);
  if (rc == 0) {
    latency.Observe(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }
  return rc;
}

absl::Status SyncDirectory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open journal directory", directory);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(error, "cannot fsync journal directory", directory);
  return absl::OkStatus();
}

// If a frame whose sequence satisfies `plausible` starts at `pos` and has a
// valid CRC, returns its total size and sets *sequence; otherwise 0. The
// cheap checks run first, so this is fast enough to try at every offset
// when resynchronising after corruption.
template <typename Plausible>
size_t FrameAt(const char* data, size_t size, size_t pos, uint32_t max_payload, Plausible plausible,
               uint64_t* sequence) {
  if (pos > size || size - pos < kFrameHeaderSize) return 0;
  const uint32_t length = GetFixed32(data + pos);
  if (length > max_payload || size - pos - kFrameHeaderSize < length) return 0;
  const uint64_t seq = GetFixed64(data + pos + 4);
  if (!plausible(seq)) return 0;
  const uint32_t crc = GetFixed32(data + pos + 12);
  if (FrameCrc(data + pos + 4, data + pos + kFrameHeaderSize, length) != crc) return 0;
  *sequence = seq;
  return kFrameHeaderSize + length;
}

}  // namespace

std::string JournalSegmentFileName(uint64_t first_sequence) {
  char name[40];
  std::snprintf(name, sizeof name, "seg-%020llu.fsj",
                static_cast<unsigned long long>(first_sequence));
  return name;
}

Journal::Journal(JournalOptions options) : options_(std::move(options)) {}

Journal::~Journal() { Close().IgnoreError(); }

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(JournalOptions options,
                                                       RecoveryReport* report) {
  if (options.directory.empty()) return absl::InvalidArgumentError("journal directory is empty");
  if (options.segment_bytes < kSegmentHeaderSize + kFrameHeaderSize) {
    return absl::InvalidArgumentError("journal segment_bytes is too small");
  }
  if (options.index_interval == 0) options.index_interval = 1;
  std::unique_ptr<Journal> journal(new Journal(std::move(options)));
  if (absl::Status s = journal->Lock(); !s.ok()) return s;
  RecoveryReport local_report;
  if (absl::Status s = journal->Recover(report != nullptr ? report : &local_report); !s.ok()) {
    return s;
  }
  journal->writer_ = std::thread([j = journal.get()] { j->WriterLoop(); });
  return journal;
}

absl::Status Journal::Lock() {
  const std::string& dir = options_.directory;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat("cannot create journal directory ", dir));
  }
  const std::string lock_path = dir + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoStatus(errno, "cannot open journal lock file", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      char pid_text[32] = {};
      const ssize_t n = ::pread(lock_fd_, pid_text, sizeof pid_text - 1, 0);
      std::string pid = n > 0 ? std::string(pid_text, strnlen(pid_text, n)) : "unknown";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      ::close(lock_fd_);
      lock_fd_ = -1;
      const bool self = pid == std::to_string(::getpid());
      return absl::FailedPreconditionError(absl::StrCat(
          "journal directory ", dir, " is locked by another process (pid ", pid,
          self ? ", this process" : "", "); two gateways must not share a journal directory"));
    }
    ::close(lock_fd_);
    lock_fd_ = -1;
    return ErrnoStatus(error, "cannot lock journal lock file", lock_path);
  }
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    return ErrnoStatus(errno, "cannot write journal lock file", lock_path);
  }
  // The LOCK file may have existed: prove the directory itself is writable
  // now rather than at the first segment roll.
  const std::string probe = dir + "/.write-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot write to journal directory", dir);
  ::close(fd);
  ::unlink(probe.c_str());
  return absl::OkStatus();
}

absl::Status Journal::Recover(RecoveryReport* report) {
  const absl::Time start = absl::Now();
  const std::string& dir = options_.directory;
  *report = RecoveryReport{};

  std::vector<std::pair<uint64_t, std::string>> files;
  {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus(errno, "cannot read journal directory", dir);
    while (dirent* entry = ::readdir(d)) {
      uint64_t first = 0;
      if (ParseSegmentName(entry->d_name, &first)) files.emplace_back(first, entry->d_name);
    }
    ::closedir(d);
  }
  std::sort(files.begin(), files.end());

  std::vector<std::shared_ptr<Segment>> segments;
  std::vector<std::pair<uint64_t, uint64_t>> lost;
  uint64_t expected_next = 0;  // one past the last good frame so far; 0: none yet
  bool removed_files = false;

  for (size_t i = 0; i < files.size(); ++i) {
    const bool last = i + 1 == files.size();
    const uint64_t first = files[i].first;
    const std::string path = absl::StrCat(dir, "/", files[i].second);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "cannot open journal segment", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(error, "cannot stat journal segment", path);
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    const absl::Time mtime = absl::TimeFromTimespec(st.st_mtim);

    auto drop_file = [&](absl::string_view why) {
      // Nothing in it is readable: a segment torn while being created (last)
      // or a damaged stub; removing it keeps names unique for new segments.
      if (last) {
        report->truncated_bytes += size;
        report->first_bad_offset = 0;
        LogWarning(
            absl::StrCat("journal: removing last segment ", path, " (", size, " bytes): ", why));
      } else {
        ++report->corrupt_segments;
        LogError(absl::StrCat("journal: removing unreadable segment ", path, " (", size,
                              " bytes): ", why));
      }
      ::close(fd);
      ::unlink(path.c_str());
      removed_files = true;
    };

    if (size < kSegmentHeaderSize) {
      drop_file("shorter than a segment header");
      continue;
    }
    const char* data =
        static_cast<const char*>(::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0));
    if (data == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(error, "cannot map journal segment", path);
    }
    ::madvise(const_cast<char*>(data), size, MADV_SEQUENTIAL);
    struct Unmap {
      const char* data;
      uint64_t size;
      ~Unmap() { ::munmap(const_cast<char*>(data), size); }
    } unmap{data, size};

    const bool magic_ok = std::memcmp(data, kJournalMagic, 4) == 0;
    const bool crc_ok = crc32c::Value(data, 16) == GetFixed32(data + 16);
    const uint32_t version = GetFixed32(data + 4);
    if (magic_ok && crc_ok && version != kJournalVersion) {
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("journal segment ", path, " has format version ", version,
                       "; this build reads version ", kJournalVersion));
    }
    const bool header_ok = magic_ok && crc_ok && GetFixed64(data + 8) == first;
    if (expected_next != 0 && first < expected_next) {
      // Overlaps the previous segment: never written by us; keep the file for
      // inspection but serve nothing from it.
      ++report->corrupt_segments;
      LogError(absl::StrCat("journal: ignoring segment ", path, ": its first sequence ", first,
                            " overlaps the previous segment (which ends at ", expected_next - 1,
                            ")"));
      ::close(fd);
      continue;
    }

    auto segment = std::make_shared<Segment>(first, path);
    segment->last_append = mtime;
    if (!header_ok) {
      // The frames carry their own sequence and CRC, so they are still
      // served; nothing more is appended to this file.
      ++report->corrupt_segments;
      segment->sealed = true;
      LogError(absl::StrCat("journal: segment ", path,
                            " has a damaged header (bad magic, checksum or first sequence); "
                            "serving the frames that check out and appending to a new segment"));
    }
    if (expected_next != 0 && first > expected_next) {
      lost.emplace_back(expected_next, first - 1);
      LogError(absl::StrCat("journal: sequences ", expected_next, "-", first - 1,
                            " are missing before segment ", path));
    }

    // Scan the frames.
    uint64_t expected = first;
    size_t pos = kSegmentHeaderSize;
    size_t good_end = pos;
    uint64_t bad_offset = 0;
    bool tail_bad = false;
    while (pos < size) {
      uint64_t seq = 0;
      size_t frame = FrameAt(
          data, size, pos, options_.max_payload_bytes,
          [expected](uint64_t s) { return s == expected; }, &seq);
      if (frame == 0) {
        // Resynchronise: the next offset holding a valid frame with a
        // sequence that fits in the bytes skipped (each lost frame takes at
        // least a frame header).
        const size_t bad = pos;
        size_t found = 0;
        for (size_t q = pos + 1; q + kFrameHeaderSize <= size; ++q) {
          const uint64_t max_lost = (q - good_end) / kFrameHeaderSize;
          frame = FrameAt(
              data, size, q, options_.max_payload_bytes,
              [expected, max_lost](uint64_t s) {
                return s >= expected && s - expected <= max_lost;
              },
              &seq);
          if (frame != 0) {
            found = q;
            break;
          }
        }
        if (frame == 0) {
          tail_bad = true;
          bad_offset = bad;
          break;
        }
        ++report->corrupt_regions;
        if (seq > expected) lost.emplace_back(expected, seq - 1);
        LogError(absl::StrCat("journal: corrupt data in segment ", path, " at offset ", bad, " (",
                              found - bad, " bytes skipped); ",
                              seq > expected
                                  ? absl::StrCat("sequences ", expected, "-", seq - 1, " are lost")
                                  : std::string("no sequence lost"),
                              "; resuming at offset ", found, " with sequence ", seq));
        segment->skips.emplace_back(bad, found);
        pos = found;
        segment->index.emplace_back(seq, pos);  // the scan is no longer regular here
      } else if (segment->frames % options_.index_interval == 0) {
        segment->index.emplace_back(seq, pos);
      }
      ++segment->frames;
      pos += frame;
      good_end = pos;
      expected = seq + 1;
    }
    report->frames += segment->frames;

    if (tail_bad && last) {
      if (segment->sealed && segment->frames == 0) {
        drop_file("damaged header and no readable frame");
        continue;
      }
      const uint64_t dropped = size - good_end;
      if (::ftruncate(fd, static_cast<off_t>(good_end)) != 0 || ::fsync(fd) != 0) {
        const int error = errno;
        ::close(fd);
        return ErrnoStatus(error, "cannot truncate the damaged tail of journal segment", path);
      }
      report->truncated_bytes += dropped;
      report->first_bad_offset = bad_offset;
      LogWarning(absl::StrCat("journal: truncated the damaged tail of ", path, ": dropped ",
                              dropped, " bytes from offset ", bad_offset,
                              " (a partial or corrupt frame); the last good sequence is ",
                              expected - 1));
    } else if (tail_bad) {
      LogError(absl::StrCat("journal: segment ", path, " is unreadable from offset ", bad_offset,
                            " to its end (", size - bad_offset, " bytes)"));
    } else if (last && segment->sealed && segment->frames == 0) {
      drop_file("damaged header and no frame");
      continue;
    }
    segment->next_sequence = expected;
    segment->readable_bytes = good_end;
    segment->file_bytes = tail_bad && last ? good_end : size;
    if (last) {
      // Make "recovered" mean "durable" even if the previous process died
      // before its fsync (acknowledgements rely on it).
      if (::fsync(fd) != 0) {
        const int error = errno;
        ::close(fd);
        return ErrnoStatus(error, "cannot fsync journal segment", path);
      }
    }
    ::close(fd);
    segment->read_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (segment->read_fd < 0) return ErrnoStatus(errno, "cannot open journal segment", path);
    expected_next = expected;
    segments.push_back(std::move(segment));
  }
  if (removed_files) {
    if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  }

  const uint64_t next = expected_next != 0 ? expected_next : 1;
  next_sequence_.store(next, std::memory_order_release);
  durable_.store(next - 1, std::memory_order_release);
  written_sequence_ = next - 1;
  oldest_.store(segments.empty() ? next : segments.front()->first_sequence,
                std::memory_order_release);
  for (const auto& s : segments) report->bytes += s->file_bytes;
  report->segments = segments.size();
  report->lost_ranges = lost;
  report->duration = absl::Now() - start;

  if (!segments.empty() && !segments.back()->sealed) {
    active_ = segments.back();
    active_fd_ = ::open(active_->path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (active_fd_ < 0) return ErrnoStatus(errno, "cannot open journal segment", active_->path);
  } else if (!segments.empty()) {
    active_ = segments.back();  // sealed: the first write rolls
  }
  {
    absl::MutexLock lock(&segments_mu_);
    segments_ = std::move(segments);
    lost_ranges_ = std::move(lost);
  }
  next_retention_check_ = absl::Now();  // enforce at once
  LogInfo(absl::StrCat("journal ", dir, " recovered: ", report->segments, " segments, ",
                       report->frames, " records, ", report->bytes, " bytes, sequences ",
                       oldest_sequence(), "-", next - 1, ", next sequence ", next, "; ",
                       report->truncated_bytes, " bytes truncated, ", report->lost_ranges.size(),
                       " lost ranges, ", report->corrupt_segments, " damaged segments; took ",
                       absl::FormatDuration(report->duration)));
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
  size_t at = pending_.size();
  pending_.resize(at + bytes);
  char* out = pending_.data();
  uint64_t seq = first_sequence;
  for (std::string_view p : payloads) {
    PutFixed32(out + at, static_cast<uint32_t>(p.size()));
    PutFixed64(out + at + 4, seq);
    PutFixed32(out + at + 12, FrameCrc(out + at + 4, p.data(), p.size()));
    std::memcpy(out + at + kFrameHeaderSize, p.data(), p.size());
    at += kFrameHeaderSize + p.size();
    ++seq;
  }
  pending_last_sequence_ = seq - 1;
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
    uint64_t last_sequence = 0;
    bool stop = false;
    bool sync_requested = false;
    {
      absl::MutexLock lock(&append_mu_);
      while (!stop_ && pending_.empty() && !sync_requested_) {
        // Wake for the group-commit deadline and for retention by age.
        absl::Time deadline = next_retention_check_;
        if (unsynced_bytes_ > 0) {
          deadline = std::min(deadline, first_unsynced_ + options_.group_commit_interval);
        }
        if (writer_cv_.WaitWithDeadline(&append_mu_, deadline)) break;
      }
      frames.swap(pending_);
      last_sequence = pending_last_sequence_;
      stop = stop_;
      sync_requested = sync_requested_;
      sync_requested_ = false;
    }
    pending_bytes_.fetch_sub(frames.size(), std::memory_order_relaxed);
    if (!frames.empty() && status().ok()) {
      if (absl::Status s = WriteFrames(frames, options_.now()); !s.ok()) {
        SetWriterError(std::move(s));
      } else {
        written_sequence_ = last_sequence;
        if (first_unsynced_ == absl::InfiniteFuture()) first_unsynced_ = absl::Now();
        unsynced_bytes_ += frames.size();
      }
    }
    frames.clear();
    if (unsynced_bytes_ > 0 && status().ok()) {
      const bool due = options_.durability == DurabilityPolicy::kPerBatch || sync_requested ||
                       stop || unsynced_bytes_ >= options_.group_commit_bytes ||
                       absl::Now() >= first_unsynced_ + options_.group_commit_interval;
      if (due) {
        if (absl::Status s = SyncActive(); !s.ok()) {
          SetWriterError(std::move(s));
        } else {
          PublishDurable(written_sequence_);
        }
      }
    }
    if (absl::Now() >= next_retention_check_) {
      EnforceRetention();
      next_retention_check_ = absl::Now() + options_.retention_check_interval;
    }
    if (stop) break;
  }
  absl::MutexLock lock(&durable_mu_);
  writer_stopped_ = true;
  durable_cv_.SignalAll();
}

absl::Status Journal::WriteFrames(const std::string& frames, absl::Time now) {
  const char* data = frames.data();
  size_t pos = 0;
  bool rolled = false;
  while (pos < frames.size()) {
    const uint64_t first = GetFixed64(data + pos + 4);
    const uint64_t size0 = kFrameHeaderSize + GetFixed32(data + pos);
    if (active_ == nullptr || active_->sealed ||
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
      const uint64_t size = kFrameHeaderSize + GetFixed32(data + end);
      if (frames_in_segment > 0 && bytes + size > options_.segment_bytes) break;
      last = GetFixed64(data + end + 4);
      if (frames_in_segment % options_.index_interval == 0) index.emplace_back(last, bytes);
      bytes += size;
      end += size;
      ++frames_in_segment;
    }
    if (absl::Status s = WriteAll(active_fd_, data + pos, end - pos); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("journal segment ", active_->path, ": ", s.message()));
    }
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
  }
  if (rolled) next_retention_check_ = absl::Now();
  return absl::OkStatus();
}

absl::Status Journal::RollTo(uint64_t first_sequence, absl::Time now) {
  if (active_fd_ >= 0) {
    // The old segment is complete: make it durable before a newer one
    // exists, so recovery only ever finds a torn tail in the last segment.
    if (options_.before_sync) options_.before_sync();
    if (TimedFdatasync(active_fd_, fsync_latency_) != 0) {
      return ErrnoStatus(errno, "cannot fsync journal segment", active_->path);
    }
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    ::close(active_fd_);
    active_fd_ = -1;
  }
  const std::string path =
      absl::StrCat(options_.directory, "/", JournalSegmentFileName(first_sequence));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "cannot create journal segment", path);
  char header[kSegmentHeaderSize];
  EncodeHeader(first_sequence, header);
  if (absl::Status s = WriteAll(fd, header, sizeof header); !s.ok()) {
    ::close(fd);
    return absl::Status(s.code(), absl::StrCat("journal segment ", path, ": ", s.message()));
  }
  bytes_written_.fetch_add(sizeof header, std::memory_order_relaxed);
  if (absl::Status s = SyncDirectory(options_.directory); !s.ok()) {
    ::close(fd);
    return s;
  }
  auto segment = std::make_shared<Segment>(first_sequence, path);
  segment->read_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (segment->read_fd < 0) {
    ::close(fd);
    return ErrnoStatus(errno, "cannot open journal segment", path);
  }
  segment->next_sequence = first_sequence;
  segment->readable_bytes = kSegmentHeaderSize;
  segment->file_bytes = kSegmentHeaderSize;
  segment->last_append = now;
  active_fd_ = fd;
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
  if (active_fd_ >= 0) {
    if (options_.before_sync) options_.before_sync();
    if (TimedFdatasync(active_fd_, fsync_latency_) != 0) {
      return ErrnoStatus(errno, "cannot fsync journal segment", active_->path);
    }
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
  }
  unsynced_bytes_ = 0;
  first_unsynced_ = absl::InfiniteFuture();
  return absl::OkStatus();
}

void Journal::SetWriterError(absl::Status status) {
  LogError(absl::StrCat("journal ", options_.directory,
                        ": write failed; refusing further appends: ", status.ToString()));
  {
    absl::MutexLock lock(&append_mu_);
    refuse_appends_ = true;
  }
  absl::MutexLock lock(&durable_mu_);
  if (writer_status_.ok()) writer_status_ = std::move(status);
  durable_cv_.SignalAll();
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
  }
  if (active_fd_ >= 0) ::close(active_fd_);
  active_fd_ = -1;
  active_.reset();
  {
    absl::MutexLock lock(&segments_mu_);
    segments_.clear();
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  lock_fd_ = -1;
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
    if (::unlink(s->path.c_str()) != 0) {
      LogError(absl::StrCat("journal: cannot delete segment ", s->path, ": ", ErrnoText(errno)));
      continue;
    }
    segments_deleted_.fetch_add(1, std::memory_order_relaxed);
    LogInfo(absl::StrCat("journal: retention deleted segment ", s->path, " (sequences ",
                         s->first_sequence, "-", s->next_sequence - 1, ", ", s->file_bytes,
                         " bytes)"));
  }
  if (absl::Status s = SyncDirectory(options_.directory); !s.ok()) LogError(s.ToString());
}

Journal::Location Journal::Locate(uint64_t sequence) const {
  Location loc;
  absl::MutexLock lock(&segments_mu_);
  const uint64_t oldest = oldest_.load(std::memory_order_acquire);
  if (sequence < oldest) {
    loc.kind = Location::kHole;
    loc.hole_last = oldest - 1;
    return loc;
  }
  for (auto [a, b] : lost_ranges_) {
    if (sequence >= a && sequence <= b) {
      loc.kind = Location::kHole;
      loc.hole_last = b;
      return loc;
    }
  }
  auto it = std::upper_bound(
      segments_.begin(), segments_.end(), sequence,
      [](uint64_t s, const std::shared_ptr<Segment>& seg) { return s < seg->first_sequence; });
  if (it == segments_.begin()) return loc;  // kEnd (empty journal)
  const std::shared_ptr<Segment>& seg = *(it - 1);
  if (sequence >= seg->next_sequence) {
    if (it != segments_.end()) {
      // Between a segment's last readable frame and the next segment.
      loc.kind = Location::kHole;
      loc.hole_last = (*it)->first_sequence - 1;
    }
    return loc;  // else: not written yet
  }
  auto idx = std::upper_bound(
      seg->index.begin(), seg->index.end(), sequence,
      [](uint64_t s, const std::pair<uint64_t, uint64_t>& e) { return s < e.first; });
  loc.kind = Location::kFound;
  loc.segment = seg;
  loc.offset = idx == seg->index.begin() ? kSegmentHeaderSize : (idx - 1)->second;
  loc.limit = seg->readable_bytes;
  for (const auto& skip : seg->skips) {
    if (skip.first >= loc.offset) loc.skips.push_back(skip);
  }
  return loc;
}

absl::StatusOr<Journal::ReadResult> Journal::Read(uint64_t from_sequence, size_t max_records,
                                                  size_t max_bytes, std::string* out) const {
  if (closed_) return absl::FailedPreconditionError("journal is closed");
  if (from_sequence == 0) return absl::InvalidArgumentError("sequence numbers start at 1");
  ReadResult result;
  uint64_t seq = from_sequence;
  const size_t start_size = out->size();
  constexpr size_t kChunk = 256 << 10;
  std::string buffer;
  while (result.records < max_records) {
    const uint64_t sequence_before = seq;
    Location loc = Locate(seq);
    if (loc.kind == Location::kHole) {
      if (result.records == 0) {
        result.hole = true;
        result.hole_first = seq;
        result.hole_last = loc.hole_last;
        seq = loc.hole_last + 1;
      }
      break;
    }
    if (loc.kind == Location::kEnd) {
      result.at_end = true;
      break;
    }
    const Segment& segment = *loc.segment;
    uint64_t offset = loc.offset;
    size_t next_skip = 0;
    bool stop = false;
    while (offset < loc.limit && !stop) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(
          std::max<uint64_t>(kChunk, kFrameHeaderSize + options_.max_payload_bytes),
          loc.limit - offset));
      buffer.resize(n);
      if (!PreadAll(segment.read_fd, buffer.data(), n, offset)) {
        const int error = errno;
        return absl::DataLossError(absl::StrCat(
            "cannot read journal segment ", segment.path, " at offset ", offset, ": ",
            error != 0 ? ErrnoText(error) : std::string("file is shorter than expected")));
      }
      const char* data = buffer.data();
      size_t pos = 0;
      bool jumped = false;
      while (n - pos >= kFrameHeaderSize) {
        if (next_skip < loc.skips.size() && loc.skips[next_skip].first == offset + pos) {
          // Recovery found corruption here: go on at the next good frame.
          offset = loc.skips[next_skip++].second;
          jumped = true;
          break;
        }
        const uint32_t length = GetFixed32(data + pos);
        if (length > options_.max_payload_bytes) {
          return absl::DataLossError(absl::StrCat("journal segment ", segment.path,
                                                  ": bad frame length at offset ", offset + pos));
        }
        if (n - pos - kFrameHeaderSize < length) break;  // continues in the next chunk
        const uint64_t frame_seq = GetFixed64(data + pos + 4);
        if (frame_seq < seq) {
          pos += kFrameHeaderSize + length;
          continue;
        }
        if (frame_seq > seq) {
          // A range lost mid-segment: end this read before it.
          if (result.records == 0) {
            result.hole = true;
            result.hole_first = seq;
            result.hole_last = frame_seq - 1;
            seq = frame_seq;
          }
          stop = true;
          break;
        }
        const size_t grown = out->size() - start_size;
        if (result.records > 0 && (result.records >= max_records || grown + length > max_bytes)) {
          stop = true;
          break;
        }
        if (FrameCrc(data + pos + 4, data + pos + kFrameHeaderSize, length) !=
            GetFixed32(data + pos + 12)) {
          return absl::DataLossError(absl::StrCat("journal segment ", segment.path,
                                                  ": checksum mismatch at offset ", offset + pos,
                                                  " (sequence ", frame_seq, ")"));
        }
        out->append(data + pos + kFrameHeaderSize, length);
        if (result.records++ == 0) result.first_sequence = seq;
        result.last_sequence = seq;
        ++seq;
        pos += kFrameHeaderSize + length;
      }
      if (jumped) continue;
      if (pos == 0 && !stop) {
        return absl::DataLossError(
            absl::StrCat("journal segment ", segment.path, ": truncated frame at offset ", offset));
      }
      offset += pos;
    }
    if (stop || result.hole) break;
    // The segment is exhausted up to what was written: go on with the next
    // segment, or with what was written since.
    if (seq == sequence_before) break;  // no progress
  }
  result.next_sequence = seq;
  return result;
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
