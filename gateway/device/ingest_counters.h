// IngestCounters: what happened to the device side's connections, bytes and
// lines. Sessions accumulate locally and add here once per read, so the
// counters cost a few atomic adds per read, not per line.
//
// Accounting identities (checked by the integration tests), exact once every
// connection has closed (before that, open connections may hold a partial
// line in their buffer):
//   bytes_read == bytes_framed + bytes_discarded
//   connections_accepted == connections_active + connections_closed
//   sum(lines) == lines framed (each line has exactly one outcome)
//   lines[kPublished] == records_published + records_duplicate
//                        + records_dropped_at_shutdown
//                        + records_refused_unavailable
#ifndef FIXSTREAM_GATEWAY_DEVICE_INGEST_COUNTERS_H_
#define FIXSTREAM_GATEWAY_DEVICE_INGEST_COUNTERS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "gateway/common/latency_histogram.h"
#include "gateway/device/device_tls.h"
#include "ingest/device_protocol.h"
#include "ingest/line_outcome.h"

namespace fixstream::gateway {

// Why a device connection ended. Connections refused by a limit are accepted
// by the kernel, then closed at once under their limit's reason.
enum class CloseReason : uint8_t {
  kPeerClosed = 0,       // the device closed (EOF)
  kError,                // reset or other socket error
  kIdleTimeout,          // no bytes for --idle_timeout_ms
  kLineTimeout,          // a partial line waited longer than --line_timeout_ms (slow drip)
  kConnectionLimit,      // over --max_connections
  kSourceLimit,          // over --max_connections_per_source
  kShutdown,             // the gateway drained
  kUnmappedSource,       // source-address listener: the address is in no entry of its map
  kBadIdentification,    // first-line listener: the first line is not a valid device id
  kReplyTimeout,         // a device protocol's replies were not read (backlog or time limit)
  kAuthFailed,           // --device_policy=authenticated: the first line did not authenticate
  kAuthRateLimited,      // refused at accept: too many failed authentications from the source
  kAuthRevoked,          // the registry no longer has the authenticated device as it was
  kAuthTimeout,          // authenticated policy: no authentication line within --line_timeout_ms
  kTlsHandshakeTimeout,  // TLS listener: no completed handshake within
                         // --device_tls_handshake_timeout_ms
  kTlsHandshakeFailed,   // TLS listener: the handshake failed (tls_handshake_failures says why)
  kCount,
};
inline constexpr size_t kCloseReasonCount = static_cast<size_t>(CloseReason::kCount);

// Stable snake_case name, used as a metrics label.
inline std::string_view CloseReasonName(CloseReason reason) {
  constexpr std::string_view kNames[] = {"peer_closed",
                                         "error",
                                         "idle_timeout",
                                         "line_timeout",
                                         "connection_limit",
                                         "source_limit",
                                         "shutdown",
                                         "unmapped_source",
                                         "bad_identification",
                                         "reply_timeout",
                                         "auth_failed",
                                         "auth_rate_limited",
                                         "auth_revoked",
                                         "auth_timeout",
                                         "tls_handshake_timeout",
                                         "tls_handshake_failed"};
  static_assert(std::size(kNames) == kCloseReasonCount);
  return kNames[static_cast<size_t>(reason)];
}

struct IngestCounters {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_closed{0};  // all reasons
  std::array<std::atomic<uint64_t>, kCloseReasonCount> connections_closed_by{};
  std::atomic<int64_t> connections_active{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> bytes_read{0};
  // Bytes of complete lines handed to the parsers, terminators included.
  std::atomic<uint64_t> bytes_framed{0};
  std::atomic<uint64_t> bytes_discarded{0};  // over-long and unterminated lines
  std::array<std::atomic<uint64_t>, ingest::kLineOutcomeCount> lines{};
  std::atomic<uint64_t> records_published{0};
  // Not published: same vehicle and fix time as a recently accepted record.
  std::atomic<uint64_t> records_duplicate{0};
  // Published and marked late (older than the vehicle's newest fix).
  std::atomic<uint64_t> records_late{0};
  // Records parsed after the hub closed for shutdown (never silently lost:
  // counted here, and drain makes this 0 in a clean shutdown).
  std::atomic<uint64_t> records_dropped_at_shutdown{0};
  // Records the store could not take when their connection closed while
  // paused (below): lost to a failing disk at shutdown. Not acknowledged,
  // so acknowledging devices send them again.
  std::atomic<uint64_t> records_refused_unavailable{0};
  // Backpressure: the store could not take a read's records (a stalled
  // journal, a disk slower than the input), so the connection keeps them
  // and stops reading (the device's TCP window closes) until the store
  // takes records again. Pauses so far, and connections paused now.
  std::atomic<uint64_t> connection_pauses{0};
  std::atomic<int64_t> connections_paused{0};
  // Device protocols (ingest/device_protocol.h): connections by the protocol
  // they speak (pinned or detected), messages by protocol and outcome (also
  // counted in `lines`), replies written and their bytes.
  std::array<std::atomic<uint64_t>, ingest::kDeviceProtocolCount> protocol_connections{};
  std::array<std::array<std::atomic<uint64_t>, ingest::kLineOutcomeCount>,
             ingest::kDeviceProtocolCount>
      protocol_messages{};
  std::array<std::atomic<uint64_t>, ingest::kDeviceProtocolCount> protocol_replies{};
  std::array<std::atomic<uint64_t>, ingest::kDeviceProtocolCount> protocol_reply_bytes{};
  // NMEA dates a multiple of 1024 weeks off (a GPS week-number rollover in
  // the receiver) that were corrected (docs/PROTOCOL.md).
  std::atomic<uint64_t> week_rollovers_corrected{0};

  // TLS listeners: handshakes completed, handshakes failed by reason
  // (timeouts included), and TLS errors of established connections by
  // reason (each also closes its connection as error); reloads of the
  // certificate files put in force and failed (the credentials in force
  // stay), and the notAfter of the certificate new connections get (Unix
  // seconds; 0: no TLS).
  std::atomic<uint64_t> tls_handshakes{0};
  std::array<std::atomic<uint64_t>, kTlsFailureCount> tls_handshake_failures{};
  std::array<std::atomic<uint64_t>, kTlsFailureCount> tls_errors{};
  std::atomic<uint64_t> tls_certificate_reloads{0};
  std::atomic<uint64_t> tls_certificate_reload_failures{0};
  std::atomic<int64_t> tls_certificate_not_after{0};

  // From reading a line's bytes to its record being published (numbered and
  // visible to subscribers); observed once per read with the read's record
  // count.
  LatencyHistogram receive_to_publish;

  // Source maps (source-address listeners): reloads after a change of the
  // file, reloads that failed (the old map stays), and the entries of all
  // maps in use now.
  std::atomic<uint64_t> source_map_reloads{0};
  std::atomic<uint64_t> source_map_reload_failures{0};
  std::atomic<uint64_t> source_map_entries{0};
  // The device registry (--devices_file): reloads put in force, reloads
  // that failed (the previous registry stayed), devices in force.
  std::atomic<uint64_t> device_registry_reloads{0};
  std::atomic<uint64_t> device_registry_reload_failures{0};
  std::atomic<uint64_t> device_registry_entries{0};
  // The authentication rate limit (auth_limiter.h): sources tracked, and
  // failures not tracked because the table was full.
  std::atomic<uint64_t> auth_limiter_sources{0};
  std::atomic<uint64_t> auth_failures_untracked{0};

  // A connection closed (after being accepted, or refused at once).
  void CountClosed(CloseReason reason) {
    connections_closed_by[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    connections_closed.fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t closed_count(CloseReason reason) const {
    return connections_closed_by[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t line_count(ingest::LineOutcome outcome) const {
    return lines[static_cast<size_t>(outcome)].load(std::memory_order_relaxed);
  }
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_INGEST_COUNTERS_H_
