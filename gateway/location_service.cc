#include "gateway/location_service.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gateway/log.h"
#include "gateway/record_codec.h"
#include "gateway/subscription_filter.h"

namespace fixstream::gateway {
namespace {

// Serves one Subscribe stream: a cursor into the hub, a filter, and one write
// in flight at most. Woken by the hub when records arrive (never polls);
// OnWriteDone continues with whatever accumulated meanwhile, which is how
// batches grow under load and stay single records at rest.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public Hub::Listener {
 public:
  SubscribeReactor(Hub& hub, SubscriptionFilter filter, const SubscriptionOptions& options,
                   SubscriptionCounters& counters, StreamTracker& streams, uint64_t cursor)
      : hub_(hub),
        streams_(streams),
        filter_(std::move(filter)),
        options_(options),
        counters_(counters),
        cursor_(cursor) {
    counters_.started.fetch_add(1, std::memory_order_relaxed);
    counters_.active.fetch_add(1, std::memory_order_relaxed);
    streams_.Add();
    hub_.AddListener(this);
    // Headers go out at once, so a client knows the subscription is live
    // (registered with the hub) before the first record arrives.
    StartSendInitialMetadata();
    Pump();
  }

  void OnHubUpdated() override { Pump(); }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) {
        // The stream is broken (client gone); OnCancel follows or happened.
        ended_ = End::kCancelled;
      } else {
        counters_.records_delivered.fetch_add(pending_records_, std::memory_order_relaxed);
        counters_.bytes_delivered.fetch_add(pending_bytes_, std::memory_order_relaxed);
        counters_.responses_delivered.fetch_add(1, std::memory_order_relaxed);
      }
    }
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (ended_ == End::kNone) ended_ = End::kCancelled;
    }
    Pump();
  }

  void OnDone() override {
    // After RemoveListener the hub never calls us again, so deleting is safe.
    hub_.RemoveListener(this);
    counters_.active.fetch_sub(1, std::memory_order_relaxed);
    StreamTracker& streams = streams_;
    delete this;
    streams.Remove();
  }

 private:
  enum class End { kNone, kCancelled };

  // Decides the next step under the lock, then performs it outside the lock:
  // StartWrite/Finish may run reactions on other threads that re-enter Pump.
  void Pump() {
    for (;;) {
      const Step step = NextStep();
      switch (step) {
        case Step::kIdle:
          return;
        case Step::kWrite:
          StartWrite(&message_);
          return;
        case Step::kFinish:
          Finish(finish_status_);
          return;
        case Step::kRescan:
          continue;
      }
    }
  }

  enum class Step { kIdle, kWrite, kFinish, kRescan };

  Step NextStep() {
    absl::MutexLock lock(&mu_);
    if (finished_ || write_in_flight_) return Step::kIdle;
    if (ended_ == End::kCancelled) {
      counters_.ended_cancelled.fetch_add(1, std::memory_order_relaxed);
      return FinishLocked(grpc::Status::CANCELLED);
    }
    buffer_.clear();
    // Sample the closed flag before reading: a hub that was closed before
    // this read has published everything it ever will.
    const bool closed = hub_.closed();
    const Hub::ReadResult r =
        hub_.Read(cursor_, filter_, options_.max_batch_records, options_.max_batch_bytes, &buffer_);
    if (r.fell_behind) {
      counters_.ended_fell_behind.fetch_add(1, std::memory_order_relaxed);
      grpc::Status status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("subscriber fell behind retention: next wanted sequence ", cursor_,
                       " but the oldest retained is ", r.oldest, " (", r.oldest - cursor_,
                       " records no longer retained); resubscribe to continue"));
      LogWarning(status.error_message());
      return FinishLocked(std::move(status));
    }
    cursor_ = r.next_cursor;
    if (r.records > 0) {
      pending_records_ = r.records;
      pending_bytes_ = buffer_.size();
      AppendBatchTrailer(r.first_sequence, r.last_sequence, &buffer_);
      // The slice takes ownership of the bytes: gRPC may hold them until the
      // write completes, and buffer_ is reused for the next batch.
      auto* owned = new std::string(std::move(buffer_));
      buffer_ = std::string();
      grpc::Slice slice(
          owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); },
          owned);
      message_ = grpc::ByteBuffer(&slice, 1);
      write_in_flight_ = true;
      return Step::kWrite;
    }
    // The scan limit was hit without a match: go on without waiting for a
    // publish that may never come.
    if (cursor_ < hub_.head()) return Step::kRescan;
    if (closed) {
      counters_.ended_ok.fetch_add(1, std::memory_order_relaxed);
      return FinishLocked(grpc::Status::OK);
    }
    return Step::kIdle;
  }

  Step FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    finish_status_ = std::move(status);
    return Step::kFinish;
  }

  Hub& hub_;
  StreamTracker& streams_;
  const SubscriptionFilter filter_;
  const SubscriptionOptions options_;
  SubscriptionCounters& counters_;

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  End ended_ ABSL_GUARDED_BY(mu_) = End::kNone;
  size_t pending_records_ ABSL_GUARDED_BY(mu_) = 0;
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  // Owned by gRPC between StartWrite and OnWriteDone; untouched meanwhile.
  grpc::ByteBuffer message_;
  // Written once, under mu_, before Finish() is called.
  grpc::Status finish_status_;
};

// A reactor that only reports an error.
class ErrorReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit ErrorReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

LocationService::LocationService(Hub& hub, SubscriptionOptions options,
                                 SubscriptionCounters& counters)
    : hub_(hub), options_(options), counters_(counters) {}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LocationService::Subscribe(
    grpc::CallbackServerContext* /*context*/, const grpc::ByteBuffer* request) {
  v1::SubscribeRequest parsed;
  std::vector<grpc::Slice> slices;
  std::string raw;
  if (request->Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices)
      raw.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  if (!parsed.ParseFromString(raw)) {
    counters_.rejected_invalid.fetch_add(1, std::memory_order_relaxed);
    return new ErrorReactor(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         "request is not a valid fixstream.v1.SubscribeRequest"));
  }
  absl::StatusOr<SubscriptionFilter> filter = SubscriptionFilter::FromRequest(parsed);
  if (!filter.ok()) {
    counters_.rejected_invalid.fetch_add(1, std::memory_order_relaxed);
    return new ErrorReactor(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(filter.status().message())));
  }
  // Default start: only records published from now on.
  return new SubscribeReactor(hub_, *std::move(filter), options_, counters_, streams_, hub_.head());
}

}  // namespace fixstream::gateway
