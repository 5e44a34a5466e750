// Blocking loopback TCP client for tests (plain POSIX sockets).
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_SOCKET_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_SOCKET_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace fixstream::testing {

class TestConnection final {
 public:
  // Connects to 127.0.0.1:port from `source` (an address in 127.0.0.0/8);
  // fails the current test on error unless `expect_failure`.
  explicit TestConnection(uint16_t port, const char* source = nullptr);
  ~TestConnection();
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Sends all bytes; returns false if the peer closed.
  bool Send(std::string_view bytes);
  // Half-closes the sending side (the gateway sees EOF).
  void ShutdownWrite();
  // Appends what the peer sends within `timeout_ms` (or until it closes) to
  // `out`; returns false once the peer closed or reset.
  bool ReceiveFor(int timeout_ms, std::string* out);
  // Receives into `out` until it ends with `suffix`, the peer closes, or
  // `timeout_ms` pass; true if it ends with `suffix`.
  bool ReceiveUntil(std::string_view suffix, int timeout_ms, std::string* out);
  // Waits up to `timeout_ms` for the peer to close or reset; true if it did.
  bool WaitForPeerClose(int timeout_ms);
  void Close();
  // Closes with an RST instead of a FIN (SO_LINGER 0), as a crashing device
  // or a middlebox would.
  void Reset();
  // The local port, to find this connection in /proc/net/tcp.
  uint16_t local_port() const;

 private:
  int fd_ = -1;
};

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_SOCKET_H_
