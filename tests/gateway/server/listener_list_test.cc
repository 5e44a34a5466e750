#include "gateway/server/listener_list.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

TEST(ParseListenerTest, AnAddressAloneTakesTheDefaults) {
  absl::StatusOr<ListenerOptions> listener = ParseListener("0.0.0.0:7878");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_EQ(listener->address, "0.0.0.0:7878");
  EXPECT_FALSE(listener->pinned_format.has_value());
  EXPECT_EQ(listener->identification, Identification::kPfsid);
  EXPECT_EQ(listener->source_map, "");
  EXPECT_FALSE(listener->acks);
  EXPECT_FALSE(listener->policy.has_value()) << "--device_policy applies";
  EXPECT_FALSE(listener->tls);
}

TEST(ParseListenerTest, ReadsTls) {
  absl::StatusOr<ListenerOptions> listener = ParseListener("0.0.0.0:7879 tls=on ack=on");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_TRUE(listener->tls);
  EXPECT_TRUE(listener->acks);
  EXPECT_EQ(DescribeListener(*listener), "0.0.0.0:7879 format=auto ident=pfsid ack=on tls=on");
  listener = ParseListener("0.0.0.0:7879 tls=off");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_FALSE(listener->tls);
  EXPECT_EQ(ParseListener("h:1 tls=yes").status().message(),
            "bad 'tls=yes': tls must be on or off");
  EXPECT_EQ(ParseListener("h:1 tls=on tls=on").status().message(), "option tls= is given twice");
}

TEST(ParseListenerTest, APolicyOverridesTheDefaultForItsListener) {
  for (const auto& [text, policy] :
       {std::pair{"open", DevicePolicy::kOpen}, std::pair{"registered", DevicePolicy::kRegistered},
        std::pair{"authenticated", DevicePolicy::kAuthenticated}}) {
    absl::StatusOr<ListenerOptions> listener =
        ParseListener(absl::StrCat("0.0.0.0:7878 format=csv policy=", text));
    ASSERT_TRUE(listener.ok()) << listener.status();
    EXPECT_EQ(listener->policy, policy);
    EXPECT_EQ(DescribeListener(*listener),
              absl::StrCat("0.0.0.0:7878 format=csv ident=pfsid ack=off policy=", text));
  }
  // Trackers on their own listener, under registered.
  absl::StatusOr<ListenerOptions> trackers =
      ParseListener("0.0.0.0:5013 format=h02 policy=registered");
  ASSERT_TRUE(trackers.ok()) << trackers.status();
  EXPECT_EQ(trackers->policy, DevicePolicy::kRegistered);
}

TEST(ParseListenerTest, ReadsEveryOption) {
  absl::StatusOr<ListenerOptions> listener =
      ParseListener("  [::1]:7880\tformat=nmea  ident=source_address:/etc/fixstream/v.map ack=on ");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_EQ(listener->address, "[::1]:7880");
  EXPECT_EQ(listener->pinned_format, ingest::SourceFormat::kNmea);
  EXPECT_EQ(listener->identification, Identification::kSourceAddress);
  EXPECT_EQ(listener->source_map, "/etc/fixstream/v.map");
  EXPECT_TRUE(listener->acks);
  EXPECT_EQ(DescribeListener(*listener),
            "[::1]:7880 format=nmea ident=source_address:/etc/fixstream/v.map ack=on");

  struct Case {
    const char* entry;
    std::optional<ingest::SourceFormat> format;
    Identification ident;
    bool acks;
  };
  const Case cases[] = {
      {"h:1 format=auto", std::nullopt, Identification::kPfsid, false},
      {"h:1 format=csv", ingest::SourceFormat::kCsv, Identification::kPfsid, false},
      {"h:1 format=json", ingest::SourceFormat::kJson, Identification::kPfsid, false},
      {"h:1 ident=pfsid ack=off", std::nullopt, Identification::kPfsid, false},
      {"h:1 ack=on ident=first_line", std::nullopt, Identification::kFirstLine, true},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ListenerOptions> parsed = ParseListener(c.entry);
    ASSERT_TRUE(parsed.ok()) << c.entry << ": " << parsed.status();
    EXPECT_EQ(parsed->pinned_format, c.format) << c.entry;
    EXPECT_EQ(parsed->identification, c.ident) << c.entry;
    EXPECT_EQ(parsed->acks, c.acks) << c.entry;
  }
}

TEST(ParseListenerTest, ErrorsNameTheBadPart) {
  struct Case {
    const char* entry;
    const char* error;
  };
  const Case cases[] = {
      {"", "empty listener"},
      {"nonsense", "bad address 'nonsense'"},
      {"0.0.0.0:99999", "bad address '0.0.0.0:99999'"},
      {"format=nmea 0.0.0.0:1", "the address must come first, got 'format=nmea'"},
      {"h:1 format=xml",
       "bad 'format=xml': format must be auto, csv, nmea, json or a device "
       "protocol (h02, gps103, tk103, watch, queclink, meitrack, suntech, osmand)"},
      {"h:1 format=h02 ack=on",
       "ack=on is for the line formats: a device protocol has its own replies"},
      {"h:1 format=osmand ident=first_line",
       "a device protocol's messages name their device: ident= must stay pfsid"},
      {"h:1 format=", "bad 'format=': format must be"},
      {"h:1 ident=imei",
       "bad 'ident=imei': ident must be pfsid, source_address:FILE or first_line"},
      {"h:1 ident=source_address", "bad 'ident=source_address': source_address needs its mapping"},
      {"h:1 ident=source_address:", "bad 'ident=source_address:': source_address needs"},
      {"h:1 ack=yes", "bad 'ack=yes': ack must be on or off"},
      {"h:1 acks=on", "unknown option 'acks=on' (options: format=, ident=, ack=, tls=, policy=)"},
      {"h:1 nmea", "expected OPTION=VALUE (format=, ident=, ack=, tls=, policy=), got 'nmea'"},
      {"h:1 policy=closed",
       "bad 'policy=closed': policy must be open, registered or authenticated"},
      {"h:1 policy=open policy=open", "option policy= is given twice"},
      {"h:1 format=h02 policy=authenticated",
       "policy=authenticated: the connection names its device in its authentication line"},
      {"h:1 ident=first_line policy=authenticated",
       "policy=authenticated: the connection names its device in its authentication line"},
      {"h:1 ack=on ack=off", "option ack= is given twice"},
      {"h:1 format=csv format=csv", "option format= is given twice"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ListenerOptions> listener = ParseListener(c.entry);
    ASSERT_FALSE(listener.ok()) << c.entry;
    EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(listener.status().message(), c.error))
        << c.entry << "\n  got: " << listener.status().message();
  }
}

TEST(ParseListenerListTest, ReadsEntriesInOrder) {
  absl::StatusOr<std::vector<ListenerOptions>> listeners = ParseListenerList(
      "127.0.0.1:0 ; 127.0.0.1:0 ident=first_line;127.0.0.2:7878 format=csv ack=on;");
  ASSERT_TRUE(listeners.ok()) << listeners.status();
  ASSERT_EQ(listeners->size(), 3u) << "two port-0 listeners are fine; a final ';' is too";
  EXPECT_EQ((*listeners)[0].identification, Identification::kPfsid);
  EXPECT_EQ((*listeners)[1].identification, Identification::kFirstLine);
  EXPECT_EQ((*listeners)[2].address, "127.0.0.2:7878");
  EXPECT_TRUE((*listeners)[2].acks);
}

TEST(ParseListenerListTest, ErrorsNameTheEntry) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"", "no listener"},
      {" ; ", "no listener"},
      {"h:1; h:2 format=xml", "listener 2 'h:2 format=xml': bad 'format=xml'"},
      {"0.0.0.0:7878; 127.0.0.1:7879; 0.0.0.0:7878 ack=on",
       "listener 3 '0.0.0.0:7878 ack=on': address 0.0.0.0:7878 is already listener 1's"},
      {"[::1]:7878;[::1]:7878", "listener 2 '[::1]:7878': address [::1]:7878 is already"},
      {"LocalHost:7878;localhost:7878", "listener 2 'localhost:7878': address"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<ListenerOptions>> listeners = ParseListenerList(c.text);
    ASSERT_FALSE(listeners.ok()) << c.text;
    EXPECT_TRUE(absl::StartsWith(listeners.status().message(), c.error))
        << c.text << "\n  got: " << listeners.status().message();
  }
}

}  // namespace
}  // namespace fixstream::gateway
