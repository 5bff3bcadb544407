#include "server/sql/text_codec.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/sql/lexer.h"

namespace txgate::sql {
namespace {

using txgate::v1::Value;

// MYSQL_FIELD.decimals of a FLOAT/DOUBLE declared without a scale.
constexpr unsigned int kNotFixedDecimals = 31;

void AppendHex(absl::string_view bytes, std::string* out) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  out->reserve(out->size() + bytes.size() * 2 + 1);
  out->push_back('\'');
  for (unsigned char c : bytes) {
    out->push_back(kDigits[c >> 4]);
    out->push_back(kDigits[c & 15]);
  }
  out->push_back('\'');
}

bool LeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// A date the DATE'...' literal takes as it is: no zero part, a real day.
bool RealDate(int y, int m, int d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  return d <= kDays[m - 1] + (m == 2 && LeapYear(y) ? 1 : 0);
}

// MariaDB's DECIMAL holds at most 65 digits; a longer literal would be a
// DOUBLE (a longer bound text is cut to DECIMAL's range, with a warning).
constexpr int kMaxDecimalDigits = 65;

// A plain decimal number: [+-]digits[.digits] or [+-].digits, at most
// kMaxDecimalDigits digits.
bool PlainDecimal(absl::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  int digits = 0;
  bool point = false;
  for (char c : s) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      if (++digits > kMaxDecimalDigits) return false;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return false;
    }
  }
  return digits > 0;
}

// Parses exactly `n` digits at s[*i].
bool Digits(absl::string_view s, size_t* i, size_t n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    const char c = s[*i + k];
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

bool Expect(absl::string_view s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  ++*i;
  return true;
}

// ".ffffff" (1 to 6 digits) at s[*i], if any, as microseconds.
bool Fraction(absl::string_view s, size_t* i, int* micros) {
  *micros = 0;
  if (*i == s.size()) return true;
  if (!Expect(s, i, '.')) return false;
  const size_t start = *i;
  int v = 0;
  while (*i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[*i]))) {
    v = v * 10 + (s[*i] - '0');
    ++*i;
  }
  const size_t n = *i - start;
  if (n == 0 || n > 6) return false;
  for (size_t k = n; k < 6; ++k) v *= 10;
  *micros = v;
  return true;
}

bool ParseDate(absl::string_view s, size_t* i, int* y, int* m, int* d) {
  return Digits(s, i, 4, y) && Expect(s, i, '-') && Digits(s, i, 2, m) && Expect(s, i, '-') &&
         Digits(s, i, 2, d);
}

bool ParseClock(absl::string_view s, size_t* i, int* h, int* mi, int* sec, int* micros) {
  return Digits(s, i, 2, h) && Expect(s, i, ':') && Digits(s, i, 2, mi) && Expect(s, i, ':') &&
         Digits(s, i, 2, sec) && Fraction(s, i, micros);
}

}  // namespace

std::vector<Placeholder> Placeholders(absl::string_view sql) {
  std::vector<Placeholder> out;
  bool in_limit = false;
  for (const Token& t : Lex(sql)) {
    const bool question = t.kind == Tok::kOther && t.end > 0 && sql[t.end - 1] == '?';
    if (t.kind == Tok::kWord && (t.text == "LIMIT" || t.text == "OFFSET")) {
      in_limit = true;
      continue;
    }
    if (question) {
      out.push_back({t.end - 1, in_limit});
      continue;
    }
    // A LIMIT clause holds numbers, placeholders and commas; anything
    // else ends it. (A word is a number's piece only if it starts with a
    // digit.)
    const bool number_piece =
        t.kind == Tok::kWord && !t.text.empty() && absl::ascii_isdigit(t.text[0]);
    const bool comma = t.kind == Tok::kOther && t.end > 0 && sql[t.end - 1] == ',';
    if (!number_piece && !comma) in_limit = false;
  }
  return out;
}

bool PlaceholdersOnlyFilter(absl::string_view sql) {
  int depth = 0;
  bool filter = false;
  for (const Token& t : Lex(sql)) {
    const char last = t.end > 0 ? sql[t.end - 1] : '\0';
    if (t.kind == Tok::kLParen) {
      ++depth;
    } else if (t.kind == Tok::kOther && last == ')') {
      --depth;
    } else if (t.kind == Tok::kOther && last == '?') {
      if (!filter) return false;
    } else if (t.kind == Tok::kWord && depth == 0) {
      if (t.text == "WHERE" || t.text == "GROUP" || t.text == "HAVING" || t.text == "ORDER" ||
          t.text == "LIMIT") {
        filter = true;
      } else if (t.text == "UNION" || t.text == "INTERSECT" || t.text == "EXCEPT" ||
                 t.text == "RETURNING") {
        filter = false;
      }
    }
  }
  return true;
}

bool AppendLiteral(const Value& v, bool in_limit, std::string* out) {
  switch (v.kind_case()) {
    case Value::kNullValue:
      if (in_limit) return false;
      out->append("NULL");
      return true;
    case Value::kInt64Value:
      if (v.int64_value() < 0) {
        if (in_limit) return false;
        absl::StrAppend(out, "(", v.int64_value(), ")");
      } else {
        absl::StrAppend(out, v.int64_value());
      }
      return true;
    case Value::kUint64Value:
    case Value::kBitValue: {
      const uint64_t u = v.kind_case() == Value::kBitValue ? v.bit_value() : v.uint64_value();
      if (in_limit) {
        absl::StrAppend(out, u);
      } else {
        absl::StrAppend(out, "CAST(", u, " AS UNSIGNED)");
      }
      return true;
    }
    case Value::kDoubleValue: {
      const double d = v.double_value();
      // NaN and infinities: whatever the binary bind makes of them, there.
      if (!std::isfinite(d) || in_limit) return false;
      char buf[64];
      // The shortest text that reads back as the same double.
      const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), d);
      if (r.ec != std::errc()) return false;
      const absl::string_view text(buf, r.ptr - buf);
      // An exponent makes it a DOUBLE literal (1.5 alone would be DECIMAL).
      const bool exponent = text.find('e') != absl::string_view::npos;
      if (d < 0 || std::signbit(d)) out->push_back('(');
      out->append(text.data(), text.size());
      if (!exponent) out->append("e0");
      if (d < 0 || std::signbit(d)) out->push_back(')');
      return true;
    }
    case Value::kBoolValue:
      out->append(v.bool_value() ? "1" : "0");
      return true;
    case Value::kStringValue:
    case Value::kJsonValue:
      if (in_limit) return false;
      out->append("_utf8mb4 X");
      AppendHex(v.kind_case() == Value::kStringValue ? v.string_value() : v.json_value(), out);
      return true;
    case Value::kBytesValue:
      if (in_limit) return false;
      out->append("_binary X");
      AppendHex(v.bytes_value(), out);
      return true;
    case Value::kDecimalValue: {
      absl::string_view s = v.decimal_value();
      if (in_limit || !PlainDecimal(s)) return false;
      if (s[0] == '+') s.remove_prefix(1);
      // Without a point, digits alone would be an integer literal: "3."
      // is DECIMAL(1,0), as the bound text "3" is.
      const absl::string_view point = s.find('.') == absl::string_view::npos ? "." : "";
      if (s[0] == '-') {
        absl::StrAppend(out, "(", s, point, ")");
      } else {
        absl::StrAppend(out, s, point);
      }
      return true;
    }
    case Value::kDateValue: {
      const txgate::v1::Date& d = v.date_value();
      if (in_limit || !RealDate(d.year(), d.month(), d.day())) return false;
      absl::StrAppendFormat(out, "DATE'%04d-%02d-%02d'", d.year(), d.month(), d.day());
      return true;
    }
    case Value::kDatetimeValue: {
      const txgate::v1::DateTime& d = v.datetime_value();
      if (in_limit || !RealDate(d.year(), d.month(), d.day())) return false;
      absl::StrAppendFormat(out, "TIMESTAMP'%04d-%02d-%02d %02d:%02d:%02d", d.year(), d.month(),
                            d.day(), d.hour(), d.minute(), d.second());
      if (d.microsecond() != 0) absl::StrAppendFormat(out, ".%06d", d.microsecond());
      out->push_back('\'');
      return true;
    }
    case Value::kTimeValue: {
      const txgate::v1::Duration& d = v.time_value();
      // A negative time under an hour: the binary bind loses its sign in
      // arithmetic (-00:00:01 + 0 is 1) and TIME'-00:00:01' keeps a sign
      // on zero (+ INTERVAL 1 SECOND is -00:00:00); run such values prepared,
      // as before.
      if (in_limit || (d.negative() && d.hours() == 0)) return false;
      absl::StrAppendFormat(out, "TIME'%s%02d:%02d:%02d", d.negative() ? "-" : "", d.hours(),
                            d.minutes(), d.seconds());
      if (d.microseconds() != 0) absl::StrAppendFormat(out, ".%06d", d.microseconds());
      out->push_back('\'');
      return true;
    }
    case Value::KIND_NOT_SET:
      return false;
  }
  return false;
}

std::optional<std::string> InlineParams(absl::string_view sql,
                                        const std::vector<Placeholder>& placeholders,
                                        const google::protobuf::RepeatedPtrField<Value>& params) {
  if (placeholders.size() != static_cast<size_t>(params.size())) return std::nullopt;
  std::string out;
  out.reserve(sql.size() + 16 * placeholders.size());
  size_t from = 0;
  for (size_t i = 0; i < placeholders.size(); ++i) {
    const size_t at = placeholders[i].offset;
    out.append(sql.data() + from, at - from);
    // Spaces keep the literal from joining a neighbouring token.
    out.push_back(' ');
    if (!AppendLiteral(params[static_cast<int>(i)], placeholders[i].in_limit, &out)) {
      return std::nullopt;
    }
    out.push_back(' ');
    from = at + 1;
  }
  out.append(sql.data() + from, sql.size() - from);
  return out;
}

bool TextIdentical(const FieldInfo& field) {
  switch (KindOf(field)) {
    case ColumnKind::kFloat:
      // The server prints a FLOAT with 6 significant digits: not the
      // float the binary protocol sends.
      return false;
    case ColumnKind::kDouble:
      // With a declared scale, printed rounded to it.
      return field.decimals >= kNotFixedDecimals;
    default:
      return true;
  }
}

bool TextValue(const FieldInfo& field, const char* data, size_t length, Value* out) {
  if (data == nullptr) {
    out->set_null_value(google::protobuf::NULL_VALUE);
    return true;
  }
  const absl::string_view s(data, length);
  switch (KindOf(field)) {
    case ColumnKind::kNull:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return true;
    case ColumnKind::kSigned: {
      int64_t v = 0;
      if (!absl::SimpleAtoi(s, &v)) return false;
      out->set_int64_value(v);
      return true;
    }
    case ColumnKind::kUnsigned: {
      uint64_t v = 0;
      if (!absl::SimpleAtoi(s, &v)) return false;
      out->set_uint64_value(v);
      return true;
    }
    case ColumnKind::kFloat: {
      float f = 0;
      const std::from_chars_result r = std::from_chars(s.data(), s.data() + s.size(), f);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
      out->set_double_value(f);
      return true;
    }
    case ColumnKind::kDouble: {
      double d = 0;
      const std::from_chars_result r = std::from_chars(s.data(), s.data() + s.size(), d);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
      out->set_double_value(d);
      return true;
    }
    case ColumnKind::kDecimal:
      out->set_decimal_value(s.data(), s.size());
      return true;
    case ColumnKind::kText:
      out->set_string_value(s.data(), s.size());
      return true;
    case ColumnKind::kBytes:
      out->set_bytes_value(s.data(), s.size());
      return true;
    case ColumnKind::kJson:
      out->set_json_value(s.data(), s.size());
      return true;
    case ColumnKind::kBit:
      out->set_bit_value(BitsOf(s));
      return true;
    case ColumnKind::kDate: {
      size_t i = 0;
      int y = 0, m = 0, d = 0;
      if (!ParseDate(s, &i, &y, &m, &d) || i != s.size()) return false;
      txgate::v1::Date* date = out->mutable_date_value();
      date->set_year(y);
      date->set_month(m);
      date->set_day(d);
      return true;
    }
    case ColumnKind::kDateTime: {
      size_t i = 0;
      int y = 0, m = 0, d = 0, h = 0, mi = 0, sec = 0, micros = 0;
      if (!ParseDate(s, &i, &y, &m, &d) || !Expect(s, &i, ' ') ||
          !ParseClock(s, &i, &h, &mi, &sec, &micros) || i != s.size()) {
        return false;
      }
      txgate::v1::DateTime* dt = out->mutable_datetime_value();
      dt->set_year(y);
      dt->set_month(m);
      dt->set_day(d);
      dt->set_hour(h);
      dt->set_minute(mi);
      dt->set_second(sec);
      dt->set_microsecond(micros);
      return true;
    }
    case ColumnKind::kTime: {
      // [-]H..H:MM:SS[.ffffff], hours up to 838.
      size_t i = 0;
      const bool negative = !s.empty() && s[0] == '-';
      if (negative) ++i;
      const size_t colon = s.find(':', i);
      if (colon == absl::string_view::npos || colon == i || colon - i > 4) return false;
      int hours = 0;
      if (!Digits(s, &i, colon - i, &hours)) return false;
      int mi = 0, sec = 0, micros = 0;
      if (!Expect(s, &i, ':') || !Digits(s, &i, 2, &mi) || !Expect(s, &i, ':') ||
          !Digits(s, &i, 2, &sec) || !Fraction(s, &i, &micros) || i != s.size()) {
        return false;
      }
      txgate::v1::Duration* t = out->mutable_time_value();
      t->set_negative(negative);
      t->set_hours(hours);
      t->set_minutes(mi);
      t->set_seconds(sec);
      t->set_microseconds(micros);
      return true;
    }
  }
  return false;
}

}  // namespace txgate::sql
