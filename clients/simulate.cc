// fixstream-simulate: simulated vehicles sending location lines to a
// gateway's device port, one TCP connection per vehicle.
//
// Everything runs on one io_context driven by the main thread: formatting a
// line costs far less than sending it, so a second thread would only add
// locking between the pacer and the connections.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
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
#include "clients/track.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7878", "Gateway device port, host:port.");
ABSL_FLAG(int32_t, connections, 4, "Simulated vehicles, one TCP connection each.");
ABSL_FLAG(int64_t, lines, 100,
          "Fixes per connection. Each fix is one record at the gateway: one line in CSV or "
          "JSON, two lines (RMC + GGA of the same fix time) in NMEA.");
ABSL_FLAG(std::string, format, "csv",
          "Line format: csv, json, nmea, or mixed (each connection rotates csv, json, nmea "
          "per fix).");
ABSL_FLAG(double, rate, 0,
          "Aggregate fixes per second over all connections, paced from the moment all "
          "connections are up; 0 sends as fast as possible.");
ABSL_FLAG(std::string, vehicle_prefix, "sim-",
          "Vehicle ids are <vehicle_prefix><connection index>; 1-64 chars of [A-Za-z0-9._:-].");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the simulated tracks; the same seed gives the same tracks.");
ABSL_FLAG(bool, print, false,
          "Echo every line sent to stdout (the summary then goes to stderr) instead of "
          "printing only the summary.");

namespace fixstream::clients {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProgram = "fixstream-simulate";
constexpr char kUsage[] =
    R"(simulates vehicles sending location lines to a fixstream gateway.

Each connection is one vehicle, <vehicle_prefix><index>, driving a seeded random
track near Berlin at 5-30 m/s, one fix per second of fix time starting now.

--lines counts fixes, not lines: a CSV or JSON fix is one line; an NMEA fix is
an RMC and a GGA sentence of the same fix time (two lines, which the gateway
merges into one record). Connections that may send NMEA (nmea, mixed) first
send a $PFSID,<vehicle id>*hh identification line. CSV lines carry all eight
fields; even-numbered connections write RFC 3339 timestamps, odd-numbered
ones Unix milliseconds.

Exits 0 when every connection sent all its lines, 1 if any connection failed,
2 on bad flags.

Examples:
  fixstream-simulate --connections=2 --lines=3 --format=mixed --print
  fixstream-simulate --connections=100 --lines=10000 --rate=50000)";

// Writes carry up to this many bytes, so that unpaced sending costs few
// syscalls without holding much memory per connection.
constexpr size_t kMaxWriteBytes = 64 * 1024;
// Paced sending wakes at most this often and sends what fell due meanwhile:
// bursts every millisecond approximate any rate without a timer per line.
constexpr auto kPaceTick = std::chrono::milliseconds(1);

struct SimulationOptions {
  int connections = 0;
  int64_t fixes_per_connection = 0;
  FeedFormat format = FeedFormat::kCsv;
  double rate = 0;  // fixes per second; 0: unpaced
  std::string vehicle_prefix;
  uint64_t seed = 0;
  bool print = false;
  std::string target;  // for messages
};

// SplitMix64's finalizer: turns (seed, index) into well-spread track seeds,
// so that neighbouring seeds do not give related tracks.
uint64_t MixSeed(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class Simulation;

// One simulated vehicle: connects, sends the fixes it has been granted in
// writes of up to kMaxWriteBytes (one write in flight), and closes after its
// last fix. Lives as long as the Simulation, which outlives the io_context's
// run(), so handlers capture `this`.
class VehicleConnection final {
 public:
  VehicleConnection(asio::io_context& io, VehicleFeed feed, int64_t fixes, Simulation& simulation);
  VehicleConnection(const VehicleConnection&) = delete;
  VehicleConnection& operator=(const VehicleConnection&) = delete;

  void Start(const tcp::resolver::results_type& endpoints);
  // Allows `fixes` more fixes to be sent. Returns true if the connection had
  // no credit left, in which case nothing is on its way to send them and the
  // caller must call SendGranted(). Precondition: fixes <= ungranted().
  bool Grant(int64_t fixes);
  // Starts a write of the granted fixes, or closes the connection after the
  // last one, unless a write is in flight (its completion comes back here).
  void SendGranted();
  // Fixes not granted yet; 0 once the connection failed.
  int64_t ungranted() const { return fixes_total_ - granted_; }

 private:
  void OnConnected(const std::error_code& ec);
  void OnWritten(const std::error_code& ec, size_t bytes, int64_t fixes, int64_t lines);
  void Close();
  void Fail(std::string_view operation, const std::error_code& ec);

  tcp::socket socket_;
  VehicleFeed feed_;
  Simulation& simulation_;
  const int64_t fixes_total_;
  int64_t granted_ = 0;
  int64_t credit_ = 0;  // granted, not yet formatted
  bool connected_ = false;
  bool writing_ = false;
  bool finished_ = false;  // closed or failed
  std::string buffer_;     // the write in flight; untouched until it completes
};

// All connections, the pacer and the totals.
class Simulation final {
 public:
  Simulation(asio::io_context& io, SimulationOptions options);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  void Start(const tcp::resolver::results_type& endpoints);

  // Callbacks of the connections.
  void OnConnectDone();
  void OnSent(int64_t fixes, int64_t lines, size_t bytes, std::string_view data);
  void OnFailed(std::string_view vehicle_id, std::string_view operation, const std::error_code& ec,
                int64_t ungranted);

  int connections() const { return options_.connections; }
  int failed() const { return failed_; }
  int64_t fixes() const { return fixes_; }
  int64_t lines() const { return lines_; }
  int64_t bytes() const { return bytes_; }

 private:
  void Tick();

  SimulationOptions options_;
  asio::steady_timer pacer_;
  std::vector<std::unique_ptr<VehicleConnection>> connections_;
  int pending_connects_ = 0;
  // Pacing: fix k (counting over all connections) is due k / rate seconds
  // after pace_start_; scheduled_ fixes have been granted so far.
  Clock::time_point pace_start_;
  int64_t scheduled_ = 0;
  int64_t ungranted_ = 0;  // over all live connections
  size_t cursor_ = 0;      // round-robin position, so every vehicle gets its share
  std::vector<VehicleConnection*> granted_this_tick_;
  int failed_ = 0;
  int64_t fixes_ = 0;
  int64_t lines_ = 0;
  int64_t bytes_ = 0;
};

VehicleConnection::VehicleConnection(asio::io_context& io, VehicleFeed feed, int64_t fixes,
                                     Simulation& simulation)
    : socket_(io), feed_(std::move(feed)), simulation_(simulation), fixes_total_(fixes) {}

void VehicleConnection::Start(const tcp::resolver::results_type& endpoints) {
  asio::async_connect(socket_, endpoints,
                      [this](const std::error_code& ec, const tcp::endpoint&) { OnConnected(ec); });
}

bool VehicleConnection::Grant(int64_t fixes) {
  // With credit left, a write is in flight (its completion sends the rest) or
  // the connection is still connecting (OnConnected sends).
  const bool idle = credit_ == 0;
  granted_ += fixes;
  credit_ += fixes;
  return idle;
}

void VehicleConnection::OnConnected(const std::error_code& ec) {
  if (ec) {
    Fail("connect", ec);
  } else {
    connected_ = true;
    // Paced bursts are small; Nagle would hold them back and smear the rate.
    std::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
  }
  simulation_.OnConnectDone();
  SendGranted();
}

void VehicleConnection::SendGranted() {
  if (!connected_ || writing_ || finished_) return;
  if (credit_ == 0) {
    if (granted_ == fixes_total_) Close();
    return;
  }
  buffer_.clear();
  int64_t fixes = 0;
  int64_t lines = 0;
  while (credit_ > 0 && buffer_.size() + VehicleFeed::kMaxFixBytes <= kMaxWriteBytes) {
    lines += feed_.AppendNextFix(&buffer_);
    --credit_;
    ++fixes;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(buffer_),
                    [this, fixes, lines](const std::error_code& ec, size_t bytes) {
                      OnWritten(ec, bytes, fixes, lines);
                    });
}

void VehicleConnection::OnWritten(const std::error_code& ec, size_t bytes, int64_t fixes,
                                  int64_t lines) {
  writing_ = false;
  if (ec) {
    Fail("write", ec);
    return;
  }
  simulation_.OnSent(fixes, lines, bytes, buffer_);
  SendGranted();
}

void VehicleConnection::Close() {
  finished_ = true;
  // The send-side shutdown is what tells the gateway we are done: it reads
  // end of stream right after our last line. close() then returns at once;
  // the kernel still delivers whatever is queued.
  std::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    Fail("shutdown", ec);
    return;
  }
  socket_.close(ec);
}

void VehicleConnection::Fail(std::string_view operation, const std::error_code& ec) {
  finished_ = true;
  const int64_t dropped = ungranted();
  granted_ = fixes_total_;
  credit_ = 0;
  std::error_code ignored;
  socket_.close(ignored);
  simulation_.OnFailed(feed_.vehicle_id(), operation, ec, dropped);
}

Simulation::Simulation(asio::io_context& io, SimulationOptions options)
    : options_(std::move(options)), pacer_(io) {
  const auto start_time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  connections_.reserve(options_.connections);
  for (int i = 0; i < options_.connections; ++i) {
    TrackOptions track;
    track.start_time_unix_ms = start_time_unix_ms;
    track.seed = MixSeed(options_.seed, static_cast<uint64_t>(i));
    const CsvTimestamp csv_timestamp =
        i % 2 == 0 ? CsvTimestamp::kRfc3339 : CsvTimestamp::kUnixMillis;
    VehicleFeed feed(absl::StrCat(options_.vehicle_prefix, i), options_.format, csv_timestamp,
                     Track(track));
    connections_.push_back(std::make_unique<VehicleConnection>(
        io, std::move(feed), options_.fixes_per_connection, *this));
  }
  ungranted_ = options_.fixes_per_connection * options_.connections;
}

void Simulation::Start(const tcp::resolver::results_type& endpoints) {
  pending_connects_ = options_.connections;
  if (options_.rate == 0) {
    for (auto& connection : connections_) connection->Grant(connection->ungranted());
    ungranted_ = 0;
  }
  for (auto& connection : connections_) connection->Start(endpoints);
}

void Simulation::OnConnectDone() {
  // Pacing starts when every connection is up, so that connect time does not
  // turn into a burst at the start.
  if (--pending_connects_ == 0 && options_.rate > 0) {
    pace_start_ = Clock::now();
    Tick();
  }
}

void Simulation::Tick() {
  const Clock::time_point now = Clock::now();
  const double elapsed_s = std::chrono::duration<double>(now - pace_start_).count();
  // Fix 0 is due at once, fix k at k / rate.
  const auto due_total = static_cast<int64_t>(std::floor(options_.rate * elapsed_s)) + 1;
  int64_t due = due_total - scheduled_;
  granted_this_tick_.clear();
  while (due > 0 && ungranted_ > 0) {
    VehicleConnection* connection = connections_[cursor_].get();
    cursor_ = (cursor_ + 1) % connections_.size();
    if (connection->ungranted() == 0) continue;
    if (connection->Grant(1)) granted_this_tick_.push_back(connection);
    --due;
    --ungranted_;
    ++scheduled_;
  }
  // Granting first and sending afterwards puts everything a connection got in
  // this tick into one write.
  for (VehicleConnection* connection : granted_this_tick_) connection->SendGranted();
  if (ungranted_ == 0) return;

  // Sleep until the next fix falls due (low rates), but at least one tick
  // (high rates send what accumulated as one burst).
  const auto next_due =
      pace_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                        static_cast<double>(scheduled_) / options_.rate));
  pacer_.expires_at(std::max(now + kPaceTick, next_due));
  pacer_.async_wait([this](const std::error_code& ec) {
    if (!ec) Tick();
  });
}

void Simulation::OnSent(int64_t fixes, int64_t lines, size_t bytes, std::string_view data) {
  fixes_ += fixes;
  lines_ += lines;
  bytes_ += static_cast<int64_t>(bytes);
  if (options_.print) std::fwrite(data.data(), 1, data.size(), stdout);
}

void Simulation::OnFailed(std::string_view vehicle_id, std::string_view operation,
                          const std::error_code& ec, int64_t ungranted) {
  ++failed_;
  ungranted_ -= ungranted;
  absl::FPrintF(stderr, "%s: %s: %s %s: %s\n", kProgram, vehicle_id, operation, options_.target,
                ec.message());
}

// Reads and checks the flags. Prints why and returns nullopt if they are bad.
std::optional<SimulationOptions> OptionsFromFlags() {
  SimulationOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.fixes_per_connection = absl::GetFlag(FLAGS_lines);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.vehicle_prefix = absl::GetFlag(FLAGS_vehicle_prefix);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.print = absl::GetFlag(FLAGS_print);
  std::string error;
  const std::optional<FeedFormat> format = ParseFeedFormat(absl::GetFlag(FLAGS_format));
  if (format.has_value()) options.format = *format;
  if (!format.has_value()) {
    error = absl::StrCat("--format must be csv, json, nmea or mixed, not '",
                         absl::GetFlag(FLAGS_format), "'");
  } else if (options.connections < 1) {
    error = "--connections must be at least 1";
  } else if (options.fixes_per_connection < 0) {
    error = "--lines must not be negative";
  } else if (!std::isfinite(options.rate) || options.rate < 0) {
    error = "--rate must be a finite number >= 0";
  } else if (!IsValidVehicleId(absl::StrCat(options.vehicle_prefix, options.connections - 1))) {
    // The last id is the longest, and all share the prefix's characters.
    error = absl::StrCat("--vehicle_prefix '", options.vehicle_prefix,
                         "' gives invalid vehicle ids: they must be 1-64 chars of "
                         "[A-Za-z0-9._:-]");
  }
  if (!error.empty()) {
    absl::FPrintF(stderr, "%s: %s\n", kProgram, error);
    return std::nullopt;
  }
  return options;
}

int Run() {
  const std::optional<SimulationOptions> options = OptionsFromFlags();
  if (!options.has_value()) return 2;
  const auto host_port = SplitHostPort(options->target);
  if (!host_port.has_value()) {
    absl::FPrintF(stderr, "%s: --target must be host:port, not '%s'\n", kProgram, options->target);
    return 2;
  }

  asio::io_context io(1);
  tcp::resolver resolver(io);
  std::error_code ec;
  const tcp::resolver::results_type endpoints =
      resolver.resolve(host_port->first, host_port->second, ec);
  if (ec) {
    absl::FPrintF(stderr, "%s: resolving %s: %s\n", kProgram, options->target, ec.message());
    return 1;
  }

  Simulation simulation(io, *options);
  const Clock::time_point start = Clock::now();
  simulation.Start(endpoints);
  io.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double per_second = seconds > 0 ? 1.0 / seconds : 0.0;

  std::FILE* summary_out = options->print ? stderr : stdout;
  std::fflush(stdout);
  absl::FPrintF(summary_out,
                "%s: %d connections (%d failed), %d fixes, %d lines, %d bytes in %.3f s: "
                "%.0f fixes/s, %.0f lines/s\n",
                kProgram, simulation.connections(), simulation.failed(), simulation.fixes(),
                simulation.lines(), simulation.bytes(), seconds,
                static_cast<double>(simulation.fixes()) * per_second,
                static_cast<double>(simulation.lines()) * per_second);
  return simulation.failed() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace fixstream::clients

int main(int argc, char** argv) {
  if (!fixstream::clients::ParseClientCommandLine(argc, argv, fixstream::clients::kProgram,
                                                  fixstream::clients::kUsage,
                                                  "clients/simulate.cc")) {
    return 2;
  }
  return fixstream::clients::Run();
}
