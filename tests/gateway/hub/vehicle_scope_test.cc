#include "gateway/hub/vehicle_scope.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gateway/hub/subscription_filter.h"
#include "gateway/hub/vehicle_registry.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

VehicleScope Scope(const std::vector<std::string>& patterns) {
  absl::StatusOr<VehicleScope> scope = VehicleScope::FromPatterns(patterns);
  EXPECT_TRUE(scope.ok()) << scope.status();
  return *std::move(scope);
}

TEST(VehicleScopeTest, MatchesExactIdsAndPrefixes) {
  const VehicleScope scope = Scope({"acme-*", "bus-7"});
  struct Case {
    const char* id;
    bool contained;
  };
  for (const Case& c : std::vector<Case>{{"acme-1", true},
                                         {"acme-", true},
                                         {"acme", false},
                                         {"acmex", false},
                                         {"bus-7", true},
                                         {"bus-70", false},
                                         {"bus-", false},
                                         {"zeta", false}}) {
    EXPECT_EQ(scope.Contains(c.id), c.contained) << c.id;
  }
  EXPECT_FALSE(scope.all());
  EXPECT_EQ(scope.ToString(), "acme-*,bus-7");
}

TEST(VehicleScopeTest, StarAloneIsEveryVehicle) {
  const VehicleScope scope = Scope({"*"});
  EXPECT_TRUE(scope.all());
  EXPECT_TRUE(scope.Contains("anything"));
}

TEST(VehicleScopeTest, RejectsPatternsThatAreNotIdsOrPrefixes) {
  for (const std::vector<std::string>& patterns : std::vector<std::vector<std::string>>{
           {}, {""}, {"a*b"}, {"**"}, {"a b"}, {"ok", "*x*"}, {std::string(65, 'a')}}) {
    absl::StatusOr<VehicleScope> scope = VehicleScope::FromPatterns(patterns);
    EXPECT_FALSE(scope.ok()) << (patterns.empty() ? "(none)" : patterns.back());
  }
}

TEST(VehicleScopeTest, SeekFindsTheNextIdTheScopeCanContain) {
  const VehicleScope scope = Scope({"acme-*", "bus-7", "zz-*"});
  EXPECT_EQ(scope.Seek("a"), "acme-");
  EXPECT_EQ(scope.Seek("acme-3"), "acme-3");  // contained: itself
  EXPECT_EQ(scope.Seek("acme."), "bus-7");    // past the acme- range
  EXPECT_EQ(scope.Seek("bus-7"), "bus-7");
  EXPECT_EQ(scope.Seek("bus-70"), "zz-");
  EXPECT_EQ(scope.Seek("zz-9"), "zz-9");
  EXPECT_FALSE(scope.Seek("zz.").has_value());
}

TEST(VehicleScopeTest, FilterRestrictedToAScopeMatchesOnlyItsVehicles) {
  SubscriptionFilter filter;
  EXPECT_TRUE(filter.matches_all());
  filter.RestrictTo(std::make_shared<VehicleScope>(Scope({"acme-*"})));
  EXPECT_FALSE(filter.matches_all());
  EXPECT_TRUE(filter.Matches("acme-1", 0, 0));
  EXPECT_FALSE(filter.Matches("other-1", 0, 0));
  // `*` restricts nothing: the unscoped fast path stays.
  SubscriptionFilter all;
  all.RestrictTo(std::make_shared<VehicleScope>(Scope({"*"})));
  EXPECT_TRUE(all.matches_all());
}

TEST(VehicleScopeTest, RegistryPagesOnlyTheScopesVehicles) {
  VehicleRegistry registry(VehicleRegistryOptions{});
  for (const char* id : {"a-1", "acme-1", "acme-2", "b-1", "bus-7", "bus-8", "c-1", "acme-3"}) {
    registry.Admit(id, 1, 1, 1);
  }
  const VehicleScope scope = Scope({"acme-*", "bus-7"});
  auto ids = [&](std::string_view after, size_t limit) {
    std::vector<std::string> out;
    for (const VehicleState* v : registry.Page(after, limit, &scope)) out.push_back(v->id);
    return out;
  };
  EXPECT_EQ(ids("", 10), (std::vector<std::string>{"acme-1", "acme-2", "acme-3", "bus-7"}));
  EXPECT_EQ(ids("", 2), (std::vector<std::string>{"acme-1", "acme-2"}));
  EXPECT_EQ(ids("acme-2", 2), (std::vector<std::string>{"acme-3", "bus-7"}));
  EXPECT_EQ(ids("bus-7", 2), std::vector<std::string>{});
  // A page token outside the scope (a guess) still only yields scoped ids.
  EXPECT_EQ(ids("b", 10), (std::vector<std::string>{"bus-7"}));
}

}  // namespace
}  // namespace fixstream::gateway
