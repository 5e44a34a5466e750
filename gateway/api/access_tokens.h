// Bearer tokens for the gRPC API: who a caller is, which calls it may make
// and which vehicles it may read.
//
// A tokens file names one principal per line: the SHA-256 of its token (hex;
// the file never holds a token itself), its name, the calls it may make and
// the vehicle-id patterns it may read (docs/SECURITY.md):
//
//   # sha256(token)                                                  name  calls  vehicles
//   5e88...8d  acme-dispatch  calls=Subscribe,GetLatestPositions  vehicles=acme-*
//
// TokenTable is the parsed file; TokenFile is the file on disk, polled for
// changes (and read again on SIGHUP) by the server layer; Authorizer answers
// each call from the table in force, which it swaps atomically on reload.
#ifndef FIXSTREAM_GATEWAY_API_ACCESS_TOKENS_H_
#define FIXSTREAM_GATEWAY_API_ACCESS_TOKENS_H_

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/hub/vehicle_scope.h"

namespace fixstream::gateway {

// The calls a principal may be allowed. Health and Reflection cover their
// whole services.
enum class Call : uint8_t {
  kSubscribe,
  kGetLatestPositions,
  kListVehicles,
  kHealth,
  kReflection,
};
inline constexpr size_t kCallCount = 5;
// "Subscribe", "GetLatestPositions", ... as written in a tokens file.
std::string_view CallName(Call call);

// One principal of a tokens file. Immutable; shared by the table and the
// calls (a stream keeps its principal after a reload).
struct Principal {
  std::string name;
  uint32_t calls = 0;  // bit (1 << Call)
  // The vehicles it may read; null for every vehicle (`vehicles=*`).
  std::shared_ptr<const VehicleScope> vehicles;

  bool may(Call call) const { return (calls >> static_cast<int>(call)) & 1; }
  // "Subscribe,ListVehicles" (for messages).
  std::string CallList() const;
};

// Immutable after Parse; safe to share between threads.
class TokenTable final {
 public:
  // Parses a tokens file's text. Errors name `file_name:LINE` and the field
  // at fault, never a field's content (an operator may have pasted a token
  // where its hash belongs).
  static absl::StatusOr<TokenTable> Parse(std::string_view text, std::string_view file_name);

  // The principal whose token is `token`, or null. Hashes `token` once and
  // compares the digest with every entry in constant time (CRYPTO_memcmp,
  // no early exit), so the time taken says nothing about which entry, if
  // any, came close.
  std::shared_ptr<const Principal> Find(std::string_view token) const;
  // The same by the token's SHA-256 (what Find computed).
  std::shared_ptr<const Principal> FindDigest(const std::array<uint8_t, 32>& digest) const;
  static std::array<uint8_t, 32> Digest(std::string_view token);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    std::shared_ptr<const Principal> principal;
  };
  std::vector<Entry> entries_;
};

// The SHA-256 of `token`, as 64 lower-case hex digits (what a tokens file
// stores; `printf %s "$TOKEN" | sha256sum` prints the same).
std::string TokenDigestHex(std::string_view token);

// A tokens file on disk and the table last loaded from it. Changes are
// noticed by polling stat(2) (device, inode, size, mtime, ctime), as the
// device layer's source maps are: a changed file is read once it looked the
// same at two polls in a row, so a half-written file is not loaded (write a
// temporary file and rename it over, to be sure). A file that fails to
// parse leaves the table in force.
//
// Thread safety: none; one thread (the server's reload thread, or main
// through it) uses it.
class TokenFile final {
 public:
  explicit TokenFile(std::string path) : path_(std::move(path)) {}
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  // Reads the file: InvalidArgument (file:line) if it cannot be read or
  // parsed.
  absl::Status Load();

  enum class Change : uint8_t { kNone, kReloaded, kFailed };
  // Polls the file; on kFailed `*error` says why, once per broken version.
  Change CheckForChange(std::string* error);
  // Reads the file now whatever its stamp (SIGHUP).
  Change Reload(std::string* error);

  const std::shared_ptr<const TokenTable>& table() const { return table_; }
  const std::string& path() const { return path_; }

 private:
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
  absl::StatusOr<TokenTable> Read(Stamp* stamp) const;
  Change ReadNow(const Stamp& now, std::string* error);

  const std::string path_;
  std::shared_ptr<const TokenTable> table_;
  Stamp loaded_;
  std::optional<Stamp> settling_;
};

// Decides every call: who is calling (the bearer token of its
// `authorization` metadata) and whether it may make this call. Without a
// table every call is allowed (no --grpc_tokens_file).
//
// Thread safety: thread-safe; Authorize runs on gRPC threads while
// SetTable runs on the reload thread.
class Authorizer final {
 public:
  // `public_calls`: calls answered without a token (health, reflection by
  // default), as bits (1 << Call).
  explicit Authorizer(uint32_t public_calls) : public_calls_(public_calls) {}

  // Replaces the table in force (null: tokens off). Calls already admitted
  // keep the principal they were admitted with.
  void SetTable(std::shared_ptr<const TokenTable> table) ABSL_LOCKS_EXCLUDED(mu_);
  bool enabled() const ABSL_LOCKS_EXCLUDED(mu_);
  // Incremented by every SetTable: a long call (a Subscribe stream) that
  // sees it change asks StillAllows. Lock-free.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  struct Access {
    grpc::Status status;  // OK, UNAUTHENTICATED or PERMISSION_DENIED
    // Who is calling; null when tokens are off or the call is public: then
    // nothing is restricted.
    std::shared_ptr<const Principal> principal;
    // The SHA-256 of the token it was admitted with (when principal is set).
    std::array<uint8_t, 32> digest{};
    // The vehicles the caller may read; null: every vehicle.
    const std::shared_ptr<const VehicleScope>& scope() const {
      static const std::shared_ptr<const VehicleScope> kAll;
      return principal != nullptr ? principal->vehicles : kAll;
    }
  };
  Access Authorize(const grpc::ServerContextBase& context, Call call) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a call admitted as `access` may go on under the table in force
  // now: OK if its token is still there with the same principal, the call
  // and the same vehicles; else UNAUTHENTICATED (token removed) or
  // PERMISSION_DENIED (its grant changed), saying so.
  grpc::Status StillAllows(const Access& access, Call call) const ABSL_LOCKS_EXCLUDED(mu_);

  // How many calls were refused, by status.
  uint64_t unauthenticated() const { return unauthenticated_.load(std::memory_order_relaxed); }
  uint64_t permission_denied() const { return permission_denied_.load(std::memory_order_relaxed); }
  // Counts a refusal decided after Authorize (vehicles out of scope).
  void CountPermissionDenied() const { permission_denied_.fetch_add(1, std::memory_order_relaxed); }

 private:
  const uint32_t public_calls_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
  mutable std::atomic<uint64_t> unauthenticated_{0};
  mutable std::atomic<uint64_t> permission_denied_{0};
};

// Parses a list of call names ("health,reflection", "Subscribe,...",
// case-insensitive, `*` for all) into bits (1 << Call).
absl::StatusOr<uint32_t> ParseCallList(std::string_view list);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_API_ACCESS_TOKENS_H_
