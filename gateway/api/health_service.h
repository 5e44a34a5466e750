// HealthService: grpc.health.v1.Health, generated from Debian's
// grpc-proto health.proto, so that its descriptor is in the protobuf pool
// and reflection can serve it (gRPC C++'s built-in health service has none,
// grpc/grpc#36665, and grpcurl then cannot call it).
//
// Check answers the current status of a known service name (NOT_FOUND for
// any other); Watch sends the current status at once and then every change,
// until the client cancels or the server shuts down. A name that is not
// known is watched as SERVICE_UNKNOWN, as the health protocol says.
#ifndef FIXSTREAM_GATEWAY_API_HEALTH_SERVICE_H_
#define FIXSTREAM_GATEWAY_API_HEALTH_SERVICE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "gateway/api/access_tokens.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace fixstream::gateway {

// Thread safety: thread-safe. Must outlive the grpc::Server it is
// registered with (Watch reactors unregister from it when they are done).
class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  // `services`: the names health is reported for, besides "" (the whole
  // server). All start NOT_SERVING. With an `authorizer` (which must outlive
  // the service) each call is put to it as Call::kHealth first.
  explicit HealthService(const std::vector<std::string>& services,
                         const Authorizer* authorizer = nullptr);
  ~HealthService() override;
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Sets every known name SERVING or NOT_SERVING and tells every watcher.
  void SetServing(bool serving);

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  class Watcher;

  // SERVICE_UNKNOWN for a name that is not known.
  ServingStatus StatusOf(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unregister(Watcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);

  const Authorizer* const authorizer_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_API_HEALTH_SERVICE_H_
