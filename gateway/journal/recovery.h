// Recovery's scan of one segment's bytes, separated from the file handling
// (recovery.cc) so that it is a pure function of the bytes. Internal to the
// journal; Journal::Open() is the entry point.
//
// Thread safety: pure and thread-safe.
#ifndef FIXSTREAM_GATEWAY_JOURNAL_RECOVERY_H_
#define FIXSTREAM_GATEWAY_JOURNAL_RECOVERY_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace fixstream::gateway::journal_internal {

// A corruption in the middle of a segment that the scan skipped: the bytes
// [bad_offset, resume_offset) are not frames, and the frame at resume_offset
// has resume_sequence. Sequences [first_lost, resume_sequence) are lost
// (none when first_lost == resume_sequence).
struct CorruptRegion {
  uint64_t bad_offset = 0;
  uint64_t resume_offset = 0;
  uint64_t first_lost = 0;
  uint64_t resume_sequence = 0;
};

struct SegmentScan {
  uint64_t frames = 0;         // good frames
  uint64_t next_sequence = 0;  // one past the last good frame (first_sequence if none)
  uint64_t good_end = 0;       // offset just past the last good frame (or the header)
  // The bytes from bad_offset to the end hold no valid frame that continues
  // the sequence: a torn or corrupt tail.
  bool tail_bad = false;
  uint64_t bad_offset = 0;
  std::vector<std::pair<uint64_t, uint64_t>> index;  // (sequence, offset), ascending
  std::vector<CorruptRegion> regions;                // in file order
};

// Scans the frames of a segment whose bytes are data[0, size) (size >=
// kSegmentHeaderSize; the header is not looked at) and whose first frame
// should have `first_sequence`. A frame is good if its payload is at most
// `max_payload` bytes, it lies within the data, its CRC checks out and its
// sequence is the one after the previous good frame. After a bad frame the
// scan resynchronises at the next offset holding a good frame whose
// sequence fits in the bytes skipped (each lost frame takes at least a frame
// header); with none, the rest is a bad tail. One index entry every
// `index_interval` (> 0) good frames, plus one at each resynchronisation.
SegmentScan ScanSegmentFrames(const char* data, size_t size, uint64_t first_sequence,
                              uint32_t max_payload, uint32_t index_interval);

}  // namespace fixstream::gateway::journal_internal

#endif  // FIXSTREAM_GATEWAY_JOURNAL_RECOVERY_H_
