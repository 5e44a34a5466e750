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

// Serves one Subscribe stream: a cursor into the hub, a filter, and one write
// in flight at most. Woken by the hub when records arrive (never polls);
// OnWriteDone continues with whatever accumulated meanwhile, which is how
// batches grow under load and stay single records at rest.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public Hub::Listener {
 public:
  SubscribeReactor(Hub& hub, const Journal* journal, SubscriptionFilter filter,
                   const SubscriptionOptions& options, SubscriptionCounters& counters,
                   StreamTracker& streams, uint64_t cursor)
      : hub_(hub),
        journal_(journal),
        streams_(streams),
        filter_(std::move(filter)),
        options_(options),
        counters_(counters),
        cursor_(cursor),
        published_cursor_(cursor) {
    counters_.started.fetch_add(1, std::memory_order_relaxed);
    counters_.active.fetch_add(1, std::memory_order_relaxed);
    hub_.AddListener(this);
    // Headers go out at once, so a client knows the subscription is live
    // (registered with the hub) before the first record arrives.
    StartSendInitialMetadata();
    Pump();
  }

  void OnHubUpdated() override { Pump(); }
  uint64_t next_sequence() const override {
    return published_cursor_.load(std::memory_order_relaxed);
  }

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

  // How long after its last large response a caught-up stream keeps large
  // buffers.
  static constexpr int64_t kKeepLargeBuffersNs = 1'000'000'000;

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
    if (finished_ || write_in_flight_ || catching_up_) return Step::kIdle;
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
    if (r.fell_behind && journal_ != nullptr && cursor_ >= journal_->oldest_sequence()) {
      // Older than the ring but still on disk: catch up from the journal.
      if (std::optional<Step> step = CatchUpFromJournal(); step.has_value()) return *step;
    }
    if (r.fell_behind) {
      const uint64_t lost = r.oldest - cursor_;
      if (options_.slow_policy == SlowSubscriberPolicy::kGap) {
        // Say exactly which sequence numbers are gone, then go on.
        AppendGap(cursor_, r.oldest - 1, &buffer_);
        counters_.gaps_sent.fetch_add(1, std::memory_order_relaxed);
        counters_.sequences_skipped.fetch_add(lost, std::memory_order_relaxed);
        cursor_ = r.oldest;
        published_cursor_.store(cursor_, std::memory_order_relaxed);
        pending_records_ = 0;
        pending_bytes_ = 0;
        return StartWriteLocked();
      }
      counters_.ended_fell_behind.fetch_add(1, std::memory_order_relaxed);
      grpc::Status status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("subscriber fell behind retention: next wanted sequence ", cursor_,
                       " but the oldest retained is ", r.oldest, " (", lost,
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
      AppendBatchTrailer(r.first_sequence, r.last_sequence, &buffer_);
      return StartWriteLocked();
    }
    // The scan limit was hit without a match: go on without waiting for a
    // publish that may never come.
    if (cursor_ < hub_.readable_end()) return Step::kRescan;
    // (When delivery is gated on durability, records up to head() may still
    // become readable after the close: wait for them.)
    if (closed && cursor_ >= hub_.head()) {
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

  // One batch read back from the journal, filtered like the ring's records
  // (decoding each frame's coordinates and vehicle, which the ring keeps
  // beside its frames). Returns nothing when the journal cannot serve the
  // cursor (a hole, or not written yet): the caller's policy applies.
  std::optional<Step> CatchUpFromJournal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The disk read runs without mu_: a publisher waking this reactor
    // must never wait for disk I/O. Other Pumps return at once meanwhile
    // (catching_up_), and this loop carries on afterwards.
    const uint64_t from = cursor_;
    // The journal holds records written but not yet fsynced; when delivery
    // is gated on durability, read no further than the hub serves.
    const uint64_t end = hub_.readable_end();
    if (from >= end) return Step::kIdle;  // woken when more is durable
    const size_t max_records =
        static_cast<size_t>(std::min<uint64_t>(options_.max_batch_records, end - from));
    catching_up_ = true;
    std::string raw;
    mu_.Unlock();
    absl::StatusOr<Journal::ReadResult> read =
        journal_->Read(from, max_records, options_.max_batch_bytes, &raw);
    mu_.Lock();
    catching_up_ = false;
    // Cancelled, or wakes skipped meanwhile: decide again from the top.
    if (ended_ != End::kNone || finished_) return Step::kRescan;
    if (!read.ok() || read->hole || read->records == 0) return std::nullopt;
    buffer_.clear();
    size_t records = 0;
    uint64_t first = 0;
    uint64_t last = 0;
    for (std::string_view rest = raw; !rest.empty();) {
      const size_t size = FrameSize(rest);
      if (size == 0 || size > rest.size()) return std::nullopt;  // not our frame: stop here
      const std::string_view frame = rest.substr(0, size);
      rest.remove_prefix(size);
      DecodedFrame decoded;
      if (!DecodeFrame(frame, &decoded)) return std::nullopt;
      if (!filter_.matches_all() &&
          !filter_.Matches(frame.substr(decoded.layout.vehicle_offset, decoded.layout.vehicle_size),
                           decoded.latitude, decoded.longitude)) {
        continue;
      }
      buffer_.append(frame);
      if (records++ == 0) first = decoded.sequence;
      last = decoded.sequence;
    }
    cursor_ = read->next_sequence;
    published_cursor_.store(cursor_, std::memory_order_relaxed);
    if (records == 0) return Step::kRescan;
    pending_records_ = records;
    pending_publish_unix_ns_ = absl::GetCurrentTimeNanos();  // not a live delivery
    pending_bytes_ = buffer_.size();
    counters_.records_from_journal.fetch_add(records, std::memory_order_relaxed);
    AppendBatchTrailer(first, last, &buffer_);
    return StartWriteLocked();
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

  Hub& hub_;
  const Journal* const journal_;  // null when the journal is off
  StreamTracker& streams_;
  const SubscriptionFilter filter_;
  const SubscriptionOptions options_;
  SubscriptionCounters& counters_;

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);
  // cursor_'s value for readers outside mu_ (the lag gauge).
  std::atomic<uint64_t> published_cursor_;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool catching_up_ ABSL_GUARDED_BY(mu_) = false;  // a journal read is in progress
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  End ended_ ABSL_GUARDED_BY(mu_) = End::kNone;
  size_t pending_records_ ABSL_GUARDED_BY(mu_) = 0;
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t pending_publish_unix_ns_ ABSL_GUARDED_BY(mu_) = 0;
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

LocationService::LocationService(Hub& hub, SubscriptionOptions options,
                                 SubscriptionCounters& counters,
                                 std::function<bool(uint64_t)> connection_open)
    : hub_(hub),
      options_(options),
      counters_(counters),
      connection_open_(std::move(connection_open)) {}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LocationService::Subscribe(
    grpc::CallbackServerContext* /*context*/, const grpc::ByteBuffer* request) {
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
  uint64_t cursor = hub_.head();  // default: only records published from now on
  if (parsed.start_case() == v1::SubscribeRequest::kStartOldest && parsed.start_oldest()) {
    cursor = hub_.oldest();
  } else if (parsed.start_case() == v1::SubscribeRequest::kStartSequence) {
    const uint64_t wanted = parsed.start_sequence();
    // Sequences evicted from the ring are still served from the journal.
    const uint64_t oldest =
        journal_ != nullptr ? std::min(hub_.oldest(), journal_->oldest_sequence()) : hub_.oldest();
    const uint64_t head = hub_.head();
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
  return new SubscribeReactor(hub_, journal_, *std::move(filter), options_, counters_, streams_,
                              cursor);
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
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<std::string> unknown;
    hub_.LatestPositions(ids, &frames, &unknown);
    for (std::string& id : unknown) response->add_unknown_vehicle_ids(std::move(id));
  } else {
    absl::StatusOr<size_t> page_size = PageSize(request->page_size());
    if (!page_size.ok()) return FinishUnary(context, InvalidArgument(page_size.status()));
    bool more = false;
    // The token is the last id of a page: the next page starts after it.
    const std::string last =
        hub_.LatestPositionsPage(request->page_token(), *page_size, &frames, &more);
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
  absl::StatusOr<size_t> page_size = PageSize(request->page_size());
  if (!page_size.ok()) return FinishUnary(context, InvalidArgument(page_size.status()));
  // One more than asked tells whether another page follows.
  std::vector<Hub::VehicleSummary> page = hub_.VehiclesPage(request->page_token(), *page_size + 1);
  const bool more = page.size() > *page_size;
  if (more) page.pop_back();
  for (const Hub::VehicleSummary& v : page) {
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
