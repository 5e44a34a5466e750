// Watch through the framer and decoder (ingest/watch.cc).
#include "device_harness.h"
#include "device_test_util.h"
#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

using O = LineOutcome;

TEST(WatchTest, LinkIsAnsweredAndAPositionPublished) {
  // The 3G watch protocol document's link keeping and location messages.
  const DeviceRun run = RunDevice(
      DeviceProtocol::kWatch,
      {"[3G*8800000015*000D*LK,50,100,100]",
       "[3G*8800000015*0087*UD,220414,134652,A,22.571707,N,113.8613968,E,0.1,0.0,100,7,60,90,"
       "1000,50,0000,4,1,460,0,9361,4083,132,9361,4093,149,9361,4092,144,9361,4154,142]"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kHeartbeat, O::kPublished}));
  EXPECT_EQ(run.replies, "[3G*8800000015*0002*LK]");
  ASSERT_EQ(run.records.size(), 1u);
  EXPECT_EQ(run.records[0].fix_time_unix_ns, Utc("2014-04-22T13:46:52Z"));
  EXPECT_NEAR(run.records[0].latitude, 22.571707, 1e-12);
  EXPECT_EQ(run.records[0].satellites, 7u);
}

TEST(WatchTest, AlarmIsAnsweredWithItsIndex) {
  const DeviceRun run = RunDevice(
      DeviceProtocol::kWatch,
      {"[ZJ*014111001332700*0075*0064*AL,040418,052157,A,22.536200,N,113.938600,E,0,0,0,5,100,"
       "81,1000,50,00100000,1,255,460,0,9341,3664,36]"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kPublished});
  EXPECT_EQ(run.replies, "[ZJ*014111001332700*0075*0002*AL]");
}

TEST(WatchTest, NestedBracketsAndEscapedBinaryStayInOneFrame) {
  // A voice/picture payload escapes ']' as "}\x03"; lists nest brackets.
  const std::string binary = std::string("[3G*8800000015*000C*TK,") + "}\x03}\x02\xff\x01" + "]";
  const DeviceRun run = RunDevice(DeviceProtocol::kWatch,
                                  {binary, "[3G*8800000015*0010*CONFIG,[a],[b]]"}, kTestReceive);
  EXPECT_EQ(run.outcomes, (std::vector<O>{O::kHeartbeat, O::kHeartbeat}));
  EXPECT_EQ(run.tail, MessageFramer::Tail::kNone);
}

TEST(WatchTest, InvalidFixIsNoFix) {
  const DeviceRun run = RunDevice(
      DeviceProtocol::kWatch,
      {"[SG*9051004074*0058*UD,120117,145602,V,40.058413,N,76.336618,W,11.519,188,99,00]"},
      kTestReceive);
  EXPECT_EQ(run.outcomes, std::vector<O>{O::kNoFix});
}

}  // namespace
}  // namespace fixstream::ingest
