// FaultInjectingFileSystem: a FileSystem for tests that forwards every call
// to another one (POSIX by default) and makes chosen calls fail with an
// errno (ENOSPC, EIO, EACCES, ...) or write only part of their data (a short
// write), so that the journal's failure paths run in unit tests — also as
// root, where real permissions never fail.
//
//   FaultInjectingFileSystem fs;
//   JournalOptions o;  o.directory = dir;  o.file_system = &fs;
//   fs.Inject(Fault(FaultOp::kWrite, ENOSPC).OnPath(".fsj"));
//   fs.Inject(Fault(FaultOp::kDataSync, EIO).After(2).Times(1));
//   fs.Inject(Fault::ShortWrite(7).Times(1));
//   fs.Inject(Fault(FaultOp::kDataSync, EIO).LosingUnsyncedData().Times(1));
//
// A fault matches a call of its operation whose path contains `path` (every
// path if empty). Each fault counts the calls it matches: the first `after`
// pass, the next `times` fail (or are shortened). When several faults match
// one call, each counts it and the first that fires decides.
//
// Thread safety: thread-safe. Must outlive every journal and File using it.
#ifndef FIXSTREAM_TESTS_GATEWAY_JOURNAL_FAULT_INJECTING_FILE_SYSTEM_H_
#define FIXSTREAM_TESTS_GATEWAY_JOURNAL_FAULT_INJECTING_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gateway/journal/file_system.h"

namespace fixstream::gateway {

// The operations a fault can target: one per FileSystem and File method.
enum class FaultOp {
  kCreateDirectories,
  kListDirectory,
  kOpen,
  kRenameFile,  // matched against the source path
  kRemoveFile,
  kWrite,
  kWriteAt,
  kReadAt,
  kDataSync,  // fdatasync of a file
  kSync,      // fsync of a file or of a directory
  kTruncate,
  kStat,
  kTryLock,
  kMap,
};

struct Fault {
  static constexpr uint64_t kForever = ~uint64_t{0};

  // Fails calls of `op` with the errno `error`.
  Fault(FaultOp op, int error) : op(op), error(error) {}
  // A write(2) that succeeds but writes at most `bytes` (>= 1) of its data.
  static Fault ShortWrite(size_t bytes) {
    Fault f(FaultOp::kWrite, 0);
    f.short_write_bytes = bytes;
    return f;
  }
  // Only calls whose path contains `part`.
  Fault& OnPath(std::string part) {
    path = std::move(part);
    return *this;
  }
  // Lets the first `n` matching calls pass.
  Fault& After(uint64_t n) {
    after = n;
    return *this;
  }
  // Fails (or shortens) `n` matching calls, then lets them pass again.
  Fault& Times(uint64_t n) {
    times = n;
    return *this;
  }
  // For a kDataSync or kSync fault: the failing call also zeroes what was
  // written to the file since its last successful sync — what Linux can
  // leave after a failed fsync (the dirty pages dropped, the error reported
  // once), so only a writer that writes them again keeps them.
  Fault& LosingUnsyncedData() {
    lose_unsynced = true;
    return *this;
  }

  FaultOp op;
  std::string path;  // empty matches every path
  int error;         // 0 for a short write
  size_t short_write_bytes = 0;
  bool lose_unsynced = false;
  uint64_t after = 0;
  uint64_t times = kForever;
};

class FaultInjectingFileSystem final : public FileSystem {
 public:
  // `base` must outlive this.
  explicit FaultInjectingFileSystem(FileSystem* base = FileSystem::Default()) : base_(base) {}

  // Adds a fault (after the ones already armed).
  void Inject(Fault fault);
  // Disarms every fault (calls pass through again) and zeroes the counts.
  void Clear();
  // Calls failed or shortened by a fault so far.
  uint64_t injected() const;
  // Calls of `op` so far, whether or not they failed.
  uint64_t calls(FaultOp op) const;

  // If a fault fires for this call of `op` on `path`, returns it. Used by
  // the Files this opens.
  std::optional<Fault> Check(FaultOp op, const std::string& path);
  // Used by the Files this opens: `path` was synced at `size` bytes; a
  // LosingUnsyncedData() fault zeroes the bytes after the last such size.
  void MarkSynced(const std::string& path, uint64_t size);
  void LoseUnsynced(const std::string& path);

  absl::Status CreateDirectories(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status RemoveFile(const std::string& path) override;

 private:
  struct Armed {
    Fault fault;
    uint64_t seen = 0;
  };

  FileSystem* const base_;
  mutable absl::Mutex mu_;
  std::vector<Armed> faults_ ABSL_GUARDED_BY(mu_);
  uint64_t injected_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<FaultOp, uint64_t> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> synced_size_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_TESTS_GATEWAY_JOURNAL_FAULT_INJECTING_FILE_SYSTEM_H_
