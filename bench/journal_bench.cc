// Journal throughput and recovery time. Journals go to fresh directories
// under /tmp (or $FIXSTREAM_BENCH_DIR) and are deleted afterwards.
//
//   build-journal/bench/journal_bench --benchmark_min_time=2
//
// BM_Throughput: appends batches of real encoded records (~90 bytes) and,
// per iteration, 100 batches followed by Flush(): the time includes the
// writer's write(2)s and fsyncs, not just the caller's memcpy.
// BM_DurableBatch: one batch, then AwaitDurable() on its last record (what a
// device acknowledgement waits for), batch after batch.
// BM_Recover1GiB: Open() of a 1 GiB journal, with the page cache warm and
// with the segment files evicted from it (posix_fadvise DONTNEED) first.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "gateway/common/log.h"
#include "gateway/hub/record_codec.h"
#include "gateway/journal/journal.h"

namespace fixstream::gateway {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  const char* base = std::getenv("FIXSTREAM_BENCH_DIR");
  std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp", "/journal_bench-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

// Encoded records as the hub stores them, with varying ids and coordinates.
struct Frames {
  std::string bytes;
  std::vector<std::string_view> views;
};

Frames MakeFrames(size_t n) {
  Frames f;
  std::vector<EncodedRecordLayout> layouts;
  for (size_t i = 0; i < n; ++i) {
    ingest::LocationRecord r;
    r.set_vehicle_id(absl::StrCat("veh-", 10000 + i % 5000));
    r.fix_time_unix_ns = 1'795'515'330'000'000'000 + static_cast<int64_t>(i) * 1'000'000'000;
    r.latitude = 52.0 + (i % 1000) * 1e-4;
    r.longitude = 13.0 + (i % 777) * 1e-4;
    // A typical tracker fix: speed, heading, accuracy, altitude, satellites.
    r.speed_mps = (i % 300) / 10.0;
    r.heading_deg = (i % 3600) / 10.0;
    r.accuracy_m = 3.5 + i % 7;
    r.altitude_m = 34.0 + i % 50;
    r.satellites = 7 + i % 6;
    r.present = ingest::LocationRecord::kSpeed | ingest::LocationRecord::kHeading |
                ingest::LocationRecord::kAccuracy | ingest::LocationRecord::kAltitude |
                ingest::LocationRecord::kSatellites;
    layouts.push_back(
        AppendEncodedRecord(r, r.fix_time_unix_ns + 250'000'000, 1 + i % 64, &f.bytes));
  }
  size_t offset = 0;
  for (const EncodedRecordLayout& l : layouts) {
    PatchSequence(f.bytes.data() + offset, l, 1);
    f.views.emplace_back(f.bytes.data() + offset, l.size);
    offset += l.size;
  }
  return f;
}

std::unique_ptr<Journal> OpenJournal(const std::string& dir, DurabilityPolicy policy,
                                     uint64_t retention_bytes = uint64_t{512} << 20) {
  JournalOptions o;
  o.directory = dir;
  o.durability = policy;
  o.retention_bytes = retention_bytes;  // bounded disk use however long it runs
  absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o);
  if (!j.ok()) {
    std::fprintf(stderr, "%s\n", j.status().ToString().c_str());
    std::abort();
  }
  return std::move(*j);
}

void BM_Throughput(benchmark::State& state) {
  const auto policy = static_cast<DurabilityPolicy>(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  const std::string dir = TempDir();
  const Frames frames = MakeFrames(batch);
  auto journal = OpenJournal(dir, policy);
  constexpr int kBatchesPerIteration = 100;
  uint64_t records = 0;
  for (auto _ : state) {
    for (int b = 0; b < kBatchesPerIteration; ++b) {
      if (!journal->Append(journal->next_sequence(), frames.views).ok()) std::abort();
    }
    if (!journal->Flush().ok()) std::abort();
    records += kBatchesPerIteration * batch;
  }
  const JournalStats stats = journal->stats();
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.SetBytesProcessed(static_cast<int64_t>(records / batch * frames.bytes.size()));
  state.counters["fsyncs/s"] =
      benchmark::Counter(static_cast<double>(stats.fsyncs), benchmark::Counter::kIsRate);
  state.counters["record_bytes"] = static_cast<double>(frames.bytes.size()) / batch;
  journal.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_Throughput)
    ->ArgNames({"per_batch", "batch"})
    ->Args({static_cast<int>(DurabilityPolicy::kGroupCommit), 1000})
    ->Args({static_cast<int>(DurabilityPolicy::kPerBatch), 1000})
    ->Args({static_cast<int>(DurabilityPolicy::kGroupCommit), 10})
    ->Args({static_cast<int>(DurabilityPolicy::kPerBatch), 10})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_DurableBatch(benchmark::State& state) {
  const auto policy = static_cast<DurabilityPolicy>(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  const std::string dir = TempDir();
  const Frames frames = MakeFrames(batch);
  auto journal = OpenJournal(dir, policy);
  uint64_t records = 0;
  for (auto _ : state) {
    const uint64_t first = journal->next_sequence();
    if (!journal->Append(first, frames.views).ok()) std::abort();
    if (!journal->AwaitDurable(first + batch - 1, absl::InfiniteFuture()).ok()) std::abort();
    records += batch;
  }
  const JournalStats stats = journal->stats();
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.SetBytesProcessed(static_cast<int64_t>(records / batch * frames.bytes.size()));
  state.counters["fsyncs/s"] =
      benchmark::Counter(static_cast<double>(stats.fsyncs), benchmark::Counter::kIsRate);
  journal.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_DurableBatch)
    ->ArgNames({"per_batch", "batch"})
    ->Args({static_cast<int>(DurabilityPolicy::kGroupCommit), 1000})
    ->Args({static_cast<int>(DurabilityPolicy::kPerBatch), 1000})
    ->Args({static_cast<int>(DurabilityPolicy::kPerBatch), 10})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void EvictFromPageCache(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void BM_Recover1GiB(benchmark::State& state) {
  const bool cold = state.range(0) != 0;
  static const std::string* dir = [] {
    auto* d = new std::string(TempDir());
    auto journal = OpenJournal(*d, DurabilityPolicy::kGroupCommit, uint64_t{4} << 30);
    const Frames frames = MakeFrames(1000);
    while (journal->stats().disk_bytes + journal->stats().pending_bytes < (uint64_t{1} << 30)) {
      for (int i = 0; i < 100; ++i) {
        if (!journal->Append(journal->next_sequence(), frames.views).ok()) std::abort();
      }
      if (!journal->Flush().ok()) std::abort();
    }
    return d;
  }();
  RecoveryReport report;
  for (auto _ : state) {
    state.PauseTiming();
    if (cold) EvictFromPageCache(*dir);
    state.ResumeTiming();
    JournalOptions o;
    o.directory = *dir;
    o.retention_bytes = uint64_t{4} << 30;
    absl::StatusOr<std::unique_ptr<Journal>> j = Journal::Open(o, &report);
    if (!j.ok()) std::abort();
    state.PauseTiming();
    j->reset();
    state.ResumeTiming();
  }
  state.counters["records"] = static_cast<double>(report.frames);
  state.counters["GiB"] = static_cast<double>(report.bytes) / (1 << 30);
  state.counters["segments"] = static_cast<double>(report.segments);
  if (cold) {  // the last variant: clean up
    fs::remove_all(*dir);
  }
}
BENCHMARK(BM_Recover1GiB)
    ->ArgName("cold")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace fixstream::gateway

int main(int argc, char** argv) {
  fixstream::gateway::SetLogLevel(fixstream::gateway::LogLevel::kWarning);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
