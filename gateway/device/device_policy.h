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
};

// "open", "registered"; nullopt for anything else.
inline std::optional<DevicePolicy> ParseDevicePolicy(std::string_view text) {
  if (text == "open") return DevicePolicy::kOpen;
  if (text == "registered") return DevicePolicy::kRegistered;
  return std::nullopt;
}

inline std::string_view DevicePolicyName(DevicePolicy policy) {
  return policy == DevicePolicy::kRegistered ? "registered" : "open";
}

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_DEVICE_POLICY_H_
