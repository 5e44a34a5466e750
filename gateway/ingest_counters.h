// IngestCounters: what happened to the device side's connections, bytes and
// lines. Sessions accumulate locally and add here once per read, so the
// counters cost a few atomic adds per read, not per line.
//
// Accounting identity (checked by the integration tests):
//   bytes_read == bytes of framed lines incl. terminators + bytes_discarded
//   sum(lines) == lines framed (each line has exactly one outcome)
//   lines[kPublished] == records_published + records_duplicate
//                        + records_dropped_at_shutdown
#ifndef FIXSTREAM_GATEWAY_INGEST_COUNTERS_H_
#define FIXSTREAM_GATEWAY_INGEST_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "ingest/line_outcome.h"

namespace fixstream::gateway {

struct IngestCounters {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_closed{0};
  std::atomic<int64_t> connections_active{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_discarded{0};  // over-long and unterminated lines
  std::array<std::atomic<uint64_t>, ingest::kLineOutcomeCount> lines{};
  std::atomic<uint64_t> records_published{0};
  // Not published: same vehicle and fix time as a recently accepted record.
  std::atomic<uint64_t> records_duplicate{0};
  // Published and marked late (older than the vehicle's newest fix).
  std::atomic<uint64_t> records_late{0};
  // Records parsed after the hub closed for shutdown (never silently lost:
  // counted here, and drain makes this 0 in a clean shutdown).
  std::atomic<uint64_t> records_dropped_at_shutdown{0};

  uint64_t line_count(ingest::LineOutcome outcome) const {
    return lines[static_cast<size_t>(outcome)].load(std::memory_order_relaxed);
  }
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_INGEST_COUNTERS_H_
