// Output of txgate-cli: a ResultSet as an aligned table, CSV or JSON lines.
//
// Table: MySQL-client style boxes, one line per row, columns padded to their
// widest cell (in UTF-8 code points); NULL shows as "NULL", bytes as 0x-hex,
// and a statement without columns prints "Query OK, N rows affected".
// CSV (RFC 4180): a header line of column names, then one line per row,
// lines ending in CRLF; a field holding a comma, quote, CR or LF is quoted
// with its quotes doubled; NULL is an empty unquoted field and the empty
// string a quoted "" so the two stay apart; bytes as 0x-hex.
// JSON: one object per row and line, keys the column names in order;
// BIGINT [UNSIGNED] and BIT values as strings (as proto3 JSON writes 64-bit
// integers: a JavaScript reader's double would round them beyond 2^53), the
// smaller integer types and doubles as numbers, DECIMAL as a string (exact),
// bytes as base64, JSON columns embedded as documents, dates and times as
// their text, NULL as null.
// CSV and JSON print nothing for a statement without columns.
#ifndef TXGATE_CLIENT_CPP_CLI_FORMAT_H_
#define TXGATE_CLIENT_CPP_CLI_FORMAT_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "txgate/v1/database.pb.h"
#include "txgate/value.h"

namespace txgate::cli {

enum class OutputFormat { kTable, kCsv, kJson };

// "table", "csv" or "json"; INVALID_ARGUMENT otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// Writes `result` to `out` in `format`.
void WriteResult(const txgate::v1::ResultSet& result, OutputFormat format, std::ostream& out);

// One CSV field, quoted when needed (see above); `null` gives the empty field.
std::string CsvField(absl::string_view text, bool null = false);

// A JSON string literal for UTF-8 `text`.
std::string JsonString(absl::string_view text);

// The JSON form of one value (see above); `integer_as_string` quotes an
// integer (for a BIGINT or BIT column).
std::string JsonValue(const client::Value& value, bool integer_as_string = false);

}  // namespace txgate::cli

#endif  // TXGATE_CLIENT_CPP_CLI_FORMAT_H_
