// A fresh directory under the test temp dir, removed with its contents.
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_TEMP_DIR_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace fixstream::testing {

class TempDir final {
 public:
  explicit TempDir(const std::string& prefix = "fixstream") {
    std::string pattern = ::testing::TempDir() + prefix + "-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr) << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_TEMP_DIR_H_
