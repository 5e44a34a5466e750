#include "gateway/hub/record_codec.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <functional>

#include "fixstream/v1/location.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace fixstream::gateway {
namespace {

using Record = v1::LocationRecord;
using Response = v1::SubscribeResponse;

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

// The field's key as written: a field numbered below 16 has a one-byte key
// (a larger number fails to compile here; see Tag2).
consteval uint8_t Tag(int field, WireType type) {
  if (field < 1 || field > 15) throw "field number needs a multi-byte key";
  return static_cast<uint8_t>((field << 3) | static_cast<int>(type));
}

// The two-byte key of a field numbered 16 to 2047, as its varint bytes.
struct Key2 {
  uint8_t low;
  uint8_t high;
};
consteval Key2 Tag2(int field, WireType type) {
  if (field < 16 || field > 2047) throw "field number needs a one- or three-byte key";
  const int key = (field << 3) | static_cast<int>(type);
  return {static_cast<uint8_t>((key & 0x7f) | 0x80), static_cast<uint8_t>(key >> 7)};
}

// The keys of what we write, from the generated classes' field numbers, so
// that the codec follows location.proto.
constexpr uint8_t kRecordsTag = Tag(Response::kRecordsFieldNumber, WireType::kLengthDelimited);
constexpr uint8_t kFirstSequenceTag = Tag(Response::kFirstSequenceFieldNumber, WireType::kVarint);
constexpr uint8_t kLastSequenceTag = Tag(Response::kLastSequenceFieldNumber, WireType::kVarint);
constexpr uint8_t kGapTag = Tag(Response::kGapFieldNumber, WireType::kLengthDelimited);
constexpr uint8_t kFirstMissingTag = Tag(v1::Gap::kFirstMissingFieldNumber, WireType::kVarint);
constexpr uint8_t kLastMissingTag = Tag(v1::Gap::kLastMissingFieldNumber, WireType::kVarint);
constexpr uint8_t kSecondsTag =
    Tag(google::protobuf::Timestamp::kSecondsFieldNumber, WireType::kVarint);
constexpr uint8_t kNanosTag =
    Tag(google::protobuf::Timestamp::kNanosFieldNumber, WireType::kVarint);
constexpr uint8_t kSequenceTag = Tag(Record::kSequenceFieldNumber, WireType::kFixed64);
constexpr uint8_t kVehicleIdTag = Tag(Record::kVehicleIdFieldNumber, WireType::kLengthDelimited);
constexpr uint8_t kFixTimeTag = Tag(Record::kFixTimeFieldNumber, WireType::kLengthDelimited);
constexpr uint8_t kReceiveTimeTag =
    Tag(Record::kReceiveTimeFieldNumber, WireType::kLengthDelimited);
constexpr uint8_t kLatitudeTag = Tag(Record::kLatitudeFieldNumber, WireType::kFixed64);
constexpr uint8_t kLongitudeTag = Tag(Record::kLongitudeFieldNumber, WireType::kFixed64);
constexpr uint8_t kSpeedTag = Tag(Record::kSpeedMpsFieldNumber, WireType::kFixed64);
constexpr uint8_t kHeadingTag = Tag(Record::kHeadingDegFieldNumber, WireType::kFixed64);
constexpr uint8_t kAltitudeTag = Tag(Record::kAltitudeMFieldNumber, WireType::kFixed64);
constexpr uint8_t kAccuracyTag = Tag(Record::kAccuracyMFieldNumber, WireType::kFixed64);
constexpr uint8_t kSatellitesTag = Tag(Record::kSatellitesFieldNumber, WireType::kVarint);
constexpr uint8_t kHdopTag = Tag(Record::kHdopFieldNumber, WireType::kFixed64);
constexpr uint8_t kSourceFormatTag = Tag(Record::kSourceFormatFieldNumber, WireType::kVarint);
constexpr uint8_t kConnectionIdTag = Tag(Record::kConnectionIdFieldNumber, WireType::kVarint);
constexpr uint8_t kLateTag = Tag(Record::kLateFieldNumber, WireType::kVarint);
constexpr Key2 kFixQualityTag = Tag2(Record::kFixQualityFieldNumber, WireType::kVarint);
// The fix_quality field: two-byte key, one-byte value (every FixQuality is
// below 128).
constexpr size_t kFixQualityFieldSize = 3;

// ingest::FixQuality is written as its number: it must be the proto's.
static_assert(static_cast<int>(ingest::FixQuality::kNone) == v1::FIX_QUALITY_NONE);
static_assert(static_cast<int>(ingest::FixQuality::kGps) == v1::FIX_QUALITY_GPS);
static_assert(static_cast<int>(ingest::FixQuality::kDgps) == v1::FIX_QUALITY_DGPS);
static_assert(static_cast<int>(ingest::FixQuality::kRtkFixed) == v1::FIX_QUALITY_RTK_FIXED);
static_assert(static_cast<int>(ingest::FixQuality::kRtkFloat) == v1::FIX_QUALITY_RTK_FLOAT);
static_assert(static_cast<int>(ingest::FixQuality::kEstimated) == v1::FIX_QUALITY_ESTIMATED);
static_assert(v1::FixQuality_MAX == v1::FIX_QUALITY_ESTIMATED && v1::FixQuality_MAX < 128,
              "a new FixQuality needs ingest::FixQuality and a check of kFixQualityFieldSize");

// The order in which AppendEncodedRecord writes a record's fields. It must be
// field number order for the output to be canonical (what the generated
// serializer writes); CopyFrameMarkedLate inserts late before the fields
// after it (EncodedRecordLayout::tail_size).
constexpr int kWriteOrder[] = {
    Record::kSequenceFieldNumber,     Record::kVehicleIdFieldNumber,
    Record::kFixTimeFieldNumber,      Record::kReceiveTimeFieldNumber,
    Record::kLatitudeFieldNumber,     Record::kLongitudeFieldNumber,
    Record::kSpeedMpsFieldNumber,     Record::kHeadingDegFieldNumber,
    Record::kAltitudeMFieldNumber,    Record::kAccuracyMFieldNumber,
    Record::kSatellitesFieldNumber,   Record::kHdopFieldNumber,
    Record::kSourceFormatFieldNumber, Record::kConnectionIdFieldNumber,
    Record::kLateFieldNumber,         Record::kFixQualityFieldNumber,
};
static_assert(std::ranges::adjacent_find(kWriteOrder, std::greater_equal<>()) ==
                  std::ranges::end(kWriteOrder),
              "LocationRecord's fields must be written in field number order");

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
  void Double(uint8_t tag, double d) {
    Byte(tag);
    Fixed64(std::bit_cast<uint64_t>(d));
  }
  void Bytes(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // google.protobuf.Timestamp{seconds, nanos}, sized by parts.field_size().
  void Timestamp(uint8_t tag, const TimestampParts& parts) {
    Byte(tag);
    Byte(static_cast<uint8_t>(parts.body_size));
    if (parts.seconds != 0) {
      Byte(kSecondsTag);
      Varint(parts.seconds);
    }
    if (parts.nanos != 0) {
      Byte(kNanosTag);
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
  const size_t tail_size = record.has(Field::kFixQuality) ? kFixQualityFieldSize : 0;
  body_size += tail_size;
  const size_t header = 1 + VarintSize(body_size);
  assert(header + body_size <= kMaxEncodedRecordSize);

  const size_t offset = out->size();
  out->resize(offset + header + body_size);
  Writer w(out->data() + offset);
  w.Byte(kRecordsTag);
  w.Varint(body_size);
  w.Byte(kSequenceTag);
  w.Fixed64(0);
  w.Byte(kVehicleIdTag);
  w.Varint(vehicle.size());
  const size_t vehicle_offset = w.size();
  w.Bytes(vehicle);
  w.Timestamp(kFixTimeTag, fix_time);
  w.Timestamp(kReceiveTimeTag, receive_time);
  if (has_latitude) w.Double(kLatitudeTag, record.latitude);
  if (has_longitude) w.Double(kLongitudeTag, record.longitude);
  if (record.has(Field::kSpeed)) w.Double(kSpeedTag, record.speed_mps);
  if (record.has(Field::kHeading)) w.Double(kHeadingTag, record.heading_deg);
  if (record.has(Field::kAltitude)) w.Double(kAltitudeTag, record.altitude_m);
  if (record.has(Field::kAccuracy)) w.Double(kAccuracyTag, record.accuracy_m);
  if (record.has(Field::kSatellites)) {
    w.Byte(kSatellitesTag);
    w.Varint(record.satellites);
  }
  if (record.has(Field::kHdop)) w.Double(kHdopTag, record.hdop);
  w.Byte(kSourceFormatTag);
  w.Varint(static_cast<uint64_t>(record.format));
  if (connection_id != 0) {
    w.Byte(kConnectionIdTag);
    w.Varint(connection_id);
  }
  if (record.has(Field::kFixQuality)) {
    w.Byte(kFixQualityTag.low);
    w.Byte(kFixQualityTag.high);
    w.Byte(static_cast<uint8_t>(record.fix_quality));
  }
  assert(w.size() == header + body_size);

  EncodedRecordLayout layout;
  layout.size = static_cast<uint32_t>(header + body_size);
  layout.sequence_offset = static_cast<uint16_t>(header + 1);
  layout.vehicle_offset = static_cast<uint16_t>(vehicle_offset);
  layout.vehicle_size = static_cast<uint8_t>(vehicle.size());
  layout.tail_size = static_cast<uint8_t>(tail_size);
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
  w.Byte(kRecordsTag);
  w.Varint(new_body);
  const size_t new_header = w.size();
  w.Bytes({frame + header, body - layout.tail_size});
  w.Byte(kLateTag);
  w.Byte(1);
  w.Bytes({frame + layout.size - layout.tail_size, layout.tail_size});
  EncodedRecordLayout result = layout;
  result.size = static_cast<uint32_t>(w.size());
  result.sequence_offset = static_cast<uint16_t>(layout.sequence_offset + new_header - header);
  result.vehicle_offset = static_cast<uint16_t>(layout.vehicle_offset + new_header - header);
  return result;
}

void AppendGap(uint64_t first_missing, uint64_t last_missing, std::string* out) {
  char inner[22];
  Writer g(inner);
  g.Byte(kFirstMissingTag);
  g.Varint(first_missing);
  g.Byte(kLastMissingTag);
  g.Varint(last_missing);
  char buf[2 + 22];
  Writer w(buf);
  w.Byte(kGapTag);
  w.Varint(g.size());
  w.Bytes({inner, g.size()});
  out->append(buf, w.size());
}

namespace {

// The header of the SubscribeResponse.records frame at the start of `bytes`:
// its key and the body's length (at most five varint bytes).
struct FrameHeader {
  size_t size = 0;  // 0: `bytes` do not start with one
  uint64_t body_size = 0;
};

FrameHeader ReadFrameHeader(std::string_view bytes) {
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != kRecordsTag) return {};
  uint64_t body = 0;
  size_t pos = 1;
  for (int shift = 0; pos < bytes.size() && shift < 35; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(bytes[pos++]);
    body |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return {pos, body};
  }
  return {};
}

}  // namespace

size_t FrameSize(std::string_view bytes) {
  const FrameHeader h = ReadFrameHeader(bytes);
  return h.size == 0 ? 0 : h.size + h.body_size;
}

bool DecodeFrame(std::string_view frame, DecodedFrame* out) {
  const FrameHeader h = ReadFrameHeader(frame);
  if (h.size == 0 || h.size + h.body_size != frame.size()) return false;
  const size_t header = h.size;
  const uint64_t body = h.body_size;
  // Our encoder always starts the body with the fixed64 sequence and then
  // the vehicle id; anything else is not one of our frames.
  if (frame.size() < header + 11 || static_cast<uint8_t>(frame[header]) != kSequenceTag ||
      static_cast<uint8_t>(frame[header + 9]) != kVehicleIdTag) {
    return false;
  }
  const uint8_t vehicle_size = static_cast<uint8_t>(frame[header + 10]);
  if (vehicle_size == 0 || vehicle_size > ingest::kMaxVehicleIdLength) return false;
  Record record;
  if (!record.ParseFromArray(frame.data() + header, static_cast<int>(body))) return false;
  out->layout.size = static_cast<uint32_t>(frame.size());
  out->layout.sequence_offset = static_cast<uint16_t>(header + 1);
  out->layout.vehicle_offset = static_cast<uint16_t>(header + 11);
  out->layout.vehicle_size = vehicle_size;
  // Fields above late: the encoder writes them last, after late if marked.
  out->layout.tail_size = record.has_fix_quality() ? kFixQualityFieldSize : 0;
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
  w.Byte(kFirstSequenceTag);
  w.Varint(first_sequence);
  w.Byte(kLastSequenceTag);
  w.Varint(last_sequence);
  out->append(buf, w.size());
}

}  // namespace fixstream::gateway
