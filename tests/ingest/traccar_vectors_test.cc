// Real trackers, judged against Traccar: every message of
// ../shared/data/traccar/vectors.json (576 messages of eight protocols from
// Traccar's decoder tests, with Traccar's verdicts; see its SOURCE.md; never
// copied into this repository) goes through the protocol's MessageFramer and
// ProtocolDecoder, and what comes out is compared with Traccar's verdict:
//
//   - kind "position" with `expected`: a record at that time (to the
//     millisecond) and position (1e-5 degrees, Traccar's precision), or
//     no_fix where Traccar says valid=false;
//   - kind "position" whose own A/V flag says V (device_fix "invalid"):
//     no_fix, no record (fixstream does not publish fixes a device calls
//     invalid; Traccar publishes them with valid=false);
//   - any other "position": a record, attributed to the message's device id;
//   - kind "none": no record;
//   - kind "attributes" (Traccar's test checks no location): not scored
//     for records, but never a crash;
//   - every vector: the reply. Where Traccar replies, the same bytes (the
//     time a reply carries is the receive time, and the checksum is computed
//     here independently); where Traccar sends nothing, nothing. OsmAnd: the
//     HTTP status line.
//
// The vectors where fixstream deliberately differs are listed in kDeliberate
// with the reason; each of them must still differ (a fixed one must leave the
// list), so the list cannot hide a regression elsewhere.
#include <sys/stat.h>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "device_harness.h"
#include "gtest/gtest.h"
#include "ingest/timestamp.h"
#include "simdjson.h"

#ifndef FIXSTREAM_TRACCAR_DATA_DIR
#define FIXSTREAM_TRACCAR_DATA_DIR ""
#endif

namespace fixstream::ingest {
namespace {

// 2026-12-02T06:30:00Z: when replies are dated, and OsmAnd reports without
// a timestamp.
constexpr int64_t kReceive = 1'796'193'000LL * kNanosPerSecond;

std::string DataDir() {
  if (const char* env = std::getenv("FIXSTREAM_TRACCAR_DATA_DIR"); env != nullptr && *env != 0) {
    return env;
  }
  return FIXSTREAM_TRACCAR_DATA_DIR;
}

struct Vector {
  std::string protocol;  // Traccar's name
  std::string message;
  std::string kind;
  bool has_expected = false;
  std::string expected_time;
  bool expected_valid = false;
  double expected_lat = 0, expected_lon = 0;
  std::string reply;  // reply_expected, "" if null
  std::string reply_rule;
  std::string device_id;
  std::string device_fix;
  std::string source;
};

std::string Str(simdjson::dom::element e) {
  if (e.is_null()) return "";
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

bool LoadVectors(std::vector<Vector>* out) {
  const std::string path = DataDir() + "/vectors.json";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.load(path).get(doc) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element e : doc.get_array()) {
    Vector v;
    v.protocol = Str(e["protocol"]);
    v.message = Str(e["message"]);
    v.kind = Str(e["kind"]);
    v.reply = Str(e["reply_expected"]);
    v.reply_rule = Str(e["reply_rule"]);
    v.device_id = Str(e["device_id"]);
    v.device_fix = Str(e["device_fix"]);
    v.source = Str(e["source"]);
    simdjson::dom::element x = e["expected"];
    if (!x.is_null()) {
      v.has_expected = true;
      v.expected_time = Str(x["time"]);
      v.expected_valid = x["valid"].get_bool().value_unsafe();
      v.expected_lat = x["lat"].get_double().value_unsafe();
      v.expected_lon = x["lon"].get_double().value_unsafe();
    }
    // Latin-1 in the file's JSON strings: every byte here is ASCII, but
    // simdjson hands back UTF-8; map U+0080..U+00FF back to one byte.
    std::string bytes;
    for (size_t i = 0; i < v.message.size(); ++i) {
      const unsigned char c = v.message[i];
      if ((c == 0xc2 || c == 0xc3) && i + 1 < v.message.size()) {
        bytes.push_back(static_cast<char>(((c & 0x03) << 6) | (v.message[++i] & 0x3f)));
      } else {
        bytes.push_back(static_cast<char>(c));
      }
    }
    v.message = bytes;
    out->push_back(std::move(v));
  }
  return true;
}

DeviceProtocol ProtocolOf(const std::string& traccar_name) {
  if (traccar_name == "gl200") return DeviceProtocol::kQueclink;
  const std::optional<DeviceProtocol> p = DeviceProtocolFromName(traccar_name);
  EXPECT_TRUE(p.has_value()) << traccar_name;
  return p.value_or(DeviceProtocol::kH02);
}

std::string CompactTime(int64_t unix_ns) {
  const time_t t = unix_ns / kNanosPerSecond;
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// The bytes Traccar sends for `v`, with the current time and checksums
// filled in; "" for none.
std::string ExpectedReply(const Vector& v) {
  if (v.reply.empty()) return "";
  std::string r = v.reply;
  if (v.protocol == "h02" && v.reply_rule.find("V1") != std::string::npos) {
    return "*HQ," + r + CompactTime(kReceive) + "#";
  }
  if (v.protocol == "h02" && v.reply_rule.find("NBR") != std::string::npos) {
    return r + CompactTime(kReceive) + "#";
  }
  if (v.protocol == "meitrack") {
    if (r[0] == ',') {
      // D00 photo packet request: "@@O<length>" before the token.
      char length[8];
      std::snprintf(length, sizeof length, "%02zu", r.size() - 1 + 2 + 2);
      r = "@@O" + std::string(length) + r;
    }
    unsigned sum = 0;
    for (unsigned char c : r) sum += c;
    char cs[3];
    std::snprintf(cs, sizeof cs, "%02X", sum & 0xff);
    return r + cs + "\r\n";
  }
  return r;
}

bool ReplyMatches(const Vector& v, const std::string& got) {
  if (v.protocol == "osmand") return got.rfind(v.reply + " ", 0) == 0;
  return got == ExpectedReply(v);
}

// Vectors where fixstream deliberately does not do what Traccar does, by
// Traccar test source line, with the reason.
const std::map<std::string, std::string>& Deliberate() {
  static const std::string kSuntechNoFix =
      "the report's GPS fix field is 0 (ST910: the field after the course; the others: after the "
      "satellites): Traccar publishes the position with valid=false, fixstream counts it no_fix "
      "like every position a device calls invalid";
  // 27 of the 32 Meitrack messages carry the right checksum; these were
  // edited by hand for the test (:100 is :97 with one field changed and the
  // same checksum), and Traccar does not check.
  static const std::string kMeitrackChecksum =
      "the *hh checksum does not match the bytes (a test message edited by hand): Traccar does "
      "not check Meitrack checksums, fixstream does, as for NMEA (bad_checksum, no record)";
  static const std::string kTest = "src/test/java/org/traccar/protocol/";
  static const auto* m = new std::map<std::string, std::string>{
      {kTest + "H02ProtocolDecoderTest.java:58",
       "'*HQ,,V1,...' names no device; Traccar's test harness supplies one. fixstream has no id "
       "for it on a fresh connection: unknown_vehicle, no record"},
      {kTest + "Gps103ProtocolDecoderTest.java:47",
       "the alternative format's GPS status field is 0 (no fix): Traccar publishes it with "
       "valid=false, fixstream counts it no_fix like every position a device calls invalid"},
      {kTest + "Tk103ProtocolDecoderTest.java:53",
       "DW5B is a cell-tower report (no satellite position); Traccar locates it by the cell, "
       "fixstream does not geolocate cells: heartbeat, no record"},
      {kTest + "Tk103ProtocolDecoderTest.java:108",
       "'BO012061830A...': the date field reads 06-18-30 (no month 18); Traccar's lenient "
       "calendar rolls it over, fixstream rejects it as bad_timestamp"},
      {kTest + "MeitrackProtocolDecoderTest.java:118",
       "D03 (photo taken): Traccar requests the picture (D00); fixstream stores no media, so it "
       "does not start a transfer it would have to discard: heartbeat, no reply"},
      {kTest + "MeitrackProtocolDecoderTest.java:100", kMeitrackChecksum},
      {kTest + "MeitrackProtocolDecoderTest.java:121", kMeitrackChecksum},
      {kTest + "MeitrackProtocolDecoderTest.java:140", kMeitrackChecksum},
      {kTest + "MeitrackProtocolDecoderTest.java:170", kMeitrackChecksum},
      {kTest + "SuntechProtocolDecoderTest.java:28", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:142", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:145", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:148", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:151", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:163", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:173", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:195", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:204", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:207", kSuntechNoFix},
      {kTest + "SuntechProtocolDecoderTest.java:237", kSuntechNoFix},
  };
  return *m;
}

struct Verdict {
  bool scored = false;  // records compared (not an "attributes" vector)
  bool records_ok = true;
  bool reply_ok = true;
  std::string why;
};

Verdict Judge(const Vector& v, const DeviceRun& run) {
  Verdict verdict;
  const LineOutcome first = run.outcomes.empty() ? LineOutcome::kUnterminated : run.outcomes[0];
  auto fail = [&](const std::string& why) {
    verdict.records_ok = false;
    verdict.why += why + "; ";
  };
  if (v.kind == "position") {
    verdict.scored = true;
    const bool invalid =
        (v.has_expected && !v.expected_valid) || (!v.has_expected && v.device_fix == "invalid");
    if (invalid) {
      if (!run.records.empty() || first != LineOutcome::kNoFix) {
        fail("expected no_fix, got " + std::string(LineOutcomeName(first)));
      }
    } else if (run.records.empty()) {
      fail("expected a record, got " + std::string(LineOutcomeName(first)));
    } else {
      const LocationRecord& r = run.records[0];
      if (!v.device_id.empty() && r.vehicle_id() != v.device_id) {
        fail("vehicle id " + std::string(r.vehicle_id()) + " != " + v.device_id);
      }
      if (v.has_expected) {
        int64_t t;
        EXPECT_TRUE(ParseRfc3339(v.expected_time, &t)) << v.expected_time;
        if (r.fix_time_unix_ns / 1'000'000 != t / 1'000'000) {
          fail("time " + CompactTime(r.fix_time_unix_ns) + " != " + v.expected_time);
        }
        if (std::fabs(r.latitude - v.expected_lat) > 1e-5 ||
            std::fabs(r.longitude - v.expected_lon) > 1e-5) {
          char b[128];
          std::snprintf(b, sizeof b, "position %.6f,%.6f != %.6f,%.6f", r.latitude, r.longitude,
                        v.expected_lat, v.expected_lon);
          fail(b);
        }
      }
    }
  } else if (v.kind == "none") {
    verdict.scored = true;
    if (!run.records.empty()) fail("expected no record");
  }
  if (!ReplyMatches(v, run.replies)) {
    verdict.reply_ok = false;
    verdict.why += "reply '" + run.replies + "' != '" + ExpectedReply(v) + "'; ";
  }
  return verdict;
}

class TraccarVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!LoadVectors(&vectors_)) {
      GTEST_SKIP() << "Traccar vectors not found at '" << DataDir()
                   << "/vectors.json' (expected ../shared/data/traccar beside the source tree, "
                      "or FIXSTREAM_TRACCAR_DATA_DIR); nothing compared";
    }
    ASSERT_EQ(vectors_.size(), 576u);
  }
  std::vector<Vector> vectors_;
};

TEST_F(TraccarVectorsTest, DecodesEveryVectorAsTraccarDoes) {
  struct Count {
    int vectors = 0, scored = 0, scored_pass = 0, replies = 0, replies_pass = 0, deliberate = 0;
  };
  std::map<std::string, Count> counts;
  for (const Vector& v : vectors_) {
    const DeviceRun run = RunDevice(ProtocolOf(v.protocol), {v.message}, kReceive);
    Count& c = counts[v.protocol];
    ++c.vectors;
    // Every vector is one message, and all of it is framed.
    EXPECT_EQ(run.outcomes.size(), 1u) << v.source << " " << v.message;
    EXPECT_EQ(run.tail, MessageFramer::Tail::kNone) << v.source;
    const Verdict verdict = Judge(v, run);
    const bool pass = verdict.records_ok && verdict.reply_ok;
    const auto deliberate = Deliberate().find(v.source);
    if (deliberate != Deliberate().end()) {
      ++c.deliberate;
      EXPECT_FALSE(pass) << v.source << " is in the deliberate list but now agrees with Traccar";
      if (deliberate->second.find("no_fix") != std::string::npos) {
        EXPECT_EQ(run.outcomes, std::vector<LineOutcome>{LineOutcome::kNoFix}) << v.source;
      }
      continue;
    }
    if (verdict.scored) {
      ++c.scored;
      c.scored_pass += verdict.records_ok;
    }
    if (!v.reply.empty()) {
      ++c.replies;
      c.replies_pass += verdict.reply_ok;
    }
    EXPECT_TRUE(pass) << v.source << " (" << v.kind << "): " << verdict.why << "\n  " << v.message;
  }
  std::printf("%-10s %7s %14s %14s %10s\n", "protocol", "vectors", "records pass", "replies pass",
              "deliberate");
  for (const auto& [name, c] : counts) {
    std::printf("%-10s %7d %8d / %-4d %8d / %-4d %10d\n", name.c_str(), c.vectors, c.scored_pass,
                c.scored, c.replies_pass, c.replies, c.deliberate);
  }
}

// The framing does not depend on how the bytes arrive: every vector split
// into two reads at every byte gives what it gives in one read.
TEST_F(TraccarVectorsTest, EverySplitGivesTheSameResult) {
  for (const Vector& v : vectors_) {
    const DeviceProtocol p = ProtocolOf(v.protocol);
    const DeviceRun whole = RunDevice(p, {v.message}, kReceive);
    for (size_t k = 1; k < v.message.size(); ++k) {
      const std::string_view m(v.message);
      const DeviceRun split = RunDevice(p, {m.substr(0, k), m.substr(k)}, kReceive);
      ASSERT_EQ(split.outcomes, whole.outcomes) << v.source << " split at " << k;
      ASSERT_EQ(split.records.size(), whole.records.size()) << v.source << " split at " << k;
      for (size_t i = 0; i < whole.records.size(); ++i) {
        ASSERT_EQ(split.records[i].fix_time_unix_ns, whole.records[i].fix_time_unix_ns);
        ASSERT_EQ(split.records[i].latitude, whole.records[i].latitude);
        ASSERT_EQ(split.records[i].longitude, whole.records[i].longitude);
      }
      ASSERT_EQ(split.replies, whole.replies) << v.source << " split at " << k;
    }
  }
}

// One connection carrying every vector of a protocol, back to back, gives
// each its own result: a message never bleeds into the next. (Messages
// naming no device are left out: on a connection they are attributed to the
// id an earlier message named, which H02NoIdUsesTheConnectionsId tests.)
TEST_F(TraccarVectorsTest, BackToBackMessagesKeepTheirOwnResults) {
  std::map<std::string, std::string> streams;
  std::map<std::string, std::vector<LineOutcome>> expected;
  for (const Vector& v : vectors_) {
    if (v.protocol == "osmand") continue;  // a 400 closes the connection
    if (v.device_id.empty()) continue;
    streams[v.protocol] += v.message;
    const DeviceRun one = RunDevice(ProtocolOf(v.protocol), {v.message}, kReceive);
    expected[v.protocol].insert(expected[v.protocol].end(), one.outcomes.begin(),
                                one.outcomes.end());
  }
  for (const auto& [name, stream] : streams) {
    const DeviceRun run = RunDevice(ProtocolOf(name), {stream}, kReceive);
    EXPECT_EQ(run.outcomes, expected[name]) << name;
  }
}

// Auto-detection on each vector's first bytes: every prefix says "need
// more" or the right protocol, and the whole message decides.
TEST_F(TraccarVectorsTest, DetectsEveryVectorsProtocol) {
  // A command response fragment ("-Error"): never what a device sends first.
  const std::string kNotAFirstMessage = "-Error\r";
  for (const Vector& v : vectors_) {
    if (v.message == kNotAFirstMessage) continue;
    const DeviceProtocol p = ProtocolOf(v.protocol);
    for (size_t k = 1; k <= v.message.size(); ++k) {
      const Detection d = DetectProtocol(std::string_view(v.message).substr(0, k));
      if (d.kind == Detection::Kind::kNeedMore && k < v.message.size()) continue;
      ASSERT_EQ(d.kind, Detection::Kind::kDevice) << v.source << " prefix " << k;
      ASSERT_EQ(d.protocol, p) << v.source << " prefix " << k;
      break;
    }
  }
}

}  // namespace
}  // namespace fixstream::ingest
