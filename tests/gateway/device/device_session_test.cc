#include "gateway/device/device_session.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "gateway/common/monotonic_clock.h"
#include "gateway/store/embedded_store.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

using asio::ip::tcp;
using ingest::LineOutcome;

constexpr absl::Duration kDeadline = absl::Seconds(10);

// Waits for `done` with a deadline, checking every millisecond.
bool WaitFor(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + kDeadline;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A CSV line with a fresh fix time (so that none is a duplicate).
std::string CsvLine(std::string_view vehicle) {
  static int64_t next_ms = absl::ToUnixMillis(absl::Now()) - 1'000'000;
  next_ms += 1000;
  return absl::StrCat(
      std::string(vehicle), ",",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(next_ms), absl::UTCTimeZone()),
      ",52.5,13.4,3.0\n");
}

// The server's side of a session: records each close.
class Closes final : public DeviceSession::Registry {
 public:
  void OnSessionClosed(uint64_t id, const asio::ip::address&, CloseReason reason) override {
    absl::MutexLock lock(&mu_);
    closed_.emplace_back(id, reason);
  }
  void OnFirstFixTimeRejection(LineOutcome outcome, const asio::ip::address&, int64_t) override {
    absl::MutexLock lock(&mu_);
    fix_time_rejections_.push_back(outcome);
  }
  void OnBadIdentification(const asio::ip::address&, std::string_view first_line,
                           bool too_long) override {
    absl::MutexLock lock(&mu_);
    bad_identifications_.push_back(too_long ? "(too long)" : std::string(first_line));
  }
  void OnAuthenticationFailed(const asio::ip::address&, std::string_view,
                              std::string_view) override {
    // No session of these tests is under the authenticated policy (see
    // tests/integration/device_auth_test.cc).
    ADD_FAILURE() << "unexpected authentication";
  }
  std::vector<std::string> bad_identifications() {
    absl::MutexLock lock(&mu_);
    return bad_identifications_;
  }
  std::vector<LineOutcome> fix_time_rejections() {
    absl::MutexLock lock(&mu_);
    return fix_time_rejections_;
  }
  // The reason connection `id` closed for, waiting for it up to the
  // deadline; nullopt if it stays open.
  std::optional<CloseReason> Await(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto find = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> std::optional<CloseReason> {
      for (auto& [closed_id, reason] : closed_) {
        if (closed_id == id) return reason;
      }
      return std::nullopt;
    };
    auto closed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return find().has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&closed), kDeadline);
    return find();
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return closed_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<uint64_t, CloseReason>> closed_ ABSL_GUARDED_BY(mu_);
  std::vector<LineOutcome> fix_time_rejections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> bad_identifications_ ABSL_GUARDED_BY(mu_);
};

ListenerOptions Listener(Identification identification, bool acks = false) {
  ListenerOptions listener;
  listener.identification = identification;
  listener.acks = acks;
  return listener;
}

// One session over a real loopback connection, against a real hub: the test
// holds the device's end (`device`, blocking), the session runs on its own
// I/O thread.
class DeviceSessionTest : public ::testing::Test {
 protected:
  DeviceSessionTest() : store_(SmallHub()) {
    options_.idle_timeout = absl::ZeroDuration();
    options_.line_timeout = absl::ZeroDuration();
  }

  // Whatever the test left open is drained, as by the server's Stop(): the
  // I/O thread's run() returns once the session's last handler ran.
  ~DeviceSessionTest() override {
    if (session_ != nullptr) session_->Drain();
    session_.reset();
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

  static HubOptions SmallHub() {
    HubOptions options;
    options.max_records = 1024;
    options.max_bytes = 1 << 20;
    options.prefault_ring = false;
    return options;
  }

  // Connects a device to a listener on 127.0.0.1:0 and starts a session on
  // the accepted socket.
  void Connect(bool acks = false) { Connect(Listener(Identification::kPfsid, acks)); }
  // The same on `listener`, as vehicle `vehicle` if not empty (what the
  // server found from the source address).
  void Connect(const ListenerOptions& listener, std::string_view vehicle = {}) {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    device_.connect(acceptor.local_endpoint());
    tcp::socket accepted(io_);
    acceptor.accept(accepted);
    const asio::ip::address source = accepted.remote_endpoint().address();
    counters_.connections_accepted.fetch_add(1);
    counters_.connections_active.fetch_add(1);
    session_ = std::make_shared<DeviceSession>(std::move(accepted), source, kId, listener, vehicle,
                                               context_);
    asio::post(io_, [session = session_] { session->Start(); });
    thread_ = std::thread([this] { io_.run(); });
  }

  void Send(std::string_view bytes) { asio::write(device_, asio::buffer(bytes)); }
  void HalfClose() { device_.shutdown(tcp::socket::shutdown_send); }

  // Reads what the session sends until it closes.
  std::string ReadToEnd() {
    std::string received;
    asio::error_code ec;
    asio::read(device_, asio::dynamic_buffer(received), ec);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
    return received;
  }
  // Reads exactly `n` bytes.
  std::string Read(size_t n) {
    std::string received(n, '\0');
    asio::read(device_, asio::buffer(received));
    return received;
  }
  // Bytes the session sent that the device has not read yet.
  size_t Unread() { return device_.available(); }

  uint64_t Lines(LineOutcome outcome) const { return counters_.line_count(outcome); }
  uint64_t AllLines() const {
    uint64_t sum = 0;
    for (const auto& lines : counters_.lines) sum += lines.load();
    return sum;
  }
  // Ids of the vehicles the store has records of.
  std::vector<std::string> Vehicles() const {
    std::vector<std::string> ids;
    for (const auto& v : store_.VehiclesPage("", 100)) ids.push_back(v.id);
    return ids;
  }
  bool Published(uint64_t records) {
    return WaitFor([&] { return counters_.records_published.load() == records; });
  }

  static constexpr uint64_t kId = 7;
  DeviceServerOptions options_;
  EmbeddedStore store_;  // the ring only, no journal
  IngestCounters counters_;
  DurabilityWatch durability_;
  Closes closes_;
  std::atomic<uint64_t> available_generation_{0};
  const DeviceSession::Context context_{options_,    store_,  counters_,
                                        durability_, closes_, available_generation_};
  asio::io_context io_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  asio::io_context device_io_;
  tcp::socket device_{device_io_};
  std::shared_ptr<DeviceSession> session_;
  std::thread thread_;
};

TEST_F(DeviceSessionTest, PublishesTheRecordsOfEachRead) {
  Connect();
  Send(CsvLine("v1") + CsvLine("v2") + CsvLine("v3"));
  ASSERT_TRUE(Published(3));
  EXPECT_EQ(store_.head(), 4u);
  EXPECT_EQ(store_.hub().vehicles(), 3u);
  EXPECT_EQ(Lines(LineOutcome::kPublished), 3u);
  EXPECT_GE(counters_.receive_to_publish.Read().count, 3u);
}

TEST_F(DeviceSessionTest, CarriesAPartialLineAcrossReads) {
  Connect();
  const std::string line = CsvLine("v1");
  Send(line.substr(0, 10));
  ASSERT_TRUE(WaitFor([&] { return counters_.bytes_read.load() == 10; }));
  EXPECT_EQ(counters_.records_published.load(), 0u);
  Send(line.substr(10));
  ASSERT_TRUE(Published(1));
  EXPECT_EQ(counters_.bytes_framed.load(), line.size());
}

TEST_F(DeviceSessionTest, CountsEveryLineOutcome) {
  options_.max_line_length = 64;
  Connect();
  Send(CsvLine("v1") + "not,a,record\n" + std::string(100, 'x') + "\n" + "\n" + CsvLine("v1"));
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kPublished) == 2; }));
  EXPECT_EQ(Lines(LineOutcome::kMalformed), 1u);
  EXPECT_EQ(Lines(LineOutcome::kTooLong), 1u);
  EXPECT_EQ(Lines(LineOutcome::kEmpty), 1u);
  // Line outcomes are counted before the records are handed to the store,
  // records_published after (PublishParsed): wait for it, do not assume it.
  EXPECT_TRUE(Published(2));
}

TEST_F(DeviceSessionTest, ReportsOnlyTheFirstFixTimeRejectionOfAConnection) {
  options_.fix_time_window = {.max_age_ns = int64_t{30} * 86400 * 1'000'000'000,
                              .max_lead_ns = int64_t{900} * 1'000'000'000};
  Connect();
  // 2001 is older than the default window; 2094 lies in the future.
  Send("v1,2001-01-01T00:00:00Z,52.5,13.4\n" + CsvLine("v1") +
       "v1,2094-03-23T12:35:19Z,52.5,13.4\nv1,2001-01-01T00:00:01Z,52.5,13.4\n");
  ASSERT_TRUE(WaitFor([&] { return AllLines() == 4; }));
  EXPECT_EQ(Lines(LineOutcome::kFixTooOld), 2u);
  EXPECT_EQ(Lines(LineOutcome::kFixInFuture), 1u);
  EXPECT_EQ(closes_.fix_time_rejections(), std::vector<LineOutcome>{LineOutcome::kFixTooOld});
}

TEST_F(DeviceSessionTest, PeerCloseDropsAndCountsTheUnterminatedTail) {
  Connect();
  Send(CsvLine("v1") + "v1,2024-01-01T00:00");
  HalfClose();
  EXPECT_EQ(closes_.Await(kId), CloseReason::kPeerClosed);
  EXPECT_EQ(ReadToEnd(), "");
  EXPECT_EQ(Lines(LineOutcome::kPublished), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnterminated), 1u);
  // The accounting identities of IngestCounters.
  EXPECT_EQ(counters_.bytes_read.load(),
            counters_.bytes_framed.load() + counters_.bytes_discarded.load());
  EXPECT_EQ(counters_.connections_active.load(), 0);
  EXPECT_EQ(counters_.closed_count(CloseReason::kPeerClosed), 1u);
  EXPECT_EQ(counters_.connections_closed.load(), 1u);
}

TEST_F(DeviceSessionTest, AReadThatSpendsTheBudgetYieldsAndCarriesOn) {
  options_.read_chunk = 4096;
  options_.read_budget = 4096;
  Connect();
  std::string lines;
  for (int i = 0; i < 2000; ++i) lines += CsvLine("v1");
  Send(lines);
  EXPECT_TRUE(Published(2000));
}

TEST_F(DeviceSessionTest, DrainPublishesWhatWasSentAndClosesForShutdown) {
  Connect();
  Send(CsvLine("v1") + CsvLine("v2"));
  session_->Drain();
  EXPECT_EQ(closes_.Await(kId), CloseReason::kShutdown);
  EXPECT_EQ(counters_.records_published.load(), 2u);
  EXPECT_EQ(ReadToEnd(), "");
}

TEST_F(DeviceSessionTest, IdleTimeoutUsesTheTimeOfTheLastRead) {
  options_.idle_timeout = absl::Seconds(30);
  Connect();
  const int64_t now = MonotonicNanos();
  EXPECT_FALSE(session_->Expired(CloseReason::kIdleTimeout, now));
  EXPECT_TRUE(session_->Expired(CloseReason::kIdleTimeout, now + 31'000'000'000));
  EXPECT_FALSE(session_->Expired(CloseReason::kLineTimeout, now + 31'000'000'000))
      << "line timeout disabled";
}

TEST_F(DeviceSessionTest, LineTimeoutRunsOnlyWhileAPartialLineWaits) {
  options_.line_timeout = absl::Seconds(5);
  Connect();
  const int64_t later = MonotonicNanos() + 60'000'000'000;
  EXPECT_FALSE(session_->Expired(CloseReason::kLineTimeout, later)) << "nothing buffered";
  Send("v1,2024");
  ASSERT_TRUE(WaitFor([&] { return counters_.bytes_read.load() == 7; }));
  EXPECT_TRUE(session_->Expired(CloseReason::kLineTimeout, later));
  Send("-01-01\n");
  ASSERT_TRUE(WaitFor(
      [&] { return Lines(LineOutcome::kBadTimestamp) + Lines(LineOutcome::kMalformed) == 1; }));
  EXPECT_FALSE(session_->Expired(CloseReason::kLineTimeout, later)) << "the line completed";
}

// A device whose writes end mid-line (normal for TCP) is not closed as long
// as each line completes in time: the timeout measures the line waiting now,
// not the first partial line since the buffer was last empty.
TEST_F(DeviceSessionTest, LineTimeoutMeasuresTheLineWaitingNow) {
  options_.line_timeout = absl::Seconds(5);
  Connect();
  Send("v1,2024");
  ASSERT_TRUE(WaitFor([&] { return counters_.bytes_read.load() == 7; }));
  const int64_t between = MonotonicNanos();
  Send("-01-01\nv2,2024");  // the first line ends, the next one begins
  ASSERT_TRUE(WaitFor([&] { return counters_.bytes_read.load() == 7 + 14; }));
  ASSERT_TRUE(WaitFor(
      [&] { return Lines(LineOutcome::kBadTimestamp) + Lines(LineOutcome::kMalformed) == 1; }));
  EXPECT_FALSE(session_->Expired(CloseReason::kLineTimeout, between + 5'000'000'000 - 1))
      << "the waiting line began after `between`";
  EXPECT_TRUE(session_->Expired(CloseReason::kLineTimeout, MonotonicNanos() + 5'000'000'000));
}

// An over-long line is discarded as it arrives, so nothing is buffered; it
// is still a line that has not ended, and a slow endless one is closed.
TEST_F(DeviceSessionTest, AnOverLongLineBeingDiscardedKeepsTheLineTimeoutRunning) {
  options_.line_timeout = absl::Seconds(5);
  options_.max_line_length = 64;
  Connect();
  Send(std::string(100, 'x'));
  ASSERT_TRUE(WaitFor([&] { return counters_.bytes_read.load() == 100; }));
  EXPECT_TRUE(session_->Expired(CloseReason::kLineTimeout, MonotonicNanos() + 5'000'000'000));
  Send("\n");  // its end: reported once, nothing waits any more
  ASSERT_TRUE(WaitFor([&] { return Lines(LineOutcome::kTooLong) == 1; }));
  EXPECT_FALSE(session_->Expired(CloseReason::kLineTimeout, MonotonicNanos() + 60'000'000'000));
}

TEST_F(DeviceSessionTest, ExpireClosesAnIdleConnection) {
  options_.idle_timeout = absl::Nanoseconds(1);
  Connect();
  session_->Expire(CloseReason::kIdleTimeout);
  EXPECT_EQ(closes_.Await(kId), CloseReason::kIdleTimeout);
  EXPECT_EQ(counters_.closed_count(CloseReason::kIdleTimeout), 1u);
  EXPECT_EQ(ReadToEnd(), "");
}

TEST_F(DeviceSessionTest, ExpireLeavesAnActiveConnectionOpen) {
  options_.idle_timeout = absl::Minutes(5);
  Connect();
  Send(CsvLine("v1"));
  session_->Expire(CloseReason::kIdleTimeout);
  ASSERT_TRUE(Published(1));
  Send(CsvLine("v1"));
  EXPECT_TRUE(Published(2)) << "still reading";
  EXPECT_EQ(closes_.count(), 0u);
}

TEST_F(DeviceSessionTest, ThePlainListenerSendsNoAcks) {
  Connect(/*acks=*/false);
  Send(CsvLine("v1"));
  ASSERT_TRUE(Published(1));
  durability_.OnDurable(store_.head() - 1);
  HalfClose();
  EXPECT_EQ(closes_.Await(kId), CloseReason::kPeerClosed);
  EXPECT_EQ(ReadToEnd(), "");
}

TEST_F(DeviceSessionTest, AcknowledgesLinesOnceTheirRecordsAreDurable) {
  Connect(/*acks=*/true);
  Send(CsvLine("v1") + CsvLine("v2") + "garbage\n");
  ASSERT_TRUE(WaitFor([&] { return AllLines() == 3; }));
  ASSERT_TRUE(Published(2));  // counted after the lines (PublishParsed)
  ASSERT_TRUE(WaitFor([&] { return durability_.registered() == 1; }));
  EXPECT_EQ(Unread(), 0u) << "published, not durable: not acknowledged";
  durability_.OnDurable(2);
  EXPECT_EQ(Read(6), "ACK 3\n") << "the rejected line is settled with the others";
}

TEST_F(DeviceSessionTest, AHalfClosedDeviceGetsTheFinalAckThenTheClose) {
  Connect(/*acks=*/true);
  Send(CsvLine("v1") + CsvLine("v1"));
  HalfClose();
  ASSERT_TRUE(Published(2));
  ASSERT_TRUE(WaitFor([&] { return durability_.registered() == 1; }));
  EXPECT_EQ(closes_.count(), 0u) << "stays open for its acknowledgement";
  durability_.OnDurable(store_.head() - 1);
  EXPECT_EQ(ReadToEnd(), "ACK 2\n");
  EXPECT_EQ(closes_.Await(kId), CloseReason::kPeerClosed);
}

// A half-closed device waits for its final acknowledgement; durability that
// never comes (a failed journal) must not keep the connection for ever,
// even with the idle timeout off.
TEST_F(DeviceSessionTest, AHalfClosedDeviceWaitsForItsAckOnlySoLong) {
  options_.idle_timeout = absl::ZeroDuration();
  options_.half_closed_ack_wait = absl::Milliseconds(200);
  Connect(/*acks=*/true);
  Send(CsvLine("v1"));
  ASSERT_TRUE(Published(1));
  EXPECT_FALSE(session_->Expired(CloseReason::kIdleTimeout, MonotonicNanos() + 3'600'000'000'000))
      << "still sending: the idle timeout is off";
  HalfClose();
  ASSERT_TRUE(WaitFor([&] { return durability_.registered() == 1; }));
  ASSERT_TRUE(WaitFor([&] {
    return session_->Expired(CloseReason::kIdleTimeout, MonotonicNanos() + 250'000'000);
  }));
  EXPECT_FALSE(session_->Expired(CloseReason::kIdleTimeout, MonotonicNanos() - 1'000'000'000));
  session_->Expire(CloseReason::kIdleTimeout);
  EXPECT_EQ(closes_.Await(kId), CloseReason::kIdleTimeout);
  EXPECT_EQ(ReadToEnd(), "") << "nothing was durable: no acknowledgement";
}

TEST_F(DeviceSessionTest, RefusedRecordsAreNeverAcknowledged) {
  Connect(/*acks=*/true);
  store_.Close();
  Send(CsvLine("v1"));
  ASSERT_TRUE(WaitFor([&] { return counters_.records_dropped_at_shutdown.load() == 1; }));
  durability_.OnDurable(1'000);
  HalfClose();
  EXPECT_EQ(closes_.Await(kId), CloseReason::kPeerClosed);
  EXPECT_EQ(ReadToEnd(), "");
}

// A GPRMC with a fresh fix time (so that none is a duplicate).
std::string RmcLine() {
  static int64_t next_s = absl::ToUnixSeconds(absl::Now()) - 1'000;
  ++next_s;
  const absl::Time t = absl::FromUnixSeconds(next_s);
  return absl::StrCat("$GPRMC,", absl::FormatTime("%H%M%S", t, absl::UTCTimeZone()),
                      ",A,4807.038,N,01131.000,E,022.4,084.4,",
                      absl::FormatTime("%d%m%y", t, absl::UTCTimeZone()), ",003.1,W\r\n");
}

// A receiver 1024 GPS weeks behind: its date is corrected and counted for
// the metric (fixstream_nmea_week_rollovers_corrected_total).
TEST_F(DeviceSessionTest, WeekRolloverCorrectionsAreCounted) {
  options_.fix_time_window = {.max_age_ns = int64_t{30} * 86400 * 1'000'000'000,
                              .max_lead_ns = int64_t{900} * 1'000'000'000};
  Connect(Listener(Identification::kSourceAddress), "rollover-1");
  const absl::Time t = absl::Now() - absl::Hours(24 * 7 * 1024) - absl::Minutes(5);
  Send(absl::StrCat("$GPRMC,", absl::FormatTime("%H%M%S", t, absl::UTCTimeZone()),
                    ",A,4807.038,N,01131.000,E,022.4,084.4,",
                    absl::FormatTime("%d%m%y", t, absl::UTCTimeZone()), ",003.1,W\r\n"));
  ASSERT_TRUE(Published(1));
  EXPECT_EQ(counters_.week_rollovers_corrected.load(), 1u);
}

TEST_F(DeviceSessionTest, AVehicleFoundByTheServerNeedsNoPfsid) {
  Connect(Listener(Identification::kSourceAddress), "tracker-1");
  Send(RmcLine() + CsvLine("tracker-1") + CsvLine("someone-else"));
  ASSERT_TRUE(WaitFor([&] { return AllLines() == 3; }));
  EXPECT_TRUE(Published(2));
  EXPECT_EQ(Lines(LineOutcome::kVehicleMismatch), 1u);
  EXPECT_EQ(Vehicles(), std::vector<std::string>{"tracker-1"});
}

TEST_F(DeviceSessionTest, TheFirstLineNamesTheConnectionsVehicle) {
  Connect(Listener(Identification::kFirstLine));
  Send("356938035643809\r\n" + RmcLine() + "$PFSID,other\r\n" + RmcLine());
  ASSERT_TRUE(WaitFor([&] { return AllLines() == 4; }));
  EXPECT_TRUE(Published(2));
  EXPECT_EQ(Lines(LineOutcome::kIdentified), 1u);
  EXPECT_EQ(Lines(LineOutcome::kVehicleMismatch), 1u) << "$PFSID may not change it";
  EXPECT_EQ(Vehicles(), std::vector<std::string>{"356938035643809"});
  EXPECT_EQ(closes_.count(), 0u);
}

TEST_F(DeviceSessionTest, ABadFirstLineClosesTheConnectionUnacknowledged) {
  Connect(Listener(Identification::kFirstLine, /*acks=*/true));
  Send(RmcLine() + RmcLine() + CsvLine("v1") + "partial");
  EXPECT_EQ(closes_.Await(kId), CloseReason::kBadIdentification);
  EXPECT_EQ(Lines(LineOutcome::kBadVehicleId), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnknownVehicle), 2u) << "what it sent meanwhile is counted";
  EXPECT_EQ(Lines(LineOutcome::kUnterminated), 1u);
  EXPECT_EQ(counters_.records_published.load(), 0u);
  EXPECT_EQ(counters_.bytes_read.load(),
            counters_.bytes_framed.load() + counters_.bytes_discarded.load());
  ASSERT_EQ(closes_.bad_identifications().size(), 1u);
  EXPECT_TRUE(absl::StartsWith(closes_.bad_identifications()[0], "$GPRMC,"));
  EXPECT_EQ(ReadToEnd(), "") << "nothing is acknowledged";
}

// The first line only: no id is looked for further on.
TEST_F(DeviceSessionTest, AnEmptyFirstLineIsABadIdentification) {
  Connect(Listener(Identification::kFirstLine));
  Send("\r\nimei-1\n" + CsvLine("v1"));
  EXPECT_EQ(closes_.Await(kId), CloseReason::kBadIdentification);
  EXPECT_EQ(Lines(LineOutcome::kBadVehicleId), 1u);
  EXPECT_EQ(Lines(LineOutcome::kUnknownVehicle), 2u);
  EXPECT_EQ(counters_.records_published.load(), 0u);
}

TEST_F(DeviceSessionTest, AnIdWithASpaceIsABadIdentification) {
  Connect(Listener(Identification::kFirstLine));
  Send("imei 356938035643809\n" + CsvLine("v1"));
  EXPECT_EQ(closes_.Await(kId), CloseReason::kBadIdentification);
  EXPECT_EQ(Lines(LineOutcome::kBadVehicleId), 1u);
  EXPECT_EQ(closes_.bad_identifications(), std::vector<std::string>{"imei 356938035643809"});
}

TEST_F(DeviceSessionTest, AnOverlongFirstLineIsABadIdentification) {
  options_.max_line_length = 32;
  Connect(Listener(Identification::kFirstLine));
  Send(std::string(100, '7') + "\n" + CsvLine("v1"));
  EXPECT_EQ(closes_.Await(kId), CloseReason::kBadIdentification);
  EXPECT_EQ(Lines(LineOutcome::kTooLong), 2u) << "the id line and the CSV line (> 32 bytes)";
  EXPECT_EQ(closes_.bad_identifications(), std::vector<std::string>{"(too long)"});
}

}  // namespace
}  // namespace fixstream::gateway
