// OsmAnd (the Traccar Client apps): HTTP/1.1 requests, keep-alive, with the
// report in the query string, a form body, or a JSON body. Parsed with
// libhttp-parser. See docs/PROTOCOL.md (OsmAnd).
#include <http_parser.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "ingest/device_decoders.h"
#include "ingest/device_text.h"
#include "ingest/timestamp.h"
#include "simdjson.h"

namespace fixstream::ingest::internal {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
constexpr std::string_view kBadRequest = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n";

// What one request carried. Views point into the message, except `body`,
// which points into the decoder's body buffer when the body was chunked.
struct Request {
  std::string_view url;
  std::string_view content_type;
  std::string_view body;
  std::string* chunked_body = nullptr;  // collects the body's pieces
  bool in_content_type = false;
  bool headers_seen_value = false;
  bool complete = false;
  bool keep_alive = true;
  int body_pieces = 0;
};

int OnUrl(http_parser* p, const char* at, size_t n) {
  auto* r = static_cast<Request*>(p->data);
  // One execute over the whole message: the URL comes in one piece.
  r->url = std::string_view(at, n);
  return 0;
}

int OnHeaderField(http_parser* p, const char* at, size_t n) {
  auto* r = static_cast<Request*>(p->data);
  const std::string_view name(at, n);
  r->in_content_type = name.size() == 12 && strncasecmp(at, "Content-Type", 12) == 0;
  return 0;
}

int OnHeaderValue(http_parser* p, const char* at, size_t n) {
  auto* r = static_cast<Request*>(p->data);
  if (r->in_content_type) r->content_type = std::string_view(at, n);
  return 0;
}

int OnBody(http_parser* p, const char* at, size_t n) {
  auto* r = static_cast<Request*>(p->data);
  if (r->body_pieces == 0) {
    r->body = std::string_view(at, n);
  } else {
    // Chunked: gather the pieces.
    if (r->body_pieces == 1) r->chunked_body->assign(r->body);
    r->chunked_body->append(at, n);
    r->body = *r->chunked_body;
  }
  ++r->body_pieces;
  return 0;
}

int OnComplete(http_parser* p) {
  auto* r = static_cast<Request*>(p->data);
  r->complete = true;
  r->keep_alive = http_should_keep_alive(p) != 0;
  http_parser_pause(p, 1);  // one request per call
  return 0;
}

int OnCompletePauseOnly(http_parser* p) {
  http_parser_pause(p, 1);
  return 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "yyyy-MM-dd HH:mm:ss" (what older clients send, '+' for the space).
bool ParseSpacedDateTime(std::string_view s, int64_t* unix_ns) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' ||
      s[16] != ':') {
    return false;
  }
  int y, mo, d, h, mi, se;
  if (!ParseFixedDigits(s, 4, &y) || !ParseFixedDigits(s.substr(5), 2, &mo) ||
      !ParseFixedDigits(s.substr(8), 2, &d) || !ParseFixedDigits(s.substr(11), 2, &h) ||
      !ParseFixedDigits(s.substr(14), 2, &mi) || !ParseFixedDigits(s.substr(17), 2, &se)) {
    return false;
  }
  return IsValidDate(y, mo, d) && CivilToUnixNanos(y, mo, d, h, mi, se, 0, unix_ns);
}

// Unix seconds (milliseconds if it has more than 10 digits), RFC 3339, or
// "yyyy-MM-dd HH:mm:ss".
bool ParseOsmAndTime(std::string_view s, int64_t* unix_ns) {
  if (AllDigits(s)) {
    if (s.size() > 10) return ParseUnixMillis(s, unix_ns);
    int64_t secs = 0;
    for (char c : s) secs = secs * 10 + (c - '0');
    // 10 digits may still overflow int64 nanoseconds (after 2262).
    if (secs > std::numeric_limits<int64_t>::max() / kNanosPerSecond) return false;
    *unix_ns = secs * kNanosPerSecond;
    return true;
  }
  return ParseRfc3339(s, unix_ns) || ParseSpacedDateTime(s, unix_ns);
}

class OsmAndDecoder final : public ProtocolDecoder {
 public:
  explicit OsmAndDecoder(const ProtocolDecoderOptions& options) : ProtocolDecoder(options) {
    std::memset(&scan_settings_, 0, sizeof scan_settings_);
    scan_settings_.on_message_complete = OnCompletePauseOnly;
    std::memset(&settings_, 0, sizeof settings_);
    settings_.on_url = OnUrl;
    settings_.on_header_field = OnHeaderField;
    settings_.on_header_value = OnHeaderValue;
    settings_.on_body = OnBody;
    settings_.on_message_complete = OnComplete;
  }

  DeviceProtocol protocol() const override { return DeviceProtocol::kOsmAnd; }

  bool close_after_reply() const override { return close_; }

  // A request ends where the HTTP parser completes it (Content-Length or
  // the last chunk); a request the parser rejects, up to the byte it
  // rejected, goes to Decode, which answers 400 and asks for the connection
  // to be closed.
  FrameScan Scan(std::string_view buffered) const override {
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    const size_t n =
        http_parser_execute(&parser, &scan_settings_, buffered.data(), buffered.size());
    const http_errno error = HTTP_PARSER_ERRNO(&parser);
    if (error == HPE_PAUSED) return FrameScan::Message(n);
    // The parser stops at the offending byte whatever follows it, so the
    // bad request ends there however the bytes were split.
    if (error != HPE_OK) return FrameScan::Message(std::min(n + 1, buffered.size()));
    return FrameScan::NeedMore();
  }

  LineOutcome Decode(std::string_view message, int64_t receive_time_unix_ns, RecordSink& sink,
                     std::string* reply) override {
    // After a bad request the connection is closing: what follows is not
    // read as requests (and gets no further answer).
    if (close_) return LineOutcome::kMalformed;
    Request request;
    request.chunked_body = &chunked_body_;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &request;
    http_parser_execute(&parser, &settings_, message.data(), message.size());
    if (!request.complete) {
      close_ = true;
      Answer(kBadRequest, false, reply);
      return LineOutcome::kMalformed;
    }
    const LineOutcome outcome = DecodeRequest(request, receive_time_unix_ns, sink);
    // The apps keep a report and send it again until they get a 200, so a
    // report fixstream read but rejected (bad values, a fix too old) is
    // answered 200 as well: sending it again would not help, and a 400 would
    // block the app's queue behind it. Only a request without a valid device
    // id, which the user must fix in the app's settings, is a 400 (as in
    // Traccar).
    const bool ok =
        outcome != LineOutcome::kUnknownVehicle && outcome != LineOutcome::kBadVehicleId;
    if (!request.keep_alive) close_ = true;
    Answer(ok ? kOk : kBadRequest, request.keep_alive, reply);
    return outcome;
  }

 private:
  void Answer(std::string_view status, bool keep_alive, std::string* reply) {
    reply->append(status);
    if (!keep_alive) reply->append("Connection: close\r\n");
    reply->append("\r\n");
  }

  struct Report {
    std::string_view id;
    bool has_lat = false, has_lon = false, has_time = false, valid = true;
    LineOutcome error = LineOutcome::kPublished;
  };

  LineOutcome DecodeRequest(const Request& request, int64_t receive_time_unix_ns,
                            RecordSink& sink) {
    LocationRecord& r = record_;
    r.Clear();
    r.format = SourceFormat::kOsmAnd;
    Report report;
    scratch_.clear();
    // Decoded values are views into scratch_: reserve for the worst case so
    // that it never moves while they are in use.
    scratch_.reserve(request.url.size() + request.body.size());
    const size_t query = request.url.find('?');
    if (query != std::string_view::npos) ReadParams(request.url.substr(query + 1), &report);
    if (!request.body.empty()) {
      if (request.content_type.substr(0, 16) == "application/json") {
        const LineOutcome json = ReadJson(request.body, &report);
        if (json != LineOutcome::kPublished) return json;
      } else {
        ReadParams(request.body, &report);
      }
    }
    if (report.error != LineOutcome::kPublished) return report.error;
    if (report.id.empty()) return LineOutcome::kUnknownVehicle;
    if (!IsValidVehicleId(report.id)) return LineOutcome::kBadVehicleId;
    RememberId(report.id);
    if (!report.has_lat && !report.has_lon) return LineOutcome::kHeartbeat;  // cells, Wi-Fi
    if (!report.has_lat || !report.has_lon) return LineOutcome::kMalformed;
    if (!report.has_time) r.fix_time_unix_ns = receive_time_unix_ns;
    return FinishPosition(report.id, {}, report.valid, options(), receive_time_unix_ns, r, sink);
  }

  // Percent-decodes `s` ('+' is a space) onto scratch_; returns the view.
  std::string_view Unescape(std::string_view s) {
    const size_t begin = scratch_.size();
    for (size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '+') {
        scratch_.push_back(' ');
      } else if (c == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
                 HexValue(s[i + 2]) >= 0) {
        scratch_.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
        i += 2;
      } else {
        scratch_.push_back(c);
      }
    }
    return std::string_view(scratch_).substr(begin);
  }

  void ReadParams(std::string_view params, Report* report) {
    LocationRecord& r = record_;
    size_t begin = 0;
    while (begin <= params.size()) {
      size_t end = params.find('&', begin);
      if (end == std::string_view::npos) end = params.size();
      const std::string_view pair = params.substr(begin, end - begin);
      begin = end + 1;
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = pair.substr(0, eq);
      const std::string_view value = Unescape(pair.substr(eq + 1));
      double v;
      auto number = [&](double* out) {
        if (!ParseDecimal(value, out)) {
          report->error = LineOutcome::kMalformed;
          return false;
        }
        return true;
      };
      if (key == "id" || key == "deviceid") {
        report->id = value;
      } else if (key == "lat") {
        report->has_lat = number(&r.latitude);
      } else if (key == "lon") {
        report->has_lon = number(&r.longitude);
      } else if (key == "location") {
        const size_t comma = value.find(',');
        report->has_lat = report->has_lon = comma != std::string_view::npos &&
                                            ParseDecimal(value.substr(0, comma), &r.latitude) &&
                                            ParseDecimal(value.substr(comma + 1), &r.longitude);
        if (!report->has_lat) report->error = LineOutcome::kMalformed;
      } else if (key == "timestamp") {
        report->has_time = ParseOsmAndTime(value, &r.fix_time_unix_ns);
        if (!report->has_time) report->error = LineOutcome::kBadTimestamp;
      } else if (key == "valid") {
        report->valid = !(value == "false" || value == "0");
      } else if (key == "speed") {
        if (number(&v) && v >= 0) {
          r.speed_mps = v * kKnotsToMps;  // the app sends knots
          r.present |= LocationRecord::kSpeed;
        }
      } else if (key == "bearing" || key == "heading") {
        if (number(&v) && v >= 0 && v < 360) {
          r.heading_deg = v;
          r.present |= LocationRecord::kHeading;
        }
      } else if (key == "altitude") {
        if (number(&v)) {
          r.altitude_m = v;
          r.present |= LocationRecord::kAltitude;
        }
      } else if (key == "accuracy" || key == "hacc") {
        if (number(&v) && v > 0) {
          r.accuracy_m = v;
          r.present |= LocationRecord::kAccuracy;
        }
      } else if (key == "hdop") {
        if (number(&v) && v > 0) {
          r.hdop = v;
          r.present |= LocationRecord::kHdop;
        }
      }
    }
  }

  static bool GetNumber(od::value value, double* out) {
    od::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::number) {
      return false;
    }
    return value.get_double().get(*out) == simdjson::SUCCESS && std::isfinite(*out);
  }

  // {"location": {"timestamp": RFC 3339, "coords": {"latitude", "longitude",
  // "accuracy", "speed" (m/s, -1 unknown), "heading" (-1 unknown),
  // "altitude"}, ...}, "device_id": "..."} (the transistorsoft background
  // geolocation format of the current apps).
  LineOutcome ReadJson(std::string_view body, Report* report) {
    const size_t needed = body.size() + simdjson::SIMDJSON_PADDING;
    if (padded_.size() < needed) padded_.resize(needed);
    std::memcpy(padded_.data(), body.data(), body.size());
    std::memset(padded_.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    od::document doc;
    if (json_.iterate(padded_.data(), body.size(), padded_.size()).get(doc) != simdjson::SUCCESS) {
      return LineOutcome::kMalformed;
    }
    od::object top;
    if (doc.get_object().get(top) != simdjson::SUCCESS) return LineOutcome::kMalformed;
    LocationRecord& r = record_;
    for (auto field_result : top) {
      od::field field;
      std::string_view key;
      if (std::move(field_result).get(field) != simdjson::SUCCESS ||
          field.unescaped_key().get(key) != simdjson::SUCCESS) {
        return LineOutcome::kMalformed;
      }
      if (key == "device_id") {
        std::string_view id;
        if (field.value().get_string().get(id) != simdjson::SUCCESS) {
          return LineOutcome::kBadVehicleId;
        }
        // Copied: the document's string buffer is reused by the next parse.
        scratch_.append(id);
        report->id = std::string_view(scratch_).substr(scratch_.size() - id.size());
      } else if (key == "location") {
        od::object location;
        if (field.value().get_object().get(location) != simdjson::SUCCESS) {
          return LineOutcome::kMalformed;
        }
        for (auto lf : location) {
          od::field l;
          std::string_view lkey;
          if (std::move(lf).get(l) != simdjson::SUCCESS ||
              l.unescaped_key().get(lkey) != simdjson::SUCCESS) {
            return LineOutcome::kMalformed;
          }
          if (lkey == "timestamp") {
            std::string_view t;
            if (l.value().get_string().get(t) != simdjson::SUCCESS ||
                !ParseRfc3339(t, &r.fix_time_unix_ns)) {
              return LineOutcome::kBadTimestamp;
            }
            report->has_time = true;
          } else if (lkey == "coords") {
            od::object coords;
            if (l.value().get_object().get(coords) != simdjson::SUCCESS) {
              return LineOutcome::kMalformed;
            }
            for (auto cf : coords) {
              od::field c;
              std::string_view ckey;
              if (std::move(cf).get(c) != simdjson::SUCCESS ||
                  c.unescaped_key().get(ckey) != simdjson::SUCCESS) {
                return LineOutcome::kMalformed;
              }
              double v;
              if (ckey == "latitude") {
                if (!GetNumber(c.value(), &r.latitude)) return LineOutcome::kMalformed;
                report->has_lat = true;
              } else if (ckey == "longitude") {
                if (!GetNumber(c.value(), &r.longitude)) return LineOutcome::kMalformed;
                report->has_lon = true;
              } else if (ckey == "accuracy") {
                if (GetNumber(c.value(), &v) && v > 0) {
                  r.accuracy_m = v;
                  r.present |= LocationRecord::kAccuracy;
                }
              } else if (ckey == "speed") {
                if (GetNumber(c.value(), &v) && v >= 0) {
                  r.speed_mps = v;
                  r.present |= LocationRecord::kSpeed;
                }
              } else if (ckey == "heading") {
                if (GetNumber(c.value(), &v) && v >= 0 && v < 360) {
                  r.heading_deg = v;
                  r.present |= LocationRecord::kHeading;
                }
              } else if (ckey == "altitude") {
                if (GetNumber(c.value(), &v)) {
                  r.altitude_m = v;
                  r.present |= LocationRecord::kAltitude;
                }
              }
            }
          }
        }
      }
    }
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return LineOutcome::kMalformed;
    return LineOutcome::kPublished;
  }

  http_parser_settings scan_settings_;
  http_parser_settings settings_;
  od::parser json_;
  std::string padded_;
  std::string scratch_;
  std::string chunked_body_;
  LocationRecord record_;
  bool close_ = false;
};

}  // namespace

std::unique_ptr<ProtocolDecoder> MakeOsmAndDecoder(const ProtocolDecoderOptions& options) {
  return std::make_unique<OsmAndDecoder>(options);
}

}  // namespace fixstream::ingest::internal
