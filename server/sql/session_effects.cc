#include "server/sql/session_effects.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "server/sql/lexer.h"

namespace txgate::sql {
namespace {

using WordSet = absl::flat_hash_set<absl::string_view>;

// Statements that are trusted to leave nothing behind when everything in
// them is plain too.
const WordSet& PlainStatements() {
  static const auto* set =
      new WordSet{"SELECT", "INSERT", "UPDATE",   "DELETE", "REPLACE", "WITH", "VALUES",
                  "TABLE",  "SHOW",   "DESCRIBE", "DESC",   "EXPLAIN", "HELP"};
  return *set;
}

// Keywords that may stand before a parenthesis without being a function.
const WordSet& KeywordsBeforeParen() {
  static const auto* set = new WordSet{"IN",
                                       "EXISTS",
                                       "ANY",
                                       "ALL",
                                       "SOME",
                                       "OVER",
                                       "USING",
                                       "AS",
                                       "ON",
                                       "AND",
                                       "OR",
                                       "NOT",
                                       "XOR",
                                       "WHERE",
                                       "SELECT",
                                       "FROM",
                                       "JOIN",
                                       "BY",
                                       "SET",
                                       "WHEN",
                                       "THEN",
                                       "ELSE",
                                       "BETWEEN",
                                       "LIKE",
                                       "IS",
                                       "RETURNING",
                                       "DISTINCT",
                                       "DISTINCTROW",
                                       "ROW",
                                       "CASE",
                                       "INDEX",
                                       "KEY",
                                       "PARTITION",
                                       "GROUP",
                                       "HAVING",
                                       "LIMIT",
                                       "OFFSET",
                                       "UNION",
                                       "EXCEPT",
                                       "INTERSECT",
                                       "WITH",
                                       "RECURSIVE",
                                       "LATERAL",
                                       "ESCAPE",
                                       "REGEXP",
                                       "RLIKE",
                                       "DIV",
                                       "WINDOW",
                                       "ROWS",
                                       "RANGE",
                                       "AGAINST",
                                       "COLUMNS",
                                       "PATH",
                                       "NESTED",
                                       "TO",
                                       "FOR",
                                       "OF",
                                       "INTO",
                                       "TABLE",
                                       "UPDATE",
                                       "DELETE",
                                       "INSERT",
                                       "REPLACE",
                                       "IGNORE",
                                       "FORCE",
                                       "USE",
                                       "STRAIGHT_JOIN",
                                       "LEFT",
                                       "RIGHT",
                                       "INNER",
                                       "OUTER",
                                       "CROSS",
                                       "NATURAL",
                                       "ORDER",
                                       "ASC",
                                       "DESC",
                                       "ESCAPED",
                                       "AT",
                                       "TIME",
                                       "ZONE",
                                       "DAY",
                                       "HOUR",
                                       "MINUTE",
                                       "SECOND",
                                       "MONTH",
                                       "YEAR",
                                       "WEEK",
                                       "QUARTER",
                                       "MICROSECOND"};
  return *set;
}

// Built-in functions that neither read nor change session state. Anything
// else called like a function (a stored function, GET_LOCK, NEXTVAL,
// LAST_INSERT_ID, ...) makes the statement not plain.
const WordSet& PureFunctions() {
  static const auto* set = new WordSet{
      // Aggregates and window functions.
      "COUNT", "SUM", "MIN", "MAX", "AVG", "GROUP_CONCAT", "STD", "STDDEV", "STDDEV_POP",
      "STDDEV_SAMP", "VARIANCE", "VAR_POP", "VAR_SAMP", "BIT_AND", "BIT_OR", "BIT_XOR",
      "JSON_ARRAYAGG", "JSON_OBJECTAGG", "ROW_NUMBER", "RANK", "DENSE_RANK", "PERCENT_RANK",
      "CUME_DIST", "NTILE", "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE", "NTH_VALUE", "MEDIAN",
      "PERCENTILE_CONT", "PERCENTILE_DISC",
      // Control flow and casts (and the type names inside CAST).
      "IF", "IFNULL", "NULLIF", "COALESCE", "GREATEST", "LEAST", "ISNULL", "NVL", "NVL2", "CAST",
      "CONVERT", "CHAR", "VARCHAR", "NCHAR", "BINARY", "VARBINARY", "DECIMAL", "DEC", "NUMERIC",
      "FIXED", "FLOAT", "DOUBLE", "INT", "INTEGER", "SIGNED", "UNSIGNED", "DATETIME", "TIMESTAMP",
      "DATE", "TIME", "BIT", "INTERVAL", "MATCH", "VALUES", "VALUE", "DEFAULT",
      // Strings.
      "CONCAT", "CONCAT_WS", "LENGTH", "CHAR_LENGTH", "CHARACTER_LENGTH", "OCTET_LENGTH",
      "BIT_LENGTH", "LOWER", "LCASE", "UPPER", "UCASE", "SUBSTRING", "SUBSTR", "MID", "LEFT",
      "RIGHT", "TRIM", "LTRIM", "RTRIM", "LPAD", "RPAD", "REPLACE", "REPEAT", "REVERSE", "LOCATE",
      "POSITION", "INSTR", "FIELD", "FIND_IN_SET", "ELT", "FORMAT", "HEX", "UNHEX", "ASCII", "ORD",
      "SPACE", "STRCMP", "SOUNDEX", "QUOTE", "SUBSTRING_INDEX", "REGEXP_REPLACE", "REGEXP_INSTR",
      "REGEXP_SUBSTR", "MAKE_SET", "EXPORT_SET", "BIN", "OCT", "CONV", "TO_BASE64", "FROM_BASE64",
      "MD5", "SHA1", "SHA", "SHA2", "CRC32", "COMPRESS", "UNCOMPRESS", "UNCOMPRESSED_LENGTH",
      "CHARSET", "COLLATION", "COERCIBILITY", "WEIGHT_STRING", "NATURAL_SORT_KEY", "SFORMAT",
      // Numbers.
      "ABS", "CEIL", "CEILING", "FLOOR", "ROUND", "TRUNCATE", "MOD", "POW", "POWER", "SQRT", "EXP",
      "LN", "LOG", "LOG2", "LOG10", "SIGN", "PI", "SIN", "COS", "TAN", "ASIN", "ACOS", "ATAN",
      "ATAN2", "COT", "DEGREES", "RADIANS", "RAND", "BIT_COUNT",
      // Dates and times.
      "NOW", "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "CURDATE", "CURTIME", "SYSDATE",
      "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP", "YEAR", "MONTH",
      "DAY", "DAYOFMONTH", "DAYOFWEEK", "DAYOFYEAR", "WEEKDAY", "WEEK", "WEEKOFYEAR", "YEARWEEK",
      "HOUR", "MINUTE", "SECOND", "MICROSECOND", "QUARTER", "MONTHNAME", "DAYNAME", "DATE_ADD",
      "DATE_SUB", "ADDDATE", "SUBDATE", "ADDTIME", "SUBTIME", "DATEDIFF", "TIMEDIFF",
      "TIMESTAMPADD", "TIMESTAMPDIFF", "DATE_FORMAT", "TIME_FORMAT", "STR_TO_DATE", "FROM_UNIXTIME",
      "UNIX_TIMESTAMP", "FROM_DAYS", "TO_DAYS", "TO_SECONDS", "SEC_TO_TIME", "TIME_TO_SEC",
      "MAKEDATE", "MAKETIME", "LAST_DAY", "PERIOD_ADD", "PERIOD_DIFF", "EXTRACT", "CONVERT_TZ",
      "GET_FORMAT",
      // JSON.
      "JSON_OBJECT", "JSON_ARRAY", "JSON_EXTRACT", "JSON_VALUE", "JSON_QUERY", "JSON_UNQUOTE",
      "JSON_QUOTE", "JSON_CONTAINS", "JSON_CONTAINS_PATH", "JSON_KEYS", "JSON_LENGTH", "JSON_DEPTH",
      "JSON_TYPE", "JSON_VALID", "JSON_SET", "JSON_INSERT", "JSON_REPLACE", "JSON_REMOVE",
      "JSON_MERGE", "JSON_MERGE_PATCH", "JSON_MERGE_PRESERVE", "JSON_ARRAY_APPEND",
      "JSON_ARRAY_INSERT", "JSON_SEARCH", "JSON_COMPACT", "JSON_DETAILED", "JSON_LOOSE",
      "JSON_EXISTS", "JSON_TABLE", "JSON_OVERLAPS", "JSON_EQUALS", "JSON_NORMALIZE",
      // Identity and the rest that reads no session state of a caller's.
      "UUID", "UUID_SHORT", "SYS_GUID", "INET_ATON", "INET_NTOA", "INET6_ATON", "INET6_NTOA",
      "IS_IPV4", "IS_IPV6", "DATABASE", "SCHEMA", "USER", "CURRENT_USER", "SESSION_USER",
      "SYSTEM_USER", "VERSION", "CONNECTION_ID", "SLEEP", "BENCHMARK", "IS_FREE_LOCK",
      "IS_USED_LOCK", "COLUMN_GET", "COLUMN_CREATE", "COLUMN_JSON", "COLUMN_LIST", "COLUMN_EXISTS",
      "COLUMN_ADD", "COLUMN_DELETE"};
  return *set;
}

// Words that read what the previous statement on the session left.
const WordSet& LeftoverReaders() {
  static const auto* set = new WordSet{"LAST_INSERT_ID", "FOUND_ROWS", "ROW_COUNT", "LASTVAL"};
  return *set;
}

const WordSet& LeftoverVariables() {
  static const auto* set =
      new WordSet{"WARNING_COUNT", "ERROR_COUNT", "LAST_INSERT_ID", "IDENTITY", "INSERT_ID"};
  return *set;
}

// Words after which `name (` names a table and its column list.
const WordSet& BeforeTableName() {
  static const auto* set =
      new WordSet{"INTO",         "INSERT",        "REPLACE", "IGNORE",    "DELAYED",
                  "LOW_PRIORITY", "HIGH_PRIORITY", "WITH",    "RECURSIVE", "TABLE"};
  return *set;
}

bool IsWord(const std::vector<Token>& t, size_t i, absl::string_view word) {
  return i < t.size() && t[i].kind == Tok::kWord && t[i].text == word;
}

}  // namespace

SessionEffects SessionEffectsOf(absl::string_view sql) {
  const std::vector<Token> t = Lex(sql);
  SessionEffects e;
  size_t first_at = 0;
  while (first_at < t.size() &&
         (t[first_at].kind == Tok::kLParen || t[first_at].kind == Tok::kVersioned)) {
    ++first_at;
  }
  const std::string first =
      first_at < t.size() && t[first_at].kind == Tok::kWord ? t[first_at].text : "";
  if (first.empty()) return e;  // empty: nothing runs
  e.leaves_state = !PlainStatements().contains(first);
  e.reads_leftovers =
      first == "CALL" || (first == "GET" && IsWord(t, first_at + 1, "DIAGNOSTICS")) ||
      (first == "SHOW" && (IsWord(t, first_at + 1, "WARNINGS") ||
                           IsWord(t, first_at + 1, "ERRORS") || IsWord(t, first_at + 1, "COUNT")));
  for (size_t i = 0; i < t.size(); ++i) {
    const Token& tok = t[i];
    switch (tok.kind) {
      case Tok::kUserVar:
        e.leaves_state = true;
        break;
      case Tok::kVersioned:
        // The server may run either text: assume the worst of both.
        e.leaves_state = true;
        e.reads_leftovers = true;
        break;
      case Tok::kSysVar:
        if (LeftoverVariables().contains(tok.text)) e.reads_leftovers = true;
        break;
      case Tok::kWord:
      case Tok::kQuotedName: {
        if (tok.kind == Tok::kWord) {
          if (LeftoverReaders().contains(tok.text)) e.reads_leftovers = true;
          // Sequences: NEXT VALUE FOR s changes LASTVAL; PREVIOUS VALUE FOR reads it.
          if (tok.text == "NEXT" && IsWord(t, i + 1, "VALUE")) e.leaves_state = true;
          if (tok.text == "PREVIOUS" && IsWord(t, i + 1, "VALUE")) e.reads_leftovers = true;
        }
        if (i + 1 >= t.size() || t[i + 1].kind != Tok::kLParen) break;
        // `name (`: a function call, unless a keyword or a table's column list.
        const bool qualified = i >= 2 && t[i - 1].kind == Tok::kDot;
        const size_t before = qualified ? i - 2 : i;
        if (before >= 1 && t[before - 1].kind == Tok::kWord &&
            BeforeTableName().contains(t[before - 1].text)) {
          break;
        }
        if (tok.kind == Tok::kWord && !qualified &&
            (KeywordsBeforeParen().contains(tok.text) || PureFunctions().contains(tok.text))) {
          break;
        }
        // A stored function, or a built-in that touches the session: it
        // may leave state and read what earlier statements left.
        e.leaves_state = true;
        e.reads_leftovers = true;
        break;
      }
      default:
        break;
    }
  }
  return e;
}

std::string FirstKeyword(absl::string_view sql) {
  for (const Token& t : Lex(sql, 8)) {
    if (t.kind == Tok::kLParen || t.kind == Tok::kVersioned) continue;
    if (t.kind != Tok::kWord) break;
    return t.text.substr(0, 16);
  }
  return "";
}

}  // namespace txgate::sql
