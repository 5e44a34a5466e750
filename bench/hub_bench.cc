// The gateway's per-record cost after parsing, one core: encoding a parsed
// record into a session's batch, and publishing batches through the hub
// (vehicle registry admission, numbering, retention, latest positions).
// Each benchmark reports items_processed in records.
//
//   build-release/bench/hub_bench --benchmark_repetitions=3
//
// Traffic: kVehicles vehicles each report once per round, in a shuffled
// order; 3 in 4 records look like a CSV fix (speed, heading), 1 in 4 like a
// merged NMEA RMC+GGA fix (altitude, satellites, hdop too). About 1% of the
// records repeat their vehicle's previous fix (a device retransmitting) and
// about 1% are a second older than it (late).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "gateway/hub/hub.h"
#include "gateway/hub/record_batch.h"
#include "gateway/hub/vehicle_registry.h"
#include "ingest/location_record.h"

namespace fixstream::gateway {
namespace {

constexpr size_t kVehicles = 4000;
constexpr size_t kBatch = 256;
constexpr int64_t kStartNs = 1'795'515'330'000'000'000;
constexpr int64_t kSecond = 1'000'000'000;

// `rounds` rounds of kVehicles records.
std::vector<ingest::LocationRecord> Traffic(size_t rounds) {
  std::mt19937 rng(42);
  std::vector<size_t> order(kVehicles);
  for (size_t i = 0; i < kVehicles; ++i) order[i] = i;
  std::vector<ingest::LocationRecord> records;
  records.reserve(rounds * kVehicles);
  for (size_t round = 0; round < rounds; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t v : order) {
      ingest::LocationRecord r;
      char id[16];
      std::snprintf(id, sizeof id, "veh-%05zu", v);
      r.set_vehicle_id(id);
      int64_t fix =
          kStartNs + static_cast<int64_t>(round) * kSecond + static_cast<int64_t>(v) * 1'000'000;
      const uint32_t dice = rng() % 100;
      if (round > 0 && dice == 0) fix -= kSecond;      // duplicate of the previous fix
      if (round > 1 && dice == 1) fix -= 2 * kSecond;  // late
      r.fix_time_unix_ns = fix;
      r.latitude = 52.0 + static_cast<double>((v * 31 + round) % 10000) * 1e-5;
      r.longitude = 13.0 + static_cast<double>((v * 17 + round) % 10000) * 1e-5;
      r.speed_mps = static_cast<double>((v + round) % 300) / 10.0;
      r.heading_deg = static_cast<double>((v * 7 + round) % 3600) / 10.0;
      r.present = ingest::LocationRecord::kSpeed | ingest::LocationRecord::kHeading;
      if (v % 4 == 3) {
        r.format = ingest::SourceFormat::kNmea;
        r.altitude_m = 34.0 + static_cast<double>(v % 50);
        r.satellites = 7 + v % 6;
        r.hdop = 0.9;
        r.present |= ingest::LocationRecord::kAltitude | ingest::LocationRecord::kSatellites |
                     ingest::LocationRecord::kHdop;
      }
      records.push_back(r);
    }
  }
  return records;
}

// Encoding 256 parsed records into a reused batch (what a session does per
// read), then clearing it.
void BM_RecordBatchAdd(benchmark::State& state) {
  const std::vector<ingest::LocationRecord> records = Traffic(1);
  RecordBatch batch;
  size_t i = 0;
  for (auto _ : state) {
    batch.Clear();
    for (size_t n = 0; n < kBatch; ++n) {
      batch.Add(records[i], kStartNs + static_cast<int64_t>(i), 1 + i % 8);
      if (++i == records.size()) i = 0;
    }
    benchmark::DoNotOptimize(batch.bytes.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_RecordBatchAdd);

// Pre-encoded batches, published over and over with their fix times moved
// forward each pass (the registry reads the fix time from the entry, not
// from the frame), so records stay new rather than becoming duplicates.
struct PreparedBatches {
  explicit PreparedBatches(size_t rounds) {
    const std::vector<ingest::LocationRecord> records = Traffic(rounds);
    batches.resize((records.size() + kBatch - 1) / kBatch);
    for (size_t i = 0; i < records.size(); ++i) {
      batches[i / kBatch].Add(records[i], kStartNs + static_cast<int64_t>(i), 1 + i % 8);
    }
    span_ns = static_cast<int64_t>(rounds) * kSecond;
  }
  void NextPass() {
    for (RecordBatch& b : batches) {
      for (BatchEntry& e : b.entries) e.fix_time_unix_ns += span_ns;
    }
  }
  std::vector<RecordBatch> batches;
  int64_t span_ns = 0;
};

void RunPublish(benchmark::State& state, size_t max_vehicles) {
  PreparedBatches prepared(16);  // 64000 records, 250 batches
  HubOptions options;
  options.max_records = 1 << 18;
  options.max_bytes = 32 << 20;
  options.vehicles.max_vehicles = max_vehicles;
  Hub hub(options);
  // Warm up: every vehicle known, the ring wrapped once.
  for (size_t pass = 0; pass < 5; ++pass) {
    for (RecordBatch& b : prepared.batches) hub.Publish(b);
    prepared.NextPass();
  }
  size_t next = 0;
  int64_t records = 0;
  for (auto _ : state) {
    RecordBatch& b = prepared.batches[next];
    benchmark::DoNotOptimize(hub.Publish(b));
    records += static_cast<int64_t>(b.entries.size());
    if (++next == prepared.batches.size()) {
      next = 0;
      prepared.NextPass();
    }
  }
  state.SetItemsProcessed(records);
  state.counters["vehicles"] = static_cast<double>(hub.vehicles());
}

// A batch of 256 records over 4000 known vehicles.
void BM_HubPublish(benchmark::State& state) { RunPublish(state, 100'000); }
BENCHMARK(BM_HubPublish);

// The same with --max_vehicles below the fleet size: most records admit a
// vehicle that was forgotten, evicting the least recently seen.
void BM_HubPublishEvicting(benchmark::State& state) { RunPublish(state, 3000); }
BENCHMARK(BM_HubPublishEvicting);

// The registry alone: Admit plus SetLatest for the newest fix, as the hub
// does it, with a ~90-byte frame.
void BM_VehicleRegistryAdmit(benchmark::State& state) {
  const std::vector<ingest::LocationRecord> records = Traffic(16);
  VehicleRegistry registry(VehicleRegistryOptions{});
  const std::string frame(90, 'f');
  int64_t shift = 0;
  size_t i = 0;
  for (auto _ : state) {
    const ingest::LocationRecord& r = records[i];
    const VehicleRegistry::Admission a =
        registry.Admit(r.vehicle_id(), r.fix_time_unix_ns + shift, kStartNs, 1);
    if (a.newest) VehicleRegistry::SetLatest(a.vehicle, frame);
    benchmark::DoNotOptimize(a);
    if (++i == records.size()) {
      i = 0;
      shift += 16 * kSecond;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_VehicleRegistryAdmit);

}  // namespace
}  // namespace fixstream::gateway

BENCHMARK_MAIN();
