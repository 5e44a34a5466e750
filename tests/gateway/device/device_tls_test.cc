#include "gateway/device/device_tls.h"

#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

// Handshakes, rotation and the data path over TLS are tested against a real
// gateway with certificates made by openssl: tests/integration/device_tls_test.cc.
namespace fixstream::gateway {
namespace {

TEST(TlsFailureNameTest, NamesAreStableMetricLabels) {
  const char* expected[] = {"not_tls",     "protocol_version", "no_shared_cipher", "peer_alert",
                            "peer_closed", "timeout",          "protocol_error"};
  ASSERT_EQ(std::size(expected), kTlsFailureCount);
  for (size_t i = 0; i < kTlsFailureCount; ++i) {
    EXPECT_EQ(TlsFailureName(static_cast<TlsFailure>(i)), expected[i]);
  }
}

TEST(TlsServerCredentialsTest, TextThatIsNoCertificateIsAnErrorNamingIt) {
  absl::StatusOr<std::shared_ptr<const TlsServerCredentials>> credentials =
      TlsServerCredentials::FromPem("no certificate here", "no key here", "--c=/etc/c.pem",
                                    "--k=/etc/k.key");
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(credentials.status().message(),
                               "--c=/etc/c.pem: not a PEM certificate chain: "))
      << credentials.status();
  EXPECT_FALSE(absl::StrContains(credentials.status().message(), "no key here"));
}

TEST(TlsCertificateFilesTest, AMissingFileIsAnErrorNamingFlagAndPath) {
  TlsCertificateFiles files("/nonexistent/device.pem", "/nonexistent/device.key");
  const absl::Status status = files.Load();
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(absl::StartsWith(status.message(), "--device_tls_cert=/nonexistent/device.pem: "))
      << status;
  EXPECT_EQ(files.current(), nullptr);
}

}  // namespace
}  // namespace fixstream::gateway
