// Minimal leveled logging to stderr, one line per event:
//   2026-11-25T12:00:00.123456Z INFO message
// (absl/log is not in Debian 12's Abseil.) Thread-safe: each line is written
// with a single write(2).
//
// Events that can repeat at the rate of untrusted input (a vehicle's bad
// lines, a flood of connections) go through a RateLimitedLog, so the log
// shows that they happen and how often without one line per event.
#ifndef FIXSTREAM_GATEWAY_COMMON_LOG_H_
#define FIXSTREAM_GATEWAY_COMMON_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fixstream::gateway {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Lines below this level are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view name, LogLevel* level);
// Whether a line at `level` would be written now.
bool LogEnabled(LogLevel level);

void Log(LogLevel level, absl::string_view message);
inline void LogDebug(absl::string_view message) { Log(LogLevel::kDebug, message); }
inline void LogInfo(absl::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(absl::string_view message) { Log(LogLevel::kWarning, message); }
inline void LogError(absl::string_view message) { Log(LogLevel::kError, message); }

// Writes at most one line per `interval` for one kind of event; the next
// line written says how many were suppressed since the previous one:
//   "... (1234 similar suppressed in the last 10s)".
//
// Use one instance per call site, or one per key of a small bounded set (an
// array indexed by an enum) — never one per peer or vehicle. Typical use:
//   static RateLimitedLog too_many(LogLevel::kWarning);
//   too_many.Log([&] { return absl::StrCat("connection limit reached: ", n); });
//
// Thread safety: thread-safe. A suppressed call is one clock read and one or
// two relaxed atomic operations, no lock and no allocation; the message
// callable runs only when a line is written.
class RateLimitedLog final {
 public:
  using Clock = std::function<absl::Time()>;

  // `now` is the clock (injectable for tests); it must be callable from any
  // thread.
  explicit RateLimitedLog(
      LogLevel level, absl::Duration interval = absl::Seconds(10),
      Clock now = [] { return absl::Now(); });
  RateLimitedLog(const RateLimitedLog&) = delete;
  RateLimitedLog& operator=(const RateLimitedLog&) = delete;

  // Logs the string `make_message()` returns, unless a line was written less
  // than `interval` ago (then only counts the event). Returns whether it
  // wrote. Events below the current log level are neither written nor
  // counted.
  template <typename MakeMessage, typename = std::enable_if_t<std::is_invocable_v<MakeMessage&&>>>
  bool Log(MakeMessage&& make_message) {
    if (!LogEnabled(level_)) return false;
    uint64_t suppressed = 0;
    absl::Duration since_last;
    if (!Admit(&suppressed, &since_last)) return false;
    Write(std::forward<MakeMessage>(make_message)(), suppressed, since_last);
    return true;
  }
  bool Log(absl::string_view message) {
    return Log([message] { return message; });
  }

  // The rate limiter without the writing: true when the caller may log now;
  // then *suppressed is the number of events refused since the last admitted
  // one and *since_last the time since it (zero for the first).
  bool Admit(uint64_t* suppressed, absl::Duration* since_last);

 private:
  void Write(absl::string_view message, uint64_t suppressed, absl::Duration since_last);

  const LogLevel level_;
  const int64_t interval_ns_;
  const Clock now_;
  // Unix ns of the last admitted event; kNever before the first.
  static constexpr int64_t kNever = INT64_MIN;
  std::atomic<int64_t> last_ns_{kNever};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_COMMON_LOG_H_
