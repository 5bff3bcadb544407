// Every RPC of txgate.v1.DatabaseService against a real MariaDB: results,
// every column type round-tripped losslessly, transactions, streaming, and
// bad input answered with its precise status while the server keeps serving.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using txgate::v1::Value;

class RpcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new TestServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    // Whatever a test did, no connection may stay leased.
    EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10)));
  }
  txgate::v1::DatabaseService::Stub& stub() { return server_->stub(); }
  void Sql(const std::string& sql) { ASSERT_TRUE(Exec(stub(), sql).ok()) << sql; }

  // Asserts the server still answers a trivial query.
  void ExpectServing() {
    txgate::v1::ExecuteResponse r;
    grpc::Status s = Exec(stub(), "SELECT 1", {}, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 1);
  }

  static TestServer* server_;
};
TestServer* RpcTest::server_ = nullptr;

TEST_F(RpcTest, ExecuteReturnsRowsColumnsAndCounters) {
  Sql("DROP TABLE IF EXISTS exec_t");
  Sql("CREATE TABLE exec_t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL)");
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(
      Exec(stub(), "INSERT INTO exec_t (name) VALUES (?), (?)", {Str("a"), Str("b")}, &r).ok());
  EXPECT_EQ(r.result().affected_rows(), 2u);
  EXPECT_EQ(r.result().last_insert_id(), 1u);
  ASSERT_TRUE(
      Exec(stub(), "SELECT id, name FROM exec_t WHERE id > ? ORDER BY id", {Int(0)}, &r).ok());
  ASSERT_EQ(r.result().columns_size(), 2);
  EXPECT_EQ(r.result().columns(0).name(), "id");
  EXPECT_EQ(r.result().columns(0).type(), "INT");
  EXPECT_FALSE(r.result().columns(0).nullable());
  EXPECT_EQ(r.result().columns(1).type(), "VARCHAR");
  ASSERT_EQ(r.result().rows_size(), 2);
  EXPECT_EQ(r.result().rows(1).values(1).string_value(), "b");
  ASSERT_TRUE(Exec(stub(), "INSERT INTO exec_t (name) VALUES (?)", {Str("c")}, &r).ok());
  EXPECT_EQ(r.result().warning_count(), 0u);
  ASSERT_TRUE(
      Exec(stub(), "INSERT INTO exec_t (name) VALUES (CAST(? AS CHAR(1)))", {Str("toolong")}, &r)
          .ok());
  EXPECT_EQ(r.result().warning_count(), 1u);
}

// Column length, precision and scale are what MariaDB reports for the
// declared types (what JDBC's ResultSetMetaData and DB-API's description give).
TEST_F(RpcTest, ColumnsCarryLengthPrecisionAndScale) {
  Sql("DROP TABLE IF EXISTS meta_t");
  Sql("CREATE TABLE meta_t (d DECIMAL(10,2), u DECIMAL(7,0) UNSIGNED, v VARCHAR(10), "
      "b VARBINARY(12), t DATETIME(6), f DOUBLE, g DOUBLE(8,3), i INT) CHARSET utf8mb4");
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT d, u, v, b, t, f, g, i FROM meta_t", {}, &r).ok());
  ASSERT_EQ(r.result().columns_size(), 8);
  const auto& c = r.result().columns();
  EXPECT_EQ(c[0].precision(), 10u);  // DECIMAL(10,2)
  EXPECT_EQ(c[0].scale(), 2u);
  EXPECT_EQ(c[1].precision(), 7u);  // DECIMAL(7,0) UNSIGNED
  EXPECT_EQ(c[1].scale(), 0u);
  EXPECT_EQ(c[2].length(), 10u);  // VARCHAR(10): characters, not utf8mb4 bytes
  EXPECT_EQ(c[2].precision(), 0u);
  EXPECT_EQ(c[3].length(), 12u);  // VARBINARY(12): bytes
  EXPECT_EQ(c[4].length(), 26u);  // DATETIME(6): 'YYYY-MM-DD hh:mm:ss.ffffff'
  EXPECT_EQ(c[4].scale(), 6u);
  EXPECT_EQ(c[5].scale(), 0u);    // DOUBLE without (M,D)
  EXPECT_EQ(c[6].scale(), 3u);    // DOUBLE(8,3)
  EXPECT_EQ(c[7].length(), 11u);  // INT's display width
  EXPECT_EQ(c[7].scale(), 0u);
  Sql("DROP TABLE meta_t");
}

struct TypeCase {
  std::string column_type;
  Value input;
  Value expected;  // defaults to input
  std::string type_name;
};

Value Dbl(double d) {
  Value v;
  v.set_double_value(d);
  return v;
}
Value Dec(const std::string& s) {
  Value v;
  v.set_decimal_value(s);
  return v;
}
Value Bit(uint64_t b) {
  Value v;
  v.set_bit_value(b);
  return v;
}
Value Json(const std::string& s) {
  Value v;
  v.set_json_value(s);
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
  auto* t = v.mutable_datetime_value();
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
  auto* t = v.mutable_time_value();
  t->set_negative(neg);
  t->set_hours(h);
  t->set_minutes(m);
  t->set_seconds(s);
  t->set_microseconds(us);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}

TEST_F(RpcTest, EveryColumnTypeRoundTripsLosslessly) {
  const std::string decimal65 =
      "-12345678901234567890123456789012345.123456789012345678901234567890";
  std::vector<TypeCase> cases = {
      {"TINYINT", Int(-128), Int(-128), "TINYINT"},
      {"TINYINT UNSIGNED", Uint(255), Uint(255), "TINYINT UNSIGNED"},
      {"SMALLINT", Int(-32768), Int(-32768), "SMALLINT"},
      {"MEDIUMINT UNSIGNED", Uint(16777215), Uint(16777215), "MEDIUMINT UNSIGNED"},
      {"INT", Int(-2147483648LL), Int(-2147483648LL), "INT"},
      {"BIGINT", Int(INT64_MIN), Int(INT64_MIN), "BIGINT"},
      {"BIGINT UNSIGNED", Uint(18446744073709551615ULL), Uint(18446744073709551615ULL),
       "BIGINT UNSIGNED"},
      {"TINYINT", Bool(true), Int(1), "TINYINT"},
      {"FLOAT", Dbl(3.4028234663852886e38), Dbl(3.4028234663852886e38), "FLOAT"},
      {"FLOAT", Dbl(0.1), Dbl(static_cast<double>(0.1f)), "FLOAT"},
      {"DOUBLE", Dbl(0.1 + 0.2), Dbl(0.1 + 0.2), "DOUBLE"},
      {"DOUBLE", Dbl(1.7976931348623157e308), Dbl(1.7976931348623157e308), "DOUBLE"},
      {"DOUBLE", Dbl(4.9406564584124654e-324), Dbl(4.9406564584124654e-324), "DOUBLE"},
      {"DECIMAL(65,30)", Dec(decimal65), Dec(decimal65), "DECIMAL"},
      {"DECIMAL(10,2)", Dec("0.10"), Dec("0.10"), "DECIMAL"},
      {"CHAR(10)", Str("abc"), Str("abc"), "CHAR"},
      {"VARCHAR(64)", Str("h\xC3\xA9llo \xF0\x9F\x8E\x89 \xE4\xB8\xAD"),
       Str("h\xC3\xA9llo \xF0\x9F\x8E\x89 \xE4\xB8\xAD"), "VARCHAR"},
      {"MEDIUMTEXT", Str(std::string(100000, 'x') + "\xF0\x9F\x98\x80"),
       Str(std::string(100000, 'x') + "\xF0\x9F\x98\x80"), "TEXT"},
      {"BINARY(4)", Bytes(std::string("\x00\xff\x01\x80", 4)),
       Bytes(std::string("\x00\xff\x01\x80", 4)), "BINARY"},
      {"VARBINARY(16)", Bytes(std::string("\x00\x00\xfe", 3)),
       Bytes(std::string("\x00\x00\xfe", 3)), "VARBINARY"},
      {"LONGBLOB", Bytes(std::string(300000, '\xab') + std::string(1, '\0')),
       Bytes(std::string(300000, '\xab') + std::string(1, '\0')), "BLOB"},
      {"BIT(64)", Bit(0x8000000000000001ULL), Bit(0x8000000000000001ULL), "BIT"},
      {"BIT(3)", Bit(5), Bit(5), "BIT"},
      {"ENUM('small','large')", Str("large"), Str("large"), "ENUM"},
      {"SET('x','y','z')", Str("x,z"), Str("x,z"), "SET"},
      {"DATE", Date(2024, 2, 29), Date(2024, 2, 29), "DATE"},
      {"DATE", Date(1000, 1, 1), Date(1000, 1, 1), "DATE"},
      {"TIME(6)", Time(true, 838, 59, 59, 0), Time(true, 838, 59, 59, 0), "TIME"},
      {"TIME(6)", Time(false, 100, 0, 1, 500000), Time(false, 100, 0, 1, 500000), "TIME"},
      {"TIME(6)", Time(true, 0, 0, 0, 1), Time(true, 0, 0, 0, 1), "TIME"},
      {"DATETIME(6)", DateTime(9999, 12, 31, 23, 59, 59, 999999),
       DateTime(9999, 12, 31, 23, 59, 59, 999999), "DATETIME"},
      {"DATETIME(6)", DateTime(2024, 2, 29, 0, 0, 0, 1), DateTime(2024, 2, 29, 0, 0, 0, 1),
       "DATETIME"},
      {"TIMESTAMP(6) NULL", DateTime(2038, 1, 19, 3, 14, 7, 999999),
       DateTime(2038, 1, 19, 3, 14, 7, 999999), "TIMESTAMP"},
      {"YEAR", Int(2155), Int(2155), "YEAR"},
      {"JSON", Json("{\"a\": [1, 2.5, \"\xF0\x9F\x8E\x89\"], \"b\": null}"),
       Json("{\"a\": [1, 2.5, \"\xF0\x9F\x8E\x89\"], \"b\": null}"), "JSON"},
      {"INT NULL", Null(), Null(), "INT"},
      {"VARCHAR(5) NULL", Null(), Null(), "VARCHAR"},
      {"DATETIME NULL", Null(), Null(), "DATETIME"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const TypeCase& c = cases[i];
    SCOPED_TRACE(absl::StrCat(c.column_type, " <- ", c.input.ShortDebugString().substr(0, 200)));
    const std::string table = absl::StrCat("types_", i);
    Sql("DROP TABLE IF EXISTS " + table);
    Sql(absl::StrCat("CREATE TABLE ", table, " (v ", c.column_type, ")"));
    grpc::Status s = Exec(stub(), absl::StrCat("INSERT INTO ", table, " VALUES (?)"), {c.input});
    ASSERT_TRUE(s.ok()) << s.error_message();
    txgate::v1::ExecuteResponse r;
    s = Exec(stub(), absl::StrCat("SELECT v FROM ", table), {}, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(r.result().rows_size(), 1);
    const Value& got = r.result().rows(0).values(0);
    EXPECT_TRUE(MessageDifferencer::Equals(got, c.expected))
        << "got " << got.ShortDebugString().substr(0, 200);
    EXPECT_EQ(r.result().columns(0).type(), c.type_name);
    // And the value binds back as a parameter that matches the stored one.
    if (c.expected.kind_case() != Value::kNullValue && c.column_type.rfind("FLOAT", 0) != 0) {
      s = Exec(stub(), absl::StrCat("SELECT COUNT(*) FROM ", table, " WHERE v = ?"), {got}, &r);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 1);
    }
    Sql("DROP TABLE " + table);
  }
}

txgate::v1::Statement Stmt(const std::string& sql, std::vector<Value> params = {}) {
  txgate::v1::Statement s;
  s.set_sql(sql);
  for (auto& p : params) *s.add_params() = std::move(p);
  return s;
}

TEST_F(RpcTest, RunTransactionIsAllOrNothing) {
  Sql("DROP TABLE IF EXISTS acct");
  Sql("CREATE TABLE acct (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB");
  Sql("INSERT INTO acct VALUES (1, 100), (2, 0)");
  txgate::v1::RunTransactionRequest req;
  *req.add_statements() = Stmt("UPDATE acct SET balance = balance - ? WHERE id = 1", {Int(30)});
  *req.add_statements() = Stmt("UPDATE acct SET balance = balance + ? WHERE id = 2", {Int(30)});
  *req.add_statements() = Stmt("SELECT SUM(balance) FROM acct");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  grpc::Status s = stub().RunTransaction(ctx.get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).affected_rows(), 1u);
  EXPECT_EQ(resp.results(2).rows(0).values(0).decimal_value(), "100");
  EXPECT_EQ(resp.attempts(), 1u);

  // A failing statement rolls back the ones before it.
  txgate::v1::RunTransactionRequest bad;
  *bad.add_statements() = Stmt("UPDATE acct SET balance = balance - 50 WHERE id = 1");
  *bad.add_statements() = Stmt("INSERT INTO acct VALUES (2, 0)");  // duplicate key
  ctx = WithDeadline(absl::Seconds(10));
  s = stub().RunTransaction(ctx.get(), bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2"));
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1062");
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT balance FROM acct WHERE id = 1", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 70);
}

TEST_F(RpcTest, RunTransactionHonoursReadOnlyAndIsolation) {
  Sql("DROP TABLE IF EXISTS ro_t");
  Sql("CREATE TABLE ro_t (id INT PRIMARY KEY)");
  Sql("INSERT INTO ro_t VALUES (10)");
  // The isolation level, seen by what a second read of the same transaction
  // sees after another session committed a change: READ COMMITTED sees it,
  // REPEATABLE READ (the server's default) does not. (RunTransaction and a
  // Transaction stream open their transaction the same way.)
  for (const auto& [level, expected] : std::vector<std::pair<txgate::v1::IsolationLevel, int64_t>>{
           {txgate::v1::ISOLATION_LEVEL_READ_COMMITTED, 1},
           {txgate::v1::ISOLATION_LEVEL_REPEATABLE_READ, 0}}) {
    Sql("DELETE FROM ro_t WHERE id <> 10");
    auto ctx = WithDeadline(absl::Seconds(10));
    auto stream = stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest begin;
    begin.mutable_begin()->mutable_options()->set_isolation_level(level);
    begin.mutable_begin()->mutable_options()->set_read_only(true);
    txgate::v1::TransactionResponse out;
    ASSERT_TRUE(stream->Write(begin) && stream->Read(&out));
    txgate::v1::TransactionRequest read;
    *read.mutable_statement() = Stmt("SELECT COUNT(*) FROM ro_t WHERE id = 11");
    ASSERT_TRUE(stream->Write(read) && stream->Read(&out));
    EXPECT_EQ(out.result().rows(0).values(0).int64_value(), 0);
    Admin("INSERT INTO txgate.ro_t VALUES (11)");  // committed by another session
    ASSERT_TRUE(stream->Write(read) && stream->Read(&out));
    EXPECT_EQ(out.result().rows(0).values(0).int64_value(), expected) << level;
    txgate::v1::TransactionRequest rollback;
    rollback.mutable_rollback();
    ASSERT_TRUE(stream->Write(rollback) && stream->Read(&out));
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  txgate::v1::RunTransactionRequest req;
  req.mutable_options()->set_read_only(true);
  req.mutable_options()->set_isolation_level(txgate::v1::ISOLATION_LEVEL_SERIALIZABLE);
  *req.add_statements() = Stmt("SELECT COUNT(*) FROM ro_t");
  txgate::v1::RunTransactionResponse resp;
  {
    auto ctx = WithDeadline(absl::Seconds(10));
    ASSERT_TRUE(stub().RunTransaction(ctx.get(), req, &resp).ok());
  }
  req.clear_statements();
  *req.add_statements() = Stmt("SELECT COUNT(*) FROM ro_t");
  *req.add_statements() = Stmt("INSERT INTO ro_t VALUES (1)");
  auto ctx = WithDeadline(absl::Seconds(10));
  grpc::Status s = stub().RunTransaction(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1792");
  // The isolation level applied to that transaction only.
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT @@tx_isolation", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).string_value(), "REPEATABLE-READ");
}

TEST_F(RpcTest, ImplicitCommitStatementsAreRefusedInTransactions) {
  for (const char* sql : {"CREATE TABLE x (id INT)", "DROP TABLE acct", "LOCK TABLES acct WRITE",
                          "COMMIT", "START TRANSACTION", "BEGIN", "ROLLBACK", "SET autocommit = 1",
                          "TRUNCATE TABLE acct", "/*!50000 CREATE TABLE y (id INT) */"}) {
    SCOPED_TRACE(sql);
    txgate::v1::RunTransactionRequest req;
    *req.add_statements() = Stmt("SELECT 1");
    *req.add_statements() = Stmt(sql);
    txgate::v1::RunTransactionResponse resp;
    auto ctx = WithDeadline(absl::Seconds(10));
    grpc::Status s = stub().RunTransaction(ctx.get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(ErrorInfoOf(s).reason(), "IMPLICIT_COMMIT_REFUSED");
  }
  // ROLLBACK TO SAVEPOINT keeps the transaction: allowed.
  txgate::v1::RunTransactionRequest req;
  *req.add_statements() = Stmt("SAVEPOINT a");
  *req.add_statements() = Stmt("ROLLBACK TO SAVEPOINT a");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  grpc::Status s = stub().RunTransaction(ctx.get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(RpcTest, StreamQueryStreamsBoundedChunks) {
  txgate::v1::StreamQueryRequest req;
  req.set_sql("SELECT seq, REPEAT('x', 100) FROM seq_1_to_25000 WHERE seq > ?");
  *req.add_params() = Int(0);
  req.set_max_rows_per_chunk(1000);
  auto ctx = WithDeadline(absl::Seconds(60));
  auto reader = stub().StreamQuery(ctx.get(), req);
  txgate::v1::StreamQueryResponse chunk;
  int chunks = 0;
  uint64_t next = 1;
  bool done = false;
  while (reader->Read(&chunk)) {
    if (chunks == 0) {
      ASSERT_EQ(chunk.columns_size(), 2);
      EXPECT_EQ(chunk.columns(0).name(), "seq");
    } else {
      EXPECT_EQ(chunk.columns_size(), 0);
    }
    EXPECT_LE(chunk.rows_size(), 1000);
    for (const auto& row : chunk.rows()) EXPECT_EQ(row.values(0).uint64_value(), next++);
    done = chunk.done();
    ++chunks;
  }
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(done);
  EXPECT_EQ(next, 25001u);
  EXPECT_GE(chunks, 25);
}

TEST_F(RpcTest, StreamQueryCancelledMidwayReleasesItsConnection) {
  txgate::v1::StreamQueryRequest req;
  req.set_sql("SELECT seq FROM seq_1_to_10000000");
  req.set_max_rows_per_chunk(100);
  grpc::ClientContext ctx;
  auto reader = stub().StreamQuery(&ctx, req);
  txgate::v1::StreamQueryResponse chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  ctx.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // TearDown checks the lease came back; the connection still works.
  ExpectServing();
}

TEST_F(RpcTest, UnaryResultOverTheLimitPointsAtStreamQuery) {
  txgate::v1::ExecuteResponse r;
  grpc::Status s = Exec(stub(), "SELECT REPEAT('x', 1000) FROM seq_1_to_10000", {}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("StreamQuery"));
  ExpectServing();
}

TEST_F(RpcTest, InteractiveTransactionCommitsAndRollsBack) {
  Sql("DROP TABLE IF EXISTS itx");
  Sql("CREATE TABLE itx (id INT PRIMARY KEY)");
  auto run = [&](bool commit) {
    auto ctx = WithDeadline(absl::Seconds(10));
    auto stream = stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest req;
    txgate::v1::TransactionResponse resp;
    req.mutable_begin()->mutable_options()->set_isolation_level(
        txgate::v1::ISOLATION_LEVEL_READ_COMMITTED);
    EXPECT_TRUE(stream->Write(req));
    EXPECT_TRUE(stream->Read(&resp));
    EXPECT_TRUE(resp.has_begun());
    req.Clear();
    *req.mutable_statement() = Stmt("INSERT INTO itx VALUES (?)", {Int(commit ? 1 : 2)});
    EXPECT_TRUE(stream->Write(req));
    EXPECT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.result().affected_rows(), 1u);
    req.Clear();
    if (commit) {
      req.mutable_commit();
    } else {
      req.mutable_rollback();
    }
    EXPECT_TRUE(stream->Write(req));
    EXPECT_TRUE(stream->Read(&resp));
    EXPECT_EQ(commit ? resp.has_committed() : resp.has_rolled_back(), true);
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  };
  run(true);
  run(false);
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT GROUP_CONCAT(id) FROM itx", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).string_value(), "1");
}

TEST_F(RpcTest, BrokenOrCancelledInteractiveTransactionRollsBack) {
  Sql("DROP TABLE IF EXISTS itx2");
  Sql("CREATE TABLE itx2 (id INT PRIMARY KEY)");
  for (bool cancel : {true, false}) {
    SCOPED_TRACE(cancel ? "cancelled" : "half-closed without commit");
    grpc::ClientContext ctx;
    auto stream = stub().Transaction(&ctx);
    txgate::v1::TransactionRequest req;
    txgate::v1::TransactionResponse resp;
    *req.mutable_statement() = Stmt("INSERT INTO itx2 VALUES (1)");  // opens implicitly
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    if (cancel) {
      ctx.TryCancel();
      EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
    } else {
      stream->WritesDone();
      grpc::Status s = stream->Finish();
      EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
      EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_NOT_COMMITTED");
    }
    EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10)));
    txgate::v1::ExecuteResponse r;
    ASSERT_TRUE(Exec(stub(), "SELECT COUNT(*) FROM itx2", {}, &r).ok());
    EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 0);
  }
}

TEST_F(RpcTest, DeadlineStopsTheStatementOnTheServer) {
  const absl::Time start = absl::Now();
  grpc::Status s = Exec(stub(), "SELECT SLEEP(30)", {}, nullptr, absl::Milliseconds(300));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // prompt, not after 30 s
  // The query is gone from the server's process list...
  EXPECT_TRUE(Eventually(
      [] {
        absl::StatusOr<std::vector<std::vector<std::string>>> rows = AdminQuery(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
            "'SELECT SLEEP(30)%'");
        // The process list is read while the killed session goes away; a
        // failed read of it says nothing about txgate: look again.
        if (!rows.ok()) std::cerr << "process list: " << rows.status() << "\n";
        return rows.ok() && !rows->empty() && (*rows)[0][0] == "0";
      },
      absl::Seconds(5)));
  // ...and its connection is reused cleanly.
  ASSERT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(5)));
  for (int i = 0; i < 10; ++i) ExpectServing();
}

TEST_F(RpcTest, CancelledCallStopsItsStatementAndRollsBack) {
  Sql("DROP TABLE IF EXISTS cancel_t");
  Sql("CREATE TABLE cancel_t (id INT PRIMARY KEY)");
  grpc::ClientContext ctx;
  txgate::v1::RunTransactionRequest req;
  *req.add_statements() = Stmt("INSERT INTO cancel_t VALUES (1)");
  *req.add_statements() = Stmt("SELECT SLEEP(30)");
  txgate::v1::RunTransactionResponse resp;
  grpc::Status status;
  std::thread call([&] { status = stub().RunTransaction(&ctx, req, &resp); });
  ASSERT_TRUE(Eventually(
      [] {
        return Admin(
                   "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                   "'SELECT SLEEP(30)%'")[0][0] == "1";
      },
      absl::Seconds(10)));
  ctx.TryCancel();
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(5)));
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT COUNT(*) FROM cancel_t", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 0);
}

struct BadInput {
  std::string name;
  std::string sql;
  std::vector<Value> params;
  grpc::StatusCode code;
  std::string errnum;  // empty: no MySQL error behind it
};

TEST_F(RpcTest, BadInputGetsPreciseStatusAndTheServerKeepsServing) {
  Sql("DROP TABLE IF EXISTS bad_t");
  Sql("CREATE TABLE bad_t (id INT PRIMARY KEY, n INT NOT NULL, d DATE, "
      "CONSTRAINT pos CHECK (n >= 0))");
  Sql("INSERT INTO bad_t VALUES (1, 1, NULL)");
  Value unset;
  Value bad_date = Date(2024, 13, 1);
  const std::vector<BadInput> cases = {
      {"empty SQL", "", {}, grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"only a comment", "  /* nothing */ ", {}, grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"syntax error", "SELEC 1", {}, grpc::StatusCode::INVALID_ARGUMENT, "1064"},
      {"too few parameters", "SELECT ?, ?", {Int(1)}, grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"too many parameters", "SELECT 1", {Int(1)}, grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"value with no kind", "SELECT ?", {unset}, grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"impossible date", "SELECT ?", {bad_date}, grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"wrong type for column",
       "INSERT INTO bad_t VALUES (2, ?, NULL)",
       {Str("abc")},
       grpc::StatusCode::INVALID_ARGUMENT,
       "1366"},
      {"out of range",
       "INSERT INTO bad_t VALUES (3, ?, NULL)",
       {Int(1LL << 40)},
       grpc::StatusCode::OUT_OF_RANGE,
       "1264"},
      {"NULL into NOT NULL",
       "INSERT INTO bad_t VALUES (4, ?, NULL)",
       {Null()},
       grpc::StatusCode::FAILED_PRECONDITION,
       "1048"},
      {"duplicate key",
       "INSERT INTO bad_t VALUES (1, 1, NULL)",
       {},
       grpc::StatusCode::ALREADY_EXISTS,
       "1062"},
      {"check constraint",
       "INSERT INTO bad_t VALUES (5, -1, NULL)",
       {},
       grpc::StatusCode::FAILED_PRECONDITION,
       "4025"},
      {"unknown table", "SELECT * FROM no_such_table", {}, grpc::StatusCode::NOT_FOUND, "1146"},
      {"unknown column",
       "SELECT no_such_column FROM bad_t",
       {},
       grpc::StatusCode::NOT_FOUND,
       "1054"},
      // txgate's account has rights on its own database only, and the
      // server does not tell it whether another database exists.
      {"table in an unknown database",
       "SELECT * FROM no_such_db.t",
       {},
       grpc::StatusCode::PERMISSION_DENIED,
       "1142"},
      {"USE unknown database", "USE no_such_db", {}, grpc::StatusCode::PERMISSION_DENIED, "1044"},
      {"two statements",
       "SELECT 1; DROP TABLE bad_t",
       {},
       grpc::StatusCode::INVALID_ARGUMENT,
       "1064"},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status s = Exec(stub(), c.sql, c.params);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    const google::rpc::ErrorInfo info = ErrorInfoOf(s);
    EXPECT_EQ(info.domain(), "txgate.dev");
    if (c.errnum.empty()) {
      EXPECT_EQ(info.reason(), "INVALID_REQUEST");
    } else {
      EXPECT_EQ(info.reason(), "MYSQL_ERROR");
      EXPECT_EQ(info.metadata().at("mysql_errno"), c.errnum);
      EXPECT_EQ(info.metadata().at("mysql_sqlstate").size(), 5u);
      EXPECT_FALSE(info.metadata().at("mysql_message").empty());
    }
    ExpectServing();
  }
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT COUNT(*) FROM bad_t", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 1);  // nothing bad got in
}

// Wire bytes as gRPC sends them.
grpc::ByteBuffer Wire(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A unary call of `method` with `request` as its raw bytes.
grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& request) {
  grpc::GenericStub generic(channel);
  auto context = WithDeadline(absl::Seconds(30));
  grpc::ByteBuffer in = Wire(request);
  grpc::ByteBuffer out;
  std::promise<grpc::Status> done;
  generic.UnaryCall(context.get(), method, grpc::StubOptions(), &in, &out,
                    [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// A streaming call of `method` that sends `messages` (raw bytes), closes
// its side and reads to the end; `responses` counts what came back.
grpc::Status RawStream(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                       const std::vector<std::string>& messages, int* responses) {
  grpc::GenericStub generic(channel);
  grpc::CompletionQueue cq;
  auto context = WithDeadline(absl::Seconds(30));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      generic.PrepareCall(context.get(), method, &cq);
  // Each operation is awaited before the next; its tag is its address.
  auto await = [&cq](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  int tag = 0;
  call->StartCall(&tag);
  await(&tag);
  for (const std::string& message : messages) {
    call->Write(Wire(message), &tag);
    if (!await(&tag)) break;  // the server ended the call
  }
  call->WritesDone(&tag);
  await(&tag);
  *responses = 0;
  for (;;) {
    grpc::ByteBuffer response;
    call->Read(&response, &tag);
    if (!await(&tag)) break;
    ++*responses;
  }
  grpc::Status status;
  call->Finish(&status, &tag);
  await(&tag);
  cq.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (cq.Next(&ignored_tag, &ignored_ok)) {
  }
  return status;
}

void ExpectUndecodable(const grpc::Status& s, const std::string& type) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr(type));
  EXPECT_EQ(ErrorInfoOf(s).reason(), "INVALID_REQUEST");
}

TEST_F(RpcTest, UndecodableRequestsAreInvalidArgumentInEveryRpc) {
  Sql("DROP TABLE IF EXISTS undecodable_t");
  Sql("CREATE TABLE undecodable_t (id INT PRIMARY KEY)");
  const std::string prefix = "/txgate.v1.DatabaseService/";
  // Not wire format: field 0 with a reserved wire type.
  const std::string garbage = "\xff\xff\xff\xff\x0f";
  // Wire format, but `sql` (field 1, a string) holds bytes that are not UTF-8.
  const std::string not_utf8 = std::string("\x0a\x0a") + "SELECT '\xc3\x28'";
  // A valid request cut short: `sql` says 40 bytes and has 8.
  const std::string truncated = std::string("\x0a\x28") + "SELECT 1";
  for (const std::string& bytes : {garbage, not_utf8, truncated}) {
    ExpectUndecodable(RawUnary(server_->channel(), prefix + "Execute", bytes),
                      "txgate.v1.ExecuteRequest");
    ExpectUndecodable(RawUnary(server_->channel(), prefix + "RunTransaction", bytes),
                      "txgate.v1.RunTransactionRequest");
    int responses = 0;
    ExpectUndecodable(RawStream(server_->channel(), prefix + "StreamQuery", {bytes}, &responses),
                      "txgate.v1.StreamQueryRequest");
    EXPECT_EQ(responses, 0);
    ExpectServing();
  }

  // In an interactive transaction, a message that cannot be decoded ends
  // it, rolled back: the statement before it is not committed.
  txgate::v1::TransactionRequest begin;
  begin.mutable_begin();
  txgate::v1::TransactionRequest insert;
  insert.mutable_statement()->set_sql("INSERT INTO undecodable_t VALUES (1)");
  int responses = 0;
  ExpectUndecodable(
      RawStream(server_->channel(), prefix + "Transaction",
                {begin.SerializeAsString(), insert.SerializeAsString(), garbage}, &responses),
      "txgate.v1.TransactionRequest");
  EXPECT_EQ(responses, 2);  // begun, the INSERT's result
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "SELECT COUNT(*) FROM undecodable_t", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 0);
  ExpectServing();
}

TEST_F(RpcTest, RequestOverTheSizeLimitIsRefused) {
  service::ServerOptions options = DefaultServerOptions();
  options.max_request_bytes = 64 << 10;
  TestServer small(options);
  grpc::Status s = Exec(small.stub(), "SELECT ?", {Str(std::string(100 << 10, 'x'))});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  txgate::v1::ExecuteResponse r;
  s = Exec(small.stub(), "SELECT ?", {Str(std::string(10 << 10, 'x'))}, &r);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(RpcTest, SessionStateChangesDoNotLeakToOtherCallers) {
  // Every pooled connection sees the change attempt; none may keep it.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Exec(stub(), "SET @leak = 42").ok());
    ASSERT_TRUE(Exec(stub(), "SET SESSION sql_mode = 'ANSI_QUOTES'").ok());
  }
  for (int i = 0; i < 20; ++i) {
    txgate::v1::ExecuteResponse r;
    ASSERT_TRUE(
        Exec(stub(), "SELECT @leak IS NULL, @@SESSION.sql_mode <> 'ANSI_QUOTES'", {}, &r).ok());
    EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 1);
    EXPECT_EQ(r.result().rows(0).values(1).int64_value(), 1);
  }
}

TEST_F(RpcTest, PreparedStatementsAreReusedNotReprepared) {
  auto prepares = [] {
    return std::stoll(
        Admin("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
              "WHERE VARIABLE_NAME = 'COM_STMT_PREPARE'")[0][0]);
  };
  ExpectServing();
  const int64_t before = prepares();
  for (int i = 0; i < 50; ++i) {
    txgate::v1::ExecuteResponse r;
    ASSERT_TRUE(Exec(stub(), "SELECT ? + 0 AS reuse_check", {Int(i)}, &r).ok());
  }
  // At most one prepare per pooled connection (8), not one per call: a plain
  // SELECT must not make txgate think the session changed and reset it.
  EXPECT_LE(prepares() - before, 8);
}

}  // namespace
}  // namespace txgate::testing
