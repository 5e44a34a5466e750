#include "gateway/device/ack_queue.h"

#include "absl/strings/str_cat.h"

namespace fixstream::gateway {

bool AckQueue::Add(uint64_t lines, uint64_t target) {
  if (blocked_) return false;
  const uint64_t queued = pending_.empty() ? acked_lines_ : pending_.back().lines;
  if (lines == queued) return false;
  // Merging into the newest entry only ever delays an acknowledgement; it
  // also bounds the list while durability stalls (a failed journal).
  if (!pending_.empty() && (pending_.back().target == target || pending_.size() >= kMaxPending)) {
    pending_.back() = Pending{lines, target};
  } else {
    pending_.push_back(Pending{lines, target});
  }
  return true;
}

bool AckQueue::Settle(uint64_t durable) {
  size_t done = 0;
  uint64_t lines = acked_lines_;
  while (done < pending_.size() && pending_[done].target <= durable) {
    lines = pending_[done++].lines;
  }
  pending_.erase(pending_.begin(), pending_.begin() + done);
  if (pending_.empty() && pending_.capacity() > 4) {
    pending_.shrink_to_fit();  // idle connections stay small
  }
  if (lines <= acked_lines_) return false;
  acked_lines_ = lines;
  return true;
}

std::optional<uint64_t> AckQueue::TargetToAwait() const {
  if (pending_.empty() || waiting_) return std::nullopt;
  return pending_.front().target;
}

std::string_view AckQueue::StartWrite() {
  if (write_in_flight_ || acked_lines_ == written_lines_) return {};
  out_.clear();
  absl::StrAppend(&out_, "ACK ", acked_lines_, "\n");
  written_lines_ = acked_lines_;
  write_in_flight_ = true;
  return out_;
}

bool DurabilityWatch::Await(uint64_t target, std::weak_ptr<DurabilityWaiter> waiter) {
  absl::MutexLock lock(&mu_);
  if (durable_.load(std::memory_order_relaxed) >= target) return false;
  // Entries of closed sessions wait for their target like the others; should
  // durability stall while devices come and go, drop them before they pile
  // up (a live session has at most one entry).
  if (waiters_.size() >= 2 * live_.load(std::memory_order_relaxed) + 64) {
    std::vector<Entry> alive;
    for (; !waiters_.empty(); waiters_.pop()) {
      if (!waiters_.top().waiter.expired()) alive.push_back(waiters_.top());
    }
    for (Entry& e : alive) waiters_.push(std::move(e));
  }
  waiters_.push(Entry{target, std::move(waiter)});
  return true;
}

void DurabilityWatch::OnDurable(uint64_t durable_sequence) {
  std::vector<std::shared_ptr<DurabilityWaiter>> ready;
  {
    absl::MutexLock lock(&mu_);
    if (durable_sequence <= durable_.load(std::memory_order_relaxed)) return;
    durable_.store(durable_sequence, std::memory_order_release);
    while (!waiters_.empty() && waiters_.top().target <= durable_sequence) {
      if (auto waiter = waiters_.top().waiter.lock()) ready.push_back(std::move(waiter));
      waiters_.pop();
    }
  }
  for (auto& waiter : ready) waiter->OnTargetDurable();
}

size_t DurabilityWatch::registered() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

}  // namespace fixstream::gateway
