#include "gateway/api/access_tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/common/sha256.h"

namespace fixstream::gateway {
namespace {

constexpr std::string_view kCallNames[kCallCount] = {"Subscribe", "GetLatestPositions",
                                                     "ListVehicles", "Health", "Reflection"};
constexpr uint32_t kAllCalls = (1u << kCallCount) - 1;
constexpr size_t kMaxNameLength = 64;

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != ':' && c != '@') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view CallName(Call call) { return kCallNames[static_cast<size_t>(call)]; }

std::string Principal::CallList() const {
  std::string out;
  for (size_t i = 0; i < kCallCount; ++i) {
    if ((calls >> i) & 1) absl::StrAppend(&out, out.empty() ? "" : ",", ToAbsl(kCallNames[i]));
  }
  return out.empty() ? "none" : out;
}

absl::StatusOr<uint32_t> ParseCallList(std::string_view list) {
  uint32_t calls = 0;
  if (list.empty()) return calls;
  for (absl::string_view name : absl::StrSplit(ToAbsl(list), ',')) {
    name = absl::StripAsciiWhitespace(name);
    if (name == "*") {
      calls |= kAllCalls;
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < kCallCount; ++i) {
      if (absl::EqualsIgnoreCase(name, ToAbsl(kCallNames[i]))) {
        calls |= 1u << i;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          "unknown call name (Subscribe, GetLatestPositions, ListVehicles, Health, Reflection or "
          "*)");
    }
  }
  return calls;
}

absl::StatusOr<TokenTable> TokenTable::Parse(std::string_view text, std::string_view file_name) {
  TokenTable table;
  size_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(ToAbsl(text), '\n')) {
    ++line_number;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(file_name), ":", line_number, ": ", why));
    };
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Entry entry;
    if (!ParseSha256Hex(std::string_view(fields[0].data(), fields[0].size()), &entry.digest)) {
      return error(
          "the first field must be the token's SHA-256 as 64 hex digits (printf %s \"$TOKEN\" | "
          "sha256sum), never the token itself");
    }
    for (const Entry& other : table.entries_) {
      if (other.digest == entry.digest) return error("the same token hash is on an earlier line");
    }
    if (fields.size() < 2 || !IsValidName(std::string_view(fields[1].data(), fields[1].size()))) {
      return error(absl::StrCat("the second field must be the principal's name (1-", kMaxNameLength,
                                " characters of [A-Za-z0-9._@:-])"));
    }
    auto principal = std::make_shared<Principal>();
    principal->name = std::string(fields[1]);
    bool have_calls = false;
    bool have_vehicles = false;
    for (size_t i = 2; i < fields.size(); ++i) {
      absl::string_view value = fields[i];
      if (absl::ConsumePrefix(&value, "calls=")) {
        if (have_calls) return error("calls= is given twice");
        have_calls = true;
        absl::StatusOr<uint32_t> calls =
            ParseCallList(std::string_view(value.data(), value.size()));
        if (!calls.ok()) return error(absl::StrCat("calls=: ", calls.status().message()));
        principal->calls = *calls;
      } else if (absl::ConsumePrefix(&value, "vehicles=")) {
        if (have_vehicles) return error("vehicles= is given twice");
        have_vehicles = true;
        std::vector<std::string> patterns = absl::StrSplit(value, ',', absl::SkipEmpty());
        absl::StatusOr<VehicleScope> scope = VehicleScope::FromPatterns(patterns);
        if (!scope.ok()) return error(absl::StrCat("vehicles=: ", scope.status().message()));
        if (!scope->all()) principal->vehicles = std::make_shared<VehicleScope>(*std::move(scope));
      } else {
        return error(absl::StrCat("field ", i + 1, " is neither calls=... nor vehicles=..."));
      }
    }
    if (!have_calls || !have_vehicles) {
      return error(
          "calls=... and vehicles=... are both required (e.g. calls=Subscribe vehicles=acme-*; "
          "calls=* vehicles=* for everything)");
    }
    entry.principal = std::move(principal);
    table.entries_.push_back(std::move(entry));
  }
  return table;
}

std::array<uint8_t, 32> TokenTable::Digest(std::string_view token) { return Sha256(token); }

std::shared_ptr<const Principal> TokenTable::Find(std::string_view token) const {
  return FindDigest(Sha256(token));
}

std::shared_ptr<const Principal> TokenTable::FindDigest(
    const std::array<uint8_t, 32>& digest) const {
  const Entry* found = nullptr;
  for (const Entry& entry : entries_) {
    // No early exit: every entry is compared, in constant time each.
    const bool equal = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (equal) found = &entry;
  }
  return found != nullptr ? found->principal : nullptr;
}

std::string TokenDigestHex(std::string_view token) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : Sha256(token)) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// --- TokenFile

bool TokenFile::Stamp::operator==(const Stamp& other) const {
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

// A tokens file is small; anything larger is not one.
constexpr size_t kMaxFileBytes = 16 << 20;

}  // namespace

TokenFile::Stamp TokenFile::StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Stamp{};
  return FromStat<Stamp>(st);
}

absl::StatusOr<TokenTable> TokenFile::Read(Stamp* stamp) const {
  *stamp = Stamp{};
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot read the tokens file: ", std::strerror(errno)));
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
      if (text.size() > kMaxFileBytes) break;
    }
  }
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot read the tokens file: ", std::strerror(saved_errno)));
  }
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": larger than ", kMaxFileBytes, " bytes: not a tokens file"));
  }
  return TokenTable::Parse(text, path_);
}

absl::Status TokenFile::Load() {
  absl::StatusOr<TokenTable> table = Read(&loaded_);
  if (!table.ok()) return table.status();
  table_ = std::make_shared<const TokenTable>(*std::move(table));
  settling_.reset();
  return absl::OkStatus();
}

TokenFile::Change TokenFile::ReadNow(const Stamp& now, std::string* error) {
  settling_.reset();
  absl::StatusOr<TokenTable> table = Read(&loaded_);
  if (!table.ok()) {
    if (!loaded_.exists) loaded_ = now;
    *error = std::string(table.status().message());
    return Change::kFailed;
  }
  table_ = std::make_shared<const TokenTable>(*std::move(table));
  return Change::kReloaded;
}

TokenFile::Change TokenFile::CheckForChange(std::string* error) {
  const Stamp now = StatPath(path_);
  if (now == loaded_) {
    settling_.reset();
    return Change::kNone;
  }
  if (!settling_.has_value() || !(*settling_ == now)) {
    settling_ = now;  // read it once it looks the same at the next poll
    return Change::kNone;
  }
  return ReadNow(now, error);
}

TokenFile::Change TokenFile::Reload(std::string* error) { return ReadNow(StatPath(path_), error); }

// --- Authorizer

void Authorizer::SetTable(std::shared_ptr<const TokenTable> table) {
  absl::MutexLock lock(&mu_);
  table_ = std::move(table);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

grpc::Status Authorizer::StillAllows(const Access& access, Call call) const {
  // Admitted without a principal (public call, or tokens were off): the
  // grant did not come from a token, so no reload takes it back.
  if (access.principal == nullptr) return grpc::Status::OK;
  std::shared_ptr<const TokenTable> table;
  {
    absl::ReaderMutexLock lock(&mu_);
    table = table_;
  }
  if (table == nullptr) return grpc::Status::OK;
  const std::shared_ptr<const Principal> now = table->FindDigest(access.digest);
  if (now == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the bearer token of this call was removed from the gateway's tokens");
  }
  const Principal& was = *access.principal;
  const auto scope_text = [](const Principal& p) {
    return p.vehicles == nullptr ? std::string("*") : p.vehicles->ToString();
  };
  if (now->name != was.name || !now->may(call) || scope_text(*now) != scope_text(was)) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("the grant of principal '", was.name,
                     "' changed while this call ran (calls or vehicles); call again"));
  }
  return grpc::Status::OK;
}

bool Authorizer::enabled() const {
  absl::ReaderMutexLock lock(&mu_);
  return table_ != nullptr;
}

Authorizer::Access Authorizer::Authorize(const grpc::ServerContextBase& context, Call call) const {
  Access access;
  if ((public_calls_ >> static_cast<int>(call)) & 1) return access;
  std::shared_ptr<const TokenTable> table;
  {
    absl::ReaderMutexLock lock(&mu_);
    table = table_;
  }
  if (table == nullptr) return access;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  absl::string_view value;
  if (it != metadata.end()) value = absl::string_view(it->second.data(), it->second.size());
  // RFC 6750: the scheme is case-insensitive.
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
    unauthenticated_.fetch_add(1, std::memory_order_relaxed);
    access.status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "this gateway needs a bearer token: send the metadata "
                                 "`authorization: Bearer <token>`");
    return access;
  }
  value.remove_prefix(7);
  value = absl::StripAsciiWhitespace(value);
  access.digest = TokenTable::Digest(std::string_view(value.data(), value.size()));
  access.principal = table->FindDigest(access.digest);
  if (access.principal == nullptr) {
    unauthenticated_.fetch_add(1, std::memory_order_relaxed);
    access.status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "the bearer token is not known to this gateway");
    return access;
  }
  if (!access.principal->may(call)) {
    permission_denied_.fetch_add(1, std::memory_order_relaxed);
    access.status = grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("principal '", access.principal->name, "' may not call ",
                     ToAbsl(CallName(call)), " (it may call: ", access.principal->CallList(), ")"));
  }
  return access;
}

}  // namespace fixstream::gateway
