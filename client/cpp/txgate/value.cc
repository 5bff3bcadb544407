#include "txgate/value.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/message_differencer.h"

namespace txgate::client {

namespace {

std::string Fraction(int32_t microseconds) {
  return microseconds == 0 ? std::string() : absl::StrFormat(".%06d", microseconds);
}

}  // namespace

Value Value::Null() {
  v1::Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return Value(std::move(v));
}

Value Value::Int(int64_t x) {
  v1::Value v;
  v.set_int64_value(x);
  return Value(std::move(v));
}

Value Value::Uint64(uint64_t x) {
  v1::Value v;
  v.set_uint64_value(x);
  return Value(std::move(v));
}

Value Value::Double(double x) {
  v1::Value v;
  v.set_double_value(x);
  return Value(std::move(v));
}

Value Value::Bool(bool x) {
  v1::Value v;
  v.set_bool_value(x);
  return Value(std::move(v));
}

Value Value::String(absl::string_view x) {
  v1::Value v;
  v.set_string_value(std::string(x));
  return Value(std::move(v));
}

Value Value::Bytes(absl::string_view x) {
  v1::Value v;
  v.set_bytes_value(std::string(x));
  return Value(std::move(v));
}

Value Value::Decimal(absl::string_view x) {
  v1::Value v;
  v.set_decimal_value(std::string(x));
  return Value(std::move(v));
}

Value Value::Json(absl::string_view x) {
  v1::Value v;
  v.set_json_value(std::string(x));
  return Value(std::move(v));
}

Value Value::Bit(uint64_t x) {
  v1::Value v;
  v.set_bit_value(x);
  return Value(std::move(v));
}

Value Value::Date(int year, int month, int day) {
  v1::Value v;
  v1::Date* d = v.mutable_date_value();
  d->set_year(year);
  d->set_month(month);
  d->set_day(day);
  return Value(std::move(v));
}

Value Value::DateTime(int year, int month, int day, int hour, int minute, int second,
                      int microsecond) {
  v1::Value v;
  v1::DateTime* d = v.mutable_datetime_value();
  d->set_year(year);
  d->set_month(month);
  d->set_day(day);
  d->set_hour(hour);
  d->set_minute(minute);
  d->set_second(second);
  d->set_microsecond(microsecond);
  return Value(std::move(v));
}

Value Value::Time(bool negative, int hours, int minutes, int seconds, int microseconds) {
  v1::Value v;
  v1::Duration* d = v.mutable_time_value();
  d->set_negative(negative);
  d->set_hours(hours);
  d->set_minutes(minutes);
  d->set_seconds(seconds);
  d->set_microseconds(microseconds);
  return Value(std::move(v));
}

Value::Kind Value::kind() const {
  switch (proto_.kind_case()) {
    case v1::Value::kNullValue:
      return Kind::kNull;
    case v1::Value::kInt64Value:
      return Kind::kInt64;
    case v1::Value::kUint64Value:
      return Kind::kUint64;
    case v1::Value::kDoubleValue:
      return Kind::kDouble;
    case v1::Value::kStringValue:
      return Kind::kString;
    case v1::Value::kBytesValue:
      return Kind::kBytes;
    case v1::Value::kBoolValue:
      return Kind::kBool;
    case v1::Value::kDecimalValue:
      return Kind::kDecimal;
    case v1::Value::kDateValue:
      return Kind::kDate;
    case v1::Value::kDatetimeValue:
      return Kind::kDateTime;
    case v1::Value::kTimeValue:
      return Kind::kTime;
    case v1::Value::kJsonValue:
      return Kind::kJson;
    case v1::Value::kBitValue:
      return Kind::kBit;
    case v1::Value::KIND_NOT_SET:
      break;
  }
  return Kind::kUnset;
}

absl::optional<int64_t> Value::AsInt64() const {
  if (kind() != Kind::kInt64) return absl::nullopt;
  return proto_.int64_value();
}

absl::optional<uint64_t> Value::AsUint64() const {
  if (kind() != Kind::kUint64) return absl::nullopt;
  return proto_.uint64_value();
}

absl::optional<double> Value::AsDouble() const {
  if (kind() != Kind::kDouble) return absl::nullopt;
  return proto_.double_value();
}

absl::optional<bool> Value::AsBool() const {
  if (kind() != Kind::kBool) return absl::nullopt;
  return proto_.bool_value();
}

absl::optional<std::string> Value::AsString() const {
  if (kind() != Kind::kString) return absl::nullopt;
  return proto_.string_value();
}

absl::optional<std::string> Value::AsBytes() const {
  if (kind() != Kind::kBytes) return absl::nullopt;
  return proto_.bytes_value();
}

absl::optional<std::string> Value::AsDecimal() const {
  if (kind() != Kind::kDecimal) return absl::nullopt;
  return proto_.decimal_value();
}

absl::optional<std::string> Value::AsJson() const {
  if (kind() != Kind::kJson) return absl::nullopt;
  return proto_.json_value();
}

absl::optional<uint64_t> Value::AsBit() const {
  if (kind() != Kind::kBit) return absl::nullopt;
  return proto_.bit_value();
}

absl::optional<v1::Date> Value::AsDate() const {
  if (kind() != Kind::kDate) return absl::nullopt;
  return proto_.date_value();
}

absl::optional<v1::DateTime> Value::AsDateTime() const {
  if (kind() != Kind::kDateTime) return absl::nullopt;
  return proto_.datetime_value();
}

absl::optional<v1::Duration> Value::AsTime() const {
  if (kind() != Kind::kTime) return absl::nullopt;
  return proto_.time_value();
}

std::string Value::ToString() const {
  switch (kind()) {
    case Kind::kUnset:
      return "";
    case Kind::kNull:
      return "NULL";
    case Kind::kInt64:
      return absl::StrCat(proto_.int64_value());
    case Kind::kUint64:
      return absl::StrCat(proto_.uint64_value());
    case Kind::kDouble:
      return FormatDouble(proto_.double_value());
    case Kind::kString:
      return proto_.string_value();
    case Kind::kBytes:
      return absl::StrCat("0x",
                          absl::AsciiStrToUpper(absl::BytesToHexString(proto_.bytes_value())));
    case Kind::kBool:
      return proto_.bool_value() ? "1" : "0";
    case Kind::kDecimal:
      return proto_.decimal_value();
    case Kind::kDate: {
      const v1::Date& d = proto_.date_value();
      return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
    }
    case Kind::kDateTime: {
      const v1::DateTime& d = proto_.datetime_value();
      return absl::StrCat(absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d", d.year(), d.month(),
                                          d.day(), d.hour(), d.minute(), d.second()),
                          Fraction(d.microsecond()));
    }
    case Kind::kTime: {
      const v1::Duration& t = proto_.time_value();
      return absl::StrCat(absl::StrFormat("%s%02d:%02d:%02d", t.negative() ? "-" : "", t.hours(),
                                          t.minutes(), t.seconds()),
                          Fraction(t.microseconds()));
    }
    case Kind::kJson:
      return proto_.json_value();
    case Kind::kBit:
      return absl::StrCat(proto_.bit_value());
  }
  return "";
}

bool operator==(const client::Value& a, const client::Value& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a.proto_, b.proto_);
}

std::string FormatDouble(double v) {
  // The shortest of %.15g..%.17g that reads back exactly (17 always does).
  for (int precision = 15; precision < 17; ++precision) {
    std::string s = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(s.c_str(), nullptr) == v) return s;
  }
  return absl::StrFormat("%.17g", v);
}

}  // namespace txgate::client
