#include "server/sql/value_codec.h"

#include <mariadb_ctype.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/sql/error.h"

namespace txgate::sql {
namespace {

using txgate::v1::Value;

constexpr unsigned int kBinaryCharset = 63;
// MYSQL_FIELD.decimals of a FLOAT/DOUBLE declared without a scale.
constexpr unsigned int kNotFixedDecimals = 31;
constexpr unsigned long kInitialBuffer = 64;

absl::Status Invalid(std::string message) {
  return MakeStatus(absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST, message);
}

bool InRange(int v, int lo, int hi) { return v >= lo && v <= hi; }

}  // namespace

ColumnKind KindOf(const FieldInfo& f) {
  const bool is_unsigned = (f.flags & UNSIGNED_FLAG) != 0;
  switch (f.type) {
    case MYSQL_TYPE_NULL:
      return ColumnKind::kNull;
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
      return is_unsigned ? ColumnKind::kUnsigned : ColumnKind::kSigned;
    case MYSQL_TYPE_YEAR:
      return ColumnKind::kSigned;
    case MYSQL_TYPE_FLOAT:
      return ColumnKind::kFloat;
    case MYSQL_TYPE_DOUBLE:
      return ColumnKind::kDouble;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
      return ColumnKind::kDecimal;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      return ColumnKind::kDate;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
      return ColumnKind::kDateTime;
    case MYSQL_TYPE_TIME:
      return ColumnKind::kTime;
    case MYSQL_TYPE_BIT:
      return ColumnKind::kBit;
    case MYSQL_TYPE_JSON:
      return ColumnKind::kJson;
    case MYSQL_TYPE_GEOMETRY:
      return ColumnKind::kBytes;
    default:
      break;
  }
  if (f.json) return ColumnKind::kJson;
  if ((f.flags & (ENUM_FLAG | SET_FLAG)) != 0) return ColumnKind::kText;
  return f.charsetnr == kBinaryCharset ? ColumnKind::kBytes : ColumnKind::kText;
}

std::string TypeName(const FieldInfo& f) {
  const bool binary = f.charsetnr == kBinaryCharset;
  std::string name;
  switch (f.type) {
    case MYSQL_TYPE_NULL:
      name = "NULL";
      break;
    case MYSQL_TYPE_TINY:
      name = "TINYINT";
      break;
    case MYSQL_TYPE_SHORT:
      name = "SMALLINT";
      break;
    case MYSQL_TYPE_INT24:
      name = "MEDIUMINT";
      break;
    case MYSQL_TYPE_LONG:
      name = "INT";
      break;
    case MYSQL_TYPE_LONGLONG:
      name = "BIGINT";
      break;
    case MYSQL_TYPE_YEAR:
      return "YEAR";
    case MYSQL_TYPE_FLOAT:
      name = "FLOAT";
      break;
    case MYSQL_TYPE_DOUBLE:
      name = "DOUBLE";
      break;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
      name = "DECIMAL";
      break;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      return "DATE";
    case MYSQL_TYPE_DATETIME:
      return "DATETIME";
    case MYSQL_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case MYSQL_TYPE_TIME:
      return "TIME";
    case MYSQL_TYPE_BIT:
      return "BIT";
    case MYSQL_TYPE_JSON:
      return "JSON";
    case MYSQL_TYPE_GEOMETRY:
      return "GEOMETRY";
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
      if (f.json) return "JSON";
      return binary ? "BLOB" : "TEXT";
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
      if (f.json) return "JSON";
      return binary ? "VARBINARY" : "VARCHAR";
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET:
      if (f.flags & ENUM_FLAG) return "ENUM";
      if (f.flags & SET_FLAG) return "SET";
      return binary ? "BINARY" : "CHAR";
    default:
      return absl::StrCat("TYPE_", static_cast<int>(f.type));
  }
  if (f.flags & UNSIGNED_FLAG) absl::StrAppend(&name, " UNSIGNED");
  return name;
}

txgate::v1::Column ColumnOf(const FieldInfo& f) {
  txgate::v1::Column c;
  c.set_name(f.name);
  c.set_type(TypeName(f));
  c.set_nullable((f.flags & NOT_NULL_FLAG) == 0);
  c.set_length(f.length);
  switch (KindOf(f)) {
    case ColumnKind::kText:
    case ColumnKind::kJson: {
      // MariaDB reports text lengths in bytes of the result's character set.
      const MARIADB_CHARSET_INFO* charset = mariadb_get_charset_by_nr(f.charsetnr);
      if (charset != nullptr && charset->char_maxlen > 1) {
        c.set_length(f.length / charset->char_maxlen);
      }
      break;
    }
    case ColumnKind::kDecimal: {
      // DECIMAL(M,D)'s length is M plus one for the point (D > 0) and one for
      // the sign (signed columns): MariaDB's my_decimal_length_to_precision.
      const unsigned long point = f.decimals > 0 ? 1 : 0;
      const unsigned long sign = (f.flags & UNSIGNED_FLAG) != 0 ? 0 : 1;
      c.set_precision(static_cast<uint32_t>(f.length > point + sign ? f.length - point - sign : 0));
      c.set_scale(f.decimals);
      break;
    }
    case ColumnKind::kFloat:
    case ColumnKind::kDouble:
    case ColumnKind::kDateTime:
    case ColumnKind::kTime:
      // 31 (NOT_FIXED_DEC) marks a FLOAT/DOUBLE declared without D.
      if (f.decimals < kNotFixedDecimals) c.set_scale(f.decimals);
      break;
    default:
      break;
  }
  return c;
}

txgate::v1::Date DateOf(const MYSQL_TIME& t) {
  txgate::v1::Date d;
  d.set_year(t.year);
  d.set_month(t.month);
  d.set_day(t.day);
  return d;
}

txgate::v1::DateTime DateTimeOf(const MYSQL_TIME& t) {
  txgate::v1::DateTime d;
  d.set_year(t.year);
  d.set_month(t.month);
  d.set_day(t.day);
  d.set_hour(t.hour);
  d.set_minute(t.minute);
  d.set_second(t.second);
  d.set_microsecond(static_cast<int32_t>(t.second_part));
  return d;
}

txgate::v1::Duration DurationOf(const MYSQL_TIME& t) {
  txgate::v1::Duration d;
  d.set_negative(t.neg != 0);
  // The binary protocol may carry whole days separately from hours.
  d.set_hours(static_cast<int32_t>(t.day * 24 + t.hour));
  d.set_minutes(t.minute);
  d.set_seconds(t.second);
  d.set_microseconds(static_cast<int32_t>(t.second_part));
  return d;
}

absl::Status ToMysqlTime(const txgate::v1::Date& d, MYSQL_TIME* out) {
  if (!InRange(d.year(), 0, 9999) || !InRange(d.month(), 0, 12) || !InRange(d.day(), 0, 31)) {
    return Invalid(absl::StrCat("date out of range: ", d.year(), "-", d.month(), "-", d.day()));
  }
  std::memset(out, 0, sizeof(*out));
  out->year = d.year();
  out->month = d.month();
  out->day = d.day();
  out->time_type = MYSQL_TIMESTAMP_DATE;
  return absl::OkStatus();
}

absl::Status ToMysqlTime(const txgate::v1::DateTime& d, MYSQL_TIME* out) {
  if (!InRange(d.year(), 0, 9999) || !InRange(d.month(), 0, 12) || !InRange(d.day(), 0, 31) ||
      !InRange(d.hour(), 0, 23) || !InRange(d.minute(), 0, 59) || !InRange(d.second(), 0, 59) ||
      !InRange(d.microsecond(), 0, 999999)) {
    return Invalid("datetime out of range");
  }
  std::memset(out, 0, sizeof(*out));
  out->year = d.year();
  out->month = d.month();
  out->day = d.day();
  out->hour = d.hour();
  out->minute = d.minute();
  out->second = d.second();
  out->second_part = d.microsecond();
  out->time_type = MYSQL_TIMESTAMP_DATETIME;
  return absl::OkStatus();
}

absl::Status ToMysqlTime(const txgate::v1::Duration& d, MYSQL_TIME* out) {
  if (!InRange(d.hours(), 0, 838) || !InRange(d.minutes(), 0, 59) || !InRange(d.seconds(), 0, 59) ||
      !InRange(d.microseconds(), 0, 999999)) {
    return Invalid("time out of range (at most 838:59:59.999999)");
  }
  std::memset(out, 0, sizeof(*out));
  out->neg = d.negative();
  // The binary protocol sends hours as one byte: carry whole days apart.
  out->day = d.hours() / 24;
  out->hour = d.hours() % 24;
  out->minute = d.minutes();
  out->second = d.seconds();
  out->second_part = d.microseconds();
  out->time_type = MYSQL_TIMESTAMP_TIME;
  return absl::OkStatus();
}

uint64_t BitsOf(absl::string_view bytes) {
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return v;
}

absl::Status ParamBinder::Bind(
    const google::protobuf::RepeatedPtrField<txgate::v1::Value>& params) {
  const int n = params.size();
  binds_.assign(n, MYSQL_BIND{});
  scratch_.resize(n);
  for (int i = 0; i < n; ++i) {
    const Value& v = params[i];
    MYSQL_BIND& b = binds_[i];
    Scratch& s = scratch_[i];
    absl::Status st;
    switch (v.kind_case()) {
      case Value::kNullValue:
        b.buffer_type = MYSQL_TYPE_NULL;
        break;
      case Value::kInt64Value:
        s.i64 = v.int64_value();
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &s.i64;
        break;
      case Value::kUint64Value:
      case Value::kBitValue:
        s.u64 = v.kind_case() == Value::kBitValue ? v.bit_value() : v.uint64_value();
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &s.u64;
        b.is_unsigned = 1;
        break;
      case Value::kDoubleValue:
        s.f64 = v.double_value();
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = &s.f64;
        break;
      case Value::kBoolValue:
        s.i8 = v.bool_value() ? 1 : 0;
        b.buffer_type = MYSQL_TYPE_TINY;
        b.buffer = &s.i8;
        break;
      case Value::kStringValue:
      case Value::kJsonValue:
      case Value::kDecimalValue:
      case Value::kBytesValue: {
        const std::string& str = v.kind_case() == Value::kStringValue  ? v.string_value()
                                 : v.kind_case() == Value::kJsonValue  ? v.json_value()
                                 : v.kind_case() == Value::kBytesValue ? v.bytes_value()
                                                                       : v.decimal_value();
        b.buffer_type = v.kind_case() == Value::kBytesValue     ? MYSQL_TYPE_BLOB
                        : v.kind_case() == Value::kDecimalValue ? MYSQL_TYPE_NEWDECIMAL
                                                                : MYSQL_TYPE_STRING;
        // The library only reads the buffer; the request outlives execution.
        b.buffer = const_cast<char*>(str.data());
        b.buffer_length = str.size();
        break;
      }
      case Value::kDateValue:
        st = ToMysqlTime(v.date_value(), &s.time);
        b.buffer_type = MYSQL_TYPE_DATE;
        b.buffer = &s.time;
        break;
      case Value::kDatetimeValue:
        st = ToMysqlTime(v.datetime_value(), &s.time);
        b.buffer_type = MYSQL_TYPE_DATETIME;
        b.buffer = &s.time;
        break;
      case Value::kTimeValue:
        st = ToMysqlTime(v.time_value(), &s.time);
        b.buffer_type = MYSQL_TYPE_TIME;
        b.buffer = &s.time;
        break;
      case Value::KIND_NOT_SET:
        st = Invalid("no kind set");
        break;
    }
    if (!st.ok()) {
      return Invalid(absl::StrCat("parameter ", i + 1, ": ", st.message()));
    }
  }
  return absl::OkStatus();
}

void RowDecoder::Reset(std::vector<FieldInfo> fields) {
  fields_ = std::move(fields);
  const size_t n = fields_.size();
  binds_.assign(n, MYSQL_BIND{});
  columns_.clear();
  columns_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto col = std::make_unique<Column>();
    col->kind = KindOf(fields_[i]);
    MYSQL_BIND& b = binds_[i];
    b.is_null = &col->is_null;
    b.error = &col->error;
    b.length = &col->length;
    switch (col->kind) {
      case ColumnKind::kSigned:
      case ColumnKind::kUnsigned:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &col->i64;
        b.is_unsigned = col->kind == ColumnKind::kUnsigned;
        break;
      case ColumnKind::kFloat:
        b.buffer_type = MYSQL_TYPE_FLOAT;
        b.buffer = &col->f32;
        break;
      case ColumnKind::kDouble:
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = &col->f64;
        break;
      case ColumnKind::kDate:
      case ColumnKind::kDateTime:
      case ColumnKind::kTime:
        b.buffer_type = fields_[i].type == MYSQL_TYPE_NEWDATE ? MYSQL_TYPE_DATE : fields_[i].type;
        b.buffer = &col->time;
        break;
      default: {
        const unsigned long size =
            std::max<unsigned long>(1, std::min<unsigned long>(fields_[i].length, kInitialBuffer));
        col->buffer.resize(size);
        b.buffer_type = MYSQL_TYPE_BLOB;
        b.buffer = col->buffer.data();
        b.buffer_length = size;
        break;
      }
    }
    columns_.push_back(std::move(col));
  }
}

std::vector<int> RowDecoder::Truncated() const {
  std::vector<int> out;
  for (size_t i = 0; i < columns_.size(); ++i) {
    const Column& c = *columns_[i];
    if (!c.is_null && !c.buffer.empty() && c.length > c.buffer.size()) {
      out.push_back(static_cast<int>(i));
    }
  }
  return out;
}

void RowDecoder::Grow(int column) {
  Column& c = *columns_[column];
  c.buffer.resize(c.length);
  binds_[column].buffer = c.buffer.data();
  binds_[column].buffer_length = c.buffer.size();
}

void RowDecoder::Decode(txgate::v1::Row* row, size_t* bytes) {
  size_t total = 0;
  for (size_t i = 0; i < columns_.size(); ++i) {
    Column& c = *columns_[i];
    Value* v = row->add_values();
    total += 8;
    if (c.is_null) {
      v->set_null_value(google::protobuf::NULL_VALUE);
      continue;
    }
    const absl::string_view bytes_view(c.buffer.data(),
                                       std::min<size_t>(c.length, c.buffer.size()));
    const bool text =
        c.kind == ColumnKind::kText || c.kind == ColumnKind::kBytes || c.kind == ColumnKind::kJson;
    if (text && bytes_view.size() >= kMoveBytes) {
      // Moved, not copied; the column starts small again.
      total += bytes_view.size();
      c.buffer.resize(bytes_view.size());
      std::string moved = std::exchange(c.buffer, std::string(kInitialBuffer, '\0'));
      binds_[i].buffer = c.buffer.data();
      binds_[i].buffer_length = c.buffer.size();
      rebind_ = true;
      if (c.kind == ColumnKind::kText) {
        v->set_string_value(std::move(moved));
      } else if (c.kind == ColumnKind::kBytes) {
        v->set_bytes_value(std::move(moved));
      } else {
        v->set_json_value(std::move(moved));
      }
      continue;
    }
    switch (c.kind) {
      case ColumnKind::kNull:
        v->set_null_value(google::protobuf::NULL_VALUE);
        break;
      case ColumnKind::kSigned:
        v->set_int64_value(c.i64);
        break;
      case ColumnKind::kUnsigned:
        v->set_uint64_value(c.u64);
        break;
      case ColumnKind::kFloat:
        v->set_double_value(c.f32);
        break;
      case ColumnKind::kDouble:
        v->set_double_value(c.f64);
        break;
      case ColumnKind::kDecimal:
        v->set_decimal_value(bytes_view.data(), bytes_view.size());
        break;
      case ColumnKind::kText:
        v->set_string_value(bytes_view.data(), bytes_view.size());
        break;
      case ColumnKind::kBytes:
        v->set_bytes_value(bytes_view.data(), bytes_view.size());
        break;
      case ColumnKind::kJson:
        v->set_json_value(bytes_view.data(), bytes_view.size());
        break;
      case ColumnKind::kBit:
        v->set_bit_value(BitsOf(bytes_view));
        break;
      case ColumnKind::kDate:
        *v->mutable_date_value() = DateOf(c.time);
        break;
      case ColumnKind::kDateTime:
        *v->mutable_datetime_value() = DateTimeOf(c.time);
        break;
      case ColumnKind::kTime:
        *v->mutable_time_value() = DurationOf(c.time);
        break;
    }
    total += bytes_view.size();
  }
  *bytes += total;
}

}  // namespace txgate::sql
