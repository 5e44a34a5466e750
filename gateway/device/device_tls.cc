#include "gateway/device/device_tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>
#include <ctime>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "asio/ssl.hpp"

namespace fixstream::gateway {
namespace {

// OpenSSL's reason for the oldest error queued on this thread, and the queue
// cleared: the I/O threads serve many connections, none may see another's
// errors.
std::string TakeOpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    text = reason != nullptr ? reason : absl::StrCat("error ", code);
  }
  ERR_clear_error();
  return text;
}

// Why an Asio call on the context failed: OpenSSL's queued reason, else the
// one Asio took from the queue into `ec`.
std::string Reason(const asio::error_code& ec) {
  std::string queued = TakeOpenSslError();
  return !queued.empty() ? queued : ec.message();
}

TlsFailure Classify(unsigned long code) {
  if (ERR_GET_LIB(code) != ERR_LIB_SSL) return TlsFailure::kProtocolError;
  const int reason = ERR_GET_REASON(code);
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
      return TlsFailure::kNotTls;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
      return TlsFailure::kProtocolVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
      return TlsFailure::kNoSharedCipher;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return TlsFailure::kPeerClosed;
    default:
      // Alerts received from the peer are reasons offset by
      // SSL_AD_REASON_OFFSET (unknown_ca, bad_certificate, ...).
      return reason >= SSL_AD_REASON_OFFSET ? TlsFailure::kPeerAlert : TlsFailure::kProtocolError;
  }
}

// A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own writes with
// write(2), and a close_notify to a peer that reset would raise SIGPIPE (the
// gateway, like Asio, never lets a socket signal).
int BioWrite(BIO* bio, const char* data, int size) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(fd, data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

int BioRead(BIO* bio, char* data, int size) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(fd, data, static_cast<size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(n);
}

long BioCtrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int BioDestroy(BIO* /*bio*/) { return 1; }

BIO_METHOD* SocketBioMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fixstream socket");
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    BIO_meth_set_destroy(m, BioDestroy);
    return m;
  }();
  return method;
}

std::string Describe(X509* cert, int64_t* not_after_unix_s) {
  std::string subject = "(no subject)";
  if (X509_NAME* name = X509_get_subject_name(cert)) {
    char buffer[256];
    if (X509_NAME_oneline(name, buffer, sizeof(buffer)) != nullptr) subject = buffer;
  }
  std::string expires = "unknown";
  struct tm tm {};
  if (const ASN1_TIME* not_after = X509_get0_notAfter(cert);
      not_after != nullptr && ASN1_TIME_to_tm(not_after, &tm) == 1) {
    const absl::Time t = absl::FromTM(tm, absl::UTCTimeZone());
    *not_after_unix_s = absl::ToUnixSeconds(t);
    expires = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
  }
  return absl::StrCat(subject, ", expires ", expires);
}

}  // namespace

std::string_view TlsFailureName(TlsFailure failure) {
  constexpr std::string_view kNames[] = {"not_tls",       "protocol_version", "no_shared_cipher",
                                         "peer_alert",    "peer_closed",      "timeout",
                                         "protocol_error"};
  static_assert(std::size(kNames) == kTlsFailureCount);
  return kNames[static_cast<size_t>(failure)];
}

TlsServerCredentials::TlsServerCredentials()
    : context_(std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server)) {}

TlsServerCredentials::~TlsServerCredentials() = default;

ssl_ctx_st* TlsServerCredentials::native() const { return context_->native_handle(); }

absl::StatusOr<std::shared_ptr<const TlsServerCredentials>> TlsServerCredentials::FromPem(
    std::string_view cert_pem, std::string_view key_pem, const std::string& cert_name,
    const std::string& key_name) {
  std::shared_ptr<TlsServerCredentials> credentials(new TlsServerCredentials());
  asio::ssl::context& context = *credentials->context_;
  ERR_clear_error();
  asio::error_code ec;
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression |
                          asio::ssl::context::single_dh_use,
                      ec);
  SSL_CTX* ctx = context.native_handle();
  if (ec || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return absl::InternalError(absl::StrCat("TLS setup failed: ", Reason(ec)));
  }
  // No renegotiation (a TLS 1.2 client could make a read want to write);
  // an EOF without close_notify ends the stream like close_notify (a
  // tracker that loses power mid-line loses that line either way: it is
  // counted as unterminated).
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial and moving writes: the session's write buffers are its own; an
  // idle connection gives its record buffers back (devices mostly idle).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  context.use_certificate_chain(asio::buffer(cert_pem.data(), cert_pem.size()), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_name, ": not a PEM certificate chain: ", Reason(ec)));
  }
  context.use_private_key(asio::buffer(key_pem.data(), key_pem.size()), asio::ssl::context::pem,
                          ec);
  // (OpenSSL checks the key against the certificate as it takes it.)
  const bool mismatch =
      ec && ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (mismatch || (!ec && SSL_CTX_check_private_key(ctx) != 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_name, " is not the key of the certificate ", cert_name, ": ", Reason(ec)));
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_name, ": not a PEM private key: ", Reason(ec)));
  }
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  credentials->description_ = leaf != nullptr ? Describe(leaf, &credentials->not_after_unix_s_)
                                              : std::string("(no certificate)");
  ERR_clear_error();
  return std::shared_ptr<const TlsServerCredentials>(std::move(credentials));
}

TlsCertificateFiles::TlsCertificateFiles(std::string cert_file, std::string key_file)
    : cert_(std::move(cert_file)), key_(std::move(key_file)) {}

absl::Status TlsCertificateFiles::Load() { return ReadAndLoad(); }

absl::Status TlsCertificateFiles::ReadAndLoad() {
  absl::StatusOr<std::string> cert = cert_.Read();
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device_tls_cert=", cert_.path(), ": ", cert.status().message()));
  }
  absl::StatusOr<std::string> key = key_.Read();
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device_tls_key=", key_.path(), ": ", key.status().message()));
  }
  absl::StatusOr<std::shared_ptr<const TlsServerCredentials>> credentials =
      TlsServerCredentials::FromPem(*cert, *key, absl::StrCat("--device_tls_cert=", cert_.path()),
                                    absl::StrCat("--device_tls_key=", key_.path()));
  // The key's bytes do not linger in freed memory.
  OPENSSL_cleanse(key->data(), key->size());
  if (!credentials.ok()) return credentials.status();
  current_ = *std::move(credentials);
  return absl::OkStatus();
}

TlsCertificateFiles::Change TlsCertificateFiles::Check(std::string* error) {
  // Both are polled every time: each settles on its own.
  const WatchedFile::Poll cert = cert_.Check();
  const WatchedFile::Poll key = key_.Check();
  if (cert != WatchedFile::Poll::kChanged && key != WatchedFile::Poll::kChanged) {
    return Change::kNone;
  }
  if (absl::Status status = ReadAndLoad(); !status.ok()) {
    *error = std::string(status.message());
    return Change::kFailed;
  }
  return Change::kReloaded;
}

TlsConnection::TlsConnection(std::shared_ptr<const TlsServerCredentials> credentials, int fd)
    : credentials_(std::move(credentials)) {
  ssl_ = SSL_new(credentials_->native());
  if (ssl_ == nullptr) {
    ERR_clear_error();
    return;
  }
  BIO* bio = BIO_new(SocketBioMethod());
  if (bio == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    ERR_clear_error();
    return;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  SSL_set_bio(ssl_, bio, bio);  // (the SSL owns the BIO; the BIO does not own the fd)
  SSL_set_accept_state(ssl_);
}

TlsConnection::~TlsConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

std::error_code TlsConnection::Fail(int ret) {
  const int error = SSL_get_error(ssl_, ret);
  wants_write_ = false;
  tls_failed_ = false;
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return asio::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      wants_write_ = true;
      return asio::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      const int saved = errno;
      const bool queued = ERR_peek_error() != 0;
      if (queued) break;
      ERR_clear_error();
      if (saved == 0) return asio::error::eof;
      return std::error_code(saved, std::system_category());
    }
    default:
      break;
  }
  tls_failed_ = true;
  last_failure_ = Classify(ERR_peek_error());
  ERR_clear_error();
  return asio::error::make_error_code(asio::error::connection_aborted);
}

TlsConnection::Step TlsConnection::Handshake(TlsFailure* failure) {
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    established_ = true;
    return Step::kDone;
  }
  const std::error_code ec = Fail(ret);
  if (ec == asio::error::would_block) return Step::kWouldBlock;
  *failure = tls_failed_ ? last_failure_ : TlsFailure::kPeerClosed;
  return Step::kFailed;
}

size_t TlsConnection::Read(char* data, size_t size, std::error_code& ec) {
  size_t n = 0;
  const int ret = SSL_read_ex(ssl_, data, size, &n);
  if (ret == 1) {
    ec.clear();
    return n;
  }
  ec = Fail(ret);
  return 0;
}

size_t TlsConnection::Write(const char* data, size_t size, std::error_code& ec) {
  size_t n = 0;
  const int ret = SSL_write_ex(ssl_, data, size, &n);
  if (ret == 1) {
    ec.clear();
    return n;
  }
  ec = Fail(ret);
  return 0;
}

size_t TlsConnection::pending() const {
  return ssl_ != nullptr ? static_cast<size_t>(SSL_pending(ssl_)) : 0;
}

void TlsConnection::Shutdown() {
  if (ssl_ == nullptr || !established_) return;
  if ((SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) == 0) SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace fixstream::gateway
