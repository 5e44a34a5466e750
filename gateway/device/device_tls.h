// TLS on the device port (issue #16): the server certificate a TLS listener
// presents, the PEM files it comes from (watched for changes), and one
// connection's TLS state over its non-blocking socket.
//
// The configuration is Asio's (asio::ssl::context: the certificate chain,
// the key, TLS 1.2 as the lowest version, no renegotiation); the record
// layer is OpenSSL's own SSL object on the socket's descriptor, driven the
// way the session drives a plain socket: a readiness wait, then
// non-blocking reads until the socket would block. (asio::ssl::stream is
// not used for the data: its synchronous read_some keeps ciphertext in a
// buffer of its own and may write to the socket from inside a read, which
// an asynchronous ACK write in flight on the same stream does not expect;
// the session's reactor-style read loop needs "would block" to mean that
// nothing is buffered anywhere but in the kernel.)
//
// What TLS protects and what it does not: docs/SECURITY.md.
#ifndef FIXSTREAM_GATEWAY_DEVICE_DEVICE_TLS_H_
#define FIXSTREAM_GATEWAY_DEVICE_DEVICE_TLS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/common/watched_file.h"

struct ssl_st;
struct ssl_ctx_st;

namespace asio::ssl {
class context;
}  // namespace asio::ssl

namespace fixstream::gateway {

// Why a TLS handshake failed or a TLS connection broke, as a metrics label:
// what the peer did, never what it sent.
enum class TlsFailure : uint8_t {
  kNotTls = 0,       // the first bytes are no TLS record (a plaintext device, HTTP)
  kProtocolVersion,  // the client offers only versions below TLS 1.2
  kNoSharedCipher,   // no cipher suite or group in common
  kPeerAlert,        // the client sent an alert (e.g. it rejected our certificate)
  kPeerClosed,       // the client closed during the handshake
  kTimeout,          // the handshake did not complete within its timeout
  kProtocolError,    // any other TLS error (bad record MAC, malformed message, ...)
  kCount,
};
inline constexpr size_t kTlsFailureCount = static_cast<size_t>(TlsFailure::kCount);

// Stable snake_case name, used as a metrics label.
std::string_view TlsFailureName(TlsFailure failure);

// One server certificate and its key, ready for handshakes. Immutable once
// made; shared by every connection that handshook with it (a rotation makes
// a new one, connections keep theirs). Thread-safe.
class TlsServerCredentials final {
 public:
  // From PEM text; `cert_name`/`key_name` name them in errors (flag=path).
  // InvalidArgument says which one is wrong and why (OpenSSL's reason, never
  // the key's bytes).
  static absl::StatusOr<std::shared_ptr<const TlsServerCredentials>> FromPem(
      std::string_view cert_pem, std::string_view key_pem, const std::string& cert_name,
      const std::string& key_name);
  ~TlsServerCredentials();
  TlsServerCredentials(const TlsServerCredentials&) = delete;
  TlsServerCredentials& operator=(const TlsServerCredentials&) = delete;

  ssl_ctx_st* native() const;
  // "CN=gateway.example, expires 2027-01-01T00:00:00Z", for logs.
  const std::string& description() const { return description_; }
  // The certificate's notAfter, in Unix seconds (metrics).
  int64_t not_after_unix_s() const { return not_after_unix_s_; }

 private:
  TlsServerCredentials();
  std::unique_ptr<asio::ssl::context> context_;
  std::string description_;
  int64_t not_after_unix_s_ = 0;
};

// The --device_tls_cert and --device_tls_key files: loaded at start, polled
// for changes (WatchedFile: stat, settled over two polls), and made into
// new credentials when they changed. A pair that does not load (a key
// written before its certificate, a broken file) keeps the credentials in
// force; the next change tries again.
//
// Thread safety: none; the server's accept strand uses it.
class TlsCertificateFiles final {
 public:
  TlsCertificateFiles(std::string cert_file, std::string key_file);

  // Reads both files. InvalidArgument names the flag and the file.
  absl::Status Load();

  enum class Change : uint8_t { kNone, kReloaded, kFailed };
  // Polls the files; reads and loads them if either changed and settled.
  // kFailed: *error says why (the credentials in force stay).
  Change Check(std::string* error);

  // The credentials for new connections (non-null after Load()).
  const std::shared_ptr<const TlsServerCredentials>& current() const { return current_; }
  const std::string& cert_file() const { return cert_.path(); }
  const std::string& key_file() const { return key_.path(); }

 private:
  absl::Status ReadAndLoad();

  WatchedFile cert_;
  WatchedFile key_;
  std::shared_ptr<const TlsServerCredentials> current_;
};

// One connection's TLS, server side, over a connected non-blocking socket it
// does not own (the session closes the socket, after this). Handshake(),
// Read() and Write() never block: "would block" says to wait for the
// socket (readable, or writable if wants_write()) and call again.
//
// Thread safety: none; the session's thread.
class TlsConnection final {
 public:
  TlsConnection(std::shared_ptr<const TlsServerCredentials> credentials, int fd);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // Whether the SSL object could be made (out of memory otherwise).
  bool ok() const { return ssl_ != nullptr; }

  enum class Step : uint8_t { kDone, kWouldBlock, kFailed };
  // Advances the handshake. kFailed: *failure says why.
  Step Handshake(TlsFailure* failure);

  // Like read(2) on the socket, for the plaintext: bytes read (> 0), or 0
  // with `ec` set to asio::error::would_block, asio::error::eof (the client
  // sent close_notify, or closed the TCP connection) or another error (then
  // last_failure() says why if TLS itself failed).
  size_t Read(char* data, size_t size, std::error_code& ec);
  // Like write(2): bytes of `data` written (> 0, possibly fewer than
  // `size`), or 0 with `ec` would_block or an error. After would_block the
  // same bytes must be written again (OpenSSL's rule).
  size_t Write(const char* data, size_t size, std::error_code& ec);
  // The last would_block of Read or Write waits for the socket to become
  // writable (else readable).
  bool wants_write() const { return wants_write_; }
  // Decrypted bytes held by OpenSSL that the socket no longer shows.
  size_t pending() const;
  // Sends close_notify if the handshake completed; best effort, never
  // waits.
  void Shutdown();

  // Whether the last failed call failed in TLS itself (else on the
  // socket: a reset, EOF), and why.
  bool tls_failed() const { return tls_failed_; }
  TlsFailure last_failure() const { return last_failure_; }

 private:
  // Maps SSL_get_error for a call that returned `ret`.
  std::error_code Fail(int ret);

  std::shared_ptr<const TlsServerCredentials> credentials_;
  ssl_st* ssl_ = nullptr;
  bool established_ = false;
  bool wants_write_ = false;
  bool tls_failed_ = false;
  TlsFailure last_failure_ = TlsFailure::kProtocolError;
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_DEVICE_DEVICE_TLS_H_
