#include "ingest/nmea.h"

#include <cstring>
#include <limits>

#include "ingest/byte_scan.h"
#include "ingest/number.h"
#include "ingest/timestamp.h"
#include "ingest/validate.h"

namespace fixstream::ingest {
namespace {

bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') <= 9; }
bool IsUpper(char c) { return static_cast<unsigned char>(c - 'A') <= 25; }

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

LineOutcome ToOutcome(NumberStatus status) {
  return status == NumberStatus::kOutOfRange ? LineOutcome::kOutOfRange : LineOutcome::kMalformed;
}

// Reads an optional non-negative decimal field: empty means absent.
LineOutcome ParseOptional(std::string_view text, double* value, bool* present) {
  *present = !text.empty();
  if (text.empty()) return LineOutcome::kPublished;
  const NumberStatus status = ParseDouble(text, value);
  return status == NumberStatus::kOk ? LineOutcome::kPublished : ToOutcome(status);
}

// Applies the hemisphere letter to an angle field pair ("4807.038", "N").
LineOutcome ParseCoordinate(std::string_view value, std::string_view hemisphere, char positive,
                            char negative, double* degrees) {
  if (hemisphere.size() != 1 || (hemisphere[0] != positive && hemisphere[0] != negative)) {
    return LineOutcome::kMalformed;
  }
  const LineOutcome outcome = ParseNmeaAngle(value, degrees);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (hemisphere[0] == negative) *degrees = -*degrees;
  return LineOutcome::kPublished;
}

LineOutcome ParsePosition(const NmeaSentence& s, size_t lat_index, LocationRecord* record) {
  LineOutcome outcome =
      ParseCoordinate(s.fields[lat_index], s.fields[lat_index + 1], 'N', 'S', &record->latitude);
  if (outcome != LineOutcome::kPublished) return outcome;
  return ParseCoordinate(s.fields[lat_index + 2], s.fields[lat_index + 3], 'E', 'W',
                         &record->longitude);
}

}  // namespace

bool ParseNmeaEnvelope(std::string_view line, NmeaSentence* sentence, LineOutcome* rejection) {
  *rejection = LineOutcome::kMalformed;
  // Receivers behind modems end lines with "\r\r\n" (the framer keeps the
  // first "\r"), some pad with blanks: none of it is part of the sentence.
  // One compare for the usual line, which ends in a checksum digit.
  if (!line.empty() && static_cast<unsigned char>(line.back()) <= ' ') {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
  }
  if (line.size() < 2 || line[0] != '$') return false;
  // One pass, eight bytes at a time, finds the '*', rejects non-printable
  // bytes, XORs the checksum and records the commas, so the line is read
  // once; a byte loop plus a memchr per field cost more than the parsing.
  const char* const body = line.data() + 1;
  const char* const stop = line.data() + line.size();
  const char* body_end = stop;  // the '*', if any
  uint64_t xor_words = 0;
  // The first kMaxNmeaFields commas; comma_count keeps counting past them.
  std::array<const char*, kMaxNmeaFields> commas;
  size_t comma_count = 0;
  // Scans the bytes of the word at `p` selected by `valid`. Returns false on
  // a non-printable byte before the '*'; sets body_end when it finds the '*'.
  auto scan_word = [&](const char* p, uint64_t valid) {
    const uint64_t word = internal::LoadWord(p);
    uint64_t in_body = valid;
    const uint64_t star = internal::MatchingBytes(word, '*') & valid;
    if (star != 0) in_body &= internal::BytesBefore(internal::FirstByte(star));
    if ((internal::NonPrintableBytes(word) & in_body) != 0) return false;
    xor_words ^= word & in_body;
    for (uint64_t m = internal::MatchingBytes(word, ',') & in_body; m != 0; m &= m - 1) {
      if (comma_count < kMaxNmeaFields) commas[comma_count] = p + internal::FirstByte(m);
      ++comma_count;
    }
    if (star != 0) body_end = p + internal::FirstByte(star);
    return true;
  };
  const char* p = body;
  for (; stop - p >= 8 && body_end == stop; p += 8) {
    if (!scan_word(p, ~uint64_t{0})) return false;
  }
  uint8_t checksum = 0;
  if (p != stop && body_end == stop) {
    if (line.size() >= 8) {
      // The line's last eight bytes, minus those already scanned (or the '$').
      const char* const last = stop - 8;
      if (!scan_word(last, ~internal::BytesBefore(static_cast<size_t>(p - last)))) return false;
    } else {
      for (; p != stop; ++p) {
        const char c = *p;
        if (c == '*') {
          body_end = p;
          break;
        }
        if (c < 0x20 || c > 0x7e) return false;
        if (c == ',') {
          commas[comma_count++] = p;  // a short line has fewer than kMaxNmeaFields commas
        }
        checksum ^= static_cast<uint8_t>(c);
      }
    }
  }
  xor_words ^= xor_words >> 32;
  xor_words ^= xor_words >> 16;
  xor_words ^= xor_words >> 8;
  checksum ^= static_cast<uint8_t>(xor_words);

  const size_t size = line.size() - 1;
  const size_t address_end = static_cast<size_t>((comma_count > 0 ? commas[0] : body_end) - body);
  if (body_end != stop) {
    const size_t star = static_cast<size_t>(body_end - body);
    if (size - star != 3) return false;
    const int high = HexValue(body[star + 1]);
    const int low = HexValue(body[star + 2]);
    if (high < 0 || low < 0) return false;
    if (((high << 4) | low) != checksum) {
      *rejection = LineOutcome::kBadChecksum;
      return false;
    }
  }

  const std::string_view address(body, address_end);
  if (address.empty()) return false;
  for (char c : address) {
    if (!IsUpper(c) && !IsDigit(c)) return false;
  }
  NmeaSentence::Kind kind = NmeaSentence::Kind::kOther;
  if (address.size() == 5) {
    // The three type letters as one number: one compare per type.
    constexpr auto kType = [](const char* t) {
      return static_cast<uint32_t>(t[0]) << 16 | static_cast<uint32_t>(t[1]) << 8 |
             static_cast<uint32_t>(t[2]);
    };
    const uint32_t type = kType(address.data() + 2);
    if (address[0] == 'P') {
      // Proprietary ("P" + maker): only ours is read.
      if (address == "PFSID") kind = NmeaSentence::Kind::kIdentification;
    } else if (type == kType("RMC")) {
      kind = NmeaSentence::Kind::kRmc;
    } else if (type == kType("GGA")) {
      kind = NmeaSentence::Kind::kGga;
    } else if (type == kType("GNS")) {
      kind = NmeaSentence::Kind::kGns;
    } else if (type == kType("GLL")) {
      kind = NmeaSentence::Kind::kGll;
    } else if (type == kType("ZDA")) {
      kind = NmeaSentence::Kind::kZda;
    }
    // A talker is two letters ("GP", "GN", "IN"); the address's characters
    // are upper case or digits (checked above).
    if (kind != NmeaSentence::Kind::kIdentification &&
        !(IsUpper(address[0]) && IsUpper(address[1]))) {
      kind = NmeaSentence::Kind::kOther;
    }
  }
  sentence->kind = kind;
  if (kind == NmeaSentence::Kind::kOther) {
    sentence->field_count = 0;
    return true;
  }

  // Fields beyond kMaxNmeaFields make a sentence we read malformed.
  if (comma_count >= kMaxNmeaFields) return false;
  const char* field = body;
  for (size_t i = 0; i < comma_count; ++i) {
    sentence->fields[i] = std::string_view(field, commas[i] - field);
    field = commas[i] + 1;
  }
  sentence->fields[comma_count] = std::string_view(field, body_end - field);
  const size_t count = comma_count + 1;
  sentence->field_count = count;
  return true;
}

bool ParseNmeaTimeOfDay(std::string_view text, int64_t* nanos_of_day) {
  if (text.size() < 6) return false;
  for (int i = 0; i < 6; ++i) {
    if (!IsDigit(text[i])) return false;
  }
  const int hour = (text[0] - '0') * 10 + (text[1] - '0');
  const int minute = (text[2] - '0') * 10 + (text[3] - '0');
  int second = (text[4] - '0') * 10 + (text[5] - '0');
  if (hour > 23 || minute > 59 || second > 60) return false;
  int64_t nanos = 0;
  if (text.size() > 6) {
    if (text[6] != '.' || text.size() == 7 || text.size() > 16) return false;
    int digits = 0;
    for (size_t i = 7; i < text.size(); ++i, ++digits) {
      if (!IsDigit(text[i])) return false;
      nanos = nanos * 10 + (text[i] - '0');
    }
    for (; digits < 9; ++digits) nanos *= 10;
  }
  if (second == 60) {
    // Same reading of a leap second as timestamp.h: the minute's last instant.
    second = 59;
    nanos = kNanosPerSecond - 1;
  }
  *nanos_of_day = (hour * 3600 + minute * 60 + second) * kNanosPerSecond + nanos;
  return true;
}

LineOutcome ParseNmeaAngle(std::string_view text, double* degrees) {
  // Fixed point: "dddmm.mmmm" is read as integers so the degree/minute split
  // is exact; from_chars plus floor(v / 100) would be slower and could round
  // a value like 4859.9999999999999 across the degree boundary.
  const char* p = text.data();
  const char* const end = p + text.size();
  uint64_t whole = 0;
  const char* const whole_begin = p;
  while (p != end && IsDigit(*p)) whole = whole * 10 + static_cast<uint64_t>(*p++ - '0');
  const size_t whole_digits = p - whole_begin;
  if (whole_digits == 0 || whole_digits > 5) return LineOutcome::kMalformed;
  uint64_t fraction = 0;
  size_t fraction_digits = 0;
  if (p != end) {
    if (*p != '.') return LineOutcome::kMalformed;
    ++p;
    const size_t digits = static_cast<size_t>(end - p);
    if (digits == 0) return LineOutcome::kMalformed;
    // Digits past the 12th are below a micrometre; they are checked for
    // syntax but not accumulated, so long inputs cannot overflow. Two
    // counted loops: no per-digit test of the count.
    fraction_digits = digits < 12 ? digits : 12;
    for (size_t i = 0; i < fraction_digits; ++i) {
      const auto digit = static_cast<unsigned char>(p[i] - '0');
      if (digit > 9) return LineOutcome::kMalformed;
      fraction = fraction * 10 + digit;
    }
    for (size_t i = fraction_digits; i < digits; ++i) {
      if (!IsDigit(p[i])) return LineOutcome::kMalformed;
    }
  }
  const uint64_t whole_degrees = whole / 100;
  const uint64_t whole_minutes = whole % 100;
  if (whole_minutes >= 60) return LineOutcome::kOutOfRange;
  // whole_minutes * 10^12 + fraction < 2^53, so the numerator is exact.
  // scale * 60 < 2^53 is exact too: one division, rounded once, gives
  // minutes / 60 (two divisions would round twice and cost twice).
  const double scale = internal::kExactPowersOfTen[fraction_digits];
  *degrees =
      static_cast<double>(whole_degrees) +
      (static_cast<double>(whole_minutes) * scale + static_cast<double>(fraction)) / (scale * 60.0);
  return LineOutcome::kPublished;
}

namespace {

// What a mode indicator letter (RMC, GLL, one per constellation in GNS;
// NMEA 2.3+) says about the fix.
enum class Mode : uint8_t { kInvalid, kNoFix, kFix };

struct ModeReading {
  Mode mode = Mode::kInvalid;
  FixQuality quality = FixQuality::kNone;
};

// Indexed by the letter: a lookup, not a switch, on the path of every RMC.
constexpr std::array<ModeReading, 256> kModeLetters = [] {
  std::array<ModeReading, 256> table{};
  table['A'] = {Mode::kFix, FixQuality::kGps};  // autonomous
  table['P'] = {Mode::kFix, FixQuality::kGps};  // precise
  table['D'] = {Mode::kFix, FixQuality::kDgps};
  table['R'] = {Mode::kFix, FixQuality::kRtkFixed};
  table['F'] = {Mode::kFix, FixQuality::kRtkFloat};
  table['E'] = {Mode::kFix, FixQuality::kEstimated};
  table['N'] = {Mode::kNoFix, FixQuality::kNone};  // not valid
  table['M'] = {Mode::kNoFix, FixQuality::kNone};  // manual input
  table['S'] = {Mode::kNoFix, FixQuality::kNone};  // simulator
  return table;
}();

Mode ParseModeLetter(char c, FixQuality* quality) {
  const ModeReading& reading = kModeLetters[static_cast<unsigned char>(c)];
  *quality = reading.quality;
  return reading.mode;
}

// A one-letter mode field (RMC, GLL): kPublished with the quality set (and
// the presence bit), kPublished without it when the field is empty, kNoFix,
// or kMalformed.
inline LineOutcome ApplyModeField(std::string_view mode, LocationRecord* record) {
  if (mode.empty()) return LineOutcome::kPublished;
  if (mode.size() != 1) return LineOutcome::kMalformed;
  FixQuality quality = FixQuality::kNone;
  switch (ParseModeLetter(mode[0], &quality)) {
    case Mode::kInvalid:
      return LineOutcome::kMalformed;
    case Mode::kNoFix:
      return LineOutcome::kNoFix;
    case Mode::kFix:
      break;
  }
  record->fix_quality = quality;
  record->present |= LocationRecord::kFixQuality;
  return LineOutcome::kPublished;
}

// Places a time of day on the UTC day (the reference's, the day before or
// the day after) that puts it nearest `reference`. This dates a 23:59:59 fix
// after a 00:00:01 reference on the previous day.
bool DateTimeOfDay(int64_t nanos_of_day, int64_t reference, int64_t* unix_ns) {
  const __int128 ref = reference;
  __int128 ref_day = ref / kNanosPerDay;
  if (ref % kNanosPerDay < 0) --ref_day;
  bool found = false;
  __int128 best = 0;
  for (int delta = -1; delta <= 1; ++delta) {
    const __int128 candidate = (ref_day + delta) * kNanosPerDay + nanos_of_day;
    if (candidate < 0 || candidate > std::numeric_limits<int64_t>::max()) continue;
    const __int128 distance = candidate > ref ? candidate - ref : ref - candidate;
    const __int128 best_distance = best > ref ? best - ref : ref - best;
    if (!found || distance < best_distance) {
      best = candidate;
      found = true;
    }
  }
  if (!found) return false;
  *unix_ns = static_cast<int64_t>(best);
  return true;
}

// Starts a record of a sentence with a time of day only.
LineOutcome StartTimeOfDayRecord(std::string_view time, int64_t reference, LocationRecord* record) {
  record->Clear();
  record->format = SourceFormat::kNmea;
  int64_t nanos_of_day;
  if (!ParseNmeaTimeOfDay(time, &nanos_of_day) ||
      !DateTimeOfDay(nanos_of_day, reference, &record->fix_time_unix_ns)) {
    return LineOutcome::kBadTimestamp;
  }
  return LineOutcome::kPublished;
}

// Satellites, HDOP and altitude (metres) at fields sats, sats + 1, sats + 2
// of GGA and GNS; each may be empty (absent). GGA follows the altitude with
// its unit, `unit_index` (0: GNS, no unit field).
LineOutcome ParseSolution(const NmeaSentence& s, size_t sats, size_t unit_index,
                          LocationRecord* record) {
  if (!s.fields[sats].empty()) {
    if (!ParseSmallUnsigned(s.fields[sats], &record->satellites)) return LineOutcome::kMalformed;
    record->present |= LocationRecord::kSatellites;
  }
  bool present;
  LineOutcome outcome = ParseOptional(s.fields[sats + 1], &record->hdop, &present);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (present) record->present |= LocationRecord::kHdop;
  outcome = ParseOptional(s.fields[sats + 2], &record->altitude_m, &present);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (present) {
    if (unit_index != 0 && s.fields[unit_index] != "M") return LineOutcome::kMalformed;
    record->present |= LocationRecord::kAltitude;
  }
  return LineOutcome::kPublished;
}

// A satellite fix (anything but estimated) computed from no satellites is a
// receiver repeating its last position while it has none (Hemisphere
// receivers send quality 1 with "00" satellites); gpsd reports no fix then.
bool NoSatellitesForSatelliteFix(const LocationRecord& record) {
  return record.has(LocationRecord::kSatellites) && record.satellites == 0 &&
         record.fix_quality != FixQuality::kEstimated;
}

}  // namespace

LineOutcome ParseRmc(const NmeaSentence& s, LocationRecord* record) {
  RmcDateCache cache;
  return ParseRmc(s, &cache, record);
}

LineOutcome ParseRmc(const NmeaSentence& s, RmcDateCache* cache, LocationRecord* record) {
  // $--RMC,time,status,lat,N/S,lon,E/W,speed_kn,course,ddmmyy,magvar,E/W
  // [,mode[,nav_status]]: NMEA 2.3 and 4.1 append the last two.
  if (s.field_count < 12) return LineOutcome::kMalformed;
  const std::string_view status = s.fields[2];
  if (status == "V") return LineOutcome::kNoFix;
  if (status != "A") return LineOutcome::kMalformed;

  record->Clear();
  record->format = SourceFormat::kNmea;
  if (s.field_count > 12) {
    // The mode says how valid the fix is that the status calls valid.
    const LineOutcome outcome = ApplyModeField(s.fields[12], record);
    if (outcome != LineOutcome::kPublished) return outcome;
  }
  int64_t nanos_of_day;
  const std::string_view date = s.fields[9];
  if (!ParseNmeaTimeOfDay(s.fields[1], &nanos_of_day) || date.size() != 6) {
    return LineOutcome::kBadTimestamp;
  }
  // A receiver sends one date all day: the last one's midnight is kept.
  uint64_t key = 0;
  std::memcpy(&key, date.data(), 6);
  if (key != cache->date) {
    for (char c : date) {
      if (!IsDigit(c)) return LineOutcome::kBadTimestamp;
    }
    const int day = (date[0] - '0') * 10 + (date[1] - '0');
    const int month = (date[2] - '0') * 10 + (date[3] - '0');
    const int yy = (date[4] - '0') * 10 + (date[5] - '0');
    // NMEA predates 2000; no receiver dates a fix before 1980, GPS's epoch.
    const int year = yy >= 80 ? 1900 + yy : 2000 + yy;
    int64_t midnight;
    if (!CivilToUnixNanos(year, month, day, 0, 0, 0, 0, &midnight)) {
      return LineOutcome::kBadTimestamp;
    }
    cache->date = key;
    cache->midnight_unix_ns = midnight;
  }
  record->fix_time_unix_ns = cache->midnight_unix_ns + nanos_of_day;

  LineOutcome outcome = ParsePosition(s, 3, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  bool present;
  double knots = 0;
  outcome = ParseOptional(s.fields[7], &knots, &present);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (present) {
    record->speed_mps = knots * kMetresPerSecondPerKnot;
    record->present |= LocationRecord::kSpeed;
  }
  outcome = ParseOptional(s.fields[8], &record->heading_deg, &present);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (present) record->present |= LocationRecord::kHeading;
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

LineOutcome ParseGga(const NmeaSentence& s, int64_t reference_unix_ns, LocationRecord* record) {
  // $--GGA,time,lat,N/S,lon,E/W,quality,satellites,hdop,altitude,M,
  //   geoid_separation,M[,dgps_age[,dgps_station[,...]]]: receivers drop
  //   the trailing DGPS fields (Saab R4: 14) or add one (SiRF TriG: 16).
  if (s.field_count < 13) return LineOutcome::kMalformed;
  const std::string_view quality = s.fields[6];
  if (quality.size() != 1 || !IsDigit(quality[0])) return LineOutcome::kMalformed;
  // 0 invalid, 7 manual input, 8 simulator: not a fix of this receiver.
  static constexpr FixQuality kQualities[10] = {
      FixQuality::kNone,     FixQuality::kGps,      FixQuality::kDgps,      FixQuality::kGps,
      FixQuality::kRtkFixed, FixQuality::kRtkFloat, FixQuality::kEstimated, FixQuality::kNone,
      FixQuality::kNone,     FixQuality::kDgps};
  const FixQuality fix_quality = kQualities[quality[0] - '0'];
  if (fix_quality == FixQuality::kNone) return LineOutcome::kNoFix;

  LineOutcome outcome = StartTimeOfDayRecord(s.fields[1], reference_unix_ns, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  record->fix_quality = fix_quality;
  record->present |= LocationRecord::kFixQuality;
  outcome = ParsePosition(s, 2, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  outcome = ParseSolution(s, 7, 10, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (NoSatellitesForSatelliteFix(*record)) return LineOutcome::kNoFix;
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

LineOutcome ParseGns(const NmeaSentence& s, int64_t reference_unix_ns, LocationRecord* record) {
  // $--GNS,time,lat,N/S,lon,E/W,mode,satellites,hdop,altitude,
  //   geoid_separation,dgps_age,dgps_station[,nav_status]: one mode letter
  //   per constellation (GPS, GLONASS, Galileo, BeiDou, ...).
  if (s.field_count < 13) return LineOutcome::kMalformed;
  const std::string_view mode = s.fields[6];
  if (mode.empty()) return LineOutcome::kMalformed;
  // The best constellation's mode is the fix's: RTK over DGPS over
  // autonomous over estimated.
  static constexpr uint8_t kPreference[] = {/*kNone*/ 0,     /*kGps*/ 2,      /*kDgps*/ 3,
                                            /*kRtkFixed*/ 5, /*kRtkFloat*/ 4,
                                            /*kEstimated*/ 1};
  FixQuality best = FixQuality::kNone;
  for (char c : mode) {
    FixQuality quality = FixQuality::kNone;
    const Mode m = ParseModeLetter(c, &quality);
    if (m == Mode::kInvalid) return LineOutcome::kMalformed;
    if (m == Mode::kFix &&
        kPreference[static_cast<size_t>(quality)] > kPreference[static_cast<size_t>(best)]) {
      best = quality;
    }
  }
  if (best == FixQuality::kNone) return LineOutcome::kNoFix;

  LineOutcome outcome = StartTimeOfDayRecord(s.fields[1], reference_unix_ns, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  record->fix_quality = best;
  record->present |= LocationRecord::kFixQuality;
  outcome = ParsePosition(s, 2, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  outcome = ParseSolution(s, 7, 0, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (NoSatellitesForSatelliteFix(*record)) return LineOutcome::kNoFix;
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

LineOutcome ParseGll(const NmeaSentence& s, int64_t reference_unix_ns, LocationRecord* record) {
  // $--GLL,lat,N/S,lon,E/W,time,status[,mode]: NMEA 2.3 adds the mode;
  // NMEA 1.x sent the position alone, which cannot be dated.
  if (s.field_count == 5) return LineOutcome::kIgnored;
  if (s.field_count < 7) return LineOutcome::kMalformed;
  const std::string_view status = s.fields[6];
  if (status == "V") return LineOutcome::kNoFix;
  if (status != "A") return LineOutcome::kMalformed;
  LineOutcome outcome = StartTimeOfDayRecord(s.fields[5], reference_unix_ns, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (s.field_count > 7) {
    outcome = ApplyModeField(s.fields[7], record);
    if (outcome != LineOutcome::kPublished) return outcome;
  }
  outcome = ParsePosition(s, 1, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

LineOutcome ParseZda(const NmeaSentence& s, int64_t* unix_ns) {
  // $--ZDA,time,dd,mm,yyyy,zone_hours,zone_minutes (UTC; the zone is the
  // local time's offset, not the fix's).
  if (s.field_count < 5) return LineOutcome::kMalformed;
  if (s.fields[1].empty() && s.fields[2].empty() && s.fields[3].empty() && s.fields[4].empty()) {
    return LineOutcome::kNoFix;
  }
  int64_t nanos_of_day;
  if (!ParseNmeaTimeOfDay(s.fields[1], &nanos_of_day)) return LineOutcome::kBadTimestamp;
  uint32_t day, month, year;
  if (s.fields[2].size() != 2 || s.fields[3].size() != 2 || s.fields[4].size() != 4 ||
      !ParseSmallUnsigned(s.fields[2], &day) || !ParseSmallUnsigned(s.fields[3], &month) ||
      !ParseSmallUnsigned(s.fields[4], &year)) {
    return LineOutcome::kBadTimestamp;
  }
  int64_t midnight;
  if (!CivilToUnixNanos(year, static_cast<int>(month), static_cast<int>(day), 0, 0, 0, 0,
                        &midnight)) {
    return LineOutcome::kBadTimestamp;
  }
  *unix_ns = midnight + nanos_of_day;
  return LineOutcome::kPublished;
}

bool CorrectGpsWeekRollover(int64_t receive_unix_ns, const FixTimeWindow& window,
                            int64_t* fix_unix_ns) {
  if (CheckFixTime(*fix_unix_ns, receive_unix_ns, window) == LineOutcome::kPublished) return false;
  const bool too_old = window.max_age_ns > 0 && *fix_unix_ns < receive_unix_ns - window.max_age_ns;
  // Only a bounded window can say where the true date is.
  if (window.max_age_ns <= 0 || window.max_lead_ns <= 0) return false;
  const __int128 step = too_old ? kGpsWeekRolloverNanos : -kGpsWeekRolloverNanos;
  for (int k = 1; k <= 8; ++k) {
    const __int128 candidate = static_cast<__int128>(*fix_unix_ns) + step * k;
    if (candidate < 0 || candidate > std::numeric_limits<int64_t>::max()) return false;
    const int64_t moved = static_cast<int64_t>(candidate);
    const LineOutcome check = CheckFixTime(moved, receive_unix_ns, window);
    if (check == LineOutcome::kPublished) {
      *fix_unix_ns = moved;
      return true;
    }
    // Stepped over the window: no multiple fits.
    if (check != (too_old ? LineOutcome::kFixTooOld : LineOutcome::kFixInFuture)) return false;
  }
  return false;
}

namespace {

// GN (the combined solution) over GP (GPS, the constellation every receiver
// tracks) over any single other constellation.
uint8_t TalkerRank(std::string_view address) {
  if (address[0] == 'G' && address[1] == 'N') return 0;
  if (address[0] == 'G' && address[1] == 'P') return 1;
  return 2;
}

}  // namespace

// What a sentence can give a cycle's record, ranked (lower is better; see
// the order in Accept), by kind (kRmc, kGga, kGns, kGll) and talker rank.
constexpr NmeaSession::Ranks NmeaSession::RanksOf(size_t kind, uint8_t talker) {
  Ranks r;
  r.position = static_cast<uint8_t>(kind * 3 + talker);
  r.motion = kind == 0 ? talker : kNoRank;
  r.solution = kind == 1   ? static_cast<uint8_t>(talker * 2)
               : kind == 2 ? static_cast<uint8_t>(talker * 2 + 1)
                           : kNoRank;
  r.quality = kind == 0   ? static_cast<uint8_t>(6 + talker)
              : kind == 3 ? static_cast<uint8_t>(9 + talker)
                          : r.solution;
  return r;
}

static_assert(static_cast<int>(NmeaSentence::Kind::kRmc) == 0 &&
              static_cast<int>(NmeaSentence::Kind::kGga) == 1 &&
              static_cast<int>(NmeaSentence::Kind::kGns) == 2 &&
              static_cast<int>(NmeaSentence::Kind::kGll) == 3);

LineOutcome NmeaSession::Parse(std::string_view line, int64_t receive_time_unix_ns,
                               RecordSink& sink) {
  NmeaSentence& sentence = sentence_;
  LineOutcome rejection;
  if (!ParseNmeaEnvelope(line, &sentence, &rejection)) return rejection;

  using Kind = NmeaSentence::Kind;
  switch (sentence.kind) {
    case Kind::kOther:
      return LineOutcome::kIgnored;
    case Kind::kIdentification: {
      if (sentence.field_count != 2) return LineOutcome::kMalformed;
      const std::string_view id = sentence.fields[1];
      if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
      // A pending fix belongs to the vehicle it was read under; it must not
      // merge with, or be relabelled by, sentences of the new identity.
      if (id != vehicle_id()) {
        Flush(sink);
        has_cycle_ = false;
      }
      std::memcpy(vehicle_id_.data(), id.data(), id.size());
      vehicle_id_len_ = static_cast<uint8_t>(id.size());
      return LineOutcome::kIdentified;
    }
    case Kind::kZda: {
      // A date for the sentences that have only a time of day. Kept even
      // outside the accepted window: their fixes are then rejected as too
      // old or in the future, rather than dated by the gateway's clock.
      int64_t unix_ns;
      const LineOutcome outcome = ParseZda(sentence, &unix_ns);
      if (outcome != LineOutcome::kPublished) return outcome;
      if (CorrectGpsWeekRollover(receive_time_unix_ns, window_, &unix_ns)) {
        ++week_rollovers_corrected_;
      }
      has_date_ = true;
      date_reference_ns_ = unix_ns;
      date_reference_receive_ns_ = receive_time_unix_ns;
      return LineOutcome::kIgnored;
    }
    case Kind::kRmc:
    case Kind::kGga:
    case Kind::kGns:
    case Kind::kGll:
      break;
  }
  // Checked before the fields so that a tracker that never identifies shows
  // up as unknown_vehicle for every position it sends, fix or not.
  if (vehicle_id_len_ == 0) return LineOutcome::kUnknownVehicle;

  // Two records alternate between "pending" and "being parsed", so starting
  // a new pending fix is an index flip rather than a record copy.
  LocationRecord& scratch = records_[pending_index_ ^ 1];
  LineOutcome outcome;
  LineOutcome window;
  if (sentence.kind == Kind::kRmc) {
    outcome = ParseRmc(sentence, &rmc_date_, &scratch);
    if (outcome != LineOutcome::kPublished) return outcome;
    window = CheckFixTime(scratch.fix_time_unix_ns, receive_time_unix_ns, window_);
    if (window != LineOutcome::kPublished &&
        CorrectGpsWeekRollover(receive_time_unix_ns, window_, &scratch.fix_time_unix_ns)) {
      ++week_rollovers_corrected_;
      window = LineOutcome::kPublished;
    }
    // Kept even if the window rejects the fix: see kZda.
    has_date_ = true;
    date_reference_ns_ = scratch.fix_time_unix_ns;
    date_reference_receive_ns_ = receive_time_unix_ns;
  } else {
    // The receiver's latest date, moved on by the time the gateway's clock
    // says has passed since (so a gap of hours dates right), else the
    // gateway's clock itself.
    int64_t reference = receive_time_unix_ns;
    if (has_date_) {
      const __int128 projected =
          static_cast<__int128>(date_reference_ns_) +
          (static_cast<__int128>(receive_time_unix_ns) - date_reference_receive_ns_);
      reference = projected < 0 ? 0
                  : projected > std::numeric_limits<int64_t>::max()
                      ? std::numeric_limits<int64_t>::max()
                      : static_cast<int64_t>(projected);
    }
    outcome = sentence.kind == Kind::kGga   ? ParseGga(sentence, reference, &scratch)
              : sentence.kind == Kind::kGns ? ParseGns(sentence, reference, &scratch)
                                            : ParseGll(sentence, reference, &scratch);
    if (outcome != LineOutcome::kPublished) return outcome;
    // Carries the date across midnight for receivers that date rarely.
    if (has_date_) {
      date_reference_ns_ = scratch.fix_time_unix_ns;
      date_reference_receive_ns_ = receive_time_unix_ns;
    }
    window = CheckFixTime(scratch.fix_time_unix_ns, receive_time_unix_ns, window_);
  }
  if (window != LineOutcome::kPublished) return window;
  scratch.set_vehicle_id(vehicle_id());

  static constexpr auto kRankTable = [] {
    std::array<std::array<Ranks, 3>, 4> table{};
    for (size_t kind = 0; kind < 4; ++kind) {
      for (uint8_t talker = 0; talker < 3; ++talker) table[kind][talker] = RanksOf(kind, talker);
    }
    return table;
  }();
  const std::string_view address = sentence.fields[0];
  const uint32_t talker_key = static_cast<uint32_t>(sentence.kind) << 16 |
                              static_cast<uint32_t>(static_cast<uint8_t>(address[0])) << 8 |
                              static_cast<uint8_t>(address[1]);
  Ranks ranks = kRankTable[static_cast<size_t>(sentence.kind)][TalkerRank(address)];
  if (!scratch.has(LocationRecord::kFixQuality)) ranks.quality = kNoRank;
  return Accept(talker_key, ranks, sink);
}

LineOutcome NmeaSession::Accept(uint32_t talker_key, Ranks ranks, RecordSink& sink) {
  LocationRecord& scratch = records_[pending_index_ ^ 1];
  // One fix time of day is one cycle. A time-of-day sentence's date is
  // inferred, so the date may differ from the RMC's; fix times less than a
  // day apart (the usual next cycle) differ in their time of day too.
  const int64_t delta = scratch.fix_time_unix_ns - cycle_fix_time_ns_;
  bool joins = has_cycle_ && (delta == 0 || ((delta <= -kNanosPerDay || delta >= kNanosPerDay) &&
                                             delta % kNanosPerDay == 0));
  if (joins) {
    for (uint8_t i = 0; i < contributor_count_; ++i) {
      // The same sentence again: a receiver's next fix of the same time, or
      // a repeat; either way a record of its own.
      if (contributors_[i] == talker_key) joins = false;
    }
  }
  if (!joins) {
    Flush(sink);
    pending_index_ ^= 1;
    has_cycle_ = true;
    has_pending_ = true;
    cycle_fix_time_ns_ = scratch.fix_time_unix_ns;
    contributors_[0] = talker_key;
    contributor_count_ = 1;
    ranks_ = ranks;
    return LineOutcome::kPublished;
  }
  if (contributor_count_ < contributors_.size()) contributors_[contributor_count_++] = talker_key;
  // A cycle already emitted has no use for more of its sentences.
  if (!has_pending_) return LineOutcome::kMerged;

  // Each part of the record comes from the best sentence that has it: the
  // position from RMC, else GGA, GNS, GLL; speed, course and the date from
  // RMC; the solution (altitude, satellites, HDOP) from GGA or GNS by talker
  // first, so that a combined GNGNS beats a GPS-only GPGGA; the fix quality
  // from the solution, else RMC's mode, else GLL's. Within a type the
  // talker ranks (GN, GP, others); a tie keeps the first.
  LocationRecord& pending = records_[pending_index_];
  if (ranks.position < ranks_.position) {
    pending.latitude = scratch.latitude;
    pending.longitude = scratch.longitude;
    ranks_.position = ranks.position;
  }
  if (ranks.motion < ranks_.motion) {
    // RMC's date is the receiver's; a time-of-day sentence's is inferred.
    pending.fix_time_unix_ns = scratch.fix_time_unix_ns;
    constexpr uint32_t kMotion = LocationRecord::kSpeed | LocationRecord::kHeading;
    pending.speed_mps = scratch.speed_mps;
    pending.heading_deg = scratch.heading_deg;
    pending.present = (pending.present & ~kMotion) | (scratch.present & kMotion);
    ranks_.motion = ranks.motion;
  }
  if (ranks.solution < ranks_.solution) {
    constexpr uint32_t kSolution =
        LocationRecord::kAltitude | LocationRecord::kSatellites | LocationRecord::kHdop;
    pending.altitude_m = scratch.altitude_m;
    pending.satellites = scratch.satellites;
    pending.hdop = scratch.hdop;
    pending.present = (pending.present & ~kSolution) | (scratch.present & kSolution);
    ranks_.solution = ranks.solution;
  }
  if (ranks.quality < ranks_.quality) {
    pending.fix_quality = scratch.fix_quality;
    pending.present |= LocationRecord::kFixQuality;
    ranks_.quality = ranks.quality;
  }
  // Complete: RMC's date and motion plus a GN or GP solution. Nothing a
  // later sentence of the cycle could add is worth waiting for.
  if (ranks_.motion != kNoRank && ranks_.solution < 4) Flush(sink);
  return LineOutcome::kMerged;
}

void NmeaSession::Flush(RecordSink& sink) {
  if (!has_pending_) return;
  has_pending_ = false;
  sink.OnRecord(records_[pending_index_]);
}

}  // namespace fixstream::ingest
