#include "gateway/server/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/common/host_port.h"
#include "ingest/line_outcome.h"
#include "prometheus/exposer.h"

namespace fixstream::gateway {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Scrapes are rare next to the data path, so the families are built fresh
// each time; nothing here is shared with the counters' writers.
class Families {
 public:
  void Counter(std::string name, std::string help, uint64_t value) {
    ClientMetric metric;
    metric.counter.value = static_cast<double>(value);
    Add(std::move(name), std::move(help), MetricType::Counter, {std::move(metric)});
  }

  void Gauge(std::string name, std::string help, double value) {
    ClientMetric metric;
    metric.gauge.value = value;
    Add(std::move(name), std::move(help), MetricType::Gauge, {std::move(metric)});
  }

  // One counter per value of a bounded label, e.g. lines_total{outcome}.
  // `values` is an array of atomics indexed by an enum and `label_value(i)`
  // names entry i; closed-by-reason and similar counters fit the same shape.
  template <size_t N, typename LabelValue>
  void CounterByLabel(std::string name, std::string help, std::string label,
                      const std::array<std::atomic<uint64_t>, N>& values,
                      LabelValue&& label_value) {
    std::vector<ClientMetric> metrics;
    metrics.reserve(N);
    for (size_t i = 0; i < N; ++i) {
      ClientMetric metric;
      const std::string_view value = label_value(i);
      metric.label.push_back({label, std::string(value.data(), value.size())});
      metric.counter.value = static_cast<double>(values[i].load(std::memory_order_relaxed));
      metrics.push_back(std::move(metric));
    }
    Add(std::move(name), std::move(help), MetricType::Counter, std::move(metrics));
  }

  // Counters whose label values come from separate atomics.
  void CounterByLabel(std::string name, std::string help, std::string label,
                      const std::vector<std::pair<std::string, uint64_t>>& values) {
    std::vector<ClientMetric> metrics;
    metrics.reserve(values.size());
    for (const auto& [value, count] : values) {
      ClientMetric metric;
      metric.label.push_back({label, value});
      metric.counter.value = static_cast<double>(count);
      metrics.push_back(std::move(metric));
    }
    Add(std::move(name), std::move(help), MetricType::Counter, std::move(metrics));
  }

  // Counters with two labels, each combination from its own value; only the
  // non-zero ones are exported (most combinations never happen).
  void NonZeroCounters(
      std::string name, std::string help,
      const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, uint64_t>>&
          values) {
    std::vector<ClientMetric> metrics;
    for (const auto& [labels, count] : values) {
      if (count == 0) continue;
      ClientMetric metric;
      for (const auto& [label, value] : labels) metric.label.push_back({label, value});
      metric.counter.value = static_cast<double>(count);
      metrics.push_back(std::move(metric));
    }
    Add(std::move(name), std::move(help), MetricType::Counter, std::move(metrics));
  }

  void Histogram(std::string name, std::string help, const LatencyHistogram& histogram) {
    Add(std::move(name), std::move(help), MetricType::Histogram, {ToClientMetric(histogram)});
  }

  std::vector<MetricFamily> Release() { return std::move(families_); }

 private:
  void Add(std::string name, std::string help, MetricType type, std::vector<ClientMetric> metrics) {
    MetricFamily family;
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = type;
    family.metric = std::move(metrics);
    families_.push_back(std::move(family));
  }

  std::vector<MetricFamily> families_;
};

uint64_t Load(const std::atomic<uint64_t>& value) { return value.load(std::memory_order_relaxed); }

void CollectFleet(const FleetMetricsSnapshot& s, const LatencyHistogram* ack_latency, Families& f) {
  f.Gauge("fixstream_fleet_connected",
          "1 while the gateway is connected to NATS JetStream (--log=jetstream); 0 while it is "
          "not, and device records are refused (devices paused) until it is back.",
          s.connected ? 1 : 0);
  f.Counter("fixstream_fleet_messages_published_total",
            "JetStream messages (batches of records) this gateway sent to the stream.",
            s.messages_sent);
  f.Counter("fixstream_fleet_records_published_total",
            "Records in the JetStream messages this gateway sent.", s.records_sent);
  f.Counter("fixstream_fleet_acks_total",
            "JetStream messages of this gateway the stream acknowledged (stored).",
            s.messages_acked);
  f.Counter("fixstream_fleet_publish_retries_total",
            "JetStream messages sent again after an error answer (a timeout, the server gone).",
            s.publish_retries);
  f.Gauge("fixstream_fleet_in_flight_messages",
          "Messages sent and not yet committed (unacknowledged, or acknowledged behind one that "
          "is not).",
          static_cast<double>(s.in_flight));
  f.Gauge("fixstream_fleet_publish_lag_seconds",
          "How long the oldest unacknowledged message has waited for its acknowledgement (0: "
          "none waits).",
          static_cast<double>(s.oldest_unacked_ns) / 1e9);
  f.Counter("fixstream_fleet_disconnects_total", "Connections to NATS lost.", s.disconnects);
  f.Counter("fixstream_fleet_reconnects_total", "Reconnections to NATS after a loss.",
            s.reconnects);
  f.Gauge("fixstream_fleet_consumed_stream_sequence",
          "Stream sequence of the newest message the gateway's consumer of the fleet stream read.",
          static_cast<double>(s.consumed_stream_sequence));
  if (ack_latency != nullptr) {
    f.Histogram("fixstream_fleet_ack_seconds",
                "From sending a JetStream message to its acknowledgement.", *ack_latency);
  }
}

void CollectJournal(const Journal& journal, Families& f) {
  // Read the sequences before stats(): a scrape is not a snapshot, and this
  // order keeps durable <= appended within one scrape.
  const uint64_t durable = journal.durable_sequence();
  const uint64_t appended = journal.next_sequence() - 1;
  const uint64_t oldest = journal.oldest_sequence();
  const JournalStats stats = journal.stats();
  uint64_t lost_sequences = 0;
  const std::vector<std::pair<uint64_t, uint64_t>> lost = journal.lost_ranges();
  for (const auto& [first, last] : lost) lost_sequences += last - first + 1;

  f.Gauge("fixstream_journal_healthy",
          "1 while the journal writes and fsyncs; 0 while it is stalled on a failed write or "
          "fsync (disk full, I/O error): records are not accepted, device connections are "
          "paused, and the journal retries with backoff until it writes again (see the log).",
          journal.stalled() ? 0 : 1);
  f.Counter("fixstream_journal_write_errors_total",
            "Failed journal writes, fsyncs and retries (each attempt counts).",
            journal.write_errors());
  f.Counter("fixstream_journal_records_appended_total",
            "Records appended to the journal since the gateway started.", stats.frames_appended);
  f.Counter("fixstream_journal_bytes_written_total",
            "Bytes written to journal segment files (frames and segment headers).",
            stats.bytes_written);
  f.Counter("fixstream_journal_fsyncs_total", "fsyncs of journal segment files.", stats.fsyncs);
  f.Histogram("fixstream_journal_fsync_seconds", "Duration of each fsync of a journal segment.",
              journal.fsync_latency());
  f.Gauge("fixstream_journal_pending_bytes",
          "Bytes appended to the journal and not yet written to a segment file.",
          static_cast<double>(stats.pending_bytes));
  f.Gauge("fixstream_journal_appended_sequence",
          "Last sequence number appended to the journal (0 when it is empty).",
          static_cast<double>(appended));
  f.Gauge("fixstream_journal_durable_sequence",
          "Highest sequence number known to be fsynced to the journal (0 if none).",
          static_cast<double>(durable));
  f.Gauge("fixstream_journal_oldest_sequence",
          "Oldest sequence number still in the journal (appended_sequence + 1 when it is empty).",
          static_cast<double>(oldest));
  f.Gauge("fixstream_journal_segments", "Journal segment files on disk.",
          static_cast<double>(stats.segments));
  f.Gauge("fixstream_journal_disk_bytes", "Total size of the journal's segment files.",
          static_cast<double>(stats.disk_bytes));
  f.Counter("fixstream_journal_segments_deleted_total",
            "Journal segments deleted by retention (size or age).", stats.segments_deleted);
  f.Gauge("fixstream_journal_lost_ranges",
          "Ranges of sequence numbers that recovery found missing or corrupt and that are still "
          "within the journal's retention.",
          static_cast<double>(lost.size()));
  f.Gauge("fixstream_journal_lost_sequences",
          "Sequence numbers covered by fixstream_journal_lost_ranges.",
          static_cast<double>(lost_sequences));
}

}  // namespace

GatewayMetrics::GatewayMetrics(MetricsSources sources) : sources_(std::move(sources)) {}

std::vector<MetricFamily> GatewayMetrics::Collect() const {
  Families f;
  f.Gauge("fixstream_start_time_seconds",
          "Unix time the gateway started; without a journal, sequence numbers restart at 1 "
          "when it changes.",
          absl::ToDoubleSeconds(sources_.start_time - absl::UnixEpoch()));

  // Device side.
  const IngestCounters& in = *sources_.ingest;
  f.Gauge("fixstream_connections", "Device TCP connections open now.",
          static_cast<double>(in.connections_active.load(std::memory_order_relaxed)));
  f.Counter("fixstream_connections_accepted_total", "Device TCP connections accepted.",
            Load(in.connections_accepted));
  f.CounterByLabel("fixstream_connections_closed_total",
                   "Device TCP connections closed, by reason (limits close at once).", "reason",
                   in.connections_closed_by,
                   [](size_t i) { return CloseReasonName(static_cast<CloseReason>(i)); });
  f.Counter("fixstream_accept_errors_total",
            "Failed accepts on the device listener (e.g. out of file descriptors).",
            Load(in.accept_errors));
  f.CounterByLabel(
      "fixstream_lines_total",
      "Lines read from devices by outcome; every line has exactly one (see docs/PROTOCOL.md).",
      "outcome", in.lines,
      [](size_t i) { return ingest::LineOutcomeName(static_cast<ingest::LineOutcome>(i)); });
  {
    // Device protocols (docs/PROTOCOL.md, "Device protocols").
    auto name = [](size_t p) {
      const std::string_view n = ingest::DeviceProtocolName(static_cast<ingest::DeviceProtocol>(p));
      return std::string(n.data(), n.size());
    };
    std::vector<std::pair<std::string, uint64_t>> connections, replies, reply_bytes;
    std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, uint64_t>> messages;
    for (size_t p = 0; p < ingest::kDeviceProtocolCount; ++p) {
      connections.emplace_back(name(p), Load(in.protocol_connections[p]));
      replies.emplace_back(name(p), Load(in.protocol_replies[p]));
      reply_bytes.emplace_back(name(p), Load(in.protocol_reply_bytes[p]));
      for (size_t o = 0; o < ingest::kLineOutcomeCount; ++o) {
        const std::string_view outcome =
            ingest::LineOutcomeName(static_cast<ingest::LineOutcome>(o));
        messages.push_back(
            {{{"protocol", name(p)}, {"outcome", std::string(outcome.data(), outcome.size())}},
             Load(in.protocol_messages[p][o])});
      }
    }
    f.CounterByLabel("fixstream_device_protocol_connections_total",
                     "Device connections that spoke a device protocol (pinned by their listener "
                     "or detected from their first bytes), by protocol.",
                     "protocol", connections);
    f.NonZeroCounters("fixstream_device_messages_total",
                      "Device protocol messages by protocol and outcome (each also counts in "
                      "fixstream_lines_total); only non-zero series are exported.",
                      messages);
    f.CounterByLabel("fixstream_device_replies_total",
                     "Messages a device protocol's reply was written for, by protocol.", "protocol",
                     replies);
    f.CounterByLabel("fixstream_device_reply_bytes_total",
                     "Bytes of device protocol replies, by protocol.", "protocol", reply_bytes);
  }
  f.Counter("fixstream_bytes_read_total", "Bytes read from device connections.",
            Load(in.bytes_read));
  f.Counter("fixstream_bytes_framed_total",
            "Bytes of complete lines handed to the parsers, terminators included.",
            Load(in.bytes_framed));
  f.Counter("fixstream_bytes_discarded_total",
            "Bytes of over-long and unterminated lines discarded unparsed.",
            Load(in.bytes_discarded));
  f.Counter("fixstream_records_published_total", "Records numbered and retained by the hub.",
            Load(in.records_published));
  f.Counter("fixstream_records_duplicate_total",
            "Records dropped as duplicates (same vehicle and fix time as a recent record).",
            Load(in.records_duplicate));
  f.Counter("fixstream_records_late_total",
            "Records published marked late (older than the vehicle's newest fix).",
            Load(in.records_late));
  f.Counter("fixstream_records_dropped_at_shutdown_total",
            "Records parsed after the hub closed for shutdown (0 after a clean drain).",
            Load(in.records_dropped_at_shutdown));
  f.Counter("fixstream_nmea_week_rollovers_corrected_total",
            "NMEA dates a multiple of 1024 GPS weeks off (a receiver's week-number rollover), "
            "corrected to the accepted fix-time window.",
            Load(in.week_rollovers_corrected));
  f.Counter("fixstream_records_refused_unavailable_total",
            "Records a paused connection still held when it closed (the store could not take "
            "them: a failing disk at shutdown); not acknowledged.",
            Load(in.records_refused_unavailable));
  f.Counter("fixstream_device_connection_pauses_total",
            "Times a device connection stopped reading because the store could not take its "
            "records (a stalled journal, or one too far behind): TCP backpressure, nothing lost.",
            Load(in.connection_pauses));
  f.Gauge("fixstream_device_connections_paused",
          "Device connections paused now, waiting for the store to take records again.",
          static_cast<double>(in.connections_paused.load(std::memory_order_relaxed)));
  f.Counter("fixstream_source_map_reloads_total",
            "Source maps (ident=source_address listeners) reloaded after their file changed.",
            Load(in.source_map_reloads));
  f.Counter("fixstream_source_map_reload_failures_total",
            "Changed source map files that could not be read or were invalid; the previous map "
            "stays in use (the log names the file and line).",
            Load(in.source_map_reload_failures));
  f.Gauge("fixstream_source_map_entries", "Entries of the source maps in use, all listeners.",
          static_cast<double>(Load(in.source_map_entries)));
  f.Counter("fixstream_device_registry_reloads_total",
            "Device registry (--devices_file) reloads put in force, after a change or SIGHUP.",
            Load(in.device_registry_reloads));
  f.Counter("fixstream_device_registry_reload_failures_total",
            "Device registry reloads that failed (unreadable or invalid file; the previous "
            "registry stays in force).",
            Load(in.device_registry_reload_failures));
  f.Gauge("fixstream_device_registry_entries", "Devices in the registry in force.",
          static_cast<double>(Load(in.device_registry_entries)));
  f.Gauge("fixstream_device_auth_limiter_sources",
          "Source addresses (IPv6: /64s) the device authentication rate limiter tracks "
          "(--device_auth_failures_per_minute; at most 65536, drained ones dropped when full).",
          static_cast<double>(Load(in.auth_limiter_sources)));
  f.Counter("fixstream_device_auth_failures_untracked_total",
            "Failed device authentications from new sources while the rate limiter's table was "
            "full (not rate-limited; a sign of a source-spraying attack).",
            Load(in.auth_failures_untracked));
  f.Counter("fixstream_device_tls_handshakes_total",
            "TLS handshakes completed on device listeners with tls=on.", Load(in.tls_handshakes));
  f.CounterByLabel("fixstream_device_tls_handshake_failures_total",
                   "TLS handshakes on device listeners that failed, by reason (not_tls: a "
                   "plaintext device on the TLS port; peer_alert: the client refused us, e.g. "
                   "our certificate; timeout: --device_tls_handshake_timeout_ms).",
                   "reason", in.tls_handshake_failures,
                   [](size_t i) { return TlsFailureName(static_cast<TlsFailure>(i)); });
  f.CounterByLabel("fixstream_device_tls_errors_total",
                   "TLS errors on established device connections, by reason (each closed the "
                   "connection as error).",
                   "reason", in.tls_errors,
                   [](size_t i) { return TlsFailureName(static_cast<TlsFailure>(i)); });
  f.Counter("fixstream_device_tls_certificate_reloads_total",
            "Device TLS certificate/key reloads put in force after the files changed (new "
            "connections get the new certificate; open ones keep theirs).",
            Load(in.tls_certificate_reloads));
  f.Counter("fixstream_device_tls_certificate_reload_failures_total",
            "Changed device TLS certificate/key files that did not load (the log says which "
            "file and why); the certificate in force stays.",
            Load(in.tls_certificate_reload_failures));
  f.Gauge("fixstream_device_tls_certificate_expiry_timestamp_seconds",
          "notAfter of the device TLS certificate new connections get (Unix seconds; 0: no "
          "TLS listener).",
          static_cast<double>(in.tls_certificate_not_after.load(std::memory_order_relaxed)));

  // Hub.
  const Hub& hub = *sources_.hub;
  f.Gauge("fixstream_sequence_head", "Last assigned sequence number (0 before the first record).",
          static_cast<double>(hub.head() - 1));
  f.Gauge("fixstream_retained_oldest_sequence",
          "Oldest retained sequence number (sequence_head + 1 when nothing is retained).",
          static_cast<double>(hub.oldest()));
  f.Gauge("fixstream_retained_records", "Records held in the in-memory retention ring.",
          static_cast<double>(hub.retained_records()));
  f.Gauge("fixstream_retained_bytes", "Encoded bytes held in the in-memory retention ring.",
          static_cast<double>(hub.retained_bytes()));
  if (sources_.journal != nullptr) CollectJournal(*sources_.journal, f);
  if (sources_.fleet) CollectFleet(sources_.fleet(), sources_.fleet_ack_latency, f);
  f.Gauge("fixstream_vehicles", "Vehicles tracked for duplicates and latest positions.",
          static_cast<double>(hub.vehicles()));
  f.Counter("fixstream_vehicles_evicted_total",
            "Vehicles forgotten because --max_vehicles were tracked.", hub.vehicles_evicted());

  // Subscription side.
  const SubscriptionCounters& sub = *sources_.subscriptions;
  f.Gauge("fixstream_subscribers", "Subscribe streams open now.",
          static_cast<double>(sub.active.load(std::memory_order_relaxed)));
  f.Counter("fixstream_subscriptions_started_total", "Subscribe streams started.",
            Load(sub.started));
  f.CounterByLabel("fixstream_subscriptions_ended_total",
                   "Subscribe calls ended, by outcome: ok (drained at shutdown), cancelled, "
                   "fell_behind (RESOURCE_EXHAUSTED), or rejected before starting "
                   "(invalid_argument, out_of_range, too_many_subscribers).",
                   "outcome",
                   {{"ok", Load(sub.ended_ok)},
                    {"cancelled", Load(sub.ended_cancelled)},
                    {"fell_behind", Load(sub.ended_fell_behind)},
                    {"invalid_argument", Load(sub.rejected_invalid)},
                    {"out_of_range", Load(sub.rejected_out_of_range)},
                    {"too_many_subscribers", Load(sub.rejected_too_many)}});
  if (sources_.authorizer != nullptr) {
    f.CounterByLabel("fixstream_grpc_calls_refused_total",
                     "gRPC calls refused: unauthenticated (no or unknown bearer token), "
                     "permission_denied (a call or vehicles the token's principal may not use).",
                     "reason",
                     {{"unauthenticated", sources_.authorizer->unauthenticated()},
                      {"permission_denied", sources_.authorizer->permission_denied()}});
  }
  f.Counter("fixstream_gaps_sent_total", "Gap notices sent to subscribers that fell behind.",
            Load(sub.gaps_sent));
  f.Counter("fixstream_sequences_skipped_total", "Sequence numbers covered by gap notices.",
            Load(sub.sequences_skipped));
  f.Counter("fixstream_records_delivered_total", "Records written to subscribers.",
            Load(sub.records_delivered));
  f.Counter("fixstream_bytes_delivered_total", "Encoded record bytes written to subscribers.",
            Load(sub.bytes_delivered));
  f.Counter("fixstream_responses_delivered_total", "Subscribe responses written.",
            Load(sub.responses_delivered));
  f.Gauge("fixstream_subscriber_max_lag_records",
          "Largest number of records a live subscriber still has to receive.",
          static_cast<double>(sources_.subscriber_max_lag ? sources_.subscriber_max_lag() : 0));
  if (sources_.journal != nullptr) {
    // Without a journal nothing is ever read from it: no series rather than
    // a counter that is 0 by construction.
    f.Counter("fixstream_records_from_journal_total",
              "Records read back from the journal for subscribers catching up from before the "
              "in-memory ring (counted when their write starts).",
              Load(sub.records_from_journal));
  }

  // Latency.
  f.Histogram("fixstream_receive_to_publish_seconds",
              "Time from reading a line's bytes to its record being published by the hub.",
              *sources_.receive_to_publish);
  f.Histogram("fixstream_publish_to_delivery_seconds",
              "Time from a record's publication to its write to a subscriber.",
              *sources_.publish_to_delivery);
  return f.Release();
}

prometheus::ClientMetric ToClientMetric(const LatencyHistogram& histogram) {
  const LatencyHistogram::Snapshot snapshot = histogram.Read();
  prometheus::ClientMetric metric;
  // The count is derived from the buckets rather than kept separately, so
  // the +Inf bucket always equals _count as the exposition format requires.
  metric.histogram.sample_count = snapshot.count;
  metric.histogram.sample_sum = static_cast<double>(snapshot.sum_ns) / 1e9;
  metric.histogram.bucket.reserve(LatencyHistogram::kBucketCount);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    cumulative += snapshot.buckets[i];
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = i < LatencyHistogram::kBoundsNs.size()
                             ? static_cast<double>(LatencyHistogram::kBoundsNs[i]) / 1e9
                             : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  return metric;
}

MetricsServer::MetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                             std::shared_ptr<prometheus::Collectable> collectable, uint16_t port,
                             std::string wake_host)
    : exposer_(std::move(exposer)),
      collectable_(std::move(collectable)),
      port_(port),
      wake_host_(std::move(wake_host)) {}

MetricsServer::~MetricsServer() {
  // civetweb's listening thread polls its sockets with a 2 s timeout and
  // sees the stop flag only then, so every shutdown waited up to 2 s here
  // (the drain log's "metrics server" phase). A connection wakes it at once:
  // connect every 20 ms until the server is gone.
  std::atomic<bool> stopped{false};
  std::thread waker([this, &stopped] {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    if (::inet_pton(AF_INET, wake_host_.c_str(), &address.sin_addr) != 1) return;
    for (int i = 0; i < 250 && !stopped.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (stopped.load()) break;
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
      ::close(fd);
    }
  });
  exposer_.reset();
  stopped.store(true);
  waker.join();
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, std::shared_ptr<prometheus::Collectable> collectable) {
  absl::StatusOr<HostPort> address = ParseHostPort("metrics_listen", listen);
  if (!address.ok()) return address.status();
  std::unique_ptr<prometheus::Exposer> exposer;
  // prometheus-cpp reports a failed bind (civetweb) by throwing; this is the
  // boundary where that becomes a Status.
  try {
    // Two threads, so one stalled HTTP client cannot block every scrape.
    exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --metrics_listen=", listen,
                     " (address in use, not local, or not IPv4?): ", e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on --metrics_listen=", listen));
  }
  exposer->RegisterCollectable(collectable);
  // Where the destructor connects to (see there): the listening address, or
  // loopback for a wildcard one.
  std::string wake_host = address->host;
  if (wake_host.empty() || wake_host == "0.0.0.0" || wake_host == "*") wake_host = "127.0.0.1";
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(exposer), std::move(collectable),
                        static_cast<uint16_t>(ports.front()), std::move(wake_host)));
}

}  // namespace fixstream::gateway
