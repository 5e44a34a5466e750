#include "gateway/hub/vehicle_registry.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

enum class Kind { kNewest, kLate, kDuplicate, kNeither };

Kind Classify(const VehicleRegistry::Admission& a) {
  if (a.duplicate) return Kind::kDuplicate;
  if (a.late) return Kind::kLate;
  if (a.newest) return Kind::kNewest;
  return Kind::kNeither;
}

Kind Admit(VehicleRegistry& registry, std::string_view id, int64_t fix) {
  return Classify(registry.Admit(id, fix, /*receive_unix_ns=*/fix + 1, /*connection_id=*/7));
}

VehicleRegistry Registry(size_t dedup_window, size_t max_vehicles = 100) {
  return VehicleRegistry(VehicleRegistryOptions{max_vehicles, dedup_window});
}

std::vector<std::string> Ids(const VehicleRegistry& registry) {
  std::vector<std::string> ids;
  for (const VehicleState* v : registry.Page("", 1000)) ids.push_back(v->id);
  return ids;
}

// Windows of every shape: 1, powers of two and not, larger than the history.
class VehicleRegistryWindowTest : public ::testing::TestWithParam<size_t> {};

TEST_P(VehicleRegistryWindowTest, ReplaysAreDuplicatesOnlyWithinTheWindow) {
  const size_t window = GetParam();
  VehicleRegistry registry = Registry(window);
  constexpr int64_t kFixes = 50;  // wraps every ring several times
  for (int64_t t = 1; t <= kFixes; ++t) ASSERT_EQ(Admit(registry, "v", t), Kind::kNewest) << t;
  for (int64_t t = 1; t <= kFixes; ++t) {
    const bool remembered = t > kFixes - static_cast<int64_t>(window);
    EXPECT_EQ(Admit(registry, "v", t), remembered ? Kind::kDuplicate : Kind::kLate)
        << "window " << window << " fix " << t;
  }
}

TEST_P(VehicleRegistryWindowTest, LateFixInsideTheWindowIsRememberedInOrder) {
  const size_t window = GetParam();
  VehicleRegistry registry = Registry(window);
  for (int64_t t = 10; t <= 100; t += 10) ASSERT_EQ(Admit(registry, "v", t), Kind::kNewest);
  // 95 is older than the newest, so late; with room for two or more fixes it
  // is remembered between 90 and 100, a window of one keeps only 100.
  EXPECT_EQ(Admit(registry, "v", 95), Kind::kLate);
  EXPECT_EQ(Admit(registry, "v", 95), window >= 2 ? Kind::kDuplicate : Kind::kLate);
  EXPECT_EQ(Admit(registry, "v", 100), Kind::kDuplicate);
  // The window now holds the `window` newest of 10..90, 95, 100.
  std::vector<int64_t> all = {10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100};
  for (size_t i = 0; i < all.size(); ++i) {
    const bool remembered = i + window >= all.size();
    if (all[i] == 95 || all[i] == 100) continue;  // checked above
    EXPECT_EQ(Admit(registry, "v", all[i]), remembered ? Kind::kDuplicate : Kind::kLate)
        << "window " << window << " fix " << all[i];
  }
  // Newer fixes keep working after the insertions.
  EXPECT_EQ(Admit(registry, "v", 101), Kind::kNewest);
  EXPECT_EQ(Admit(registry, "v", 101), Kind::kDuplicate);
}

INSTANTIATE_TEST_SUITE_P(Windows, VehicleRegistryWindowTest,
                         ::testing::Values(1, 2, 3, 4, 5, 7, 8, 64, 100));

TEST(VehicleRegistryTest, ZeroWindowNeverReportsDuplicates) {
  VehicleRegistry registry = Registry(0);
  EXPECT_EQ(Admit(registry, "v", 10), Kind::kNewest);
  EXPECT_EQ(Admit(registry, "v", 10), Kind::kNeither);  // same time: neither late nor newest
  EXPECT_EQ(Admit(registry, "v", 5), Kind::kLate);
  EXPECT_EQ(Admit(registry, "v", 5), Kind::kLate);
  EXPECT_EQ(registry.Find("v")->records, 4u);
}

TEST(VehicleRegistryTest, KeepsWhatItKnowsPerVehicle) {
  VehicleRegistry registry = Registry(4);
  const VehicleRegistry::Admission a = registry.Admit("v", 100, 1000, 3);
  ASSERT_TRUE(a.newest);
  VehicleRegistry::SetLatest(a.vehicle, "frame-100");
  registry.Admit("v", 50, 2000, 4);  // late: the latest position stays
  const VehicleState* v = registry.Find("v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v, a.vehicle);
  EXPECT_EQ(v->id, "v");
  EXPECT_EQ(v->newest_fix_unix_ns, 100);
  EXPECT_EQ(v->last_seen_unix_ns, 2000);
  EXPECT_EQ(v->last_connection_id, 4u);
  EXPECT_EQ(v->records, 2u);
  EXPECT_EQ(v->latest_frame, "frame-100");
  // A duplicate changes nothing but recency.
  EXPECT_TRUE(registry.Admit("v", 100, 3000, 5).duplicate);
  EXPECT_EQ(v->last_seen_unix_ns, 2000);
  EXPECT_EQ(v->records, 2u);
  EXPECT_EQ(registry.Find("w"), nullptr);
}

TEST(VehicleRegistryTest, ForgetsTheLeastRecentlySeenVehicle) {
  VehicleRegistry registry = Registry(4, /*max_vehicles=*/3);
  Admit(registry, "a", 1);
  Admit(registry, "b", 1);
  Admit(registry, "c", 1);
  Admit(registry, "a", 2);  // most recent first: a, c, b
  Admit(registry, "d", 1);  // evicts b
  EXPECT_EQ(registry.Find("b"), nullptr);
  EXPECT_EQ(registry.evicted(), 1u);
  Admit(registry, "d", 2);  // already the most recent
  Admit(registry, "d", 3);
  Admit(registry, "e", 1);  // evicts c
  EXPECT_EQ(registry.Find("c"), nullptr);
  Admit(registry, "f", 1);  // evicts a
  EXPECT_EQ(registry.Find("a"), nullptr);
  EXPECT_EQ(registry.evicted(), 3u);
  EXPECT_EQ(registry.size(), 3u);
  EXPECT_EQ(Ids(registry), (std::vector<std::string>{"d", "e", "f"}));
}

TEST(VehicleRegistryTest, DuplicateCountsAsSeen) {
  VehicleRegistry registry = Registry(4, /*max_vehicles=*/2);
  Admit(registry, "a", 1);
  Admit(registry, "b", 1);
  EXPECT_EQ(Admit(registry, "a", 1), Kind::kDuplicate);
  Admit(registry, "c", 1);  // evicts b, not a
  EXPECT_NE(registry.Find("a"), nullptr);
  EXPECT_EQ(registry.Find("b"), nullptr);
}

// A heartbeat moves last-seen and the LRU position of a known vehicle, never
// its records or fixes, and creates no vehicle.
TEST(VehicleRegistryTest, RefreshLastSeenTouchesOnlyKnownVehicles) {
  VehicleRegistry registry = Registry(4, /*max_vehicles=*/2);
  registry.Admit("a", 100, 1000, 1);
  registry.Admit("b", 100, 1000, 1);
  EXPECT_TRUE(registry.RefreshLastSeen("a", 5000, 7));
  const VehicleState* a = registry.Find("a");
  EXPECT_EQ(a->last_seen_unix_ns, 5000);
  EXPECT_EQ(a->last_connection_id, 7u);
  EXPECT_EQ(a->records, 1u);
  EXPECT_EQ(a->newest_fix_unix_ns, 100);
  EXPECT_TRUE(registry.RefreshLastSeen("a", 4000, 7));  // the clock stepped back
  EXPECT_EQ(a->last_seen_unix_ns, 5000);
  EXPECT_FALSE(registry.RefreshLastSeen("z", 6000, 8));
  EXPECT_EQ(registry.Find("z"), nullptr);
  EXPECT_EQ(registry.size(), 2u);
  registry.Admit("c", 100, 6000, 1);  // evicts b: a was seen more recently
  EXPECT_NE(registry.Find("a"), nullptr);
  EXPECT_EQ(registry.Find("b"), nullptr);
}

TEST(VehicleRegistryTest, ForgottenVehicleComesBackWithNoHistory) {
  VehicleRegistry registry = Registry(4, /*max_vehicles=*/1);
  const VehicleRegistry::Admission first = registry.Admit("a", 100, 1, 1);
  VehicleRegistry::SetLatest(first.vehicle, "a-100");
  Admit(registry, "b", 500);  // evicts a
  EXPECT_EQ(registry.Find("a"), nullptr);
  // Its duplicate window and newest fix went with it.
  const VehicleRegistry::Admission again = registry.Admit("a", 100, 2, 9);
  EXPECT_TRUE(again.newest);
  EXPECT_FALSE(again.late);
  EXPECT_FALSE(again.duplicate);
  const VehicleState* a = registry.Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->id, "a");
  EXPECT_EQ(a->records, 1u);
  EXPECT_EQ(a->newest_fix_unix_ns, 100);
  EXPECT_EQ(a->last_seen_unix_ns, 2);
  EXPECT_EQ(a->last_connection_id, 9u);
  EXPECT_EQ(a->latest_frame, "");
  EXPECT_EQ(Admit(registry, "a", 50), Kind::kLate);
  EXPECT_EQ(Admit(registry, "a", 100), Kind::kDuplicate);
  EXPECT_EQ(registry.evicted(), 2u);
  EXPECT_EQ(Ids(registry), std::vector<std::string>{"a"});
}

TEST(VehicleRegistryTest, PagesInIdOrder) {
  VehicleRegistry registry = Registry(4);
  for (const char* id : {"m", "c", "x", "a", "k"}) Admit(registry, id, 1);
  EXPECT_EQ(Ids(registry), (std::vector<std::string>{"a", "c", "k", "m", "x"}));
  std::vector<const VehicleState*> page = registry.Page("c", 2);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0]->id, "k");
  EXPECT_EQ(page[1]->id, "m");
}

}  // namespace
}  // namespace fixstream::gateway
