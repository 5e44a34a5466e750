// Configuration of fixstream-gateway: its flags, where their values come
// from, and their validated mapping to GatewayOptions.
//
// Every setting is an Abseil flag defined in config.cc. A value is taken
// from, in increasing precedence:
//   1. the built-in default;
//   2. the config file named by --config (or FIXSTREAM_CONFIG): lines of
//      `name = value`, blank lines and `#` comments;
//   3. the environment: FIXSTREAM_<NAME> with the flag name upper-cased,
//      e.g. FIXSTREAM_GRPC_LISTEN=0.0.0.0:50051;
//   4. the command line.
// main() calls InitFlagsUsage(), absl::ParseCommandLine(), then
// ApplyConfigSources() and OptionsFromFlags(). Errors name the setting and
// where its value came from (file:line, environment variable).
//
// Adding a setting: an ABSL_FLAG in config.cc with a help text an operator
// can act on, its mapping and check in its section of OptionsFromFlags()
// (DeviceFromFlags, HubFromFlags, ...), a line in
// docs/fixstream.conf.example. The file, the environment, --help and the
// effective-configuration log line pick it up from the flag itself.
//
// Thread safety: for start-up on the main thread (the flags are process
// global).
#ifndef FIXSTREAM_GATEWAY_SERVER_CONFIG_H_
#define FIXSTREAM_GATEWAY_SERVER_CONFIG_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gateway/common/log.h"
#include "gateway/server/gateway.h"

namespace fixstream::gateway {

// "fixstream-gateway 0.1.0 (git 1a2b3c4, RelWithDebInfo, GNU 12.2.0)".
std::string VersionString();

// Sets the --help text, the --version output and restricts --help to our
// flags (--helpfull lists Abseil's too). Call before absl::ParseCommandLine.
void InitFlagsUsage();

// Names of the gateway's own flags (those settable by file and environment),
// sorted.
std::vector<std::string> SettingNames();

// One `name = value` assignment from a config file or the environment.
struct ConfigSetting {
  std::string name;
  std::string value;
  std::string origin;  // "PATH:LINE" or "environment FIXSTREAM_NAME"
};

// Parses config file text. Syntax: one `name = value` per line, whitespace
// around both trimmed; blank lines and lines starting with `#` are ignored,
// and ` #` (whitespace, then #) starts a comment after a value. The value may
// be empty. Only the syntax and duplicate names are checked here; errors
// name `file_name:LINE`.
absl::StatusOr<std::vector<ConfigSetting>> ParseConfigText(std::string_view text,
                                                           std::string_view file_name);

// Flag name -> where its value came from, for flags set by file or
// environment (absent: default or command line).
using SettingOrigins = absl::flat_hash_map<std::string, std::string>;

// Applies the config file (--config, else FIXSTREAM_CONFIG) and then the
// FIXSTREAM_* variables of `environment` (entries "NAME=VALUE", as in
// environ) to every flag for which `on_command_line(name)` is false. Every
// value is checked to parse even where the command line overrides it.
// Errors (unreadable file, syntax, unknown setting, unparsable value) name
// the file and line or the variable and the setting. A FIXSTREAM_ variable
// that names no setting is reported in *warnings (the environment is shared
// with other software, so it is not an error).
absl::StatusOr<SettingOrigins> ApplyConfigSources(
    const std::function<bool(std::string_view)>& on_command_line,
    const std::vector<std::string>& environment, std::vector<std::string>* warnings);

// Reads every gateway flag, checks its value and builds the options.
// InvalidArgument names the first bad setting as `--name=value: why`, with
// its origin from `origins` when it did not come from the command line.
absl::StatusOr<GatewayOptions> OptionsFromFlags(const SettingOrigins& origins = {});

// The --log_level flag, checked (OptionsFromFlags checks it too).
absl::StatusOr<LogLevel> LogLevelFromFlags(const SettingOrigins& origins = {});

// "config= device_format=auto device_listen=0.0.0.0:7878 ..." : every
// gateway flag's current value, sorted by name, for the start-up log line.
std::string EffectiveConfiguration();

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_SERVER_CONFIG_H_
