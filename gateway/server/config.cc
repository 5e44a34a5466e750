#include "gateway/server/config.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/common/host_port.h"
#include "gateway/server/listener_list.h"

// Help texts are what `fixstream-gateway --help` shows operators: say what
// the setting does, its unit and what the special values mean.
ABSL_FLAG(std::string, config, "",
          "Optional config file: lines of `name = value` (any setting below, without --), "
          "'#' comments. Precedence: defaults < this file < environment FIXSTREAM_<NAME> < "
          "command line.");
ABSL_FLAG(std::string, device_listen, "0.0.0.0:7878",
          "HOST:PORT where vehicles connect over TCP (port 0: pick a free port).");
ABSL_FLAG(std::string, device_ack_listen, "",
          "HOST:PORT of a second device listener whose connections get `ACK <n>` lines once "
          "their first n lines are durable in the journal (docs/PROTOCOL.md); empty: none. "
          "Needs --journal_dir.");
ABSL_FLAG(std::string, device_tls_listen, "",
          "HOST:PORT of a device listener that speaks TLS (1.2 or newer) with the certificate "
          "of --device_tls_cert; otherwise like --device_listen. Empty: none.");
ABSL_FLAG(std::string, device_tls_cert, "",
          "PEM file of the certificate chain TLS device listeners present (with "
          "--device_tls_key). Checked for changes every second: new connections get a changed "
          "certificate, open ones keep theirs.");
ABSL_FLAG(std::string, device_tls_key, "",
          "PEM file of the private key of --device_tls_cert (unencrypted; keep it readable by "
          "the gateway only).");
ABSL_FLAG(uint32_t, device_tls_handshake_timeout_ms, 10000,
          "Close a TLS device connection that has not completed its handshake this long after "
          "it was accepted (tls_handshake_timeout; 0 = never).");
ABSL_FLAG(std::string, listeners, "",
          "Device listeners, separated by ';', each `HOST:PORT [format=auto|csv|nmea|json] "
          "[ident=pfsid|source_address:FILE|first_line] [ack=off|on] [tls=off|on] "
          "[policy=open|registered|authenticated]` (defaults: auto, pfsid, off, off, "
          "--device_policy): the lines' format, how a connection names its vehicle (a "
          "$PFSID line; its source address looked up in FILE, reloaded when it changes; its "
          "first line), whether it is sent `ACK <n>` lines (needs --journal_dir), whether it "
          "speaks TLS (needs --device_tls_cert/--device_tls_key) and its device policy. In a "
          "config file also as "
          "repeatable `listener = ENTRY` lines. Empty: the listeners of --device_listen, "
          "--device_format, --device_ack_listen and --device_tls_listen, which must stay unset "
          "otherwise.");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051",
          "HOST:PORT of the gRPC server (LocationService, health, reflection). Loopback by "
          "default; another address needs TLS (--grpc_tls_cert/--grpc_tls_key) or "
          "--grpc_allow_plaintext_remote.");
ABSL_FLAG(std::string, grpc_tls_cert, "",
          "PEM file of the gRPC server's certificate chain; with --grpc_tls_key, gRPC is served "
          "over TLS only. Re-read every --grpc_tls_reload_s (replace cert and key atomically, "
          "e.g. by a directory symlink swap): new handshakes get the new certificate, open "
          "streams stay up.");
ABSL_FLAG(std::string, grpc_tls_key, "", "PEM file of the private key of --grpc_tls_cert.");
ABSL_FLAG(std::string, grpc_tls_client_ca, "",
          "PEM bundle of CAs: a gRPC client must present a certificate signed by one of them "
          "(mutual TLS), or the handshake is refused. Empty: no client certificates.");
ABSL_FLAG(uint32_t, grpc_tls_reload_s, 60,
          "Seconds between re-reads of the TLS files (certificate rotation without restart).");
ABSL_FLAG(
    std::string, grpc_tokens_file, "",
    "File of bearer tokens: `SHA256HEX NAME calls=... vehicles=...` lines (docs/SECURITY.md); "
    "every call must then carry `authorization: Bearer <token>`. Re-read when it changes "
    "and on SIGHUP. Empty: no tokens, every caller may make every call.");
ABSL_FLAG(uint32_t, grpc_tokens_poll_ms, 1000,
          "How often the tokens file is checked for changes, in milliseconds (0: only on "
          "SIGHUP).");
ABSL_FLAG(std::string, grpc_public_calls, "Health,Reflection",
          "Calls answered without a token when --grpc_tokens_file is set: a comma-separated "
          "subset of Health, Reflection, Subscribe, GetLatestPositions, ListVehicles (empty: "
          "none).");
ABSL_FLAG(bool, grpc_allow_plaintext_remote, false,
          "Allow plaintext gRPC on an address other than loopback: anyone on the network can "
          "then read every position and token in transit. Logged as a warning at start.");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9464",
          "IPv4 HOST:PORT serving Prometheus metrics at /metrics; empty disables the endpoint.");
ABSL_FLAG(uint32_t, io_threads, 0, "Threads serving device connections; 0 = one per core.");
ABSL_FLAG(uint32_t, max_line_length, 4096,
          "Longest accepted line in bytes (at least 16); longer lines are discarded up to their "
          "newline and counted as too_long.");
ABSL_FLAG(std::string, device_format, "auto",
          "Line format of the device listener: auto (detect per line: '$' NMEA, '{' JSON, else "
          "CSV), csv, nmea or json (other formats are then rejected as wrong_format).");
ABSL_FLAG(uint64_t, retention_records, 1 << 20,
          "Records kept in memory for subscribers (at least 1); the oldest are evicted first.");
ABSL_FLAG(uint64_t, retention_bytes, 256ull << 20,
          "Encoded bytes kept in memory for subscribers (at least 65536).");
ABSL_FLAG(bool, retention_prefault, true,
          "Make all --retention_bytes resident from the start (huge pages where possible; in the "
          "background, the listeners do not wait for it), so no page fault slows publishing "
          "later; false: memory grows as the ring first fills.");
ABSL_FLAG(uint32_t, max_batch_records, 4096,
          "Most records in one Subscribe response (at least 1).");
ABSL_FLAG(uint32_t, max_batch_bytes, 1 << 20,
          "Most encoded bytes in one Subscribe response (at least 1024).");
ABSL_FLAG(std::string, slow_subscriber_policy, "gap",
          "What a subscriber gets when its next record left retention mid-stream: gap (a Gap "
          "notice naming the lost sequence range, then it continues at the oldest retained "
          "record) or end (the stream ends with RESOURCE_EXHAUSTED).");
ABSL_FLAG(uint32_t, dedup_window, 64,
          "Newest fix times remembered per vehicle (at most 65536); a record repeating one of them "
          "(same vehicle and fix time) is a duplicate: counted, not published. 0 disables "
          "duplicate detection.");
ABSL_FLAG(uint64_t, max_vehicles, 100000,
          "Vehicles tracked for duplicates, late marking and latest positions (at least 1); "
          "beyond this the least recently seen vehicle is forgotten.");
ABSL_FLAG(uint32_t, drain_timeout_ms, 5000,
          "On SIGTERM/SIGINT, how long subscribers get to receive the last records before their "
          "streams are cancelled.");
ABSL_FLAG(uint32_t, drain_grace_ms, 2000,
          "On SIGTERM/SIGINT, how long open device connections get to finish their lines and "
          "close by themselves; the rest are then read to the last byte and closed.");
ABSL_FLAG(std::string, devices_file, "",
          "The device registry: one `ID [name=FLEET_ID] [secret_sha256=HEX] [from=CIDR,...]` "
          "per line (docs/OPERATIONS.md); reloaded when it changes and on SIGHUP.");
ABSL_FLAG(std::string, device_policy, "",
          "open (any vehicle id from anywhere), registered (only the --devices_file's ids, from "
          "their from= networks) or authenticated (each connection's first line carries its id "
          "and secret: docs/PROTOCOL.md); default: registered with --devices_file, else open; a "
          "listener's policy= overrides it (docs/SECURITY.md).");
ABSL_FLAG(uint32_t, device_auth_failures_per_minute, 10,
          "Failed device authentications a source address (IPv6: its /64) may make per minute, "
          "and in a burst, before its new connections are refused as auth_rate_limited "
          "(0 = no limit).");
ABSL_FLAG(uint32_t, max_connections, 16384,
          "Concurrent device connections; one over the limit is accepted and reset at once "
          "(counted as closed{reason=connection_limit}).");
ABSL_FLAG(uint32_t, max_connections_per_source, 1024,
          "Concurrent device connections per remote IP address (0 = no limit); generous because "
          "carrier-grade NAT puts many trackers behind one address.");
ABSL_FLAG(uint32_t, idle_timeout_ms, 300000,
          "Close a device connection that sent no bytes for this long (0 = never).");
ABSL_FLAG(uint32_t, line_timeout_ms, 30000,
          "Close a device connection whose partial line waited this long for its newline (a "
          "slow-drip peer; 0 = never).");
ABSL_FLAG(uint32_t, keepalive_idle_s, 60,
          "TCP keepalive on device sockets: silence before the first probe, in seconds.");
ABSL_FLAG(uint32_t, keepalive_interval_s, 10, "TCP keepalive: seconds between probes.");
ABSL_FLAG(uint32_t, keepalive_probes, 6,
          "TCP keepalive: unanswered probes before the connection is dropped.");
ABSL_FLAG(uint32_t, read_budget_bytes, 256 * 1024,
          "Bytes one device connection may read per wakeup before yielding its thread to "
          "other connections.");
ABSL_FLAG(uint64_t, max_fix_age_s, 30ull * 24 * 3600,
          "Reject fixes older than this many seconds before the line was read (fix_too_old; "
          "0 = no limit).");
ABSL_FLAG(uint64_t, max_fix_lead_s, 900,
          "Reject fixes more than this many seconds after the line was read (fix_in_future; "
          "0 = no limit).");
ABSL_FLAG(uint32_t, max_subscribers, 1024,
          "Concurrent Subscribe streams; more get RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, journal_dir, "fixstream-journal",
          "Directory of the durable journal of published records (docs/JOURNAL.md), created if "
          "missing; relative paths are from the working directory. Empty disables the journal "
          "(sequences then restart at 1). The gateway locks it: two gateways cannot share one.");
ABSL_FLAG(std::string, journal_durability, "group",
          "When records become durable: group (fsync at most every --journal_group_commit_ms or "
          "1 MiB) or batch (fsync every published batch before it counts as durable).");
ABSL_FLAG(uint32_t, journal_group_commit_ms, 10, "Group commit: longest wait before an fsync.");
ABSL_FLAG(uint64_t, journal_segment_bytes, 64ull << 20, "Journal segment file size.");
ABSL_FLAG(uint64_t, journal_retention_bytes, 10ull << 30,
          "Journal size on disk; the oldest segments beyond it are deleted.");
ABSL_FLAG(uint32_t, journal_retention_hours, 168,
          "Journal segments whose newest record is older than this are deleted.");
ABSL_FLAG(std::string, log, "embedded",
          "Where records are numbered and kept: embedded (this gateway's ring over its "
          "--journal_dir; needs no server) or jetstream (a fleet's gateways share one NATS "
          "JetStream stream, one numbering for all; --nats_url; docs/FLEET.md). Under "
          "jetstream the local journal is not used (no outbox yet): while NATS is unreachable "
          "health is NOT_SERVING and device connections are paused, never dropped.");
ABSL_FLAG(std::string, nats_url, "nats://127.0.0.1:4222",
          "--log=jetstream: the NATS server(s), comma-separated nats://HOST:PORT URLs; it must "
          "be reachable at start, later losses are reconnected every 250 ms.");
ABSL_FLAG(std::string, nats_stream, "FIXSTREAM",
          "--log=jetstream: the JetStream stream of the fleet (created with file storage if "
          "missing); every gateway of a fleet names the same one.");
ABSL_FLAG(std::string, nats_subject, "fixstream.v1.fleet",
          "--log=jetstream: subject prefix; a gateway publishes to PREFIX.<--nats_gateway_id> and "
          "the stream takes PREFIX.>.");
ABSL_FLAG(std::string, nats_gateway_id, "",
          "--log=jetstream: names this gateway's messages (letters, digits, '-', '_'); empty: "
          "a random one per start.");
ABSL_FLAG(uint32_t, nats_replicas, 1,
          "--log=jetstream: replicas of the stream when this gateway creates it (1 to 5; 3 on a "
          "3-node cluster).");
ABSL_FLAG(std::string, log_level, "info", "Least severe log level: debug, info, warning, error.");

namespace fixstream::gateway {
namespace {

#ifndef FIXSTREAM_VERSION
#define FIXSTREAM_VERSION "unknown"
#endif
#ifndef FIXSTREAM_GIT_SHA
#define FIXSTREAM_GIT_SHA "unknown"
#endif
#ifndef FIXSTREAM_BUILD_TYPE
#define FIXSTREAM_BUILD_TYPE "unknown"
#endif
#ifndef FIXSTREAM_COMPILER
#define FIXSTREAM_COMPILER "unknown"
#endif

constexpr char kEnvironmentPrefix[] = "FIXSTREAM_";
// A config file's repeatable `listener = ENTRY`: one entry of --listeners.
constexpr absl::string_view kListenerSetting = "listener";

// Our flags are exactly those defined in this file: Abseil records each
// flag's defining file, so a new ABSL_FLAG above needs no list kept in step.
// Abseil reports the name normalized (a prefix of the path stripped), hence
// the suffix match.
bool IsOurFlagFile(absl::string_view file) {
  return absl::EndsWith(file, "gateway/server/config.cc") && absl::EndsWith(__FILE__, file);
}

absl::CommandLineFlag* OurFlag(absl::string_view name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr || !IsOurFlagFile(flag->Filename())) return nullptr;
  return flag;
}

std::string EnvironmentName(absl::string_view flag_name) {
  return absl::StrCat(kEnvironmentPrefix, absl::AsciiStrToUpper(flag_name));
}

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Sets `flag` from `setting`, or explains why the value does not parse.
absl::Status ParseInto(absl::CommandLineFlag& flag, const ConfigSetting& setting) {
  std::string error;
  if (flag.ParseFrom(setting.value, &error)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(setting.origin, ": bad value '", setting.value,
                                                 "' for setting ", setting.name, ": ", error));
}

// Applies `setting` unless the command line set the flag; the value must
// parse either way, so a broken file fails even where it is overridden.
absl::Status Apply(const ConfigSetting& setting,
                   const std::function<bool(std::string_view)>& on_command_line,
                   SettingOrigins& origins) {
  absl::CommandLineFlag* flag = OurFlag(setting.name);
  if (flag == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(setting.origin, ": unknown setting '",
                                                   setting.name,
                                                   "' (fixstream-gateway --help lists them)"));
  }
  if (on_command_line(setting.name)) {
    const std::string kept = flag->CurrentValue();
    if (absl::Status status = ParseInto(*flag, setting); !status.ok()) return status;
    std::string ignored;
    flag->ParseFrom(kept, &ignored);  // round-trips: it is the flag's own rendering
    return absl::OkStatus();
  }
  if (absl::Status status = ParseInto(*flag, setting); !status.ok()) return status;
  origins[setting.name] = setting.origin;
  return absl::OkStatus();
}

// Replaces a file's `listener = ENTRY` lines by one `listeners` setting
// (their entries joined by `;`, where the first of them was), checking each
// entry here so that an error names its own line.
absl::Status GatherListenerLines(std::vector<ConfigSetting>& settings, absl::string_view path) {
  std::vector<std::string> entries;
  std::vector<std::string> lines;
  size_t first = settings.size();
  bool has_list = false;
  for (size_t i = 0; i < settings.size(); ++i) {
    const ConfigSetting& setting = settings[i];
    // An empty `listeners =` (as in the example file) says nothing.
    if (setting.name == "listeners" && !setting.value.empty()) has_list = true;
    if (setting.name != kListenerSetting) continue;
    if (absl::StrContains(setting.value, ';')) {
      return absl::InvalidArgumentError(
          absl::StrCat(setting.origin, ": one listener per `listener =` line (no ';')"));
    }
    if (absl::StatusOr<ListenerOptions> listener = ParseListener(setting.value); !listener.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          setting.origin, ": bad listener '", setting.value, "': ", listener.status().message()));
    }
    if (first == settings.size()) first = i;
    entries.push_back(setting.value);
    lines.push_back(std::string(absl::StripPrefix(setting.origin, absl::StrCat(path, ":"))));
  }
  if (entries.empty()) return absl::OkStatus();
  if (has_list) {
    return absl::InvalidArgumentError(
        absl::StrCat(settings[first].origin,
                     ": `listener =` lines and a `listeners =` setting cannot be mixed"));
  }
  ConfigSetting list{"listeners", absl::StrJoin(entries, "; "),
                     absl::StrCat(path, ":", absl::StrJoin(lines, ","))};
  std::vector<ConfigSetting> rest;
  for (size_t i = 0; i < settings.size(); ++i) {
    if (i == first) rest.push_back(list);
    if (settings[i].name != kListenerSetting && settings[i].name != "listeners") {
      rest.push_back(std::move(settings[i]));
    }
  }
  settings = std::move(rest);
  return absl::OkStatus();
}

// " (set in /etc/fixstream.conf:3)" or "" for defaults and the command line.
std::string OriginSuffix(const SettingOrigins& origins, absl::string_view name) {
  auto it = origins.find(std::string(name));
  if (it == origins.end()) return "";
  return absl::StrCat(" (set in ", it->second, ")");
}

absl::Status Invalid(const SettingOrigins& origins, absl::string_view name, absl::string_view why) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return absl::InvalidArgumentError(absl::StrCat("--", name, "=",
                                                 flag != nullptr ? flag->CurrentValue() : "?", ": ",
                                                 why, OriginSuffix(origins, name)));
}

// For errors whose message already names the flag (ParseHostPort).
absl::Status WithOrigin(const absl::Status& status, const SettingOrigins& origins,
                        absl::string_view name) {
  return absl::Status(status.code(), absl::StrCat(status.message(), OriginSuffix(origins, name)));
}

absl::Status CheckListen(const SettingOrigins& origins, const char* name,
                         const std::string& value) {
  absl::StatusOr<HostPort> address = ParseHostPort(name, value);
  if (!address.ok()) return WithOrigin(address.status(), origins, name);
  return absl::OkStatus();
}

// --- OptionsFromFlags, one section per part of GatewayOptions. A section
// maps its flags, then runs its checks in order: the first that fails is the
// error. A new setting is a mapping line and a check line in its section.

// OK if `ok`, else `--name=value: why`.
absl::Status Check(bool ok, const SettingOrigins& origins, absl::string_view name,
                   absl::string_view why) {
  return ok ? absl::OkStatus() : Invalid(origins, name, why);
}

absl::Status AtLeast(const SettingOrigins& origins, absl::string_view name, uint64_t value,
                     uint64_t least) {
  if (value >= least) return absl::OkStatus();
  return Invalid(origins, name, absl::StrCat("must be at least ", least));
}

absl::Status FirstError(std::initializer_list<absl::Status> checks) {
  for (const absl::Status& status : checks) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Maps a flag with a fixed set of values (`choices`, name to value).
template <typename T>
absl::Status Choose(const SettingOrigins& origins, absl::string_view name, const std::string& value,
                    std::initializer_list<std::pair<absl::string_view, T>> choices,
                    absl::string_view why, T& out) {
  for (const auto& [choice, mapped] : choices) {
    if (value == choice) {
      out = mapped;
      return absl::OkStatus();
    }
  }
  return Invalid(origins, name, why);
}

// Checked before the conversion to nanoseconds, which could overflow.
absl::Status FixTimeWindowFromFlags(const SettingOrigins& origins, ingest::FixTimeWindow& window) {
  constexpr uint64_t kMaxWindowS = 100ull * 365 * 24 * 3600;  // keeps nanoseconds in int64
  const uint64_t max_age = absl::GetFlag(FLAGS_max_fix_age_s);
  const uint64_t max_lead = absl::GetFlag(FLAGS_max_fix_lead_s);
  if (absl::Status s = FirstError({
          Check(max_age <= kMaxWindowS, origins, "max_fix_age_s", "must be at most 100 years"),
          Check(max_lead <= kMaxWindowS, origins, "max_fix_lead_s", "must be at most 100 years"),
      });
      !s.ok()) {
    return s;
  }
  window.max_age_ns = static_cast<int64_t>(max_age) * 1'000'000'000;
  window.max_lead_ns = static_cast<int64_t>(max_lead) * 1'000'000'000;
  return absl::OkStatus();
}

// Device acknowledgements need a store that commits: the journal
// (embedded), or JetStream's acknowledgements.
bool AcksHaveCommits() {
  return absl::GetFlag(FLAGS_log) == "jetstream" || !absl::GetFlag(FLAGS_journal_dir).empty();
}

// A NATS name token: no separators, wildcards or whitespace.
bool IsNatsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// A subject prefix: dot-separated tokens.
bool IsNatsSubjectPrefix(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view token : absl::StrSplit(s, '.')) {
    if (!IsNatsToken(token)) return false;
  }
  return true;
}

absl::Status LogFromFlags(const SettingOrigins& origins, GatewayOptions& options) {
  if (absl::Status s =
          Choose<LogKind>(origins, "log", absl::GetFlag(FLAGS_log),
                          {{"embedded", LogKind::kEmbedded}, {"jetstream", LogKind::kJetStream}},
                          "must be embedded or jetstream", options.log);
      !s.ok()) {
    return s;
  }
  FleetLogOptions& fleet = options.fleet;
  fleet.url = absl::GetFlag(FLAGS_nats_url);
  fleet.stream = absl::GetFlag(FLAGS_nats_stream);
  fleet.subject_prefix = absl::GetFlag(FLAGS_nats_subject);
  fleet.gateway_id = absl::GetFlag(FLAGS_nats_gateway_id);
  fleet.replicas = static_cast<int>(absl::GetFlag(FLAGS_nats_replicas));
  const bool jetstream = options.log == LogKind::kJetStream;
  return FirstError({
      Check(!jetstream || JetStreamLogBuilt(), origins, "log",
            "this fixstream-gateway was built without libnats (apt-get install libnats-dev and "
            "build again); use --log=embedded"),
      Check(!fleet.url.empty(), origins, "nats_url", "must name a NATS server"),
      Check(IsNatsToken(fleet.stream), origins, "nats_stream",
            "must be a stream name: letters, digits, '-' and '_'"),
      Check(IsNatsSubjectPrefix(fleet.subject_prefix), origins, "nats_subject",
            "must be dot-separated tokens of letters, digits, '-' and '_' (no wildcards)"),
      Check(fleet.gateway_id.empty() || IsNatsToken(fleet.gateway_id), origins, "nats_gateway_id",
            "must be letters, digits, '-' and '_'"),
      Check(fleet.replicas >= 1 && fleet.replicas <= 5, origins, "nats_replicas", "must be 1 to 5"),
  });
}

// --listeners, or the legacy flags' listener (DeviceServerOptions::listen
// and friends, checked by DeviceFromFlags).
absl::Status ListenersFromFlags(const SettingOrigins& origins, DeviceServerOptions& device) {
  const std::string text = absl::GetFlag(FLAGS_listeners);
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<ListenerOptions>> listeners = ParseListenerList(text);
  if (!listeners.ok()) return Invalid(origins, "listeners", listeners.status().message());
  // Either the list or the legacy flags, so that no listener is opened that
  // the operator did not ask for.
  for (const char* legacy :
       {"device_listen", "device_ack_listen", "device_format", "device_tls_listen"}) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(legacy);
    if (flag->CurrentValue() != flag->DefaultValue()) {
      return Invalid(origins, "listeners",
                     absl::StrCat("cannot be combined with --", legacy, "=", flag->CurrentValue(),
                                  OriginSuffix(origins, legacy),
                                  "; write that listener as an entry of the list instead"));
    }
  }
  for (size_t i = 0; i < listeners->size(); ++i) {
    const ListenerOptions& listener = (*listeners)[i];
    if (listener.acks && !AcksHaveCommits()) {
      return Invalid(origins, "listeners",
                     absl::StrCat("listener ", i + 1, " (", listener.address,
                                  "): ack=on needs the journal (--journal_dir) or "
                                  "--log=jetstream: devices are only acknowledged what is "
                                  "committed"));
    }
  }
  device.listeners = *std::move(listeners);
  return absl::OkStatus();
}

absl::Status DeviceFromFlags(const SettingOrigins& origins, DeviceServerOptions& device) {
  if (absl::Status s = ListenersFromFlags(origins, device); !s.ok()) return s;
  device.listen = absl::GetFlag(FLAGS_device_listen);
  device.ack_listen = absl::GetFlag(FLAGS_device_ack_listen);
  device.io_threads = absl::GetFlag(FLAGS_io_threads);
  device.max_line_length = absl::GetFlag(FLAGS_max_line_length);
  const absl::Status format = Choose<std::optional<ingest::SourceFormat>>(
      origins, "device_format", absl::GetFlag(FLAGS_device_format),
      {{"auto", std::nullopt},
       {"csv", ingest::SourceFormat::kCsv},
       {"nmea", ingest::SourceFormat::kNmea},
       {"json", ingest::SourceFormat::kJson}},
      "must be one of auto, csv, nmea, json", device.pinned_format);
  device.max_connections = absl::GetFlag(FLAGS_max_connections);
  device.max_connections_per_source = absl::GetFlag(FLAGS_max_connections_per_source);
  device.idle_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_idle_timeout_ms));
  device.line_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_line_timeout_ms));
  device.keepalive_idle = absl::Seconds(absl::GetFlag(FLAGS_keepalive_idle_s));
  device.keepalive_interval = absl::Seconds(absl::GetFlag(FLAGS_keepalive_interval_s));
  device.keepalive_probes = static_cast<int>(absl::GetFlag(FLAGS_keepalive_probes));
  device.read_budget = absl::GetFlag(FLAGS_read_budget_bytes);
  device.devices_file = absl::GetFlag(FLAGS_devices_file);
  const std::string policy_text = absl::GetFlag(FLAGS_device_policy);
  absl::Status policy = absl::OkStatus();
  if (policy_text.empty()) {
    device.device_policy =
        device.devices_file.empty() ? DevicePolicy::kOpen : DevicePolicy::kRegistered;
  } else {
    policy =
        Choose<DevicePolicy>(origins, "device_policy", policy_text,
                             {{"open", DevicePolicy::kOpen},
                              {"registered", DevicePolicy::kRegistered},
                              {"authenticated", DevicePolicy::kAuthenticated}},
                             "must be open, registered or authenticated", device.device_policy);
    if (policy.ok() && device.device_policy != DevicePolicy::kOpen && device.devices_file.empty()) {
      policy = Invalid(origins, "device_policy",
                       absl::StrCat(ToAbsl(DevicePolicyName(device.device_policy)),
                                    " needs the device registry (--devices_file)"));
    }
  }
  device.auth_failures_per_minute = absl::GetFlag(FLAGS_device_auth_failures_per_minute);
  device.tls_listen = absl::GetFlag(FLAGS_device_tls_listen);
  device.tls_cert_file = absl::GetFlag(FLAGS_device_tls_cert);
  device.tls_key_file = absl::GetFlag(FLAGS_device_tls_key);
  device.tls_handshake_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_device_tls_handshake_timeout_ms));
  bool tls_listener = !device.tls_listen.empty();
  for (const ListenerOptions& listener : device.listeners) tls_listener |= listener.tls;
  const bool tls_files = !device.tls_cert_file.empty() || !device.tls_key_file.empty();
  const bool acks = !device.ack_listen.empty();
  return FirstError({
      !device.tls_listen.empty() ? CheckListen(origins, "device_tls_listen", device.tls_listen)
                                 : absl::OkStatus(),
      Check(device.tls_cert_file.empty() == device.tls_key_file.empty(), origins,
            device.tls_cert_file.empty() ? "device_tls_key" : "device_tls_cert",
            "needs --device_tls_cert and --device_tls_key both (or neither)"),
      Check(!tls_listener || tls_files, origins,
            device.tls_listen.empty() ? "listeners" : "device_tls_listen",
            "a TLS listener needs --device_tls_cert and --device_tls_key"),
      Check(tls_listener || !tls_files, origins,
            device.tls_cert_file.empty() ? "device_tls_key" : "device_tls_cert",
            "no device listener uses it: set --device_tls_listen, or tls=on on a --listeners "
            "entry"),
      CheckListen(origins, "device_listen", device.listen),
      acks ? CheckListen(origins, "device_ack_listen", device.ack_listen) : absl::OkStatus(),
      Check(!acks || AcksHaveCommits(), origins, "device_ack_listen",
            "needs the journal (--journal_dir) or --log=jetstream: devices are only acknowledged "
            "what is committed"),
      AtLeast(origins, "max_line_length", device.max_line_length, 16),
      format,
      AtLeast(origins, "max_connections", device.max_connections, 1),
      AtLeast(origins, "keepalive_idle_s", absl::GetFlag(FLAGS_keepalive_idle_s), 1),
      AtLeast(origins, "keepalive_interval_s", absl::GetFlag(FLAGS_keepalive_interval_s), 1),
      AtLeast(origins, "keepalive_probes", absl::GetFlag(FLAGS_keepalive_probes), 1),
      AtLeast(origins, "read_budget_bytes", device.read_budget, 4096),
      FixTimeWindowFromFlags(origins, device.fix_time_window),
      policy,
  });
}

// TLS, tokens and the plaintext rule of the gRPC server (grpc_security.h);
// the files themselves are checked when the gateway starts.
absl::Status GrpcSecurityFromFlags(const SettingOrigins& origins, GatewayOptions& options) {
  GrpcSecurityOptions& s = options.grpc_security;
  s.tls_cert_file = absl::GetFlag(FLAGS_grpc_tls_cert);
  s.tls_key_file = absl::GetFlag(FLAGS_grpc_tls_key);
  s.tls_client_ca_file = absl::GetFlag(FLAGS_grpc_tls_client_ca);
  s.tls_reload_interval_s = absl::GetFlag(FLAGS_grpc_tls_reload_s);
  s.tokens_file = absl::GetFlag(FLAGS_grpc_tokens_file);
  s.tokens_poll_interval = absl::Milliseconds(absl::GetFlag(FLAGS_grpc_tokens_poll_ms));
  s.allow_plaintext_remote = absl::GetFlag(FLAGS_grpc_allow_plaintext_remote);
  const std::string public_calls = absl::GetFlag(FLAGS_grpc_public_calls);
  absl::StatusOr<uint32_t> calls = ParseCallList(public_calls);
  if (!calls.ok()) return Invalid(origins, "grpc_public_calls", calls.status().message());
  s.public_calls = *calls;
  if (absl::Status st = FirstError({
          Check(s.tls_cert_file.empty() == s.tls_key_file.empty(), origins,
                s.tls_cert_file.empty() ? "grpc_tls_key" : "grpc_tls_cert",
                "needs --grpc_tls_cert and --grpc_tls_key both (or neither, for plaintext)"),
          Check(s.tls_client_ca_file.empty() || s.tls(), origins, "grpc_tls_client_ca",
                "needs TLS: set --grpc_tls_cert and --grpc_tls_key too"),
          AtLeast(origins, "grpc_tls_reload_s", s.tls_reload_interval_s, 1),
      });
      !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckPlaintextExposure(s, options.grpc_listen); !st.ok()) {
    return WithOrigin(st, origins, "grpc_listen");
  }
  return absl::OkStatus();
}

// The gRPC server and the metrics endpoint.
absl::Status EndpointsFromFlags(const SettingOrigins& origins, GatewayOptions& options) {
  options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  if (absl::Status s = CheckListen(origins, "grpc_listen", options.grpc_listen); !s.ok()) return s;
  if (absl::Status s = GrpcSecurityFromFlags(origins, options); !s.ok()) return s;
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (options.metrics_listen.empty()) return absl::OkStatus();  // disabled
  absl::StatusOr<HostPort> address = ParseHostPort("metrics_listen", options.metrics_listen);
  if (!address.ok()) return WithOrigin(address.status(), origins, "metrics_listen");
  // prometheus-cpp's HTTP server (civetweb) in Debian 12 has no IPv6.
  return Check(!absl::StrContains(address->host, ":"), origins, "metrics_listen",
               "must be an IPv4 address or host name");
}

absl::Status HubFromFlags(const SettingOrigins& origins, HubOptions& hub) {
  hub.max_records = absl::GetFlag(FLAGS_retention_records);
  hub.max_bytes = absl::GetFlag(FLAGS_retention_bytes);
  hub.prefault_ring = absl::GetFlag(FLAGS_retention_prefault);
  // On a thread of its own: the listeners do not wait for it.
  hub.prefault_in_background = true;
  hub.vehicles.dedup_window = absl::GetFlag(FLAGS_dedup_window);
  hub.vehicles.max_vehicles = absl::GetFlag(FLAGS_max_vehicles);
  return FirstError({
      AtLeast(origins, "retention_records", hub.max_records, 1),
      AtLeast(origins, "retention_bytes", hub.max_bytes, 64 << 10),
      Check(hub.vehicles.dedup_window <= 65536, origins, "dedup_window", "must be at most 65536"),
      AtLeast(origins, "max_vehicles", hub.vehicles.max_vehicles, 1),
  });
}

absl::Status SubscriptionFromFlags(const SettingOrigins& origins,
                                   SubscriptionOptions& subscription) {
  subscription.max_batch_records = absl::GetFlag(FLAGS_max_batch_records);
  subscription.max_batch_bytes = absl::GetFlag(FLAGS_max_batch_bytes);
  subscription.max_subscribers = absl::GetFlag(FLAGS_max_subscribers);
  return FirstError({
      AtLeast(origins, "max_batch_records", subscription.max_batch_records, 1),
      AtLeast(origins, "max_batch_bytes", subscription.max_batch_bytes, 1024),
      Choose<SlowSubscriberPolicy>(
          origins, "slow_subscriber_policy", absl::GetFlag(FLAGS_slow_subscriber_policy),
          {{"gap", SlowSubscriberPolicy::kGap}, {"end", SlowSubscriberPolicy::kEnd}},
          "must be gap or end", subscription.slow_policy),
      AtLeast(origins, "max_subscribers", subscription.max_subscribers, 1),
  });
}

absl::Status JournalFromFlags(const SettingOrigins& origins, JournalOptions& journal) {
  journal.directory = absl::GetFlag(FLAGS_journal_dir);
  journal.group_commit_interval = absl::Milliseconds(absl::GetFlag(FLAGS_journal_group_commit_ms));
  journal.segment_bytes = absl::GetFlag(FLAGS_journal_segment_bytes);
  journal.retention_bytes = absl::GetFlag(FLAGS_journal_retention_bytes);
  journal.retention_age = absl::Hours(absl::GetFlag(FLAGS_journal_retention_hours));
  return FirstError({
      Choose<DurabilityPolicy>(
          origins, "journal_durability", absl::GetFlag(FLAGS_journal_durability),
          {{"group", DurabilityPolicy::kGroupCommit}, {"batch", DurabilityPolicy::kPerBatch}},
          "must be group or batch", journal.durability),
      AtLeast(origins, "journal_group_commit_ms", absl::GetFlag(FLAGS_journal_group_commit_ms), 1),
      AtLeast(origins, "journal_segment_bytes", journal.segment_bytes, 1 << 20),
      // Retention keeps the sealed segment until the next one holds a durable
      // record: it must be able to hold both.
      Check(journal.retention_bytes >= 2 * journal.segment_bytes, origins,
            "journal_retention_bytes", "must be at least twice journal_segment_bytes"),
      AtLeast(origins, "journal_retention_hours", absl::GetFlag(FLAGS_journal_retention_hours), 1),
  });
}

}  // namespace

std::string VersionString() {
  return absl::StrCat("fixstream-gateway ", FIXSTREAM_VERSION, " (git ", FIXSTREAM_GIT_SHA, ", ",
                      FIXSTREAM_BUILD_TYPE, ", ", FIXSTREAM_COMPILER, ")");
}

void InitFlagsUsage() {
  absl::SetProgramUsageMessage(absl::StrCat(
      "vehicle locations in over TCP lines, out over gRPC.\n"
      "Usage: fixstream-gateway [--config=FILE] [--NAME=VALUE ...]\n"
      "Every setting below can also be given in the --config file as `NAME = VALUE`, or in\n"
      "the environment as ",
      kEnvironmentPrefix,
      "<NAME> (upper case, e.g. FIXSTREAM_GRPC_LISTEN). The command line wins\n"
      "over the environment, which wins over the file. Metrics: GET /metrics on\n"
      "--metrics_listen. See docs/OPERATIONS.md."));
  absl::FlagsUsageConfig usage;
  // --help and --helpshort list the gateway's settings; --helpfull adds
  // Abseil's own flags.
  usage.contains_helpshort_flags = IsOurFlagFile;
  usage.contains_help_flags = IsOurFlagFile;
  usage.version_string = [] { return VersionString() + "\n"; };
  // --help names our flags' file as it is in the source tree, not as the
  // compiler saw it (a path relative to, or inside, the build directory).
  usage.normalize_filename = [](absl::string_view file) {
    constexpr absl::string_view kOurs = "gateway/server/config.cc";
    return std::string(absl::EndsWith(file, kOurs) ? kOurs : file);
  };
  absl::SetFlagsUsageConfig(usage);
}

std::vector<std::string> SettingNames() {
  std::vector<std::string> names;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOurFlagFile(flag->Filename())) names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::vector<ConfigSetting>> ParseConfigText(std::string_view text,
                                                           std::string_view file_name) {
  std::vector<ConfigSetting> settings;
  absl::flat_hash_map<std::string, size_t> line_of;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    absl::string_view line = ToAbsl(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const std::string origin = absl::StrCat(ToAbsl(file_name), ":", line_number);
    // A comment starts at a '#' that begins the line or follows whitespace,
    // so values never need quoting.
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' &&
          (i == 0 || absl::ascii_isspace(static_cast<unsigned char>(line[i - 1])))) {
        line = line.substr(0, i);
        break;
      }
    }
    line = absl::StripAsciiWhitespace(line);  // also strips a CR of CRLF files
    if (line.empty()) continue;
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": expected `name = value`, got '", line, "'"));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, equals));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(equals + 1));
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": missing setting name before '='"));
    }
    if (absl::StartsWith(name, "-")) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": write settings without leading dashes, as `name = value`, got '", name, "'"));
    }
    auto [it, inserted] = line_of.emplace(std::string(name), line_number);
    // `listener` is the one setting that repeats: one line per listener.
    if (!inserted && name != kListenerSetting) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": setting ", name, " is already set on line ", it->second));
    }
    settings.push_back({std::string(name), std::string(value), origin});
  }
  return settings;
}

absl::StatusOr<SettingOrigins> ApplyConfigSources(
    const std::function<bool(std::string_view)>& on_command_line,
    const std::vector<std::string>& environment, std::vector<std::string>* warnings) {
  SettingOrigins origins;

  // FIXSTREAM_ variables, checked against our settings up front.
  std::vector<ConfigSetting> from_environment;
  const std::vector<std::string> names = SettingNames();
  for (const std::string& entry : environment) {
    if (!absl::StartsWith(entry, kEnvironmentPrefix)) continue;
    const size_t equals = entry.find('=');
    if (equals == std::string::npos) continue;
    const std::string variable = entry.substr(0, equals);
    std::string name = absl::AsciiStrToLower(variable.substr(sizeof(kEnvironmentPrefix) - 1));
    // Only the exact upper-case spelling counts, so FIXSTREAM_Grpc_Listen is
    // not mistaken for a setting.
    if (!std::binary_search(names.begin(), names.end(), name) ||
        EnvironmentName(name) != variable) {
      warnings->push_back(absl::StrCat("ignoring environment variable ", variable,
                                       ": it names no setting (fixstream-gateway --help)"));
      continue;
    }
    from_environment.push_back(
        {std::move(name), entry.substr(equals + 1), absl::StrCat("environment ", variable)});
  }

  // The file named on the command line, else in the environment.
  std::string path = absl::GetFlag(FLAGS_config);
  if (!on_command_line("config")) {
    for (const ConfigSetting& setting : from_environment) {
      if (setting.name == "config") {
        path = setting.value;
        origins["config"] = setting.origin;
      }
    }
  }
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) {
      return absl::InvalidArgumentError(absl::StrCat("--config=", path, ": cannot read the file",
                                                     OriginSuffix(origins, "config")));
    }
    std::stringstream text;
    text << file.rdbuf();
    absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfigText(text.str(), path);
    if (!settings.ok()) return settings.status();
    if (absl::Status status = GatherListenerLines(*settings, path); !status.ok()) return status;
    for (const ConfigSetting& setting : *settings) {
      if (setting.name == "config") {
        return absl::InvalidArgumentError(
            absl::StrCat(setting.origin, ": a config file cannot name another config file"));
      }
      if (absl::Status status = Apply(setting, on_command_line, origins); !status.ok()) {
        return status;
      }
    }
  }

  for (const ConfigSetting& setting : from_environment) {
    if (absl::Status status = Apply(setting, on_command_line, origins); !status.ok()) {
      return status;
    }
  }
  return origins;
}

absl::StatusOr<LogLevel> LogLevelFromFlags(const SettingOrigins& origins) {
  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return Invalid(origins, "log_level", "must be one of debug, info, warning, error");
  }
  return level;
}

absl::StatusOr<GatewayOptions> OptionsFromFlags(const SettingOrigins& origins) {
  GatewayOptions options;
  if (absl::StatusOr<LogLevel> level = LogLevelFromFlags(origins); !level.ok()) {
    return level.status();
  }
  for (const absl::Status& section : {
           DeviceFromFlags(origins, options.device),
           EndpointsFromFlags(origins, options),
           HubFromFlags(origins, options.hub),
           SubscriptionFromFlags(origins, options.subscription),
           JournalFromFlags(origins, options.journal),
           LogFromFlags(origins, options),
       }) {
    if (!section.ok()) return section;
  }
  options.subscriber_drain_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms));
  options.device_drain_grace = absl::Milliseconds(absl::GetFlag(FLAGS_drain_grace_ms));
  return options;
}

std::string EffectiveConfiguration() {
  std::vector<std::string> parts;
  for (const std::string& name : SettingNames()) {
    parts.push_back(absl::StrCat(name, "=", absl::FindCommandLineFlag(name)->CurrentValue()));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace fixstream::gateway
