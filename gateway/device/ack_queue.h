// Acknowledgements of the acknowledging device listener (docs/PROTOCOL.md):
// a connection is sent `ACK <n>\n` once its first n lines are durable.
//
// Two units, both free of sockets so they can be tested on their own:
//   - AckQueue: one connection's bookkeeping. After each read the session
//     adds (lines framed so far, newest sequence published so far); every
//     line counted is settled once that sequence is durable (its record is
//     at or below it, its duplicate's original is, or it was rejected). The
//     queue says which count to write and when, with one write in flight.
//   - DurabilityWatch: the server-wide durable sequence, and the sessions
//     waiting for it to reach their next target (DurabilityWaiter).
#ifndef FIXSTREAM_GATEWAY_DEVICE_ACK_QUEUE_H_
#define FIXSTREAM_GATEWAY_DEVICE_ACK_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fixstream::gateway {

// One connection's acknowledgements. Counts are cumulative, so a newer count
// replaces an unwritten older one and a peer that never reads costs a few
// bytes; the state is bounded (kMaxPending entries) however long durability
// stalls.
//
// Thread safety: none; owned by its session and used on the session's
// thread only.
class AckQueue final {
 public:
  // Most (lines, target) pairs kept; beyond this the newest entry is
  // overwritten, which only ever delays an acknowledgement.
  static constexpr size_t kMaxPending = 64;

  AckQueue() = default;
  AckQueue(const AckQueue&) = delete;
  AckQueue& operator=(const AckQueue&) = delete;

  // Lines 1..`lines` are settled once `target` is durable. `lines` and
  // `target` must not decrease from one call to the next. Returns false
  // (nothing queued) once blocked, or when `lines` adds nothing to what is
  // already queued.
  bool Add(uint64_t lines, uint64_t target);

  // Records were refused (the hub closed for shutdown): nothing after them
  // may be acknowledged, so nothing more is queued and none is outstanding.
  void Block() { blocked_ = true; }
  bool blocked() const { return blocked_; }

  // Settles every entry whose target is at most `durable`. Returns true when
  // the count to acknowledge grew (a write may be due: StartWrite()).
  bool Settle(uint64_t durable);

  // The target the session should wait for next: the oldest unsettled one,
  // unless it already waits (MarkWaiting() without Woken() since).
  std::optional<uint64_t> TargetToAwait() const;
  void MarkWaiting() { waiting_ = true; }
  void Woken() { waiting_ = false; }

  // The text to write now, `ACK <n>\n` with the newest count, or empty when
  // a write is in flight or the newest count is already written. The text
  // stays valid and unchanged until WriteDone().
  std::string_view StartWrite();
  void WriteDone() { write_in_flight_ = false; }

  // Whether the connection still owes acknowledgements: entries unsettled or
  // a write in flight (never once blocked). A half-closed connection stays
  // open until this is false.
  bool outstanding() const { return !blocked_ && (!pending_.empty() || write_in_flight_); }
  uint64_t acked_lines() const { return acked_lines_; }
  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    uint64_t lines;   // lines 1..lines are settled once
    uint64_t target;  // this sequence is durable
  };

  std::vector<Pending> pending_;  // targets increasing
  uint64_t acked_lines_ = 0;      // newest count to acknowledge
  uint64_t written_lines_ = 0;    // count in out_
  std::string out_;
  bool waiting_ = false;
  bool write_in_flight_ = false;
  bool blocked_ = false;
};

// Waits for a durable sequence (a session of the acknowledging listener).
class DurabilityWaiter {
 public:
  // The target it registered for is durable. Called on the thread that
  // called DurabilityWatch::OnDurable(); must be quick (a session posts to
  // its own thread).
  virtual void OnTargetDurable() = 0;

 protected:
  ~DurabilityWaiter() = default;
};

// The durable sequence, and who waits for it. A waiter with unsettled
// acknowledgements registers its nearest target; OnDurable() wakes those
// whose target is reached. Registrations hold waiters weakly: a closed
// session's entry is dropped when its target is reached, or earlier when
// entries pile up while durability stalls.
//
// Thread safety: every member is thread-safe; waiters are woken outside the
// lock.
class DurabilityWatch final {
 public:
  DurabilityWatch() = default;
  DurabilityWatch(const DurabilityWatch&) = delete;
  DurabilityWatch& operator=(const DurabilityWatch&) = delete;

  uint64_t durable() const { return durable_.load(std::memory_order_acquire); }

  // Registers `waiter` to be woken once `target` is durable. Returns false
  // (nothing registered) if it already is. A live waiter has at most one
  // registration at a time.
  bool Await(uint64_t target, std::weak_ptr<DurabilityWaiter> waiter);

  // Every sequence up to `durable_sequence` is durable. Values that do not
  // advance are ignored.
  void OnDurable(uint64_t durable_sequence);

  // Open waiters (sessions of the acknowledging listener), counted so that
  // the registrations kept for closed ones stay bounded.
  void AddWaiter() { live_.fetch_add(1, std::memory_order_relaxed); }
  void RemoveWaiter() { live_.fetch_sub(1, std::memory_order_relaxed); }

  // Registrations kept, live or not (for tests).
  size_t registered() const;

 private:
  struct Entry {
    uint64_t target;
    std::weak_ptr<DurabilityWaiter> waiter;
    bool operator>(const Entry& other) const { return target > other.target; }
  };

  mutable absl::Mutex mu_;
  std::atomic<uint64_t> durable_{0};  // stored under mu_
  std::atomic<size_t> live_{0};
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_ACK_QUEUE_H_
