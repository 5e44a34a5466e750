// Fuzzes LineFramer with chunkings chosen by the input: the first bytes pick
// max_line_length and the write sizes, the rest is the stream. Checks that
// every input byte is accounted for exactly once:
//   sum(line + terminator) + bytes_discarded == stream size
// and that lines never contain '\n' or exceed the maximum.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ingest/line_framer.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using fixstream::ingest::Frame;
  using fixstream::ingest::LineFramer;
  if (size < 4) return 0;
  const size_t max_line_length = 1 + data[0] % 64;
  const uint8_t* chunk_sizes = data + 1;  // 3 bytes cycled as write sizes
  const std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);

  LineFramer framer(max_line_length);
  uint64_t accounted = 0;
  uint64_t too_long = 0;
  size_t offset = 0;
  size_t turn = 0;
  auto drain = [&] {
    Frame frame;
    while (framer.Next(&frame)) {
      if (frame.kind == Frame::Kind::kLine) {
        Check(frame.text.size() <= max_line_length);
        Check(frame.text.find('\n') == std::string_view::npos);
        // The terminator was "\n" or "\r\n"; which one is visible in the
        // stream right after the line.
        const char* end = frame.text.data() + frame.text.size();
        const size_t terminator = *end == '\r' ? 2 : 1;
        Check(end[terminator - 1] == '\n');
        accounted += frame.text.size() + terminator;
      } else {
        ++too_long;
      }
    }
  };
  while (offset < stream.size()) {
    const size_t want = 1 + chunk_sizes[turn++ % 3] % 97;
    const size_t n = std::min(want, stream.size() - offset);
    absl::Span<char> space = framer.PrepareWrite(want);
    Check(space.size() >= want);
    std::memcpy(space.data(), stream.data() + offset, n);
    framer.CommitWrite(n);
    offset += n;
    drain();
    Check(framer.buffered() <= max_line_length + 1 + want);
    if (turn % 5 == 0) framer.ReleaseIfEmpty();
  }
  const LineFramer::Tail tail = framer.Finish();
  if (tail == LineFramer::Tail::kTooLong) ++too_long;
  Check(framer.buffered() == 0);
  Check(accounted + framer.bytes_discarded() == stream.size());
  // Every too-long line dropped at least max_line_length + 1 bytes.
  Check(framer.bytes_discarded() >= too_long * (max_line_length + 1));
  return 0;
}
