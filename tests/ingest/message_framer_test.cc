// MessageFramer with a real protocol's Scan() (H02: "*...#").
#include "ingest/message_framer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

struct Frames {
  std::vector<std::string> frames;  // messages as text, "<junk:...>", "<too long>"
  MessageFramer::Tail tail = MessageFramer::Tail::kNone;
};

Frames Drain(const std::vector<std::string>& reads, size_t max) {
  std::unique_ptr<ProtocolDecoder> decoder = MakeProtocolDecoder(DeviceProtocol::kH02);
  MessageFramer framer(*decoder, max);
  Frames out;
  for (const std::string& r : reads) {
    framer.Append(r);
    EXPECT_LE(framer.buffered(), max + r.size());
    DeviceFrame f;
    while (framer.Next(&f)) {
      switch (f.kind) {
        case DeviceFrame::Kind::kMessage:
          out.frames.emplace_back(f.text);
          break;
        case DeviceFrame::Kind::kJunk:
          out.frames.push_back("<junk:" + std::string(f.text) + ">");
          break;
        case DeviceFrame::Kind::kTooLong:
          out.frames.push_back("<too long>");
          break;
      }
    }
  }
  out.tail = framer.Finish();
  return out;
}

TEST(MessageFramerTest, CarriesPartialMessagesAcrossReads) {
  const Frames f = Drain({"*HQ,1,V", "1,x#*HQ", ",2,V0#"}, 64);
  EXPECT_EQ(f.frames, (std::vector<std::string>{"*HQ,1,V1,x#", "*HQ,2,V0#"}));
  EXPECT_EQ(f.tail, MessageFramer::Tail::kNone);
}

TEST(MessageFramerTest, WhitespaceBetweenMessagesIsSilentOtherJunkIsReported) {
  const Frames f = Drain({"\r\n*HQ,1,V0#\r\nnoise*HQ,2,V0#\r\n"}, 64);
  EXPECT_EQ(f.frames, (std::vector<std::string>{"*HQ,1,V0#", "<junk:noise>", "*HQ,2,V0#"}));
  EXPECT_EQ(f.tail, MessageFramer::Tail::kNone);
}

TEST(MessageFramerTest, OverLongMessageIsReportedOnceAndFramingResumes) {
  const std::string big = "*HQ," + std::string(200, '1');
  const Frames f = Drain({big.substr(0, 50), big.substr(50), "#*HQ,2,V0#"}, 64);
  ASSERT_GE(f.frames.size(), 2u);
  EXPECT_EQ(f.frames.front(), "<too long>");
  EXPECT_EQ(f.frames.back(), "*HQ,2,V0#");
  for (size_t i = 1; i + 1 < f.frames.size(); ++i) EXPECT_EQ(f.frames[i].substr(0, 5), "<junk");
}

TEST(MessageFramerTest, OverLongMessageInOneReadIsTooLong) {
  const Frames f = Drain({"*HQ," + std::string(100, '1') + "#*HQ,2,V0#"}, 64);
  EXPECT_EQ(f.frames, (std::vector<std::string>{"<too long>", "*HQ,2,V0#"}));
}

TEST(MessageFramerTest, ReportsWhatTheStreamEndedIn) {
  EXPECT_EQ(Drain({"*HQ,1,V0#\r\n"}, 64).tail, MessageFramer::Tail::kNone);
  EXPECT_EQ(Drain({"*HQ,1,V0"}, 64).tail, MessageFramer::Tail::kUnterminated);
  EXPECT_EQ(Drain({"*HQ," + std::string(100, '1')}, 64).tail, MessageFramer::Tail::kTooLong);
}

}  // namespace
}  // namespace fixstream::ingest
