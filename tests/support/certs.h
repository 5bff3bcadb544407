// TestCertificates: certificate authorities and certificates made by the
// openssl CLI in a temporary directory for one test run (ECDSA P-256, valid
// for two days), removed when the object goes.
//
//   TestCertificates certs({"ca", "otherca"},
//                          {{"server", "ca", "DNS:localhost,IP:127.0.0.1"},
//                           {"client", "ca", "DNS:client"}});
//   certs.path("server.crt");  // the file; certs.pem("ca.crt"): its PEM text
//
// Each CA NAME gives NAME.crt and NAME.key (self-signed, CN=NAME); each leaf
// gives NAME.crt (signed by its CA, with the subjectAltName given) and
// NAME.key. A failure of openssl fails the current test (ADD_FAILURE).
#ifndef TXGATE_TESTS_SUPPORT_CERTS_H_
#define TXGATE_TESTS_SUPPORT_CERTS_H_

#include <string>
#include <vector>

namespace txgate::testing {

class TestCertificates {
 public:
  struct Leaf {
    std::string name;
    std::string ca;                // the name of the CA that signs it
    std::string subject_alt_name;  // e.g. "DNS:localhost,IP:127.0.0.1"
  };

  TestCertificates(const std::vector<std::string>& cas, const std::vector<Leaf>& leaves);
  ~TestCertificates();
  TestCertificates(const TestCertificates&) = delete;
  TestCertificates& operator=(const TestCertificates&) = delete;

  // The file `name` (e.g. "server.crt") in the directory.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // Its contents.
  std::string pem(const std::string& name) const;

 private:
  std::string dir_;
};

}  // namespace txgate::testing

#endif  // TXGATE_TESTS_SUPPORT_CERTS_H_
