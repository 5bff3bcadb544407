#include "server/sql/grants.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace txgate::sql {
namespace {

// A token of a GRANT line: a word, a quoted name or string (quotes kept),
// or one of , ( ).
struct Token {
  std::string text;
  bool quoted = false;
  size_t begin = 0;  // offset in the line
  size_t end = 0;
};

// Splits `line` into tokens; false on an unterminated quote.
bool Tokenize(absl::string_view line, std::vector<Token>* out) {
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.begin = i;
    if (c == '`' || c == '\'' || c == '"') {
      t.quoted = true;
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= line.size()) return false;
        if (line[j] == '\\' && c != '`') {
          ++j;
          continue;
        }
        if (line[j] == c) {
          if (j + 1 < line.size() && line[j + 1] == c) {  // doubled quote
            ++j;
            continue;
          }
          break;
        }
      }
      t.end = j + 1;
    } else if (c == ',' || c == '(' || c == ')') {
      t.end = i + 1;
    } else {
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j])) &&
             line[j] != ',' && line[j] != '(' && line[j] != ')' && line[j] != '`' &&
             line[j] != '\'' && line[j] != '"') {
        ++j;
      }
      t.end = j;
    }
    t.text = std::string(line.substr(t.begin, t.end - t.begin));
    i = t.end;
    out->push_back(std::move(t));
  }
  return true;
}

bool IsWord(const Token& t, absl::string_view word) {
  return !t.quoted && absl::EqualsIgnoreCase(t.text, word);
}

// The schema an object names ("`txgate`.*" -> txgate, "*.*" -> *), after
// an optional TABLE/PROCEDURE/FUNCTION/PACKAGE [BODY] keyword.
std::string SchemaOf(absl::string_view object) {
  for (absl::string_view kind :
       {"TABLE ", "PROCEDURE ", "FUNCTION ", "PACKAGE BODY ", "PACKAGE "}) {
    if (absl::StartsWithIgnoreCase(object, kind)) {
      object.remove_prefix(kind.size());
      break;
    }
  }
  object = absl::StripAsciiWhitespace(object);
  if (absl::StartsWith(object, "*")) return "*";
  if (absl::StartsWith(object, "`")) {
    std::string name;
    for (size_t i = 1; i < object.size(); ++i) {
      if (object[i] == '`') {
        if (i + 1 < object.size() && object[i + 1] == '`') {
          name += '`';
          ++i;
          continue;
        }
        break;
      }
      name += object[i];
    }
    return name;
  }
  return std::string(object.substr(0, object.find('.')));
}

}  // namespace

std::vector<std::string> NonReadGrants(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  std::vector<Token> tokens;
  if (!Tokenize(line, &tokens)) return {"a grant txgate cannot parse (unterminated quote)"};
  if (tokens.size() >= 3 && IsWord(tokens[0], "SET") && IsWord(tokens[1], "DEFAULT") &&
      IsWord(tokens[2], "ROLE")) {
    return {};  // names a role whose GRANT line is refused on its own
  }
  if (tokens.empty() || !IsWord(tokens[0], "GRANT")) {
    return {"a grant txgate cannot parse (not a GRANT)"};
  }
  // GRANT <privilege [(columns)]>, ... ON <object> TO <account> [...]
  std::vector<std::string> privileges;
  std::string current;
  int depth = 0;
  size_t i = 1;
  for (; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (t.text == "(") {
      ++depth;
    } else if (t.text == ")") {
      --depth;
    } else if (depth > 0) {
      continue;  // a column list: the privilege applies to those columns
    } else if (IsWord(t, "ON") || IsWord(t, "TO")) {
      break;
    } else if (t.text == ",") {
      privileges.push_back(current);
      current.clear();
    } else {
      absl::StrAppend(&current, current.empty() ? "" : " ", absl::AsciiStrToUpper(t.text));
    }
  }
  if (!current.empty()) privileges.push_back(current);
  if (i >= tokens.size()) return {"a grant txgate cannot parse (no ON or TO)"};
  if (IsWord(tokens[i], "TO")) {
    // GRANT role TO account: the role's privileges are not on this line.
    std::vector<std::string> roles;
    for (const Token& t : tokens) {
      if (&t == &tokens[i]) break;
      if (&t != &tokens[0] && t.text != ",") roles.push_back(absl::StrCat("role ", t.text));
    }
    return roles;
  }
  const size_t object_begin = tokens[i].end;
  size_t to = i + 1;
  while (to < tokens.size() && !IsWord(tokens[to], "TO")) ++to;
  if (to >= tokens.size()) return {"a grant txgate cannot parse (no TO)"};
  const std::string object(
      absl::StripAsciiWhitespace(line.substr(object_begin, tokens[to].begin - object_begin)));
  const std::string schema = SchemaOf(object);
  std::vector<std::string> found;
  for (const std::string& privilege : privileges) {
    if (privilege == "USAGE" || privilege == "SHOW VIEW") continue;
    if (privilege == "SELECT") {
      if (schema == "*" || absl::EqualsIgnoreCase(schema, "mysql")) {
        found.push_back(
            absl::StrCat("SELECT ON ", object, " (reads the server's password hashes)"));
      }
      continue;
    }
    found.push_back(absl::StrCat(privilege, " ON ", object));
  }
  for (size_t k = to + 1; k + 1 < tokens.size(); ++k) {
    if (IsWord(tokens[k], "GRANT") && IsWord(tokens[k + 1], "OPTION")) {
      found.push_back(absl::StrCat("GRANT OPTION ON ", object));
    }
  }
  return found;
}

}  // namespace txgate::sql
