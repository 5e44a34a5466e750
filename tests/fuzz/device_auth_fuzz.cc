// Fuzzes the device side of authentication (issue #16): arbitrary bytes as
// a connection's authentication line (ingest/auth_line.h) and as a devices
// file (gateway/device/device_registry.h), as a hostile device or a broken
// file could present them. Nothing may crash; a parsed line must carry a
// valid id and secret; a registry error must name the file and a line of
// the text; and authenticating the parsed line against the parsed registry
// must be consistent with what the registry holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "asio/ip/address.hpp"
#include "gateway/device/device_registry.h"
#include "ingest/auth_line.h"
#include "ingest/location_record.h"

namespace {

using fixstream::gateway::DeviceRegistry;

void CheckRegistryError(const absl::Status& status, std::string_view text) {
  if (status.code() != absl::StatusCode::kInvalidArgument) std::abort();
  absl::string_view message = status.message();
  if (!absl::ConsumePrefix(&message, "devices:")) std::abort();
  const size_t colon = message.find(':');
  size_t line = 0;
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(message.substr(0, colon), &line) ||
      line < 1 || line > lines) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first line as the authentication line, all of it as a devices file.
  const std::string_view first = text.substr(0, text.find('\n'));
  fixstream::ingest::AuthLine auth;
  const bool parsed = fixstream::ingest::ParseAuthLine(first, &auth);
  if (parsed && (!fixstream::ingest::IsValidVehicleId(auth.vehicle_id) ||
                 !fixstream::ingest::IsValidSecret(auth.secret))) {
    std::abort();
  }
  absl::StatusOr<DeviceRegistry> registry = DeviceRegistry::Parse(text, "devices");
  if (!registry.ok()) {
    CheckRegistryError(registry.status(), text);
    return 0;
  }
  const asio::ip::address source = asio::ip::make_address_v4(0x7f000001u);
  const std::string_view id = parsed ? std::string_view(auth.vehicle_id) : first;
  const std::string_view secret = parsed ? std::string_view(auth.secret) : text;
  const DeviceRegistry::Device* device = nullptr;
  const DeviceRegistry::AuthResult result = registry->Authenticate(id, secret, source, &device);
  const DeviceRegistry::Device* found = registry->Find(id);
  switch (result) {
    case DeviceRegistry::AuthResult::kOk:
      if (device != found || found == nullptr || !found->secret_sha256 ||
          *found->secret_sha256 != DeviceRegistry::SecretDigest(secret) ||
          !found->AllowsSource(source)) {
        std::abort();
      }
      break;
    case DeviceRegistry::AuthResult::kUnknownDevice:
      if (found != nullptr) std::abort();
      break;
    case DeviceRegistry::AuthResult::kNoSecret:
      if (found == nullptr || found->secret_sha256) std::abort();
      break;
    case DeviceRegistry::AuthResult::kWrongSecret:
      if (found == nullptr || *found->secret_sha256 == DeviceRegistry::SecretDigest(secret)) {
        std::abort();
      }
      break;
    case DeviceRegistry::AuthResult::kSourceMismatch:
      if (found == nullptr || found->AllowsSource(source)) std::abort();
      break;
  }
  return 0;
}
