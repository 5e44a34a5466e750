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

// One record of a batch: its frame's metadata and where the frame starts.
struct BatchEntry : FrameMeta {
  uint32_t offset = 0;  // of the frame in RecordBatch::bytes
};

struct RecordBatch {
  void Add(const ingest::LocationRecord& record, int64_t receive_time_unix_ns,
           uint64_t connection_id) {
    BatchEntry entry;
    entry.offset = static_cast<uint32_t>(bytes.size());
    entry.layout = AppendEncodedRecord(record, receive_time_unix_ns, connection_id, &bytes);
    entry.latitude = record.latitude;
    entry.longitude = record.longitude;
    entry.fix_time_unix_ns = record.fix_time_unix_ns;
    entry.receive_time_unix_ns = receive_time_unix_ns;
    entry.connection_id = connection_id;
    entries.push_back(entry);
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
