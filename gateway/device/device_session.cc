#include "gateway/device/device_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "gateway/common/monotonic_clock.h"
#include "gateway/hub/record_batch.h"
#include "ingest/auth_line.h"
#include "ingest/location_record.h"
#include "openssl/crypto.h"

namespace fixstream::gateway {

using asio::ip::tcp;

namespace {

// The batch a read's records are encoded into. It only lives during one
// handler (filled, published, cleared), so one per I/O thread serves every
// connection of that thread: idle connections hold no batch memory.
thread_local RecordBatch tls_batch;

}  // namespace

DeviceSession::DeviceSession(tcp::socket socket, asio::ip::address source, uint64_t id,
                             const ListenerOptions& listener, std::string_view vehicle_id,
                             const Context& context,
                             std::shared_ptr<const TlsServerCredentials> tls)
    : socket_(std::move(socket)),
      source_(std::move(source)),
      id_(id),
      acks_(listener.acks),
      policy_(EffectivePolicy(listener, context.options)),
      accepted_ns_(MonotonicNanos()),
      awaiting_first_line_(listener.identification == Identification::kFirstLine ||
                           policy_ == DevicePolicy::kAuthenticated),
      context_(context),
      framer_(context.options.max_line_length),
      parser_(ingest::LineParserOptions{.pinned_format = listener.pinned_format,
                                        .fix_time_window = context.options.fix_time_window}),
      detecting_(listener.DetectsProtocols() && policy_ != DevicePolicy::kAuthenticated) {
  if (!vehicle_id.empty()) parser_.SetConnectionVehicle(vehicle_id);
  if (listener.protocol) StartDeviceProtocol(*listener.protocol);
  last_read_ns_.store(accepted_ns_, std::memory_order_relaxed);
  if (tls != nullptr) {
    tls_ = std::make_unique<TlsConnection>(std::move(tls), socket_.native_handle());
    // The handshake timeout runs from the accept.
    handshake_since_ns_.store(last_read_ns_.load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
  }
  if (acks_) context_.durability.AddWaiter();
}

DeviceSession::~DeviceSession() {
  if (acks_) context_.durability.RemoveWaiter();
}

void DeviceSession::Start() {
  if (closed_) return;
  asio::error_code ec;
  socket_.non_blocking(true, ec);
  if (!ec) SetKeepalive();
  if (ec || (tls_ != nullptr && !tls_->ok())) {
    Close(CloseReason::kError);
    return;
  }
  if (tls_ != nullptr) {
    ContinueHandshake();
    return;
  }
  WaitReadable();
}

void DeviceSession::ContinueHandshake() {
  if (closed_) return;
  TlsFailure failure = TlsFailure::kProtocolError;
  switch (tls_->Handshake(&failure)) {
    case TlsConnection::Step::kDone:
      handshake_since_ns_.store(0, std::memory_order_relaxed);
      context_.counters.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
      // The client's first records may have come right behind its Finished.
      OnReadable(asio::error_code());
      return;
    case TlsConnection::Step::kWouldBlock:
      socket_.async_wait(tls_->wants_write() ? tcp::socket::wait_write : tcp::socket::wait_read,
                         [self = shared_from_this()](const asio::error_code& ec) {
                           if (self->closed_) return;
                           if (ec) {
                             self->Close(CloseReason::kError);
                             return;
                           }
                           self->ContinueHandshake();
                         });
      return;
    case TlsConnection::Step::kFailed:
      context_.counters.tls_handshake_failures[static_cast<size_t>(failure)].fetch_add(
          1, std::memory_order_relaxed);
      Close(CloseReason::kTlsHandshakeFailed);
      return;
  }
}

template <typename Handler>
void DeviceSession::AsyncWrite(const char* data, size_t size, Handler&& done) {
  if (tls_ == nullptr) [[likely]] {
    asio::async_write(socket_, asio::buffer(data, size),
                      [done = std::forward<Handler>(done)](const asio::error_code& ec,
                                                           size_t) mutable { done(ec); });
    return;
  }
  TlsWrite(data, size, std::function<void(const asio::error_code&)>(std::forward<Handler>(done)));
}

// OpenSSL's rule: after "would block" the same bytes are written again, once
// the socket is ready.
void DeviceSession::TlsWrite(const char* data, size_t size,
                             std::function<void(const asio::error_code&)> done) {
  while (size > 0 && !closed_) {
    asio::error_code ec;
    const size_t n = tls_->Write(data, size, ec);
    if (ec == asio::error::would_block) {
      socket_.async_wait(tls_->wants_write() ? tcp::socket::wait_write : tcp::socket::wait_read,
                         [self = shared_from_this(), data, size,
                          done = std::move(done)](const asio::error_code& wait_ec) mutable {
                           if (wait_ec || self->closed_) {
                             done(wait_ec ? wait_ec : asio::error::operation_aborted);
                             return;
                           }
                           self->TlsWrite(data, size, std::move(done));
                         });
      return;
    }
    if (ec) {
      CountTlsError();
      asio::post(socket_.get_executor(), [done = std::move(done), ec] { done(ec); });
      return;
    }
    data += n;
    size -= n;
  }
  const asio::error_code result =
      closed_ ? asio::error_code(asio::error::operation_aborted) : asio::error_code();
  asio::post(socket_.get_executor(), [done = std::move(done), result] { done(result); });
}

void DeviceSession::CountTlsError() {
  if (!tls_->tls_failed()) return;  // the socket's error (a reset): counted by the close
  context_.counters.tls_errors[static_cast<size_t>(tls_->last_failure())].fetch_add(
      1, std::memory_order_relaxed);
}

void DeviceSession::Drain() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;
    // Paused: the store takes nothing; Close() counts what it kept.
    if (self->paused_) {
      self->Close(CloseReason::kShutdown);
      return;
    }
    // What was sent before the drain began (queued in the kernel now) is
    // read and published; a device that keeps sending cannot hold the
    // shutdown (the rest is its to resend).
    int queued = 0;
    if (::ioctl(self->socket_.native_handle(), FIONREAD, &queued) != 0) queued = 0;
    // (TLS: what OpenSSL decrypted already is on top; the ciphertext queued
    // is more than its plaintext.)
    const size_t held = self->tls_ != nullptr ? self->tls_->pending() : 0;
    self->ReadAvailable(static_cast<size_t>(std::max(queued, 1)) + held);
    self->Close(CloseReason::kShutdown);
  });
}

void DeviceSession::Expire(CloseReason reason) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), reason] {
    if (reason == CloseReason::kTlsHandshakeTimeout) {
      if (self->closed_ || self->handshake_since_ns_.load(std::memory_order_relaxed) == 0) return;
      self->context_.counters.tls_handshake_failures[static_cast<size_t>(TlsFailure::kTimeout)]
          .fetch_add(1, std::memory_order_relaxed);
      self->Close(reason);
      return;
    }
    // Paused, the connection waits for the gateway, not for its device.
    if (self->closed_ || self->paused_) return;
    // Half closed: nothing more to read, the wait for the final
    // acknowledgement is over.
    if (self->read_closed_) {
      self->Close(reason);
      return;
    }
    // Bytes that already arrived still count as activity and get parsed.
    switch (self->ReadAvailable(self->context_.options.read_budget)) {
      case ReadState::kPeerClosed:
        self->Close(CloseReason::kPeerClosed);
        return;
      case ReadState::kError:
        self->Close(CloseReason::kError);
        return;
      case ReadState::kClosed:
      case ReadState::kPaused:
        return;
      case ReadState::kWouldBlock:
      case ReadState::kBudgetSpent:
        break;
    }
    if (self->Expired(reason, MonotonicNanos())) self->Close(reason);
  });
}

void DeviceSession::OnTargetDurable() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->ack_queue_.Woken();
    self->TryAck();
  });
}

void DeviceSession::Resume() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->ResumeOnThread(); });
}

bool DeviceSession::Expired(CloseReason reason, int64_t now_ns) const {
  if (paused_.load(std::memory_order_relaxed)) return false;  // not the device's doing
  if (reason == CloseReason::kIdleTimeout) {
    absl::Duration limit = context_.options.idle_timeout;
    const absl::Duration ack_wait = context_.options.half_closed_ack_wait;
    if (read_closed_.load(std::memory_order_relaxed) && ack_wait > absl::ZeroDuration() &&
        (limit <= absl::ZeroDuration() || ack_wait < limit)) {
      limit = ack_wait;
    }
    return limit > absl::ZeroDuration() && now_ns - last_read_ns_.load(std::memory_order_relaxed) >=
                                               absl::ToInt64Nanoseconds(limit);
  }
  if (reason == CloseReason::kAuthTimeout) {
    // A connection that holds a slot without authenticating: as long as a
    // partial line may wait (--line_timeout_ms), from the accept.
    return unauthenticated_.load(std::memory_order_relaxed) &&
           context_.options.line_timeout > absl::ZeroDuration() &&
           now_ns - accepted_ns_ >= absl::ToInt64Nanoseconds(context_.options.line_timeout);
  }
  if (reason == CloseReason::kTlsHandshakeTimeout) {
    const int64_t since = handshake_since_ns_.load(std::memory_order_relaxed);
    return context_.options.tls_handshake_timeout > absl::ZeroDuration() && since != 0 &&
           now_ns - since >= absl::ToInt64Nanoseconds(context_.options.tls_handshake_timeout);
  }
  if (reason == CloseReason::kReplyTimeout) {
    const int64_t since = reply_since_ns_.load(std::memory_order_relaxed);
    return context_.options.reply_timeout > absl::ZeroDuration() && since != 0 &&
           now_ns - since >= absl::ToInt64Nanoseconds(context_.options.reply_timeout);
  }
  const int64_t since = partial_since_ns_.load(std::memory_order_relaxed);
  return context_.options.line_timeout > absl::ZeroDuration() && since != 0 &&
         now_ns - since >= absl::ToInt64Nanoseconds(context_.options.line_timeout);
}

void DeviceSession::SetKeepalive() {
  const int fd = socket_.native_handle();
  const int on = 1;
  const int idle =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(context_.options.keepalive_idle)));
  const int interval = static_cast<int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(context_.options.keepalive_interval)));
  const int probes = std::max(1, context_.options.keepalive_probes);
  // Best effort: a socket that refuses keepalive still works, and the idle
  // timeout bounds how long a vanished peer can hold it.
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
}

void DeviceSession::WaitReadable() {
  // (TLS: a read that would block may need the socket writable, rarely.)
  socket_.async_wait(
      tls_ != nullptr && tls_->wants_write() ? tcp::socket::wait_write : tcp::socket::wait_read,
      [self = shared_from_this()](const asio::error_code& ec) { self->OnReadable(ec); });
}

void DeviceSession::OnReadable(const asio::error_code& ec) {
  if (closed_) return;
  if (ec) {
    Close(CloseReason::kError);
    return;
  }
  switch (ReadAvailable(context_.options.read_budget)) {
    case ReadState::kWouldBlock:
      // Keep idle connections small.
      if (messages_ != nullptr) {
        messages_->ReleaseIfEmpty();
      } else {
        framer_.ReleaseIfEmpty();
      }
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
        // acknowledgements: stop reading, close once they are written (or
        // when the idle timeout expires).
        read_closed_.store(true, std::memory_order_relaxed);
        // No read is pending to own the session now: it owns itself until
        // Close().
        self_while_half_closed_ = shared_from_this();
        return;
      }
      Close(CloseReason::kPeerClosed);
      return;
    case ReadState::kError:
      Close(CloseReason::kError);
      return;
    case ReadState::kClosed:
    case ReadState::kPaused:  // (Resume() reads on)
      return;
  }
}

// Every read's records are published as one batch: one hub lock and one
// wake-up per read, not per line.
DeviceSession::ReadState DeviceSession::ReadAvailable(size_t budget) {
  // (TLS: nothing to read before the handshake completed.)
  if (handshake_since_ns_.load(std::memory_order_relaxed) != 0) [[unlikely]] {
    return ReadState::kWouldBlock;
  }
  size_t total = 0;
  for (;;) {
    absl::Span<char> space = PrepareRead();
    asio::error_code ec;
    // One branch per read. TLS reads until OpenSSL would block as well, so
    // nothing it decrypted is left behind when the loop waits again.
    size_t n;
    if (tls_ == nullptr) [[likely]] {
      n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
    } else {
      n = tls_->Read(space.data(), space.size(), ec);
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      return ReadState::kWouldBlock;
    }
    if (ec == asio::error::eof) return ReadState::kPeerClosed;
    if (ec) {
      if (tls_ != nullptr) CountTlsError();
      return ReadState::kError;
    }
    CommitRead(n);
    bytes_read_ += n;
    const int64_t now = absl::GetCurrentTimeNanos();  // the records' receive time
    const int64_t monotonic = MonotonicNanos();       // the timeouts'
    last_read_ns_.store(monotonic, std::memory_order_relaxed);
    const uint64_t lines_before = lines_seen_;
    ProcessLines(now);
    if (closed_) return ReadState::kClosed;
    if (paused_.load(std::memory_order_relaxed)) return ReadState::kPaused;
    // The line timeout measures how long the line now incomplete has waited:
    // it began in this read if a line ended in it (or none was pending), and
    // one being discarded as over-long counts too.
    if (!InPartialMessage()) {
      partial_since_ns_.store(0, std::memory_order_relaxed);
    } else if (lines_seen_ != lines_before ||
               partial_since_ns_.load(std::memory_order_relaxed) == 0) {
      partial_since_ns_.store(monotonic, std::memory_order_relaxed);
    }
    total += n;
    if (total >= budget) return ReadState::kBudgetSpent;
  }
}

// `inline` (it is used only here): once per read, in the read loop, as it
// was when the class was defined in one piece.
inline void DeviceSession::ProcessLines(int64_t receive_time_unix_ns) {
  receive_time_unix_ns_ = receive_time_unix_ns;
  RefreshRegistry();
  if (revoked_) [[unlikely]] {
    RejectUnidentified(ingest::LineOutcome::kUnauthenticated, CloseReason::kAuthRevoked);
    return;
  }
  if (detecting_) [[unlikely]] {
    const ingest::Detection detection = ingest::DetectProtocol(framer_.buffered_bytes());
    if (detection.kind == ingest::Detection::Kind::kNeedMore) return;  // (nothing framed yet)
    detecting_ = false;
    if (detection.kind == ingest::Detection::Kind::kDevice) StartDeviceProtocol(detection.protocol);
  }
  if (decoder_ != nullptr) {
    ProcessMessages(receive_time_unix_ns);
    return;
  }
  ingest::Frame frame;
  while (framer_.Next(&frame)) {
    ++lines_seen_;
    // One predictable branch per line; true only until a first-line
    // listener's connection sent its id.
    if (awaiting_first_line_) [[unlikely]] {
      if (policy_ == DevicePolicy::kAuthenticated) {
        if (Authenticate(frame)) continue;
        RejectUnidentified(ingest::LineOutcome::kUnauthenticated, CloseReason::kAuthFailed);
        return;
      }
      if (IdentifyByFirstLine(frame)) continue;
      RejectUnidentified(ingest::LineOutcome::kUnknownVehicle, CloseReason::kBadIdentification);
      return;
    }
    ingest::LineOutcome outcome = frame.kind == ingest::Frame::Kind::kTooLong
                                      ? ingest::LineOutcome::kTooLong
                                      : parser_.Parse(frame.text, receive_time_unix_ns, *this);
    if (registry_rejected_ != 0) [[unlikely]]
      outcome = SettleRejected(outcome);
    ++lines_[static_cast<size_t>(outcome)];
    ReportFixTimeRejection(outcome, receive_time_unix_ns);
  }
  PublishParsed();
  // Paused: these lines' records wait in held_; ResumeOnThread() queues
  // their acknowledgement once they are published.
  if (acks_ && !paused_.load(std::memory_order_relaxed)) QueueAck();
}

void DeviceSession::ReportFixTimeRejection(ingest::LineOutcome outcome,
                                           int64_t receive_time_unix_ns) {
  if ((outcome == ingest::LineOutcome::kFixTooOld ||
       outcome == ingest::LineOutcome::kFixInFuture) &&
      !fix_time_rejection_reported_) [[unlikely]] {
    fix_time_rejection_reported_ = true;
    context_.registry.OnFirstFixTimeRejection(outcome, source_, receive_time_unix_ns);
  }
}

absl::Span<char> DeviceSession::PrepareRead() {
  return messages_ != nullptr ? messages_->PrepareWrite(context_.options.read_chunk)
                              : framer_.PrepareWrite(context_.options.read_chunk);
}

void DeviceSession::CommitRead(size_t n) {
  if (messages_ != nullptr) {
    messages_->CommitWrite(n);
  } else {
    framer_.CommitWrite(n);
  }
}

bool DeviceSession::InPartialMessage() const {
  return messages_ != nullptr ? messages_->buffered() > 0 : framer_.in_line();
}

// The connection speaks `protocol` from now on; what it sent so far is its
// first message(s).
void DeviceSession::StartDeviceProtocol(ingest::DeviceProtocol protocol) {
  decoder_ = ingest::MakeProtocolDecoder(
      protocol, ingest::ProtocolDecoderOptions{
                    .fix_time_window = context_.options.fix_time_window,
                    .max_message_length = std::max<size_t>(64, context_.options.max_line_length)});
  messages_ =
      std::make_unique<ingest::MessageFramer>(*decoder_, decoder_->options().max_message_length);
  if (framer_.buffered() > 0) {
    messages_->Append(framer_.buffered_bytes());
    framer_.TakeBuffered();
  }
  context_.counters.protocol_connections[static_cast<size_t>(protocol)].fetch_add(
      1, std::memory_order_relaxed);
}

// Like the line loop of ProcessLines(), for a device protocol's messages;
// then the read's records are published and the replies written.
void DeviceSession::ProcessMessages(int64_t receive_time_unix_ns) {
  RefreshRegistry();
  ingest::DeviceFrame frame;
  bool alive_without_record = false;
  while (!close_after_replies_ && messages_->Next(&frame)) {
    ++lines_seen_;
    ingest::LineOutcome outcome = ingest::LineOutcome::kMalformed;  // (kJunk)
    if (frame.kind == ingest::DeviceFrame::Kind::kMessage) {
      const size_t before = replies_.size();
      outcome = decoder_->Decode(frame.text, receive_time_unix_ns, *this, &replies_);
      if (replies_.size() != before) {
        ++protocol_replies_;
        protocol_reply_bytes_ += replies_.size() - before;
      }
      close_after_replies_ = decoder_->close_after_reply();
      if (registry_rejected_ != 0) [[unlikely]] {
        outcome = SettleRejected(outcome);
        // A message of several records counts once, under the reason if
        // one of them was rejected (its other records are published).
        registry_rejected_ = 0;
      }
    } else if (frame.kind == ingest::DeviceFrame::Kind::kTooLong) {
      outcome = ingest::LineOutcome::kTooLong;
    }
    ++lines_[static_cast<size_t>(outcome)];
    ++protocol_lines_[static_cast<size_t>(outcome)];
    ReportFixTimeRejection(outcome, receive_time_unix_ns);
    alive_without_record |= outcome == ingest::LineOutcome::kHeartbeat ||
                            outcome == ingest::LineOutcome::kIdentified ||
                            outcome == ingest::LineOutcome::kNoFix;
  }
  // A heartbeat, login or invalid fix is proof of life: the vehicle's
  // last-seen time moves without a record (once per read, not per message).
  if (alive_without_record && !decoder_->vehicle_id().empty()) {
    RefreshLastSeen(decoder_->vehicle_id(), receive_time_unix_ns);
  }
  PublishParsed();
  // Paused: the records these replies acknowledge are not published yet;
  // ResumeOnThread() writes them once they are.
  if (paused_.load(std::memory_order_relaxed)) return;
  if (!replies_.empty() || close_after_replies_) WriteReplies();
}

// One write in flight; replies queued meanwhile go in the next one, in order.
void DeviceSession::WriteReplies() {
  if (closed_) return;
  if (reply_in_flight_) {
    if (replies_.size() > context_.options.max_reply_backlog) Close(CloseReason::kReplyTimeout);
    return;
  }
  if (replies_.empty()) {
    if (close_after_replies_) {
      Close(CloseReason::kPeerClosed);
    } else {
      FinishIfHalfClosed();  // the device closed its side and got every reply
    }
    return;
  }
  replies_writing_.swap(replies_);
  replies_.clear();
  reply_in_flight_ = true;
  reply_since_ns_.store(MonotonicNanos(), std::memory_order_relaxed);
  AsyncWrite(replies_writing_.data(), replies_writing_.size(),
             [self = shared_from_this()](const asio::error_code& ec) {
               self->reply_in_flight_ = false;
               self->reply_since_ns_.store(0, std::memory_order_relaxed);
               if (self->closed_) return;
               if (ec) {
                 // The peer is gone; its read will find out (or the
                 // session is closing anyway). A half-closed one has
                 // nothing left to read.
                 if (self->close_after_replies_) {
                   self->Close(CloseReason::kError);
                 } else if (self->read_closed_) {
                   self->Close(CloseReason::kPeerClosed);
                 }
                 return;
               }
               self->replies_writing_.clear();
               self->WriteReplies();
             });
}

// The first line of a first-line listener's connection is its device id,
// validated as a vehicle id (no $PFSID, no trimming: the framer already
// took the line terminator).
bool DeviceSession::IdentifyByFirstLine(const ingest::Frame& frame) {
  awaiting_first_line_ = false;
  const bool too_long = frame.kind == ingest::Frame::Kind::kTooLong;
  if (!too_long && ingest::IsValidVehicleId(frame.text)) {
    parser_.SetConnectionVehicle(frame.text);
    ++lines_[static_cast<size_t>(ingest::LineOutcome::kIdentified)];
    return true;
  }
  ++lines_[static_cast<size_t>(too_long ? ingest::LineOutcome::kTooLong
                                        : ingest::LineOutcome::kBadVehicleId)];
  context_.registry.OnBadIdentification(source_, too_long ? std::string_view() : frame.text,
                                        too_long);
  return false;
}

// The authenticated policy's first line: an authentication line whose
// secret the registry confirms for this source. Then the connection's
// vehicle is fixed to the id (a line for another is vehicle_mismatch).
bool DeviceSession::Authenticate(const ingest::Frame& frame) {
  awaiting_first_line_ = false;
  ingest::AuthLine auth;
  std::string_view why;
  const DeviceRegistry::Device* device = nullptr;
  if (frame.kind == ingest::Frame::Kind::kTooLong) {
    why = "the first line is over --max_line_length";
  } else if (!ingest::ParseAuthLine(frame.text, &auth)) {
    why =
        "the first line is not an authentication line ($PFSID,<id>,<secret> or "
        "AUTH,<id>,<secret> or {\"vehicle_id\":...,\"secret\":...})";
  } else if (registry_ == nullptr) {
    why = "no device registry";
  } else {
    switch (registry_->Authenticate(auth.vehicle_id, auth.secret, source_, &device)) {
      case DeviceRegistry::AuthResult::kOk:
        break;
      case DeviceRegistry::AuthResult::kUnknownDevice:
        why = "the device id is not in the devices file";
        break;
      case DeviceRegistry::AuthResult::kNoSecret:
        why = "the device has no secret_sha256= in the devices file";
        break;
      case DeviceRegistry::AuthResult::kWrongSecret:
        why = "wrong secret";
        break;
      case DeviceRegistry::AuthResult::kSourceMismatch:
        why = "the device may not connect from this address (from=)";
        break;
    }
  }
  OPENSSL_cleanse(auth.secret.data(), auth.secret.size());
  if (!why.empty()) {
    ++lines_[static_cast<size_t>(frame.kind == ingest::Frame::Kind::kTooLong
                                     ? ingest::LineOutcome::kTooLong
                                     : ingest::LineOutcome::kAuthFailed)];
    context_.registry.OnAuthenticationFailed(source_, auth.vehicle_id, why);
    return false;
  }
  parser_.SetConnectionVehicle(auth.vehicle_id);
  unauthenticated_.store(false, std::memory_order_relaxed);
  authenticated_ = std::make_unique<const Authenticated>(Authenticated{auth.vehicle_id, *device});
  ++lines_[static_cast<size_t>(ingest::LineOutcome::kIdentified)];
  return true;
}

// Nothing the connection sends can be attributed to a vehicle (or may be,
// once its authentication failed or was revoked): the lines already read
// are counted (every line has an outcome) and the connection closes; none
// is acknowledged, so a device that buffers keeps its data.
void DeviceSession::RejectUnidentified(ingest::LineOutcome rest, CloseReason reason) {
  ingest::Frame frame;
  while (framer_.Next(&frame)) {
    ++lines_seen_;
    ++lines_[static_cast<size_t>(
        frame.kind == ingest::Frame::Kind::kTooLong ? ingest::LineOutcome::kTooLong : rest)];
  }
  Close(reason);
}

void DeviceSession::PublishParsed(bool may_pause) {
  parser_.Flush(*this);
  if (registry_rejected_ != 0) [[unlikely]]
    MoveRejectedFromPublished();
  // Counters first: whoever sees a record can also see its line counted.
  FlushCounters();
  Publish(may_pause);
  FlushCounters();
}

// Every line read so far is settled once the records published up to now
// (ack_target_) are durable: its record is one of them, its duplicate's
// original is, or it was rejected. So after each read the pair (lines so
// far, target) is queued, and `ACK <lines>` is written once the durable
// sequence reaches the target.
void DeviceSession::QueueAck() {
  if (ack_queue_.Add(lines_seen_, ack_target_)) TryAck();
}

void DeviceSession::TryAck() {
  if (closed_) return;
  for (;;) {
    if (ack_queue_.Settle(context_.durability.durable())) WriteAck();
    const std::optional<uint64_t> target = ack_queue_.TargetToAwait();
    if (!target) break;
    if (context_.durability.Await(*target, weak_from_this())) {
      ack_queue_.MarkWaiting();
      break;
    }
    // Became durable meanwhile: go round again.
  }
  FinishIfHalfClosed();
}

// One write in flight; the completion writes the newest count if it grew
// meanwhile. Returns whether a write started.
bool DeviceSession::WriteAck() {
  const std::string_view out = ack_queue_.StartWrite();
  if (out.empty()) return false;
  AsyncWrite(out.data(), out.size(), [self = shared_from_this()](const asio::error_code& ec) {
    self->ack_queue_.WriteDone();
    if (self->closed_) return;
    if (ec) {
      // The peer is gone; a half-closed one has nothing
      // left to read, an open one is found by its read.
      if (self->read_closed_) self->Close(CloseReason::kPeerClosed);
      return;
    }
    if (!self->WriteAck()) self->FinishIfHalfClosed();
  });
  return true;
}

void DeviceSession::FinishIfHalfClosed() {
  if (read_closed_ && !closed_ && !AcksOutstanding()) Close(CloseReason::kPeerClosed);
}

void DeviceSession::OnRecord(const ingest::LocationRecord& record) {
  if (registry_ != nullptr) [[unlikely]] {
    AdmitThroughRegistry(record);
    return;
  }
  tls_batch.Add(record, receive_time_unix_ns_, id_);
}

// Under the vehicle id the device's records get: the registry's name= for
// it, and nothing for a device the registered policy would reject.
void DeviceSession::RefreshLastSeen(std::string_view device_id, int64_t receive_time_unix_ns) {
  std::string_view vehicle_id = device_id;
  if (registry_ != nullptr) [[unlikely]] {
    const DeviceRegistry::Device* device = registry_->Find(device_id);
    if (policy_ == DevicePolicy::kRegistered &&
        (device == nullptr || !device->AllowsSource(source_))) {
      return;
    }
    if (device != nullptr && !device->name.empty()) vehicle_id = device->name;
  }
  context_.store.RefreshLastSeen(vehicle_id, receive_time_unix_ns, id_);
}

void DeviceSession::RefreshRegistry() {
  if (context_.devices == nullptr) return;
  const uint64_t generation = context_.devices->generation();
  if (registry_ != nullptr && generation == registry_generation_) return;
  registry_ = context_.devices->current();
  registry_generation_ = generation;
  if (authenticated_ != nullptr) [[unlikely]] {
    const DeviceRegistry::Device* device = registry_->Find(authenticated_->id);
    revoked_ = device == nullptr || !device->SameCredentials(authenticated_->device);
  }
}

void DeviceSession::AdmitThroughRegistry(const ingest::LocationRecord& record) {
  const DeviceRegistry::Device* device = registry_->Find(record.vehicle_id());
  if (policy_ == DevicePolicy::kRegistered) {
    ingest::LineOutcome reason = ingest::LineOutcome::kCount;
    if (device == nullptr) {
      reason = ingest::LineOutcome::kUnregistered;
    } else if (!device->AllowsSource(source_)) {
      reason = ingest::LineOutcome::kSourceMismatch;
    }
    if (reason != ingest::LineOutcome::kCount) {
      ++registry_rejected_;
      registry_reason_ = reason;
      return;
    }
  }
  if (device != nullptr && !device->name.empty()) {
    ingest::LocationRecord mapped = record;
    mapped.set_vehicle_id(device->name);
    tls_batch.Add(mapped, receive_time_unix_ns_, id_);
    return;
  }
  tls_batch.Add(record, receive_time_unix_ns_, id_);
}

ingest::LineOutcome DeviceSession::SettleRejected(ingest::LineOutcome outcome) {
  if (outcome != ingest::LineOutcome::kPublished) return outcome;
  --registry_rejected_;
  return registry_reason_;
}

void DeviceSession::MoveRejectedFromPublished() {
  const uint64_t n = registry_rejected_;
  registry_rejected_ = 0;
  lines_[static_cast<size_t>(registry_reason_)] += n;
  uint64_t& published = lines_[static_cast<size_t>(ingest::LineOutcome::kPublished)];
  const uint64_t local = std::min(published, n);
  published -= local;
  // The rest were counted by an earlier read's flush.
  if (n > local) {
    context_.counters.lines[static_cast<size_t>(ingest::LineOutcome::kPublished)].fetch_sub(
        n - local, std::memory_order_relaxed);
  }
}

void DeviceSession::Publish(bool may_pause) {
  if (!may_pause && held_ != nullptr) PublishBatch(*held_, false);  // (closing: first, in order)
  if (!PublishBatch(tls_batch, may_pause)) Pause();
}

bool DeviceSession::PublishBatch(RecordBatch& batch, bool keep) {
  if (batch.empty()) return true;
  // Read before publishing: a wake-up of the store that comes after this
  // read cannot be missed by Pause().
  generation_before_publish_ = context_.store_available_generation.load(std::memory_order_seq_cst);
  const RecordStore::PublishResult result = context_.store.Publish(batch);
  if (result.unavailable > 0 && keep) {
    // Nothing of it was published: keep it, in order, for Resume().
    if (&batch != held_.get()) {
      if (held_ == nullptr) held_ = std::make_unique<RecordBatch>();
      std::swap(*held_, batch);
    }
    return false;
  }
  if (result.published > 0) {
    context_.counters.receive_to_publish.Observe(
        absl::GetCurrentTimeNanos() - receive_time_unix_ns_, result.published);
  }
  ack_target_ = std::max(ack_target_, result.commit_position);
  // Refused records were never published: nothing after them may be
  // acknowledged.
  if (result.refused > 0 || result.unavailable > 0) ack_queue_.Block();
  records_published_ += result.published;
  records_duplicate_ += result.duplicates;
  records_late_ += result.late;
  records_dropped_ += result.refused;
  records_unavailable_ += result.unavailable;
  batch.Clear();
  return true;
}

// Backpressure: no read is pending while paused, so the kernel's receive
// buffer fills and the device's TCP window closes; nothing is lost.
void DeviceSession::Pause() {
  if (!paused_.load(std::memory_order_relaxed)) {
    paused_.store(true, std::memory_order_seq_cst);
    context_.counters.connection_pauses.fetch_add(1, std::memory_order_relaxed);
    context_.counters.connections_paused.fetch_add(1, std::memory_order_relaxed);
    self_while_paused_ = shared_from_this();
  }
  // The server bumps the generation, then resumes the sessions it finds
  // paused: if it bumped it since the publish, it may not have seen this
  // session paused yet.
  if (context_.store_available_generation.load(std::memory_order_seq_cst) !=
      generation_before_publish_) {
    Resume();
  }
}

void DeviceSession::ResumeOnThread() {
  if (closed_ || !paused_.load(std::memory_order_relaxed)) return;
  if (!PublishBatch(*held_, true)) {
    Pause();  // still refused: wait for the next wake-up
    return;
  }
  paused_.store(false, std::memory_order_seq_cst);
  context_.counters.connections_paused.fetch_sub(1, std::memory_order_relaxed);
  FlushCounters();
  if (acks_) QueueAck();
  if (decoder_ != nullptr && (!replies_.empty() || close_after_replies_)) WriteReplies();
  if (closed_) return;
  // The time spent paused was the gateway's: the timeouts start again.
  const int64_t now = MonotonicNanos();
  last_read_ns_.store(now, std::memory_order_relaxed);
  if (partial_since_ns_.load(std::memory_order_relaxed) != 0) {
    partial_since_ns_.store(now, std::memory_order_relaxed);
  }
  std::shared_ptr<DeviceSession> self = std::move(self_while_paused_);
  // Read what arrived meanwhile, then wait as usual.
  OnReadable(asio::error_code());
}

void DeviceSession::FlushCounters() {
  IngestCounters& c = context_.counters;
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
  add(c.records_refused_unavailable, records_unavailable_);
  // (After a switch to a device protocol the LineFramer counts no more.)
  const uint64_t discarded_total =
      framer_.bytes_discarded() + (messages_ != nullptr ? messages_->bytes_discarded() : 0);
  uint64_t discarded = discarded_total - discarded_reported_;
  discarded_reported_ = discarded_total;
  add(c.bytes_discarded, discarded);
  if (decoder_ != nullptr) {
    const size_t p = static_cast<size_t>(decoder_->protocol());
    for (size_t i = 0; i < protocol_lines_.size(); ++i) {
      add(c.protocol_messages[p][i], protocol_lines_[i]);
    }
    add(c.protocol_replies[p], protocol_replies_);
    add(c.protocol_reply_bytes[p], protocol_reply_bytes_);
  }
  const uint64_t rollovers = parser_.week_rollovers_corrected();
  uint64_t new_rollovers = rollovers - week_rollovers_reported_;
  week_rollovers_reported_ = rollovers;
  add(c.week_rollovers_corrected, new_rollovers);
  const uint64_t framed_total =
      framer_.bytes_framed() + (messages_ != nullptr ? messages_->bytes_framed() : 0);
  uint64_t framed = framed_total - framed_reported_;
  framed_reported_ = framed_total;
  add(c.bytes_framed, framed);
}

void DeviceSession::Close(CloseReason reason) {
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
  if (messages_ != nullptr) {
    // (Unread messages after an OsmAnd Connection: close count too.)
    ingest::DeviceFrame frame;
    while (close_after_replies_ && messages_->Next(&frame)) {
      ++lines_seen_;
      const ingest::LineOutcome outcome = ingest::LineOutcome::kUnterminated;
      ++lines_[static_cast<size_t>(outcome)];
      ++protocol_lines_[static_cast<size_t>(outcome)];
    }
    ingest::LineOutcome tail = ingest::LineOutcome::kCount;
    switch (messages_->Finish()) {
      case ingest::MessageFramer::Tail::kNone:
        break;
      case ingest::MessageFramer::Tail::kUnterminated:
        tail = ingest::LineOutcome::kUnterminated;
        break;
      case ingest::MessageFramer::Tail::kTooLong:
        tail = ingest::LineOutcome::kTooLong;
        break;
    }
    if (tail != ingest::LineOutcome::kCount) {
      ++lines_[static_cast<size_t>(tail)];
      ++protocol_lines_[static_cast<size_t>(tail)];
    }
    messages_->ReleaseIfEmpty();
  }
  receive_time_unix_ns_ = absl::GetCurrentTimeNanos();
  PublishParsed(/*may_pause=*/false);
  if (paused_.load(std::memory_order_relaxed)) {
    paused_.store(false, std::memory_order_relaxed);
    context_.counters.connections_paused.fetch_sub(1, std::memory_order_relaxed);
  }
  if (tls_ != nullptr) tls_->Shutdown();  // close_notify, best effort
  asio::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  context_.counters.CountClosed(reason);
  context_.counters.connections_active.fetch_sub(1, std::memory_order_relaxed);
  context_.registry.OnSessionClosed(id_, source_, reason);
  // Last: may release the final reference to this session.
  std::shared_ptr<DeviceSession> release = std::move(self_while_half_closed_);
  std::shared_ptr<DeviceSession> release_paused = std::move(self_while_paused_);
}

}  // namespace fixstream::gateway
