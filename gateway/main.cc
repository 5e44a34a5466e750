// fixstream-gateway: parse flags, build the gateway, wait for a signal, drain.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "gateway/gateway.h"
#include "gateway/log.h"

ABSL_FLAG(std::string, device_listen, "0.0.0.0:7878",
          "HOST:PORT where vehicles connect over TCP (port 0: pick a free port).");
ABSL_FLAG(std::string, grpc_listen, "0.0.0.0:50051",
          "HOST:PORT of the gRPC server (LocationService, health, reflection).");
ABSL_FLAG(uint32_t, io_threads, 0, "Threads serving device connections; 0 = one per core.");
ABSL_FLAG(uint32_t, max_line_length, 4096,
          "Longest accepted line in bytes; longer lines are discarded up to their newline and "
          "counted as too_long.");
ABSL_FLAG(std::string, device_format, "auto",
          "Line format of the device listener: auto (detect per line: '$' NMEA, '{' JSON, else "
          "CSV), csv, nmea or json (other formats are then rejected as wrong_format).");
ABSL_FLAG(uint64_t, retention_records, 1 << 20,
          "Records kept in memory for subscribers; the oldest are evicted first.");
ABSL_FLAG(uint64_t, retention_bytes, 256ull << 20,
          "Encoded bytes kept in memory for subscribers (at least 64 KiB).");
ABSL_FLAG(uint32_t, max_batch_records, 4096, "Most records in one Subscribe response.");
ABSL_FLAG(uint32_t, max_batch_bytes, 1 << 20, "Most encoded bytes in one Subscribe response.");
ABSL_FLAG(std::string, slow_subscriber_policy, "gap",
          "What a subscriber gets when its next record left retention mid-stream: gap (a Gap "
          "notice naming the lost sequence range, then it continues at the oldest retained "
          "record) or end (the stream ends with RESOURCE_EXHAUSTED).");
ABSL_FLAG(uint32_t, dedup_window, 64,
          "Newest fix times remembered per vehicle; a record repeating one of them (same vehicle "
          "and fix time) is a duplicate: counted, not published. 0 disables duplicate detection.");
ABSL_FLAG(uint64_t, max_vehicles, 100000,
          "Vehicles tracked for duplicates, late marking and latest positions; beyond this the "
          "least recently seen vehicle is forgotten.");
ABSL_FLAG(uint32_t, drain_timeout_ms, 5000,
          "On SIGTERM/SIGINT, how long subscribers get to receive the last records.");
ABSL_FLAG(std::string, log_level, "info", "Least severe log level: debug, info, warning, error.");

namespace fixstream::gateway {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "fixstream-gateway: %s\n", message.c_str());
  return 2;
}

int Run() {
  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return Fail("--log_level must be one of debug, info, warning, error");
  }
  SetLogLevel(level);

  GatewayOptions options;
  options.device.listen = absl::GetFlag(FLAGS_device_listen);
  options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  options.device.io_threads = absl::GetFlag(FLAGS_io_threads);
  options.device.max_line_length = absl::GetFlag(FLAGS_max_line_length);
  if (options.device.max_line_length < 16) return Fail("--max_line_length must be at least 16");
  const std::string format = absl::GetFlag(FLAGS_device_format);
  if (format == "csv") {
    options.device.pinned_format = ingest::SourceFormat::kCsv;
  } else if (format == "nmea") {
    options.device.pinned_format = ingest::SourceFormat::kNmea;
  } else if (format == "json") {
    options.device.pinned_format = ingest::SourceFormat::kJson;
  } else if (format != "auto") {
    return Fail("--device_format must be one of auto, csv, nmea, json");
  }
  options.hub.max_records = absl::GetFlag(FLAGS_retention_records);
  options.hub.max_bytes = absl::GetFlag(FLAGS_retention_bytes);
  if (options.hub.max_records < 1) return Fail("--retention_records must be at least 1");
  if (options.hub.max_bytes < (64 << 10)) return Fail("--retention_bytes must be at least 65536");
  options.subscription.max_batch_records = absl::GetFlag(FLAGS_max_batch_records);
  options.subscription.max_batch_bytes = absl::GetFlag(FLAGS_max_batch_bytes);
  if (options.subscription.max_batch_records < 1) {
    return Fail("--max_batch_records must be at least 1");
  }
  if (options.subscription.max_batch_bytes < 1024) {
    return Fail("--max_batch_bytes must be at least 1024");
  }
  const std::string policy = absl::GetFlag(FLAGS_slow_subscriber_policy);
  if (policy == "gap") {
    options.subscription.slow_policy = SlowSubscriberPolicy::kGap;
  } else if (policy == "end") {
    options.subscription.slow_policy = SlowSubscriberPolicy::kEnd;
  } else {
    return Fail("--slow_subscriber_policy must be gap or end");
  }
  options.hub.vehicles.dedup_window = absl::GetFlag(FLAGS_dedup_window);
  if (options.hub.vehicles.dedup_window > 65536) {
    return Fail("--dedup_window must be at most 65536");
  }
  options.hub.vehicles.max_vehicles = absl::GetFlag(FLAGS_max_vehicles);
  if (options.hub.vehicles.max_vehicles < 1) return Fail("--max_vehicles must be at least 1");
  options.subscriber_drain_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms));

  // Block the stop signals in every thread (threads inherit the mask) and
  // wait for them synchronously here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Gateway gateway(options);
  if (absl::Status status = gateway.Start(); !status.ok()) {
    return Fail(std::string(status.message()));
  }
  LogInfo(absl::StrCat("fixstream-gateway listening: device=", options.device.listen,
                       " device_port=", gateway.device_port(), " grpc=", options.grpc_listen,
                       " grpc_port=", gateway.grpc_port()));

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogInfo(absl::StrCat("received ", signal_number == SIGINT ? "SIGINT" : "SIGTERM", ": draining"));
  // A second signal exits at once.
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  gateway.Shutdown();
  const IngestCounters& c = gateway.ingest_counters();
  LogInfo(absl::StrCat("stopped: connections=", c.connections_accepted.load(), " bytes_read=",
                       c.bytes_read.load(), " records_published=", c.records_published.load()));
  return 0;
}

}  // namespace
}  // namespace fixstream::gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "fixstream-gateway: vehicle locations in over TCP lines, out over gRPC.\n"
      "Usage: fixstream-gateway [--device_listen=HOST:PORT] [--grpc_listen=HOST:PORT] ...");
  absl::ParseCommandLine(argc, argv);
  return fixstream::gateway::Run();
}
