#include "gateway/journal/journal_internal.h"

namespace fixstream::gateway::journal_internal {

absl::Status WriteFully(File& file, std::string_view data) {
  while (!data.empty()) {
    absl::StatusOr<size_t> n = file.Write(data);
    if (!n.ok())
      return absl::Status(n.status().code(), absl::StrCat("write: ", n.status().message()));
    data.remove_prefix(*n);
  }
  return absl::OkStatus();
}

absl::Status ReadFully(const File& file, uint64_t offset, size_t size, char* scratch) {
  while (size > 0) {
    absl::StatusOr<size_t> n = file.ReadAt(offset, size, scratch);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OutOfRangeError("file is shorter than expected");
    scratch += *n;
    size -= *n;
    offset += *n;
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(FileSystem& file_system, const std::string& directory) {
  absl::StatusOr<std::unique_ptr<File>> dir = file_system.Open(directory, OpenMode::kDirectory);
  if (!dir.ok()) return WithPath(dir.status(), "cannot open journal directory", directory);
  if (absl::Status s = (*dir)->Sync(); !s.ok()) {
    return WithPath(s, "cannot fsync journal directory", directory);
  }
  return absl::OkStatus();
}

}  // namespace fixstream::gateway::journal_internal
