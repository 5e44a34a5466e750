// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of every journal frame.
//
// Debian 12 packages no CRC32C library, so this is our own: the SSE4.2
// `crc32` instruction when the CPU has it (checked once, at run time), else
// a portable slicing-by-8 table implementation. Both give identical results
// (tests/gateway/crc32c_test.cc checks them against RFC 3720 vectors and
// against each other).
//
// Thread safety: all functions are pure and thread-safe.
#ifndef FIXSTREAM_GATEWAY_COMMON_CRC32C_H_
#define FIXSTREAM_GATEWAY_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fixstream::gateway::crc32c {

// Returns the CRC32C of A + data, where `crc` is the CRC32C of some earlier
// bytes A (0 for none). So Extend(Value(a), b) == Value(a + b).
uint32_t Extend(uint32_t crc, const void* data, size_t size);

inline uint32_t Value(const void* data, size_t size) { return Extend(0, data, size); }
inline uint32_t Value(std::string_view data) { return Extend(0, data.data(), data.size()); }

// The two implementations, exposed for tests and benchmarks. ExtendHardware
// must only be called when HardwareAvailable() is true.
uint32_t ExtendSoftware(uint32_t crc, const void* data, size_t size);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t size);
bool HardwareAvailable();

}  // namespace fixstream::gateway::crc32c

#endif  // FIXSTREAM_GATEWAY_COMMON_CRC32C_H_
