#include "gateway/common/host_port.h"

#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

TEST(HostPortTest, ParsesValidAddresses) {
  struct Case {
    const char* in;
    const char* host;
    uint16_t port;
  } cases[] = {
      {"0.0.0.0:7878", "0.0.0.0", 7878},
      {"127.0.0.1:0", "127.0.0.1", 0},
      {"[::1]:50051", "::1", 50051},
      {"localhost:65535", "localhost", 65535},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HostPort> hp = ParseHostPort("x", c.in);
    ASSERT_TRUE(hp.ok()) << c.in << ": " << hp.status();
    EXPECT_EQ(hp->host, c.host);
    EXPECT_EQ(hp->port, c.port);
  }
}

TEST(HostPortTest, RejectsMalformedAddressesNamingTheFlag) {
  for (const char* bad : {"7878", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", ":80", "::1:80",
                          "host:80x", "[]:80"}) {
    absl::StatusOr<HostPort> hp = ParseHostPort("device_listen", bad);
    ASSERT_FALSE(hp.ok()) << bad;
    EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(hp.status().message().find("--device_listen"), std::string_view::npos);
  }
}

}  // namespace
}  // namespace fixstream::gateway
