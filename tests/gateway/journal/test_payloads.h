// Payloads for the journal's tests: each differs per sequence in content and
// length (40-119 bytes).
#ifndef FIXSTREAM_TESTS_GATEWAY_JOURNAL_TEST_PAYLOADS_H_
#define FIXSTREAM_TESTS_GATEWAY_JOURNAL_TEST_PAYLOADS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace fixstream::gateway::testing {

inline std::string Payload(uint64_t seq) {
  std::string p = absl::StrCat("record-", seq, "-");
  const size_t size = 40 + seq % 80;
  while (p.size() < size) p.push_back(static_cast<char>('a' + (seq + p.size()) % 26));
  return p;
}

// The concatenated payloads of sequences first..last.
inline std::string Expected(uint64_t first, uint64_t last) {
  std::string out;
  for (uint64_t s = first; s <= last; ++s) out += Payload(s);
  return out;
}

}  // namespace fixstream::gateway::testing

#endif  // FIXSTREAM_TESTS_GATEWAY_JOURNAL_TEST_PAYLOADS_H_
