// Protocol names and auto-detection (ingest/device_protocol.cc).
#include "ingest/device_protocol.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

TEST(DeviceProtocolTest, NamesRoundTripAndPortsAreTraccars) {
  for (size_t i = 0; i < kDeviceProtocolCount; ++i) {
    const auto p = static_cast<DeviceProtocol>(i);
    EXPECT_EQ(DeviceProtocolFromName(DeviceProtocolName(p)), p);
    EXPECT_EQ(SourceFormatName(DeviceProtocolFormat(p)), DeviceProtocolName(p));
    ASSERT_NE(MakeProtocolDecoder(p), nullptr);
    EXPECT_EQ(MakeProtocolDecoder(p)->protocol(), p);
  }
  EXPECT_EQ(TraccarDefaultPort(DeviceProtocol::kH02), 5013);
  EXPECT_EQ(TraccarDefaultPort(DeviceProtocol::kOsmAnd), 5055);
  EXPECT_FALSE(DeviceProtocolFromName("gt06").has_value());
}

// Every prefix of `text`: need more, or `kind`/`protocol`; the whole: decided.
void ExpectDetected(const std::string& text, Detection::Kind kind,
                    DeviceProtocol protocol = DeviceProtocol::kH02) {
  bool decided = false;
  for (size_t k = 1; k <= text.size() && !decided; ++k) {
    const Detection d = DetectProtocol(std::string_view(text).substr(0, k));
    if (d.kind == Detection::Kind::kNeedMore) continue;
    decided = true;
    EXPECT_EQ(d.kind, kind) << text << " at " << k;
    if (kind == Detection::Kind::kDevice) {
      EXPECT_EQ(d.protocol, protocol) << text;
    }
  }
  EXPECT_TRUE(decided || text.size() < kMaxDetectionBytes) << text;
}

TEST(DetectProtocolTest, NeverMistakesTheLineFormats) {
  for (const std::string line : {
           "bus-17,2026-11-24T10:15:30Z,52.520008,13.404954\n",
           "359586015829802,1795515330000,52.5,13.4\n",  // a CSV id of IMEI digits
           "imei:42,1795515330000,52.5,13.4\n",          // ... see the GPS103 rule
           "ST300,1795515330000,52.5,13.4\n",
           "GET_17,1795515330000,52.5,13.4\n",
           "{\"vehicle_id\":\"bus-17\",\"timestamp\":1795515330000,\"lat\":1,\"lon\":2}\n",
           "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n",
           "$PFSID,bus-17*2B\r\n",
           "$GNGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n",
           "\r\n\r\nbus-17,2026-11-24T10:15:30Z,52.520008,13.404954\n",
       }) {
    const bool gps103_prefix = line.rfind("imei:", 0) == 0;
    if (gps103_prefix) {
      // "imei:" starts every GPS103 report, so a CSV id spelt so is read as
      // GPS103: documented in docs/PROTOCOL.md.
      ExpectDetected(line, Detection::Kind::kDevice, DeviceProtocol::kGps103);
    } else {
      ExpectDetected(line, Detection::Kind::kLines);
    }
  }
}

TEST(DetectProtocolTest, RecognisesEachProtocolsFirstBytes) {
  const std::pair<std::string, DeviceProtocol> cases[] = {
      {"*HQ,865205030330012,V1,", DeviceProtocol::kH02},
      {"##,imei:359586015829802,A;", DeviceProtocol::kGps103},
      {"359586015829802;", DeviceProtocol::kGps103},
      {"imei:359586015829802,tracker,", DeviceProtocol::kGps103},
      {"(090411121854BP05", DeviceProtocol::kTk103},
      {"[3G*8800000015*0002*LK]", DeviceProtocol::kWatch},
      {"+RESP:GTFRI,060100,", DeviceProtocol::kQueclink},
      {"+ACK:GTHBD,", DeviceProtocol::kQueclink},
      {"$$A138,012207005843985,AAA", DeviceProtocol::kMeitrack},
      {"ST300STT;100850000;", DeviceProtocol::kSuntech},
      {"STT;100850000;", DeviceProtocol::kSuntech},
      {"GET /?id=1 HTTP/1.1\r\n", DeviceProtocol::kOsmAnd},
      {"POST / HTTP/1.1\r\n", DeviceProtocol::kOsmAnd},
  };
  for (const auto& [text, protocol] : cases) {
    ExpectDetected(text, Detection::Kind::kDevice, protocol);
  }
}

TEST(DetectProtocolTest, DecidesAfterAtMostTheMaximumBytes) {
  const std::string id(kMaxDetectionBytes, 'a');
  EXPECT_EQ(DetectProtocol(id).kind, Detection::Kind::kLines);
  EXPECT_EQ(DetectProtocol("").kind, Detection::Kind::kNeedMore);
  EXPECT_EQ(DetectProtocol("$").kind, Detection::Kind::kNeedMore);
  EXPECT_EQ(DetectProtocol("$G").kind, Detection::Kind::kLines);
}

}  // namespace
}  // namespace fixstream::ingest
