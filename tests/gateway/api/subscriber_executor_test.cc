#include "gateway/api/subscriber_executor.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(10);

// Counts its runs; optionally blocks in the first one until released.
class CountingTask final : public SubscriberExecutor::Task {
 public:
  explicit CountingTask(std::atomic<int>* runs, bool block_first = false)
      : runs_(runs), block_first_(block_first) {}
  bool Run() override {
    const int n = runs_->fetch_add(1) + 1;
    if (n == 1 && block_first_) {
      entered.Notify();
      release.WaitForNotification();
    }
    ran.store(true);
    return false;
  }
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> ran{false};

 private:
  std::atomic<int>* const runs_;
  const bool block_first_;
};

// Runs, then tells a notification (once).
class MarkerTask final : public SubscriberExecutor::Task {
 public:
  bool Run() override {
    if (!done.HasBeenNotified()) done.Notify();
    return false;
  }
  absl::Notification done;
};

TEST(SubscriberExecutorTest, RunsAScheduledTaskOnItsOwnThread) {
  SubscriberExecutor executor(2);
  std::atomic<std::thread::id> ran_on{};
  class Task final : public SubscriberExecutor::Task {
   public:
    explicit Task(std::atomic<std::thread::id>* id) : id_(id) {}
    bool Run() override {
      id_->store(std::this_thread::get_id());
      done.Notify();
      return false;
    }
    absl::Notification done;

   private:
    std::atomic<std::thread::id>* id_;
  } task(&ran_on);
  executor.Schedule(&task);
  ASSERT_TRUE(task.done.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
  executor.Cancel(&task);
}

TEST(SubscriberExecutorTest, QueuesATaskAtMostOnceHoweverOftenItIsWoken) {
  SubscriberExecutor executor(1);
  std::atomic<int> blocker_runs{0};
  CountingTask blocker(&blocker_runs, /*block_first=*/true);
  executor.Schedule(&blocker);
  ASSERT_TRUE(blocker.entered.WaitForNotificationWithTimeout(kDeadline));
  std::atomic<int> runs{0};
  CountingTask task(&runs);
  for (int i = 0; i < 1000; ++i) executor.Schedule(&task);
  MarkerTask marker;
  executor.Schedule(&marker);
  blocker.release.Notify();
  ASSERT_TRUE(marker.done.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_EQ(runs.load(), 1);
  executor.Cancel(&task);
  executor.Cancel(&marker);
  executor.Cancel(&blocker);
}

TEST(SubscriberExecutorTest, NeverRunsATaskAfterItWasCancelledAndDeleted) {
  SubscriberExecutor executor(1);
  std::atomic<int> blocker_runs{0};
  CountingTask blocker(&blocker_runs, /*block_first=*/true);
  executor.Schedule(&blocker);
  ASSERT_TRUE(blocker.entered.WaitForNotificationWithTimeout(kDeadline));
  // Queued behind the blocker, then gone (as a reactor in OnDone).
  std::atomic<int> runs{0};
  auto task = std::make_unique<CountingTask>(&runs);
  executor.Schedule(task.get());
  executor.Cancel(task.get());
  task.reset();  // AddressSanitizer reports any later use
  MarkerTask marker;
  executor.Schedule(&marker);
  blocker.release.Notify();
  ASSERT_TRUE(marker.done.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_EQ(runs.load(), 0);
  executor.Cancel(&marker);
  executor.Cancel(&blocker);
}

TEST(SubscriberExecutorTest, CancelWaitsForARunInProgressOnAnotherThread) {
  SubscriberExecutor executor(2);
  std::atomic<int> runs{0};
  auto task = std::make_unique<CountingTask>(&runs, /*block_first=*/true);
  executor.Schedule(task.get());
  ASSERT_TRUE(task->entered.WaitForNotificationWithTimeout(kDeadline));
  // Woken again while running: must not run again after the cancel either.
  executor.Schedule(task.get());
  absl::Notification cancelled;
  std::thread canceller([&] {
    executor.Cancel(task.get());
    cancelled.Notify();
  });
  // Still running: Cancel must not have returned.
  EXPECT_FALSE(cancelled.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  EXPECT_FALSE(task->ran.load());
  task->release.Notify();
  ASSERT_TRUE(cancelled.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_TRUE(task->ran.load());  // Cancel returned only after Run did
  canceller.join();
  task.reset();
  MarkerTask marker;
  executor.Schedule(&marker);
  ASSERT_TRUE(marker.done.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_EQ(runs.load(), 1);
  executor.Cancel(&marker);
}

// As a reactor whose OnDone ran on the executor thread, inside its own step.
class SelfDeletingTask final : public SubscriberExecutor::Task {
 public:
  SelfDeletingTask(SubscriberExecutor& executor, std::atomic<int>* deleted)
      : executor_(executor), deleted_(deleted) {}
  ~SelfDeletingTask() override { deleted_->fetch_add(1); }
  bool Run() override {
    executor_.Schedule(this);  // a wake during the run: would run again
    executor_.Cancel(this);
    delete this;
    return true;  // "more work": must be ignored, the task is gone
  }

 private:
  SubscriberExecutor& executor_;
  std::atomic<int>* deleted_;
};

TEST(SubscriberExecutorTest, CancelFromInsideItsOwnRunDoesNotWaitAndForgetsTheTask) {
  SubscriberExecutor executor(1);
  std::atomic<int> deleted{0};
  executor.Schedule(new SelfDeletingTask(executor, &deleted));
  MarkerTask marker;
  executor.Schedule(&marker);
  ASSERT_TRUE(marker.done.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_EQ(deleted.load(), 1);
  executor.Cancel(&marker);
}

// Counts how many threads run it at once.
class ConcurrencyProbe final : public SubscriberExecutor::Task {
 public:
  explicit ConcurrencyProbe(std::atomic<int>* catching_up = nullptr, int more = 0)
      : catching_up_(catching_up), more_(more) {}
  bool Run() override {
    if (inside_.fetch_add(1) != 0) overlapped.store(true);
    // Steps after the first come from the catch-up queue.
    const bool catch_up = catching_up_ != nullptr && runs.load() > 0;
    if (catch_up && catching_up_->fetch_add(1) != 0) catch_up_overlapped.store(true);
    std::this_thread::yield();
    if (catch_up) catching_up_->fetch_sub(1);
    inside_.fetch_sub(1);
    runs.fetch_add(1);
    return runs.load() < more_;
  }
  std::atomic<bool> overlapped{false};
  std::atomic<bool> catch_up_overlapped{false};
  std::atomic<int> runs{0};

 private:
  std::atomic<int> inside_{0};
  std::atomic<int>* const catching_up_;
  const int more_;
};

TEST(SubscriberExecutorTest, NeverRunsOneTaskOnTwoThreadsAtOnce) {
  SubscriberExecutor executor(2);
  ConcurrencyProbe probe;
  std::vector<std::thread> wakers;
  for (int t = 0; t < 4; ++t) {
    wakers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) executor.Schedule(&probe);
    });
  }
  for (std::thread& t : wakers) t.join();
  MarkerTask marker;
  executor.Schedule(&marker);
  ASSERT_TRUE(marker.done.WaitForNotificationWithTimeout(kDeadline));
  executor.Cancel(&probe);
  executor.Cancel(&marker);
  EXPECT_FALSE(probe.overlapped.load());
  EXPECT_GE(probe.runs.load(), 1);
}

TEST(SubscriberExecutorTest, CatchUpStepsRunOneAtATimeAndWokenTasksGoFirst) {
  SubscriberExecutor executor(2);
  std::atomic<int> catching_up{0};
  // Two streams far behind: each step says more remains, 2000 steps each.
  ConcurrencyProbe first(&catching_up, 2000);
  ConcurrencyProbe second(&catching_up, 2000);
  executor.Schedule(&first);
  executor.Schedule(&second);
  // A live stream woken meanwhile runs long before they are done.
  MarkerTask live;
  executor.Schedule(&live);
  ASSERT_TRUE(live.done.WaitForNotificationWithTimeout(kDeadline));
  const absl::Time deadline = absl::Now() + kDeadline;
  while ((first.runs.load() < 2000 || second.runs.load() < 2000) && absl::Now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(first.runs.load(), 2000);
  EXPECT_EQ(second.runs.load(), 2000);
  EXPECT_FALSE(first.overlapped.load());
  EXPECT_FALSE(second.overlapped.load());
  // Their first steps came from the woken queue; the catch-up steps after
  // them (one catch-up thread) never overlapped.
  EXPECT_FALSE(first.catch_up_overlapped.load());
  EXPECT_FALSE(second.catch_up_overlapped.load());
  executor.Cancel(&first);
  executor.Cancel(&second);
  executor.Cancel(&live);
}

TEST(SubscriberExecutorTest, RunHereRunsAnIdleTaskOnTheCallingThreadAndNeverAQueuedOne) {
  SubscriberExecutor executor(1);
  std::atomic<int> runs{0};
  CountingTask task(&runs);
  executor.RunHereOrSchedule(&task);
  EXPECT_EQ(runs.load(), 1);  // ran here, before returning
  // Queued behind a blocked task: not run here (it runs where it is queued).
  std::atomic<int> blocker_runs{0};
  CountingTask blocker(&blocker_runs, /*block_first=*/true);
  executor.Schedule(&blocker);
  ASSERT_TRUE(blocker.entered.WaitForNotificationWithTimeout(kDeadline));
  executor.Schedule(&task);
  executor.RunHereOrSchedule(&task);
  EXPECT_EQ(runs.load(), 1);
  MarkerTask marker;
  executor.Schedule(&marker);
  blocker.release.Notify();
  ASSERT_TRUE(marker.done.WaitForNotificationWithTimeout(kDeadline));
  EXPECT_EQ(runs.load(), 2);
  executor.Cancel(&task);
  executor.Cancel(&marker);
  executor.Cancel(&blocker);
}

}  // namespace
}  // namespace fixstream::gateway
