// The journal's on-disk format: segment file names, the segment header and
// the frame header, with their CRC32C (docs/JOURNAL.md, "Segment format").
// Everything that knows the byte layout is here, so that the writer, the
// recovery scan, the reader and tools agree on one definition.
//
//   segment header (kSegmentHeaderSize = 20 bytes)
//     0  magic           "FSJ1"
//     4  version         u32   kJournalVersion
//     8  first_sequence  u64   = the number in the file name
//    16  header_crc      u32   CRC32C of bytes 0..15
//   frame (kFrameHeaderSize = 16 bytes + payload), repeated
//     0  payload_length  u32
//     4  sequence        u64
//    12  crc             u32   CRC32C(sequence bytes 4..11 + payload)
//
//   sequence lease file "LEASE" (docs/JOURNAL.md, "The sequence lease"): two
//   slots of kLeaseSlotSize bytes at offsets 0 and kLeaseSlotSize (separate
//   sectors, written alternately, so a torn write leaves the other intact)
//     0  magic           "FSL1"
//     4  reserved        u32   0
//     8  generation      u64   the newer intact slot wins
//    16  lease           u64   every sequence ever handed out is < lease
//    24  crc             u32   CRC32C of bytes 0..23
//
// All integers are little-endian whatever the host.
//
// Thread safety: all functions are pure and thread-safe.
#ifndef FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_FORMAT_H_
#define FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_FORMAT_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "gateway/common/crc32c.h"

namespace fixstream::gateway {

inline constexpr char kJournalMagic[4] = {'F', 'S', 'J', '1'};
inline constexpr uint32_t kJournalVersion = 1;
// magic(4) version(u32) first_sequence(u64) crc32c of the preceding 16 bytes(u32)
inline constexpr size_t kSegmentHeaderSize = 20;
// payload_length(u32) sequence(u64) crc32c(sequence bytes + payload)(u32)
inline constexpr size_t kFrameHeaderSize = 16;

// "seg-00000000000000000001.fsj"
std::string JournalSegmentFileName(uint64_t first_sequence);
// The inverse: true and *first_sequence set for a well-formed segment name
// ("seg-" + 20 digits + ".fsj", first sequence > 0), false for any other.
bool ParseJournalSegmentFileName(std::string_view name, uint64_t* first_sequence);

namespace journal_format {

inline void PutFixed32(char* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  std::memcpy(p, &v, sizeof v);
}
inline void PutFixed64(char* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof v);
}
inline uint32_t GetFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
inline uint64_t GetFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Writes the segment header of a segment starting at `first_sequence` into
// out[0, kSegmentHeaderSize).
void EncodeSegmentHeader(uint64_t first_sequence, char* out);

// What a segment header says. `intact` is true when the magic and the
// header CRC check out; `version` and `first_sequence` are only meaningful
// then. Precondition: `data` holds at least kSegmentHeaderSize bytes.
struct SegmentHeader {
  bool intact = false;
  uint32_t version = 0;
  uint64_t first_sequence = 0;
};
SegmentHeader DecodeSegmentHeader(const char* data);

inline constexpr char kLeaseFileName[] = "LEASE";
inline constexpr char kLeaseMagic[4] = {'F', 'S', 'L', '1'};
inline constexpr size_t kLeaseSlotSize = 512;
inline constexpr size_t kLeaseRecordSize = 28;

struct LeaseRecord {
  bool intact = false;
  uint64_t generation = 0;
  uint64_t lease = 0;
};
// Writes a lease slot's record into out[0, kLeaseRecordSize).
void EncodeLeaseRecord(uint64_t generation, uint64_t lease, char* out);
// What a slot says; `intact` when magic and CRC check out. Precondition:
// at least kLeaseRecordSize bytes at `data`.
LeaseRecord DecodeLeaseRecord(const char* data);

// CRC32C over a frame's 8 sequence bytes followed by its payload.
inline uint32_t FrameCrc(const char* sequence_bytes, const char* payload, size_t size) {
  return crc32c::Extend(crc32c::Value(sequence_bytes, 8), payload, size);
}

// Writes the frame of `payload` with `sequence` to out[0, kFrameHeaderSize +
// payload.size()). Precondition: payload.size() fits in a u32.
inline void EncodeFrame(uint64_t sequence, std::string_view payload, char* out) {
  PutFixed32(out, static_cast<uint32_t>(payload.size()));
  PutFixed64(out + 4, sequence);
  PutFixed32(out + 12, FrameCrc(out + 4, payload.data(), payload.size()));
  std::memcpy(out + kFrameHeaderSize, payload.data(), payload.size());
}

// A frame header's fields. Precondition for the accessors: at least
// kFrameHeaderSize bytes at `frame`.
inline uint32_t FramePayloadLength(const char* frame) { return GetFixed32(frame); }
inline uint64_t FrameSequence(const char* frame) { return GetFixed64(frame + 4); }
inline uint32_t FrameStoredCrc(const char* frame) { return GetFixed32(frame + 12); }
// True if the frame's stored CRC matches its sequence and payload.
// Precondition: the whole frame (header + payload length) is at `frame`.
inline bool FrameCrcMatches(const char* frame) {
  return FrameCrc(frame + 4, frame + kFrameHeaderSize, FramePayloadLength(frame)) ==
         FrameStoredCrc(frame);
}

// If a frame whose sequence satisfies `plausible` starts at data[pos] and
// lies within data[0, size), with a payload of at most max_payload bytes
// and a valid CRC, returns its total size and sets *sequence; otherwise 0.
// The cheap checks run first, so this is fast enough to try at every offset
// when resynchronising after corruption.
template <typename Plausible>
size_t FrameAt(const char* data, size_t size, size_t pos, uint32_t max_payload, Plausible plausible,
               uint64_t* sequence) {
  if (pos > size || size - pos < kFrameHeaderSize) return 0;
  const uint32_t length = FramePayloadLength(data + pos);
  if (length > max_payload || size - pos - kFrameHeaderSize < length) return 0;
  const uint64_t seq = FrameSequence(data + pos);
  if (!plausible(seq)) return 0;
  if (!FrameCrcMatches(data + pos)) return 0;
  *sequence = seq;
  return kFrameHeaderSize + length;
}

}  // namespace journal_format
}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_JOURNAL_JOURNAL_FORMAT_H_
