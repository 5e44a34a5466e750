#include "ingest/line_parser.h"

#include <array>

#include "ingest/csv.h"
#include "ingest/json.h"
#include "ingest/nmea.h"

namespace fixstream::ingest {

struct LineParser::State {
  explicit State(LineParserOptions opts) : options(opts), nmea(opts.fix_time_window) {}
  LineParserOptions options;
  NmeaSession nmea;
  JsonLineParser json;
  LocationRecord record;  // reused for CSV and JSON so parsing never allocates
  // SetConnectionVehicle's id; empty: lines name their own vehicle.
  std::array<char, kMaxVehicleIdLength> fixed_vehicle{};
  uint8_t fixed_vehicle_len = 0;
  NmeaSentence identification;  // scratch for a $PFSID on a fixed connection

  std::string_view fixed() const { return {fixed_vehicle.data(), fixed_vehicle_len}; }
};

LineParser::LineParser(LineParserOptions options) : state_(std::make_unique<State>(options)) {}

LineParser::~LineParser() = default;

LineOutcome LineParser::Parse(std::string_view line, int64_t receive_time_unix_ns,
                              RecordSink& sink) {
  if (line.empty()) return LineOutcome::kEmpty;
  State& state = *state_;
  const SourceFormat format = line[0] == '$'   ? SourceFormat::kNmea
                              : line[0] == '{' ? SourceFormat::kJson
                                               : SourceFormat::kCsv;
  if (state.options.pinned_format.has_value() && *state.options.pinned_format != format) {
    return LineOutcome::kWrongFormat;
  }
  LineOutcome outcome;
  switch (format) {
    case SourceFormat::kNmea:
      if (state.fixed_vehicle_len != 0 && line.starts_with("$PFSID")) {
        // The listener's identity wins: a $PFSID may confirm it, never
        // change it. Anything that is not a well-formed identification
        // sentence goes to the NMEA parser, which says what it is.
        LineOutcome rejection;
        if (ParseNmeaEnvelope(line, &state.identification, &rejection) &&
            state.identification.kind == NmeaSentence::Kind::kIdentification) {
          if (state.identification.field_count != 2) return LineOutcome::kMalformed;
          const std::string_view id = state.identification.fields[1];
          if (!IsValidVehicleId(id)) return LineOutcome::kBadVehicleId;
          return id == state.fixed() ? LineOutcome::kIdentified : LineOutcome::kVehicleMismatch;
        }
      }
      return state.nmea.Parse(line, receive_time_unix_ns, sink);
    case SourceFormat::kJson:
      outcome = state.json.Parse(line, &state.record);
      break;
    case SourceFormat::kCsv:
    default:
      outcome = ParseCsvLine(line, &state.record);
      break;
  }
  if (outcome == LineOutcome::kPublished && state.fixed_vehicle_len != 0 &&
      state.record.vehicle_id() != state.fixed()) {
    outcome = LineOutcome::kVehicleMismatch;
  }
  if (outcome == LineOutcome::kPublished) {
    outcome = CheckFixTime(state.record.fix_time_unix_ns, receive_time_unix_ns,
                           state.options.fix_time_window);
  }
  if (outcome == LineOutcome::kPublished) {
    // A connection's records leave in the order its lines arrived: a pending
    // NMEA fix was sent before this line, so it goes first.
    state.nmea.Flush(sink);
    sink.OnRecord(state.record);
  }
  return outcome;
}

void LineParser::Flush(RecordSink& sink) { state_->nmea.Flush(sink); }

std::string_view LineParser::identified_vehicle() const { return state_->nmea.vehicle_id(); }

uint64_t LineParser::week_rollovers_corrected() const {
  return state_->nmea.week_rollovers_corrected();
}

void LineParser::SetConnectionVehicle(std::string_view id) {
  State& state = *state_;
  state.fixed_vehicle_len =
      static_cast<uint8_t>(id.copy(state.fixed_vehicle.data(), state.fixed_vehicle.size()));
  state.nmea.SetVehicleId(id);
}

}  // namespace fixstream::ingest
