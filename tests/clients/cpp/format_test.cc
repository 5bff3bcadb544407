// txgate-cli's output formats and its statement splitting, offline.
#include "cli/format.h"

#include <sstream>
#include <string>

#include "cli/script.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace txgate::cli {
namespace {

using client::Value;
using ::testing::ElementsAre;

txgate::v1::ResultSet Sample() {
  txgate::v1::ResultSet rs;
  rs.add_columns()->set_name("id");
  rs.add_columns()->set_name("name");
  rs.add_columns()->set_name("data");
  auto add_row = [&](Value a, Value b, Value c) {
    txgate::v1::Row* row = rs.add_rows();
    *row->add_values() = a.proto();
    *row->add_values() = b.proto();
    *row->add_values() = c.proto();
  };
  add_row(Value::Int(1), Value::String("héllo, \"you\""), Value::Bytes(std::string("\x00\xff", 2)));
  add_row(Value::Uint64(18446744073709551615u), Value::Null(), Value::String(""));
  return rs;
}

std::string Render(const txgate::v1::ResultSet& rs, OutputFormat format) {
  std::ostringstream out;
  WriteResult(rs, format, out);
  return out.str();
}

TEST(FormatTest, ParsesFormatNames) {
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(ParseOutputFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FormatTest, TableAlignsByCodePoints) {
  EXPECT_EQ(Render(Sample(), OutputFormat::kTable),
            "+----------------------+--------------+--------+\n"
            "| id                   | name         | data   |\n"
            "+----------------------+--------------+--------+\n"
            "| 1                    | héllo, \"you\" | 0x00FF |\n"
            "| 18446744073709551615 | NULL         |        |\n"
            "+----------------------+--------------+--------+\n"
            "2 rows in set\n");
}

TEST(FormatTest, TableOfAStatementWithoutColumns) {
  txgate::v1::ResultSet rs;
  rs.set_affected_rows(1);
  rs.set_last_insert_id(42);
  EXPECT_EQ(Render(rs, OutputFormat::kTable), "Query OK, 1 row affected, last insert id 42\n");
  rs.set_affected_rows(3);
  rs.set_last_insert_id(0);
  rs.set_warning_count(1);
  EXPECT_EQ(Render(rs, OutputFormat::kTable), "Query OK, 3 rows affected, 1 warning\n");
  EXPECT_EQ(Render(rs, OutputFormat::kCsv), "");
  EXPECT_EQ(Render(rs, OutputFormat::kJson), "");
}

TEST(FormatTest, CsvQuotesPerRfc4180) {
  EXPECT_EQ(Render(Sample(), OutputFormat::kCsv),
            "id,name,data\r\n"
            "1,\"héllo, \"\"you\"\"\",0x00FF\r\n"
            "18446744073709551615,,\"\"\r\n");
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a\nb"), "\"a\nb\"");
  EXPECT_EQ(CsvField("a\rb"), "\"a\rb\"");
  EXPECT_EQ(CsvField(""), "\"\"");
  EXPECT_EQ(CsvField("ignored", true), "");
}

TEST(FormatTest, JsonOneObjectPerRow) {
  EXPECT_EQ(Render(Sample(), OutputFormat::kJson),
            "{\"id\":1,\"name\":\"héllo, \\\"you\\\"\",\"data\":\"AP8=\"}\n"
            "{\"id\":18446744073709551615,\"name\":null,\"data\":\"\"}\n");
}

TEST(FormatTest, JsonValues) {
  EXPECT_EQ(JsonValue(Value::Decimal("-1.50")), "\"-1.50\"");
  EXPECT_EQ(JsonValue(Value::Double(2.5)), "2.5");
  EXPECT_EQ(JsonValue(Value::Bool(true)), "true");
  EXPECT_EQ(JsonValue(Value::Json("{\"a\": [1]}")), "{\"a\": [1]}");
  EXPECT_EQ(JsonValue(Value::DateTime(2024, 1, 2, 3, 4, 5, 6)), "\"2024-01-02 03:04:05.000006\"");
  EXPECT_EQ(JsonValue(Value::Time(true, 1, 0, 0)), "\"-01:00:00\"");
  EXPECT_EQ(JsonValue(Value::Int(-3)), "-3");
  EXPECT_EQ(JsonString(std::string("a\\b\t\x01", 5)), "\"a\\\\b\\t\\u0001\"");
}

TEST(ScriptTest, SplitsAtLinesEndingInSemicolon) {
  EXPECT_THAT(SplitStatements("-- setup\n"
                              "CREATE TABLE t (a INT);\n"
                              "\n"
                              "INSERT INTO t\n"
                              "  VALUES (1), (2);  \n"
                              "SELECT 'a;b' FROM t\n"
                              ";\n"
                              "# trailing\n"
                              "SELECT 2"),
              ElementsAre("CREATE TABLE t (a INT)", "INSERT INTO t\n  VALUES (1), (2)",
                          "SELECT 'a;b' FROM t", "SELECT 2"));
  EXPECT_THAT(SplitStatements(";\n;\n  \n"), ElementsAre());
  EXPECT_THAT(SplitStatements("SELECT 1;"), ElementsAre("SELECT 1"));
}

}  // namespace
}  // namespace txgate::cli
