// End-to-end tests of an in-process gateway on ephemeral loopback ports:
// vehicles are real TCP connections, subscribers and health checks are real
// gRPC stubs.
#include <map>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_gateway.h"

namespace fixstream {
namespace {

TEST_F(GatewayTest, FiftyConnectionsOfMixedFormatsArriveCompleteAndInOrder) {
  constexpr int kConnections = 50;
  constexpr int kRecordsPerConnection = 1000;
  auto subscriber = Subscribe();

  // Per connection: an identification line, then 1000 record lines rotating
  // CSV / JSON / NMEA RMC, with a bad line of each kind sprinkled in.
  std::vector<std::thread> senders;
  for (int c = 0; c < kConnections; ++c) {
    senders.emplace_back([this, c] {
      const std::string vehicle = absl::StrCat("veh-", c);
      std::string payload = testing::NmeaIdentify(vehicle);
      for (int i = 0; i < kRecordsPerConnection; ++i) {
        const int64_t ms = kStartMs + i * 1000;  // strictly increasing fix times
        const double lat = 52.0 + c * 0.01 + i * 1e-5;
        const double lon = 13.0 + i * 1e-5;
        switch (i % 3) {
          case 0:
            payload += testing::CsvLine(vehicle, ms, lat, lon, 10.5);
            break;
          case 1:
            payload += testing::JsonLine(vehicle, ms, lat, lon, 10.5);
            break;
          case 2:
            payload += testing::NmeaRmc(ms, lat, lon, 20.0);
            break;
        }
        if (i % 100 == 50) {
          payload += "$GPRMC,101530.25,A,5226.1729,N,01326.9621,E,36.8,353.0,241126,,,A*00\r\n";
          payload += absl::StrCat(vehicle, ",", testing::Rfc3339Millis(ms), ",91.0,13.0\n");
          payload += "this is not a location\n";
          payload += "{\"vehicle_id\":\"x\",\"lat\":1}\n";
        }
      }
      std::mt19937 rng(c);
      TestConnection conn(gateway_->device_port());
      SendInRandomPieces(conn, payload, rng);
      conn.ShutdownWrite();
      EXPECT_TRUE(conn.WaitForPeerClose(30000));
    });
  }
  for (auto& t : senders) t.join();

  constexpr size_t kTotal = kConnections * kRecordsPerConnection;
  ASSERT_TRUE(subscriber->WaitForCount(kTotal)) << subscriber->count();
  std::vector<v1::LocationRecord> records = subscriber->records();
  ASSERT_EQ(records.size(), kTotal);

  // Sequence numbers are 1..N, strictly increasing without gaps.
  for (size_t i = 0; i < records.size(); ++i) ASSERT_EQ(records[i].sequence(), i + 1);
  // Each connection's records arrive complete and in send order.
  std::map<uint64_t, std::vector<const v1::LocationRecord*>> by_connection;
  for (const auto& r : records) by_connection[r.connection_id()].push_back(&r);
  ASSERT_EQ(by_connection.size(), static_cast<size_t>(kConnections));
  for (const auto& [connection, list] : by_connection) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kRecordsPerConnection));
    const std::string vehicle = list.front()->vehicle_id();
    for (int i = 0; i < kRecordsPerConnection; ++i) {
      const v1::LocationRecord& r = *list[i];
      EXPECT_EQ(r.vehicle_id(), vehicle);
      const int64_t expected_ms = kStartMs + i * 1000;
      EXPECT_EQ(r.fix_time().seconds() * 1000 + r.fix_time().nanos() / 1'000'000, expected_ms)
          << "connection " << connection << " record " << i;
      EXPECT_EQ(r.source_format(), i % 3 == 0   ? v1::SOURCE_FORMAT_CSV
                                   : i % 3 == 1 ? v1::SOURCE_FORMAT_JSON
                                                : v1::SOURCE_FORMAT_NMEA);
      // RMC's mode A: an autonomous fix; CSV and JSON say nothing.
      EXPECT_EQ(r.has_fix_quality(), i % 3 == 2);
      if (i % 3 == 2) {
        EXPECT_EQ(r.fix_quality(), v1::FIX_QUALITY_GPS);
      }
    }
  }

  // Every line is accounted for; bad lines were counted, not published.
  ASSERT_TRUE(WaitFor(
      [&] { return gateway_->ingest_counters().connections_closed.load() == kConnections; }));
  constexpr uint64_t kBadEach = kConnections * (kRecordsPerConnection / 100);
  EXPECT_EQ(Lines(LineOutcome::kPublished), kTotal);
  EXPECT_EQ(Lines(LineOutcome::kIdentified), static_cast<uint64_t>(kConnections));
  EXPECT_EQ(Lines(LineOutcome::kBadChecksum), kBadEach);
  EXPECT_EQ(Lines(LineOutcome::kOutOfRange), kBadEach);
  EXPECT_EQ(Lines(LineOutcome::kMalformed), 2 * kBadEach);
  EXPECT_EQ(gateway_->ingest_counters().records_published.load(), kTotal);
  EXPECT_EQ(gateway_->ingest_counters().bytes_discarded.load(), 0u);
}

TEST_F(GatewayTest, BadLinesCostOnlyThemselvesAndTheConnectionStaysOpen) {
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port());
  ASSERT_TRUE(conn.Send("\x01\x02garbage\xff\n"));
  ASSERT_TRUE(
      conn.Send("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"));
  ASSERT_TRUE(conn.Send("v1,2026-11-24T10:15:30Z,45.0,200.0\n"));
  ASSERT_TRUE(conn.Send(std::string(5000, 'x') + "\n"));
  ASSERT_TRUE(conn.Send("v1,2026-11-24T10:15:31Z,45.0,7.0\n"));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_FALSE(conn.WaitForPeerClose(50));  // still open
  EXPECT_EQ(Lines(LineOutcome::kMalformed), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnknownVehicle), 1u);
  EXPECT_EQ(Lines(LineOutcome::kOutOfRange), 1u);
  EXPECT_EQ(Lines(LineOutcome::kTooLong), 1u);
  EXPECT_EQ(gateway_->ingest_counters().bytes_discarded.load(), 5001u);
  EXPECT_EQ(subscriber->records().at(0).vehicle_id(), "v1");
  EXPECT_EQ(gateway_->ingest_counters().connections_closed.load(), 0u);
}

TEST_F(GatewayTest, UnterminatedLineAtCloseIsDroppedAndCounted) {
  auto subscriber = Subscribe();
  {
    TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send("v1,2026-11-24T10:15:30Z,45.0,7.0\nv1,2026-11-24T10:15:31Z,45.0,7.12"));
  }
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().connections_closed.load() == 1; }));
  EXPECT_EQ(Lines(LineOutcome::kPublished), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnterminated), 1u);
  EXPECT_EQ(gateway_->ingest_counters().bytes_discarded.load(), 33u);
  ASSERT_TRUE(subscriber->WaitForCount(1));
  EXPECT_EQ(subscriber->count(), 1u);
}

TEST_F(GatewayTest, SingleLineAtRestIsDeliveredAloneAndAtOnce) {
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port());
  ASSERT_TRUE(conn.Send("$GNRMC,001031.00,A,4404.13993,N,12118.86023,W,0.146,,100117,,,A*7B\n"));
  ASSERT_TRUE(conn.Send("$PFSID,bus-7\n"));
  ASSERT_TRUE(conn.Send("$GNRMC,001031.00,A,4404.13993,N,12118.86023,W,0.146,,100117,,,A*7B\n"));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  const v1::LocationRecord r = subscriber->records().at(0);
  EXPECT_EQ(r.vehicle_id(), "bus-7");
  EXPECT_NEAR(r.latitude(), 44.0689988, 1e-6);
  EXPECT_NEAR(r.longitude(), -121.3143372, 1e-6);
  EXPECT_EQ(subscriber->responses(), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnknownVehicle), 1u);
}

TEST_F(GatewayTest, RmcAndGgaOfOneFixBecomeOneRecord) {
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port());
  std::string lines = testing::NmeaIdentify("truck-1");
  lines += testing::NmeaRmc(kStartMs, 48.1, 11.5, 10.0);
  lines += testing::NmeaGga(kStartMs, 48.1, 11.5, 545.4, 8);
  ASSERT_TRUE(conn.Send(lines));
  ASSERT_TRUE(subscriber->WaitForCount(1));
  const v1::LocationRecord r = subscriber->records().at(0);
  EXPECT_EQ(r.altitude_m(), 545.4);
  EXPECT_EQ(r.satellites(), 8u);
  EXPECT_NEAR(r.speed_mps(), 10.0 * 0.514444, 1e-3);
  EXPECT_EQ(Lines(LineOutcome::kMerged), 1u);
  EXPECT_EQ(subscriber->count(), 1u);
}

TEST_F(GatewayTest, VehicleFilterDeliversOnlyThoseVehicles) {
  v1::SubscribeRequest request;
  request.add_vehicle_ids("a");
  request.add_vehicle_ids("c");
  auto filtered = Subscribe(request);
  auto all = Subscribe();
  TestConnection conn(gateway_->device_port());
  std::string lines;
  for (int i = 0; i < 30; ++i) {
    lines +=
        testing::CsvLine(std::string(1, static_cast<char>('a' + i % 3)), kStartMs + i, 1, 2, 0);
  }
  ASSERT_TRUE(conn.Send(lines));
  ASSERT_TRUE(all->WaitForCount(30));
  ASSERT_TRUE(filtered->WaitForCount(20));
  std::vector<v1::LocationRecord> got = filtered->records();
  ASSERT_EQ(got.size(), 20u);
  for (const auto& r : got) EXPECT_NE(r.vehicle_id(), "b");
}

TEST_F(GatewayTest, InvalidFilterGetsInvalidArgumentSayingWhatToFix) {
  v1::SubscribeRequest request;
  request.add_vehicle_ids("good");
  request.add_vehicle_ids("has space");
  Subscriber s(gateway_->grpc_port(), request);
  ASSERT_TRUE(s.WaitForEnd());
  EXPECT_EQ(s.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.status().error_message().find("vehicle_ids[1]"), std::string::npos);
}

TEST_F(GatewayTest, CancelledSubscriberEndsCleanlyAndIsForgotten) {
  auto subscriber = Subscribe();
  EXPECT_EQ(gateway_->subscription_counters().active.load(), 1);
  subscriber->Cancel();
  ASSERT_TRUE(subscriber->WaitForEnd());
  EXPECT_EQ(subscriber->status().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().active.load() == 0; }));
  // Publishing afterwards touches no dead subscriber.
  TestConnection conn(gateway_->device_port());
  ASSERT_TRUE(conn.Send("v1,2026-11-24T10:15:30Z,45.0,7.0\n"));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kPublished) == 1; }));
}

TEST_F(GatewayTest, ShutdownDeliversEverythingThenEndsStreamsWithOk) {
  auto subscriber = Subscribe();
  TestConnection conn(gateway_->device_port());
  std::string lines;
  for (int i = 0; i < 5000; ++i) lines += testing::CsvLine("v", kStartMs + i, 1, 2, 0);
  ASSERT_TRUE(conn.Send(lines));
  ASSERT_TRUE(
      WaitFor([&] { return gateway_->ingest_counters().bytes_read.load() == lines.size(); }));
  gateway_->Shutdown();
  ASSERT_TRUE(subscriber->WaitForEnd());
  EXPECT_TRUE(subscriber->status().ok()) << subscriber->status().error_message();
  EXPECT_EQ(subscriber->count(), 5000u);
  EXPECT_TRUE(conn.WaitForPeerClose(5000));
}

TEST_F(GatewayTest, SlowSubscriberThatFellOffRetentionGetsResourceExhausted) {
  GatewayOptions options;
  options.hub.max_records = 100;
  options.subscription.max_batch_records = 1;
  options.subscription.slow_policy = gateway::SlowSubscriberPolicy::kEnd;
  gateway_.reset();
  StartGateway(options);
  // A raw stream that never reads: the gateway can write at most what flow
  // control admits, then the subscriber's cursor falls behind.
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::LocationService::NewStub(channel);
  grpc::ClientContext context;
  auto reader = stub->Subscribe(&context, v1::SubscribeRequest());
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().active.load() == 1; }));
  TestConnection conn(gateway_->device_port());
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += testing::CsvLine("v", kStartMs + i, 1, 2, 0);
  for (int round = 0; round < 500 && gateway_->subscription_counters().ended_fell_behind == 0;
       ++round) {
    ASSERT_TRUE(conn.Send(lines));
    WaitFor([&] {
      return gateway_->ingest_counters().bytes_read.load() >= (round + 1) * lines.size();
    });
  }
  ASSERT_EQ(gateway_->subscription_counters().ended_fell_behind.load(), 1u);
  // Reading now drains what was in flight, then the status explains.
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("fell behind"), std::string::npos);
}

TEST_F(GatewayTest, HealthIsServingForTheServerAndTheLocationService) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "fixstream.v1.LocationService"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace fixstream
