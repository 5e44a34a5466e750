// Fuzzes the tokens file parser (gateway/api/access_tokens.h): arbitrary
// bytes as a tokens file, as an operator's typo or a hostile writer could
// leave it. Parsing must never crash; an error must name the file and a line
// within the text; a table must hold at most one principal per line, each
// with a valid name and only known calls, and lookups must be safe.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "gateway/api/access_tokens.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  absl::StatusOr<fixstream::gateway::TokenTable> table =
      fixstream::gateway::TokenTable::Parse(text, "tokens");
  if (!table.ok()) {
    if (table.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    absl::string_view message = table.status().message();
    if (!absl::ConsumePrefix(&message, "tokens:")) std::abort();
    size_t colon = message.find(':');
    size_t line = 0;
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(message.substr(0, colon), &line) ||
        line < 1 || line > lines) {
      std::abort();
    }
    return 0;
  }
  if (table->size() > lines) std::abort();
  // Lookups of arbitrary tokens: the input itself and its halves.
  for (std::string_view token : {text, text.substr(0, size / 2), text.substr(size / 2)}) {
    std::shared_ptr<const fixstream::gateway::Principal> p = table->Find(token);
    if (p != nullptr) {
      if (p->name.empty() || p->calls >= (1u << fixstream::gateway::kCallCount)) std::abort();
      if (p->vehicles != nullptr && p->vehicles->all()) std::abort();
    }
  }
  return 0;
}
