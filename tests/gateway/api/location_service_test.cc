// The Subscribe wake-up contract: a store wakes streams on the publishing
// thread, and the streams' reads — catch-up from the journal included — run
// on the service's executor, never on that thread and never in its way.
#include "gateway/api/location_service.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "../store/test_batches.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gateway/store/embedded_store.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

using testing::MakeBatch;

using ingest::LocationRecord;

constexpr absl::Duration kDeadline = absl::Seconds(10);

// One Subscribe stream read on its own thread.
class Stream {
 public:
  Stream(std::shared_ptr<grpc::Channel> channel, const v1::SubscribeRequest& request)
      : stub_(v1::LocationService::NewStub(std::move(channel))) {
    reader_ = stub_->Subscribe(&context_, request);
    reader_->WaitForInitialMetadata();  // registered with the store
    thread_ = std::thread([this] {
      v1::SubscribeResponse response;
      while (reader_->Read(&response)) {
        absl::MutexLock lock(&mu_);
        records_ += response.records_size();
      }
      reader_->Finish().IgnoreError();
    });
  }
  ~Stream() {
    context_.TryCancel();
    thread_.join();
  }
  bool WaitForRecords(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return records_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kDeadline);
  }

 private:
  std::unique_ptr<v1::LocationService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  absl::Mutex mu_;
  int records_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

class LocationServiceTest : public ::testing::Test {
 protected:
  LocationServiceTest() {
    std::string pattern = ::testing::TempDir() + "location_service_test-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  ~LocationServiceTest() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (server_ != nullptr) server_->Shutdown();
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A store whose ring holds 16 records over a journal holding `history`.
  void StartStore(int history) {
    HubOptions hub;
    hub.max_records = 16;
    hub.max_bytes = 1 << 20;
    hub.prefault_ring = false;
    store_ = std::make_unique<EmbeddedStore>(hub);
    JournalOptions journal;
    journal.directory = dir_;
    ASSERT_TRUE(store_->OpenJournal(journal).ok());
    for (int i = 0; i < history; i += 10) {
      RecordBatch batch = MakeBatch(10, "old");
      store_->Publish(batch);
    }
    ASSERT_TRUE(store_->Flush().ok());
  }

  void StartService() {
    service_ = std::make_unique<LocationService>(*store_, SubscriptionOptions{}, counters_, nullptr,
                                                 authorizer_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  }

  // What the store's history-read hook sees; kept until the server is down.
  absl::Notification entered_;
  absl::Notification release_;
  std::atomic<bool> read_on_publisher_{false};
  std::atomic<std::thread::id> publisher_{std::this_thread::get_id()};
  std::string dir_;
  SubscriptionCounters counters_;
  Authorizer authorizer_{0};  // no tokens: every call allowed
  std::unique_ptr<EmbeddedStore> store_;
  std::unique_ptr<LocationService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(LocationServiceTest, PublishingNeverRunsAFarBehindSubscribersCatchUp) {
  StartStore(200);
  // The journal read of the far-behind subscriber blocks until released.
  store_->set_before_history_read([this] {
    if (std::this_thread::get_id() == publisher_.load()) read_on_publisher_.store(true);
    if (!entered_.HasBeenNotified()) {
      entered_.Notify();
      release_.WaitForNotification();
    }
  });
  StartService();
  v1::SubscribeRequest far_behind;
  far_behind.set_start_sequence(1);
  far_behind.add_vehicle_ids("never-seen");
  Stream stalled(channel_, far_behind);
  Stream live(channel_, v1::SubscribeRequest());
  ASSERT_TRUE(entered_.WaitForNotificationWithTimeout(kDeadline));

  // While that read is blocked, a publisher publishes (waking both
  // streams) and gets on with it; the live stream still gets the records.
  absl::Notification published;
  std::thread publishing([&] {
    publisher_.store(std::this_thread::get_id());
    for (int i = 0; i < 5; ++i) {
      RecordBatch batch = MakeBatch(1, "new");
      store_->Publish(batch);
    }
    published.Notify();
  });
  const bool publish_returned = published.WaitForNotificationWithTimeout(kDeadline);
  const bool live_delivered = live.WaitForRecords(5);
  release_.Notify();
  publishing.join();
  EXPECT_TRUE(publish_returned) << "Publish waited for a subscriber's journal read";
  EXPECT_TRUE(live_delivered) << "a live stream waited for another stream's catch-up";
  EXPECT_FALSE(read_on_publisher_.load());
}

TEST_F(LocationServiceTest, FarBehindFilteredSubscriberCatchesUpAndThenGetsLiveRecords) {
  StartStore(500);
  StartService();
  v1::SubscribeRequest request;
  request.set_start_sequence(1);
  request.add_vehicle_ids("new");
  Stream stream(channel_, request);
  RecordBatch batch = MakeBatch(3, "new");
  store_->Publish(batch);
  EXPECT_TRUE(stream.WaitForRecords(3));
}

}  // namespace
}  // namespace fixstream::gateway
