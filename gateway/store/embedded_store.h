// EmbeddedStore: the RecordStore of one gateway on its own — the hub's
// in-memory ring (numbering, retention, vehicle registry) over an optional
// local journal.
//
//   published  numbered and retained by the hub, queued for the journal.
//   committed  fsynced by the journal (commit position == sequence). Without
//              a journal nothing is ever committed and the commit callback
//              is never called.
//   readable   as soon as published; under DurabilityPolicy::kPerBatch
//              (delivery gated on durability) once committed.
//   Read()     serves the ring, and below the ring's oldest record reads the
//              journal back from disk (without any hub lock held, on the
//              caller's thread), filtering each frame as the ring would.
//
// Thread safety: as RecordStore. OpenJournal() and CloseJournal() from one
// controlling thread, before the first Publish() and after the last one.
#ifndef FIXSTREAM_GATEWAY_STORE_EMBEDDED_STORE_H_
#define FIXSTREAM_GATEWAY_STORE_EMBEDDED_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gateway/hub/hub.h"
#include "gateway/hub/record_store.h"
#include "gateway/journal/journal.h"

namespace fixstream::gateway {

class EmbeddedStore final : public RecordStore {
 public:
  explicit EmbeddedStore(HubOptions options);
  // Closes the journal (CloseJournal()).
  ~EmbeddedStore() override;
  EmbeddedStore(const EmbeddedStore&) = delete;
  EmbeddedStore& operator=(const EmbeddedStore&) = delete;

  // Opens the journal (Journal::Open's errors are returned as they are),
  // numbers on from where it ends, re-retains its newest records in the ring
  // and reports what is durable to the commit callback. Under
  // DurabilityPolicy::kPerBatch delivery is gated on durability. Call once,
  // before the first Publish(); options.on_durable is the store's own.
  absl::Status OpenJournal(JournalOptions options);
  // Flushes and closes the journal, if open. Idempotent. After the last
  // Publish() and Read().
  absl::Status CloseJournal();

  // RecordStore.
  PublishResult Publish(RecordBatch& batch) override;
  void SetCommitCallback(std::function<void(uint64_t commit_position)> callback) override;
  void SetAvailableCallback(std::function<void()> callback) override {
    available_callback_ = std::move(callback);
  }
  void SetHealthCallback(std::function<void(const absl::Status&)> callback) override {
    health_callback_ = std::move(callback);
  }
  ReadResult Read(uint64_t cursor, const SubscriptionFilter& filter, size_t max_records,
                  size_t max_bytes, std::string* out) const override;
  uint64_t head() const override { return hub_.head(); }
  uint64_t readable_end() const override { return hub_.readable_end(); }
  uint64_t oldest() const override;
  uint64_t oldest_in_memory() const override { return hub_.oldest(); }
  void Close() override { hub_.Close(); }
  bool closed() const override { return hub_.closed(); }
  absl::Status Flush() override;
  void AddListener(Listener* listener) override;
  void RemoveListener(Listener* listener) override;
  uint64_t MaxListenerLag() const override { return hub_.MaxListenerLag(); }
  void LatestPositions(const std::vector<std::string>& ids, std::string* frames,
                       std::vector<std::string>* unknown) const override;
  std::string LatestPositionsPage(std::string_view after, size_t limit, std::string* frames,
                                  bool* more, const VehicleScope* scope = nullptr) const override;
  bool RefreshLastSeen(std::string_view vehicle_id, int64_t receive_unix_ns,
                       uint64_t connection_id) override {
    return hub_.RefreshLastSeen(vehicle_id, receive_unix_ns, connection_id);
  }
  std::vector<VehicleSummary> VehiclesPage(std::string_view after, size_t limit,
                                           const VehicleScope* scope = nullptr) const override;

  // The ring and the journal (null while none is open), for metrics.
  const Hub& hub() const { return hub_; }
  const Journal* journal() const { return journal_.get(); }

  // Records a filtered Read() scans in the ring per call: bounds how long a
  // selective filter holds the hub's lock shared (a publisher waits for it).
  static constexpr size_t kScanPerRead = 1024;

  // Test hook: called on the reading thread just before each journal read
  // of Read(). Set before the first Read().
  void set_before_history_read(std::function<void()> hook) {
    before_history_read_ = std::move(hook);
  }

 private:
  class JournalLog;
  class HubListener;

  // Read() below the ring's oldest record (`ring_oldest`): from the journal,
  // or nothing when it cannot serve the cursor (the caller reports the gap
  // up to the ring).
  std::optional<ReadResult> ReadHistory(uint64_t cursor, uint64_t ring_oldest,
                                        const SubscriptionFilter& filter, size_t max_records,
                                        size_t max_bytes, std::string* out) const;

  const uint64_t ring_records_;  // HubOptions::max_records
  Hub hub_;
  std::function<void(uint64_t)> commit_callback_;
  std::function<void()> available_callback_;
  std::function<void(const absl::Status&)> health_callback_;
  std::function<void()> before_history_read_;
  absl::Mutex listeners_mu_;
  absl::flat_hash_map<Listener*, std::unique_ptr<HubListener>> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
  std::unique_ptr<JournalLog> journal_log_;
  // Last: destroyed first, its writer thread calls into the hub.
  std::unique_ptr<Journal> journal_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_STORE_EMBEDDED_STORE_H_
