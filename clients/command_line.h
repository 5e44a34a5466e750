// The command-line set-up every fixstream client shares: usage text, --help
// listing only the client's own flags, and rejection of stray arguments.
#ifndef FIXSTREAM_CLIENTS_COMMAND_LINE_H_
#define FIXSTREAM_CLIENTS_COMMAND_LINE_H_

#include <string_view>

namespace fixstream::clients {

// Parses argv with Abseil flags. `flags_file` is the source file that defines
// the client's flags (e.g. "clients/load.cc"): --help lists those, not
// gRPC's or Abseil's. Returns false after printing why if a positional
// argument was given (the caller exits with 2). Call once, from main.
bool ParseClientCommandLine(int argc, char** argv, std::string_view program, std::string_view usage,
                            const char* flags_file);

}  // namespace fixstream::clients

#endif  // FIXSTREAM_CLIENTS_COMMAND_LINE_H_
