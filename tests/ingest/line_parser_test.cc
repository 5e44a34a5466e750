#include "ingest/line_parser.h"

#include <random>
#include <string>

#include "gtest/gtest.h"
#include "ingest/validate.h"
#include "record_collector.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kClassicFix = 764426119LL * kS;
constexpr std::string_view kCsv = "bus-17,2026-11-24T10:15:30Z,52.520008,13.404954,8.5";
constexpr std::string_view kJson =
    R"({"vehicle_id":"bus-17","timestamp":"2026-11-24T10:15:30Z","lat":52.52,"lon":13.40})";
constexpr std::string_view kRmc =
    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";
constexpr std::string_view kGga =
    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";

TEST(LineParserTest, DetectsFormatByFirstByte) {
  LineParser parser;
  RecordCollector sink;
  EXPECT_EQ(parser.Parse(kCsv, 0, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse(kJson, 0, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse("$PFSID,bus-17*2B", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kPublished);
  parser.Flush(sink);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[0].format, SourceFormat::kCsv);
  EXPECT_EQ(sink.records[1].format, SourceFormat::kJson);
  EXPECT_EQ(sink.records[2].format, SourceFormat::kNmea);
  EXPECT_EQ(sink.records[2].vehicle_id(), "bus-17");
}

TEST(LineParserTest, EmptyLine) {
  LineParser parser;
  RecordCollector sink;
  EXPECT_EQ(parser.Parse("", 0, sink), LineOutcome::kEmpty);
  LineParser pinned(LineParserOptions{.pinned_format = SourceFormat::kJson, .fix_time_window = {}});
  EXPECT_EQ(pinned.Parse("", 0, sink), LineOutcome::kEmpty);
  EXPECT_TRUE(sink.records.empty());
}

struct PinnedCase {
  SourceFormat pinned;
  std::string_view line;
  LineOutcome outcome;
};

class PinnedFormatTest : public ::testing::TestWithParam<PinnedCase> {};

TEST_P(PinnedFormatTest, RejectsOtherFormats) {
  const PinnedCase& c = GetParam();
  LineParser parser(LineParserOptions{.pinned_format = c.pinned, .fix_time_window = {}});
  RecordCollector sink;
  EXPECT_EQ(parser.Parse(c.line, kClassicFix, sink), c.outcome) << c.line;
}

INSTANTIATE_TEST_SUITE_P(
    Table, PinnedFormatTest,
    ::testing::Values(PinnedCase{SourceFormat::kCsv, kCsv, LineOutcome::kPublished},
                      PinnedCase{SourceFormat::kCsv, kJson, LineOutcome::kWrongFormat},
                      PinnedCase{SourceFormat::kCsv, kRmc, LineOutcome::kWrongFormat},
                      PinnedCase{SourceFormat::kJson, kJson, LineOutcome::kPublished},
                      PinnedCase{SourceFormat::kJson, kCsv, LineOutcome::kWrongFormat},
                      PinnedCase{SourceFormat::kNmea, "$PFSID,v1", LineOutcome::kIdentified},
                      PinnedCase{SourceFormat::kNmea, kCsv, LineOutcome::kWrongFormat},
                      PinnedCase{SourceFormat::kNmea, kJson, LineOutcome::kWrongFormat}));

TEST(LineParserTest, UnidentifiedNmeaIsUnknownVehicle) {
  LineParser parser;
  RecordCollector sink;
  EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kUnknownVehicle);
  EXPECT_EQ(parser.identified_vehicle(), "");
  EXPECT_EQ(parser.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(parser.identified_vehicle(), "bus-17");
  EXPECT_EQ(parser.Parse("$PFSID,bus-18", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(parser.identified_vehicle(), "bus-18");
}

// A listener that knows the connection's vehicle (source address, first
// line): NMEA needs no $PFSID, and no line may claim another vehicle.
TEST(LineParserTest, ConnectionVehicleIdentifiesNmeaWithoutPfsid) {
  LineParser parser;
  RecordCollector sink;
  parser.SetConnectionVehicle("bus-17");
  EXPECT_EQ(parser.identified_vehicle(), "bus-17");
  EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse(kGga, kClassicFix, sink), LineOutcome::kMerged);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].vehicle_id(), "bus-17");
}

TEST(LineParserTest, ConnectionVehicleRejectsLinesNamingAnotherVehicle) {
  struct Case {
    std::string_view line;
    LineOutcome outcome;
  };
  const Case cases[] = {
      {kCsv, LineOutcome::kPublished},  // names bus-17 itself
      {kJson, LineOutcome::kPublished},
      {"bus-18,2026-11-24T10:15:30Z,52.520008,13.404954,8.5", LineOutcome::kVehicleMismatch},
      {R"({"vehicle_id":"bus-18","timestamp":"2026-11-24T10:15:30Z","lat":52.52,"lon":13.40})",
       LineOutcome::kVehicleMismatch},
      {"$PFSID,bus-17*2B", LineOutcome::kIdentified},  // confirms: changes nothing
      {"$PFSID,bus-18", LineOutcome::kVehicleMismatch},
      {"$PFSID,bus 18", LineOutcome::kBadVehicleId},
      {"$PFSID,bus-17,x", LineOutcome::kMalformed},
      {"$PFSID,bus-17*00", LineOutcome::kBadChecksum},
      // Other checks keep their order: a malformed line naming another
      // vehicle is malformed.
      {"bus-18,2026-11-24T10:15:30Z,52.52", LineOutcome::kMalformed},
  };
  for (const Case& c : cases) {
    LineParser parser;
    RecordCollector sink;
    parser.SetConnectionVehicle("bus-17");
    EXPECT_EQ(parser.Parse(c.line, 1795515330LL * kS, sink), c.outcome) << c.line;
    EXPECT_EQ(sink.records.size(), c.outcome == LineOutcome::kPublished ? 1u : 0u) << c.line;
    // Whatever the line said, NMEA stays attributed to the connection's vehicle.
    EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kPublished) << c.line;
    parser.Flush(sink);
    EXPECT_EQ(sink.records.back().vehicle_id(), "bus-17") << c.line;
  }
}

TEST(LineParserTest, MismatchingPfsidKeepsThePendingFixMerging) {
  LineParser parser;
  RecordCollector sink;
  parser.SetConnectionVehicle("bus-17");
  EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse("$PFSID,bus-18", 0, sink), LineOutcome::kVehicleMismatch);
  EXPECT_EQ(parser.Parse(kGga, kClassicFix, sink), LineOutcome::kMerged);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].vehicle_id(), "bus-17");
}

TEST(LineParserTest, MergesNmeaAndFlushesPending) {
  LineParser parser;
  RecordCollector sink;
  ASSERT_EQ(parser.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(parser.Parse(kGga, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kMerged);
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(sink.records.size(), 1u);
  // A CSV record first emits the pending NMEA fix (line order is kept).
  EXPECT_EQ(parser.Parse(kCsv, 0, sink), LineOutcome::kPublished);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[1].format, SourceFormat::kNmea);
  EXPECT_EQ(sink.records[2].format, SourceFormat::kCsv);
  parser.Flush(sink);
  EXPECT_EQ(sink.records.size(), 3u);
}

TEST(LineParserTest, CsvAfterPendingNmeaKeepsLineOrder) {
  LineParser parser;
  RecordCollector sink;
  ASSERT_EQ(parser.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  ASSERT_EQ(parser.Parse(kRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_TRUE(sink.records.empty());  // pending until its GGA or another record
  ASSERT_EQ(parser.Parse(kCsv, 0, sink), LineOutcome::kPublished);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].format, SourceFormat::kNmea);
  EXPECT_EQ(sink.records[1].format, SourceFormat::kCsv);
  ASSERT_EQ(parser.Parse(kJson, 0, sink), LineOutcome::kPublished);
  parser.Flush(sink);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[2].format, SourceFormat::kJson);
}

TEST(LineParserTest, GgaMergesWithRmcOfTheSameTimeOfDayWhateverTheReceiveDate) {
  // The classic RMC is dated 1994-03-23; the GGA would be dated from a
  // receive clock a year off. They still describe one fix.
  constexpr int64_t kReceivedMuchLater = kClassicFix + 400LL * 86'400 * kS;
  for (bool rmc_first : {true, false}) {
    LineParser parser;
    RecordCollector sink;
    ASSERT_EQ(parser.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
    EXPECT_EQ(parser.Parse(rmc_first ? kRmc : kGga, kReceivedMuchLater, sink),
              LineOutcome::kPublished);
    EXPECT_EQ(parser.Parse(rmc_first ? kGga : kRmc, kReceivedMuchLater, sink),
              LineOutcome::kMerged);
    parser.Flush(sink);
    ASSERT_EQ(sink.records.size(), 1u) << rmc_first;
    EXPECT_EQ(sink.records[0].fix_time_unix_ns, kClassicFix);
    EXPECT_TRUE(sink.records[0].has(LocationRecord::kAltitude));
    EXPECT_TRUE(sink.records[0].has(LocationRecord::kSpeed));
  }
}

TEST(LineParserTest, FixTimesOutsideTheWindowAreRejectedForEveryFormat) {
  // The window is relative to the receive time; kRmc/kGga are dated
  // kClassicFix, kCsv/kJson 2026-11-24T10:15:30Z.
  constexpr int64_t kCsvFix = 1'795'515'330LL * kS;
  const FixTimeWindow window{.max_age_ns = 3600 * kS, .max_lead_ns = 60 * kS};
  LineParser parser(LineParserOptions{.pinned_format = std::nullopt, .fix_time_window = window});
  RecordCollector sink;
  ASSERT_EQ(parser.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  struct Case {
    std::string_view line;
    int64_t receive;
    LineOutcome outcome;
  } cases[] = {
      {kCsv, kCsvFix, LineOutcome::kPublished},
      {kCsv, kCsvFix + 3600 * kS, LineOutcome::kPublished},  // exactly the max age
      {kCsv, kCsvFix + 3601 * kS, LineOutcome::kFixTooOld},
      {kJson, kCsvFix - 60 * kS, LineOutcome::kPublished},  // exactly the max lead
      {kJson, kCsvFix - 61 * kS, LineOutcome::kFixInFuture},
      {kRmc, kClassicFix + 7200 * kS, LineOutcome::kFixTooOld},
      {kRmc, kClassicFix - 7200 * kS, LineOutcome::kFixInFuture},
      {kGga, kClassicFix + 10 * kS, LineOutcome::kPublished},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parser.Parse(c.line, c.receive, sink), c.outcome) << c.line << " @" << c.receive;
  }
  parser.Flush(sink);
  EXPECT_EQ(sink.records.size(), 4u);
}

// A "\r\r\n" line ending leaves a "\r" after framing: NMEA ignores it
// (receivers behind modems send it), JSON reads it as whitespace, and CSV
// keeps its strict syntax (the last field is not a number).
TEST(LineParserTest, TrailingCarriageReturnPerFormat) {
  LineParser parser;
  RecordCollector sink;
  ASSERT_EQ(parser.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(parser.Parse(std::string(kRmc) + "\r", kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse(std::string(kJson) + "\r", 0, sink), LineOutcome::kPublished);
  EXPECT_EQ(parser.Parse(std::string(kCsv) + "\r", 0, sink), LineOutcome::kMalformed);
  parser.Flush(sink);
  EXPECT_EQ(sink.records.size(), 2u);
}

TEST(LineParserTest, BinaryGarbageIsRejectedNeverCrashes) {
  LineParser parser;
  RecordCollector sink;
  std::mt19937 rng(7);
  std::string line;
  for (int i = 0; i < 20000; ++i) {
    line.clear();
    const int length = 1 + static_cast<int>(rng() % 200);
    for (int j = 0; j < length; ++j) line.push_back(static_cast<char>(rng()));
    if (i % 3 == 1) line[0] = '$';
    if (i % 3 == 2) line[0] = '{';
    const LineOutcome outcome = parser.Parse(line, kClassicFix, sink);
    ASSERT_LT(static_cast<size_t>(outcome), kLineOutcomeCount);
    EXPECT_TRUE(IsRejection(outcome) || outcome == LineOutcome::kIgnored) << i;
  }
  parser.Flush(sink);
  for (const LocationRecord& r : sink.records) EXPECT_TRUE(IsInRange(r));
}

}  // namespace
}  // namespace fixstream::ingest
