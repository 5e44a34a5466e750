#include "gateway/server/listener_list.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/common/host_port.h"

namespace fixstream::gateway {
namespace {

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Bad(absl::string_view why) { return absl::InvalidArgumentError(why); }

}  // namespace

absl::StatusOr<ListenerOptions> ParseListener(std::string_view entry_text) {
  const std::vector<absl::string_view> parts =
      absl::StrSplit(ToAbsl(entry_text), absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (parts.empty()) return Bad("empty listener: expected `HOST:PORT [OPTION ...]`");
  ListenerOptions listener;
  listener.address = std::string(parts[0]);
  if (absl::StrContains(parts[0], '=')) {
    return Bad(absl::StrCat("the address must come first, got '", parts[0], "'"));
  }
  if (absl::StatusOr<HostPort> address = ParseHostPort("listeners", listener.address);
      !address.ok()) {
    return Bad(absl::StrCat("bad address '", parts[0],
                            "': expected HOST:PORT or [IPv6]:PORT (port 0 picks a free port)"));
  }
  bool format_seen = false, ident_seen = false, ack_seen = false, policy_seen = false,
       tls_seen = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    const absl::string_view option = parts[i];
    const size_t equals = option.find('=');
    const absl::string_view name = option.substr(0, equals);
    const absl::string_view value =
        equals == absl::string_view::npos ? absl::string_view() : option.substr(equals + 1);
    auto once = [&](bool& seen) -> absl::Status {
      if (seen) return Bad(absl::StrCat("option ", name, "= is given twice"));
      seen = true;
      return absl::OkStatus();
    };
    if (equals == absl::string_view::npos) {
      return Bad(absl::StrCat("expected OPTION=VALUE (format=, ident=, ack=, tls=, policy=), got '",
                              option, "'"));
    }
    if (name == "format") {
      if (absl::Status s = once(format_seen); !s.ok()) return s;
      if (value == "auto") {
        listener.pinned_format.reset();
      } else if (value == "csv") {
        listener.pinned_format = ingest::SourceFormat::kCsv;
      } else if (value == "nmea") {
        listener.pinned_format = ingest::SourceFormat::kNmea;
      } else if (value == "json") {
        listener.pinned_format = ingest::SourceFormat::kJson;
      } else if (std::optional<ingest::DeviceProtocol> protocol =
                     ingest::DeviceProtocolFromName(std::string_view(value.data(), value.size()))) {
        listener.protocol = protocol;
      } else {
        return Bad(
            absl::StrCat("bad '", option,
                         "': format must be auto, csv, nmea, json or a device protocol (h02, "
                         "gps103, tk103, watch, queclink, meitrack, suntech, osmand)"));
      }
    } else if (name == "ident") {
      if (absl::Status s = once(ident_seen); !s.ok()) return s;
      if (value == "pfsid") {
        listener.identification = Identification::kPfsid;
      } else if (value == "first_line") {
        listener.identification = Identification::kFirstLine;
      } else if (value == "source_address" || absl::StartsWith(value, "source_address:")) {
        listener.identification = Identification::kSourceAddress;
        listener.source_map = std::string(absl::StripPrefix(value, "source_address:"));
        if (value == "source_address" || listener.source_map.empty()) {
          return Bad(absl::StrCat("bad '", option,
                                  "': source_address needs its mapping file, as "
                                  "ident=source_address:/etc/fixstream/vehicles.map"));
        }
      } else {
        return Bad(absl::StrCat("bad '", option,
                                "': ident must be pfsid, source_address:FILE or first_line"));
      }
    } else if (name == "ack") {
      if (absl::Status s = once(ack_seen); !s.ok()) return s;
      if (value == "on") {
        listener.acks = true;
      } else if (value == "off") {
        listener.acks = false;
      } else {
        return Bad(absl::StrCat("bad '", option, "': ack must be on or off"));
      }
    } else if (name == "tls") {
      if (absl::Status s = once(tls_seen); !s.ok()) return s;
      if (value == "on") {
        listener.tls = true;
      } else if (value == "off") {
        listener.tls = false;
      } else {
        return Bad(absl::StrCat("bad '", option, "': tls must be on or off"));
      }
    } else if (name == "policy") {
      if (absl::Status s = once(policy_seen); !s.ok()) return s;
      listener.policy = ParseDevicePolicy(std::string_view(value.data(), value.size()));
      if (!listener.policy) {
        return Bad(
            absl::StrCat("bad '", option, "': policy must be open, registered or authenticated"));
      }
    } else {
      return Bad(absl::StrCat("unknown option '", option,
                              "' (options: format=, ident=, ack=, tls=, policy=)"));
    }
  }
  if (listener.protocol && listener.acks) {
    return Bad("ack=on is for the line formats: a device protocol has its own replies");
  }
  if (listener.protocol && listener.identification != Identification::kPfsid) {
    return Bad("a device protocol's messages name their device: ident= must stay pfsid");
  }
  if (listener.policy == DevicePolicy::kAuthenticated &&
      (listener.protocol || listener.identification != Identification::kPfsid)) {
    return Bad(
        "policy=authenticated: the connection names its device in its authentication line: "
        "no device protocol, ident= must stay pfsid");
  }
  return listener;
}

absl::StatusOr<std::vector<ListenerOptions>> ParseListenerList(std::string_view text) {
  std::vector<ListenerOptions> listeners;
  std::vector<HostPort> addresses;
  size_t position = 0;
  for (absl::string_view entry : absl::StrSplit(ToAbsl(text), ';')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) continue;
    ++position;
    absl::StatusOr<ListenerOptions> listener =
        ParseListener(std::string_view(entry.data(), entry.size()));
    if (!listener.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("listener ", position, " '", entry, "': ", listener.status().message()));
    }
    HostPort address = *ParseHostPort("listeners", listener->address);
    address.host = absl::AsciiStrToLower(address.host);
    for (size_t i = 0; i < addresses.size(); ++i) {
      if (address.port != 0 && addresses[i].port == address.port &&
          addresses[i].host == address.host) {
        return absl::InvalidArgumentError(absl::StrCat("listener ", position, " '", entry,
                                                       "': address ", listener->address,
                                                       " is already listener ", i + 1, "'s"));
      }
    }
    addresses.push_back(std::move(address));
    listeners.push_back(*std::move(listener));
  }
  if (listeners.empty()) {
    return absl::InvalidArgumentError("no listener: expected `HOST:PORT [OPTION ...]; ...`");
  }
  return listeners;
}

}  // namespace fixstream::gateway
