#include "gateway/common/host_port.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace fixstream::gateway {

absl::StatusOr<HostPort> ParseHostPort(std::string_view flag, std::string_view address) {
  // Debian's Abseil has its own string_view type: spell the conversions out.
  const absl::string_view flag_name(flag.data(), flag.size());
  const absl::string_view text(address.data(), address.size());
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag_name, "=", text, ": ", why,
                                                   " (expected HOST:PORT, e.g. 127.0.0.1:7878)"));
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return error("missing :PORT");
  std::string_view host = address.substr(0, colon);
  std::string_view port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return error("IPv6 hosts must be in brackets, e.g. [::1]:7878");
  }
  if (host.empty()) return error("empty host");
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return error("port must be a number in [0, 65535]");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace fixstream::gateway
