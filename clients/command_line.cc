#include "clients/command_line.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"

namespace fixstream::clients {
namespace {

// absl's usage config takes plain function pointers, so the client's flags
// file is kept here for them.
const char* g_flags_file = "";

}  // namespace

bool ParseClientCommandLine(int argc, char** argv, std::string_view program, std::string_view usage,
                            const char* flags_file) {
  g_flags_file = flags_file;
  absl::SetProgramUsageMessage(absl::string_view(usage.data(), usage.size()));
  absl::FlagsUsageConfig usage_config;
  // By default --help lists only flags of a file named after the program.
  usage_config.contains_help_flags = [](absl::string_view file) {
    // The gRPC clients' shared connection flags too (grpc_channel.h).
    return absl::EndsWith(file, g_flags_file) || absl::EndsWith(file, "clients/grpc_channel.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  usage_config.normalize_filename = [](absl::string_view file) {
    const size_t clients = file.rfind("clients/");
    return std::string(clients == absl::string_view::npos ? file : file.substr(clients));
  };
  absl::SetFlagsUsageConfig(usage_config);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) {
    absl::FPrintF(stderr, "%s: unexpected argument '%s' (see --help)\n", std::string(program),
                  args[1]);
    return false;
  }
  return true;
}

}  // namespace fixstream::clients
