// TK103 through the framer and decoder (ingest/tk103.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

TEST(Tk103Test, HandshakeThenLoginWithPosition) {
  // The TK103 protocol document's handshake (BP00) and login (BP05).
  const DeviceRun run = RunDevice(
      DeviceProtocol::kTk103,
      {"(090411121800BP0000001234567890HSO)",
       "(090411121800BP05000090411121800120905A3957.4587N11620.1458E000.0083217000.0000000000"
       "L00000000)"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kIdentified, O::kPublished}));
  EXPECT_EQ(run.replies, "(090411121800AP01HSO)(090411121800AP05)");
  ASSERT_EQ(run.records.size(), 1u);
  const LocationRecord& r = run.records[0];
  EXPECT_EQ(r.vehicle_id(), "090411121800");
  EXPECT_EQ(r.fix_time_unix_ns, Utc("2012-09-05T08:32:17Z"));
  EXPECT_NEAR(r.latitude, 39.957645, 1e-9);
  EXPECT_NEAR(r.longitude, 116.335763333, 1e-8);
}

TEST(Tk103Test, CommaFormIsDatedDayFirst) {
  const DeviceRun run = RunDevice(
      DeviceProtocol::kTk103,
      {"(352606090042000,BP05,240414,A,4527.3500N,00909.9700E,4.80,112826,155.40)"}, kTestReceive);
  ASSERT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  EXPECT_EQ(run.records[0].fix_time_unix_ns, Utc("2014-04-24T11:28:26Z"));
  EXPECT_TRUE(run.replies.empty());  // Traccar answers only the classic form
}

TEST(Tk103Test, ParenthesisInsideFreeTextDoesNotEndTheFrame) {
  const DeviceRun run =
      RunDevice(DeviceProtocol::kTk103,
                {"(864555555555555,ZC03,191117,234207,$Notice: (v) 1.0$)", "(087073005500BP00HSO)"},
                kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kHeartbeat, O::kIdentified}));
}

}  // namespace
}  // namespace fixstream::ingest
