#include "clients/loopback_target.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace fixstream::clients {

std::optional<std::pair<std::string, std::string>> SplitHostPort(std::string_view target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) {
    return std::nullopt;
  }
  std::string_view host = target.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(std::string(host), std::string(target.substr(colon + 1)));
}

absl::StatusOr<asio::ip::tcp::endpoint> ResolveLoopbackTarget(asio::io_context& io,
                                                              std::string_view target) {
  const std::string text(target);
  const auto host_port = SplitHostPort(target);
  if (!host_port.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("--target must be host:port, not '", text, "'"));
  }
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  const asio::ip::tcp::resolver::results_type endpoints =
      resolver.resolve(host_port->first, host_port->second, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve --target ", text, ": ", ec.message()));
  }
  for (const auto& entry : endpoints) {
    if (!entry.endpoint().address().is_loopback()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target ", text, " resolves to ", entry.endpoint().address().to_string(),
                       ", which is not loopback (127.0.0.0/8 or ::1); refusing"));
    }
  }
  return endpoints.begin()->endpoint();
}

absl::StatusOr<int> SourceAddressCount(int connections, int requested) {
  // The ephemeral port range holds about 28k ports per (source, destination)
  // pair; staying well below it leaves room for everything else on the box.
  constexpr int kConnectionsPerSourceAddress = 16384;
  if (connections < 1 || connections > 1'000'000) {
    return absl::InvalidArgumentError("--connections must be in [1, 1000000]");
  }
  const int count = requested != 0 ? requested
                                   : (connections + kConnectionsPerSourceAddress - 1) /
                                         kConnectionsPerSourceAddress;
  if (count < 1 || count > 254) {
    return absl::InvalidArgumentError("--source_addresses must be in [0, 254]");
  }
  return count;
}

asio::ip::tcp::endpoint LoopbackSource(const asio::ip::tcp::endpoint& target, int index,
                                       int source_addresses) {
  const asio::ip::address address =
      target.address().is_v6()
          ? asio::ip::address(asio::ip::address_v6::loopback())
          : asio::ip::address(asio::ip::address_v4(
                0x7F000001u + static_cast<uint32_t>(index % source_addresses)));
  return asio::ip::tcp::endpoint(address, 0);
}

std::error_code BindSourceAddress(asio::ip::tcp::socket& socket,
                                  const asio::ip::tcp::endpoint& source) {
  const int one = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  std::error_code ec;
  socket.bind(source, ec);
  return ec;
}

}  // namespace fixstream::clients
