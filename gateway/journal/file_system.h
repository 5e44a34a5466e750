// FileSystem: the journal's only way to the disk, so that tests can put a
// fault-injecting implementation underneath it (ENOSPC, EIO, short writes, a
// failing fsync) and a later backend can put something else there. Modelled
// on LevelDB's Env: an abstract interface, a POSIX implementation as the
// default (FileSystem::Default()), and wrappers that forward to another
// FileSystem (tests/gateway/journal/fault_injecting_file_system.h).
//
// The interface is deliberately thin: one virtual call per system call
// (open, write, pwrite, pread, fdatasync, fsync, ftruncate, fstat, flock,
// mmap, mkdir -p, readdir, rename, unlink), so that the caller keeps its
// own loops and messages and a fault can be injected at exactly one of them.
//
// Errors: every failure is an absl::Status whose code follows the errno
// (absl::ErrnoToStatusCode) and whose message is the errno text alone
// ("No space left on device"); the caller adds what it was doing and the
// path. FileSystemError() builds one.
//
// Thread safety: FileSystem implementations are thread-safe. A File may be
// used by several threads for ReadAt(), Stat() and Map(); Write(), WriteAt(),
// Sync(), DataSync() and Truncate() need external serialisation (the
// journal's writer thread, or recovery before it starts).
#ifndef FIXSTREAM_GATEWAY_JOURNAL_FILE_SYSTEM_H_
#define FIXSTREAM_GATEWAY_JOURNAL_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fixstream::gateway {

// Status(ErrnoToStatusCode(error), <errno text>). `error` must not be 0.
absl::Status FileSystemError(int error);

// A read-only view of a whole file (mmap), unmapped by the destructor.
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  virtual ~MappedFile() = default;

  virtual const char* data() const = 0;
  virtual uint64_t size() const = 0;
};

struct FileInfo {
  uint64_t size = 0;
  absl::Time modification_time;
};

// An open file (or directory, for Sync()). Closed by the destructor.
class File {
 public:
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  virtual ~File() = default;

  // One write(2) at the end of a file opened with an append mode: returns
  // how many bytes were written, which may be fewer than data.size() (a
  // short write; the caller writes the rest). Retries EINTR.
  virtual absl::StatusOr<size_t> Write(std::string_view data) = 0;
  // One pwrite(2) at `offset`; may be short like Write().
  virtual absl::StatusOr<size_t> WriteAt(std::string_view data, uint64_t offset) = 0;
  // One pread(2) of up to `size` bytes at `offset` into `scratch`: returns
  // how many were read, 0 at the end of the file. Retries EINTR.
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t size, char* scratch) const = 0;
  // fdatasync(2): the file's data (and the metadata needed to read it back,
  // such as its size) is on the device.
  virtual absl::Status DataSync() = 0;
  // fsync(2): DataSync() and all metadata; on a directory opened with
  // OpenMode::kDirectory, its entries (created, renamed, removed files).
  virtual absl::Status Sync() = 0;
  // ftruncate(2).
  virtual absl::Status Truncate(uint64_t size) = 0;
  // fstat(2).
  virtual absl::StatusOr<FileInfo> Stat() const = 0;
  // flock(LOCK_EX | LOCK_NB): true once this open file holds the lock,
  // false if another open file (of this or another process) holds it
  // (EWOULDBLOCK). The lock goes with the File.
  virtual absl::StatusOr<bool> TryLock() = 0;
  // Maps the first `size` bytes of the file read-only (size > 0).
  virtual absl::StatusOr<std::unique_ptr<MappedFile>> Map(uint64_t size) const = 0;
};

enum class OpenMode {
  kReadOnly,            // an existing file: ReadAt(), Map(), Stat()
  kReadWrite,           // an existing file: also Truncate(), Sync(), WriteAt()
  kAppend,              // an existing file, for Write() at its end
  kCreateNewForAppend,  // a new file (AlreadyExists if it exists), for Write()
  kCreateOrOpen,        // read-write, created if missing (e.g. a lock file)
  kCreateOrTruncate,    // write-only, created if missing, emptied otherwise
  kDirectory,           // an existing directory, for Sync() of its entries
};

class FileSystem {
 public:
  FileSystem() = default;
  FileSystem(const FileSystem&) = delete;
  FileSystem& operator=(const FileSystem&) = delete;
  virtual ~FileSystem() = default;

  // The POSIX implementation. Never deleted; thread-safe.
  static FileSystem* Default();

  // Creates `path` and its missing parents (mkdir -p); OK if it exists as a
  // directory.
  virtual absl::Status CreateDirectories(const std::string& path) = 0;
  // The names (not paths) of the entries of directory `path`, without "."
  // and "..", in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) = 0;
  // open(2); new files get mode 0644. Files are opened close-on-exec.
  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) = 0;
  // rename(2) / unlink(2).
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual absl::Status RemoveFile(const std::string& path) = 0;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_JOURNAL_FILE_SYSTEM_H_
