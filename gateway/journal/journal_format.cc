#include "gateway/journal/journal_format.h"

#include <cstdio>

#include "absl/strings/numbers.h"

namespace fixstream::gateway {

std::string JournalSegmentFileName(uint64_t first_sequence) {
  char name[40];
  std::snprintf(name, sizeof name, "seg-%020llu.fsj",
                static_cast<unsigned long long>(first_sequence));
  return name;
}

bool ParseJournalSegmentFileName(std::string_view name, uint64_t* first_sequence) {
  if (name.size() != 28 || !name.starts_with("seg-") || !name.ends_with(".fsj")) return false;
  const std::string_view digits = name.substr(4, 20);
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), first_sequence) &&
         *first_sequence > 0;
}

namespace journal_format {

void EncodeSegmentHeader(uint64_t first_sequence, char* out) {
  std::memcpy(out, kJournalMagic, 4);
  PutFixed32(out + 4, kJournalVersion);
  PutFixed64(out + 8, first_sequence);
  PutFixed32(out + 16, crc32c::Value(out, 16));
}

SegmentHeader DecodeSegmentHeader(const char* data) {
  SegmentHeader header;
  header.intact =
      std::memcmp(data, kJournalMagic, 4) == 0 && crc32c::Value(data, 16) == GetFixed32(data + 16);
  header.version = GetFixed32(data + 4);
  header.first_sequence = GetFixed64(data + 8);
  return header;
}

void EncodeLeaseRecord(uint64_t generation, uint64_t lease, char* out) {
  std::memcpy(out, kLeaseMagic, 4);
  PutFixed32(out + 4, 0);
  PutFixed64(out + 8, generation);
  PutFixed64(out + 16, lease);
  PutFixed32(out + 24, crc32c::Value(out, 24));
}

LeaseRecord DecodeLeaseRecord(const char* data) {
  LeaseRecord record;
  record.intact =
      std::memcmp(data, kLeaseMagic, 4) == 0 && crc32c::Value(data, 24) == GetFixed32(data + 24);
  record.generation = GetFixed64(data + 8);
  record.lease = GetFixed64(data + 16);
  return record;
}

}  // namespace journal_format
}  // namespace fixstream::gateway
