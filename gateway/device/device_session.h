// DeviceSession: one vehicle connection of the DeviceServer, from the
// accepted socket to its close.
//
// A session owns its socket, its LineFramer (the read buffer) and its
// LineParser. Each readable event reads until the socket would block or the
// per-wakeup read budget is spent (then it yields to other connections on
// the thread), and every read's records go to the hub as one batch. A
// session of the acknowledging listener also queues, per read, which
// sequence its lines must be durable up to (AckQueue), and writes
// `ACK <lines>\n` once the DurabilityWatch reaches it; when the device
// half-closes, the session stays open until the last acknowledgement is
// written.
//
// Device protocols (ingest/device_protocol.h): on a listener pinned to one,
// or once an auto-detecting listener's connection's first bytes name one
// (ingest::DetectProtocol; the bytes read so far move from the LineFramer to
// a MessageFramer), messages are framed and decoded by the protocol's
// decoder instead of the line parser, and the replies it asks for are
// written in order, one write in flight, never blocking the reads; a device
// that does not read them (over max_reply_backlog waiting, or a write
// pending reply_timeout) is closed as reply_timeout. Replies for a read's
// messages are written once its records are published (after a pause, on
// resume).
//
// Identification (docs/PROTOCOL.md): a connection whose vehicle the server
// found from its source address starts with that vehicle fixed in its
// parser; one on a first-line listener takes its first line as its device
// id and fixes that, or, if the line is not a valid id, counts it as
// bad_vehicle_id, the rest of what it read as unknown_vehicle, and closes
// (bad_identification) without acknowledging anything.
//
// TLS (a listener with tls=on, device_tls.h): Start() runs the handshake
// first (the server's sweep closes one that takes longer than
// tls_handshake_timeout as tls_handshake_timeout), then the session reads
// and writes through its TlsConnection exactly as through the socket: one
// branch per read and per write, none per byte. A read loop that stops only
// when the socket would block leaves no decrypted bytes behind in OpenSSL.
//
// Lifetime: created with std::make_shared, then Start(). From then on the
// session is kept alive only by the shared_ptr captured in its pending
// handler (or by itself while half-closed with acknowledgements
// outstanding); once it closed, nothing more is pending and it goes away.
#ifndef FIXSTREAM_GATEWAY_DEVICE_DEVICE_SESSION_H_
#define FIXSTREAM_GATEWAY_DEVICE_DEVICE_SESSION_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "asio.hpp"
#include "gateway/device/ack_queue.h"
#include "gateway/device/device_registry.h"
#include "gateway/device/device_server.h"
#include "gateway/device/device_tls.h"
#include "gateway/device/ingest_counters.h"
#include "gateway/hub/record_batch.h"
#include "gateway/hub/record_store.h"
#include "ingest/device_protocol.h"
#include "ingest/line_framer.h"
#include "ingest/line_parser.h"
#include "ingest/message_framer.h"

namespace fixstream::gateway {

// Thread safety: Drain(), Expire() and Expired() may be called from any
// thread; everything else runs on the socket's executor, which must be run
// by one thread (or be a strand): the session's handlers never run
// concurrently.
//
// RecordSink comes first among the polymorphic bases: the parser's call of
// OnRecord, once per record, then needs no this-adjusting thunk.
class DeviceSession final : public std::enable_shared_from_this<DeviceSession>,
                            private ingest::RecordSink,
                            public DurabilityWaiter {
 public:
  // Where a session reports its end (the server's table of open
  // connections) and what the server logs for it.
  class Registry {
   public:
    // The session closed for `reason`, its counters are final; called once,
    // on the session's thread.
    virtual void OnSessionClosed(uint64_t id, const asio::ip::address& source,
                                 CloseReason reason) = 0;
    // The connection's first line rejected for its fix time (kFixTooOld or
    // kFixInFuture); called at most once per session, on its thread, so a
    // newcomer learns why their line vanished.
    virtual void OnFirstFixTimeRejection(ingest::LineOutcome outcome,
                                         const asio::ip::address& source,
                                         int64_t receive_time_unix_ns) = 0;
    // On a first-line listener, the connection's first line is not a valid
    // device id (`too_long`: it was over the maximum line length, and
    // `first_line` is empty); the session closes next. On its thread.
    virtual void OnBadIdentification(const asio::ip::address& source, std::string_view first_line,
                                     bool too_long) = 0;
    // Under the authenticated policy, the connection's first line did not
    // authenticate it: `vehicle_id` is the id it claimed (empty if none
    // could be read), `why` the reason for the log. The session closes
    // next. On its thread. Never given the secret or the line.
    virtual void OnAuthenticationFailed(const asio::ip::address& source,
                                        std::string_view vehicle_id, std::string_view why) = 0;

   protected:
    ~Registry() = default;
  };

  // What the sessions of one server share. Sessions keep a reference to it:
  // the context and everything it references must outlive every session.
  struct Context {
    const DeviceServerOptions& options;
    RecordStore& store;
    IngestCounters& counters;
    DurabilityWatch& durability;  // used by sessions with acks only
    Registry& registry;
    // Increased (by the server) each time the store says it takes records
    // again, before the server resumes the paused sessions.
    const std::atomic<uint64_t>& store_available_generation;
    // The device registry (--devices_file), or null; applied under
    // options.device_policy.
    const DeviceRegistryFile* devices = nullptr;
  };

  // `listener`: the one the connection came in on (read in the constructor
  // only). `vehicle_id`: the connection's vehicle if the server knows it
  // (source address), else empty. The caller has counted the connection as
  // accepted and active; the session counts its bytes, lines, records and
  // close (IngestCounters). `tls`: the credentials of a TLS listener's
  // connection (the session keeps them), null for plain TCP.
  DeviceSession(asio::ip::tcp::socket socket, asio::ip::address source, uint64_t id,
                const ListenerOptions& listener, std::string_view vehicle_id,
                const Context& context, std::shared_ptr<const TlsServerCredentials> tls = nullptr);
  ~DeviceSession();
  DeviceSession(const DeviceSession&) = delete;
  DeviceSession& operator=(const DeviceSession&) = delete;

  asio::any_io_executor executor() { return socket_.get_executor(); }
  const asio::ip::address& source() const { return source_; }
  uint64_t id() const { return id_; }

  // Makes the socket non-blocking, sets TCP keepalive and starts reading.
  // On the session's thread.
  void Start();

  // Reads what the peer already sent, publishes it and closes (shutdown).
  // Any thread.
  void Drain();

  // Closes for `reason` (kIdleTimeout, kLineTimeout, kReplyTimeout,
  // kAuthTimeout or kTlsHandshakeTimeout) unless the connection
  // has become active again by the time this runs on its thread; bytes that
  // already arrived count as activity and are read first. Any thread.
  void Expire(CloseReason reason);

  // Whether the timeout `reason` (kIdleTimeout, kLineTimeout, kReplyTimeout,
  // kAuthTimeout or kTlsHandshakeTimeout) has expired
  // at `now_ns` (MonotonicNanos()). Any thread (lock-free), for the server's
  // sweep.
  bool Expired(CloseReason reason, int64_t now_ns) const;

  // DurabilityWaiter: the target this session waits for is durable. Any
  // thread; posts to the session's thread.
  void OnTargetDurable() override;

  // Whether the session is paused: the store refused its last read's
  // records (RecordStore::PublishResult::unavailable), which it keeps while
  // it reads nothing more. Any thread (lock-free).
  bool paused() const { return paused_.load(std::memory_order_seq_cst); }
  // The store may take records again: a paused session publishes the
  // records it kept and, if the store took them, reads on (else it stays
  // paused). Any thread; posts to the session's thread.
  void Resume();

 private:
  // kClosed: the session closed itself while processing what it read.
  // kPaused: the store refused the read's records (see paused()).
  enum class ReadState { kWouldBlock, kBudgetSpent, kPeerClosed, kError, kClosed, kPaused };

  void SetKeepalive();
  // TLS: advances the handshake; once done, reads as usual.
  void ContinueHandshake();
  // Writes `size` bytes at `data` (valid until `done` runs) to the socket or
  // through TLS; `done(ec)` runs on the session's thread, never inline.
  template <typename Handler>
  void AsyncWrite(const char* data, size_t size, Handler&& done);
  void TlsWrite(const char* data, size_t size, std::function<void(const asio::error_code&)> done);
  // A read or write through TLS failed: counts why.
  void CountTlsError();
  void WaitReadable();
  void OnReadable(const asio::error_code& ec);
  ReadState ReadAvailable(size_t budget);
  void ProcessLines(int64_t receive_time_unix_ns);
  // Device protocols.
  void StartDeviceProtocol(ingest::DeviceProtocol protocol);
  void ProcessMessages(int64_t receive_time_unix_ns);
  void WriteReplies();
  absl::Span<char> PrepareRead();
  void CommitRead(size_t n);
  bool InPartialMessage() const;
  void ReportFixTimeRejection(ingest::LineOutcome outcome, int64_t receive_time_unix_ns);
  bool IdentifyByFirstLine(const ingest::Frame& frame);
  // The authenticated policy's first line (ingest/auth_line.h).
  bool Authenticate(const ingest::Frame& frame);
  // Counts the lines still framed as `rest` and closes for `reason`.
  void RejectUnidentified(ingest::LineOutcome rest, CloseReason reason);
  void OnRecord(const ingest::LocationRecord& record) override;
  // The registry's verdict on a record (registry_ set): added to the batch
  // (its vehicle id mapped by name=) or counted in registry_rejected_.
  void AdmitThroughRegistry(const ingest::LocationRecord& record);
  // Takes the registry's newest snapshot if it changed. Once per read.
  void RefreshRegistry();
  // A line whose parse emitted records the registry rejected: its
  // kPublished becomes the rejection's reason.
  ingest::LineOutcome SettleRejected(ingest::LineOutcome outcome);
  // Rejected records whose lines were counted as published before (an NMEA
  // fix emitted by a later line or the flush): move them to their reason.
  void MoveRejectedFromPublished();
  void PublishParsed(bool may_pause = true);
  // Publishes tls_batch; with `may_pause`, records the store refuses as
  // unavailable are kept and the session pauses (else they are counted as
  // refused_unavailable).
  void Publish(bool may_pause);
  // Publishes `batch` (tls_batch or held_) and clears it. Returns false if
  // the store refused it as unavailable and `keep`: then its records are in
  // held_ (nothing counted yet).
  bool PublishBatch(RecordBatch& batch, bool keep);
  void Pause();
  void ResumeOnThread();
  void FlushCounters();
  void QueueAck();
  void TryAck();
  bool WriteAck();
  // Something the device is owed after it half-closed: acknowledgements, or
  // a device protocol's replies (written, or waiting for a paused batch).
  bool AcksOutstanding() const {
    return (acks_ && ack_queue_.outstanding()) || reply_in_flight_ || !replies_.empty();
  }
  void FinishIfHalfClosed();
  void RefreshLastSeen(std::string_view device_id, int64_t receive_time_unix_ns);
  void Close(CloseReason reason);

  asio::ip::tcp::socket socket_;
  // TLS (null: plain TCP). Freed with the session, after the socket closed.
  std::unique_ptr<TlsConnection> tls_;
  // When the TLS handshake began (MonotonicNanos); 0: done, or none. Read by
  // the server's sweep.
  std::atomic<int64_t> handshake_since_ns_{0};
  const asio::ip::address source_;
  const uint64_t id_;
  const bool acks_;            // accepted on an acknowledging listener
  const DevicePolicy policy_;  // the listener's (EffectivePolicy)
  const int64_t accepted_ns_;  // monotonic
  // The first line identifies the connection (a first-line listener, or
  // the authenticated policy's authentication line) and is not read yet.
  bool awaiting_first_line_;
  const Context& context_;  // one reference, not five: sessions stay small
  ingest::LineFramer framer_;
  ingest::LineParser parser_;
  // Device protocols (null for the line formats).
  bool detecting_;  // an auto-detecting listener's connection, not classified yet
  std::unique_ptr<ingest::ProtocolDecoder> decoder_;
  std::unique_ptr<ingest::MessageFramer> messages_;
  std::string replies_;          // to write next
  std::string replies_writing_;  // being written
  bool reply_in_flight_ = false;
  bool close_after_replies_ = false;  // OsmAnd's Connection: close, or a non-HTTP request
  // When the reply write in flight began (MonotonicNanos); 0: none. Read by
  // the server's sweep.
  std::atomic<int64_t> reply_since_ns_{0};
  std::array<uint64_t, ingest::kLineOutcomeCount> protocol_lines_{};
  uint64_t protocol_replies_ = 0;
  uint64_t protocol_reply_bytes_ = 0;
  int64_t receive_time_unix_ns_ = 0;
  bool closed_ = false;
  // Read by the server's sweep from another thread. MonotonicNanos() (the
  // timeouts never follow the wall clock).
  std::atomic<int64_t> last_read_ns_{0};
  std::atomic<int64_t> partial_since_ns_{0};  // when the current partial line began; 0: none
  // Counted locally, added to the shared counters once per read.
  std::array<uint64_t, ingest::kLineOutcomeCount> lines_{};
  uint64_t bytes_read_ = 0;
  uint64_t records_published_ = 0;
  uint64_t records_duplicate_ = 0;
  uint64_t records_late_ = 0;
  uint64_t records_dropped_ = 0;
  uint64_t records_unavailable_ = 0;
  uint64_t discarded_reported_ = 0;
  uint64_t framed_reported_ = 0;
  uint64_t week_rollovers_reported_ = 0;
  // Acknowledgements (acks_ only; see QueueAck()).
  uint64_t lines_seen_ = 0;                   // newline-terminated lines framed so far
  bool fix_time_rejection_reported_ = false;  // (once per connection at most)
  uint64_t ack_target_ = 0;  // newest sequence published when the last line was read
  AckQueue ack_queue_;
  // The peer closed its side; acks outstanding. Written on the session's
  // thread, also read by the server's sweep (Expired).
  std::atomic<bool> read_closed_{false};
  std::shared_ptr<DeviceSession> self_while_half_closed_;
  // Paused (see paused()): the records the store refused, and the
  // reference that keeps the session alive while no read is pending.
  std::atomic<bool> paused_{false};
  std::unique_ptr<RecordBatch> held_;
  std::shared_ptr<DeviceSession> self_while_paused_;
  uint64_t generation_before_publish_ = 0;
  // The device registry snapshot in use (null: no --devices_file), the
  // generation it is of, and the records it rejected not yet settled into
  // line outcomes (with the last one's reason).
  std::shared_ptr<const DeviceRegistry> registry_;
  uint64_t registry_generation_ = 0;
  uint64_t registry_rejected_ = 0;
  ingest::LineOutcome registry_reason_ = ingest::LineOutcome::kUnregistered;
  // Authenticated policy: the device the connection authenticated as, as
  // the registry had it then. A reload that no longer has it so revokes
  // the connection (auth_revoked) at its next read.
  struct Authenticated {
    std::string id;
    DeviceRegistry::Device device;
  };
  std::unique_ptr<const Authenticated> authenticated_;
  bool revoked_ = false;
  // Authenticated policy, not authenticated yet (read by the server's
  // sweep: Expired(kAuthTimeout)).
  std::atomic<bool> unauthenticated_{policy_ == DevicePolicy::kAuthenticated};
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_DEVICE_SESSION_H_
