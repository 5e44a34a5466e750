// Parsing of HOST:PORT listen addresses ("0.0.0.0:7878", "[::1]:0",
// "localhost:50051").
#ifndef FIXSTREAM_GATEWAY_COMMON_HOST_PORT_H_
#define FIXSTREAM_GATEWAY_COMMON_HOST_PORT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fixstream::gateway {

struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
};

// InvalidArgument with a message naming `flag` on a malformed address.
absl::StatusOr<HostPort> ParseHostPort(std::string_view flag, std::string_view address);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_COMMON_HOST_PORT_H_
