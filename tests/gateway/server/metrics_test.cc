#include "gateway/server/metrics.h"

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace fixstream::gateway {
namespace {

using ingest::LineOutcome;
using prometheus::MetricFamily;
using prometheus::MetricType;

class GatewayMetricsTest : public ::testing::Test {
 protected:
  GatewayMetricsTest() : hub_(SmallHub()) {}

  static HubOptions SmallHub() {
    HubOptions options;
    options.max_records = 16;
    options.max_bytes = 64 << 10;
    return options;
  }

  void TearDown() override {
    journal_.reset();
    if (!journal_dir_.empty()) std::filesystem::remove_all(journal_dir_);
  }

  // A fresh journal in a temporary directory, exported by Collect() from now on.
  Journal& OpenJournal() {
    std::string pattern = ::testing::TempDir() + "metrics_test-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    journal_dir_ = pattern;
    JournalOptions options;
    options.directory = journal_dir_;
    options.durability = DurabilityPolicy::kPerBatch;
    absl::StatusOr<std::unique_ptr<Journal>> journal = Journal::Open(std::move(options));
    EXPECT_TRUE(journal.ok()) << journal.status();
    journal_ = *std::move(journal);
    return *journal_;
  }

  std::map<std::string, MetricFamily> Collect(std::function<uint64_t()> lag = {}) {
    MetricsSources sources;
    sources.ingest = &ingest_;
    sources.subscriptions = &subscriptions_;
    sources.hub = &hub_;
    sources.journal = journal_.get();
    sources.receive_to_publish = &receive_to_publish_;
    sources.publish_to_delivery = &publish_to_delivery_;
    sources.subscriber_max_lag = std::move(lag);
    sources.start_time = absl::FromUnixSeconds(1'800'000'000);
    GatewayMetrics metrics(std::move(sources));
    std::map<std::string, MetricFamily> by_name;
    for (MetricFamily& family : metrics.Collect()) {
      EXPECT_FALSE(by_name.contains(family.name)) << "duplicate family " << family.name;
      by_name[family.name] = std::move(family);
    }
    return by_name;
  }

  IngestCounters ingest_;
  SubscriptionCounters subscriptions_;
  Hub hub_;
  LatencyHistogram receive_to_publish_;
  LatencyHistogram publish_to_delivery_;
  std::string journal_dir_;
  std::unique_ptr<Journal> journal_;
};

double LabeledValue(const MetricFamily& family, const std::string& label,
                    const std::string& value) {
  for (const auto& metric : family.metric) {
    for (const auto& l : metric.label) {
      if (l.name == label && l.value == value) return metric.counter.value;
    }
  }
  ADD_FAILURE() << family.name << " has no " << label << "=" << value;
  return -1;
}

TEST_F(GatewayMetricsTest, ReadsTheCountersAtCollectTime) {
  auto families = Collect();
  EXPECT_EQ(families.at("fixstream_connections_accepted_total").metric[0].counter.value, 0);

  ingest_.connections_accepted = 5;
  ingest_.connections_active = 2;
  ingest_.connections_closed_by[static_cast<size_t>(CloseReason::kIdleTimeout)] = 3;
  ingest_.lines[static_cast<size_t>(LineOutcome::kPublished)] = 100;
  ingest_.lines[static_cast<size_t>(LineOutcome::kBadChecksum)] = 7;
  ingest_.bytes_read = 4096;
  ingest_.records_published = 99;
  subscriptions_.active = 1;
  subscriptions_.started = 4;
  subscriptions_.ended_cancelled = 2;
  subscriptions_.rejected_invalid = 1;
  subscriptions_.records_delivered = 98;
  receive_to_publish_.Observe(30'000, 3);

  families = Collect([] { return uint64_t{17}; });
  EXPECT_EQ(families.at("fixstream_connections").type, MetricType::Gauge);
  EXPECT_EQ(families.at("fixstream_connections").metric[0].gauge.value, 2);
  EXPECT_EQ(families.at("fixstream_connections_accepted_total").type, MetricType::Counter);
  EXPECT_EQ(families.at("fixstream_connections_accepted_total").metric[0].counter.value, 5);
  EXPECT_EQ(
      LabeledValue(families.at("fixstream_connections_closed_total"), "reason", "idle_timeout"), 3);
  EXPECT_EQ(LabeledValue(families.at("fixstream_lines_total"), "outcome", "published"), 100);
  EXPECT_EQ(LabeledValue(families.at("fixstream_lines_total"), "outcome", "bad_checksum"), 7);
  EXPECT_EQ(LabeledValue(families.at("fixstream_lines_total"), "outcome", "too_long"), 0);
  EXPECT_EQ(families.at("fixstream_lines_total").metric.size(), ingest::kLineOutcomeCount);
  EXPECT_EQ(families.at("fixstream_bytes_read_total").metric[0].counter.value, 4096);
  EXPECT_EQ(families.at("fixstream_records_published_total").metric[0].counter.value, 99);
  EXPECT_EQ(families.at("fixstream_subscribers").metric[0].gauge.value, 1);
  EXPECT_EQ(families.at("fixstream_subscriptions_started_total").metric[0].counter.value, 4);
  EXPECT_EQ(
      LabeledValue(families.at("fixstream_subscriptions_ended_total"), "outcome", "cancelled"), 2);
  EXPECT_EQ(LabeledValue(families.at("fixstream_subscriptions_ended_total"), "outcome",
                         "invalid_argument"),
            1);
  EXPECT_EQ(families.at("fixstream_records_delivered_total").metric[0].counter.value, 98);
  EXPECT_EQ(families.at("fixstream_subscriber_max_lag_records").metric[0].gauge.value, 17);
  EXPECT_EQ(families.at("fixstream_start_time_seconds").metric[0].gauge.value, 1'800'000'000);
  const MetricFamily& latency = families.at("fixstream_receive_to_publish_seconds");
  EXPECT_EQ(latency.type, MetricType::Histogram);
  EXPECT_EQ(latency.metric[0].histogram.sample_count, 3u);
  EXPECT_EQ(families.at("fixstream_publish_to_delivery_seconds").metric[0].histogram.sample_count,
            0u);
}

TEST_F(GatewayMetricsTest, HubGaugesFollowTheHub) {
  auto families = Collect();
  EXPECT_EQ(families.at("fixstream_sequence_head").metric[0].gauge.value, 0);
  EXPECT_EQ(families.at("fixstream_retained_records").metric[0].gauge.value, 0);
  EXPECT_EQ(families.at("fixstream_vehicles").metric[0].gauge.value, 0);

  RecordBatch batch;
  for (int i = 0; i < 3; ++i) {
    ingest::LocationRecord r;
    r.set_vehicle_id("v1");
    r.fix_time_unix_ns = 1'700'000'000'000'000'000 + i * 1'000'000'000LL;
    r.latitude = 1;
    r.longitude = 2;
    batch.Add(r, 0, 1);
  }
  hub_.Publish(batch);
  families = Collect();
  EXPECT_EQ(families.at("fixstream_sequence_head").metric[0].gauge.value, 3);
  EXPECT_EQ(families.at("fixstream_retained_oldest_sequence").metric[0].gauge.value, 1);
  EXPECT_EQ(families.at("fixstream_retained_records").metric[0].gauge.value, 3);
  EXPECT_GT(families.at("fixstream_retained_bytes").metric[0].gauge.value, 0);
  EXPECT_EQ(families.at("fixstream_vehicles").metric[0].gauge.value, 1);
}

double Value(const std::map<std::string, MetricFamily>& families, const std::string& name) {
  auto it = families.find(name);
  if (it == families.end()) {
    ADD_FAILURE() << "no family " << name;
    return -1;
  }
  const MetricFamily& family = it->second;
  EXPECT_EQ(family.metric.size(), 1u) << name;
  if (family.metric.empty()) return -1;
  return family.type == MetricType::Counter ? family.metric[0].counter.value
                                            : family.metric[0].gauge.value;
}

TEST_F(GatewayMetricsTest, NoJournalSeriesWithoutAJournal) {
  subscriptions_.records_from_journal = 5;  // cannot happen without one; still not exported
  const auto families = Collect();
  ASSERT_TRUE(families.contains("fixstream_records_delivered_total"));
  for (const auto& [name, family] : families) {
    EXPECT_FALSE(name.starts_with("fixstream_journal_")) << name;
    EXPECT_NE(name, "fixstream_records_from_journal_total");
  }
}

TEST_F(GatewayMetricsTest, JournalSeriesFollowTheJournal) {
  Journal& journal = OpenJournal();
  auto families = Collect();
  EXPECT_EQ(Value(families, "fixstream_journal_healthy"), 1);
  EXPECT_EQ(Value(families, "fixstream_journal_records_appended_total"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_appended_sequence"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_durable_sequence"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_oldest_sequence"), 1);
  EXPECT_EQ(Value(families, "fixstream_journal_segments"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_disk_bytes"), 0);
  EXPECT_EQ(Value(families, "fixstream_records_from_journal_total"), 0);

  const std::vector<std::string> payloads = {"first", "second record", "third"};
  const std::vector<std::string_view> views(payloads.begin(), payloads.end());
  ASSERT_TRUE(journal.Append(1, views).ok());
  ASSERT_TRUE(journal.AwaitDurable(3, absl::Now() + absl::Seconds(30)).ok());
  subscriptions_.records_from_journal = 7;
  families = Collect();
  const JournalStats stats = journal.stats();
  EXPECT_EQ(Value(families, "fixstream_journal_records_appended_total"), 3);
  EXPECT_EQ(Value(families, "fixstream_journal_appended_sequence"), 3);
  EXPECT_EQ(Value(families, "fixstream_journal_durable_sequence"), 3);
  EXPECT_EQ(Value(families, "fixstream_journal_oldest_sequence"), 1);
  EXPECT_EQ(Value(families, "fixstream_journal_segments"), 1);
  // A new journal: everything written is in its one segment.
  const double payload_bytes = 5 + 13 + 5;
  const double expected_bytes = kSegmentHeaderSize + 3 * kFrameHeaderSize + payload_bytes;
  EXPECT_EQ(Value(families, "fixstream_journal_bytes_written_total"), expected_bytes);
  EXPECT_EQ(Value(families, "fixstream_journal_disk_bytes"), expected_bytes);
  EXPECT_EQ(Value(families, "fixstream_journal_pending_bytes"), 0);
  EXPECT_GE(Value(families, "fixstream_journal_fsyncs_total"), 1);
  EXPECT_EQ(Value(families, "fixstream_journal_fsyncs_total"), static_cast<double>(stats.fsyncs));
  EXPECT_EQ(Value(families, "fixstream_journal_segments_deleted_total"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_lost_ranges"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_lost_sequences"), 0);
  EXPECT_EQ(Value(families, "fixstream_records_from_journal_total"), 7);
  // One observation per fsync.
  const MetricFamily& fsync = families.at("fixstream_journal_fsync_seconds");
  EXPECT_EQ(fsync.type, MetricType::Histogram);
  ASSERT_EQ(fsync.metric.size(), 1u);
  EXPECT_EQ(fsync.metric[0].histogram.sample_count, stats.fsyncs);
  EXPECT_EQ(families.at("fixstream_journal_records_appended_total").type, MetricType::Counter);
  EXPECT_EQ(families.at("fixstream_journal_durable_sequence").type, MetricType::Gauge);
}

TEST_F(GatewayMetricsTest, FailedJournalWriteIsUnhealthy) {
  Journal& journal = OpenJournal();
  // The writer creates segments with O_EXCL: a file already holding the first
  // segment's name makes its first write fail.
  std::ofstream(journal_dir_ + "/" + JournalSegmentFileName(1)) << "in the way";
  const std::string payload = "record";
  const std::vector<std::string_view> views = {payload};
  ASSERT_TRUE(journal.Append(1, views).ok());
  EXPECT_FALSE(journal.AwaitDurable(1, absl::Now() + absl::Seconds(30)).ok());
  const auto families = Collect();
  EXPECT_EQ(Value(families, "fixstream_journal_healthy"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_durable_sequence"), 0);
  EXPECT_EQ(Value(families, "fixstream_journal_appended_sequence"), 1);
  EXPECT_EQ(Value(families, "fixstream_journal_fsyncs_total"), 0);
}

TEST_F(GatewayMetricsTest, NamesFollowPrometheusConventions) {
  OpenJournal();  // its series too
  for (const auto& [name, family] : Collect()) {
    EXPECT_TRUE(name.starts_with("fixstream_")) << name;
    if (family.type == MetricType::Counter) {
      EXPECT_TRUE(name.ends_with("_total")) << name;
    } else {
      EXPECT_FALSE(name.ends_with("_total")) << name;
    }
    EXPECT_FALSE(family.help.empty()) << name;
    for (const auto& metric : family.metric) {
      // Bounded label sets only: at most one label, never a vehicle.
      EXPECT_LE(metric.label.size(), 1u) << name;
    }
  }
}

TEST_F(GatewayMetricsTest, SerializesToTheTextFormat) {
  MetricsSources sources;
  sources.ingest = &ingest_;
  sources.subscriptions = &subscriptions_;
  sources.hub = &hub_;
  sources.receive_to_publish = &receive_to_publish_;
  sources.publish_to_delivery = &publish_to_delivery_;
  GatewayMetrics metrics(std::move(sources));
  const std::string text = prometheus::TextSerializer().Serialize(metrics.Collect());
  EXPECT_NE(text.find("# TYPE fixstream_lines_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("fixstream_lines_total{outcome=\"published\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("fixstream_receive_to_publish_seconds_bucket{le=\"+Inf\"} 0\n"),
            std::string::npos)
      << text;
}

TEST(LatencyHistogramTest, ClientMetricIsCumulativeInSecondsAndEndsWithInf) {
  LatencyHistogram h;
  h.Observe(5'000);           // bucket 0
  h.Observe(50'000, 2);       // bucket 2
  h.Observe(60'000'000'000);  // +Inf
  prometheus::ClientMetric m = ToClientMetric(h);
  EXPECT_EQ(m.histogram.sample_count, 4u);
  EXPECT_DOUBLE_EQ(m.histogram.sample_sum, (5'000 + 100'000 + 60'000'000'000) / 1e9);
  ASSERT_EQ(m.histogram.bucket.size(), LatencyHistogram::kBucketCount);
  EXPECT_DOUBLE_EQ(m.histogram.bucket[0].upper_bound, 1e-5);
  EXPECT_EQ(m.histogram.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(m.histogram.bucket[1].cumulative_count, 1u);
  EXPECT_EQ(m.histogram.bucket[2].cumulative_count, 3u);
  EXPECT_DOUBLE_EQ(m.histogram.bucket[18].upper_bound, 10.0);
  EXPECT_EQ(m.histogram.bucket[18].cumulative_count, 3u);
  EXPECT_TRUE(std::isinf(m.histogram.bucket.back().upper_bound));
  EXPECT_EQ(m.histogram.bucket.back().cumulative_count, 4u);
}

}  // namespace
}  // namespace fixstream::gateway
