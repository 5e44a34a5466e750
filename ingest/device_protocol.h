// Device protocols: the text protocols commercial trackers speak (H02,
// GPS103/Coban, TK103, Watch, Queclink GL, Meitrack, Suntech, OsmAnd over
// HTTP), each behind one interface, ProtocolDecoder, so that a device session
// can serve any of them the same way it serves the line formats:
//
//   bytes read --> MessageFramer (buffer; the decoder's Scan() finds each
//   message) --> ProtocolDecoder::Decode(message) --> LocationRecords to a
//   RecordSink, reply bytes appended to the session's output buffer, and one
//   LineOutcome per message.
//
// Nothing here does I/O: the session writes the replies. A decoder is a
// per-connection object: it keeps what the connection said before (the id a
// login named, the id of the last message, for the messages that carry none).
// A bad message costs only that message: it gets a rejection outcome and
// decoding goes on with the next one.
//
// DetectProtocol() tells from a connection's first bytes which protocol (or
// the line formats: CSV, JSON, NMEA) it speaks, so one port can serve every
// device. docs/PROTOCOL.md describes, per protocol, what is read, what is
// answered and what is ignored.
//
// Thread safety: the free functions are thread-safe; a decoder belongs to one
// connection (no internal locking).
#ifndef FIXSTREAM_INGEST_DEVICE_PROTOCOL_H_
#define FIXSTREAM_INGEST_DEVICE_PROTOCOL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/line_outcome.h"
#include "ingest/line_parser.h"
#include "ingest/location_record.h"
#include "ingest/validate.h"

namespace fixstream::ingest {

enum class DeviceProtocol : uint8_t {
  kH02 = 0,   // *HQ,<id>,V1,...#              (Sinotrack and clones; Traccar port 5013)
  kGps103,    // imei:<IMEI>,...;  ##,imei:..,A; (Coban, TK103-2B; 5001)
  kTk103,     // (<id>BP05...)                  (TK103/GT02A clones; 5002)
  kWatch,     // [SG*<id>*<len>*<content>]      (SeTracker watches; 5093)
  kQueclink,  // +RESP:GTFRI,...$               (Queclink GL/GV/GT; Traccar "gl200", 5004)
  kMeitrack,  // $$<flag><len>,<IMEI>,...*hh\r\n (5020)
  kSuntech,   // ST300STT;<id>;...\r            (5011)
  kOsmAnd,    // HTTP/1.1 GET/POST              (Traccar Client apps; 5055)
  kCount,     // number of protocols; not a protocol
};

inline constexpr size_t kDeviceProtocolCount = static_cast<size_t>(DeviceProtocol::kCount);

// Stable snake_case name ("h02", "gps103", "tk103", "watch", "queclink",
// "meitrack", "suntech", "osmand"), used as a metrics label and in config.
std::string_view DeviceProtocolName(DeviceProtocol protocol);
// The inverse of DeviceProtocolName; nullopt for an unknown name.
std::optional<DeviceProtocol> DeviceProtocolFromName(std::string_view name);
// The SourceFormat records of `protocol` carry.
SourceFormat DeviceProtocolFormat(DeviceProtocol protocol);
// The TCP port Traccar uses for `protocol` by default (e.g. 5013 for H02).
uint16_t TraccarDefaultPort(DeviceProtocol protocol);

// What a decoder's Scan() found at the start of the buffered bytes.
struct FrameScan {
  enum class Kind : uint8_t {
    kNeedMore,  // a message may have begun; no complete one yet
    kMessage,   // the first `length` bytes are one message, delimiters included
    kJunk,      // the first `length` (>= 1) bytes cannot be (part of) a message
  };
  Kind kind = Kind::kNeedMore;
  size_t length = 0;

  static FrameScan NeedMore() { return {Kind::kNeedMore, 0}; }
  static FrameScan Message(size_t n) { return {Kind::kMessage, n}; }
  static FrameScan Junk(size_t n) { return {Kind::kJunk, n}; }
};

struct ProtocolDecoderOptions {
  // Accepted fix times around the receive time (default: any).
  FixTimeWindow fix_time_window;
  // Longest message accepted, delimiters included; longer ones are discarded
  // by the MessageFramer as too_long. Precondition: >= 64.
  size_t max_message_length = 4096;
};

// One connection's decoder for one protocol. Create with MakeProtocolDecoder.
class ProtocolDecoder {
 public:
  virtual ~ProtocolDecoder() = default;
  ProtocolDecoder(const ProtocolDecoder&) = delete;
  ProtocolDecoder& operator=(const ProtocolDecoder&) = delete;

  virtual DeviceProtocol protocol() const = 0;

  // Framing: looks at the start of the bytes buffered so far (`buffered` is
  // never empty) and says whether they begin with a complete message, junk
  // (bytes no message starts with: the framer drops them, silently if they
  // are only whitespace between messages), or need more bytes. Pure with
  // respect to the decoder's state: the same bytes always scan the same way,
  // however they were split across reads.
  virtual FrameScan Scan(std::string_view buffered) const = 0;

  // Decodes one complete message as Scan() delimited it. Records go to `sink`
  // (during the call only; a message may carry several fixes), the bytes the
  // device expects in answer are appended to `*reply` (nothing is appended
  // when no answer is due). Returns what became of the message: kPublished
  // (at least one record), kNoFix (the device marked the position invalid),
  // kHeartbeat (a heartbeat or status report: proof of life, no record),
  // kIdentified (a login), or a rejection. `receive_time_unix_ns` is the
  // gateway's clock; it also dates replies that carry the time.
  virtual LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns,
                             RecordSink& sink, std::string* reply) = 0;

  // True once the decoder has answered something after which the connection
  // must close (OsmAnd: a request that was not HTTP, or one that asked for
  // "Connection: close"). The session closes it after writing the reply.
  virtual bool close_after_reply() const { return false; }

  // The connection's vehicle id: from its login, or the last message that
  // named one; empty if none yet.
  std::string_view vehicle_id() const { return {vehicle_id_buf_.data(), vehicle_id_len_}; }

  const ProtocolDecoderOptions& options() const { return options_; }

 protected:
  explicit ProtocolDecoder(const ProtocolDecoderOptions& options) : options_(options) {}
  // Precondition: IsValidVehicleId(id).
  void set_vehicle_id(std::string_view id);
  // set_vehicle_id(id) if `id` is a valid vehicle id; else nothing.
  void RememberId(std::string_view id) {
    if (IsValidVehicleId(id)) set_vehicle_id(id);
  }

 private:
  ProtocolDecoderOptions options_;
  std::array<char, kMaxVehicleIdLength> vehicle_id_buf_{};
  uint8_t vehicle_id_len_ = 0;
};

std::unique_ptr<ProtocolDecoder> MakeProtocolDecoder(DeviceProtocol protocol,
                                                     const ProtocolDecoderOptions& options = {});

// What a connection speaks, from its first bytes.
struct Detection {
  enum class Kind : uint8_t {
    kNeedMore,  // the bytes so far begin more than one protocol; read more
    kLines,     // the line formats (CSV, JSON, NMEA with $PFSID): LineParser
    kDevice,    // `protocol`
  };
  Kind kind = Kind::kNeedMore;
  DeviceProtocol protocol = DeviceProtocol::kH02;  // meaningful for kDevice
};

// Bytes after which DetectProtocol always decides (kLines if nothing matched).
inline constexpr size_t kMaxDetectionBytes = 32;

// Classifies a connection by the bytes it sent first (all of them so far;
// leading CR/LF/space are skipped). Never misreads a line of the line
// formats: a line starting with '{' (JSON), '$' other than "$$" (NMEA), or a
// CSV vehicle id followed by ',' is kLines. The rules, in docs/PROTOCOL.md:
// '*XX,' H02; '(' TK103; '[' Watch; '+RESP:' '+BUFF:' '+ACK:' Queclink; '$$'
// Meitrack; an HTTP method and space OsmAnd; 'imei:', '##,' or digits then
// ';' or 'imei:' GPS103; upper-case letters/digits then ';' Suntech.
Detection DetectProtocol(std::string_view first_bytes);

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_DEVICE_PROTOCOL_H_
