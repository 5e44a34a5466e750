#include "gateway/api/location_service.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway/common/log.h"
#include "gateway/hub/record_codec.h"
#include "gateway/hub/subscription_filter.h"

namespace fixstream::gateway {
namespace {

// Storage for the responses of one stream, lent to gRPC as slices and handed
// back when gRPC releases them, so that a busy subscriber fills the same few
// warm buffers again instead of growing a fresh one (page faults, doubling
// copies) for every response.
//
// Thread safety: thread-safe. Shared by the stream and its slices in flight:
// gRPC may release a slice on any thread, after the stream is gone; the pool
// lives until the last of them.
class ResponseBufferPool final : public std::enable_shared_from_this<ResponseBufferPool> {
 public:
  // What a stream that stays caught up keeps per buffer (see Trim).
  static constexpr size_t kIdleCapacity = 64 << 10;

  static std::shared_ptr<ResponseBufferPool> Create() {
    return std::shared_ptr<ResponseBufferPool>(new ResponseBufferPool());
  }
  ResponseBufferPool(const ResponseBufferPool&) = delete;
  ResponseBufferPool& operator=(const ResponseBufferPool&) = delete;

  // Swaps `bytes` into a buffer of the pool and returns a slice over it;
  // `bytes` gets the buffer's previous (empty) storage back for the next
  // response.
  grpc::Slice Lend(std::string* bytes) {
    Lent* lent = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        lent = idle_.back().release();
        idle_.pop_back();
      }
    }
    if (lent == nullptr) lent = new Lent;
    lent->bytes.swap(*bytes);
    bytes->clear();
    lent->pool = shared_from_this();
    return grpc::Slice(lent->bytes.data(), lent->bytes.size(), &Release, lent);
  }

  // Large buffers (beyond kIdleCapacity) are pooled only between
  // KeepLarge() and the next Trim(): while a stream is writing large
  // batches.
  void KeepLarge() {
    absl::MutexLock lock(&mu_);
    keep_large_ = true;
  }

  // Frees the idle buffers that grew beyond kIdleCapacity, and stops pooling
  // large ones (a large buffer gRPC releases later is freed then).
  void Trim() {
    std::vector<std::unique_ptr<Lent>> freed;  // freed outside the lock
    absl::MutexLock lock(&mu_);
    keep_large_ = false;
    auto large = std::partition(idle_.begin(), idle_.end(), [](const std::unique_ptr<Lent>& l) {
      return l->bytes.capacity() <= kIdleCapacity;
    });
    freed.assign(std::make_move_iterator(large), std::make_move_iterator(idle_.end()));
    idle_.erase(large, idle_.end());
  }

 private:
  // With one write in flight, one idle buffer suffices when gRPC releases
  // each slice before the next write starts; a second absorbs a late release.
  static constexpr size_t kMaxIdle = 2;

  struct Lent {
    std::string bytes;
    std::shared_ptr<ResponseBufferPool> pool;  // set while lent
  };

  ResponseBufferPool() = default;

  // The slice's destroy callback: any gRPC thread.
  static void Release(void* p) {
    std::unique_ptr<Lent> lent(static_cast<Lent*>(p));
    // Keeps the pool alive until Put returns; may be its last owner.
    const std::shared_ptr<ResponseBufferPool> pool = std::move(lent->pool);
    pool->Put(std::move(lent));
  }

  void Put(std::unique_ptr<Lent> lent) {
    absl::MutexLock lock(&mu_);
    if (!keep_large_ && lent->bytes.capacity() > kIdleCapacity) return;  // freed
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(lent));
  }

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Lent>> idle_ ABSL_GUARDED_BY(mu_);
  bool keep_large_ ABSL_GUARDED_BY(mu_) = false;
};

// Serves one Subscribe stream: a cursor into the store, a filter, and one
// write in flight at most. Woken by the store when records arrive (never
// polls): the wake only queues it on the executor, whose thread runs one
// step of Pump at a time: one read, then a write started, a finish, an idle
// wait or (a selective filter far behind) another step later, on the
// executor's catch-up thread. Its own reactions (OnWriteDone, OnCancel) run
// the next step themselves, on gRPC's thread, through the executor so that
// no two steps ever overlap. OnWriteDone continues with whatever accumulated
// meanwhile, which is how batches grow under load and stay single records
// at rest.
//
// Lifetime: gRPC calls OnDone once every reaction has returned; OnDone
// leaves the store (which then never wakes it again) and the executor
// (which then never runs it again, waiting for a step in progress), then
// deletes the reactor.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public RecordStore::Listener,
                               public SubscriberExecutor::Task {
 public:
  SubscribeReactor(RecordStore& store, SubscriberExecutor& executor, SubscriptionFilter filter,
                   const SubscriptionOptions& options, SubscriptionCounters& counters,
                   StreamTracker& streams, uint64_t cursor, const Authorizer& authorizer,
                   Authorizer::Access access, uint64_t generation)
      : store_(store),
        executor_(executor),
        streams_(streams),
        authorizer_(authorizer),
        access_(std::move(access)),
        filter_(std::move(filter)),
        options_(options),
        counters_(counters),
        cursor_(cursor),
        generation_(generation),
        published_cursor_(cursor) {
    counters_.started.fetch_add(1, std::memory_order_relaxed);
    counters_.active.fetch_add(1, std::memory_order_relaxed);
    store_.AddListener(this);
    streams_.Track(this);
    // Headers go out at once, so a client knows the subscription is live
    // (registered with the store) before the first record arrives.
    StartSendInitialMetadata();
    executor_.Schedule(this);
  }

  // On a publishing or committing thread: flag only.
  void OnRecordsAvailable() override { executor_.Schedule(this); }
  uint64_t next_sequence() const override {
    return published_cursor_.load(std::memory_order_relaxed);
  }

  // One step on an executor thread.
  bool Run() override { return Pump(); }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      // Ours again: drop the reference so its buffer can go back to the
      // pool as soon as gRPC has released it too.
      message_.Clear();
      write_in_flight_ = false;
      if (!ok) {
        // The stream is broken (client gone); OnCancel follows or happened.
        ended_ = End::kCancelled;
      } else {
        if (pending_records_ > 0) {
          counters_.publish_to_delivery.Observe(
              absl::GetCurrentTimeNanos() - pending_publish_unix_ns_, pending_records_);
        }
        counters_.records_delivered.fetch_add(pending_records_, std::memory_order_relaxed);
        counters_.bytes_delivered.fetch_add(pending_bytes_, std::memory_order_relaxed);
        counters_.responses_delivered.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // Continues here, on gRPC's thread, as a reaction may (no hand-over per
    // write); catch-up beyond one step goes to the executor.
    executor_.RunHereOrSchedule(this);
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (ended_ == End::kNone) ended_ = End::kCancelled;
    }
    executor_.RunHereOrSchedule(this);
  }

  void OnDone() override {
    // After RemoveListener the store never wakes us again, and after Cancel
    // the executor never runs us again: deleting is safe.
    store_.RemoveListener(this);
    streams_.Untrack(this);
    executor_.Cancel(this);
    counters_.active.fetch_sub(1, std::memory_order_relaxed);
    StreamTracker& streams = streams_;
    delete this;
    streams.Remove();
  }

 private:
  enum class End { kNone, kCancelled };

  // How long after its last large response a caught-up stream keeps large
  // buffers.
  static constexpr int64_t kKeepLargeBuffersNs = 1'000'000'000;

  // Decides the next step, then performs it outside the lock: StartWrite
  // and Finish may run reactions on other threads. Returns true when
  // another step should follow at once (without a wake). Touches nothing
  // after StartWrite/Finish: OnDone may run meanwhile.
  bool Pump() {
    switch (NextStep()) {
      case Step::kIdle:
        return false;
      case Step::kWrite:
        StartWrite(&message_);
        return false;
      case Step::kFinish:
        Finish(finish_status_);
        return false;
      case Step::kRescan:
        return true;
    }
    return false;
  }

  enum class Step { kIdle, kWrite, kFinish, kRescan };

  // Cancelled: finish once, with CANCELLED.
  Step FinishCancelledLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    counters_.ended_cancelled.fetch_add(1, std::memory_order_relaxed);
    return FinishLocked(grpc::Status::CANCELLED);
  }

  Step NextStep() {
    // The read runs without mu_ (it may read the journal from disk), so
    // reactions never wait for it; the executor never runs this on two
    // threads at once, so no other step moves the cursor meanwhile.
    std::string buffer;
    uint64_t cursor = 0;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || write_in_flight_) return Step::kIdle;
      if (ended_ == End::kCancelled) return FinishCancelledLocked();
      // The tokens changed since the last look (one atomic load per step
      // otherwise): a stream whose token no longer grants it ends here.
      if (const uint64_t generation = authorizer_.generation(); generation != generation_) {
        generation_ = generation;
        grpc::Status still = authorizer_.StillAllows(access_, Call::kSubscribe);
        if (!still.ok()) {
          counters_.ended_revoked.fetch_add(1, std::memory_order_relaxed);
          return FinishLocked(std::move(still));
        }
      }
      cursor = cursor_;
      buffer.swap(buffer_);
    }
    buffer.clear();
    // Sample the closed flag before reading: a store that was closed before
    // this read has published everything it ever will.
    const bool closed = store_.closed();
    const RecordStore::ReadResult r =
        store_.Read(cursor, filter_, options_.max_batch_records, options_.max_batch_bytes, &buffer);
    absl::MutexLock lock(&mu_);
    buffer_.swap(buffer);
    if (ended_ == End::kCancelled) return FinishCancelledLocked();
    if (r.gap) {
      const uint64_t lost = r.gap_last - r.gap_first + 1;
      if (options_.slow_policy == SlowSubscriberPolicy::kGap) {
        // Say exactly which sequence numbers are gone, then go on.
        buffer_.clear();
        AppendGap(r.gap_first, r.gap_last, &buffer_);
        counters_.gaps_sent.fetch_add(1, std::memory_order_relaxed);
        counters_.sequences_skipped.fetch_add(lost, std::memory_order_relaxed);
        cursor_ = r.next_cursor;
        published_cursor_.store(cursor_, std::memory_order_relaxed);
        pending_records_ = 0;
        pending_bytes_ = 0;
        return StartWriteLocked();
      }
      counters_.ended_fell_behind.fetch_add(1, std::memory_order_relaxed);
      grpc::Status status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("subscriber fell behind retention: next wanted sequence ", cursor_,
                       " but the oldest retained is ", r.next_cursor, " (", lost,
                       " records no longer retained); resubscribe to continue"));
      LogWarning(status.error_message());
      return FinishLocked(std::move(status));
    }
    cursor_ = r.next_cursor;
    published_cursor_.store(cursor_, std::memory_order_relaxed);
    if (r.records > 0) {
      pending_records_ = r.records;
      pending_publish_unix_ns_ = r.first_publish_unix_ns;
      pending_bytes_ = buffer_.size();
      if (r.from_history) {
        counters_.records_from_journal.fetch_add(r.records, std::memory_order_relaxed);
      }
      AppendBatchTrailer(r.first_sequence, r.last_sequence, &buffer_);
      return StartWriteLocked();
    }
    // The scan limit was hit without a match: go on without waiting for a
    // publish that may never come.
    if (cursor_ < store_.readable_end()) return Step::kRescan;
    // (When delivery waits for commits, records up to head() may still
    // become readable after the close: wait for them.)
    if (closed && cursor_ >= store_.head()) {
      counters_.ended_ok.fetch_add(1, std::memory_order_relaxed);
      return FinishLocked(grpc::Status::OK);
    }
    // Caught up. Large buffers are kept while large batches keep coming
    // (freeing them whenever the stream briefly catches up would fault their
    // pages in again), and freed once a burst is over.
    if (large_batch_unix_ns_ != 0 &&
        absl::GetCurrentTimeNanos() - large_batch_unix_ns_ > kKeepLargeBuffersNs) {
      large_batch_unix_ns_ = 0;
      if (buffer_.capacity() > ResponseBufferPool::kIdleCapacity) std::string().swap(buffer_);
      buffers_->Trim();
    }
    return Step::kIdle;
  }

  // Hands buffer_ to message_ for the next write.
  Step StartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The slice holds the bytes until gRPC releases it, possibly after the
    // write completed; buffer_ gets a recycled buffer for the next batch.
    if (buffer_.size() > ResponseBufferPool::kIdleCapacity) {
      if (large_batch_unix_ns_ == 0) buffers_->KeepLarge();
      large_batch_unix_ns_ = absl::GetCurrentTimeNanos();
    }
    grpc::Slice slice = buffers_->Lend(&buffer_);
    message_ = grpc::ByteBuffer(&slice, 1);
    write_in_flight_ = true;
    return Step::kWrite;
  }

  Step FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    finish_status_ = std::move(status);
    return Step::kFinish;
  }

  RecordStore& store_;
  SubscriberExecutor& executor_;
  StreamTracker& streams_;
  const Authorizer& authorizer_;
  // How the call was admitted, re-checked when the tokens change.
  const Authorizer::Access access_;
  const SubscriptionFilter filter_;
  const SubscriptionOptions options_;
  SubscriptionCounters& counters_;

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);
  // The Authorizer's generation as last checked.
  uint64_t generation_ ABSL_GUARDED_BY(mu_);
  // cursor_'s value for readers outside mu_ (the lag gauge).
  std::atomic<uint64_t> published_cursor_;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  End ended_ ABSL_GUARDED_BY(mu_) = End::kNone;
  size_t pending_records_ ABSL_GUARDED_BY(mu_) = 0;
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t pending_publish_unix_ns_ ABSL_GUARDED_BY(mu_) = 0;
  // Lent to the read (without mu_) during a step.
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  // When the last response larger than ResponseBufferPool::kIdleCapacity
  // was written; 0 once large buffers were freed.
  int64_t large_batch_unix_ns_ ABSL_GUARDED_BY(mu_) = 0;
  const std::shared_ptr<ResponseBufferPool> buffers_ = ResponseBufferPool::Create();
  // Owned by gRPC between StartWrite and OnWriteDone; untouched meanwhile.
  grpc::ByteBuffer message_;
  // Written once, under mu_, before Finish() is called.
  grpc::Status finish_status_;
};

// Copies the request's slices into one buffer and parses it.
bool ParseRequest(const grpc::ByteBuffer& request, v1::SubscribeRequest* parsed) {
  std::vector<grpc::Slice> slices;
  if (!request.Dump(&slices).ok()) return false;
  std::string raw;
  for (const grpc::Slice& s : slices) {
    raw.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return parsed->ParseFromString(raw);
}

// A reactor that only reports an error.
class ErrorReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit ErrorReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

LocationService::LocationService(RecordStore& store, SubscriptionOptions options,
                                 SubscriptionCounters& counters,
                                 std::function<bool(uint64_t)> connection_open,
                                 const Authorizer& authorizer)
    : store_(store),
      options_(options),
      counters_(counters),
      connection_open_(std::move(connection_open)),
      authorizer_(authorizer),
      executor_(options.executor_threads) {}

namespace {

// PERMISSION_DENIED for the first of `ids` outside `scope` (null: none is).
// Decided on the patterns alone, before the store is asked anything, so the
// answer is the same whether such a vehicle exists or not.
template <typename Ids>
std::optional<grpc::Status> OutOfScope(const Ids& ids, const VehicleScope* scope,
                                       const Principal* principal) {
  if (scope == nullptr) return std::nullopt;
  int i = 0;
  for (const std::string& id : ids) {
    if (!scope->Contains(id)) {
      return grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("vehicle_ids[", i, "] is not a vehicle principal '", principal->name,
                       "' may read (its vehicles: ", scope->ToString(), ")"));
    }
    ++i;
  }
  return std::nullopt;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* LocationService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  // Before the check: a table swapped in after it is noticed by the stream.
  const uint64_t generation = authorizer_.generation();
  const Authorizer::Access access = authorizer_.Authorize(*context, Call::kSubscribe);
  if (!access.status.ok()) {
    counters_.rejected_unauthorized.fetch_add(1, std::memory_order_relaxed);
    return new ErrorReactor(access.status);
  }
  v1::SubscribeRequest parsed;
  if (!ParseRequest(*request, &parsed)) {
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
  if (std::optional<grpc::Status> denied =
          OutOfScope(parsed.vehicle_ids(), access.scope().get(), access.principal.get())) {
    authorizer_.CountPermissionDenied();
    counters_.rejected_unauthorized.fetch_add(1, std::memory_order_relaxed);
    return new ErrorReactor(*std::move(denied));
  }
  // With its own vehicle_ids (all in scope, checked above) the filter
  // already is within the scope; without, the scope is the filter's.
  if (parsed.vehicle_ids_size() == 0) filter->RestrictTo(access.scope());
  uint64_t cursor = store_.head();  // default: only records published from now on
  if (parsed.start_case() == v1::SubscribeRequest::kStartOldest && parsed.start_oldest()) {
    cursor = store_.oldest_in_memory();
  } else if (parsed.start_case() == v1::SubscribeRequest::kStartSequence) {
    const uint64_t wanted = parsed.start_sequence();
    // Sequences evicted from memory may still be served from history.
    const uint64_t oldest = store_.oldest();
    const uint64_t head = store_.head();
    if (wanted < oldest || wanted > head) {
      counters_.rejected_out_of_range.fetch_add(1, std::memory_order_relaxed);
      const std::string message =
          wanted < oldest
              ? absl::StrCat("start_sequence ", wanted,
                             " is no longer retained; the oldest retained sequence is ", oldest,
                             " (records ", wanted, "-", oldest - 1, " are gone)")
              : absl::StrCat(
                    "start_sequence ", wanted, " has not been assigned yet; the next sequence is ",
                    head,
                    " (did the gateway restart without its journal? sequences then restart at 1)");
      return new ErrorReactor(grpc::Status(grpc::StatusCode::OUT_OF_RANGE, message));
    }
    cursor = wanted;
  }
  if (!streams_.TryAdd(options_.max_subscribers)) {
    counters_.rejected_too_many.fetch_add(1, std::memory_order_relaxed);
    return new ErrorReactor(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the gateway already serves its maximum of ", options_.max_subscribers,
                     " subscriptions; retry later or raise --max_subscribers")));
  }
  // The reactor owns the reserved slot and releases it in OnDone.
  return new SubscribeReactor(store_, executor_, *std::move(filter), options_, counters_, streams_,
                              cursor, authorizer_, access, generation);
}

namespace {

constexpr int32_t kDefaultPageSize = 1000;
constexpr int32_t kMaxPageSize = 10000;

// Validates page_size; 0 means the default.
absl::StatusOr<size_t> PageSize(int32_t page_size) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in [0, ", kMaxPageSize, "]; got ", page_size));
  }
  return page_size == 0 ? kDefaultPageSize : static_cast<size_t>(page_size);
}

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status InvalidArgument(const absl::Status& status) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(status.message()));
}

void SetTimestamp(int64_t unix_ns, google::protobuf::Timestamp* t) {
  int64_t seconds = unix_ns / 1'000'000'000;
  int64_t nanos = unix_ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  t->set_seconds(seconds);
  t->set_nanos(static_cast<int32_t>(nanos));
}

}  // namespace

grpc::ServerUnaryReactor* LocationService::GetLatestPositions(
    grpc::CallbackServerContext* context, const v1::GetLatestPositionsRequest* request,
    v1::GetLatestPositionsResponse* response) {
  const Authorizer::Access access = authorizer_.Authorize(*context, Call::kGetLatestPositions);
  if (!access.status.ok()) return FinishUnary(context, access.status);
  const VehicleScope* scope = access.scope().get();
  std::string frames;
  if (request->vehicle_ids_size() > 0) {
    if (request->vehicle_ids_size() > kMaxPageSize) {
      return FinishUnary(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                               absl::StrCat("at most ", kMaxPageSize,
                                                            " vehicle_ids per request")));
    }
    std::vector<std::string> ids(request->vehicle_ids().begin(), request->vehicle_ids().end());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!ingest::IsValidVehicleId(ids[i])) {
        return FinishUnary(
            context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat("vehicle_ids[", i,
                                               "] is not a vehicle id: it "
                                               "must be 1-64 characters of [A-Za-z0-9._:-]")));
      }
    }
    if (std::optional<grpc::Status> denied = OutOfScope(ids, scope, access.principal.get())) {
      authorizer_.CountPermissionDenied();
      return FinishUnary(context, *denied);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<std::string> unknown;
    store_.LatestPositions(ids, &frames, &unknown);
    for (std::string& id : unknown) response->add_unknown_vehicle_ids(std::move(id));
  } else {
    absl::StatusOr<size_t> page_size = PageSize(request->page_size());
    if (!page_size.ok()) return FinishUnary(context, InvalidArgument(page_size.status()));
    bool more = false;
    // The token is the last id of a page: the next page starts after it.
    const std::string last =
        store_.LatestPositionsPage(request->page_token(), *page_size, &frames, &more, scope);
    if (more) response->set_next_page_token(last);
  }
  // The stored frames are `records` fields (field 1 here too): parsing their
  // concatenation fills response->records.
  v1::GetLatestPositionsResponse records;
  if (!records.ParseFromString(frames)) {
    return FinishUnary(context, grpc::Status(grpc::StatusCode::INTERNAL, "corrupt record"));
  }
  response->mutable_records()->Swap(records.mutable_records());
  return FinishUnary(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* LocationService::ListVehicles(grpc::CallbackServerContext* context,
                                                        const v1::ListVehiclesRequest* request,
                                                        v1::ListVehiclesResponse* response) {
  const Authorizer::Access access = authorizer_.Authorize(*context, Call::kListVehicles);
  if (!access.status.ok()) return FinishUnary(context, access.status);
  absl::StatusOr<size_t> page_size = PageSize(request->page_size());
  if (!page_size.ok()) return FinishUnary(context, InvalidArgument(page_size.status()));
  // One more than asked tells whether another page follows.
  std::vector<RecordStore::VehicleSummary> page =
      store_.VehiclesPage(request->page_token(), *page_size + 1, access.scope().get());
  const bool more = page.size() > *page_size;
  if (more) page.pop_back();
  for (const RecordStore::VehicleSummary& v : page) {
    v1::VehicleStatus* status = response->add_vehicles();
    status->set_vehicle_id(v.id);
    SetTimestamp(v.last_seen_unix_ns, status->mutable_last_seen_time());
    SetTimestamp(v.newest_fix_unix_ns, status->mutable_latest_fix_time());
    status->set_connected(connection_open_ && connection_open_(v.last_connection_id));
    status->set_records(v.records);
  }
  if (more) response->set_next_page_token(page.back().id);
  return FinishUnary(context, grpc::Status::OK);
}

}  // namespace fixstream::gateway
