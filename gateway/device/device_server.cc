#include "gateway/device/device_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <optional>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "asio.hpp"
#include "gateway/common/host_port.h"
#include "gateway/common/log.h"
#include "gateway/hub/record_batch.h"
#include "ingest/line_framer.h"
#include "ingest/line_parser.h"

namespace fixstream::gateway {

using asio::ip::tcp;

namespace {

// The batch a read's records are encoded into. It only lives during one
// handler (filled, published, cleared), so one per I/O thread serves every
// connection of that thread: idle connections hold no batch memory.
thread_local RecordBatch tls_batch;

std::chrono::nanoseconds ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

// One io_context per I/O thread (0: one per core). A context run by a single
// thread needs no strands for its connections, and an event never wakes a
// second thread to run its handler (a shared context's reactor hands events
// between its threads with a futex wake each).
std::vector<std::unique_ptr<asio::io_context>> MakeContexts(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (size_t i = 0; i < threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  return contexts;
}

}  // namespace

struct DeviceServer::Impl {
  Impl(DeviceServerOptions o, RecordStore& s, IngestCounters& c)
      : options(std::move(o)),
        store(s),
        counters(c),
        contexts(MakeContexts(options.io_threads)),
        accept_strand(asio::make_strand(*contexts[0])),
        sweep_timer(accept_strand) {}

  // The context a new connection lives on: round robin. Connections are
  // long-lived, so counts stay even.
  asio::io_context& NextContext() {
    return *contexts[next_context.fetch_add(1, std::memory_order_relaxed) % contexts.size()];
  }

  // A device listener: the plain one, or the acknowledging one.
  struct Listener {
    explicit Listener(asio::strand<asio::io_context::executor_type>& strand, bool with_acks)
        : acceptor(strand), retry_timer(strand), acks(with_acks) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;
    const bool acks;
  };

  absl::StatusOr<uint16_t> Listen(Listener& listener, const std::string& address,
                                  std::string_view flag);
  void Accept(Listener& listener);
  void OnAccepted(tcp::socket socket, bool acks);
  void ScheduleSweep();
  void Sweep();
  void Unregister(uint64_t id, const asio::ip::address& source);
  void CloseRefused(tcp::socket& socket, CloseReason reason, const asio::ip::address& source);

  struct SessionEntry {
    std::weak_ptr<DeviceSession> session;
    DeviceSession* raw;  // for the sweep's atomics; valid while `session` locks
  };

  const DeviceServerOptions options;
  RecordStore& store;
  IngestCounters& counters;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::atomic<size_t> next_context{0};
  asio::strand<asio::io_context::executor_type> accept_strand;
  std::vector<std::unique_ptr<Listener>> listeners;
  bool listening = false;  // accept strand only
  asio::steady_timer sweep_timer;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> next_connection_id{1};
  bool stopped = false;  // control thread only
  // Accept errors, limits hit and timeouts are logged at most once per 10 s
  // each, with the number of similar events in between.
  RateLimitedLog accept_error_log{LogLevel::kWarning};
  std::array<RateLimitedLog, kCloseReasonCount> close_logs{
      RateLimitedLog{LogLevel::kInfo},    RateLimitedLog{LogLevel::kInfo},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kInfo}};

  // Logs a connection closed for a limit or a timeout.
  void LogClose(CloseReason reason, const asio::ip::address& source) {
    if (reason == CloseReason::kPeerClosed || reason == CloseReason::kShutdown ||
        reason == CloseReason::kError) {
      return;  // routine: counted, not logged
    }
    close_logs[static_cast<size_t>(reason)].Log([&] {
      const std::string_view name = CloseReasonName(reason);
      return absl::StrCat("device connection from ", source.to_string(),
                          " closed: ", absl::string_view(name.data(), name.size()));
    });
  }

  mutable absl::Mutex mu;
  absl::flat_hash_map<uint64_t, SessionEntry> sessions ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<asio::ip::address, size_t> per_source ABSL_GUARDED_BY(mu);

  // Acknowledgements. Sessions waiting for a sequence to become durable
  // register here, nearest target first; OnDurable() posts to those whose
  // target is reached. A session has at most one entry.
  struct AckWaiter {
    uint64_t target;
    std::weak_ptr<DeviceSession> session;
    bool operator>(const AckWaiter& other) const { return target > other.target; }
  };
  // Registers `session` to be woken once `target` is durable. Returns false
  // (nothing registered) if it already is.
  bool AwaitDurable(uint64_t target, std::weak_ptr<DeviceSession> session);
  void OnDurable(uint64_t durable_sequence);

  absl::Mutex ack_mu;
  std::atomic<uint64_t> durable{0};     // stored under ack_mu
  std::atomic<size_t> ack_sessions{0};  // open sessions of the acknowledging listener
  std::priority_queue<AckWaiter, std::vector<AckWaiter>, std::greater<>> ack_waiters
      ABSL_GUARDED_BY(ack_mu);
};

// One vehicle connection. Runs on its socket's I/O thread; owned by the
// shared_ptr captured in its pending handler.
class DeviceSession final : public std::enable_shared_from_this<DeviceSession>,
                            private ingest::RecordSink {
 public:
  DeviceSession(tcp::socket socket, asio::ip::address source, uint64_t id, bool acks,
                DeviceServer::Impl& server)
      : socket_(std::move(socket)),
        source_(std::move(source)),
        id_(id),
        acks_(acks),
        server_(server),
        framer_(server.options.max_line_length),
        parser_(ingest::LineParserOptions{.pinned_format = server.options.pinned_format,
                                          .fix_time_window = server.options.fix_time_window}) {
    last_read_ns_.store(absl::GetCurrentTimeNanos(), std::memory_order_relaxed);
    if (acks_) server_.ack_sessions.fetch_add(1, std::memory_order_relaxed);
  }
  ~DeviceSession() {
    if (acks_) server_.ack_sessions.fetch_sub(1, std::memory_order_relaxed);
  }
  DeviceSession(const DeviceSession&) = delete;
  DeviceSession& operator=(const DeviceSession&) = delete;

  asio::any_io_executor executor() { return socket_.get_executor(); }
  const asio::ip::address& source() const { return source_; }

  void Start() {
    if (closed_) return;
    asio::error_code ec;
    socket_.non_blocking(true, ec);
    if (!ec) SetKeepalive();
    if (ec) {
      Close(CloseReason::kError);
      return;
    }
    WaitReadable();
  }

  // Reads what the peer already sent, publishes it and closes. Used by the
  // server's Stop(); may be called from any thread.
  void Drain() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->closed_) return;
      self->ReadAvailable(/*budget=*/SIZE_MAX);
      self->Close(CloseReason::kShutdown);
    });
  }

  // Closes for a timeout unless the connection has become active again by
  // the time this runs on its thread. May be called from any thread.
  void Expire(CloseReason reason) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), reason] {
      if (self->closed_) return;
      // Bytes that already arrived still count as activity and get parsed.
      switch (self->ReadAvailable(self->server_.options.read_budget)) {
        case ReadState::kPeerClosed:
          self->Close(CloseReason::kPeerClosed);
          return;
        case ReadState::kError:
          self->Close(CloseReason::kError);
          return;
        case ReadState::kWouldBlock:
        case ReadState::kBudgetSpent:
          break;
      }
      if (self->Expired(reason, absl::GetCurrentTimeNanos())) self->Close(reason);
    });
  }

  // The durable sequence reached a target this session waits for. Any
  // thread.
  void WakeForAck() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->ack_waiting_ = false;
      self->TryAck();
    });
  }

  // Thread-safe check of the timeouts, for the server's sweep.
  bool Expired(CloseReason reason, int64_t now_ns) const {
    const DeviceServerOptions& o = server_.options;
    if (reason == CloseReason::kIdleTimeout) {
      return o.idle_timeout > absl::ZeroDuration() &&
             now_ns - last_read_ns_.load(std::memory_order_relaxed) >=
                 absl::ToInt64Nanoseconds(o.idle_timeout);
    }
    const int64_t since = partial_since_ns_.load(std::memory_order_relaxed);
    return o.line_timeout > absl::ZeroDuration() && since != 0 &&
           now_ns - since >= absl::ToInt64Nanoseconds(o.line_timeout);
  }

 private:
  void SetKeepalive() {
    const DeviceServerOptions& o = server_.options;
    const int fd = socket_.native_handle();
    const int on = 1;
    const int idle = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(o.keepalive_idle)));
    const int interval =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(o.keepalive_interval)));
    const int probes = std::max(1, o.keepalive_probes);
    // Best effort: a socket that refuses keepalive still works, and the idle
    // timeout bounds how long a vanished peer can hold it.
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
  }

  void WaitReadable() {
    socket_.async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this()](const asio::error_code& ec) { self->OnReadable(ec); });
  }

  void OnReadable(const asio::error_code& ec) {
    if (closed_) return;
    if (ec) {
      Close(CloseReason::kError);
      return;
    }
    switch (ReadAvailable(server_.options.read_budget)) {
      case ReadState::kWouldBlock:
        framer_.ReleaseIfEmpty();  // keep idle connections small
        WaitReadable();
        return;
      case ReadState::kBudgetSpent:
        // Yield the thread to other connections, then carry on.
        asio::post(socket_.get_executor(),
                   [self = shared_from_this()] { self->OnReadable(asio::error_code()); });
        return;
      case ReadState::kPeerClosed:
        if (AcksOutstanding()) {
          // The device closed its sending side and waits for the last
          // acknowledgements: stop reading, close once they are written
          // (or when the idle timeout expires).
          read_closed_ = true;
          // No read is pending to own the session now: it owns itself
          // until Close().
          self_while_half_closed_ = shared_from_this();
          return;
        }
        Close(CloseReason::kPeerClosed);
        return;
      case ReadState::kError:
        Close(CloseReason::kError);
        return;
    }
  }

  enum class ReadState { kWouldBlock, kBudgetSpent, kPeerClosed, kError };

  // Reads until the socket would block, the peer closed, or `budget` bytes
  // were read. Every read's records are published as one batch.
  ReadState ReadAvailable(size_t budget) {
    size_t total = 0;
    for (;;) {
      absl::Span<char> space = framer_.PrepareWrite(server_.options.read_chunk);
      asio::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        return ReadState::kWouldBlock;
      }
      if (ec == asio::error::eof) return ReadState::kPeerClosed;
      if (ec) return ReadState::kError;
      framer_.CommitWrite(n);
      bytes_read_ += n;
      const int64_t now = absl::GetCurrentTimeNanos();
      last_read_ns_.store(now, std::memory_order_relaxed);
      ProcessLines(now);
      // A partial line starts the line timeout; completing it stops it.
      if (framer_.buffered() == 0) {
        partial_since_ns_.store(0, std::memory_order_relaxed);
      } else if (partial_since_ns_.load(std::memory_order_relaxed) == 0) {
        partial_since_ns_.store(now, std::memory_order_relaxed);
      }
      total += n;
      if (total >= budget) return ReadState::kBudgetSpent;
    }
  }

  void ProcessLines(int64_t receive_time_unix_ns) {
    receive_time_unix_ns_ = receive_time_unix_ns;
    ingest::Frame frame;
    while (framer_.Next(&frame)) {
      ++lines_seen_;
      const ingest::LineOutcome outcome =
          frame.kind == ingest::Frame::Kind::kTooLong
              ? ingest::LineOutcome::kTooLong
              : parser_.Parse(frame.text, receive_time_unix_ns, *this);
      ++lines_[static_cast<size_t>(outcome)];
    }
    parser_.Flush(*this);
    // Counters first: whoever sees a record can also see its line counted.
    FlushCounters();
    Publish();
    FlushCounters();
    if (acks_) QueueAck();
  }

  // Acknowledgements. Every line read so far is settled once the records
  // published up to now (ack_target_) are durable: its record is one of
  // them, its duplicate's original is, or it was rejected. So after each
  // read the pair (lines so far, target) is queued, and `ACK <lines>` is
  // written once the durable sequence reaches the target.
  void QueueAck() {
    if (acks_blocked_) return;
    const uint64_t queued = pending_acks_.empty() ? acked_lines_ : pending_acks_.back().lines;
    if (lines_seen_ == queued) return;
    // Merging into the newest entry only ever delays an acknowledgement; it
    // also bounds the list while durability stalls (a failed journal).
    if (!pending_acks_.empty() &&
        (pending_acks_.back().target == ack_target_ || pending_acks_.size() >= kMaxPendingAcks)) {
      pending_acks_.back() = PendingAck{lines_seen_, ack_target_};
    } else {
      pending_acks_.push_back(PendingAck{lines_seen_, ack_target_});
    }
    TryAck();
  }

  void TryAck() {
    if (closed_) return;
    for (;;) {
      const uint64_t durable = server_.durable.load(std::memory_order_acquire);
      size_t done = 0;
      uint64_t lines = acked_lines_;
      while (done < pending_acks_.size() && pending_acks_[done].target <= durable) {
        lines = pending_acks_[done++].lines;
      }
      pending_acks_.erase(pending_acks_.begin(), pending_acks_.begin() + done);
      if (lines > acked_lines_) {
        acked_lines_ = lines;
        WriteAck();
      }
      if (pending_acks_.empty() || ack_waiting_) break;
      if (server_.AwaitDurable(pending_acks_.front().target, weak_from_this())) {
        ack_waiting_ = true;
        break;
      }
      // Became durable meanwhile: go round again.
    }
    if (pending_acks_.empty() && pending_acks_.capacity() > 4) {
      pending_acks_.shrink_to_fit();  // idle connections stay small
    }
    FinishIfHalfClosed();
  }

  // One write in flight; a newer count replaces an unwritten older one (the
  // count is cumulative), so a peer that never reads costs a few bytes.
  void WriteAck() {
    if (ack_write_in_flight_) return;  // the completion writes the newest
    ack_out_.clear();
    absl::StrAppend(&ack_out_, "ACK ", acked_lines_, "\n");
    written_ack_ = acked_lines_;
    ack_write_in_flight_ = true;
    asio::async_write(socket_, asio::buffer(ack_out_),
                      [self = shared_from_this()](const asio::error_code& ec, size_t) {
                        self->ack_write_in_flight_ = false;
                        if (self->closed_) return;
                        if (ec) {
                          // The peer is gone; a half-closed one has nothing
                          // left to read, an open one is found by its read.
                          if (self->read_closed_) self->Close(CloseReason::kPeerClosed);
                          return;
                        }
                        if (self->acked_lines_ > self->written_ack_) {
                          self->WriteAck();
                        } else {
                          self->FinishIfHalfClosed();
                        }
                      });
  }

  bool AcksOutstanding() const {
    return acks_ && !acks_blocked_ && (!pending_acks_.empty() || ack_write_in_flight_);
  }

  void FinishIfHalfClosed() {
    if (read_closed_ && !closed_ && !AcksOutstanding()) Close(CloseReason::kPeerClosed);
  }

  void OnRecord(const ingest::LocationRecord& record) override {
    tls_batch.Add(record, receive_time_unix_ns_, id_);
  }

  void Publish() {
    RecordBatch& batch = tls_batch;
    if (batch.empty()) return;
    const RecordStore::PublishResult result = server_.store.Publish(batch);
    if (result.published > 0) {
      server_.counters.receive_to_publish.Observe(
          absl::GetCurrentTimeNanos() - receive_time_unix_ns_, result.published);
    }
    ack_target_ = std::max(ack_target_, result.commit_position);
    // Refused records were never published: nothing after them may be
    // acknowledged.
    if (result.refused > 0) acks_blocked_ = true;
    records_published_ += result.published;
    records_duplicate_ += result.duplicates;
    records_late_ += result.late;
    records_dropped_ += result.refused;
    batch.Clear();
  }

  void FlushCounters() {
    IngestCounters& c = server_.counters;
    auto add = [](std::atomic<uint64_t>& counter, uint64_t& local) {
      if (local != 0) {
        counter.fetch_add(local, std::memory_order_relaxed);
        local = 0;
      }
    };
    add(c.bytes_read, bytes_read_);
    for (size_t i = 0; i < lines_.size(); ++i) add(c.lines[i], lines_[i]);
    add(c.records_published, records_published_);
    add(c.records_duplicate, records_duplicate_);
    add(c.records_late, records_late_);
    add(c.records_dropped_at_shutdown, records_dropped_);
    uint64_t discarded = framer_.bytes_discarded() - discarded_reported_;
    discarded_reported_ = framer_.bytes_discarded();
    add(c.bytes_discarded, discarded);
    uint64_t framed = framer_.bytes_framed() - framed_reported_;
    framed_reported_ = framer_.bytes_framed();
    add(c.bytes_framed, framed);
  }

  void Close(CloseReason reason) {
    if (closed_) return;
    closed_ = true;
    // A partial line at close is dropped and counted (see docs/PROTOCOL.md).
    switch (framer_.Finish()) {
      case ingest::LineFramer::Tail::kNone:
        break;
      case ingest::LineFramer::Tail::kUnterminated:
        ++lines_[static_cast<size_t>(ingest::LineOutcome::kUnterminated)];
        break;
      case ingest::LineFramer::Tail::kTooLong:
        ++lines_[static_cast<size_t>(ingest::LineOutcome::kTooLong)];
        break;
    }
    framer_.ReleaseIfEmpty();
    receive_time_unix_ns_ = absl::GetCurrentTimeNanos();
    parser_.Flush(*this);
    FlushCounters();
    Publish();
    FlushCounters();
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    IngestCounters& c = server_.counters;
    c.connections_closed_by[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    c.connections_closed.fetch_add(1, std::memory_order_relaxed);
    c.connections_active.fetch_sub(1, std::memory_order_relaxed);
    server_.LogClose(reason, source_);
    server_.Unregister(id_, source_);
    // Last: may release the final reference to this session.
    std::shared_ptr<DeviceSession> release = std::move(self_while_half_closed_);
  }

  tcp::socket socket_;
  const asio::ip::address source_;
  const uint64_t id_;
  const bool acks_;  // accepted on the acknowledging listener
  DeviceServer::Impl& server_;
  ingest::LineFramer framer_;
  ingest::LineParser parser_;
  int64_t receive_time_unix_ns_ = 0;
  bool closed_ = false;
  // Read by the server's sweep from another thread.
  std::atomic<int64_t> last_read_ns_{0};
  std::atomic<int64_t> partial_since_ns_{0};  // 0: no partial line buffered
  // Counted locally, added to the shared counters once per read.
  std::array<uint64_t, ingest::kLineOutcomeCount> lines_{};
  uint64_t bytes_read_ = 0;
  uint64_t records_published_ = 0;
  uint64_t records_duplicate_ = 0;
  uint64_t records_late_ = 0;
  uint64_t records_dropped_ = 0;
  uint64_t discarded_reported_ = 0;
  uint64_t framed_reported_ = 0;
  // Acknowledgements (acks_ only; see QueueAck()).
  struct PendingAck {
    uint64_t lines;   // lines 1..lines are settled once
    uint64_t target;  // this sequence is durable
  };
  static constexpr size_t kMaxPendingAcks = 64;
  uint64_t lines_seen_ = 0;               // newline-terminated lines framed so far
  uint64_t ack_target_ = 0;               // newest sequence published when the last line was read
  std::vector<PendingAck> pending_acks_;  // targets increasing
  uint64_t acked_lines_ = 0;              // newest count to acknowledge
  uint64_t written_ack_ = 0;              // count in ack_out_
  std::string ack_out_;
  bool ack_waiting_ = false;  // registered with the server's AwaitDurable
  bool ack_write_in_flight_ = false;
  bool acks_blocked_ = false;  // records were refused (shutdown)
  bool read_closed_ = false;   // the peer closed its side; acks outstanding
  std::shared_ptr<DeviceSession> self_while_half_closed_;
};

bool DeviceServer::Impl::AwaitDurable(uint64_t target, std::weak_ptr<DeviceSession> session) {
  absl::MutexLock lock(&ack_mu);
  if (durable.load(std::memory_order_relaxed) >= target) return false;
  // Entries of closed sessions wait for their target like the others; should
  // durability stall while devices come and go, drop them before they pile
  // up (a live session has at most one entry).
  if (ack_waiters.size() >= 2 * ack_sessions.load(std::memory_order_relaxed) + 64) {
    std::vector<AckWaiter> live;
    for (; !ack_waiters.empty(); ack_waiters.pop()) {
      if (!ack_waiters.top().session.expired()) live.push_back(ack_waiters.top());
    }
    for (AckWaiter& w : live) ack_waiters.push(std::move(w));
  }
  ack_waiters.push(AckWaiter{target, std::move(session)});
  return true;
}

void DeviceServer::Impl::OnDurable(uint64_t durable_sequence) {
  std::vector<std::shared_ptr<DeviceSession>> ready;
  {
    absl::MutexLock lock(&ack_mu);
    if (durable_sequence <= durable.load(std::memory_order_relaxed)) return;
    durable.store(durable_sequence, std::memory_order_release);
    while (!ack_waiters.empty() && ack_waiters.top().target <= durable_sequence) {
      if (auto session = ack_waiters.top().session.lock()) ready.push_back(std::move(session));
      ack_waiters.pop();
    }
  }
  for (auto& session : ready) session->WakeForAck();
}

void DeviceServer::Impl::Accept(Listener& listener) {
  tcp::acceptor& acceptor = listener.acceptor;
  acceptor.async_accept(
      NextContext(), [this, &listener, &acceptor](const asio::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec && !acceptor.is_open()) {
          // Accepted just before StopAccepting closed the listener: the device
          // may already have sent data, so it is served and drained like any
          // other connection, but the accept loop is not re-armed.
          OnAccepted(std::move(socket), listener.acks);
          return;
        }
        if (!acceptor.is_open()) return;
        if (ec) {
          // EMFILE/ENFILE and friends: the pending connection stays in the
          // backlog, so retrying at once would spin. Back off, log once per
          // interval with a count, and re-arm.
          counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
          accept_error_log.Log([&] {
            return absl::StrCat("device accept failed: ", ec.message(), "; retrying every 100 ms");
          });
          listener.retry_timer.expires_after(std::chrono::milliseconds(100));
          listener.retry_timer.async_wait([this, &listener](const asio::error_code& timer_ec) {
            if (!timer_ec && listener.acceptor.is_open()) Accept(listener);
          });
          return;
        }
        OnAccepted(std::move(socket), listener.acks);
        Accept(listener);
      });
}

void DeviceServer::Impl::CloseRefused(tcp::socket& socket, CloseReason reason,
                                      const asio::ip::address& source) {
  LogClose(reason, source);
  counters.connections_closed_by[static_cast<size_t>(reason)].fetch_add(1,
                                                                        std::memory_order_relaxed);
  counters.connections_closed.fetch_add(1, std::memory_order_relaxed);
  // Linger 0: a reset frees the descriptor and kernel state at once, which is
  // what a flood needs.
  asio::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

void DeviceServer::Impl::OnAccepted(tcp::socket socket, bool acks) {
  counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  asio::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) {  // the peer is already gone
    CloseRefused(socket, CloseReason::kError, {});
    return;
  }
  const asio::ip::address source = remote.address();
  const uint64_t id = next_connection_id.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<DeviceSession> session;
  {
    absl::MutexLock lock(&mu);
    // While draining, what is taken in from the listen backlog (bounded by
    // it) is read and published, never refused: those devices may already
    // have sent data, and an accept that completed before the listener
    // closed can be handled after the backlog's other connections.
    const bool enforce_limits = listening;
    if (enforce_limits && sessions.size() >= options.max_connections) {
      CloseRefused(socket, CloseReason::kConnectionLimit, source);
      return;
    }
    size_t& from_source = per_source[source];
    if (enforce_limits && options.max_connections_per_source > 0 &&
        from_source >= options.max_connections_per_source) {
      if (from_source == 0) per_source.erase(source);
      CloseRefused(socket, CloseReason::kSourceLimit, source);
      return;
    }
    ++from_source;
    session = std::make_shared<DeviceSession>(std::move(socket), source, id, acks, *this);
    sessions.emplace(id, SessionEntry{session, session.get()});
  }
  counters.connections_active.fetch_add(1, std::memory_order_relaxed);
  asio::post(session->executor(), [session] { session->Start(); });
}

void DeviceServer::Impl::Unregister(uint64_t id, const asio::ip::address& source) {
  absl::MutexLock lock(&mu);
  sessions.erase(id);
  auto it = per_source.find(source);
  if (it != per_source.end() && --it->second == 0) per_source.erase(it);
}

void DeviceServer::Impl::ScheduleSweep() {
  absl::Duration shortest = absl::InfiniteDuration();
  if (options.idle_timeout > absl::ZeroDuration()) shortest = options.idle_timeout;
  if (options.line_timeout > absl::ZeroDuration()) {
    shortest = std::min(shortest, options.line_timeout);
  }
  if (shortest == absl::InfiniteDuration()) return;
  // A timeout fires at most a quarter of itself late, checked at most every
  // second and at least every 10 ms.
  const absl::Duration period = std::clamp(shortest / 4, absl::Milliseconds(10), absl::Seconds(1));
  sweep_timer.expires_after(ToChrono(period));
  sweep_timer.async_wait([this](const asio::error_code& ec) {
    if (ec || !listening) return;
    Sweep();
    ScheduleSweep();
  });
}

// One pass over every connection's activity stamps, instead of a timer per
// connection re-armed on every read.
void DeviceServer::Impl::Sweep() {
  const int64_t now = absl::GetCurrentTimeNanos();
  std::vector<std::pair<std::shared_ptr<DeviceSession>, CloseReason>> expired;
  {
    absl::MutexLock lock(&mu);
    for (auto& [id, entry] : sessions) {
      for (CloseReason reason : {CloseReason::kIdleTimeout, CloseReason::kLineTimeout}) {
        if (entry.raw->Expired(reason, now)) {
          if (auto s = entry.session.lock()) expired.emplace_back(std::move(s), reason);
          break;
        }
      }
    }
  }
  for (auto& [session, reason] : expired) session->Expire(reason);
}

DeviceServer::DeviceServer(DeviceServerOptions options, RecordStore& store,
                           IngestCounters& counters)
    : impl_(std::make_unique<Impl>(std::move(options), store, counters)) {}

DeviceServer::~DeviceServer() { Stop(); }

absl::StatusOr<uint16_t> DeviceServer::Impl::Listen(Listener& listener, const std::string& address,
                                                    std::string_view flag) {
  const std::string flag_name(flag);
  absl::StatusOr<HostPort> hp = ParseHostPort(flag_name, address);
  if (!hp.ok()) return hp.status();
  asio::error_code ec;
  tcp::resolver resolver(*contexts[0]);
  auto endpoints = resolver.resolve(hp->host, std::to_string(hp->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag_name, "=", address,
                     ": cannot resolve host: ", ec ? ec.message() : "no addresses"));
  }
  const tcp::endpoint endpoint = *endpoints.begin();
  tcp::acceptor& acceptor = listener.acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --", flag_name, "=", address, ": ", ec.message()));
  }
  return acceptor.local_endpoint().port();
}

absl::StatusOr<uint16_t> DeviceServer::Start() {
  Impl& impl = *impl_;
  impl.listeners.push_back(std::make_unique<Impl::Listener>(impl.accept_strand, false));
  absl::StatusOr<uint16_t> port =
      impl.Listen(*impl.listeners.back(), impl.options.listen, "device_listen");
  if (!port.ok()) return port.status();
  if (!impl.options.ack_listen.empty()) {
    impl.listeners.push_back(std::make_unique<Impl::Listener>(impl.accept_strand, true));
    absl::StatusOr<uint16_t> ack_port =
        impl.Listen(*impl.listeners.back(), impl.options.ack_listen, "device_ack_listen");
    if (!ack_port.ok()) return ack_port.status();
    ack_port_ = *ack_port;
  }
  for (auto& context : impl_->contexts) impl_->work.emplace_back(context->get_executor());
  asio::post(impl_->accept_strand, [impl = impl_.get()] {
    impl->listening = true;
    for (auto& listener : impl->listeners) impl->Accept(*listener);
    impl->ScheduleSweep();
  });
  for (auto& context : impl_->contexts) {
    impl_->threads.emplace_back([context = context.get()] { context->run(); });
  }
  accepting_.store(true, std::memory_order_release);
  return *port;
}

void DeviceServer::OnDurable(uint64_t durable_sequence) { impl_->OnDurable(durable_sequence); }

bool DeviceServer::IsConnectionOpen(uint64_t connection_id) const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sessions.contains(connection_id);
}

void DeviceServer::StopAccepting() {
  if (!accepting_.exchange(false)) return;
  // The acceptor belongs to its strand; close it there and wait.
  std::promise<void> done;
  asio::post(impl_->accept_strand, [impl = impl_.get(), &done] {
    impl->listening = false;
    for (auto& listener : impl->listeners) {
      // Connections the kernel already completed wait in the listen backlog
      // and may have sent data: take them in (to be drained like the
      // others) rather than reset them by closing the listener under them.
      asio::error_code ec;
      listener->acceptor.non_blocking(true, ec);
      while (!ec) {
        tcp::socket socket(impl->NextContext());
        listener->acceptor.accept(socket, ec);
        if (!ec) impl->OnAccepted(std::move(socket), listener->acks);
      }
      asio::error_code ignored;
      listener->acceptor.close(ignored);
      listener->retry_timer.cancel();
    }
    impl->sweep_timer.cancel();
    done.set_value();
  });
  done.get_future().wait();
  // An accept that completed before the close may still have its handler
  // queued on the strand; let it run (it registers the connection) before
  // the caller looks at the sessions.
  std::promise<void> barrier;
  asio::post(impl_->accept_strand, [&barrier] { barrier.set_value(); });
  barrier.get_future().wait();
}

void DeviceServer::Stop(absl::Duration grace) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->threads.empty()) return;  // never started
  StopAccepting();
  if (grace > absl::ZeroDuration()) {
    // Devices mid-transmission get to finish and close by themselves.
    absl::MutexLock lock(&impl_->mu);
    auto all_closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
      return impl_->sessions.empty();
    };
    impl_->mu.AwaitWithTimeout(absl::Condition(&all_closed), grace);
  }
  std::vector<std::shared_ptr<DeviceSession>> sessions;
  {
    absl::MutexLock lock(&impl_->mu);
    for (auto& [id, entry] : impl_->sessions) {
      if (auto s = entry.session.lock()) sessions.push_back(std::move(s));
    }
  }
  for (auto& s : sessions) s->Drain();
  sessions.clear();
  // With the acceptors closed and every session closing, each context's
  // run() returns once its last handler has run.
  impl_->work.clear();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace fixstream::gateway
