// Session effects: what a statement may do to the MySQL/MariaDB session it
// runs on, beyond its result, from its text.
//
// The pool hands one session to many callers, so the state a statement can
// leave behind must be reset before the next caller (README, "Session
// state"). The server reports much of it (session state tracking), but not
// all: named locks (GET_LOCK), user variables assigned inside a SELECT
// (`@x := 1`, `SELECT ... INTO @x`), procedure OUT parameters, global read
// and backup locks, HANDLER cursors, sequences' session values and result
// sets' state changes go unreported. So the rule here is conservative and
// structural, not a list of dangerous keywords: only a *plain* statement —
// SELECT, INSERT, UPDATE, DELETE, REPLACE, WITH, VALUES, TABLE, SHOW,
// DESCRIBE, EXPLAIN, using no user variable and calling no function outside
// a list of built-in functions that touch no session state — is trusted to
// leave nothing; anything else resets the session after the call.
//
// Separately, some statements read what the *previous* statement left on
// the session: LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT(), warnings and
// diagnostics, a sequence's LASTVAL. Plain statements leave those behind
// (every INSERT sets LAST_INSERT_ID), so such a reader starts on a session
// no other call used since its reset.
//
// The lexer skips comments and quoted strings and identifiers, and reads the
// inside of executable comments (`/*! ... */`, `/*M! ... */`) as code.
#ifndef TXGATE_SERVER_SQL_SESSION_EFFECTS_H_
#define TXGATE_SERVER_SQL_SESSION_EFFECTS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace txgate::sql {

struct SessionEffects {
  // May leave state on the session: reset it after the call.
  bool leaves_state = false;
  // Reads what an earlier statement left: run it on a session that no
  // other call used since its last reset.
  bool reads_leftovers = false;
};

SessionEffects SessionEffectsOf(absl::string_view sql);

// The statement's leading keyword in upper case (at most 16 characters),
// read by the same lexer: comments skipped, executable comments read as
// code, leading parentheses skipped; empty if it starts otherwise.
std::string FirstKeyword(absl::string_view sql);

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_SESSION_EFFECTS_H_
