// H02: "*<maker>,<id>,<type>,...#". See docs/PROTOCOL.md (H02).
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

// "-23-35.3408" (degrees, minutes, both signed by the hemisphere, as some
// firmware writes southern/western coordinates), "37573392" (dd mm mmmm
// without the point), else ddmm.mmmm.
bool ParseH02Coordinate(std::string_view s, double* degrees) {
  s = TrimSpaces(s);
  if (s.size() > 1 && s[0] == '-') {
    const size_t dash = s.find('-', 1);
    if (dash == std::string_view::npos) return false;
    int deg = 0;
    const std::string_view d = s.substr(1, dash - 1);
    if (!AllDigits(d) || d.size() > 3) return false;
    for (char c : d) deg = deg * 10 + (c - '0');
    double minutes;
    if (!ParseDecimal(s.substr(dash + 1), &minutes) || minutes < 0 || minutes >= 60) return false;
    *degrees = deg + minutes / 60;
    return true;
  }
  if (AllDigits(s) && s.size() >= 7 && s.size() <= 9) {
    int deg = 0;
    for (char c : s.substr(0, s.size() - 6)) deg = deg * 10 + (c - '0');
    int minutes_int, minutes_frac;
    ParseFixedDigits(s.substr(s.size() - 6), 2, &minutes_int);
    ParseFixedDigits(s.substr(s.size() - 4), 4, &minutes_frac);
    if (minutes_int >= 60) return false;
    *degrees = deg + (minutes_int + minutes_frac / 10000.0) / 60;
    return true;
  }
  return ParseDegreesMinutes(s, degrees);
}

class H02Decoder final : public ProtocolDecoder {
 public:
  explicit H02Decoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kH02; }

  FrameScan Scan(std::string_view buffered) const override {
    if (buffered[0] != '*') return JunkUntil(buffered, '*');
    const size_t end = buffered.find('#');
    if (end == std::string_view::npos) return FrameScan::NeedMore();
    return FrameScan::Message(end + 1);
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    if (message.size() < 5 || message[0] != '*' || message[3] != ',' || message.back() != '#') {
      return LineOutcome::kMalformed;
    }
    const std::string_view body = message.substr(1, message.size() - 2);
    const Fields<48> f = Split<48>(body, ',');
    const std::string_view id = f[1];
    const std::string_view type = f[2];
    if (f.size() < 3 || type.empty()) return LineOutcome::kMalformed;
    if (!id.empty() && !AllDigits(id)) return LineOutcome::kBadVehicleId;

    std::string_view resolved;
    LineOutcome outcome;
    if (type == "V0" || type == "HTBT") {
      if (!ResolveId(id, vehicle_id(), &resolved, &outcome)) return outcome;
      set_vehicle_id(resolved);
      // The heartbeat echoed up to its type.
      reply->append(message.substr(0, 1 + (type.data() + type.size() - body.data())));
      reply->push_back('#');
      return LineOutcome::kHeartbeat;
    }
    if (type == "NBR") {
      // A cell-tower report: proof of life, no satellite position.
      if (!ResolveId(id, vehicle_id(), &resolved, &outcome)) return outcome;
      set_vehicle_id(resolved);
      if (!id.empty()) AppendAck(id, "NBR", receive_time_unix_ns, reply);
      return LineOutcome::kHeartbeat;
    }

    // A position: validity, latitude, N/S, longitude, E/W somewhere after
    // the type (V4 answers carry their command's fields first).
    size_t k = 0;
    for (size_t i = 3; i + 4 < f.size(); ++i) {
      const std::string_view ns = f[i + 2];
      const std::string_view ew = f[i + 4];
      if ((ns == "N" || ns == "S") && (ew == "E" || ew == "W")) {
        k = i;
        break;
      }
    }
    if (k == 0) {
      // Status reports (LINK, V3, SMS, ...): proof of life.
      if (!ResolveId(id, vehicle_id(), &resolved, &outcome)) return outcome;
      set_vehicle_id(resolved);
      return LineOutcome::kHeartbeat;
    }
    if (!ResolveId(id, vehicle_id(), &resolved, &outcome)) return outcome;
    const std::string_view validity = f[k];
    bool valid;
    if (validity == "A" || validity == "B") {
      valid = true;
    } else if (validity == "V" || validity.empty()) {
      valid = false;
    } else if (AllDigits(validity)) {
      valid = true;  // a coding scheme in place of the flag (V2, VI1)
    } else {
      return LineOutcome::kMalformed;
    }
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kH02;
    if (!ParseH02Coordinate(f[k + 1], &r.latitude) || !ParseH02Coordinate(f[k + 3], &r.longitude)) {
      return LineOutcome::kMalformed;
    }
    ApplyHemisphere(f[k + 2][0], &r.latitude);
    ApplyHemisphere(f[k + 4][0], &r.longitude);
    double speed_knots;
    if (!ParseDecimal(f[k + 5], &speed_knots)) return LineOutcome::kMalformed;
    r.speed_mps = speed_knots * kKnotsToMps;
    r.present |= LocationRecord::kSpeed;
    double course;
    if (ParseDecimal(f[k + 6], &course)) {
      if (course >= 360 && course < 360.5) course = 0;
      r.heading_deg = course;
      r.present |= LocationRecord::kHeading;
    }
    // Acknowledged once the position is read, whatever its validity.
    if (type == "V1" && !id.empty()) AppendAck(id, "V1", receive_time_unix_ns, reply);

    int64_t time_of_day = 0;
    const std::string_view time = f[k - 1];
    const bool has_time = k - 1 > 2 && !time.empty();
    int64_t days = 0;
    std::string_view date = f[k + 7];
    if (date.size() != 6 || !AllDigits(date)) date = f[k + 8];  // a battery field first
    if (valid && ((has_time && !ParseHhmmss(time, &time_of_day)) ||
                  !ParseSixDigitDate(date, false, &days))) {
      RememberId(id);
      return LineOutcome::kBadTimestamp;
    }
    r.fix_time_unix_ns = days * kNanosPerDay + time_of_day;
    outcome = FinishPosition(id, vehicle_id(), valid, options(), receive_time_unix_ns, r, sink);
    RememberId(id);
    return outcome;
  }

 private:
  static void AppendAck(std::string_view id, std::string_view type, int64_t now,
                        std::string* reply) {
    reply->append("*HQ,");
    reply->append(id);
    reply->append(",V4,");
    reply->append(type);
    reply->push_back(',');
    AppendCompactDateTime(now, false, reply);
    reply->push_back('#');
  }

  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeH02Decoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<H02Decoder>(options);
}

}  // namespace fixstream::ingest::internal
