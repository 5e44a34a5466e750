// WatchedFile: a small configuration file that is polled for changes and
// read again once it has settled — the polling half of the gateway's
// reloadable files (the device registry; docs/OPERATIONS.md).
//
// A change is noticed by stat(2): the file's device, inode, size, mtime and
// ctime. Polling rather than inotify because it sees every way operators
// replace such a file (an editor's rename over it, a symlink swap, a file
// deleted and written again, network and overlay file systems) with no
// directory watch to keep. A changed file is only read once it has looked
// the same at two polls in a row, so a file caught half-written by a writer
// that truncates and rewrites in place is not read.
//
// Thread safety: none; one thread uses an instance.
#ifndef FIXSTREAM_GATEWAY_COMMON_WATCHED_FILE_H_
#define FIXSTREAM_GATEWAY_COMMON_WATCHED_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace fixstream::gateway {

class WatchedFile final {
 public:
  explicit WatchedFile(std::string path) : path_(std::move(path)) {}
  WatchedFile(const WatchedFile&) = delete;
  WatchedFile& operator=(const WatchedFile&) = delete;

  // Reads the whole file now (at start, or on SIGHUP) and remembers its
  // stamp, so the next Poll() reports no change for it. InvalidArgument
  // naming the path if it cannot be read.
  absl::StatusOr<std::string> Read();

  enum class Poll : uint8_t {
    kUnchanged,  // unchanged, or changed and waiting to look the same once more
    kChanged,    // changed and settled: Read() it now
    kGone,       // it vanished (reported once, until it is back)
  };
  Poll Check();

  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const Stamp& other) const;
  };
  static Stamp StatPath(const std::string& path);

  const std::string path_;
  Stamp read_;                     // of the file last read, or last found gone
  std::optional<Stamp> settling_;  // a changed stamp seen at the previous poll
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_COMMON_WATCHED_FILE_H_
