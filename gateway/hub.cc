#include "gateway/hub.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

namespace fixstream::gateway {

Hub::Hub(HubOptions options)
    : options_(options),
      entry_mask_(std::bit_ceil(std::max<size_t>(options.max_records, 1)) - 1),
      entries_(entry_mask_ + 1),
      // Not value-initialised: pages of the ring become resident only as
      // records are written into them.
      bytes_(new char[options.max_bytes]) {
  assert(options_.max_bytes >= 4 * kMaxEncodedRecordSize);
}

uint64_t Hub::Publish(RecordBatch& batch) {
  if (batch.empty()) return 0;
  uint64_t first;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.load(std::memory_order_relaxed)) return 0;
    first = head_.load(std::memory_order_relaxed);
    uint64_t sequence = first;
    const uint64_t ring_size = options_.max_bytes;
    for (const BatchEntry& in : batch.entries) {
      const uint32_t size = in.layout.size;
      char* frame = batch.bytes.data() + in.offset;
      PatchSequence(frame, in.layout, sequence);
      // A frame never wraps around the end of the ring: skip the tail.
      uint64_t position = write_position_;
      const uint64_t physical = position % ring_size;
      if (physical + size > ring_size) position += ring_size - physical;
      // Evict by count, then by bytes.
      while (sequence - oldest_ >= options_.max_records) ++oldest_;
      while (oldest_ < sequence && position + size - EntryFor(oldest_).position > ring_size) {
        ++oldest_;
      }
      std::memcpy(bytes_.get() + position % ring_size, frame, size);
      entries_[sequence & entry_mask_] =
          Entry{sequence, position, in.layout, in.latitude, in.longitude};
      write_position_ = position + size;
      ++sequence;
    }
    head_.store(sequence, std::memory_order_release);
  }
  Notify();
  return first;
}

Hub::ReadResult Hub::Read(uint64_t cursor, const SubscriptionFilter& filter, size_t max_records,
                          size_t max_bytes, std::string* out) const {
  ReadResult result;
  absl::ReaderMutexLock lock(&mu_);
  const uint64_t head = head_.load(std::memory_order_relaxed);
  result.oldest = oldest_;
  if (cursor < oldest_) {
    result.fell_behind = true;
    result.next_cursor = cursor;
    return result;
  }
  cursor = std::min(cursor, head);
  const uint64_t scan_end = std::min<uint64_t>(head, cursor + kMaxScanPerRead);
  const size_t start_size = out->size();
  const uint64_t ring_size = options_.max_bytes;
  const char* ring = bytes_.get();
  for (; cursor < scan_end; ++cursor) {
    const Entry& e = EntryFor(cursor);
    assert(e.sequence == cursor);
    const char* frame = ring + e.position % ring_size;
    if (!filter.matches_all() &&
        !filter.Matches({frame + e.layout.vehicle_offset, e.layout.vehicle_size}, e.latitude,
                        e.longitude)) {
      continue;
    }
    if (result.records > 0 && out->size() - start_size + e.layout.size > max_bytes) break;
    out->append(frame, e.layout.size);
    if (result.records == 0) result.first_sequence = cursor;
    result.last_sequence = cursor;
    if (++result.records >= max_records) {
      ++cursor;
      break;
    }
  }
  result.next_cursor = cursor;
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
