// LineOutcome: what became of one line a vehicle sent. Every line read is
// accounted under exactly one outcome, so that
//   lines read == sum over outcomes
// holds and operators can see why data did not turn into records.
//
// Outcomes are a closed enum rather than absl::Status on purpose: a flood of
// bad lines must not cost an allocation each, and metrics need a bounded label
// set. LineOutcomeToStatus() converts at the boundaries that want a Status.
#ifndef FIXSTREAM_INGEST_LINE_OUTCOME_H_
#define FIXSTREAM_INGEST_LINE_OUTCOME_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace fixstream::ingest {

enum class LineOutcome : uint8_t {
  // Accepted outcomes (not errors).
  kPublished = 0,  // the line produced a record
  kMerged,         // an NMEA sentence merged into another sentence's record
  kIdentified,     // an identification line ($PFSID) named the connection's vehicle
  kIgnored,        // an NMEA sentence type fixstream does not use (GSV, GSA, VTG, ...)
  kEmpty,          // an empty line (only "\n" or "\r\n")
  kNoFix,          // RMC status V, or GGA fix quality 0: the device had no fix
  kHeartbeat,      // a device protocol's heartbeat or status report: proof of life, no record
  // Rejections (errors in the input).
  kMalformed,        // wrong number of fields, unparsable number, bad syntax
  kBadChecksum,      // NMEA *hh checksum present and wrong
  kBadTimestamp,     // unparsable or impossible date/time
  kBadVehicleId,     // vehicle id empty, too long or with characters outside [A-Za-z0-9._:-]
  kOutOfRange,       // lat/lon/speed/heading/... outside its valid range or not finite
  kUnknownVehicle,   // NMEA position on a connection that has not identified itself
  kWrongFormat,      // line format differs from the listener's pinned format
  kTooLong,          // line longer than the maximum line length (rest discarded)
  kUnterminated,     // bytes without a final newline when the connection closed
  kFixTooOld,        // fix time older than the accepted window before the receive time
  kFixInFuture,      // fix time later than the accepted window after the receive time
  kVehicleMismatch,  // a line naming another vehicle than the connection's fixed identity
  kUnregistered,     // the vehicle id is not in the device registry (--device_policy=registered)
  kSourceMismatch,   // the registry binds the id to from= networks the connection is not from
  kAuthFailed,       // --device_policy=authenticated: the first line did not authenticate
  kUnauthenticated,  // a line after a failed (or revoked) authentication, before the close
  kCount,            // number of outcomes; not an outcome
};

inline constexpr size_t kLineOutcomeCount = static_cast<size_t>(LineOutcome::kCount);

// Stable snake_case name, used as a metrics label and in logs.
std::string_view LineOutcomeName(LineOutcome outcome);

// True for the outcomes that are errors in the input.
inline bool IsRejection(LineOutcome outcome) { return outcome >= LineOutcome::kMalformed; }

// OkStatus for accepted outcomes; otherwise InvalidArgument (OutOfRange for
// kOutOfRange) whose message names the reason and includes `detail`.
absl::Status LineOutcomeToStatus(LineOutcome outcome, std::string_view detail = {});

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_LINE_OUTCOME_H_
