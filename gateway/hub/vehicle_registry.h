// VehicleRegistry: what the gateway knows per vehicle — the recent fix times
// that detect duplicate uploads, the newest fix (to mark late records), the
// latest position (the encoded record with the newest fix time), last-seen
// time and the connection that last sent it.
//
// A record is a duplicate when its vehicle already had an accepted record
// with the same fix time among its `dedup_window` newest fix times. Memory is
// bounded: each vehicle remembers only those newest fix times, and at most `max_vehicles` vehicles
// are tracked; beyond that the vehicle seen least recently is forgotten (its duplicate history and
// latest position with it), and counted.
//
// Thread safety: none. The hub calls it under its lock, which also orders
// every admission the same way as the sequence numbers.
#ifndef FIXSTREAM_GATEWAY_HUB_VEHICLE_REGISTRY_H_
#define FIXSTREAM_GATEWAY_HUB_VEHICLE_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "gateway/hub/vehicle_scope.h"

namespace fixstream::gateway {

struct VehicleRegistryOptions {
  size_t max_vehicles = 100'000;
  // Newest fix times remembered per vehicle for duplicate detection; 0
  // disables it.
  size_t dedup_window = 64;
};

struct VehicleState {
  std::string id;
  int64_t newest_fix_unix_ns = 0;
  int64_t last_seen_unix_ns = 0;  // gateway clock of the last accepted record
  uint64_t last_connection_id = 0;
  uint64_t records = 0;
  std::string latest_frame;  // encoded record (SubscribeResponse.records frame)

 private:
  friend class VehicleRegistry;
  // The newest fix times, ascending, in a ring whose capacity is the
  // dedup window rounded up to a power of two: logical index i lives at
  // fixes_[(fixes_start_ + i) & mask], so indexing never divides. At most
  // dedup_window of them are kept. Appending a newest fix (the common case)
  // is O(1); a late one is inserted in order.
  std::unique_ptr<int64_t[]> fixes_;
  size_t fixes_start_ = 0;
  size_t fixes_size_ = 0;
  VehicleState* lru_prev_ = nullptr;  // towards most recently seen
  VehicleState* lru_next_ = nullptr;  // towards least recently seen
};

class VehicleRegistry final {
 public:
  explicit VehicleRegistry(VehicleRegistryOptions options);
  VehicleRegistry(const VehicleRegistry&) = delete;
  VehicleRegistry& operator=(const VehicleRegistry&) = delete;

  struct Admission {
    bool duplicate = false;  // same vehicle and fix time as a remembered record
    bool late = false;       // older than the vehicle's newest fix
    bool newest = false;     // the vehicle's newest fix now: call SetLatest
    VehicleState* vehicle = nullptr;
  };
  // Decides what a record of `vehicle_id` with this fix time is and, unless it
  // is a duplicate, remembers it. Precondition: vehicle_id is a valid id.
  Admission Admit(std::string_view vehicle_id, int64_t fix_unix_ns, int64_t receive_unix_ns,
                  uint64_t connection_id);

  // Stores a copy of `frame` as the vehicle's latest position. `frame` may be
  // overwritten right after (the hub's ring evicts), so it is copied; the
  // copy reuses the capacity of the previous one.
  static void SetLatest(VehicleState* vehicle, std::string_view frame) {
    vehicle->latest_frame.assign(frame.data(), frame.size());
  }

  const VehicleState* Find(std::string_view vehicle_id) const;
  // A known vehicle proved alive without a record (a tracker's heartbeat or
  // status report): its last-seen time and connection are updated and it
  // becomes the most recently seen. Returns false, changing nothing, for a
  // vehicle not tracked (one that never sent a record, or was forgotten):
  // heartbeats never create vehicles, so they cannot fill the registry.
  bool RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                       uint64_t connection_id);
  // Vehicles with id > `after`, in id order, at most `limit`; with a
  // `scope`, only those it contains (ids outside it are skipped by seeking,
  // not visited one by one).
  std::vector<const VehicleState*> Page(std::string_view after, size_t limit,
                                        const VehicleScope* scope = nullptr) const;

  size_t size() const { return by_id_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  // absl::Hash's own string hashing. (Debian's Abseil is built with its own
  // absl::string_view, so absl::Hash<std::string_view> would fall back to
  // std::hash and then mix that.)
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return absl::Hash<absl::string_view>()(absl::string_view(s.data(), s.size()));
    }
  };
  struct IdEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  struct ById {
    using is_transparent = void;
    bool operator()(const VehicleState* a, const VehicleState* b) const { return a->id < b->id; }
    bool operator()(const VehicleState* a, std::string_view b) const { return a->id < b; }
    bool operator()(std::string_view a, const VehicleState* b) const { return a < b->id; }
  };

  bool Remembers(const VehicleState& v, int64_t fix) const;
  // `newest`: fix is above every remembered one (Admission::newest).
  void Remember(VehicleState& v, int64_t fix, bool newest) const;
  void Touch(VehicleState* v);
  void Unlink(VehicleState* v);
  // Forgets the least recently seen vehicle and returns its state, reset,
  // for the vehicle that replaces it (saving its allocations).
  std::unique_ptr<VehicleState> EvictLeastRecent();

  const VehicleRegistryOptions options_;
  const size_t fixes_mask_;  // ring capacity - 1 (a power of two), 0 if no window
  // Keys view the state's own id, which never moves (states are heap nodes).
  absl::flat_hash_map<std::string_view, std::unique_ptr<VehicleState>, IdHash, IdEq> by_id_;
  absl::btree_set<const VehicleState*, ById> ordered_;  // for paging by id
  VehicleState* lru_head_ = nullptr;
  VehicleState* lru_tail_ = nullptr;
  uint64_t evicted_ = 0;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_HUB_VEHICLE_REGISTRY_H_
