// A real nats-server for tests: `nats-server -js` on 127.0.0.1, an
// ephemeral port and a temporary store directory, started and stopped
// (SIGTERM, then waited for) by PID. Used by the JetStream store's tests and
// the fleet's gateway tests; they skip when nats-server is not installed.
#ifndef FIXSTREAM_TESTS_GATEWAY_FLEET_TEST_NATS_SERVER_H_
#define FIXSTREAM_TESTS_GATEWAY_FLEET_TEST_NATS_SERVER_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fixstream::testing {

// "" when nats-server is not installed.
inline std::string FindNatsServer() {
  for (const char* path :
       {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

inline bool CanConnect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// One nats-server -js process, stopped (SIGTERM, then waited for) by PID.
class NatsServer {
 public:
  NatsServer(std::string binary, std::string dir, int port)
      : binary_(std::move(binary)), dir_(std::move(dir)), port_(port) {}
  ~NatsServer() { Stop(); }
  bool Start() {
    const std::string port = absl::StrCat(port_);
    pid_ = fork();
    if (pid_ == 0) {
      // The server's log goes to its directory, not the test's output.
      const std::string log = dir_ + "/nats-server.log";
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      execl(binary_.c_str(), binary_.c_str(), "-js", "-a", "127.0.0.1", "-p", port.c_str(), "-sd",
            dir_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (CanConnect(port_)) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

 private:
  std::string binary_;
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_GATEWAY_FLEET_TEST_NATS_SERVER_H_
