// NetworkPrefix: an IPv4 or IPv6 address or CIDR prefix as the source maps
// (source_map.h) and the device registry's from= (device_registry.h) write
// them, parsed and matched in one place.
//
// Thread safety: plain values and pure functions.
#ifndef FIXSTREAM_GATEWAY_DEVICE_NETWORK_PREFIX_H_
#define FIXSTREAM_GATEWAY_DEVICE_NETWORK_PREFIX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "asio/ip/address.hpp"

namespace fixstream::gateway {

struct NetworkPrefix {
  int family = 4;  // 4 or 6
  int prefix_length = 0;
  std::array<uint8_t, 16> bytes{};  // the network address (IPv4: the first 4)
  // Whether `address` lies in the prefix (IPv4-mapped IPv6 peers of a
  // dual-stack listener count as IPv4).
  bool Contains(const asio::ip::address& address) const;
};

enum class PrefixError : uint8_t {
  kNone,
  kScopeId,            // fe80::1%eth0
  kNotAnAddress,       // not an IPv4 or IPv6 address
  kBadLength,          // not 0..32 (IPv4) or 0..128 (IPv6); `family` says which
  kShortMappedPrefix,  // an IPv4-mapped IPv6 prefix shorter than /96
  kBitsBeyondPrefix,   // 10.64.3.17/24; `prefix_length` is the (IPv4) length
};

// Parses ADDRESS or ADDRESS/LENGTH into `*prefix`. An IPv4-mapped IPv6
// prefix (::ffff:10.64.0.0/112) is the IPv4 prefix of LENGTH - 96, since
// peers are looked up as IPv4. On an error `*prefix` is partly set (see
// PrefixError) for the caller's message.
PrefixError ParseNetworkPrefix(std::string_view text, NetworkPrefix* prefix);

// The address's family (4 or 6, IPv4-mapped as 4) and bytes into `*bytes`.
int AddressBytes(const asio::ip::address& address, std::array<uint8_t, 16>* bytes);

// Zeroes the bits of `bytes` (`size` bytes) beyond the first `prefix_length`.
void MaskToPrefix(uint8_t* bytes, size_t size, int prefix_length);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_NETWORK_PREFIX_H_
