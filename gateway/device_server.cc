#include "gateway/device_server.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "asio.hpp"
#include "gateway/host_port.h"
#include "gateway/log.h"
#include "gateway/record_batch.h"
#include "ingest/line_framer.h"
#include "ingest/line_parser.h"

namespace fixstream::gateway {

using asio::ip::tcp;

struct DeviceServer::Impl {
  Impl(DeviceServerOptions o, Hub& h, IngestCounters& c)
      : options(std::move(o)),
        hub(h),
        counters(c),
        accept_strand(asio::make_strand(io)),
        acceptor(accept_strand),
        retry_timer(accept_strand) {}

  void Accept();
  void Register(uint64_t id, std::weak_ptr<DeviceSession> session) {
    absl::MutexLock lock(&mu);
    sessions.emplace(id, std::move(session));
  }
  void Unregister(uint64_t id) {
    absl::MutexLock lock(&mu);
    sessions.erase(id);
  }

  const DeviceServerOptions options;
  Hub& hub;
  IngestCounters& counters;
  asio::io_context io;
  asio::strand<asio::io_context::executor_type> accept_strand;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> next_connection_id{1};
  bool stopped = false;  // control thread only

  absl::Mutex mu;
  absl::flat_hash_map<uint64_t, std::weak_ptr<DeviceSession>> sessions ABSL_GUARDED_BY(mu);
};

// One vehicle connection. Runs on its socket's strand; owned by the
// shared_ptr captured in its pending handler.
class DeviceSession final : public std::enable_shared_from_this<DeviceSession>,
                            private ingest::RecordSink {
 public:
  DeviceSession(tcp::socket socket, uint64_t id, DeviceServer::Impl& server)
      : socket_(std::move(socket)),
        id_(id),
        server_(server),
        framer_(server.options.max_line_length),
        parser_(ingest::LineParserOptions{server.options.pinned_format}) {}

  asio::any_io_executor executor() { return socket_.get_executor(); }

  void Start() {
    if (closed_) return;
    asio::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) {
      Close();
      return;
    }
    WaitReadable();
  }

  // Reads what the peer already sent, publishes it and closes. Used by the
  // server's Stop(); may be called from any thread.
  void Drain() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->closed_) return;
      self->ReadAvailable(/*budget=*/SIZE_MAX);
      self->Close();
    });
  }

 private:
  void WaitReadable() {
    socket_.async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this()](const asio::error_code& ec) { self->OnReadable(ec); });
  }

  void OnReadable(const asio::error_code& ec) {
    if (closed_) return;
    if (ec) {
      Close();
      return;
    }
    switch (ReadAvailable(server_.options.read_budget)) {
      case ReadState::kWouldBlock:
        framer_.ReleaseIfEmpty();  // keep idle connections small
        WaitReadable();
        return;
      case ReadState::kBudgetSpent:
        // Yield the thread to other connections, then carry on.
        asio::post(socket_.get_executor(),
                   [self = shared_from_this()] { self->OnReadable(asio::error_code()); });
        return;
      case ReadState::kClosed:
        Close();
        return;
    }
  }

  enum class ReadState { kWouldBlock, kBudgetSpent, kClosed };

  // Reads until the socket would block, the peer closed, or `budget` bytes
  // were read. Every read's records are published as one batch.
  ReadState ReadAvailable(size_t budget) {
    size_t total = 0;
    ReadState state = ReadState::kWouldBlock;
    for (;;) {
      absl::Span<char> space = framer_.PrepareWrite(server_.options.read_chunk);
      asio::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) {  // eof, reset, ...
        state = ReadState::kClosed;
        break;
      }
      framer_.CommitWrite(n);
      bytes_read_ += n;
      ProcessLines(absl::GetCurrentTimeNanos());
      total += n;
      if (total >= budget) {
        state = ReadState::kBudgetSpent;
        break;
      }
    }
    return state;
  }

  void ProcessLines(int64_t receive_time_unix_ns) {
    receive_time_unix_ns_ = receive_time_unix_ns;
    ingest::Frame frame;
    while (framer_.Next(&frame)) {
      const ingest::LineOutcome outcome =
          frame.kind == ingest::Frame::Kind::kTooLong
              ? ingest::LineOutcome::kTooLong
              : parser_.Parse(frame.text, receive_time_unix_ns, *this);
      ++lines_[static_cast<size_t>(outcome)];
    }
    parser_.Flush(*this);
    // Counters first: whoever sees a record can also see its line counted.
    FlushCounters();
    Publish();
    FlushCounters();
  }

  void OnRecord(const ingest::LocationRecord& record) override {
    batch_.Add(record, receive_time_unix_ns_, id_);
  }

  void Publish() {
    if (batch_.empty()) return;
    const Hub::PublishResult result = server_.hub.Publish(batch_);
    records_published_ += result.published;
    records_duplicate_ += result.duplicates;
    records_late_ += result.late;
    records_dropped_ += result.refused;
    batch_.Clear();
  }

  void FlushCounters() {
    IngestCounters& c = server_.counters;
    auto add = [](std::atomic<uint64_t>& counter, uint64_t& local) {
      if (local != 0) {
        counter.fetch_add(local, std::memory_order_relaxed);
        local = 0;
      }
    };
    add(c.bytes_read, bytes_read_);
    for (size_t i = 0; i < lines_.size(); ++i) add(c.lines[i], lines_[i]);
    add(c.records_published, records_published_);
    add(c.records_duplicate, records_duplicate_);
    add(c.records_late, records_late_);
    add(c.records_dropped_at_shutdown, records_dropped_);
    uint64_t discarded = framer_.bytes_discarded() - discarded_reported_;
    discarded_reported_ = framer_.bytes_discarded();
    add(c.bytes_discarded, discarded);
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    // A partial line at close is dropped and counted (see docs/PROTOCOL.md).
    switch (framer_.Finish()) {
      case ingest::LineFramer::Tail::kNone:
        break;
      case ingest::LineFramer::Tail::kUnterminated:
        ++lines_[static_cast<size_t>(ingest::LineOutcome::kUnterminated)];
        break;
      case ingest::LineFramer::Tail::kTooLong:
        ++lines_[static_cast<size_t>(ingest::LineOutcome::kTooLong)];
        break;
    }
    parser_.Flush(*this);
    Publish();
    FlushCounters();
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_.counters.connections_closed.fetch_add(1, std::memory_order_relaxed);
    server_.counters.connections_active.fetch_sub(1, std::memory_order_relaxed);
    server_.Unregister(id_);
  }

  tcp::socket socket_;
  const uint64_t id_;
  DeviceServer::Impl& server_;
  ingest::LineFramer framer_;
  ingest::LineParser parser_;
  RecordBatch batch_;
  int64_t receive_time_unix_ns_ = 0;
  bool closed_ = false;
  // Counted locally, added to the shared counters once per wakeup.
  std::array<uint64_t, ingest::kLineOutcomeCount> lines_{};
  uint64_t bytes_read_ = 0;
  uint64_t records_published_ = 0;
  uint64_t records_duplicate_ = 0;
  uint64_t records_late_ = 0;
  uint64_t records_dropped_ = 0;
  uint64_t discarded_reported_ = 0;
};

void DeviceServer::Impl::Accept() {
  acceptor.async_accept(
      asio::make_strand(io), [this](const asio::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
          // EMFILE/ENFILE and friends: back off instead of spinning, and re-arm.
          counters.accept_errors.fetch_add(1, std::memory_order_relaxed);
          LogWarning(absl::StrCat("device accept failed: ", ec.message(), "; retrying in 100 ms"));
          retry_timer.expires_after(std::chrono::milliseconds(100));
          retry_timer.async_wait([this](const asio::error_code& timer_ec) {
            if (!timer_ec && acceptor.is_open()) Accept();
          });
          return;
        }
        const uint64_t id = next_connection_id.fetch_add(1, std::memory_order_relaxed);
        counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);
        counters.connections_active.fetch_add(1, std::memory_order_relaxed);
        auto session = std::make_shared<DeviceSession>(std::move(socket), id, *this);
        Register(id, session);
        asio::post(session->executor(), [session] { session->Start(); });
        Accept();
      });
}

DeviceServer::DeviceServer(DeviceServerOptions options, Hub& hub, IngestCounters& counters)
    : impl_(std::make_unique<Impl>(std::move(options), hub, counters)) {}

DeviceServer::~DeviceServer() { Stop(); }

absl::StatusOr<uint16_t> DeviceServer::Start() {
  absl::StatusOr<HostPort> hp = ParseHostPort("device_listen", impl_->options.listen);
  if (!hp.ok()) return hp.status();
  asio::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto endpoints = resolver.resolve(hp->host, std::to_string(hp->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device_listen=", impl_->options.listen,
                     ": cannot resolve host: ", ec ? ec.message() : "no addresses"));
  }
  const tcp::endpoint endpoint = *endpoints.begin();
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on --device_listen=", impl_->options.listen, ": ", ec.message()));
  }
  const uint16_t port = acceptor.local_endpoint().port();
  impl_->work.emplace(impl_->io.get_executor());
  asio::post(impl_->accept_strand, [impl = impl_.get()] { impl->Accept(); });
  size_t threads = impl_->options.io_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->io.run(); });
  }
  accepting_.store(true, std::memory_order_release);
  return port;
}

bool DeviceServer::IsConnectionOpen(uint64_t connection_id) const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sessions.contains(connection_id);
}

void DeviceServer::StopAccepting() {
  if (!accepting_.exchange(false)) return;
  // The acceptor belongs to its strand; close it there and wait.
  std::promise<void> done;
  asio::post(impl_->accept_strand, [impl = impl_.get(), &done] {
    asio::error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry_timer.cancel();
    done.set_value();
  });
  done.get_future().wait();
}

void DeviceServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->threads.empty()) return;  // never started
  StopAccepting();
  std::vector<std::shared_ptr<DeviceSession>> sessions;
  {
    absl::MutexLock lock(&impl_->mu);
    for (auto& [id, weak] : impl_->sessions) {
      if (auto s = weak.lock()) sessions.push_back(std::move(s));
    }
  }
  for (auto& s : sessions) s->Drain();
  sessions.clear();
  // With the acceptor closed and every session closing, io.run() returns once
  // the last handler has run.
  impl_->work.reset();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace fixstream::gateway
