// Time for timeouts and deadlines: a clock that never steps
// (CLOCK_MONOTONIC), and waits on it. Wall time (absl::Now,
// absl::GetCurrentTimeNanos) is only for timestamps that leave the process:
// fix and receive times, logs. A wall clock stepped by NTP or an operator
// must not close connections as idle, postpone fsyncs or stretch a drain
// (issue #13) — and absl's timed waits (CondVar::WaitWithTimeout,
// Mutex::AwaitWithTimeout) follow the wall clock, so timed waits use
// MonotonicCondVar.
//
// Thread safety: thread-safe.
#ifndef FIXSTREAM_GATEWAY_COMMON_MONOTONIC_CLOCK_H_
#define FIXSTREAM_GATEWAY_COMMON_MONOTONIC_CLOCK_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fixstream::gateway {

inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A condition variable for an absl::Mutex whose timed waits run on the
// monotonic clock (std::condition_variable_any, which libstdc++ waits on
// with CLOCK_MONOTONIC).
class MonotonicCondVar final {
 public:
  using Clock = std::chrono::steady_clock;

  // Waits (releasing `mu`) until signalled or `deadline`; true at the
  // deadline. May wake spuriously: callers re-check their condition.
  bool WaitUntil(absl::Mutex& mu, Clock::time_point deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Lockable lock{&mu};
    // (Far deadlines, e.g. time_point::max(), would overflow in the wait.)
    if (deadline - Clock::now() > std::chrono::hours(24 * 365)) {
      cv_.wait(lock);
      return false;
    }
    return cv_.wait_until(lock, deadline) == std::cv_status::timeout;
  }
  // The monotonic time `timeout` from now, for WaitUntil. A wait for a
  // condition is a loop at the caller (so the lock analysis sees the
  // guarded state read under the lock):
  //   const auto deadline = MonotonicCondVar::After(timeout);
  //   while (!done && !cv.WaitUntil(mu, deadline)) {}
  static Clock::time_point After(absl::Duration timeout) {
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(timeout));
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  // std::condition_variable_any's view of the absl::Mutex.
  struct Lockable {
    absl::Mutex* mu;
    void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Lock(); }
    void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Unlock(); }
  };
  std::condition_variable_any cv_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_COMMON_MONOTONIC_CLOCK_H_
