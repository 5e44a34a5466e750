// RecordStore: the one seam between the gateway's edges (the device server,
// the gRPC API) and where records are numbered, stored and read back.
//
// The device layer publishes batches into a store and learns when they count
// as published (to acknowledge devices); the API layer reads records back by
// cursor and filter, is woken when more are readable, and answers vehicle
// queries. Neither knows how the store keeps records. Implementations:
//   - EmbeddedStore (gateway/store): the hub's in-memory ring, numbered here,
//     over an optional local journal. The default; needs no server.
//   - JetStreamStore (gateway/fleet, issue #17 phase 1; docs/FLEET.md): a
//     fleet's gateways share one NATS JetStream stream; numbering comes from
//     the stream's order, and a record counts as committed only once
//     JetStream acknowledged it.
//
// Words used below:
//   sequence   a record's number: strictly increasing in store order, the
//              same for every reader. Dense (1, 2, 3, ...) in the embedded
//              store; an external log may leave holes, which readers are
//              told about exactly (ReadResult::gap) like any other loss.
//   published  Publish() accepted the record (admitted: not a duplicate) and
//              it will get a sequence. It may not be readable yet.
//   readable   Read() serves it: sequence < readable_end(). The embedded
//              store makes records readable as they are published, or, when
//              delivery is gated on durability, once they are committed.
//   committed  the store will not lose it: durable in the local journal
//              (embedded store), acknowledged by the external log (fleet).
//              Commits are reported as a *commit position* (see Publish):
//              one increasing number per store that a publisher compares
//              with the position its batch was given. In the embedded store
//              the commit position is the sequence.
//
// Ordering: records of one Publish() call get consecutive sequences in
// batch order; batches published one after the other from one thread get
// increasing sequences. Commit positions passed to the commit callback
// strictly increase.
//
// Thread safety: every method is thread-safe. What may block is said per
// method: Publish() never waits for disk or network (it may queue), Read()
// may read history from disk and must not be called on a publishing thread
// (a device I/O thread) nor from a Listener or the commit callback.
#ifndef FIXSTREAM_GATEWAY_HUB_RECORD_STORE_H_
#define FIXSTREAM_GATEWAY_HUB_RECORD_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gateway/hub/record_batch.h"
#include "gateway/hub/subscription_filter.h"
#include "gateway/hub/vehicle_scope.h"

namespace fixstream::gateway {

class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // Woken when more records may be readable, or the store closed.
  class Listener {
   public:
    virtual ~Listener() = default;
    // Called on whatever thread made records readable: a device I/O thread
    // that published, or the store's own thread that committed (the
    // journal writer under gated delivery). It must only take note and hand
    // the work to another thread: no Read(), no disk, no gRPC calls, no
    // AddListener/RemoveListener, no lock that is held around a Read(). It
    // may be called under the store's listener lock.
    virtual void OnRecordsAvailable() = 0;
    // The next sequence the listener will read (for lag); any thread,
    // lock-free.
    virtual uint64_t next_sequence() const = 0;
  };

  struct PublishResult {
    // First sequence given to the batch's records; 0 when nothing was
    // published, or when the store numbers records later (an external log).
    uint64_t first_sequence = 0;
    size_t published = 0;
    size_t duplicates = 0;  // same vehicle and fix time as a remembered record: dropped
    size_t late = 0;        // published, marked late
    size_t refused = 0;     // the store was closed: nothing was published
    // The store cannot take them now (embedded: the journal is stalled on
    // a failing disk, or too far behind): nothing was published, nothing
    // was numbered. Publish them again once the available callback ran.
    size_t unavailable = 0;
    // Once the commit callback reported a position >= commit_position,
    // every record this batch published (and every record before it) is
    // committed, and a duplicate it dropped was committed before. 0 when
    // the batch was refused. Embedded store: the last sequence given so far.
    uint64_t commit_position = 0;
  };
  // Admits the batch's records (duplicates dropped and counted, late ones
  // marked), numbers the rest or queues them to be numbered, and wakes
  // listeners once records become readable. The batch's frames may be
  // patched in place. Never waits for disk or network.
  virtual PublishResult Publish(RecordBatch& batch) = 0;

  // Sets the function told the commit position whenever more records are
  // committed; called on the store's own thread (never inside Publish), in
  // strictly increasing order, and must be quick. Set it before the first
  // Publish(). A store that cannot make records durable (the embedded
  // store without a journal) never calls it.
  virtual void SetCommitCallback(std::function<void(uint64_t commit_position)> callback) = 0;

  // Sets the function called once Publish() may take records again after
  // it returned `unavailable` (it may also be called when nothing was
  // refused); on the store's own thread, quick, never inside Publish(). Set
  // it before the first Publish().
  virtual void SetAvailableCallback(std::function<void()> callback) = 0;
  // Sets the function told when the store cannot keep records (a failing
  // disk: `status` says why; Publish() returns `unavailable` meanwhile) and
  // when it can again (OK). On the store's own thread, quick. Set it before
  // the first Publish().
  virtual void SetHealthCallback(std::function<void(const absl::Status& status)> callback) = 0;

  struct ReadResult {
    size_t records = 0;  // frames appended to the output
    uint64_t first_sequence = 0;
    uint64_t last_sequence = 0;
    uint64_t next_cursor = 0;           // pass to the next Read()
    int64_t first_publish_unix_ns = 0;  // when the first record was published (live reads)
    // The records came from older history (the journal), not from memory:
    // first_publish_unix_ns is the read's time, not a publication's.
    bool from_history = false;
    // Set when the records [gap_first, gap_last] (gap_first == the cursor)
    // are gone: no longer retained anywhere the store can read. Nothing
    // was read; next_cursor == gap_last + 1 is the oldest readable record
    // after them.
    bool gap = false;
    uint64_t gap_first = 0;
    uint64_t gap_last = 0;
  };
  // Appends the frames of readable records with sequence >= cursor that
  // match `filter` to `out` (each frame an encoded SubscribeResponse
  // `records` field), stopping at max_records or once `out` grew by
  // max_bytes (at least one record is appended if one matches). Memory and
  // older history are one range to the caller. Bounded work per call: a
  // selective filter may return no records with next_cursor moved on, and
  // the caller calls again while next_cursor < readable_end(). Never
  // returns records below the cursor, nor at or after readable_end().
  // May block on disk: call it from a subscriber's own thread only.
  virtual ReadResult Read(uint64_t cursor, const SubscriptionFilter& filter, size_t max_records,
                          size_t max_bytes, std::string* out) const = 0;

  // The sequence the next published record will get: every sequence below
  // it has been given (for an external log: the newest known to this
  // gateway, plus one).
  virtual uint64_t head() const = 0;
  // End of what Read() serves (== head(), or less while delivery waits for
  // commits).
  virtual uint64_t readable_end() const = 0;
  // Oldest sequence Read() can serve, history included (== head() when
  // nothing is stored).
  virtual uint64_t oldest() const = 0;
  // Oldest sequence held in memory (start of a "from the oldest retained"
  // subscription; >= oldest()).
  virtual uint64_t oldest_in_memory() const = 0;

  // Stops accepting records: later Publish() calls refuse. Wakes listeners
  // so readers can finish once they have read up to head().
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // Returns once every record published before the call is committed, or
  // the error that prevents it. OK at once for a store that cannot make
  // records durable.
  virtual absl::Status Flush() = 0;

  // After RemoveListener() returns, `listener` is never called again.
  virtual void AddListener(Listener* listener) = 0;
  virtual void RemoveListener(Listener* listener) = 0;
  // How many records the furthest-behind listener has yet to read (0 with
  // no listeners).
  virtual uint64_t MaxListenerLag() const = 0;

  // Vehicle queries over the newest record of each vehicle.
  // Appends the latest frame of each known id to `frames` (a concatenation
  // that parses as the `records` of a response) and each unknown id to
  // `unknown`.
  virtual void LatestPositions(const std::vector<std::string>& ids, std::string* frames,
                               std::vector<std::string>* unknown) const = 0;
  // Latest frames of the vehicles with id > `after`, in id order, at most
  // `limit`; *more tells whether vehicles follow. Returns the last id
  // included, or "" if none. With a `scope` (a principal's vehicles, which
  // must outlive the call), only the vehicles it contains count, for the
  // page and for *more alike. (Implementations repeat the null default.)
  virtual std::string LatestPositionsPage(std::string_view after, size_t limit, std::string* frames,
                                          bool* more,
                                          const VehicleScope* scope = nullptr) const = 0;
  // A device proved `vehicle_id` alive without sending a record (a
  // heartbeat, status report or login): refreshes a known vehicle's
  // last-seen time and connection (VehiclesPage). Returns false for a
  // vehicle the store does not know: heartbeats never create vehicles.
  // Quick; may be called on a device I/O thread. Last-seen is this
  // gateway's knowledge: it is not a record, so it is neither numbered nor
  // stored.
  virtual bool RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                               uint64_t connection_id) = 0;
  struct VehicleSummary {
    std::string id;
    int64_t last_seen_unix_ns = 0;
    int64_t newest_fix_unix_ns = 0;
    uint64_t last_connection_id = 0;
    uint64_t records = 0;
  };
  // Vehicles with id > `after`, in id order, at most `limit`; with a
  // `scope`, only those it contains.
  virtual std::vector<VehicleSummary> VehiclesPage(std::string_view after, size_t limit,
                                                   const VehicleScope* scope = nullptr) const = 0;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_RECORD_STORE_H_
