// sql/text_codec without a database: where placeholders are, the literal
// text of each Value kind, which statements keep parameters out of their
// columns, and the parse of the text protocol's temporal values. Their
// meaning on a real server: tests/integration/batch_test.cc.
#include "server/sql/text_codec.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace txgate::sql {
namespace {

using txgate::v1::Value;

std::string Literal(const Value& v, bool in_limit = false) {
  std::string out;
  return AppendLiteral(v, in_limit, &out) ? out : "(none)";
}

TEST(TextCodecTest, PlaceholdersOutsideStringsNamesAndComments) {
  const std::string sql = "SELECT '?', `?`, \"?\", ? /* ? */ -- ?\n, ? # ?\n FROM t LIMIT ?, ?";
  const std::vector<Placeholder> p = Placeholders(sql);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(sql[p[0].offset], '?');
  EXPECT_FALSE(p[0].in_limit);
  EXPECT_FALSE(p[1].in_limit);
  EXPECT_TRUE(p[2].in_limit);
  EXPECT_TRUE(p[3].in_limit);
}

TEST(TextCodecTest, LiteralsOfEveryKind) {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  EXPECT_EQ(Literal(v), "NULL");
  v.set_int64_value(-5);
  EXPECT_EQ(Literal(v), "(-5)");
  EXPECT_EQ(Literal(v, true), "(none)");
  v.set_int64_value(std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Literal(v), "(-9223372036854775808)");
  v.set_uint64_value(5);
  EXPECT_EQ(Literal(v), "CAST(5 AS UNSIGNED)");
  EXPECT_EQ(Literal(v, true), "5");
  v.set_double_value(1.5);
  EXPECT_EQ(Literal(v), "1.5e0");
  v.set_double_value(-1e300);
  EXPECT_EQ(Literal(v), "(-1e+300)");
  v.set_double_value(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(Literal(v), "(none)");
  v.set_bool_value(true);
  EXPECT_EQ(Literal(v), "1");
  v.set_string_value("a'\\");
  EXPECT_EQ(Literal(v), "_utf8mb4 X'61275C'");
  v.set_bytes_value(std::string("\0\xff", 2));
  EXPECT_EQ(Literal(v), "_binary X'00FF'");
  v.set_decimal_value("+3");
  EXPECT_EQ(Literal(v), "3.");
  v.set_decimal_value("-0.50");
  EXPECT_EQ(Literal(v), "(-0.50)");
  v.set_decimal_value("1e3");
  EXPECT_EQ(Literal(v), "(none)");
  v.set_decimal_value("1; DROP TABLE t");
  EXPECT_EQ(Literal(v), "(none)");
  v.mutable_date_value()->set_year(2024);
  v.mutable_date_value()->set_month(2);
  v.mutable_date_value()->set_day(29);
  EXPECT_EQ(Literal(v), "DATE'2024-02-29'");
  v.mutable_date_value()->set_year(2023);
  EXPECT_EQ(Literal(v), "(none)");
  v.mutable_time_value()->set_negative(true);
  v.mutable_time_value()->set_hours(100);
  v.mutable_time_value()->set_microseconds(5);
  EXPECT_EQ(Literal(v), "TIME'-100:00:00.000005'");
  v.mutable_time_value()->set_hours(0);
  EXPECT_EQ(Literal(v), "(none)");
}

TEST(TextCodecTest, ParametersOnlyInFilters) {
  EXPECT_TRUE(PlaceholdersOnlyFilter("SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?"));
  EXPECT_TRUE(PlaceholdersOnlyFilter("SELECT a FROM t"));
  EXPECT_FALSE(PlaceholdersOnlyFilter("SELECT ? FROM t WHERE b = ?"));
  EXPECT_FALSE(PlaceholdersOnlyFilter("SELECT x FROM t JOIN (SELECT ? AS x) d WHERE 1"));
  EXPECT_FALSE(PlaceholdersOnlyFilter("SELECT a FROM t WHERE b = 1 UNION SELECT ? FROM u"));
  EXPECT_FALSE(PlaceholdersOnlyFilter("DELETE FROM t WHERE a = 1 RETURNING ?"));
  EXPECT_FALSE(PlaceholdersOnlyFilter("SELECT (SELECT a FROM u WHERE b = ?) FROM t"));
}

TEST(TextCodecTest, TemporalText) {
  FieldInfo f;
  f.type = MYSQL_TYPE_TIME;
  Value v;
  ASSERT_TRUE(TextValue(f, "-838:59:59.5", 12, &v));
  EXPECT_TRUE(v.time_value().negative());
  EXPECT_EQ(v.time_value().hours(), 838);
  EXPECT_EQ(v.time_value().microseconds(), 500000);
  f.type = MYSQL_TYPE_DATETIME;
  ASSERT_TRUE(TextValue(f, "0000-00-00 00:00:00", 19, &v));
  EXPECT_EQ(v.datetime_value().year(), 0);
  EXPECT_FALSE(TextValue(f, "2024-01-01", 10, &v));
  ASSERT_TRUE(TextValue(f, nullptr, 0, &v));
  EXPECT_TRUE(v.has_null_value());
}

}  // namespace
}  // namespace txgate::sql
