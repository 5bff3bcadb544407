#include "server/sql/statement_kind.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace txgate::sql {
namespace {

// Skips whitespace, `-- `, `#` and `/* */` comments and opening parentheses.
// Returns false when an executable comment (`/*!` or `/*M!`) starts.
bool SkipNoise(absl::string_view sql, size_t& i) {
  while (i < sql.size()) {
    const char c = sql[i];
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '(') {
      ++i;
    } else if (c == '#' ||
               (sql.substr(i, 2) == "--" &&
                (i + 2 == sql.size() || static_cast<unsigned char>(sql[i + 2]) <= ' '))) {
      // "--" starts a comment when a space or control character follows.
      const size_t nl = sql.find('\n', i);
      i = nl == absl::string_view::npos ? sql.size() : nl + 1;
    } else if (sql.substr(i, 2) == "/*") {
      if (sql.substr(i, 3) == "/*!" || sql.substr(i, 4) == "/*M!") return false;
      const size_t end = sql.find("*/", i + 2);
      i = end == absl::string_view::npos ? sql.size() : end + 2;
    } else {
      break;
    }
  }
  return true;
}

std::string NextWord(absl::string_view sql, size_t& i) {
  if (!SkipNoise(sql, i)) return "/*!";
  const size_t start = i;
  while (i < sql.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_')) {
    ++i;
  }
  return absl::AsciiStrToUpper(sql.substr(start, i - start));
}

// True if `upper` (the statement upper-cased) contains `word` as a whole word.
bool HasWord(absl::string_view upper, absl::string_view word) {
  size_t pos = 0;
  while ((pos = upper.find(word, pos)) != absl::string_view::npos) {
    const bool left = pos == 0 || !absl::ascii_isalnum(static_cast<unsigned char>(upper[pos - 1]));
    const size_t end = pos + word.size();
    const bool right =
        end >= upper.size() || !absl::ascii_isalnum(static_cast<unsigned char>(upper[end]));
    if (left && right && (pos == 0 || upper[pos - 1] != '_') &&
        (end >= upper.size() || upper[end] != '_')) {
      return true;
    }
    pos = end;
  }
  return false;
}

}  // namespace

namespace {

StatementKind ClassifyKind(absl::string_view sql) {
  StatementKind kind;
  size_t i = 0;
  const std::string first = NextWord(sql, i);
  if (first.empty()) {
    kind.empty = i >= sql.size();
    return kind;  // leading punctuation: unknown, treated as a write
  }
  if (first == "/*!") {
    kind.implicit_commit = true;
    return kind;
  }
  const std::string second = NextWord(sql, i);
  if (first == "SELECT" || first == "SHOW" || first == "DESCRIBE" || first == "DESC" ||
      first == "EXPLAIN" || first == "HELP" || first == "VALUES" || first == "TABLE") {
    const std::string upper = absl::AsciiStrToUpper(sql);
    // SELECT ... INTO writes a file or variables; locking reads take locks
    // whose release must not be assumed; EXPLAIN of a write is still a read.
    kind.read_only = first == "SHOW" ||
                     (!HasWord(upper, "INTO") && !HasWord(upper, "FOR") && !HasWord(upper, "LOCK"));
    kind.locking_read = !kind.read_only && !HasWord(upper, "INTO");
    return kind;
  }
  static constexpr absl::string_view kImplicitCommit[] = {
      "ALTER",     "CREATE",   "DROP",   "RENAME",  "TRUNCATE", "GRANT", "REVOKE", "LOCK",
      "UNLOCK",    "BEGIN",    "START",  "COMMIT",  "XA",       "FLUSH", "RESET",  "INSTALL",
      "UNINSTALL", "OPTIMIZE", "REPAIR", "ANALYZE", "CHECK",    "CACHE", "LOAD",   "USE",
      "SHUTDOWN",  "BACKUP",   "CHANGE", "PURGE",   "KILL"};
  for (absl::string_view w : kImplicitCommit) {
    if (first == w) {
      // LOAD DATA is an ordinary write for InnoDB; LOAD INDEX commits.
      kind.implicit_commit = !(first == "LOAD" && second == "DATA");
      return kind;
    }
  }
  if (first == "ROLLBACK") {
    // ROLLBACK [WORK] TO SAVEPOINT keeps the transaction open; plain
    // ROLLBACK ends it.
    const std::string third = second == "WORK" ? NextWord(sql, i) : second;
    kind.implicit_commit = third != "TO";
    return kind;
  }
  if (first == "SET") {
    // SET autocommit=1 commits; SET TRANSACTION changes the next transaction;
    // SET PASSWORD is DDL. Other SETs (variables) are session state.
    const std::string upper = absl::AsciiStrToUpper(sql);
    kind.implicit_commit = HasWord(upper, "AUTOCOMMIT") || second == "TRANSACTION" ||
                           second == "PASSWORD" || second == "ROLE" || second == "DEFAULT";
    return kind;
  }
  return kind;
}

}  // namespace

StatementKind ClassifyStatement(absl::string_view sql) {
  StatementKind kind = ClassifyKind(sql);
  if (!kind.empty) kind.session = SessionEffectsOf(sql);
  return kind;
}

}  // namespace txgate::sql
