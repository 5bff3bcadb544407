#include "tests/support/certs.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace txgate::testing {

TestCertificates::TestCertificates(const std::vector<std::string>& cas,
                                   const std::vector<Leaf>& leaves) {
  char tmpl[] = "/tmp/txgate-certs.XXXXXX";
  dir_ = mkdtemp(tmpl);
  std::string script = R"(set -e
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
         -subj "/CN=$1" -keyout $1.key -out $1.crt 2>/dev/null; }
leaf() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout $1.key -out $1.csr 2>/dev/null
  printf 'subjectAltName=%s\n' "$3" > $1.ext
  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 2 \
    -extfile $1.ext -out $1.crt 2>/dev/null
}
)";
  for (const std::string& ca : cas) absl::StrAppend(&script, "ca ", ca, "\n");
  for (const Leaf& leaf : leaves) {
    absl::StrAppend(&script, "leaf ", leaf.name, " ", leaf.ca, " \"", leaf.subject_alt_name,
                    "\"\n");
  }
  {
    std::ofstream out(path("gen.sh"));
    out << script;
  }
  if (std::system(absl::StrCat("cd ", dir_, " && bash gen.sh").c_str()) != 0) {
    ADD_FAILURE() << "openssl failed making test certificates in " << dir_;
  }
}

TestCertificates::~TestCertificates() { (void)std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

std::string TestCertificates::pem(const std::string& name) const {
  std::ifstream in(path(name));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace txgate::testing
