// fixstream-simulate: simulated vehicles sending location lines to a
// gateway's device port, one TCP connection per vehicle.
//
// Everything runs on one io_context driven by the main thread: formatting a
// line costs far less than sending it, so a second thread would only add
// locking between the pacer and the connections.

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
#include "clients/paced_connection.h"
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

// One simulated vehicle: sends the fixes it has been granted in writes of up
// to kMaxWriteBytes.
class VehicleConnection final : public PacedConnection {
 public:
  VehicleConnection(asio::io_context& io, int index, VehicleFeed feed, int64_t fixes,
                    PacedConnectionObserver& observer)
      : PacedConnection(io, index, fixes, observer), feed_(std::move(feed)) {}

  const std::string& vehicle_id() const { return feed_.vehicle_id(); }

 private:
  PacedWrite NextWrite(int64_t credit) override {
    buffer_.clear();
    int64_t fixes = 0;
    int64_t lines = 0;
    while (fixes < credit && buffer_.size() + VehicleFeed::kMaxFixBytes <= kMaxWriteBytes) {
      lines += feed_.AppendNextFix(&buffer_);
      ++fixes;
    }
    PacedWrite write;
    write.data = buffer_;
    write.units = fixes;
    write.lines = lines;
    write.records = fixes;  // one record per fix
    return write;
  }

  VehicleFeed feed_;
  std::string buffer_;  // the write in flight; untouched until it completes
};

// All connections, the pacer and the totals.
class Simulation final : public PacedConnectionObserver {
 public:
  Simulation(asio::io_context& io, SimulationOptions options);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  void Start(const tcp::resolver::results_type& endpoints);

  int connections() const { return options_.connections; }
  int failed() const { return failed_; }
  PacedTotals sent() const { return pacer_.sent(); }

 private:
  void OnConnectDone(PacedConnection& connection) override;
  void OnWritten(PacedConnection& connection, const PacedWrite& write) override;
  void OnFailed(PacedConnection& connection, std::string_view operation,
                const std::error_code& ec) override;

  SimulationOptions options_;
  Pacer pacer_;
  std::vector<std::unique_ptr<VehicleConnection>> connections_;
  int failed_ = 0;
};

Simulation::Simulation(asio::io_context& io, SimulationOptions options)
    : options_(std::move(options)), pacer_(io, options_.rate) {
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
        io, i, std::move(feed), options_.fixes_per_connection, *this));
    pacer_.Add(connections_.back().get());
  }
}

void Simulation::Start(const tcp::resolver::results_type& endpoints) {
  for (auto& connection : connections_) connection->Start(endpoints);
}

void Simulation::OnConnectDone(PacedConnection& /*connection*/) { pacer_.OnConnectDone(); }

void Simulation::OnWritten(PacedConnection& /*connection*/, const PacedWrite& write) {
  if (options_.print) std::fwrite(write.data.data(), 1, write.data.size(), stdout);
}

void Simulation::OnFailed(PacedConnection& connection, std::string_view operation,
                          const std::error_code& ec) {
  ++failed_;
  absl::FPrintF(stderr, "%s: %s: %s %s: %s\n", kProgram,
                connections_[static_cast<size_t>(connection.index())]->vehicle_id(), operation,
                options_.target, ec.message());
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

  const PacedTotals sent = simulation.sent();
  std::FILE* summary_out = options->print ? stderr : stdout;
  std::fflush(stdout);
  absl::FPrintF(summary_out,
                "%s: %d connections (%d failed), %d fixes, %d lines, %d bytes in %.3f s: "
                "%.0f fixes/s, %.0f lines/s\n",
                kProgram, simulation.connections(), simulation.failed(), sent.units, sent.lines,
                sent.bytes, seconds, static_cast<double>(sent.units) * per_second,
                static_cast<double>(sent.lines) * per_second);
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
