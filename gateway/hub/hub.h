// Hub: the single place where accepted records get their sequence number, and
// the bounded in-memory retention that subscribers read from.
//
// Sessions hand the hub whole batches (all records of one read); the hub
// numbers them (1, 2, 3, ... gateway-wide, no gaps), copies their encoded
// bytes into a byte ring and wakes its listeners. Retention is bounded by a
// record count and by bytes: the oldest records are evicted first.
// Subscribers read with a cursor (the next sequence they want) and get the
// encoded frames of matching records copied into their own buffer.
//
// Thread safety: all methods are thread-safe. Publish() takes the ring lock
// exclusively once per batch; Read() takes it shared. Listeners are called
// after the ring lock is released, under the listener lock, so a listener
// removed with RemoveListener() is never called afterwards.
//
// Lock order: the ring lock (mu_) and the listener lock (listeners_mu_) are
// never held together. A listener runs under listeners_mu_ and may take
// locks of its own (a subscriber executor's queue) but never calls back
// into the hub, so no hub lock is ever taken under listeners_mu_.
#ifndef FIXSTREAM_GATEWAY_HUB_HUB_H_
#define FIXSTREAM_GATEWAY_HUB_HUB_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gateway/hub/record_batch.h"
#include "gateway/hub/subscription_filter.h"
#include "gateway/hub/vehicle_registry.h"

namespace fixstream::gateway {

struct HubOptions {
  size_t max_records = 1 << 20;     // retention by count
  size_t max_bytes = 256ull << 20;  // retention by encoded bytes
  VehicleRegistryOptions vehicles;
  // Fault the whole byte ring in at construction (transparent huge pages
  // where the kernel allows): max_bytes are resident from the start, and no
  // page fault ever happens under the hub's lock while records are copied
  // in. Off: pages become resident as the ring first fills.
  bool prefault_ring = true;
  // With prefault_ring: fault the ring in on a thread of its own instead of
  // in the constructor, so a gateway opens its listeners at once (faulting
  // 256 MiB in takes seconds on a small machine). Pages are populated
  // without being written (MADV_POPULATE_WRITE), so records published
  // meanwhile are untouched; until it is done, a publish may still fault.
  bool prefault_in_background = false;
};

// Frees the hub's ring: munmap when it was mapped (size > 0), else delete[].
struct RingMemoryDeleter {
  size_t mapped_size = 0;
  void operator()(char* p) const;
};

// Faults a mapped ring in on a thread of its own (see
// HubOptions::prefault_in_background); does nothing for a null ring. Stops
// early and joins on destruction, so it must be destroyed before the ring is
// unmapped.
class RingPrefaulter final {
 public:
  RingPrefaulter(char* ring, size_t size);
  ~RingPrefaulter();
  RingPrefaulter(const RingPrefaulter&) = delete;
  RingPrefaulter& operator=(const RingPrefaulter&) = delete;

  // Blocks until every page is resident. From one thread at a time.
  void Wait();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class Hub final {
 public:
  // Woken when records were published or the hub closed.
  class Listener {
   public:
    virtual ~Listener() = default;
    // Called from a publishing thread (or the one that called MarkDurable or
    // Close), under the listener lock; must be quick: flag the listener and
    // hand its work to another thread. Must not call into the hub (no
    // Read(), no AddListener/RemoveListener).
    virtual void OnHubUpdated() = 0;
    // The next sequence the listener will read; any thread, lock-free.
    virtual uint64_t next_sequence() const = 0;
  };

  // Where every published record is also written, in sequence order (the
  // journal). Append is called under the hub's lock: it must only buffer.
  // AfterPublish follows each Append on the same thread, outside the lock and
  // after the listeners were notified: a log wakes its own thread there, so
  // that the wake-up does not delay the delivery.
  class RecordLog {
   public:
    virtual ~RecordLog() = default;
    virtual void Append(uint64_t first_sequence, const std::vector<std::string_view>& frames) = 0;
    virtual void AfterPublish() {}
    // Whether records up to `last_sequence` may be numbered now (the
    // journal's sequence lease covers them). Called under the hub's lock.
    virtual bool CanAppend(uint64_t /*last_sequence*/) const { return true; }
  };

  // The first record published gets `first_sequence` (after a restart: the
  // journal's next sequence). `log`, if not null, must outlive the hub.
  explicit Hub(HubOptions options, uint64_t first_sequence = 1, RecordLog* log = nullptr);

  // Blocks until a background prefault (HubOptions::prefault_in_background)
  // is done; returns at once otherwise. From one thread at a time.
  void AwaitRingPrefaulted() { prefault_.Wait(); }
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  struct PublishResult {
    uint64_t first_sequence = 0;  // 0 when nothing was published
    size_t published = 0;
    size_t duplicates = 0;  // same vehicle and fix time as a remembered record
    size_t late = 0;        // published, marked late
    size_t refused = 0;     // the hub was closed: nothing was published
    // The log could not take them (RecordLog::CanAppend): nothing was
    // published, so no number was given that a restart could reuse.
    size_t unavailable = 0;
    // head() right after this batch: every record this batch published, or
    // whose duplicate it dropped, has a smaller sequence.
    uint64_t next_sequence = 0;
  };
  // Admits the batch's records through the vehicle registry (duplicates are
  // dropped and counted, late records marked), numbers the rest, retains
  // them and wakes listeners. The sequences are patched into the retained
  // copies; the batch's bytes are left as they are.
  PublishResult Publish(RecordBatch& batch);

  struct ReadResult {
    size_t records = 0;  // frames appended to the output
    uint64_t first_sequence = 0;
    uint64_t last_sequence = 0;
    uint64_t next_cursor = 0;           // pass to the next Read()
    int64_t first_publish_unix_ns = 0;  // when the first record was published
    // Set when the cursor was older than the oldest retained record; nothing
    // was read. `oldest` is the oldest retained sequence.
    bool fell_behind = false;
    uint64_t oldest = 0;
  };
  // Appends the frames of records with sequence >= cursor (and below
  // readable_end()) that match `filter`
  // to `out`, stopping at max_records or once `out` grew by max_bytes (at
  // least one record is appended if one matches). Scans at most
  // `max_scan` (at most kMaxScanPerRead) records so a selective filter
  // cannot hold the lock long; next_cursor tells where to go on.
  ReadResult Read(uint64_t cursor, const SubscriptionFilter& filter, size_t max_records,
                  size_t max_bytes, std::string* out, size_t max_scan = kMaxScanPerRead) const;

  // Latest positions (see VehicleRegistry). Appends the latest frame of each
  // known id to `frames` (a concatenation that parses as the `records` of a
  // response) and each unknown id to `unknown`.
  void LatestPositions(const std::vector<std::string>& ids, std::string* frames,
                       std::vector<std::string>* unknown) const;
  // Latest frames of the vehicles with id > `after`, in id order, at most
  // `limit`; *more tells whether vehicles follow. Returns the last id
  // included, or "" if none.
  // A `scope` restricts the page to the vehicles it contains.
  std::string LatestPositionsPage(std::string_view after, size_t limit, std::string* frames,
                                  bool* more, const VehicleScope* scope = nullptr) const;
  struct VehicleSummary {
    std::string id;
    int64_t last_seen_unix_ns = 0;
    int64_t newest_fix_unix_ns = 0;
    uint64_t last_connection_id = 0;
    uint64_t records = 0;
  };
  std::vector<VehicleSummary> VehiclesPage(std::string_view after, size_t limit,
                                           const VehicleScope* scope = nullptr) const;
  // See VehicleRegistry::RefreshLastSeen.
  bool RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                       uint64_t connection_id);
  size_t vehicles() const;
  uint64_t vehicles_evicted() const;

  // Attaches the log and sets the next sequence to publish (after a restart:
  // where the journal continues). Precondition: nothing published or
  // restored yet. `log` must outlive the hub.
  void AttachLog(RecordLog* log, uint64_t next_sequence);

  // Re-retains frames read back from the journal at start-up (a
  // concatenation of frames with contiguous sequences starting at head()),
  // through the vehicle registry so latest positions and duplicate windows
  // survive a restart. Not written to the log again. Returns the number of
  // frames restored; stops at the first frame that does not decode.
  size_t Restore(std::string_view frames);

  // At start-up, after Restore(): the next record gets `next_sequence`
  // (>= head()), the numbers in between are skipped (the journal's sequence
  // lease after a crash). The ring's contiguous sequences end there, so it
  // empties; the vehicle registry (latest positions, duplicate windows)
  // stays. Before anything is published.
  void SkipTo(uint64_t next_sequence);

  // Sequence the next published record will get (so head()-1 was the last).
  uint64_t head() const { return head_.load(std::memory_order_acquire); }

  // Delivery gated on durability (the journal's fsync-per-batch policy):
  // after GateOnDurable(), Read() serves only records up to the sequence
  // last passed to MarkDurable() (and everything restored), so no
  // subscriber ever sees a record a crash could still take back. Call
  // GateOnDurable() before publishing; MarkDurable() from any thread.
  void GateOnDurable();
  void MarkDurable(uint64_t durable_sequence);
  // The end of what Read() serves: head(), or one past the newest durable
  // record when gated.
  uint64_t readable_end() const {
    return gated_.load(std::memory_order_acquire) ? readable_end_.load(std::memory_order_acquire)
                                                  : head();
  }
  // Oldest retained sequence (== head() when nothing is retained).
  uint64_t oldest() const;
  size_t retained_records() const;
  size_t retained_bytes() const;

  // Stops accepting records: later Publish() calls return 0. Wakes listeners
  // so subscribers can finish once they have read up to head().
  void Close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // How many records the furthest-behind listener has yet to read (0 with
  // no listeners).
  uint64_t MaxListenerLag() const;

  void AddListener(Listener* listener);
  // After this returns, `listener` is never called again.
  void RemoveListener(Listener* listener);

  static constexpr size_t kMaxScanPerRead = 1 << 16;

 private:
  // A retained record: its frame's FrameInfo and where the frame is.
  struct Entry : FrameInfo {
    uint64_t sequence;
    uint64_t position;  // logical byte position in the ring (monotonic)
    int64_t publish_unix_ns;
  };
  // Where a record comes from, on its one way in (Accept).
  enum class Arrival {
    kPublished,  // new: the registry's verdict applies, the sequence is patched in
    kRestored,   // read back from the journal: numbered and marked when published
  };
  struct Accepted {
    std::string_view stored;  // the ring's copy; empty when dropped as a duplicate
    bool late = false;        // retained marked late
  };

  void Notify() ABSL_LOCKS_EXCLUDED(mu_, listeners_mu_);
  // Read() for a filter that matches every record: reads from [cursor,
  // scan_end) within the limits, copying contiguous frames in one go.
  ReadResult ReadAll(uint64_t cursor, uint64_t scan_end, size_t max_records, size_t max_bytes,
                     std::string* out) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The one way a record enters the hub, for Publish() and Restore(): the
  // frame `frame`, described by `meta`, is admitted through the vehicle
  // registry, retained in the ring as record `sequence` and made its
  // vehicle's latest frame if it has the newest fix.
  Accepted Accept(Arrival arrival, uint64_t sequence, std::string_view frame, const FrameMeta& meta,
                  int64_t publish_unix_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies `frame` into the ring as record `sequence`, evicting the oldest
  // records as needed, and returns where it is stored.
  char* Retain(uint64_t sequence, std::string_view frame, const FrameInfo& info,
               int64_t publish_unix_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Entry& EntryFor(uint64_t sequence) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return entries_[sequence & entry_mask_];
  }

  const HubOptions options_;
  const size_t entry_mask_;  // entries_ holds entry_mask_ + 1 (a power of two)

  mutable absl::Mutex mu_;
  // calloc'd: the kernel's zero pages until written, so a large index costs
  // nothing at start (a value-initialised vector wrote all of it).
  struct FreeDeleter {
    void operator()(Entry* p) const { std::free(p); }
  };
  std::unique_ptr<Entry[], FreeDeleter> entries_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<char[], RingMemoryDeleter> bytes_ ABSL_GUARDED_BY(mu_);
  // After bytes_: stops before the ring is unmapped.
  RingPrefaulter prefault_;
  VehicleRegistry vehicles_ ABSL_GUARDED_BY(mu_);
  uint64_t oldest_ ABSL_GUARDED_BY(mu_) = 1;  // oldest retained sequence
  uint64_t write_position_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> head_{1};
  std::atomic<bool> gated_{false};
  std::atomic<uint64_t> readable_end_{1};  // when gated_
  RecordLog* log_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string_view> log_frames_ ABSL_GUARDED_BY(mu_);  // reused per batch
  std::atomic<bool> closed_{false};

  // Never held together with mu_ (see the lock order at the top).
  mutable absl::Mutex listeners_mu_;
  std::vector<Listener*> listeners_ ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_HUB_H_
