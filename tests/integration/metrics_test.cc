// The Prometheus endpoint of an in-process gateway, scraped over real
// loopback HTTP during and after a load: every counter must match what the
// test sent and what its subscriber received.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "ingest/line_outcome.h"
#include "tests/integration/test_gateway.h"
#include "tests/integration/test_temp_dir.h"

namespace fixstream {
namespace {

// GET /metrics over a fresh HTTP/1.0 connection; returns the body, or "" on
// any failure (reported to the test).
std::string Scrape(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket failed";
    return "";
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    ADD_FAILURE() << "cannot connect to the metrics port " << port;
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    ADD_FAILURE() << "send failed";
    return "";
  }
  std::string response;
  char buf[16384];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (!response.starts_with("HTTP/1.") || response.find(" 200 ") > 12 ||
      body == std::string::npos) {
    ADD_FAILURE() << "bad HTTP response:\n" << response.substr(0, 500);
    return "";
  }
  return response.substr(body + 4);
}

// Samples of the text exposition format by their series name as written,
// e.g. `fixstream_lines_total{outcome="published"}`.
using Samples = std::map<std::string, double>;

Samples Parse(const std::string& text) {
  Samples samples;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == std::string::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) {
      ADD_FAILURE() << "unparsable sample line: " << line;
      continue;
    }
    samples[line.substr(0, space)] = value;
  }
  return samples;
}

double Get(const Samples& samples, const std::string& series) {
  auto it = samples.find(series);
  if (it == samples.end()) {
    ADD_FAILURE() << "missing series " << series;
    return -1;
  }
  return it->second;
}

std::string Outcome(LineOutcome outcome) {
  const std::string_view name = ingest::LineOutcomeName(outcome);
  return absl::StrCat("fixstream_lines_total{outcome=\"",
                      absl::string_view(name.data(), name.size()), "\"}");
}

class MetricsTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayOptions options;
    options.metrics_listen = "127.0.0.1:0";
    StartGateway(options);
    ASSERT_NE(gateway_->metrics_port(), 0);
  }
};

TEST_F(MetricsTest, ScrapedCountersMatchWhatWasSentAndReceived) {
  constexpr int kConnections = 6;
  constexpr int kRecordsPerConnection = 300;
  auto subscriber = Subscribe();

  // Fix times near now, whatever window the gateway accepts.
  const int64_t base_ms = absl::ToUnixMillis(absl::Now()) - 30 * 60 * 1000;
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<bool> loading{true};

  // Scrapes while the load runs: counters only grow.
  std::thread scraper([&] {
    Samples previous;
    int scrapes = 0;
    while (loading.load() || scrapes < 2) {
      const Samples now = Parse(Scrape(gateway_->metrics_port()));
      if (now.empty()) continue;  // Scrape() reported the failure
      for (const auto& [series, value] : previous) {
        if (series.find("_total") == std::string::npos) continue;
        auto it = now.find(series);
        ASSERT_NE(it, now.end()) << series << " disappeared";
        EXPECT_GE(it->second, value) << series;
      }
      previous = now;
      ++scrapes;
    }
  });

  std::vector<std::thread> senders;
  for (int c = 0; c < kConnections; ++c) {
    senders.emplace_back([&, c] {
      const std::string vehicle = absl::StrCat("metrics-", c);
      // Accepted lines: an identification, then CSV / JSON / NMEA RMC.
      std::string payload = testing::NmeaIdentify(vehicle);
      for (int i = 0; i < kRecordsPerConnection; ++i) {
        const int64_t ms = base_ms + i * 1000;
        const double lat = 48.0 + c * 0.01;
        const double lon = 11.0 + i * 1e-4;
        switch (i % 3) {
          case 0:
            payload += testing::CsvLine(vehicle, ms, lat, lon, 3.0);
            break;
          case 1:
            payload += testing::JsonLine(vehicle, ms, lat, lon, 3.0);
            break;
          case 2:
            payload += testing::NmeaRmc(ms, lat, lon, 6.0);
            break;
        }
      }
      // One line of each rejected kind, and an empty line.
      payload += "this is not a location\n";                                            // malformed
      payload += "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,,*00\r\n";  // checksum
      payload += absl::StrCat(vehicle, ",", testing::Rfc3339Millis(base_ms), ",91.0,13.0\n");
      payload += "\n";                                // empty
      payload += std::string(5000, 'x') + "\n";       // too_long
      payload += "trailing bytes without a newline";  // unterminated
      TestConnection conn(gateway_->device_port());
      ASSERT_TRUE(conn.Send(payload));
      bytes_sent += payload.size();
      conn.ShutdownWrite();
      EXPECT_TRUE(conn.WaitForPeerClose(30000));
    });
  }
  for (auto& t : senders) t.join();

  constexpr size_t kRecords = kConnections * kRecordsPerConnection;
  ASSERT_TRUE(subscriber->WaitForCount(kRecords)) << subscriber->count();
  // The counters settle once every session has closed and the subscriber's
  // last write completed.
  ASSERT_TRUE(WaitFor([&] {
    return gateway_->ingest_counters().connections_closed.load() == kConnections &&
           gateway_->subscription_counters().records_delivered.load() == kRecords;
  }));
  loading = false;
  scraper.join();

  const Samples m = Parse(Scrape(gateway_->metrics_port()));
  ASSERT_FALSE(m.empty());
  std::map<LineOutcome, double> expected = {
      {LineOutcome::kPublished, kRecords},      {LineOutcome::kIdentified, kConnections},
      {LineOutcome::kMalformed, kConnections},  {LineOutcome::kBadChecksum, kConnections},
      {LineOutcome::kOutOfRange, kConnections}, {LineOutcome::kEmpty, kConnections},
      {LineOutcome::kTooLong, kConnections},    {LineOutcome::kUnterminated, kConnections},
  };
  for (size_t i = 0; i < ingest::kLineOutcomeCount; ++i) {
    const auto outcome = static_cast<LineOutcome>(i);
    EXPECT_EQ(Get(m, Outcome(outcome)), expected.contains(outcome) ? expected[outcome] : 0)
        << Outcome(outcome);
  }
  EXPECT_EQ(Get(m, "fixstream_bytes_read_total"), static_cast<double>(bytes_sent.load()));
  EXPECT_EQ(Get(m, "fixstream_records_published_total"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_records_duplicate_total"), 0);
  EXPECT_EQ(Get(m, "fixstream_sequence_head"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_retained_records"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_vehicles"), kConnections);

  EXPECT_EQ(Get(m, "fixstream_connections_accepted_total"), kConnections);
  EXPECT_EQ(Get(m, "fixstream_connections"), 0);
  double closed = 0;
  for (const auto& [series, value] : m) {
    if (series.starts_with("fixstream_connections_closed_total{")) closed += value;
  }
  EXPECT_EQ(closed, kConnections);
  EXPECT_EQ(Get(m, "fixstream_connections_closed_total{reason=\"peer_closed\"}"), kConnections);

  EXPECT_EQ(Get(m, "fixstream_subscribers"), 1);
  EXPECT_EQ(Get(m, "fixstream_subscriptions_started_total"), 1);
  EXPECT_EQ(Get(m, "fixstream_records_delivered_total"), static_cast<double>(subscriber->count()));
  EXPECT_EQ(Get(m, "fixstream_records_delivered_total"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_responses_delivered_total"),
            static_cast<double>(subscriber->responses()));
  EXPECT_EQ(Get(m, "fixstream_gaps_sent_total"), 0);

  // Histograms are well formed: +Inf equals _count.
  for (const std::string name :
       {"fixstream_receive_to_publish_seconds", "fixstream_publish_to_delivery_seconds"}) {
    EXPECT_EQ(Get(m, absl::StrCat(name, "_bucket{le=\"+Inf\"}")), Get(m, name + "_count"));
  }

  // A cancelled subscriber leaves the gauge and is counted by outcome.
  subscriber.reset();
  ASSERT_TRUE(WaitFor([&] { return gateway_->subscription_counters().active.load() == 0; }));
  const Samples after = Parse(Scrape(gateway_->metrics_port()));
  EXPECT_EQ(Get(after, "fixstream_subscribers"), 0);
  EXPECT_EQ(Get(after, "fixstream_subscriptions_ended_total{outcome=\"cancelled\"}"), 1);
}

TEST_F(MetricsTest, RejectedSubscriptionsAreCountedByOutcome) {
  v1::SubscribeRequest bad;
  bad.add_vehicle_ids("not a vehicle id");
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::LocationService::NewStub(channel);
  {
    grpc::ClientContext context;
    auto reader = stub->Subscribe(&context, bad);
    v1::SubscribeResponse response;
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    v1::SubscribeRequest future;
    future.set_start_sequence(1000);
    grpc::ClientContext context;
    auto reader = stub->Subscribe(&context, future);
    v1::SubscribeResponse response;
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
  const Samples m = Parse(Scrape(gateway_->metrics_port()));
  EXPECT_EQ(Get(m, "fixstream_subscriptions_ended_total{outcome=\"invalid_argument\"}"), 1);
  EXPECT_EQ(Get(m, "fixstream_subscriptions_ended_total{outcome=\"out_of_range\"}"), 1);
  EXPECT_EQ(Get(m, "fixstream_subscriptions_started_total"), 0);
}

TEST_F(MetricsTest, NoJournalSeriesWhenTheJournalIsDisabled) {
  ASSERT_EQ(gateway_->journal(), nullptr);
  {
    TestConnection conn(gateway_->device_port());
    ASSERT_TRUE(conn.Send(testing::CsvLine("no-journal", kStartMs, 1, 2, 0)));
  }
  ASSERT_TRUE(WaitFor([&] { return gateway_->ingest_counters().records_published.load() == 1; }));
  const Samples m = Parse(Scrape(gateway_->metrics_port()));
  EXPECT_EQ(Get(m, "fixstream_records_published_total"), 1);
  for (const auto& [series, value] : m) {
    EXPECT_FALSE(series.starts_with("fixstream_journal_")) << series;
    EXPECT_FALSE(series.starts_with("fixstream_records_from_journal")) << series;
  }
}

// A gateway with a journal in a temporary directory and a metrics endpoint.
class JournalMetricsTest : public GatewayTest {
 protected:
  void SetUp() override {}  // the gateway starts in each test, with its journal
  void TearDown() override {
    gateway_.reset();  // before journal_dir_ is removed
  }
  GatewayOptions WithJournal() {
    GatewayOptions options;
    options.metrics_listen = "127.0.0.1:0";
    options.journal.directory = dir_;
    return options;
  }
  testing::TempDir journal_dir_{"fixstream-metrics-journal"};
  const std::string dir_ = journal_dir_.path();
};

TEST_F(JournalMetricsTest, JournalSeriesMatchWhatWasPublished) {
  StartGateway(WithJournal());  // group commit (the default)
  ASSERT_NE(gateway_->journal(), nullptr);
  {
    // Before any record: a healthy, empty journal.
    const Samples m = Parse(Scrape(gateway_->metrics_port()));
    EXPECT_EQ(Get(m, "fixstream_journal_healthy"), 1);
    EXPECT_EQ(Get(m, "fixstream_journal_records_appended_total"), 0);
    EXPECT_EQ(Get(m, "fixstream_journal_durable_sequence"), 0);
    EXPECT_EQ(Get(m, "fixstream_journal_segments"), 0);
  }
  constexpr int kRecords = 300;
  SendAndWait(0, kRecords, 0);
  ASSERT_TRUE(gateway_->journal()->AwaitDurable(kRecords, absl::Now() + absl::Seconds(30)).ok());

  const Samples m = Parse(Scrape(gateway_->metrics_port()));
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(Get(m, "fixstream_records_published_total"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_journal_records_appended_total"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_journal_appended_sequence"), Get(m, "fixstream_sequence_head"));
  EXPECT_EQ(Get(m, "fixstream_journal_appended_sequence"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_journal_durable_sequence"), kRecords);
  EXPECT_EQ(Get(m, "fixstream_journal_oldest_sequence"), 1);
  EXPECT_EQ(Get(m, "fixstream_journal_pending_bytes"), 0);
  EXPECT_EQ(Get(m, "fixstream_journal_healthy"), 1);
  EXPECT_EQ(Get(m, "fixstream_journal_segments"), 1);
  EXPECT_EQ(Get(m, "fixstream_journal_segments_deleted_total"), 0);
  EXPECT_EQ(Get(m, "fixstream_journal_lost_ranges"), 0);
  EXPECT_EQ(Get(m, "fixstream_journal_lost_sequences"), 0);
  // A new journal holds everything it wrote: one header and a frame per record.
  const double disk_bytes = Get(m, "fixstream_journal_disk_bytes");
  EXPECT_GT(disk_bytes, gateway::kSegmentHeaderSize + kRecords * gateway::kFrameHeaderSize);
  EXPECT_EQ(Get(m, "fixstream_journal_bytes_written_total"), disk_bytes);
  const double fsyncs = Get(m, "fixstream_journal_fsyncs_total");
  EXPECT_GT(fsyncs, 0);
  EXPECT_EQ(Get(m, "fixstream_journal_fsync_seconds_count"), fsyncs);
  EXPECT_EQ(Get(m, "fixstream_journal_fsync_seconds_bucket{le=\"+Inf\"}"), fsyncs);
  EXPECT_EQ(Get(m, "fixstream_records_from_journal_total"), 0);
}

TEST_F(JournalMetricsTest, CatchUpFromDiskIsCounted) {
  GatewayOptions options = WithJournal();
  options.hub.max_records = 100;  // the ring keeps the newest 100 only
  options.subscription.max_batch_records = 64;
  RestartAfterPublishing(options, 250);
  ASSERT_EQ(gateway_->hub().oldest(), 151u);
  {
    // Recovered, nothing appended by this process yet.
    const Samples m = Parse(Scrape(gateway_->metrics_port()));
    EXPECT_EQ(Get(m, "fixstream_journal_records_appended_total"), 0);
    EXPECT_EQ(Get(m, "fixstream_journal_appended_sequence"), 250);
    EXPECT_EQ(Get(m, "fixstream_journal_durable_sequence"), 250);
    EXPECT_EQ(Get(m, "fixstream_journal_oldest_sequence"), 1);
    EXPECT_GT(Get(m, "fixstream_journal_disk_bytes"), 0);
    EXPECT_EQ(Get(m, "fixstream_records_from_journal_total"), 0);
  }
  v1::SubscribeRequest from_one;
  from_one.set_start_sequence(1);
  Subscriber all(gateway_->grpc_port(), from_one);
  ASSERT_TRUE(all.WaitForCount(250));
  // Disk reads are counted before their write starts, so all are counted by now.
  const Samples m = Parse(Scrape(gateway_->metrics_port()));
  const double from_disk = Get(m, "fixstream_records_from_journal_total");
  EXPECT_EQ(from_disk,
            static_cast<double>(gateway_->subscription_counters().records_from_journal.load()));
  // 1..150 are only on disk; the last catch-up batch may reach into the ring.
  EXPECT_GE(from_disk, 150);
  EXPECT_LE(from_disk, 150 + 64);
}

TEST(MetricsEndpointTest, BusyPortFailsStartNamingTheSetting) {
  GatewayOptions first;
  first.device.listen = "127.0.0.1:0";
  first.grpc_listen = "127.0.0.1:0";
  first.metrics_listen = "127.0.0.1:0";
  Gateway a(first);
  ASSERT_TRUE(a.Start().ok());
  GatewayOptions second = first;
  second.metrics_listen = absl::StrCat("127.0.0.1:", a.metrics_port());
  Gateway b(second);
  absl::Status status = b.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("--metrics_listen"), absl::string_view::npos) << status;
}

TEST(MetricsEndpointTest, DisabledByDefaultInProcess) {
  GatewayOptions options;
  options.device.listen = "127.0.0.1:0";
  options.grpc_listen = "127.0.0.1:0";
  Gateway gateway(options);
  ASSERT_TRUE(gateway.Start().ok());
  EXPECT_EQ(gateway.metrics_port(), 0);
}

}  // namespace
}  // namespace fixstream
