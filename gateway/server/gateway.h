// Gateway: the whole running process minus flag parsing and signals — the
// record store (GatewayOptions::log: the embedded one, the hub's ring over
// the journal, or the fleet's JetStream stream, docs/FLEET.md), the
// device TCP server and the gRPC server (LocationService, health,
// reflection). Tests start it in-process on ephemeral ports; main() starts it
// from flags.
#ifndef FIXSTREAM_GATEWAY_SERVER_GATEWAY_H_
#define FIXSTREAM_GATEWAY_SERVER_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/api/access_tokens.h"
#include "gateway/api/health_service.h"
#include "gateway/api/location_service.h"
#include "gateway/api/reflection_service.h"
#include "gateway/common/latency_histogram.h"
#include "gateway/common/monotonic_clock.h"
#include "gateway/device/device_server.h"
#include "gateway/device/ingest_counters.h"
#include "gateway/hub/hub.h"
#include "gateway/journal/journal.h"
#include "gateway/server/grpc_security.h"
#include "gateway/server/metrics.h"
#include "gateway/store/embedded_store.h"

namespace grpc {
class Server;
}

namespace fixstream::gateway {

class JetStreamStore;  // gateway/fleet (built only with libnats)

// Which RecordStore the gateway runs (--log).
enum class LogKind {
  kEmbedded,   // the hub's ring over the local journal (the default)
  kJetStream,  // a fleet's shared NATS JetStream stream (docs/FLEET.md)
};

// The JetStream log (--log=jetstream; JetStreamStoreOptions).
struct FleetLogOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string stream = "FIXSTREAM";
  std::string subject_prefix = "fixstream.v1.fleet";
  // Names this gateway's messages; empty: a random one per start.
  std::string gateway_id;
  // Replicas of the stream when this gateway creates it (1 on one server).
  int replicas = 1;
  size_t batch_cap = 64;
  size_t max_in_flight = 256;
  absl::Duration replay_timeout = absl::Seconds(60);
};

// Whether this build has the JetStream log (libnats was found).
bool JetStreamLogBuilt();

// libnats's global state (its threads, memory): released once no store uses
// it any more, as the C client requires before the process exits
// (nats_CloseAndWait). A no-op without libnats. Call after every Gateway
// is destroyed.
void ReleaseNatsLibrary();

struct GatewayOptions {
  DeviceServerOptions device;
  // Loopback by default: plaintext gRPC elsewhere needs TLS or
  // grpc_security.allow_plaintext_remote (grpc_security.h).
  std::string grpc_listen = "127.0.0.1:50051";
  GrpcSecurityOptions grpc_security;
  HubOptions hub;
  SubscriptionOptions subscription;
  // How long Shutdown() lets subscribers catch up before cancelling them.
  absl::Duration subscriber_drain_timeout = absl::Seconds(5);
  // How long Shutdown() lets open device connections finish and close by
  // themselves before closing them (after reading what they sent).
  absl::Duration device_drain_grace = absl::Seconds(2);
  // gRPC message size limits. Requests are small; responses are bounded by
  // the batch cap and by GetLatestPositions pages.
  size_t grpc_max_receive_bytes = 1 << 20;
  size_t grpc_max_send_bytes = 16 << 20;
  // HOST:PORT of the Prometheus /metrics endpoint (IPv4; port 0 picks a free
  // port); empty disables it. Empty here so in-process gateways open no
  // extra port; the --metrics_listen flag defaults to 0.0.0.0:9464.
  std::string metrics_listen;
  // The durable journal (docs/JOURNAL.md); disabled while directory is
  // empty. Not used with LogKind::kJetStream (no outbox yet, docs/FLEET.md).
  JournalOptions journal;
  LogKind log = LogKind::kEmbedded;
  FleetLogOptions fleet;  // with LogKind::kJetStream
};

// Thread safety: Start() and Shutdown() from one controlling thread; the
// accessors are thread-safe.
class Gateway final {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts the metrics endpoint (if configured), the gRPC server, then the
  // device listener, then reports SERVING. Refuses plaintext gRPC on an
  // address other than loopback unless allowed, and unusable TLS or tokens
  // files.
  absl::Status Start();

  // Reads the tokens file again now (SIGHUP) and, if it parses, puts it in
  // force; otherwise the previous tokens stay, and the error is logged
  // (file:line, never a line's content). A no-op without a tokens file.
  // Any thread.
  void ReloadTokens() ABSL_LOCKS_EXCLUDED(token_mu_);
  // Reads the device registry (--devices_file) again now (SIGHUP); the
  // outcome is logged and counted. A no-op without one. Any thread.
  void ReloadDevices();
  // Principals in force (0 without a tokens file).
  size_t token_principals() const ABSL_LOCKS_EXCLUDED(token_mu_);

  // Drains and stops: health NOT_SERVING, stop accepting devices, read and
  // publish what open connections already sent, close them, close the hub,
  // let subscribers receive everything up to the last record and end their
  // streams with OK (cancelled after subscriber_drain_timeout), stop gRPC,
  // and last the metrics endpoint (so the drain can be watched). Idempotent.
  void Shutdown();

  // Port of the first device listener.
  uint16_t device_port() const { return device_port_; }
  // After Start(): every device listener and its bound port, in order.
  const std::vector<ListenerOptions>& device_listeners() const {
    return device_server_.listeners();
  }
  const std::vector<uint16_t>& device_ports() const { return device_server_.ports(); }
  // Port of the acknowledging device listener; 0 when there is none.
  uint16_t device_ack_port() const { return device_server_.ack_port(); }
  uint16_t grpc_port() const { return grpc_port_; }
  const IngestCounters& ingest_counters() const { return ingest_counters_; }
  const SubscriptionCounters& subscription_counters() const { return subscription_counters_; }
  // The store in force (--log), through the seam.
  const RecordStore& store() const { return *store_; }
  // Its ring (the embedded store's; the JetStream store's local one).
  const Hub& hub() const;
  // The journal, or null when disabled (always with --log=jetstream).
  const Journal* journal() const;
  // Whether the store is connected to NATS JetStream (false with the
  // embedded log).
  bool jetstream_connected() const;
  // Bound port of the metrics endpoint; 0 when disabled or not started.
  uint16_t metrics_port() const { return metrics_port_; }
  // Latency from reading a line's bytes to its record's publication, and
  // from publication to the write to a subscriber; exported as
  // fixstream_receive_to_publish_seconds / fixstream_publish_to_delivery_seconds.
  LatencyHistogram& receive_to_publish_latency() { return ingest_counters_.receive_to_publish; }
  LatencyHistogram& publish_to_delivery_latency() {
    return subscription_counters_.publish_to_delivery;
  }

  // The name health checks use for the location service.
  static constexpr char kServiceName[] = "fixstream.v1.LocationService";

 private:
  const GatewayOptions options_;
  IngestCounters ingest_counters_;
  SubscriptionCounters subscription_counters_;
  // Before the services, which put every call to it.
  Authorizer authorizer_;
  // Before the service and the device server, which use it through the
  // RecordStore seam only; its journal is closed in Shutdown(), after them.
  // One of embedded_ and fleet_ is the store_ (for metrics, the journal).
  EmbeddedStore* embedded_ = nullptr;
  JetStreamStore* fleet_ = nullptr;
  std::unique_ptr<RecordStore> store_;
  LocationService service_;
  // grpc.health.v1 for "" and kServiceName, and reflection over the
  // embedded descriptor set (with comments); before grpc_server_, which
  // must stop before they go.
  HealthService health_;
  std::unique_ptr<ServedDescriptors> descriptors_;
  std::unique_ptr<ReflectionService> reflection_;
  std::unique_ptr<ReflectionServiceV1Alpha> reflection_v1alpha_;
  DeviceServer device_server_;
  std::unique_ptr<grpc::Server> grpc_server_;
  uint16_t device_port_ = 0;
  uint16_t grpc_port_ = 0;
  // Last, so it stops serving before anything it reads is destroyed.
  std::unique_ptr<MetricsServer> metrics_server_;
  uint16_t metrics_port_ = 0;
  bool shut_down_ = false;
  absl::Status StartJetStream();
  // Metrics, gRPC, devices: once the store is ready.
  absl::Status StartServing();
  // Health: SERVING while devices can connect (started, not shutting down)
  // and the store keeps records (not stalled on a failing disk).
  void UpdateHealth();
  absl::Mutex health_mu_;
  bool accepting_devices_ ABSL_GUARDED_BY(health_mu_) = false;
  absl::Status store_status_ ABSL_GUARDED_BY(health_mu_);

  // The tokens file and its poller thread (started by Start when a file is
  // configured). token_mu_ serializes polls and SIGHUP reloads.
  void PollTokens() ABSL_LOCKS_EXCLUDED(token_mu_);
  void LogDevicePolicy() const;
  void ApplyTokenChange(TokenFile::Change change, const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(token_mu_);
  mutable absl::Mutex token_mu_;
  std::unique_ptr<TokenFile> token_file_ ABSL_GUARDED_BY(token_mu_);
  bool stop_token_poll_ ABSL_GUARDED_BY(token_mu_) = false;
  MonotonicCondVar token_poll_wake_;
  std::thread token_poller_;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_SERVER_GATEWAY_H_
