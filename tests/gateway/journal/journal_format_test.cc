// The on-disk format (journal_format.h) and recovery's scan of a segment's
// bytes (recovery.h), on bytes built in memory.
#include "gateway/journal/journal_format.h"

#include <cstring>
#include <string>
#include <vector>

#include "gateway/journal/recovery.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

using namespace journal_format;
using journal_internal::ScanSegmentFrames;
using journal_internal::SegmentScan;

TEST(JournalFormatTest, SegmentFileNamesRoundTrip) {
  EXPECT_EQ(JournalSegmentFileName(1), "seg-00000000000000000001.fsj");
  EXPECT_EQ(JournalSegmentFileName(1048577), "seg-00000000000001048577.fsj");
  for (uint64_t first : {uint64_t{1}, uint64_t{1048577}, ~uint64_t{0}}) {
    uint64_t parsed = 0;
    EXPECT_TRUE(ParseJournalSegmentFileName(JournalSegmentFileName(first), &parsed));
    EXPECT_EQ(parsed, first);
  }
}

TEST(JournalFormatTest, OtherNamesAreNotSegments) {
  uint64_t parsed = 0;
  for (const char* name : {"LOCK", ".write-probe", "seg-00000000000000000000.fsj",
                           "seg-0000000000000000001.fsj", "seg-000000000000000000001.fsj",
                           "seg-0000000000000000000x.fsj", "seg-00000000000000000001.fsx",
                           "xeg-00000000000000000001.fsj", "seg-99999999999999999999.fsj"}) {
    EXPECT_FALSE(ParseJournalSegmentFileName(name, &parsed)) << name;
  }
}

TEST(JournalFormatTest, SegmentHeaderRoundTripsAndDetectsDamage) {
  char header[kSegmentHeaderSize];
  EncodeSegmentHeader(42, header);
  EXPECT_EQ(std::string(header, 4), "FSJ1");
  SegmentHeader decoded = DecodeSegmentHeader(header);
  EXPECT_TRUE(decoded.intact);
  EXPECT_EQ(decoded.version, kJournalVersion);
  EXPECT_EQ(decoded.first_sequence, 42u);
  for (size_t i = 0; i < kSegmentHeaderSize; ++i) {
    char damaged[kSegmentHeaderSize];
    std::memcpy(damaged, header, sizeof damaged);
    damaged[i] ^= 0x10;
    EXPECT_FALSE(DecodeSegmentHeader(damaged).intact) << "byte " << i;
  }
}

// A segment's bytes: a header and the frames of `sequences`.
std::string Segment(uint64_t first, const std::vector<uint64_t>& sequences) {
  std::string bytes(kSegmentHeaderSize, '\0');
  EncodeSegmentHeader(first, bytes.data());
  for (uint64_t s : sequences) {
    const std::string payload(20 + s % 7, static_cast<char>('a' + s % 26));
    const size_t at = bytes.size();
    bytes.resize(at + kFrameHeaderSize + payload.size());
    EncodeFrame(s, payload, bytes.data() + at);
  }
  return bytes;
}

TEST(JournalFormatTest, EncodedFrameIsFoundWithItsSequence) {
  const std::string bytes = Segment(7, {7});
  const size_t pos = kSegmentHeaderSize;
  EXPECT_EQ(FramePayloadLength(bytes.data() + pos), 20u + 7 % 7);
  EXPECT_EQ(FrameSequence(bytes.data() + pos), 7u);
  EXPECT_TRUE(FrameCrcMatches(bytes.data() + pos));
  uint64_t seq = 0;
  auto any = [](uint64_t) { return true; };
  EXPECT_EQ(FrameAt(bytes.data(), bytes.size(), pos, 1024, any, &seq), bytes.size() - pos);
  EXPECT_EQ(seq, 7u);
  // Not with a payload bound below its length, nor cut short, nor implausible.
  EXPECT_EQ(FrameAt(bytes.data(), bytes.size(), pos, 19, any, &seq), 0u);
  EXPECT_EQ(FrameAt(bytes.data(), bytes.size() - 1, pos, 1024, any, &seq), 0u);
  EXPECT_EQ(FrameAt(
                bytes.data(), bytes.size(), pos, 1024, [](uint64_t s) { return s == 8; }, &seq),
            0u);
}

TEST(JournalFormatTest, ScanOfAnIntactSegmentIndexesEveryIntervalFrames) {
  std::vector<uint64_t> sequences;
  for (uint64_t s = 10; s < 20; ++s) sequences.push_back(s);
  const std::string bytes = Segment(10, sequences);
  const SegmentScan scan = ScanSegmentFrames(bytes.data(), bytes.size(), 10, 1024, 4);
  EXPECT_EQ(scan.frames, 10u);
  EXPECT_EQ(scan.next_sequence, 20u);
  EXPECT_EQ(scan.good_end, bytes.size());
  EXPECT_FALSE(scan.tail_bad);
  EXPECT_TRUE(scan.regions.empty());
  ASSERT_EQ(scan.index.size(), 3u);  // frames 0, 4 and 8
  EXPECT_EQ(scan.index[0], (std::pair<uint64_t, uint64_t>{10, kSegmentHeaderSize}));
  EXPECT_EQ(scan.index[1].first, 14u);
  EXPECT_EQ(scan.index[2].first, 18u);
}

TEST(JournalFormatTest, ScanFindsATornTail) {
  const std::string bytes = Segment(1, {1, 2, 3});
  const std::string two = Segment(1, {1, 2});
  const SegmentScan scan = ScanSegmentFrames(bytes.data(), bytes.size() - 5, 1, 1024, 64);
  EXPECT_EQ(scan.frames, 2u);
  EXPECT_EQ(scan.next_sequence, 3u);
  EXPECT_TRUE(scan.tail_bad);
  EXPECT_EQ(scan.bad_offset, two.size());
  EXPECT_EQ(scan.good_end, two.size());
}

TEST(JournalFormatTest, ScanResynchronisesAfterACorruptFrameAndReportsTheLostSequence) {
  std::string bytes = Segment(1, {1, 2, 3, 4});
  const size_t frame2 = Segment(1, {1}).size();
  const size_t frame3 = Segment(1, {1, 2}).size();
  bytes[frame2 + kFrameHeaderSize + 1] ^= 0x01;  // payload of sequence 2
  const SegmentScan scan = ScanSegmentFrames(bytes.data(), bytes.size(), 1, 1024, 64);
  EXPECT_EQ(scan.frames, 3u);
  EXPECT_EQ(scan.next_sequence, 5u);
  EXPECT_FALSE(scan.tail_bad);
  ASSERT_EQ(scan.regions.size(), 1u);
  EXPECT_EQ(scan.regions[0].bad_offset, frame2);
  EXPECT_EQ(scan.regions[0].resume_offset, frame3);
  EXPECT_EQ(scan.regions[0].first_lost, 2u);
  EXPECT_EQ(scan.regions[0].resume_sequence, 3u);
  // The resynchronisation point is indexed (reads jump there).
  EXPECT_EQ(scan.index.back(), (std::pair<uint64_t, uint64_t>{3, frame3}));
}

TEST(JournalFormatTest, ScanOfAHeaderOnlySegmentIsEmpty) {
  const std::string bytes = Segment(5, {});
  const SegmentScan scan = ScanSegmentFrames(bytes.data(), bytes.size(), 5, 1024, 64);
  EXPECT_EQ(scan.frames, 0u);
  EXPECT_EQ(scan.next_sequence, 5u);
  EXPECT_EQ(scan.good_end, kSegmentHeaderSize);
  EXPECT_FALSE(scan.tail_bad);
}

}  // namespace
}  // namespace fixstream::gateway
