// SubscriberExecutor: the threads that do the Subscribe streams' work, so
// that whoever wakes a stream only flags it.
//
// The store wakes subscribers on the thread that made records readable — a
// device I/O thread that published, or the journal writer that made them
// durable — and that thread must get back to its own work at once
// (docs/SUBSCRIBING.md: ingestion never waits for a subscriber). A stream
// woken there is Schedule()d: queued here, at most once however often it is
// woken, and run later by one of a few threads of the executor. Run() does
// one bounded step of the stream's work (one read, one write started) and
// says whether more remains at once — a subscriber catching up from far
// behind — in which case the task goes to the back of a second queue, served
// by a thread of its own: woken tasks run on the other threads, so catch-up
// from the ring or the journal, however long, never holds up the live
// streams. (That thread keeps the normal CPU priority on purpose: it takes
// the hub's lock shared for its ring scans, and a thread of lower priority
// preempted while holding it would stall the publishers behind it.)
//
// Thread safety: thread-safe. A task is never run on two threads at once; a
// Schedule() while it runs makes it run again afterwards.
//
// Lock order: the executor's lock is taken under the store's listener lock
// (Schedule from a listener) and is never held while a task runs.
#ifndef FIXSTREAM_GATEWAY_API_SUBSCRIBER_EXECUTOR_H_
#define FIXSTREAM_GATEWAY_API_SUBSCRIBER_EXECUTOR_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fixstream::gateway {

class SubscriberExecutor final {
 public:
  // Work the executor runs; implemented by a stream (the Subscribe reactor).
  class Task {
   public:
    virtual ~Task() = default;
    // One bounded step of work on an executor thread. Returns true when
    // more work remains right away (the task is queued again, behind the
    // others); false when it waits to be Schedule()d again.
    virtual bool Run() = 0;

   private:
    friend class SubscriberExecutor;
    // Set by Schedule() until the task starts running: lets a wake-up of an
    // already queued task return without the lock.
    std::atomic<bool> pending_{false};
    // Guarded by the executor's lock.
    bool queued_ = false;     // in one of the queues
    bool running_ = false;    // Run() in progress on some thread
    bool rerun_ = false;      // Schedule()d while running
    bool cancelled_ = false;  // Cancel() was called
  };

  // Starts `threads` (at least 1) threads for woken tasks and one for
  // catch-up steps.
  explicit SubscriberExecutor(size_t threads);
  // Stops and joins the threads. Precondition: every task was Cancel()led.
  ~SubscriberExecutor();
  SubscriberExecutor(const SubscriberExecutor&) = delete;
  SubscriberExecutor& operator=(const SubscriberExecutor&) = delete;

  // Queues `task` to be run unless it is queued already (then it runs once
  // for both wakes). Quick: no I/O, one short lock at most, none when the
  // task is queued already. Any thread; not after Cancel(task).
  void Schedule(Task* task);

  // A task's own reaction (gRPC's OnWriteDone/OnCancel, on a gRPC thread,
  // never a publishing one) continuing its work: runs one step on the
  // calling thread unless the task is queued or running already (then it
  // runs there as Schedule() would have it). A step that says more remains
  // goes to the catch-up queue. Saves a hand-over per write; must not be
  // called where Cancel(task) could run concurrently (gRPC calls OnDone
  // only after the reactions returned).
  void RunHereOrSchedule(Task* task);

  // After it returns, the executor never touches `task` again: it is taken
  // out of the queues, and a Run() in progress on another thread has
  // returned. Called from inside the task's own Run() (on an executor
  // thread) it returns at once, and the executor forgets the task when Run()
  // returns. Then the task may be deleted.
  void Cancel(Task* task);

  // Tasks Run() so far (all threads); for tests.
  size_t runs() const { return runs_.load(std::memory_order_relaxed); }

 private:
  // What one thread is running.
  struct Worker {
    bool catch_up = false;  // serves the catch-up queue (else the woken one)
    std::thread thread;
    Task* running = nullptr;
    bool forget_running = false;  // cancelled from inside its own Run()
  };

  void Loop(Worker& self);
  // The next task for a thread, or null to stop.
  Task* Take(Worker& self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(Task* task, bool catch_up) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a Run() that returned `more`: queues the task again if needed.
  void AfterRun(Task* task, bool more) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::CondVar woken_cv_;     // a task was queued in woken_, or stopping
  absl::CondVar catch_up_cv_;  // a task was queued in catch_up_, or stopping
  absl::CondVar ran_cv_;       // a Run() returned (Cancel waits on it)
  std::deque<Task*> woken_ ABSL_GUARDED_BY(mu_);
  std::deque<Task*> catch_up_ ABSL_GUARDED_BY(mu_);
  size_t woken_idle_ ABSL_GUARDED_BY(mu_) = 0;  // threads waiting for woken_
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Worker> workers_;  // sized once; each Worker guarded by mu_
  std::atomic<size_t> runs_{0};
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_API_SUBSCRIBER_EXECUTOR_H_
