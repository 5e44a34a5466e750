// The real fixstream-gateway binary as a child process, for tests that
// need a process (signals, SIGKILL, descriptor limits, flags, environment).
// The including target defines FIXSTREAM_GATEWAY_BINARY.
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
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/test_temp_dir.h"

extern char** environ;

namespace fixstream {

// A child process with its stdout and stderr on one pipe, read into
// output(). Killed (SIGKILL) and reaped on destruction if still running.
class ChildProcess {
 public:
  // `argv` starts with the program's path. `env`: the environment
  // ("NAME=VALUE"), or null for this process's. `work_dir`: where it runs
  // (empty: here).
  ChildProcess(std::vector<std::string> argv, const std::vector<std::string>* env = nullptr,
               const std::string& work_dir = "") {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!work_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, work_dir.c_str());
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings = env != nullptr ? *env : std::vector<std::string>();
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, args[0], &actions, nullptr, args.data(),
                          env != nullptr ? envp.data() : environ),
              0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until `pattern` matches it; false at EOF or after 30 s.
  bool WaitForOutput(const std::regex& pattern, std::smatch* match) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::regex_search(output_, *match, pattern)) {
      if (!ReadSome(deadline)) return false;
    }
    return true;
  }

  // Sends `signal` (unless 0), reads the rest of the output and returns the
  // exit code (128 + signal if killed, -1 on timeout).
  int Wait(int signal = 0) {
    if (signal != 0) ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (ReadSome(deadline)) {
    }
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // Reads whatever the process wrote meanwhile.
  void Poll() {
    while (ReadSome(std::chrono::steady_clock::now() + std::chrono::milliseconds(50))) {
    }
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

  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  // Appends available output to output_; false at EOF or deadline.
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
};

// The gateway on ephemeral loopback ports (the metrics port too, so tests
// can run in parallel), read until it reports its ports. Unless
// `extra_args` name a --journal_dir, it journals into its own temporary
// directory (the default, relative one would be shared by tests running in
// parallel).
class GatewayProcess {
 public:
  // With `max_open_files` > 0 the gateway runs under that RLIMIT_NOFILE
  // (util-linux prlimit sets it and execs the gateway in the same process).
  explicit GatewayProcess(std::vector<std::string> extra_args = {}, int max_open_files = 0)
      : own_journal_(OwnJournal(extra_args)), child_(Argv(std::move(extra_args), max_open_files)) {
    static const std::regex kListening("device_port=(\\d+) .*grpc_port=(\\d+)");
    std::smatch m;
    if (!child_.WaitForOutput(kListening, &m)) {
      ADD_FAILURE() << "gateway did not report its ports; output:\n" << child_.output();
      return;
    }
    device_port_ = static_cast<uint16_t>(std::stoi(m[1]));
    grpc_port_ = static_cast<uint16_t>(std::stoi(m[2]));
    static const std::regex kAckPort("device_ack_port=(\\d+)");
    if (std::regex_search(child_.output(), m, kAckPort)) {
      device_ack_port_ = static_cast<uint16_t>(std::stoi(m[1]));
    }
    static const std::regex kPorts("device_ports=([0-9,]+)");
    if (std::regex_search(child_.output(), m, kPorts)) {
      for (absl::string_view port : absl::StrSplit(std::string(m[1]), ',')) {
        device_ports_.push_back(static_cast<uint16_t>(std::stoi(std::string(port))));
      }
    }
  }

  // Sends `signal` (none if 0) and returns the exit status (or -1 on
  // timeout).
  int StopWith(int signal) { return child_.Wait(signal); }
  double CpuSeconds() const { return child_.CpuSeconds(); }
  // Reads whatever the gateway logged meanwhile.
  void Poll() { child_.Poll(); }

  pid_t pid() const { return child_.pid(); }
  uint16_t device_port() const { return device_port_; }
  uint16_t device_ack_port() const { return device_ack_port_; }
  // Every device listener's port, in the order of the configuration.
  const std::vector<uint16_t>& device_ports() const { return device_ports_; }
  uint16_t grpc_port() const { return grpc_port_; }
  const std::string& output() const { return child_.output(); }

 private:
  static std::unique_ptr<testing::TempDir> OwnJournal(const std::vector<std::string>& args) {
    if (std::any_of(args.begin(), args.end(),
                    [](const std::string& a) { return absl::StartsWith(a, "--journal_dir"); })) {
      return nullptr;
    }
    return std::make_unique<testing::TempDir>("process-journal");
  }
  std::vector<std::string> Argv(std::vector<std::string> extra_args, int max_open_files) const {
    std::vector<std::string> argv;
    if (max_open_files > 0) {
      argv = {"/usr/bin/prlimit", absl::StrCat("--nofile=", max_open_files, ":", max_open_files),
              "--"};
    }
    // A listener list replaces --device_listen (which must then stay unset).
    const bool listeners =
        std::any_of(extra_args.begin(), extra_args.end(),
                    [](const std::string& arg) { return absl::StartsWith(arg, "--listeners"); });
    for (const char* a : {FIXSTREAM_GATEWAY_BINARY, "--device_listen=127.0.0.1:0",
                          "--grpc_listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"}) {
      if (listeners && absl::StartsWith(a, "--device_listen")) continue;
      argv.push_back(a);
    }
    if (own_journal_ != nullptr) argv.push_back("--journal_dir=" + own_journal_->path());
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return argv;
  }

  // Before child_: the directory outlives the process.
  const std::unique_ptr<testing::TempDir> own_journal_;
  ChildProcess child_;
  uint16_t device_port_ = 0;
  uint16_t device_ack_port_ = 0;
  std::vector<uint16_t> device_ports_;
  uint16_t grpc_port_ = 0;
};

}  // namespace fixstream

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_PROCESS_H_
