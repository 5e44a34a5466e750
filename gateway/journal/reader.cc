// Journal::Read(): serving records from the segment files. A read locates
// the segment and index entry of its first sequence under segments_mu_ and
// then preads its own buffer with no lock held, so it never blocks the
// writer or appends (docs/JOURNAL.md, "Reading").
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/journal/journal.h"
#include "gateway/journal/journal_format.h"
#include "gateway/journal/journal_internal.h"

namespace fixstream::gateway {
namespace {

using journal_internal::SegmentLocation;

// The state of one Read() call, carried from segment to segment.
struct ReadCursor {
  uint64_t sequence = 0;  // the next sequence to append to `out`
  size_t max_records = 0;
  size_t max_bytes = 0;
  size_t start_size = 0;  // out->size() when the read began
  std::string* out = nullptr;
  Journal::ReadResult* result = nullptr;
  std::string buffer;  // pread scratch, reused
};

// How a chunk of a segment ended (see AppendFramesFromChunk()).
enum class ChunkEnd {
  kNeedMore,  // the next frame continues past the chunk (or the chunk is used up)
  kJumped,    // reached a corrupt region: go on at *offset
  kStop,      // the read is complete: a limit, or a lost range, was reached
};

// Appends the payloads of the frames in data[0, size), which was read from
// `segment_path` at *offset, starting with cursor.sequence and skipping
// frames before it, until a limit is reached, a sequence is missing (a lost
// range: reported as a hole if nothing was read yet) or a corrupt region
// found by recovery starts (then *offset is where the next good frame is).
// Otherwise (kNeedMore) *consumed is the number of bytes of whole frames
// looked at.
// Returns DataLoss for a frame that fails its length bound or its CRC.
absl::StatusOr<ChunkEnd> AppendFramesFromChunk(
    const char* data, size_t size, const std::string& segment_path, uint32_t max_payload,
    const std::vector<std::pair<uint64_t, uint64_t>>& skips, size_t& next_skip, uint64_t* offset,
    size_t* consumed, ReadCursor& cursor) {
  using namespace journal_format;
  Journal::ReadResult& result = *cursor.result;
  size_t pos = 0;
  while (size - pos >= kFrameHeaderSize) {
    if (next_skip < skips.size() && skips[next_skip].first == *offset + pos) {
      // Recovery found corruption here: go on at the next good frame.
      *offset = skips[next_skip++].second;
      return ChunkEnd::kJumped;
    }
    const char* frame = data + pos;
    const uint32_t length = FramePayloadLength(frame);
    if (length > max_payload) {
      return absl::DataLossError(absl::StrCat("journal segment ", segment_path,
                                              ": bad frame length at offset ", *offset + pos));
    }
    if (size - pos - kFrameHeaderSize < length) break;  // continues in the next chunk
    const uint64_t frame_seq = FrameSequence(frame);
    if (frame_seq < cursor.sequence) {
      pos += kFrameHeaderSize + length;
      continue;
    }
    if (frame_seq > cursor.sequence) {
      // A range lost mid-segment: end this read before it.
      if (result.records == 0) {
        result.hole = true;
        result.hole_first = cursor.sequence;
        result.hole_last = frame_seq - 1;
        cursor.sequence = frame_seq;
      }
      return ChunkEnd::kStop;
    }
    const size_t grown = cursor.out->size() - cursor.start_size;
    if (result.records > 0 &&
        (result.records >= cursor.max_records || grown + length > cursor.max_bytes)) {
      return ChunkEnd::kStop;
    }
    if (!FrameCrcMatches(frame)) {
      return absl::DataLossError(absl::StrCat("journal segment ", segment_path,
                                              ": checksum mismatch at offset ", *offset + pos,
                                              " (sequence ", frame_seq, ")"));
    }
    cursor.out->append(frame + kFrameHeaderSize, length);
    if (result.records++ == 0) result.first_sequence = cursor.sequence;
    result.last_sequence = cursor.sequence;
    ++cursor.sequence;
    pos += kFrameHeaderSize + length;
  }
  *consumed = pos;
  return ChunkEnd::kNeedMore;
}

// Reads the frames of the located segment from loc.offset up to loc.limit
// in chunks (large enough for the largest frame), appending from
// cursor.sequence on. Returns true if the read is complete (a limit or a
// lost range was reached), false if the segment was read to loc.limit.
absl::StatusOr<bool> ReadFromSegment(const SegmentLocation& loc, uint32_t max_payload,
                                     ReadCursor& cursor) {
  constexpr size_t kChunk = 256 << 10;
  const journal_internal::Segment& segment = *loc.segment;
  uint64_t offset = loc.offset;
  size_t next_skip = 0;
  while (offset < loc.limit) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(
        std::max<uint64_t>(kChunk, kFrameHeaderSize + max_payload), loc.limit - offset));
    cursor.buffer.resize(n);
    if (absl::Status s =
            journal_internal::ReadFully(*segment.read_file, offset, n, cursor.buffer.data());
        !s.ok()) {
      return absl::DataLossError(absl::StrCat("cannot read journal segment ", segment.path,
                                              " at offset ", offset, ": ", s.message()));
    }
    size_t consumed = 0;
    absl::StatusOr<ChunkEnd> end =
        AppendFramesFromChunk(cursor.buffer.data(), n, segment.path, max_payload, loc.skips,
                              next_skip, &offset, &consumed, cursor);
    if (!end.ok()) return end.status();
    if (*end == ChunkEnd::kStop) return true;
    if (*end == ChunkEnd::kJumped) continue;
    if (consumed == 0) {
      return absl::DataLossError(
          absl::StrCat("journal segment ", segment.path, ": truncated frame at offset ", offset));
    }
    offset += consumed;
  }
  return false;
}

}  // namespace

Journal::Location Journal::Locate(uint64_t sequence) const {
  Location loc;
  absl::MutexLock lock(&segments_mu_);
  const uint64_t oldest = oldest_.load(std::memory_order_acquire);
  if (sequence < oldest) {
    loc.kind = Location::kHole;
    loc.hole_last = oldest - 1;
    return loc;
  }
  for (auto [a, b] : lost_ranges_) {
    if (sequence >= a && sequence <= b) {
      loc.kind = Location::kHole;
      loc.hole_last = b;
      return loc;
    }
  }
  auto it = std::upper_bound(
      segments_.begin(), segments_.end(), sequence,
      [](uint64_t s, const std::shared_ptr<Segment>& seg) { return s < seg->first_sequence; });
  if (it == segments_.begin()) return loc;  // kEnd (empty journal)
  const std::shared_ptr<Segment>& seg = *(it - 1);
  if (sequence >= seg->next_sequence) {
    if (it != segments_.end()) {
      // Between a segment's last readable frame and the next segment.
      loc.kind = Location::kHole;
      loc.hole_last = (*it)->first_sequence - 1;
    }
    return loc;  // else: not written yet
  }
  auto idx = std::upper_bound(
      seg->index.begin(), seg->index.end(), sequence,
      [](uint64_t s, const std::pair<uint64_t, uint64_t>& e) { return s < e.first; });
  loc.kind = Location::kFound;
  loc.segment = seg;
  loc.offset = idx == seg->index.begin() ? kSegmentHeaderSize : (idx - 1)->second;
  loc.limit = seg->readable_bytes;
  for (const auto& skip : seg->skips) {
    if (skip.first >= loc.offset) loc.skips.push_back(skip);
  }
  return loc;
}

absl::StatusOr<Journal::ReadResult> Journal::Read(uint64_t from_sequence, size_t max_records,
                                                  size_t max_bytes, std::string* out) const {
  if (closed_) return absl::FailedPreconditionError("journal is closed");
  if (from_sequence == 0) return absl::InvalidArgumentError("sequence numbers start at 1");
  ReadResult result;
  ReadCursor cursor;
  cursor.sequence = from_sequence;
  cursor.max_records = max_records;
  cursor.max_bytes = max_bytes;
  cursor.start_size = out->size();
  cursor.out = out;
  cursor.result = &result;
  while (result.records < max_records) {
    const uint64_t sequence_before = cursor.sequence;
    const Location loc = Locate(cursor.sequence);
    if (loc.kind == Location::kHole) {
      if (result.records == 0) {
        result.hole = true;
        result.hole_first = cursor.sequence;
        result.hole_last = loc.hole_last;
        cursor.sequence = loc.hole_last + 1;
      }
      break;
    }
    if (loc.kind == Location::kEnd) {
      result.at_end = true;
      break;
    }
    absl::StatusOr<bool> complete = ReadFromSegment(loc, options_.max_payload_bytes, cursor);
    if (!complete.ok()) return complete.status();
    if (*complete || result.hole) break;
    // The segment is exhausted up to what was written: go on with the next
    // segment, or with what was written since.
    if (cursor.sequence == sequence_before) break;  // no progress
  }
  result.next_sequence = cursor.sequence;
  return result;
}

}  // namespace fixstream::gateway
