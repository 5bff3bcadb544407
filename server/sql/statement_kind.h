// What a SQL statement is, as far as the retry rules care, from its text.
//
// The classification is conservative: a statement is a read only when its
// leading keyword says so and nothing in it can write; anything unclear is
// treated as a write (never re-run after an unknown outcome) and, inside a
// transaction, anything that may commit implicitly is refused.
#ifndef TXGATE_SERVER_SQL_STATEMENT_KIND_H_
#define TXGATE_SERVER_SQL_STATEMENT_KIND_H_

#include "absl/strings/string_view.h"
#include "server/sql/session_effects.h"

namespace txgate::sql {

struct StatementKind {
  // Empty or only comments/whitespace.
  bool empty = false;
  // Cannot change data: SELECT (without INTO or locking), SHOW, DESCRIBE,
  // EXPLAIN, and similar. Safe to re-run after a lost connection.
  bool read_only = false;
  // A SELECT that only takes locks (FOR UPDATE, FOR SHARE, LOCK IN SHARE
  // MODE): it writes nothing, so running it twice is harmless.
  bool locking_read = false;
  // Causes an implicit commit or ends the transaction (DDL, LOCK TABLES,
  // BEGIN/COMMIT/ROLLBACK text, SET autocommit, XA, SET STATEMENT ... FOR
  // one of these, EXECUTE of SQL txgate cannot see, ...); such a statement
  // would break all-or-nothing inside RunTransaction or Transaction.
  bool implicit_commit = false;
  // Runs SQL that is not in its text (EXECUTE, EXECUTE IMMEDIATE).
  bool opaque = false;
  // CALLs a stored procedure, whose body may commit; safe inside a
  // transaction only where the server refuses commits (XA).
  bool calls_procedure = false;
  // What it may do to the pooled session (session_effects.h).
  SessionEffects session;
};

// Classifies `sql` by its leading keywords (sql/lexer.h: comments and
// quoted text skipped, executable comments read as code).
StatementKind ClassifyStatement(absl::string_view sql);

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_STATEMENT_KIND_H_
