// The sending connection of the load tools (fixstream-load, fixstream-simulate)
// and the pacer that grants it what to send.
//
// A PacedConnection connects to a device port and sends a fixed number of
// units (lines, fixes: whatever the tool counts) as they are granted, one
// write in flight at a time; after its last unit it shuts down its send side
// and closes. What the bytes are is up to a subclass (NextWrite). A Pacer
// grants the units of a set of connections, all at once or at an aggregate
// rate, and totals what they sent.
//
// Threading: everything runs on one io_context's thread. Handlers capture
// `this`: connections, their observer and the pacer must outlive
// io_context::run().
#ifndef FIXSTREAM_CLIENTS_PACED_CONNECTION_H_
#define FIXSTREAM_CLIENTS_PACED_CONNECTION_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>
#include <vector>

#include "asio.hpp"
#include "asio/ssl.hpp"

namespace fixstream::clients {

// One write of a PacedConnection and what it counts.
struct PacedWrite {
  // The bytes; must stay valid and unchanged until the write completed.
  std::string_view data;
  int64_t units = 0;    // granted units the write uses up
  int64_t lines = 0;    // lines it completes
  int64_t records = 0;  // records it carries (what the gateway publishes)
};

class PacedConnection;

// What a PacedConnection reports to its owner.
class PacedConnectionObserver {
 public:
  // The connect completed, or failed (OnFailed came first), or found the
  // connection aborted. Once per Start().
  virtual void OnConnectDone(PacedConnection& connection) = 0;
  // A write is about to start; `connection.units_sent()` etc. do not count
  // it yet.
  virtual void OnWriteStarted(PacedConnection& /*connection*/) {}
  // `write` completed and is counted.
  virtual void OnWritten(PacedConnection& /*connection*/, const PacedWrite& /*write*/) {}
  // `operation` ("open", "bind <source address>", "connect", "write",
  // "shutdown") failed; the connection is closed and sends nothing more.
  virtual void OnFailed(PacedConnection& connection, std::string_view operation,
                        const std::error_code& ec) = 0;
  // The connection is done: closed after its last unit, failed or aborted.
  // Exactly once.
  virtual void OnFinished(PacedConnection& /*connection*/) {}

 protected:
  ~PacedConnectionObserver() = default;
};

class PacedConnection {
 public:
  // `units`: what the connection sends in all (NextWrite must use up exactly
  // that many); `index` names it in the observer's messages.
  PacedConnection(asio::io_context& io, int index, int64_t units,
                  PacedConnectionObserver& observer);
  PacedConnection(const PacedConnection&) = delete;
  PacedConnection& operator=(const PacedConnection&) = delete;
  virtual ~PacedConnection() = default;

  // Binds to `source`'s address (the port is picked at connect time, see
  // BindSourceAddress) and connects to `target`.
  void Start(const asio::ip::tcp::endpoint& source, const asio::ip::tcp::endpoint& target);
  // Connects to the first of `endpoints` that accepts.
  void Start(const asio::ip::tcp::resolver::results_type& endpoints);

  // Allows `units` more units to be sent. Returns true if the connection had
  // no credit left: then nothing is on its way to send them, and the caller
  // must call Send(). Precondition: units <= ungranted().
  bool Grant(int64_t units) {
    // With credit left, a write is in flight (its completion sends the rest)
    // or the connection is still connecting (the connect sends).
    const bool idle = granted_ == taken_;
    granted_ += units;
    return idle;
  }
  // Starts a write of granted units, or closes after the last unit, unless
  // a write is in flight (its completion comes back here) or the connection
  // is not connected yet.
  void Send();
  // Closes the socket at once (deadline); pending handlers see the error.
  void Abort();
  // Call before Start(): the connection reads what the gateway sends (the
  // replies a tracker protocol needs) and discards it, and after its last
  // unit it shuts down its send side and waits for the gateway to close
  // before closing (so a late reply never meets a closed socket, whose
  // reset could cost the gateway lines it has not read yet).
  void DiscardReplies() { discard_replies_ = true; }
  // Call before Start(): the connection speaks TLS (a gateway listener with
  // tls=on): it handshakes after the connect, sends through TLS and ends
  // with close_notify. `context` must outlive the connection.
  void UseTls(asio::ssl::context& context) {
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, context);
  }
  int64_t reply_bytes() const { return reply_bytes_; }

  int index() const { return index_; }
  // Units not granted yet; 0 once the connection finished.
  int64_t ungranted() const { return finished_ ? 0 : units_ - granted_; }
  // What completed writes carried.
  int64_t units_sent() const { return units_sent_; }
  int64_t lines_sent() const { return lines_sent_; }
  int64_t records_sent() const { return records_sent_; }
  int64_t bytes_sent() const { return bytes_sent_; }
  // Sent every unit and closed cleanly.
  bool completed() const { return completed_; }

 protected:
  // The next write: at most `credit` (> 0) units, and some bytes. Called
  // only while no write is in flight, so the bytes of the previous write may
  // be overwritten. A write may carry part of a line and no unit.
  virtual PacedWrite NextWrite(int64_t credit) = 0;

 private:
  void OnConnected(const std::error_code& ec);
  void OnReady();
  void OnWritten(const std::error_code& ec, size_t bytes, const PacedWrite& write);
  void Close();
  void Finish();
  void ReadReplies();
  void Fail(std::string_view operation, const std::error_code& ec);

  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // null: plain TCP
  PacedConnectionObserver& observer_;
  const int index_;
  const int64_t units_;
  int64_t granted_ = 0;  // units allowed so far
  int64_t taken_ = 0;    // units handed to writes so far
  int64_t units_sent_ = 0;
  int64_t lines_sent_ = 0;
  int64_t records_sent_ = 0;
  int64_t bytes_sent_ = 0;
  int64_t reply_bytes_ = 0;
  bool discard_replies_ = false;
  bool closing_ = false;  // sent everything, waiting for the gateway's close
  std::array<char, 65536> reply_buffer_;
  bool connected_ = false;
  bool writing_ = false;
  bool finished_ = false;   // closed, failed or aborted
  bool completed_ = false;  // sent everything and closed cleanly
};

// What a set of connections sent.
struct PacedTotals {
  int64_t units = 0;
  int64_t lines = 0;
  int64_t records = 0;
  int64_t bytes = 0;
};

// Grants the units of a set of PacedConnections. Unpaced (rate 0), every
// unit is granted when the connection is added. Paced, unit k (counting over
// all connections) falls due k / rate seconds after every connection has
// reported its connect done, so that connect time does not turn into a burst
// at the start; due units go round-robin, one at a time, to the connections
// with units left, so every connection gets its share. The pacer wakes at
// most every millisecond and sends what fell due meanwhile (bursts every
// millisecond approximate any rate without a timer per unit), or when the
// next unit falls due at low rates.
class Pacer final {
 public:
  // `rate`: units per second over all connections, > 0; or 0: unpaced.
  Pacer(asio::io_context& io, double rate);
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  // Before the connection starts.
  void Add(PacedConnection* connection);
  // Call from the observer's OnConnectDone. Pacing starts when every added
  // connection has reported.
  void OnConnectDone();
  // Grants nothing more, for good (deadline, everything finished).
  void Stop();

  PacedTotals sent() const;

 private:
  using Clock = std::chrono::steady_clock;

  void Tick();

  const double rate_;
  asio::steady_timer timer_;
  std::vector<PacedConnection*> connections_;
  size_t connects_done_ = 0;
  bool stopped_ = false;
  int64_t units_ = 0;  // over all connections
  // Pacing: scheduled_ units were granted since start_.
  Clock::time_point start_;
  int64_t scheduled_ = 0;
  size_t cursor_ = 0;  // round-robin position
  std::vector<PacedConnection*> granted_this_tick_;
};

}  // namespace fixstream::clients

#endif  // FIXSTREAM_CLIENTS_PACED_CONNECTION_H_
