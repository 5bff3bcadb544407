// Helpers for the C++ client's tests: the live txgate they run against, the
// MariaDB behind it, and running txgate-cli.
//
// Live tests need TXGATE_ADDR (a running txgate) and, to kill its sessions,
// TXGATE_TEST_DB_DIR (its MariaDB, administered through
// deploy/local/mariadb.sh); tests/clients/run.sh sets both. Without
// TXGATE_ADDR the live tests skip and only the offline ones run; with it,
// nothing skips.
#ifndef TXGATE_TESTS_CLIENTS_CPP_TEST_ENV_H_
#define TXGATE_TESTS_CLIENTS_CPP_TEST_ENV_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace txgate::client::testing {

// $TXGATE_ADDR, or empty.
std::string LiveAddr();

// Skips the calling test when there is no live txgate.
#define TXGATE_REQUIRE_LIVE()                                 \
  do {                                                        \
    if (::txgate::client::testing::LiveAddr().empty()) {      \
      GTEST_SKIP() << "TXGATE_ADDR not set (no live txgate)"; \
    }                                                         \
  } while (0)

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with `input` as its stdin, and collects its output.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "");

// Runs SQL as MariaDB's admin (deploy/local/mariadb.sh sql
// $TXGATE_TEST_DB_DIR); returns the non-empty output lines.
absl::StatusOr<std::vector<std::string>> AdminSql(const std::string& sql);

// KILL CONNECTION for every session of user txgate; waits until all are gone.
// Returns how many there were (at least one, or an error).
absl::StatusOr<int> KillTxgateSessions();

}  // namespace txgate::client::testing

#endif  // TXGATE_TESTS_CLIENTS_CPP_TEST_ENV_H_
