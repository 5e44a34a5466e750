#include "ingest/nmea.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "ingest/timestamp.h"
#include "record_collector.h"

namespace fixstream::ingest {
namespace {

constexpr int64_t kS = kNanosPerSecond;
// The classic sentences' fix: 12:35:19 on 23.03.1994 (two-digit years 80-99 are 19yy).
constexpr int64_t kClassicFix = 764426119LL * kS;

constexpr std::string_view kClassicRmc =
    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";
constexpr std::string_view kClassicGga =
    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";

TEST(ParseRmcTest, ParsesClassicSentence) {
  NmeaSentence s;
  LineOutcome rejection;
  ASSERT_TRUE(ParseNmeaEnvelope(kClassicRmc, &s, &rejection));
  ASSERT_EQ(s.kind, NmeaSentence::Kind::kRmc);
  LocationRecord r;
  ASSERT_EQ(ParseRmc(s, &r), LineOutcome::kPublished);
  EXPECT_EQ(r.format, SourceFormat::kNmea);
  EXPECT_EQ(r.fix_time_unix_ns, kClassicFix);
  EXPECT_DOUBLE_EQ(r.latitude, 48 + 7.038 / 60);
  EXPECT_DOUBLE_EQ(r.longitude, 11 + 31.0 / 60);
  EXPECT_DOUBLE_EQ(r.speed_mps, 22.4 * 1852.0 / 3600.0);
  EXPECT_DOUBLE_EQ(r.heading_deg, 84.4);
  EXPECT_EQ(r.present, LocationRecord::kSpeed | LocationRecord::kHeading);
}

TEST(ParseGgaTest, ParsesClassicSentence) {
  NmeaSentence s;
  LineOutcome rejection;
  ASSERT_TRUE(ParseNmeaEnvelope(kClassicGga, &s, &rejection));
  ASSERT_EQ(s.kind, NmeaSentence::Kind::kGga);
  LocationRecord r;
  ASSERT_EQ(ParseGga(s, kClassicFix + 2 * kS, &r), LineOutcome::kPublished);
  EXPECT_EQ(r.fix_time_unix_ns, kClassicFix);
  EXPECT_DOUBLE_EQ(r.latitude, 48 + 7.038 / 60);
  EXPECT_DOUBLE_EQ(r.longitude, 11 + 31.0 / 60);
  EXPECT_DOUBLE_EQ(r.altitude_m, 545.4);
  EXPECT_EQ(r.satellites, 8u);
  EXPECT_DOUBLE_EQ(r.hdop, 0.9);
  EXPECT_EQ(r.present, LocationRecord::kAltitude | LocationRecord::kSatellites |
                           LocationRecord::kHdop | LocationRecord::kFixQuality);
  EXPECT_EQ(r.fix_quality, FixQuality::kGps);
}

struct GgaDatingCase {
  const char* name;
  std::string_view sentence;
  int64_t receive_ns;
  int64_t want_fix_ns;
};

class GgaDatingTest : public ::testing::TestWithParam<GgaDatingCase> {};

TEST_P(GgaDatingTest, PicksNearestDay) {
  const GgaDatingCase& c = GetParam();
  NmeaSentence s;
  LineOutcome rejection;
  ASSERT_TRUE(ParseNmeaEnvelope(c.sentence, &s, &rejection));
  LocationRecord r;
  ASSERT_EQ(ParseGga(s, c.receive_ns, &r), LineOutcome::kPublished);
  EXPECT_EQ(r.fix_time_unix_ns, c.want_fix_ns) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Midnight, GgaDatingTest,
    ::testing::Values(
        // 23:59:59 fix received at 00:00:02 the next day: previous day.
        GgaDatingCase{"late fix",
                      "$BDGGA,235959.00,3954.4536,N,11623.3672,E,2,20,0.6,43.2,M,-8.1,M,,*52",
                      1795564802LL * kS, 1795564799LL * kS},
        // 00:00:01 fix received at 23:59:58 the day before: next day.
        GgaDatingCase{"early fix",
                      "$GPGGA,000001.00,3954.4536,N,11623.3672,E,1,09,1.0,43.2,M,-8.1,M,,*4C",
                      1795564798LL * kS, 1795564801LL * kS},
        // Same day.
        GgaDatingCase{"same day",
                      "$GPGGA,000001.00,3954.4536,N,11623.3672,E,1,09,1.0,43.2,M,-8.1,M,,*4C",
                      1795564802LL * kS, 1795564801LL * kS}));

TEST(ParseNmeaAngleTest, ConvertsDegreesAndMinutes) {
  double d;
  ASSERT_EQ(ParseNmeaAngle("4807.038", &d), LineOutcome::kPublished);
  EXPECT_DOUBLE_EQ(d, 48.1173);
  ASSERT_EQ(ParseNmeaAngle("01131.000", &d), LineOutcome::kPublished);
  EXPECT_DOUBLE_EQ(d, 11 + 31.0 / 60);
  ASSERT_EQ(ParseNmeaAngle("0000", &d), LineOutcome::kPublished);
  EXPECT_EQ(d, 0);
  ASSERT_EQ(ParseNmeaAngle("4859.99999999999999999999999", &d), LineOutcome::kPublished);
  EXPECT_NEAR(d, 49, 1e-12);
  EXPECT_EQ(ParseNmeaAngle("4860.0", &d), LineOutcome::kOutOfRange);
  EXPECT_EQ(ParseNmeaAngle("", &d), LineOutcome::kMalformed);
  EXPECT_EQ(ParseNmeaAngle("48.", &d), LineOutcome::kMalformed);
  EXPECT_EQ(ParseNmeaAngle(".5", &d), LineOutcome::kMalformed);
  EXPECT_EQ(ParseNmeaAngle("-4807.0", &d), LineOutcome::kMalformed);
  EXPECT_EQ(ParseNmeaAngle("123456.0", &d), LineOutcome::kMalformed);
}

TEST(ParseNmeaTimeOfDayTest, ParsesAndValidates) {
  int64_t ns;
  ASSERT_TRUE(ParseNmeaTimeOfDay("123519", &ns));
  EXPECT_EQ(ns, (12 * 3600 + 35 * 60 + 19) * kS);
  ASSERT_TRUE(ParseNmeaTimeOfDay("123519.25", &ns));
  EXPECT_EQ(ns, (12 * 3600 + 35 * 60 + 19) * kS + 250'000'000);
  ASSERT_TRUE(ParseNmeaTimeOfDay("235960", &ns));
  EXPECT_EQ(ns, 86400 * kS - 1);
  for (std::string_view bad : {"", "12351", "243519", "126019", "123561", "123519.", "1235a9",
                               "123519.1234567890", "123519,5"}) {
    EXPECT_FALSE(ParseNmeaTimeOfDay(bad, &ns)) << bad;
  }
}

TEST(ParseNmeaEnvelopeTest, ClassifiesSentences) {
  struct Case {
    std::string_view line;
    NmeaSentence::Kind kind;
  };
  for (const Case& c : {
           Case{kClassicRmc, NmeaSentence::Kind::kRmc},
           Case{"$GNRMC,101530.00,A,5231.20048,N,01324.29724,E,0.123,270.5,241126,,,A*41",
                NmeaSentence::Kind::kRmc},
           Case{kClassicGga, NmeaSentence::Kind::kGga},
           Case{"$PFSID,bus-17*2B", NmeaSentence::Kind::kIdentification},
           Case{"$PFSID,bus-17", NmeaSentence::Kind::kIdentification},
           Case{"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
                NmeaSentence::Kind::kOther},
           Case{"$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39", NmeaSentence::Kind::kOther},
           Case{"$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48", NmeaSentence::Kind::kOther},
           Case{"$GPTXT,01,01,02,ANTSTATUS=OK*3B", NmeaSentence::Kind::kOther},
           Case{"$GPGLL,4916.45,N,12311.12,W,225444,A", NmeaSentence::Kind::kGll},
       }) {
    NmeaSentence s;
    LineOutcome rejection;
    ASSERT_TRUE(ParseNmeaEnvelope(c.line, &s, &rejection)) << c.line;
    EXPECT_EQ(s.kind, c.kind) << c.line;
  }
}

// The envelope scans eight bytes at a time, so every field count and line
// length must split the same as a byte-by-byte reading: 16 fields is the
// limit, and fields straddling or ending at a word boundary keep their bytes.
TEST(ParseNmeaEnvelopeTest, SplitsFieldsAtEveryLength) {
  for (size_t fields = 1; fields <= kMaxNmeaFields + 2; ++fields) {
    for (size_t width = 0; width <= 9; ++width) {
      std::string body = "GPRMC";
      for (size_t i = 1; i < fields; ++i)
        body += "," + std::string(width, static_cast<char>('a' + i));
      for (bool with_checksum : {false, true}) {
        std::string line = "$" + body;
        if (with_checksum) {
          unsigned checksum = 0;
          for (char c : body) checksum ^= static_cast<unsigned char>(c);
          char suffix[4];
          std::snprintf(suffix, sizeof suffix, "*%02X", checksum);
          line += suffix;
        }
        NmeaSentence s;
        LineOutcome rejection;
        const bool ok = ParseNmeaEnvelope(line, &s, &rejection);
        ASSERT_EQ(ok, fields <= kMaxNmeaFields) << line;
        if (!ok) {
          EXPECT_EQ(rejection, LineOutcome::kMalformed) << line;
          continue;
        }
        ASSERT_EQ(s.field_count, fields) << line;
        EXPECT_EQ(s.fields[0], "GPRMC");
        for (size_t i = 1; i < fields; ++i) {
          EXPECT_EQ(s.fields[i], std::string(width, static_cast<char>('a' + i))) << line;
        }
      }
    }
  }
}

TEST(ParseNmeaEnvelopeTest, RejectsNonPrintableByteAnywhereBeforeChecksum) {
  const std::string line(kClassicRmc);
  const size_t star = line.find('*');
  for (size_t i = 1; i < star; ++i) {
    for (char bad : {'\x01', '\x7f', '\x80', '\xff'}) {
      std::string corrupt = line;
      corrupt[i] = bad;
      NmeaSentence s;
      LineOutcome rejection;
      EXPECT_FALSE(ParseNmeaEnvelope(corrupt, &s, &rejection)) << i;
      EXPECT_EQ(rejection, LineOutcome::kMalformed) << i;
      // Without the checksum, the same byte is still the first problem.
      EXPECT_FALSE(ParseNmeaEnvelope(std::string_view(corrupt).substr(0, star), &s, &rejection));
      EXPECT_EQ(rejection, LineOutcome::kMalformed) << i;
    }
  }
}

// A sink-driven session test table: identification first, then one line.
struct SessionCase {
  const char* name;
  std::string line;
  LineOutcome outcome;
};

class NmeaSessionRejectTest : public ::testing::TestWithParam<SessionCase> {};

TEST_P(NmeaSessionRejectTest, Outcome) {
  const SessionCase& c = GetParam();
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17*2B", kClassicFix, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(c.line, kClassicFix, sink), c.outcome) << c.name << ": " << c.line;
  session.Flush(sink);
  if (c.outcome != LineOutcome::kPublished) {
    EXPECT_TRUE(sink.records.empty()) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, NmeaSessionRejectTest,
    ::testing::Values(
        SessionCase{"gn rmc",
                    "$GNRMC,101530.00,A,5231.20048,N,01324.29724,E,0.123,270.5,241126,,,A*41",
                    LineOutcome::kPublished},
        SessionCase{"gl rmc south, no course",
                    "$GLRMC,235959.50,A,3352.1234,S,15112.5678,E,10.0,,241126,,,D*4A",
                    LineOutcome::kPublished},
        SessionCase{"ga rmc west, nmea 4.1",
                    "$GARMC,000000,A,4043.6000,N,07400.3600,W,0.0,0.0,010126,,,A,V*0E",
                    LineOutcome::kPublished},
        SessionCase{"no checksum",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",
                    LineOutcome::kPublished},
        SessionCase{"lowercase checksum",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6a",
                    LineOutcome::kPublished},
        SessionCase{"leap second", "$GPRMC,235960,A,4807.038,N,01131.000,E,1.0,,311224,,,A*51",
                    LineOutcome::kPublished},
        SessionCase{"leap day", "$GPRMC,120000,A,4807.038,N,01131.000,E,1.0,,290224,,,A*51",
                    LineOutcome::kPublished},
        SessionCase{"rmc no fix", "$GPRMC,081836,V,,,,,,,130998,,*3F", LineOutcome::kNoFix},
        SessionCase{"gga no fix", "$GPGGA,081836,,,,,0,00,,,M,,M,,*62", LineOutcome::kNoFix},
        SessionCase{"gsv", "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
                    LineOutcome::kIgnored},
        SessionCase{"gsa", "$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39",
                    LineOutcome::kIgnored},
        SessionCase{"vtg", "$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48", LineOutcome::kIgnored},
        SessionCase{"txt", "$GPTXT,01,01,02,ANTSTATUS=OK*3B", LineOutcome::kIgnored},
        SessionCase{"gsv bad checksum",
                    "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*75",
                    LineOutcome::kBadChecksum},
        SessionCase{"rmc bad checksum",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6B",
                    LineOutcome::kBadChecksum},
        SessionCase{"corrupted digit",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230395,003.1,W*6A",
                    LineOutcome::kBadChecksum},
        SessionCase{"checksum one digit",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6",
                    LineOutcome::kMalformed},
        SessionCase{"checksum three digits",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A0",
                    LineOutcome::kMalformed},
        SessionCase{"checksum not hex",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6G",
                    LineOutcome::kMalformed},
        SessionCase{"empty checksum",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*",
                    LineOutcome::kMalformed},
        SessionCase{"lat > 90",
                    "$GPRMC,123519,A,9107.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6E",
                    LineOutcome::kOutOfRange},
        SessionCase{"minutes >= 60",
                    "$GPRMC,123519,A,4860.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6B",
                    LineOutcome::kOutOfRange},
        SessionCase{"negative speed",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,-022.4,084.4,230394,003.1,W*47",
                    LineOutcome::kOutOfRange},
        SessionCase{"course 360",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,360.0,230394,003.1,W*67",
                    LineOutcome::kOutOfRange},
        SessionCase{"altitude",
                    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,999999.0,M,46.9,M,,*77",
                    LineOutcome::kOutOfRange},
        SessionCase{"30 february",
                    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,300294,003.1,W*69",
                    LineOutcome::kBadTimestamp},
        SessionCase{"minute 60",
                    "$GPRMC,126019,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
                    LineOutcome::kBadTimestamp},
        SessionCase{"no date", "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,,003.1,W",
                    LineOutcome::kBadTimestamp},
        SessionCase{"bad hemisphere",
                    "$GPRMC,123519,A,4807.038,X,01131.000,E,022.4,084.4,230394,003.1,W*7C",
                    LineOutcome::kMalformed},
        SessionCase{"bad digit",
                    "$GPRMC,123519,A,48a7.038,N,01131.000,E,022.4,084.4,230394,003.1,W*3B",
                    LineOutcome::kMalformed},
        SessionCase{"rmc bad status",
                    "$GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",
                    LineOutcome::kMalformed},
        SessionCase{"rmc too few fields", "$GPRMC,123519,A,4807.038,N,01131.000,E",
                    LineOutcome::kMalformed},
        SessionCase{"gga too few fields", "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4",
                    LineOutcome::kMalformed},
        SessionCase{"gga bad quality",
                    "$GPGGA,123519,4807.038,N,01131.000,E,x,08,0.9,545.4,M,46.9,M,,",
                    LineOutcome::kMalformed},
        SessionCase{"gga bad altitude unit",
                    "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,F,46.9,M,,",
                    LineOutcome::kMalformed},
        SessionCase{"gga bad satellites",
                    "$GPGGA,123519,4807.038,N,01131.000,E,1,-8,0.9,545.4,M,46.9,M,,",
                    LineOutcome::kMalformed},
        SessionCase{"too many fields", "$GPRMC" + std::string(40, ','), LineOutcome::kMalformed},
        SessionCase{"lowercase address", "$gprmc,123519,A", LineOutcome::kMalformed},
        SessionCase{"no address", "$,123519", LineOutcome::kMalformed},
        SessionCase{"only dollar", "$", LineOutcome::kMalformed},
        SessionCase{"control byte",
                    std::string("$GPRMC,1235\x01"
                                "19,A"),
                    LineOutcome::kMalformed},
        SessionCase{"nul byte", std::string("$GPGSV\0,1", 9), LineOutcome::kMalformed},
        SessionCase{"high bytes", "$GPRMC,\xff\xfe\xfd", LineOutcome::kMalformed},
        SessionCase{"bad id", "$PFSID,bad id!*0F", LineOutcome::kBadVehicleId},
        SessionCase{"empty id", "$PFSID,", LineOutcome::kBadVehicleId},
        SessionCase{"id extra field", "$PFSID,a,b", LineOutcome::kMalformed}));

TEST(NmeaSessionTest, RejectsPositionsBeforeIdentification) {
  NmeaSession session;
  RecordCollector sink;
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kUnknownVehicle);
  EXPECT_EQ(session.Parse(kClassicGga, kClassicFix, sink), LineOutcome::kUnknownVehicle);
  EXPECT_EQ(session.Parse("$GPRMC,081836,V,,,,,,,130998,,*3F", kClassicFix, sink),
            LineOutcome::kUnknownVehicle);
  // Ignored sentences and checksum errors do not need an identity.
  EXPECT_EQ(session.Parse("$GPTXT,01,01,02,ANTSTATUS=OK*3B", kClassicFix, sink),
            LineOutcome::kIgnored);
  EXPECT_EQ(session.Parse("$GPTXT,01,01,02,ANTSTATUS=OK*3C", kClassicFix, sink),
            LineOutcome::kBadChecksum);
  session.Flush(sink);
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(session.vehicle_id(), "");
}

TEST(NmeaSessionTest, MergesRmcThenGga) {
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17*2B", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(session.Parse(kClassicGga, kClassicFix, sink), LineOutcome::kMerged);
  ASSERT_EQ(sink.records.size(), 1u);
  const LocationRecord& r = sink.records[0];
  EXPECT_EQ(r.vehicle_id(), "bus-17");
  EXPECT_EQ(r.fix_time_unix_ns, kClassicFix);
  EXPECT_DOUBLE_EQ(r.speed_mps, 22.4 * 1852.0 / 3600.0);
  EXPECT_DOUBLE_EQ(r.heading_deg, 84.4);
  EXPECT_DOUBLE_EQ(r.altitude_m, 545.4);
  EXPECT_EQ(r.satellites, 8u);
  EXPECT_DOUBLE_EQ(r.hdop, 0.9);
  EXPECT_EQ(r.present, LocationRecord::kSpeed | LocationRecord::kHeading |
                           LocationRecord::kAltitude | LocationRecord::kSatellites |
                           LocationRecord::kHdop | LocationRecord::kFixQuality);
  EXPECT_EQ(r.fix_quality, FixQuality::kGps);
  session.Flush(sink);
  EXPECT_EQ(sink.records.size(), 1u);  // nothing pending after a merge
}

TEST(NmeaSessionTest, MergesGgaThenRmcUsingRmcPosition) {
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(
      session.Parse("$GNGGA,101530.00,5231.20048,N,01324.29724,E,1,12,0.78,34.5,M,44.1,M,,*7E",
                    1795515330LL * kS, sink),
      LineOutcome::kPublished);
  EXPECT_EQ(session.Parse("$GNRMC,101530.00,A,5231.20048,N,01324.29724,E,0.123,270.5,241126,,,A*41",
                          1795515330LL * kS, sink),
            LineOutcome::kMerged);
  ASSERT_EQ(sink.records.size(), 1u);
  const LocationRecord& r = sink.records[0];
  EXPECT_EQ(r.fix_time_unix_ns, 1795515330LL * kS);
  EXPECT_DOUBLE_EQ(r.latitude, 52 + 31.20048 / 60);
  EXPECT_DOUBLE_EQ(r.speed_mps, 0.123 * 1852.0 / 3600.0);
  EXPECT_DOUBLE_EQ(r.heading_deg, 270.5);
  EXPECT_DOUBLE_EQ(r.altitude_m, 34.5);
  EXPECT_EQ(r.satellites, 12u);
  EXPECT_DOUBLE_EQ(r.hdop, 0.78);
}

TEST(NmeaSessionTest, DifferentFixTimeEmitsPendingFirst) {
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kPublished);
  // A GGA one second later is another fix: the pending RMC goes out alone.
  constexpr std::string_view kNextSecondGga =
      "$GPGGA,123520,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*4D";
  EXPECT_EQ(session.Parse(kNextSecondGga, kClassicFix, sink), LineOutcome::kPublished);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(sink.records[0].has(LocationRecord::kSpeed));
  EXPECT_FALSE(sink.records[0].has(LocationRecord::kAltitude));
  session.Flush(sink);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].fix_time_unix_ns, kClassicFix + kS);
  EXPECT_FALSE(sink.records[1].has(LocationRecord::kSpeed));
  EXPECT_TRUE(sink.records[1].has(LocationRecord::kAltitude));
}

TEST(NmeaSessionTest, DuplicateTypeEmitsPendingAndStartsNewFix) {
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kPublished);
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(session.Parse(kClassicGga, kClassicFix, sink), LineOutcome::kMerged);
  EXPECT_EQ(sink.records.size(), 2u);
  EXPECT_TRUE(sink.records[1].has(LocationRecord::kAltitude));
}

TEST(NmeaSessionTest, ReidentificationFlushesAndRelabels) {
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kPublished);
  ASSERT_EQ(session.Parse("$PFSID,bus-18", 0, sink), LineOutcome::kIdentified);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].vehicle_id(), "bus-17");
  EXPECT_EQ(session.vehicle_id(), "bus-18");
  // The GGA does not merge into bus-17's fix.
  EXPECT_EQ(session.Parse(kClassicGga, kClassicFix, sink), LineOutcome::kPublished);
  session.Flush(sink);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].vehicle_id(), "bus-18");
  // A bad re-identification keeps the previous id.
  EXPECT_EQ(session.Parse("$PFSID,bad id!*0F", 0, sink), LineOutcome::kBadVehicleId);
  EXPECT_EQ(session.vehicle_id(), "bus-18");
}

TEST(NmeaSessionTest, SameIdentificationKeepsPendingFix) {
  NmeaSession session;
  RecordCollector sink;
  ASSERT_EQ(session.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(kClassicRmc, kClassicFix, sink), LineOutcome::kPublished);
  ASSERT_EQ(session.Parse("$PFSID,bus-17", 0, sink), LineOutcome::kIdentified);
  EXPECT_EQ(session.Parse(kClassicGga, kClassicFix, sink), LineOutcome::kMerged);
  EXPECT_EQ(sink.records.size(), 1u);
}

}  // namespace
}  // namespace fixstream::ingest
