// A RunTransaction's statements are sent as ONE text command with their
// parameters bound as literals (sql/text_codec.h, README "Transactions").
// Against a real MariaDB, each side by side with the prepared-statement
// path it replaces:
//  - every txgate.v1.Value kind, bound as a literal, means on the server
//    what the binary protocol's bind means: the same values and column
//    types from a set of probes (the value itself, in arithmetic, as text,
//    its hex, collation and coercibility, compared with itself);
//  - every column type decodes from text to the same Values and Columns
//    as from the binary protocol (NULLs, extremes, zero dates, negative
//    and > 24 h times, JSON, ENUM/SET, BIT, ...), and the types that cannot
//    (FLOAT, a DOUBLE with a scale) are never batched;
//  - a caller's "A; B" never runs B: the server refuses to prepare it, so
//    it is never batched, and the RPC answers the syntax error;
//  - placeholders inside strings and comments stay text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/mysql/connection.h"
#include "server/sql/error.h"
#include "server/sql/text_codec.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using txgate::v1::Value;

std::unique_ptr<mysql::Connection> Open() {
  absl::StatusOr<std::unique_ptr<mysql::Connection>> conn =
      mysql::Connection::Open(DefaultServerOptions().mysql, absl::Seconds(5));
  EXPECT_TRUE(conn.ok()) << conn.status();
  return conn.ok() ? std::move(*conn) : nullptr;
}

absl::Status ReadInto(mysql::Connection& conn, txgate::v1::ResultSet* out) {
  conn.AppendColumns(out->mutable_columns());
  for (;;) {
    txgate::v1::Row row;
    size_t bytes = 0;
    absl::StatusOr<bool> more = conn.Next(&row, &bytes);
    if (!more.ok()) return more.status();
    if (!*more) break;
    *out->add_rows() = std::move(row);
  }
  absl::StatusOr<db::ExecSummary> done = conn.Done();
  if (!done.ok()) return done.status();
  out->set_affected_rows(done->affected_rows);
  out->set_last_insert_id(done->last_insert_id);
  out->set_warning_count(done->warning_count);
  return absl::OkStatus();
}

// What a caller sees of a result, as text.
enum class Show { kValues, kTypes, kAll };
std::string Describe(const absl::StatusOr<txgate::v1::ResultSet>& r, Show show) {
  if (!r.ok()) {
    std::optional<sql::MysqlError> e = sql::GetMysqlError(r.status());
    return absl::StrCat("error ", e.has_value() ? e->errnum : 0);
  }
  std::vector<std::string> parts;
  for (const txgate::v1::Column& c : r->columns()) {
    if (show == Show::kAll) parts.push_back(c.ShortDebugString());
    if (show == Show::kTypes) parts.push_back(c.name() + ":" + c.type());
  }
  std::string out = absl::StrJoin(parts, ",");
  for (const txgate::v1::Row& row : r->rows()) {
    std::vector<std::string> values;
    for (const Value& v : row.values()) values.push_back(v.ShortDebugString());
    absl::StrAppend(&out, " | ", absl::StrJoin(values, ", "));
  }
  absl::StrAppend(&out, " affected=", r->affected_rows(), " id=", r->last_insert_id(),
                  " warnings=", r->warning_count());
  return out;
}

absl::StatusOr<txgate::v1::ResultSet> Prepared(mysql::Connection& conn, const std::string& sql,
                                               const db::Params& params) {
  if (absl::Status s = conn.Start(sql, params); !s.ok()) return s;
  txgate::v1::ResultSet out;
  if (absl::Status s = ReadInto(conn, &out); !s.ok()) return s;
  return out;
}

// The same statement through a batch (inside an XA transaction, rolled
// back after); nullopt if it is not batched. `literals_only`: bound by
// sql::InlineParams alone, whatever BatchText would decide about the
// statement (to see every literal at work in any position).
std::optional<absl::StatusOr<txgate::v1::ResultSet>> Batched(mysql::Connection& conn,
                                                             const std::string& sql,
                                                             const db::Params& params,
                                                             bool literals_only = false) {
  absl::StatusOr<std::optional<std::string>> text =
      literals_only ? sql::InlineParams(sql, sql::Placeholders(sql), params)
                    : conn.BatchText(sql, params);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok() || !text->has_value()) return std::nullopt;
  db::TransactionStart start;
  start.xa = true;
  absl::Status s = conn.BeginTransactionWithBatch(start, {**text});
  EXPECT_TRUE(s.ok()) << s;
  txgate::v1::ResultSet out;
  if (s.ok()) s = conn.NextResult();
  if (s.ok()) s = ReadInto(conn, &out);
  EXPECT_TRUE(conn.RollbackTransaction().ok());
  if (!s.ok()) return absl::StatusOr<txgate::v1::ResultSet>(s);
  return absl::StatusOr<txgate::v1::ResultSet>(std::move(out));
}

Value Null() {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}
Value I64(int64_t x) {
  Value v;
  v.set_int64_value(x);
  return v;
}
Value U64(uint64_t x) {
  Value v;
  v.set_uint64_value(x);
  return v;
}
Value Bit(uint64_t x) {
  Value v;
  v.set_bit_value(x);
  return v;
}
Value F64(double x) {
  Value v;
  v.set_double_value(x);
  return v;
}
Value Bool(bool x) {
  Value v;
  v.set_bool_value(x);
  return v;
}
Value Str(const std::string& x) {
  Value v;
  v.set_string_value(x);
  return v;
}
Value Json(const std::string& x) {
  Value v;
  v.set_json_value(x);
  return v;
}
Value Bytes(const std::string& x) {
  Value v;
  v.set_bytes_value(x);
  return v;
}
Value Dec(const std::string& x) {
  Value v;
  v.set_decimal_value(x);
  return v;
}
Value Date(int y, int m, int d) {
  Value v;
  v.mutable_date_value()->set_year(y);
  v.mutable_date_value()->set_month(m);
  v.mutable_date_value()->set_day(d);
  return v;
}
Value DateTime(int y, int mo, int d, int h, int mi, int s, int us) {
  Value v;
  txgate::v1::DateTime* t = v.mutable_datetime_value();
  t->set_year(y);
  t->set_month(mo);
  t->set_day(d);
  t->set_hour(h);
  t->set_minute(mi);
  t->set_second(s);
  t->set_microsecond(us);
  return v;
}
Value Time(bool neg, int h, int m, int s, int us) {
  Value v;
  txgate::v1::Duration* t = v.mutable_time_value();
  t->set_negative(neg);
  t->set_hours(h);
  t->set_minutes(m);
  t->set_seconds(s);
  t->set_microseconds(us);
  return v;
}

class BatchTest : public ::testing::Test {};

TEST_F(BatchTest, EveryValueKindMeansOnTheServerWhatItsBindMeans) {
  const std::vector<Value> values = {
      Null(),
      I64(0),
      I64(1),
      I64(-1),
      I64(std::numeric_limits<int64_t>::max()),
      I64(std::numeric_limits<int64_t>::min()),
      U64(0),
      U64(5),
      U64(9223372036854775808ULL),
      U64(std::numeric_limits<uint64_t>::max()),
      Bit(5),
      F64(1.5),
      F64(-0.0),
      F64(0.1),
      F64(-2.5e-300),
      F64(1e300),
      F64(5e-324),
      F64(123456789012345678.0),
      F64(3.0),
      Bool(true),
      Bool(false),
      Str(""),
      Str("abc"),
      Str("12"),
      Str(std::string("O'Reilly \\ \" \n \r \x1a \0 end", 24)),
      Str("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e ?"),
      Json("{\"a\": [1, 2.5, \"x\"]}"),
      Bytes(std::string("\0\xff'\\A", 5)),
      Bytes("12"),
      Bytes(""),
      Dec("1.50"),
      Dec("-0.001"),
      Dec("+3"),
      Dec(".5"),
      Dec("123456789012345678901234567890.123456789"),
      Dec("1e3"),
      Dec("abc"),
      Dec("-7"),
      Dec(std::string(66, '9')),
      Date(2024, 2, 29),
      Date(9999, 12, 31),
      Date(1, 1, 1),
      Date(0, 0, 0),
      Date(2023, 2, 29),
      DateTime(2024, 1, 2, 3, 4, 5, 6),
      DateTime(2024, 1, 2, 3, 4, 5, 0),
      DateTime(1970, 1, 1, 0, 0, 0, 999999),
      DateTime(0, 0, 0, 0, 0, 0, 0),
      Time(true, 838, 59, 59, 999999),
      Time(false, 100, 0, 0, 0),
      Time(false, 0, 0, 0, 0),
      Time(true, 0, 0, 1, 0),
      Time(false, 23, 59, 59, 500000),
  };
  // The value in expressions: bound by the literal path alone (BatchText
  // keeps parameters out of select lists), compared by value.
  const std::vector<std::string> probes = {
      "SELECT ? AS v",
      "SELECT ? + 0 AS n",
      "SELECT ? - 10 AS m",
      "SELECT CONCAT(?) AS s",
      "SELECT HEX(?) AS h",
      "SELECT COLLATION(?) AS c",
      "SELECT COERCIBILITY(?) AS k",
      "SELECT ? IS NULL AS z",
      "SELECT ? = ? AS eq",
      "SELECT ? < 1 AS lt",
      "SELECT ? = 'abc' AS cmp",
      "SELECT ? = 'ABC' AS ci",
      "SELECT ? = 1.5 AS num",
      "SELECT ? = DATE'2024-02-29' AS d",
      "SELECT DATE_ADD(?, INTERVAL 1 SECOND) AS t",
  };
  // The value where BatchText puts it, against table columns of every
  // kind: values, types and full column metadata.
  Admin(
      "CREATE OR REPLACE TABLE txgate.bt_one (id INT PRIMARY KEY, s VARCHAR(10), n BIGINT, "
      "u BIGINT UNSIGNED, d DATE, dt DATETIME(6), tm TIME(6), de DECIMAL(10,2), b "
      "VARBINARY(10), f DOUBLE, j JSON)");
  Admin(
      "INSERT INTO txgate.bt_one VALUES (1, 'abc', 5, 5, '2024-02-29', '2024-01-02 "
      "03:04:05.000006', '-838:59:59.999999', 1.50, 'A', 1.5, '{\"a\": [1, 2.5, \"x\"]}')");
  const std::vector<std::string> filters = {
      "SELECT * FROM bt_one WHERE s = ?",
      "SELECT * FROM bt_one WHERE n = ?",
      "SELECT * FROM bt_one WHERE u = ?",
      "SELECT * FROM bt_one WHERE n < ?",
      "SELECT * FROM bt_one WHERE d = ?",
      "SELECT * FROM bt_one WHERE dt = ?",
      "SELECT * FROM bt_one WHERE tm = ?",
      "SELECT * FROM bt_one WHERE de = ?",
      "SELECT * FROM bt_one WHERE b = ?",
      "SELECT * FROM bt_one WHERE f = ?",
      "SELECT * FROM bt_one WHERE j = ?",
      "SELECT * FROM bt_one WHERE ? IS NULL",
      "SELECT 1 AS one FROM bt_one LIMIT ?",
      "SELECT id, n - 10 AS m FROM bt_one WHERE n + ? > 0 ORDER BY id LIMIT ?",
      "SELECT id FROM bt_one WHERE id IN (SELECT id FROM bt_one WHERE s <> ?) FOR UPDATE",
  };
  std::unique_ptr<mysql::Connection> conn = Open();
  ASSERT_NE(conn, nullptr);
  int batched = 0;
  for (const Value& v : values) {
    for (const std::string& probe : probes) {
      SCOPED_TRACE(absl::StrCat(probe, " with ", v.ShortDebugString()));
      db::Params params;
      for (size_t i = 0; i < probe.size(); ++i) {
        if (probe[i] == '?') *params.Add() = v;
      }
      const absl::StatusOr<txgate::v1::ResultSet> prepared = Prepared(*conn, probe, params);
      std::optional<absl::StatusOr<txgate::v1::ResultSet>> text =
          Batched(*conn, probe, params, /*literals_only=*/true);
      // A column that does not decode from text exactly (NULL + 0 is a
      // DOUBLE with a scale of 0) is refused, as a batch would be.
      if (!text.has_value() || (!text->ok() && db::IsBatchStale(text->status()))) continue;
      ++batched;
      EXPECT_EQ(Describe(*text, Show::kValues), Describe(prepared, Show::kValues));
      EXPECT_FALSE(Batched(*conn, probe, params).has_value());
    }
    for (const std::string& probe : filters) {
      SCOPED_TRACE(absl::StrCat(probe, " with ", v.ShortDebugString()));
      db::Params params;
      for (size_t i = 0; i < probe.size(); ++i) {
        if (probe[i] == '?') *params.Add() = v;
      }
      const absl::StatusOr<txgate::v1::ResultSet> prepared = Prepared(*conn, probe, params);
      std::optional<absl::StatusOr<txgate::v1::ResultSet>> text = Batched(*conn, probe, params);
      if (!text.has_value()) continue;
      ++batched;
      EXPECT_EQ(Describe(*text, Show::kAll), Describe(prepared, Show::kAll));
    }
  }
  std::cerr << batched << " probe runs batched of "
            << values.size() * (probes.size() + filters.size()) << "\n";
  EXPECT_GT(batched, static_cast<int>(values.size() * probes.size() / 2));
  Admin("DROP TABLE txgate.bt_one");
}

TEST_F(BatchTest, EveryColumnTypeDecodesFromTextAsFromTheBinaryProtocol) {
  Admin(
      "CREATE OR REPLACE TABLE txgate.bt_types (id INT PRIMARY KEY, ti TINYINT, tiu TINYINT "
      "UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu "
      "BIGINT UNSIGNED, b BIT(12), b64 BIT(64), de DECIMAL(30,10), du DECIMAL(5,0) UNSIGNED, "
      "d DOUBLE, dt DATE, dtm DATETIME(6), dtm0 DATETIME, ts TIMESTAMP(6) NULL, tm TIME(6), "
      "tm0 TIME, y YEAR, j JSON, bl BLOB, tx TEXT, vc VARCHAR(20), vb VARBINARY(20), ch "
      "CHAR(5), bn BINARY(4), e ENUM('a','b'), st SET('x','y'), g POINT NULL) ENGINE=InnoDB");
  Admin(
      "SET STATEMENT sql_mode = '' FOR INSERT INTO txgate.bt_types VALUES "
      "(1, -128, 255, -32768, 16777215, -2147483648, 4294967295, -9223372036854775808, "
      "18446744073709551615, b'101010101010', b'1111111111111111111111111111111111111111111111111"
      "111111111111111', -12345678901234567890.0123456789, 99999, -1.7976931348623157e308, "
      "'9999-12-31', '9999-12-31 23:59:59.999999', '0000-00-00 00:00:00', '2038-01-19 "
      "03:14:07.000001', '-838:59:59.000000', '838:59:59', 2155, '{\"k\": [1, null]}', "
      "x'00ff27', 'text ''q'' \\\\ end', 'v', x'0001', 'c', 'bin', 'b', 'x,y', POINT(1, 2)),"
      "(2, 0, 0, 0, 0, 0, 0, 0, 0, b'0', b'0', 0, 0, 5e-324, '0000-00-00', '0000-00-00 "
      "00:00:00', '2024-02-29 12:00:00', NULL, '-00:00:00.5', '-25:00:01', 1901, '[]', '', '', "
      "'', '', '', '', 'a', '', NULL),"
      "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL),"
      "(4, 1, 1, 1, 1, 1, 1, 1, 1, b'1', b'1', 0.0000000001, 1, 0.1, '2000-01-01', "
      "'2000-01-01 00:00:00.100000', '2000-01-01 00:00:01', '2000-01-01 00:00:00', "
      "'100:00:00.000010', '24:00:00', 0, '\"s\"', x'41', '\xe6\x97\xa5', '\xe6\x97\xa5', x'ff', "
      "'\xe6\x97\xa5', x'00', 'a', 'y', NULL)");
  std::unique_ptr<mysql::Connection> conn = Open();
  ASSERT_NE(conn, nullptr);
  for (const std::string& sql :
       {std::string("SELECT * FROM bt_types ORDER BY id"),
        std::string(
            "SELECT id, ts, d / 2 AS d2, de + 1 AS de1, SUM(iu) OVER () AS w, CAST(j AS "
            "CHAR) AS jc, tm + INTERVAL 1 HOUR AS tm1, NULL AS n FROM bt_types ORDER BY id"),
        std::string("SELECT * FROM bt_types WHERE id = ? FOR UPDATE")}) {
    SCOPED_TRACE(sql);
    db::Params params;
    if (sql.find('?') != std::string::npos) *params.Add() = I64(1);
    const absl::StatusOr<txgate::v1::ResultSet> prepared = Prepared(*conn, sql, params);
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    std::optional<absl::StatusOr<txgate::v1::ResultSet>> text = Batched(*conn, sql, params);
    ASSERT_TRUE(text.has_value()) << "not batched";
    EXPECT_EQ(Describe(*text, Show::kAll), Describe(prepared, Show::kAll));
  }
  // FLOAT is printed with 6 significant digits, a DOUBLE(M,D) rounded to
  // D: such statements are not batched (they run prepared).
  Admin("CREATE OR REPLACE TABLE txgate.bt_float (f FLOAT, df DOUBLE(10,2))");
  Admin("INSERT INTO txgate.bt_float VALUES (1.00000012, 1.005)");
  for (const std::string& sql :
       {std::string("SELECT f FROM bt_float"), std::string("SELECT df FROM bt_float"),
        std::string("SELECT f + 0 AS f0 FROM bt_float")}) {
    SCOPED_TRACE(sql);
    std::optional<absl::StatusOr<txgate::v1::ResultSet>> text = Batched(*conn, sql, {});
    if (text.has_value()) {
      EXPECT_EQ(Describe(*text, Show::kAll), Describe(Prepared(*conn, sql, {}), Show::kAll));
    }
  }
  EXPECT_FALSE(Batched(*conn, "SELECT f FROM bt_float", {}).has_value());
  Admin("DROP TABLE txgate.bt_types, txgate.bt_float");
}

TEST_F(BatchTest, OnlyTextsTheServerPreparedAsOneStatementAreBatched) {
  std::unique_ptr<mysql::Connection> conn = Open();
  ASSERT_NE(conn, nullptr);
  Admin("CREATE OR REPLACE TABLE txgate.bt_keep (v INT)");
  for (const std::string& sql : {std::string("UPDATE bt_keep SET v = 1; DROP TABLE bt_keep"),
                                 std::string("SELECT 1; DROP TABLE bt_keep"),
                                 std::string("CALL nothing()"), std::string("SET @x = 1")}) {
    SCOPED_TRACE(sql);
    absl::StatusOr<std::optional<std::string>> text = conn->BatchText(sql, {});
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_FALSE(text->has_value()) << **text;
  }
  // Placeholders in strings, quoted names and comments are text; a
  // trailing ';' and comment are cut, so nothing can swallow what follows.
  db::Params params;
  *params.Add() = Str("x'; DROP TABLE bt_keep; -- ");
  *params.Add() = I64(2);
  const std::string sql =
      "SELECT '?' AS `a?`, /* ? */ \"?\" AS c FROM DUAL WHERE ? <> '' AND ? = 2 # ?\n ; -- ?";
  std::optional<absl::StatusOr<txgate::v1::ResultSet>> text = Batched(*conn, sql, params);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(Describe(*text, Show::kAll), Describe(Prepared(*conn, sql, params), Show::kAll));
  // Two batched statements after each other: the first's trailing comment
  // does not swallow the second.
  absl::StatusOr<std::optional<std::string>> first =
      conn->BatchText("SELECT 1 AS one -- the end", {});
  absl::StatusOr<std::optional<std::string>> second = conn->BatchText("SELECT 2 AS two;", {});
  ASSERT_TRUE(first.ok() && first->has_value() && second.ok() && second->has_value());
  db::TransactionStart start;
  start.xa = true;
  ASSERT_TRUE(conn->BeginTransactionWithBatch(start, {**first, **second}).ok());
  for (int i = 1; i <= 2; ++i) {
    txgate::v1::ResultSet r;
    ASSERT_TRUE(conn->NextResult().ok());
    ASSERT_TRUE(ReadInto(*conn, &r).ok());
    ASSERT_EQ(r.rows_size(), 1);
    EXPECT_EQ(r.rows(0).values(0).int64_value(), i);
  }
  EXPECT_FALSE(conn->pending_result());
  EXPECT_TRUE(conn->RollbackTransaction().ok());
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.bt_keep")[0][0], "0");
  Admin("DROP TABLE txgate.bt_keep");
}

// Through the RPC: a 3-statement transfer costs two round trips to the
// database, keyed or not; a duplicate key is found by its row; a caller's
// second statement in one text never runs; a failing statement is named
// and nothing commits; statements a batch cannot carry run after it.
class BatchRpcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    service::ServerOptions options = DefaultServerOptions();
    options.pool.min_idle = 1;
    options.pool.max_size = 1;  // every call on the one session
    // No pings of idle sessions between calls: the commands a call sends
    // are counted process-wide.
    options.pool.maintenance_interval = absl::Hours(1);
    server_ = new TestServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    Admin("CREATE OR REPLACE TABLE txgate.bt_acct (id INT PRIMARY KEY, balance BIGINT NOT NULL)");
    Admin("INSERT INTO txgate.bt_acct VALUES (1, 1000), (2, 0)");
    Admin(
        "CREATE OR REPLACE TABLE txgate.bt_log (id INT AUTO_INCREMENT PRIMARY KEY, amount "
        "BIGINT NOT NULL)");
    // Keys of earlier runs (the table may not exist yet).
    (void)AdminQuery("DELETE FROM txgate.txgate_outcomes WHERE idempotency_key LIKE 'bt-%'");
  }
  void TearDown() override {
    EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10)));
    Admin("DROP TABLE IF EXISTS txgate.bt_acct, txgate.bt_log");
  }

  static txgate::v1::RunTransactionRequest Transfer(int64_t amount, const std::string& key = "") {
    txgate::v1::RunTransactionRequest request;
    request.set_idempotency_key(key);
    txgate::v1::Statement* s = request.add_statements();
    s->set_sql("UPDATE bt_acct SET balance = balance - ? WHERE id = ? AND balance >= ?");
    *s->add_params() = I64(amount);
    *s->add_params() = I64(1);
    *s->add_params() = I64(amount);
    s->mutable_expect()->set_min_affected_rows(1);
    s = request.add_statements();
    s->set_sql("UPDATE bt_acct SET balance = balance + ? WHERE id = ?");
    *s->add_params() = I64(amount);
    *s->add_params() = I64(2);
    s = request.add_statements();
    s->set_sql("INSERT INTO bt_log (amount) VALUES (?)");
    *s->add_params() = I64(amount);
    return request;
  }
  static grpc::Status Run(const txgate::v1::RunTransactionRequest& request,
                          txgate::v1::RunTransactionResponse* response) {
    auto ctx = WithDeadline(absl::Seconds(20));
    return server_->stub().RunTransaction(ctx.get(), request, response);
  }
  static std::string Balances() {
    return Admin(
        "SELECT GROUP_CONCAT(balance ORDER BY id SEPARATOR '/') FROM txgate.bt_acct")[0][0];
  }

  static TestServer* server_;
};
TestServer* BatchRpcTest::server_ = nullptr;

TEST_F(BatchRpcTest, ATransferTakesTwoRoundTripsKeyedOrNot) {
  txgate::v1::RunTransactionResponse response;
  // The first use of each text on the session prepares it (proof that it
  // is one statement), once.
  ASSERT_TRUE(Run(Transfer(1), &response).ok());
  ASSERT_TRUE(Run(Transfer(1, "bt-warm"), &response).ok());
  uint64_t before = mysql::Connection::CommandsSent();
  grpc::Status s = Run(Transfer(5), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(mysql::Connection::CommandsSent() - before, 2u);
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).affected_rows(), 1u);
  EXPECT_EQ(response.results(1).affected_rows(), 1u);
  EXPECT_EQ(response.results(2).affected_rows(), 1u);
  EXPECT_GT(response.results(2).last_insert_id(), 0u);
  EXPECT_EQ(Balances(), "993/7");

  before = mysql::Connection::CommandsSent();
  txgate::v1::RunTransactionResponse keyed;
  s = Run(Transfer(10, "bt-key-1"), &keyed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(mysql::Connection::CommandsSent() - before, 2u);
  EXPECT_EQ(Balances(), "983/17");
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key = "
                  "'bt-key-1' AND LENGTH(response) > 0")[0][0],
            "1");

  // The same request again: its claim meets the key's row, and the stored
  // response is the answer; nothing runs twice.
  txgate::v1::RunTransactionResponse again;
  s = Run(Transfer(10, "bt-key-1"), &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The same answer; each carries a causality token (the first its commit's
  // GTID, the stored one the binary log's position then), compared apart.
  EXPECT_FALSE(keyed.causality_token().empty());
  EXPECT_FALSE(again.causality_token().empty());
  again.clear_causality_token();
  keyed.clear_causality_token();
  EXPECT_EQ(again.SerializeAsString(), keyed.SerializeAsString());
  EXPECT_EQ(Balances(), "983/17");
  // Another request with that key.
  s = Run(Transfer(11, "bt-key-1"), &again);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "IDEMPOTENCY_KEY_REUSED") << s.error_message();
  EXPECT_EQ(Balances(), "983/17");

  // An unmet expectation in the batch: all rolled back, and the session
  // stays in the pool (read to its end, not closed).
  const std::vector<std::string> sessions = TxgateSessionIds();
  s = Run(Transfer(100000), &response);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "EXPECTATION_FAILED") << s.error_message();
  EXPECT_EQ(Balances(), "983/17");
  s = Run(Transfer(100000, "bt-key-2"), &response);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "EXPECTATION_FAILED") << s.error_message();
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key = "
                  "'bt-key-2'")[0][0],
            "0");
  EXPECT_EQ(TxgateSessionIds(), sessions);
}

TEST_F(BatchRpcTest, ASecondStatementInOneTextNeverRuns) {
  txgate::v1::RunTransactionRequest request = Transfer(1);
  request.mutable_statements(1)->set_sql(
      "UPDATE bt_acct SET balance = balance + ? WHERE id = ?; DROP TABLE bt_acct");
  txgate::v1::RunTransactionResponse response;
  grpc::Status s = Run(request, &response);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2: "));
  EXPECT_EQ(Balances(), "1000/0");  // the table is there, untouched
}

TEST_F(BatchRpcTest, AFailingStatementIsNamedAndNothingCommits) {
  txgate::v1::RunTransactionRequest request = Transfer(1);
  request.mutable_statements(1)->set_sql("UPDATE bt_acct SET nothing = ? WHERE id = ?");
  txgate::v1::RunTransactionResponse response;
  grpc::Status s = Run(request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();  // 1054
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2: "));
  EXPECT_EQ(Balances(), "1000/0");
  // A duplicate in the caller's own table, in the middle of the batch.
  request = Transfer(1);
  request.mutable_statements(1)->set_sql("INSERT INTO bt_acct VALUES (?, ?)");
  s = Run(request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2: "));
  EXPECT_EQ(Balances(), "1000/0");
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.bt_log")[0][0], "0");
}

TEST_F(BatchRpcTest, StatementsABatchCannotCarryRunAfterIt) {
  Admin("CREATE OR REPLACE TABLE txgate.bt_f (f FLOAT)");
  Admin("INSERT INTO txgate.bt_f VALUES (1.00000012)");
  txgate::v1::RunTransactionRequest request = Transfer(3);
  request.mutable_statements()->SwapElements(1, 2);
  txgate::v1::Statement* f = request.add_statements();
  f->set_sql("SELECT f, ? AS p FROM bt_f");
  *f->add_params() = I64(7);
  request.mutable_statements()->SwapElements(1, 3);  // 0 batched, 1 not, 2 and 3 after
  txgate::v1::RunTransactionResponse response;
  grpc::Status s = Run(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.results_size(), 4);
  const absl::StatusOr<txgate::v1::ResultSet> fresh =
      RunOnNewSession("SELECT f, ? AS p FROM bt_f", {I64(7)});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(Describe(response.results(1), Show::kAll), Describe(*fresh, Show::kAll));
  EXPECT_EQ(Balances(), "997/3");
  Admin("DROP TABLE txgate.bt_f");
}

// A column that becomes FLOAT after its statement was checked (DDL from
// another session): the batch sees it in the result's own column
// definitions, the transaction runs again, and the statement then runs
// prepared: the answer is what a fresh session gets.
TEST_F(BatchRpcTest, AColumnRetypedAfterTheCheckIsNeverReadFromText) {
  Admin("CREATE OR REPLACE TABLE txgate.bt_x (v DOUBLE)");
  Admin("INSERT INTO txgate.bt_x VALUES (1.00000012)");
  txgate::v1::RunTransactionRequest request = Transfer(1);
  request.add_statements()->set_sql("SELECT v FROM bt_x");
  txgate::v1::RunTransactionResponse response;
  ASSERT_TRUE(Run(request, &response).ok());
  Admin("ALTER TABLE txgate.bt_x MODIFY v FLOAT");
  const int64_t retries = server_->server().runner_stats().conflict_retries;
  grpc::Status s = Run(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const absl::StatusOr<txgate::v1::ResultSet> fresh = RunOnNewSession("SELECT v FROM bt_x");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(Describe(response.results(3), Show::kAll), Describe(*fresh, Show::kAll));
  EXPECT_EQ(server_->server().runner_stats().conflict_retries, retries + 1);
  EXPECT_EQ(Balances(), "998/2");
  Admin("DROP TABLE txgate.bt_x");
}

// Connection losses (KILL CONNECTION, as root) in each round trip: in the
// first, nothing can have committed, and the transaction runs again on a
// fresh connection; in the second, with a key, the key's row decides
// (here: not committed, so it runs again), applied exactly once either way.
TEST_F(BatchRpcTest, ALossInEitherRoundTripIsHealedAndAppliedOnce) {
  txgate::v1::RunTransactionRequest request = Transfer(2);
  txgate::v1::Statement* sleep = request.add_statements();
  sleep->set_sql("SELECT SLEEP(1) AS bt_round_one FROM DUAL WHERE 1 = ?");
  *sleep->add_params() = I64(1);
  txgate::v1::RunTransactionResponse response;
  {
    SessionKiller killer("SELECT SLEEP(1) AS bt_round_one", 1);
    grpc::Status s = Run(request, &response);
    EXPECT_EQ(killer.Stop().size(), 1u);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(response.attempts(), 2u);
  EXPECT_EQ(Balances(), "998/2");

  // The second round trip made slow by a trigger on the outcome table's
  // UPDATE (the claim is an INSERT, so only round 2 sleeps).
  txgate::v1::RunTransactionResponse warm;
  ASSERT_TRUE(Run(Transfer(1, "bt-round-warm"), &warm).ok());  // the table exists
  Admin(
      "CREATE OR REPLACE TRIGGER txgate.bt_slow_outcome BEFORE UPDATE ON "
      "txgate.txgate_outcomes FOR EACH ROW SET NEW.created_at = NEW.created_at + "
      "INTERVAL SLEEP(1) SECOND");
  {
    SessionKiller killer("UPDATE %txgate_outcomes% SET response", 1);
    grpc::Status s = Run(Transfer(3, "bt-round-two"), &response);
    EXPECT_EQ(killer.Stop().size(), 1u);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  Admin("DROP TRIGGER txgate.bt_slow_outcome");
  EXPECT_EQ(response.attempts(), 2u);
  EXPECT_EQ(Balances(), "994/6");
  EXPECT_GE(server_->server().runner_stats().outcome_lookups, 1);
}

}  // namespace
}  // namespace txgate::testing
