#include "gateway/device/network_prefix.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace fixstream::gateway {

void MaskToPrefix(uint8_t* bytes, size_t size, int prefix_length) {
  for (size_t i = 0; i < size; ++i) {
    const int bits = std::clamp(prefix_length - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<uint8_t>(0xff00u >> bits);
  }
}

int AddressBytes(const asio::ip::address& address, std::array<uint8_t, 16>* bytes) {
  *bytes = {};
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), bytes->begin());
    return 4;
  }
  const asio::ip::address_v6 v6 = address.to_v6();
  const auto raw = v6.to_bytes();
  if (v6.is_v4_mapped()) {
    std::copy(raw.begin() + 12, raw.end(), bytes->begin());
    return 4;
  }
  std::copy(raw.begin(), raw.end(), bytes->begin());
  return 6;
}

PrefixError ParseNetworkPrefix(std::string_view text, NetworkPrefix* prefix) {
  const size_t slash = text.find('/');
  const std::string address_text(text.substr(0, slash));
  if (address_text.find('%') != std::string::npos) return PrefixError::kScopeId;
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(address_text, ec);
  if (ec) return PrefixError::kNotAnAddress;
  prefix->family = address.is_v4() ? 4 : 6;
  const int max_length = prefix->family == 4 ? 32 : 128;
  int length = max_length;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        length < 0 || length > max_length) {
      return PrefixError::kBadLength;
    }
  }
  const bool mapped = address.is_v6() && address.to_v6().is_v4_mapped();
  if (mapped) {
    if (length < 96) return PrefixError::kShortMappedPrefix;
    length -= 96;
  }
  prefix->family = AddressBytes(address, &prefix->bytes);
  prefix->prefix_length = length;
  std::array<uint8_t, 16> masked = prefix->bytes;
  MaskToPrefix(masked.data(), prefix->family == 4 ? 4 : 16, length);
  if (masked != prefix->bytes) return PrefixError::kBitsBeyondPrefix;
  return PrefixError::kNone;
}

bool NetworkPrefix::Contains(const asio::ip::address& address) const {
  std::array<uint8_t, 16> peer;
  if (AddressBytes(address, &peer) != family) return false;
  MaskToPrefix(peer.data(), family == 4 ? 4 : 16, prefix_length);
  return peer == bytes;
}

}  // namespace fixstream::gateway
