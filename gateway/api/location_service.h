// LocationService: the fixstream.v1.LocationService gRPC service.
//
// Subscribe is implemented on the generated raw callback method: the request
// arrives as bytes and is parsed here, and responses are grpc::ByteBuffers
// holding the hub's encoded frames, so no record is re-serialized per
// subscriber (see record_codec.h). GetLatestPositions and ListVehicles are
// ordinary callback unary methods over the store's vehicle registry.
//
// Everything goes through the RecordStore seam (record_store.h): the
// service does not know whether records come from memory, a local journal
// or an external log. A store wakes a stream on the thread that made
// records readable; the stream then only queues itself on the service's
// SubscriberExecutor, whose threads read and start the writes.
//
// Every call is first put to the Authorizer (access_tokens.h): a caller
// without a valid token is refused, and a scoped principal's vehicles
// restrict what it reads — the subscription filter carries its scope into
// every read of the store, ring and journal alike, and the vehicle queries
// page over its vehicles only.
#ifndef FIXSTREAM_GATEWAY_API_LOCATION_SERVICE_H_
#define FIXSTREAM_GATEWAY_API_LOCATION_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "gateway/api/access_tokens.h"
#include "gateway/api/subscriber_executor.h"
#include "gateway/api/subscription_counters.h"
#include "gateway/common/monotonic_clock.h"
#include "gateway/hub/record_store.h"

namespace fixstream::gateway {

// What happens to a subscriber whose next record left retention mid-stream.
enum class SlowSubscriberPolicy {
  kGap,  // send a Gap notice naming the lost range, continue at the oldest retained
  kEnd,  // end the stream with RESOURCE_EXHAUSTED saying how far behind it was
};

struct SubscriptionOptions {
  size_t max_batch_records = 4096;   // records per response at most
  size_t max_batch_bytes = 1 << 20;  // encoded bytes per response at most
  SlowSubscriberPolicy slow_policy = SlowSubscriberPolicy::kGap;
  // Concurrent Subscribe streams; more get RESOURCE_EXHAUSTED.
  size_t max_subscribers = 1024;
  // Threads that read for woken streams and start their writes
  // (SubscriberExecutor); one more runs the catch-up steps of streams far
  // behind.
  size_t executor_threads = 2;
};

// Counts live Subscribe streams so that shutdown can wait for them to end,
// and knows them so that a tokens reload can wake them all. Thread-safe.
// Lock order: its lock, then the executor's.
class StreamTracker final {
 public:
  // A stream registers once it can be scheduled, and leaves before it is
  // cancelled on the executor.
  void Track(SubscriberExecutor::Task* stream) {
    absl::MutexLock lock(&mu_);
    tracked_.insert(stream);
  }
  void Untrack(SubscriberExecutor::Task* stream) {
    absl::MutexLock lock(&mu_);
    tracked_.erase(stream);
  }
  // Schedules every tracked stream on `executor` (a wake without records).
  void WakeAll(SubscriberExecutor& executor) {
    absl::MutexLock lock(&mu_);
    for (SubscriberExecutor::Task* stream : tracked_) executor.Schedule(stream);
  }

  // Reserves a slot for a new stream unless `limit` streams are live.
  bool TryAdd(size_t limit) {
    absl::MutexLock lock(&mu_);
    if (live_ >= limit) return false;
    ++live_;
    return true;
  }
  void Remove() {
    absl::MutexLock lock(&mu_);
    --live_;
    ended_.SignalAll();
  }
  // Returns true once no stream is live, false if `timeout` (monotonic)
  // passed first.
  bool AwaitNone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    const auto deadline = MonotonicCondVar::After(timeout);
    while (live_ != 0 && !ended_.WaitUntil(mu_, deadline)) {
    }
    return live_ == 0;
  }

 private:
  absl::Mutex mu_;
  MonotonicCondVar ended_;
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<SubscriberExecutor::Task*> tracked_ ABSL_GUARDED_BY(mu_);
};

// Thread safety: thread-safe; the store and counters must outlive the
// service and every stream it started (shut the gRPC server down first).
class LocationService final
    : public v1::LocationService::WithRawCallbackMethod_Subscribe<
          v1::LocationService::WithCallbackMethod_GetLatestPositions<
              v1::LocationService::WithCallbackMethod_ListVehicles<v1::LocationService::Service>>> {
 public:
  // `connection_open(id)` tells whether a device connection is open now; it
  // is called from gRPC threads. `authorizer` must outlive the service.
  LocationService(RecordStore& store, SubscriptionOptions options, SubscriptionCounters& counters,
                  std::function<bool(uint64_t)> connection_open, const Authorizer& authorizer);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetLatestPositions(grpc::CallbackServerContext* context,
                                               const v1::GetLatestPositionsRequest* request,
                                               v1::GetLatestPositionsResponse* response) override;
  grpc::ServerUnaryReactor* ListVehicles(grpc::CallbackServerContext* context,
                                         const v1::ListVehiclesRequest* request,
                                         v1::ListVehiclesResponse* response) override;

  // After the store closed, streams end once their subscriber has received
  // everything. Returns true when all have ended within `timeout`
  // (monotonic).
  bool AwaitStreamsEnded(absl::Duration timeout) { return streams_.AwaitNone(timeout); }

  // After the Authorizer's table changed: every Subscribe stream checks at
  // its next step (woken now) whether its token still grants it, and ends
  // with UNAUTHENTICATED or PERMISSION_DENIED if not. Any thread.
  void RecheckStreams() { streams_.WakeAll(executor_); }

 private:
  RecordStore& store_;
  const SubscriptionOptions options_;
  SubscriptionCounters& counters_;
  const std::function<bool(uint64_t)> connection_open_;
  const Authorizer& authorizer_;
  StreamTracker streams_;
  // Destroyed before streams_: every stream has ended (OnDone) by then.
  SubscriberExecutor executor_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_API_LOCATION_SERVICE_H_
