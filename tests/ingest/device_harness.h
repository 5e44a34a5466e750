// Test helper: drives one connection's bytes through a MessageFramer and a
// ProtocolDecoder as the device session will, and keeps what came out.
#ifndef FIXSTREAM_TESTS_INGEST_DEVICE_HARNESS_H_
#define FIXSTREAM_TESTS_INGEST_DEVICE_HARNESS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/device_protocol.h"
#include "ingest/message_framer.h"
#include "record_collector.h"

namespace fixstream::ingest {

struct DeviceRun {
  std::vector<LineOutcome> outcomes;  // one per frame, in order
  std::vector<LocationRecord> records;
  std::string replies;  // everything appended to the output buffer
  MessageFramer::Tail tail = MessageFramer::Tail::kNone;
  bool close = false;
};

class DeviceHarness {
 public:
  explicit DeviceHarness(DeviceProtocol protocol, ProtocolDecoderOptions options = {})
      : decoder_(MakeProtocolDecoder(protocol, options)),
        framer_(*decoder_, options.max_message_length) {}

  // One read of `bytes`, decoded as the session does after each read.
  void Read(std::string_view bytes, int64_t receive_time_unix_ns) {
    framer_.Append(bytes);
    DeviceFrame frame;
    while (framer_.Next(&frame)) {
      switch (frame.kind) {
        case DeviceFrame::Kind::kMessage:
          run_.outcomes.push_back(
              decoder_->Decode(frame.text, receive_time_unix_ns, sink_, &run_.replies));
          break;
        case DeviceFrame::Kind::kJunk:
          run_.outcomes.push_back(LineOutcome::kMalformed);
          break;
        case DeviceFrame::Kind::kTooLong:
          run_.outcomes.push_back(LineOutcome::kTooLong);
          break;
      }
    }
  }

  DeviceRun Finish() {
    run_.tail = framer_.Finish();
    run_.records = sink_.records;
    run_.close = decoder_->close_after_reply();
    return run_;
  }

  ProtocolDecoder& decoder() { return *decoder_; }

 private:
  std::unique_ptr<ProtocolDecoder> decoder_;
  MessageFramer framer_;
  RecordCollector sink_;
  DeviceRun run_;
};

inline DeviceRun RunDevice(DeviceProtocol protocol, const std::vector<std::string_view>& reads,
                           int64_t receive_time_unix_ns, ProtocolDecoderOptions options = {}) {
  DeviceHarness h(protocol, options);
  for (std::string_view r : reads) h.Read(r, receive_time_unix_ns);
  return h.Finish();
}

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_TESTS_INGEST_DEVICE_HARNESS_H_
