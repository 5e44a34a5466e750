#include "gateway/hub/record_codec.h"

#include <bit>
#include <cassert>
#include <cstring>

#include "fixstream/v1/location.pb.h"

namespace fixstream::gateway {
namespace {

// Wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;

constexpr uint8_t Tag(uint32_t field, uint32_t wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}

// Field numbers of fixstream.v1.LocationRecord (location.proto).
enum RecordField : uint32_t {
  kSequence = 1,
  kVehicleId = 2,
  kFixTime = 3,
  kReceiveTime = 4,
  kLatitude = 5,
  kLongitude = 6,
  kSpeed = 7,
  kHeading = 8,
  kAltitude = 9,
  kAccuracy = 10,
  kSatellites = 11,
  kHdop = 12,
  kSourceFormat = 13,
  kConnectionId = 14,
  kLate = 15,
};

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// A google.protobuf.Timestamp as encoded: both fields as varints (proto3
// omits the zero ones), nanos always in [0, 1e9).
struct TimestampParts {
  explicit TimestampParts(int64_t unix_ns) {
    int64_t s = unix_ns / 1'000'000'000;
    int64_t n = unix_ns % 1'000'000'000;
    if (n < 0) {
      n += 1'000'000'000;
      s -= 1;
    }
    seconds = static_cast<uint64_t>(s);
    nanos = static_cast<uint64_t>(n);
    body_size =
        (seconds != 0 ? 1 + VarintSize(seconds) : 0) + (nanos != 0 ? 1 + VarintSize(nanos) : 0);
  }
  // Tag, one-byte length (the body is at most 1 + 10 + 1 + 5 bytes), body.
  size_t field_size() const { return 2 + body_size; }

  uint64_t seconds;
  uint64_t nanos;
  size_t body_size;
};

// Writes into a buffer whose capacity the caller guarantees.
class Writer {
 public:
  explicit Writer(char* p) : begin_(p), p_(p) {}
  size_t size() const { return static_cast<size_t>(p_ - begin_); }
  void Byte(uint8_t b) { *p_++ = static_cast<char>(b); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<char>(v);
  }
  void Fixed64(uint64_t v) {
    static_assert(std::endian::native == std::endian::little);
    std::memcpy(p_, &v, 8);
    p_ += 8;
  }
  void Double(uint32_t field, double d) {
    Byte(Tag(field, kFixed64));
    Fixed64(std::bit_cast<uint64_t>(d));
  }
  void Bytes(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // google.protobuf.Timestamp{seconds, nanos}, sized by parts.field_size().
  void Timestamp(uint32_t field, const TimestampParts& parts) {
    Byte(Tag(field, kLengthDelimited));
    Byte(static_cast<uint8_t>(parts.body_size));
    if (parts.seconds != 0) {
      Byte(Tag(1, kVarint));
      Varint(parts.seconds);
    }
    if (parts.nanos != 0) {
      Byte(Tag(2, kVarint));
      Varint(parts.nanos);
    }
  }

 private:
  char* begin_;
  char* p_;
};

}  // namespace

EncodedRecordLayout AppendEncodedRecord(const ingest::LocationRecord& record,
                                        int64_t receive_time_unix_ns, uint64_t connection_id,
                                        std::string* out) {
  using Field = ingest::LocationRecord;
  // The body's length precedes it, so its size is worked out first (cheap
  // arithmetic, no writes); the frame is then written once, in place, at the
  // end of `out` after a single resize. Every field below must be counted in
  // body_size exactly as it is written; the byte-for-byte tests against the
  // generated serializer and the final assert check that they agree.
  const std::string_view vehicle = record.vehicle_id();
  const TimestampParts fix_time(record.fix_time_unix_ns);
  const TimestampParts receive_time(receive_time_unix_ns);
  // proto3 implicit-presence doubles are omitted when their bits are zero.
  const bool has_latitude = std::bit_cast<uint64_t>(record.latitude) != 0;
  const bool has_longitude = std::bit_cast<uint64_t>(record.longitude) != 0;
  constexpr size_t kDoubleField = 1 + 8;
  // The optional doubles, one presence bit each.
  constexpr uint32_t kOptionalDoubles =
      Field::kSpeed | Field::kHeading | Field::kAltitude | Field::kAccuracy | Field::kHdop;
  size_t body_size = 1 + 8;  // sequence
  body_size += 1 + VarintSize(vehicle.size()) + vehicle.size();
  body_size += fix_time.field_size() + receive_time.field_size();
  body_size += kDoubleField * (size_t{has_latitude} + size_t{has_longitude});
  body_size += kDoubleField * static_cast<size_t>(std::popcount(record.present & kOptionalDoubles));
  if (record.has(Field::kSatellites)) body_size += 1 + VarintSize(record.satellites);
  body_size += 1 + VarintSize(static_cast<uint64_t>(record.format));
  if (connection_id != 0) body_size += 1 + VarintSize(connection_id);
  const size_t header = 1 + VarintSize(body_size);
  assert(header + body_size <= kMaxEncodedRecordSize);

  const size_t offset = out->size();
  out->resize(offset + header + body_size);
  Writer w(out->data() + offset);
  w.Byte(Tag(1, kLengthDelimited));  // SubscribeResponse.records
  w.Varint(body_size);
  w.Byte(Tag(kSequence, kFixed64));
  w.Fixed64(0);
  w.Byte(Tag(kVehicleId, kLengthDelimited));
  w.Varint(vehicle.size());
  const size_t vehicle_offset = w.size();
  w.Bytes(vehicle);
  w.Timestamp(kFixTime, fix_time);
  w.Timestamp(kReceiveTime, receive_time);
  if (has_latitude) w.Double(kLatitude, record.latitude);
  if (has_longitude) w.Double(kLongitude, record.longitude);
  if (record.has(Field::kSpeed)) w.Double(kSpeed, record.speed_mps);
  if (record.has(Field::kHeading)) w.Double(kHeading, record.heading_deg);
  if (record.has(Field::kAltitude)) w.Double(kAltitude, record.altitude_m);
  if (record.has(Field::kAccuracy)) w.Double(kAccuracy, record.accuracy_m);
  if (record.has(Field::kSatellites)) {
    w.Byte(Tag(kSatellites, kVarint));
    w.Varint(record.satellites);
  }
  if (record.has(Field::kHdop)) w.Double(kHdop, record.hdop);
  w.Byte(Tag(kSourceFormat, kVarint));
  w.Varint(static_cast<uint64_t>(record.format));
  if (connection_id != 0) {
    w.Byte(Tag(kConnectionId, kVarint));
    w.Varint(connection_id);
  }
  assert(w.size() == header + body_size);

  EncodedRecordLayout layout;
  layout.size = static_cast<uint32_t>(header + body_size);
  layout.sequence_offset = static_cast<uint16_t>(header + 1);
  layout.vehicle_offset = static_cast<uint16_t>(vehicle_offset);
  layout.vehicle_size = static_cast<uint8_t>(vehicle.size());
  return layout;
}

void PatchSequence(char* frame, const EncodedRecordLayout& layout, uint64_t sequence) {
  std::memcpy(frame + layout.sequence_offset, &sequence, 8);
}

EncodedRecordLayout CopyFrameMarkedLate(const char* frame, const EncodedRecordLayout& layout,
                                        char* out) {
  const size_t header = layout.sequence_offset - 1u;
  const size_t body = layout.size - header;
  const size_t new_body = body + 2;
  Writer w(out);
  w.Byte(Tag(1, kLengthDelimited));
  w.Varint(new_body);
  const size_t new_header = w.size();
  w.Bytes({frame + header, body});
  w.Byte(Tag(kLate, kVarint));
  w.Byte(1);
  EncodedRecordLayout result = layout;
  result.size = static_cast<uint32_t>(w.size());
  result.sequence_offset = static_cast<uint16_t>(layout.sequence_offset + new_header - header);
  result.vehicle_offset = static_cast<uint16_t>(layout.vehicle_offset + new_header - header);
  return result;
}

void AppendGap(uint64_t first_missing, uint64_t last_missing, std::string* out) {
  char inner[22];
  Writer g(inner);
  g.Byte(Tag(1, kVarint));
  g.Varint(first_missing);
  g.Byte(Tag(2, kVarint));
  g.Varint(last_missing);
  char buf[2 + 22];
  Writer w(buf);
  w.Byte(Tag(4, kLengthDelimited));  // SubscribeResponse.gap
  w.Varint(g.size());
  w.Bytes({inner, g.size()});
  out->append(buf, w.size());
}

size_t FrameSize(std::string_view bytes) {
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != Tag(1, kLengthDelimited)) return 0;
  uint64_t body = 0;
  size_t pos = 1;
  for (int shift = 0; pos < bytes.size() && shift < 35; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(bytes[pos++]);
    body |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return pos + body;
  }
  return 0;
}

bool DecodeFrame(std::string_view frame, DecodedFrame* out) {
  // Frame header: tag of SubscribeResponse.records, then the body length.
  if (frame.size() < 2 || static_cast<uint8_t>(frame[0]) != Tag(1, kLengthDelimited)) return false;
  uint64_t body = 0;
  size_t pos = 1;
  for (int shift = 0; pos < frame.size() && shift < 35; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(frame[pos++]);
    body |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (pos + body != frame.size()) return false;
  // Our encoder always starts the body with the fixed64 sequence and then
  // the vehicle id; anything else is not one of our frames.
  const size_t header = pos;
  if (frame.size() < header + 11 ||
      static_cast<uint8_t>(frame[header]) != Tag(kSequence, kFixed64) ||
      static_cast<uint8_t>(frame[header + 9]) != Tag(kVehicleId, kLengthDelimited)) {
    return false;
  }
  const uint8_t vehicle_size = static_cast<uint8_t>(frame[header + 10]);
  if (vehicle_size == 0 || vehicle_size > ingest::kMaxVehicleIdLength) return false;
  v1::LocationRecord record;
  if (!record.ParseFromArray(frame.data() + header, static_cast<int>(body))) return false;
  out->layout.size = static_cast<uint32_t>(frame.size());
  out->layout.sequence_offset = static_cast<uint16_t>(header + 1);
  out->layout.vehicle_offset = static_cast<uint16_t>(header + 11);
  out->layout.vehicle_size = vehicle_size;
  out->sequence = record.sequence();
  out->latitude = record.latitude();
  out->longitude = record.longitude();
  out->fix_time_unix_ns = record.fix_time().seconds() * 1'000'000'000 + record.fix_time().nanos();
  out->receive_time_unix_ns =
      record.receive_time().seconds() * 1'000'000'000 + record.receive_time().nanos();
  out->connection_id = record.connection_id();
  return record.vehicle_id().size() == vehicle_size;
}

void AppendBatchTrailer(uint64_t first_sequence, uint64_t last_sequence, std::string* out) {
  char buf[2 + 20];
  Writer w(buf);
  w.Byte(Tag(2, kVarint));
  w.Varint(first_sequence);
  w.Byte(Tag(3, kVarint));
  w.Varint(last_sequence);
  out->append(buf, w.size());
}

}  // namespace fixstream::gateway
