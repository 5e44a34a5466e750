// JetStreamStore: the RecordStore of a gateway in a fleet that shares one
// NATS JetStream stream (issue #17, phase 1; docs/FLEET.md).
//
//   Publish()  encodes the batch's frames (the record codec, sequence 0) into
//              JetStream messages of at most `batch_cap` records each and
//              publishes them asynchronously, at most `max_in_flight`
//              unacknowledged at a time. Nothing is numbered here: the
//              result's first_sequence is 0, `published` counts every record
//              sent (duplicates are dropped where records are numbered,
//              below), and commit_position is this gateway's own count of
//              messages (1, 2, 3, ...), the position of the batch's last one.
//   committed  JetStream acknowledged the message (stored in the stream).
//              The commit callback reports acknowledged positions in order,
//              on libnats's acknowledgement thread.
//   unavailable  the connection to NATS is down, or `max_in_flight`
//              messages wait for their acknowledgement: the batch is refused
//              before anything is sent (the device session keeps it and
//              pauses); the available callback runs once it may be sent.
//              Phase 1 has no outbox: while NATS is down nothing is taken.
//   numbering  every gateway of the fleet consumes the whole stream with an
//              ordered consumer, from its first message, into a local
//              EmbeddedStore (no journal), which admits the records
//              (duplicates dropped) and numbers them densely in stream
//              order. Every gateway therefore gives every record the same
//              sequence, as long as they all run with the same vehicle
//              registry options and the stream still holds its first
//              message. Read(), the listeners and the vehicle queries are
//              the local store's: they answer for the whole fleet.
//
// Thread safety: as RecordStore. Start() once, before anything else; the
// destructor stops the consumer and waits (bounded) for the acknowledgements
// of what was published.
#ifndef FIXSTREAM_GATEWAY_FLEET_JETSTREAM_STORE_H_
#define FIXSTREAM_GATEWAY_FLEET_JETSTREAM_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/common/latency_histogram.h"
#include "gateway/hub/hub.h"
#include "gateway/hub/record_store.h"
#include "gateway/store/embedded_store.h"

// libnats's handles (nats/nats.h), kept out of the users' includes.
struct __natsConnection;
struct __natsSubscription;
struct __jsCtx;
struct __natsMsg;
struct jsPubAck;
struct jsPubAckErr;

namespace fixstream::gateway {

struct JetStreamStoreOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string stream = "FIXSTREAM";
  // Records are published to `<subject_prefix>.<gateway_id>` (the stream
  // takes `<subject_prefix>.>`).
  std::string subject_prefix = "fixstream.v1.fleet";
  // Names this gateway's messages (subject, message ids); empty: a random one.
  std::string gateway_id;
  size_t batch_cap = 64;       // records per message, at most
  size_t max_in_flight = 256;  // unacknowledged messages, at most
  // Replicas of the stream when Start() creates it (a cluster: 3).
  int replicas = 1;
  // Start() waits this long for the consumer to replay the history the
  // stream held when it started.
  absl::Duration replay_timeout = absl::Seconds(60);
  // Flush() waits at most this long for the acknowledgements (the gateway
  // sets its drain timeout).
  absl::Duration flush_timeout = absl::Seconds(30);
  HubOptions hub;  // the local ring and vehicle registry
};

class JetStreamStore final : public RecordStore {
 public:
  explicit JetStreamStore(JetStreamStoreOptions options);
  ~JetStreamStore() override;
  JetStreamStore(const JetStreamStore&) = delete;
  JetStreamStore& operator=(const JetStreamStore&) = delete;

  // Connects, creates the stream if it is missing (file storage, subjects
  // `<subject_prefix>.>`), starts the ordered consumer from the stream's
  // first message and returns once the history the stream held is in the
  // local ring. NATS must be reachable (phase 1). Call once.
  absl::Status Start();
  // Stops the consumer, waits (bounded) for the acknowledgements of what was
  // published and closes the NATS connection; the local ring and vehicle
  // registry stay readable. Idempotent; the destructor does it too. Not
  // concurrently with Start().
  void Disconnect() { Shutdown(); }

  // RecordStore.
  PublishResult Publish(RecordBatch& batch) override;
  void SetCommitCallback(std::function<void(uint64_t commit_position)> callback) override {
    commit_callback_ = std::move(callback);
  }
  void SetAvailableCallback(std::function<void()> callback) override {
    available_callback_ = std::move(callback);
  }
  void SetHealthCallback(std::function<void(const absl::Status&)> callback) override {
    health_callback_ = std::move(callback);
  }
  ReadResult Read(uint64_t cursor, const SubscriptionFilter& filter, size_t max_records,
                  size_t max_bytes, std::string* out) const override {
    return local_.Read(cursor, filter, max_records, max_bytes, out);
  }
  uint64_t head() const override { return local_.head(); }
  uint64_t readable_end() const override { return local_.readable_end(); }
  uint64_t oldest() const override { return local_.oldest(); }
  uint64_t oldest_in_memory() const override { return local_.oldest_in_memory(); }
  void Close() override;
  bool closed() const override { return closed_.load(std::memory_order_acquire); }
  // Waits (at most `flush_timeout`) until everything published before the
  // call is acknowledged. A message JetStream answers with an error is still
  // sent again meanwhile, also after Close().
  absl::Status Flush() override;
  void AddListener(Listener* listener) override { local_.AddListener(listener); }
  void RemoveListener(Listener* listener) override { local_.RemoveListener(listener); }
  uint64_t MaxListenerLag() const override { return local_.MaxListenerLag(); }
  void LatestPositions(const std::vector<std::string>& ids, std::string* frames,
                       std::vector<std::string>* unknown) const override {
    local_.LatestPositions(ids, frames, unknown);
  }
  std::string LatestPositionsPage(std::string_view after, size_t limit, std::string* frames,
                                  bool* more, const VehicleScope* scope = nullptr) const override {
    return local_.LatestPositionsPage(after, limit, frames, more, scope);
  }
  // Last-seen is this gateway's knowledge (a heartbeat is not a record, so
  // it is not published to the fleet): the local registry's.
  bool RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                       uint64_t connection_id) override {
    return local_.RefreshLastSeen(vehicle_id, receive_unix_ns, connection_id);
  }
  std::vector<VehicleSummary> VehiclesPage(std::string_view after, size_t limit,
                                           const VehicleScope* scope = nullptr) const override {
    return local_.VehiclesPage(after, limit, scope);
  }

  // The local ring, for metrics.
  const Hub& hub() const { return local_.hub(); }
  // Stream messages consumed so far (the stream sequence of the newest).
  uint64_t consumed_stream_sequence() const {
    return consumed_stream_seq_.load(std::memory_order_acquire);
  }
  // Whether the connection to NATS is up.
  bool connected() const { return connected_.load(std::memory_order_acquire); }

  // For metrics (fixstream_fleet_*): read now, any thread.
  struct Stats {
    uint64_t messages_sent = 0;    // JetStream messages handed to libnats
    uint64_t records_sent = 0;     // records in them
    uint64_t messages_acked = 0;   // acknowledged by JetStream
    uint64_t publish_retries = 0;  // messages sent again after an error answer
    uint64_t in_flight = 0;        // messages waiting for their acknowledgement
    uint64_t disconnects = 0;
    uint64_t reconnects = 0;
    bool connected = false;
    uint64_t consumed_stream_sequence = 0;
    // How long the oldest unacknowledged message has waited (0: none).
    int64_t oldest_unacked_ns = 0;
  };
  Stats stats() const;
  // From sending a message to its acknowledgement.
  const LatencyHistogram& ack_latency() const { return ack_latency_; }

 private:
  // libnats callbacks (closure: this).
  static void OnMessage(__natsConnection* nc, __natsSubscription* sub, __natsMsg* msg,
                        void* closure);
  static void OnAck(__jsCtx* js, __natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure);
  static void OnDisconnected(__natsConnection* nc, void* closure);
  static void OnReconnected(__natsConnection* nc, void* closure);
  static void OnClosed(__natsConnection* nc, void* closure);

  // Sends one message of `count` records starting at entry `first`.
  bool SendLocked(const RecordBatch& batch, size_t first, size_t count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Acknowledged(uint64_t position);
  void Consume(std::string_view payload, uint64_t stream_sequence);
  void BecameAvailable();
  void Shutdown();

  const JetStreamStoreOptions options_;
  std::string subject_;
  EmbeddedStore local_;
  std::function<void(uint64_t)> commit_callback_;
  std::function<void()> available_callback_;
  std::function<void(const absl::Status&)> health_callback_;

  __natsConnection* nc_ = nullptr;
  __jsCtx* js_ = nullptr;
  __natsSubscription* sub_ = nullptr;
  std::atomic<bool> connected_{false};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> consumed_stream_seq_{0};
  // Set once Shutdown() destroys the JetStream context: no more resends.
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> messages_sent_{0};
  std::atomic<uint64_t> records_sent_{0};
  std::atomic<uint64_t> messages_acked_{0};
  std::atomic<uint64_t> publish_retries_{0};
  std::atomic<uint64_t> disconnects_{0};
  std::atomic<uint64_t> reconnects_{0};
  LatencyHistogram ack_latency_;
  RecordBatch consume_batch_;  // the consumer's thread only

  mutable absl::Mutex mu_;
  uint64_t next_position_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t committed_ ABSL_GUARDED_BY(mu_) = 0;
  // Positions committed_+1 ... next_position_-1: whether each was
  // acknowledged, and when it was sent (monotonic).
  struct Pending {
    bool acked = false;
    int64_t sent_ns = 0;
  };
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool refused_ ABSL_GUARDED_BY(mu_) = false;  // an unavailable since the last available callback
  bool nats_closed_ ABSL_GUARDED_BY(mu_) = false;
  std::string msg_id_ ABSL_GUARDED_BY(mu_);  // reused
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_FLEET_JETSTREAM_STORE_H_
