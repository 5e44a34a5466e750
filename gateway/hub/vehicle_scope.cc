#include "gateway/hub/vehicle_scope.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ingest/location_record.h"

namespace fixstream::gateway {

absl::StatusOr<VehicleScope> VehicleScope::FromPatterns(const std::vector<std::string>& patterns) {
  if (patterns.empty()) {
    return absl::InvalidArgumentError("no vehicle patterns (use * for every vehicle)");
  }
  VehicleScope scope;
  for (size_t i = 0; i < patterns.size(); ++i) {
    std::string_view p = patterns[i];
    if (p == "*") {
      scope.all_ = true;
      continue;
    }
    const bool prefix = !p.empty() && p.back() == '*';
    if (prefix) p.remove_suffix(1);
    // A prefix is an id's beginning: the same characters, not longer.
    if (!ingest::IsValidVehicleId(p)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vehicle pattern ", i + 1,
          " is not a vehicle id, a vehicle-id prefix followed by *, or * alone (ids are 1-",
          ingest::kMaxVehicleIdLength, " characters of [A-Za-z0-9._:-])"));
    }
    if (prefix) {
      scope.prefixes_.emplace_back(p);
    } else {
      scope.exact_.emplace(p);
    }
  }
  std::sort(scope.prefixes_.begin(), scope.prefixes_.end());
  scope.prefixes_.erase(std::unique(scope.prefixes_.begin(), scope.prefixes_.end()),
                        scope.prefixes_.end());
  scope.sorted_exact_.assign(scope.exact_.begin(), scope.exact_.end());
  std::sort(scope.sorted_exact_.begin(), scope.sorted_exact_.end());
  return scope;
}

std::optional<std::string_view> VehicleScope::Seek(std::string_view id) const {
  if (Contains(id)) return id;
  // Every id a pattern accepts is >= the pattern's text (a prefix, or the
  // id itself); a pattern whose text is > `id` can still match later ids,
  // one whose text is <= `id` but does not contain it cannot (its range of
  // matches, contiguous in order, ended before `id`).
  std::optional<std::string_view> best;
  auto consider = [&](const std::vector<std::string>& sorted) {
    auto it = std::upper_bound(sorted.begin(), sorted.end(), id,
                               [](std::string_view a, const std::string& b) { return a < b; });
    if (it != sorted.end() && (!best || std::string_view(*it) < *best)) best = *it;
  };
  consider(prefixes_);
  consider(sorted_exact_);
  return best;
}

std::string VehicleScope::ToString() const {
  std::vector<std::string> all;
  if (all_) all.push_back("*");
  for (const std::string& p : prefixes_) all.push_back(absl::StrCat(p, "*"));
  for (const std::string& e : sorted_exact_) all.push_back(e);
  return absl::StrJoin(all, ",");
}

}  // namespace fixstream::gateway
