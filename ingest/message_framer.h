// MessageFramer: turns one device connection's byte stream into the messages
// of its protocol, as the protocol's ProtocolDecoder::Scan() delimits them.
//
// The framer owns the connection's read buffer, like LineFramer: the caller
// reads from the socket straight into PrepareWrite()'s span, commits what it
// read, and pulls frames with Next(). Messages are views into the buffer (no
// copy), delimiters included (the decoder strips them). A partial message
// stays buffered and is completed by later reads, so a message split at any
// byte comes out the same as if it had arrived whole.
//
// Bytes no message can start with are junk: whitespace between messages
// (CR, LF, space, tab, NUL) is dropped silently; anything else comes out as
// one kJunk frame per run of junk between two messages (however the reads
// cut it), which the session counts as malformed. A message
// longer than max_message_length is not buffered whole: its bytes are dropped
// as they arrive, it comes out once as kTooLong, and framing resynchronises
// at the next byte that can begin a message. The buffer therefore never holds
// more than max_message_length + the last write's size.
//
// Thread safety: none; a framer belongs to one connection.
#ifndef FIXSTREAM_INGEST_MESSAGE_FRAMER_H_
#define FIXSTREAM_INGEST_MESSAGE_FRAMER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/types/span.h"
#include "ingest/device_protocol.h"

namespace fixstream::ingest {

struct DeviceFrame {
  enum class Kind : uint8_t {
    kMessage,  // `text` is one complete message, delimiters included
    kJunk,     // `text` is a run of bytes that belong to no message
    kTooLong,  // a message exceeded max_message_length; its bytes were dropped
  };
  Kind kind = Kind::kMessage;
  std::string_view text;  // valid until the next PrepareWrite/ReleaseIfEmpty
};

class MessageFramer final {
 public:
  // `decoder` frames the stream (its Scan()); it must outlive the framer.
  // Precondition: max_message_length >= 1.
  MessageFramer(const ProtocolDecoder& decoder, size_t max_message_length);
  MessageFramer(const MessageFramer&) = delete;
  MessageFramer& operator=(const MessageFramer&) = delete;

  // Returns writable space of at least `min_size` bytes after the buffered
  // data. Invalidates views returned by Next(). Precondition: min_size >= 1.
  absl::Span<char> PrepareWrite(size_t min_size);
  // Marks the first `n` bytes of the last PrepareWrite() span as data.
  void CommitWrite(size_t n);
  // Copies `bytes` in (PrepareWrite + CommitWrite), for tests and benchmarks.
  void Append(std::string_view bytes);

  // Extracts the next frame. Returns false when no complete one is buffered.
  bool Next(DeviceFrame* frame);

  // What was left when the stream ended.
  enum class Tail : uint8_t {
    kNone,          // nothing but whitespace buffered
    kUnterminated,  // a partial message; it is dropped
    kTooLong,       // the stream ended inside an over-long message
  };
  // Ends the stream: reports and drops what is buffered. Call after Next()
  // returned false. The framer is empty afterwards.
  Tail Finish();

  // Frees the buffer if it holds nothing (keeps idle connections small).
  bool ReleaseIfEmpty();

  size_t buffered() const { return end_ - begin_; }
  size_t max_message_length() const { return max_message_length_; }
  // Bytes dropped as junk, whitespace, over-long or unterminated messages.
  uint64_t bytes_discarded() const { return bytes_discarded_; }
  // Bytes of messages returned by Next().
  uint64_t bytes_framed() const { return bytes_framed_; }

 private:
  void Drop(size_t n);

  const ProtocolDecoder& decoder_;
  const size_t max_message_length_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool discarding_ = false;  // inside an over-long message
  bool in_junk_ = false;     // a junk frame was reported since the last message
  uint64_t bytes_discarded_ = 0;
  uint64_t bytes_framed_ = 0;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_MESSAGE_FRAMER_H_
