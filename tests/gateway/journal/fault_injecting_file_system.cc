#include "fault_injecting_file_system.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace fixstream::gateway {
namespace {

class FaultInjectingFile final : public File {
 public:
  FaultInjectingFile(FaultInjectingFileSystem* fs, std::string path, std::unique_ptr<File> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  absl::StatusOr<size_t> Write(std::string_view data) override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kWrite, path_)) {
      if (f->error != 0) return FileSystemError(f->error);
      data = data.substr(0, std::max<size_t>(1, f->short_write_bytes));
    }
    return base_->Write(data);
  }

  absl::StatusOr<size_t> WriteAt(std::string_view data, uint64_t offset) override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kWriteAt, path_)) {
      if (f->error != 0) return FileSystemError(f->error);
      data = data.substr(0, std::max<size_t>(1, f->short_write_bytes));
    }
    return base_->WriteAt(data, offset);
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, size_t size, char* scratch) const override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kReadAt, path_)) {
      return FileSystemError(f->error);
    }
    return base_->ReadAt(offset, size, scratch);
  }

  absl::Status DataSync() override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kDataSync, path_)) {
      if (f->lose_unsynced) fs_->LoseUnsynced(path_);
      return FileSystemError(f->error);
    }
    return Synced(base_->DataSync());
  }

  absl::Status Sync() override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kSync, path_)) {
      if (f->lose_unsynced) fs_->LoseUnsynced(path_);
      return FileSystemError(f->error);
    }
    return Synced(base_->Sync());
  }

  absl::Status Truncate(uint64_t size) override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kTruncate, path_)) {
      return FileSystemError(f->error);
    }
    return base_->Truncate(size);
  }

  absl::StatusOr<FileInfo> Stat() const override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kStat, path_)) {
      return FileSystemError(f->error);
    }
    return base_->Stat();
  }

  absl::StatusOr<bool> TryLock() override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kTryLock, path_)) {
      return FileSystemError(f->error);
    }
    return base_->TryLock();
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> Map(uint64_t size) const override {
    if (std::optional<Fault> f = fs_->Check(FaultOp::kMap, path_)) {
      return FileSystemError(f->error);
    }
    return base_->Map(size);
  }

 private:
  absl::Status Synced(absl::Status status) {
    if (status.ok()) {
      if (absl::StatusOr<FileInfo> info = base_->Stat(); info.ok()) {
        fs_->MarkSynced(path_, info->size);
      }
    }
    return status;
  }

  FaultInjectingFileSystem* const fs_;
  const std::string path_;
  const std::unique_ptr<File> base_;
};

}  // namespace

void FaultInjectingFileSystem::Inject(Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back({std::move(fault)});
}

void FaultInjectingFileSystem::Clear() {
  absl::MutexLock lock(&mu_);
  faults_.clear();
  injected_ = 0;
  calls_.clear();
}

uint64_t FaultInjectingFileSystem::injected() const {
  absl::MutexLock lock(&mu_);
  return injected_;
}

uint64_t FaultInjectingFileSystem::calls(FaultOp op) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

std::optional<Fault> FaultInjectingFileSystem::Check(FaultOp op, const std::string& path) {
  absl::MutexLock lock(&mu_);
  ++calls_[op];
  std::optional<Fault> fired;
  for (Armed& armed : faults_) {
    const Fault& f = armed.fault;
    if (f.op != op || path.find(f.path) == std::string::npos) continue;
    const uint64_t n = armed.seen++;
    if (!fired && n >= f.after && n - f.after < f.times) fired = f;
  }
  if (fired) ++injected_;
  return fired;
}

void FaultInjectingFileSystem::MarkSynced(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  synced_size_[path] = size;
}

void FaultInjectingFileSystem::LoseUnsynced(const std::string& path) {
  uint64_t synced = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = synced_size_.find(path);
    if (it != synced_size_.end()) synced = it->second;
  }
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, OpenMode::kReadWrite);
  if (!file.ok()) return;
  absl::StatusOr<FileInfo> info = (*file)->Stat();
  if (!info.ok() || info->size <= synced) return;
  const std::string zeros(info->size - synced, '\0');
  (*file)->WriteAt(zeros, synced).IgnoreError();
}

absl::Status FaultInjectingFileSystem::CreateDirectories(const std::string& path) {
  if (std::optional<Fault> f = Check(FaultOp::kCreateDirectories, path)) {
    return FileSystemError(f->error);
  }
  return base_->CreateDirectories(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectingFileSystem::ListDirectory(
    const std::string& path) {
  if (std::optional<Fault> f = Check(FaultOp::kListDirectory, path)) {
    return FileSystemError(f->error);
  }
  return base_->ListDirectory(path);
}

absl::StatusOr<std::unique_ptr<File>> FaultInjectingFileSystem::Open(const std::string& path,
                                                                     OpenMode mode) {
  if (std::optional<Fault> f = Check(FaultOp::kOpen, path)) return FileSystemError(f->error);
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, mode);
  if (!file.ok()) return file.status();
  return std::make_unique<FaultInjectingFile>(this, path, std::move(*file));
}

absl::Status FaultInjectingFileSystem::RenameFile(const std::string& from, const std::string& to) {
  if (std::optional<Fault> f = Check(FaultOp::kRenameFile, from)) {
    return FileSystemError(f->error);
  }
  return base_->RenameFile(from, to);
}

absl::Status FaultInjectingFileSystem::RemoveFile(const std::string& path) {
  if (std::optional<Fault> f = Check(FaultOp::kRemoveFile, path)) {
    return FileSystemError(f->error);
  }
  return base_->RemoveFile(path);
}

}  // namespace fixstream::gateway
