// fixstream-fanout: many Subscribe streams in one process, for measuring a
// gateway's fan-out and end-to-end latency.
//
// The streams are gRPC callback reactors on a generic stub: responses arrive
// as raw grpc::ByteBuffers and are never decoded into messages. Records are
// counted by walking the top level of the wire format (one length-delimited
// field 1 = one record) over the buffer's slices in place; with --latency
// only field 3 (fix_time) of each record is read. Decoding would cost this
// client more CPU than the gateway spends sending, and on a shared 2-core box
// that would be measured as the gateway's slowness.
//
// The request is sent as a bidi call with one message and a half-close: on
// the wire that is exactly a server-streaming call, and the generic stub's
// callback API offers only the bidi form.
//
// With --sync each stream is instead read by its own thread through the
// generated stub's blocking ClientReader, which decodes every response. That
// thread polls the connection itself, so a response wakes exactly the thread
// that consumes it; a callback reaction runs on a gRPC thread after the
// poller hands the completion over, one more wake-up per response. The mode
// exists to measure latency at rest without that client-side hop.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/command_line.h"
#include "clients/grpc_channel.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "fixstream/v1/location.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Gateway gRPC address, host:port.");
ABSL_FLAG(int32_t, subscribers, 1, "Subscribe streams to open.");
ABSL_FLAG(std::vector<std::string>, vehicle_ids, {},
          "Only records of these vehicles, comma-separated; empty: all.");
ABSL_FLAG(uint64_t, start_sequence, 0,
          "Start every stream at this sequence (older records come from retention or the "
          "journal); 0: only records published from now on.");
ABSL_FLAG(int32_t, channels, 0,
          "gRPC channels (TCP connections) the streams are spread over; 0: one per subscriber, "
          "as separate backend services would have.");
ABSL_FLAG(int64_t, expect, 0,
          "Stop a subscriber once it received this many records; exit 0 only if all did. 0: no "
          "target.");
ABSL_FLAG(int64_t, idle_exit_ms, 2000,
          "Stop all subscribers when no record arrived for this long, counted after the first "
          "record; 0: never.");
ABSL_FLAG(double, max_seconds, 60, "Hard limit: stop all subscribers after this long.");
ABSL_FLAG(bool, latency, false,
          "Read each record's fix_time and histogram receive wall-clock time minus fix time "
          "(meaningful for lines sent with fixstream-load --stamp_send_time).");
ABSL_FLAG(bool, sync, false,
          "Read each stream on its own thread with the blocking API (generated stub, "
          "ClientReader) instead of callback reactors: no hand-over from gRPC's poller to a "
          "callback thread, for latency at rest. Responses are decoded into messages, which "
          "costs more CPU per record than the default wire-format counting; at most 1000 "
          "subscribers.");
ABSL_FLAG(bool, print_subscribers, false, "Print one line per subscriber as well.");

namespace fixstream::clients {
namespace {

constexpr std::string_view kProgram = "fixstream-fanout";
constexpr char kUsage[] =
    R"(opens many fixstream Subscribe streams in one process and counts records.

Records are counted from the wire format without decoding messages. Stops a
subscriber at --expect records, everything after --idle_exit_ms without a
record (once one arrived), or at --max_seconds. Prints "subscribed=N" on
stderr once every stream is registered at the gateway (its response headers
arrived) or failed, so a script can start sending then; at the end one
summary line (key=value) on stdout, and with --latency a latency line.

Exit status: 0 when every subscriber reached --expect (or, without it, when
no stream failed); 1 otherwise; 2 on bad flags.

Examples:
  fixstream-fanout --subscribers=100 --expect=500000
  fixstream-fanout --latency --idle_exit_ms=1000)";

constexpr char kSubscribeMethod[] = "/fixstream.v1.LocationService/Subscribe";
// The gateway batches up to --max_batch_bytes (1 MiB by default) per
// response; do not let gRPC's default 4 MiB receive limit bite if raised.
constexpr int kMaxResponseBytes = 64 * 1024 * 1024;
// --sync spends a thread per stream.
constexpr int kMaxSyncSubscribers = 1000;
// Wire types of the protobuf encoding.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A log-linear histogram of non-negative values (microseconds here): exact
// below 128, then 128 buckets per power of two, so any percentile is within
// 1% of the true value, in constant memory whatever the sample count.
// Not thread-safe.
class Histogram final {
 public:
  void Add(uint64_t value) {
    ++buckets_[Index(value)];
    ++count_;
    max_ = std::max(max_, value);
  }
  void Merge(const Histogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The smallest bucket bound with at least `quantile` of the values at or
  // below it. Precondition: 0 < quantile <= 1.
  uint64_t Percentile(double quantile) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<uint64_t>(std::ceil(quantile * static_cast<double>(count_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(UpperBound(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kSub;

  static size_t Index(uint64_t value) {
    if (value < kSub) return static_cast<size_t>(value);
    const int shift = std::bit_width(value) - kSubBits - 1;
    return static_cast<size_t>(kSub + static_cast<uint64_t>(shift) * kSub + (value >> shift) -
                               kSub);
  }
  static uint64_t UpperBound(size_t index) {
    if (index < kSub) return index;
    const uint64_t shift = (index - kSub) / kSub;
    const uint64_t mantissa = (index - kSub) % kSub + kSub;
    return ((mantissa + 1) << shift) - 1;
  }

  std::vector<uint64_t> buckets_ = std::vector<uint64_t>(kBuckets);
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// Reads protobuf wire format across the slices of a ByteBuffer without
// copying, except for a length-delimited field that straddles two slices
// when the caller needs it whole. Not thread-safe; the slices must outlive
// the reader.
class WireReader final {
 public:
  explicit WireReader(const std::vector<grpc::Slice>& slices) : slices_(slices) { Settle(); }

  bool AtEnd() const { return p_ == end_; }

  bool ReadVarint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t byte = *p_++;
      Settle();
      result |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  }

  bool Skip(uint64_t bytes) {
    while (bytes > 0) {
      if (p_ == end_) return false;
      const auto step = std::min<uint64_t>(bytes, static_cast<uint64_t>(end_ - p_));
      p_ += step;
      bytes -= step;
      Settle();
    }
    return true;
  }

  // Makes the next `bytes` bytes available contiguously in *out: a view into
  // a slice, or a copy in *scratch when they straddle slices.
  bool Take(uint64_t bytes, std::string* scratch, std::string_view* out) {
    if (bytes <= static_cast<uint64_t>(end_ - p_)) {
      *out = std::string_view(reinterpret_cast<const char*>(p_), bytes);
      p_ += bytes;
      Settle();
      return true;
    }
    scratch->clear();
    while (scratch->size() < bytes) {
      if (p_ == end_) return false;
      const auto step =
          std::min<uint64_t>(bytes - scratch->size(), static_cast<uint64_t>(end_ - p_));
      scratch->append(reinterpret_cast<const char*>(p_), step);
      p_ += step;
      Settle();
    }
    *out = *scratch;
    return true;
  }

  // Skips a field's value of the given wire type.
  bool SkipValue(uint32_t wire_type) {
    uint64_t ignored;
    switch (wire_type) {
      case kVarint:
        return ReadVarint(&ignored);
      case kFixed64:
        return Skip(8);
      case kLengthDelimited:
        return ReadVarint(&ignored) && Skip(ignored);
      case kFixed32:
        return Skip(4);
      default:
        return false;  // groups are not used by our messages
    }
  }

 private:
  // Moves past exhausted (or empty) slices, so that p_ == end_ means the end
  // of the whole buffer.
  void Settle() {
    while (p_ == end_ && next_ < slices_.size()) {
      const grpc::Slice& slice = slices_[next_++];
      p_ = slice.begin();
      end_ = slice.end();
    }
  }

  const std::vector<grpc::Slice>& slices_;
  size_t next_ = 0;
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
};

// Reads a varint from the front of `data`, advancing it.
bool ReadVarint(std::string_view* data, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && !data->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(data->front());
    data->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

// Skips a field's value of the given wire type at the front of `data`.
bool SkipValue(std::string_view* data, uint32_t wire_type) {
  uint64_t length = 0;
  switch (wire_type) {
    case kVarint:
      return ReadVarint(data, &length);
    case kFixed64:
      length = 8;
      break;
    case kLengthDelimited:
      if (!ReadVarint(data, &length)) return false;
      break;
    case kFixed32:
      length = 4;
      break;
    default:
      return false;
  }
  if (length > data->size()) return false;
  data->remove_prefix(length);
  return true;
}

// Finds LocationRecord.fix_time (field 3, a google.protobuf.Timestamp) in an
// encoded record and returns it in Unix nanoseconds.
bool FixTimeNs(std::string_view record, int64_t* fix_ns) {
  while (!record.empty()) {
    uint64_t tag = 0;
    if (!ReadVarint(&record, &tag)) return false;
    const auto wire_type = static_cast<uint32_t>(tag & 7);
    if ((tag >> 3) != 3 || wire_type != kLengthDelimited) {
      if (!SkipValue(&record, wire_type)) return false;
      continue;
    }
    uint64_t length = 0;
    if (!ReadVarint(&record, &length) || length > record.size()) return false;
    std::string_view timestamp = record.substr(0, length);
    int64_t seconds = 0;
    int64_t nanos = 0;
    while (!timestamp.empty()) {
      uint64_t field_tag = 0;
      uint64_t value = 0;
      if (!ReadVarint(&timestamp, &field_tag)) return false;
      if ((field_tag & 7) != kVarint) {
        if (!SkipValue(&timestamp, static_cast<uint32_t>(field_tag & 7))) return false;
        continue;
      }
      if (!ReadVarint(&timestamp, &value)) return false;
      if ((field_tag >> 3) == 1) seconds = static_cast<int64_t>(value);
      if ((field_tag >> 3) == 2) nanos = static_cast<int64_t>(value);
    }
    *fix_ns = seconds * 1'000'000'000 + nanos;
    return true;
  }
  return false;
}

class FanoutRun;

// One Subscribe stream and what it received. Its reading side (gRPC's
// callback threads, or its own thread with --sync) is the only writer of the
// results, one response at a time, so they need no lock; the main thread
// reads them only after the stream reported done (ordered by FanoutRun's
// mutex).
class Subscriber {
 public:
  Subscriber(int index, bool latency, int64_t expect, FanoutRun& run)
      : index_(index), latency_(latency), expect_(expect), run_(run) {}
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  virtual ~Subscriber() = default;

  // Ends the call early; thread-safe, harmless after the call ended.
  void Cancel() { context_.TryCancel(); }

  // Results; read only after the stream reported done.
  int index() const { return index_; }
  int64_t records() const { return records_; }
  int64_t responses() const { return responses_; }
  int64_t malformed() const { return malformed_; }
  int64_t first_ns() const { return first_unix_ns_; }
  int64_t last_ns() const { return last_unix_ns_; }
  const grpc::Status& status() const { return status_; }
  const Histogram& latency() const { return latency_us_; }
  bool reached_expect() const { return expect_ > 0 && records_ >= expect_; }

 protected:
  // Histograms one record's receive time minus its fix time. A fix time
  // after the receive time (clock steps, or lines not stamped at send time)
  // counts as zero rather than wrapping around.
  void AddLatency(int64_t receive_ns, int64_t fix_ns) {
    latency_us_.Add(receive_ns > fix_ns ? static_cast<uint64_t>(receive_ns - fix_ns) / 1000 : 0);
  }
  // Counts one response's records, all received at receive_ns.
  void CountRecords(int64_t records, int64_t receive_ns);

  const int index_;
  const bool latency_;
  const int64_t expect_;
  FanoutRun& run_;
  grpc::ClientContext context_;
  int64_t records_ = 0;
  int64_t responses_ = 0;
  int64_t malformed_ = 0;
  int64_t first_unix_ns_ = 0;
  int64_t last_unix_ns_ = 0;
  Histogram latency_us_;
  grpc::Status status_;
};

// A stream as a callback reactor on the generic stub: responses stay raw
// ByteBuffers, read in place. Its reactions run on gRPC's threads, one read
// in flight at a time.
class SubscriberStream final : public Subscriber,
                               public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  using Subscriber::Subscriber;

  // Starts the call. `stub` must outlive the call; `request` is copied.
  void Start(grpc::GenericStub& stub, const grpc::ByteBuffer& request);

 private:
  void OnReadInitialMetadataDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;
  // Scans one response: counts records, and with latency_ reads fix times.
  void Scan(int64_t receive_ns);

  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::vector<grpc::Slice> slices_;
  std::string scratch_;
};

// A stream read by its own thread through the generated stub's blocking
// ClientReader (--sync); responses are decoded.
class BlockingSubscriberStream final : public Subscriber {
 public:
  using Subscriber::Subscriber;
  ~BlockingSubscriberStream() override { Join(); }

  // Starts the reading thread. `stub` must outlive it; `request` is copied.
  void Start(v1::LocationService::Stub& stub, const v1::SubscribeRequest& request) {
    thread_ = std::thread([this, &stub, request] { ReadAll(stub, request); });
  }
  // Waits for the reading thread; call only from the thread that called Start.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void ReadAll(v1::LocationService::Stub& stub, const v1::SubscribeRequest& request);

  std::thread thread_;
};

// The streams, the stop conditions and the totals.
class FanoutRun final {
 public:
  // TLS and token of every stream (set in Run before any starts).
  const GatewayAccess& access() const { return access_; }
  // Called by the streams, on gRPC threads.
  void OnSubscribed() {
    absl::MutexLock lock(&mu_);
    ++settled_;
  }
  void OnSubscribeFailed() {
    absl::MutexLock lock(&mu_);
    ++settled_;
  }
  void OnRecords() {
    last_record_ns_.store(MonotonicNs(), std::memory_order_relaxed);
    got_records_.store(true, std::memory_order_relaxed);
  }
  // Must be the stream's last action: the main thread may destroy the
  // streams as soon as the last one reported.
  void OnStreamDone() {
    absl::MutexLock lock(&mu_);
    ++done_;
  }

  int Run();

 private:
  void CancelAll() {
    for (auto& stream : streams_) stream->Cancel();
  }

  absl::Mutex mu_;
  int settled_ ABSL_GUARDED_BY(mu_) = 0;  // headers arrived or the call failed first
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> last_record_ns_{0};
  std::atomic<bool> got_records_{false};
  GatewayAccess access_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<v1::LocationService::Stub>> blocking_stubs_;
  std::vector<std::unique_ptr<Subscriber>> streams_;
  std::vector<BlockingSubscriberStream*> blocking_streams_;  // in streams_ too
};

void Subscriber::CountRecords(int64_t records, int64_t receive_ns) {
  if (records == 0) return;
  if (records_ == 0) first_unix_ns_ = receive_ns;
  last_unix_ns_ = receive_ns;
  records_ += records;
  run_.OnRecords();
}

void SubscriberStream::Start(grpc::GenericStub& stub, const grpc::ByteBuffer& request) {
  request_ = request;
  run_.access().Authorize(&context_);
  stub.PrepareBidiStreamingCall(&context_, kSubscribeMethod, grpc::StubOptions(), this);
  StartWriteLast(&request_, grpc::WriteOptions());
  StartRead(&response_);
  StartCall();
}

void SubscriberStream::OnReadInitialMetadataDone(bool ok) {
  // The gateway sends its headers once the subscription is registered with
  // the hub: from now on this stream sees every published record.
  if (ok) {
    run_.OnSubscribed();
  } else {
    run_.OnSubscribeFailed();
  }
}

void SubscriberStream::OnReadDone(bool ok) {
  if (!ok) return;  // the stream ended; OnDone follows
  // One clock read per response: all its records arrived together.
  const int64_t receive_ns = WallClockNs();
  Scan(receive_ns);
  if (expect_ > 0 && records_ >= expect_) {
    Cancel();
    return;
  }
  StartRead(&response_);
}

void SubscriberStream::Scan(int64_t receive_ns) {
  ++responses_;
  if (!response_.Dump(&slices_).ok()) {
    ++malformed_;
    return;
  }
  WireReader reader(slices_);
  int64_t records = 0;
  while (!reader.AtEnd()) {
    uint64_t tag = 0;
    if (!reader.ReadVarint(&tag)) break;
    const auto wire_type = static_cast<uint32_t>(tag & 7);
    if ((tag >> 3) != 1 || wire_type != kLengthDelimited) {
      if (!reader.SkipValue(wire_type)) break;
      continue;
    }
    uint64_t length = 0;
    if (!reader.ReadVarint(&length)) break;
    ++records;
    if (!latency_) {
      if (!reader.Skip(length)) break;
      continue;
    }
    std::string_view record;
    int64_t fix_ns = 0;
    if (!reader.Take(length, &scratch_, &record)) break;
    if (!FixTimeNs(record, &fix_ns)) {
      ++malformed_;
      continue;
    }
    AddLatency(receive_ns, fix_ns);
  }
  if (!reader.AtEnd()) ++malformed_;
  slices_.clear();  // drop the slice references before the buffer is reused
  CountRecords(records, receive_ns);
}

void SubscriberStream::OnDone(const grpc::Status& status) {
  status_ = status;
  run_.OnStreamDone();
}

void BlockingSubscriberStream::ReadAll(v1::LocationService::Stub& stub,
                                       const v1::SubscribeRequest& request) {
  run_.access().Authorize(&context_);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      stub.Subscribe(&context_, request);
  // Returns once the headers arrived (the subscription is registered) or the
  // call failed; either way this stream is settled.
  reader->WaitForInitialMetadata();
  run_.OnSubscribed();
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    // One clock read per response, as in the callback mode; it comes after
    // the decoding, which Read does before returning.
    const int64_t receive_ns = WallClockNs();
    ++responses_;
    if (latency_) {
      for (const v1::LocationRecord& record : response.records()) {
        AddLatency(receive_ns,
                   record.fix_time().seconds() * 1'000'000'000 + record.fix_time().nanos());
      }
    }
    CountRecords(response.records_size(), receive_ns);
    if (reached_expect()) {
      // Finish() expects the stream read to its end; after TryCancel the
      // remaining Read()s return false at once.
      Cancel();
      while (reader->Read(&response)) {
      }
      break;
    }
  }
  status_ = reader->Finish();
  reader.reset();
  run_.OnStreamDone();
}

int FanoutRun::Run() {
  const std::string target = absl::GetFlag(FLAGS_target);
  const int subscribers = absl::GetFlag(FLAGS_subscribers);
  int channels = absl::GetFlag(FLAGS_channels);
  const int64_t expect = absl::GetFlag(FLAGS_expect);
  const int64_t idle_exit_ms = absl::GetFlag(FLAGS_idle_exit_ms);
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const bool latency = absl::GetFlag(FLAGS_latency);
  const bool sync = absl::GetFlag(FLAGS_sync);
  auto fail = [](std::string_view message) {
    absl::FPrintF(stderr, "%s: %s\n", kProgram, message);
    return 2;
  };
  if (subscribers < 1 || subscribers > 100'000) return fail("--subscribers must be in [1, 100000]");
  if (sync && subscribers > kMaxSyncSubscribers) {
    return fail(absl::StrCat("--sync takes at most ", kMaxSyncSubscribers, " --subscribers"));
  }
  if (channels == 0) channels = subscribers;
  if (channels < 1 || channels > subscribers) {
    return fail("--channels must be in [0, --subscribers]");
  }
  if (expect < 0) return fail("--expect must not be negative");
  if (idle_exit_ms < 0) return fail("--idle_exit_ms must not be negative");
  if (!(max_seconds > 0)) return fail("--max_seconds must be > 0");
  absl::StatusOr<GatewayAccess> access = GatewayAccessFromFlags();
  if (!access.ok()) return fail(std::string(access.status().message()));
  access_ = *std::move(access);

  v1::SubscribeRequest request_message;
  for (const std::string& id : absl::GetFlag(FLAGS_vehicle_ids)) {
    request_message.add_vehicle_ids(id);
  }
  if (const uint64_t start = absl::GetFlag(FLAGS_start_sequence); start > 0) {
    request_message.set_start_sequence(start);
  }
  const std::string serialized = request_message.SerializeAsString();
  grpc::Slice request_slice(serialized);
  const grpc::ByteBuffer request(&request_slice, 1);

  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxResponseBytes);
    // Channels with equal arguments would share one TCP connection through
    // the global subchannel pool; a local pool gives each its own.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels_.push_back(access_.Channel(target, args));
    if (sync) {
      blocking_stubs_.push_back(v1::LocationService::NewStub(channels_.back()));
    } else {
      stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_.back()));
    }
  }

  const double cpu_start = CpuSeconds();
  const int64_t start_ns = MonotonicNs();
  const int64_t deadline_ns = start_ns + static_cast<int64_t>(max_seconds * 1e9);
  for (int i = 0; i < subscribers; ++i) {
    if (sync) {
      auto stream = std::make_unique<BlockingSubscriberStream>(i, latency, expect, *this);
      stream->Start(*blocking_stubs_[i % channels], request_message);
      blocking_streams_.push_back(stream.get());
      streams_.push_back(std::move(stream));
    } else {
      auto stream = std::make_unique<SubscriberStream>(i, latency, expect, *this);
      stream->Start(*stubs_[i % channels], request);
      streams_.push_back(std::move(stream));
    }
  }

  // The main thread only watches the stop conditions; it wakes on progress
  // or every 10 ms, which bounds how late an idle or deadline stop comes.
  bool announced = false;
  bool cancelled = false;
  bool timed_out = false;
  bool idle_stop = false;
  int64_t cancel_ns = 0;
  for (;;) {
    int settled = 0;
    int done = 0;
    {
      absl::MutexLock lock(&mu_);
      const auto progress = [this, &announced, subscribers]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return done_ == subscribers || (!announced && settled_ == subscribers);
      };
      mu_.AwaitWithTimeout(absl::Condition(&progress), absl::Milliseconds(10));
      settled = settled_;
      done = done_;
    }
    if (done == subscribers) break;
    if (!announced && settled == subscribers) {
      announced = true;
      absl::FPrintF(stderr, "%s: subscribed=%d\n", kProgram, subscribers);
      std::fflush(stderr);
    }
    const int64_t now = MonotonicNs();
    if (!cancelled) {
      if (now >= deadline_ns) {
        timed_out = true;
      } else if (idle_exit_ms > 0 && got_records_.load(std::memory_order_relaxed) &&
                 now - last_record_ns_.load(std::memory_order_relaxed) >=
                     idle_exit_ms * 1'000'000) {
        idle_stop = true;
      }
      if (timed_out || idle_stop) {
        cancelled = true;
        cancel_ns = now;
        CancelAll();
      }
    } else if (now - cancel_ns > 10'000'000'000) {
      // Cancellation completes at once unless gRPC is wedged; do not hang a
      // benchmark on it.
      absl::FPrintF(stderr, "%s: streams did not end 10 s after cancellation\n", kProgram);
      std::fflush(stderr);
      std::_Exit(1);
    }
  }
  const double cpu_seconds = CpuSeconds() - cpu_start;
  for (BlockingSubscriberStream* stream : blocking_streams_) stream->Join();

  int64_t total = 0;
  int64_t min_records = INT64_MAX;
  int64_t max_records = 0;
  int64_t responses = 0;
  int64_t malformed = 0;
  int64_t first_ns = INT64_MAX;
  int64_t last_ns = 0;
  double summed_rate = 0;
  int failed = 0;
  int short_of_expect = 0;
  Histogram latency_us;
  for (const auto& stream : streams_) {
    total += stream->records();
    min_records = std::min(min_records, stream->records());
    max_records = std::max(max_records, stream->records());
    responses += stream->responses();
    malformed += stream->malformed();
    if (stream->records() > 0) {
      first_ns = std::min(first_ns, stream->first_ns());
      last_ns = std::max(last_ns, stream->last_ns());
      if (stream->last_ns() > stream->first_ns()) {
        summed_rate += static_cast<double>(stream->records()) /
                       (static_cast<double>(stream->last_ns() - stream->first_ns()) / 1e9);
      }
    }
    latency_us.Merge(stream->latency());
    const grpc::StatusCode code = stream->status().error_code();
    // CANCELLED is what our own stops produce; OK is a gateway drain.
    const bool stream_failed = code != grpc::StatusCode::OK && code != grpc::StatusCode::CANCELLED;
    if (stream_failed && !stream->reached_expect()) {
      ++failed;
      absl::FPrintF(stderr, "%s: subscriber %d: %d %s\n", kProgram, stream->index(),
                    static_cast<int>(code), stream->status().error_message());
    }
    if (expect > 0 && stream->records() < expect) ++short_of_expect;
    if (absl::GetFlag(FLAGS_print_subscribers)) {
      absl::PrintF("%s: subscriber=%d records=%d responses=%d status=%d\n", kProgram,
                   stream->index(), stream->records(), stream->responses(), static_cast<int>(code));
    }
  }
  if (total == 0) {
    first_ns = 0;
    min_records = 0;
  }
  const double seconds = last_ns > first_ns ? static_cast<double>(last_ns - first_ns) / 1e9 : 0;
  absl::PrintF(
      "%s: subscribers=%d failed=%d short=%d timed_out=%d records=%d min=%d max=%d "
      "responses=%d malformed=%d seconds=%.3f records_per_s=%.0f summed_per_s=%.0f "
      "first_unix_ns=%d last_unix_ns=%d cpu_s=%.3f cpu_ns_per_record=%.1f\n",
      kProgram, subscribers, failed, short_of_expect, timed_out ? 1 : 0, total, min_records,
      max_records, responses, malformed, seconds,
      seconds > 0 ? static_cast<double>(total) / seconds : 0.0, summed_rate, first_ns, last_ns,
      cpu_seconds, total > 0 ? cpu_seconds * 1e9 / static_cast<double>(total) : 0.0);
  if (latency) {
    absl::PrintF("%s: latency_us n=%d p50=%d p99=%d p99.9=%d max=%d\n", kProgram,
                 latency_us.count(), latency_us.Percentile(0.5), latency_us.Percentile(0.99),
                 latency_us.Percentile(0.999), latency_us.max());
  }
  std::fflush(stdout);
  if (failed > 0 || short_of_expect > 0) return 1;
  return 0;
}

}  // namespace
}  // namespace fixstream::clients

int main(int argc, char** argv) {
  if (!fixstream::clients::ParseClientCommandLine(argc, argv, fixstream::clients::kProgram,
                                                  fixstream::clients::kUsage,
                                                  "clients/fanout.cc")) {
    return 2;
  }
  // The run owns the streams, which gRPC's threads use until each reports
  // OnDone; it lives until the process exits.
  static auto* run = new fixstream::clients::FanoutRun();
  return run->Run();
}
