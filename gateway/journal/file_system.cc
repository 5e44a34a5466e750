#include "gateway/journal/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace fixstream::gateway {

absl::Status FileSystemError(int error) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      std::error_code(error, std::generic_category()).message());
}

namespace {

class PosixMappedFile final : public MappedFile {
 public:
  PosixMappedFile(const char* data, uint64_t size) : data_(data), size_(size) {}
  ~PosixMappedFile() override { ::munmap(const_cast<char*>(data_), size_); }

  const char* data() const override { return data_; }
  uint64_t size() const override { return size_; }

 private:
  const char* const data_;
  const uint64_t size_;
};

class PosixFile final : public File {
 public:
  explicit PosixFile(int fd) : fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  absl::StatusOr<size_t> Write(std::string_view data) override {
    for (;;) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return FileSystemError(errno);
    }
  }

  absl::StatusOr<size_t> WriteAt(std::string_view data, uint64_t offset) override {
    for (;;) {
      const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return FileSystemError(errno);
    }
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t size, char* scratch) const override {
    for (;;) {
      const ssize_t n = ::pread(fd_, scratch, size, static_cast<off_t>(offset));
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return FileSystemError(errno);
    }
  }

  absl::Status DataSync() override {
    if (::fdatasync(fd_) != 0) return FileSystemError(errno);
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fsync(fd_) != 0) return FileSystemError(errno);
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return FileSystemError(errno);
    return absl::OkStatus();
  }

  absl::StatusOr<FileInfo> Stat() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return FileSystemError(errno);
    return FileInfo{static_cast<uint64_t>(st.st_size), absl::TimeFromTimespec(st.st_mtim)};
  }

  absl::StatusOr<bool> TryLock() override {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    return FileSystemError(errno);
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> Map(uint64_t size) const override {
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (data == MAP_FAILED) return FileSystemError(errno);
    // Every user of a map reads it front to back once.
    ::madvise(data, size, MADV_SEQUENTIAL);
    return std::make_unique<PosixMappedFile>(static_cast<const char*>(data), size);
  }

 private:
  const int fd_;
};

int OpenFlags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kReadOnly:
      return O_RDONLY;
    case OpenMode::kReadWrite:
      return O_RDWR;
    case OpenMode::kAppend:
      return O_WRONLY | O_APPEND;
    case OpenMode::kCreateNewForAppend:
      return O_WRONLY | O_CREAT | O_EXCL | O_APPEND;
    case OpenMode::kCreateOrOpen:
      return O_RDWR | O_CREAT;
    case OpenMode::kCreateOrTruncate:
      return O_WRONLY | O_CREAT | O_TRUNC;
    case OpenMode::kDirectory:
      return O_RDONLY | O_DIRECTORY;
  }
  return O_RDONLY;
}

class PosixFileSystem final : public FileSystem {
 public:
  absl::Status CreateDirectories(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return FileSystemError(ec.value());
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return FileSystemError(errno);
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(d)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    return names;
  }

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override {
    const int fd = ::open(path.c_str(), OpenFlags(mode) | O_CLOEXEC, 0644);
    if (fd < 0) return FileSystemError(errno);
    return std::make_unique<PosixFile>(fd);
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return FileSystemError(errno);
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return FileSystemError(errno);
    return absl::OkStatus();
  }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static FileSystem* const file_system = new PosixFileSystem;
  return file_system;
}

}  // namespace fixstream::gateway
