// fixstream-load: a load generator for a gateway's device port.
//
// It holds every line it will send in memory (read from --file, or generated
// with clients/track.h), splits them on line boundaries into one slice per
// connection and sends the slices over loopback TCP, unpaced in large writes
// or paced to an aggregate line rate, optionally stamping each line with its
// wall-clock send time so that a subscriber can measure end-to-end latency.
//
// Everything runs on one io_context driven by the main thread. Unpaced and
// unstamped, a write is a view into the slice (no copy): the gateway, not the
// generator, must be what saturates, and with two cores shared by both every
// cycle spent here is taken from the gateway.

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
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
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "asio.hpp"
#include "asio/ssl.hpp"
#include "clients/command_line.h"
#include "clients/loopback_target.h"
#include "clients/paced_connection.h"
#include "clients/track.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7878",
          "Gateway device port, host:port. Must be a loopback address (127.0.0.0/8 or ::1).");
ABSL_FLAG(std::string, file, "",
          "Send the lines of this file (read into memory first). Exclusive with --generate.");
ABSL_FLAG(int64_t, generate, 0,
          "Generate this many location lines in memory instead of reading --file (each "
          "becomes one record at the gateway; $PFSID lines come on top).");
ABSL_FLAG(std::string, format, "csv",
          "With --generate: csv, json, nmea (RMC sentences), mixed (75% CSV, 25% NMEA RMC), a "
          "tracker protocol (h02, gps103, tk103, watch, queclink, meitrack, suntech: position "
          "reports as those devices send them, numeric device ids) or trackers (connection c "
          "speaks the c-th of those protocols, in that order, round robin).");
ABSL_FLAG(int32_t, vehicles, 4000,
          "With --generate: vehicles over all connections (raised to --connections if lower); "
          "each connection sends only its own vehicles.");
ABSL_FLAG(std::string, vehicle_prefix, "load-",
          "With --generate: vehicle ids are <vehicle_prefix><vehicle index>.");
ABSL_FLAG(uint64_t, seed, 1, "With --generate: seed of the simulated tracks.");
ABSL_FLAG(std::string, auth_secret, "",
          "With --generate (csv, json, nmea, mixed): each connection first authenticates as its "
          "one vehicle with this secret -- AUTH,<id>,<secret>, or $PFSID,<id>,<secret> on "
          "connections that send NMEA -- for a gateway under --device_policy=authenticated "
          "whose devices file lists <vehicle_prefix>0..N-1 with its SHA-256. Needs --vehicles "
          "equal to --connections.");
ABSL_FLAG(int32_t, connections, 8, "TCP connections; the lines are split into one slice each.");
ABSL_FLAG(int32_t, source_addresses, 0,
          "Spread connections over source addresses 127.0.0.1..127.0.0.K (IPv4 targets); 0: one "
          "address per 16384 connections.");
ABSL_FLAG(double, rate, 0,
          "Aggregate lines per second over all connections, sent in bursts about every "
          "millisecond from the moment all connections are up; 0: as fast as possible.");
ABSL_FLAG(bool, tls, false,
          "Speak TLS to the target (a gateway listener with tls=on, --device_tls_listen): "
          "handshake after the connect, end with close_notify.");
ABSL_FLAG(std::string, tls_ca, "",
          "With --tls: PEM file of the CA that must have signed the gateway's certificate "
          "(checked, with the target's address). Empty: the certificate is not checked (a "
          "benchmark on loopback).");
ABSL_FLAG(bool, stamp_send_time, false,
          "Rewrite the timestamp of every CSV and JSON line to the wall-clock time just before "
          "it is sent (NMEA lines go out unchanged). For latency measurements; use CSV.");
ABSL_FLAG(std::string, stamp_format, "rfc3339",
          "With --stamp_send_time: rfc3339 (nanosecond fraction, strictly increasing per "
          "connection) or unix_ms (Unix milliseconds; lines of one vehicle within the same "
          "millisecond then carry equal timestamps).");
ABSL_FLAG(int32_t, write_bytes, 256 * 1024, "Largest single write per connection, in bytes.");
ABSL_FLAG(double, max_seconds, 60,
          "Hard limit from the first connect: stop sending and close every connection after "
          "this long.");

namespace fixstream::clients {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProgram = "fixstream-load";
constexpr char kUsage[] =
    R"(sends vehicle lines from memory to a fixstream gateway's device port, fast.

The lines come from --file or are generated (--generate=N). They are split on
line boundaries into one slice per connection; each connection sends its slice
unpaced in writes of --write_bytes, or paced (--rate lines/s over all
connections, bursts about every millisecond), then shuts down its send side.
Prints one summary line with key=value fields and exits 0 when every
connection sent its whole slice; 1 when a connection failed or --max_seconds
cut the run short; 2 on bad flags. Only loopback targets are accepted.

Generated data: each connection has its own vehicles (--vehicles spread over
the connections). Connections that send NMEA (nmea, mixed) start with a
$PFSID line naming their first vehicle, and all their RMC sentences belong to
it. Every generated line except $PFSID becomes one record at the gateway.
With --auth_secret each connection has one vehicle and starts with its
authentication line instead (AUTH,<id>,<secret>, or $PFSID,<id>,<secret> when
it sends NMEA), for --device_policy=authenticated.

File data: a slice is cut wherever its byte share ends (at the next newline),
so NMEA sentences are attributed by the gateway to whatever the file's $PFSID
lines say before them on the same connection — or rejected as
unknown_vehicle when a slice starts with NMEA sentences and no $PFSID. A
missing final newline is added.

--stamp_send_time rewrites the timestamp of CSV and JSON lines to the send
time; NMEA sentences cannot carry a reliable stamp (time of day only, their
own checksum) and go out unchanged, so latency runs use --format=csv.

Examples:
  fixstream-load --generate=2000000 --format=mixed --connections=8
  fixstream-load --generate=700000 --format=trackers --connections=14
  fixstream-load --generate=100000 --connections=8 --vehicles=8 --auth_secret=0f3a9c
  fixstream-load --file=lines.txt --connections=16 --source_addresses=4
  fixstream-load --generate=500 --format=csv --connections=1 --rate=100 --stamp_send_time)";

// Generated tracks send one fix per second of fix time.
constexpr int64_t kFixIntervalMs = 1000;

enum class LineFormat : uint8_t { kCsv, kJson, kNmea, kMixed, kTracker, kTrackers };
enum class StampFormat : uint8_t { kRfc3339Nanos, kUnixMillis };

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The lines one connection sends.
struct Slice {
  std::string_view data;
  int64_t lines = 0;
  int64_t fix_lines = 0;  // lines other than $PFSID: one record each, if valid
};

// SplitMix64's finalizer: well-spread track seeds from (seed, index).
uint64_t MixSeed(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct GenerateOptions {
  int64_t lines = 0;
  LineFormat format = LineFormat::kCsv;
  int vehicles = 0;
  int connections = 0;
  std::string vehicle_prefix;
  uint64_t seed = 0;
  TrackerProtocol protocol = TrackerProtocol::kH02;  // kTracker
  std::string auth_secret;                           // empty: no authentication line
};

// The secret alphabet of the gateway's authentication lines
// (docs/PROTOCOL.md, "Authentication").
bool IsValidSecret(std::string_view secret) {
  if (secret.empty() || secret.size() > 128) return false;
  for (char c : secret) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("._~+/=-").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// A tracker's device id for vehicle `index`: the 10-digit serial of H02 and
// Watch devices, a 15-digit IMEI for the others.
std::string TrackerDeviceId(TrackerProtocol protocol, int index) {
  const bool serial = protocol == TrackerProtocol::kH02 || protocol == TrackerProtocol::kWatch;
  return serial ? absl::StrFormat("49%08d", index) : absl::StrFormat("8640350%08d", index);
}

// Generates the lines of every connection. Connection c owns the vehicles
// whose index is c modulo the connection count, so no two connections ever
// send the same vehicle (the gateway keeps per-vehicle order and drops
// duplicates, which interleaved senders of one vehicle would provoke).
std::vector<std::string> GenerateSlices(const GenerateOptions& options) {
  const int connections = options.connections;
  const int vehicles = std::max(options.vehicles, connections);
  const int64_t fixes_per_vehicle = options.lines / vehicles + 1;
  // Fix times end about now, so the data looks fresh to the gateway.
  const int64_t start_ms = WallClockNs() / 1'000'000 - fixes_per_vehicle * kFixIntervalMs;
  const bool nmea_capable =
      options.format == LineFormat::kNmea || options.format == LineFormat::kMixed;

  std::vector<std::string> slices(connections);
  std::vector<Track> tracks;
  std::vector<std::string> ids;
  for (int c = 0; c < connections; ++c) {
    tracks.clear();
    ids.clear();
    const int64_t lines = options.lines / connections + (c < options.lines % connections ? 1 : 0);
    for (int v = c; v < vehicles; v += connections) {
      TrackOptions track;
      // The connection's first vehicle also carries its NMEA lines, so it
      // advances up to once per line: start it early enough that its fixes
      // still end by now (the gateway rejects fixes from the future).
      track.start_time_unix_ms = v == c && nmea_capable
                                     ? WallClockNs() / 1'000'000 - (lines + 1) * kFixIntervalMs
                                     : start_ms;
      track.interval_ms = kFixIntervalMs;
      track.seed = MixSeed(options.seed, static_cast<uint64_t>(v));
      tracks.emplace_back(track);
      ids.push_back(absl::StrCat(options.vehicle_prefix, v));
    }
    const CsvTimestamp csv_timestamp =
        c % 2 == 0 ? CsvTimestamp::kRfc3339 : CsvTimestamp::kUnixMillis;
    std::string& out = slices[c];
    out.reserve(static_cast<size_t>(lines) * 80 + 128);
    if (options.format == LineFormat::kTracker || options.format == LineFormat::kTrackers) {
      const TrackerProtocol protocol =
          options.format == LineFormat::kTracker
              ? options.protocol
              : static_cast<TrackerProtocol>(c % kTrackerProtocolCount);
      for (size_t v = 0; v < tracks.size(); ++v) {
        ids[v] = TrackerDeviceId(protocol, c + static_cast<int>(v) * connections);
      }
      for (int64_t j = 0; j < lines; ++j) {
        Track& track = tracks[j % tracks.size()];
        FormatTrackerMessage(protocol, ids[j % tracks.size()], track.fix(), &out);
        track.Advance();
      }
      continue;
    }
    if (!options.auth_secret.empty()) {
      // The connection's one vehicle (--vehicles == --connections).
      if (nmea_capable) {
        FormatNmeaIdentification(absl::StrCat(ids[0], ",", options.auth_secret), &out);
      } else {
        absl::StrAppend(&out, "AUTH,", ids[0], ",", options.auth_secret, "\n");
      }
    } else if (nmea_capable) {
      FormatNmeaIdentification(ids[0], &out);
    }
    size_t next_vehicle = 0;
    for (int64_t j = 0; j < lines; ++j) {
      // Mixed: every fourth line is NMEA, like the peers' gen_lines.py.
      const bool nmea = options.format == LineFormat::kNmea ||
                        (options.format == LineFormat::kMixed && j % 4 == 3);
      if (nmea) {
        // The connection named its first vehicle with $PFSID.
        FormatNmeaRmc(tracks[0].fix(), &out);
        tracks[0].Advance();
        continue;
      }
      Track& track = tracks[next_vehicle];
      if (options.format == LineFormat::kJson) {
        FormatJson(ids[next_vehicle], track.fix(), &out);
      } else {
        FormatCsv(ids[next_vehicle], track.fix(), csv_timestamp, &out);
      }
      track.Advance();
      next_vehicle = (next_vehicle + 1) % tracks.size();
    }
  }
  return slices;
}

void CountLines(Slice& slice) {
  std::string_view rest = slice.data;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const size_t end = newline == std::string_view::npos ? rest.size() : newline + 1;
    ++slice.lines;
    if (!rest.starts_with("$PFSID") && !rest.starts_with("AUTH,")) ++slice.fix_lines;
    rest.remove_prefix(end);
  }
}

// Cuts `data` into `parts` slices of about equal size, each ending just after
// a newline (the last one at the end of `data`).
std::vector<Slice> SplitOnLines(std::string_view data, int parts) {
  std::vector<Slice> slices;
  size_t begin = 0;
  for (int i = 0; i < parts; ++i) {
    size_t end = data.size();
    if (i + 1 < parts) {
      end = std::max(begin, data.size() * static_cast<size_t>(i + 1) / static_cast<size_t>(parts));
      if (end > begin && data[end - 1] != '\n') {
        const size_t newline = data.find('\n', end);
        end = newline == std::string_view::npos ? data.size() : newline + 1;
      }
    }
    Slice slice;
    slice.data = data.substr(begin, end - begin);
    CountLines(slice);
    slices.push_back(slice);
    begin = end;
  }
  return slices;
}

// Rewrites line timestamps to the wall-clock time at which they are about to
// be sent. One per connection; not thread-safe.
class SendTimeStamper final {
 public:
  explicit SendTimeStamper(StampFormat format) : format_(format) {}

  // Appends `line` (terminator included) to `out` with its timestamp replaced
  // by the current time: the second CSV field, or the value of the JSON
  // "timestamp" key. Other lines (NMEA, unrecognizable) are appended
  // unchanged.
  void AppendStamped(std::string_view line, std::string* out) {
    size_t value_begin = std::string_view::npos;
    size_t value_end = std::string_view::npos;
    bool json = false;
    if (line.starts_with('$') || line.starts_with("AUTH,")) {
      // NMEA: no stamp (see the usage text); nor an authentication line.
    } else if (line.starts_with('{')) {
      json = true;
      FindJsonTimestamp(line, &value_begin, &value_end);
    } else {
      const size_t first = line.find(',');
      if (first != std::string_view::npos) {
        const size_t second = line.find(',', first + 1);
        if (second != std::string_view::npos) {
          value_begin = first + 1;
          value_end = second;
        }
      }
    }
    if (value_begin == std::string_view::npos) {
      out->append(line);
      return;
    }
    out->append(line.substr(0, value_begin));
    AppendStamp(json, out);
    out->append(line.substr(value_end));
  }

 private:
  static void FindJsonTimestamp(std::string_view line, size_t* begin, size_t* end) {
    constexpr std::string_view kKey = "\"timestamp\"";
    size_t pos = line.find(kKey);
    if (pos == std::string_view::npos) return;
    pos += kKey.size();
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == ':' || line[pos] == '\t')) ++pos;
    if (pos >= line.size()) return;
    size_t stop;
    if (line[pos] == '"') {
      stop = line.find('"', pos + 1);
      if (stop == std::string_view::npos) return;
      ++stop;
    } else {
      stop = line.find_first_of(",} \t\r\n", pos);
      if (stop == std::string_view::npos) return;
    }
    *begin = pos;
    *end = stop;
  }

  void AppendStamp(bool json, std::string* out) {
    int64_t now_ns = WallClockNs();
    if (format_ == StampFormat::kUnixMillis) {
      AppendInt(now_ns / 1'000'000, out);
      return;
    }
    // Strictly increasing, so that two lines of one vehicle sent within the
    // clock's resolution are not taken for duplicates by the gateway.
    now_ns = std::max(now_ns, last_ns_ + 1);
    last_ns_ = now_ns;
    const int64_t minute = now_ns / 60'000'000'000;
    if (minute != cached_minute_) CacheMinute(minute);
    if (json) out->push_back('"');
    out->append(minute_prefix_);
    const int64_t ns_in_minute = now_ns % 60'000'000'000;
    AppendPadded(ns_in_minute / 1'000'000'000, 2, out);
    out->push_back('.');
    AppendPadded(ns_in_minute % 1'000'000'000, 9, out);
    out->push_back('Z');
    if (json) out->push_back('"');
  }

  // Formatting the date costs more than the rest of the line; it changes
  // once a minute.
  void CacheMinute(int64_t minute) {
    using std::chrono::minutes;
    const std::chrono::sys_time<minutes> time{minutes{minute}};
    const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(time);
    const std::chrono::year_month_day ymd{day};
    const int64_t minute_of_day = (time - day).count();
    minute_prefix_.clear();
    AppendPadded(static_cast<int>(ymd.year()), 4, &minute_prefix_);
    minute_prefix_.push_back('-');
    AppendPadded(static_cast<unsigned>(ymd.month()), 2, &minute_prefix_);
    minute_prefix_.push_back('-');
    AppendPadded(static_cast<unsigned>(ymd.day()), 2, &minute_prefix_);
    minute_prefix_.push_back('T');
    AppendPadded(minute_of_day / 60, 2, &minute_prefix_);
    minute_prefix_.push_back(':');
    AppendPadded(minute_of_day % 60, 2, &minute_prefix_);
    minute_prefix_.push_back(':');
    cached_minute_ = minute;
  }

  static void AppendInt(int64_t value, std::string* out) {
    std::array<char, 24> buf;
    const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    out->append(buf.data(), result.ptr);
  }

  static void AppendPadded(int64_t value, int width, std::string* out) {
    std::array<char, 24> buf;
    const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    const auto digits = static_cast<int>(result.ptr - buf.data());
    if (digits < width) out->append(static_cast<size_t>(width - digits), '0');
    out->append(buf.data(), result.ptr);
  }

  StampFormat format_;
  int64_t last_ns_ = 0;
  int64_t cached_minute_ = -1;
  std::string minute_prefix_;  // "YYYY-MM-DDTHH:MM:"
};

struct LoadOptions {
  std::string target;  // for messages
  int connections = 0;
  int source_addresses = 0;
  double rate = 0;  // lines/s; 0: unpaced
  bool stamp = false;
  bool discard_replies = false;       // tracker protocols: the gateway answers some messages
  asio::ssl::context* tls = nullptr;  // --tls: every connection speaks TLS
  StampFormat stamp_format = StampFormat::kRfc3339Nanos;
  size_t write_bytes = 0;
  double max_seconds = 0;
};

// One TCP connection sending one slice: each write ends on a line boundary
// when lines are counted out (paced or stamped) and anywhere otherwise.
// Slices end in a newline (or are empty), so the lines counted out are the
// slice's lines.
class SliceConnection final : public PacedConnection {
 public:
  SliceConnection(asio::io_context& io, int index, Slice slice, const LoadOptions& options,
                  PacedConnectionObserver& observer)
      : PacedConnection(io, index, slice.lines, observer),
        slice_(slice),
        options_(options),
        stamper_(options.stamp_format),
        open_line_is_identification_(slice.data.starts_with("$PFSID")) {}

 private:
  PacedWrite NextWrite(int64_t credit) override;

  const Slice slice_;
  const LoadOptions& options_;
  SendTimeStamper stamper_;
  size_t position_ = 0;  // first byte not yet handed to a write
  // Whether the line that begins at or before position_ is a $PFSID line.
  bool open_line_is_identification_;
  std::string buffer_;  // stamped write in flight; untouched until it completes
};

// All connections, the pacer, the deadline and the send times.
class LoadRun final : public PacedConnectionObserver {
 public:
  LoadRun(asio::io_context& io, std::vector<Slice> slices, LoadOptions options);
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;

  void Start(const tcp::endpoint& target);

  int connections() const { return static_cast<int>(connections_.size()); }
  int failed() const { return failed_; }
  bool timed_out() const { return timed_out_; }
  PacedTotals sent() const { return pacer_.sent(); }
  int64_t first_send_unix_ns() const { return first_send_unix_ns_; }
  int64_t last_send_unix_ns() const { return last_send_unix_ns_; }
  // Seconds from the first write to the last write's completion.
  double send_seconds() const {
    return std::chrono::duration<double>(last_send_ - first_send_).count();
  }

 private:
  void OnConnectDone(PacedConnection& connection) override;
  void OnWriteStarted(PacedConnection& connection) override;
  void OnWritten(PacedConnection& connection, const PacedWrite& write) override;
  void OnFailed(PacedConnection& connection, std::string_view operation,
                const std::error_code& ec) override;
  void OnFinished(PacedConnection& connection) override;

  LoadOptions options_;
  Pacer pacer_;
  asio::steady_timer deadline_;
  std::vector<std::unique_ptr<SliceConnection>> connections_;
  int unfinished_ = 0;
  int failed_ = 0;
  bool timed_out_ = false;
  bool sending_started_ = false;
  Clock::time_point first_send_;
  Clock::time_point last_send_;
  int64_t first_send_unix_ns_ = 0;
  int64_t last_send_unix_ns_ = 0;
};

PacedWrite SliceConnection::NextWrite(int64_t credit) {
  const std::string_view rest = slice_.data.substr(position_);
  std::string_view chunk;
  int64_t lines = 0;
  int64_t fix_lines = 0;
  if (options_.rate == 0 && !options_.stamp) {
    // Whole slice granted and sent as is: a write needs no line boundary. A
    // line counts as sent with the write that carries its newline.
    chunk = rest.substr(0, options_.write_bytes);
    for (size_t newline = chunk.find('\n'); newline != std::string_view::npos;
         newline = chunk.find('\n', newline + 1)) {
      ++lines;
      if (!open_line_is_identification_) ++fix_lines;
      open_line_is_identification_ = rest.substr(newline + 1).starts_with("$PFSID");
    }
    position_ += chunk.size();
  } else {
    buffer_.clear();
    size_t end = 0;
    while (lines < credit && end < rest.size() &&
           (options_.stamp ? buffer_.size() : end) < options_.write_bytes) {
      const size_t newline = rest.find('\n', end);
      const size_t line_end = newline == std::string_view::npos ? rest.size() : newline + 1;
      const std::string_view line = rest.substr(end, line_end - end);
      if (options_.stamp) stamper_.AppendStamped(line, &buffer_);
      if (!line.starts_with("$PFSID")) ++fix_lines;
      ++lines;
      end = line_end;
    }
    chunk = options_.stamp ? std::string_view(buffer_) : rest.substr(0, end);
    position_ += end;
  }
  PacedWrite write;
  write.data = chunk;
  write.units = lines;
  write.lines = lines;
  write.records = fix_lines;
  return write;
}

LoadRun::LoadRun(asio::io_context& io, std::vector<Slice> slices, LoadOptions options)
    : options_(std::move(options)), pacer_(io, options_.rate), deadline_(io) {
  connections_.reserve(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    connections_.push_back(
        std::make_unique<SliceConnection>(io, static_cast<int>(i), slices[i], options_, *this));
    if (options_.discard_replies) connections_.back()->DiscardReplies();
    if (options_.tls != nullptr) connections_.back()->UseTls(*options_.tls);
    pacer_.Add(connections_.back().get());
  }
}

void LoadRun::Start(const tcp::endpoint& target) {
  unfinished_ = connections();
  deadline_.expires_after(std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.max_seconds)));
  deadline_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    timed_out_ = true;
    pacer_.Stop();
    for (auto& connection : connections_) connection->Abort();
  });
  for (int i = 0; i < connections(); ++i) {
    connections_[i]->Start(LoopbackSource(target, i, options_.source_addresses), target);
  }
}

void LoadRun::OnConnectDone(PacedConnection& /*connection*/) { pacer_.OnConnectDone(); }

void LoadRun::OnWriteStarted(PacedConnection& /*connection*/) {
  if (sending_started_) return;
  sending_started_ = true;
  first_send_ = Clock::now();
  first_send_unix_ns_ = WallClockNs();
  last_send_ = first_send_;
  last_send_unix_ns_ = first_send_unix_ns_;
}

void LoadRun::OnWritten(PacedConnection& /*connection*/, const PacedWrite& /*write*/) {
  last_send_ = Clock::now();
  last_send_unix_ns_ = WallClockNs();
}

void LoadRun::OnFinished(PacedConnection& /*connection*/) {
  if (--unfinished_ == 0) {
    // Nothing left to pace or to cut short: let io_context::run() return.
    pacer_.Stop();
    deadline_.cancel();
  }
}

void LoadRun::OnFailed(PacedConnection& connection, std::string_view operation,
                       const std::error_code& ec) {
  ++failed_;
  absl::FPrintF(stderr, "%s: connection %d: %s %s: %s\n", kProgram, connection.index(), operation,
                options_.target, ec.message());
}

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return std::nullopt;
  data.resize(static_cast<size_t>(size));
  in.seekg(0, std::ios::beg);
  if (!in.read(data.data(), size)) return std::nullopt;
  return data;
}

int Fail(std::string_view message) {
  absl::FPrintF(stderr, "%s: %s\n", kProgram, message);
  return 2;
}

int Run() {
  LoadOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.source_addresses = absl::GetFlag(FLAGS_source_addresses);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.stamp = absl::GetFlag(FLAGS_stamp_send_time);
  options.max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const std::string file = absl::GetFlag(FLAGS_file);
  const int64_t generate = absl::GetFlag(FLAGS_generate);
  const int32_t write_bytes = absl::GetFlag(FLAGS_write_bytes);
  const std::string format_name = absl::GetFlag(FLAGS_format);
  const std::string stamp_format = absl::GetFlag(FLAGS_stamp_format);

  const absl::StatusOr<int> sources =
      SourceAddressCount(options.connections, options.source_addresses);
  if (!sources.ok()) {
    const absl::string_view message = sources.status().message();
    return Fail(std::string_view(message.data(), message.size()));
  }
  options.source_addresses = *sources;
  if (!std::isfinite(options.rate) || options.rate < 0) {
    return Fail("--rate must be a finite number >= 0");
  }
  if (!std::isfinite(options.max_seconds) || options.max_seconds <= 0) {
    return Fail("--max_seconds must be > 0");
  }
  if (write_bytes < 1024) return Fail("--write_bytes must be at least 1024");
  options.write_bytes = static_cast<size_t>(write_bytes);
  if (stamp_format == "rfc3339") {
    options.stamp_format = StampFormat::kRfc3339Nanos;
  } else if (stamp_format == "unix_ms") {
    options.stamp_format = StampFormat::kUnixMillis;
  } else {
    return Fail(
        absl::StrCat("--stamp_format must be rfc3339 or unix_ms, not '", stamp_format, "'"));
  }
  if (file.empty() == (generate == 0)) return Fail("give exactly one of --file and --generate");
  if (generate < 0) return Fail("--generate must be positive");

  // Refuse anything but loopback before reading or generating gigabytes.
  asio::io_context io(1);
  absl::StatusOr<tcp::endpoint> resolved = ResolveLoopbackTarget(io, options.target);
  if (!resolved.ok()) {
    const absl::string_view message = resolved.status().message();
    return Fail(std::string_view(message.data(), message.size()));
  }
  const tcp::endpoint target = *resolved;

  std::vector<std::string> generated;
  std::string file_data;
  std::vector<Slice> slices;
  if (generate > 0) {
    GenerateOptions generate_options;
    generate_options.lines = generate;
    if (format_name == "csv") {
      generate_options.format = LineFormat::kCsv;
    } else if (format_name == "json") {
      generate_options.format = LineFormat::kJson;
    } else if (format_name == "nmea") {
      generate_options.format = LineFormat::kNmea;
    } else if (format_name == "mixed") {
      generate_options.format = LineFormat::kMixed;
    } else if (format_name == "trackers") {
      generate_options.format = LineFormat::kTrackers;
    } else if (const std::optional<TrackerProtocol> protocol = ParseTrackerProtocol(format_name)) {
      generate_options.format = LineFormat::kTracker;
      generate_options.protocol = *protocol;
    } else {
      return Fail(absl::StrCat(
          "--format must be csv, json, nmea, mixed, trackers or a tracker protocol (h02, gps103, "
          "tk103, watch, queclink, meitrack, suntech), not '",
          format_name, "'"));
    }
    if (generate_options.format == LineFormat::kTracker ||
        generate_options.format == LineFormat::kTrackers) {
      if (options.stamp) {
        return Fail("--stamp_send_time works with csv and json lines, not tracker messages");
      }
      options.discard_replies = true;
    }
    generate_options.vehicles = absl::GetFlag(FLAGS_vehicles);
    generate_options.connections = options.connections;
    generate_options.vehicle_prefix = absl::GetFlag(FLAGS_vehicle_prefix);
    generate_options.seed = absl::GetFlag(FLAGS_seed);
    generate_options.auth_secret = absl::GetFlag(FLAGS_auth_secret);
    if (!generate_options.auth_secret.empty()) {
      if (!IsValidSecret(generate_options.auth_secret)) {
        return Fail("--auth_secret must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ + / = -");
      }
      if (generate_options.format == LineFormat::kTracker ||
          generate_options.format == LineFormat::kTrackers) {
        return Fail("--auth_secret is for the line formats: trackers cannot authenticate");
      }
      if (generate_options.vehicles != options.connections) {
        return Fail(
            "--auth_secret needs --vehicles equal to --connections: an authenticated connection "
            "publishes for its one vehicle");
      }
    }
    if (generate_options.vehicles < 1) return Fail("--vehicles must be at least 1");
    const int max_vehicle = std::max(generate_options.vehicles, options.connections) - 1;
    if (!IsValidVehicleId(absl::StrCat(generate_options.vehicle_prefix, max_vehicle))) {
      return Fail(absl::StrCat("--vehicle_prefix '", generate_options.vehicle_prefix,
                               "' gives invalid vehicle ids: 1-64 chars of [A-Za-z0-9._:-]"));
    }
    generated = GenerateSlices(generate_options);
    for (const std::string& data : generated) {
      Slice slice;
      slice.data = data;
      CountLines(slice);
      slices.push_back(slice);
    }
  } else {
    std::optional<std::string> data = ReadWholeFile(file);
    if (!data.has_value()) return Fail(absl::StrCat("cannot read --file ", file));
    file_data = *std::move(data);
    // An unterminated last line would be dropped by the gateway.
    if (!file_data.empty() && file_data.back() != '\n') file_data.push_back('\n');
    slices = SplitOnLines(file_data, options.connections);
  }

  asio::ssl::context tls_context(asio::ssl::context::tls_client);
  if (absl::GetFlag(FLAGS_tls)) {
    const std::string ca = absl::GetFlag(FLAGS_tls_ca);
    if (!ca.empty()) {
      std::error_code ec;
      tls_context.load_verify_file(ca, ec);
      if (ec) return Fail(absl::StrCat("--tls_ca=", ca, ": ", ec.message()));
      tls_context.set_verify_mode(asio::ssl::verify_peer);
      tls_context.set_verify_callback(
          asio::ssl::host_name_verification(target.address().to_string()));
    }
    options.tls = &tls_context;
  }
  LoadRun run(io, std::move(slices), options);
  run.Start(target);
  io.run();

  const PacedTotals sent = run.sent();
  const double seconds = run.send_seconds();
  const double per_second = seconds > 0 ? 1.0 / seconds : 0.0;
  absl::PrintF(
      "%s: connections=%d failed=%d timed_out=%d lines=%d fix_lines=%d bytes=%d seconds=%.3f "
      "lines_per_s=%.0f mb_per_s=%.1f first_send_unix_ns=%d last_send_unix_ns=%d\n",
      kProgram, run.connections(), run.failed(), run.timed_out() ? 1 : 0, sent.lines, sent.records,
      sent.bytes, seconds, static_cast<double>(sent.lines) * per_second,
      static_cast<double>(sent.bytes) * per_second / 1e6, run.first_send_unix_ns(),
      run.last_send_unix_ns());
  std::fflush(stdout);
  return run.failed() == 0 && !run.timed_out() ? 0 : 1;
}

}  // namespace
}  // namespace fixstream::clients

int main(int argc, char** argv) {
  if (!fixstream::clients::ParseClientCommandLine(argc, argv, fixstream::clients::kProgram,
                                                  fixstream::clients::kUsage, "clients/load.cc")) {
    return 2;
  }
  return fixstream::clients::Run();
}
