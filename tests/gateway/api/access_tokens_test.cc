#include "gateway/api/access_tokens.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace fixstream::gateway {
namespace {

// sha256("abc"), the FIPS 180-2 example.
constexpr char kAbcDigest[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string Line(std::string_view token, std::string_view rest) {
  return absl::StrCat(TokenDigestHex(token), " ", std::string(rest), "\n");
}

TEST(TokenDigestHexTest, IsSha256InLowerCaseHex) { EXPECT_EQ(TokenDigestHex("abc"), kAbcDigest); }

TEST(TokenTableTest, FindsThePrincipalOfAToken) {
  absl::StatusOr<TokenTable> table = TokenTable::Parse(
      absl::StrCat("# comment\n\n",
                   Line("acme-token", "acme calls=Subscribe,ListVehicles vehicles=acme-*,bus-7"),
                   "  ", Line("ops-token", "ops\tcalls=*  vehicles=*"),
                   // Upper-case hex is the same digest.
                   absl::AsciiStrToUpper(TokenDigestHex("third")), " third calls= vehicles=x\r\n"),
      "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  std::shared_ptr<const Principal> acme = table->Find("acme-token");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->name, "acme");
  EXPECT_TRUE(acme->may(Call::kSubscribe));
  EXPECT_TRUE(acme->may(Call::kListVehicles));
  EXPECT_FALSE(acme->may(Call::kGetLatestPositions));
  ASSERT_NE(acme->vehicles, nullptr);
  EXPECT_TRUE(acme->vehicles->Contains("acme-9"));
  EXPECT_FALSE(acme->vehicles->Contains("other"));
  std::shared_ptr<const Principal> ops = table->Find("ops-token");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->vehicles, nullptr);  // every vehicle
  for (size_t i = 0; i < kCallCount; ++i) EXPECT_TRUE(ops->may(static_cast<Call>(i)));
  std::shared_ptr<const Principal> third = table->Find("third");
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->calls, 0u);
  EXPECT_EQ(table->Find("acme-token "), nullptr);
  EXPECT_EQ(table->Find(""), nullptr);
  EXPECT_EQ(table->Find(TokenDigestHex("acme-token")), nullptr);  // the hash is not the token
}

TEST(TokenTableTest, RejectsBadLinesNamingLineAndFieldButNotTheContent) {
  const std::string hash = TokenDigestHex("t");
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"SECRET-TOKEN-VALUE p calls=* vehicles=*\n", "tokens:1: the first field must be"},
      {absl::StrCat("\n", hash.substr(1), " p calls=* vehicles=*\n"), "tokens:2: the first field"},
      {absl::StrCat(hash, "\n"), "tokens:1: the second field must be the principal's name"},
      {absl::StrCat(hash, " bad/name calls=* vehicles=*\n"), "tokens:1: the second field"},
      {absl::StrCat(hash, " p vehicles=*\n"), "tokens:1: calls=... and vehicles=... are both"},
      {absl::StrCat(hash, " p calls=*\n"), "tokens:1: calls=... and vehicles=... are both"},
      {absl::StrCat(hash, " p calls=Subscribe,SECRETCALL vehicles=*\n"),
       "tokens:1: calls=: unknown call name"},
      {absl::StrCat(hash, " p calls=* vehicles=SECRET*X\n"),
       "tokens:1: vehicles=: vehicle pattern 1"},
      {absl::StrCat(hash, " p calls=* vehicles=\n"), "tokens:1: vehicles=: no vehicle patterns"},
      {absl::StrCat(hash, " p calls=* vehicles=* SECRET=1\n"), "tokens:1: field 5 is neither"},
      {absl::StrCat(hash, " p calls=* calls=* vehicles=*\n"), "tokens:1: calls= is given twice"},
      {absl::StrCat(hash, " p calls=* vehicles=*\n", hash, " q calls=* vehicles=*\n"),
       "tokens:2: the same token hash is on an earlier line"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TokenTable> table = TokenTable::Parse(c.text, "tokens");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_TRUE(absl::StartsWith(table.status().message(), c.expected))
        << table.status() << " vs " << c.expected;
    EXPECT_FALSE(absl::StrContains(table.status().message(), "SECRET")) << table.status();
    EXPECT_FALSE(absl::StrContains(table.status().message(), hash.substr(0, 16))) << table.status();
  }
}

TEST(ParseCallListTest, NamesAreCaseInsensitiveAndStarIsAll) {
  EXPECT_EQ(*ParseCallList(""), 0u);
  EXPECT_EQ(*ParseCallList("health,REFLECTION"),
            1u << static_cast<int>(Call::kHealth) | 1u << static_cast<int>(Call::kReflection));
  EXPECT_EQ(*ParseCallList("*"), (1u << kCallCount) - 1);
  EXPECT_FALSE(ParseCallList("Health,").ok());
  EXPECT_FALSE(ParseCallList("Subscribe,Publish").ok());
}

class TokenFileTest : public testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/token_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/tokens";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".new").c_str());
    rmdir(dir_.c_str());
  }
  // Writes a new version by rename, as operators should.
  void Write(const std::string& text) {
    {
      std::ofstream out(path_ + ".new");
      out << text;
    }
    ASSERT_EQ(std::rename((path_ + ".new").c_str(), path_.c_str()), 0);
  }
  std::string dir_;
  std::string path_;
};

TEST_F(TokenFileTest, ReloadsAChangedFileOnceItSettledAndKeepsTheOldTableOnErrors) {
  Write(Line("one", "p1 calls=* vehicles=*"));
  TokenFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  ASSERT_NE(file.table()->Find("one"), nullptr);
  std::string error;
  EXPECT_EQ(file.CheckForChange(&error), TokenFile::Change::kNone);

  Write(Line("two", "p2 calls=* vehicles=*"));
  // Seen changed once: waits for it to look the same at the next poll.
  EXPECT_EQ(file.CheckForChange(&error), TokenFile::Change::kNone);
  EXPECT_EQ(file.CheckForChange(&error), TokenFile::Change::kReloaded);
  EXPECT_EQ(file.table()->Find("one"), nullptr);
  ASSERT_NE(file.table()->Find("two"), nullptr);

  Write("not a tokens file\n");
  EXPECT_EQ(file.CheckForChange(&error), TokenFile::Change::kNone);
  EXPECT_EQ(file.CheckForChange(&error), TokenFile::Change::kFailed);
  EXPECT_TRUE(absl::StrContains(error, path_ + ":1:")) << error;
  EXPECT_NE(file.table()->Find("two"), nullptr);  // still in force
  // The same broken file is reported once.
  EXPECT_EQ(file.CheckForChange(&error), TokenFile::Change::kNone);
}

TEST_F(TokenFileTest, ReloadReadsAtOnce) {
  Write(Line("one", "p1 calls=* vehicles=*"));
  TokenFile file(path_);
  ASSERT_TRUE(file.Load().ok());
  Write(Line("two", "p2 calls=* vehicles=*"));
  std::string error;
  EXPECT_EQ(file.Reload(&error), TokenFile::Change::kReloaded);
  EXPECT_NE(file.table()->Find("two"), nullptr);
  std::remove(path_.c_str());
  EXPECT_EQ(file.Reload(&error), TokenFile::Change::kFailed);
  EXPECT_TRUE(absl::StrContains(error, "cannot read")) << error;
  EXPECT_NE(file.table()->Find("two"), nullptr);
}

TEST_F(TokenFileTest, LoadFailsOnAMissingOrBrokenFile) {
  TokenFile missing(path_);
  EXPECT_FALSE(missing.Load().ok());
  Write("x y z\n");
  TokenFile broken(path_);
  absl::Status status = broken.Load();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), ":1: the first field")) << status;
}

}  // namespace
}  // namespace fixstream::gateway
