// TK103: "(<id><command><data>)" or "(<IMEI>,<command>,<fields>)". See
// docs/PROTOCOL.md (TK103).
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlnum(char c) { return IsDigit(c) || IsUpper(c) || (c >= 'a' && c <= 'z'); }

// A command of the classic form: B<letter><digit><digit> (BP05, BR00, BO01,
// ...), ZC<digit><digit>, or DW<2 alphanumerics>.
bool IsCommandAt(std::string_view s, size_t i) {
  if (i + 4 > s.size()) return false;
  if (s[i] == 'B') return IsUpper(s[i + 1]) && IsDigit(s[i + 2]) && IsDigit(s[i + 3]);
  if (s[i] == 'Z' && s[i + 1] == 'C') return IsDigit(s[i + 2]) && IsDigit(s[i + 3]);
  if (s[i] == 'D' && s[i + 1] == 'W') return IsAlnum(s[i + 2]) && IsAlnum(s[i + 3]);
  return false;
}

// "[ ]*ddmm.mmmm" then the hemisphere letter in `hems`, starting at s[*i].
bool ReadCoordinate(std::string_view s, size_t* i, const char* hems, double* degrees) {
  size_t p = *i;
  while (p < s.size() && s[p] == ' ') ++p;
  const size_t begin = p;
  while (p < s.size() && (IsDigit(s[p]) || s[p] == '.')) ++p;
  if (p >= s.size() || (s[p] != hems[0] && s[p] != hems[1])) return false;
  if (!ParseDegreesMinutes(s.substr(begin, p - begin), degrees)) return false;
  ApplyHemisphere(s[p], degrees);
  *i = p + 1;
  return true;
}

class Tk103Decoder final : public ProtocolDecoder {
 public:
  explicit Tk103Decoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kTk103; }

  // "(" to ")", where a ")" inside $...$ free text does not end the frame.
  FrameScan Scan(std::string_view buffered) const override {
    if (buffered[0] != '(') return JunkUntil(buffered, '(');
    bool in_text = false;
    for (size_t i = 1; i < buffered.size(); ++i) {
      const char c = buffered[i];
      if (c == '$') in_text = !in_text;
      if (c == ')' && !in_text) return FrameScan::Message(i + 1);
    }
    return FrameScan::NeedMore();
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    if (message.size() < 3 || message.front() != '(' || message.back() != ')') {
      return LineOutcome::kMalformed;
    }
    const std::string_view body = message.substr(1, message.size() - 2);
    const size_t comma = body.find(',');
    size_t command_at = std::string_view::npos;
    for (size_t i = 1; i + 4 <= body.size() && i < comma && i <= kMaxVehicleIdLength; ++i) {
      if (IsCommandAt(body, i)) {
        command_at = i;
        break;
      }
    }
    if (command_at == std::string_view::npos && comma != std::string_view::npos) {
      return DecodeCommaForm(body, comma, receive_time_unix_ns, sink);
    }
    if (command_at == std::string_view::npos) return LineOutcome::kMalformed;
    const std::string_view id = body.substr(0, command_at);
    const std::string_view command = body.substr(command_at, 4);
    for (char c : id) {
      if (!IsAlnum(c)) return LineOutcome::kBadVehicleId;
    }
    if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    if (command == "BP00") {
      // Handshake.
      Reply(id, "AP01HSO", reply);
      set_vehicle_id(id);
      return LineOutcome::kIdentified;
    }
    if (command == "BP05") Reply(id, "AP05", reply);  // login, with a position
    const std::string_view data = body.substr(command_at + 4);
    return DecodeClassicData(id, data, receive_time_unix_ns, sink);
  }

 private:
  static void Reply(std::string_view id, std::string_view answer, std::string* reply) {
    reply->push_back('(');
    reply->append(id);
    reply->append(answer);
    reply->push_back(')');
  }

  // The location block, after whatever the command puts first (an IMEI,
  // an alarm digit, ",ALARM,<n>,<n>,"): yyMMdd A|V ddmm.mmmm N|S dddmm.mmmm
  // E|W, speed km/h in 5 characters, hhmmss, course; none in cell, battery
  // and other status reports.
  LineOutcome DecodeClassicData(std::string_view id, std::string_view data,
                                int64_t receive_time_unix_ns, RecordSink& sink) {
    size_t v = std::string_view::npos;
    for (size_t i = 6; i < data.size(); ++i) {
      if ((data[i] == 'A' || data[i] == 'V') && AllDigits(data.substr(i - 6, 6))) {
        v = i;
        break;
      }
    }
    if (v == std::string_view::npos || data.find('{') != std::string_view::npos) {
      set_vehicle_id(id);
      return LineOutcome::kHeartbeat;
    }
    const bool valid = data[v] == 'A';
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kTk103;
    size_t i = v + 1;
    if (!ReadCoordinate(data, &i, "NS", &r.latitude) ||
        !ReadCoordinate(data, &i, "EW", &r.longitude)) {
      if (!valid) return NoFix(id);
      return LineOutcome::kMalformed;
    }
    if (!valid) return NoFix(id);
    double speed;
    if (i + 11 > data.size() || !ParseDecimal(data.substr(i, 5), &speed)) {
      return LineOutcome::kMalformed;
    }
    r.speed_mps = speed * kKmhToMps;
    r.present |= LocationRecord::kSpeed;
    int64_t days, tod;
    if (!ParseSixDigitDate(data.substr(v - 6, 6), true, &days) ||
        !ParseHhmmss(data.substr(i + 5, 6), &tod)) {
      return LineOutcome::kBadTimestamp;
    }
    r.fix_time_unix_ns = days * kNanosPerDay + tod;
    double course;
    if (i + 17 <= data.size() && ParseDecimal(data.substr(i + 11, 6), &course) && course >= 0 &&
        course < 360) {
      r.heading_deg = course;
      r.present |= LocationRecord::kHeading;
    }
    const LineOutcome outcome =
        FinishPosition(id, {}, true, options(), receive_time_unix_ns, r, sink);
    RememberId(id);
    return outcome;
  }

  LineOutcome NoFix(std::string_view id) {
    set_vehicle_id(id);
    return LineOutcome::kNoFix;
  }

  // (<IMEI>,<command>,ddMMyy,A|V,ddmm.mmmmN,dddmm.mmmmE,speed km/h,hhmmss,
  // course,...); cell, Wi-Fi and battery reports have no such fields.
  LineOutcome DecodeCommaForm(std::string_view body, size_t comma, int64_t receive_time_unix_ns,
                              RecordSink& sink) {
    const std::string_view id = body.substr(0, comma);
    if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    const Fields<16> f = Split<16>(body, ',');
    const std::string_view validity = f[3];
    if (f.size() < 9 || (validity != "A" && validity != "V") || f[2].size() != 6) {
      set_vehicle_id(id);
      return LineOutcome::kHeartbeat;
    }
    if (validity == "V") return NoFix(id);
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kTk103;
    size_t i = 0;
    if (!ReadCoordinate(f[4], &i, "NS", &r.latitude) || i != f[4].size()) {
      return LineOutcome::kMalformed;
    }
    i = 0;
    if (!ReadCoordinate(f[5], &i, "EW", &r.longitude) || i != f[5].size()) {
      return LineOutcome::kMalformed;
    }
    double v;
    if (!ParseDecimal(f[6], &v) || v < 0) return LineOutcome::kMalformed;
    r.speed_mps = v * kKmhToMps;
    r.present |= LocationRecord::kSpeed;
    int64_t days, tod;
    if (!ParseSixDigitDate(f[2], false, &days) || !ParseHhmmss(f[7], &tod)) {
      return LineOutcome::kBadTimestamp;
    }
    r.fix_time_unix_ns = days * kNanosPerDay + tod;
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
    const LineOutcome outcome =
        FinishPosition(id, {}, true, options(), receive_time_unix_ns, r, sink);
    RememberId(id);
    return outcome;
  }

  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeTk103Decoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<Tk103Decoder>(options);
}

}  // namespace fixstream::ingest::internal
