#include "ingest/line_outcome.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

TEST(LineOutcomeNameTest, NamesAreStableSnakeCase) {
  const std::string_view expected[] = {
      "published",       "merged",       "identified",      "ignored",          "empty",
      "no_fix",          "heartbeat",    "malformed",       "bad_checksum",     "bad_timestamp",
      "bad_vehicle_id",  "out_of_range", "unknown_vehicle", "wrong_format",     "too_long",
      "unterminated",    "fix_too_old",  "fix_in_future",   "vehicle_mismatch", "unregistered",
      "source_mismatch", "auth_failed",  "unauthenticated"};
  ASSERT_EQ(std::size(expected), kLineOutcomeCount);
  for (size_t i = 0; i < kLineOutcomeCount; ++i) {
    EXPECT_EQ(LineOutcomeName(static_cast<LineOutcome>(i)), expected[i]);
  }
}

TEST(LineOutcomeToStatusTest, AcceptedOutcomesAreOk) {
  for (LineOutcome o :
       {LineOutcome::kPublished, LineOutcome::kMerged, LineOutcome::kIdentified,
        LineOutcome::kIgnored, LineOutcome::kEmpty, LineOutcome::kNoFix, LineOutcome::kHeartbeat}) {
    EXPECT_FALSE(IsRejection(o));
    EXPECT_TRUE(LineOutcomeToStatus(o, "x").ok());
  }
}

TEST(LineOutcomeToStatusTest, RejectionsCarryReasonAndDetail) {
  const absl::Status s = LineOutcomeToStatus(LineOutcome::kBadChecksum, "line 3");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()), "bad_checksum: line 3");
  const absl::Status range = LineOutcomeToStatus(LineOutcome::kOutOfRange);
  EXPECT_EQ(range.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(std::string(range.message()), "out_of_range");
  for (size_t i = static_cast<size_t>(LineOutcome::kMalformed); i < kLineOutcomeCount; ++i) {
    EXPECT_TRUE(IsRejection(static_cast<LineOutcome>(i)));
    EXPECT_FALSE(LineOutcomeToStatus(static_cast<LineOutcome>(i)).ok());
  }
}

}  // namespace
}  // namespace fixstream::ingest
