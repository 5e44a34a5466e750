// Real receivers, judged against gpsd: every capture in gpsd's regression
// corpus (../shared/data/gpsd, see its SOURCE.md; never copied into this
// repository) is fed through an NmeaSession, and the records it publishes
// are compared with the TPV reports in gpsd's own decoding (*.log.chk).
//
// A gpsd fix is a distinct (time, latitude, longitude) of a TPV with mode 2
// or 3 whose status is not 8 (simulator: not a fix of the receiver, which
// fixstream never publishes). A record matches a gpsd fix when latitude and
// longitude agree to 1e-6 degrees and, where gpsd gives a time, the fix
// times agree to the millisecond gpsd prints, modulo 1024 GPS weeks: gpsd's
// regression run has no wall clock and moves or keeps rollover dates by its
// own build-time pivot (it dates the 2015 neo-m8n capture 2034), while the
// gateway corrects them against its clock, which a replay of old captures
// does not have. A record "gpsd calls no fix" has a fix time of day at
// which gpsd reported only TPVs of mode 0/1 (or status 8) or, where gpsd
// gave no time, a position gpsd only reported without a fix.
//
// The session runs with a receive clock of 2026-12-01 and a fix-time window
// of 60 years either side, so that captures from 1999-2025 are accepted;
// lines are fed as the framer would cut them (one trailing "\r" removed),
// and the session is flushed once at the end (one read of the whole file).
#include <dirent.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ingest/nmea.h"
#include "ingest/timestamp.h"
#include "record_collector.h"

#ifndef FIXSTREAM_GPSD_DATA_DIR
#define FIXSTREAM_GPSD_DATA_DIR ""
#endif

namespace fixstream::ingest {
namespace {

constexpr int64_t kS = kNanosPerSecond;
constexpr int64_t kReceive = 1'796'083'200LL * kS;  // 2026-12-01T00:00:00Z
constexpr int64_t kYear = 365LL * 86'400 * kS;
constexpr int64_t kWeeks1024 = 1024LL * 7 * 86'400 * kS;

std::string DataDir() {
  if (const char* env = std::getenv("FIXSTREAM_GPSD_DATA_DIR"); env != nullptr && *env != 0) {
    return env;
  }
  return FIXSTREAM_GPSD_DATA_DIR;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) break;  // unterminated: the framer drops it
    std::string line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    begin = end + 1;
  }
  return lines;
}

// The value of "key": in a one-line JSON object, as text ("" if absent).
std::string JsonValue(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = json.find(needle);
  if (at == std::string::npos) return "";
  size_t begin = at + needle.size();
  if (begin < json.size() && json[begin] == '"') {
    const size_t end = json.find('"', begin + 1);
    return json.substr(begin + 1, end - begin - 1);
  }
  size_t end = begin;
  while (end < json.size() && json[end] != ',' && json[end] != '}') ++end;
  return json.substr(begin, end - begin);
}

struct GpsdReport {
  bool fix = false;
  bool has_time = false;
  int64_t time_ns = 0;
  bool has_position = false;
  double lat = 0;
  double lon = 0;
};

std::vector<GpsdReport> GpsdReports(const std::string& chk) {
  std::vector<GpsdReport> reports;
  for (const std::string& line : Lines(chk)) {
    if (line.empty() || line[0] != '{' || JsonValue(line, "class") != "TPV") continue;
    GpsdReport r;
    const std::string mode = JsonValue(line, "mode");
    r.fix = (mode == "2" || mode == "3") && JsonValue(line, "status") != "8";
    const std::string time = JsonValue(line, "time");
    r.has_time = !time.empty() && ParseRfc3339(time, &r.time_ns);
    const std::string lat = JsonValue(line, "lat");
    const std::string lon = JsonValue(line, "lon");
    r.has_position = !lat.empty() && !lon.empty();
    if (r.has_position) {
      r.lat = std::strtod(lat.c_str(), nullptr);
      r.lon = std::strtod(lon.c_str(), nullptr);
    }
    reports.push_back(r);
  }
  return reports;
}

// gpsd prints milliseconds; equal modulo 1024 weeks (see the file comment).
bool SameTime(int64_t a, int64_t b) {
  const int64_t ms = 1'000'000;
  int64_t d = (a / ms - b / ms) % (kWeeks1024 / ms);
  if (d < 0) d += kWeeks1024 / ms;
  return d == 0;
}

bool SameTimeOfDay(int64_t a, int64_t b) {
  const int64_t ms = 1'000'000;
  const int64_t day = 86'400'000;
  return ((a / ms) % day + day) % day == ((b / ms) % day + day) % day;
}

bool SamePosition(double lat_a, double lon_a, double lat_b, double lon_b) {
  return std::fabs(lat_a - lat_b) <= 1e-6 && std::fabs(lon_a - lon_b) <= 1e-6;
}

struct Figures {
  int gpsd_fixes = 0;      // distinct gpsd fixes
  int fixes_covered = 0;   // gpsd fixes some record matches
  int records = 0;         // records published
  int records_exact = 0;   // records that match a gpsd fix
  int records_no_fix = 0;  // records at a time gpsd reported no fix
  // Records at a time gpsd reported a fix at another position.
  int records_elsewhere = 0;
  // The rest: records at a time gpsd did not report (its cycle detection
  // skipped the sentence, e.g. GLL stamped a second late, or a fix time
  // before the capture's first date).
  int records_unreported = 0;
};

Figures Compare(const std::vector<LocationRecord>& records,
                const std::vector<GpsdReport>& reports) {
  std::vector<GpsdReport> fixes;
  for (const GpsdReport& r : reports) {
    if (!r.fix || !r.has_position) continue;
    bool seen = false;
    for (const GpsdReport& f : fixes) {
      seen |= f.has_time == r.has_time && (!r.has_time || f.time_ns == r.time_ns) &&
              f.lat == r.lat && f.lon == r.lon;
    }
    if (!seen) fixes.push_back(r);
  }
  auto matches = [](const LocationRecord& rec, const GpsdReport& fix) {
    return SamePosition(rec.latitude, rec.longitude, fix.lat, fix.lon) &&
           (!fix.has_time || SameTime(rec.fix_time_unix_ns, fix.time_ns));
  };
  Figures f;
  f.gpsd_fixes = static_cast<int>(fixes.size());
  for (const GpsdReport& fix : fixes) {
    for (const LocationRecord& rec : records) {
      if (matches(rec, fix)) {
        ++f.fixes_covered;
        break;
      }
    }
  }
  f.records = static_cast<int>(records.size());
  for (const LocationRecord& rec : records) {
    bool exact = false;
    for (const GpsdReport& fix : fixes) exact |= matches(rec, fix);
    if (exact) {
      ++f.records_exact;
      continue;
    }
    // What gpsd said at the record's time of day (a record dated on the
    // wrong day is still the receiver's sentence), or, where gpsd gave no
    // time, at the record's position.
    bool reported = false;
    bool fix_then = false;
    for (const GpsdReport& r : reports) {
      if (!r.has_time || !SameTimeOfDay(rec.fix_time_unix_ns, r.time_ns)) continue;
      reported = true;
      fix_then |= r.fix;
    }
    if (!reported) {
      for (const GpsdReport& r : reports) {
        if (r.has_time || !r.has_position ||
            !SamePosition(rec.latitude, rec.longitude, r.lat, r.lon)) {
          continue;
        }
        reported = true;
        fix_then |= r.fix;
      }
    }
    if (reported && !fix_then) {
      ++f.records_no_fix;
    } else if (fix_then) {
      ++f.records_elsewhere;
    } else {
      ++f.records_unreported;
    }
  }
  return f;
}

std::vector<std::string> Captures(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(GpsdCorpusTest, PublishesWhatGpsdCallsAFixAndNothingElse) {
  const std::string dir = DataDir();
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    GTEST_SKIP() << "gpsd corpus not found at '" << dir
                 << "' (expected ../shared/data/gpsd beside the source tree, or "
                    "FIXSTREAM_GPSD_DATA_DIR); nothing compared";
  }
  const std::vector<std::string> captures = Captures(dir);
  ASSERT_FALSE(captures.empty()) << dir << " holds no *.log";
  Figures total;
  std::printf("%-34s %5s %5s %7s %5s %5s %9s %10s\n", "capture", "gpsd", "found", "records",
              "exact", "nofix", "elsewhere", "unreported");
  for (const std::string& name : captures) {
    const std::string chk = ReadFile(dir + "/" + name + ".chk");
    if (chk.empty()) continue;
    NmeaSession session(FixTimeWindow{.max_age_ns = 60 * kYear, .max_lead_ns = 60 * kYear});
    RecordCollector sink;
    session.Parse("$PFSID,gpsd-corpus", kReceive, sink);
    for (const std::string& line : Lines(ReadFile(dir + "/" + name))) {
      if (line.empty() || line[0] == '#') continue;
      session.Parse(line, kReceive, sink);
    }
    session.Flush(sink);
    const Figures f = Compare(sink.records, GpsdReports(chk));
    std::printf("%-34s %5d %5d %7d %5d %5d %9d %10d\n", name.c_str(), f.gpsd_fixes, f.fixes_covered,
                f.records, f.records_exact, f.records_no_fix, f.records_elsewhere,
                f.records_unreported);
    total.gpsd_fixes += f.gpsd_fixes;
    total.fixes_covered += f.fixes_covered;
    total.records += f.records;
    total.records_exact += f.records_exact;
    total.records_no_fix += f.records_no_fix;
    total.records_elsewhere += f.records_elsewhere;
    total.records_unreported += f.records_unreported;
  }
  const double found = 100.0 * total.fixes_covered / std::max(1, total.gpsd_fixes);
  const double exact = 100.0 * total.records_exact / std::max(1, total.records);
  std::printf("%-34s %5d %5d %7d %5d %5d %9d %10d\n", "total", total.gpsd_fixes,
              total.fixes_covered, total.records, total.records_exact, total.records_no_fix,
              total.records_elsewhere, total.records_unreported);
  std::printf(
      "gpsd fixes published: %.1f %%; records matching gpsd exactly: %.1f %%; "
      "records gpsd calls no fix: %d\n",
      found, exact, total.records_no_fix);
  EXPECT_EQ(total.records_no_fix, 0);
  EXPECT_GE(found, 97.0);
  EXPECT_GE(exact, 97.0);
}

}  // namespace
}  // namespace fixstream::ingest
