// RecordBatch: the records parsed from one read of one connection, encoded
// and waiting to be numbered by the hub. A session reuses one batch for all
// its reads, so steady-state batching allocates nothing.
#ifndef FIXSTREAM_GATEWAY_HUB_RECORD_BATCH_H_
#define FIXSTREAM_GATEWAY_HUB_RECORD_BATCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/hub/record_codec.h"
#include "ingest/location_record.h"

namespace fixstream::gateway {

struct BatchEntry {
  uint32_t offset = 0;  // of the frame in RecordBatch::bytes
  EncodedRecordLayout layout;
  double latitude = 0;
  double longitude = 0;
  int64_t fix_time_unix_ns = 0;
  int64_t receive_time_unix_ns = 0;
  uint64_t connection_id = 0;
};

struct RecordBatch {
  void Add(const ingest::LocationRecord& record, int64_t receive_time_unix_ns,
           uint64_t connection_id) {
    const auto offset = static_cast<uint32_t>(bytes.size());
    const EncodedRecordLayout layout =
        AppendEncodedRecord(record, receive_time_unix_ns, connection_id, &bytes);
    entries.push_back(BatchEntry{offset, layout, record.latitude, record.longitude,
                                 record.fix_time_unix_ns, receive_time_unix_ns, connection_id});
  }
  void Clear() {
    bytes.clear();
    entries.clear();
  }
  bool empty() const { return entries.empty(); }

  std::string bytes;  // concatenated encoded frames
  std::vector<BatchEntry> entries;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_RECORD_BATCH_H_
