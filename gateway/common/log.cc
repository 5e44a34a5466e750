#include "gateway/common/log.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace fixstream::gateway {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    std::string lower(LevelName(l).data(), LevelName(l).size());
    for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
    if (name == lower) {
      *level = l;
      return true;
    }
  }
  return false;
}

void Log(LogLevel level, absl::string_view message) {
  if (!LogEnabled(level)) return;
  std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   LevelName(level), " ", message, "\n");
  // One write per line keeps lines from different threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

RateLimitedLog::RateLimitedLog(LogLevel level, absl::Duration interval, Clock now)
    : level_(level), interval_ns_(absl::ToInt64Nanoseconds(interval)), now_(std::move(now)) {}

bool RateLimitedLog::Admit(uint64_t* suppressed, absl::Duration* since_last) {
  const int64_t now_ns = absl::ToUnixNanos(now_());
  int64_t last = last_ns_.load(std::memory_order_relaxed);
  // The suppressed path must stay cheap: a load, a compare and an add.
  if (last != kNever && now_ns - last < interval_ns_) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Several threads may see the interval expire at once; the one whose CAS
  // moves last_ns_ writes the line, the others count as suppressed.
  if (!last_ns_.compare_exchange_strong(last, now_ns, std::memory_order_relaxed)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // An event counted by a thread that raced with this exchange is reported
  // with the next line instead: late, never lost.
  *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  *since_last = last == kNever ? absl::ZeroDuration() : absl::Nanoseconds(now_ns - last);
  return true;
}

void RateLimitedLog::Write(absl::string_view message, uint64_t suppressed,
                           absl::Duration since_last) {
  if (suppressed == 0) {
    gateway::Log(level_, message);
    return;
  }
  // Whole seconds read best ("in the last 10s"); sub-second intervals keep
  // milliseconds so the figure is never "0".
  const absl::Duration shown = since_last >= absl::Seconds(1)
                                   ? absl::Trunc(since_last, absl::Seconds(1))
                                   : absl::Trunc(since_last, absl::Milliseconds(1));
  gateway::Log(level_, absl::StrCat(message, " (", suppressed, " similar suppressed in the last ",
                                    absl::FormatDuration(shown), ")"));
}

}  // namespace fixstream::gateway
