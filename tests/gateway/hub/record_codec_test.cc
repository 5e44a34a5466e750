#include "gateway/hub/record_codec.h"

#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>

#include "fixstream/v1/location.pb.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

using ingest::LocationRecord;

LocationRecord FullRecord() {
  LocationRecord r;
  r.set_vehicle_id("van-0015");
  r.format = ingest::SourceFormat::kNmea;
  r.fix_time_unix_ns = 1'764'000'000'123'456'789;
  r.latitude = 52.666768;
  r.longitude = -13.474991;
  r.present = LocationRecord::kSpeed | LocationRecord::kHeading | LocationRecord::kAltitude |
              LocationRecord::kAccuracy | LocationRecord::kSatellites | LocationRecord::kHdop |
              LocationRecord::kFixQuality;
  r.speed_mps = 14.0;
  r.heading_deg = 250.9;
  r.altitude_m = -12.5;
  r.accuracy_m = 3.25;
  r.satellites = 11;
  r.hdop = 0.9;
  r.fix_quality = ingest::FixQuality::kRtkFloat;
  return r;
}

v1::SubscribeResponse Decode(const std::string& bytes) {
  v1::SubscribeResponse response;
  EXPECT_TRUE(response.ParseFromString(bytes));
  return response;
}

TEST(RecordCodecTest, EncodesEveryFieldAsTheGeneratedParserReadsIt) {
  std::string out;
  EncodedRecordLayout layout =
      AppendEncodedRecord(FullRecord(), 1'764'000'001'000'000'500, 42, &out);
  ASSERT_EQ(layout.size, out.size());
  PatchSequence(out.data(), layout, 987654321);
  v1::SubscribeResponse response = Decode(out);
  ASSERT_EQ(response.records_size(), 1);
  const v1::LocationRecord& r = response.records(0);
  EXPECT_EQ(r.sequence(), 987654321u);
  EXPECT_EQ(r.vehicle_id(), "van-0015");
  EXPECT_EQ(r.fix_time().seconds(), 1'764'000'000);
  EXPECT_EQ(r.fix_time().nanos(), 123'456'789);
  EXPECT_EQ(r.receive_time().seconds(), 1'764'000'001);
  EXPECT_EQ(r.receive_time().nanos(), 500);
  EXPECT_EQ(r.latitude(), 52.666768);
  EXPECT_EQ(r.longitude(), -13.474991);
  EXPECT_TRUE(r.has_speed_mps());
  EXPECT_EQ(r.speed_mps(), 14.0);
  EXPECT_EQ(r.heading_deg(), 250.9);
  EXPECT_EQ(r.altitude_m(), -12.5);
  EXPECT_EQ(r.accuracy_m(), 3.25);
  EXPECT_EQ(r.satellites(), 11u);
  EXPECT_EQ(r.hdop(), 0.9);
  EXPECT_EQ(r.source_format(), v1::SOURCE_FORMAT_NMEA);
  EXPECT_EQ(r.connection_id(), 42u);
  EXPECT_TRUE(r.has_fix_quality());
  EXPECT_EQ(r.fix_quality(), v1::FIX_QUALITY_RTK_FLOAT);
  EXPECT_EQ(out.substr(layout.vehicle_offset, layout.vehicle_size), "van-0015");
}

TEST(RecordCodecTest, MatchesGeneratedSerializationByteForByte) {
  // Proto3 canonical output: fields in number order, defaults omitted.
  LocationRecord record = FullRecord();
  std::string out;
  EncodedRecordLayout layout = AppendEncodedRecord(record, 1'764'000'001'000'000'000, 7, &out);
  PatchSequence(out.data(), layout, 5);
  v1::SubscribeResponse response = Decode(out);
  std::string canonical;
  ASSERT_TRUE(response.SerializeToString(&canonical));
  EXPECT_EQ(canonical, out);
}

TEST(RecordCodecTest, AbsentOptionalFieldsStayAbsent) {
  LocationRecord record;
  record.set_vehicle_id("v");
  record.format = ingest::SourceFormat::kCsv;
  record.fix_time_unix_ns = 1'000'000'000;
  record.latitude = 0;
  record.longitude = 1;
  std::string out;
  AppendEncodedRecord(record, 0, 0, &out);
  const v1::LocationRecord r = Decode(out).records(0);
  EXPECT_FALSE(r.has_speed_mps());
  EXPECT_FALSE(r.has_heading_deg());
  EXPECT_FALSE(r.has_altitude_m());
  EXPECT_FALSE(r.has_accuracy_m());
  EXPECT_FALSE(r.has_satellites());
  EXPECT_FALSE(r.has_hdop());
  EXPECT_FALSE(r.has_fix_quality());
  EXPECT_EQ(r.latitude(), 0);
  EXPECT_EQ(r.longitude(), 1);
  EXPECT_EQ(r.fix_time().seconds(), 1);
}

TEST(RecordCodecTest, LongestVehicleIdFitsAndSizesAddUp) {
  LocationRecord record = FullRecord();
  record.set_vehicle_id(std::string(ingest::kMaxVehicleIdLength, 'x'));
  std::string out = "prefix";
  EncodedRecordLayout layout = AppendEncodedRecord(record, 1, UINT64_MAX, &out);
  EXPECT_LE(layout.size, kMaxEncodedRecordSize);
  EXPECT_EQ(out.size(), 6 + layout.size);
  const v1::LocationRecord r = Decode(out.substr(6)).records(0);
  EXPECT_EQ(r.vehicle_id(), std::string(64, 'x'));
  EXPECT_EQ(r.connection_id(), UINT64_MAX);
}

// Every shape the size computation must get right: each optional field
// alone, ids of every length (bodies on both sides of the one- to two-byte
// length prefix), zero, negative and extreme times and ids, appended after
// other frames. Each frame must equal the generated serializer's output.
TEST(RecordCodecTest, EveryShapeMatchesGeneratedSerialization) {
  constexpr uint32_t kOptional[] = {
      0,
      LocationRecord::kSpeed,
      LocationRecord::kHeading,
      LocationRecord::kAltitude,
      LocationRecord::kAccuracy,
      LocationRecord::kSatellites,
      LocationRecord::kHdop,
      LocationRecord::kFixQuality,
      LocationRecord::kSpeed | LocationRecord::kHeading | LocationRecord::kAltitude |
          LocationRecord::kAccuracy | LocationRecord::kSatellites | LocationRecord::kHdop,
      LocationRecord::kSpeed | LocationRecord::kHeading | LocationRecord::kAltitude |
          LocationRecord::kAccuracy | LocationRecord::kSatellites | LocationRecord::kHdop |
          LocationRecord::kFixQuality,
  };
  constexpr int64_t kTimes[] = {0,
                                1,
                                999'999'999,
                                1'000'000'000,
                                1'764'000'000'123'456'789,
                                -1,
                                -1'500'000'000,
                                INT64_MIN / 2,
                                INT64_MAX};
  constexpr uint64_t kConnections[] = {0, 1, 127, 128, UINT64_MAX};
  constexpr uint32_t kSatellites[] = {0, 127, 128, UINT32_MAX};
  std::string out = "earlier frames";
  size_t cases = 0;
  for (size_t id_length = 1; id_length <= ingest::kMaxVehicleIdLength; id_length += 7) {
    for (size_t i = 0; i < std::size(kOptional) * std::size(kTimes); ++i) {
      LocationRecord r = FullRecord();
      r.set_vehicle_id(std::string(id_length, static_cast<char>('a' + i % 26)));
      r.present = kOptional[i % std::size(kOptional)];
      r.fix_time_unix_ns = kTimes[i % std::size(kTimes)];
      r.satellites = kSatellites[i % std::size(kSatellites)];
      r.format = static_cast<ingest::SourceFormat>(1 + i % 3);
      r.fix_quality = static_cast<ingest::FixQuality>(i % 6);
      if (i % 5 == 0) r.latitude = 0;
      if (i % 7 == 0) r.longitude = 0;
      const int64_t receive = kTimes[(i + id_length) % std::size(kTimes)];
      const uint64_t connection = kConnections[i % std::size(kConnections)];
      const size_t offset = out.size();
      const EncodedRecordLayout layout = AppendEncodedRecord(r, receive, connection, &out);
      ASSERT_EQ(out.size(), offset + layout.size);
      ASSERT_LE(layout.size, kMaxEncodedRecordSize);
      char* frame = out.data() + offset;
      PatchSequence(frame, layout, 1000 + i);
      const std::string bytes(frame, layout.size);
      EXPECT_EQ(bytes.substr(layout.vehicle_offset, layout.vehicle_size), r.vehicle_id());
      v1::SubscribeResponse response = Decode(bytes);
      ASSERT_EQ(response.records_size(), 1) << "id length " << id_length << " case " << i;
      EXPECT_EQ(response.records(0).sequence(), 1000 + i);
      std::string canonical;
      ASSERT_TRUE(response.SerializeToString(&canonical));
      EXPECT_EQ(canonical, bytes) << "id length " << id_length << " case " << i;
      ++cases;
    }
  }
  EXPECT_EQ(out.substr(0, 14), "earlier frames");
  EXPECT_GT(cases, 500u);
}

TEST(RecordCodecTest, ConcatenatedFramesAndTrailerFormOneResponse) {
  std::string out;
  for (uint64_t seq = 10; seq < 13; ++seq) {
    const size_t offset = out.size();
    EncodedRecordLayout layout = AppendEncodedRecord(FullRecord(), 1, 1, &out);
    PatchSequence(out.data() + offset, layout, seq);
  }
  AppendBatchTrailer(10, 12, &out);
  v1::SubscribeResponse response = Decode(out);
  ASSERT_EQ(response.records_size(), 3);
  EXPECT_EQ(response.records(2).sequence(), 12u);
  EXPECT_EQ(response.first_sequence(), 10u);
  EXPECT_EQ(response.last_sequence(), 12u);
}

TEST(RecordCodecTest, DecodesTheMetadataItEncoded) {
  const LocationRecord record = FullRecord();
  std::string out;
  const EncodedRecordLayout layout =
      AppendEncodedRecord(record, 1'764'000'001'000'000'500, 42, &out);
  PatchSequence(out.data(), layout, 77);
  EXPECT_EQ(FrameSize(out + "next frame"), out.size());
  DecodedFrame decoded;
  ASSERT_TRUE(DecodeFrame(out, &decoded));
  EXPECT_EQ(decoded.sequence, 77u);
  EXPECT_EQ(decoded.layout.size, layout.size);
  EXPECT_EQ(decoded.layout.sequence_offset, layout.sequence_offset);
  EXPECT_EQ(decoded.layout.vehicle_offset, layout.vehicle_offset);
  EXPECT_EQ(decoded.layout.vehicle_size, layout.vehicle_size);
  EXPECT_EQ(decoded.latitude, record.latitude);
  EXPECT_EQ(decoded.longitude, record.longitude);
  EXPECT_EQ(decoded.fix_time_unix_ns, record.fix_time_unix_ns);
  EXPECT_EQ(decoded.receive_time_unix_ns, 1'764'000'001'000'000'500);
  EXPECT_EQ(decoded.connection_id, 42u);
}

TEST(RecordCodecTest, FrameMarkedLateIsCanonicalAndDecodes) {
  std::string out;
  const EncodedRecordLayout layout = AppendEncodedRecord(FullRecord(), 1, 3, &out);
  PatchSequence(out.data(), layout, 9);
  char late[kMaxEncodedRecordSize + 8];
  const EncodedRecordLayout marked = CopyFrameMarkedLate(out.data(), layout, late);
  const std::string bytes(late, marked.size);
  v1::SubscribeResponse response = Decode(bytes);
  ASSERT_EQ(response.records_size(), 1);
  EXPECT_TRUE(response.records(0).late());
  EXPECT_EQ(response.records(0).sequence(), 9u);
  std::string canonical;
  ASSERT_TRUE(response.SerializeToString(&canonical));
  EXPECT_EQ(canonical, bytes);
  EXPECT_EQ(bytes.substr(marked.vehicle_offset, marked.vehicle_size), "van-0015");
  DecodedFrame decoded;
  ASSERT_TRUE(DecodeFrame(bytes, &decoded));
  EXPECT_EQ(decoded.sequence, 9u);
  EXPECT_EQ(decoded.layout.size, marked.size);
  EXPECT_EQ(decoded.layout.vehicle_offset, marked.vehicle_offset);
}

// fix_quality (16) comes after late (15): marking a frame late must insert
// late before it, with or without the field, for every quality.
TEST(RecordCodecTest, FrameMarkedLateKeepsFixQualityLastAndCanonical) {
  for (int q = -1; q <= static_cast<int>(ingest::FixQuality::kEstimated); ++q) {
    LocationRecord record = FullRecord();
    if (q < 0) {
      record.present &= ~LocationRecord::kFixQuality;
    } else {
      record.fix_quality = static_cast<ingest::FixQuality>(q);
    }
    std::string out;
    const EncodedRecordLayout layout = AppendEncodedRecord(record, 1, 3, &out);
    EXPECT_EQ(layout.tail_size, q < 0 ? 0u : 3u) << q;
    PatchSequence(out.data(), layout, 9);
    char late[kMaxEncodedRecordSize + 8];
    const EncodedRecordLayout marked = CopyFrameMarkedLate(out.data(), layout, late);
    const std::string bytes(late, marked.size);
    v1::SubscribeResponse response = Decode(bytes);
    ASSERT_EQ(response.records_size(), 1) << q;
    const v1::LocationRecord& r = response.records(0);
    EXPECT_TRUE(r.late()) << q;
    EXPECT_EQ(r.has_fix_quality(), q >= 0) << q;
    if (q >= 0) {
      EXPECT_EQ(static_cast<int>(r.fix_quality()), q);
    }
    std::string canonical;
    ASSERT_TRUE(response.SerializeToString(&canonical));
    EXPECT_EQ(canonical, bytes) << q;
    // Read back (from the journal), the frame reports the same tail.
    DecodedFrame decoded;
    ASSERT_TRUE(DecodeFrame(out, &decoded));
    EXPECT_EQ(decoded.layout.tail_size, layout.tail_size) << q;
    ASSERT_TRUE(DecodeFrame(bytes, &decoded));
    EXPECT_EQ(decoded.layout.tail_size, layout.tail_size) << q;
  }
}

TEST(RecordCodecTest, RejectsWhatIsNotOneOfItsFrames) {
  std::string out;
  AppendEncodedRecord(FullRecord(), 1, 3, &out);
  DecodedFrame decoded;
  EXPECT_FALSE(DecodeFrame(out.substr(0, out.size() - 1), &decoded));  // truncated
  EXPECT_FALSE(DecodeFrame(out + "x", &decoded));                      // trailing byte
  EXPECT_FALSE(DecodeFrame("garbage", &decoded));
  EXPECT_FALSE(DecodeFrame("", &decoded));
  EXPECT_EQ(FrameSize("garbage"), 0u);
  EXPECT_EQ(FrameSize(std::string("\x0a\xff\xff", 3)), 0u);  // length never ends
}

}  // namespace
}  // namespace fixstream::gateway
