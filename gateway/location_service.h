// LocationService: the fixstream.v1.LocationService gRPC service.
//
// Subscribe is implemented on the generated raw callback method: the request
// arrives as bytes and is parsed here, and responses are grpc::ByteBuffers
// holding the hub's encoded frames, so no record is re-serialized per
// subscriber (see record_codec.h).
#ifndef FIXSTREAM_GATEWAY_LOCATION_SERVICE_H_
#define FIXSTREAM_GATEWAY_LOCATION_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "gateway/hub.h"

namespace fixstream::gateway {

struct SubscriptionOptions {
  size_t max_batch_records = 4096;   // records per response at most
  size_t max_batch_bytes = 1 << 20;  // encoded bytes per response at most
};

// Counters of the subscription side, readable by tests and metrics.
struct SubscriptionCounters {
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> rejected_invalid{0};   // INVALID_ARGUMENT
  std::atomic<uint64_t> ended_ok{0};           // drained to the end (gateway shutdown)
  std::atomic<uint64_t> ended_cancelled{0};    // client cancelled or went away
  std::atomic<uint64_t> ended_fell_behind{0};  // RESOURCE_EXHAUSTED: fell off retention
  std::atomic<uint64_t> records_delivered{0};
  std::atomic<uint64_t> bytes_delivered{0};
  std::atomic<uint64_t> responses_delivered{0};
};

// Counts live Subscribe streams so that shutdown can wait for them to end.
// Thread-safe.
class StreamTracker final {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++live_;
  }
  void Remove() {
    absl::MutexLock lock(&mu_);
    --live_;
  }
  // Returns true once no stream is live, false if `deadline` passed first.
  bool AwaitNone(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_ == 0; };
    return mu_.AwaitWithDeadline(absl::Condition(&none), deadline);
  }

 private:
  absl::Mutex mu_;
  int64_t live_ ABSL_GUARDED_BY(mu_) = 0;
};

// Thread safety: thread-safe; the hub and counters must outlive the service
// and every stream it started (shut the gRPC server down first).
class LocationService final
    : public v1::LocationService::WithRawCallbackMethod_Subscribe<v1::LocationService::Service> {
 public:
  LocationService(Hub& hub, SubscriptionOptions options, SubscriptionCounters& counters);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;

  // After the hub closed, streams end once their subscriber has received
  // everything. Returns true when all have ended before `deadline`.
  bool AwaitStreamsEnded(absl::Time deadline) { return streams_.AwaitNone(deadline); }

 private:
  Hub& hub_;
  const SubscriptionOptions options_;
  SubscriptionCounters& counters_;
  StreamTracker streams_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_LOCATION_SERVICE_H_
