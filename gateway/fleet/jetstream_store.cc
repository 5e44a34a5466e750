#include "gateway/fleet/jetstream_store.h"

#include <nats/nats.h>

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/common/log.h"
#include "gateway/common/monotonic_clock.h"
#include "gateway/hub/record_codec.h"

namespace fixstream::gateway {
namespace {

absl::Status NatsError(std::string_view what, natsStatus s,
                       jsErrCode code = static_cast<jsErrCode>(0)) {
  const int js_code = static_cast<int>(code);
  return absl::UnavailableError(
      absl::StrCat("nats: ", std::string(what), ": ", natsStatus_GetText(s),
                   js_code != 0 ? absl::StrCat(" (JetStream error ", js_code, ")") : ""));
}

std::string RandomId() {
  std::random_device rd;
  return absl::StrCat("gw", rd() % 1000000, "x", rd() % 1000000);
}

constexpr char kPositionHeader[] = "Fixstream-Position";
constexpr char kCountHeader[] = "Fixstream-Records";

}  // namespace

JetStreamStore::JetStreamStore(JetStreamStoreOptions options)
    : options_(std::move(options)), local_(options_.hub) {
  const std::string id = options_.gateway_id.empty() ? RandomId() : options_.gateway_id;
  subject_ = absl::StrCat(options_.subject_prefix, ".", id);
  msg_id_.reserve(64);
}

JetStreamStore::~JetStreamStore() { Shutdown(); }

absl::Status JetStreamStore::Start() {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, options_.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, &JetStreamStore::OnDisconnected, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &JetStreamStore::OnReconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, &JetStreamStore::OnClosed, this);
  if (s == NATS_OK) s = natsConnection_Connect(&nc_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    {
      absl::MutexLock lock(&mu_);
      nats_closed_ = true;  // no connection: no closed callback to wait for
    }
    return NatsError(absl::StrCat("connect to ", options_.url), s);
  }
  connected_.store(true, std::memory_order_release);

  jsOptions jo;
  jsOptions_Init(&jo);
  // Our own window (max_in_flight) refuses before libnats would stall.
  jo.PublishAsync.MaxPending = static_cast<int64_t>(options_.max_in_flight) * 2 + 16;
  jo.PublishAsync.AckHandler = &JetStreamStore::OnAck;
  jo.PublishAsync.AckHandlerClosure = this;
  s = natsConnection_JetStream(&js_, nc_, &jo);
  if (s != NATS_OK) return NatsError("JetStream context", s);

  // The stream: created if missing (file storage, one replica here).
  jsErrCode code = static_cast<jsErrCode>(0);
  jsStreamInfo* info = nullptr;
  s = js_GetStreamInfo(&info, js_, options_.stream.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND) {
    const std::string subjects = absl::StrCat(options_.subject_prefix, ".>");
    const char* subject_list[] = {subjects.c_str()};
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = options_.stream.c_str();
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = std::max(options_.replicas, 1);
    code = static_cast<jsErrCode>(0);
    s = js_AddStream(&info, js_, &config, nullptr, &code);
    if (s != NATS_OK) return NatsError(absl::StrCat("create stream ", options_.stream), s, code);
    LogInfo(absl::StrCat("jetstream: created stream ", options_.stream, " (", subjects, ")"));
  } else if (s != NATS_OK) {
    return NatsError(absl::StrCat("stream ", options_.stream), s, code);
  }
  const uint64_t first_seq = info->State.FirstSeq;
  const uint64_t last_seq = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  if (first_seq > 1 && last_seq >= first_seq) {
    // Dense numbering counts records from the stream's first message.
    LogError(absl::StrCat("jetstream: stream ", options_.stream, " no longer holds message 1 (",
                          first_seq,
                          " is its oldest): this gateway numbers from there, and "
                          "its sequences differ from those of gateways that started earlier"));
  }

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options_.stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  const std::string filter = absl::StrCat(options_.subject_prefix, ".>");
  code = static_cast<jsErrCode>(0);
  s = js_Subscribe(&sub_, js_, filter.c_str(), &JetStreamStore::OnMessage, this, nullptr, &so,
                   &code);
  if (s != NATS_OK) return NatsError("ordered consumer", s, code);
  // No pending limits: the consumer must never drop a message (an ordered
  // consumer would reset, and the local numbering depends on every one).
  natsSubscription_SetPendingLimits(sub_, -1, -1);

  // Replay: the history the stream held when we looked.
  const absl::Time deadline = absl::Now() + options_.replay_timeout;
  while (consumed_stream_seq_.load(std::memory_order_acquire) < last_seq) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("jetstream: replayed stream ", options_.stream, " up to ",
                       consumed_stream_seq_.load(), " of ", last_seq, " in time"));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  LogInfo(absl::StrCat("jetstream: stream ", options_.stream, " replayed (", last_seq,
                       " messages), next sequence ", local_.head(), "; publishing to ", subject_));
  return absl::OkStatus();
}

void JetStreamStore::Shutdown() {
  Close();
  if (sub_ != nullptr) {
    // Drained: no message callback runs once this returns.
    if (natsSubscription_Drain(sub_) == NATS_OK) {
      natsSubscription_WaitForDrainCompletion(sub_, 5000);
    } else {
      natsSubscription_Unsubscribe(sub_);
    }
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }
  if (js_ != nullptr) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    js_PublishAsyncComplete(js_, &po);  // bounded wait for the last acks
    stopping_.store(true, std::memory_order_release);
    jsCtx_Destroy(js_);
    js_ = nullptr;
  }
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    {
      // The closed callback comes last of the connection's callbacks: once
      // it ran, none will use `this` again.
      absl::MutexLock lock(&mu_);
      auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return nats_closed_; };
      mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
    }
    natsConnection_Destroy(nc_);
    nc_ = nullptr;
  }
}

void JetStreamStore::Close() {
  closed_.store(true, std::memory_order_release);
  local_.Close();
}

RecordStore::PublishResult JetStreamStore::Publish(RecordBatch& batch) {
  PublishResult result;
  const size_t n = batch.entries.size();
  if (n == 0) return result;
  if (closed()) {
    result.refused = n;
    return result;
  }
  const size_t cap = std::max<size_t>(options_.batch_cap, 1);
  const size_t messages = (n + cap - 1) / cap;
  absl::MutexLock lock(&mu_);
  if (!connected() || pending_.size() + messages > options_.max_in_flight) {
    refused_ = true;
    result.unavailable = n;
    return result;
  }
  size_t sent = 0;
  for (size_t first = 0; first < n; first += cap) {
    const size_t count = std::min(cap, n - first);
    if (!SendLocked(batch, first, count)) break;
    sent += count;
  }
  if (sent < n && sent == 0) {
    refused_ = true;
    result.unavailable = n;
    return result;
  }
  // (A message that could not be sent after others of the batch were: its
  // records are reported unavailable; phase 1 does not split a batch's
  // resend, so the session resends the whole batch and the earlier
  // messages' records come twice — dropped as duplicates when numbered.)
  result.published = sent;
  result.unavailable = n - sent;
  if (result.unavailable > 0) refused_ = true;
  result.commit_position = next_position_ - 1;
  return result;
}

bool JetStreamStore::SendLocked(const RecordBatch& batch, size_t first, size_t count) {
  const size_t begin = batch.entries[first].offset;
  const size_t end = first + count < batch.entries.size() ? batch.entries[first + count].offset
                                                          : batch.bytes.size();
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject_.c_str(), nullptr, batch.bytes.data() + begin,
                                static_cast<int>(end - begin));
  const uint64_t position = next_position_;
  const std::string position_text = absl::StrCat(position);
  const std::string count_text = absl::StrCat(count);
  msg_id_ = absl::StrCat(subject_, "-", position);
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kPositionHeader, position_text.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kCountHeader, count_text.c_str());
  // JetStream drops a resend of the same id within its duplicate window.
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id_.c_str());
  if (s == NATS_OK) s = js_PublishMsgAsync(js_, &msg, nullptr);  // takes msg on success
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return false;
  }
  pending_.push_back(Pending{false, MonotonicNanos()});
  ++next_position_;
  messages_sent_.fetch_add(1, std::memory_order_relaxed);
  records_sent_.fetch_add(count, std::memory_order_relaxed);
  return true;
}

void JetStreamStore::OnAck(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error,
                           void* closure) {
  auto* self = static_cast<JetStreamStore*>(closure);
  const char* value = nullptr;
  uint64_t position = 0;
  if (natsMsgHeader_Get(msg, kPositionHeader, &value) != NATS_OK ||
      !absl::SimpleAtoi(value, &position)) {
    position = 0;
  }
  if (ack == nullptr && error != nullptr && !self->stopping_.load(std::memory_order_acquire)) {
    // Not stored (a timeout, the server went away): send it again; the
    // message id makes JetStream drop it if the first one was stored after
    // all. Acknowledgements stay in position order for the commit callback.
    static RateLimitedLog log(LogLevel::kWarning);
    log.Log([&] {
      return absl::StrCat("jetstream: publish of position ", position, " failed (",
                          natsStatus_GetText(error->Err), "), sending it again");
    });
    self->publish_retries_.fetch_add(1, std::memory_order_relaxed);
    if (js_PublishMsgAsync(js, &msg, nullptr) == NATS_OK) return;  // libnats owns it again
    // Commits stop here: later acknowledgements wait behind this position
    // (phase 1 has no outbox to send it from later).
    LogError(absl::StrCat("jetstream: could not send position ", position,
                          " again: commits stop at position ", position - 1));
  }
  natsMsg_Destroy(msg);
  if (ack != nullptr && position > 0) self->Acknowledged(position);
}

void JetStreamStore::Acknowledged(uint64_t position) {
  uint64_t committed = 0;
  bool available = false;
  {
    absl::MutexLock lock(&mu_);
    if (position <= committed_ || position - committed_ > pending_.size()) return;
    Pending& pending = pending_[position - committed_ - 1];
    if (pending.acked) return;
    pending.acked = true;
    messages_acked_.fetch_add(1, std::memory_order_relaxed);
    ack_latency_.Observe(MonotonicNanos() - pending.sent_ns);
    while (!pending_.empty() && pending_.front().acked) {
      pending_.pop_front();
      ++committed_;
      committed = committed_;
    }
    if (refused_ && pending_.size() < options_.max_in_flight && connected()) {
      refused_ = false;
      available = true;
    }
  }
  // (Acknowledgements come on one libnats thread: these calls are in order.)
  if (committed > 0 && commit_callback_) commit_callback_(committed);
  if (available && available_callback_) available_callback_();
}

absl::Status JetStreamStore::Flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = next_position_ - 1;
  auto done = [this, target]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return committed_ >= target; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), options_.flush_timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("jetstream: acknowledged up to position ", committed_, " of ", target));
  }
  return absl::OkStatus();
}

void JetStreamStore::OnMessage(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsMsg* msg,
                               void* closure) {
  auto* self = static_cast<JetStreamStore*>(closure);
  jsMsgMetaData* meta = nullptr;
  uint64_t stream_seq = 0;
  if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
    stream_seq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
  }
  self->Consume(std::string_view(natsMsg_GetData(msg), natsMsg_GetDataLength(msg)), stream_seq);
  natsMsg_Destroy(msg);
}

void JetStreamStore::Consume(std::string_view payload, uint64_t stream_sequence) {
  // The publishing gateway's frames, as its sessions encoded them: admitted
  // and numbered here exactly as a local publish would be.
  RecordBatch& batch = consume_batch_;
  batch.Clear();
  batch.bytes.assign(payload.data(), payload.size());
  for (size_t offset = 0; offset < batch.bytes.size();) {
    const std::string_view rest = std::string_view(batch.bytes).substr(offset);
    const size_t size = FrameSize(rest);
    DecodedFrame decoded;
    if (size == 0 || size > rest.size() || !DecodeFrame(rest.substr(0, size), &decoded)) {
      static RateLimitedLog log(LogLevel::kError);
      log.Log([&] {
        return absl::StrCat("jetstream: stream message ", stream_sequence,
                            " holds a frame that does not decode at byte ", offset,
                            "; the rest of it is skipped");
      });
      batch.bytes.resize(offset);
      break;
    }
    BatchEntry entry;
    static_cast<FrameMeta&>(entry) = decoded;
    entry.offset = static_cast<uint32_t>(offset);
    batch.entries.push_back(entry);
    offset += size;
  }
  if (!batch.entries.empty()) local_.Publish(batch);
  if (stream_sequence > 0) consumed_stream_seq_.store(stream_sequence, std::memory_order_release);
}

void JetStreamStore::OnDisconnected(natsConnection* /*nc*/, void* closure) {
  auto* self = static_cast<JetStreamStore*>(closure);
  self->connected_.store(false, std::memory_order_release);
  self->disconnects_.fetch_add(1, std::memory_order_relaxed);
  if (self->closed()) return;
  LogError(
      "jetstream: disconnected from NATS; refusing records until it is back (no outbox in "
      "phase 1)");
  if (self->health_callback_) {
    self->health_callback_(absl::UnavailableError("disconnected from NATS JetStream"));
  }
}

void JetStreamStore::OnReconnected(natsConnection* /*nc*/, void* closure) {
  auto* self = static_cast<JetStreamStore*>(closure);
  self->connected_.store(true, std::memory_order_release);
  self->reconnects_.fetch_add(1, std::memory_order_relaxed);
  if (self->closed()) return;
  LogInfo("jetstream: reconnected to NATS");
  if (self->health_callback_) self->health_callback_(absl::OkStatus());
  self->BecameAvailable();
}

void JetStreamStore::BecameAvailable() {
  bool available = false;
  {
    absl::MutexLock lock(&mu_);
    if (refused_ && pending_.size() < options_.max_in_flight) {
      refused_ = false;
      available = true;
    }
  }
  if (available && available_callback_) available_callback_();
}

JetStreamStore::Stats JetStreamStore::stats() const {
  Stats s;
  s.messages_sent = messages_sent_.load(std::memory_order_relaxed);
  s.records_sent = records_sent_.load(std::memory_order_relaxed);
  s.messages_acked = messages_acked_.load(std::memory_order_relaxed);
  s.publish_retries = publish_retries_.load(std::memory_order_relaxed);
  s.disconnects = disconnects_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  s.connected = connected();
  s.consumed_stream_sequence = consumed_stream_sequence();
  absl::MutexLock lock(&mu_);
  s.in_flight = pending_.size();
  for (const Pending& pending : pending_) {
    if (pending.acked) continue;
    s.oldest_unacked_ns = std::max<int64_t>(0, MonotonicNanos() - pending.sent_ns);
    break;
  }
  return s;
}

void JetStreamStore::OnClosed(natsConnection* /*nc*/, void* closure) {
  auto* self = static_cast<JetStreamStore*>(closure);
  self->connected_.store(false, std::memory_order_release);
  absl::MutexLock lock(&self->mu_);
  self->nats_closed_ = true;
}

}  // namespace fixstream::gateway
