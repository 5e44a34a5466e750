// NMEA 0183 sentences as real receivers send them: the positions of RMC, GGA,
// GNS and GLL and the date of ZDA, from any two-letter talker (GP, GN, GL,
// GA, BD, ...), the fixstream identification sentence "$PFSID,<vehicle_id>",
// and every other sentence type, which is ignored.
//
// A sentence is "$" + comma-separated fields + an optional "*hh" checksum (the
// XOR of the bytes between "$" and "*", two hex digits of either case), then
// optional trailing carriage returns and blanks (a "\r\r\n" line ending).
// Only printable ASCII is allowed. See docs/PROTOCOL.md for the field
// layouts, the fix qualities, how sentences of one fix merge into one record
// and how sentences with a time of day only are dated.
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
#include "ingest/timestamp.h"
#include "ingest/validate.h"

namespace fixstream::ingest {

// Knots to metres per second: a knot is one nautical mile (1852 m) per hour.
inline constexpr double kMetresPerSecondPerKnot = 1852.0 / 3600.0;

// The GPS week number's period: receivers with a 10-bit week counter (or
// firmware that pivots it wrongly) report dates a multiple of this early.
inline constexpr int64_t kGpsWeekRolloverNanos = 1024 * 7 * kNanosPerDay;

// The most fields, address included, of a sentence we read: RMC (NMEA 4.1)
// and GNS have up to 14, GGA 15 and a SiRF TriG's GGA 16. A sentence we read
// with more is malformed (in gpsd's corpus only spliced lines have more).
inline constexpr size_t kMaxNmeaFields = 16;

struct NmeaSentence {
  enum class Kind : uint8_t { kRmc, kGga, kGns, kGll, kZda, kIdentification, kOther };
  Kind kind = Kind::kOther;
  // fields[0] is the address ("GPRMC"); filled for every kind but kOther.
  // Views into the parsed line.
  std::array<std::string_view, kMaxNmeaFields> fields;
  size_t field_count = 0;
};

// Checks a sentence's envelope (leading "$", printable ASCII, address syntax,
// checksum if present; trailing "\r", " " and "\t" are stripped first),
// classifies it and, for the kinds fixstream reads, splits its fields. On
// failure returns false and sets `*rejection` (kMalformed or kBadChecksum).
bool ParseNmeaEnvelope(std::string_view line, NmeaSentence* sentence, LineOutcome* rejection);

// Parses an RMC sentence's fields into `*record` (overwritten; vehicle id left
// empty). Returns kPublished, kNoFix (status V, or mode N/M/S) or a
// rejection. The date's two-digit year is 19yy for 80-99, else 20yy.
// Precondition: sentence.kind == kRmc.
LineOutcome ParseRmc(const NmeaSentence& sentence, LocationRecord* record);

// The midnight of the last RMC date parsed (a receiver sends the same date
// all day). 0 holds no date: six date bytes never pack to 0.
struct RmcDateCache {
  uint64_t date = 0;  // the "ddmmyy" bytes, little-endian
  int64_t midnight_unix_ns = 0;
};

// ParseRmc with `*cache` for the date (read and updated).
LineOutcome ParseRmc(const NmeaSentence& sentence, RmcDateCache* cache, LocationRecord* record);

// Parses a GGA sentence's fields (13 or more; the optional ones that are
// present are read) into `*record`, dating its time of day with the UTC day
// (the reference's day, or the day before or after) that puts the fix
// closest to `reference_unix_ns`. Returns kPublished, kNoFix (quality 0, 7
// manual or 8 simulator) or a rejection. Precondition: sentence.kind == kGga.
LineOutcome ParseGga(const NmeaSentence& sentence, int64_t reference_unix_ns,
                     LocationRecord* record);

// GNS (13 or 14 fields), dated as GGA. Returns kNoFix when no constellation
// of the mode field has a fix. Precondition: sentence.kind == kGns.
LineOutcome ParseGns(const NmeaSentence& sentence, int64_t reference_unix_ns,
                     LocationRecord* record);

// GLL with time and status (7 or 8 fields), dated as GGA. Returns kNoFix for
// status V or mode N/M/S, kIgnored for an NMEA 1.x GLL without time.
// Precondition: sentence.kind == kGll.
LineOutcome ParseGll(const NmeaSentence& sentence, int64_t reference_unix_ns,
                     LocationRecord* record);

// ZDA: sets `*unix_ns` to its date and time. Returns kPublished, kNoFix (the
// receiver has no time yet: empty fields) or a rejection.
// Precondition: sentence.kind == kZda.
LineOutcome ParseZda(const NmeaSentence& sentence, int64_t* unix_ns);

// Parses "hhmmss[.f{1,9}]" into nanoseconds since midnight (second 60 reads
// as 59.999999999). Returns false on syntax or range errors.
bool ParseNmeaTimeOfDay(std::string_view text, int64_t* nanos_of_day);

// Parses "[d]ddmm[.m+]" into degrees (unsigned; the caller applies N/S, E/W).
// Returns kPublished, kMalformed, or kOutOfRange when minutes >= 60.
LineOutcome ParseNmeaAngle(std::string_view text, double* degrees);

// If `*fix_unix_ns` is outside `window` around `receive_unix_ns` but moving
// it by a multiple of 1024 weeks (up to 8) puts it inside, moves it and
// returns true. A window with an open side never corrects on that side.
bool CorrectGpsWeekRollover(int64_t receive_unix_ns, const FixTimeWindow& window,
                            int64_t* fix_unix_ns);

// One connection's NMEA state: its identified vehicle, the date its receiver
// last gave (RMC or ZDA), and the fix of the current cycle that the
// sentences of one fix time merge into.
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

  // RMC and ZDA dates moved by a multiple of 1024 weeks into the accepted
  // window (see CorrectGpsWeekRollover) on this connection.
  uint64_t week_rollovers_corrected() const { return week_rollovers_corrected_; }

 private:
  // Which sentence gave each part of the pending record: lower is better,
  // kNoRank for none yet (see Accept()).
  struct Ranks {
    uint8_t position;
    uint8_t motion;    // speed, course, the receiver's date: RMC
    uint8_t solution;  // altitude, satellites, HDOP: GGA, GNS
    uint8_t quality;
  };
  static constexpr uint8_t kNoRank = 255;
  // The ranks of a sentence of kind `kind` (kRmc..kGll) and talker rank
  // `talker` (GN 0, GP 1, others 2).
  static constexpr Ranks RanksOf(size_t kind, uint8_t talker);

  // Merges `scratch` (parsed from a sentence with key `talker_key`: its kind
  // and talker) into the cycle, emitting and starting fixes as needed.
  LineOutcome Accept(uint32_t talker_key, Ranks ranks, RecordSink& sink);

  FixTimeWindow window_;
  std::array<char, kMaxVehicleIdLength> vehicle_id_{};
  uint8_t vehicle_id_len_ = 0;
  uint64_t week_rollovers_corrected_ = 0;
  RmcDateCache rmc_date_;

  // The latest instant the receiver dated (RMC, ZDA), carried forward by the
  // fixes dated from it, and the receive time it was read at. A time-of-day
  // sentence takes the day nearest that instant plus the receive time
  // elapsed since.
  bool has_date_ = false;
  int64_t date_reference_ns_ = 0;
  int64_t date_reference_receive_ns_ = 0;

  // The cycle: the sentences of one fix time. Its record is pending until
  // complete (RMC plus a GN/GP GGA or GNS), a sentence of another fix time
  // arrives, or Flush(); later sentences of an emitted cycle are merged
  // (their data is not needed any more).
  bool has_cycle_ = false;
  bool has_pending_ = false;
  int64_t cycle_fix_time_ns_ = 0;  // of the cycle's first sentence
  Ranks ranks_{};
  // The (kind, talker) pairs the cycle has read: a second one of a pair is
  // a new fix, not part of this one.
  std::array<uint32_t, 8> contributors_{};
  uint8_t contributor_count_ = 0;
  uint8_t pending_index_ = 0;  // records_[pending_index_] is the pending fix
  std::array<LocationRecord, 2> records_;
  // Scratch for Parse, kept here so a line does not clear the field views.
  NmeaSentence sentence_;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_NMEA_H_
