// DeviceServer: the TCP side. Acceptors on the device addresses and one
// session per vehicle connection (DeviceSession, device_session.h). There
// are N I/O threads, each running its own asio::io_context; a connection is
// placed on one of them (round robin) and all its handlers run on that
// thread, one at a time. The server enforces the connection limits, sweeps
// the sessions for idle and line timeouts, and passes the durable sequence
// to the sessions of the acknowledging listener (ack_queue.h).
#ifndef FIXSTREAM_GATEWAY_DEVICE_DEVICE_SERVER_H_
#define FIXSTREAM_GATEWAY_DEVICE_DEVICE_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/device/device_policy.h"
#include "gateway/device/ingest_counters.h"
#include "gateway/hub/record_store.h"
#include "ingest/device_protocol.h"
#include "ingest/location_record.h"
#include "ingest/validate.h"

namespace fixstream::gateway {

// How a listener's connections say which vehicle they are
// (docs/PROTOCOL.md, "Identification").
enum class Identification : uint8_t {
  // CSV and JSON lines name their vehicle; an NMEA connection names it with
  // a $PFSID line first.
  kPfsid,
  // The remote address, looked up in the listener's source map
  // (source_map.h); a connection from an unmapped address is refused.
  kSourceAddress,
  // The connection's first line is its device id (IMEI, serial); a first
  // line that is not a valid id closes the connection.
  kFirstLine,
};

// "pfsid", "source_address", "first_line" (as in the configuration).
std::string_view IdentificationName(Identification identification);

// One device listener.
struct ListenerOptions {
  std::string address;  // HOST:PORT; port 0 picks an ephemeral port
  // If set, lines of other formats are rejected as wrong_format.
  std::optional<ingest::SourceFormat> pinned_format;
  // If set, every connection speaks this device protocol (a tracker
  // configured for a Traccar server's port). Not with pinned_format.
  std::optional<ingest::DeviceProtocol> protocol;
  Identification identification = Identification::kPfsid;
  std::string source_map;  // the mapping file, for kSourceAddress
  // Neither format nor protocol pinned, ident=pfsid and no acks: each
  // connection's first bytes say whether it speaks the line formats or a
  // device protocol (ingest::DetectProtocol).
  bool DetectsProtocols() const {
    return !pinned_format && !protocol && identification == Identification::kPfsid && !acks;
  }
  // Connections are sent acknowledgement lines `ACK <n>\n` once their
  // first n lines are durable (docs/PROTOCOL.md). Acknowledgements follow
  // OnDurable() calls, so this needs a journal.
  bool acks = false;
  // The listener's device policy; unset: DeviceServerOptions::device_policy.
  std::optional<DevicePolicy> policy;
  // TLS (device_tls.h): connections handshake with the server's
  // certificate (DeviceServerOptions::tls_cert_file) first; then the same
  // as plain TCP. A client that speaks no TLS is refused.
  bool tls = false;
};

// "0.0.0.0:7878 format=auto ident=pfsid ack=off" (+ " tls=on"), the configuration's
// syntax (docs/OPERATIONS.md), for logs.
std::string DescribeListener(const ListenerOptions& listener);

struct DeviceServerOptions {
  // The listeners. When empty, the legacy fields below make them: `listen`
  // (pinned to `pinned_format`), then `ack_listen` if set, then `tls_listen`
  // if set (TLS, pinned likewise), all identified by $PFSID.
  std::vector<ListenerOptions> listeners;
  std::string listen = "0.0.0.0:7878";  // HOST:PORT; port 0 picks an ephemeral port
  // A second listener (HOST:PORT; empty: none) whose connections are
  // acknowledged (ListenerOptions::acks).
  std::string ack_listen;
  // A TLS listener (HOST:PORT; empty: none) next to the legacy ones.
  std::string tls_listen;
  // TLS listeners' certificate chain and private key (PEM files), checked
  // for changes as often as the source maps: new connections get a changed
  // pair, open ones keep theirs. Needed by any listener with tls; loaded by
  // Start(), which fails naming the file if they do not load.
  std::string tls_cert_file;
  std::string tls_key_file;
  // A TLS connection that has not completed its handshake this long after
  // its accept is closed as tls_handshake_timeout (0: never).
  absl::Duration tls_handshake_timeout = absl::Seconds(10);
  // How often source maps are checked for changes (SourceMapFile).
  absl::Duration source_map_poll_interval = absl::Seconds(1);
  // The device registry (device_registry.h; empty: none), checked for
  // changes as often as the source maps, and what sessions do with it.
  std::string devices_file;
  DevicePolicy device_policy = DevicePolicy::kOpen;
  // Failed authentications a source may make per minute (and in a burst)
  // before its new connections are refused (auth_limiter.h); 0: no limit.
  uint32_t auth_failures_per_minute = 10;
  size_t io_threads = 0;  // 0: hardware concurrency
  size_t max_line_length = 4096;
  std::optional<ingest::SourceFormat> pinned_format;  // of `listen`
  ingest::FixTimeWindow fix_time_window;
  size_t read_chunk = 64 * 1024;    // bytes per read(2)
  size_t read_budget = 256 * 1024;  // bytes per wakeup before yielding to other connections
  // Limits. A connection over a limit is accepted and closed at once.
  size_t max_connections = 16384;
  size_t max_connections_per_source = 1024;  // per remote IP address; 0: no limit
  // Timeouts (0 disables). Idle: no bytes at all. Line: a partial line has
  // been waiting for its newline this long (a slow-drip peer).
  absl::Duration idle_timeout = absl::Minutes(5);
  absl::Duration line_timeout = absl::Seconds(30);
  // How long a connection whose device closed its sending side waits for
  // its final acknowledgement, when no shorter idle timeout closes it first
  // (idle_timeout 0 included): durability that never comes (a failed
  // journal) must not keep it open for ever. Closed as idle_timeout.
  absl::Duration half_closed_ack_wait = absl::Minutes(5);
  // Device protocols: a connection whose reply write has been pending this
  // long (the device does not read them), or whose replies back up beyond
  // this many bytes behind a pending write (a bound on memory: a read
  // burst's replies stay far below it), is closed as reply_timeout.
  size_t max_reply_backlog = 1 << 20;
  absl::Duration reply_timeout = absl::Seconds(30);
  // TCP keepalive probes find peers that vanished (power loss, coverage).
  absl::Duration keepalive_idle = absl::Seconds(60);
  absl::Duration keepalive_interval = absl::Seconds(10);
  int keepalive_probes = 6;
};

// The policy `listener` applies: its own, or the server's default.
inline DevicePolicy EffectivePolicy(const ListenerOptions& listener,
                                    const DeviceServerOptions& options) {
  return listener.policy.value_or(options.device_policy);
}

// options.listeners, or the listeners the legacy fields describe.
std::vector<ListenerOptions> EffectiveListeners(const DeviceServerOptions& options);

// Thread safety: Start/Stop from one controlling thread; the rest is
// internal. The store and counters must outlive the server.
class DeviceServer final {
 public:
  DeviceServer(DeviceServerOptions options, RecordStore& store, IngestCounters& counters);
  ~DeviceServer();
  DeviceServer(const DeviceServer&) = delete;
  DeviceServer& operator=(const DeviceServer&) = delete;

  // Loads the listeners' source maps, binds, listens and starts the I/O
  // threads. Returns the bound port of the first listener.
  absl::StatusOr<uint16_t> Start();
  // After Start(): the listeners (EffectiveListeners) and their bound ports,
  // in order.
  const std::vector<ListenerOptions>& listeners() const { return listeners_; }
  const std::vector<uint16_t>& ports() const { return ports_; }
  // Bound port of the first acknowledging listener after Start(); 0 when
  // there is none.
  uint16_t ack_port() const { return ack_port_; }

  // Every record up to the commit position `durable_sequence` is committed
  // (RecordStore's commit callback): connections on the acknowledging
  // listener are acknowledged up to the lines those records came from.
  // Thread-safe, quick (posts the writes to the connections' threads);
  // values must not decrease.
  void OnDurable(uint64_t durable_sequence);

  // The store takes records again after refusing some as unavailable
  // (RecordStore's available callback): the connections paused by it
  // publish what they kept and read on. Thread-safe, quick (posts to the
  // connections' threads).
  void OnStoreAvailable();
  // Connections paused now (tests, metrics).
  size_t paused_connections() const;
  // Stops accepting new connections (new ones are refused by the kernel);
  // open connections keep being served.
  void StopAccepting();
  // Stops accepting, gives open connections up to `grace` to finish and
  // close by themselves, then closes the rest after reading and publishing
  // what they already sent, and stops the I/O threads. Idempotent.
  void Stop(absl::Duration grace = absl::ZeroDuration());

  bool accepting() const { return accepting_.load(std::memory_order_acquire); }
  // Whether the connection with this id is open now. Thread-safe.
  bool IsConnectionOpen(uint64_t connection_id) const;

  // Reads the device registry again now (SIGHUP), changed or not; logs and
  // counts the outcome like a poll (device_registry_reloads or _failures).
  // Thread-safe: posts to the accept strand and returns. No-op without a
  // devices_file.
  void ReloadDevices();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> accepting_{false};
  std::vector<ListenerOptions> listeners_;
  std::vector<uint16_t> ports_;
  uint16_t ack_port_ = 0;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_DEVICE_SERVER_H_
