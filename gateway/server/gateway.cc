#include "gateway/server/gateway.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/common/host_port.h"
#include "gateway/common/log.h"
#include "gateway/common/monotonic_clock.h"
#include "proto/embedded/served_descriptor_set.h"

#if FIXSTREAM_HAVE_NATS
#include <nats/nats.h>

#include "gateway/fleet/jetstream_store.h"
#endif

namespace fixstream::gateway {
namespace {

// The store --log names; `embedded` or `fleet` is set to it.
std::unique_ptr<RecordStore> MakeStore(const GatewayOptions& options, EmbeddedStore** embedded,
                                       JetStreamStore** fleet) {
#if FIXSTREAM_HAVE_NATS
  if (options.log == LogKind::kJetStream) {
    JetStreamStoreOptions o;
    o.url = options.fleet.url;
    o.stream = options.fleet.stream;
    o.subject_prefix = options.fleet.subject_prefix;
    o.gateway_id = options.fleet.gateway_id;
    o.replicas = options.fleet.replicas;
    o.batch_cap = options.fleet.batch_cap;
    o.max_in_flight = options.fleet.max_in_flight;
    o.replay_timeout = options.fleet.replay_timeout;
    // The drain flushes within the subscribers' drain timeout.
    o.flush_timeout = options.subscriber_drain_timeout;
    o.hub = options.hub;
    auto store = std::make_unique<JetStreamStore>(std::move(o));
    *fleet = store.get();
    return store;
  }
#else
  (void)fleet;
#endif
  // (Without libnats, --log=jetstream is refused by Start().)
  auto store = std::make_unique<EmbeddedStore>(options.hub);
  *embedded = store.get();
  return store;
}

}  // namespace

bool JetStreamLogBuilt() {
#if FIXSTREAM_HAVE_NATS
  return true;
#else
  return false;
#endif
}

void ReleaseNatsLibrary() {
#if FIXSTREAM_HAVE_NATS
  nats_CloseAndWait(5000);
#endif
}

Gateway::Gateway(GatewayOptions options)
    : options_(std::move(options)),
      authorizer_(options_.grpc_security.public_calls),
      store_(MakeStore(options_, &embedded_, &fleet_)),
      service_(
          *store_, options_.subscription, subscription_counters_,
          [this](uint64_t id) { return device_server_.IsConnectionOpen(id); }, authorizer_),
      health_({kServiceName}, &authorizer_),
      device_server_(options_.device, *store_, ingest_counters_) {
  // On the journal's writer thread after each fsync (embedded), or on
  // libnats's acknowledgement thread (JetStream): devices are acknowledged
  // what is committed.
  store_->SetCommitCallback([this](uint64_t committed) { device_server_.OnDurable(committed); });
  // On the store's thread too: devices paused by a stalled journal (or one
  // too far behind), or by NATS being unreachable or the publish window
  // full, read on; and health follows the store.
  store_->SetAvailableCallback([this] { device_server_.OnStoreAvailable(); });
  const std::string what =
      fleet_ != nullptr ? "NATS JetStream is unreachable" : "the journal cannot write";
  const std::string again =
      fleet_ != nullptr ? "NATS JetStream is reachable again" : "the journal writes again";
  store_->SetHealthCallback([this, what, again](const absl::Status& status) {
    {
      absl::MutexLock lock(&health_mu_);
      store_status_ = status;
    }
    if (status.ok()) {
      LogInfo(absl::StrCat("health: SERVING again: ", again));
    } else {
      LogWarning(absl::StrCat("health: NOT_SERVING: ", what, " (", status.message(),
                              "); device connections are paused, subscribers are served what "
                              "is stored"));
    }
    UpdateHealth();
  });
}

const Hub& Gateway::hub() const {
#if FIXSTREAM_HAVE_NATS
  if (fleet_ != nullptr) return fleet_->hub();
#endif
  return embedded_->hub();
}

const Journal* Gateway::journal() const {
  return embedded_ != nullptr ? embedded_->journal() : nullptr;
}

bool Gateway::jetstream_connected() const {
#if FIXSTREAM_HAVE_NATS
  if (fleet_ != nullptr) return fleet_->connected();
#endif
  return false;
}

void Gateway::UpdateHealth() {
  absl::MutexLock lock(&health_mu_);
  health_.SetServing(accepting_devices_ && store_status_.ok());
}

Gateway::~Gateway() { Shutdown(); }

absl::Status Gateway::Start() {
  if (options_.log == LogKind::kJetStream) return StartJetStream();
  LogInfo(options_.journal.directory.empty()
              ? std::string("log: embedded (memory only: no journal)")
              : absl::StrCat("log: embedded (journal ", options_.journal.directory, ")"));
  if (options_.journal.directory.empty()) {
    for (const ListenerOptions& listener : EffectiveListeners(options_.device)) {
      if (!listener.acks) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          options_.device.listeners.empty()
              ? "--device_ack_listen"
              : absl::StrCat("listener ", listener.address, ": ack=on"),
          " needs the journal (--journal_dir): a device is only acknowledged what is durable"));
    }
  }
  if (!options_.journal.directory.empty()) {
    // Sequences continue where the journal ends, and its newest records are
    // back in memory so subscribers can resume.
    if (absl::Status status = embedded_->OpenJournal(options_.journal); !status.ok()) {
      return absl::Status(
          status.code(), absl::StrCat("cannot use --journal_dir=", options_.journal.directory, ": ",
                                      status.message()));
    }
  }
  return StartServing();
}

absl::Status Gateway::StartJetStream() {
#if FIXSTREAM_HAVE_NATS
  // Device acknowledgements (ack=on) follow JetStream's: a record counts
  // once the stream stored it. The local journal is not used (no outbox
  // yet): while NATS is unreachable, records are refused and devices paused.
  LogInfo(absl::StrCat("log: jetstream (", options_.fleet.url, ", stream ", options_.fleet.stream,
                       ", subjects ", options_.fleet.subject_prefix,
                       ".>); the local journal is not used (--journal_* ignored)"));
  if (absl::Status status = fleet_->Start(); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("--log=jetstream: ", status.message(),
                                                    " (is nats-server -js running at --nats_url=",
                                                    options_.fleet.url, "?)"));
  }
  return StartServing();
#else
  return absl::FailedPreconditionError(
      "--log=jetstream: this fixstream-gateway was built without libnats (apt-get install "
      "libnats-dev, then build again); use --log=embedded");
#endif
}

absl::Status Gateway::StartServing() {
  if (!options_.metrics_listen.empty()) {
    MetricsSources sources;
    sources.ingest = &ingest_counters_;
    sources.subscriptions = &subscription_counters_;
    sources.hub = &hub();
    sources.journal = journal();
#if FIXSTREAM_HAVE_NATS
    if (fleet_ != nullptr) {
      sources.fleet = [store = fleet_] {
        const JetStreamStore::Stats s = store->stats();
        FleetMetricsSnapshot m;
        m.messages_sent = s.messages_sent;
        m.records_sent = s.records_sent;
        m.messages_acked = s.messages_acked;
        m.publish_retries = s.publish_retries;
        m.in_flight = s.in_flight;
        m.disconnects = s.disconnects;
        m.reconnects = s.reconnects;
        m.connected = s.connected;
        m.consumed_stream_sequence = s.consumed_stream_sequence;
        m.oldest_unacked_ns = s.oldest_unacked_ns;
        return m;
      };
      sources.fleet_ack_latency = &fleet_->ack_latency();
    }
#endif
    sources.receive_to_publish = &ingest_counters_.receive_to_publish;
    sources.publish_to_delivery = &subscription_counters_.publish_to_delivery;
    sources.subscriber_max_lag = [this] { return store_->MaxListenerLag(); };
    sources.start_time = absl::Now();
    sources.authorizer = &authorizer_;
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
  if (absl::Status status = CheckPlaintextExposure(options_.grpc_security, options_.grpc_listen);
      !status.ok()) {
    metrics_server_.reset();
    return status;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options_.grpc_security);
  if (!credentials.ok()) {
    metrics_server_.reset();
    return credentials.status();
  }
  size_t principals = 0;
  if (!options_.grpc_security.tokens_file.empty()) {
    auto file = std::make_unique<TokenFile>(options_.grpc_security.tokens_file);
    if (absl::Status status = file->Load(); !status.ok()) {
      metrics_server_.reset();
      return absl::InvalidArgumentError(absl::StrCat("--grpc_tokens_file: ", status.message()));
    }
    principals = file->table()->size();
    authorizer_.SetTable(file->table());
    absl::MutexLock lock(&token_mu_);
    token_file_ = std::move(file);
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
  reflection_ = std::make_unique<ReflectionService>(*descriptors_, &authorizer_);
  reflection_v1alpha_ = std::make_unique<ReflectionServiceV1Alpha>(*descriptors_, &authorizer_);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.grpc_listen, *credentials, &port);
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
  {
    const std::string security =
        DescribeGrpcSecurity(options_.grpc_security, options_.grpc_listen, principals);
    if (!options_.grpc_security.tls() && options_.grpc_security.allow_plaintext_remote) {
      LogWarning(security);
    } else {
      LogInfo(security);
    }
  }
  // Not serving (as constructed) until devices can connect: health reflects
  // the listener.

  absl::StatusOr<uint16_t> device_port = device_server_.Start();
  if (!device_port.ok()) {
    // With a deadline: a Watch or Subscribe opened in the moment since the
    // gRPC server started would otherwise hold Shutdown() (and Start()) for
    // ever; past the deadline such calls are cancelled.
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
    grpc_server_.reset();
    metrics_server_.reset();
    return device_port.status();
  }
  device_port_ = *device_port;
  LogDevicePolicy();
  if (!options_.grpc_security.tokens_file.empty() &&
      options_.grpc_security.tokens_poll_interval > absl::ZeroDuration()) {
    token_poller_ = std::thread([this] { PollTokens(); });
  }
  {
    absl::MutexLock lock(&health_mu_);
    accepting_devices_ = true;
  }
  UpdateHealth();
  return absl::OkStatus();
}

void Gateway::PollTokens() {
  absl::MutexLock lock(&token_mu_);
  while (!stop_token_poll_) {
    const auto deadline = MonotonicCondVar::After(options_.grpc_security.tokens_poll_interval);
    while (!stop_token_poll_ && !token_poll_wake_.WaitUntil(token_mu_, deadline)) {
    }
    if (stop_token_poll_) break;
    std::string error;
    const TokenFile::Change change = token_file_->CheckForChange(&error);
    ApplyTokenChange(change, error);
  }
}

void Gateway::ApplyTokenChange(TokenFile::Change change, const std::string& error) {
  switch (change) {
    case TokenFile::Change::kNone:
      return;
    case TokenFile::Change::kReloaded:
      authorizer_.SetTable(token_file_->table());
      service_.RecheckStreams();
      LogInfo(absl::StrCat("tokens file ", token_file_->path(),
                           " reloaded: ", token_file_->table()->size(), " principals"));
      return;
    case TokenFile::Change::kFailed:
      LogWarning(absl::StrCat("tokens file not reloaded, the ", token_file_->table()->size(),
                              " principals loaded before stay in force: ", error));
      return;
  }
}

// Which device policy is in force on each listener, and a warning when
// anyone who reaches a non-loopback open listener may publish for any vehicle.
void Gateway::LogDevicePolicy() const {
  const DeviceServerOptions& device = options_.device;
  const std::string registry =
      device.devices_file.empty() ? "no --devices_file" : "--devices_file=" + device.devices_file;
  for (const ListenerOptions& listener : device_server_.listeners()) {
    const DevicePolicy policy = EffectivePolicy(listener, device);
    const std::string_view name = DevicePolicyName(policy);
    const std::string prefix =
        absl::StrCat("device policy on ", listener.address, ": ",
                     absl::string_view(name.data(), name.size()), " (", registry, "): ");
    switch (policy) {
      case DevicePolicy::kRegistered:
        LogInfo(absl::StrCat(prefix, "only registered vehicle ids are accepted"));
        continue;
      case DevicePolicy::kAuthenticated:
        LogInfo(absl::StrCat(prefix,
                             "each connection authenticates with its device id and secret first "
                             "and may publish for that id only; at most ",
                             device.auth_failures_per_minute,
                             " failed authentications a minute per source"));
        continue;
      case DevicePolicy::kOpen:
        break;
    }
    absl::StatusOr<HostPort> address = ParseHostPort("listener", listener.address);
    const bool remote = !address.ok() || !IsLoopbackHost(address->host);
    const std::string message =
        absl::StrCat(prefix, "anyone who reaches it may publish for any vehicle id",
                     remote ? " — and it is not on loopback; configure --devices_file and "
                              "--device_policy (docs/SECURITY.md)"
                            : "");
    if (remote) {
      LogWarning(message);
    } else {
      LogInfo(message);
    }
  }
}

void Gateway::ReloadDevices() { device_server_.ReloadDevices(); }

void Gateway::ReloadTokens() {
  absl::MutexLock lock(&token_mu_);
  if (token_file_ == nullptr) return;
  std::string error;
  ApplyTokenChange(token_file_->Reload(&error), error);
}

size_t Gateway::token_principals() const {
  absl::MutexLock lock(&token_mu_);
  return token_file_ == nullptr ? 0 : token_file_->table()->size();
}

void Gateway::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (token_poller_.joinable()) {
    {
      absl::MutexLock lock(&token_mu_);
      stop_token_poll_ = true;
      token_poll_wake_.SignalAll();
    }
    token_poller_.join();
  }
  // How long each phase took, logged at the end (a slow drain says where).
  int64_t mark = MonotonicNanos();
  std::string phases;
  auto phase = [&](absl::string_view name) {
    const int64_t now = MonotonicNanos();
    absl::StrAppend(&phases, phases.empty() ? "" : ", ", name, " ", (now - mark) / 1'000'000,
                    " ms");
    mark = now;
  };
  // Watch streams hear NOT_SERVING before the listener closes.
  {
    absl::MutexLock lock(&health_mu_);
    accepting_devices_ = false;
  }
  UpdateHealth();
  device_server_.Stop(options_.device_drain_grace);
  phase("devices");
  store_->Close();
  // Every record is in the journal's queue (or sent to JetStream) now: make
  // it durable (acknowledged) before the (possibly long) subscriber drain.
  if (absl::Status status = store_->Flush(); !status.ok()) {
    LogError(absl::StrCat(fleet_ != nullptr ? "jetstream" : "journal",
                          " flush at shutdown failed: ", status.ToString()));
  }
  phase(fleet_ != nullptr ? "jetstream flush" : "journal flush");
  if (grpc_server_ != nullptr) {
    // Streams end by themselves once their subscribers caught up with the
    // closed hub. Wait for that here rather than in Server::Shutdown, which
    // also waits for idle client connections to go away and would hold every
    // drain to its full deadline while any client keeps a channel open.
    if (!service_.AwaitStreamsEnded(options_.subscriber_drain_timeout)) {
      LogWarning("drain timeout: cancelling subscribers that did not catch up");
    }
    phase("subscribers");
    // Calls still running now (slow subscribers, unary calls) are cancelled.
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
    grpc_server_->Wait();
    phase("gRPC server");
  }
  metrics_server_.reset();
  phase("metrics server");
  if (embedded_ != nullptr) {
    if (absl::Status status = embedded_->CloseJournal(); !status.ok()) {
      LogError(absl::StrCat("journal close failed: ", status.ToString()));
    }
    phase("journal close");
  } else {
#if FIXSTREAM_HAVE_NATS
    // The consumer stops, the last acknowledgements are waited for
    // (bounded), and the NATS connection is closed; the local ring stays
    // readable for the accessors.
    fleet_->Disconnect();
    phase("nats close");
#endif
  }
  LogInfo(absl::StrCat("drain: ", phases));
}

}  // namespace fixstream::gateway
