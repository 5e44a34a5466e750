// Meitrack: "$$<flag><length>,<IMEI>,<command>,...*<checksum>\r\n". See
// docs/PROTOCOL.md (Meitrack).
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The sum of the bytes, modulo 256.
uint32_t Checksum(std::string_view s) {
  uint32_t sum = 0;
  for (char c : s) sum += static_cast<uint8_t>(c);
  return sum & 0xff;
}

class MeitrackDecoder final : public ProtocolDecoder {
 public:
  explicit MeitrackDecoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kMeitrack; }

  // A frame ends at the first CR LF. The length field is not used for
  // framing: real devices get it wrong (it counts a 15-digit IMEI whatever
  // the IMEI's length, or is one off), as Traccar's test messages show.
  FrameScan Scan(std::string_view buffered) const override {
    if (buffered[0] != '$') return JunkUntil(buffered, '$');
    if (buffered.size() < 2) return FrameScan::NeedMore();
    if (buffered[1] != '$') return FrameScan::Junk(1);
    const size_t end = buffered.find("\r\n", 2);
    if (end == std::string_view::npos) return FrameScan::NeedMore();
    return FrameScan::Message(end + 2);
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    // $$Xnn,<payload>*hh\r\n
    if (message.size() < 12 || message.substr(0, 2) != "$$" ||
        message.substr(message.size() - 2) != "\r\n") {
      return LineOutcome::kMalformed;
    }
    const size_t star = message.size() - 5;
    if (message[star] != '*') return LineOutcome::kMalformed;
    const int hi = HexValue(message[star + 1]);
    const int lo = HexValue(message[star + 2]);
    if (hi < 0 || lo < 0) return LineOutcome::kMalformed;
    if (Checksum(message.substr(0, star + 1)) != static_cast<uint32_t>(hi * 16 + lo)) {
      return LineOutcome::kBadChecksum;
    }
    const size_t first_comma = message.find(',');
    if (first_comma == std::string_view::npos || first_comma >= star)
      return LineOutcome::kMalformed;
    const std::string_view payload = message.substr(first_comma + 1, star - first_comma - 1);
    const Fields<48> f = Split<48>(payload, ',');
    const std::string_view id = f[0];
    if (!AllDigits(id) || !IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    set_vehicle_id(id);
    const std::string_view command = f[1];
    if (command == "AAC") {
      AppendAnswer(id, "AAC,1", reply);
      return LineOutcome::kHeartbeat;
    }
    size_t at = 2;
    if (command == "AFF") {
      at = 3;  // a sequence number before the event code
    } else if (command != "AAA") {
      return LineOutcome::kHeartbeat;  // command answers, photo notices, ...
    }
    // event,lat,lon,yyMMddHHmmss,A|V,satellites,gsm,speed km/h,course,hdop,altitude
    const std::string_view validity = f[at + 4];
    if (validity != "A" && validity != "V") return LineOutcome::kMalformed;
    if (validity == "V") return LineOutcome::kNoFix;
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kMeitrack;
    if (!ParseDecimal(f[at + 1], &r.latitude) || !ParseDecimal(f[at + 2], &r.longitude)) {
      return LineOutcome::kMalformed;
    }
    if (f[at + 3].size() != 12 || !ParseCompactDateTime(f[at + 3], &r.fix_time_unix_ns)) {
      return LineOutcome::kBadTimestamp;
    }
    uint32_t sats;
    if (ParseSmallUnsigned(f[at + 5], &sats)) {
      r.satellites = sats;
      r.present |= LocationRecord::kSatellites;
    }
    double v;
    if (ParseDecimal(f[at + 7], &v) && v >= 0) {
      r.speed_mps = v * kKmhToMps;
      r.present |= LocationRecord::kSpeed;
    }
    if (ParseDecimal(f[at + 8], &v) && v >= 0 && v < 360) {
      r.heading_deg = v;
      r.present |= LocationRecord::kHeading;
    }
    if (ParseDecimal(f[at + 9], &v) && v >= 0) {
      r.hdop = v;
      r.present |= LocationRecord::kHdop;
    }
    if (ParseDecimal(f[at + 10], &v) && v >= kMinAltitudeM && v <= kMaxAltitudeM) {
      r.altitude_m = v;
      r.present |= LocationRecord::kAltitude;
    }
    return FinishPosition(id, {}, true, options(), receive_time_unix_ns, r, sink);
  }

 private:
  // "@@z<length>,<IMEI>,<content>*<checksum>\r\n", the length counted as in
  // the device's frames.
  static void AppendAnswer(std::string_view id, std::string_view content, std::string* reply) {
    const size_t begin = reply->size();
    const size_t length = 1 + id.size() + 1 + content.size() + 5;
    reply->append("@@z");
    reply->append(std::to_string(length));
    reply->push_back(',');
    reply->append(id);
    reply->push_back(',');
    reply->append(content);
    reply->push_back('*');
    AppendHex(Checksum(std::string_view(*reply).substr(begin)), 2, reply);
    reply->append("\r\n");
  }

  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeMeitrackDecoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<MeitrackDecoder>(options);
}

}  // namespace fixstream::ingest::internal
