#include "gateway/hub/subscription_filter.h"

#include <string>

#include "fixstream/v1/location.pb.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

TEST(SubscriptionFilterTest, EmptyRequestMatchesEverything) {
  absl::StatusOr<SubscriptionFilter> f = SubscriptionFilter::FromRequest(v1::SubscribeRequest());
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->matches_all());
  EXPECT_TRUE(f->Matches("anything", 0, 0));
}

TEST(SubscriptionFilterTest, VehicleIdsMatchExactly) {
  v1::SubscribeRequest request;
  request.add_vehicle_ids("van-1");
  request.add_vehicle_ids("truck:7");
  absl::StatusOr<SubscriptionFilter> f = SubscriptionFilter::FromRequest(request);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->Matches("van-1", 0, 0));
  EXPECT_TRUE(f->Matches("truck:7", 0, 0));
  EXPECT_FALSE(f->Matches("van-10", 0, 0));
  EXPECT_FALSE(f->Matches("van-", 0, 0));
}

TEST(SubscriptionFilterTest, InvalidIdsAreRejectedWithTheirIndex) {
  for (const std::string& bad :
       {std::string(), std::string(65, 'a'), std::string("a b"), std::string("v\xc3\xa9")}) {
    v1::SubscribeRequest request;
    request.add_vehicle_ids("ok");
    request.add_vehicle_ids(bad);
    absl::StatusOr<SubscriptionFilter> f = SubscriptionFilter::FromRequest(request);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(f.status().message().find("vehicle_ids[1]"), std::string_view::npos);
  }
}

}  // namespace
}  // namespace fixstream::gateway
