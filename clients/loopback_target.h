// Target addresses of the load tools. They send traffic only to this machine
// (127.0.0.0/8 or ::1), so a typo can never aim a load test elsewhere.
#ifndef FIXSTREAM_CLIENTS_LOOPBACK_TARGET_H_
#define FIXSTREAM_CLIENTS_LOOPBACK_TARGET_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "asio.hpp"

namespace fixstream::clients {

// Splits "host:port" or "[v6-address]:port" into host and port.
std::optional<std::pair<std::string, std::string>> SplitHostPort(std::string_view target);

// Resolves `target` ("host:port") and returns its first endpoint, or
// InvalidArgument naming the target if it is malformed, does not resolve,
// or resolves to any address that is not loopback.
absl::StatusOr<asio::ip::tcp::endpoint> ResolveLoopbackTarget(asio::io_context& io,
                                                              std::string_view target);

// How many loopback source addresses (127.0.0.1..127.0.0.K) spread
// `connections` over: `requested` if given (> 0), else enough that no source
// needs more than 16384 ports. InvalidArgument names the bad flag.
absl::StatusOr<int> SourceAddressCount(int connections, int requested);

}  // namespace fixstream::clients

#endif  // FIXSTREAM_CLIENTS_LOOPBACK_TARGET_H_
