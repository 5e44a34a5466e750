#include "gateway/api/health_service.h"

#include <cassert>
#include <utility>

namespace fixstream::gateway {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream. One write in flight; a status that changes while a write
// is in flight is sent after it (only the newest one: the protocol promises
// the current status, not every transition). Writes are started outside any
// lock, and a claimed write holds off Finish, so the reactor cannot be done
// (and deleted) between claiming a write and starting it.
class HealthService::Watcher final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService& service, std::string name) : service_(service), name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // Records `status` as the one to send; returns true if the caller must
  // now call StartNextWrite() (outside its locks).
  bool Offer(ServingStatus status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    latest_ = status;
    return ClaimWrite();
  }
  void StartNextWrite() { StartWrite(&response_); }

  void OnWriteDone(bool ok) override {
    bool write = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok || cancelled_) {
        finish = !finished_;
        finished_ = true;
      } else {
        write = ClaimWrite();
      }
    }
    if (write) StartNextWrite();
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnCancel() override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      // With a write in flight, OnWriteDone finishes.
      if (!writing_ && !finished_) {
        finished_ = true;
        finish = true;
      }
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    service_.Unregister(this);
    delete this;
  }

 private:
  bool ClaimWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || cancelled_ || (sent_any_ && latest_ == sent_)) return false;
    writing_ = true;
    sent_any_ = true;
    sent_ = latest_;
    response_.set_status(sent_);
    return true;
  }

  HealthService& service_;
  const std::string name_;
  absl::Mutex mu_;
  ServingStatus latest_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  ServingStatus sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool sent_any_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Written only by whoever claimed the write, untouched until OnWriteDone.
  HealthCheckResponse response_;
};

HealthService::HealthService(const std::vector<std::string>& services, const Authorizer* authorizer)
    : authorizer_(authorizer) {
  absl::MutexLock lock(&mu_);
  statuses_[""] = HealthCheckResponse::NOT_SERVING;
  for (const std::string& service : services) statuses_[service] = HealthCheckResponse::NOT_SERVING;
}

HealthService::~HealthService() {
  absl::MutexLock lock(&mu_);
  // The server that ran the Watch streams is gone, and with it every reactor.
  assert(watchers_.empty());
}

void HealthService::SetServing(bool serving) {
  std::vector<Watcher*> to_write;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, status] : statuses_) {
      status = serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
    }
    for (Watcher* watcher : watchers_) {
      if (watcher->Offer(StatusOf(watcher->name()))) to_write.push_back(watcher);
    }
  }
  // (A watcher with a claimed write cannot be done: see Watcher.)
  for (Watcher* watcher : to_write) watcher->StartNextWrite();
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

void HealthService::Unregister(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (authorizer_ != nullptr) {
    if (Authorizer::Access a = authorizer_->Authorize(*context, Call::kHealth); !a.status.ok()) {
      reactor->Finish(a.status);
      return reactor;
    }
  }
  ServingStatus status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusOf(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

namespace {

// A Watch refused before it started.
class RefusedWatch final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  explicit RefusedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  if (authorizer_ != nullptr) {
    if (Authorizer::Access a = authorizer_->Authorize(*context, Call::kHealth); !a.status.ok()) {
      return new RefusedWatch(std::move(a.status));
    }
  }
  auto* watcher = new Watcher(*this, request->service());
  bool write;
  {
    absl::MutexLock lock(&mu_);
    watchers_.insert(watcher);
    write = watcher->Offer(StatusOf(watcher->name()));
  }
  if (write) watcher->StartNextWrite();
  return watcher;
}

}  // namespace fixstream::gateway
