// fixstream-subscribe: subscribes to a gateway's LocationService and prints
// every record as one JSON line on stdout.
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
#include "absl/strings/str_format.h"
#include "clients/command_line.h"
#include "fixstream/v1/location.grpc.pb.h"
#include "fixstream/v1/location.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Gateway gRPC address, host:port.");
ABSL_FLAG(std::vector<std::string>, vehicle_ids, {},
          "Only records of these vehicles, comma-separated (e.g. sim-0,sim-1); empty: all.");
ABSL_FLAG(int64_t, max_records, 0, "Exit after printing this many records; 0: no limit.");

namespace fixstream::clients {
namespace {

constexpr std::string_view kProgram = "fixstream-subscribe";
constexpr char kUsage[] =
    R"(prints the records of a fixstream gateway as JSON lines.

Calls fixstream.v1.LocationService/Subscribe and writes each record as one line
of proto3 JSON (proto field names) on stdout, flushed after every response.
Runs until the stream ends, --max_records records were printed, or SIGINT /
SIGTERM; all of these exit 0. A failed call prints its status to stderr and
exits 1; bad flags exit 2.

Examples:
  fixstream-subscribe
  fixstream-subscribe --target=gateway:50051 --vehicle_ids=sim-0,sim-1 --max_records=10)";

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

  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials(), channel_args);
  const std::unique_ptr<v1::LocationService::Stub> stub = v1::LocationService::NewStub(channel);

  v1::SubscribeRequest request;
  // The gateway validates the ids and names the bad one in INVALID_ARGUMENT;
  // checking here too would only duplicate its rules.
  for (const std::string& id : absl::GetFlag(FLAGS_vehicle_ids)) request.add_vehicle_ids(id);

  grpc::ClientContext context;
  SignalCanceller canceller(&context);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      stub->Subscribe(&context, request);

  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = true;
  v1::SubscribeResponse response;
  std::string batch;  // one response's lines: one write and one flush per response
  std::string json;
  int64_t records = 0;
  bool stopped = false;  // we end the call: limit reached or output failed
  int exit_code = 0;
  while (!stopped && reader->Read(&response)) {
    batch.clear();
    for (const v1::LocationRecord& record : response.records()) {
      json.clear();
      const auto status = google::protobuf::util::MessageToJsonString(record, &json, json_options);
      if (!status.ok()) {
        absl::FPrintF(stderr, "%s: converting record %d to JSON: %s\n", kProgram, record.sequence(),
                      status.ToString());
        stopped = true;
        exit_code = 1;
        break;
      }
      batch.append(json);
      batch.push_back('\n');
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
  }
  if (stopped) {
    // Finish() expects the stream read to its end; after TryCancel the
    // remaining Read()s return false at once.
    context.TryCancel();
    while (reader->Read(&response)) {
    }
  }
  const grpc::Status status = reader->Finish();
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
