// The authentication line a connection sends first under
// --device_policy=authenticated (docs/PROTOCOL.md, "Authentication"):
//
//   $PFSID,<id>,<secret>[*hh]                  any connection (NMEA style)
//   AUTH,<id>,<secret>                         CSV devices
//   {"vehicle_id":"<id>","secret":"<secret>"}  JSON devices (either key order)
//
// <id> is a valid vehicle id (IsValidVehicleId); <secret> is 1 to 128
// characters of A-Z a-z 0-9 . _ ~ + / = - (hex, base64 and base64url fit).
// Trailing "\r", spaces and tabs are ignored, as for other lines.
//
// Pure parsing: what the id and secret are worth is the device registry's
// business (gateway/device/device_registry.h).
//
// Thread safety: pure function.
#ifndef FIXSTREAM_INGEST_AUTH_LINE_H_
#define FIXSTREAM_INGEST_AUTH_LINE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace fixstream::ingest {

inline constexpr size_t kMaxSecretLength = 128;

// Whether `secret` is 1 to kMaxSecretLength characters of the secret alphabet.
bool IsValidSecret(std::string_view secret);

struct AuthLine {
  std::string vehicle_id;
  std::string secret;  // the caller wipes it once checked (OPENSSL_cleanse)
};

// True if `line` (no terminator) is an authentication line in one of the
// three forms, with a valid id and secret; then `*auth` is set. Allocates
// (once per connection; not on the line path).
bool ParseAuthLine(std::string_view line, AuthLine* auth);

}  // namespace fixstream::ingest

#endif  // FIXSTREAM_INGEST_AUTH_LINE_H_
