// Test helper: a RecordSink that keeps copies of the records it receives.
#ifndef FIXSTREAM_TESTS_INGEST_RECORD_COLLECTOR_H_
#define FIXSTREAM_TESTS_INGEST_RECORD_COLLECTOR_H_

#include <vector>

#include "ingest/line_parser.h"
#include "ingest/location_record.h"

namespace fixstream::ingest {

class RecordCollector final : public RecordSink {
 public:
  void OnRecord(const LocationRecord& record) override { records.push_back(record); }
  std::vector<LocationRecord> records;
};

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_TESTS_INGEST_RECORD_COLLECTOR_H_
