#include "gateway/device/ack_queue.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

// Settles at `durable` and writes what is due, as a session does: the text
// of the write started, or "" when none.
std::string SettleAndWrite(AckQueue& acks, uint64_t durable) {
  acks.Settle(durable);
  return std::string(acks.StartWrite());
}

TEST(AckQueueTest, AcknowledgesOnlyOnceTheTargetIsDurable) {
  AckQueue acks;
  EXPECT_TRUE(acks.Add(10, 5));
  EXPECT_FALSE(acks.Settle(4));
  EXPECT_EQ(acks.StartWrite(), "");
  EXPECT_TRUE(acks.Settle(5));
  EXPECT_EQ(acks.StartWrite(), "ACK 10\n");
  EXPECT_EQ(acks.acked_lines(), 10u);
}

TEST(AckQueueTest, CountsAreCumulativeAcrossReads) {
  AckQueue acks;
  acks.Add(3, 1);
  acks.Add(7, 2);
  acks.Add(12, 3);
  EXPECT_EQ(SettleAndWrite(acks, 2), "ACK 7\n");
  acks.WriteDone();
  EXPECT_EQ(SettleAndWrite(acks, 3), "ACK 12\n");
}

TEST(AckQueueTest, ReadsWithTheSameTargetShareOneEntry) {
  AckQueue acks;
  acks.Add(3, 4);
  acks.Add(5, 4);  // e.g. only rejected lines since: nothing new published
  EXPECT_EQ(acks.pending(), 1u);
  EXPECT_EQ(SettleAndWrite(acks, 4), "ACK 5\n");
}

TEST(AckQueueTest, NothingNewIsNotQueued) {
  AckQueue acks;
  EXPECT_FALSE(acks.Add(0, 0));  // a read of a partial line only
  EXPECT_TRUE(acks.Add(2, 1));
  EXPECT_FALSE(acks.Add(2, 1));
  acks.Settle(1);
  EXPECT_FALSE(acks.Add(2, 1)) << "already acknowledged";
}

TEST(AckQueueTest, OneWriteInFlightAndTheNewestCountReplacesAnUnwrittenOne) {
  AckQueue acks;
  acks.Add(1, 1);
  EXPECT_EQ(SettleAndWrite(acks, 1), "ACK 1\n");
  // While "ACK 1" is being written, two more counts become due.
  acks.Add(2, 2);
  EXPECT_TRUE(acks.Settle(2));
  EXPECT_EQ(acks.StartWrite(), "") << "one write in flight";
  acks.Add(3, 3);
  EXPECT_TRUE(acks.Settle(3));
  EXPECT_EQ(acks.StartWrite(), "");
  acks.WriteDone();
  EXPECT_EQ(acks.StartWrite(), "ACK 3\n") << "2 is never written: 3 covers it";
  acks.WriteDone();
  EXPECT_EQ(acks.StartWrite(), "") << "nothing newer";
}

TEST(AckQueueTest, TheWrittenTextStaysUntilTheWriteIsDone) {
  AckQueue acks;
  acks.Add(9, 1);
  acks.Settle(1);
  const std::string_view out = acks.StartWrite();
  acks.Add(99, 2);
  acks.Settle(2);
  EXPECT_EQ(acks.StartWrite(), "");
  EXPECT_EQ(out, "ACK 9\n");
}

TEST(AckQueueTest, StateStaysBoundedWhileDurabilityStalls) {
  AckQueue acks;
  for (uint64_t read = 1; read <= 10'000; ++read) acks.Add(read, read);
  EXPECT_EQ(acks.pending(), AckQueue::kMaxPending);
  // The newest entry absorbed the overflow: entries 1..63 are as read, the
  // last one covers every read since, and settles once its target is durable.
  EXPECT_TRUE(acks.Settle(AckQueue::kMaxPending - 1));
  EXPECT_EQ(acks.acked_lines(), AckQueue::kMaxPending - 1);
  EXPECT_FALSE(acks.Settle(9'999));
  EXPECT_TRUE(acks.Settle(10'000));
  EXPECT_EQ(acks.acked_lines(), 10'000u);
  EXPECT_EQ(acks.pending(), 0u);
}

TEST(AckQueueTest, AwaitsTheOldestTargetOnceAtATime) {
  AckQueue acks;
  EXPECT_EQ(acks.TargetToAwait(), std::nullopt);
  acks.Add(1, 10);
  acks.Add(2, 20);
  EXPECT_EQ(acks.TargetToAwait(), 10u);
  acks.MarkWaiting();
  EXPECT_EQ(acks.TargetToAwait(), std::nullopt) << "already registered";
  acks.Woken();
  acks.Settle(10);
  EXPECT_EQ(acks.TargetToAwait(), 20u);
}

// A half-closed connection stays open while anything is outstanding: an
// unsettled entry, or the final ACK still being written.
TEST(AckQueueTest, OutstandingUntilTheFinalAckIsWritten) {
  AckQueue acks;
  EXPECT_FALSE(acks.outstanding());
  acks.Add(4, 2);
  EXPECT_TRUE(acks.outstanding());
  EXPECT_EQ(SettleAndWrite(acks, 2), "ACK 4\n");
  EXPECT_TRUE(acks.outstanding()) << "the final ACK is in flight";
  acks.WriteDone();
  EXPECT_EQ(acks.StartWrite(), "");
  EXPECT_FALSE(acks.outstanding());
}

TEST(AckQueueTest, BlockedQueuesNothingMoreAndOwesNothing) {
  AckQueue acks;
  acks.Add(4, 2);
  acks.Block();
  EXPECT_TRUE(acks.blocked());
  EXPECT_FALSE(acks.Add(8, 3));
  EXPECT_FALSE(acks.outstanding()) << "a half-closed connection closes at once";
  // What was settled before the refusal can still be acknowledged.
  EXPECT_EQ(SettleAndWrite(acks, 3), "ACK 4\n");
}

class CountingWaiter final : public DurabilityWaiter {
 public:
  void OnTargetDurable() override { ++woken; }
  int woken = 0;
};

TEST(DurabilityWatchTest, WakesWaitersWhoseTargetIsReachedNearestFirst) {
  DurabilityWatch watch;
  auto near = std::make_shared<CountingWaiter>();
  auto far = std::make_shared<CountingWaiter>();
  EXPECT_TRUE(watch.Await(20, far));
  EXPECT_TRUE(watch.Await(10, near));
  watch.OnDurable(15);
  EXPECT_EQ(watch.durable(), 15u);
  EXPECT_EQ(near->woken, 1);
  EXPECT_EQ(far->woken, 0);
  watch.OnDurable(20);
  EXPECT_EQ(far->woken, 1);
  EXPECT_EQ(watch.registered(), 0u);
}

TEST(DurabilityWatchTest, AnAlreadyDurableTargetIsNotRegistered) {
  DurabilityWatch watch;
  watch.OnDurable(7);
  auto waiter = std::make_shared<CountingWaiter>();
  EXPECT_FALSE(watch.Await(7, waiter));
  EXPECT_TRUE(watch.Await(8, waiter));
}

TEST(DurabilityWatchTest, ValuesThatDoNotAdvanceAreIgnored) {
  DurabilityWatch watch;
  watch.OnDurable(9);
  watch.OnDurable(3);
  EXPECT_EQ(watch.durable(), 9u);
}

TEST(DurabilityWatchTest, ClosedWaitersAreNotWokenAndDoNotPileUp) {
  DurabilityWatch watch;
  auto live = std::make_shared<CountingWaiter>();
  watch.AddWaiter();
  ASSERT_TRUE(watch.Await(1'000'000, live));
  // Durability stalls while many short connections come and go.
  for (uint64_t i = 0; i < 10'000; ++i) {
    auto gone = std::make_shared<CountingWaiter>();
    ASSERT_TRUE(watch.Await(100 + i, gone));
  }
  EXPECT_LE(watch.registered(), 2 * 1 + 64 + 1);
  watch.OnDurable(2'000'000);
  EXPECT_EQ(live->woken, 1) << "the live waiter survives the pruning";
  EXPECT_EQ(watch.registered(), 0u);
}

}  // namespace
}  // namespace fixstream::gateway
