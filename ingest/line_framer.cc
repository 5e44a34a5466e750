#include "ingest/line_framer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace fixstream::ingest {

LineFramer::LineFramer(size_t max_line_length) : max_line_length_(max_line_length) {
  assert(max_line_length >= 1);
}

absl::Span<char> LineFramer::PrepareWrite(size_t min_size) {
  assert(min_size >= 1);
  if (begin_ == end_) {
    // Nothing buffered: restart at the front so that a drained buffer never
    // needs a memmove.
    begin_ = end_ = scanned_ = 0;
  }
  if (capacity_ - end_ < min_size) {
    const size_t pending = end_ - begin_;
    if (pending + min_size <= capacity_) {
      // Only the partial line moves, and it is at most max_line_length + 1
      // bytes, so compaction costs no more than the read that follows it.
      std::memmove(buffer_.get(), buffer_.get() + begin_, pending);
    } else {
      // Doubling avoids reallocating for every byte a partial line grows by;
      // the cap keeps a connection's buffer within max_line_length + a write
      // (a longer partial line is being discarded, never buffered).
      const size_t cap_limit = max_line_length_ + 1 + min_size;
      const size_t new_capacity = std::max(pending + min_size, std::min(capacity_ * 2, cap_limit));
      auto bigger = std::make_unique_for_overwrite<char[]>(new_capacity);
      if (pending > 0) std::memcpy(bigger.get(), buffer_.get() + begin_, pending);
      buffer_ = std::move(bigger);
      capacity_ = new_capacity;
    }
    begin_ = 0;
    end_ = pending;
  }
  return absl::Span<char>(buffer_.get() + end_, capacity_ - end_);
}

void LineFramer::CommitWrite(size_t n) {
  assert(n <= capacity_ - end_);
  end_ += n;
}

bool LineFramer::Next(Frame* frame) {
  const char* base = buffer_.get();
  const size_t search_from = begin_ + scanned_;
  const void* hit =
      search_from < end_ ? std::memchr(base + search_from, '\n', end_ - search_from) : nullptr;
  if (hit != nullptr) {
    const size_t newline = static_cast<const char*>(hit) - base;
    const size_t next_begin = newline + 1;
    size_t length = newline - begin_;
    if (length > 0 && base[newline - 1] == '\r') --length;
    if (discarding_ || length > max_line_length_) {
      // The tail of an over-long line (or one that arrived whole in a single
      // read): drop it with its terminator and report the line once.
      bytes_discarded_ += next_begin - begin_;
      discarding_ = false;
      frame->kind = Frame::Kind::kTooLong;
      frame->text = {};
    } else {
      frame->kind = Frame::Kind::kLine;
      frame->text = std::string_view(base + begin_, length);
      bytes_framed_ += next_begin - begin_;
    }
    begin_ = next_begin;
    scanned_ = 0;
    return true;
  }

  const size_t pending = end_ - begin_;
  // A partial line of max_line_length + 1 bytes may still be a maximal line
  // whose "\r\n" was split between reads; anything beyond that is over-long.
  const bool over_long =
      pending > max_line_length_ + 1 || (pending == max_line_length_ + 1 && base[end_ - 1] != '\r');
  if (discarding_ || over_long) {
    // Drop the bytes now rather than at the newline, so that a peer sending
    // an endless line cannot make the buffer grow.
    discarding_ = true;
    bytes_discarded_ += pending;
    begin_ = end_;
    scanned_ = 0;
  } else {
    scanned_ = pending;
  }
  return false;
}

LineFramer::Tail LineFramer::Finish() {
  Tail tail = Tail::kNone;
  if (discarding_) {
    tail = Tail::kTooLong;
  } else if (end_ != begin_) {
    tail = Tail::kUnterminated;
  }
  bytes_discarded_ += end_ - begin_;
  begin_ = end_ = scanned_ = 0;
  discarding_ = false;
  return tail;
}

bool LineFramer::ReleaseIfEmpty() {
  if (end_ != begin_) return false;
  buffer_.reset();
  capacity_ = 0;
  begin_ = end_ = scanned_ = 0;
  return true;
}

}  // namespace fixstream::ingest
