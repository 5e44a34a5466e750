// LineParser: one connection's parser. Detects each line's format by its first
// byte ('$' NMEA, '{' JSON, anything else CSV) unless the listener pins one
// format, parses and validates it, and hands finished records to a sink.
//
// Per-connection state lives here: the vehicle id named by the connection's
// identification line ($PFSID, see docs/PROTOCOL.md) for NMEA, or the
// connection's fixed vehicle (SetConnectionVehicle); the date the receiver
// last sent (RMC, ZDA); and the pending NMEA fix that the sentences of one
// fix time (RMC, GGA, GNS, GLL, from one or more talkers) merge into.
// A pending fix is emitted when it is complete (an RMC and a GN/GP GGA or
// GNS), when a sentence of another fix or a CSV/JSON record arrives (records
// keep the order of their lines), or on Flush() (the gateway flushes at the
// end of every read), so NMEA adds no latency beyond one read.
//
// Parsing never allocates after the parser has warmed up (the JSON parser's
// buffers grow to the longest line seen, bounded by the framer's maximum).
//
// Thread safety: none; a parser belongs to one connection.
#ifndef FIXSTREAM_INGEST_LINE_PARSER_H_
#define FIXSTREAM_INGEST_LINE_PARSER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "ingest/line_outcome.h"
#include "ingest/location_record.h"
#include "ingest/validate.h"

namespace fixstream::ingest {

// Receives the records a parser produces. Must not call back into the parser.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // `record` is valid only during the call.
  virtual void OnRecord(const LocationRecord& record) = 0;
};

struct LineParserOptions {
  // If set, lines of any other format are rejected as kWrongFormat.
  std::optional<SourceFormat> pinned_format;
  // Accepted fix times around the receive time (default: any).
  FixTimeWindow fix_time_window;
};

class LineParser final {
 public:
  explicit LineParser(LineParserOptions options = {});
  ~LineParser();
  LineParser(const LineParser&) = delete;
  LineParser& operator=(const LineParser&) = delete;

  // Parses one complete line (no terminator). `receive_time_unix_ns` is the
  // gateway's clock when the line was read; it dates NMEA GGA sentences,
  // which carry a time of day but no date. Records may be emitted to `sink`
  // during this call (including a previous pending NMEA fix) or a later
  // Parse()/Flush(). Returns what became of this line.
  LineOutcome Parse(std::string_view line, int64_t receive_time_unix_ns, RecordSink& sink);

  // Emits the pending NMEA fix, if any.
  void Flush(RecordSink& sink);

  // Vehicle id from the connection's identification line; empty if none yet.
  std::string_view identified_vehicle() const;

  // NMEA dates this connection's receiver sent a multiple of 1024 weeks off
  // that were corrected into the accepted window (GPS week rollover; see
  // docs/PROTOCOL.md). Each corrected line keeps its own outcome.
  uint64_t week_rollovers_corrected() const;

  // Fixes the connection's vehicle, for a listener that identifies its
  // connections itself (by source address or by their first line): NMEA
  // positions are attributed to `id`, and a line naming another vehicle (a
  // CSV or JSON record, a $PFSID) is rejected as kVehicleMismatch; a $PFSID
  // naming `id` itself is kIdentified and changes nothing. Precondition:
  // IsValidVehicleId(id), and no line parsed yet.
  void SetConnectionVehicle(std::string_view id);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_LINE_PARSER_H_
