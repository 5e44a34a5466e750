// fixstream-load's tracker messages (clients/track.h FormatTrackerMessage)
// read back through the gateway's own decoders: each protocol's message
// frames as one message, decodes to the fix it was made from, and asks for the
// reply a real tracker gets — so a load run measures what a real tracker of
// that protocol costs.
#include <cmath>
#include <string>
#include <vector>

#include "clients/track.h"
#include "gtest/gtest.h"
#include "ingest/device_protocol.h"
#include "ingest/location_record.h"
#include "ingest/message_framer.h"

namespace fixstream::clients {
namespace {

struct Collect : ingest::RecordSink {
  void OnRecord(const ingest::LocationRecord& r) override { records.push_back(r); }
  std::vector<ingest::LocationRecord> records;
};

std::string DeviceIdFor(TrackerProtocol p) {
  // H02 and Watch devices use 10-digit serials; the others 15-digit IMEIs.
  return p == TrackerProtocol::kH02 || p == TrackerProtocol::kWatch ? "4970105243"
                                                                    : "864035052942928";
}

class TrackerMessageTest : public ::testing::TestWithParam<int> {};

TEST_P(TrackerMessageTest, DecodesToTheFixItWasMadeFrom) {
  const auto protocol = static_cast<TrackerProtocol>(GetParam());
  const std::string name(TrackerProtocolName(protocol));
  const std::optional<ingest::DeviceProtocol> ours = ingest::DeviceProtocolFromName(name);
  ASSERT_TRUE(ours.has_value()) << name;
  ASSERT_EQ(ParseTrackerProtocol(name), protocol);
  const std::string id = DeviceIdFor(protocol);

  // Fixes a second apart on every continent's side of the zero meridian and
  // equator, as a Track drives them.
  for (const auto& origin : {std::pair{52.52, 13.40}, std::pair{-33.87, -70.65},
                             std::pair{0.05, -0.05}, std::pair{64.1, -21.9}}) {
    TrackOptions options;
    options.origin_latitude_deg = origin.first;
    options.origin_longitude_deg = origin.second;
    options.start_radius_deg = 0.04;
    options.start_time_unix_ms = 1'795'515'330'000;
    options.seed = 7;
    Track track(options);
    std::string bytes;
    std::vector<Fix> fixes;
    for (int i = 0; i < 50; ++i) {
      fixes.push_back(track.fix());
      FormatTrackerMessage(protocol, id, track.fix(), &bytes);
      track.Advance();
    }
    SCOPED_TRACE(name + ": " + bytes.substr(0, bytes.find('\n') + 1));
    const ingest::Detection detection = ingest::DetectProtocol(bytes.substr(0, 32));
    ASSERT_EQ(detection.kind, ingest::Detection::Kind::kDevice);
    EXPECT_EQ(detection.protocol, *ours);

    auto decoder = ingest::MakeProtocolDecoder(*ours);
    ingest::MessageFramer framer(*decoder, 4096);
    framer.Append(bytes);
    Collect sink;
    std::string reply;
    ingest::DeviceFrame frame;
    int messages = 0;
    while (framer.Next(&frame)) {
      ASSERT_EQ(frame.kind, ingest::DeviceFrame::Kind::kMessage) << frame.text;
      EXPECT_EQ(decoder->Decode(frame.text, 1'795'515'400'000'000'000, sink, &reply),
                ingest::LineOutcome::kPublished)
          << frame.text;
      ++messages;
    }
    EXPECT_EQ(messages, 50);
    if (protocol == TrackerProtocol::kH02) {
      // Every V1 is acknowledged (*HQ,<id>,V4,V1,<time>#): fixstream-load
      // reads and discards the replies, as a tracker does.
      size_t acks = 0;
      for (size_t at = reply.find(",V4,V1,"); at != std::string::npos;
           at = reply.find(",V4,V1,", at + 1)) {
        ++acks;
      }
      EXPECT_EQ(acks, fixes.size()) << reply.substr(0, 200);
    } else {
      EXPECT_EQ(reply, "");  // position reports these devices expect no answer to
    }
    ASSERT_EQ(sink.records.size(), fixes.size());
    for (size_t i = 0; i < fixes.size(); ++i) {
      const ingest::LocationRecord& r = sink.records[i];
      EXPECT_EQ(r.vehicle_id(), id);
      // Every protocol dates fixes to the second.
      EXPECT_EQ(r.fix_time_unix_ns, fixes[i].time_unix_ms / 1000 * 1'000'000'000) << i;
      // 1e-4 minute (NMEA-style angles) is 1.7e-6 degrees; 6 decimals 1e-6.
      EXPECT_NEAR(r.latitude, fixes[i].latitude_deg, 2e-6) << i;
      EXPECT_NEAR(r.longitude, fixes[i].longitude_deg, 2e-6) << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryProtocol, TrackerMessageTest,
                         ::testing::Range(0, kTrackerProtocolCount),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(
                               TrackerProtocolName(static_cast<TrackerProtocol>(info.param)));
                         });

}  // namespace
}  // namespace fixstream::clients
