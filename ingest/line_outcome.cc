#include "ingest/line_outcome.h"

#include <array>
#include <string>

namespace fixstream::ingest {
namespace {

// Indexed by LineOutcome. These strings are metrics labels: renaming one
// breaks dashboards, so they only ever get added to.
constexpr std::array<std::string_view, kLineOutcomeCount> kNames = {
    "published",       "merged",       "identified",      "ignored",          "empty",
    "no_fix",          "heartbeat",    "malformed",       "bad_checksum",     "bad_timestamp",
    "bad_vehicle_id",  "out_of_range", "unknown_vehicle", "wrong_format",     "too_long",
    "unterminated",    "fix_too_old",  "fix_in_future",   "vehicle_mismatch", "unregistered",
    "source_mismatch", "auth_failed",  "unauthenticated",
};

}  // namespace

std::string_view LineOutcomeName(LineOutcome outcome) {
  const auto index = static_cast<size_t>(outcome);
  if (index >= kNames.size()) return "unknown";
  return kNames[index];
}

absl::Status LineOutcomeToStatus(LineOutcome outcome, std::string_view detail) {
  if (!IsRejection(outcome)) return absl::OkStatus();
  // Built by hand: this absl predates std::string_view interop in StrCat.
  std::string message(LineOutcomeName(outcome));
  if (!detail.empty()) {
    message.append(": ");
    message.append(detail);
  }
  if (outcome == LineOutcome::kOutOfRange) return absl::OutOfRangeError(message);
  return absl::InvalidArgumentError(message);
}

}  // namespace fixstream::ingest
