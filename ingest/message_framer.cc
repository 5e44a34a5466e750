#include "ingest/message_framer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace fixstream::ingest {
namespace {

bool IsSpace(char c) { return c == '\r' || c == '\n' || c == ' ' || c == '\t' || c == '\0'; }

bool AllSpace(std::string_view s) { return std::all_of(s.begin(), s.end(), IsSpace); }

}  // namespace

MessageFramer::MessageFramer(const ProtocolDecoder& decoder, size_t max_message_length)
    : decoder_(decoder), max_message_length_(max_message_length) {
  assert(max_message_length >= 1);
}

absl::Span<char> MessageFramer::PrepareWrite(size_t min_size) {
  assert(min_size >= 1);
  if (begin_ == end_) begin_ = end_ = 0;
  if (capacity_ - end_ < min_size) {
    const size_t pending = end_ - begin_;
    if (pending + min_size <= capacity_) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, pending);
    } else {
      // As in LineFramer: doubling, capped at a maximal message plus a write
      // (longer partial messages are dropped, never buffered).
      const size_t cap_limit = max_message_length_ + 1 + min_size;
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

void MessageFramer::CommitWrite(size_t n) {
  assert(n <= capacity_ - end_);
  end_ += n;
}

void MessageFramer::Append(std::string_view bytes) {
  if (bytes.empty()) return;
  absl::Span<char> span = PrepareWrite(bytes.size());
  std::memcpy(span.data(), bytes.data(), bytes.size());
  CommitWrite(bytes.size());
}

void MessageFramer::Drop(size_t n) {
  bytes_discarded_ += n;
  begin_ += n;
}

bool MessageFramer::Next(DeviceFrame* frame) {
  while (begin_ < end_) {
    const std::string_view pending(buffer_.get() + begin_, end_ - begin_);
    const FrameScan scan = decoder_.Scan(pending);
    switch (scan.kind) {
      case FrameScan::Kind::kMessage:
        assert(scan.length >= 1 && scan.length <= pending.size());
        if (scan.length > max_message_length_) {
          // Arrived whole in one read but too long all the same.
          Drop(scan.length);
          discarding_ = false;
          in_junk_ = false;
          frame->kind = DeviceFrame::Kind::kTooLong;
          frame->text = {};
          return true;
        }
        in_junk_ = false;
        if (discarding_) {
          // The decoder found a message again: the over-long one is over.
          discarding_ = false;
        }
        frame->kind = DeviceFrame::Kind::kMessage;
        frame->text = pending.substr(0, scan.length);
        bytes_framed_ += scan.length;
        begin_ += scan.length;
        return true;
      case FrameScan::Kind::kJunk: {
        assert(scan.length >= 1 && scan.length <= pending.size());
        std::string_view junk = pending.substr(0, scan.length);
        Drop(scan.length);
        // One report per run of junk between two messages, however the
        // reads cut it.
        if (discarding_ || in_junk_ || AllSpace(junk)) continue;
        in_junk_ = true;
        // The whitespace around junk is the messages' separator, not junk.
        while (IsSpace(junk.front())) junk.remove_prefix(1);
        while (IsSpace(junk.back())) junk.remove_suffix(1);
        frame->kind = DeviceFrame::Kind::kJunk;
        frame->text = junk;
        return true;
      }
      case FrameScan::Kind::kNeedMore:
        if (pending.size() <= max_message_length_) return false;
        // Over-long: report it once and drop what exceeds the maximum (at
        // least its first byte), so that the next scan starts inside it and
        // finds the next byte that can begin a message; each read costs one
        // scan, never one per byte.
        Drop(pending.size() - max_message_length_);
        if (!discarding_) {
          discarding_ = true;
          in_junk_ = false;
          frame->kind = DeviceFrame::Kind::kTooLong;
          frame->text = {};
          return true;
        }
        continue;
    }
  }
  return false;
}

MessageFramer::Tail MessageFramer::Finish() {
  Tail tail = Tail::kNone;
  const std::string_view pending(buffer_.get() + begin_, end_ - begin_);
  if (discarding_) {
    tail = Tail::kTooLong;
  } else if (!AllSpace(pending)) {
    tail = Tail::kUnterminated;
  }
  bytes_discarded_ += pending.size();
  begin_ = end_ = 0;
  discarding_ = false;
  in_junk_ = false;
  return tail;
}

bool MessageFramer::ReleaseIfEmpty() {
  if (end_ != begin_) return false;
  buffer_.reset();
  capacity_ = 0;
  begin_ = end_ = 0;
  return true;
}

}  // namespace fixstream::ingest
