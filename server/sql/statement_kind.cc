#include "server/sql/statement_kind.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "server/sql/lexer.h"

namespace txgate::sql {
namespace {

using WordSet = absl::flat_hash_set<absl::string_view>;

// Leading keywords of statements that commit implicitly, end the
// transaction, or cannot run inside one (MariaDB's "SQL statements that
// cause an implicit commit", plus transaction control and XA).
const WordSet& ImplicitCommitStatements() {
  static const auto* set = new WordSet{
      "ALTER",  "CREATE",    "DROP",     "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK",
      "UNLOCK", "BEGIN",     "START",    "COMMIT", "XA",       "FLUSH", "RESET",  "INSTALL",
      "STOP",   "UNINSTALL", "OPTIMIZE", "REPAIR", "ANALYZE",  "CHECK", "CACHE",  "LOAD",
      "USE",    "SHUTDOWN",  "BACKUP",   "CHANGE", "PURGE",    "KILL",  "BINLOG", "RELEASE"};
  return *set;
}

const WordSet& ReadStatements() {
  static const auto* set =
      new WordSet{"SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "HELP", "VALUES", "TABLE"};
  return *set;
}

bool HasWord(const std::vector<Token>& t, size_t from, absl::string_view word) {
  for (size_t i = from; i < t.size(); ++i) {
    if (t[i].kind == Tok::kWord && t[i].text == word) return true;
  }
  return false;
}

absl::string_view WordAt(const std::vector<Token>& t, size_t i) {
  return i < t.size() && t[i].kind == Tok::kWord ? absl::string_view(t[i].text) : "";
}

StatementKind ClassifyKind(absl::string_view sql, int depth) {
  StatementKind kind;
  const std::vector<Token> t = Lex(sql);
  size_t at = 0;
  while (at < t.size() && t[at].kind == Tok::kLParen) ++at;
  if (t.empty()) {
    kind.empty = true;
    return kind;
  }
  for (const Token& tok : t) {
    // Whether the server runs a versioned comment's inside depends on its
    // version: the statement may be either text. Treat it as opaque.
    if (tok.kind == Tok::kVersioned) {
      kind.opaque = true;
      kind.implicit_commit = true;
      return kind;
    }
  }
  const absl::string_view first = WordAt(t, at);
  const absl::string_view second = WordAt(t, at + 1);
  if (first.empty()) return kind;  // leading punctuation: unknown, treated as a write
  if (ReadStatements().contains(first)) {
    // SELECT ... INTO writes a file or variables; locking reads take locks
    // whose release must not be assumed; EXPLAIN of a write is still a read.
    const bool into = HasWord(t, at, "INTO");
    kind.read_only =
        first == "SHOW" || (!into && !HasWord(t, at, "FOR") && !HasWord(t, at, "LOCK"));
    kind.locking_read = !kind.read_only && !into;
    return kind;
  }
  if (ImplicitCommitStatements().contains(first)) {
    // LOAD DATA is an ordinary write for InnoDB (LOAD INDEX commits);
    // RELEASE SAVEPOINT keeps the transaction (COMMIT ... RELEASE does not).
    kind.implicit_commit =
        !(first == "LOAD" && second == "DATA") && !(first == "RELEASE" && second == "SAVEPOINT");
    return kind;
  }
  if (first == "ROLLBACK") {
    // ROLLBACK [WORK] TO [SAVEPOINT] keeps the transaction open; plain
    // ROLLBACK ends it.
    const absl::string_view next = second == "WORK" ? WordAt(t, at + 2) : second;
    kind.implicit_commit = next != "TO";
    return kind;
  }
  if (first == "EXECUTE") {
    // EXECUTE stmt / EXECUTE IMMEDIATE 'sql': runs SQL txgate cannot see
    // (it may be COMMIT or DDL).
    kind.opaque = true;
    kind.implicit_commit = true;
    return kind;
  }
  if (first == "CALL") {
    // A procedure may COMMIT or run DDL inside: only a transaction the
    // server guards (XA) can run it safely.
    kind.calls_procedure = true;
    return kind;
  }
  if (first == "SET") {
    if (second == "STATEMENT") {
      // SET STATEMENT var = value [, ...] FOR <statement>: what the inner
      // statement is, is what this one is.
      for (size_t i = at + 2; i < t.size(); ++i) {
        if ((t[i].kind == Tok::kWord || t[i].kind == Tok::kSysVar) && t[i].text == "AUTOCOMMIT") {
          break;  // not allowed in SET STATEMENT; if it were, it would commit
        }
        if (t[i].kind == Tok::kWord && t[i].text == "FOR" && depth < 4) {
          StatementKind inner = ClassifyKind(sql.substr(t[i].end), depth + 1);
          inner.empty = false;
          return inner;
        }
      }
      kind.implicit_commit = true;  // no FOR: not a statement txgate understands
      return kind;
    }
    // SET autocommit=1 commits; SET TRANSACTION changes the next
    // transaction; SET PASSWORD is DDL; SET ROLE / DEFAULT ROLE change
    // privileges. Other SETs (variables) are session state.
    bool autocommit = false;
    for (size_t i = at; i < t.size(); ++i) {
      autocommit = autocommit || ((t[i].kind == Tok::kWord || t[i].kind == Tok::kSysVar) &&
                                  t[i].text == "AUTOCOMMIT");
    }
    kind.implicit_commit = autocommit || second == "TRANSACTION" || second == "PASSWORD" ||
                           second == "ROLE" || second == "DEFAULT";
    return kind;
  }
  return kind;
}

}  // namespace

StatementKind ClassifyStatement(absl::string_view sql) {
  StatementKind kind = ClassifyKind(sql, 0);
  if (!kind.empty) kind.session = SessionEffectsOf(sql);
  return kind;
}

}  // namespace txgate::sql
