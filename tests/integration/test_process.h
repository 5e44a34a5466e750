// The real fixstream-gateway binary as a child process, for tests that
// need a process (signals, SIGKILL, descriptor limits). The including target
// defines FIXSTREAM_GATEWAY_BINARY.
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_PROCESS_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/test_temp_dir.h"

extern char** environ;

namespace fixstream {

// A gateway child process whose stderr is read until it reports its ports.
// Unless `extra_args` name a --journal_dir, it journals into its own
// temporary directory (the default, relative one would be shared by tests
// running in parallel).
class GatewayProcess {
 public:
  // With `max_open_files` > 0 the gateway runs under that RLIMIT_NOFILE
  // (util-linux prlimit sets it and execs the gateway in the same process).
  explicit GatewayProcess(std::vector<std::string> extra_args = {}, int max_open_files = 0) {
    if (std::none_of(extra_args.begin(), extra_args.end(),
                     [](const std::string& a) { return absl::StartsWith(a, "--journal_dir"); })) {
      own_journal_ = std::make_unique<testing::TempDir>("process-journal");
      extra_args.push_back("--journal_dir=" + own_journal_->path());
    }
    int pipe_fds[2];
    EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    // Every port ephemeral, the metrics port too, so tests can run in parallel.
    std::vector<std::string> args;
    if (max_open_files > 0) {
      args = {"/usr/bin/prlimit", absl::StrCat("--nofile=", max_open_files, ":", max_open_files),
              "--"};
    }
    for (const char* a : {FIXSTREAM_GATEWAY_BINARY, "--device_listen=127.0.0.1:0",
                          "--grpc_listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"}) {
      args.push_back(a);
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    stderr_fd_ = pipe_fds[0];
    static const std::regex kListening("device_port=(\\d+) .*grpc_port=(\\d+)");
    std::smatch m;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::regex_search(output_, m, kListening)) {
      if (!ReadSome(deadline)) {
        ADD_FAILURE() << "gateway did not report its ports; stderr:\n" << output_;
        return;
      }
    }
    device_port_ = static_cast<uint16_t>(std::stoi(m[1]));
    grpc_port_ = static_cast<uint16_t>(std::stoi(m[2]));
    static const std::regex kAckPort("device_ack_port=(\\d+)");
    if (std::regex_search(output_, m, kAckPort)) {
      device_ack_port_ = static_cast<uint16_t>(std::stoi(m[1]));
    }
  }

  ~GatewayProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stderr_fd_ >= 0) ::close(stderr_fd_);
  }

  // Sends `signal` (none if 0) and returns the exit status (or -1 on
  // timeout).
  int StopWith(int signal) {
    if (signal != 0) ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (ReadSome(deadline)) {
    }
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // CPU seconds (user + system) the process has used so far.
  double CpuSeconds() const {
    std::ifstream stat(absl::StrCat("/proc/", pid_, "/stat"));
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the ")" that ends the command name; utime and stime are
    // the 12th and 13th of those.
    std::istringstream rest(content.substr(content.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 1; i <= 13 && rest >> field; ++i) {
      if (i >= 12) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  // Reads whatever the gateway logged meanwhile.
  void Poll() {
    while (ReadSome(std::chrono::steady_clock::now() + std::chrono::milliseconds(50))) {
    }
  }

  pid_t pid() const { return pid_; }
  uint16_t device_port() const { return device_port_; }
  uint16_t device_ack_port() const { return device_ack_port_; }
  uint16_t grpc_port() const { return grpc_port_; }
  const std::string& output() const { return output_; }

 private:
  // Appends available stderr to output_; false at EOF or deadline.
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{stderr_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(stderr_fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  std::unique_ptr<testing::TempDir> own_journal_;
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string output_;
  uint16_t device_port_ = 0;
  uint16_t device_ack_port_ = 0;
  uint16_t grpc_port_ = 0;
};

}  // namespace fixstream

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_PROCESS_H_
