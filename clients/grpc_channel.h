// How a fixstream client reaches the gateway's gRPC API: plaintext or TLS
// (a CA file, optionally a client certificate for mutual TLS) and an
// optional bearer token. The flags are shared by every gRPC client:
//   --tls_ca=FILE --tls_cert=FILE --tls_key=FILE --tls_server_name=NAME
//   --token_file=FILE  (or the environment variable FIXSTREAM_TOKEN)
// A token is never taken from the command line, where `ps` would show it.
#ifndef FIXSTREAM_CLIENTS_GRPC_CHANNEL_H_
#define FIXSTREAM_CLIENTS_GRPC_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fixstream::clients {

// Credentials and token read from the flags once, at start.
struct GatewayAccess {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Set in the arguments of every channel (TLS name override).
  std::string server_name;
  std::string token;  // empty: none

  // A channel to `target` with these credentials (and `args`).
  std::shared_ptr<grpc::Channel> Channel(const std::string& target,
                                         grpc::ChannelArguments args) const;
  // Adds `authorization: Bearer <token>` to a call, if there is a token.
  void Authorize(grpc::ClientContext* context) const {
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  }
};

// Reads the flags (and FIXSTREAM_TOKEN). InvalidArgument names the flag and
// file that could not be read.
absl::StatusOr<GatewayAccess> GatewayAccessFromFlags();

}  // namespace fixstream::clients

#endif  // FIXSTREAM_CLIENTS_GRPC_CHANNEL_H_
