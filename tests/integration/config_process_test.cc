// The real fixstream-gateway binary as an operator configures it: --version,
// the config file, FIXSTREAM_* environment overrides, their precedence, the
// effective-configuration log line, and the metrics endpoint. Bad
// configuration must exit non-zero without starting, naming the setting.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/test_lines.h"
#include "tests/integration/test_process.h"
#include "tests/integration/test_socket.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

// The gateway binary with `args`, run in a fresh working directory (where
// the default relative journal directory lands), with the test's
// environment minus FIXSTREAM_* (so the host cannot leak settings in) plus
// `extra_env`.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env)
      : env_(Environment(extra_env)), process_(Argv(args), &env_, work_dir_.path()) {}

  const std::string& work_dir() const { return work_dir_.path(); }
  bool WaitForOutput(const std::regex& pattern, std::smatch* match) {
    return process_.WaitForOutput(pattern, match);
  }
  int Wait(int signal = 0) { return process_.Wait(signal); }
  const std::string& output() const { return process_.output(); }

 private:
  static std::vector<std::string> Argv(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {FIXSTREAM_GATEWAY_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  static std::vector<std::string> Environment(const std::vector<std::string>& extra_env) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (!absl::StartsWith(*e, "FIXSTREAM_")) env.emplace_back(*e);
    }
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    return env;
  }

  // Before process_: the directory outlives the process.
  testing::TempDir work_dir_{"config-process"};
  const std::vector<std::string> env_;
  ChildProcess process_;
};

// Runs the gateway to completion (it must not start serving).
struct Result {
  int exit_code;
  std::string output;
};
Result RunToExit(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  Child child(args, env);
  const int code = child.Wait();
  return {code, child.output()};
}

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    path_ = absl::StrCat(::testing::TempDir(), "/fixstream_process_", ::getpid(), "_", next_++,
                         ".conf");
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int next_ = 0;
  std::string path_;
};

std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n");
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[16384];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
        response.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return response;
}

TEST(ConfigProcessTest, VersionPrintsBuildInfoAndExitsZero) {
  Result r = RunToExit({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex(R"(^fixstream-gateway \d+\.\d+\.\d+ \(git \S+, \S+, .+\)\n$)")))
      << r.output;
}

TEST(ConfigProcessTest, HelpExplainsEverySetting) {
  Result r = RunToExit({"--help"});
  EXPECT_EQ(r.exit_code, 1) << r.output;  // Abseil's convention for --help
  for (const char* flag : {"--config", "--device_listen", "--grpc_listen", "--metrics_listen",
                           "--log_level", "--drain_timeout_ms", "FIXSTREAM_"}) {
    EXPECT_TRUE(absl::StrContains(r.output, flag)) << flag << "\n" << r.output;
  }
}

TEST(ConfigProcessTest, HelpNamesTheSourceFileNotABuildPath) {
  Result r = RunToExit({"--help"});
  EXPECT_TRUE(absl::StrContains(r.output, "Flags from gateway/server/config.cc:")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "../")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, PROJECT_BUILD_DIR)) << r.output;
}

TEST(ConfigProcessTest, EnvironmentOverrideIsValidatedAndNamed) {
  Result r =
      RunToExit({"--device_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0", "--metrics_listen="},
                {"FIXSTREAM_LOG_LEVEL=nonsense"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "--log_level=nonsense")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "environment FIXSTREAM_LOG_LEVEL")) << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "listening")) << r.output;
}

TEST(ConfigProcessTest, BadConfigFileLineFailsNamingFileLineAndSetting) {
  ConfigFile file("# test\ndevice_listen = 127.0.0.1:0\nretention_records = many\n");
  Result r = RunToExit({"--config=" + file.path(), "--grpc_listen=127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, file.path() + ":3")) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "retention_records")) << r.output;

  ConfigFile unknown("grpc_listn = 127.0.0.1:0\n");
  r = RunToExit({"--config=" + unknown.path()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, unknown.path() + ":1: unknown setting 'grpc_listn'"))
      << r.output;

  r = RunToExit({"--config=/nonexistent/fixstream.conf"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "--config=/nonexistent/fixstream.conf")) << r.output;
}

TEST(ConfigProcessTest, RangeErrorFromFileSaysWhereItWasSet) {
  ConfigFile file("max_line_length = 8\n");
  Result r = RunToExit({"--config=" + file.path()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.output,
      absl::StrCat("--max_line_length=8: must be at least 16 (set in ", file.path(), ":1)")))
      << r.output;
}

TEST(ConfigProcessTest, FileEnvironmentAndCommandLineLayerAndMetricsServe) {
  ConfigFile file(
      "device_listen = 127.0.0.1:0\n"
      "grpc_listen = 127.0.0.1:0\n"
      "metrics_listen = 127.0.0.1:0\n"
      "io_threads = 3\n"
      "max_vehicles = 500\n"
      "dedup_window = 9\n");
  Child child({"--config=" + file.path(), "--io_threads=2"},
              {"FIXSTREAM_IO_THREADS=4", "FIXSTREAM_MAX_VEHICLES=777"});
  std::smatch m;
  ASSERT_TRUE(child.WaitForOutput(std::regex(R"(metrics_port=(\d+))"), &m)) << child.output();
  const uint16_t metrics_port = static_cast<uint16_t>(std::stoi(m[1]));
  // One INFO line with the effective configuration.
  std::smatch config;
  ASSERT_TRUE(std::regex_search(child.output(), config, std::regex(R"(INFO .* starting: (.*)\n)")))
      << child.output();
  const std::string effective = config[1];
  EXPECT_TRUE(absl::StrContains(effective, " io_threads=2 ")) << effective;          // command line
  EXPECT_TRUE(absl::StrContains(effective, " max_vehicles=777 ")) << effective;      // environment
  EXPECT_TRUE(absl::StrContains(effective, "dedup_window=9 ")) << effective;         // file
  EXPECT_TRUE(absl::StrContains(effective, " max_line_length=4096 ")) << effective;  // default

  const std::string response = HttpGet(metrics_port, "/metrics");
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.")) << response;
  EXPECT_TRUE(absl::StrContains(response, "\nfixstream_sequence_head 0\n")) << response;
  EXPECT_TRUE(absl::StrContains(response, "# TYPE fixstream_lines_total counter")) << response;
  // The journal is on by default, in ./fixstream-journal, locked.
  EXPECT_TRUE(std::filesystem::exists(child.work_dir() + "/fixstream-journal/LOCK"))
      << child.output();
  EXPECT_EQ(child.Wait(SIGTERM), 0) << child.output();
}

// The listener list as operators write it in the file: each listener reports
// its own port, a source-address and a first-line listener identify NMEA
// devices that send no $PFSID, and the summary line keeps device_port= (the
// first listener) for scripts.
TEST(ConfigProcessTest, ListenerLinesOpenEachListenerWithItsIdentification) {
  testing::TempDir dir("listeners");
  const std::string map = dir.path() + "/vehicles.map";
  std::ofstream(map) << "127.0.0.2 tracker-2\n";
  ConfigFile file(
      absl::StrCat("grpc_listen = 127.0.0.1:0\n"
                   "metrics_listen = 127.0.0.1:0\n"
                   "listener = 127.0.0.1:0 format=nmea ident=source_address:",
                   map,
                   "\n"
                   "listener = 127.0.0.1:0 ident=first_line ack=on\n"));
  Child child({"--config=" + file.path()}, {});
  std::smatch m;
  ASSERT_TRUE(child.WaitForOutput(
      std::regex(R"(device_port=(\d+) .*device_ack_port=(\d+) device_ports=(\d+),(\d+) )"), &m))
      << child.output();
  const uint16_t mapped_port = static_cast<uint16_t>(std::stoi(m[3]));
  const uint16_t first_line_port = static_cast<uint16_t>(std::stoi(m[4]));
  EXPECT_EQ(m[1], m[3]);
  EXPECT_EQ(m[2], m[4]);
  EXPECT_TRUE(absl::StrContains(
      child.output(), absl::StrCat("device listener 1/2: 127.0.0.1:0 port=", mapped_port,
                                   " format=nmea ident=source_address:", map, " ack=off\n")))
      << child.output();
  EXPECT_TRUE(absl::StrContains(
      child.output(), absl::StrCat("device listener 2/2: 127.0.0.1:0 port=", first_line_port,
                                   " format=auto ident=first_line ack=on\n")))
      << child.output();

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  {
    testing::TestConnection mapped(mapped_port, "127.0.0.2");
    ASSERT_TRUE(mapped.Send(testing::NmeaRmc(now_ms, 52.5, 13.4, 10)));
  }
  {
    testing::TestConnection unmapped(mapped_port, "127.0.0.3");
    EXPECT_TRUE(unmapped.WaitForPeerClose(10'000));
  }
  testing::TestConnection forwarder(first_line_port);
  ASSERT_TRUE(forwarder.Send("356938035643809\r\n" + testing::NmeaRmc(now_ms, 52.5, 13.4, 10)));
  std::string received;
  EXPECT_TRUE(forwarder.ReceiveUntil("ACK 2\n", 10'000, &received)) << received;
  forwarder.Close();
  EXPECT_EQ(child.Wait(SIGTERM), 0) << child.output();
  EXPECT_TRUE(absl::StrContains(child.output(), " records_published=2")) << child.output();
  EXPECT_TRUE(absl::StrContains(child.output(),
                                "device connection from 127.0.0.3 closed: "
                                "unmapped_source: the address is in no entry of " +
                                    map))
      << child.output();
}

TEST(ConfigProcessTest, BadListenersFailAtStartNamingThePart) {
  ConfigFile file("grpc_listen = 127.0.0.1:0\nlistener = 127.0.0.1:0 ident=imei\n");
  Result r = RunToExit({"--config=" + file.path()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, file.path() +
                                              ":2: bad listener '127.0.0.1:0 ident=imei': bad "
                                              "'ident=imei': ident must be pfsid"))
      << r.output;

  r = RunToExit({"--listeners=127.0.0.1:0", "--device_listen=127.0.0.1:0",
                 "--grpc_listen=127.0.0.1:0", "--metrics_listen="});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.output, "--listeners=127.0.0.1:0: cannot be combined with --device_listen=127.0.0.1:0"))
      << r.output;

  r = RunToExit({"--listeners=127.0.0.1:7878; 127.0.0.1:7878 ack=on", "--grpc_listen=127.0.0.1:0",
                 "--metrics_listen="});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output,
                                "listener 2 '127.0.0.1:7878 ack=on': address "
                                "127.0.0.1:7878 is already listener 1's"))
      << r.output;

  r = RunToExit({"--listeners=127.0.0.1:0 ident=source_address:/nonexistent/vehicles.map",
                 "--grpc_listen=127.0.0.1:0", "--metrics_listen="});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.output,
      "listener 127.0.0.1:0: ident=source_address: /nonexistent/vehicles.map: cannot "
      "read the source map"))
      << r.output;
}

// Device TLS settings (issue #16): the files come in pairs and only with a
// TLS listener, and a file that does not load stops the start naming it.
TEST(ConfigProcessTest, DeviceTlsSettingsAreCheckedAndABadFileIsNamed) {
  const std::vector<std::string> base = {"--device_listen=127.0.0.1:0", "--grpc_listen=127.0.0.1:0",
                                         "--metrics_listen="};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return RunToExit(extra);
  };
  Result r = with({"--device_tls_listen=127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output,
                                "--device_tls_listen=127.0.0.1:0: a TLS listener needs "
                                "--device_tls_cert and --device_tls_key"))
      << r.output;

  testing::TempDir dir("device-tls-config");
  const std::string cert = dir.path() + "/device.pem";
  const std::string key = dir.path() + "/device.key";
  std::ofstream(cert) << "not a certificate\n";
  std::ofstream(key) << "not a key\n";
  r = with({"--device_tls_listen=127.0.0.1:0", "--device_tls_cert=" + cert});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(
      r.output, "--device_tls_cert=" + cert +
                    ": needs --device_tls_cert and --device_tls_key both (or neither)"))
      << r.output;

  r = with({"--device_tls_cert=" + cert, "--device_tls_key=" + key});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(absl::StrContains(r.output, "no device listener uses it")) << r.output;

  r = with(
      {"--device_tls_listen=127.0.0.1:0", "--device_tls_cert=" + cert, "--device_tls_key=" + key});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(
      absl::StrContains(r.output, "--device_tls_cert=" + cert + ": not a PEM certificate chain"))
      << r.output;
  EXPECT_FALSE(absl::StrContains(r.output, "not a key")) << r.output;
}

// The flags from before the listener list keep their meaning and their log.
TEST(ConfigProcessTest, TheLegacyListenerFlagsStillWork) {
  Child child({"--device_listen=127.0.0.1:0", "--device_ack_listen=127.0.0.1:0",
               "--device_format=csv", "--grpc_listen=127.0.0.1:0", "--metrics_listen="},
              {});
  std::smatch m;
  ASSERT_TRUE(child.WaitForOutput(
      std::regex(R"(device=127.0.0.1:0 device_port=(\d+) device_ack=127.0.0.1:0 )"
                 R"(device_ack_port=(\d+) device_ports=(\d+),(\d+) )"),
      &m))
      << child.output();
  EXPECT_EQ(m[1], m[3]);
  EXPECT_EQ(m[2], m[4]);
  EXPECT_TRUE(absl::StrContains(child.output(), " format=csv ident=pfsid ack=on\n"))
      << child.output();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  testing::TestConnection acked(static_cast<uint16_t>(std::stoi(m[2])));
  ASSERT_TRUE(acked.Send(testing::CsvLine("v1", now_ms, 1, 2, 0)));
  std::string received;
  EXPECT_TRUE(acked.ReceiveUntil("ACK 1\n", 10'000, &received)) << received;
  acked.Close();
  EXPECT_EQ(child.Wait(SIGTERM), 0) << child.output();
}

}  // namespace
}  // namespace fixstream
