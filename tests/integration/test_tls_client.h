// A blocking TLS client for the device-port tests, on OpenSSL directly (as
// a phone's or a tracker's TLS stack would be): it verifies the gateway's
// certificate against a CA file and the address 127.0.0.1, and can write
// each piece of its data as a TLS record of its own.
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_TLS_CLIENT_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_TLS_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace fixstream::testing {

// Thread safety: none; one test thread.
class TlsTestClient final {
 public:
  // Connects to 127.0.0.1:port and handshakes, trusting only `ca_file`.
  // ok() says whether the handshake completed; error() why not.
  // `max_version`: e.g. TLS1_1_VERSION to offer only old versions (0: any).
  TlsTestClient(uint16_t port, const std::string& ca_file, int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version != 0) {
      SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx_, max_version);
      SSL_CTX_set_security_level(ctx_, 0);  // (let old versions be offered at all)
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
      error_ = "cannot load " + ca_file;
      return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      error_ = "connect failed";
      return;
    }
    SetReceiveTimeout(10'000);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    const int ret = SSL_connect(ssl_);
    if (ret != 1) {
      const long verify = SSL_get_verify_result(ssl_);
      error_ = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : OpenSslError();
      return;
    }
    ok_ = true;
  }
  ~TlsTestClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  // The CN of the certificate the gateway presented.
  std::string PeerCommonName() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof(name));
    X509_free(cert);
    return name;
  }
  std::string version() const { return SSL_get_version(ssl_); }

  // Writes `bytes` as one SSL_write (one TLS record up to 16 KiB each).
  bool Send(std::string_view bytes) {
    size_t written = 0;
    return SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written) == 1 && written == bytes.size();
  }
  // Sends close_notify (TLS's half-close): the gateway reads end of stream,
  // this side can still read.
  void ShutdownWrite() { SSL_shutdown(ssl_); }
  // Reads until the plaintext received ends with `suffix`, the peer closes
  // or `timeout_ms` pass; true if it ends with `suffix`.
  bool ReceiveUntil(std::string_view suffix, int timeout_ms, std::string* out) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!out->ends_with(suffix) && std::chrono::steady_clock::now() < deadline) {
      if (ReadSome(out) == Read::kClosed) break;
    }
    return out->ends_with(suffix);
  }
  // Waits up to `timeout_ms` for the gateway to close (close_notify, FIN or
  // reset), discarding what it sends; true if it did.
  bool WaitForPeerClose(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string ignored;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ReadSome(&ignored) == Read::kClosed) return true;
    }
    return false;
  }

 private:
  void SetReceiveTimeout(int ms) {
    timeval tv{.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  enum class Read { kData, kNothing, kClosed };
  // One read with a 50 ms timeout.
  Read ReadSome(std::string* out) {
    SetReceiveTimeout(50);
    char buffer[4096];
    size_t n = 0;
    const int ret = SSL_read_ex(ssl_, buffer, sizeof(buffer), &n);
    if (ret == 1) {
      out->append(buffer, n);
      return Read::kData;
    }
    const int error = SSL_get_error(ssl_, ret);
    const int saved = errno;
    ERR_clear_error();
    if (error == SSL_ERROR_WANT_READ) return Read::kNothing;
    if (error == SSL_ERROR_SYSCALL && (saved == EAGAIN || saved == EWOULDBLOCK)) {
      return Read::kNothing;
    }
    return Read::kClosed;
  }
  static std::string OpenSslError() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return "handshake failed (no OpenSSL error: the peer closed?)";
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    return text;
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool ok_ = false;
  std::string error_;
};

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_TLS_CLIENT_H_
