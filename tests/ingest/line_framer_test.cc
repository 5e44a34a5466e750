#include "ingest/line_framer.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

// What a reader gets out of the framer: lines as strings, too-long frames as
// "<too long>", then the tail.
struct Drained {
  std::vector<std::string> frames;
  LineFramer::Tail tail = LineFramer::Tail::kNone;
  uint64_t bytes_discarded = 0;
  bool operator==(const Drained&) const = default;
};

constexpr std::string_view kTooLongMarker = "<too long>";

void Write(LineFramer& framer, std::string_view chunk, std::vector<std::string>* frames) {
  if (!chunk.empty()) {
    absl::Span<char> space = framer.PrepareWrite(chunk.size());
    ASSERT_GE(space.size(), chunk.size());
    std::memcpy(space.data(), chunk.data(), chunk.size());
    framer.CommitWrite(chunk.size());
  }
  Frame frame;
  while (framer.Next(&frame)) {
    frames->push_back(frame.kind == Frame::Kind::kLine ? std::string(frame.text)
                                                       : std::string(kTooLongMarker));
  }
}

// Feeds `input` cut at `cuts` (sorted offsets).
Drained Feed(size_t max_line_length, std::string_view input, const std::vector<size_t>& cuts) {
  LineFramer framer(max_line_length);
  Drained out;
  size_t start = 0;
  for (size_t cut : cuts) {
    Write(framer, input.substr(start, cut - start), &out.frames);
    start = cut;
  }
  Write(framer, input.substr(start), &out.frames);
  out.tail = framer.Finish();
  out.bytes_discarded = framer.bytes_discarded();
  EXPECT_EQ(framer.buffered(), 0u);
  // Accounting: every input byte was framed or discarded, none twice.
  EXPECT_EQ(framer.bytes_framed() + framer.bytes_discarded(), input.size());
  return out;
}

Drained FeedWhole(size_t max_line_length, std::string_view input) {
  return Feed(max_line_length, input, {});
}

constexpr std::string_view kMixed =
    "bus-17,1795515330000,52.5,13.4\r\n"
    "\n"
    "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\n"
    "\r\n"
    "a\rb\n"
    "{\"vehicle_id\":\"v\"}\r\n"
    "last";

TEST(LineFramerTest, SplitsLinesAndStripsOneCarriageReturn) {
  const Drained d = FeedWhole(4096, kMixed);
  EXPECT_EQ(d.frames, (std::vector<std::string>{
                          "bus-17,1795515330000,52.5,13.4", "",
                          "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
                          "", "a\rb", "{\"vehicle_id\":\"v\"}"}));
  EXPECT_EQ(d.tail, LineFramer::Tail::kUnterminated);
  EXPECT_EQ(d.bytes_discarded, 4u);
}

TEST(LineFramerTest, OnlyOneCarriageReturnIsStripped) {
  const Drained d = FeedWhole(100, "x\r\r\n");
  EXPECT_EQ(d.frames, std::vector<std::string>{"x\r"});
}

TEST(LineFramerTest, EverySplitPointYieldsSameLines) {
  const Drained whole = FeedWhole(4096, kMixed);
  for (size_t cut = 0; cut <= kMixed.size(); ++cut) {
    EXPECT_EQ(Feed(4096, kMixed, {cut}), whole) << "cut at " << cut;
  }
}

TEST(LineFramerTest, EveryThreeWaySplitYieldsSameLines) {
  const Drained whole = FeedWhole(4096, kMixed);
  for (size_t a = 0; a <= kMixed.size(); ++a) {
    for (size_t b = a; b <= kMixed.size(); ++b) {
      ASSERT_EQ(Feed(4096, kMixed, {a, b}), whole) << "cuts at " << a << ", " << b;
    }
  }
}

TEST(LineFramerTest, SplitBetweenCarriageReturnAndNewline) {
  const std::string_view input = "abc\r\ndef\r\n";
  const Drained d = Feed(3, input, {4});  // "abc\r" | "\ndef\r\n"
  EXPECT_EQ(d.frames, (std::vector<std::string>{"abc", "def"}));
  EXPECT_EQ(d.tail, LineFramer::Tail::kNone);
  EXPECT_EQ(d.bytes_discarded, 0u);
}

TEST(LineFramerTest, RandomChunkingsYieldSameLines) {
  std::mt19937 rng(1234);
  std::string input;
  for (int i = 0; i < 300; ++i) {
    const int length = static_cast<int>(rng() % 120);
    for (int j = 0; j < length; ++j) input.push_back(static_cast<char>('a' + rng() % 26));
    input += (rng() % 2) ? "\r\n" : "\n";
  }
  input += std::string(300, 'z') + "\n";  // over-long at max 100
  input += "tail";
  const Drained whole = FeedWhole(100, input);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<size_t> cuts;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) cuts.push_back(rng() % (input.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    ASSERT_EQ(Feed(100, input, cuts), whole) << "trial " << trial;
  }
}

TEST(LineFramerTest, ByteAtATime) {
  const Drained whole = FeedWhole(4096, kMixed);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < kMixed.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(Feed(4096, kMixed, cuts), whole);
}

struct LengthCase {
  const char* name;
  std::string input;
  std::vector<std::string> frames;
  uint64_t discarded;
};

class LineLengthTest : public ::testing::TestWithParam<LengthCase> {};

TEST_P(LineLengthTest, EnforcesMaximumAtEverySplit) {
  const LengthCase& c = GetParam();
  for (size_t cut = 0; cut <= c.input.size(); ++cut) {
    const Drained d = Feed(8, c.input, {cut});
    EXPECT_EQ(d.frames, c.frames) << c.name << " cut " << cut;
    EXPECT_EQ(d.bytes_discarded, c.discarded) << c.name << " cut " << cut;
    EXPECT_EQ(d.tail, LineFramer::Tail::kNone) << c.name;
  }
}

const std::string kTooLong(kTooLongMarker);

INSTANTIATE_TEST_SUITE_P(
    Max8, LineLengthTest,
    ::testing::Values(
        LengthCase{"exactly max", "12345678\n", {"12345678"}, 0},
        LengthCase{"exactly max crlf", "12345678\r\n", {"12345678"}, 0},
        LengthCase{"max plus one", "123456789\nok\n", {kTooLong, "ok"}, 10},
        LengthCase{"max plus one crlf", "123456789\r\nok\n", {kTooLong, "ok"}, 11},
        LengthCase{"max then cr then data", "12345678\rx\nok\n", {kTooLong, "ok"}, 11},
        LengthCase{
            "long then good", "abcdefghijklmnopqrstuvwxyz\nshort\r\n", {kTooLong, "short"}, 27},
        LengthCase{"two long", "abcdefghijk\nabcdefghijk\r\n", {kTooLong, kTooLong}, 25}));

TEST(LineFramerTest, OverLongLineSpanningManyWritesThenGoodLine) {
  LineFramer framer(16);
  std::vector<std::string> frames;
  for (int i = 0; i < 1000; ++i) {
    Write(framer, "0123456789", &frames);
    ASSERT_TRUE(frames.empty());
    // The buffer never holds more than max_line_length + a write.
    ASSERT_LE(framer.buffered(), 16u + 10u);
  }
  Write(framer, "abc\r\ngood line\n", &frames);
  EXPECT_EQ(frames, (std::vector<std::string>{kTooLong, "good line"}));
  EXPECT_EQ(framer.bytes_discarded(), 10'000u + 5u);
  EXPECT_EQ(framer.Finish(), LineFramer::Tail::kNone);
}

TEST(LineFramerTest, FinishReportsEachTail) {
  struct Case {
    std::string input;
    LineFramer::Tail tail;
    uint64_t discarded;
  };
  for (const Case& c : {
           Case{"", LineFramer::Tail::kNone, 0},
           Case{"a\n", LineFramer::Tail::kNone, 0},
           Case{"a\nbc", LineFramer::Tail::kUnterminated, 2},
           Case{"a\nbc\r", LineFramer::Tail::kUnterminated, 3},
           Case{"a\n0123456789abcdef", LineFramer::Tail::kTooLong, 16},
           Case{"0123456789\n0123456789", LineFramer::Tail::kTooLong, 21},
       }) {
    const Drained d = FeedWhole(8, c.input);
    EXPECT_EQ(d.tail, c.tail) << c.input;
    EXPECT_EQ(d.bytes_discarded, c.discarded) << c.input;
  }
}

TEST(LineFramerTest, FinishResetsForReuse) {
  LineFramer framer(8);
  std::vector<std::string> frames;
  Write(framer, "partial", &frames);
  EXPECT_EQ(framer.Finish(), LineFramer::Tail::kUnterminated);
  EXPECT_EQ(framer.Finish(), LineFramer::Tail::kNone);
  Write(framer, "0123456789", &frames);
  EXPECT_EQ(framer.Finish(), LineFramer::Tail::kTooLong);
  Write(framer, "fresh\n", &frames);
  EXPECT_EQ(frames, std::vector<std::string>{"fresh"});
}

TEST(LineFramerTest, ReleaseIfEmpty) {
  LineFramer framer(64);
  std::vector<std::string> frames;
  EXPECT_TRUE(framer.ReleaseIfEmpty());
  Write(framer, "abc", &frames);
  EXPECT_FALSE(framer.ReleaseIfEmpty());
  EXPECT_EQ(framer.buffered(), 3u);
  Write(framer, "\n", &frames);
  EXPECT_TRUE(framer.ReleaseIfEmpty());
  EXPECT_EQ(framer.buffered(), 0u);
  Write(framer, "def\n", &frames);
  EXPECT_EQ(frames, (std::vector<std::string>{"abc", "def"}));
}

TEST(LineFramerTest, PrepareWriteGivesAtLeastMinSizeAndKeepsPartialLine) {
  LineFramer framer(1 << 20);
  std::vector<std::string> frames;
  Write(framer, "start-", &frames);
  for (size_t size : {1u, 7u, 4096u, 65536u, 3u}) {
    absl::Span<char> space = framer.PrepareWrite(size);
    EXPECT_GE(space.size(), size);
  }
  Write(framer, "end\n", &frames);
  EXPECT_EQ(frames, std::vector<std::string>{"start-end"});
}

TEST(LineFramerTest, CapacityStaysBoundedUnderSteadyTraffic) {
  // 66-byte lines in 64 KiB writes: after warm-up, the partial line moves to
  // the front and the buffer stops growing.
  LineFramer framer(4096);
  const std::string line = std::string(65, 'x') + "\n";
  std::string stream;
  while (stream.size() < (1 << 20)) stream += line;
  size_t lines = 0;
  size_t offset = 0;
  const char* first_buffer = nullptr;
  while (offset < stream.size()) {
    absl::Span<char> space = framer.PrepareWrite(65536);
    if (offset > 4 * 65536) {
      if (first_buffer == nullptr) first_buffer = space.data();
    }
    const size_t n = std::min<size_t>(65536, stream.size() - offset);
    std::memcpy(space.data(), stream.data() + offset, n);
    framer.CommitWrite(n);
    offset += n;
    Frame frame;
    while (framer.Next(&frame)) {
      ASSERT_EQ(frame.kind, Frame::Kind::kLine);
      ASSERT_EQ(frame.text.size(), 65u);
      ++lines;
    }
    EXPECT_LE(space.size(), 4096u + 1 + 65536u + 65536u);
  }
  EXPECT_EQ(lines, stream.size() / line.size());
}

}  // namespace
}  // namespace fixstream::ingest
