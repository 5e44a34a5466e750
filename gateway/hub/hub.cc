#include "gateway/hub/hub.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <new>

#include "absl/base/attributes.h"
#include "absl/time/clock.h"

namespace fixstream::gateway {
namespace {

// `prefault`: touch every page now; `map`: an mmap'd ring even so (for
// RingPrefaulter).
std::unique_ptr<char[], RingMemoryDeleter> AllocateRing(size_t size, bool prefault, bool map) {
  if (!prefault && !map) {
    // Not value-initialised: pages become resident only as records are
    // written into them.
    return std::unique_ptr<char[], RingMemoryDeleter>(new char[size]);
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return std::unique_ptr<char[], RingMemoryDeleter>(new char[size]);
  // Huge pages where possible (fewer TLB misses copying in and out), then
  // touch every page so they are all resident now.
  ::madvise(p, size, MADV_HUGEPAGE);
  if (!prefault) {
    return std::unique_ptr<char[], RingMemoryDeleter>(static_cast<char*>(p),
                                                      RingMemoryDeleter{size});
  }
  volatile char* bytes = static_cast<char*>(p);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (size_t offset = 0; offset < size; offset += page) bytes[offset] = 0;
  return std::unique_ptr<char[], RingMemoryDeleter>(static_cast<char*>(p), RingMemoryDeleter{size});
}

}  // namespace

RingPrefaulter::RingPrefaulter(char* ring, size_t size) {
  if (ring == nullptr || size == 0) return;
  thread_ = std::thread([this, ring, size] {
    // In huge-page steps, checking for a stop between them.
    constexpr size_t kStep = 2 << 20;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    for (size_t offset = 0; offset < size && !stop_.load(std::memory_order_relaxed);
         offset += kStep) {
      const size_t n = std::min(kStep, size - offset);
      if (::madvise(ring + offset, n, MADV_POPULATE_WRITE) != 0) {
        // Before Linux 5.14: fault each page with an atomic add of zero,
        // which leaves whatever the hub copied in meanwhile as it was.
        for (size_t p = offset; p < offset + n; p += page) {
          __atomic_fetch_add(ring + p, 0, __ATOMIC_RELAXED);
        }
      }
    }
  });
}

RingPrefaulter::~RingPrefaulter() {
  stop_.store(true, std::memory_order_relaxed);
  Wait();
}

void RingPrefaulter::Wait() {
  if (thread_.joinable()) thread_.join();
}

void RingMemoryDeleter::operator()(char* p) const {
  if (mapped_size > 0) {
    ::munmap(p, mapped_size);
  } else {
    delete[] p;
  }
}

Hub::Hub(HubOptions options, uint64_t first_sequence, RecordLog* log)
    : options_(options),
      entry_mask_(std::bit_ceil(std::max<size_t>(options.max_records, 1)) - 1),
      entries_(static_cast<Entry*>(std::calloc(entry_mask_ + 1, sizeof(Entry)))),
      bytes_(AllocateRing(options.max_bytes,
                          options.prefault_ring && !options.prefault_in_background,
                          options.prefault_ring && options.prefault_in_background)),
      prefault_(options.prefault_ring && options.prefault_in_background ? bytes_.get() : nullptr,
                bytes_.get_deleter().mapped_size),
      vehicles_(options.vehicles),
      log_(log) {
  head_.store(first_sequence);
  readable_end_.store(first_sequence);
  oldest_ = first_sequence;
  assert(options_.max_bytes >= 4 * kMaxEncodedRecordSize);
  if (entries_ == nullptr) throw std::bad_alloc();
  // One per retained record, a million by default.
  static_assert(sizeof(Entry) <= 56, "keep the ring's entries small");
}

// Inlined into its two callers: out of line, the call and the returned
// struct measurably cost Publish (hub_bench, callgrind).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Hub::Accepted Hub::Accept(Arrival arrival, uint64_t sequence,
                                                              std::string_view frame,
                                                              const FrameMeta& meta,
                                                              int64_t publish_unix_ns) {
  const VehicleRegistry::Admission admission =
      vehicles_.Admit({frame.data() + meta.layout.vehicle_offset, meta.layout.vehicle_size},
                      meta.fix_time_unix_ns, meta.receive_time_unix_ns, meta.connection_id);
  // A restored record was admitted when it was published: it is kept
  // whatever a registry rebuilt from the journal alone says now, and it
  // already carries its late flag.
  const bool published = arrival == Arrival::kPublished;
  Accepted accepted;
  if (published && admission.duplicate) return accepted;
  FrameInfo info = meta;
  char late_frame[kMaxEncodedRecordSize + 8];
  if (published && admission.late) {
    info.layout = CopyFrameMarkedLate(frame.data(), meta.layout, late_frame);
    frame = {late_frame, info.layout.size};
    accepted.late = true;
  }
  char* stored = Retain(sequence, frame, info, publish_unix_ns);
  // Numbered in the ring's copy: the encoded bytes that were handed in stay
  // as they are (a restored frame has its sequence already).
  if (published) PatchSequence(stored, info.layout, sequence);
  accepted.stored = {stored, frame.size()};
  if (admission.newest) VehicleRegistry::SetLatest(admission.vehicle, accepted.stored);
  return accepted;
}

Hub::PublishResult Hub::Publish(RecordBatch& batch) {
  PublishResult result;
  if (batch.empty()) return result;
  RecordLog* logged_to = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.load(std::memory_order_relaxed)) {
      result.refused = batch.entries.size();
      return result;
    }
    uint64_t sequence = head_.load(std::memory_order_relaxed);
    if (log_ != nullptr && !log_->CanAppend(sequence + batch.entries.size() - 1)) {
      result.unavailable = batch.entries.size();
      return result;
    }
    const int64_t now = absl::GetCurrentTimeNanos();
    log_frames_.clear();
    for (const BatchEntry& in : batch.entries) {
      const Accepted accepted = Accept(Arrival::kPublished, sequence,
                                       {batch.bytes.data() + in.offset, in.layout.size}, in, now);
      if (accepted.stored.empty()) {
        ++result.duplicates;
        continue;
      }
      if (accepted.late) ++result.late;
      if (log_ != nullptr) log_frames_.push_back(accepted.stored);
      if (result.published++ == 0) result.first_sequence = sequence;
      ++sequence;
    }
    // The ring's copies stay valid until this lock is released, and the log
    // copies them before returning.
    if (log_ != nullptr && result.published > 0) {
      log_->Append(result.first_sequence, log_frames_);
      logged_to = log_;
    }
    head_.store(sequence, std::memory_order_release);
    result.next_sequence = sequence;
  }
  // When gated, MarkDurable() wakes the listeners instead.
  if (result.published > 0 && !gated_.load(std::memory_order_relaxed)) Notify();
  // At rest, waking the journal's writer before the delivery measurably
  // delayed it (the wakee tends to preempt this thread on its own core).
  if (logged_to != nullptr) logged_to->AfterPublish();
  return result;
}

void Hub::GateOnDurable() {
  absl::MutexLock lock(&mu_);
  readable_end_.store(head_.load(std::memory_order_relaxed), std::memory_order_release);
  gated_.store(true, std::memory_order_release);
}

void Hub::MarkDurable(uint64_t durable_sequence) {
  {
    absl::MutexLock lock(&mu_);
    const uint64_t end = std::min(durable_sequence + 1, head_.load(std::memory_order_relaxed));
    if (end <= readable_end_.load(std::memory_order_relaxed)) return;
    readable_end_.store(end, std::memory_order_release);
  }
  Notify();
}

void Hub::AttachLog(RecordLog* log, uint64_t next_sequence) {
  absl::MutexLock lock(&mu_);
  assert(oldest_ == head_.load(std::memory_order_relaxed));
  log_ = log;
  head_.store(next_sequence, std::memory_order_release);
  readable_end_.store(next_sequence, std::memory_order_release);
  oldest_ = next_sequence;
}

void Hub::SkipTo(uint64_t next_sequence) {
  absl::MutexLock lock(&mu_);
  assert(next_sequence >= head_.load(std::memory_order_relaxed));
  head_.store(next_sequence, std::memory_order_release);
  readable_end_.store(next_sequence, std::memory_order_release);
  oldest_ = next_sequence;
}

size_t Hub::Restore(std::string_view frames) {
  size_t restored = 0;
  absl::MutexLock lock(&mu_);
  uint64_t sequence = head_.load(std::memory_order_relaxed);
  while (!frames.empty()) {
    const size_t size = FrameSize(frames);
    if (size == 0 || size > frames.size()) break;
    const std::string_view frame = frames.substr(0, size);
    frames.remove_prefix(frame.size());
    DecodedFrame decoded;
    if (!DecodeFrame(frame, &decoded) || decoded.sequence != sequence) break;
    Accept(Arrival::kRestored, sequence, frame, decoded, decoded.receive_time_unix_ns);
    ++sequence;
    ++restored;
  }
  head_.store(sequence, std::memory_order_release);
  // Restored records came from disk: durable.
  readable_end_.store(sequence, std::memory_order_release);
  return restored;
}

bool Hub::RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                          uint64_t connection_id) {
  absl::MutexLock lock(&mu_);
  return vehicles_.RefreshLastSeen(vehicle_id, receive_unix_ns, connection_id);
}

void Hub::LatestPositions(const std::vector<std::string>& ids, std::string* frames,
                          std::vector<std::string>* unknown) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const std::string& id : ids) {
    const VehicleState* v = vehicles_.Find(id);
    if (v == nullptr) {
      unknown->push_back(id);
    } else {
      frames->append(v->latest_frame);
    }
  }
}

std::string Hub::LatestPositionsPage(std::string_view after, size_t limit, std::string* frames,
                                     bool* more, const VehicleScope* scope) const {
  absl::ReaderMutexLock lock(&mu_);
  // One more than asked tells whether another page follows.
  std::vector<const VehicleState*> page = vehicles_.Page(after, limit + 1, scope);
  *more = page.size() > limit;
  if (*more) page.pop_back();
  for (const VehicleState* v : page) frames->append(v->latest_frame);
  return page.empty() ? std::string() : page.back()->id;
}

std::vector<Hub::VehicleSummary> Hub::VehiclesPage(std::string_view after, size_t limit,
                                                   const VehicleScope* scope) const {
  std::vector<VehicleSummary> page;
  absl::ReaderMutexLock lock(&mu_);
  for (const VehicleState* v : vehicles_.Page(after, limit, scope)) {
    page.push_back(VehicleSummary{v->id, v->last_seen_unix_ns, v->newest_fix_unix_ns,
                                  v->last_connection_id, v->records});
  }
  return page;
}

size_t Hub::vehicles() const {
  absl::ReaderMutexLock lock(&mu_);
  return vehicles_.size();
}

uint64_t Hub::vehicles_evicted() const {
  absl::ReaderMutexLock lock(&mu_);
  return vehicles_.evicted();
}

char* Hub::Retain(uint64_t sequence, std::string_view frame, const FrameInfo& info,
                  int64_t publish_unix_ns) {
  const uint64_t ring_size = options_.max_bytes;
  const uint64_t size = frame.size();
  // A frame never wraps around the end of the ring: skip the tail.
  uint64_t position = write_position_;
  const uint64_t physical = position % ring_size;
  if (physical + size > ring_size) position += ring_size - physical;
  // Evict by count, then by bytes.
  while (sequence - oldest_ >= options_.max_records) ++oldest_;
  while (oldest_ < sequence && position + size - EntryFor(oldest_).position > ring_size) {
    ++oldest_;
  }
  char* stored = bytes_.get() + position % ring_size;
  std::memcpy(stored, frame.data(), size);
  entries_[sequence & entry_mask_] = Entry{info, sequence, position, publish_unix_ns};
  write_position_ = position + size;
  return stored;
}

Hub::ReadResult Hub::Read(uint64_t cursor, const SubscriptionFilter& filter, size_t max_records,
                          size_t max_bytes, std::string* out, size_t max_scan) const {
  ReadResult result;
  absl::ReaderMutexLock lock(&mu_);
  const uint64_t head = readable_end();
  result.oldest = oldest_;
  if (cursor < oldest_) {
    result.fell_behind = true;
    result.next_cursor = cursor;
    return result;
  }
  if (cursor >= head) {
    // Nothing readable yet (or, gated, not durable yet). Never move the
    // cursor back: a subscriber starting at head() must not get older
    // records.
    result.next_cursor = cursor;
    return result;
  }
  const uint64_t scan_end =
      std::min<uint64_t>(head, cursor + std::clamp<size_t>(max_scan, 1, kMaxScanPerRead));
  if (filter.matches_all()) return ReadAll(cursor, scan_end, max_records, max_bytes, out);
  const size_t start_size = out->size();
  const uint64_t ring_size = options_.max_bytes;
  const char* ring = bytes_.get();
  for (; cursor < scan_end; ++cursor) {
    const Entry& e = EntryFor(cursor);
    assert(e.sequence == cursor);
    const char* frame = ring + e.position % ring_size;
    if (!filter.Matches({frame + e.layout.vehicle_offset, e.layout.vehicle_size}, e.latitude,
                        e.longitude)) {
      continue;
    }
    if (result.records > 0 && out->size() - start_size + e.layout.size > max_bytes) break;
    out->append(frame, e.layout.size);
    if (result.records == 0) {
      result.first_sequence = cursor;
      result.first_publish_unix_ns = e.publish_unix_ns;
    }
    result.last_sequence = cursor;
    if (++result.records >= max_records) {
      ++cursor;
      break;
    }
  }
  result.next_cursor = cursor;
  return result;
}

namespace {

// The first value in [lo, hi) for which `pred` is false, where `pred` is true
// on a prefix of the range and false on the rest; hi if it is true throughout.
// Not analysed for locks: the thread-safety analysis cannot see that the
// caller (ReadAll) holds what `pred` requires (its ABSL_SHARED_LOCKS_REQUIRED
// lambdas are still checked themselves).
template <typename Pred>
uint64_t PartitionPoint(uint64_t lo, uint64_t hi, Pred pred) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (pred(mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace

// Consecutive records are stored back to back, except that a frame that would
// cross the end of the ring starts again at its beginning. The records read
// lie within one ring's length of each other (retention guarantees it), so
// they form at most two contiguous spans: before and after that wrap. Each is
// copied with one append, and the limits are found by binary search over the
// entries' positions rather than by visiting every entry.
Hub::ReadResult Hub::ReadAll(uint64_t cursor, uint64_t scan_end, size_t max_records,
                             size_t max_bytes, std::string* out) const {
  ReadResult result;
  result.oldest = oldest_;
  result.next_cursor = cursor;
  if (cursor >= scan_end) return result;
  // As in the filtered scan, at least one record is read even when
  // max_records is 0.
  const uint64_t end =
      cursor + std::min<uint64_t>(scan_end - cursor, std::max<size_t>(max_records, 1));
  const uint64_t ring_size = options_.max_bytes;
  const uint64_t start = EntryFor(cursor).position;
  const uint64_t wrap = start - start % ring_size + ring_size;
  auto end_of = [this](uint64_t sequence) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const Entry& e = EntryFor(sequence);
    return e.position + e.layout.size;
  };
  auto before_wrap = [&](uint64_t s)
                         ABSL_SHARED_LOCKS_REQUIRED(mu_) { return EntryFor(s).position < wrap; };
  // [cursor, second) are stored before the wrap, [second, end) from the
  // ring's beginning on.
  const uint64_t second = PartitionPoint(cursor + 1, end, before_wrap);
  assert(second == end || EntryFor(second).position == wrap);
  assert(end_of(end - 1) - start <= ring_size);
  // The first record always, then the following ones while the bytes fit.
  auto fits_before_wrap = [&](uint64_t s) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return end_of(s) - start <= max_bytes;
  };
  uint64_t last_end = PartitionPoint(cursor + 1, second, fits_before_wrap);
  const char* ring = bytes_.get();
  out->append(ring + start % ring_size, end_of(last_end - 1) - start);
  if (last_end == second && second < end) {
    const uint64_t used = end_of(second - 1) - start;
    auto fits_after_wrap = [&](uint64_t s) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return used + (end_of(s) - wrap) <= max_bytes;
    };
    last_end = PartitionPoint(second, end, fits_after_wrap);
    if (last_end > second) out->append(ring, end_of(last_end - 1) - wrap);
  }
  result.records = last_end - cursor;
  result.first_sequence = cursor;
  result.last_sequence = last_end - 1;
  result.first_publish_unix_ns = EntryFor(cursor).publish_unix_ns;
  result.next_cursor = last_end;
  return result;
}

uint64_t Hub::oldest() const {
  absl::ReaderMutexLock lock(&mu_);
  return oldest_;
}

size_t Hub::retained_records() const {
  absl::ReaderMutexLock lock(&mu_);
  return head_.load(std::memory_order_relaxed) - oldest_;
}

size_t Hub::retained_bytes() const {
  absl::ReaderMutexLock lock(&mu_);
  if (oldest_ == head_.load(std::memory_order_relaxed)) return 0;
  return write_position_ - EntryFor(oldest_).position;
}

void Hub::Close() {
  {
    absl::MutexLock lock(&mu_);
    closed_.store(true, std::memory_order_release);
  }
  Notify();
}

uint64_t Hub::MaxListenerLag() const {
  const uint64_t h = head();
  absl::MutexLock lock(&listeners_mu_);
  uint64_t lag = 0;
  for (const Listener* listener : listeners_) {
    const uint64_t next = listener->next_sequence();
    if (next < h) lag = std::max(lag, h - next);
  }
  return lag;
}

void Hub::AddListener(Listener* listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.push_back(listener);
}

void Hub::RemoveListener(Listener* listener) {
  absl::MutexLock lock(&listeners_mu_);
  std::erase(listeners_, listener);
}

void Hub::Notify() {
  absl::MutexLock lock(&listeners_mu_);
  for (Listener* listener : listeners_) listener->OnHubUpdated();
}

}  // namespace fixstream::gateway
