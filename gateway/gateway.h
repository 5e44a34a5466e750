// Gateway: the whole running process minus flag parsing and signals — the
// hub, the device TCP server and the gRPC server (LocationService, health,
// reflection). Tests start it in-process on ephemeral ports; main() starts it
// from flags.
#ifndef FIXSTREAM_GATEWAY_GATEWAY_H_
#define FIXSTREAM_GATEWAY_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/device_server.h"
#include "gateway/hub.h"
#include "gateway/ingest_counters.h"
#include "gateway/location_service.h"

namespace grpc {
class Server;
}

namespace fixstream::gateway {

struct GatewayOptions {
  DeviceServerOptions device;
  std::string grpc_listen = "0.0.0.0:50051";
  HubOptions hub;
  SubscriptionOptions subscription;
  // How long Shutdown() lets subscribers catch up before cancelling them.
  absl::Duration subscriber_drain_timeout = absl::Seconds(5);
};

// Thread safety: Start() and Shutdown() from one controlling thread; the
// accessors are thread-safe.
class Gateway final {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts the gRPC server, then the device listener, then reports SERVING.
  absl::Status Start();

  // Drains and stops: health NOT_SERVING, stop accepting devices, read and
  // publish what open connections already sent, close them, close the hub,
  // let subscribers receive everything up to the last record and end their
  // streams with OK (cancelled after subscriber_drain_timeout), stop gRPC.
  // Idempotent.
  void Shutdown();

  uint16_t device_port() const { return device_port_; }
  uint16_t grpc_port() const { return grpc_port_; }
  const IngestCounters& ingest_counters() const { return ingest_counters_; }
  const SubscriptionCounters& subscription_counters() const { return subscription_counters_; }
  const Hub& hub() const { return hub_; }

  // The name health checks use for the location service.
  static constexpr char kServiceName[] = "fixstream.v1.LocationService";

 private:
  const GatewayOptions options_;
  IngestCounters ingest_counters_;
  SubscriptionCounters subscription_counters_;
  Hub hub_;
  LocationService service_;
  DeviceServer device_server_;
  std::unique_ptr<grpc::Server> grpc_server_;
  uint16_t device_port_ = 0;
  uint16_t grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_GATEWAY_H_
