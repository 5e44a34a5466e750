#include "gateway/server/grpc_security.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/common/host_port.h"

namespace fixstream::gateway {
namespace {

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status FileError(std::string_view flag, std::string_view path, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", ToAbsl(flag), "=", ToAbsl(path), ": ", ToAbsl(why)));
}

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioCloser>;
struct X509Closer {
  void operator()(X509* x) const { X509_free(x); }
};
using Certificate = std::unique_ptr<X509, X509Closer>;
struct KeyCloser {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

absl::StatusOr<Bio> OpenFile(std::string_view flag, const std::string& path) {
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) return FileError(flag, path, "cannot be read");
  return bio;
}

// The certificates of a PEM file, in order.
absl::StatusOr<std::vector<Certificate>> ReadCertificates(std::string_view flag,
                                                          const std::string& path) {
  absl::StatusOr<Bio> bio = OpenFile(flag, path);
  if (!bio.ok()) return bio.status();
  std::vector<Certificate> certificates;
  while (X509* x = PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(x);
  }
  if (certificates.empty()) return FileError(flag, path, "holds no PEM certificate");
  return certificates;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const GrpcSecurityOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--grpc_tls_cert and --grpc_tls_key go together: set both (TLS) or neither (plaintext)");
  }
  if (!options.tls()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--grpc_tls_client_ca needs TLS: set --grpc_tls_cert and --grpc_tls_key too");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.tls_reload_interval_s == 0) {
    return absl::InvalidArgumentError("--grpc_tls_reload_s must be at least 1");
  }
  // gRPC's watcher would only log unreadable files and fail every
  // handshake; refuse to start instead.
  absl::StatusOr<std::vector<Certificate>> chain =
      ReadCertificates("grpc_tls_cert", options.tls_cert_file);
  if (!chain.ok()) return chain.status();
  {
    absl::StatusOr<Bio> bio = OpenFile("grpc_tls_key", options.tls_key_file);
    if (!bio.ok()) return bio.status();
    std::unique_ptr<EVP_PKEY, KeyCloser> key(
        PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
    if (key == nullptr) {
      return FileError("grpc_tls_key", options.tls_key_file,
                       "holds no PEM private key (an encrypted key is not supported)");
    }
    if (X509_check_private_key(chain->front().get(), key.get()) != 1) {
      return FileError("grpc_tls_key", options.tls_key_file,
                       absl::StrCat("does not match the certificate of --grpc_tls_cert=",
                                    options.tls_cert_file));
    }
  }
  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::vector<Certificate>> cas =
        ReadCertificates("grpc_tls_client_ca", options.tls_client_ca_file);
    if (!cas.ok()) return cas.status();
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.tls_key_file, options.tls_cert_file, options.tls_client_ca_file,
      options.tls_reload_interval_s);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.tls_client_ca_file.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(tls);
  if (credentials == nullptr) return absl::InternalError("gRPC refused the TLS options");
  return credentials;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

absl::Status CheckPlaintextExposure(const GrpcSecurityOptions& options, std::string_view listen) {
  if (options.tls() || options.allow_plaintext_remote) return absl::OkStatus();
  absl::StatusOr<HostPort> address = ParseHostPort("grpc_listen", listen);
  if (!address.ok()) return address.status();
  if (IsLoopbackHost(address->host)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--grpc_listen=", ToAbsl(listen),
      " would serve every vehicle's position in plaintext to the network: configure TLS "
      "(--grpc_tls_cert, --grpc_tls_key), listen on loopback (127.0.0.1), or accept the risk "
      "with --grpc_allow_plaintext_remote (docs/SECURITY.md)"));
}

std::string DescribeGrpcSecurity(const GrpcSecurityOptions& options, std::string_view listen,
                                 size_t principals) {
  std::vector<std::string> parts;
  if (options.tls()) {
    parts.push_back(absl::StrCat("TLS (certificate ", options.tls_cert_file, ", re-read every ",
                                 options.tls_reload_interval_s, " s)"));
    parts.push_back(
        options.tls_client_ca_file.empty()
            ? std::string("no client certificates")
            : absl::StrCat("client certificates required (CA ", options.tls_client_ca_file, ")"));
  } else {
    absl::StatusOr<HostPort> address = ParseHostPort("grpc_listen", listen);
    const bool loopback = address.ok() && IsLoopbackHost(address->host);
    parts.push_back(loopback ? "plaintext on loopback only (reachable from this host only; "
                               "configure --grpc_tls_cert/--grpc_tls_key to serve others)"
                             : "PLAINTEXT ON THE NETWORK (--grpc_allow_plaintext_remote): "
                               "positions and tokens travel unencrypted");
  }
  if (options.tokens_file.empty()) {
    parts.push_back("no bearer tokens: every caller may make every call");
  } else {
    std::vector<std::string> open;
    for (size_t i = 0; i < kCallCount; ++i) {
      if ((options.public_calls >> i) & 1) open.emplace_back(CallName(static_cast<Call>(i)));
    }
    parts.push_back(absl::StrCat("bearer tokens from ", options.tokens_file, " (", principals,
                                 " principals; without a token: ",
                                 open.empty() ? "nothing" : absl::StrJoin(open, ", "), ")"));
  }
  return absl::StrCat("gRPC security on ", ToAbsl(listen), ": ", absl::StrJoin(parts, "; "));
}

}  // namespace fixstream::gateway
