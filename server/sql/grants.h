// Reading an account's grants (the rows of MariaDB's SHOW GRANTS) to prove
// that it can only read.
//
// txgate runs read-only tokens on a second database account; at start it
// refuses to serve unless every grant of that account is USAGE, SELECT or
// SHOW VIEW. Anything else can write or escape: EXECUTE (a SQL SECURITY
// DEFINER routine writes with its definer's rights), FILE (INTO OUTFILE,
// LOAD_FILE), PROCESS, SUPER and the other administrative privileges,
// CREATE TEMPORARY TABLES, WITH GRANT OPTION, PROXY, and roles (their
// privileges are not on the lines read). SELECT on every database (*.*) or
// on the `mysql` schema is refused too: it reads the server's password
// hashes.
#ifndef TXGATE_SERVER_SQL_GRANTS_H_
#define TXGATE_SERVER_SQL_GRANTS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace txgate::sql {

// What one SHOW GRANTS line gives beyond reading, each item naming the
// privilege and where it applies, e.g. "INSERT ON `txgate`.*", "GRANT
// OPTION ON `txgate`.*", "role `admin`", "EXECUTE ON PROCEDURE `db`.`p`".
// Empty when the line grants only reading. A line that cannot be parsed is
// one item saying so (an account that cannot be verified is refused). The
// items never hold the line's password hash.
std::vector<std::string> NonReadGrants(absl::string_view line);

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_GRANTS_H_
