// The gateway's health over a real gRPC health stub, as a load balancer or
// grpcurl asks it (plaintext, loopback).
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_HEALTH_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_HEALTH_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "gateway/server/gateway.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"

namespace fixstream::testing {

// Check() of the gateway's service on `grpc_port`; fails the test if the
// call fails.
inline grpc::health::v1::HealthCheckResponse::ServingStatus GatewayHealth(uint16_t grpc_port) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(gateway::Gateway::kServiceName);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_HEALTH_H_
