#include "gateway/store/embedded_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/common/log.h"
#include "gateway/hub/record_codec.h"

namespace fixstream::gateway {

// Feeds the hub's published batches to the journal. Append only queues the
// bytes for the journal's writer thread, so it is cheap under the hub lock.
class EmbeddedStore::JournalLog final : public Hub::RecordLog {
 public:
  explicit JournalLog(Journal& journal) : journal_(journal) {}
  void Append(uint64_t first_sequence, const std::vector<std::string_view>& frames) override {
    absl::Status status = journal_.Append(first_sequence, frames, Journal::Wake::kDeferred);
    if (!status.ok()) {
      // Cannot happen after CanAppend() said yes (a stalled journal still
      // queues); if it does, the records stay published in memory and the
      // lease keeps their numbers from being reused.
      error_log_.Log([&] {
        return absl::StrCat("journal append failed at sequence ", first_sequence, ": ",
                            status.ToString());
      });
    }
  }
  void AfterPublish() override { journal_.WakeWriter(); }
  bool CanAppend(uint64_t last_sequence) const override {
    return journal_.CanAppend(last_sequence);
  }

 private:
  Journal& journal_;
  RateLimitedLog error_log_{LogLevel::kError};
};

// A store listener as the hub sees it.
class EmbeddedStore::HubListener final : public Hub::Listener {
 public:
  explicit HubListener(RecordStore::Listener* listener) : listener_(listener) {}
  void OnHubUpdated() override { listener_->OnRecordsAvailable(); }
  uint64_t next_sequence() const override { return listener_->next_sequence(); }

 private:
  RecordStore::Listener* const listener_;
};

EmbeddedStore::EmbeddedStore(HubOptions options)
    : ring_records_(options.max_records), hub_(options) {}

EmbeddedStore::~EmbeddedStore() { CloseJournal().IgnoreError(); }

void EmbeddedStore::SetCommitCallback(std::function<void(uint64_t)> callback) {
  commit_callback_ = std::move(callback);
}

absl::Status EmbeddedStore::OpenJournal(JournalOptions options) {
  const bool gate_delivery = options.durability == DurabilityPolicy::kPerBatch;
  // Runs on the journal's writer thread after each fsync.
  options.on_durable = [this, gate_delivery](uint64_t durable) {
    if (gate_delivery) hub_.MarkDurable(durable);
    if (commit_callback_) commit_callback_(durable);
  };
  options.on_available = [this] {
    if (available_callback_) available_callback_();
  };
  options.on_health = [this](const absl::Status& status) {
    if (health_callback_) health_callback_(status);
  };
  absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(std::move(options));
  if (!journal.ok()) return journal.status();
  journal_ = *std::move(journal);
  journal_log_ = std::make_unique<JournalLog>(*journal_);
  // Re-retain the newest records the ring can hold, after the last lost
  // range (the ring holds contiguous sequences only).
  const uint64_t next = journal_->next_sequence();
  std::vector<std::pair<uint64_t, uint64_t>> lost = journal_->lost_ranges();
  // After a crash the journal continues at its sequence lease: the numbers
  // skipped are its newest lost range. Records before it are restored, then
  // the hub skips too.
  uint64_t restore_end = next;
  if (!lost.empty() && lost.back().second + 1 == next) {
    restore_end = lost.back().first;
    lost.pop_back();
  }
  const uint64_t capacity = ring_records_;
  uint64_t from = std::max(std::min(journal_->oldest_sequence(), restore_end),
                           restore_end > capacity ? restore_end - capacity : 1);
  for (const auto& [first, last] : lost) {
    if (last >= from && last < restore_end) from = last + 1;
  }
  hub_.AttachLog(journal_log_.get(), from);
  std::string frames;
  for (uint64_t cursor = from; cursor < restore_end;) {
    frames.clear();
    absl::StatusOr<Journal::ReadResult> r = journal_->Read(cursor, 65536, 16 << 20, &frames);
    if (!r.ok() || r->hole || r->records == 0 || hub_.Restore(frames) != r->records) {
      // Cannot happen after recovery; if it does, serve what is restored and
      // say so rather than refuse to start.
      LogError(absl::StrCat("journal: could not restore records from sequence ", cursor,
                            r.ok() ? "" : absl::StrCat(": ", r.status().ToString())));
      break;
    }
    cursor = r->next_sequence;
  }
  if (hub_.head() < next) hub_.SkipTo(next);
  // Under fsync-per-batch, subscribers get a record only once it is
  // durable: nothing a subscriber has seen can be lost to a crash.
  if (gate_delivery) hub_.GateOnDurable();
  // (Capped at what the hub restored: should a restore have stopped short,
  // new records reuse those sequences and must not count as durable.)
  const uint64_t durable = std::min(journal_->durable_sequence(), hub_.head() - 1);
  if (durable > 0 && commit_callback_) commit_callback_(durable);
  // (Journal::Open logged what recovery found.)
  LogInfo(absl::StrCat("journal: next sequence ", hub_.head(), ", ", hub_.retained_records(),
                       " records restored to memory"));
  return absl::OkStatus();
}

absl::Status EmbeddedStore::CloseJournal() {
  if (journal_ == nullptr) return absl::OkStatus();
  return journal_->Close();
}

absl::Status EmbeddedStore::Flush() {
  if (journal_ == nullptr) return absl::OkStatus();
  return journal_->Flush();
}

RecordStore::PublishResult EmbeddedStore::Publish(RecordBatch& batch) {
  const Hub::PublishResult r = hub_.Publish(batch);
  PublishResult result;
  result.first_sequence = r.first_sequence;
  result.published = r.published;
  result.duplicates = r.duplicates;
  result.late = r.late;
  result.refused = r.refused;
  result.unavailable = r.unavailable;
  // Sequences are commit positions here: the batch is committed once the
  // journal is durable up to its last record (or the record before it).
  result.commit_position = r.next_sequence > 0 ? r.next_sequence - 1 : 0;
  return result;
}

uint64_t EmbeddedStore::oldest() const {
  const uint64_t ring = hub_.oldest();
  // Sequences evicted from the ring are still served from the journal.
  return journal_ != nullptr ? std::min(ring, journal_->oldest_sequence()) : ring;
}

RecordStore::ReadResult EmbeddedStore::Read(uint64_t cursor, const SubscriptionFilter& filter,
                                            size_t max_records, size_t max_bytes,
                                            std::string* out) const {
  const Hub::ReadResult r = hub_.Read(cursor, filter, max_records, max_bytes, out,
                                      filter.matches_all() ? Hub::kMaxScanPerRead : kScanPerRead);
  ReadResult result;
  if (!r.fell_behind) {
    result.records = r.records;
    result.first_sequence = r.first_sequence;
    result.last_sequence = r.last_sequence;
    result.next_cursor = r.next_cursor;
    result.first_publish_unix_ns = r.first_publish_unix_ns;
    return result;
  }
  // Not committed yet: under gated delivery the ring may already have
  // evicted records that wait for their fsync. They are on their way to the
  // journal, so the reader waits for the commit (which wakes it) instead of
  // being told they are gone.
  if (journal_ != nullptr && cursor >= hub_.readable_end()) {
    result.next_cursor = cursor;
    return result;
  }
  // Older than the ring but maybe still on disk.
  if (journal_ != nullptr) {
    std::optional<ReadResult> history =
        ReadHistory(cursor, r.oldest, filter, max_records, max_bytes, out);
    if (history.has_value()) return *history;
  }
  // Gone from everything the store can read, up to the ring.
  result.gap = true;
  result.gap_first = cursor;
  result.gap_last = r.oldest - 1;
  result.next_cursor = r.oldest;
  return result;
}

std::optional<RecordStore::ReadResult> EmbeddedStore::ReadHistory(
    uint64_t cursor, uint64_t ring_oldest, const SubscriptionFilter& filter, size_t max_records,
    size_t max_bytes, std::string* out) const {
  // The journal holds records written but not yet fsynced; when delivery
  // is gated on durability, read no further than the hub serves.
  const uint64_t end = hub_.readable_end();
  if (cursor >= end) return std::nullopt;
  max_records =
      static_cast<size_t>(std::min<uint64_t>(std::max<size_t>(max_records, 1), end - cursor));
  if (before_history_read_) before_history_read_();
  // No hub lock is held here: publishers never wait for this disk read.
  std::string raw;
  absl::StatusOr<Journal::ReadResult> read = journal_->Read(cursor, max_records, max_bytes, &raw);
  if (!read.ok()) return std::nullopt;
  ReadResult result;
  if (read->hole) {
    // Deleted by retention or lost to corruption: exactly that range is
    // gone (what follows it may be on disk or in the ring).
    if (read->hole_last < cursor) return std::nullopt;
    result.gap = true;
    result.gap_first = cursor;
    result.gap_last = std::min(read->hole_last, ring_oldest - 1);
    result.next_cursor = result.gap_last + 1;
    return result;
  }
  if (read->records == 0) return std::nullopt;  // not written yet: what the ring lost is gone
  result.from_history = true;
  result.first_publish_unix_ns = absl::GetCurrentTimeNanos();  // not a live delivery
  result.next_cursor = read->next_sequence;
  if (filter.matches_all()) {
    out->append(raw);
    result.records = read->records;
    result.first_sequence = read->first_sequence;
    result.last_sequence = read->last_sequence;
    return result;
  }
  // Filtered like the ring's records, decoding each frame's coordinates and
  // vehicle (which the ring keeps beside its frames).
  const size_t start_size = out->size();
  for (std::string_view rest = raw; !rest.empty();) {
    const size_t size = FrameSize(rest);
    DecodedFrame decoded;
    if (size == 0 || size > rest.size() || !DecodeFrame(rest.substr(0, size), &decoded)) {
      out->resize(start_size);  // not our frame: stop here
      return std::nullopt;
    }
    const std::string_view frame = rest.substr(0, size);
    rest.remove_prefix(size);
    if (!filter.Matches(frame.substr(decoded.layout.vehicle_offset, decoded.layout.vehicle_size),
                        decoded.latitude, decoded.longitude)) {
      continue;
    }
    out->append(frame);
    if (result.records++ == 0) result.first_sequence = decoded.sequence;
    result.last_sequence = decoded.sequence;
  }
  return result;
}

void EmbeddedStore::AddListener(Listener* listener) {
  auto adapter = std::make_unique<HubListener>(listener);
  Hub::Listener* registered = adapter.get();
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners_[listener] = std::move(adapter);
  }
  hub_.AddListener(registered);
}

void EmbeddedStore::RemoveListener(Listener* listener) {
  std::unique_ptr<HubListener> adapter;
  {
    absl::MutexLock lock(&listeners_mu_);
    auto it = listeners_.find(listener);
    if (it == listeners_.end()) return;
    adapter = std::move(it->second);
    listeners_.erase(it);
  }
  // The hub never calls the adapter once this returns; then it is freed.
  hub_.RemoveListener(adapter.get());
}

void EmbeddedStore::LatestPositions(const std::vector<std::string>& ids, std::string* frames,
                                    std::vector<std::string>* unknown) const {
  hub_.LatestPositions(ids, frames, unknown);
}

std::string EmbeddedStore::LatestPositionsPage(std::string_view after, size_t limit,
                                               std::string* frames, bool* more,
                                               const VehicleScope* scope) const {
  return hub_.LatestPositionsPage(after, limit, frames, more, scope);
}

std::vector<RecordStore::VehicleSummary> EmbeddedStore::VehiclesPage(
    std::string_view after, size_t limit, const VehicleScope* scope) const {
  std::vector<VehicleSummary> page;
  for (Hub::VehicleSummary& v : hub_.VehiclesPage(after, limit, scope)) {
    page.push_back(VehicleSummary{std::move(v.id), v.last_seen_unix_ns, v.newest_fix_unix_ns,
                                  v.last_connection_id, v.records});
  }
  return page;
}

}  // namespace fixstream::gateway
