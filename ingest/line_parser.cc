#include "ingest/line_parser.h"

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
      return state.nmea.Parse(line, receive_time_unix_ns, sink);
    case SourceFormat::kJson:
      outcome = state.json.Parse(line, &state.record);
      break;
    case SourceFormat::kCsv:
    default:
      outcome = ParseCsvLine(line, &state.record);
      break;
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

}  // namespace fixstream::ingest
