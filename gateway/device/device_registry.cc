#include "gateway/device/device_registry.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/common/sha256.h"
#include "ingest/location_record.h"
#include "openssl/crypto.h"

namespace fixstream::gateway {
namespace {

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Why `text` is not a network; empty when it is one (then in `*network`).
std::string ParseNetwork(std::string_view text, NetworkPrefix* network) {
  switch (ParseNetworkPrefix(text, network)) {
    case PrefixError::kNone:
      return "";
    case PrefixError::kScopeId:
      return "scope ids (%) are not supported";
    case PrefixError::kNotAnAddress:
      return "not an IP address";
    case PrefixError::kBadLength:
    case PrefixError::kShortMappedPrefix:
      return "prefix length out of range";
    case PrefixError::kBitsBeyondPrefix:
      return "bits set beyond the prefix";
  }
  return "not a network";
}

}  // namespace

bool DeviceRegistry::Device::AllowsSource(const asio::ip::address& address) const {
  if (from.empty()) return true;
  return std::any_of(from.begin(), from.end(),
                     [&](const Network& network) { return network.Contains(address); });
}

absl::StatusOr<DeviceRegistry> DeviceRegistry::Parse(std::string_view text,
                                                     std::string_view file_name) {
  DeviceRegistry registry;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n')) {
    ++line_number;
    auto error = [&](auto&&... parts) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file_name), ":", line_number, ": ", parts...));
    };
    // No field contains '#': it always starts a comment.
    line = line.substr(0, line.find('#'));
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string_view id(fields[0].data(), fields[0].size());
    // (The id is not echoed: a secret may stand where it belongs.)
    if (!ingest::IsValidVehicleId(id)) {
      return error("bad device id (1-64 characters of A-Z a-z 0-9 . _ : -)");
    }
    if (registry.devices_.contains(ToAbsl(id))) return error("device id listed twice");
    Device device;
    bool seen_name = false;
    bool seen_secret = false;
    bool seen_from = false;
    for (size_t i = 1; i < fields.size(); ++i) {
      const absl::string_view field = fields[i];
      const size_t eq = field.find('=');
      const absl::string_view key = field.substr(0, eq);
      const std::string_view value =
          eq == absl::string_view::npos
              ? std::string_view()
              : std::string_view(field.data() + eq + 1, field.size() - eq - 1);
      if (eq == absl::string_view::npos) {
        return error("field ", i + 1, ": expected name=, secret_sha256= or from=");
      }
      if (key == "name") {
        if (seen_name) return error("name= given twice");
        seen_name = true;
        if (!ingest::IsValidVehicleId(value)) {
          return error("bad name= (a vehicle id: 1-64 characters of A-Z a-z 0-9 . _ : -)");
        }
        device.name = std::string(value);
      } else if (key == "secret_sha256") {
        if (seen_secret) return error("secret_sha256= given twice");
        seen_secret = true;
        Sha256Digest hash;
        if (!ParseSha256Hex(value, &hash)) {
          return error("secret_sha256= is not 64 hex digits (the secret's SHA-256)");
        }
        device.secret_sha256 = hash;
      } else if (key == "from") {
        if (seen_from) return error("from= given twice");
        seen_from = true;
        size_t index = 0;
        for (absl::string_view part : absl::StrSplit(ToAbsl(value), ',')) {
          ++index;
          Network network;
          const std::string why =
              ParseNetwork(std::string_view(part.data(), part.size()), &network);
          if (!why.empty()) return error("from= network ", index, ": ", why);
          device.from.push_back(network);
        }
      } else {
        return error("field ", i + 1, ": unknown key (expected name=, secret_sha256= or from=)");
      }
    }
    registry.devices_.emplace(std::string(id), std::move(device));
  }
  return registry;
}

const DeviceRegistry::Device* DeviceRegistry::Find(std::string_view id) const {
  const auto it = devices_.find(ToAbsl(id));
  return it == devices_.end() ? nullptr : &it->second;
}

std::array<uint8_t, 32> DeviceRegistry::SecretDigest(std::string_view secret) {
  return Sha256(secret);
}

DeviceRegistry::AuthResult DeviceRegistry::Authenticate(std::string_view id,
                                                        std::string_view secret,
                                                        const asio::ip::address& source,
                                                        const Device** device) const {
  const Device* found = Find(id);
  // Compared against something in every case: an unknown id or one without
  // a secret costs the same digest and comparison as a wrong secret.
  static constexpr std::array<uint8_t, 32> kNone{};
  const std::array<uint8_t, 32>& expected =
      found != nullptr && found->secret_sha256 ? *found->secret_sha256 : kNone;
  const std::array<uint8_t, 32> digest = SecretDigest(secret);
  const bool equal = CRYPTO_memcmp(expected.data(), digest.data(), digest.size()) == 0;
  if (found == nullptr) return AuthResult::kUnknownDevice;
  if (!found->secret_sha256) return AuthResult::kNoSecret;
  if (!equal) return AuthResult::kWrongSecret;
  if (!found->AllowsSource(source)) return AuthResult::kSourceMismatch;
  *device = found;
  return AuthResult::kOk;
}

bool DeviceRegistry::Device::SameCredentials(const Device& other) const {
  if (name != other.name || secret_sha256 != other.secret_sha256 ||
      from.size() != other.from.size()) {
    return false;
  }
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i].family != other.from[i].family ||
        from[i].prefix_length != other.from[i].prefix_length ||
        from[i].bytes != other.from[i].bytes) {
      return false;
    }
  }
  return true;
}

absl::Status DeviceRegistryFile::Load() {
  std::string error;
  if (Reload(&error) == Change::kFailed) return absl::InvalidArgumentError(error);
  return absl::OkStatus();
}

DeviceRegistryFile::Change DeviceRegistryFile::ReadAndSwap(std::string* error) {
  absl::StatusOr<std::string> text = file_.Read();
  if (!text.ok()) {
    *error = std::string(text.status().message());
    return Change::kFailed;
  }
  absl::StatusOr<DeviceRegistry> registry = DeviceRegistry::Parse(*text, file_.path());
  if (!registry.ok()) {
    *error = std::string(registry.status().message());
    return Change::kFailed;
  }
  auto next = std::make_shared<const DeviceRegistry>(*std::move(registry));
  {
    absl::MutexLock lock(&mu_);
    current_.swap(next);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  // (The old registry goes when the last session holding it lets go.)
  return Change::kReloaded;
}

DeviceRegistryFile::Change DeviceRegistryFile::Check(std::string* error) {
  switch (file_.Check()) {
    case WatchedFile::Poll::kUnchanged:
      return Change::kNone;
    case WatchedFile::Poll::kGone:
      *error = absl::StrCat(file_.path(), ": cannot read: the file is gone");
      return Change::kFailed;
    case WatchedFile::Poll::kChanged:
      break;
  }
  return ReadAndSwap(error);
}

DeviceRegistryFile::Change DeviceRegistryFile::Reload(std::string* error) {
  return ReadAndSwap(error);
}

std::shared_ptr<const DeviceRegistry> DeviceRegistryFile::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

}  // namespace fixstream::gateway
