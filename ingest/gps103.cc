// GPS103 / Coban: "imei:<IMEI>,<event>,<local time>,...;", login
// "##,imei:<IMEI>,A;", heartbeat "<IMEI>;". See docs/PROTOCOL.md (GPS103).
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

// Traccar answers LOAD to any frame naming an IMEI that is this short: the
// login variants some firmware sends ("imei:<IMEI>,L,").
constexpr size_t kShortLoginLength = 30;

bool IsDelimiter(char c) { return c == ';' || c == '\n' || c == '*'; }

class Gps103Decoder final : public ProtocolDecoder {
 public:
  explicit Gps103Decoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kGps103; }

  FrameScan Scan(std::string_view buffered) const override {
    if (buffered[0] == '\r' || buffered[0] == '\n' || buffered[0] == ' ') {
      return FrameScan::Junk(1);
    }
    for (size_t i = 0; i < buffered.size(); ++i) {
      if (IsDelimiter(buffered[i])) return FrameScan::Message(i + 1);
    }
    return FrameScan::NeedMore();
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    std::string_view s = message;
    if (!s.empty() && IsDelimiter(s.back())) s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    if (s.empty()) return LineOutcome::kEmpty;

    if (StartsWith(s, "##,")) {
      // Login: "##,imei:<IMEI>,A".
      const Fields<4> f = Split<4>(s, ',');
      if (!StartsWith(f[1], "imei:")) return LineOutcome::kMalformed;
      return Login(f[1].substr(5), reply);
    }
    if (IsDigit(s[0])) {
      // Heartbeat "<IMEI>", which some firmware prefixes to a report.
      size_t n = 0;
      while (n < s.size() && IsDigit(s[n])) ++n;
      const std::string_view id = s.substr(0, n);
      if (n == s.size()) {
        if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
        set_vehicle_id(id);
        reply->append("ON");
        return LineOutcome::kHeartbeat;
      }
      if (!StartsWith(s.substr(n), "imei:")) return LineOutcome::kMalformed;
      reply->append("ON");
      s.remove_prefix(n);
    }
    if (!StartsWith(s, "imei:")) return LineOutcome::kMalformed;
    const Fields<40> f = Split<40>(s, ',');
    const std::string_view id = f[0].substr(5);
    if (!AllDigits(id)) return LineOutcome::kBadVehicleId;
    if (message.size() <= kShortLoginLength) return Login(id, reply);
    if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    const std::string_view event = f[1];
    if (event == "help me") {
      reply->append("**,imei:");
      reply->append(id);
      reply->append(",E;");
    }
    if (f[4] == "F") return DecodeRegular(id, f, receive_time_unix_ns, sink);
    if (f.size() >= 12 && f[5].size() == 6 && f[6].size() == 6 && AllDigits(f[5]) &&
        AllDigits(f[6]) && f[9].find('.') != std::string_view::npos) {
      return DecodeAlternative(id, f, receive_time_unix_ns, sink);
    }
    // "L" (cell towers only), OBD, sensor and other status reports.
    set_vehicle_id(id);
    return LineOutcome::kHeartbeat;
  }

 private:
  LineOutcome Login(std::string_view id, std::string* reply) {
    if (!AllDigits(id) || !IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    set_vehicle_id(id);
    reply->append("LOAD");
    return LineOutcome::kIdentified;
  }

  // imei,event,local time,rfid,F,utc hhmmss.sss,A|V,lat,N|S,lon,E|W,speed
  // knots,course,altitude,... (the hemispheres may also precede the value).
  LineOutcome DecodeRegular(std::string_view id, const Fields<40>& f, int64_t receive_time_unix_ns,
                            RecordSink& sink) {
    const std::string_view validity = f[6];
    if (validity != "A" && validity != "V") return LineOutcome::kMalformed;
    const bool valid = validity == "A";
    size_t i = 7;
    char lat_hem = 'N', lon_hem = 'E';
    if (f[i] == "N" || f[i] == "S") lat_hem = f[i++][0];
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kGps103;
    if (!ParseDegreesMinutes(f[i++], &r.latitude)) return LineOutcome::kMalformed;
    if (f[i] == "N" || f[i] == "S") lat_hem = f[i++][0];
    if (f[i] == "E" || f[i] == "W") lon_hem = f[i++][0];
    if (!ParseDegreesMinutes(f[i++], &r.longitude)) return LineOutcome::kMalformed;
    if (f[i] == "E" || f[i] == "W") {
      lon_hem = f[i++][0];
    } else if (f[i].empty()) {
      ++i;  // hemisphere left empty: east
    }
    ApplyHemisphere(lat_hem, &r.latitude);
    ApplyHemisphere(lon_hem, &r.longitude);
    double v;
    if (ParseDecimal(f[i], &v) && v >= 0) {
      r.speed_mps = v * kKnotsToMps;
      r.present |= LocationRecord::kSpeed;
    }
    if (ParseDecimal(f[i + 1], &v) && v >= 0 && v < 360) {
      r.heading_deg = v;
      r.present |= LocationRecord::kHeading;
    }
    if (valid) {
      if (!FixTime(f[2], f[5], &r.fix_time_unix_ns)) {
        std::string_view resolved;
        LineOutcome outcome;
        if (!ResolveId(id, vehicle_id(), &resolved, &outcome)) return outcome;
        return LineOutcome::kBadTimestamp;
      }
    }
    const LineOutcome outcome =
        FinishPosition(id, vehicle_id(), valid, options(), receive_time_unix_ns, r, sink);
    RememberId(id);
    return outcome;
  }

  // The device's local date and time (yyMMddHHmm[ss] or "yy/MM/dd HH:mm")
  // corrected by its offset from the GPS time of day (hhmmss[.sss], UTC), the
  // offset taken within +-12 h; the local time alone if the GPS time is not
  // one.
  static bool FixTime(std::string_view local, std::string_view utc, int64_t* unix_ns) {
    char digits[12];
    size_t n = 0;
    for (char c : local) {
      if (IsDigit(c)) {
        if (n == sizeof digits) return false;
        digits[n++] = c;
      } else if (c != '/' && c != ' ' && c != ':') {
        return false;
      }
    }
    if (n != 10 && n != 12) return false;
    const std::string_view d(digits, n);
    int yy, mo, dd, lh, lm;
    ParseFixedDigits(d, 2, &yy);
    ParseFixedDigits(d.substr(2), 2, &mo);
    ParseFixedDigits(d.substr(4), 2, &dd);
    ParseFixedDigits(d.substr(6), 2, &lh);
    ParseFixedDigits(d.substr(8), 2, &lm);
    if (!IsValidDate(2000 + yy, mo, dd) || lh > 23 || lm > 59) return false;
    int64_t utc_nanos;
    int64_t base = DaysFromCivil(2000 + yy, mo, dd) * kNanosPerDay;
    if (utc.size() >= 6 && ParseHhmmss(utc, &utc_nanos)) {
      const int64_t minute = 60 * kNanosPerSecond;
      const int64_t utc_minutes = utc_nanos / minute;
      int64_t delta = lh * 60 + lm - utc_minutes;
      if (delta <= -12 * 60) delta += 24 * 60;
      if (delta > 12 * 60) delta -= 24 * 60;
      *unix_ns = base + (lh * 60 + lm - delta) * minute + utc_nanos % minute;
    } else {
      int ls = 0;
      if (n == 12) ParseFixedDigits(d.substr(10), 2, &ls);
      *unix_ns = base + ((lh * 60 + lm) * 60 + ls) * kNanosPerSecond;
    }
    return true;
  }

  // imei,-,event,sensor,voltage,hhmmss,ddmmyy,rssi,gps status,lat,lon,speed
  // km/h,course,altitude,hdop,satellites,...
  LineOutcome DecodeAlternative(std::string_view id, const Fields<40>& f,
                                int64_t receive_time_unix_ns, RecordSink& sink) {
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kGps103;
    int64_t tod, days;
    uint32_t status;
    if (!ParseHhmmss(f[5], &tod) || !ParseSixDigitDate(f[6], false, &days)) {
      return LineOutcome::kBadTimestamp;
    }
    if (!ParseSmallUnsigned(f[8], &status) || !ParseDecimal(f[9], &r.latitude) ||
        !ParseDecimal(f[10], &r.longitude)) {
      return LineOutcome::kMalformed;
    }
    r.fix_time_unix_ns = days * kNanosPerDay + tod;
    double v;
    if (ParseDecimal(f[11], &v) && v >= 0) {
      r.speed_mps = v * kKmhToMps;
      r.present |= LocationRecord::kSpeed;
    }
    if (ParseDecimal(f[12], &v) && v >= 0 && v < 360) {
      r.heading_deg = v;
      r.present |= LocationRecord::kHeading;
    }
    if (ParseDecimal(f[13], &v) && v >= kMinAltitudeM && v <= kMaxAltitudeM) {
      r.altitude_m = v;
      r.present |= LocationRecord::kAltitude;
    }
    // Status 0 is "no fix": the device repeats its last position.
    const LineOutcome outcome =
        FinishPosition(id, vehicle_id(), status > 0, options(), receive_time_unix_ns, r, sink);
    RememberId(id);
    return outcome;
  }

  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeGps103Decoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<Gps103Decoder>(options);
}

}  // namespace fixstream::ingest::internal
