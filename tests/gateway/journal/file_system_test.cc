// The POSIX FileSystem (file_system.h) and the fault-injecting one the
// journal's fault tests use.
#include "gateway/journal/file_system.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

#include "fault_injecting_file_system.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

namespace fs = std::filesystem;

class FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "file_system_test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<File> OpenOrDie(FileSystem& fs, const std::string& path, OpenMode mode) {
    absl::StatusOr<std::unique_ptr<File>> f = fs.Open(path, mode);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }

  std::string dir_;
};

TEST_F(FileSystemTest, ErrorsCarryTheErrnoCodeAndTextAlone) {
  absl::Status s = FileSystemError(ENOSPC);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), std::error_code(ENOSPC, std::generic_category()).message());
  absl::StatusOr<std::unique_ptr<File>> missing =
      FileSystem::Default()->Open(dir_ + "/missing", OpenMode::kReadOnly);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "No such file or directory");
}

TEST_F(FileSystemTest, PosixFilesWriteReadSyncTruncateAndMap) {
  FileSystem& fs = *FileSystem::Default();
  const std::string path = dir_ + "/a/b/file";
  ASSERT_TRUE(fs.CreateDirectories(dir_ + "/a/b").ok());
  ASSERT_TRUE(fs.CreateDirectories(dir_ + "/a/b").ok());  // exists: fine
  auto f = OpenOrDie(fs, path, OpenMode::kCreateNewForAppend);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(fs.Open(path, OpenMode::kCreateNewForAppend).status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_EQ(*f->Write("hello "), 6u);
  ASSERT_EQ(*f->Write("world"), 5u);
  EXPECT_TRUE(f->DataSync().ok());
  EXPECT_TRUE(f->Sync().ok());
  f.reset();

  auto r = OpenOrDie(fs, path, OpenMode::kReadWrite);
  EXPECT_EQ(r->Stat()->size, 11u);
  char buffer[16] = {};
  EXPECT_EQ(*r->ReadAt(6, sizeof buffer, buffer), 5u);
  EXPECT_EQ(std::string(buffer, 5), "world");
  EXPECT_EQ(*r->ReadAt(11, sizeof buffer, buffer), 0u);  // end of file
  auto mapped = r->Map(11);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(std::string((*mapped)->data(), (*mapped)->size()), "hello world");
  mapped->reset();
  EXPECT_TRUE(r->Truncate(5).ok());
  EXPECT_EQ(r->Stat()->size, 5u);
  EXPECT_EQ(*r->WriteAt("HE", 0), 2u);
  EXPECT_EQ(fs::file_size(path), 5u);

  auto directory = OpenOrDie(fs, dir_ + "/a/b", OpenMode::kDirectory);
  EXPECT_TRUE(directory->Sync().ok());
  EXPECT_TRUE(fs.RenameFile(path, dir_ + "/a/b/renamed").ok());
  absl::StatusOr<std::vector<std::string>> names = fs.ListDirectory(dir_ + "/a/b");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"renamed"});
  EXPECT_TRUE(fs.RemoveFile(dir_ + "/a/b/renamed").ok());
  EXPECT_EQ(fs.RemoveFile(dir_ + "/a/b/renamed").code(), absl::StatusCode::kNotFound);
}

TEST_F(FileSystemTest, ALockIsHeldByOneOpenFileAtATime) {
  FileSystem& fs = *FileSystem::Default();
  const std::string path = dir_ + "/LOCK";
  auto first = OpenOrDie(fs, path, OpenMode::kCreateOrOpen);
  auto second = OpenOrDie(fs, path, OpenMode::kCreateOrOpen);
  EXPECT_EQ(*first->TryLock(), true);
  EXPECT_EQ(*second->TryLock(), false);
  first.reset();  // releases it
  EXPECT_EQ(*second->TryLock(), true);
}

TEST_F(FileSystemTest, FaultsMatchOperationPathAndCount) {
  FaultInjectingFileSystem fs;
  fs.Inject(Fault(FaultOp::kOpen, EACCES).OnPath("/b").After(1).Times(2));
  auto a = OpenOrDie(fs, dir_ + "/a", OpenMode::kCreateOrTruncate);   // other path
  auto b1 = OpenOrDie(fs, dir_ + "/b", OpenMode::kCreateOrTruncate);  // `after` lets it pass
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<File>> b = fs.Open(dir_ + "/b", OpenMode::kReadOnly);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(b.status().message(), "Permission denied");
  }
  EXPECT_NE(OpenOrDie(fs, dir_ + "/b", OpenMode::kReadOnly), nullptr);  // `times` used up
  EXPECT_EQ(fs.injected(), 2u);
  EXPECT_EQ(fs.calls(FaultOp::kOpen), 5u);
  fs.Clear();
  EXPECT_NE(OpenOrDie(fs, dir_ + "/b", OpenMode::kReadOnly), nullptr);
}

TEST_F(FileSystemTest, ShortWriteWritesAPrefixAndFailingSyncFails) {
  FaultInjectingFileSystem fs;
  const std::string path = dir_ + "/f";
  auto f = OpenOrDie(fs, path, OpenMode::kCreateNewForAppend);
  fs.Inject(Fault::ShortWrite(3).Times(1));
  fs.Inject(Fault(FaultOp::kDataSync, EIO));
  EXPECT_EQ(*f->Write("abcdef"), 3u);
  EXPECT_EQ(*f->Write("def"), 3u);
  EXPECT_EQ(f->DataSync().code(), absl::StatusCode::kUnknown);  // EIO
  EXPECT_TRUE(f->Sync().ok());                                  // another operation
  f.reset();
  EXPECT_EQ(fs::file_size(path), 6u);
}

}  // namespace
}  // namespace fixstream::gateway
