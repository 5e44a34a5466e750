#include "gateway/server/gateway.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/common/host_port.h"
#include "gateway/common/log.h"
#include "proto/embedded/served_descriptor_set.h"

namespace fixstream::gateway {

Gateway::Gateway(GatewayOptions options)
    : options_(std::move(options)),
      hub_(options_.hub),
      service_(hub_, options_.subscription, subscription_counters_,
               [this](uint64_t id) { return device_server_.IsConnectionOpen(id); }),
      health_({kServiceName}),
      device_server_(options_.device, hub_, ingest_counters_) {}

// Feeds the hub's published batches to the journal. Append only queues the
// bytes for the journal's writer thread, so it is cheap under the hub lock.
class Gateway::JournalLog final : public Hub::RecordLog {
 public:
  explicit JournalLog(Journal& journal) : journal_(journal) {}
  void Append(uint64_t first_sequence, const std::vector<std::string_view>& frames) override {
    absl::Status status = journal_.Append(first_sequence, frames, Journal::Wake::kDeferred);
    if (!status.ok()) {
      // The records stay published in memory; what the journal lost is
      // logged (rate-limited) and visible in its status.
      error_log_.Log([&] {
        return absl::StrCat("journal append failed at sequence ", first_sequence, ": ",
                            status.ToString());
      });
    }
  }
  void AfterPublish() override { journal_.WakeWriter(); }

 private:
  Journal& journal_;
  RateLimitedLog error_log_{LogLevel::kError};
};

Gateway::~Gateway() { Shutdown(); }

absl::Status Gateway::OpenJournal() {
  JournalOptions journal_options = options_.journal;
  const bool gate_delivery = journal_options.durability == DurabilityPolicy::kPerBatch;
  // Runs on the journal's writer thread after each fsync.
  journal_options.on_durable = [this, gate_delivery](uint64_t durable) {
    if (gate_delivery) hub_.MarkDurable(durable);
    device_server_.OnDurable(durable);
  };
  absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(std::move(journal_options));
  if (!journal.ok()) {
    return absl::Status(journal.status().code(),
                        absl::StrCat("cannot use --journal_dir=", options_.journal.directory, ": ",
                                     journal.status().message()));
  }
  journal_ = *std::move(journal);
  journal_log_ = std::make_unique<JournalLog>(*journal_);
  service_.set_journal(journal_.get());
  // Re-retain the newest records the ring can hold, after the last lost
  // range (the ring holds contiguous sequences only).
  const uint64_t next = journal_->next_sequence();
  uint64_t from = std::max(journal_->oldest_sequence(),
                           next > options_.hub.max_records ? next - options_.hub.max_records : 1);
  for (const auto& [first, last] : journal_->lost_ranges()) {
    if (last >= from && last < next) from = last + 1;
  }
  hub_.AttachLog(journal_log_.get(), from);
  std::string frames;
  for (uint64_t cursor = from; cursor < next;) {
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
  // Under fsync-per-batch, subscribers get a record only once it is
  // durable: nothing a subscriber has seen can be lost to a crash.
  if (gate_delivery) hub_.GateOnDurable();
  // (Capped at what the hub restored: should a restore have stopped short,
  // new records reuse those sequences and must not count as durable.)
  device_server_.OnDurable(std::min(journal_->durable_sequence(), hub_.head() - 1));
  // (Journal::Open logged what recovery found.)
  LogInfo(absl::StrCat("journal: next sequence ", hub_.head(), ", ", hub_.retained_records(),
                       " records restored to memory"));
  return absl::OkStatus();
}

absl::Status Gateway::Start() {
  if (!options_.device.ack_listen.empty() && options_.journal.directory.empty()) {
    return absl::InvalidArgumentError(
        "--device_ack_listen needs the journal (--journal_dir): a device is only acknowledged "
        "what is durable");
  }
  if (!options_.journal.directory.empty()) {
    if (absl::Status status = OpenJournal(); !status.ok()) return status;
  }
  if (!options_.metrics_listen.empty()) {
    MetricsSources sources;
    sources.ingest = &ingest_counters_;
    sources.subscriptions = &subscription_counters_;
    sources.hub = &hub_;
    sources.journal = journal_.get();
    sources.receive_to_publish = &ingest_counters_.receive_to_publish;
    sources.publish_to_delivery = &subscription_counters_.publish_to_delivery;
    sources.subscriber_max_lag = [this] { return hub_.MaxListenerLag(); };
    sources.start_time = absl::Now();
    absl::StatusOr<std::unique_ptr<MetricsServer>> metrics = MetricsServer::Start(
        options_.metrics_listen, std::make_shared<GatewayMetrics>(std::move(sources)));
    if (!metrics.ok()) return metrics.status();
    metrics_server_ = *std::move(metrics);
    metrics_port_ = metrics_server_->port();
  }

  absl::StatusOr<HostPort> grpc_address = ParseHostPort("grpc_listen", options_.grpc_listen);
  if (!grpc_address.ok()) {
    metrics_server_.reset();
    return grpc_address.status();
  }

  // gRPC's own health and reflection services answer from the generated
  // pool, which has no health descriptor and no comments; ours are built
  // from the descriptor set embedded at build time.
  absl::StatusOr<std::unique_ptr<ServedDescriptors>> descriptors = ServedDescriptors::Build(
      proto::ServedDescriptorSet(),
      {kServiceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
       "grpc.reflection.v1alpha.ServerReflection"});
  if (!descriptors.ok()) {
    metrics_server_.reset();
    return descriptors.status();
  }
  descriptors_ = *std::move(descriptors);
  reflection_ = std::make_unique<ReflectionService>(*descriptors_);
  reflection_v1alpha_ = std::make_unique<ReflectionServiceV1Alpha>(*descriptors_);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.grpc_listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service_);
  builder.RegisterService(&health_);
  builder.RegisterService(reflection_.get());
  builder.RegisterService(reflection_v1alpha_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.grpc_max_receive_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(
      std::max(options_.grpc_max_send_bytes, options_.subscription.max_batch_bytes + 4096)));
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port == 0) {
    grpc_server_.reset();
    metrics_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --grpc_listen=", options_.grpc_listen,
                     " (address in use or not local?)"));
  }
  grpc_port_ = static_cast<uint16_t>(port);
  // Not serving (as constructed) until devices can connect: health reflects
  // the listener.

  absl::StatusOr<uint16_t> device_port = device_server_.Start();
  if (!device_port.ok()) {
    grpc_server_->Shutdown();
    grpc_server_.reset();
    metrics_server_.reset();
    return device_port.status();
  }
  device_port_ = *device_port;
  health_.SetServing(true);
  return absl::OkStatus();
}

void Gateway::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Watch streams hear NOT_SERVING before the listener closes.
  health_.SetServing(false);
  device_server_.Stop(options_.device_drain_grace);
  hub_.Close();
  // Every record is in the journal's queue now: make it durable before the
  // (possibly long) subscriber drain.
  if (journal_ != nullptr) {
    if (absl::Status status = journal_->Flush(); !status.ok()) {
      LogError(absl::StrCat("journal flush at shutdown failed: ", status.ToString()));
    }
  }
  if (grpc_server_ != nullptr) {
    // Streams end by themselves once their subscribers caught up with the
    // closed hub. Wait for that here rather than in Server::Shutdown, which
    // also waits for idle client connections to go away and would hold every
    // drain to its full deadline while any client keeps a channel open.
    const absl::Time deadline = absl::Now() + options_.subscriber_drain_timeout;
    if (!service_.AwaitStreamsEnded(deadline)) {
      LogWarning("drain timeout: cancelling subscribers that did not catch up");
    }
    // Calls still running now (slow subscribers, unary calls) are cancelled.
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
    grpc_server_->Wait();
  }
  metrics_server_.reset();
  if (journal_ != nullptr) {
    if (absl::Status status = journal_->Close(); !status.ok()) {
      LogError(absl::StrCat("journal close failed: ", status.ToString()));
    }
  }
}

}  // namespace fixstream::gateway
