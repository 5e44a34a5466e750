#include "clients/grpc_channel.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA(s) to verify the gateway's certificate with; set (or --tls_cert), "
          "the client speaks TLS. Empty with --tls: the system's CAs.");
ABSL_FLAG(bool, tls, false, "Speak TLS, verifying the gateway with the system's CAs.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM file of this client's certificate chain (mutual TLS, --grpc_tls_client_ca).");
ABSL_FLAG(std::string, tls_key, "", "PEM file of the private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to verify the gateway's certificate against, instead of --target's host.");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the bearer token sent as `authorization: Bearer <token>` "
          "(or set FIXSTREAM_TOKEN); never on the command line.");

namespace fixstream::clients {
namespace {

absl::StatusOr<std::string> ReadFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", path, ": cannot read"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::shared_ptr<grpc::Channel> GatewayAccess::Channel(const std::string& target,
                                                      grpc::ChannelArguments args) const {
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  return grpc::CreateCustomChannel(target, credentials, args);
}

absl::StatusOr<GatewayAccess> GatewayAccessFromFlags() {
  GatewayAccess access;
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (absl::GetFlag(FLAGS_tls) || !ca.empty() || !cert.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!ca.empty()) {
      absl::StatusOr<std::string> pem = ReadFile("tls_ca", ca);
      if (!pem.ok()) return pem.status();
      ssl.pem_root_certs = *std::move(pem);
    }
    if (!cert.empty()) {
      absl::StatusOr<std::string> chain = ReadFile("tls_cert", cert);
      if (!chain.ok()) return chain.status();
      absl::StatusOr<std::string> private_key = ReadFile("tls_key", key);
      if (!private_key.ok()) return private_key.status();
      ssl.pem_cert_chain = *std::move(chain);
      ssl.pem_private_key = *std::move(private_key);
    }
    access.credentials = grpc::SslCredentials(ssl);
  } else {
    access.credentials = grpc::InsecureChannelCredentials();
  }
  access.server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (const std::string file = absl::GetFlag(FLAGS_token_file); !file.empty()) {
    absl::StatusOr<std::string> text = ReadFile("token_file", file);
    if (!text.ok()) return text.status();
    access.token = std::string(absl::StripAsciiWhitespace(text->substr(0, text->find('\n'))));
    if (access.token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--token_file=", file, ": no token in it"));
    }
  } else if (const char* env = std::getenv("FIXSTREAM_TOKEN"); env != nullptr && *env != '\0') {
    access.token = std::string(absl::StripAsciiWhitespace(env));
  }
  return access;
}

}  // namespace fixstream::clients
