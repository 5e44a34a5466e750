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
  const std::string_view type = address.size() == 5 ? address.substr(2) : std::string_view();
  if (address.size() == 5 && IsUpper(address[0]) && IsUpper(address[1]) && type == "RMC") {
    sentence->kind = NmeaSentence::Kind::kRmc;
  } else if (address.size() == 5 && IsUpper(address[0]) && IsUpper(address[1]) && type == "GGA") {
    sentence->kind = NmeaSentence::Kind::kGga;
  } else if (address == "PFSID") {
    sentence->kind = NmeaSentence::Kind::kIdentification;
  } else {
    sentence->kind = NmeaSentence::Kind::kOther;
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
    const char* const fraction_begin = p;
    while (p != end && IsDigit(*p)) {
      // Digits past the 12th are below a micrometre; they are checked for
      // syntax but not accumulated, so long inputs cannot overflow.
      if (fraction_digits < 12) {
        fraction = fraction * 10 + static_cast<uint64_t>(*p - '0');
        ++fraction_digits;
      }
      ++p;
    }
    if (p != end || p == fraction_begin) return LineOutcome::kMalformed;
  }
  const uint64_t whole_degrees = whole / 100;
  const uint64_t whole_minutes = whole % 100;
  if (whole_minutes >= 60) return LineOutcome::kOutOfRange;
  // whole_minutes * 10^12 + fraction < 2^53, so the numerator is exact.
  const double scale = internal::kExactPowersOfTen[fraction_digits];
  const double minutes =
      (static_cast<double>(whole_minutes) * scale + static_cast<double>(fraction)) / scale;
  *degrees = static_cast<double>(whole_degrees) + minutes / 60.0;
  return LineOutcome::kPublished;
}

LineOutcome ParseRmc(const NmeaSentence& s, LocationRecord* record) {
  // $--RMC,time,status,lat,N/S,lon,E/W,speed_kn,course,ddmmyy,magvar,E/W
  // [,mode[,nav_status]]: NMEA 2.3 and 4.1 append the last two.
  if (s.field_count < 12 || s.field_count > 14) return LineOutcome::kMalformed;
  const std::string_view status = s.fields[2];
  if (status == "V") return LineOutcome::kNoFix;
  if (status != "A") return LineOutcome::kMalformed;

  record->Clear();
  record->format = SourceFormat::kNmea;
  int64_t nanos_of_day;
  const std::string_view date = s.fields[9];
  if (!ParseNmeaTimeOfDay(s.fields[1], &nanos_of_day) || date.size() != 6) {
    return LineOutcome::kBadTimestamp;
  }
  for (char c : date) {
    if (!IsDigit(c)) return LineOutcome::kBadTimestamp;
  }
  const int day = (date[0] - '0') * 10 + (date[1] - '0');
  const int month = (date[2] - '0') * 10 + (date[3] - '0');
  const int year = 2000 + (date[4] - '0') * 10 + (date[5] - '0');
  int64_t midnight;
  if (!CivilToUnixNanos(year, month, day, 0, 0, 0, 0, &midnight)) {
    return LineOutcome::kBadTimestamp;
  }
  record->fix_time_unix_ns = midnight + nanos_of_day;

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

LineOutcome ParseGga(const NmeaSentence& s, int64_t receive_time_unix_ns, LocationRecord* record) {
  // $--GGA,time,lat,N/S,lon,E/W,quality,satellites,hdop,altitude,M,
  //   geoid_separation,M,dgps_age,dgps_station
  if (s.field_count != 15) return LineOutcome::kMalformed;
  const std::string_view quality = s.fields[6];
  if (quality.size() != 1 || !IsDigit(quality[0])) return LineOutcome::kMalformed;
  if (quality[0] == '0') return LineOutcome::kNoFix;

  record->Clear();
  record->format = SourceFormat::kNmea;
  int64_t nanos_of_day;
  if (!ParseNmeaTimeOfDay(s.fields[1], &nanos_of_day)) return LineOutcome::kBadTimestamp;
  // The receive day, the day before or the day after: whichever puts the fix
  // nearest the receive time. This dates a 23:59:59 fix received at 00:00:01
  // (device clock or network a little behind) on the previous day.
  const __int128 receive = receive_time_unix_ns;
  __int128 receive_day = receive / kNanosPerDay;
  if (receive % kNanosPerDay < 0) --receive_day;
  bool found = false;
  __int128 best = 0;
  for (int delta = -1; delta <= 1; ++delta) {
    const __int128 candidate = (receive_day + delta) * kNanosPerDay + nanos_of_day;
    if (candidate < 0 || candidate > std::numeric_limits<int64_t>::max()) continue;
    const __int128 distance = candidate > receive ? candidate - receive : receive - candidate;
    const __int128 best_distance = best > receive ? best - receive : receive - best;
    if (!found || distance < best_distance) {
      best = candidate;
      found = true;
    }
  }
  if (!found) return LineOutcome::kBadTimestamp;
  record->fix_time_unix_ns = static_cast<int64_t>(best);

  LineOutcome outcome = ParsePosition(s, 2, record);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (!s.fields[7].empty()) {
    if (!ParseSmallUnsigned(s.fields[7], &record->satellites)) return LineOutcome::kMalformed;
    record->present |= LocationRecord::kSatellites;
  }
  bool present;
  outcome = ParseOptional(s.fields[8], &record->hdop, &present);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (present) record->present |= LocationRecord::kHdop;
  outcome = ParseOptional(s.fields[9], &record->altitude_m, &present);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (present) {
    if (s.fields[10] != "M") return LineOutcome::kMalformed;
    record->present |= LocationRecord::kAltitude;
  }
  return IsInRange(*record) ? LineOutcome::kPublished : LineOutcome::kOutOfRange;
}

LineOutcome NmeaSession::Parse(std::string_view line, int64_t receive_time_unix_ns,
                               RecordSink& sink) {
  NmeaSentence& sentence = sentence_;
  LineOutcome rejection;
  if (!ParseNmeaEnvelope(line, &sentence, &rejection)) return rejection;

  switch (sentence.kind) {
    case NmeaSentence::Kind::kOther:
      return LineOutcome::kIgnored;
    case NmeaSentence::Kind::kIdentification: {
      if (sentence.field_count != 2) return LineOutcome::kMalformed;
      const std::string_view id = sentence.fields[1];
      if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
      // A pending fix belongs to the vehicle it was read under; it must not
      // merge with, or be relabelled by, sentences of the new identity.
      if (id != vehicle_id()) Flush(sink);
      std::memcpy(vehicle_id_.data(), id.data(), id.size());
      vehicle_id_len_ = static_cast<uint8_t>(id.size());
      return LineOutcome::kIdentified;
    }
    case NmeaSentence::Kind::kRmc:
    case NmeaSentence::Kind::kGga:
      break;
  }
  // Checked before the fields so that a tracker that never identifies shows
  // up as unknown_vehicle for every position it sends, fix or not.
  if (vehicle_id_len_ == 0) return LineOutcome::kUnknownVehicle;

  const bool is_rmc = sentence.kind == NmeaSentence::Kind::kRmc;
  // Two records alternate between "pending" and "being parsed", so starting
  // a new pending fix is an index flip rather than a record copy.
  LocationRecord& pending = records_[pending_index_];
  LocationRecord& scratch = records_[pending_index_ ^ 1];
  const LineOutcome outcome =
      is_rmc ? ParseRmc(sentence, &scratch) : ParseGga(sentence, receive_time_unix_ns, &scratch);
  if (outcome != LineOutcome::kPublished) return outcome;
  if (const LineOutcome window =
          CheckFixTime(scratch.fix_time_unix_ns, receive_time_unix_ns, window_);
      window != LineOutcome::kPublished) {
    return window;
  }
  scratch.set_vehicle_id(vehicle_id());

  // GGA carries no date (it was dated from the receive clock), so an RMC and
  // a GGA belong to one fix when their times of day agree; the merged record
  // takes the RMC's date.
  auto time_of_day = [](int64_t ns) {
    const int64_t r = ns % kNanosPerDay;
    return r < 0 ? r + kNanosPerDay : r;
  };
  if (has_pending_ && (is_rmc ? !pending_has_rmc_ : !pending_has_gga_) &&
      time_of_day(pending.fix_time_unix_ns) == time_of_day(scratch.fix_time_unix_ns)) {
    // RMC owns date, position, speed and course; GGA adds altitude,
    // satellites and HDOP.
    const LocationRecord& gga = is_rmc ? pending : scratch;
    LocationRecord& merged = is_rmc ? scratch : pending;
    constexpr uint32_t kGgaFields =
        LocationRecord::kAltitude | LocationRecord::kSatellites | LocationRecord::kHdop;
    merged.altitude_m = gga.altitude_m;
    merged.satellites = gga.satellites;
    merged.hdop = gga.hdop;
    merged.present = (merged.present & ~kGgaFields) | (gga.present & kGgaFields);
    has_pending_ = false;
    sink.OnRecord(merged);
    return LineOutcome::kMerged;
  }
  Flush(sink);
  pending_index_ ^= 1;
  has_pending_ = true;
  pending_has_rmc_ = is_rmc;
  pending_has_gga_ = !is_rmc;
  return LineOutcome::kPublished;
}

void NmeaSession::Flush(RecordSink& sink) {
  if (!has_pending_) return;
  has_pending_ = false;
  sink.OnRecord(records_[pending_index_]);
}

}  // namespace fixstream::ingest
