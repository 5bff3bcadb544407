#include "cli/format.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace txgate::cli {
namespace {

using client::Value;

// The display width of UTF-8 text: its code points (continuation bytes
// do not count).
size_t Width(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

// A table cell: the value's text with line breaks and tabs escaped, so the
// table stays aligned.
std::string Cell(const Value& value) {
  std::string text = value.ToString();
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Plural(uint64_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

void WriteTable(const txgate::v1::ResultSet& result, std::ostream& out) {
  if (result.columns_size() == 0) {
    out << "Query OK, " << Plural(result.affected_rows(), "row") << " affected";
    if (result.last_insert_id() != 0) out << ", last insert id " << result.last_insert_id();
    if (result.warning_count() != 0) out << ", " << Plural(result.warning_count(), "warning");
    out << "\n";
    return;
  }
  const int ncols = result.columns_size();
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths(ncols);
  for (int c = 0; c < ncols; ++c) widths[c] = Width(result.columns(c).name());
  for (const txgate::v1::Row& row : result.rows()) {
    std::vector<std::string>& line = cells.emplace_back();
    for (int c = 0; c < ncols; ++c) {
      line.push_back(c < row.values_size() ? Cell(Value(row.values(c))) : "");
      widths[c] = std::max(widths[c], Width(line.back()));
    }
  }
  std::string rule = "+";
  for (size_t w : widths) absl::StrAppend(&rule, std::string(w + 2, '-'), "+");
  auto write_line = [&](auto&& text_of) {
    out << "|";
    for (int c = 0; c < ncols; ++c) {
      absl::string_view text = text_of(c);
      out << " " << text << std::string(widths[c] - Width(text), ' ') << " |";
    }
    out << "\n";
  };
  out << rule << "\n";
  write_line([&](int c) -> absl::string_view { return result.columns(c).name(); });
  out << rule << "\n";
  for (const std::vector<std::string>& line : cells) {
    write_line([&](int c) -> absl::string_view { return line[c]; });
  }
  out << rule << "\n";
  out << Plural(result.rows_size(), "row") << " in set";
  if (result.warning_count() != 0) out << ", " << Plural(result.warning_count(), "warning");
  out << "\n";
}

void WriteCsv(const txgate::v1::ResultSet& result, std::ostream& out) {
  if (result.columns_size() == 0) return;
  for (int c = 0; c < result.columns_size(); ++c) {
    out << (c > 0 ? "," : "") << CsvField(result.columns(c).name());
  }
  out << "\r\n";
  for (const txgate::v1::Row& row : result.rows()) {
    for (int c = 0; c < row.values_size(); ++c) {
      Value value(row.values(c));
      out << (c > 0 ? "," : "") << CsvField(value.ToString(), value.is_null());
    }
    out << "\r\n";
  }
}

// BIGINT [UNSIGNED] and BIT(n) hold values a JSON reader's double cannot
// carry exactly (beyond 2^53); smaller integer types all fit.
bool Is64BitInteger(absl::string_view type) {
  return absl::StartsWith(type, "BIGINT") || type == "BIT";
}

void WriteJson(const txgate::v1::ResultSet& result, std::ostream& out) {
  for (const txgate::v1::Row& row : result.rows()) {
    out << "{";
    for (int c = 0; c < result.columns_size() && c < row.values_size(); ++c) {
      out << (c > 0 ? "," : "") << JsonString(result.columns(c).name()) << ":"
          << JsonValue(Value(row.values(c)), Is64BitInteger(result.columns(c).type()));
    }
    out << "}\n";
  }
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "csv") return OutputFormat::kCsv;
  if (name == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format \"", name, "\" (want table, csv or json)"));
}

void WriteResult(const txgate::v1::ResultSet& result, OutputFormat format, std::ostream& out) {
  switch (format) {
    case OutputFormat::kTable:
      return WriteTable(result, out);
    case OutputFormat::kCsv:
      return WriteCsv(result, out);
    case OutputFormat::kJson:
      return WriteJson(result, out);
  }
}

std::string CsvField(absl::string_view text, bool null) {
  if (null) return "";
  if (!text.empty() && text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(text);
  }
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string JsonValue(const Value& value, bool integer_as_string) {
  const txgate::v1::Value& v = value.proto();
  switch (value.kind()) {
    case Value::Kind::kUnset:
    case Value::Kind::kNull:
      return "null";
    case Value::Kind::kInt64:
    case Value::Kind::kUint64:
    case Value::Kind::kBit:
      return integer_as_string ? JsonString(value.ToString()) : value.ToString();
    case Value::Kind::kDouble:
      if (!std::isfinite(v.double_value())) return "null";  // JSON has no NaN or infinity
      return value.ToString();
    case Value::Kind::kBool:
      return v.bool_value() ? "true" : "false";
    case Value::Kind::kBytes:
      return JsonString(absl::Base64Escape(v.bytes_value()));
    case Value::Kind::kJson:
      return v.json_value().empty() ? "null" : v.json_value();
    case Value::Kind::kString:
    case Value::Kind::kDecimal:
    case Value::Kind::kDate:
    case Value::Kind::kDateTime:
    case Value::Kind::kTime:
      return JsonString(value.ToString());
  }
  return "null";
}

}  // namespace txgate::cli
