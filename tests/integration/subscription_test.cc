// Subscriptions backend services rely on: resume, start positions, retention
// limits, slow and stuck subscribers, filters, duplicates and late uploads,
// latest positions. In-process gateway on ephemeral loopback ports, real
// sockets, real gRPC stubs.
#include <map>
#include <set>

#include "tests/integration/test_gateway.h"

namespace fixstream {
namespace {

using gateway::SlowSubscriberPolicy;

// Sends `count` CSV records of `vehicle`, fix times kStartMs + first + i s.
void SendCsv(TestConnection& conn, std::string_view vehicle, int first, int count,
             double lat = 52.5, double lon = 13.4) {
  std::string lines;
  for (int i = first; i < first + count; ++i) {
    lines += testing::CsvLine(vehicle, kStartMs + i * 1000LL, lat, lon, 1.0);
  }
  ASSERT_TRUE(conn.Send(lines));
}

class SubscriptionTest : public GatewayTest {
 protected:
  bool WaitForPublished(uint64_t n) {
    return WaitFor([&] { return gateway_->ingest_counters().records_published.load() >= n; });
  }
  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->grpc_port()),
                               grpc::InsecureChannelCredentials());
  }
};

v1::SubscribeRequest FromSequence(uint64_t sequence) {
  v1::SubscribeRequest request;
  request.set_start_sequence(sequence);
  return request;
}

TEST_F(SubscriptionTest, ResumeFromLastSeenPlusOneGetsExactlyTheRest) {
  TestConnection conn(gateway_->device_port());
  SendCsv(conn, "v", 0, 500);
  ASSERT_TRUE(WaitForPublished(500));

  // Read K records from the start, then drop the stream.
  constexpr size_t kRead = 137;
  uint64_t last_seen = 0;
  {
    Subscriber first(gateway_->grpc_port(), FromSequence(1));
    ASSERT_TRUE(first.WaitForCount(kRead));
    std::vector<v1::LocationRecord> got = first.records();
    for (size_t i = 0; i < kRead; ++i) ASSERT_EQ(got[i].sequence(), i + 1);
    last_seen = got[kRead - 1].sequence();
  }
  SendCsv(conn, "v", 500, 300);
  ASSERT_TRUE(WaitForPublished(800));

  Subscriber resumed(gateway_->grpc_port(), FromSequence(last_seen + 1));
  ASSERT_TRUE(resumed.WaitForCount(800 - kRead));
  SendCsv(conn, "v", 800, 10);  // and live records follow seamlessly
  ASSERT_TRUE(resumed.WaitForCount(810 - kRead));
  std::vector<v1::LocationRecord> got = resumed.records();
  ASSERT_EQ(got.size(), 810 - kRead);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sequence(), last_seen + 1 + i);
    EXPECT_EQ(got[i].fix_time().seconds() * 1000,
              kStartMs + static_cast<int64_t>(kRead + i) * 1000);
  }
}

TEST_F(SubscriptionTest, StartOldestReplaysEverythingRetained) {
  TestConnection conn(gateway_->device_port());
  SendCsv(conn, "v", 0, 50);
  ASSERT_TRUE(WaitForPublished(50));
  v1::SubscribeRequest request;
  request.set_start_oldest(true);
  Subscriber s(gateway_->grpc_port(), request);
  ASSERT_TRUE(s.WaitForCount(50));
  EXPECT_EQ(s.records().front().sequence(), 1u);
  EXPECT_EQ(s.records().back().sequence(), 50u);
}

TEST_F(SubscriptionTest, StartOutsideRetentionIsOutOfRangeNamingTheOldest) {
  GatewayOptions options;
  options.hub.max_records = 100;
  gateway_.reset();
  StartGateway(options);
  TestConnection conn(gateway_->device_port());
  SendCsv(conn, "v", 0, 300);
  ASSERT_TRUE(WaitForPublished(300));

  Subscriber too_old(gateway_->grpc_port(), FromSequence(5));
  ASSERT_TRUE(too_old.WaitForEnd());
  EXPECT_EQ(too_old.status().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(too_old.status().error_message().find("oldest retained sequence is 201"),
            std::string::npos)
      << too_old.status().error_message();
  EXPECT_EQ(too_old.count(), 0u);

  Subscriber future(gateway_->grpc_port(), FromSequence(302));
  ASSERT_TRUE(future.WaitForEnd());
  EXPECT_EQ(future.status().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(future.status().error_message().find("next sequence is 301"), std::string::npos);

  // The next sequence itself is fine: it waits for the next record.
  Subscriber next(gateway_->grpc_port(), FromSequence(301));
  SendCsv(conn, "v", 300, 1);
  ASSERT_TRUE(next.WaitForCount(1));
  EXPECT_EQ(next.records()[0].sequence(), 301u);
  EXPECT_EQ(gateway_->subscription_counters().rejected_out_of_range.load(), 2u);
}

// A subscriber whose stream is opened but never read: gRPC flow control
// stops its writes while the gateway keeps ingesting.
class StuckStream {
 public:
  StuckStream(std::shared_ptr<grpc::Channel> channel, v1::SubscribeRequest request)
      : stub_(v1::LocationService::NewStub(channel)),
        reader_(stub_->Subscribe(&context_, request)) {
    reader_->WaitForInitialMetadata();
  }
  // Reads everything now; returns the gaps seen, the records and the status.
  grpc::Status Drain(std::vector<v1::Gap>* gaps, uint64_t* records) {
    v1::SubscribeResponse response;
    while (reader_->Read(&response)) {
      if (response.has_gap()) gaps->push_back(response.gap());
      *records += response.records_size();
    }
    return reader_->Finish();
  }
  void Cancel() { context_.TryCancel(); }
  // Reads until the stream has covered sequence `last` (by a record or a
  // gap), then cancels it.
  void ReadUntil(uint64_t last, std::vector<v1::Gap>* gaps, uint64_t* records) {
    v1::SubscribeResponse response;
    uint64_t covered = 0;
    while (covered < last && reader_->Read(&response)) {
      if (response.has_gap()) {
        gaps->push_back(response.gap());
        covered = response.gap().last_missing();
      }
      *records += response.records_size();
      if (response.records_size() > 0) covered = response.last_sequence();
    }
    context_.TryCancel();
    reader_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<v1::LocationService::Stub> stub_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
};

// Sustained load from several connections while one subscriber is stuck (never
// reads) and another reads everything, under the end-the-stream policy.
TEST_F(SubscriptionTest, StuckSubscriberNeverSlowsIngestionOrAFastOneAndEndsByPolicy) {
  GatewayOptions options;
  options.hub.max_records = 20'000;
  options.hub.max_bytes = 8 << 20;
  options.subscription.slow_policy = SlowSubscriberPolicy::kEnd;
  gateway_.reset();
  StartGateway(options);
  constexpr int kConnections = 4;
  constexpr int kRounds = 25;
  constexpr int kPerRound = 1000;
  constexpr uint64_t kTotal = kConnections * kRounds * kPerRound;
  StuckStream stuck(Channel(), v1::SubscribeRequest());
  Subscriber fast(gateway_->grpc_port(), v1::SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().active.load() == 2; }));

  // Rounds of 1000 lines per connection. Between rounds the test lets the
  // fast subscriber come within half the retention of the head, as a
  // consumer that keeps up would; the stuck one never reads at all.
  std::vector<std::unique_ptr<TestConnection>> conns;
  for (int c = 0; c < kConnections; ++c) {
    conns.push_back(std::make_unique<TestConnection>(gateway_->device_port()));
  }
  uint64_t sent = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int c = 0; c < kConnections; ++c) {
      SendCsv(*conns[c], absl::StrCat("load-", c), round * kPerRound, kPerRound);
      sent += kPerRound;
    }
    ASSERT_TRUE(WaitForPublished(sent));
    ASSERT_TRUE(fast.WaitForCount(sent > 10'000 ? sent - 10'000 : 0));
  }
  // Ingestion never waited for the stuck subscriber: everything was published.
  ASSERT_TRUE(WaitForPublished(kTotal));
  // The fast one got every record, in order, without gaps.
  ASSERT_TRUE(fast.WaitForCount(kTotal));
  std::vector<v1::LocationRecord> got = fast.records();
  ASSERT_EQ(got.size(), kTotal);
  for (uint64_t i = 0; i < kTotal; ++i) ASSERT_EQ(got[i].sequence(), i + 1);
  EXPECT_TRUE(fast.gaps().empty());
  // The gateway held no more than its retention limits.
  EXPECT_LE(gateway_->hub().retained_bytes(), 8u << 20);
  EXPECT_LE(gateway_->hub().retained_records(), 20'000u);

  // The stuck subscriber meets the policy once it reads: what was in flight,
  // then RESOURCE_EXHAUSTED saying how far behind it was.
  std::vector<v1::Gap> gaps;
  uint64_t records = 0;
  grpc::Status status = stuck.Drain(&gaps, &records);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("fell behind"), std::string::npos);
  EXPECT_EQ(gateway_->subscription_counters().ended_fell_behind.load(), 1u);
  EXPECT_LT(records, kTotal);
  EXPECT_TRUE(gaps.empty());
}

TEST_F(SubscriptionTest, SlowSubscriberUnderGapPolicyIsToldExactlyWhatItMissed) {
  GatewayOptions options;
  options.hub.max_records = 1000;
  options.subscription.max_batch_records = 100;
  options.subscription.slow_policy = SlowSubscriberPolicy::kGap;
  gateway_.reset();
  StartGateway(options);
  auto channel = Channel();
  StuckStream slow(channel, v1::SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().active.load() == 1; }));
  TestConnection conn(gateway_->device_port());
  // Far more than a stream that does not read can absorb in gRPC's flow
  // control windows and the loopback socket buffers (several MiB), so the
  // stuck stream falls behind the 1000-record ring however fast the gateway
  // writes (50,000 records, ~5 MB, were sometimes absorbed whole).
  constexpr int kTotal = 200'000;
  for (int i = 0; i < kTotal; i += 1000) SendCsv(conn, "v", i, 1000);
  ASSERT_TRUE(WaitForPublished(kTotal));
  // Now read until caught up: records plus gaps cover 1..kTotal exactly once.
  std::vector<v1::Gap> gaps;
  uint64_t records = 0;
  slow.ReadUntil(kTotal, &gaps, &records);
  ASSERT_FALSE(gaps.empty());
  uint64_t skipped = 0;
  uint64_t previous_end = 0;
  for (const v1::Gap& gap : gaps) {
    EXPECT_LE(gap.first_missing(), gap.last_missing());
    EXPECT_GT(gap.first_missing(), previous_end);
    previous_end = gap.last_missing();
    skipped += gap.last_missing() - gap.first_missing() + 1;
  }
  EXPECT_EQ(skipped, gateway_->subscription_counters().sequences_skipped.load());
  EXPECT_EQ(records + skipped, static_cast<uint64_t>(kTotal));
}

TEST_F(SubscriptionTest, VehicleAndBoxFiltersAloneAndCombined) {
  // A known set: 4 vehicles x 10 positions on a diagonal from (50, 10) to
  // (54.5, 14.5).
  TestConnection conn(gateway_->device_port());
  struct Case {
    std::vector<std::string> ids;
    bool box;
    size_t expected;
  } cases[] = {
      {{}, false, 40},  {{"a"}, false, 10},      {{"a", "c"}, false, 20},
      {{}, true, 16},  // lat/lon in [51, 52.5]: positions 2..5 of each vehicle
      {{"b"}, true, 4}, {{"b", "zzz"}, true, 4},
  };
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (const Case& c : cases) {
    v1::SubscribeRequest request;
    for (const auto& id : c.ids) request.add_vehicle_ids(id);
    if (c.box) {
      auto* box = request.mutable_bounding_box();
      box->set_min_latitude(51);
      box->set_max_latitude(52.5);
      box->set_min_longitude(11);
      box->set_max_longitude(12.5);
    }
    subs.push_back(Subscribe(request));
  }
  std::string lines;
  for (const char* v : {"a", "b", "c", "d"}) {
    for (int i = 0; i < 10; ++i) {
      lines += testing::CsvLine(v, kStartMs + i * 1000, 50 + i * 0.5, 10 + i * 0.5, 0);
    }
  }
  ASSERT_TRUE(conn.Send(lines));
  ASSERT_TRUE(WaitForPublished(40));
  // Everyone is fed from the same hub in order; once the unfiltered one has
  // all 40, the others have had their chance too — wait for each anyway.
  for (size_t i = 0; i < subs.size(); ++i) {
    ASSERT_TRUE(subs[i]->WaitForCount(cases[i].expected)) << i;
  }
  ASSERT_TRUE(subs[0]->WaitForCount(40));
  // Barrier records published after everything else: once a subscriber has
  // its barrier records it has had every earlier record it would ever get
  // (delivery is in sequence order), so its count can be checked exactly.
  ASSERT_TRUE(conn.Send(testing::CsvLine("a", kStartMs + 99'000, 52, 12, 0) +
                        testing::CsvLine("b", kStartMs + 99'000, 52, 12, 0)));
  const size_t barrier[] = {2, 1, 1, 2, 1, 1};
  for (size_t i = 0; i < subs.size(); ++i) {
    ASSERT_TRUE(subs[i]->WaitForCount(cases[i].expected + barrier[i])) << i;
    EXPECT_EQ(subs[i]->records().size(), cases[i].expected + barrier[i]) << "case " << i;
  }
}

TEST_F(SubscriptionTest, InvalidFiltersGetInvalidArgumentSayingWhatToFix) {
  struct Case {
    std::function<void(v1::SubscribeRequest&)> set;
    std::string message;
  } cases[] = {
      {[](v1::SubscribeRequest& r) { r.add_vehicle_ids(""); }, "vehicle_ids[0]"},
      {[](v1::SubscribeRequest& r) {
         r.mutable_bounding_box()->set_min_latitude(10);
         r.mutable_bounding_box()->set_max_latitude(5);
       },
       "inverted"},
      {[](v1::SubscribeRequest& r) {
         r.mutable_bounding_box()->set_min_latitude(-91);
         r.mutable_bounding_box()->set_max_latitude(5);
       },
       "[-90, 90]"},
      {[](v1::SubscribeRequest& r) {
         r.mutable_bounding_box()->set_min_longitude(170);
         r.mutable_bounding_box()->set_max_longitude(-170);
       },
       "antimeridian"},
  };
  for (const Case& c : cases) {
    v1::SubscribeRequest request;
    c.set(request);
    Subscriber s(gateway_->grpc_port(), request);
    ASSERT_TRUE(s.WaitForEnd());
    EXPECT_EQ(s.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_NE(s.status().error_message().find(c.message), std::string::npos)
        << s.status().error_message();
  }
}

TEST_F(SubscriptionTest, HundredSubscribersWithDifferentFiltersEachGetExactlyTheirRecords) {
  constexpr int kVehicles = 100;
  constexpr int kPerVehicle = 20;
  std::vector<std::unique_ptr<Subscriber>> subs;
  std::vector<size_t> expected;
  for (int i = 0; i < 100; ++i) {
    v1::SubscribeRequest request;
    request.add_vehicle_ids(absl::StrCat("veh-", i));
    size_t n = kPerVehicle;
    if (i % 3 == 1) {
      request.add_vehicle_ids(absl::StrCat("veh-", (i + 1) % kVehicles));
      n += kPerVehicle;
    }
    if (i % 4 == 0) {  // positions 0..9 of each vehicle have latitude < 45
      request.mutable_bounding_box()->set_min_latitude(-90);
      request.mutable_bounding_box()->set_max_latitude(44.99);
      request.mutable_bounding_box()->set_min_longitude(-180);
      request.mutable_bounding_box()->set_max_longitude(180);
      n /= 2;
    }
    subs.push_back(Subscribe(request));
    expected.push_back(n);
  }
  std::vector<std::thread> senders;
  for (int c = 0; c < 4; ++c) {
    senders.emplace_back([this, c] {
      TestConnection conn(gateway_->device_port());
      std::string lines;
      for (int v = c; v < kVehicles; v += 4) {
        for (int k = 0; k < kPerVehicle; ++k) {
          lines +=
              testing::CsvLine(absl::StrCat("veh-", v), kStartMs + k * 1000, 40 + k * 0.5, 10, 0);
        }
      }
      ASSERT_TRUE(conn.Send(lines));
    });
  }
  for (auto& t : senders) t.join();
  ASSERT_TRUE(WaitForPublished(kVehicles * kPerVehicle));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(subs[i]->WaitForCount(expected[i])) << i;
  // Barrier: one more record for every vehicle, inside every box, published
  // after everything else. A subscriber holding its barrier records has had
  // every earlier record it would ever get, so counts can be exact.
  {
    TestConnection conn(gateway_->device_port());
    std::string lines;
    for (int v = 0; v < kVehicles; ++v) {
      lines += testing::CsvLine(absl::StrCat("veh-", v), kStartMs + 999'000, 40, 10, 0);
    }
    ASSERT_TRUE(conn.Send(lines));
  }
  for (int i = 0; i < 100; ++i) {
    const size_t barrier = i % 3 == 1 ? 2 : 1;
    ASSERT_TRUE(subs[i]->WaitForCount(expected[i] + barrier)) << i;
    std::vector<v1::LocationRecord> got = subs[i]->records();
    ASSERT_EQ(got.size(), expected[i] + barrier) << "subscriber " << i;
    std::set<std::string> allowed = {absl::StrCat("veh-", i)};
    if (i % 3 == 1) allowed.insert(absl::StrCat("veh-", (i + 1) % kVehicles));
    for (const auto& r : got) {
      EXPECT_TRUE(allowed.contains(r.vehicle_id())) << i << " got " << r.vehicle_id();
      if (i % 4 == 0) {
        EXPECT_LT(r.latitude(), 45);
      }
    }
    for (size_t k = 1; k < got.size(); ++k) EXPECT_LT(got[k - 1].sequence(), got[k].sequence());
  }
}

TEST_F(SubscriptionTest, ReplayedBurstIsNotPublishedTwiceAndLateRecordsAreMarked) {
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port());
  std::string burst;
  for (int i = 10; i < 30; ++i)
    burst += testing::CsvLine("trk", kStartMs + i * 1000, 48 + i * 0.01, 11, 0);
  ASSERT_TRUE(conn.Send(burst));
  ASSERT_TRUE(WaitForPublished(20));
  // The tracker replays the same burst (ack lost), mixed with a genuinely
  // late fix it had buffered (older than its newest).
  ASSERT_TRUE(conn.Send(burst));
  ASSERT_TRUE(conn.Send(testing::CsvLine("trk", kStartMs + 5 * 1000, 1, 2, 0)));
  ASSERT_TRUE(WaitFor([&] {
    return gateway_->ingest_counters().records_duplicate.load() == 20 &&
           gateway_->ingest_counters().records_published.load() == 21;
  }));
  ASSERT_TRUE(subscriber->WaitForCount(21));
  std::vector<v1::LocationRecord> got = subscriber->records();
  ASSERT_EQ(got.size(), 21u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(got[i].late());
  }
  EXPECT_TRUE(got[20].late());
  EXPECT_EQ(got[20].sequence(), 21u);  // no sequence was spent on duplicates
  EXPECT_EQ(gateway_->ingest_counters().records_late.load(), 1u);

  // The latest position is still the newest fix, not the late upload.
  auto stub = v1::LocationService::NewStub(Channel());
  grpc::ClientContext context;
  v1::GetLatestPositionsRequest request;
  request.add_vehicle_ids("trk");
  request.add_vehicle_ids("ghost");
  v1::GetLatestPositionsResponse response;
  ASSERT_TRUE(stub->GetLatestPositions(&context, request, &response).ok());
  ASSERT_EQ(response.records_size(), 1);
  EXPECT_EQ(response.records(0).fix_time().seconds() * 1000, kStartMs + 29 * 1000);
  EXPECT_EQ(response.records(0).sequence(), 20u);
  ASSERT_EQ(response.unknown_vehicle_ids_size(), 1);
  EXPECT_EQ(response.unknown_vehicle_ids(0), "ghost");
}

TEST_F(SubscriptionTest, LatestPositionsAndVehicleListArePagedAndKnowWhoIsConnected) {
  TestConnection open_conn(gateway_->device_port());
  SendCsv(open_conn, "online", 0, 3);
  {
    TestConnection closed_conn(gateway_->device_port());
    for (int v = 0; v < 5; ++v) SendCsv(closed_conn, absl::StrCat("gone-", v), 0, 2);
  }
  ASSERT_TRUE(WaitForPublished(13));
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().connections_closed.load() == 1; }));
  auto stub = v1::LocationService::NewStub(Channel());

  std::vector<std::string> listed;
  std::map<std::string, bool> connected;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext context;
    v1::ListVehiclesRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListVehiclesResponse response;
    ASSERT_TRUE(stub->ListVehicles(&context, request, &response).ok());
    for (const auto& v : response.vehicles()) {
      listed.push_back(v.vehicle_id());
      connected[v.vehicle_id()] = v.connected();
      EXPECT_GT(v.last_seen_time().seconds(), 0);
    }
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed,
            (std::vector<std::string>{"gone-0", "gone-1", "gone-2", "gone-3", "gone-4", "online"}));
  EXPECT_TRUE(connected["online"]);
  EXPECT_FALSE(connected["gone-0"]);

  grpc::ClientContext context;
  v1::GetLatestPositionsRequest all;
  all.set_page_size(4);
  v1::GetLatestPositionsResponse page;
  ASSERT_TRUE(stub->GetLatestPositions(&context, all, &page).ok());
  ASSERT_EQ(page.records_size(), 4);
  EXPECT_EQ(page.next_page_token(), "gone-3");
  grpc::ClientContext context2;
  all.set_page_token(page.next_page_token());
  ASSERT_TRUE(stub->GetLatestPositions(&context2, all, &page).ok());
  ASSERT_EQ(page.records_size(), 2);
  EXPECT_EQ(page.records(1).vehicle_id(), "online");
  EXPECT_EQ(page.records(1).fix_time().seconds() * 1000, kStartMs + 2000);
  EXPECT_TRUE(page.next_page_token().empty());

  grpc::ClientContext context3;
  all.set_page_size(-1);
  EXPECT_EQ(stub->GetLatestPositions(&context3, all, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace fixstream
