// DeviceRegistry: the devices a gateway knows (issue #16, device side),
// loaded from `--devices_file` (docs/OPERATIONS.md, "The device registry";
// docs/SECURITY.md for what the policies built on it protect against).
//
// One device per line:
//   ID [name=FLEET_ID] [secret_sha256=HEX] [from=CIDR[,CIDR...]]
// ID is the vehicle id the device sends (IMEI, serial, $PFSID id): a valid
// vehicle id. `name=` is the fleet vehicle id published for it instead (the
// device id stays in no record). `secret_sha256=` is the SHA-256 of its
// secret in lower- or upper-case hex (64 digits; never the secret itself),
// for the authenticated policy. `from=` lists the networks it may connect
// from (IPv4 or IPv6 CIDRs, or single addresses). Blank lines and `#`
// comments are ignored. Errors are InvalidArgument naming `FILE:LINE` and
// the field, never the line's content (a secret may have been pasted where
// its hash belongs).
//
// DevicePolicy (device_policy.h) says what the device sessions do with it.
//
// DeviceRegistryFile keeps the registry loaded from a file (WatchedFile
// polling, or Reload() on SIGHUP) and hands out immutable snapshots.
#ifndef FIXSTREAM_GATEWAY_DEVICE_DEVICE_REGISTRY_H_
#define FIXSTREAM_GATEWAY_DEVICE_DEVICE_REGISTRY_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "asio/ip/address.hpp"
#include "gateway/common/watched_file.h"
#include "gateway/device/network_prefix.h"

namespace fixstream::gateway {

// Thread safety: immutable once parsed; const methods are thread-safe.
class DeviceRegistry final {
 public:
  using Network = NetworkPrefix;
  struct Device {
    std::string name;  // the published vehicle id; empty: the device id
    std::optional<std::array<uint8_t, 32>> secret_sha256;
    std::vector<Network> from;  // empty: any address
    // Whether `other` is this device with the same secret and networks (an
    // authenticated connection outlives a reload that keeps its device so).
    bool SameCredentials(const Device& other) const;
    // Whether `address` is one this device may connect from.
    bool AllowsSource(const asio::ip::address& address) const;
  };

  DeviceRegistry() = default;

  static absl::StatusOr<DeviceRegistry> Parse(std::string_view text, std::string_view file_name);

  // The device of `id`, or null. Valid as long as the registry.
  const Device* Find(std::string_view id) const;

  // --device_policy=authenticated: whether `secret` is the secret of device
  // `id` connecting from `source`. The SHA-256 of `secret` is computed and
  // compared (CRYPTO_memcmp) whether or not the id exists or has a secret,
  // so the time taken does not tell which ids are registered. On kOk
  // `*device` is the device (valid as long as the registry).
  enum class AuthResult : uint8_t { kOk, kUnknownDevice, kNoSecret, kWrongSecret, kSourceMismatch };
  AuthResult Authenticate(std::string_view id, std::string_view secret,
                          const asio::ip::address& source, const Device** device) const;
  // SHA-256 of a secret, as secret_sha256= stores it.
  static std::array<uint8_t, 32> SecretDigest(std::string_view secret);
  size_t size() const { return devices_.size(); }

 private:
  absl::flat_hash_map<std::string, Device> devices_;
};

// Thread safety: Load(), Check() and Reload() from one thread at a time
// (the device server's accept strand, or main before start); current() from
// any thread (a short lock, a shared_ptr copy).
class DeviceRegistryFile final {
 public:
  explicit DeviceRegistryFile(std::string path) : file_(std::move(path)) {}
  DeviceRegistryFile(const DeviceRegistryFile&) = delete;
  DeviceRegistryFile& operator=(const DeviceRegistryFile&) = delete;

  // At start: InvalidArgument (FILE:LINE) if it cannot be read or parsed.
  absl::Status Load();

  enum class Change : uint8_t { kNone, kReloaded, kFailed };
  // Polls the file (WatchedFile); reads and parses it once it changed and
  // settled. On kFailed `*error` says why and the previous registry stays.
  Change Check(std::string* error);
  // Reads and parses it now (SIGHUP), changed or not.
  Change Reload(std::string* error);

  std::shared_ptr<const DeviceRegistry> current() const ABSL_LOCKS_EXCLUDED(mu_);
  // Increased each time current() changes: a session re-reads current()
  // only when this moved (one relaxed load per read). Any thread.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  const std::string& path() const { return file_.path(); }

 private:
  Change ReadAndSwap(std::string* error);

  WatchedFile file_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const DeviceRegistry> current_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const DeviceRegistry>();
  std::atomic<uint64_t> generation_{0};
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_DEVICE_REGISTRY_H_
