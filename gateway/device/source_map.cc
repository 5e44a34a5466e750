#include "gateway/device/source_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/device/network_prefix.h"
#include "ingest/location_record.h"

namespace fixstream::gateway {
namespace {

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

void AddLength(std::vector<uint8_t>& lengths, int length) {
  const auto value = static_cast<uint8_t>(length);
  if (std::find(lengths.begin(), lengths.end(), value) != lengths.end()) return;
  lengths.push_back(value);
  std::sort(lengths.begin(), lengths.end(), std::greater<>());
}

}  // namespace

SourceVehicleMap::Key SourceVehicleMap::MakeKey(int family, int prefix_length,
                                                const uint8_t* bytes) {
  Key key{};
  key[0] = static_cast<uint8_t>(family);
  key[1] = static_cast<uint8_t>(prefix_length);
  const size_t size = family == 4 ? 4 : 16;
  std::memcpy(key.data() + 2, bytes, size);
  MaskToPrefix(key.data() + 2, size, prefix_length);
  return key;
}

absl::StatusOr<SourceVehicleMap> SourceVehicleMap::Parse(std::string_view text,
                                                         std::string_view file_name) {
  SourceVehicleMap map;
  absl::flat_hash_map<Key, size_t> line_of;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n')) {
    ++line_number;
    auto error = [&](auto&&... parts) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file_name), ":", line_number, ": ", parts...));
    };
    // Neither addresses nor vehicle ids contain '#': it always starts a
    // comment.
    line = line.substr(0, line.find('#'));
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() != 2) {
      return error("expected `ADDRESS[/PREFIX] VEHICLE_ID`, got '",
                   absl::StripAsciiWhitespace(line), "'");
    }
    const absl::string_view entry = fields[0];
    const absl::string_view vehicle = fields[1];
    NetworkPrefix prefix;
    switch (ParseNetworkPrefix(std::string_view(entry.data(), entry.size()), &prefix)) {
      case PrefixError::kNone:
        break;
      case PrefixError::kScopeId:
        return error("bad address '", entry, "': scope ids (%) are not supported");
      case PrefixError::kNotAnAddress:
        return error("bad address '", entry, "': not an IPv4 or IPv6 address");
      case PrefixError::kBadLength:
        return error("bad prefix length in '", entry, "': must be 0 to ",
                     prefix.family == 4 ? 32 : 128);
      case PrefixError::kShortMappedPrefix:
        return error("bad prefix length in '", entry,
                     "': an IPv4-mapped prefix must be at least /96 (or write it as IPv4)");
      case PrefixError::kBitsBeyondPrefix:
        return error("'", entry, "' has bits set beyond its /", prefix.prefix_length,
                     " prefix (write the network address)");
    }
    const int family = prefix.family;
    const int length = prefix.prefix_length;
    const Key key = MakeKey(family, length, prefix.bytes.data());
    if (!ingest::IsValidVehicleId(std::string_view(vehicle.data(), vehicle.size()))) {
      return error("bad vehicle id '", vehicle, "': must be 1 to ", ingest::kMaxVehicleIdLength,
                   " characters of A-Z a-z 0-9 . _ : -");
    }
    auto [it, inserted] = line_of.emplace(key, line_number);
    if (!inserted) return error("'", entry, "' is already mapped on line ", it->second);
    map.entries_.emplace(key, std::string(vehicle));
    AddLength(family == 4 ? map.v4_lengths_ : map.v6_lengths_, length);
  }
  return map;
}

std::string_view SourceVehicleMap::Lookup(const asio::ip::address& peer) const {
  std::array<uint8_t, 16> bytes;
  const int family = AddressBytes(peer, &bytes);
  for (uint8_t length : family == 4 ? v4_lengths_ : v6_lengths_) {
    auto it = entries_.find(MakeKey(family, length, bytes.data()));
    if (it != entries_.end()) return it->second;
  }
  return {};
}

bool SourceMapFile::Stamp::operator==(const Stamp& other) const {
  return exists == other.exists && device == other.device && inode == other.inode &&
         size == other.size && mtime.tv_sec == other.mtime.tv_sec &&
         mtime.tv_nsec == other.mtime.tv_nsec && ctime.tv_sec == other.ctime.tv_sec &&
         ctime.tv_nsec == other.ctime.tv_nsec;
}

namespace {

template <typename Stamp>
Stamp FromStat(const struct stat& st) {
  Stamp stamp;
  stamp.exists = true;
  stamp.device = st.st_dev;
  stamp.inode = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime = st.st_mtim;
  stamp.ctime = st.st_ctim;
  return stamp;
}

}  // namespace

SourceMapFile::Stamp SourceMapFile::StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Stamp{};
  return FromStat<Stamp>(st);
}

absl::StatusOr<SourceVehicleMap> SourceMapFile::Read(Stamp* stamp) const {
  *stamp = Stamp{};
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot read the source map: ", std::strerror(errno)));
  }
  struct stat st;
  std::string text;
  bool ok = ::fstat(fd, &st) == 0;
  if (ok) {
    *stamp = FromStat<Stamp>(st);
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      text.append(buffer, static_cast<size_t>(n));
    }
  }
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot read the source map: ", std::strerror(saved_errno)));
  }
  return SourceVehicleMap::Parse(text, path_);
}

absl::Status SourceMapFile::Load() {
  absl::StatusOr<SourceVehicleMap> map = Read(&loaded_);
  if (!map.ok()) return map.status();
  map_ = *std::move(map);
  settling_.reset();
  return absl::OkStatus();
}

SourceMapFile::Change SourceMapFile::CheckForChange(std::string* error) {
  const Stamp now = StatPath(path_);
  if (now == loaded_) {
    settling_.reset();
    return Change::kNone;
  }
  if (!settling_.has_value() || !(*settling_ == now)) {
    settling_ = now;  // read it once it looks the same at the next poll
    return Change::kNone;
  }
  settling_.reset();
  absl::StatusOr<SourceVehicleMap> map = Read(&loaded_);
  if (!map.ok()) {
    // A file that vanished is remembered as such, so it is not reported
    // again until it is back.
    if (!loaded_.exists) loaded_ = now;
    *error = std::string(map.status().message());
    return Change::kFailed;
  }
  map_ = *std::move(map);
  return Change::kReloaded;
}

}  // namespace fixstream::gateway
