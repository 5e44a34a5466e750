#include "gateway/server/config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

// Sets a flag as the command line would; FlagSaver in each test restores it.
void SetFlag(const std::string& name, const std::string& value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  ASSERT_NE(flag, nullptr) << name;
  std::string error;
  ASSERT_TRUE(flag->ParseFrom(value, &error)) << error;
}

std::string FlagValue(const std::string& name) {
  return absl::FindCommandLineFlag(name)->CurrentValue();
}

// A config file in the test's temporary directory, removed afterwards.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = absl::StrCat(::testing::TempDir(), "/fixstream_config_test_", ::getpid(), "_",
                         counter_++, ".conf");
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

auto NothingOnCommandLine() {
  return [](std::string_view) { return false; };
}

// --- ParseConfigText: the file syntax ---

TEST(ParseConfigTextTest, ReadsAssignmentsCommentsAndBlankLines) {
  absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfigText(
      "# fixstream\n"
      "\n"
      "grpc_listen = 0.0.0.0:50051\n"
      "  io_threads=4   # four cores\r\n"
      "metrics_listen =\n"
      "device_listen = host#1:7878\n"
      "   # indented comment\n"
      "log_level = debug",  // no final newline
      "/etc/fixstream.conf");
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_EQ(settings->size(), 5u);
  EXPECT_EQ((*settings)[0].name, "grpc_listen");
  EXPECT_EQ((*settings)[0].value, "0.0.0.0:50051");
  EXPECT_EQ((*settings)[0].origin, "/etc/fixstream.conf:3");
  EXPECT_EQ((*settings)[1].name, "io_threads");
  EXPECT_EQ((*settings)[1].value, "4");
  EXPECT_EQ((*settings)[1].origin, "/etc/fixstream.conf:4");
  EXPECT_EQ((*settings)[2].name, "metrics_listen");
  EXPECT_EQ((*settings)[2].value, "");             // empty values are allowed (disables metrics)
  EXPECT_EQ((*settings)[3].value, "host#1:7878");  // '#' not after whitespace is data
  EXPECT_EQ((*settings)[4].name, "log_level");
  EXPECT_EQ((*settings)[4].origin, "/etc/fixstream.conf:8");
}

TEST(ParseConfigTextTest, SyntaxErrorsNameFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case kCases[] = {
      {"io_threads = 2\ngrpc_listen 0.0.0.0:1\n", "f.conf:2: expected `name = value`"},
      {"= 5\n", "f.conf:1: missing setting name"},
      {"\n\n--io_threads = 2\n", "f.conf:3: write settings without leading dashes"},
      {"io_threads = 2\n\nio_threads = 3\n",
       "f.conf:3: setting io_threads is already set on "
       "line 1"},
  };
  for (const Case& c : kCases) {
    absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfigText(c.text, "f.conf");
    ASSERT_FALSE(settings.ok()) << c.text;
    EXPECT_TRUE(absl::StrContains(settings.status().message(), c.expected))
        << settings.status() << " vs " << c.expected;
  }
}

// --- ApplyConfigSources: precedence and errors ---

TEST(ApplyConfigSourcesTest, CommandLineBeatsEnvironmentBeatsFileBeatsDefault) {
  absl::FlagSaver saver;
  TempFile file(
      "io_threads = 3\n"
      "max_vehicles = 500\n"
      "dedup_window = 8\n");
  SetFlag("config", file.path());
  SetFlag("io_threads", "7");  // "given on the command line"
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins = ApplyConfigSources(
      [](std::string_view name) { return name == "config" || name == "io_threads"; },
      {"FIXSTREAM_MAX_VEHICLES=900", "FIXSTREAM_IO_THREADS=5", "PATH=/usr/bin"}, &warnings);
  ASSERT_TRUE(origins.ok()) << origins.status();
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(FlagValue("io_threads"), "7");          // command line
  EXPECT_EQ(FlagValue("max_vehicles"), "900");      // environment over file
  EXPECT_EQ(FlagValue("dedup_window"), "8");        // file over default
  EXPECT_EQ(FlagValue("max_line_length"), "4096");  // default
  EXPECT_EQ(origins->at("max_vehicles"), "environment FIXSTREAM_MAX_VEHICLES");
  EXPECT_EQ(origins->at("dedup_window"), absl::StrCat(file.path(), ":3"));
  EXPECT_FALSE(origins->contains("io_threads"));
}

TEST(ApplyConfigSourcesTest, ConfigFileCanBeNamedByTheEnvironment) {
  absl::FlagSaver saver;
  TempFile file("max_batch_records = 12\n");
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins = ApplyConfigSources(
      NothingOnCommandLine(), {absl::StrCat("FIXSTREAM_CONFIG=", file.path())}, &warnings);
  ASSERT_TRUE(origins.ok()) << origins.status();
  EXPECT_EQ(FlagValue("max_batch_records"), "12");
}

TEST(ApplyConfigSourcesTest, FileErrorsNameFileLineAndSetting) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case kCases[] = {
      {"io_threads = 2\nio_thread = 2\n", ":2: unknown setting 'io_thread'"},
      {"\nio_threads = four\n", ":2: bad value 'four' for setting io_threads"},
      {"max_vehicles = -1\n", ":1: bad value '-1' for setting max_vehicles"},
      {"help = true\n", ":1: unknown setting 'help'"},  // Abseil's flags are not settings
      {"config = other.conf\n", ":1: a config file cannot name another config file"},
  };
  for (const Case& c : kCases) {
    absl::FlagSaver saver;
    TempFile file(c.text);
    SetFlag("config", file.path());
    std::vector<std::string> warnings;
    absl::StatusOr<SettingOrigins> origins =
        ApplyConfigSources([](std::string_view name) { return name == "config"; }, {}, &warnings);
    ASSERT_FALSE(origins.ok()) << c.text;
    EXPECT_TRUE(absl::StrContains(origins.status().message(), file.path() + c.expected))
        << origins.status() << " vs " << c.expected;
  }
}

TEST(ApplyConfigSourcesTest, BadFileValueFailsEvenWhenTheCommandLineOverridesIt) {
  absl::FlagSaver saver;
  TempFile file("io_threads = lots\n");
  SetFlag("config", file.path());
  SetFlag("io_threads", "2");
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins = ApplyConfigSources(
      [](std::string_view name) { return name == "config" || name == "io_threads"; }, {},
      &warnings);
  ASSERT_FALSE(origins.ok());
  EXPECT_TRUE(absl::StrContains(origins.status().message(), "io_threads")) << origins.status();
  EXPECT_EQ(FlagValue("io_threads"), "2");
}

TEST(ApplyConfigSourcesTest, OverriddenFileValueLeavesTheCommandLineValue) {
  absl::FlagSaver saver;
  TempFile file("grpc_listen = 10.0.0.1:1\n");
  SetFlag("config", file.path());
  SetFlag("grpc_listen", "127.0.0.1:9");
  std::vector<std::string> warnings;
  ASSERT_TRUE(ApplyConfigSources(
                  [](std::string_view name) { return name == "config" || name == "grpc_listen"; },
                  {}, &warnings)
                  .ok());
  EXPECT_EQ(FlagValue("grpc_listen"), "127.0.0.1:9");
}

TEST(ApplyConfigSourcesTest, UnreadableFileNamesTheConfigSetting) {
  absl::FlagSaver saver;
  SetFlag("config", "/nonexistent/fixstream.conf");
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins =
      ApplyConfigSources([](std::string_view name) { return name == "config"; }, {}, &warnings);
  ASSERT_FALSE(origins.ok());
  EXPECT_TRUE(absl::StrContains(origins.status().message(),
                                "--config=/nonexistent/fixstream.conf: cannot read"))
      << origins.status();
}

TEST(ApplyConfigSourcesTest, EnvironmentErrorsNameTheVariable) {
  absl::FlagSaver saver;
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins =
      ApplyConfigSources(NothingOnCommandLine(), {"FIXSTREAM_RETENTION_BYTES=lots"}, &warnings);
  ASSERT_FALSE(origins.ok());
  EXPECT_TRUE(absl::StrContains(origins.status().message(),
                                "environment FIXSTREAM_RETENTION_BYTES: bad value 'lots' for "
                                "setting retention_bytes"))
      << origins.status();
}

TEST(ApplyConfigSourcesTest, UnknownEnvironmentVariablesAreWarningsNotErrors) {
  absl::FlagSaver saver;
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins = ApplyConfigSources(
      NothingOnCommandLine(),
      {"FIXSTREAM_GRPC_LISTN=1.2.3.4:5", "FIXSTREAM_Grpc_Listen=1.2.3.4:5", "HOME=/root"},
      &warnings);
  ASSERT_TRUE(origins.ok()) << origins.status();
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_TRUE(absl::StrContains(warnings[0], "FIXSTREAM_GRPC_LISTN")) << warnings[0];
  EXPECT_EQ(FlagValue("grpc_listen"), "127.0.0.1:50051");
}

// --- OptionsFromFlags: mapping and validation ---

TEST(OptionsFromFlagsTest, DefaultsMapToTheDocumentedOptions) {
  absl::FlagSaver saver;
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->device.listen, "0.0.0.0:7878");
  // Secure by default: plaintext gRPC on loopback only, no TLS, no tokens,
  // health and reflection answered without a token once tokens are on.
  EXPECT_EQ(options->grpc_listen, "127.0.0.1:50051");
  EXPECT_FALSE(options->grpc_security.tls());
  EXPECT_FALSE(options->grpc_security.allow_plaintext_remote);
  EXPECT_TRUE(options->grpc_security.tokens_file.empty());
  EXPECT_EQ(options->grpc_security.public_calls,
            1u << static_cast<int>(Call::kHealth) | 1u << static_cast<int>(Call::kReflection));
  EXPECT_EQ(options->grpc_security.tokens_poll_interval, absl::Seconds(1));
  EXPECT_EQ(GatewayOptions().grpc_listen, "127.0.0.1:50051");
  EXPECT_EQ(options->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(options->device.max_line_length, 4096u);
  EXPECT_FALSE(options->device.pinned_format.has_value());
  EXPECT_EQ(options->hub.max_records, size_t{1} << 20);
  EXPECT_EQ(options->hub.max_bytes, size_t{256} << 20);
  EXPECT_EQ(options->subscription.slow_policy, SlowSubscriberPolicy::kGap);
  EXPECT_EQ(options->subscriber_drain_timeout, absl::Seconds(5));
  EXPECT_EQ(*LogLevelFromFlags(), LogLevel::kInfo);
  // The journal is on by default, relative to the working directory; acks
  // are opt-in; the ring is prefaulted.
  EXPECT_EQ(options->journal.directory, "fixstream-journal");
  EXPECT_EQ(options->journal.durability, gateway::DurabilityPolicy::kGroupCommit);
  EXPECT_EQ(options->device.ack_listen, "");
  EXPECT_TRUE(options->hub.prefault_ring);
}

TEST(OptionsFromFlagsTest, AcknowledgementsNeedTheJournal) {
  absl::FlagSaver saver;
  SetFlag("device_ack_listen", "127.0.0.1:7879");
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->device.ack_listen, "127.0.0.1:7879");
  SetFlag("journal_dir", "");
  options = OptionsFromFlags();
  ASSERT_FALSE(options.ok());
  EXPECT_TRUE(absl::StartsWith(options.status().message(),
                               "--device_ack_listen=127.0.0.1:7879: needs the journal"))
      << options.status();
}

// --log=jetstream: the fleet's settings map, and device acknowledgements
// follow JetStream's (no journal needed); the default is the embedded log.
TEST(OptionsFromFlagsTest, TheJetStreamLogMapsItsSettings) {
  absl::FlagSaver saver;
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->log, gateway::LogKind::kEmbedded);
  SetFlag("log", "jetstream");
  SetFlag("nats_url", "nats://10.0.0.1:4222,nats://10.0.0.2:4222");
  SetFlag("nats_stream", "FLEET_1");
  SetFlag("nats_subject", "acme.fleet");
  SetFlag("nats_gateway_id", "gw-1");
  SetFlag("nats_replicas", "3");
  SetFlag("journal_dir", "");
  SetFlag("device_ack_listen", "127.0.0.1:7879");
  options = OptionsFromFlags();
  if (!JetStreamLogBuilt()) {
    ASSERT_FALSE(options.ok());
    EXPECT_TRUE(absl::StartsWith(options.status().message(),
                                 "--log=jetstream: this fixstream-gateway was built without "
                                 "libnats"))
        << options.status();
    return;
  }
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->log, gateway::LogKind::kJetStream);
  EXPECT_EQ(options->fleet.url, "nats://10.0.0.1:4222,nats://10.0.0.2:4222");
  EXPECT_EQ(options->fleet.stream, "FLEET_1");
  EXPECT_EQ(options->fleet.subject_prefix, "acme.fleet");
  EXPECT_EQ(options->fleet.gateway_id, "gw-1");
  EXPECT_EQ(options->fleet.replicas, 3);
  EXPECT_EQ(options->device.ack_listen, "127.0.0.1:7879");
}

TEST(OptionsFromFlagsTest, MapsNonDefaultValues) {
  absl::FlagSaver saver;
  SetFlag("device_format", "nmea");
  SetFlag("slow_subscriber_policy", "end");
  SetFlag("metrics_listen", "");
  SetFlag("drain_timeout_ms", "250");
  SetFlag("log_level", "warning");
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->device.pinned_format, ingest::SourceFormat::kNmea);
  EXPECT_EQ(options->subscription.slow_policy, SlowSubscriberPolicy::kEnd);
  EXPECT_EQ(options->metrics_listen, "");
  EXPECT_EQ(options->subscriber_drain_timeout, absl::Milliseconds(250));
  EXPECT_EQ(*LogLevelFromFlags(), LogLevel::kWarning);
}

TEST(OptionsFromFlagsTest, PlaintextGrpcIsLoopbackOnlyUnlessTlsOrExplicitlyAllowed) {
  for (const char* loopback : {"127.0.0.1:1", "127.8.9.10:1", "[::1]:1", "localhost:1"}) {
    absl::FlagSaver saver;
    SetFlag("grpc_listen", loopback);
    EXPECT_TRUE(OptionsFromFlags().ok()) << loopback;
  }
  {
    absl::FlagSaver saver;
    SetFlag("grpc_listen", "0.0.0.0:1");
    SetFlag("grpc_allow_plaintext_remote", "true");
    absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_TRUE(options->grpc_security.allow_plaintext_remote);
  }
  {
    absl::FlagSaver saver;
    SetFlag("grpc_listen", "0.0.0.0:1");
    SetFlag("grpc_tls_cert", "/c.pem");
    SetFlag("grpc_tls_key", "/k.pem");
    SetFlag("grpc_tls_client_ca", "/ca.pem");
    SetFlag("grpc_tokens_file", "/tokens");
    SetFlag("grpc_tokens_poll_ms", "0");
    SetFlag("grpc_public_calls", "");
    absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->grpc_security.tls_cert_file, "/c.pem");
    EXPECT_EQ(options->grpc_security.tls_key_file, "/k.pem");
    EXPECT_EQ(options->grpc_security.tls_client_ca_file, "/ca.pem");
    EXPECT_EQ(options->grpc_security.tokens_file, "/tokens");
    EXPECT_EQ(options->grpc_security.tokens_poll_interval, absl::ZeroDuration());
    EXPECT_EQ(options->grpc_security.public_calls, 0u);
  }
}

TEST(OptionsFromFlagsTest, EveryBadValueIsRejectedNamingItsFlag) {
  struct Case {
    std::string flag;
    std::string value;
    std::string expected;
  };
  const Case kCases[] = {
      {"device_listen", "nonsense", "--device_listen=nonsense: missing :PORT"},
      {"device_ack_listen", "nonsense", "--device_ack_listen=nonsense: missing :PORT"},
      {"grpc_listen", "1.2.3.4:99999", "--grpc_listen=1.2.3.4:99999: port must be"},
      {"metrics_listen", "localhost", "--metrics_listen=localhost: missing :PORT"},
      {"metrics_listen", "[::1]:9464", "--metrics_listen=[::1]:9464: must be an IPv4"},
      {"max_line_length", "15", "--max_line_length=15: must be at least 16"},
      {"device_format", "xml", "--device_format=xml: must be one of auto, csv, nmea, json"},
      {"retention_records", "0", "--retention_records=0: must be at least 1"},
      {"retention_bytes", "65535", "--retention_bytes=65535: must be at least 65536"},
      {"dedup_window", "65537", "--dedup_window=65537: must be at most 65536"},
      {"max_vehicles", "0", "--max_vehicles=0: must be at least 1"},
      {"max_batch_records", "0", "--max_batch_records=0: must be at least 1"},
      {"max_batch_bytes", "1023", "--max_batch_bytes=1023: must be at least 1024"},
      {"slow_subscriber_policy", "drop", "--slow_subscriber_policy=drop: must be gap or end"},
      {"log_level", "loud", "--log_level=loud: must be one of debug, info, warning, error"},
      {"max_connections", "0", "--max_connections=0: must be at least 1"},
      {"keepalive_idle_s", "0", "--keepalive_idle_s=0: must be at least 1"},
      {"keepalive_interval_s", "0", "--keepalive_interval_s=0: must be at least 1"},
      {"keepalive_probes", "0", "--keepalive_probes=0: must be at least 1"},
      {"read_budget_bytes", "4095", "--read_budget_bytes=4095: must be at least 4096"},
      {"max_fix_age_s", "3153600001", "--max_fix_age_s=3153600001: must be at most 100 years"},
      {"max_fix_lead_s", "3153600001", "--max_fix_lead_s=3153600001: must be at most 100 years"},
      {"journal_durability", "never", "--journal_durability=never: must be group or batch"},
      {"journal_group_commit_ms", "0", "--journal_group_commit_ms=0: must be at least 1"},
      {"journal_segment_bytes", "1048575",
       "--journal_segment_bytes=1048575: must be at least 1048576"},
      {"journal_retention_bytes", "1048576",
       "--journal_retention_bytes=1048576: must be at least twice journal_segment_bytes"},
      // (One segment's worth: retention would delete the last durable record.)
      {"journal_retention_bytes", "67108864",
       "--journal_retention_bytes=67108864: must be at least twice journal_segment_bytes"},
      {"journal_retention_hours", "0", "--journal_retention_hours=0: must be at least 1"},
      {"max_subscribers", "0", "--max_subscribers=0: must be at least 1"},
      // Plaintext gRPC beyond loopback needs TLS or an explicit opt-in.
      {"grpc_listen", "0.0.0.0:50051", "--grpc_listen=0.0.0.0:50051 would serve every vehicle"},
      {"grpc_listen", "[::]:50051", "--grpc_listen=[::]:50051 would serve every vehicle"},
      {"grpc_listen", "10.1.2.3:50051", "--grpc_listen=10.1.2.3:50051 would serve every vehicle"},
      {"grpc_tls_cert", "/etc/cert.pem", "--grpc_tls_cert=/etc/cert.pem: needs --grpc_tls_cert"},
      {"grpc_tls_key", "/etc/key.pem", "--grpc_tls_key=/etc/key.pem: needs --grpc_tls_cert"},
      {"grpc_tls_client_ca", "/etc/ca.pem", "--grpc_tls_client_ca=/etc/ca.pem: needs TLS"},
      {"grpc_tls_reload_s", "0", "--grpc_tls_reload_s=0: must be at least 1"},
      {"grpc_public_calls", "Health,Everything",
       "--grpc_public_calls=Health,Everything: unknown call name"},
      {"device_policy", "closed",
       "--device_policy=closed: must be open, registered or authenticated"},
      {"device_policy", "registered",
       "--device_policy=registered: registered needs the device registry (--devices_file)"},
      {"device_policy", "authenticated",
       "--device_policy=authenticated: authenticated needs the device registry (--devices_file)"},
      {"log", "kafka", "--log=kafka: must be embedded or jetstream"},
      {"nats_url", "", "--nats_url=: must name a NATS server"},
      {"nats_stream", "FIX.STREAM", "--nats_stream=FIX.STREAM: must be a stream name"},
      {"nats_stream", "", "--nats_stream=: must be a stream name"},
      {"nats_subject", "fixstream.>", "--nats_subject=fixstream.>: must be dot-separated tokens"},
      {"nats_subject", "fixstream.", "--nats_subject=fixstream.: must be dot-separated tokens"},
      {"nats_gateway_id", "gw.1", "--nats_gateway_id=gw.1: must be letters, digits"},
      {"nats_replicas", "0", "--nats_replicas=0: must be 1 to 5"},
      {"nats_replicas", "6", "--nats_replicas=6: must be 1 to 5"},
  };
  for (const Case& c : kCases) {
    absl::FlagSaver saver;
    SetFlag(c.flag, c.value);
    absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
    ASSERT_FALSE(options.ok()) << c.flag << "=" << c.value;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(options.status().message(), c.expected))
        << options.status() << " vs " << c.expected;
  }
}

TEST(OptionsFromFlagsTest, TheFixTimeWindowIsInNanoseconds) {
  absl::FlagSaver saver;
  SetFlag("max_fix_age_s", "3153600000");  // 100 years: the largest accepted
  SetFlag("max_fix_lead_s", "2");
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->device.fix_time_window.max_age_ns, int64_t{3153600000} * 1'000'000'000);
  EXPECT_EQ(options->device.fix_time_window.max_lead_ns, 2'000'000'000);
}

TEST(OptionsFromFlagsTest, ErrorsSayWhereTheValueCameFrom) {
  absl::FlagSaver saver;
  SetFlag("max_line_length", "8");
  SettingOrigins origins = {{"max_line_length", "/etc/fixstream.conf:4"}};
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags(origins);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().message(),
            "--max_line_length=8: must be at least 16 (set in /etc/fixstream.conf:4)");
}

// --- Device listeners ---

TEST(OptionsFromFlagsTest, ListenersReplaceTheLegacyListener) {
  absl::FlagSaver saver;
  SetFlag("listeners",
          "127.0.0.1:0 format=nmea ident=source_address:/etc/v.map; [::1]:7881 ident=first_line "
          "ack=on");
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  const std::vector<ListenerOptions> listeners = EffectiveListeners(options->device);
  ASSERT_EQ(listeners.size(), 2u);
  EXPECT_EQ(DescribeListener(listeners[0]),
            "127.0.0.1:0 format=nmea ident=source_address:/etc/v.map ack=off");
  EXPECT_EQ(DescribeListener(listeners[1]), "[::1]:7881 format=auto ident=first_line ack=on");
}

TEST(OptionsFromFlagsTest, TheLegacyFlagsMakeTheListenersWithoutAList) {
  absl::FlagSaver saver;
  SetFlag("device_listen", "127.0.0.1:7000");
  SetFlag("device_ack_listen", "127.0.0.1:7001");
  SetFlag("device_format", "csv");
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->device.listeners.empty());
  const std::vector<ListenerOptions> listeners = EffectiveListeners(options->device);
  ASSERT_EQ(listeners.size(), 2u);
  EXPECT_EQ(DescribeListener(listeners[0]), "127.0.0.1:7000 format=csv ident=pfsid ack=off");
  EXPECT_EQ(DescribeListener(listeners[1]), "127.0.0.1:7001 format=csv ident=pfsid ack=on");
}

TEST(OptionsFromFlagsTest, BadListenersAreRejectedNamingTheEntry) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> flags;
    std::string expected;
  };
  const Case kCases[] = {
      {{{"listeners", "h:1; h:2 ack=maybe"}},
       "--listeners=h:1; h:2 ack=maybe: listener 2 'h:2 ack=maybe': bad 'ack=maybe'"},
      {{{"listeners", "h:1"}, {"device_listen", "127.0.0.1:0"}},
       "--listeners=h:1: cannot be combined with --device_listen=127.0.0.1:0"},
      {{{"listeners", "h:1"}, {"device_ack_listen", "127.0.0.1:0"}},
       "--listeners=h:1: cannot be combined with --device_ack_listen=127.0.0.1:0"},
      {{{"listeners", "h:1"}, {"device_format", "nmea"}},
       "--listeners=h:1: cannot be combined with --device_format=nmea"},
      {{{"listeners", "h:1; h:2 ack=on"}, {"journal_dir", ""}},
       "--listeners=h:1; h:2 ack=on: listener 2 (h:2): ack=on needs the journal"},
  };
  for (const Case& c : kCases) {
    absl::FlagSaver saver;
    for (const auto& [flag, value] : c.flags) SetFlag(flag, value);
    absl::StatusOr<GatewayOptions> options = OptionsFromFlags();
    ASSERT_FALSE(options.ok()) << c.expected;
    EXPECT_TRUE(absl::StartsWith(options.status().message(), c.expected))
        << options.status() << "\n  vs " << c.expected;
  }
}

TEST(ApplyConfigSourcesTest, ListenerLinesOfAFileMakeTheList) {
  absl::FlagSaver saver;
  TempFile file(
      "listeners =\n"
      "listener = 127.0.0.1:0 format=csv\n"
      "io_threads = 2\n"
      "listener = 127.0.0.1:0 ident=first_line   # forwarders\n");
  SetFlag("config", file.path());
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins =
      ApplyConfigSources(NothingOnCommandLine(), {}, &warnings);
  ASSERT_TRUE(origins.ok()) << origins.status();
  EXPECT_EQ(FlagValue("listeners"), "127.0.0.1:0 format=csv; 127.0.0.1:0 ident=first_line");
  EXPECT_EQ((*origins)["listeners"], file.path() + ":2,4");
  EXPECT_EQ(FlagValue("io_threads"), "2");
  absl::StatusOr<GatewayOptions> options = OptionsFromFlags(*origins);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->device.listeners.size(), 2u);
}

TEST(ApplyConfigSourcesTest, TheCommandLineListBeatsTheFilesListenerLines) {
  absl::FlagSaver saver;
  TempFile file("listener = 127.0.0.1:0 format=csv\n");
  SetFlag("config", file.path());
  SetFlag("listeners", "127.0.0.1:0 format=json");
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins = ApplyConfigSources(
      [](std::string_view name) { return name == "listeners" || name == "config"; }, {}, &warnings);
  ASSERT_TRUE(origins.ok()) << origins.status();
  EXPECT_EQ(FlagValue("listeners"), "127.0.0.1:0 format=json");
}

TEST(ApplyConfigSourcesTest, BadListenerLinesNameTheirLine) {
  struct Case {
    std::string text;
    std::string expected;  // after "PATH:"
  };
  const Case kCases[] = {
      {"io_threads = 1\nlistener = 127.0.0.1:0 format=xml\n",
       "2: bad listener '127.0.0.1:0 format=xml': bad 'format=xml'"},
      {"listener = 127.0.0.1:0\nlistener = h:1; h:2\n",
       "2: one listener per `listener =` line (no ';')"},
      {"listener = 127.0.0.1:0\nlistener = h:1 ack=on ack=on\n",
       "2: bad listener 'h:1 ack=on ack=on': option ack= is given twice"},
      {"listener = h:1 ;\n", "1: one listener per `listener =` line (no ';')"},
      {"listener =\n", "1: bad listener '': empty listener"},
      {"listener = 127.0.0.1:0\nlisteners = 127.0.0.1:0\n",
       "1: `listener =` lines and a `listeners =` setting cannot be mixed"},
  };
  for (const Case& c : kCases) {
    absl::FlagSaver saver;
    TempFile file(c.text);
    SetFlag("config", file.path());
    std::vector<std::string> warnings;
    absl::StatusOr<SettingOrigins> origins =
        ApplyConfigSources(NothingOnCommandLine(), {}, &warnings);
    ASSERT_FALSE(origins.ok()) << c.text;
    EXPECT_TRUE(absl::StartsWith(origins.status().message(), file.path() + ":" + c.expected))
        << origins.status() << "\n  vs " << c.expected;
  }
}

// --- Identity and the effective configuration ---

TEST(ConfigTest, SettingNamesAreOurFlagsOnly) {
  const std::vector<std::string> names = SettingNames();
  const std::set<std::string> set(names.begin(), names.end());
  EXPECT_TRUE(set.contains("grpc_listen"));
  EXPECT_TRUE(set.contains("metrics_listen"));
  EXPECT_TRUE(set.contains("config"));
  EXPECT_FALSE(set.contains("help"));
  EXPECT_FALSE(set.contains("flagfile"));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(ConfigTest, EffectiveConfigurationListsEverySettingOnOneLine) {
  absl::FlagSaver saver;
  SetFlag("io_threads", "3");
  const std::string line = EffectiveConfiguration();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(absl::StrContains(line, "io_threads=3 ")) << line;
  for (const std::string& name : SettingNames()) {
    EXPECT_TRUE(absl::StrContains(line, absl::StrCat(name, "="))) << name;
  }
}

TEST(ConfigTest, VersionNamesProgramVersionAndBuild) {
  const std::string version = VersionString();
  EXPECT_TRUE(absl::StartsWith(version, "fixstream-gateway 0.")) << version;
  EXPECT_TRUE(absl::StrContains(version, "(git ")) << version;
}

// docs/fixstream.conf.example is what operators copy: it must load, set
// every setting, and show the built-in defaults.
TEST(ConfigTest, ExampleConfigFileListsEverySettingWithItsDefault) {
  absl::FlagSaver saver;
  const std::string path = absl::StrCat(FIXSTREAM_SOURCE_DIR, "/docs/fixstream.conf.example");
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfigText(text.str(), path);
  ASSERT_TRUE(settings.ok()) << settings.status();
  std::set<std::string> listed;
  for (const ConfigSetting& s : *settings) {
    listed.insert(s.name);
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(s.name);
    ASSERT_NE(flag, nullptr) << s.origin << ": " << s.name;
    EXPECT_EQ(s.value, flag->DefaultValue()) << s.origin << ": " << s.name;
  }
  for (const std::string& name : SettingNames()) {
    if (name == "config") continue;
    EXPECT_TRUE(listed.contains(name)) << "docs/fixstream.conf.example lacks " << name;
  }
  SetFlag("config", path);
  std::vector<std::string> warnings;
  absl::StatusOr<SettingOrigins> origins =
      ApplyConfigSources([](std::string_view name) { return name == "config"; }, {}, &warnings);
  ASSERT_TRUE(origins.ok()) << origins.status();
  EXPECT_TRUE(OptionsFromFlags(*origins).ok());
}

}  // namespace
}  // namespace fixstream::gateway
