// Batches of records for the store's and the API's tests: each record has a
// fix time one second after the previous one (process-wide), so the vehicle
// registry never drops one as a duplicate.
#ifndef FIXSTREAM_TESTS_GATEWAY_STORE_TEST_BATCHES_H_
#define FIXSTREAM_TESTS_GATEWAY_STORE_TEST_BATCHES_H_

#include <atomic>
#include <cstdint>
#include <string_view>

#include "gateway/hub/record_batch.h"
#include "ingest/location_record.h"

namespace fixstream::gateway::testing {

inline int64_t NextFixTime() {
  static std::atomic<int64_t> next{1'700'000'000'000'000'000};
  return next.fetch_add(1'000'000'000) + 1'000'000'000;
}

// `n` records of `vehicle` at (10, 20), received at 0 on connection 1.
inline RecordBatch MakeBatch(int n, std::string_view vehicle = "v1") {
  RecordBatch batch;
  for (int i = 0; i < n; ++i) {
    ingest::LocationRecord r;
    r.set_vehicle_id(vehicle);
    r.fix_time_unix_ns = NextFixTime();
    r.latitude = 10;
    r.longitude = 20;
    batch.Add(r, 0, 1);
  }
  return batch;
}

}  // namespace fixstream::gateway::testing

#endif  // FIXSTREAM_TESTS_GATEWAY_STORE_TEST_BATCHES_H_
