// Metrics: the gateway's Prometheus endpoint.
//
// The data path already counts everything in relaxed atomics
// (IngestCounters, SubscriptionCounters, the Hub's accessors,
// LatencyHistogram). GatewayMetrics is a prometheus::Collectable that reads
// them when /metrics is scraped, so there is no second set of counters and
// no cost on the data path. MetricsServer serves it over HTTP with
// prometheus-cpp's Exposer.
//
// Naming follows Prometheus conventions: a `fixstream_` prefix, `_total` on
// counters, base units (seconds, bytes) and only bounded label sets (line
// outcomes, stream outcomes) — never a label per vehicle or connection.
// The journal's series come from its atomics, stats(), lost_ranges() and
// status(); those take the journal's segment and durability locks briefly,
// never its append lock, so a scrape does not hold up the hub.
#ifndef FIXSTREAM_GATEWAY_SERVER_METRICS_H_
#define FIXSTREAM_GATEWAY_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/api/access_tokens.h"
#include "gateway/api/subscription_counters.h"
#include "gateway/common/latency_histogram.h"
#include "gateway/device/ingest_counters.h"
#include "gateway/hub/hub.h"
#include "gateway/journal/journal.h"
#include "prometheus/client_metric.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace prometheus {
class Exposer;
}

namespace fixstream::gateway {

// The JetStream log's state (--log=jetstream), read at scrape time.
struct FleetMetricsSnapshot {
  uint64_t messages_sent = 0;
  uint64_t records_sent = 0;
  uint64_t messages_acked = 0;
  uint64_t publish_retries = 0;
  uint64_t in_flight = 0;
  uint64_t disconnects = 0;
  uint64_t reconnects = 0;
  bool connected = false;
  uint64_t consumed_stream_sequence = 0;
  int64_t oldest_unacked_ns = 0;
};

// What the collector reads. Everything pointed to must outlive the
// GatewayMetrics and every scrape (stop the MetricsServer first).
struct MetricsSources {
  const IngestCounters* ingest = nullptr;
  const SubscriptionCounters* subscriptions = nullptr;
  const Hub* hub = nullptr;
  // The durable journal; null when it is disabled, and then no
  // fixstream_journal_* series (nor records_from_journal) are exported.
  const Journal* journal = nullptr;
  const LatencyHistogram* receive_to_publish = nullptr;
  const LatencyHistogram* publish_to_delivery = nullptr;
  // Largest head - cursor over live subscribers, in records; called at
  // scrape time from an HTTP thread. Empty: exported as 0.
  std::function<uint64_t()> subscriber_max_lag;
  // When the gateway started (fixstream_start_time_seconds).
  absl::Time start_time = absl::UnixEpoch();
  // The JetStream log: called at scrape time from an HTTP thread; empty with
  // the embedded log, and then no fixstream_fleet_* series are exported.
  std::function<FleetMetricsSnapshot()> fleet;
  // Send-to-acknowledgement latency of JetStream messages (with `fleet`).
  const LatencyHistogram* fleet_ack_latency = nullptr;
  // gRPC calls refused for their token (fixstream_grpc_calls_refused_total);
  // null: not exported.
  const Authorizer* authorizer = nullptr;
};

// A histogram's snapshot as a Prometheus histogram (cumulative buckets, sum
// in seconds), labels left empty for the caller.
prometheus::ClientMetric ToClientMetric(const LatencyHistogram& histogram);

// Thread safety: Collect() is thread-safe (concurrent scrapes are fine).
class GatewayMetrics final : public prometheus::Collectable {
 public:
  explicit GatewayMetrics(MetricsSources sources);

  // One MetricFamily per metric name, values read now.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const MetricsSources sources_;
};

// An HTTP server answering GET /metrics with the text exposition format.
// Thread safety: construct and destroy from one controlling thread; serving
// happens on the server's own threads.
class MetricsServer final {
 public:
  // Listens on `listen` (IPv4 HOST:PORT; port 0 picks a free port) and
  // serves `collectable`, which must stay alive until the server is
  // destroyed. Errors name the --metrics_listen setting.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Collectable> collectable);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                std::shared_ptr<prometheus::Collectable> collectable, uint16_t port,
                std::string wake_host);

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Collectable> collectable_;
  uint16_t port_;
  std::string wake_host_;  // IPv4 address the destructor connects to
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_SERVER_METRICS_H_
