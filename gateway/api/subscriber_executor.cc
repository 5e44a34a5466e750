#include "gateway/api/subscriber_executor.h"

#include <algorithm>

namespace fixstream::gateway {

SubscriberExecutor::SubscriberExecutor(size_t threads)
    : workers_(std::max<size_t>(threads, 1) + 1) {
  workers_.back().catch_up = true;
  for (Worker& worker : workers_) {
    worker.thread = std::thread([this, &worker] { Loop(worker); });
  }
}

SubscriberExecutor::~SubscriberExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    woken_cv_.SignalAll();
    catch_up_cv_.SignalAll();
  }
  for (Worker& worker : workers_) worker.thread.join();
}

void SubscriberExecutor::Schedule(Task* task) {
  // Woken again before it ran: the run to come sees this wake's records too.
  if (task->pending_.exchange(true, std::memory_order_acq_rel)) return;
  absl::MutexLock lock(&mu_);
  // (Queued for catch-up: it reads on anyway, the wake changes nothing.)
  if (task->cancelled_ || task->queued_) return;
  if (task->running_) {
    task->rerun_ = true;  // never on two threads at once: again once it returns
    return;
  }
  Enqueue(task, /*catch_up=*/false);
}

void SubscriberExecutor::Enqueue(Task* task, bool catch_up) {
  task->queued_ = true;
  if (catch_up) {
    catch_up_.push_back(task);
    catch_up_cv_.Signal();  // one thread waits on it
  } else {
    woken_.push_back(task);
    if (woken_idle_ > 0) woken_cv_.Signal();
  }
}

SubscriberExecutor::Task* SubscriberExecutor::Take(Worker& self) {
  std::deque<Task*>& queue = self.catch_up ? catch_up_ : woken_;
  for (;;) {
    if (stop_) return nullptr;
    if (!queue.empty()) {
      Task* task = queue.front();
      queue.pop_front();
      return task;
    }
    if (self.catch_up) {
      catch_up_cv_.Wait(&mu_);
    } else {
      ++woken_idle_;
      woken_cv_.Wait(&mu_);
      --woken_idle_;
    }
  }
}

void SubscriberExecutor::Loop(Worker& self) {
  absl::MutexLock lock(&mu_);
  for (;;) {
    Task* task = Take(self);
    if (task == nullptr) return;
    task->queued_ = false;
    task->running_ = true;
    task->pending_.store(false, std::memory_order_release);
    self.running = task;
    self.forget_running = false;
    mu_.Unlock();
    const bool more = task->Run();
    runs_.fetch_add(1, std::memory_order_relaxed);
    mu_.Lock();
    self.running = nullptr;
    // Cancelled from inside Run(): the task may be gone already.
    if (self.forget_running) continue;
    AfterRun(task, more);
  }
}

void SubscriberExecutor::AfterRun(Task* task, bool more) {
  task->running_ = false;
  if (!task->cancelled_) {
    if (more) {
      // Still catching up: a wake meanwhile changes nothing.
      task->rerun_ = false;
      Enqueue(task, /*catch_up=*/true);
    } else if (task->rerun_) {
      task->rerun_ = false;
      Enqueue(task, /*catch_up=*/false);
    }
  }
  ran_cv_.SignalAll();
}

void SubscriberExecutor::RunHereOrSchedule(Task* task) {
  {
    absl::MutexLock lock(&mu_);
    if (task->cancelled_ || task->queued_) return;  // (queued: runs soon anyway)
    if (task->running_) {
      task->rerun_ = true;
      return;
    }
    task->running_ = true;
    task->pending_.store(false, std::memory_order_release);
  }
  const bool more = task->Run();
  runs_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  AfterRun(task, more);
}

void SubscriberExecutor::Cancel(Task* task) {
  absl::MutexLock lock(&mu_);
  task->cancelled_ = true;
  if (task->queued_) {
    std::erase(woken_, task);
    std::erase(catch_up_, task);
    task->queued_ = false;
  }
  for (Worker& worker : workers_) {
    if (worker.running == task && worker.thread.get_id() == std::this_thread::get_id()) {
      worker.forget_running = true;
      return;
    }
  }
  while (task->running_) ran_cv_.Wait(&mu_);
}

}  // namespace fixstream::gateway
