#include "gateway/common/sha256.h"

#include "openssl/evp.h"

namespace fixstream::gateway {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

bool ParseSha256Hex(std::string_view hex, Sha256Digest* digest) {
  if (hex.size() != 2 * digest->size()) return false;
  Sha256Digest parsed{};
  for (size_t i = 0; i < parsed.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    parsed[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  *digest = parsed;
  return true;
}

}  // namespace fixstream::gateway
