// fixstream-conns: many device connections that send (almost) nothing, for
// measuring what a gateway pays per connection and how it treats slow peers.
//
// It opens --connections TCP connections to a loopback device port, spread
// over source addresses 127.0.0.1..127.0.0.K (the gateway limits connections
// per source address, and one source address has only ~28k ephemeral ports
// per destination). Then, per --mode:
//   idle  each connection optionally sends one --hello line and stays silent;
//   drip  each connection sends one line that never ends, one byte every
//         --drip_interval_ms: a slow-drip attacker pinning a read buffer.
// It holds them for --hold_seconds, noting every connection the gateway
// closes meanwhile (and after how long), then closes all and exits.
//
// Everything runs on one asio::io_context driven by the main thread: connects
// are non-blocking (at most --connect_concurrency in flight, so that a full
// accept queue is not mistaken for a slow gateway: dropped SYNs are only
// retried after a second), and a held connection costs one pending
// wait-for-readable (plus one timer in drip mode).

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "asio.hpp"
#include "clients/command_line.h"
#include "clients/loopback_target.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7878",
          "Gateway device port, host:port. Must be a loopback address (127.0.0.0/8 or ::1).");
ABSL_FLAG(int32_t, connections, 100, "TCP connections to open and hold.");
ABSL_FLAG(int32_t, source_addresses, 0,
          "Spread connections over source addresses 127.0.0.1..127.0.0.K (IPv4 targets): "
          "connection i binds 127.0.0.(1 + i mod K) before connecting; 0: one address per "
          "16384 connections.");
ABSL_FLAG(std::string, mode, "idle",
          "idle: connect (and send --hello), then stay silent; drip: send one never-terminated "
          "line, one byte every --drip_interval_ms.");
ABSL_FLAG(std::string, hello, "",
          "A line every connection sends right after connecting (a newline is appended), e.g. "
          "an identification line; empty: none.");
ABSL_FLAG(int32_t, drip_interval_ms, 1000,
          "With --mode=drip: milliseconds between two bytes of a connection; its first byte "
          "goes out right after connecting.");
ABSL_FLAG(double, hold_seconds, 10,
          "Hold the connections this long once every connect completed, then close them all "
          "and exit (earlier if the gateway closed every one).");
ABSL_FLAG(double, max_seconds, 120,
          "Hard limit from the first connect: close everything and exit 1 after this long.");
ABSL_FLAG(int32_t, connect_concurrency, 256, "Connects in flight at most.");

namespace fixstream::clients {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProgram = "fixstream-conns";
constexpr char kUsage[] =
    R"(holds many idle or slow-drip connections to a fixstream gateway's device port.

Opens --connections TCP connections to --target (loopback only), spread over
source addresses 127.0.0.1..127.0.0.K (--source_addresses), at most
--connect_concurrency connects in flight. Once every connect has completed it
prints "ready: established=E failed=F connect_us=T" on stderr (a script can
measure the gateway then), holds the connections for --hold_seconds (or until
SIGTERM/SIGINT), closes them and prints one summary line of key=value fields
on stdout.

Modes:
  idle  optionally send --hello (one line), then nothing.
  drip  send one never-terminated line, one byte every --drip_interval_ms
        (the first right after connecting): a slow-drip peer, which a gateway
        should cut off after its line timeout.
Connections the gateway closes during the hold are counted (peer_closed) with
the time from their establishment to the close (min, median, max).

The descriptor limit's soft value is raised to the hard one at start; more
connections than that allows exit 2. Exit status: 0 when every connection
was established and held (the gateway closing some during the hold is not a
failure: it is what is measured); 1 when a connect failed, or --max_seconds
or a signal cut the connecting short; 2 on bad flags.

Examples:
  fixstream-conns --connections=10000 --source_addresses=8 --hold_seconds=5
  fixstream-conns --mode=drip --connections=1000 --hold_seconds=60)";

// Descriptors kept free for stdio, the io_context's epoll and timer fds and
// the resolver.
constexpr rlim_t kSpareDescriptors = 32;
// What a drip connection sends, byte by byte, then '0' for ever: the start of
// a plausible CSV line, so the gateway cannot tell it from a slow tracker
// before the newline (which never comes).
constexpr std::string_view kDripLine = "slow-drip,2026-11-25T12:00:00Z,52.52000,13.40500,";

enum class Mode : uint8_t { kIdle, kDrip };

struct ConnsOptions {
  std::string target;  // for messages
  int connections = 0;
  int source_addresses = 0;
  Mode mode = Mode::kIdle;
  std::string hello_line;  // with its newline; empty: none
  std::chrono::milliseconds drip_interval{0};
  Clock::duration hold{};
  Clock::duration max_duration{};
  int connect_concurrency = 0;
};

class ConnsRun;

// One held connection. Lives as long as the ConnsRun, which outlives
// io_context::run(), so handlers capture `this`. Not thread-safe (one thread
// runs everything).
class Connection final {
 public:
  Connection(asio::io_context& io, const ConnsOptions& options, ConnsRun& run)
      : socket_(io), options_(options), run_(run) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Binds to `source` (port chosen at connect time) and connects. Reports the
  // outcome to the run exactly once: OnEstablished or OnFailed.
  void Start(const tcp::endpoint& source, const tcp::endpoint& target);
  // Closes the socket (FIN) if it is open; idempotent.
  void Close();

  int64_t bytes_sent() const { return bytes_sent_; }

 private:
  enum class State : uint8_t { kNew, kConnecting, kOpen, kPeerClosed, kFailed, kClosed };

  void OnConnected(const std::error_code& ec);
  // Sends `data` in one non-blocking write. Returns false (and handles the
  // closed connection) if the gateway is gone.
  bool SendNow(std::string_view data);
  void WaitForPeerClose();
  void ScheduleDrip();
  void Drip();
  void OnPeerClosed();
  void Fail(std::string_view operation, const std::error_code& ec);

  tcp::socket socket_;
  std::optional<asio::steady_timer> drip_timer_;  // drip mode only
  const ConnsOptions& options_;
  ConnsRun& run_;
  State state_ = State::kNew;
  Clock::time_point established_;
  int64_t bytes_sent_ = 0;
  int64_t drip_position_ = 0;
};

// All connections, the connect pipeline, the hold and deadline timers and
// the results. Not thread-safe.
class ConnsRun final {
 public:
  ConnsRun(asio::io_context& io, ConnsOptions options);
  ConnsRun(const ConnsRun&) = delete;
  ConnsRun& operator=(const ConnsRun&) = delete;

  // Starts connecting; io_context::run() returns when the run is over.
  void Start(const tcp::endpoint& target);

  // Callbacks of the connections.
  void OnEstablished(Clock::time_point when);
  void OnFailed(std::string_view operation, const std::error_code& ec);
  // The gateway closed an established connection `after` its establishment.
  void OnPeerClosed(Clock::duration after);

  void PrintSummary() const;
  bool succeeded() const { return failed_ == 0 && !timed_out_ && !interrupted_; }

 private:
  void StartNextConnects();
  void OnConnectDone();
  void StartHold();
  // Closes every connection and lets io_context::run() return.
  void Finish();

  asio::io_context& io_;
  const ConnsOptions options_;
  tcp::endpoint target_;
  asio::steady_timer hold_timer_;
  asio::steady_timer deadline_;
  asio::signal_set signals_;
  std::vector<std::unique_ptr<Connection>> connections_;
  int next_to_start_ = 0;
  int in_flight_ = 0;
  int completed_ = 0;  // connects that succeeded or failed
  int established_ = 0;
  int failed_ = 0;
  int open_ = 0;
  bool holding_ = false;
  bool finished_ = false;
  bool timed_out_ = false;
  bool interrupted_ = false;
  Clock::time_point first_connect_;
  Clock::time_point last_established_;
  Clock::time_point hold_start_;
  Clock::time_point hold_end_;
  std::vector<int64_t> peer_closed_after_us_;
  std::map<std::string, int> errors_;  // "operation: message" -> count
};

void Connection::Start(const tcp::endpoint& source, const tcp::endpoint& target) {
  state_ = State::kConnecting;
  std::error_code ec;
  socket_.open(target.protocol(), ec);
  if (ec) {
    Fail("open", ec);
    return;
  }
  ec = BindSourceAddress(socket_, source);
  if (ec) {
    Fail("bind", ec);
    return;
  }
  socket_.async_connect(target,
                        [this](const std::error_code& connect_ec) { OnConnected(connect_ec); });
}

void Connection::OnConnected(const std::error_code& ec) {
  if (state_ != State::kConnecting) return;  // closed meanwhile (deadline, signal)
  if (ec) {
    Fail("connect", ec);
    return;
  }
  state_ = State::kOpen;
  established_ = Clock::now();
  run_.OnEstablished(established_);
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
  if (!options_.hello_line.empty() && !SendNow(options_.hello_line)) return;
  WaitForPeerClose();
  if (options_.mode == Mode::kDrip) {
    drip_timer_.emplace(socket_.get_executor());
    Drip();
  }
}

bool Connection::SendNow(std::string_view data) {
  std::error_code ec;
  const size_t n = socket_.write_some(asio::buffer(data.data(), data.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    return true;  // the gateway is not reading; nothing to add to a full buffer
  }
  if (ec) {
    // EPIPE / ECONNRESET: the gateway closed the connection.
    OnPeerClosed();
    return false;
  }
  bytes_sent_ += static_cast<int64_t>(n);
  return true;
}

void Connection::WaitForPeerClose() {
  socket_.async_wait(tcp::socket::wait_read, [this](const std::error_code& ec) {
    if (state_ != State::kOpen) return;
    if (ec) {
      OnPeerClosed();
      return;
    }
    // The gateway never sends to devices; whatever comes is discarded, and
    // end of stream or an error means it closed the connection.
    std::array<char, 512> discard;
    std::error_code read_ec;
    const size_t n = socket_.read_some(asio::buffer(discard), read_ec);
    if (read_ec == asio::error::would_block || read_ec == asio::error::try_again ||
        (!read_ec && n > 0)) {
      WaitForPeerClose();
      return;
    }
    OnPeerClosed();
  });
}

void Connection::Drip() {
  if (state_ != State::kOpen) return;
  const char byte = drip_position_ < static_cast<int64_t>(kDripLine.size())
                        ? kDripLine[static_cast<size_t>(drip_position_)]
                        : '0';
  const int64_t sent_before = bytes_sent_;
  if (!SendNow(std::string_view(&byte, 1))) return;
  if (bytes_sent_ > sent_before) ++drip_position_;
  ScheduleDrip();
}

void Connection::ScheduleDrip() {
  drip_timer_->expires_after(options_.drip_interval);
  drip_timer_->async_wait([this](const std::error_code& ec) {
    if (!ec) Drip();
  });
}

void Connection::OnPeerClosed() {
  if (state_ != State::kOpen) return;
  state_ = State::kPeerClosed;
  std::error_code ignored;
  if (drip_timer_.has_value()) drip_timer_->cancel();
  socket_.close(ignored);
  run_.OnPeerClosed(Clock::now() - established_);
}

void Connection::Fail(std::string_view operation, const std::error_code& ec) {
  state_ = State::kFailed;
  std::error_code ignored;
  socket_.close(ignored);
  run_.OnFailed(operation, ec);
}

void Connection::Close() {
  if (state_ != State::kOpen && state_ != State::kConnecting) return;
  state_ = State::kClosed;
  std::error_code ignored;
  if (drip_timer_.has_value()) drip_timer_->cancel();
  socket_.close(ignored);
}

ConnsRun::ConnsRun(asio::io_context& io, ConnsOptions options)
    : io_(io),
      options_(std::move(options)),
      hold_timer_(io),
      deadline_(io),
      signals_(io, SIGINT, SIGTERM) {
  connections_.reserve(static_cast<size_t>(options_.connections));
  for (int i = 0; i < options_.connections; ++i) {
    connections_.push_back(std::make_unique<Connection>(io, options_, *this));
  }
}

void ConnsRun::Start(const tcp::endpoint& target) {
  target_ = target;
  first_connect_ = Clock::now();
  deadline_.expires_after(options_.max_duration);
  deadline_.async_wait([this](const std::error_code& ec) {
    if (ec || finished_) return;
    timed_out_ = true;
    Finish();
  });
  // A signal during the hold just ends it (a script holding connections
  // for as long as it measures); before that it cuts the run short.
  signals_.async_wait([this](const std::error_code& ec, int /*signal*/) {
    if (ec || finished_) return;
    if (!holding_) interrupted_ = true;
    Finish();
  });
  StartNextConnects();
}

void ConnsRun::StartNextConnects() {
  while (!finished_ && in_flight_ < options_.connect_concurrency &&
         next_to_start_ < options_.connections) {
    const int i = next_to_start_++;
    ++in_flight_;
    // A connect that fails at once reports back re-entrantly; the loop
    // condition sees the updated counts.
    connections_[static_cast<size_t>(i)]->Start(
        LoopbackSource(target_, i, options_.source_addresses), target_);
  }
}

void ConnsRun::OnEstablished(Clock::time_point when) {
  ++established_;
  ++open_;
  last_established_ = when;
  OnConnectDone();
}

void ConnsRun::OnFailed(std::string_view operation, const std::error_code& ec) {
  ++failed_;
  ++errors_[absl::StrCat(std::string(operation), ": ", ec.message())];
  OnConnectDone();
}

void ConnsRun::OnConnectDone() {
  --in_flight_;
  ++completed_;
  if (completed_ == options_.connections) {
    StartHold();
  } else {
    // Posted, not called: a burst of synchronous failures must not recurse.
    asio::post(io_, [this] { StartNextConnects(); });
  }
}

void ConnsRun::OnPeerClosed(Clock::duration after) {
  --open_;
  peer_closed_after_us_.push_back(
      std::chrono::duration_cast<std::chrono::microseconds>(after).count());
  if (holding_ && open_ == 0) Finish();  // nothing left to hold
}

void ConnsRun::StartHold() {
  if (finished_ || holding_) return;
  holding_ = true;
  hold_start_ = Clock::now();
  absl::FPrintF(stderr, "%s: ready: established=%d failed=%d connect_us=%d\n", kProgram,
                established_, failed_,
                established_ > 0 ? std::chrono::duration_cast<std::chrono::microseconds>(
                                       last_established_ - first_connect_)
                                       .count()
                                 : 0);
  std::fflush(stderr);
  if (open_ == 0) {
    Finish();
    return;
  }
  hold_timer_.expires_after(options_.hold);
  hold_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec) Finish();
  });
}

void ConnsRun::Finish() {
  if (finished_) return;
  finished_ = true;
  hold_end_ = Clock::now();
  for (auto& connection : connections_) connection->Close();
  hold_timer_.cancel();
  deadline_.cancel();
  std::error_code ignored;
  signals_.cancel(ignored);
  // Handlers of the closed sockets would only see operation_aborted.
  io_.stop();
}

void ConnsRun::PrintSummary() const {
  for (const auto& [error, count] : errors_) {
    absl::FPrintF(stderr, "%s: %d connections failed: %s\n", kProgram, count, error);
  }
  std::vector<int64_t> closed = peer_closed_after_us_;
  std::sort(closed.begin(), closed.end());
  auto closed_ms = [&closed](double quantile) -> double {
    if (closed.empty()) return 0;
    const size_t rank =
        static_cast<size_t>(std::ceil(quantile * static_cast<double>(closed.size())));
    return static_cast<double>(closed[std::max<size_t>(rank, 1) - 1]) / 1000.0;
  };
  const int64_t connect_us = established_ > 0
                                 ? std::chrono::duration_cast<std::chrono::microseconds>(
                                       last_established_ - first_connect_)
                                       .count()
                                 : 0;
  const double hold_s =
      holding_ ? std::chrono::duration<double>(hold_end_ - hold_start_).count() : 0.0;
  int64_t bytes = 0;
  for (const auto& connection : connections_) bytes += connection->bytes_sent();
  absl::PrintF(
      "%s: mode=%s connections=%d established=%d failed=%d connect_us=%d connects_per_s=%.0f "
      "peer_closed=%d still_open_at_end=%d peer_closed_after_ms_min=%.1f "
      "peer_closed_after_ms_p50=%.1f peer_closed_after_ms_max=%.1f hold_s=%.3f bytes_sent=%d "
      "timed_out=%d interrupted=%d\n",
      kProgram, options_.mode == Mode::kIdle ? "idle" : "drip", options_.connections, established_,
      failed_, connect_us,
      connect_us > 0 ? static_cast<double>(established_) * 1e6 / static_cast<double>(connect_us)
                     : 0.0,
      static_cast<int>(closed.size()), open_, closed_ms(0), closed_ms(0.5), closed_ms(1.0), hold_s,
      bytes, timed_out_ ? 1 : 0, interrupted_ ? 1 : 0);
  std::fflush(stdout);
}

int Fail(std::string_view message) {
  absl::FPrintF(stderr, "%s: %s\n", kProgram, message);
  return 2;
}

// Raises the soft descriptor limit to the hard one. Returns the soft limit
// in force afterwards.
rlim_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return limit.rlim_cur;
}

int Run() {
  ConnsOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.source_addresses = absl::GetFlag(FLAGS_source_addresses);
  options.connect_concurrency = absl::GetFlag(FLAGS_connect_concurrency);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string hello = absl::GetFlag(FLAGS_hello);
  const int32_t drip_interval_ms = absl::GetFlag(FLAGS_drip_interval_ms);
  const double hold_seconds = absl::GetFlag(FLAGS_hold_seconds);
  const double max_seconds = absl::GetFlag(FLAGS_max_seconds);

  const absl::StatusOr<int> sources =
      SourceAddressCount(options.connections, options.source_addresses);
  if (!sources.ok()) {
    const absl::string_view message = sources.status().message();
    return Fail(std::string_view(message.data(), message.size()));
  }
  options.source_addresses = *sources;
  if (mode == "idle") {
    options.mode = Mode::kIdle;
  } else if (mode == "drip") {
    options.mode = Mode::kDrip;
  } else {
    return Fail(absl::StrCat("--mode must be idle or drip, not '", mode, "'"));
  }
  if (hello.find_first_of("\r\n") != std::string::npos) {
    return Fail("--hello is one line: no CR or LF (a newline is appended)");
  }
  if (!hello.empty()) options.hello_line = absl::StrCat(hello, "\n");
  if (drip_interval_ms < 1) return Fail("--drip_interval_ms must be at least 1");
  options.drip_interval = std::chrono::milliseconds(drip_interval_ms);
  if (!std::isfinite(hold_seconds) || hold_seconds < 0) {
    return Fail("--hold_seconds must be a finite number >= 0");
  }
  if (!std::isfinite(max_seconds) || max_seconds <= 0) {
    return Fail("--max_seconds must be a finite number > 0");
  }
  options.hold =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(hold_seconds));
  options.max_duration =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_seconds));
  if (options.connect_concurrency < 1) return Fail("--connect_concurrency must be at least 1");

  const rlim_t descriptors = RaiseDescriptorLimit();
  if (descriptors != RLIM_INFINITY &&
      static_cast<rlim_t>(options.connections) + kSpareDescriptors > descriptors) {
    return Fail(absl::StrCat("--connections=", options.connections, " needs ",
                             static_cast<rlim_t>(options.connections) + kSpareDescriptors,
                             " descriptors; RLIMIT_NOFILE allows ", descriptors,
                             " (raise the hard limit: ulimit -Hn)"));
  }

  asio::io_context io(1);
  absl::StatusOr<tcp::endpoint> resolved = ResolveLoopbackTarget(io, options.target);
  if (!resolved.ok()) {
    const absl::string_view message = resolved.status().message();
    return Fail(std::string_view(message.data(), message.size()));
  }
  const tcp::endpoint target = *resolved;
  if (target.address().is_v6() && options.source_addresses > 1) {
    return Fail("--source_addresses > 1 needs an IPv4 target (IPv6 has one loopback address)");
  }

  // Writes to a connection the gateway closed must fail with EPIPE, not kill
  // the process (Asio sends with MSG_NOSIGNAL; this covers everything else).
  std::signal(SIGPIPE, SIG_IGN);
  ConnsRun run(io, std::move(options));
  run.Start(target);
  io.run();
  run.PrintSummary();
  return run.succeeded() ? 0 : 1;
}

}  // namespace
}  // namespace fixstream::clients

int main(int argc, char** argv) {
  if (!fixstream::clients::ParseClientCommandLine(argc, argv, fixstream::clients::kProgram,
                                                  fixstream::clients::kUsage, "clients/conns.cc")) {
    return 2;
  }
  return fixstream::clients::Run();
}
