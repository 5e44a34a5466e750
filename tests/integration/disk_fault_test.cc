// A gateway whose journal disk fails (issue #13): the journal stalls, health
// says NOT_SERVING, device connections stop being read (TCP backpressure),
// subscribers keep being served; once the disk takes writes again the
// gateway resumes by itself, and every line sent is published exactly once,
// acknowledged, delivered in order with dense sequences, and kept across a
// restart. Faults are injected under the journal's FileSystem seam (ENOSPC,
// EIO on write, EIO on fsync that loses the unsynced pages), and once for
// real: a journal on a small tmpfs that fills up.
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "fault_injecting_file_system.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_gateway.h"
#include "tests/integration/test_health.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

using gateway::Fault;
using gateway::FaultInjectingFileSystem;
using gateway::FaultOp;
using grpc::health::v1::HealthCheckResponse;

std::vector<uint64_t> ParseAcks(const std::string& received) {
  std::vector<uint64_t> acks;
  for (absl::string_view line : absl::StrSplit(received, '\n', absl::SkipEmpty())) {
    uint64_t n = 0;
    EXPECT_TRUE(absl::ConsumePrefix(&line, "ACK ") && absl::SimpleAtoi(line, &n)) << line;
    acks.push_back(n);
  }
  return acks;
}

std::string CsvLines(int first, int count) {
  std::string lines;
  for (int i = first; i < first + count; ++i) {
    lines += testing::CsvLine("disk", kStartMs + i * 1000LL, 1, 2, 0);
  }
  return lines;
}

class DiskFaultTest : public GatewayTest {
 protected:
  void SetUp() override {}
  void TearDown() override { gateway_.reset(); }

  GatewayOptions Options(gateway::FileSystem* file_system) {
    GatewayOptions options;
    options.journal.directory = dir_;
    options.journal.durability = gateway::DurabilityPolicy::kGroupCommit;
    options.journal.group_commit_interval = absl::Milliseconds(5);
    options.journal.retry_backoff = absl::Milliseconds(10);
    options.journal.retry_backoff_max = absl::Milliseconds(100);
    options.journal.file_system = file_system;
    options.device.ack_listen = "127.0.0.1:0";
    return options;
  }

  HealthCheckResponse::ServingStatus Health() {
    return testing::GatewayHealth(gateway_->grpc_port());
  }
  uint64_t Published() { return gateway_->ingest_counters().records_published.load(); }
  uint64_t BytesRead() { return gateway_->ingest_counters().bytes_read.load(); }
  int64_t Paused() { return gateway_->ingest_counters().connections_paused.load(); }

  // While the journal cannot write: health is NOT_SERVING, the connection
  // that sent is paused, and the gateway reads nothing more of what the
  // device keeps sending (its bytes wait in the kernel: backpressure).
  void ExpectPausedWhileTheDiskFails(TestConnection& conn, int first, int count) {
    ASSERT_TRUE(WaitFor([&] { return gateway_->journal()->stalled(); }));
    ASSERT_TRUE(WaitFor([&] { return Health() == HealthCheckResponse::NOT_SERVING; }));
    // More lines: the journal refuses them, the connection pauses.
    ASSERT_TRUE(conn.Send(CsvLines(first, 10)));
    ASSERT_TRUE(WaitFor([&] { return Paused() == 1; }));
    EXPECT_GE(gateway_->ingest_counters().connection_pauses.load(), 1u);
    const uint64_t read = BytesRead();
    const uint64_t published = Published();
    ASSERT_TRUE(conn.Send(CsvLines(first + 10, count - 10)));
    absl::SleepFor(absl::Milliseconds(300));  // a window in which nothing may be read
    EXPECT_EQ(BytesRead(), read) << "a paused connection was read";
    EXPECT_EQ(Published(), published) << "records were published while the journal failed";
    EXPECT_EQ(Paused(), 1);
    // Paused by the gateway, not idle: the timeouts leave it alone.
    EXPECT_EQ(gateway_->ingest_counters().connections_active.load(), 1);
  }

  // After the disk recovered: health SERVING, nothing paused, every line
  // published once and acknowledged, a subscriber from the start sees
  // sequences 1..total in order; after a restart they are all still there
  // and numbering continues after them.
  void ExpectEverythingOnceAfterRecovery(TestConnection& conn, int total) {
    ASSERT_TRUE(WaitFor([&] { return Published() == static_cast<uint64_t>(total); }))
        << Published() << " of " << total;
    EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
    EXPECT_EQ(Paused(), 0);
    EXPECT_EQ(gateway_->ingest_counters().records_refused_unavailable.load(), 0u);
    std::string received;
    ASSERT_TRUE(conn.ReceiveUntil(absl::StrCat("ACK ", total, "\n"), 30'000, &received))
        << received;
    const std::vector<uint64_t> acks = ParseAcks(received);
    EXPECT_TRUE(std::is_sorted(acks.begin(), acks.end())) << received;
    ExpectSequencesOneTo(total);
    const GatewayOptions options = options_;
    gateway_->Shutdown();
    gateway_.reset();
    GatewayOptions posix = options;
    posix.journal.file_system = nullptr;
    StartGateway(posix);
    EXPECT_EQ(gateway_->hub().head(), static_cast<uint64_t>(total) + 1);
    ExpectSequencesOneTo(total);
  }

  void ExpectSequencesOneTo(int total) {
    v1::SubscribeRequest request;
    request.set_start_sequence(1);
    auto s = Subscribe(request);
    ASSERT_TRUE(s->WaitForCount(total));
    const std::vector<v1::LocationRecord> records = s->records();
    ASSERT_EQ(records.size(), static_cast<size_t>(total));
    for (int i = 0; i < total; ++i) {
      ASSERT_EQ(records[i].sequence(), static_cast<uint64_t>(i) + 1);
      ASSERT_EQ(records[i].fix_time().seconds(), kStartMs / 1000 + i) << "sequence " << i + 1;
    }
    EXPECT_TRUE(s->gaps().empty());
  }

  void Run(Fault fault) {
    options_ = Options(&fs_);
    StartGateway(options_);
    TestConnection conn(gateway_->device_ack_port());
    ASSERT_TRUE(conn.Send(CsvLines(0, 100)));
    ASSERT_TRUE(WaitFor([&] { return Published() == 100; }));
    auto live = Subscribe();  // stays connected through the fault
    fs_.Inject(fault);
    ASSERT_TRUE(conn.Send(CsvLines(100, 100)));  // the first write to fail
    ExpectPausedWhileTheDiskFails(conn, 200, 2000);
    EXPECT_LE(live->count(), Published());  // served what is stored
    fs_.Clear();
    ExpectEverythingOnceAfterRecovery(conn, 2200);
  }

  testing::TempDir journal_dir_{"fixstream-disk-fault"};
  const std::string dir_ = journal_dir_.path();
  FaultInjectingFileSystem fs_;  // outlives the gateway
  GatewayOptions options_;
};

TEST_F(DiskFaultTest, DiskFullPausesDevicesAndEverythingIsPublishedOnceAfterwards) {
  Run(Fault(FaultOp::kWrite, ENOSPC).OnPath(".fsj"));
}

TEST_F(DiskFaultTest, WriteIoErrorPausesDevicesAndEverythingIsPublishedOnceAfterwards) {
  Run(Fault(FaultOp::kWrite, EIO).OnPath(".fsj"));
}

TEST_F(DiskFaultTest, FsyncFailureThatLosesPagesIsRepairedAndNothingIsLost) {
  Run(Fault(FaultOp::kDataSync, EIO).OnPath(".fsj").LosingUnsyncedData());
}

// The real thing: the journal on a 4 MiB tmpfs, filled up by a ballast file
// so that the journal hits ENOSPC from the kernel; deleting the ballast
// frees the space, as an operator would.
TEST_F(DiskFaultTest, ARealFullTmpfsPausesDevicesUntilSpaceIsFreed) {
  testing::TempDir mount_point{"fixstream-tmpfs"};
  if (::mount("tmpfs", mount_point.path().c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs on " << mount_point.path() << " (" << std::strerror(errno)
                 << "): this test needs root or CAP_SYS_ADMIN";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point.path()};
  const std::string ballast = mount_point.path() + "/ballast";
  {
    // Everything but ~64 KiB.
    std::ofstream out(ballast, std::ios::binary);
    const std::string chunk(64 << 10, 'b');
    while (out.write(chunk.data(), chunk.size())) {
    }
  }
  std::filesystem::resize_file(ballast, std::filesystem::file_size(ballast) - (64 << 10));
  GatewayOptions options = Options(nullptr);
  options.journal.directory = mount_point.path() + "/journal";
  options.journal.segment_bytes = 256 << 10;
  options.journal.retention_bytes = 64 << 20;
  options_ = options;
  StartGateway(options_);
  TestConnection conn(gateway_->device_ack_port());
  // ~60 bytes per line: 40,000 lines are far more than 64 KiB.
  const int total = 40'000;
  std::thread sender([&] { ASSERT_TRUE(conn.Send(CsvLines(0, total))); });
  ASSERT_TRUE(WaitFor([&] { return gateway_->journal()->stalled(); }));
  ASSERT_TRUE(WaitFor([&] { return Health() == HealthCheckResponse::NOT_SERVING; }));
  ASSERT_TRUE(WaitFor([&] { return Paused() == 1; }));
  EXPECT_NE(gateway_->journal()->status().code(), absl::StatusCode::kOk);
  EXPECT_LT(Published(), static_cast<uint64_t>(total));
  std::filesystem::remove(ballast);
  sender.join();
  ExpectEverythingOnceAfterRecovery(conn, total);
}

}  // namespace
}  // namespace fixstream
