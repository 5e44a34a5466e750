// SHA-256 digests as the tokens file (gateway/api/access_tokens.h) and the
// devices file (gateway/device/device_registry.h) store them: 32 bytes,
// written as 64 hex digits. OpenSSL's EVP digest.
//
// Thread safety: pure functions.
#ifndef FIXSTREAM_GATEWAY_COMMON_SHA256_H_
#define FIXSTREAM_GATEWAY_COMMON_SHA256_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace fixstream::gateway {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);

// True if `hex` is exactly 64 hex digits (either case); then `*digest` is set.
bool ParseSha256Hex(std::string_view hex, Sha256Digest* digest);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_COMMON_SHA256_H_
