// A small SQL lexer for MySQL/MariaDB statement text: enough to see a
// statement's code words, not to parse it.
//
// It skips whitespace, `-- ` and `#` line comments, `/* */` comments and
// quoted strings and identifiers (with backslash escapes and doubled
// quotes), and reads the inside of executable comments (`/*! ... */`,
// `/*!50700 ... */`, `/*M! ... */`) as code, whatever their version: the
// server runs them, so txgate's classifiers must see them.
#ifndef TXGATE_SERVER_SQL_LEXER_H_
#define TXGATE_SERVER_SQL_LEXER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace txgate::sql {

enum class Tok {
  kWord,        // a keyword or unquoted name, upper-cased in `text`
  kQuotedName,  // a `backquoted` name
  kUserVar,     // @name, @'name'
  kSysVar,      // @@name, @@session.name, ... (`text`: NAME, scope dropped)
  kLParen,      // (
  kDot,         // .
  kVersioned,   // the start of a versioned executable comment (/*!50700, /*M!100100):
                // the server runs its inside or not, by its own version
  kOther        // a string literal, a number's pieces, any other symbol
};

struct Token {
  Tok kind;
  std::string text;  // upper-cased for words and system variables
  size_t end = 0;    // offset in the statement just after the token
};

// The code tokens of `sql`, at most `limit` of them.
std::vector<Token> Lex(absl::string_view sql, size_t limit = SIZE_MAX);

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_LEXER_H_
