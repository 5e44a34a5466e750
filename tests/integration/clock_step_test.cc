// The wall clock steps (NTP, an operator, a VM resumed) while devices send:
// the real binary runs under an LD_PRELOAD shim (clock_shim.c) whose
// CLOCK_REALTIME the test moves by ±600 s. Timeouts and deadlines follow the
// monotonic clock, so nothing notices: no connection is closed as idle, the
// group commit keeps its 10 ms (acknowledgements keep coming), the idle
// timeout still closes a silent device on time, and the drain is as short
// as ever. Before (issue #13) a +600 s step closed every connection as
// idle_timeout.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/test_lines.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_socket.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

using testing::TestConnection;

int64_t RealUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How many lines `ACK <n>` has acknowledged so far (the newest count).
uint64_t Acked(const std::string& received) {
  uint64_t acked = 0;
  size_t at = 0;
  while ((at = received.find("ACK ", at)) != std::string::npos) {
    const size_t end = received.find('\n', at);
    if (end == std::string::npos) break;
    uint64_t n = 0;
    if (absl::SimpleAtoi(received.substr(at + 4, end - at - 4), &n)) acked = n;
    at = end;
  }
  return acked;
}

class ClockStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    offset_file_ = dir_.path() + "/offset";
    SetOffset(0);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0 && std::strncmp(*e, "ASAN_OPTIONS=", 13) != 0) {
        env.emplace_back(*e);
      }
    }
    env.push_back(std::string("LD_PRELOAD=") + FIXSTREAM_CLOCK_SHIM);
    env.push_back("FIXSTREAM_CLOCK_SHIM_FILE=" + offset_file_);
    // (Under AddressSanitizer the shim comes before its runtime; allowed.)
    const char* asan = std::getenv("ASAN_OPTIONS");
    env.push_back(absl::StrCat("ASAN_OPTIONS=", asan != nullptr ? asan : "",
                               asan != nullptr && *asan != '\0' ? ":" : "",
                               "verify_asan_link_order=0"));
    gateway_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{FIXSTREAM_GATEWAY_BINARY, "--device_listen=127.0.0.1:0",
                                 "--device_ack_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
                                 "--metrics_listen=127.0.0.1:0", "--idle_timeout_ms=2000",
                                 "--journal_durability=group", "--drain_grace_ms=1000",
                                 "--journal_dir=" + dir_.path() + "/journal"},
        &env);
    static const std::regex kAckPort("device_ack_port=(\\d+)");
    std::smatch m;
    ASSERT_TRUE(gateway_->WaitForOutput(kAckPort, &m)) << gateway_->output();
    ack_port_ = static_cast<uint16_t>(std::stoi(m[1]));
  }

  void SetOffset(int64_t seconds) {
    std::ofstream(offset_file_, std::ios::trunc) << seconds << "\n";
    // The shim reads the file at most every 20 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }

  // Every device sends one line every 400 ms for `duration`; each line must
  // be acknowledged (durable: the group commit ran) within 1.5 s, and no
  // connection may close.
  void SendAndExpectAcks(std::vector<std::unique_ptr<TestConnection>>& devices,
                         std::vector<std::string>& received, std::vector<uint64_t>& sent,
                         std::chrono::milliseconds duration, const std::string& phase) {
    const auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      for (size_t d = 0; d < devices.size(); ++d) {
        ASSERT_TRUE(devices[d]->Send(
            testing::CsvLine(absl::StrCat("clock-", d), RealUnixMillis(), 10 + d, 20, 1)))
            << phase << ": device " << d << " was closed\n"
            << Output();
        ++sent[d];
      }
      const auto ack_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
      for (size_t d = 0; d < devices.size(); ++d) {
        while (Acked(received[d]) < sent[d] && std::chrono::steady_clock::now() < ack_deadline) {
          ASSERT_TRUE(devices[d]->ReceiveFor(50, &received[d]))
              << phase << ": device " << d << " was closed\n"
              << Output();
        }
        ASSERT_EQ(Acked(received[d]), sent[d])
            << phase << ": device " << d << " got no acknowledgement within 1.5 s\n"
            << Output();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
  }

  std::string Output() {
    gateway_->Poll();
    return gateway_->output();
  }

  testing::TempDir dir_{"clock-step"};
  std::string offset_file_;
  std::unique_ptr<ChildProcess> gateway_;
  uint16_t ack_port_ = 0;
};

TEST_F(ClockStepTest, StepsOfTheWallClockChangeNoTimeoutOrDeadline) {
  std::vector<std::unique_ptr<TestConnection>> devices;
  for (int d = 0; d < 3; ++d) devices.push_back(std::make_unique<TestConnection>(ack_port_));
  std::vector<std::string> received(devices.size());
  std::vector<uint64_t> sent(devices.size(), 0);

  SendAndExpectAcks(devices, received, sent, std::chrono::milliseconds(1000), "before the steps");
  SetOffset(+600);
  SendAndExpectAcks(devices, received, sent, std::chrono::milliseconds(2500), "600 s ahead");
  SetOffset(-600);
  SendAndExpectAcks(devices, received, sent, std::chrono::milliseconds(2500), "600 s behind");

  // The idle timeout still works, on the monotonic clock: a device that
  // stops sending is closed about 2 s later, not at once and not never.
  const auto silent = std::chrono::steady_clock::now();
  EXPECT_TRUE(devices[0]->WaitForPeerClose(6000)) << Output();
  const auto idle = std::chrono::steady_clock::now() - silent;
  EXPECT_GE(idle, std::chrono::milliseconds(1500));
  EXPECT_NE(Output().find("idle_timeout"), std::string::npos);

  // And the drain keeps its grace (1 s) however far the wall clock moved.
  SetOffset(+600);
  const auto stop = std::chrono::steady_clock::now();
  EXPECT_EQ(gateway_->Wait(SIGTERM), 0) << gateway_->output();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, std::chrono::seconds(10))
      << gateway_->output();
}

}  // namespace
}  // namespace fixstream
