// Target and source addresses of the load tools. They send traffic only to
// this machine (127.0.0.0/8 or ::1), so a typo can never aim a load test
// elsewhere.
#ifndef FIXSTREAM_CLIENTS_LOOPBACK_TARGET_H_
#define FIXSTREAM_CLIENTS_LOOPBACK_TARGET_H_

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
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

// The source of connection `index` of a run over `source_addresses` source
// addresses to `target`: 127.0.0.(1 + index mod source_addresses) for an IPv4
// target, ::1 for an IPv6 one; port 0.
asio::ip::tcp::endpoint LoopbackSource(const asio::ip::tcp::endpoint& target, int index,
                                       int source_addresses);

// Binds the open `socket` to `source`'s address and leaves the port to
// connect(), which picks one per 4-tuple (IP_BIND_ADDRESS_NO_PORT): without
// that, bind() reserves a port for every destination and one source address
// runs out after ~28k connections. Kernels that lack the option only get the
// lower limit.
std::error_code BindSourceAddress(asio::ip::tcp::socket& socket,
                                  const asio::ip::tcp::endpoint& source);

}  // namespace fixstream::clients

#endif  // FIXSTREAM_CLIENTS_LOOPBACK_TARGET_H_
