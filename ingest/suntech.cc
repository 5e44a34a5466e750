// Suntech: "<model><report>;<id>;...\r" (ST300STT, SA200ALT, ...), the
// universal "STT;<id>;...", and "ST910;<report>;<id>;...". See
// docs/PROTOCOL.md (Suntech).
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"

namespace fixstream::ingest::internal {
namespace {

bool IsHeaderChar(char c) { return IsDigit(c) || (c >= 'A' && c <= 'Z'); }

bool IsUexHeader(std::string_view buffered) {
  const size_t semicolon = buffered.find(';');
  if (semicolon == std::string_view::npos || semicolon < 3) return false;
  return buffered.substr(semicolon - 3, 3) == "UEX";
}

// The date;time fields (yyyyMMdd;HH:mm:ss) and, after the cell fields some
// models put between, latitude;longitude. Returns the index of the latitude
// (0 if none) and sets *date_at.
template <size_t N>
size_t FindDateAndPosition(const Fields<N>& f, size_t from, size_t* date_at) {
  for (size_t i = from; i + 1 < f.size(); ++i) {
    if (f[i].size() == 8 && AllDigits(f[i]) && f[i + 1].size() == 8 && f[i + 1][2] == ':' &&
        f[i + 1][5] == ':') {
      *date_at = i;
      for (size_t j = i + 2; j + 1 < f.size() && j <= i + 8; ++j) {
        double lat, lon;
        if (f[j].find('.') != std::string_view::npos &&
            f[j + 1].find('.') != std::string_view::npos && ParseDecimal(f[j], &lat) &&
            ParseDecimal(f[j + 1], &lon)) {
          return j;
        }
      }
      return 0;
    }
  }
  return 0;
}

// A UEX report carries a length-prefixed free text that may hold CR, LF
// and ';': "...;<io>;<length>;<text>;...", the length field 9 fields after
// the latitude (8 in the universal "UEX;" form). Returns whether byte `cr`
// of `frame` (a CR) lies inside that text; decidable from the bytes before
// it, so framing needs no look-ahead.
bool InsideUexText(std::string_view frame, size_t cr) {
  const std::string_view before = frame.substr(0, cr);
  const Fields<40> f = Split<40>(before, ';');
  size_t date_at = 0;
  const size_t lat = FindDateAndPosition(f, 1, &date_at);
  if (lat == 0) return false;
  const size_t length_at = lat + (f[0] == "UEX" ? 8 : 9);
  // The length field must be complete: followed by ';'.
  if (length_at + 1 >= f.size() || !AllDigits(f[length_at]) || f[length_at].size() > 4) {
    return false;
  }
  const size_t text_begin = f[length_at + 1].data() - frame.data();
  size_t length = 0;
  for (char c : f[length_at]) length = length * 10 + (c - '0');
  return cr < text_begin + length;
}

constexpr size_t kMaxFields = 96;

class SuntechDecoder final : public ProtocolDecoder {
 public:
  explicit SuntechDecoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {}

  DeviceProtocol protocol() const override { return DeviceProtocol::kSuntech; }

  // A frame ends at CR (or a lone LF), except inside a UEX report's text.
  FrameScan Scan(std::string_view buffered) const override {
    const char c0 = buffered[0];
    if (c0 == '\r' || c0 == '\n' || c0 == ' ' || c0 == '\0') return FrameScan::Junk(1);
    const bool uex = IsUexHeader(buffered.substr(0, 16));
    for (size_t i = 0; i < buffered.size(); ++i) {
      const char c = buffered[i];
      if (c != '\r' && c != '\n') continue;
      if (uex && InsideUexText(buffered, i)) continue;
      return FrameScan::Message(i + 1);
    }
    return FrameScan::NeedMore();
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    (void)reply;  // Suntech devices expect no answer.
    std::string_view s = message;
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    if (s.empty()) return LineOutcome::kEmpty;
    const Fields<kMaxFields> f = Split<kMaxFields>(s, ';');
    const std::string_view header = f[0];
    if (header.empty() || f.size() < 2) return LineOutcome::kMalformed;
    for (char c : header) {
      if (!IsHeaderChar(c)) return LineOutcome::kMalformed;
    }
    const bool st910 = header == "ST910";
    size_t id_at = 1;
    if (st910 || (header.size() > 3 && header.substr(header.size() - 3) == "CMD")) id_at = 2;
    const std::string_view id = f[id_at];
    if (!AllDigits(id) || !IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
    set_vehicle_id(id);

    // The report's date and time, then latitude;longitude;speed km/h;course;
    // then satellites;fix (ST910: fix directly).
    size_t d = 0;
    const size_t j = FindDateAndPosition(f, id_at + 1, &d);
    if (j == 0) return LineOutcome::kHeartbeat;  // status, command answers, no location
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kSuntech;
    ParseDecimal(f[j], &r.latitude);
    ParseDecimal(f[j + 1], &r.longitude);
    const std::string_view date = f[d];
    const std::string_view time = f[d + 1];
    int year, month, day, hour, minute, second;
    if (!ParseFixedDigits(date, 4, &year) || !ParseFixedDigits(date.substr(4), 2, &month) ||
        !ParseFixedDigits(date.substr(6), 2, &day) || !ParseFixedDigits(time, 2, &hour) ||
        !ParseFixedDigits(time.substr(3), 2, &minute) ||
        !ParseFixedDigits(time.substr(6), 2, &second) || !IsValidDate(year, month, day) ||
        !CivilToUnixNanos(year, month, day, hour, minute, second, 0, &r.fix_time_unix_ns)) {
      return LineOutcome::kBadTimestamp;
    }
    const bool ble = header == "BLE";
    double v;
    if (!ble && ParseDecimal(f[j + 2], &v) && v >= 0) {
      r.speed_mps = v * kKmhToMps;
      r.present |= LocationRecord::kSpeed;
    }
    if (!ble && ParseDecimal(f[j + 3], &v) && v >= 0 && v < 360) {
      r.heading_deg = v;
      r.present |= LocationRecord::kHeading;
    }
    bool valid = true;  // BLE reports carry no fix flag
    if (st910) {
      valid = f[j + 4] == "1";
    } else if (!ble) {
      uint32_t sats;
      if (ParseSmallUnsigned(f[j + 4], &sats)) {
        r.satellites = sats;
        r.present |= LocationRecord::kSatellites;
      }
      valid = f[j + 5] == "1";
    }
    return FinishPosition(id, {}, valid, options(), receive_time_unix_ns, r, sink);
  }

 private:
  LocationRecord record_;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeSuntechDecoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<SuntechDecoder>(options);
}

}  // namespace fixstream::ingest::internal
