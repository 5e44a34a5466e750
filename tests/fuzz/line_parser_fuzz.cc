// Fuzzes LineParser: the input is split at '\n' and every line goes through
// one parser (so NMEA identification and merge state carry across lines).
// Checks that outcomes are in range, records are only produced by accepted
// outcomes, and every record is valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/line_parser.h"
#include "ingest/validate.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

class CheckingSink final : public fixstream::ingest::RecordSink {
 public:
  void OnRecord(const fixstream::ingest::LocationRecord& record) override {
    Check(fixstream::ingest::IsInRange(record));
    Check(fixstream::ingest::IsValidVehicleId(record.vehicle_id()));
    Check(record.fix_time_unix_ns >= 0);
    ++records;
  }
  size_t records = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fixstream::ingest;
  if (size < 1) return 0;
  // The first byte picks the pinned format (mostly none) and the receive time.
  LineParserOptions options;
  if (data[0] % 8 < 3) options.pinned_format = static_cast<SourceFormat>(1 + data[0] % 8);
  const int64_t receive_ns = 1795515330LL * 1'000'000'000 + int64_t{data[0]} * 3'600'000'000'000;
  LineParser parser(options);
  CheckingSink sink;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    const size_t before = sink.records;
    const LineOutcome outcome = parser.Parse(line, receive_ns, sink);
    Check(static_cast<size_t>(outcome) < kLineOutcomeCount);
    Check(outcome != LineOutcome::kTooLong && outcome != LineOutcome::kUnterminated);
    // A rejected line never produces its own record; it may flush at most
    // the pending NMEA fix (re-identification).
    if (IsRejection(outcome)) Check(sink.records == before);
    Check(sink.records - before <= 2);
    Check(!LineOutcomeName(outcome).empty());
  }
  parser.Flush(sink);
  return 0;
}
