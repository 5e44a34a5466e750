// Internal to the journal's .cc files (journal.cc, recovery.cc, reader.cc):
// the in-memory description of a segment, where a sequence was found, and
// the I/O helpers over FileSystem that they share. Not for other layers.
#ifndef FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_INTERNAL_H_
#define FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/journal/file_system.h"

namespace fixstream::gateway::journal_internal {

// One segment file. Created by recovery or by the writer's roll and shared
// (shared_ptr) by the journal's list and by readers that located a sequence
// in it, so a segment deleted by retention stays readable until they are
// done.
struct Segment {
  Segment(uint64_t first, std::string file_path)
      : first_sequence(first), path(std::move(file_path)) {}
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const uint64_t first_sequence;
  const std::string path;
  // Set before the segment is published; shared by readers (ReadAt is
  // thread-safe).
  std::unique_ptr<File> read_file;
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

// Where a sequence is on disk (Journal::Locate()).
struct SegmentLocation {
  enum Kind { kFound, kHole, kEnd } kind = kEnd;
  std::shared_ptr<Segment> segment;
  uint64_t offset = 0;  // start scanning here
  uint64_t limit = 0;   // stop scanning here
  uint64_t hole_last = 0;
  std::vector<std::pair<uint64_t, uint64_t>> skips;  // the segment's, at or after offset
};

// `status` (from FileSystem: code and errno text) as "<what> <path>: <errno
// text>", the journal's messages since before the seam.
inline absl::Status WithPath(const absl::Status& status, absl::string_view what,
                             absl::string_view path) {
  return absl::Status(status.code(), absl::StrCat(what, " ", path, ": ", status.message()));
}

// Writes all of `data` with as many File::Write() calls as it takes (a
// short write is followed by one for the rest). The error reads
// "write: <errno text>".
absl::Status WriteFully(File& file, std::string_view data);

// Reads exactly `size` bytes at `offset` into `scratch`. On failure returns
// the FileSystem's error, or OutOfRange ("file is shorter than expected")
// when the file ends first.
absl::Status ReadFully(const File& file, uint64_t offset, size_t size, char* scratch);

// fsync(2) of `directory`, so that files created or removed in it survive a
// power loss.
absl::Status SyncDirectory(FileSystem& file_system, const std::string& directory);

}  // namespace fixstream::gateway::journal_internal

#endif  // FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_INTERNAL_H_
