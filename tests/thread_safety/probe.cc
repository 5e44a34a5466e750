// Compiled at configure time by tests/thread_safety/thread_safety.cmake, three ways, to show
// that the thread-safety analysis really runs and fails the build: correct
// locking must compile; an unguarded read (FIXSTREAM_PROBE_UNLOCKED) and a
// lock-order inversion (FIXSTREAM_PROBE_ORDER) must not.
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

class Probe {
 public:
  int Get() {
#ifndef FIXSTREAM_PROBE_UNLOCKED
    absl::MutexLock lock(&mu_);
#endif
    return value_;
  }
  void Both() {
#ifdef FIXSTREAM_PROBE_ORDER
    absl::MutexLock inner(&mu_);
    absl::MutexLock outer(&outer_mu_);
#else
    absl::MutexLock outer(&outer_mu_);
    absl::MutexLock inner(&mu_);
#endif
    ++value_;
  }

 private:
  absl::Mutex outer_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

int UseProbe() {
  Probe p;
  p.Both();
  return p.Get();
}
