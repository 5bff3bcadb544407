// Value: the typed helpers build the right txgate.v1.Value kind, read back
// only their own kind, and print as a SQL client would.
#include "txgate/value.h"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace txgate::client {
namespace {

TEST(ValueTest, FactoriesSetTheirKind) {
  EXPECT_EQ(Value().kind(), Value::Kind::kUnset);
  EXPECT_EQ(Value::Null().kind(), Value::Kind::kNull);
  EXPECT_TRUE(Value::Null().is_null());
  EXPECT_EQ(Value::Int(-1).proto().int64_value(), -1);
  EXPECT_EQ(Value::Uint64(UINT64_MAX).proto().uint64_value(), UINT64_MAX);
  EXPECT_EQ(Value::Double(2.5).proto().double_value(), 2.5);
  EXPECT_TRUE(Value::Bool(true).proto().bool_value());
  EXPECT_EQ(Value::String("héllo").proto().string_value(), "héllo");
  EXPECT_EQ(Value::Bytes(std::string("\x00\xff", 2)).proto().bytes_value(),
            std::string("\x00\xff", 2));
  EXPECT_EQ(Value::Decimal("-1.50").proto().decimal_value(), "-1.50");
  EXPECT_EQ(Value::Json("{\"a\":1}").proto().json_value(), "{\"a\":1}");
  EXPECT_EQ(Value::Bit(5).proto().bit_value(), 5u);
  const auto date = Value::Date(2024, 2, 29).proto().date_value();
  EXPECT_EQ(date.year() * 10000 + date.month() * 100 + date.day(), 20240229);
  const auto dt = Value::DateTime(2024, 2, 29, 23, 59, 58, 999999).proto().datetime_value();
  EXPECT_EQ(dt.second(), 58);
  EXPECT_EQ(dt.microsecond(), 999999);
  const auto t = Value::Time(true, 838, 59, 59, 1).proto().time_value();
  EXPECT_TRUE(t.negative());
  EXPECT_EQ(t.hours(), 838);
}

TEST(ValueTest, AccessorsReadOnlyTheirOwnKind) {
  EXPECT_EQ(Value::Int(7).AsInt64(), 7);
  EXPECT_FALSE(Value::Int(7).AsUint64().has_value());
  EXPECT_FALSE(Value::Int(7).AsDouble().has_value());
  EXPECT_EQ(Value::Uint64(UINT64_MAX).AsUint64(), UINT64_MAX);
  EXPECT_FALSE(Value::Null().AsInt64().has_value());
  EXPECT_EQ(Value::String("s").AsString(), "s");
  EXPECT_FALSE(Value::String("s").AsBytes().has_value());
  EXPECT_EQ(Value::Bytes("b").AsBytes(), "b");
  EXPECT_EQ(Value::Decimal("1.0").AsDecimal(), "1.0");
  EXPECT_FALSE(Value::Decimal("1.0").AsString().has_value());
  EXPECT_EQ(Value::Json("[]").AsJson(), "[]");
  EXPECT_EQ(Value::Bit(3).AsBit(), 3u);
  EXPECT_EQ(Value::Bool(false).AsBool(), false);
  EXPECT_EQ(Value::Double(0.1).AsDouble(), 0.1);
  EXPECT_EQ(Value::Date(1000, 1, 1).AsDate()->year(), 1000);
  EXPECT_EQ(Value::DateTime(1, 2, 3, 4, 5, 6, 7).AsDateTime()->microsecond(), 7);
  EXPECT_EQ(Value::Time(false, 100, 1, 2).AsTime()->hours(), 100);
  EXPECT_FALSE(Value::Date(1000, 1, 1).AsDateTime().has_value());
}

TEST(ValueTest, ToStringIsWhatASqlClientShows) {
  EXPECT_EQ(Value::Null().ToString(), "NULL");
  EXPECT_EQ(Value::Int(std::numeric_limits<int64_t>::min()).ToString(), "-9223372036854775808");
  EXPECT_EQ(Value::Uint64(UINT64_MAX).ToString(), "18446744073709551615");
  EXPECT_EQ(Value::Double(2.5).ToString(), "2.5");
  EXPECT_EQ(Value::Double(0.1).ToString(), "0.1");
  EXPECT_EQ(Value::Double(1.0 / 3).ToString(), "0.3333333333333333");
  EXPECT_EQ(Value::Bytes(std::string("\x00\xff", 2)).ToString(), "0x00FF");
  EXPECT_EQ(Value::Bool(true).ToString(), "1");
  EXPECT_EQ(Value::Decimal("-0.000001").ToString(), "-0.000001");
  EXPECT_EQ(Value::Date(2024, 2, 9).ToString(), "2024-02-09");
  EXPECT_EQ(Value::DateTime(2024, 2, 29, 23, 59, 59, 999999).ToString(),
            "2024-02-29 23:59:59.999999");
  EXPECT_EQ(Value::DateTime(2024, 2, 29, 1, 2, 3).ToString(), "2024-02-29 01:02:03");
  EXPECT_EQ(Value::Time(true, 838, 59, 59, 999999).ToString(), "-838:59:59.999999");
  EXPECT_EQ(Value::Time(false, 1, 2, 3, 500000).ToString(), "01:02:03.500000");
  EXPECT_EQ(Value::Bit(255).ToString(), "255");
}

TEST(ValueTest, FormatDoubleRoundTrips) {
  for (double d : {0.0, -0.5, 1e300, 5e-324, 123456789.123456789, 0.30000000000000004}) {
    EXPECT_EQ(std::strtod(FormatDouble(d).c_str(), nullptr), d) << FormatDouble(d);
  }
}

TEST(ValueTest, EqualityComparesKindAndValue) {
  EXPECT_EQ(Value::Int(1), Value::Int(1));
  EXPECT_NE(Value::Int(1), Value::Uint64(1));
  EXPECT_NE(Value::String("a"), Value::Bytes("a"));
  EXPECT_EQ(Value::Null(), Value::Null());
  EXPECT_NE(Value::Null(), Value());
}

}  // namespace
}  // namespace txgate::client
