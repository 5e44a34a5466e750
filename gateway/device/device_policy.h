// DevicePolicy: what the device sessions do with the device registry
// (device_registry.h; docs/SECURITY.md, "The device side").
#ifndef FIXSTREAM_GATEWAY_DEVICE_DEVICE_POLICY_H_
#define FIXSTREAM_GATEWAY_DEVICE_DEVICE_POLICY_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace fixstream::gateway {

enum class DevicePolicy : uint8_t {
  // Any vehicle id is accepted from anywhere (the registry, if any, still
  // maps name=).
  kOpen,
  // A record whose vehicle id is not in the registry is rejected
  // (`unregistered`), one from outside the id's from= networks too
  // (`source_mismatch`).
  kRegistered,
  // A connection's first line must authenticate it (`$PFSID,<id>,<secret>`,
  // `AUTH,<id>,<secret>` or `{"vehicle_id":..,"secret":..}`, checked
  // against the registry's secret_sha256= and from=); then it may publish
  // for that id only (`vehicle_mismatch`). A failed authentication closes
  // the connection (`auth_failed`) and counts against its source's rate
  // limit (auth_limiter.h). Line listeners only (no device protocols).
  kAuthenticated,
};

// "open", "registered", "authenticated"; nullopt for anything else.
inline std::optional<DevicePolicy> ParseDevicePolicy(std::string_view text) {
  if (text == "open") return DevicePolicy::kOpen;
  if (text == "registered") return DevicePolicy::kRegistered;
  if (text == "authenticated") return DevicePolicy::kAuthenticated;
  return std::nullopt;
}

inline std::string_view DevicePolicyName(DevicePolicy policy) {
  switch (policy) {
    case DevicePolicy::kRegistered:
      return "registered";
    case DevicePolicy::kAuthenticated:
      return "authenticated";
    case DevicePolicy::kOpen:
    default:
      return "open";
  }
}

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_DEVICE_POLICY_H_
