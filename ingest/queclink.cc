// Queclink GL/GV/GT (Traccar's "gl200"): "+RESP:GT<type>,<version>,<IMEI>,
// ...,<send time>,<count>$", "+BUFF:" for reports the device buffered while
// offline, "+ACK:" for acknowledgements. See docs/PROTOCOL.md (Queclink).
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsHexField(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!IsHexDigit(c)) return false;
  }
  return true;
}

// An IMEI, or the 14-hex-digit MEID of CDMA models ("A1000043D20139").
bool IsDeviceId(std::string_view s) { return IsHexField(s, 14, 15); }

// A decimal degree as Queclink writes it: with a point.
bool ParseDegrees(std::string_view s, double limit, double* value) {
  return s.find('.') != std::string_view::npos && ParseDecimal(s, value) && *value >= -limit &&
         *value <= limit;
}

constexpr size_t kMaxFields = 160;

class QueclinkDecoder final : public ProtocolDecoder {
 public:
  explicit QueclinkDecoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kQueclink; }

  FrameScan Scan(std::string_view buffered) const override {
    if (buffered[0] != '+') return JunkUntil(buffered, '+');
    const size_t end = buffered.find('$');
    if (end == std::string_view::npos) return FrameScan::NeedMore();
    return FrameScan::Message(end + 1);
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    if (message.size() < 2 || message.front() != '+' || message.back() != '$') {
      return LineOutcome::kMalformed;
    }
    const std::string_view body = message.substr(0, message.size() - 1);
    const Fields<kMaxFields> f = Split<kMaxFields>(body, ',');
    const std::string_view head = f[0];  // +RESP:GTFRI
    const size_t colon = head.find(':');
    if (colon == std::string_view::npos || f.size() < 3) return LineOutcome::kMalformed;
    const std::string_view kind = head.substr(1, colon);
    if (kind != "RESP:" && kind != "BUFF:" && kind != "ACK:") return LineOutcome::kMalformed;
    // The protocol version (6 to 10 hex digits) is missing in some old
    // firmware's reports.
    size_t id_at = 2;
    if (!IsHexField(f[1], 6, 10) || !IsDeviceId(f[2])) id_at = 1;
    const std::string_view id = f[id_at];
    if (!IsDeviceId(id)) return LineOutcome::kBadVehicleId;
    set_vehicle_id(id);
    if (kind == "ACK:") {
      if (head == "+ACK:GTHBD") {
        reply->append("+SACK:GTHBD,");
        reply->append(f[1]);
        reply->push_back(',');
        reply->append(f[f.size() - 1]);
        reply->push_back('$');
      }
      return LineOutcome::kHeartbeat;
    }
    // Every fix of the report: hdop, speed km/h, azimuth, altitude,
    // longitude, latitude, yyyyMMddHHmmss (GTFRI and others carry several).
    LineOutcome outcome = LineOutcome::kHeartbeat;
    bool published = false;
    for (size_t i = id_at + 1; i + 2 < f.size(); ++i) {
      // Cheap tests first: most fields are not the start of a fix.
      if (f[i + 2].size() != 14 || f[i].find('.') == std::string_view::npos) continue;
      LocationRecord& r = record_;
      r.Clear();
      r.format = SourceFormat::kQueclink;
      if (!ParseDegrees(f[i], 180, &r.longitude) || !ParseDegrees(f[i + 1], 90, &r.latitude) ||
          !ParseCompactDateTime(f[i + 2], &r.fix_time_unix_ns) || f[i + 2].size() != 14) {
        continue;
      }
      double v;
      if (i >= 4 && ParseDecimal(f[i - 4], &v) && v > 0) {
        r.hdop = v;
        r.present |= LocationRecord::kHdop;
      }
      if (i >= 3 && ParseDecimal(f[i - 3], &v) && v >= 0) {
        r.speed_mps = v * kKmhToMps;
        r.present |= LocationRecord::kSpeed;
      }
      if (i >= 2 && ParseDecimal(f[i - 2], &v) && v >= 0 && v < 360) {
        r.heading_deg = v;
        r.present |= LocationRecord::kHeading;
      }
      if (ParseDecimal(f[i - 1], &v) && v >= kMinAltitudeM && v <= kMaxAltitudeM) {
        r.altitude_m = v;
        r.present |= LocationRecord::kAltitude;
      }
      const LineOutcome one =
          FinishPosition(id, {}, true, options(), receive_time_unix_ns, r, sink);
      if (one == LineOutcome::kPublished) {
        published = true;
      } else if (!published) {
        outcome = one;
      }
      i += 2;
    }
    return published ? LineOutcome::kPublished : outcome;
  }

 private:
  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeQueclinkDecoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<QueclinkDecoder>(options);
}

}  // namespace fixstream::ingest::internal
