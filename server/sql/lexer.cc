#include "server/sql/lexer.h"

#include "absl/strings/ascii.h"

namespace txgate::sql {
namespace {

bool IsNameChar(unsigned char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

// Skips a quoted run starting at sql[i] (the quote), honouring backslash
// escapes (not in backticks) and doubled quotes. Returns the index after it.
size_t SkipQuoted(absl::string_view sql, size_t i) {
  const char q = sql[i++];
  while (i < sql.size()) {
    if (sql[i] == '\\' && q != '`') {
      i += 2;
    } else if (sql[i] == q) {
      if (i + 1 < sql.size() && sql[i + 1] == q) {
        i += 2;
      } else {
        return i + 1;
      }
    } else {
      ++i;
    }
  }
  return sql.size();
}

}  // namespace

std::vector<Token> Lex(absl::string_view sql, size_t limit) {
  std::vector<Token> out;
  bool in_executable_comment = false;
  size_t i = 0;
  while (i < sql.size() && out.size() < limit) {
    const unsigned char c = static_cast<unsigned char>(sql[i]);
    if (absl::ascii_isspace(c)) {
      ++i;
    } else if (c == '#' ||
               (sql.substr(i, 2) == "--" &&
                (i + 2 == sql.size() || static_cast<unsigned char>(sql[i + 2]) <= ' '))) {
      const size_t nl = sql.find('\n', i);
      i = nl == absl::string_view::npos ? sql.size() : nl + 1;
    } else if (sql.substr(i, 3) == "/*!" || sql.substr(i, 4) == "/*M!") {
      // An executable comment: its inside is code (after a version number).
      i += sql[i + 2] == 'M' ? 4 : 3;
      const size_t version = i;
      while (i < sql.size() && absl::ascii_isdigit(static_cast<unsigned char>(sql[i]))) ++i;
      if (i > version) out.push_back({Tok::kVersioned, "", i});
      in_executable_comment = true;
    } else if (sql.substr(i, 2) == "/*") {
      const size_t end = sql.find("*/", i + 2);
      i = end == absl::string_view::npos ? sql.size() : end + 2;
    } else if (in_executable_comment && sql.substr(i, 2) == "*/") {
      in_executable_comment = false;
      i += 2;
    } else if (c == '\'' || c == '"') {
      i = SkipQuoted(sql, i);
      out.push_back({Tok::kOther, "", i});
    } else if (c == '`') {
      i = SkipQuoted(sql, i);
      out.push_back({Tok::kQuotedName, "", i});
    } else if (c == '@' && i + 1 < sql.size() && sql[i + 1] == '@') {
      i += 2;
      const size_t start = i;
      while (i < sql.size() && (IsNameChar(static_cast<unsigned char>(sql[i])) || sql[i] == '.')) {
        ++i;
      }
      std::string name = absl::AsciiStrToUpper(sql.substr(start, i - start));
      for (absl::string_view scope : {"SESSION.", "GLOBAL.", "LOCAL."}) {
        if (absl::string_view(name).substr(0, scope.size()) == scope) name.erase(0, scope.size());
      }
      out.push_back({Tok::kSysVar, std::move(name), i});
    } else if (c == '@') {
      ++i;
      if (i < sql.size() && (sql[i] == '\'' || sql[i] == '"' || sql[i] == '`')) {
        i = SkipQuoted(sql, i);
      } else {
        while (i < sql.size() &&
               (IsNameChar(static_cast<unsigned char>(sql[i])) || sql[i] == '.')) {
          ++i;
        }
      }
      out.push_back({Tok::kUserVar, "", i});
    } else if (IsNameChar(c)) {
      const size_t start = i;
      while (i < sql.size() && IsNameChar(static_cast<unsigned char>(sql[i]))) ++i;
      out.push_back({Tok::kWord, absl::AsciiStrToUpper(sql.substr(start, i - start)), i});
    } else {
      ++i;
      out.push_back({c == '(' ? Tok::kLParen : c == '.' ? Tok::kDot : Tok::kOther, "", i});
    }
  }
  return out;
}

}  // namespace txgate::sql
