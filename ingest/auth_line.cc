#include "ingest/auth_line.h"

#include <array>
#include <cstring>
#include <memory>

#include "ingest/line_outcome.h"
#include "ingest/location_record.h"
#include "ingest/nmea.h"
#include "simdjson.h"

namespace fixstream::ingest {
namespace {

namespace od = simdjson::ondemand;

constexpr std::array<bool, 256> MakeSecretChars() {
  std::array<bool, 256> chars{};
  for (int c = 'A'; c <= 'Z'; ++c) chars[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) chars[c] = true;
  for (int c = '0'; c <= '9'; ++c) chars[c] = true;
  for (char c : std::string_view("._~+/=-")) chars[static_cast<unsigned char>(c)] = true;
  return chars;
}
constexpr std::array<bool, 256> kSecretChars = MakeSecretChars();

std::string_view TrimTrailing(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  return line;
}

bool Accept(std::string_view id, std::string_view secret, AuthLine* auth) {
  if (!IsValidVehicleId(id) || !IsValidSecret(secret)) return false;
  auth->vehicle_id.assign(id);
  auth->secret.assign(secret);
  return true;
}

// $PFSID,<id>,<secret>[*hh]: the NMEA envelope (checksum checked if present).
bool ParsePfsid(std::string_view line, AuthLine* auth) {
  NmeaSentence sentence;
  LineOutcome rejection;
  if (!ParseNmeaEnvelope(line, &sentence, &rejection) ||
      sentence.kind != NmeaSentence::Kind::kIdentification || sentence.field_count != 3) {
    return false;
  }
  return Accept(sentence.fields[1], sentence.fields[2], auth);
}

// AUTH,<id>,<secret>
bool ParseCsv(std::string_view line, AuthLine* auth) {
  constexpr std::string_view kPrefix = "AUTH,";
  if (!line.starts_with(kPrefix)) return false;
  line.remove_prefix(kPrefix.size());
  const size_t comma = line.find(',');
  if (comma == std::string_view::npos) return false;
  return Accept(line.substr(0, comma), line.substr(comma + 1), auth);
}

// {"vehicle_id":"<id>","secret":"<secret>"}: exactly these two string
// members. simdjson, so any valid JSON encoding of them is read (escaped
// "\/" from encoders that escape slashes, whitespace anywhere).
bool ParseJson(std::string_view line, AuthLine* auth) {
  // The longest valid form with generous whitespace fits easily; anything
  // much longer is not an authentication line.
  if (line.size() > 1024) return false;
  const size_t capacity = line.size() + simdjson::SIMDJSON_PADDING;
  std::unique_ptr<char[]> padded = std::make_unique<char[]>(capacity);
  std::memcpy(padded.get(), line.data(), line.size());
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded.get(), line.size(), capacity).get(doc) != simdjson::SUCCESS) {
    return false;
  }
  od::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return false;
  std::string id;
  std::string secret;
  bool have_id = false;
  bool have_secret = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return false;
    std::string_view text;
    if (field.value().get_string().get(text) != simdjson::SUCCESS) return false;
    if (key == "vehicle_id" && !have_id) {
      id.assign(text);
      have_id = true;
    } else if (key == "secret" && !have_secret) {
      secret.assign(text);
      have_secret = true;
    } else {
      return false;  // another member, or one of them twice
    }
  }
  // Trailing content after the object (as JsonLineParser checks it).
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return false;
  const bool ok = have_id && have_secret && Accept(id, secret, auth);
  std::fill(secret.begin(), secret.end(), '\0');
  return ok;
}

}  // namespace

bool IsValidSecret(std::string_view secret) {
  if (secret.empty() || secret.size() > kMaxSecretLength) return false;
  for (char c : secret) {
    if (!kSecretChars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool ParseAuthLine(std::string_view line, AuthLine* auth) {
  line = TrimTrailing(line);
  if (line.empty()) return false;
  switch (line[0]) {
    case '$':
      return ParsePfsid(line, auth);
    case '{':
      return ParseJson(line, auth);
    default:
      return ParseCsv(line, auth);
  }
}

}  // namespace fixstream::ingest
