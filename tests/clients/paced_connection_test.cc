// PacedConnection and Pacer against a real acceptor on 127.0.0.1: what
// arrives, in which order, from where, and that pacing takes at least as
// long as the rate says (a lower bound only: a loaded machine can only make
// it slower).
#include "clients/paced_connection.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asio.hpp"
#include "clients/loopback_target.h"
#include "gtest/gtest.h"

namespace fixstream::clients {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// "c<connection> l<line>\n"
std::string Line(int connection, int64_t line) {
  return absl::StrCat("c", connection, " l", line, "\n");
}

std::string Lines(int connection, int64_t count) {
  std::string out;
  for (int64_t i = 0; i < count; ++i) out += Line(connection, i);
  return out;
}

// Sends `lines` numbered lines, at most `max_lines_per_write` per write.
class TestConnection final : public PacedConnection {
 public:
  TestConnection(asio::io_context& io, int index, int64_t lines, int64_t max_lines_per_write,
                 PacedConnectionObserver& observer)
      : PacedConnection(io, index, lines, observer), max_lines_per_write_(max_lines_per_write) {}

  int writes() const { return writes_; }
  int64_t largest_credit() const { return largest_credit_; }

 private:
  PacedWrite NextWrite(int64_t credit) override {
    ++writes_;
    largest_credit_ = std::max(largest_credit_, credit);
    buffer_.clear();
    PacedWrite write;
    while (write.units < credit && write.units < max_lines_per_write_) {
      buffer_ += Line(index(), next_line_++);
      ++write.units;
    }
    write.lines = write.units;
    write.records = write.units;
    write.data = buffer_;
    return write;
  }

  const int64_t max_lines_per_write_;
  int64_t next_line_ = 0;
  int writes_ = 0;
  int64_t largest_credit_ = 0;
  std::string buffer_;
};

// Accepts connections and reads each to end of stream.
class Sink final {
 public:
  struct Peer {
    explicit Peer(tcp::socket accepted) : socket(std::move(accepted)) {}
    tcp::socket socket;
    tcp::endpoint remote;
    std::string data;
    bool ended = false;
    std::array<char, 4096> chunk{};
  };

  explicit Sink(asio::io_context& io)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

  // Accepts `count` connections, then stops listening.
  void Accept(int count) {
    if (count == 0) return;
    acceptor_.async_accept([this, count](const std::error_code& ec, tcp::socket socket) {
      ASSERT_FALSE(ec) << ec.message();
      auto peer = std::make_unique<Peer>(std::move(socket));
      std::error_code ignored;
      peer->remote = peer->socket.remote_endpoint(ignored);
      Read(*peer);
      peers_.push_back(std::move(peer));
      Accept(count - 1);
    });
  }

  // Peers in accept order.
  const std::vector<std::unique_ptr<Peer>>& peers() const { return peers_; }
  // The data of the peer whose first line names `connection`.
  std::string DataOf(int connection) const {
    const std::string prefix = absl::StrCat("c", connection, " ");
    for (const auto& peer : peers_) {
      if (std::string_view(peer->data).starts_with(prefix)) return peer->data;
    }
    return "";
  }

 private:
  void Read(Peer& peer) {
    peer.socket.async_read_some(asio::buffer(peer.chunk),
                                [this, &peer](const std::error_code& ec, size_t n) {
                                  peer.data.append(peer.chunk.data(), n);
                                  if (ec) {
                                    EXPECT_EQ(ec, asio::error::eof) << ec.message();
                                    peer.ended = true;
                                    return;
                                  }
                                  Read(peer);
                                });
  }

  tcp::acceptor acceptor_;
  std::vector<std::unique_ptr<Peer>> peers_;
};

// Counts the callbacks and keeps what they reported; forwards connects to
// the pacer, as the tools do.
class Observer final : public PacedConnectionObserver {
 public:
  explicit Observer(Pacer* pacer) : pacer_(pacer) {}

  void OnConnectDone(PacedConnection& /*connection*/) override {
    ++connects_done;
    if (pacer_ != nullptr) pacer_->OnConnectDone();
  }
  void OnWriteStarted(PacedConnection& /*connection*/) override {
    ++writes_started;
    if (on_write_started) on_write_started();
  }
  void OnWritten(PacedConnection& /*connection*/, const PacedWrite& write) override {
    ++writes_done;
    written += write.data;
  }
  void OnFailed(PacedConnection& connection, std::string_view operation,
                const std::error_code& ec) override {
    failures.push_back(
        absl::StrCat(connection.index(), " ", std::string(operation), ": ", ec.message()));
  }
  void OnFinished(PacedConnection& /*connection*/) override { ++finished; }

  std::function<void()> on_write_started;
  int connects_done = 0;
  int writes_started = 0;
  int writes_done = 0;
  int finished = 0;
  std::string written;
  std::vector<std::string> failures;

 private:
  Pacer* pacer_;
};

// Runs `io` until it runs out of work, for at most 30 s, so that a bug fails
// the test instead of hanging it.
void RunUntilDone(asio::io_context& io) {
  io.run_for(std::chrono::seconds(30));
  EXPECT_TRUE(io.stopped()) << "still busy after 30 s";
}

// One run: a sink on 127.0.0.1, a pacer at `rate`, test connections.
struct Harness {
  explicit Harness(double rate) : sink(io), pacer(io, rate), observer(&pacer) {}

  TestConnection& Add(int64_t lines, int64_t max_lines_per_write) {
    connections.push_back(std::make_unique<TestConnection>(io, static_cast<int>(connections.size()),
                                                           lines, max_lines_per_write, observer));
    pacer.Add(connections.back().get());
    return *connections.back();
  }
  // Has the sink accept every connection and starts them from 127.0.0.1.
  void StartAll() {
    sink.Accept(static_cast<int>(connections.size()));
    for (auto& connection : connections) {
      connection->Start(LoopbackSource(sink.endpoint(), 0, 1), sink.endpoint());
    }
  }

  asio::io_context io;
  Sink sink;
  Pacer pacer;
  Observer observer;
  std::vector<std::unique_ptr<TestConnection>> connections;
};

TEST(PacedConnectionTest, GrantReportsWhetherTheConnectionWasIdle) {
  asio::io_context io;
  Observer observer(nullptr);
  TestConnection connection(io, 0, 5, 100, observer);
  EXPECT_EQ(connection.ungranted(), 5);
  EXPECT_TRUE(connection.Grant(2));
  EXPECT_FALSE(connection.Grant(1));  // credit left: someone will send it
  EXPECT_EQ(connection.ungranted(), 2);
}

TEST(PacedConnectionTest, UnpacedSendsEveryLineInOrderThenEndsTheStream) {
  Harness run(0);
  constexpr int kConnections = 3;
  constexpr int64_t kLines = 1000;
  for (int i = 0; i < kConnections; ++i) run.Add(kLines, 64);
  run.StartAll();
  RunUntilDone(run.io);

  EXPECT_TRUE(run.observer.failures.empty()) << run.observer.failures.front();
  EXPECT_EQ(run.observer.connects_done, kConnections);
  EXPECT_EQ(run.observer.finished, kConnections);
  EXPECT_EQ(run.observer.writes_started, run.observer.writes_done);
  ASSERT_EQ(run.sink.peers().size(), static_cast<size_t>(kConnections));
  int64_t bytes = 0;
  for (const auto& connection : run.connections) {
    const std::string expected = Lines(connection->index(), kLines);
    EXPECT_EQ(run.sink.DataOf(connection->index()), expected);
    EXPECT_TRUE(connection->completed());
    EXPECT_EQ(connection->ungranted(), 0);
    EXPECT_EQ(connection->units_sent(), kLines);
    EXPECT_EQ(connection->lines_sent(), kLines);
    EXPECT_EQ(connection->bytes_sent(), static_cast<int64_t>(expected.size()));
    // Unpaced: everything was granted up front, so writes are full.
    EXPECT_EQ(connection->writes(), (kLines + 63) / 64);
    EXPECT_EQ(connection->largest_credit(), kLines);
    bytes += connection->bytes_sent();
  }
  for (const auto& peer : run.sink.peers()) EXPECT_TRUE(peer->ended);
  const PacedTotals sent = run.pacer.sent();
  EXPECT_EQ(sent.units, kConnections * kLines);
  EXPECT_EQ(sent.lines, kConnections * kLines);
  EXPECT_EQ(sent.records, kConnections * kLines);
  EXPECT_EQ(sent.bytes, bytes);
}

TEST(PacedConnectionTest, PacedKeepsToTheRateAndSharesTheLinesOut) {
  // 60 lines at 200/s: line 59 is due 295 ms after the last connect.
  constexpr double kRate = 200;
  constexpr int64_t kLines = 30;
  Harness run(kRate);
  TestConnection& first = run.Add(kLines, 1000);
  TestConnection& second = run.Add(kLines, 1000);
  const Clock::time_point start = Clock::now();
  // Whenever a write starts, the pacer has granted no more than had fallen
  // due (pacing starts after `start`), and round-robin over two equal
  // connections keeps their grants within one line of each other.
  int checks = 0;
  run.observer.on_write_started = [&] {
    ++checks;
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    const int64_t granted = 2 * kLines - first.ungranted() - second.ungranted();
    EXPECT_LE(static_cast<double>(granted), kRate * elapsed_s + 1);
    EXPECT_LE(std::abs(first.ungranted() - second.ungranted()), 1);
  };
  run.StartAll();
  RunUntilDone(run.io);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  EXPECT_TRUE(run.observer.failures.empty()) << run.observer.failures.front();
  EXPECT_GT(checks, 1);
  EXPECT_GE(seconds, static_cast<double>(2 * kLines - 1) / kRate);
  for (const auto& connection : run.connections) {
    EXPECT_EQ(run.sink.DataOf(connection->index()), Lines(connection->index(), kLines));
    EXPECT_TRUE(connection->completed());
    EXPECT_EQ(connection->lines_sent(), kLines);
  }
  EXPECT_EQ(run.pacer.sent().lines, 2 * kLines);
}

TEST(PacedConnectionTest, PacedSkipsConnectionsThatHaveNothingLeft) {
  Harness run(5000);
  const std::vector<int64_t> lines = {0, 1, 50};
  for (const int64_t n : lines) run.Add(n, 1000);
  run.StartAll();
  RunUntilDone(run.io);

  EXPECT_TRUE(run.observer.failures.empty()) << run.observer.failures.front();
  EXPECT_EQ(run.observer.finished, 3);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(run.connections[i]->lines_sent(), lines[i]);
    EXPECT_TRUE(run.connections[i]->completed());
  }
  EXPECT_EQ(run.sink.DataOf(2), Lines(2, 50));
  EXPECT_EQ(run.sink.DataOf(1), Lines(1, 1));
}

TEST(PacedConnectionTest, BindsTheSourceAddress) {
  Harness run(0);
  TestConnection& connection = run.Add(3, 1000);
  run.sink.Accept(1);
  // Connection 1 of 4 source addresses: 127.0.0.2.
  const tcp::endpoint source = LoopbackSource(run.sink.endpoint(), 1, 4);
  EXPECT_EQ(source.address().to_string(), "127.0.0.2");
  EXPECT_EQ(source.port(), 0);
  connection.Start(source, run.sink.endpoint());
  RunUntilDone(run.io);

  EXPECT_TRUE(run.observer.failures.empty()) << run.observer.failures.front();
  ASSERT_EQ(run.sink.peers().size(), 1u);
  EXPECT_EQ(run.sink.peers()[0]->remote.address().to_string(), "127.0.0.2");
  EXPECT_EQ(run.sink.peers()[0]->data, Lines(0, 3));
}

TEST(PacedConnectionTest, ConnectsToResolvedEndpoints) {
  Harness run(0);
  TestConnection& connection = run.Add(10, 3);
  run.sink.Accept(1);
  tcp::resolver resolver(run.io);
  connection.Start(resolver.resolve("127.0.0.1", std::to_string(run.sink.endpoint().port())));
  RunUntilDone(run.io);

  EXPECT_TRUE(run.observer.failures.empty()) << run.observer.failures.front();
  EXPECT_EQ(run.sink.DataOf(0), Lines(0, 10));
  EXPECT_EQ(connection.writes(), 4);
  EXPECT_EQ(run.observer.written, Lines(0, 10));
}

TEST(PacedConnectionTest, RefusedConnectIsReportedOnce) {
  Harness run(1000);
  tcp::endpoint closed;
  {
    tcp::acceptor acceptor(run.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed = acceptor.local_endpoint();
  }
  TestConnection& connection = run.Add(10, 1000);
  connection.Start(LoopbackSource(closed, 0, 1), closed);
  RunUntilDone(run.io);

  ASSERT_EQ(run.observer.failures.size(), 1u);
  EXPECT_TRUE(run.observer.failures[0].starts_with("0 connect: ")) << run.observer.failures[0];
  EXPECT_EQ(run.observer.connects_done, 1);
  EXPECT_EQ(run.observer.finished, 1);
  EXPECT_EQ(run.observer.writes_started, 0);
  EXPECT_FALSE(connection.completed());
  EXPECT_EQ(connection.ungranted(), 0);
}

TEST(PacedConnectionTest, AbortFinishesWithoutAFailure) {
  // One line a second: the run would take over a minute.
  Harness run(1);
  TestConnection& connection = run.Add(100, 1000);
  run.StartAll();
  asio::steady_timer deadline(run.io, std::chrono::milliseconds(100));
  deadline.async_wait([&](const std::error_code& ec) {
    ASSERT_FALSE(ec);
    run.pacer.Stop();
    connection.Abort();
    connection.Abort();  // idempotent
  });
  RunUntilDone(run.io);

  EXPECT_TRUE(run.observer.failures.empty()) << run.observer.failures.front();
  EXPECT_EQ(run.observer.finished, 1);
  EXPECT_FALSE(connection.completed());
  EXPECT_EQ(connection.ungranted(), 0);
  EXPECT_LT(connection.lines_sent(), 100);
}

TEST(LoopbackSourceTest, SpreadsIpv4OverTheSourceAddressesAndKeepsIpv6OnOne) {
  const tcp::endpoint v4(asio::ip::make_address("127.0.0.1"), 7878);
  EXPECT_EQ(LoopbackSource(v4, 0, 3).address().to_string(), "127.0.0.1");
  EXPECT_EQ(LoopbackSource(v4, 2, 3).address().to_string(), "127.0.0.3");
  EXPECT_EQ(LoopbackSource(v4, 3, 3).address().to_string(), "127.0.0.1");
  const tcp::endpoint v6(asio::ip::make_address("::1"), 7878);
  EXPECT_EQ(LoopbackSource(v6, 5, 1).address().to_string(), "::1");
  EXPECT_EQ(LoopbackSource(v6, 5, 1).port(), 0);
}

}  // namespace
}  // namespace fixstream::clients
