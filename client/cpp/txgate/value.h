// Value: one SQL value as the C++ client sees it, a thin typed wrapper over
// txgate.v1.Value.
//
// Every MySQL/MariaDB column type maps to exactly one kind, losslessly:
// BIGINT UNSIGNED up to 18446744073709551615 is a kUint64, DECIMAL stays
// exact text ("-12345.678900"), bytes may hold 0x00 and 0xff, DATETIME keeps
// its microseconds and TIME may be negative and exceed 24 hours. The static
// factories build parameters; the As*() accessors read result columns. A
// Value owns its data and is cheap to move.
#ifndef TXGATE_CLIENT_CPP_TXGATE_VALUE_H_
#define TXGATE_CLIENT_CPP_TXGATE_VALUE_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "txgate/v1/database.pb.h"

namespace txgate::client {

class Value {
 public:
  // The kind of value held; kUnset only for a default-constructed Value or a
  // proto with no kind set (refused by txgate as a parameter).
  enum class Kind {
    kUnset,
    kNull,
    kInt64,
    kUint64,
    kDouble,
    kString,
    kBytes,
    kBool,
    kDecimal,
    kDate,
    kDateTime,
    kTime,
    kJson,
    kBit,
  };

  // An unset value; txgate refuses it as a parameter.
  Value() = default;
  // Wraps a txgate.v1.Value, e.g. a column of a result row.
  explicit Value(txgate::v1::Value proto) : proto_(std::move(proto)) {}

  // SQL NULL.
  static Value Null();
  // A signed integer (TINYINT..BIGINT, YEAR).
  static Value Int(int64_t v);
  // An unsigned integer (..BIGINT UNSIGNED), up to 18446744073709551615.
  static Value Uint64(uint64_t v);
  // A FLOAT or DOUBLE.
  static Value Double(double v);
  // A boolean, bound as TINYINT 0 or 1.
  static Value Bool(bool v);
  // Text in UTF-8 (CHAR, VARCHAR, TEXT, ENUM, SET).
  static Value String(absl::string_view v);
  // Arbitrary bytes (BINARY, VARBINARY, BLOB); any byte, 0x00 and 0xff included.
  static Value Bytes(absl::string_view v);
  // An exact decimal as text, e.g. "-12345.678900". Not validated here: txgate
  // answers INVALID_ARGUMENT for text that is not a decimal number.
  static Value Decimal(absl::string_view v);
  // A JSON document as text.
  static Value Json(absl::string_view v);
  // The bits of a BIT(n) column, n <= 64.
  static Value Bit(uint64_t v);
  // A DATE. Parts are not validated here (MySQL allows zero parts); txgate
  // refuses impossible ones with INVALID_ARGUMENT.
  static Value Date(int year, int month, int day);
  // A DATETIME or TIMESTAMP (in UTC) with microseconds, 0..999999.
  static Value DateTime(int year, int month, int day, int hour, int minute, int second,
                        int microsecond = 0);
  // A TIME: a signed span of up to 838:59:59.999999.
  static Value Time(bool negative, int hours, int minutes, int seconds, int microseconds = 0);

  Kind kind() const;
  bool is_null() const { return kind() == Kind::kNull; }

  // Each accessor returns the value when it holds that kind, and nullopt
  // otherwise (no conversions: an INT column is not a double).
  absl::optional<int64_t> AsInt64() const;
  absl::optional<uint64_t> AsUint64() const;
  absl::optional<double> AsDouble() const;
  absl::optional<bool> AsBool() const;
  absl::optional<std::string> AsString() const;   // kString
  absl::optional<std::string> AsBytes() const;    // kBytes
  absl::optional<std::string> AsDecimal() const;  // kDecimal
  absl::optional<std::string> AsJson() const;     // kJson
  absl::optional<uint64_t> AsBit() const;
  absl::optional<txgate::v1::Date> AsDate() const;
  absl::optional<txgate::v1::DateTime> AsDateTime() const;
  absl::optional<txgate::v1::Duration> AsTime() const;

  // The value as text, as a SQL client would show it: NULL as "NULL", bytes
  // as 0x-prefixed upper-case hex, doubles in their shortest exact form,
  // DATE "YYYY-MM-DD", DATETIME "YYYY-MM-DD HH:MM:SS[.ffffff]" and TIME
  // "[-]HHH:MM:SS[.ffffff]" (the fraction only when non-zero), booleans
  // "1"/"0". Text, decimals and JSON are returned as they are.
  std::string ToString() const;

  const txgate::v1::Value& proto() const { return proto_; }
  txgate::v1::Value& mutable_proto() { return proto_; }

  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  txgate::v1::Value proto_;
};

// The text of a double that parses back to the same double, e.g. "2.5", "0.1".
std::string FormatDouble(double v);

}  // namespace txgate::client

#endif  // TXGATE_CLIENT_CPP_TXGATE_VALUE_H_
