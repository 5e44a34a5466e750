// fixstream-gateway: read the configuration, build the gateway, wait for a
// signal, drain.
#include <grpc/grpc.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/internal/parse.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gateway/common/log.h"
#include "gateway/server/config.h"
#include "gateway/server/gateway.h"

extern char** environ;

namespace fixstream::gateway {
namespace {

// Configuration errors exit 2 without starting anything.
int Fail(absl::string_view message) {
  std::fprintf(stderr, "fixstream-gateway: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return 2;
}

int Run(const std::vector<char*>& positional) {
  if (positional.size() > 1) {
    return Fail(absl::StrCat("unexpected argument '", positional[1],
                             "' (settings are --name=value; see --help)"));
  }
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
  std::vector<std::string> warnings;
  // Abseil 20220623 exposes "was this flag on the command line (or in a
  // --flagfile)" only in flags_internal; it is exactly the question the
  // precedence rule asks, so it is used rather than re-parsing argv.
  absl::StatusOr<SettingOrigins> origins = ApplyConfigSources(
      [](std::string_view name) {
        return absl::flags_internal::WasPresentOnCommandLine(
            absl::string_view(name.data(), name.size()));
      },
      environment, &warnings);
  if (!origins.ok()) return Fail(origins.status().message());
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags(*origins);
  if (!options.ok()) return Fail(options.status().message());
  SetLogLevel(*LogLevelFromFlags(*origins));
  for (const std::string& warning : warnings) LogWarning(warning);
  LogInfo(absl::StrCat(VersionString(), " starting: ", EffectiveConfiguration()));

  // Block the stop signals and SIGHUP in every thread (threads inherit the
  // mask) and wait for them synchronously here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // One reference to the gRPC library for the whole process, never
  // released: destroying the gateway's grpc::Server then does not run
  // grpc_shutdown(), which waits up to 10 s for transports a client has not
  // closed yet (seen after every other SIGTERM of bench/crash-soak.sh,
  // after the drain had finished); main() exits without it. After the mask:
  // gRPC's threads start here and inherit it.
  grpc_init();

  Gateway gateway(*options);
  if (absl::Status status = gateway.Start(); !status.ok()) return Fail(status.message());
  // Health is SERVING now: tell systemd (Type=notify; a no-op without
  // $NOTIFY_SOCKET).
  sd_notify(0, "READY=1");
  // One line per device listener, then the summary that scripts read
  // (device_port= is the first listener's, device_ack_port= the first
  // acknowledging one's, device_ports= all of them in order).
  const std::vector<ListenerOptions>& listeners = gateway.device_listeners();
  const std::vector<uint16_t>& ports = gateway.device_ports();
  const ListenerOptions* ack_listener = nullptr;
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (listeners[i].acks && ack_listener == nullptr) ack_listener = &listeners[i];
    LogInfo(absl::StrCat("device listener ", i + 1, "/", listeners.size(), ": ",
                         listeners[i].address, " port=", ports[i], " ",
                         DescribeListener(listeners[i]).substr(listeners[i].address.size() + 1)));
  }
  LogInfo(absl::StrCat("fixstream-gateway listening: device=", listeners.front().address,
                       " device_port=", gateway.device_port(),
                       ack_listener == nullptr
                           ? std::string()
                           : absl::StrCat(" device_ack=", ack_listener->address,
                                          " device_ack_port=", gateway.device_ack_port()),
                       " device_ports=", absl::StrJoin(ports, ","), " grpc=", options->grpc_listen,
                       " grpc_port=", gateway.grpc_port(), " metrics=", options->metrics_listen,
                       " metrics_port=", gateway.metrics_port()));

  int signal_number = 0;
  // SIGHUP: read the tokens file and the devices file again (both are also
  // polled for changes).
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    LogInfo("received SIGHUP: reloading the tokens file and the devices file");
    gateway.ReloadTokens();
    gateway.ReloadDevices();
  }
  // Only the stop signals are unblocked below: a SIGHUP during the drain
  // stays pending rather than ending the process.
  sigdelset(&signals, SIGHUP);
  LogInfo(absl::StrCat("received ", signal_number == SIGINT ? "SIGINT" : "SIGTERM", ": draining"));
  sd_notify(0, "STOPPING=1");
  // A second signal exits at once.
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  gateway.Shutdown();
  const IngestCounters& c = gateway.ingest_counters();
  uint64_t rejected = 0;
  for (size_t i = 0; i < ingest::kLineOutcomeCount; ++i) {
    if (ingest::IsRejection(static_cast<ingest::LineOutcome>(i))) rejected += c.lines[i].load();
  }
  // The final accounting, so that a drain can be checked against what was sent.
  LogInfo(absl::StrCat("stopped: connections=", c.connections_accepted.load(),
                       " bytes_read=", c.bytes_read.load(), " bytes_framed=", c.bytes_framed.load(),
                       " bytes_discarded=", c.bytes_discarded.load(), " lines_rejected=", rejected,
                       " records_published=", c.records_published.load(),
                       " records_duplicate=", c.records_duplicate.load(),
                       " records_dropped_at_shutdown=", c.records_dropped_at_shutdown.load()));
  return 0;
}

}  // namespace
}  // namespace fixstream::gateway

// Present when built with AddressSanitizer / LeakSanitizer.
extern "C" __attribute__((weak)) void __lsan_do_leak_check();

int main(int argc, char** argv) {
  // Debian's Abseil is built with mutex deadlock detection on (no NDEBUG):
  // a lock-order graph update on every lock, ~3 % of the CPU at rest. The
  // test binaries keep it on; the gateway does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  fixstream::gateway::InitFlagsUsage();
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  const int code = fixstream::gateway::Run(positional);
  // libnats's threads and memory (--log=jetstream): its connection is
  // closed with the Gateway; the library itself is released here, as the C
  // client asks of a program before it exits (before the leak check).
  fixstream::gateway::ReleaseNatsLibrary();
  // Everything of ours is stopped, flushed and closed by now (Run's Gateway
  // is destroyed). gRPC's own teardown (grpc_shutdown joining its executor
  // threads, waiting for transports) was seen to take ~10 s after the drain
  // (gRPC 1.51, bench/crash-soak.sh): systemd would wait with it. So exit
  // here, after the leak check a sanitizer build would run at exit.
  if (__lsan_do_leak_check != nullptr) __lsan_do_leak_check();
  std::fflush(nullptr);
  std::_Exit(code);
}
