#include "gateway/common/watched_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fixstream::gateway {
namespace {

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

bool WatchedFile::Stamp::operator==(const Stamp& other) const {
  return exists == other.exists && device == other.device && inode == other.inode &&
         size == other.size && SameTime(mtime, other.mtime) && SameTime(ctime, other.ctime);
}

WatchedFile::Stamp WatchedFile::StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Stamp{};
  return Stamp{.exists = true,
               .device = st.st_dev,
               .inode = st.st_ino,
               .size = st.st_size,
               .mtime = st.st_mtim,
               .ctime = st.st_ctim};
}

absl::StatusOr<std::string> WatchedFile::Read() {
  settling_.reset();
  read_ = Stamp{};
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": cannot read: ", std::strerror(errno)));
  }
  struct stat st;
  std::string text;
  bool ok = ::fstat(fd, &st) == 0;
  if (ok) {
    // The opened file's stamp: a change after this read shows at the next
    // poll.
    read_ = Stamp{.exists = true,
                  .device = st.st_dev,
                  .inode = st.st_ino,
                  .size = st.st_size,
                  .mtime = st.st_mtim,
                  .ctime = st.st_ctim};
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      text.append(buffer, static_cast<size_t>(n));
    }
  }
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot read: ", std::strerror(saved_errno)));
  }
  return text;
}

WatchedFile::Poll WatchedFile::Check() {
  const Stamp now = StatPath(path_);
  if (now == read_) {
    settling_.reset();
    return Poll::kUnchanged;
  }
  if (!settling_.has_value() || !(*settling_ == now)) {
    settling_ = now;  // read it once it looks the same at the next poll
    return Poll::kUnchanged;
  }
  settling_.reset();
  if (!now.exists) {
    read_ = now;  // not reported again until it is back
    return Poll::kGone;
  }
  return Poll::kChanged;
}

}  // namespace fixstream::gateway
