// Starts the real fixstream-gateway binary on ephemeral ports and checks what
// an operator with grpcurl relies on: reflection lists and describes the
// services without a .proto file, health answers, lines sent over TCP come
// out of Subscribe, and SIGTERM ends the process with exit code 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_lines.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_socket.h"

namespace fixstream {
namespace {

namespace reflection = grpc::reflection::v1alpha;

std::shared_ptr<grpc::Channel> Connect(uint16_t port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
}

// One request/response exchange on the reflection stream, as grpcurl does.
reflection::ServerReflectionResponse Reflect(grpc::Channel& channel,
                                             const reflection::ServerReflectionRequest& request) {
  auto stub = reflection::ServerReflection::NewStub(
      std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  EXPECT_TRUE(stream->Write(request));
  stream->WritesDone();
  reflection::ServerReflectionResponse response;
  EXPECT_TRUE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
  return response;
}

TEST(ProcessTest, ReflectionListsAndDescribesTheServicesWithoutProtoFiles) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  auto channel = Connect(gateway.grpc_port());

  reflection::ServerReflectionRequest list;
  list.set_list_services("");
  reflection::ServerReflectionResponse listed = Reflect(*channel, list);
  std::set<std::string> services;
  for (const auto& s : listed.list_services_response().service()) services.insert(s.name());
  EXPECT_TRUE(services.contains("fixstream.v1.LocationService"));
  EXPECT_TRUE(services.contains("grpc.health.v1.Health"));

  // `grpcurl describe fixstream.v1.LocationService` fetches the file that
  // defines the symbol; the descriptor must carry the Subscribe method.
  reflection::ServerReflectionRequest describe;
  describe.set_file_containing_symbol("fixstream.v1.LocationService");
  reflection::ServerReflectionResponse described = Reflect(*channel, describe);
  ASSERT_GT(described.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(described.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.package(), "fixstream.v1");
  bool found = false;
  for (const auto& service : file.service()) {
    for (const auto& method : service.method()) {
      if (service.name() == "LocationService" && method.name() == "Subscribe") {
        found = method.server_streaming();
      }
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0) << gateway.output();
}

TEST(ProcessTest, HealthServesAndSigtermExitsZeroAfterDelivering) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  auto channel = Connect(gateway.grpc_port());
  auto health = grpc::health::v1::Health::NewStub(channel);
  {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // A subscriber, then a line over TCP, then SIGTERM: the subscriber gets the
  // record and a clean end of stream; the process exits 0.
  auto stub = v1::LocationService::NewStub(channel);
  grpc::ClientContext context;
  auto reader = stub->Subscribe(&context, v1::SubscribeRequest());
  // The stream is registered once its initial metadata arrived.
  reader->WaitForInitialMetadata();
  {
    testing::TestConnection conn(gateway.device_port());
    // A fix from a minute ago, written with a +01:00 offset (the real binary
    // enforces its default fix-time window, so the time must be recent).
    const int64_t fix_s = absl::ToUnixSeconds(absl::Now()) - 60;
    const std::string local = absl::FormatTime(
        "%Y-%m-%dT%H:%M:%S.5+01:00", absl::FromUnixSeconds(fix_s), absl::FixedTimeZone(3600));
    ASSERT_TRUE(conn.Send(absl::StrCat("car-9,", local, ",52.5,13.4,12.5,90\n")));
    v1::SubscribeResponse response;
    ASSERT_TRUE(reader->Read(&response));
    ASSERT_EQ(response.records_size(), 1);
    EXPECT_EQ(response.records(0).vehicle_id(), "car-9");
    EXPECT_EQ(response.records(0).fix_time().seconds(), fix_s);
    EXPECT_EQ(response.records(0).fix_time().nanos(), 500'000'000);
  }
  const int exit_code = gateway.StopWith(SIGTERM);
  v1::SubscribeResponse ignored;
  EXPECT_FALSE(reader->Read(&ignored));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(exit_code, 0) << gateway.output();
}

TEST(ProcessTest, DescriptorExhaustionNeitherKillsNorSpinsTheAcceptor) {
#ifdef FIXSTREAM_SANITIZE
  // The sanitizer runtimes need descriptors of their own (UBSan's vptr check
  // probes memory through a pipe): with none left they report false errors.
  // The normal build runs this test.
  GTEST_SKIP() << "descriptor exhaustion is not testable under ASan/UBSan";
#endif
  // (Without the ring's background prefault, whose page faults would
  // otherwise land in the CPU window measured below on a loaded machine.)
  GatewayProcess gateway({"--retention_prefault=false"}, /*max_open_files=*/64);
  ASSERT_NE(gateway.grpc_port(), 0) << gateway.output();
  auto channel = Connect(gateway.grpc_port());
  auto stub = v1::LocationService::NewStub(channel);
  grpc::ClientContext context;
  auto reader = stub->Subscribe(&context, v1::SubscribeRequest());
  reader->WaitForInitialMetadata();

  // More connections than the gateway has descriptors: accept() starts
  // failing with EMFILE while the rest wait in the listen backlog.
  std::vector<std::unique_ptr<testing::TestConnection>> flood;
  for (int i = 0; i < 100; ++i) {
    flood.push_back(std::make_unique<testing::TestConnection>(gateway.device_port()));
  }
  const double cpu_before = gateway.CpuSeconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the window measured, not a wait
  const double cpu_used = gateway.CpuSeconds() - cpu_before;
  gateway.Poll();
  // Backing off, not spinning: a spinning acceptor would burn the whole second.
  EXPECT_LT(cpu_used, 0.5) << gateway.output();
  EXPECT_NE(gateway.output().find("Too many open files"), std::string::npos) << gateway.output();
  // Logged once per interval, not once per failure.
  size_t logged = 0;
  for (size_t pos = 0;
       (pos = gateway.output().find("device accept failed", pos)) != std::string::npos; ++pos) {
    ++logged;
  }
  EXPECT_LE(logged, 2u);

  // The gateway is alive: health answers on the existing channel.
  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext health_context;
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status =
        health->Check(&health_context, grpc::health::v1::HealthCheckRequest(), &response);
    ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message() << "\n"
                             << gateway.output();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // Descriptors free up: the acceptor recovers and serves a new device.
  flood.clear();
  testing::TestConnection late(gateway.device_port());
  const int64_t fix_s = absl::ToUnixSeconds(absl::Now()) - 5;
  ASSERT_TRUE(late.Send(absl::StrCat("late-1,", fix_s * 1000, ",1.5,2.5\n")));
  v1::SubscribeResponse response;
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_EQ(response.records_size(), 1);
  EXPECT_EQ(response.records(0).vehicle_id(), "late-1");
  context.TryCancel();
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0) << gateway.output();
}

// Reads a health Watch stream on its own thread, keeping every status seen.
class HealthWatcher {
 public:
  HealthWatcher(std::shared_ptr<grpc::Channel> channel, std::string service)
      : stub_(grpc::health::v1::Health::NewStub(channel)) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(std::move(service));
    reader_ = stub_->Watch(&context_, request);
    thread_ = std::thread([this] {
      grpc::health::v1::HealthCheckResponse response;
      while (reader_->Read(&response)) {
        absl::MutexLock lock(&mu_);
        seen_.push_back(response.status());
      }
      reader_->Finish();
    });
  }
  ~HealthWatcher() {
    context_.TryCancel();
    thread_.join();
  }
  bool WaitFor(grpc::health::v1::HealthCheckResponse::ServingStatus status) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(seen_.begin(), seen_.end(), status) != seen_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), absl::Seconds(30));
  }

 private:
  std::unique_ptr<grpc::health::v1::Health::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>> reader_;
  absl::Mutex mu_;
  std::vector<grpc::health::v1::HealthCheckResponse::ServingStatus> seen_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST(ProcessTest, SigtermUnderLoadDrainsEverythingAndExitsZero) {
  GatewayProcess gateway({"--drain_grace_ms=3000"});
  ASSERT_NE(gateway.grpc_port(), 0) << gateway.output();
  auto channel = Connect(gateway.grpc_port());
  HealthWatcher health(channel, "fixstream.v1.LocationService");
  ASSERT_TRUE(health.WaitFor(grpc::health::v1::HealthCheckResponse::SERVING));
  auto stub = v1::LocationService::NewStub(channel);
  grpc::ClientContext context;
  auto reader = stub->Subscribe(&context, v1::SubscribeRequest());
  reader->WaitForInitialMetadata();

  // Four devices blast lines; the main thread signals while they are at it
  // and the gateway is behind.
  constexpr int kDevices = 4;
  const int64_t base_ms = (absl::ToUnixSeconds(absl::Now()) - 3600) * 1000;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::vector<std::thread> devices;
  for (int d = 0; d < kDevices; ++d) {
    devices.emplace_back([&, d] {
      testing::TestConnection conn(gateway.device_port());
      for (int64_t i = 0; !stop.load(); i += 100) {
        std::string lines;
        for (int64_t k = i; k < i + 100; ++k) {
          lines += absl::StrCat("drain-", d, ",", base_ms + k, ",1.5,2.5\n");
        }
        if (!conn.Send(lines)) return;
        sent.fetch_add(100);
      }
      // The device finishes what it sent and hangs up within the grace.
    });
  }
  while (sent.load() < 20'000) std::this_thread::yield();
  // Stop the devices, then signal: every line whose send() completed is
  // "sent before the signal" and must reach the subscriber.
  stop.store(true);
  for (auto& t : devices) t.join();
  const uint64_t expected = sent.load();
  ASSERT_EQ(::kill(gateway.pid(), SIGTERM), 0);

  // Health flips to NOT_SERVING first (so balancers stop sending), then the
  // listener closes and new device connections are refused.
  ASSERT_TRUE(health.WaitFor(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  bool refused = false;
  const auto refuse_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!refused && std::chrono::steady_clock::now() < refuse_deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(gateway.device_port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    refused = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
              errno == ECONNREFUSED;
    ::close(fd);
  }
  EXPECT_TRUE(refused);
  // Every line sent before the signal arrives, then a clean end of stream.
  uint64_t received = 0;
  uint64_t last_sequence = 0;
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    for (const auto& r : response.records()) {
      EXPECT_EQ(r.sequence(), ++last_sequence);
      ++received;
    }
  }
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(gateway.StopWith(0), 0) << gateway.output();
  EXPECT_EQ(received, expected) << gateway.output();
}

TEST(ProcessTest, SecondSignalExitsAtOnce) {
  // A device that keeps its connection open holds the drain in its grace
  // period; the second signal ends the process without waiting.
  GatewayProcess gateway({"--drain_grace_ms=60000"});
  ASSERT_NE(gateway.device_port(), 0) << gateway.output();
  testing::TestConnection lingering(gateway.device_port());
  ASSERT_TRUE(lingering.Send("v,1,2\n"));
  ASSERT_EQ(::kill(gateway.pid(), SIGTERM), 0);
  // Wait until the first signal is being handled.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (gateway.output().find("draining") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    gateway.Poll();
  }
  const auto start = std::chrono::steady_clock::now();
  const int status = gateway.StopWith(SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(status, 128 + SIGTERM) << gateway.output();
}

// A device that never stops sending cannot hold the SIGTERM drain: what it
// had sent when the drain began is read, then the connection closes, and
// the gateway exits within its grace and a little more (issue #13: it used
// to read until the sender stopped).
TEST(ProcessTest, ADeviceThatNeverStopsSendingCannotHoldTheDrain) {
  GatewayProcess gateway({"--drain_grace_ms=1000"});
  ASSERT_NE(gateway.device_port(), 0) << gateway.output();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::thread firehose([&] {
    testing::TestConnection device(gateway.device_port());
    std::string batch;
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    // JSON lines: the dearest to parse, so the sender outpaces the reader
    // and the socket never runs dry.
    for (int i = 0; i < 5000; ++i) batch += testing::JsonLine("firehose", now_ms - i, 10, 20, 1);
    while (!stop.load() && device.Send(batch)) sent.fetch_add(1);
  });
  while (sent.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto start = std::chrono::steady_clock::now();
  const int status = gateway.StopWith(SIGTERM);
  const auto took = std::chrono::steady_clock::now() - start;
  stop.store(true);
  firehose.join();
  EXPECT_EQ(status, 0) << gateway.output();
  // (The grace, then a read of at most one socket buffer: about 1.1 s here.)
  EXPECT_LT(took, std::chrono::seconds(4)) << gateway.output();
  EXPECT_NE(gateway.output().find("shutdown"), std::string::npos) << gateway.output();
}

TEST(ProcessTest, BadFlagsFailAtStartNamingTheSetting) {
  for (const std::string& bad :
       {std::string("--device_listen=nonsense"), std::string("--device_format=xml"),
        std::string("--retention_bytes=10"), std::string("--slow_subscriber_policy=drop"),
        std::string("--max_vehicles=0")}) {
    std::vector<std::string> argv_strings = {FIXSTREAM_GATEWAY_BINARY, bad};
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    std::string err;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) err.append(buf, static_cast<size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_NE(WEXITSTATUS(status), 0) << bad;
    const std::string flag = bad.substr(0, bad.find('='));
    EXPECT_NE(err.find(flag), std::string::npos) << bad << " -> " << err;
  }
}

// A newcomer's first line with a wrong fix time is not silently dropped: the
// first such line of a connection is logged at info with the reason and the
// window (rate-limited: the next connection's within 10 s only counts).
TEST(ProcessTest, FirstFixTimeRejectionOfAConnectionIsLoggedWithTheWindow) {
  GatewayProcess gateway;
  ASSERT_NE(gateway.grpc_port(), 0);
  // The README's old NMEA example: 23 March 1994, far older than the
  // window (and no multiple of 1024 weeks away from today's: 2013, 2033).
  const std::string old_rmc =
      "$PFSID,bus-7\r\n$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n";
  for (int connection = 0; connection < 2; ++connection) {
    testing::TestConnection conn(gateway.device_port());
    ASSERT_TRUE(conn.Send(old_rmc + old_rmc));
    conn.ShutdownWrite();
    EXPECT_TRUE(conn.WaitForPeerClose(10000));
  }
  const std::string kLogged = "line rejected as fix_too_old";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!absl::StrContains(gateway.output(), kLogged) &&
         std::chrono::steady_clock::now() < deadline) {
    gateway.Poll();
  }
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
  const std::string& output = gateway.output();
  const size_t at = output.find(kLogged);
  ASSERT_NE(at, std::string::npos) << output;
  EXPECT_EQ(output.find(kLogged, at + 1), std::string::npos) << "logged more than once:\n"
                                                             << output;
  const std::string line =
      output.substr(output.rfind('\n', at) + 1, output.find('\n', at) - output.rfind('\n', at) - 1);
  EXPECT_TRUE(absl::StrContains(line, " INFO device connection from 127.0.0.1: ")) << line;
  EXPECT_TRUE(absl::StrContains(line, "2592000 s before and 900 s after")) << line;
  EXPECT_TRUE(absl::StrContains(line, "--max_fix_age_s, --max_fix_lead_s")) << line;
}

// --listeners on the command line: each listener reports its port, and a
// forwarder's bad first line is logged with what it sent (rate-limited).
TEST(ProcessTest, CommandLineListenersReportTheirPortsAndLogABadFirstLine) {
  GatewayProcess gateway({"--listeners=127.0.0.1:0 format=csv; 127.0.0.1:0 ident=first_line"});
  ASSERT_EQ(gateway.device_ports().size(), 2u) << gateway.output();
  EXPECT_EQ(gateway.device_port(), gateway.device_ports()[0]);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  {
    testing::TestConnection forwarder(gateway.device_ports()[1]);
    ASSERT_TRUE(forwarder.Send("IMEI356938035643809\n" + testing::NmeaRmc(now_ms, 52.5, 13.4, 1)));
    forwarder.ShutdownWrite();
    EXPECT_TRUE(forwarder.WaitForPeerClose(10000));
  }
  {
    testing::TestConnection bad(gateway.device_ports()[1]);
    ASSERT_TRUE(bad.Send(testing::NmeaRmc(now_ms + 1000, 52.5, 13.4, 1)));
    EXPECT_TRUE(bad.WaitForPeerClose(10000)) << "closed by the gateway";
  }
  const std::string kLogged = "closed: bad_identification: on a first_line listener";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!absl::StrContains(gateway.output(), kLogged) &&
         std::chrono::steady_clock::now() < deadline) {
    gateway.Poll();
  }
  EXPECT_EQ(gateway.StopWith(SIGTERM), 0);
  EXPECT_TRUE(absl::StrContains(gateway.output(), kLogged + std::string(" the first line must be "
                                                                        "the device id")))
      << gateway.output();
  EXPECT_TRUE(absl::StrContains(gateway.output(), "got '$GPRMC,")) << gateway.output();
  EXPECT_TRUE(absl::StrContains(gateway.output(), " records_published=1")) << gateway.output();
}

}  // namespace
}  // namespace fixstream
