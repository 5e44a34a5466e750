// fixstream-subscribe: subscribes to a gateway's LocationService and prints
// every record as one line on stdout: proto3 JSON, CSV, or a GeoJSON Feature.
// On exit it prints the last sequence received on stderr, so a script can
// resume with --from=<that + 1>.
//
// SIGINT and SIGTERM are blocked in every thread and taken by one thread in
// sigwait(), which cancels the call; the main thread then sees the stream end
// with CANCELLED and exits cleanly. A signal handler could not do that safely
// (TryCancel is not async-signal-safe), and gRPC's own threads, which inherit
// the mask, never see the signals.

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/command_line.h"
#include "clients/grpc_channel.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "fixstream/v1/location.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Gateway gRPC address, host:port.");
ABSL_FLAG(std::vector<std::string>, vehicle_ids, {},
          "Only records of these vehicles, comma-separated (e.g. sim-0,sim-1); empty: all.");
ABSL_FLAG(int64_t, max_records, 0, "Exit after printing this many records; 0: no limit.");
ABSL_FLAG(std::string, from, "now",
          "Where the stream starts: now (records published from now on), oldest (the oldest "
          "the gateway retains), or a sequence number (to resume: the last one received + 1).");
ABSL_FLAG(std::string, bbox, "",
          "Only records inside this box: minlat,minlon,maxlat,maxlon in degrees, edges "
          "included; empty: anywhere.");
ABSL_FLAG(std::string, format, "json",
          "Output lines: json (proto3 JSON, proto field names), csv (a header line, then one "
          "line per record), or geojson (one GeoJSON Feature per line, a Point at "
          "[longitude, latitude], the record's fields as properties).");

namespace fixstream::clients {
namespace {

constexpr std::string_view kProgram = "fixstream-subscribe";
constexpr char kUsage[] =
    R"(prints the records of a fixstream gateway as JSON, CSV or GeoJSON lines.

Calls fixstream.v1.LocationService/Subscribe and writes each record as one line
on stdout (--format: proto3 JSON with proto field names, CSV, or GeoJSON
Features), flushed after every response. Runs until the stream ends,
--max_records records were printed, or SIGINT / SIGTERM; all of these exit 0.
A failed call prints its status to stderr and exits 1; bad flags exit 2. On
exit, `fixstream-subscribe: last_sequence=N` on stderr names the last record
received (0: none), so a script can resume with --from=N+1.

Examples:
  fixstream-subscribe
  fixstream-subscribe --target=gateway:50051 --vehicle_ids=sim-0,sim-1 --max_records=10
  fixstream-subscribe --from=oldest --bbox=52.3,13.0,52.7,13.8 --format=geojson)";

// The gateway batches under load; do not let gRPC's default 4 MiB receive
// limit turn a large batch into RESOURCE_EXHAUSTED.
constexpr int kMaxResponseBytes = 64 * 1024 * 1024;

// Ends the waiting thread; never sent from outside the process.
constexpr int kWakeSignal = SIGUSR1;

std::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

enum class Format { kJson, kCsv, kGeoJson };

constexpr char kCsvHeader[] =
    "sequence,vehicle_id,fix_time,receive_time,latitude,longitude,speed_mps,heading_deg,"
    "altitude_m,accuracy_m,satellites,hdop,source_format,connection_id,late,fix_quality\n";

// The shortest text that reads back as `value` (absl::StrCat keeps only six
// significant digits, too few for a coordinate).
std::string Number(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ",
                          absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()),
                          absl::UTCTimeZone());
}

// One CSV line of `record` (absent optional fields empty; vehicle ids need
// no quoting: [A-Za-z0-9._:-] only).
void AppendCsv(const v1::LocationRecord& r, std::string* out) {
  auto optional = [](bool has, double value) { return has ? Number(value) : std::string(); };
  absl::StrAppend(out, r.sequence(), ",", r.vehicle_id(), ",", Rfc3339(r.fix_time()), ",",
                  Rfc3339(r.receive_time()), ",", Number(r.latitude()), ",", Number(r.longitude()),
                  ",", optional(r.has_speed_mps(), r.speed_mps()), ",",
                  optional(r.has_heading_deg(), r.heading_deg()), ",",
                  optional(r.has_altitude_m(), r.altitude_m()), ",",
                  optional(r.has_accuracy_m(), r.accuracy_m()), ",",
                  r.has_satellites() ? absl::StrCat(r.satellites()) : "", ",",
                  optional(r.has_hdop(), r.hdop()), ",", v1::SourceFormat_Name(r.source_format()),
                  ",", r.connection_id(), ",", r.late() ? "true" : "false", ",",
                  r.has_fix_quality() ? v1::FixQuality_Name(r.fix_quality()) : "", "\n");
}

// Parses --from into `request`; false if it is none of now, oldest, N >= 1.
bool ApplyFrom(const std::string& from, v1::SubscribeRequest* request) {
  if (from == "now") return true;
  if (from == "oldest") {
    request->set_start_oldest(true);
    return true;
  }
  uint64_t sequence = 0;
  if (!absl::SimpleAtoi(from, &sequence) || sequence == 0) return false;
  request->set_start_sequence(sequence);
  return true;
}

// Parses --bbox into `request`; the gateway checks the ranges and order.
bool ApplyBoundingBox(const std::string& bbox, v1::SubscribeRequest* request) {
  if (bbox.empty()) return true;
  const std::vector<std::string> parts = absl::StrSplit(bbox, ',');
  double edges[4];
  if (parts.size() != 4) return false;
  for (size_t i = 0; i < 4; ++i) {
    if (!absl::SimpleAtod(parts[i], &edges[i])) return false;
  }
  v1::BoundingBox* box = request->mutable_bounding_box();
  box->set_min_latitude(edges[0]);
  box->set_min_longitude(edges[1]);
  box->set_max_latitude(edges[2]);
  box->set_max_longitude(edges[3]);
  return true;
}

sigset_t HandledSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, kWakeSignal);
  return signals;
}

// Cancels a call when SIGINT or SIGTERM arrives.
//
// Precondition: HandledSignals() are blocked in every thread of the process,
// i.e. blocked in main before any other thread (gRPC's included) starts.
// `context` must outlive the SignalCanceller.
class SignalCanceller final {
 public:
  explicit SignalCanceller(grpc::ClientContext* context)
      : context_(context), thread_([this] { WaitForSignal(); }) {}
  // Stops waiting for signals and joins the thread.
  ~SignalCanceller() {
    stopping_.store(true);
    pthread_kill(thread_.native_handle(), kWakeSignal);
    thread_.join();
  }
  SignalCanceller(const SignalCanceller&) = delete;
  SignalCanceller& operator=(const SignalCanceller&) = delete;

  // True once a signal cancelled the call.
  bool cancelled() const { return cancelled_.load(); }

 private:
  void WaitForSignal() {
    const sigset_t signals = HandledSignals();
    for (;;) {
      int signal = 0;
      if (sigwait(&signals, &signal) != 0) continue;
      if (signal == kWakeSignal) {
        // Anyone else's SIGUSR1 must not end the wait, or a later Ctrl-C
        // would be blocked with no one to take it.
        if (stopping_.load()) return;
        continue;
      }
      cancelled_.store(true);
      context_->TryCancel();
      return;
    }
  }

  grpc::ClientContext* const context_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelled_{false};
  std::thread thread_;  // last: starts after the members it reads
};

int Run() {
  const int64_t max_records = absl::GetFlag(FLAGS_max_records);
  if (max_records < 0) {
    absl::FPrintF(stderr, "%s: --max_records must not be negative\n", kProgram);
    return 2;
  }
  v1::SubscribeRequest request;
  if (!ApplyFrom(absl::GetFlag(FLAGS_from), &request)) {
    absl::FPrintF(stderr, "%s: --from must be now, oldest or a sequence number >= 1\n", kProgram);
    return 2;
  }
  if (!ApplyBoundingBox(absl::GetFlag(FLAGS_bbox), &request)) {
    absl::FPrintF(stderr, "%s: --bbox must be minlat,minlon,maxlat,maxlon (four numbers)\n",
                  kProgram);
    return 2;
  }
  Format format;
  const std::string format_name = absl::GetFlag(FLAGS_format);
  if (format_name == "json") {
    format = Format::kJson;
  } else if (format_name == "csv") {
    format = Format::kCsv;
  } else if (format_name == "geojson") {
    format = Format::kGeoJson;
  } else {
    absl::FPrintF(stderr, "%s: --format must be json, csv or geojson\n", kProgram);
    return 2;
  }

  absl::StatusOr<clients::GatewayAccess> access = clients::GatewayAccessFromFlags();
  if (!access.ok()) {
    absl::FPrintF(stderr, "%s: %s\n", kProgram, std::string(access.status().message()));
    return 2;
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  const std::shared_ptr<grpc::Channel> channel =
      access->Channel(absl::GetFlag(FLAGS_target), channel_args);
  const std::unique_ptr<v1::LocationService::Stub> stub = v1::LocationService::NewStub(channel);

  // The gateway validates the ids and names the bad one in INVALID_ARGUMENT;
  // checking here too would only duplicate its rules.
  for (const std::string& id : absl::GetFlag(FLAGS_vehicle_ids)) request.add_vehicle_ids(id);

  grpc::ClientContext context;
  access->Authorize(&context);
  SignalCanceller canceller(&context);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      stub->Subscribe(&context, request);

  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = true;
  v1::SubscribeResponse response;
  // One response's lines: one write and one flush per response.
  std::string batch;
  if (format == Format::kCsv) {
    std::fputs(kCsvHeader, stdout);
    std::fflush(stdout);
  }
  std::string json;
  int64_t records = 0;
  uint64_t last_sequence = 0;
  bool stopped = false;  // we end the call: limit reached or output failed
  int exit_code = 0;
  while (!stopped && reader->Read(&response)) {
    for (const v1::LocationRecord& record : response.records()) {
      last_sequence = record.sequence();
      if (format == Format::kCsv) {
        AppendCsv(record, &batch);
      } else {
        json.clear();
        const auto status =
            google::protobuf::util::MessageToJsonString(record, &json, json_options);
        if (!status.ok()) {
          absl::FPrintF(stderr, "%s: converting record %d to JSON: %s\n", kProgram,
                        record.sequence(), status.ToString());
          stopped = true;
          exit_code = 1;
          break;
        }
        if (format == Format::kGeoJson) {
          // RFC 7946: [longitude, latitude]; the record's JSON as properties.
          absl::StrAppend(&batch, R"({"type":"Feature","geometry":{"type":"Point","coordinates":[)",
                          Number(record.longitude()), ",", Number(record.latitude()),
                          R"(]},"properties":)", json, "}");
        } else {
          batch.append(json);
        }
        batch.push_back('\n');
      }
      if (max_records > 0 && ++records == max_records) {
        stopped = true;
        break;
      }
    }
    if (std::fwrite(batch.data(), 1, batch.size(), stdout) != batch.size() ||
        std::fflush(stdout) != 0) {
      absl::FPrintF(stderr, "%s: writing stdout: %s\n", kProgram, std::strerror(errno));
      stopped = true;
      exit_code = 1;
    }
    batch.clear();
  }
  if (stopped) {
    // Finish() expects the stream read to its end; after TryCancel the
    // remaining Read()s return false at once.
    context.TryCancel();
    while (reader->Read(&response)) {
    }
  }
  const grpc::Status status = reader->Finish();
  // Whatever ended the stream: where to resume from.
  absl::FPrintF(stderr, "%s: last_sequence=%d\n", kProgram, last_sequence);
  if (status.ok()) return exit_code;  // the gateway ended the stream (drain)
  if (status.error_code() == grpc::StatusCode::CANCELLED && (stopped || canceller.cancelled())) {
    return exit_code;  // our own cancel
  }
  absl::FPrintF(stderr, "%s: %s: %s\n", kProgram, StatusCodeName(status.error_code()),
                status.error_message());
  return 1;
}

}  // namespace
}  // namespace fixstream::clients

int main(int argc, char** argv) {
  // Block before any thread exists, so that every thread inherits the mask
  // and only the SignalCanceller's sigwait() takes these signals.
  const sigset_t signals = fixstream::clients::HandledSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!fixstream::clients::ParseClientCommandLine(argc, argv, fixstream::clients::kProgram,
                                                  fixstream::clients::kUsage,
                                                  "clients/subscribe.cc")) {
    return 2;
  }
  return fixstream::clients::Run();
}
