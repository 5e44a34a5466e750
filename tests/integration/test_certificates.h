// Certificates for the TLS tests, made by the `openssl` command line (Debian's
// openssl package) in a test's own directory: CAs, and leaf certificates
// signed by them for 127.0.0.1 / localhost, valid or already expired.
#ifndef FIXSTREAM_TESTS_INTEGRATION_TEST_CERTIFICATES_H_
#define FIXSTREAM_TESTS_INTEGRATION_TEST_CERTIFICATES_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace fixstream::testing {

// Thread safety: none; for a test's main thread.
class TestPki final {
 public:
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {}

  // A self-signed CA: cert(name), key(name).
  void MakeCa(const std::string& name) {
    Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                     " -keyout ", key(name), " -out ", cert(name), " -days 3 -subj /CN=", name));
  }

  // A leaf certificate for 127.0.0.1 and localhost signed by CA `ca`, valid
  // for `days` from now (negative: it expired that long ago).
  void MakeLeaf(const std::string& name, const std::string& ca, int days = 3) {
    const std::string csr = path(name + ".csr");
    const std::string ext = path(name + ".ext");
    {
      std::ofstream out(ext);
      out << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "extendedKeyUsage=serverAuth,clientAuth\n";
    }
    Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ",
                     key(name), " -out ", csr, " -subj /CN=", name));
    Run(absl::StrCat("openssl x509 -req -in ", csr, " -CA ", cert(ca), " -CAkey ", key(ca),
                     " -CAcreateserial -out ", cert(name), " -days ", days, " -extfile ", ext));
  }

  std::string path(const std::string& file) const { return absl::StrCat(dir_, "/", file); }
  std::string cert(const std::string& name) const { return path(name + ".pem"); }
  std::string key(const std::string& name) const { return path(name + ".key"); }

  static std::string Read(const std::string& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  static void Run(const std::string& command) {
    const int rc = std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str());
    ASSERT_EQ(rc, 0) << command;
  }

  const std::string dir_;
};

}  // namespace fixstream::testing

#endif  // FIXSTREAM_TESTS_INTEGRATION_TEST_CERTIFICATES_H_
