// Record encoding for the hub: a record is serialized exactly once, when its
// line is parsed, into the bytes that every subscriber will send.
//
// Each encoded record is a complete `records` field (field 1) of
// fixstream.v1.SubscribeResponse: tag, length, LocationRecord bytes. A batch
// for a subscriber is therefore a plain concatenation of encoded records
// followed by the batch's first/last sequence fields, which is a valid
// SubscribeResponse encoding. The sequence (fixed64, the record's first
// field) is written as 0 and patched in place by the hub when it numbers the
// record, so numbering never re-encodes.
//
// The encoder is hand-written for speed, on the generated classes' field
// numbers (so it cannot drift from location.proto), and checked byte for
// byte against the generated serializer in
// tests/gateway/hub/record_codec_test.cc.
#ifndef FIXSTREAM_GATEWAY_HUB_RECORD_CODEC_H_
#define FIXSTREAM_GATEWAY_HUB_RECORD_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/location_record.h"

namespace fixstream::gateway {

// Where the parts a subscriber filters on sit inside one encoded record.
struct EncodedRecordLayout {
  uint32_t size = 0;             // bytes of the whole field-1 frame
  uint16_t sequence_offset = 0;  // offset of the 8 little-endian sequence bytes
  uint16_t vehicle_offset = 0;   // offset of the vehicle id bytes
  uint8_t vehicle_size = 0;      // length of the vehicle id
  // Bytes at the end of the frame of fields numbered above `late` (the
  // fix_quality field, 0 or 3 bytes): CopyFrameMarkedLate inserts late
  // before them.
  uint8_t tail_size = 0;
};

// What reading a retained frame and matching it against a subscription
// takes, besides its bytes. The hub keeps one for every record in its ring
// (a million by default), so it stays small: add to FrameMeta what only
// admission needs.
struct FrameInfo {
  EncodedRecordLayout layout;
  double latitude = 0;
  double longitude = 0;
};

// A frame's metadata: everything the hub needs to admit and retain an
// encoded record without parsing it again. The one definition behind the
// records of a batch (BatchEntry), the frames read back from the journal
// (DecodedFrame) and, as its FrameInfo, the hub's ring entries.
struct FrameMeta : FrameInfo {
  int64_t fix_time_unix_ns = 0;
  int64_t receive_time_unix_ns = 0;
  uint64_t connection_id = 0;
};

// Upper bound of an encoded record's size, late flag included.
inline constexpr size_t kMaxEncodedRecordSize = 512;

// Appends `record` as a SubscribeResponse.records frame to `out` with sequence
// 0 and returns its layout (offsets relative to the frame's first byte).
// Amortised allocation-free when `out` is reused.
EncodedRecordLayout AppendEncodedRecord(const ingest::LocationRecord& record,
                                        int64_t receive_time_unix_ns, uint64_t connection_id,
                                        std::string* out);

// Overwrites the sequence of the frame at `frame` (whose layout is `layout`).
void PatchSequence(char* frame, const EncodedRecordLayout& layout, uint64_t sequence);

// Writes `frame` (whose layout is `layout`) to `out` with LocationRecord.late
// = true inserted before the fields numbered above it (layout.tail_size
// bytes, which the encoder writes last), so the result is still canonical.
// `out` must have room for layout.size + 3 bytes. Returns the new frame's
// layout.
EncodedRecordLayout CopyFrameMarkedLate(const char* frame, const EncodedRecordLayout& layout,
                                        char* out);

// A frame the hub did not encode itself (one read back from the journal at
// start-up): its metadata and the sequence it was numbered with.
struct DecodedFrame : FrameMeta {
  uint64_t sequence = 0;
};

// Size of the frame at the start of `bytes` (tag, length and body), or 0 if
// they do not start with a SubscribeResponse.records frame header.
size_t FrameSize(std::string_view bytes);

// Decodes a frame produced by AppendEncodedRecord (sequence patched, late
// flag possibly appended). Returns false if `frame` is not such a frame.
bool DecodeFrame(std::string_view frame, DecodedFrame* out);

// Appends SubscribeResponse.first_sequence and .last_sequence to `out`.
void AppendBatchTrailer(uint64_t first_sequence, uint64_t last_sequence, std::string* out);

// Appends SubscribeResponse.gap {first_missing, last_missing} to `out`.
void AppendGap(uint64_t first_missing, uint64_t last_missing, std::string* out);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_RECORD_CODEC_H_
