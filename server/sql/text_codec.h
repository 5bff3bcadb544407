// TextCodec: txgate.v1.Value <-> MySQL's TEXT protocol, for the statements
// RunTransaction sends batched in one multi-statement command
// (README, "Two round trips per RunTransaction").
//
// Parameters: InlineParams() writes a statement's text with each `?`
// placeholder replaced by a SQL literal whose server-side meaning is the
// binary protocol bind's (ParamBinder in value_codec.h), or says that it
// cannot (nullopt: the statement then runs prepared, as before):
//   NULL                NULL
//   int64               5, (-5)                      (BIGINT, signed)
//   uint64 / bit        CAST(5 AS UNSIGNED)          (BIGINT UNSIGNED; after LIMIT
//                                                     or OFFSET, where only a plain
//                                                     number may stand: 5)
//   double              1.5e0, (-1.5e0)              (DOUBLE, never DECIMAL;
//                                                     shortest round-trip digits)
//   bool                1 / 0                        (as the TINYINT bind)
//   string / json       _utf8mb4 X'616263'            (the session's character set
//                       and, checked per session, its collation: what the
//                       bind gives; hex digits only, so no sql_mode
//                       (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) changes where the
//                       literal ends, and no value can end it early)
//   bytes               _binary X'00FF'               (a binary string: + 0 reads
//                                                     it as text, as the bind's)
//   decimal             1.50, (-1.50)                (DECIMAL; only plain
//                       [+-]digits[.digits] — any other text the server's
//                       own decimal parser decides: nullopt)
//   date                DATE'2024-02-29'             (nullopt for a zero or
//   datetime            TIMESTAMP'2024-02-29 01:02:03.000004'  impossible
//                       date, which only the binary bind carries as is)
//   time                TIME'-838:59:59.999999'
// The equivalence of each form with the bind is checked live, value kind by
// value kind (tests/integration/batch_test.cc).
//
// Results: TextValue() decodes one text-protocol column value into exactly
// the Value RowDecoder gives for the binary protocol; TextIdentical() says
// for which columns that holds (a FLOAT, or a FLOAT/DOUBLE with a declared
// scale, is printed rounded by the server: not identical).
#ifndef TXGATE_SERVER_SQL_TEXT_CODEC_H_
#define TXGATE_SERVER_SQL_TEXT_CODEC_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "server/sql/value_codec.h"
#include "txgate/v1/database.pb.h"

namespace txgate::sql {

// A `?` placeholder of a statement's text.
struct Placeholder {
  size_t offset = 0;      // of the `?` in the text
  bool in_limit = false;  // in a LIMIT/OFFSET clause: only a plain number may stand there
};

// The placeholders of `sql` (outside strings, quoted names and comments,
// as sql::Lex sees them), in order. The caller checks their number against
// the server's (mysql_stmt_param_count): the server's parse is the truth.
std::vector<Placeholder> Placeholders(absl::string_view sql);

// True if every placeholder of a statement that returns rows stands where
// its value cannot become a result column: after the statement's own
// (outermost) WHERE, GROUP BY, HAVING, ORDER BY or LIMIT, with no UNION,
// INTERSECT, EXCEPT or RETURNING after it. A literal in the select list
// gives its column another type, length and nullability than a bound
// parameter does (SELECT ? with 5: INT NOT NULL, length 1, as a literal;
// BIGINT, nullable, length 21 bound): such statements run prepared.
bool PlaceholdersOnlyFilter(absl::string_view sql);

// Appends the literal for `v` (see the table above); false if `v` has no
// literal with the bind's meaning. An invalid value (no kind, out of
// range) is for ParamBinder to refuse first.
bool AppendLiteral(const txgate::v1::Value& v, bool in_limit, std::string* out);

// `sql` with its placeholders (one per parameter) replaced by the literals
// of `params`; nullopt when a parameter has no literal.
std::optional<std::string> InlineParams(
    absl::string_view sql, const std::vector<Placeholder>& placeholders,
    const google::protobuf::RepeatedPtrField<txgate::v1::Value>& params);

// True if a column of this kind decodes from text to the binary protocol's
// Value exactly.
bool TextIdentical(const FieldInfo& field);

// Decodes one text-protocol value (`data` null: SQL NULL) of `field` into
// `out`; false if the text is not what the server sends for such a
// column.
bool TextValue(const FieldInfo& field, const char* data, size_t length, txgate::v1::Value* out);

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_TEXT_CODEC_H_
