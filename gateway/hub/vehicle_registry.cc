#include "gateway/hub/vehicle_registry.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace fixstream::gateway {

VehicleRegistry::VehicleRegistry(VehicleRegistryOptions options)
    : options_(options),
      fixes_mask_(options.dedup_window == 0 ? 0 : std::bit_ceil(options.dedup_window) - 1) {
  assert(options_.max_vehicles >= 1);
}

VehicleRegistry::Admission VehicleRegistry::Admit(std::string_view vehicle_id, int64_t fix_unix_ns,
                                                  int64_t receive_unix_ns, uint64_t connection_id) {
  Admission admission;
  auto it = by_id_.find(vehicle_id);
  VehicleState* v;
  if (it == by_id_.end()) {
    std::unique_ptr<VehicleState> state;
    if (by_id_.size() >= options_.max_vehicles) {
      state = EvictLeastRecent();
    } else {
      state = std::make_unique<VehicleState>();
      if (options_.dedup_window > 0) state->fixes_.reset(new int64_t[fixes_mask_ + 1]);
    }
    state->id.assign(vehicle_id.data(), vehicle_id.size());
    v = state.get();
    by_id_.emplace(std::string_view(v->id), std::move(state));
    ordered_.insert(v);
    Touch(v);
    admission.newest = true;
  } else {
    v = it->second.get();
    // Seen again right after its previous record (a batch from one device,
    // or a busy vehicle): already the most recent, nothing to relink.
    if (v != lru_head_) {
      Unlink(v);
      Touch(v);
    }
    if (fix_unix_ns > v->newest_fix_unix_ns) {
      // The common case: a newer fix cannot repeat a remembered one, which
      // are all at most the newest.
      admission.newest = true;
    } else if (Remembers(*v, fix_unix_ns)) {
      admission.duplicate = true;
      admission.vehicle = v;
      return admission;
    } else {
      admission.late = fix_unix_ns < v->newest_fix_unix_ns;
    }
  }
  admission.vehicle = v;
  if (admission.newest) v->newest_fix_unix_ns = fix_unix_ns;
  v->last_seen_unix_ns = receive_unix_ns;
  v->last_connection_id = connection_id;
  ++v->records;
  Remember(*v, fix_unix_ns, admission.newest);
  return admission;
}

bool VehicleRegistry::Remembers(const VehicleState& v, int64_t fix) const {
  const size_t mask = fixes_mask_;
  // Binary search over the ascending logical sequence.
  size_t lo = 0;
  size_t hi = v.fixes_size_;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (v.fixes_[(v.fixes_start_ + mid) & mask] < fix) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < v.fixes_size_ && v.fixes_[(v.fixes_start_ + lo) & mask] == fix;
}

void VehicleRegistry::Remember(VehicleState& v, int64_t fix, bool newest) const {
  const size_t k = options_.dedup_window;
  if (k == 0) return;
  const size_t mask = fixes_mask_;
  auto at = [&](size_t i) -> int64_t& { return v.fixes_[(v.fixes_start_ + i) & mask]; };
  // A newest fix is above every remembered one (the newest of which is
  // newest_fix_unix_ns), so the comparison is only needed otherwise.
  if (newest || v.fixes_size_ == 0 || fix > at(v.fixes_size_ - 1)) {
    if (v.fixes_size_ < k) {
      at(v.fixes_size_++) = fix;
    } else {
      // Drop the oldest; the slot after the newest becomes the newest.
      v.fixes_start_ = (v.fixes_start_ + 1) & mask;
      at(k - 1) = fix;
    }
    return;
  }
  if (v.fixes_size_ == k) {
    if (fix < at(0)) return;  // older than every remembered fix: outside the window
    v.fixes_start_ = (v.fixes_start_ + 1) & mask;  // drop the oldest to make room
    --v.fixes_size_;
  }
  size_t i = v.fixes_size_++;
  while (i > 0 && at(i - 1) > fix) {
    at(i) = at(i - 1);
    --i;
  }
  at(i) = fix;
}

const VehicleState* VehicleRegistry::Find(std::string_view vehicle_id) const {
  auto it = by_id_.find(vehicle_id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

bool VehicleRegistry::RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                                      uint64_t connection_id) {
  auto it = by_id_.find(vehicle_id);
  if (it == by_id_.end()) return false;
  VehicleState* v = it->second.get();
  // The gateway clock may step back; last-seen never does.
  v->last_seen_unix_ns = std::max(v->last_seen_unix_ns, receive_unix_ns);
  v->last_connection_id = connection_id;
  if (v != lru_head_) {
    Unlink(v);
    Touch(v);
  }
  return true;
}

std::vector<const VehicleState*> VehicleRegistry::Page(std::string_view after, size_t limit,
                                                       const VehicleScope* scope) const {
  std::vector<const VehicleState*> page;
  if (scope != nullptr && scope->all()) scope = nullptr;
  auto it = ordered_.upper_bound(after);
  while (it != ordered_.end() && page.size() < limit) {
    if (scope != nullptr && !scope->Contains((*it)->id)) {
      // Jump to the next id the scope can contain: the work is per page and
      // pattern, not per vehicle outside the scope.
      const std::optional<std::string_view> next = scope->Seek((*it)->id);
      if (!next.has_value()) break;
      it = ordered_.lower_bound(*next);
      continue;
    }
    page.push_back(*it);
    ++it;
  }
  return page;
}

void VehicleRegistry::Touch(VehicleState* v) {
  v->lru_prev_ = nullptr;
  v->lru_next_ = lru_head_;
  if (lru_head_ != nullptr) lru_head_->lru_prev_ = v;
  lru_head_ = v;
  if (lru_tail_ == nullptr) lru_tail_ = v;
}

void VehicleRegistry::Unlink(VehicleState* v) {
  if (v->lru_prev_ != nullptr) v->lru_prev_->lru_next_ = v->lru_next_;
  if (v->lru_next_ != nullptr) v->lru_next_->lru_prev_ = v->lru_prev_;
  if (lru_head_ == v) lru_head_ = v->lru_next_;
  if (lru_tail_ == v) lru_tail_ = v->lru_prev_;
  v->lru_prev_ = v->lru_next_ = nullptr;
}

std::unique_ptr<VehicleState> VehicleRegistry::EvictLeastRecent() {
  VehicleState* victim = lru_tail_;
  assert(victim != nullptr);
  Unlink(victim);
  ordered_.erase(victim);
  auto node = by_id_.extract(std::string_view(victim->id));
  assert(!node.empty());
  std::unique_ptr<VehicleState> state = std::move(node.mapped());
  ++evicted_;
  // Forget everything; keep the buffers (id, latest frame, fix ring).
  state->id.clear();
  state->newest_fix_unix_ns = 0;
  state->last_seen_unix_ns = 0;
  state->last_connection_id = 0;
  state->records = 0;
  state->latest_frame.clear();
  state->fixes_start_ = 0;
  state->fixes_size_ = 0;
  return state;
}

}  // namespace fixstream::gateway
