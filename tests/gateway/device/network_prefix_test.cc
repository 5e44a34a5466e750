#include "gateway/device/network_prefix.h"

#include "asio.hpp"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

NetworkPrefix Parsed(std::string_view text) {
  NetworkPrefix prefix;
  EXPECT_EQ(ParseNetworkPrefix(text, &prefix), PrefixError::kNone) << text;
  return prefix;
}

TEST(NetworkPrefixTest, AddressesAndPrefixesOfBothFamilies) {
  const NetworkPrefix host = Parsed("10.64.3.17");
  EXPECT_EQ(host.family, 4);
  EXPECT_EQ(host.prefix_length, 32);
  EXPECT_TRUE(host.Contains(Ip("10.64.3.17")));
  EXPECT_FALSE(host.Contains(Ip("10.64.3.18")));
  const NetworkPrefix net = Parsed("10.64.0.0/16");
  EXPECT_TRUE(net.Contains(Ip("10.64.255.1")));
  EXPECT_TRUE(net.Contains(Ip("::ffff:10.64.1.1"))) << "a dual-stack listener's IPv4 peer";
  EXPECT_FALSE(net.Contains(Ip("10.65.0.1")));
  EXPECT_FALSE(net.Contains(Ip("2001:db8::1")));
  const NetworkPrefix v6 = Parsed("2001:db8:40::/48");
  EXPECT_EQ(v6.family, 6);
  EXPECT_TRUE(v6.Contains(Ip("2001:db8:40:ffff::1")));
  EXPECT_FALSE(v6.Contains(Ip("2001:db8:41::1")));
  EXPECT_TRUE(Parsed("0.0.0.0/0").Contains(Ip("192.0.2.1")));
  EXPECT_FALSE(Parsed("0.0.0.0/0").Contains(Ip("::1"))) << "families never mix";
}

TEST(NetworkPrefixTest, AnIpv4MappedPrefixIsTheIpv4Prefix) {
  const NetworkPrefix mapped = Parsed("::ffff:10.64.0.0/112");
  EXPECT_EQ(mapped.family, 4);
  EXPECT_EQ(mapped.prefix_length, 16);
  EXPECT_TRUE(mapped.Contains(Ip("10.64.9.9")));
  NetworkPrefix prefix;
  EXPECT_EQ(ParseNetworkPrefix("::ffff:10.0.0.0/95", &prefix), PrefixError::kShortMappedPrefix);
}

TEST(NetworkPrefixTest, ErrorsSayWhatIsWrong) {
  NetworkPrefix prefix;
  EXPECT_EQ(ParseNetworkPrefix("fe80::1%eth0", &prefix), PrefixError::kScopeId);
  EXPECT_EQ(ParseNetworkPrefix("10.64.3.300", &prefix), PrefixError::kNotAnAddress);
  EXPECT_EQ(ParseNetworkPrefix("bus-7", &prefix), PrefixError::kNotAnAddress);
  EXPECT_EQ(ParseNetworkPrefix("10.0.0.0/33", &prefix), PrefixError::kBadLength);
  EXPECT_EQ(prefix.family, 4);
  EXPECT_EQ(ParseNetworkPrefix("2001:db8::/129", &prefix), PrefixError::kBadLength);
  EXPECT_EQ(prefix.family, 6);
  EXPECT_EQ(ParseNetworkPrefix("10.0.0.0/", &prefix), PrefixError::kBadLength);
  EXPECT_EQ(ParseNetworkPrefix("10.0.0.0/-1", &prefix), PrefixError::kBadLength);
  EXPECT_EQ(ParseNetworkPrefix("10.0.0.0/8x", &prefix), PrefixError::kBadLength);
  EXPECT_EQ(ParseNetworkPrefix("10.64.3.17/24", &prefix), PrefixError::kBitsBeyondPrefix);
  EXPECT_EQ(prefix.prefix_length, 24);
}

}  // namespace
}  // namespace fixstream::gateway
