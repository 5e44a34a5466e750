// Shared pieces of the in-process integration tests: a gateway on ephemeral
// loopback ports, a subscriber on its own thread, and waiting helpers.
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_GATEWAY_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_GATEWAY_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "gateway/server/gateway.h"
#include "gtest/gtest.h"
#include "tests/integration/test_lines.h"
#include "tests/integration/test_socket.h"

namespace fixstream {

using gateway::Gateway;
using gateway::GatewayOptions;
using ingest::LineOutcome;
using testing::TestConnection;

constexpr int64_t kStartMs = 1'764'000'000'000;  // 2025-11-24T16:00:00Z

// Polls `condition` until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A subscriber on its own thread, collecting everything it receives.
class Subscriber {
 public:
  Subscriber(uint16_t grpc_port, v1::SubscribeRequest request)
      : Subscriber(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                       grpc::InsecureChannelCredentials()),
                   std::move(request)) {}
  // Over `channel` (TLS, say), sending `token` as a bearer token if not
  // empty.
  Subscriber(std::shared_ptr<grpc::Channel> channel, v1::SubscribeRequest request,
             const std::string& token = "") {
    channel_ = std::move(channel);
    if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
    stub_ = v1::LocationService::NewStub(channel_);
    thread_ = std::thread([this, request] {
      auto reader = stub_->Subscribe(&context_, request);
      v1::SubscribeResponse response;
      while (reader->Read(&response)) {
        absl::MutexLock lock(&mu_);
        ++responses_;
        if (response.has_gap()) {
          gaps_.push_back(response.gap());
          EXPECT_EQ(response.records_size(), 0);
          continue;
        }
        EXPECT_GT(response.records_size(), 0);
        EXPECT_EQ(response.first_sequence(), response.records(0).sequence());
        EXPECT_EQ(response.last_sequence(),
                  response.records(response.records_size() - 1).sequence());
        for (auto& r : *response.mutable_records()) records_.push_back(std::move(r));
      }
      grpc::Status status = reader->Finish();
      absl::MutexLock lock(&mu_);
      status_ = status;
      done_ = true;
    });
  }
  ~Subscriber() {
    Cancel();
    thread_.join();
  }

  void Cancel() { context_.TryCancel(); }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }
  bool WaitForCount(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return records_.size() >= n || done_; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(60));
    return records_.size() >= n;
  }
  bool WaitForEnd() {
    absl::MutexLock lock(&mu_);
    auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; };
    return mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(60));
  }
  std::vector<v1::LocationRecord> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  size_t responses() {
    absl::MutexLock lock(&mu_);
    return responses_;
  }
  std::vector<v1::Gap> gaps() {
    absl::MutexLock lock(&mu_);
    return gaps_;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::LocationService::Stub> stub_;
  grpc::ClientContext context_;
  absl::Mutex mu_;
  std::vector<v1::LocationRecord> records_ ABSL_GUARDED_BY(mu_);
  size_t responses_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::Gap> gaps_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { StartGateway(GatewayOptions()); }

  // Sends CSV records of vehicle "j", fix times kStartMs + i seconds for i in
  // [first_index, first_index + count), on one connection and waits until
  // the hub published them all (`already` were published before).
  void SendAndWait(uint64_t already, int count, int first_index) {
    TestConnection conn(gateway_->device_port());
    std::string lines;
    for (int i = first_index; i < first_index + count; ++i) {
      lines += testing::CsvLine("j", kStartMs + i * 1000LL, 1, 2, 0);
    }
    ASSERT_TRUE(conn.Send(lines));
    ASSERT_TRUE(WaitFor(
        [&] { return gateway_->ingest_counters().records_published.load() == already + count; }));
  }

  // Starts a gateway, publishes `count` records (SendAndWait), shuts it down
  // and starts a new one with the same options: with a journal, a restart.
  void RestartAfterPublishing(const GatewayOptions& options, int count) {
    StartGateway(options);
    SendAndWait(0, count, 0);
    gateway_->Shutdown();
    gateway_.reset();
    StartGateway(options);
  }

  void StartGateway(GatewayOptions options) {
    options.device.listen = "127.0.0.1:0";
    options.grpc_listen = "127.0.0.1:0";
    options.device.io_threads = 2;
    options.subscriber_drain_timeout = absl::Seconds(10);
    gateway_ = std::make_unique<Gateway>(options);
    ASSERT_TRUE(gateway_->Start().ok());
  }

  // Subscribes and waits until the gateway has registered the stream, so
  // that records published afterwards are guaranteed to reach it.
  std::unique_ptr<Subscriber> Subscribe(v1::SubscribeRequest request = {}) {
    const uint64_t before = gateway_->subscription_counters().started.load();
    auto s = std::make_unique<Subscriber>(gateway_->grpc_port(), std::move(request));
    EXPECT_TRUE(WaitFor([&] { return gateway_->subscription_counters().started.load() > before; }));
    return s;
  }

  uint64_t Lines(LineOutcome outcome) { return gateway_->ingest_counters().line_count(outcome); }

  std::unique_ptr<Gateway> gateway_;
};

// Sends `payload` in random-sized pieces so lines split at every kind of
// boundary (inside numbers, between \r and \n, ...).
inline void SendInRandomPieces(TestConnection& conn, const std::string& payload,
                               std::mt19937& rng) {
  std::uniform_int_distribution<size_t> piece(1, 300);
  for (size_t pos = 0; pos < payload.size();) {
    const size_t n = std::min(piece(rng), payload.size() - pos);
    ASSERT_TRUE(conn.Send(std::string_view(payload).substr(pos, n)));
    pos += n;
  }
}

}  // namespace fixstream

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_GATEWAY_H_
