// NMEA 0183 sentences: RMC and GGA positions from any two-letter talker (GP,
// GN, GL, GA, BD, ...), the fixstream identification sentence
// "$PFSID,<vehicle_id>", and every other sentence type, which is ignored.
//
// A sentence is "$" + comma-separated fields + an optional "*hh" checksum (the
// XOR of the bytes between "$" and "*", two hex digits of either case). Only
// printable ASCII is allowed. See docs/PROTOCOL.md for the field layouts,
// the RMC+GGA merge and how GGA sentences (time of day only) are dated.
//
// Thread safety: the free functions are thread-safe; an NmeaSession belongs to
// one connection. Nothing here allocates.
#ifndef FIXSTREAM_INGEST_NMEA_H_
#define FIXSTREAM_INGEST_NMEA_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/line_outcome.h"
#include "ingest/line_parser.h"
#include "ingest/location_record.h"
#include "ingest/validate.h"

namespace fixstream::ingest {

// Knots to metres per second, as specified for RMC speed.
inline constexpr double kMetresPerSecondPerKnot = 0.514444;

// More fields than any sentence we parse has (GGA has 15).
inline constexpr size_t kMaxNmeaFields = 16;

struct NmeaSentence {
  enum class Kind : uint8_t { kRmc, kGga, kIdentification, kOther };
  Kind kind = Kind::kOther;
  // fields[0] is the address ("GPRMC"); filled only for kRmc, kGga and
  // kIdentification. Views into the parsed line.
  std::array<std::string_view, kMaxNmeaFields> fields;
  size_t field_count = 0;
};

// Checks a sentence's envelope (leading "$", printable ASCII, address syntax,
// checksum if present), classifies it and, for the kinds fixstream reads,
// splits its fields. On failure returns false and sets `*rejection`
// (kMalformed or kBadChecksum).
bool ParseNmeaEnvelope(std::string_view line, NmeaSentence* sentence, LineOutcome* rejection);

// Parses an RMC sentence's fields into `*record` (overwritten; vehicle id left
// empty). Returns kPublished, kNoFix (status V) or a rejection.
// Precondition: sentence.kind == kRmc.
LineOutcome ParseRmc(const NmeaSentence& sentence, LocationRecord* record);

// Parses a GGA sentence's fields into `*record`, dating its time of day with
// the UTC day (receive day, or the day before or after) that puts the fix
// closest to `receive_time_unix_ns`. Returns kPublished, kNoFix (quality 0)
// or a rejection. Precondition: sentence.kind == kGga.
LineOutcome ParseGga(const NmeaSentence& sentence, int64_t receive_time_unix_ns,
                     LocationRecord* record);

// Parses "hhmmss[.f{1,9}]" into nanoseconds since midnight (second 60 reads
// as 59.999999999). Returns false on syntax or range errors.
bool ParseNmeaTimeOfDay(std::string_view text, int64_t* nanos_of_day);

// Parses "[d]ddmm[.m+]" into degrees (unsigned; the caller applies N/S, E/W).
// Returns kPublished, kMalformed, or kOutOfRange when minutes >= 60.
LineOutcome ParseNmeaAngle(std::string_view text, double* degrees);

// One connection's NMEA state: its identified vehicle and the pending fix an
// RMC and a GGA of the same fix time merge into.
class NmeaSession final {
 public:
  NmeaSession() = default;
  explicit NmeaSession(FixTimeWindow window) : window_(window) {}
  NmeaSession(const NmeaSession&) = delete;
  NmeaSession& operator=(const NmeaSession&) = delete;

  // Parses one sentence (see LineParser::Parse for the emission rules).
  LineOutcome Parse(std::string_view line, int64_t receive_time_unix_ns, RecordSink& sink);
  // Emits the pending fix, if any.
  void Flush(RecordSink& sink);

  std::string_view vehicle_id() const { return {vehicle_id_.data(), vehicle_id_len_}; }
  // Names the connection's vehicle as a $PFSID line would, for a listener
  // that knows it otherwise (source address, first line). Precondition:
  // IsValidVehicleId(id), and no fix pending (before the first sentence).
  void SetVehicleId(std::string_view id) {
    vehicle_id_len_ = static_cast<uint8_t>(id.copy(vehicle_id_.data(), vehicle_id_.size()));
  }

 private:
  FixTimeWindow window_;
  std::array<char, kMaxVehicleIdLength> vehicle_id_{};
  uint8_t vehicle_id_len_ = 0;
  bool has_pending_ = false;
  bool pending_has_rmc_ = false;
  bool pending_has_gga_ = false;
  uint8_t pending_index_ = 0;  // records_[pending_index_] is the pending fix
  std::array<LocationRecord, 2> records_;
  // Scratch for Parse, kept here so a line does not clear 16 field views.
  NmeaSentence sentence_;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_NMEA_H_
