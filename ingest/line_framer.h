// LineFramer: turns one connection's byte stream into lines.
//
// The framer owns the connection's read buffer. The caller reads from the
// socket straight into PrepareWrite()'s span, commits what it read, and then
// pulls complete lines with Next(). Lines are views into the buffer (no copy),
// without their terminator ("\n" or "\r\n"). A partial line stays buffered and
// is completed by later reads.
//
// A line longer than max_line_length is not buffered whole: its bytes are
// discarded as they arrive, up to and including its newline, and it comes out
// of Next() once, as a too-long frame. The buffer therefore never holds more
// than max_line_length + the last write's size.
//
// Thread safety: none; a framer belongs to one connection.
#ifndef FIXSTREAM_INGEST_LINE_FRAMER_H_
#define FIXSTREAM_INGEST_LINE_FRAMER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/types/span.h"

namespace fixstream::ingest {

struct Frame {
  enum class Kind : uint8_t {
    kLine,     // `text` is a complete line without its terminator
    kTooLong,  // a line exceeded max_line_length; its bytes were discarded
  };
  Kind kind = Kind::kLine;
  std::string_view text;  // valid until the next PrepareWrite/Release
};

class LineFramer final {
 public:
  // Precondition: max_line_length >= 1.
  explicit LineFramer(size_t max_line_length);
  LineFramer(const LineFramer&) = delete;
  LineFramer& operator=(const LineFramer&) = delete;

  // Returns writable space of at least `min_size` bytes after the buffered
  // data, allocating or compacting the buffer as needed. Invalidates views
  // returned by Next(). Precondition: min_size >= 1.
  absl::Span<char> PrepareWrite(size_t min_size);
  // Marks the first `n` bytes of the last PrepareWrite() span as data.
  // Precondition: n <= that span's size.
  void CommitWrite(size_t n);

  // Extracts the next frame. Returns false when no complete line is buffered.
  bool Next(Frame* frame);

  // What was left when the stream ended (the connection closed).
  enum class Tail : uint8_t {
    kNone,          // nothing buffered: the stream ended on a line boundary
    kUnterminated,  // a partial line without newline; it is dropped
    kTooLong,       // the stream ended inside an over-long line being discarded
  };
  // Ends the stream: reports and drops any partial line. Call after Next()
  // returned false. The framer is empty afterwards.
  Tail Finish();

  // Frees the buffer if it holds no partial line (keeps idle connections
  // small). Returns true if the buffer is now released.
  bool ReleaseIfEmpty();

  // Bytes currently buffered and not yet returned as lines.
  size_t buffered() const { return end_ - begin_; }
  // Those bytes (valid until the next call that changes the buffer).
  std::string_view buffered_bytes() const { return {buffer_.get() + begin_, end_ - begin_}; }
  // Hands the buffered bytes over to another framer (a connection found to
  // speak a device protocol, ingest/message_framer.h): they are dropped
  // here without being counted as framed or discarded, and the buffer is
  // freed. Precondition: no over-long line is being discarded.
  void TakeBuffered() {
    begin_ = end_;
    ReleaseIfEmpty();
  }
  // A line has begun and not ended: its bytes are buffered, or it is an
  // over-long one whose bytes are being discarded.
  bool in_line() const { return buffered() > 0 || discarding_; }
  // Bytes of over-long or unterminated lines dropped so far (terminators of
  // dropped over-long lines included).
  uint64_t bytes_discarded() const { return bytes_discarded_; }
  // Bytes of complete lines returned by Next(), terminators included. Every
  // committed byte ends up either here, in bytes_discarded() or buffered().
  uint64_t bytes_framed() const { return bytes_framed_; }
  size_t max_line_length() const { return max_line_length_; }

 private:
  const size_t max_line_length_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;         // start of unconsumed data
  size_t end_ = 0;           // end of data
  size_t scanned_ = 0;       // bytes after begin_ known to hold no '\n'
  bool discarding_ = false;  // inside an over-long line
  uint64_t bytes_discarded_ = 0;
  uint64_t bytes_framed_ = 0;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_LINE_FRAMER_H_
