// Fuzzes one device protocol's MessageFramer + ProtocolDecoder (the protocol
// is fixed per target by FIXSTREAM_FUZZ_PROTOCOL, one target per decoder).
// The first input byte chooses the read sizes; the rest is the stream. Checks
// that outcomes are in range, that records are only produced by published
// messages and are valid, that replies stay bounded, that the buffer stays
// within its bound, that the result does not depend on how the stream was
// split (unless a message was too long), and that DetectProtocol never
// changes its mind once it has decided.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/device_protocol.h"
#include "ingest/message_framer.h"
#include "ingest/validate.h"

#ifndef FIXSTREAM_FUZZ_PROTOCOL
#error "FIXSTREAM_FUZZ_PROTOCOL must name a DeviceProtocol value"
#endif

namespace {

using namespace fixstream::ingest;

void Check(bool condition) {
  if (!condition) std::abort();
}

class CheckingSink final : public RecordSink {
 public:
  void OnRecord(const LocationRecord& record) override {
    Check(IsInRange(record));
    Check(IsValidVehicleId(record.vehicle_id()));
    times.push_back(record.fix_time_unix_ns);
    ++records;
  }
  size_t records = 0;
  std::vector<int64_t> times;
};

struct Result {
  std::vector<LineOutcome> outcomes;
  std::vector<int64_t> times;
  std::string replies;
  bool too_long = false;
};

constexpr size_t kMax = 512;  // small, so that fuzzing reaches the bound

Result Run(std::string_view stream, size_t read_size) {
  const auto protocol = static_cast<DeviceProtocol>(FIXSTREAM_FUZZ_PROTOCOL);
  ProtocolDecoderOptions options;
  options.max_message_length = kMax;
  std::unique_ptr<ProtocolDecoder> decoder = MakeProtocolDecoder(protocol, options);
  Check(decoder->protocol() == protocol);
  MessageFramer framer(*decoder, kMax);
  CheckingSink sink;
  Result result;
  const int64_t receive = 1'796'193'000LL * 1'000'000'000;
  while (!stream.empty()) {
    const std::string_view chunk = stream.substr(0, read_size);
    stream.remove_prefix(chunk.size());
    framer.Append(chunk);
    Check(framer.buffered() <= kMax + chunk.size());
    DeviceFrame frame;
    while (framer.Next(&frame)) {
      LineOutcome outcome = LineOutcome::kMalformed;
      if (frame.kind == DeviceFrame::Kind::kTooLong) {
        outcome = LineOutcome::kTooLong;
        result.too_long = true;
      } else if (frame.kind == DeviceFrame::Kind::kMessage) {
        Check(!frame.text.empty() && frame.text.size() <= kMax);
        const size_t before = sink.records;
        const size_t reply_before = result.replies.size();
        outcome = decoder->Decode(frame.text, receive, sink, &result.replies);
        Check(static_cast<size_t>(outcome) < kLineOutcomeCount);
        Check(!LineOutcomeName(outcome).empty());
        if (outcome != LineOutcome::kPublished) Check(sink.records == before);
        if (outcome == LineOutcome::kPublished) Check(sink.records > before);
        Check(result.replies.size() - reply_before <= frame.text.size() + 96);
        Check(decoder->vehicle_id().empty() || IsValidVehicleId(decoder->vehicle_id()));
      }
      result.outcomes.push_back(outcome);
    }
  }
  framer.Finish();
  result.times = sink.times;
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t read_size = 1 + data[0] % 64;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const Result whole = Run(stream, stream.size() + 1);
  const Result split = Run(stream, read_size);
  if (!whole.too_long && !split.too_long) {
    Check(whole.outcomes == split.outcomes);
    Check(whole.times == split.times);
    Check(whole.replies == split.replies);
  }
  // Auto-detection: once decided, more bytes never change the decision.
  bool decided = false;
  Detection first;
  for (size_t k = 0; k <= stream.size() && k <= kMaxDetectionBytes + 4; ++k) {
    const Detection d = DetectProtocol(stream.substr(0, k));
    if (k >= kMaxDetectionBytes) Check(d.kind != Detection::Kind::kNeedMore);
    if (d.kind == Detection::Kind::kNeedMore) {
      Check(!decided);
      continue;
    }
    if (!decided) {
      decided = true;
      first = d;
    }
    Check(d.kind == first.kind);
    if (d.kind == Detection::Kind::kDevice) Check(d.protocol == first.protocol);
  }
  return 0;
}
