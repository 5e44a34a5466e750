#include "gateway/device/device_server.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "asio.hpp"
#include "gateway/common/host_port.h"
#include "gateway/common/log.h"
#include "gateway/common/monotonic_clock.h"
#include "gateway/device/ack_queue.h"
#include "gateway/device/auth_limiter.h"
#include "gateway/device/device_registry.h"
#include "gateway/device/device_session.h"
#include "gateway/device/device_tls.h"
#include "gateway/device/source_map.h"

namespace fixstream::gateway {

using asio::ip::tcp;

namespace {

std::chrono::nanoseconds ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// One io_context per I/O thread (0: one per core). A context run by a single
// thread needs no strands for its connections, and an event never wakes a
// second thread to run its handler (a shared context's reactor hands events
// between its threads with a futex wake each).
std::vector<std::unique_ptr<asio::io_context>> MakeContexts(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (size_t i = 0; i < threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  return contexts;
}

}  // namespace

std::string_view IdentificationName(Identification identification) {
  switch (identification) {
    case Identification::kPfsid:
      return "pfsid";
    case Identification::kSourceAddress:
      return "source_address";
    case Identification::kFirstLine:
      return "first_line";
  }
  return "unknown";
}

std::string DescribeListener(const ListenerOptions& listener) {
  const std::string_view format =
      listener.protocol.has_value()        ? ingest::DeviceProtocolName(*listener.protocol)
      : listener.pinned_format.has_value() ? ingest::SourceFormatName(*listener.pinned_format)
                                           : std::string_view("auto");
  const std::string_view ident = IdentificationName(listener.identification);
  return absl::StrCat(
      listener.address, " format=", absl::string_view(format.data(), format.size()),
      " ident=", absl::string_view(ident.data(), ident.size()),
      listener.identification == Identification::kSourceAddress ? ":" : "",
      listener.identification == Identification::kSourceAddress ? listener.source_map : "",
      " ack=", listener.acks ? "on" : "off", listener.tls ? " tls=on" : "",
      listener.policy.has_value() ? " policy=" : "",
      listener.policy.has_value() ? ToAbsl(DevicePolicyName(*listener.policy)) : "");
}

absl::Status CheckListenerPolicy(const ListenerOptions& listener,
                                 const DeviceServerOptions& options) {
  const DevicePolicy policy = EffectivePolicy(listener, options);
  if (policy == DevicePolicy::kOpen) return absl::OkStatus();
  const std::string_view name = DevicePolicyName(policy);
  if (options.devices_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("listener ", listener.address,
                                                   ": the device policy ", ToAbsl(name),
                                                   " needs a --devices_file"));
  }
  if (policy == DevicePolicy::kAuthenticated &&
      (listener.protocol.has_value() || listener.identification != Identification::kPfsid)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listener ", listener.address,
        ": the device policy authenticated needs a line listener identified by its "
        "authentication line (ident=pfsid, no device protocol): trackers that cannot send a "
        "secret need their own listener with policy=registered (docs/SECURITY.md)"));
  }
  return absl::OkStatus();
}

std::vector<ListenerOptions> EffectiveListeners(const DeviceServerOptions& options) {
  if (!options.listeners.empty()) return options.listeners;
  // As before the listener list: each identified by $PFSID, and
  // --device_format pins them all.
  auto legacy = [&](const std::string& address, bool acks, bool tls) {
    ListenerOptions listener;
    listener.address = address;
    listener.pinned_format = options.pinned_format;
    listener.acks = acks;
    listener.tls = tls;
    return listener;
  };
  std::vector<ListenerOptions> listeners;
  listeners.push_back(legacy(options.listen, /*acks=*/false, /*tls=*/false));
  if (!options.ack_listen.empty()) {
    listeners.push_back(legacy(options.ack_listen, /*acks=*/true, /*tls=*/false));
  }
  if (!options.tls_listen.empty()) {
    listeners.push_back(legacy(options.tls_listen, /*acks=*/false, /*tls=*/true));
  }
  return listeners;
}

struct DeviceServer::Impl final : DeviceSession::Registry {
  Impl(DeviceServerOptions o, RecordStore& s, IngestCounters& c)
      : options(std::move(o)),
        store(s),
        counters(c),
        devices(options.devices_file.empty()
                    ? nullptr
                    : std::make_unique<DeviceRegistryFile>(options.devices_file)),
        tls_files(options.tls_cert_file.empty() && options.tls_key_file.empty()
                      ? nullptr
                      : std::make_unique<TlsCertificateFiles>(options.tls_cert_file,
                                                              options.tls_key_file)),
        contexts(MakeContexts(options.io_threads)),
        accept_strand(asio::make_strand(*contexts[0])),
        sweep_timer(accept_strand) {}

  // DeviceSession::Registry.
  void OnSessionClosed(uint64_t id, const asio::ip::address& source, CloseReason reason) override {
    LogClose(reason, source);
    Unregister(id, source);
  }
  void OnFirstFixTimeRejection(ingest::LineOutcome outcome, const asio::ip::address& source,
                               int64_t receive_time_unix_ns) override {
    fix_time_log.Log([&] {
      const std::string_view name = ingest::LineOutcomeName(outcome);
      const ingest::FixTimeWindow& window = options.fix_time_window;
      return absl::StrCat(
          "device connection from ", source.to_string(), ": line rejected as ",
          absl::string_view(name.data(), name.size()), ": the fix time must lie within ",
          window.max_age_ns / 1'000'000'000, " s before and ", window.max_lead_ns / 1'000'000'000,
          " s after the time the line was read (",
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(receive_time_unix_ns),
                           absl::UTCTimeZone()),
          "; --max_fix_age_s, --max_fix_lead_s; 0 s: no limit); further such lines of this "
          "connection are only counted");
    });
  }
  void OnBadIdentification(const asio::ip::address& source, std::string_view first_line,
                           bool too_long) override {
    close_logs[static_cast<size_t>(CloseReason::kBadIdentification)].Log([&] {
      constexpr size_t kShown = 40;
      const absl::string_view shown(first_line.data(), std::min(first_line.size(), kShown));
      return absl::StrCat(
          "device connection from ", source.to_string(),
          " closed: bad_identification: on a first_line listener the first line must be the "
          "device id (1 to 64 characters of A-Z a-z 0-9 . _ : -), got ",
          too_long ? "a line over --max_line_length"
                   : absl::StrCat("'", absl::CHexEscape(shown),
                                  first_line.size() > kShown ? "...'" : "'"));
    });
  }

  void OnAuthenticationFailed(const asio::ip::address& source, std::string_view vehicle_id,
                              std::string_view why) override {
    auth_limiter.Failed(source, MonotonicNanos());
    counters.auth_limiter_sources.store(auth_limiter.tracked_sources(), std::memory_order_relaxed);
    counters.auth_failures_untracked.store(auth_limiter.untracked_failures(),
                                           std::memory_order_relaxed);
    // The claimed id (not a secret; escaped, bounded) helps an operator find
    // a misconfigured device. Never the line: it holds the secret.
    close_logs[static_cast<size_t>(CloseReason::kAuthFailed)].Log([&] {
      constexpr size_t kShown = 64;
      const absl::string_view shown(vehicle_id.data(), std::min(vehicle_id.size(), kShown));
      return absl::StrCat(
          "device connection from ", source.to_string(), " closed: auth_failed: ", ToAbsl(why),
          vehicle_id.empty() ? "" : " (device id '",
          vehicle_id.empty() ? "" : absl::CHexEscape(shown), vehicle_id.empty() ? "" : "')");
    });
  }

  // The context a new connection lives on: round robin. Connections are
  // long-lived, so counts stay even.
  asio::io_context& NextContext() {
    return *contexts[next_context.fetch_add(1, std::memory_order_relaxed) % contexts.size()];
  }

  // A device listener. Everything in it belongs to the accept strand.
  struct Listener {
    Listener(asio::strand<asio::io_context::executor_type>& strand, ListenerOptions o,
             const DeviceServerOptions& server)
        : acceptor(strand),
          retry_timer(strand),
          options(std::move(o)),
          authenticated(EffectivePolicy(options, server) == DevicePolicy::kAuthenticated) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry_timer;
    const ListenerOptions options;
    // Its policy is authenticated: new connections pass the rate limit.
    const bool authenticated;
    // kSourceAddress: the mapping, polled for changes by ScheduleReload().
    std::unique_ptr<SourceMapFile> source_map;
  };

  absl::StatusOr<uint16_t> Listen(Listener& listener, std::string_view flag);
  void Accept(Listener& listener);
  void OnAccepted(tcp::socket socket, Listener& listener);
  void ScheduleSweep();
  void ScheduleReload();
  void ReloadSourceMaps();
  void UpdateSourceMapEntries();
  // Polls (or, `force`: reads) the device registry. Accept strand.
  void ReloadDevices(bool force);
  // Polls the TLS certificate files. Accept strand.
  void ReloadTlsCertificates();
  // Devices that check certificates refuse an expired one: said at load.
  void WarnIfExpired() {
    if (tls_files->current()->not_after_unix_s() < absl::ToUnixSeconds(absl::Now())) {
      LogWarning(absl::StrCat("device TLS certificate ", tls_files->cert_file(), " has expired (",
                              tls_files->current()->description(),
                              "): clients that check it will refuse every handshake"));
    }
  }
  void Sweep();
  void Unregister(uint64_t id, const asio::ip::address& source);
  void CloseRefused(tcp::socket& socket, CloseReason reason, const asio::ip::address& source);
  void CloseSocket(tcp::socket& socket, CloseReason reason);

  struct SessionEntry {
    std::weak_ptr<DeviceSession> session;
    DeviceSession* raw;  // for the sweep's atomics; valid while `session` locks
  };

  const DeviceServerOptions options;
  RecordStore& store;
  IngestCounters& counters;
  // Sessions of the acknowledging listener wait here for their lines to
  // become durable. Before the contexts: it outlives every session.
  DurabilityWatch durability;
  std::atomic<uint64_t> store_available_generation{0};
  // --devices_file (null: none). Polled and reloaded on the accept strand;
  // sessions read its snapshots.
  const std::unique_ptr<DeviceRegistryFile> devices;
  AuthLimiter auth_limiter{{.failures_per_minute = options.auth_failures_per_minute}};
  // --device_tls_cert/--device_tls_key (null: no TLS). Polled and reloaded
  // on the accept strand, which alone reads current() (at each accept).
  const std::unique_ptr<TlsCertificateFiles> tls_files;
  const DeviceSession::Context session_context{
      options, store, counters, durability, *this, store_available_generation, devices.get()};
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::atomic<size_t> next_context{0};
  asio::strand<asio::io_context::executor_type> accept_strand;
  std::vector<std::unique_ptr<Listener>> listeners;
  bool listening = false;  // accept strand only
  asio::steady_timer sweep_timer;
  asio::steady_timer reload_timer{accept_strand};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> next_connection_id{1};
  bool stopped = false;  // control thread only
  // Accept errors, limits hit and timeouts are logged at most once per 10 s
  // each, with the number of similar events in between.
  RateLimitedLog accept_error_log{LogLevel::kWarning};
  std::array<RateLimitedLog, kCloseReasonCount> close_logs{
      RateLimitedLog{LogLevel::kInfo},    RateLimitedLog{LogLevel::kInfo},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kInfo},    RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kWarning}, RateLimitedLog{LogLevel::kWarning},
      RateLimitedLog{LogLevel::kInfo},    RateLimitedLog{LogLevel::kInfo}};
  // The first line of a connection rejected for its fix time (a tracker's
  // clock, a stale example).
  RateLimitedLog fix_time_log{LogLevel::kInfo};

  // Logs a connection closed for a limit or a timeout; `detail`, if any,
  // follows the reason.
  void LogClose(CloseReason reason, const asio::ip::address& source,
                absl::string_view detail = {}) {
    if (reason == CloseReason::kPeerClosed || reason == CloseReason::kShutdown ||
        reason == CloseReason::kError || reason == CloseReason::kBadIdentification ||
        reason == CloseReason::kAuthFailed) {
      return;  // routine: counted, not logged (bad_identification, auth_failed: On...())
    }
    close_logs[static_cast<size_t>(reason)].Log([&] {
      const std::string_view name = CloseReasonName(reason);
      return absl::StrCat("device connection from ", source.to_string(),
                          " closed: ", absl::string_view(name.data(), name.size()), detail);
    });
  }

  mutable absl::Mutex mu;
  MonotonicCondVar sessions_cv;  // a session left `sessions` (the drain waits)
  absl::flat_hash_map<uint64_t, SessionEntry> sessions ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<asio::ip::address, size_t> per_source ABSL_GUARDED_BY(mu);
};

void DeviceServer::Impl::Accept(Listener& listener) {
  tcp::acceptor& acceptor = listener.acceptor;
  acceptor.async_accept(
      NextContext(), [this, &listener, &acceptor](const asio::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec && !acceptor.is_open()) {
          // Accepted just before StopAccepting closed the listener: the device
          // may already have sent data, so it is served and drained like any
          // other connection, but the accept loop is not re-armed.
          OnAccepted(std::move(socket), listener);
          return;
        }
        if (!acceptor.is_open()) return;
        if (ec) {
          // EMFILE/ENFILE and friends: the pending connection stays in the
          // backlog, so retrying at once would spin. Back off, log once per
          // interval with a count, and re-arm.
          counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
          accept_error_log.Log([&] {
            return absl::StrCat("device accept failed: ", ec.message(), "; retrying every 100 ms");
          });
          listener.retry_timer.expires_after(std::chrono::milliseconds(100));
          listener.retry_timer.async_wait([this, &listener](const asio::error_code& timer_ec) {
            if (!timer_ec && listener.acceptor.is_open()) Accept(listener);
          });
          return;
        }
        OnAccepted(std::move(socket), listener);
        Accept(listener);
      });
}

void DeviceServer::Impl::CloseRefused(tcp::socket& socket, CloseReason reason,
                                      const asio::ip::address& source) {
  LogClose(reason, source);
  CloseSocket(socket, reason);
}

void DeviceServer::Impl::CloseSocket(tcp::socket& socket, CloseReason reason) {
  counters.CountClosed(reason);
  // Linger 0: a reset frees the descriptor and kernel state at once, which is
  // what a flood needs.
  asio::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

// On the accept strand (the accept handler, or StopAccepting's drain of the
// backlog), which also owns the source maps.
void DeviceServer::Impl::OnAccepted(tcp::socket socket, Listener& listener) {
  counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  asio::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) {  // the peer is already gone
    CloseRefused(socket, CloseReason::kError, {});
    return;
  }
  const asio::ip::address source = remote.address();
  std::string_view vehicle;
  if (listener.source_map != nullptr) {
    vehicle = listener.source_map->map().Lookup(source);
    if (vehicle.empty()) {
      // Nothing it sends could be attributed. Refused rather than counted
      // line by line as unknown_vehicle: an acknowledging device keeps its
      // buffer until the operator maps it, instead of being told its lines
      // are settled.
      LogClose(CloseReason::kUnmappedSource, source,
               absl::StrCat(": the address is in no entry of ", listener.source_map->path(),
                            " (listener ", listener.options.address, ")"));
      CloseSocket(socket, CloseReason::kUnmappedSource);
      return;
    }
  }
  if (listener.authenticated && !auth_limiter.Allows(source, MonotonicNanos())) {
    LogClose(
        CloseReason::kAuthRateLimited, source,
        absl::StrCat(": over --device_auth_failures_per_minute=", options.auth_failures_per_minute,
                     " failed authentications from this source; refused until it drains"));
    CloseSocket(socket, CloseReason::kAuthRateLimited);
    return;
  }
  const uint64_t id = next_connection_id.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<DeviceSession> session;
  {
    absl::MutexLock lock(&mu);
    // While draining, what is taken in from the listen backlog (bounded by
    // it) is read and published, never refused: those devices may already
    // have sent data, and an accept that completed before the listener
    // closed can be handled after the backlog's other connections.
    const bool enforce_limits = listening;
    if (enforce_limits && sessions.size() >= options.max_connections) {
      CloseRefused(socket, CloseReason::kConnectionLimit, source);
      return;
    }
    size_t& from_source = per_source[source];
    if (enforce_limits && options.max_connections_per_source > 0 &&
        from_source >= options.max_connections_per_source) {
      if (from_source == 0) per_source.erase(source);
      CloseRefused(socket, CloseReason::kSourceLimit, source);
      return;
    }
    ++from_source;
    // `vehicle` is copied by the session: a reload may replace the map.
    session = std::make_shared<DeviceSession>(
        std::move(socket), source, id, listener.options, vehicle, session_context,
        listener.options.tls ? tls_files->current() : nullptr);
    sessions.emplace(id, SessionEntry{session, session.get()});
  }
  counters.connections_active.fetch_add(1, std::memory_order_relaxed);
  asio::post(session->executor(), [session] { session->Start(); });
}

void DeviceServer::Impl::Unregister(uint64_t id, const asio::ip::address& source) {
  absl::MutexLock lock(&mu);
  sessions.erase(id);
  sessions_cv.SignalAll();
  auto it = per_source.find(source);
  if (it != per_source.end() && --it->second == 0) per_source.erase(it);
}

void DeviceServer::Impl::ScheduleSweep() {
  absl::Duration shortest = absl::InfiniteDuration();
  if (options.idle_timeout > absl::ZeroDuration()) shortest = options.idle_timeout;
  if (options.line_timeout > absl::ZeroDuration()) {
    shortest = std::min(shortest, options.line_timeout);
  }
  if (options.half_closed_ack_wait > absl::ZeroDuration()) {
    shortest = std::min(shortest, options.half_closed_ack_wait);
  }
  if (options.reply_timeout > absl::ZeroDuration()) {
    shortest = std::min(shortest, options.reply_timeout);
  }
  if (tls_files != nullptr && options.tls_handshake_timeout > absl::ZeroDuration()) {
    shortest = std::min(shortest, options.tls_handshake_timeout);
  }
  if (shortest == absl::InfiniteDuration()) return;
  // A timeout fires at most a quarter of itself late, checked at most every
  // second and at least every 10 ms.
  const absl::Duration period = std::clamp(shortest / 4, absl::Milliseconds(10), absl::Seconds(1));
  sweep_timer.expires_after(ToChrono(period));
  sweep_timer.async_wait([this](const asio::error_code& ec) {
    if (ec || !listening) return;
    Sweep();
    ScheduleSweep();
  });
}

void DeviceServer::Impl::ScheduleReload() {
  reload_timer.expires_after(ToChrono(options.source_map_poll_interval));
  reload_timer.async_wait([this](const asio::error_code& ec) {
    if (ec || !listening) return;
    ReloadSourceMaps();
    ReloadDevices(/*force=*/false);
    ReloadTlsCertificates();
    ScheduleReload();
  });
}

// A changed registry applies to every connection from its next read on
// (DeviceSession re-reads the snapshot when the generation moved).
void DeviceServer::Impl::ReloadDevices(bool force) {
  if (devices == nullptr) return;
  const size_t before = devices->current()->size();
  std::string error;
  const DeviceRegistryFile::Change change =
      force ? devices->Reload(&error) : devices->Check(&error);
  switch (change) {
    case DeviceRegistryFile::Change::kNone:
      break;
    case DeviceRegistryFile::Change::kReloaded:
      // The entries first: whoever sees the reload counted sees its size.
      counters.device_registry_entries.store(devices->current()->size(), std::memory_order_relaxed);
      counters.device_registry_reloads.fetch_add(1, std::memory_order_release);
      LogInfo(absl::StrCat("devices file ", devices->path(), " reloaded: ",
                           devices->current()->size(), " devices (were ", before, ")"));
      break;
    case DeviceRegistryFile::Change::kFailed:
      counters.device_registry_reload_failures.fetch_add(1, std::memory_order_relaxed);
      LogError(absl::StrCat("devices file reload failed: ", error,
                            "; keeping the previous registry (", before, " devices)"));
      break;
  }
  counters.device_registry_entries.store(devices->current()->size(), std::memory_order_relaxed);
}

// A changed pair applies to connections accepted from now on; open ones
// keep the credentials they handshook with.
void DeviceServer::Impl::ReloadTlsCertificates() {
  if (tls_files == nullptr) return;
  std::string error;
  switch (tls_files->Check(&error)) {
    case TlsCertificateFiles::Change::kNone:
      break;
    case TlsCertificateFiles::Change::kReloaded:
      counters.tls_certificate_not_after.store(tls_files->current()->not_after_unix_s(),
                                               std::memory_order_relaxed);
      counters.tls_certificate_reloads.fetch_add(1, std::memory_order_release);
      LogInfo(absl::StrCat("device TLS certificate ", tls_files->cert_file(), " reloaded: ",
                           tls_files->current()->description(), "; new connections get it"));
      WarnIfExpired();
      break;
    case TlsCertificateFiles::Change::kFailed:
      counters.tls_certificate_reload_failures.fetch_add(1, std::memory_order_relaxed);
      LogError(absl::StrCat("device TLS certificate reload failed: ", error,
                            "; keeping the certificate in force (",
                            tls_files->current()->description(), ")"));
      break;
  }
}

void DeviceServer::ReloadDevices() {
  if (impl_->devices == nullptr) return;
  asio::post(impl_->accept_strand, [impl = impl_.get()] { impl->ReloadDevices(/*force=*/true); });
}

// A changed map applies to connections accepted from now on; open ones keep
// the vehicle they were accepted as.
void DeviceServer::Impl::ReloadSourceMaps() {
  for (auto& listener : listeners) {
    if (listener->source_map == nullptr) continue;
    SourceMapFile& file = *listener->source_map;
    const size_t before = file.map().size();
    std::string error;
    switch (file.CheckForChange(&error)) {
      case SourceMapFile::Change::kNone:
        break;
      case SourceMapFile::Change::kReloaded:
        // The entries first: whoever sees the reload counted sees its size.
        UpdateSourceMapEntries();
        counters.source_map_reloads.fetch_add(1, std::memory_order_release);
        LogInfo(absl::StrCat("source map ", file.path(), " reloaded for listener ",
                             listener->options.address, ": ", file.map().size(), " entries (were ",
                             before, ")"));
        break;
      case SourceMapFile::Change::kFailed:
        counters.source_map_reload_failures.fetch_add(1, std::memory_order_relaxed);
        LogError(absl::StrCat("source map reload failed: ", error, "; keeping the previous map (",
                              before, " entries) for listener ", listener->options.address));
        break;
    }
  }
  UpdateSourceMapEntries();
}

void DeviceServer::Impl::UpdateSourceMapEntries() {
  uint64_t entries = 0;
  for (auto& listener : listeners) {
    if (listener->source_map != nullptr) entries += listener->source_map->map().size();
  }
  counters.source_map_entries.store(entries, std::memory_order_relaxed);
}

// One pass over every connection's activity stamps, instead of a timer per
// connection re-armed on every read.
void DeviceServer::Impl::Sweep() {
  const int64_t now = MonotonicNanos();
  std::vector<std::pair<std::shared_ptr<DeviceSession>, CloseReason>> expired;
  {
    absl::MutexLock lock(&mu);
    for (auto& [id, entry] : sessions) {
      for (CloseReason reason :
           {CloseReason::kTlsHandshakeTimeout, CloseReason::kIdleTimeout, CloseReason::kLineTimeout,
            CloseReason::kReplyTimeout, CloseReason::kAuthTimeout}) {
        if (entry.raw->Expired(reason, now)) {
          if (auto s = entry.session.lock()) expired.emplace_back(std::move(s), reason);
          break;
        }
      }
    }
  }
  for (auto& [session, reason] : expired) session->Expire(reason);
}

DeviceServer::DeviceServer(DeviceServerOptions options, RecordStore& store,
                           IngestCounters& counters)
    : impl_(std::make_unique<Impl>(std::move(options), store, counters)) {}

DeviceServer::~DeviceServer() { Stop(); }

absl::StatusOr<uint16_t> DeviceServer::Impl::Listen(Listener& listener, std::string_view flag) {
  const std::string& address = listener.options.address;
  const std::string flag_name(flag);
  absl::StatusOr<HostPort> hp = ParseHostPort(flag_name, address);
  if (!hp.ok()) return hp.status();
  asio::error_code ec;
  tcp::resolver resolver(*contexts[0]);
  auto endpoints = resolver.resolve(hp->host, std::to_string(hp->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag_name, "=", address,
                     ": cannot resolve host: ", ec ? ec.message() : "no addresses"));
  }
  const tcp::endpoint endpoint = *endpoints.begin();
  tcp::acceptor& acceptor = listener.acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --", flag_name, "=", address, ": ", ec.message()));
  }
  return acceptor.local_endpoint().port();
}

absl::StatusOr<uint16_t> DeviceServer::Start() {
  Impl& impl = *impl_;
  const bool legacy = impl.options.listeners.empty();
  listeners_ = EffectiveListeners(impl.options);
  bool any_source_map = false;
  bool any_tls = false;
  for (const ListenerOptions& options : listeners_) any_tls |= options.tls;
  if (any_tls && impl.tls_files == nullptr) {
    return absl::InvalidArgumentError(
        "a TLS device listener needs --device_tls_cert and --device_tls_key");
  }
  if (impl.tls_files != nullptr) {
    if (absl::Status status = impl.tls_files->Load(); !status.ok()) return status;
    impl.counters.tls_certificate_not_after.store(impl.tls_files->current()->not_after_unix_s(),
                                                  std::memory_order_relaxed);
    LogInfo(absl::StrCat("device TLS certificate ", impl.tls_files->cert_file(),
                         " loaded: ", impl.tls_files->current()->description()));
    impl.WarnIfExpired();
  }
  for (const ListenerOptions& options : listeners_) {
    if (absl::Status status = CheckListenerPolicy(options, impl.options); !status.ok()) {
      return status;
    }
    auto listener = std::make_unique<Impl::Listener>(impl.accept_strand, options, impl.options);
    if (options.identification == Identification::kSourceAddress) {
      listener->source_map = std::make_unique<SourceMapFile>(options.source_map);
      if (absl::Status status = listener->source_map->Load(); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "listener ", options.address, ": ident=source_address: ", status.message()));
      }
      LogInfo(absl::StrCat("source map ", options.source_map, " loaded for listener ",
                           options.address, ": ", listener->source_map->map().size(), " entries"));
      any_source_map = true;
    }
    absl::StatusOr<uint16_t> port = impl.Listen(*listener, !legacy        ? "listeners"
                                                           : options.acks ? "device_ack_listen"
                                                           : options.tls  ? "device_tls_listen"
                                                                          : "device_listen");
    if (!port.ok()) return port.status();
    if (options.acks && ack_port_ == 0) ack_port_ = *port;
    ports_.push_back(*port);
    impl.listeners.push_back(std::move(listener));
  }
  impl.UpdateSourceMapEntries();
  if (impl.devices != nullptr) {
    if (absl::Status status = impl.devices->Load(); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--devices_file: ", status.message()));
    }
    impl.counters.device_registry_entries.store(impl.devices->current()->size(),
                                                std::memory_order_relaxed);
    LogInfo(absl::StrCat("devices file ", impl.devices->path(),
                         " loaded: ", impl.devices->current()->size(), " devices"));
  }
  const bool poll_files = any_source_map || impl.devices != nullptr || impl.tls_files != nullptr;
  for (auto& context : impl_->contexts) impl_->work.emplace_back(context->get_executor());
  asio::post(impl_->accept_strand, [impl = impl_.get(), poll_files] {
    impl->listening = true;
    for (auto& listener : impl->listeners) impl->Accept(*listener);
    impl->ScheduleSweep();
    if (poll_files) impl->ScheduleReload();
  });
  for (auto& context : impl_->contexts) {
    impl_->threads.emplace_back([context = context.get()] { context->run(); });
  }
  accepting_.store(true, std::memory_order_release);
  return ports_.front();
}

void DeviceServer::OnDurable(uint64_t durable_sequence) {
  impl_->durability.OnDurable(durable_sequence);
}

void DeviceServer::OnStoreAvailable() {
  // First the generation (a session pausing from now on sees it changed and
  // resumes itself), then every session paused before.
  impl_->store_available_generation.fetch_add(1, std::memory_order_seq_cst);
  std::vector<std::shared_ptr<DeviceSession>> paused;
  {
    absl::MutexLock lock(&impl_->mu);
    for (auto& [id, entry] : impl_->sessions) {
      if (!entry.raw->paused()) continue;
      if (auto s = entry.session.lock()) paused.push_back(std::move(s));
    }
  }
  for (auto& s : paused) s->Resume();
}

size_t DeviceServer::paused_connections() const {
  absl::MutexLock lock(&impl_->mu);
  size_t n = 0;
  for (auto& [id, entry] : impl_->sessions) n += entry.raw->paused() ? 1 : 0;
  return n;
}

bool DeviceServer::IsConnectionOpen(uint64_t connection_id) const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sessions.contains(connection_id);
}

void DeviceServer::StopAccepting() {
  if (!accepting_.exchange(false)) return;
  // The acceptor belongs to its strand; close it there and wait.
  std::promise<void> done;
  asio::post(impl_->accept_strand, [impl = impl_.get(), &done] {
    impl->listening = false;
    for (auto& listener : impl->listeners) {
      // Connections the kernel already completed wait in the listen backlog
      // and may have sent data: take them in (to be drained like the
      // others) rather than reset them by closing the listener under them.
      asio::error_code ec;
      listener->acceptor.non_blocking(true, ec);
      while (!ec) {
        tcp::socket socket(impl->NextContext());
        listener->acceptor.accept(socket, ec);
        if (!ec) impl->OnAccepted(std::move(socket), *listener);
      }
      asio::error_code ignored;
      listener->acceptor.close(ignored);
      listener->retry_timer.cancel();
    }
    impl->sweep_timer.cancel();
    impl->reload_timer.cancel();
    done.set_value();
  });
  done.get_future().wait();
  // An accept that completed before the close may still have its handler
  // queued on the strand; let it run (it registers the connection) before
  // the caller looks at the sessions.
  std::promise<void> barrier;
  asio::post(impl_->accept_strand, [&barrier] { barrier.set_value(); });
  barrier.get_future().wait();
}

void DeviceServer::Stop(absl::Duration grace) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->threads.empty()) return;  // never started
  StopAccepting();
  if (grace > absl::ZeroDuration()) {
    // Devices mid-transmission get to finish and close by themselves.
    absl::MutexLock lock(&impl_->mu);
    const auto deadline = MonotonicCondVar::After(grace);
    while (!impl_->sessions.empty() && !impl_->sessions_cv.WaitUntil(impl_->mu, deadline)) {
    }
  }
  std::vector<std::shared_ptr<DeviceSession>> sessions;
  {
    absl::MutexLock lock(&impl_->mu);
    for (auto& [id, entry] : impl_->sessions) {
      if (auto s = entry.session.lock()) sessions.push_back(std::move(s));
    }
  }
  for (auto& s : sessions) s->Drain();
  sessions.clear();
  // With the acceptors closed and every session closing, each context's
  // run() returns once its last handler has run.
  impl_->work.clear();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace fixstream::gateway
