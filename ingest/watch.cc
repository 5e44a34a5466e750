// Watch (SeTracker and clones): "[<maker>*<id>*<len>*<type>,<data>]", or
// with an index "[<maker>*<id>*<idx>*<len>*...]". See docs/PROTOCOL.md (Watch).
#include <cmath>
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

bool IsHex4(std::string_view s) {
  if (s.size() != 4) return false;
  for (char c : s) {
    if (!IsDigit(c) && !((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

// Brackets nest inside the data (some types carry lists); binary payloads
// escape '[' and ']' (as "}\x02", "}\x03"), so the frame ends where the
// brackets balance. The length field is not used for framing: real watches
// get it wrong (13 of the 47 Traccar test messages disagree with it).
constexpr size_t kMaxDepth = 16;

class WatchDecoder final : public ProtocolDecoder {
 public:
  explicit WatchDecoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kWatch; }

  FrameScan Scan(std::string_view buffered) const override {
    if (buffered[0] != '[') return JunkUntil(buffered, '[');
    size_t depth = 0;
    for (size_t i = 0; i < buffered.size(); ++i) {
      if (buffered[i] == '[') {
        if (++depth > kMaxDepth) return FrameScan::Junk(i);
      } else if (buffered[i] == ']') {
        if (--depth == 0) return FrameScan::Message(i + 1);
      }
    }
    return FrameScan::NeedMore();
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    if (message.size() < 2 || message.front() != '[' || message.back() != ']') {
      return LineOutcome::kMalformed;
    }
    const std::string_view body = message.substr(1, message.size() - 2);
    // maker*id*[idx*]len*content
    const Fields<5> h = Split<5>(body, '*');
    if (h.size() < 4 || h[0].size() != 2) return LineOutcome::kMalformed;
    const std::string_view maker = h[0];
    const std::string_view id = h[1];
    std::string_view index;
    size_t content_begin = maker.size() + id.size() + 2;
    if (h.size() >= 5 && IsHex4(h[2]) && IsHex4(h[3])) {
      index = h[2];
      content_begin += 5;
    }
    const std::string_view length = body.substr(content_begin, 4);
    if (!IsHex4(length) || content_begin + 5 > body.size() || body[content_begin + 4] != '*') {
      return LineOutcome::kMalformed;
    }
    const std::string_view content = body.substr(content_begin + 5);
    if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    const size_t comma = content.find(',');
    const std::string_view type = content.substr(0, comma);
    const std::string_view data =
        comma == std::string_view::npos ? std::string_view() : content.substr(comma + 1);

    if (type == "LK") {
      Reply(maker, id, index, "LK", reply);
    } else if (type.substr(0, 2) == "AL") {
      Reply(maker, id, index, "AL", reply);
    } else if (type == "TKQ" || type == "TKQ2") {
      Reply(maker, id, index, type, reply);
    } else if (type == "INIT") {
      Reply(maker, id, index, "INIT,1", reply);
    }
    set_vehicle_id(id);
    const bool position_type =
        type.substr(0, 2) == "UD" || type.substr(0, 2) == "AL" || type == "WT";
    if (!position_type || data.empty()) return LineOutcome::kHeartbeat;
    return DecodePosition(id, data, receive_time_unix_ns, sink);
  }

 private:
  static void Reply(std::string_view maker, std::string_view id, std::string_view index,
                    std::string_view content, std::string* reply) {
    reply->push_back('[');
    reply->append(maker);
    reply->push_back('*');
    reply->append(id);
    reply->push_back('*');
    if (!index.empty()) {
      reply->append(index);
      reply->push_back('*');
    }
    AppendHex(static_cast<uint32_t>(content.size()), 4, reply);
    reply->push_back('*');
    reply->append(content);
    reply->push_back(']');
  }

  // ddMMyy,HHmmss,A|V,lat,N|S,lon,E|W,speed km/h,course,altitude,satellites,...
  LineOutcome DecodePosition(std::string_view id, std::string_view data,
                             int64_t receive_time_unix_ns, RecordSink& sink) {
    const Fields<12> f = Split<12>(data, ',');
    if (f.size() < 9) return LineOutcome::kMalformed;
    const std::string_view validity = f[2];
    if (validity != "A" && validity != "V") return LineOutcome::kMalformed;
    if (validity == "V") return LineOutcome::kNoFix;
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kWatch;
    if (!ParseDecimal(f[3], &r.latitude) || !ParseDecimal(f[5], &r.longitude)) {
      return LineOutcome::kMalformed;
    }
    // Some firmware signs the value and writes the hemisphere too.
    if (f[4] == "S") r.latitude = -std::fabs(r.latitude);
    if (f[6] == "W") r.longitude = -std::fabs(r.longitude);
    int64_t days, tod;
    if (!ParseSixDigitDate(f[0], false, &days) || !ParseHhmmss(f[1], &tod)) {
      return LineOutcome::kBadTimestamp;
    }
    r.fix_time_unix_ns = days * kNanosPerDay + tod;
    double v;
    if (ParseDecimal(f[7], &v) && v >= 0) {
      r.speed_mps = v * kKmhToMps;
      r.present |= LocationRecord::kSpeed;
    }
    if (ParseDecimal(f[8], &v) && v >= 0 && v < 360) {
      r.heading_deg = v;
      r.present |= LocationRecord::kHeading;
    }
    if (ParseDecimal(f[9], &v) && v >= kMinAltitudeM && v <= kMaxAltitudeM) {
      r.altitude_m = v;
      r.present |= LocationRecord::kAltitude;
    }
    uint32_t sats;
    if (ParseSmallUnsigned(f[10], &sats)) {
      r.satellites = sats;
      r.present |= LocationRecord::kSatellites;
    }
    return FinishPosition(id, {}, true, options(), receive_time_unix_ns, r, sink);
  }

  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeWatchDecoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<WatchDecoder>(options);
}

}  // namespace fixstream::ingest::internal
