// Journal::Recover(): what Open() does with the segments it finds. The
// policies (truncate a torn tail, keep serving around mid-segment damage,
// seal a segment whose header is damaged) are described in docs/JOURNAL.md,
// "Recovery".
#include "gateway/journal/recovery.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gateway/common/log.h"
#include "gateway/journal/journal.h"
#include "gateway/journal/journal_format.h"
#include "gateway/journal/journal_internal.h"

namespace fixstream::gateway {
namespace journal_internal {

SegmentScan ScanSegmentFrames(const char* data, size_t size, uint64_t first_sequence,
                              uint32_t max_payload, uint32_t index_interval) {
  using journal_format::FrameAt;
  SegmentScan scan;
  uint64_t expected = first_sequence;
  size_t pos = kSegmentHeaderSize;
  size_t good_end = pos;
  while (pos < size) {
    uint64_t seq = 0;
    size_t frame = FrameAt(
        data, size, pos, max_payload, [expected](uint64_t s) { return s == expected; }, &seq);
    if (frame == 0) {
      const size_t bad = pos;
      size_t found = 0;
      for (size_t q = pos + 1; q + kFrameHeaderSize <= size; ++q) {
        const uint64_t max_lost = (q - good_end) / kFrameHeaderSize;
        frame = FrameAt(
            data, size, q, max_payload,
            [expected, max_lost](uint64_t s) { return s >= expected && s - expected <= max_lost; },
            &seq);
        if (frame != 0) {
          found = q;
          break;
        }
      }
      if (frame == 0) {
        scan.tail_bad = true;
        scan.bad_offset = bad;
        break;
      }
      scan.regions.push_back({bad, found, expected, seq});
      pos = found;
      scan.index.emplace_back(seq, pos);  // the scan is no longer regular here
    } else if (scan.frames % index_interval == 0) {
      scan.index.emplace_back(seq, pos);
    }
    ++scan.frames;
    pos += frame;
    good_end = pos;
    expected = seq + 1;
  }
  scan.next_sequence = expected;
  scan.good_end = good_end;
  return scan;
}

namespace {

struct SegmentFile {
  uint64_t first_sequence;
  std::string path;
};

// The segment files of `dir`, by first sequence.
absl::StatusOr<std::vector<SegmentFile>> ListSegmentFiles(FileSystem& file_system,
                                                          const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = file_system.ListDirectory(dir);
  if (!names.ok()) return WithPath(names.status(), "cannot read journal directory", dir);
  std::vector<std::pair<uint64_t, std::string>> found;
  for (const std::string& name : *names) {
    uint64_t first = 0;
    if (ParseJournalSegmentFileName(name, &first)) found.emplace_back(first, name);
  }
  std::sort(found.begin(), found.end());
  std::vector<SegmentFile> files;
  files.reserve(found.size());
  for (auto& [first, name] : found) files.push_back({first, absl::StrCat(dir, "/", name)});
  return files;
}

// What the segments recovered so far add up to.
struct RecoveryState {
  std::vector<std::shared_ptr<Segment>> segments;
  std::vector<std::pair<uint64_t, uint64_t>> lost;
  uint64_t expected_next = 0;  // one past the last good frame so far; 0: none yet
  bool removed_files = false;  // the directory needs an fsync
};

// Removes a segment file in which nothing is readable: a segment torn while
// being created (the last) or a damaged stub. Removing it keeps names unique
// for new segments.
void DropSegmentFile(FileSystem& file_system, const SegmentFile& file, uint64_t size, bool last,
                     absl::string_view why, RecoveryState& state, RecoveryReport& report) {
  if (last) {
    report.truncated_bytes += size;
    report.first_bad_offset = 0;
    LogWarning(
        absl::StrCat("journal: removing last segment ", file.path, " (", size, " bytes): ", why));
  } else {
    ++report.corrupt_segments;
    LogError(absl::StrCat("journal: removing unreadable segment ", file.path, " (", size,
                          " bytes): ", why));
  }
  file_system.RemoveFile(file.path).IgnoreError();
  state.removed_files = true;
}

// Logs the corruptions a scan skipped and records the sequences they lost.
void RecordCorruptRegions(const SegmentFile& file, const SegmentScan& scan, RecoveryState& state,
                          RecoveryReport& report) {
  for (const CorruptRegion& r : scan.regions) {
    ++report.corrupt_regions;
    const bool lost = r.resume_sequence > r.first_lost;
    if (lost) state.lost.emplace_back(r.first_lost, r.resume_sequence - 1);
    LogError(absl::StrCat(
        "journal: corrupt data in segment ", file.path, " at offset ", r.bad_offset, " (",
        r.resume_offset - r.bad_offset, " bytes skipped); ",
        lost ? absl::StrCat("sequences ", r.first_lost, "-", r.resume_sequence - 1, " are lost")
             : std::string("no sequence lost"),
        "; resuming at offset ", r.resume_offset, " with sequence ", r.resume_sequence));
  }
}

// Checks the header of segment `file`, whose bytes start at `data`, against
// its name and the segments recovered before it, logs what it finds and
// records a gap before the segment as lost. Returns kIgnore for a segment
// that overlaps its predecessor (left on disk, not served), kSealed for a
// damaged header (its frames are served, nothing is appended to it), kServe
// otherwise, and FailedPrecondition for an intact header of another format
// version.
enum class HeaderCheck { kServe, kSealed, kIgnore };
absl::StatusOr<HeaderCheck> CheckSegmentHeader(const SegmentFile& file, const char* data,
                                               RecoveryState& state, RecoveryReport& report) {
  const std::string& path = file.path;
  const uint64_t first = file.first_sequence;
  const journal_format::SegmentHeader header = journal_format::DecodeSegmentHeader(data);
  if (header.intact && header.version != kJournalVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("journal segment ", path, " has format version ", header.version,
                     "; this build reads version ", kJournalVersion));
  }
  if (state.expected_next != 0 && first < state.expected_next) {
    // Never written by us; keep the file for inspection.
    ++report.corrupt_segments;
    LogError(absl::StrCat("journal: ignoring segment ", path, ": its first sequence ", first,
                          " overlaps the previous segment (which ends at ", state.expected_next - 1,
                          ")"));
    return HeaderCheck::kIgnore;
  }
  HeaderCheck check = HeaderCheck::kServe;
  if (!header.intact || header.first_sequence != first) {
    // The frames carry their own sequence and CRC, so they are still served.
    ++report.corrupt_segments;
    check = HeaderCheck::kSealed;
    LogError(absl::StrCat("journal: segment ", path,
                          " has a damaged header (bad magic, checksum or first sequence); "
                          "serving the frames that check out and appending to a new segment"));
  }
  if (state.expected_next != 0 && first > state.expected_next) {
    state.lost.emplace_back(state.expected_next, first - 1);
    LogError(absl::StrCat("journal: sequences ", state.expected_next, "-", first - 1,
                          " are missing before segment ", path));
  }
  return check;
}

// Deals with a bad tail that `scan` found in segment `f` of `size` bytes:
// the last segment is truncated after its last good frame and synced (a
// torn write of the previous process), the tail of an earlier one is only
// reported (the file is not modified).
absl::Status SettleBadTail(File& f, const std::string& path, uint64_t size, bool last,
                           const SegmentScan& scan, RecoveryReport& report) {
  if (!scan.tail_bad) return absl::OkStatus();
  if (!last) {
    LogError(absl::StrCat("journal: segment ", path, " is unreadable from offset ", scan.bad_offset,
                          " to its end (", size - scan.bad_offset, " bytes)"));
    return absl::OkStatus();
  }
  const uint64_t dropped = size - scan.good_end;
  absl::Status s = f.Truncate(scan.good_end);
  if (s.ok()) s = f.Sync();
  if (!s.ok()) return WithPath(s, "cannot truncate the damaged tail of journal segment", path);
  report.truncated_bytes += dropped;
  report.first_bad_offset = scan.bad_offset;
  LogWarning(absl::StrCat("journal: truncated the damaged tail of ", path, ": dropped ", dropped,
                          " bytes from offset ", scan.bad_offset,
                          " (a partial or corrupt frame); the last good sequence is ",
                          scan.next_sequence - 1));
  return absl::OkStatus();
}

// Recovers one segment file, the last one if `last`: checks its header,
// scans its frames, truncates a bad tail of the last segment (or removes the
// last segment if nothing in it is readable), fsyncs the last segment so
// that everything recovered is durable, and opens it for reading. Returns
// the segment, or null if it is not served (removed, or overlapping its
// predecessor), and adds what it found to `state` and `report`. Fails only
// when the file cannot be opened, read, truncated or synced, or has another
// format version.
absl::StatusOr<std::shared_ptr<Segment>> RecoverSegment(FileSystem& file_system,
                                                        const JournalOptions& options,
                                                        const SegmentFile& file, bool last,
                                                        RecoveryState& state,
                                                        RecoveryReport& report) {
  const std::string& path = file.path;
  absl::StatusOr<std::unique_ptr<File>> opened = file_system.Open(path, OpenMode::kReadWrite);
  if (!opened.ok()) return WithPath(opened.status(), "cannot open journal segment", path);
  File& f = **opened;
  absl::StatusOr<FileInfo> info = f.Stat();
  if (!info.ok()) return WithPath(info.status(), "cannot stat journal segment", path);
  const uint64_t size = info->size;
  if (size < kSegmentHeaderSize) {
    opened->reset();
    DropSegmentFile(file_system, file, size, last, "shorter than a segment header", state, report);
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> mapped = f.Map(size);
  if (!mapped.ok()) return WithPath(mapped.status(), "cannot map journal segment", path);
  const char* data = (*mapped)->data();

  absl::StatusOr<HeaderCheck> header = CheckSegmentHeader(file, data, state, report);
  if (!header.ok()) return header.status();
  if (*header == HeaderCheck::kIgnore) return nullptr;
  auto segment = std::make_shared<Segment>(file.first_sequence, path);
  segment->last_append = info->modification_time;
  segment->sealed = *header == HeaderCheck::kSealed;

  SegmentScan scan = ScanSegmentFrames(data, size, file.first_sequence, options.max_payload_bytes,
                                       options.index_interval);
  RecordCorruptRegions(file, scan, state, report);
  report.frames += scan.frames;
  if (last && segment->sealed && scan.frames == 0) {
    mapped->reset();
    opened->reset();
    DropSegmentFile(
        file_system, file, size, last,
        scan.tail_bad ? "damaged header and no readable frame" : "damaged header and no frame",
        state, report);
    return nullptr;
  }
  if (absl::Status s = SettleBadTail(f, path, size, last, scan, report); !s.ok()) return s;
  segment->frames = scan.frames;
  segment->index = std::move(scan.index);
  for (const CorruptRegion& r : scan.regions) {
    segment->skips.emplace_back(r.bad_offset, r.resume_offset);
  }
  segment->next_sequence = scan.next_sequence;
  segment->readable_bytes = scan.good_end;
  segment->file_bytes = scan.tail_bad && last ? scan.good_end : size;
  if (last) {
    // Make "recovered" mean "durable" even if the previous process died
    // before its fsync (acknowledgements rely on it).
    if (absl::Status s = f.Sync(); !s.ok()) {
      return WithPath(s, "cannot fsync journal segment", path);
    }
  }
  mapped->reset();
  opened->reset();
  absl::StatusOr<std::unique_ptr<File>> read_file = file_system.Open(path, OpenMode::kReadOnly);
  if (!read_file.ok()) return WithPath(read_file.status(), "cannot open journal segment", path);
  segment->read_file = std::move(*read_file);
  state.expected_next = scan.next_sequence;
  return segment;
}

}  // namespace
}  // namespace journal_internal

absl::Status Journal::Recover(RecoveryReport* report) {
  using journal_internal::RecoveryState;
  const absl::Time start = absl::Now();
  const std::string& dir = options_.directory;
  *report = RecoveryReport{};

  absl::StatusOr<std::vector<journal_internal::SegmentFile>> files =
      journal_internal::ListSegmentFiles(*file_system_, dir);
  if (!files.ok()) return files.status();
  RecoveryState state;
  for (size_t i = 0; i < files->size(); ++i) {
    absl::StatusOr<std::shared_ptr<Segment>> segment = journal_internal::RecoverSegment(
        *file_system_, options_, (*files)[i], i + 1 == files->size(), state, *report);
    if (!segment.ok()) return segment.status();
    if (*segment != nullptr) state.segments.push_back(std::move(*segment));
  }
  if (state.removed_files) {
    if (absl::Status s = journal_internal::SyncDirectory(*file_system_, dir); !s.ok()) return s;
  }

  const uint64_t next = state.expected_next != 0 ? state.expected_next : 1;
  next_sequence_.store(next, std::memory_order_release);
  durable_.store(next - 1, std::memory_order_release);
  written_sequence_ = next - 1;
  oldest_.store(state.segments.empty() ? next : state.segments.front()->first_sequence,
                std::memory_order_release);
  for (const auto& s : state.segments) report->bytes += s->file_bytes;
  report->segments = state.segments.size();
  report->lost_ranges = state.lost;
  report->duration = absl::Now() - start;

  if (!state.segments.empty()) {
    active_ = state.segments.back();  // if sealed, the first write rolls
    if (!active_->sealed) {
      absl::StatusOr<std::unique_ptr<File>> f =
          file_system_->Open(active_->path, OpenMode::kAppend);
      if (!f.ok())
        return journal_internal::WithPath(f.status(), "cannot open journal segment", active_->path);
      active_file_ = std::move(*f);
      active_synced_bytes_ = active_->file_bytes;  // (synced above)
    }
  }
  {
    absl::MutexLock lock(&segments_mu_);
    segments_ = std::move(state.segments);
    lost_ranges_ = std::move(state.lost);
  }
  next_retention_check_ = Clock::now();  // enforce at once
  LogInfo(absl::StrCat("journal ", dir, " recovered: ", report->segments, " segments, ",
                       report->frames, " records, ", report->bytes, " bytes, sequences ",
                       oldest_sequence(), "-", next - 1, ", next sequence ", next, "; ",
                       report->truncated_bytes, " bytes truncated, ", report->lost_ranges.size(),
                       " lost ranges, ", report->corrupt_segments, " damaged segments; took ",
                       absl::FormatDuration(report->duration)));
  return absl::OkStatus();
}

}  // namespace fixstream::gateway
