#include "ingest/device_protocol.h"

#include <array>
#include <cassert>
#include <cstring>

#include "ingest/device_decoders.h"

namespace fixstream::ingest {
namespace {

struct ProtocolInfo {
  std::string_view name;
  SourceFormat format;
  uint16_t traccar_port;
};

// Indexed by DeviceProtocol. The names are metrics labels and config values:
// they only ever get added to.
constexpr std::array<ProtocolInfo, kDeviceProtocolCount> kProtocols = {{
    {"h02", SourceFormat::kH02, 5013},
    {"gps103", SourceFormat::kGps103, 5001},
    {"tk103", SourceFormat::kTk103, 5002},
    {"watch", SourceFormat::kWatch, 5093},
    {"queclink", SourceFormat::kQueclink, 5004},
    {"meitrack", SourceFormat::kMeitrack, 5020},
    {"suntech", SourceFormat::kSuntech, 5011},
    {"osmand", SourceFormat::kOsmAnd, 5055},
}};

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

Detection Need() { return {Detection::Kind::kNeedMore, DeviceProtocol::kH02}; }
Detection Lines() { return {Detection::Kind::kLines, DeviceProtocol::kH02}; }
Detection Device(DeviceProtocol p) { return {Detection::Kind::kDevice, p}; }

// `s` begins with `prefix`: true; `s` is a proper prefix of it: need more.
enum class Match : uint8_t { kNo, kYes, kMaybe };
Match Prefix(std::string_view s, std::string_view prefix) {
  const size_t n = std::min(s.size(), prefix.size());
  if (s.substr(0, n) != prefix.substr(0, n)) return Match::kNo;
  return s.size() >= prefix.size() ? Match::kYes : Match::kMaybe;
}

constexpr std::string_view kHttpMethods[] = {"GET ",     "POST ",  "PUT ",   "HEAD ",
                                             "OPTIONS ", "PATCH ", "DELETE "};

}  // namespace

std::string_view DeviceProtocolName(DeviceProtocol protocol) {
  const auto i = static_cast<size_t>(protocol);
  return i < kProtocols.size() ? kProtocols[i].name : "unknown";
}

std::optional<DeviceProtocol> DeviceProtocolFromName(std::string_view name) {
  for (size_t i = 0; i < kProtocols.size(); ++i) {
    if (kProtocols[i].name == name) return static_cast<DeviceProtocol>(i);
  }
  return std::nullopt;
}

SourceFormat DeviceProtocolFormat(DeviceProtocol protocol) {
  assert(protocol < DeviceProtocol::kCount);
  return kProtocols[static_cast<size_t>(protocol)].format;
}

uint16_t TraccarDefaultPort(DeviceProtocol protocol) {
  assert(protocol < DeviceProtocol::kCount);
  return kProtocols[static_cast<size_t>(protocol)].traccar_port;
}

void ProtocolDecoder::set_vehicle_id(std::string_view id) {
  assert(IsValidVehicleId(id));
  std::memcpy(vehicle_id_buf_.data(), id.data(), id.size());
  vehicle_id_len_ = static_cast<uint8_t>(id.size());
}

std::unique_ptr<ProtocolDecoder> MakeProtocolDecoder(DeviceProtocol protocol,
                                                     const ProtocolDecoderOptions& options) {
  switch (protocol) {
    case DeviceProtocol::kH02:
      return internal::MakeH02Decoder(options);
    case DeviceProtocol::kGps103:
      return internal::MakeGps103Decoder(options);
    case DeviceProtocol::kTk103:
      return internal::MakeTk103Decoder(options);
    case DeviceProtocol::kWatch:
      return internal::MakeWatchDecoder(options);
    case DeviceProtocol::kQueclink:
      return internal::MakeQueclinkDecoder(options);
    case DeviceProtocol::kMeitrack:
      return internal::MakeMeitrackDecoder(options);
    case DeviceProtocol::kSuntech:
      return internal::MakeSuntechDecoder(options);
    case DeviceProtocol::kOsmAnd:
      return internal::MakeOsmAndDecoder(options);
    case DeviceProtocol::kCount:
      break;
  }
  assert(false && "not a protocol");
  return nullptr;
}

namespace {
Detection DetectFromPrefix(std::string_view bytes);
}  // namespace

Detection DetectProtocol(std::string_view bytes) {
  // Only the first kMaxDetectionBytes count, so that the answer for a
  // connection is fixed once that many have arrived.
  const Detection d = DetectFromPrefix(bytes.substr(0, kMaxDetectionBytes));
  if (d.kind == Detection::Kind::kNeedMore && bytes.size() >= kMaxDetectionBytes) return Lines();
  return d;
}

namespace {

Detection DetectFromPrefix(std::string_view bytes) {
  size_t skip = 0;
  while (skip < bytes.size() && (bytes[skip] == '\r' || bytes[skip] == '\n' || bytes[skip] == ' '))
    ++skip;
  const std::string_view s = bytes.substr(skip);
  if (s.empty()) return Need();
  switch (s[0]) {
    case '(':
      return Device(DeviceProtocol::kTk103);
    case '[':
      return Device(DeviceProtocol::kWatch);
    case '{':
      return Lines();  // JSON
    case '*':
      // "*XX," : H02 (no line format starts with '*').
      if (s.size() < 4) return Need();
      return s[3] == ',' ? Device(DeviceProtocol::kH02) : Lines();
    case '+':
      for (std::string_view p : {"+RESP:", "+BUFF:", "+ACK:"}) {
        const Match m = Prefix(s, p);
        if (m == Match::kYes) return Device(DeviceProtocol::kQueclink);
        if (m == Match::kMaybe) return Need();
      }
      return Lines();
    case '$':
      // "$$" Meitrack; any other '$' is an NMEA sentence ($GPRMC, $PFSID).
      if (s.size() < 2) return Need();
      return s[1] == '$' ? Device(DeviceProtocol::kMeitrack) : Lines();
    case '#':
      switch (Prefix(s, "##,")) {
        case Match::kYes:
          return Device(DeviceProtocol::kGps103);
        case Match::kMaybe:
          return Need();
        case Match::kNo:
          return Lines();
      }
      break;
    default:
      break;
  }
  for (std::string_view method : kHttpMethods) {
    const Match m = Prefix(s, method);
    if (m == Match::kYes) return Device(DeviceProtocol::kOsmAnd);
    if (m == Match::kMaybe) return Need();
  }
  switch (Prefix(s, "imei:")) {
    case Match::kYes:
      return Device(DeviceProtocol::kGps103);
    case Match::kMaybe:
      return Need();
    case Match::kNo:
      break;
  }
  // A run of vehicle-id characters: what follows it decides. ',' is a CSV
  // line; ';' is GPS103 (digits: a heartbeat "<IMEI>;") or Suntech (upper
  // case letters and digits: "ST300STT;", "STT;"); digits then "imei:" is
  // GPS103.
  size_t n = 0;
  bool digits = true, upper = true;
  while (n < s.size() && IsIdChar(s[n])) {
    const char c = s[n];
    if (digits && n > 0 && c == 'i') break;  // "<IMEI>imei:..."
    if (c < '0' || c > '9') digits = false;
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) upper = false;
    ++n;
  }
  if (n == s.size()) return Need();
  const std::string_view rest = s.substr(n);
  if (n > 0 && digits) {
    if (rest[0] == ';') return Device(DeviceProtocol::kGps103);
    switch (Prefix(rest, "imei:")) {
      case Match::kYes:
        return Device(DeviceProtocol::kGps103);
      case Match::kMaybe:
        return Need();
      case Match::kNo:
        break;
    }
  }
  if (n > 0 && upper && rest[0] == ';') return Device(DeviceProtocol::kSuntech);
  return Lines();
}

}  // namespace

namespace internal {

FrameScan JunkUntil(std::string_view buffered, char start) {
  const void* hit = std::memchr(buffered.data() + 1, start, buffered.size() - 1);
  if (hit == nullptr) return FrameScan::Junk(buffered.size());
  return FrameScan::Junk(static_cast<const char*>(hit) - buffered.data());
}

}  // namespace internal
}  // namespace fixstream::ingest
