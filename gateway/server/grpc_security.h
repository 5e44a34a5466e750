// How the gRPC listener is secured: TLS from PEM files (reloaded by gRPC's
// file watcher when they change), optional client certificates (mutual TLS),
// bearer tokens (gateway/api/access_tokens.h) and the rule that plaintext
// gRPC is served on loopback only unless an operator says otherwise. The
// Gateway builds its server credentials and start-up checks from here.
#ifndef FIXSTREAM_GATEWAY_SERVER_GRPC_SECURITY_H_
#define FIXSTREAM_GATEWAY_SERVER_GRPC_SECURITY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/api/access_tokens.h"

namespace grpc {
class ServerCredentials;
}

namespace fixstream::gateway {

struct GrpcSecurityOptions {
  // PEM files of the server's certificate chain and private key; both or
  // neither. Empty: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM bundle of the CAs whose client certificates are accepted; set, a
  // client without such a certificate is refused at the handshake.
  std::string tls_client_ca_file;
  // How often gRPC re-reads the three files (a rotated certificate is used
  // for new handshakes from then on; open connections keep theirs).
  uint32_t tls_reload_interval_s = 60;
  // Tokens file (access_tokens.h); empty: no tokens, every call allowed.
  std::string tokens_file;
  // How often the tokens file is polled for changes (it is also read again
  // on SIGHUP: Gateway::ReloadTokens); zero: never.
  absl::Duration tokens_poll_interval = absl::Seconds(1);
  // Calls answered without a token, as bits (1 << Call).
  uint32_t public_calls =
      1u << static_cast<int>(Call::kHealth) | 1u << static_cast<int>(Call::kReflection);
  // Serve plaintext gRPC on an address other than loopback (otherwise a
  // start-up error): the operator accepts that anyone on the network can
  // read every position (and every token) in transit.
  bool allow_plaintext_remote = false;

  bool tls() const { return !tls_cert_file.empty(); }
};

// Checks the files (readable PEM, the key matches the certificate, the CA
// bundle holds certificates) and builds the listener's credentials: TLS with
// gRPC's FileWatcherCertificateProvider, or insecure ones for plaintext.
// InvalidArgument names the flag and file at fault.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const GrpcSecurityOptions& options);

// 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

// OK, or InvalidArgument when `listen` (HOST:PORT) is not loopback, TLS is
// off and allow_plaintext_remote is not set.
absl::Status CheckPlaintextExposure(const GrpcSecurityOptions& options, std::string_view listen);

// One line for the start-up log: what protects the listener (no path of a
// key, no token).
std::string DescribeGrpcSecurity(const GrpcSecurityOptions& options, std::string_view listen,
                                 size_t principals);

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_SERVER_GRPC_SECURITY_H_
