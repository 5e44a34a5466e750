#include "clients/paced_connection.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "clients/loopback_target.h"

namespace fixstream::clients {

using asio::ip::tcp;

namespace {

// The pacer wakes at most this often.
constexpr auto kPaceTick = std::chrono::milliseconds(1);

}  // namespace

PacedConnection::PacedConnection(asio::io_context& io, int index, int64_t units,
                                 PacedConnectionObserver& observer)
    : socket_(io), observer_(observer), index_(index), units_(units) {}

void PacedConnection::Start(const tcp::endpoint& source, const tcp::endpoint& target) {
  std::error_code ec;
  socket_.open(target.protocol(), ec);
  if (ec) {
    Fail("open", ec);
    observer_.OnConnectDone(*this);
    return;
  }
  ec = BindSourceAddress(socket_, source);
  if (ec) {
    Fail(absl::StrCat("bind ", source.address().to_string()), ec);
    observer_.OnConnectDone(*this);
    return;
  }
  socket_.async_connect(target,
                        [this](const std::error_code& connect_ec) { OnConnected(connect_ec); });
}

void PacedConnection::Start(const tcp::resolver::results_type& endpoints) {
  asio::async_connect(socket_, endpoints,
                      [this](const std::error_code& ec, const tcp::endpoint&) { OnConnected(ec); });
}

void PacedConnection::OnConnected(const std::error_code& ec) {
  if (finished_) {  // aborted meanwhile
    observer_.OnConnectDone(*this);
    return;
  }
  if (ec) {
    Fail("connect", ec);
    observer_.OnConnectDone(*this);
    return;
  }
  // Paced bursts are small; Nagle would hold them back, smear the rate and
  // add latency.
  std::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (tls_ == nullptr) {
    OnReady();
    return;
  }
  tls_->async_handshake(asio::ssl::stream_base::client, [this](const std::error_code& tls_ec) {
    if (finished_) {
      observer_.OnConnectDone(*this);
      return;
    }
    if (tls_ec) {
      Fail("tls handshake", tls_ec);
      observer_.OnConnectDone(*this);
      return;
    }
    OnReady();
  });
}

void PacedConnection::OnReady() {
  connected_ = true;
  if (discard_replies_) ReadReplies();
  observer_.OnConnectDone(*this);
  Send();
}

void PacedConnection::Send() {
  if (!connected_ || writing_ || finished_) return;
  if (taken_ == units_) {
    Close();
    return;
  }
  if (granted_ == taken_) return;
  const PacedWrite write = NextWrite(granted_ - taken_);
  taken_ += write.units;
  writing_ = true;
  observer_.OnWriteStarted(*this);
  auto done = [this, write](const std::error_code& ec, size_t bytes) {
    OnWritten(ec, bytes, write);
  };
  if (tls_ != nullptr) {
    asio::async_write(*tls_, asio::buffer(write.data.data(), write.data.size()), done);
  } else {
    asio::async_write(socket_, asio::buffer(write.data.data(), write.data.size()), done);
  }
}

void PacedConnection::OnWritten(const std::error_code& ec, size_t bytes, const PacedWrite& write) {
  writing_ = false;
  if (finished_) return;  // aborted meanwhile; already accounted for
  if (ec) {
    Fail("write", ec);
    return;
  }
  units_sent_ += write.units;
  lines_sent_ += write.lines;
  records_sent_ += write.records;
  bytes_sent_ += static_cast<int64_t>(bytes);
  observer_.OnWritten(*this, write);
  Send();
}

void PacedConnection::Close() {
  finished_ = true;
  if (tls_ != nullptr) {
    // close_notify, then the gateway's (it closes on end of stream). With
    // replies read, their read sees the end and finishes.
    if (discard_replies_) closing_ = true;
    tls_->async_shutdown([this](const std::error_code& /*ec*/) {
      if (discard_replies_) return;
      std::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      Finish();
    });
    return;
  }
  // The send-side shutdown tells the gateway we are done: it reads end of
  // stream right after our last line. close() then returns at once; the
  // kernel still delivers whatever is queued.
  std::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    finished_ = false;
    Fail("shutdown", ec);
    return;
  }
  if (discard_replies_) {
    closing_ = true;  // ReadReplies() finishes once the gateway closed
    return;
  }
  Finish();
}

void PacedConnection::Finish() {
  std::error_code ignored;
  socket_.close(ignored);
  completed_ = true;
  observer_.OnFinished(*this);
}

void PacedConnection::ReadReplies() {
  auto done = [this](const std::error_code& ec, size_t bytes) {
    reply_bytes_ += static_cast<int64_t>(bytes);
    if (!ec) {
      ReadReplies();
      return;
    }
    if (closing_ && (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)) {
      closing_ = false;
      Finish();
    } else if (closing_) {
      closing_ = false;
      finished_ = false;
      Fail("read", ec);
    }
    // (Not closing: the write side reports the error,
    // or Abort() closed the socket.)
  };
  if (tls_ != nullptr) {
    tls_->async_read_some(asio::buffer(reply_buffer_), done);
  } else {
    socket_.async_read_some(asio::buffer(reply_buffer_), done);
  }
}

void PacedConnection::Abort() {
  // (Sent everything but still waiting for the gateway's close: abort that.)
  if (finished_ && !closing_) return;
  finished_ = true;
  closing_ = false;
  std::error_code ignored;
  socket_.close(ignored);
  observer_.OnFinished(*this);
}

void PacedConnection::Fail(std::string_view operation, const std::error_code& ec) {
  if (finished_) return;
  finished_ = true;
  std::error_code ignored;
  socket_.close(ignored);
  observer_.OnFailed(*this, operation, ec);
  observer_.OnFinished(*this);
}

Pacer::Pacer(asio::io_context& io, double rate) : rate_(rate), timer_(io) {}

void Pacer::Add(PacedConnection* connection) {
  connections_.push_back(connection);
  units_ += connection->ungranted();
  if (rate_ == 0) connection->Grant(connection->ungranted());
}

void Pacer::OnConnectDone() {
  if (++connects_done_ == connections_.size() && rate_ > 0 && !stopped_) {
    start_ = Clock::now();
    Tick();
  }
}

void Pacer::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void Pacer::Tick() {
  const Clock::time_point now = Clock::now();
  const double elapsed_s = std::chrono::duration<double>(now - start_).count();
  // Unit 0 is due at once, unit k at k / rate.
  const auto due_total = static_cast<int64_t>(std::floor(rate_ * elapsed_s)) + 1;
  int64_t due = due_total - scheduled_;
  granted_this_tick_.clear();
  // A connection with nothing left to grant (all granted, or finished) is
  // skipped. The scan is bounded: a whole round without a taker means every
  // live connection is granted all.
  size_t idle_scans = 0;
  while (due > 0 && idle_scans < connections_.size()) {
    PacedConnection* connection = connections_[cursor_];
    cursor_ = (cursor_ + 1) % connections_.size();
    if (connection->ungranted() == 0) {
      ++idle_scans;
      continue;
    }
    idle_scans = 0;
    if (connection->Grant(1)) granted_this_tick_.push_back(connection);
    --due;
    ++scheduled_;
  }
  // Granting first and sending afterwards puts everything a connection got in
  // this tick into one write.
  for (PacedConnection* connection : granted_this_tick_) connection->Send();
  if (stopped_ || scheduled_ == units_ || idle_scans >= connections_.size()) return;

  // Sleep until the next unit falls due (low rates), but at least one tick
  // (high rates send what accumulated as one burst).
  const auto next_due =
      start_ + std::chrono::duration_cast<Clock::duration>(
                   std::chrono::duration<double>(static_cast<double>(scheduled_) / rate_));
  timer_.expires_at(std::max(now + kPaceTick, next_due));
  timer_.async_wait([this](const std::error_code& ec) {
    // A cancel cannot take back a handler that already fell due.
    if (!ec && !stopped_) Tick();
  });
}

PacedTotals Pacer::sent() const {
  PacedTotals totals;
  for (const PacedConnection* connection : connections_) {
    totals.units += connection->units_sent();
    totals.lines += connection->lines_sent();
    totals.records += connection->records_sent();
    totals.bytes += connection->bytes_sent();
  }
  return totals;
}

}  // namespace fixstream::clients
