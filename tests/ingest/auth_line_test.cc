#include "ingest/auth_line.h"

#include <string>

#include "gtest/gtest.h"

namespace fixstream::ingest {
namespace {

AuthLine Parsed(std::string_view line) {
  AuthLine auth;
  EXPECT_TRUE(ParseAuthLine(line, &auth)) << line;
  return auth;
}

bool Rejected(std::string_view line) {
  AuthLine auth;
  return !ParseAuthLine(line, &auth);
}

TEST(AuthLineTest, ReadsTheThreeForms) {
  for (const std::string line :
       {"$PFSID,bus-7,s3cr3t", "AUTH,bus-7,s3cr3t", R"({"vehicle_id":"bus-7","secret":"s3cr3t"})",
        R"({"secret":"s3cr3t","vehicle_id":"bus-7"})",
        R"({  "vehicle_id" : "bus-7" ,  "secret" : "s3cr3t"  }  )"}) {
    const AuthLine auth = Parsed(line);
    EXPECT_EQ(auth.vehicle_id, "bus-7") << line;
    EXPECT_EQ(auth.secret, "s3cr3t") << line;
  }
}

TEST(AuthLineTest, ChecksTheNmeaChecksumWhenPresent) {
  // XOR of "PFSID,bus-7,s3cr3t".
  uint8_t sum = 0;
  for (char c : std::string_view("PFSID,bus-7,s3cr3t")) sum ^= static_cast<uint8_t>(c);
  char hex[3];
  std::snprintf(hex, sizeof hex, "%02X", sum);
  EXPECT_EQ(Parsed(std::string("$PFSID,bus-7,s3cr3t*") + hex).secret, "s3cr3t");
  const char wrong[3] = {hex[0], hex[1] == '0' ? '1' : '0', '\0'};
  EXPECT_TRUE(Rejected(std::string("$PFSID,bus-7,s3cr3t*") + wrong));
}

TEST(AuthLineTest, IgnoresTrailingCarriageReturnAndBlanks) {
  EXPECT_EQ(Parsed("AUTH,bus-7,s3cr3t\r").secret, "s3cr3t");
  EXPECT_EQ(Parsed("$PFSID,bus-7,s3cr3t \t\r").secret, "s3cr3t");
}

TEST(AuthLineTest, SecretsCarryHexBase64AndBase64Url) {
  EXPECT_EQ(Parsed("AUTH,v,0123456789abcdefABCDEF").secret, "0123456789abcdefABCDEF");
  EXPECT_EQ(Parsed("AUTH,v,q+/9Zm9v==").secret, "q+/9Zm9v==");
  EXPECT_EQ(Parsed("AUTH,v,q-_9~Zm9v.").secret, "q-_9~Zm9v.");
  // An encoder that escapes slashes writes "\/": JSON says it is "/".
  EXPECT_EQ(Parsed(R"({"vehicle_id":"v","secret":"a\/b"})").secret, "a/b");
  EXPECT_TRUE(IsValidSecret(std::string(kMaxSecretLength, 'x')));
  EXPECT_FALSE(IsValidSecret(std::string(kMaxSecretLength + 1, 'x')));
}

TEST(AuthLineTest, RejectsWhatIsNotAnAuthenticationLine) {
  for (const std::string line : {
           "",
           "AUTH",
           "AUTH,",
           "AUTH,bus-7",
           "AUTH,bus-7,",                           // empty secret
           "AUTH,,s3cr3t",                          // empty id
           "AUTH,bus 7,s3cr3t",                     // id outside the vehicle id alphabet
           "AUTH,bus-7,s3c,r3t",                    // a comma in the secret
           "AUTH,bus-7,s3c r3t",                    // a space in the secret
           "auth,bus-7,s3cr3t",                     // the keyword is upper case
           "bus-7,2024-03-01T12:00:00Z,52.5,13.4",  // a CSV record
           "$PFSID,bus-7",                          // identification without a secret
           "$PFSID,bus-7,s3cr3t,extra",
           "$GPRMC,120000,A,5230.0000,N,01324.0000,E,0.0,0.0,010324,,",
           R"({"vehicle_id":"bus-7"})",
           R"({"secret":"s3cr3t"})",
           R"({"vehicle_id":"bus-7","secret":"s3cr3t","lat":1})",       // another member
           R"({"vehicle_id":"bus-7","secret":"s3cr3t","secret":"x"})",  // twice
           R"({"vehicle_id":"bus-7","secret":7})",                      // not a string
           R"({"vehicle_id":"bus-7","secret":"s3cr3t"} x)",             // trailing content
           R"({"vehicle_id":"bus-7","secret":"s3cr3t")",                // unterminated
           R"(["bus-7","s3cr3t"])",
       }) {
    EXPECT_TRUE(Rejected(line)) << line;
  }
  EXPECT_TRUE(Rejected(std::string("AUTH,bus-7,") + std::string(kMaxSecretLength + 1, 'x')));
  EXPECT_TRUE(Rejected(std::string("AUTH,") + std::string(65, 'v') + ",s3cr3t"));
}

}  // namespace
}  // namespace fixstream::ingest
