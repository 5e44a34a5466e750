// Minimal leveled logging to stderr, one line per event:
//   2026-11-25T12:00:00.123456Z INFO message
// (absl/log is not in Debian 12's Abseil.) Thread-safe: each line is written
// with a single write(2).
#ifndef FIXSTREAM_GATEWAY_LOG_H_
#define FIXSTREAM_GATEWAY_LOG_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace fixstream::gateway {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Lines below this level are dropped. Default kInfo.
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view name, LogLevel* level);

void Log(LogLevel level, absl::string_view message);
inline void LogInfo(absl::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(absl::string_view message) { Log(LogLevel::kWarning, message); }
inline void LogError(absl::string_view message) { Log(LogLevel::kError, message); }

}  // namespace fixstream::gateway

#endif  // FIXSTREAM_GATEWAY_LOG_H_
