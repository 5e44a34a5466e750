// SourceVehicleMap: which vehicle a device connection is, by the address it
// comes from — for trackers and vehicle routers on a private APN with static
// addresses, which cannot send an identification line. SourceMapFile keeps
// one loaded from a file and reloads it when the file changes.
//
// The file (docs/OPERATIONS.md, "Identifying devices by source address"):
// one `ADDRESS[/PREFIX] VEHICLE_ID` per line, IPv4 or IPv6, separated by
// whitespace; blank lines and `#` comments are ignored. The most specific
// prefix containing an address wins (a /32 entry beats the /24 around it).
// An entry with bits set beyond its prefix (10.0.0.7/24), the same prefix
// twice, or a vehicle id that is not [A-Za-z0-9._:-]{1,64} is an error
// naming the file and line; so is a scope id (fe80::1%eth0).
// An IPv4-mapped IPv6 peer (::ffff:10.0.0.7, as a dual-stack listener sees
// IPv4 peers) is looked up as its IPv4 address.
#ifndef FIXSTREAM_GATEWAY_DEVICE_SOURCE_MAP_H_
#define FIXSTREAM_GATEWAY_DEVICE_SOURCE_MAP_H_

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "asio/ip/address.hpp"

namespace fixstream::gateway {

// Thread safety: const methods are thread-safe; a map is immutable once
// parsed.
class SourceVehicleMap final {
 public:
  SourceVehicleMap() = default;

  // Parses the text of a mapping file. Errors are InvalidArgument naming
  // `file_name:LINE` and what is wrong there.
  static absl::StatusOr<SourceVehicleMap> Parse(std::string_view text, std::string_view file_name);

  // The vehicle of the most specific entry containing `address`; empty if
  // none does. The view is valid as long as the map.
  std::string_view Lookup(const asio::ip::address& address) const;

  size_t size() const { return entries_.size(); }

 private:
  // [0]: 4 or 6, [1]: prefix length, then the address bytes (IPv4 in the
  // first 4), masked to the prefix.
  using Key = std::array<uint8_t, 18>;
  static Key MakeKey(int family, int prefix_length, const uint8_t* bytes);

  absl::flat_hash_map<Key, std::string> entries_;
  // The prefix lengths in use per family, longest first: a lookup tries
  // each, so it costs one hash probe per distinct length.
  std::vector<uint8_t> v4_lengths_;
  std::vector<uint8_t> v6_lengths_;
};

// One listener's mapping file and the map last loaded from it.
//
// A change is noticed by polling (CheckForChange on a timer, once a second in
// the gateway): the file's device, inode, size, mtime and ctime. Polling
// rather than inotify because it sees every way operators replace such a
// file — an editor's rename over it, a configuration tool's symlink swap
// (stat follows the link), a file deleted and written again, network and
// overlay file systems inotify does not report on — with no watch on the
// directory to keep; the price is one stat(2) per second and a reload up to
// two periods late. A changed file is only read once it has looked the same
// at two polls in a row, so one caught half-written by a writer that
// truncates and rewrites in place is not loaded (write it to a temporary
// name and rename it over, to be sure).
//
// Thread safety: none; one thread (the device server's accept strand) uses
// it. The map returned by map() changes only in CheckForChange().
class SourceMapFile final {
 public:
  explicit SourceMapFile(std::string path) : path_(std::move(path)) {}
  SourceMapFile(const SourceMapFile&) = delete;
  SourceMapFile& operator=(const SourceMapFile&) = delete;

  // Reads the file at start: InvalidArgument if it cannot be read or is not
  // a valid mapping (file:line).
  absl::Status Load();

  enum class Change : uint8_t {
    kNone,      // unchanged, or changed and waiting to look the same once more
    kReloaded,  // read and parsed: map() is the new one
    kFailed,    // read but unreadable or invalid: map() is still the old one
  };
  // Polls the file. On kFailed, `*error` says why (file:line); the same
  // broken file is not reported again until it changes.
  Change CheckForChange(std::string* error);

  const SourceVehicleMap& map() const { return map_; }
  const std::string& path() const { return path_; }

 private:
  // What stat(2) says about the file; `exists` false when it says nothing.
  struct Stamp {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const Stamp& other) const;
  };
  static Stamp StatPath(const std::string& path);
  // Reads and parses the file; `*stamp` is the opened file's (fstat), so a
  // change after the read shows at the next poll.
  absl::StatusOr<SourceVehicleMap> Read(Stamp* stamp) const;

  const std::string path_;
  SourceVehicleMap map_;
  Stamp loaded_;                   // of the file last read, loaded or not
  std::optional<Stamp> settling_;  // a changed stamp seen at the previous poll
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_SOURCE_MAP_H_
