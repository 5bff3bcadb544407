// What one statement answers, against a real MariaDB: exactly what the
// database said, whatever happened on the session or to the table before.
//  - cached prepared statements across DDL from another session (reorder,
//    rename, add, drop, type change, table dropped and re-created) answer
//    what a freshly prepared statement answers;
//  - the server's max_prepared_stmt_count reached (1461) is survived;
//  - every result set and the OUT parameters of a CALL, in every RPC;
//  - response counters of the statement itself (insert id, warnings);
//  - an error raised while rows are fetched keeps its errno and message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/mysql/connection.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

// Columns (name and type) and rows of a result, as text.
std::string Describe(const txgate::v1::ResultSet& r) {
  std::vector<std::string> parts;
  for (const txgate::v1::Column& c : r.columns()) parts.push_back(c.name() + ":" + c.type());
  std::string out = absl::StrJoin(parts, ",");
  for (const txgate::v1::Row& row : r.rows()) {
    std::vector<std::string> values;
    for (const txgate::v1::Value& v : row.values()) values.push_back(v.ShortDebugString());
    absl::StrAppend(&out, " | ", absl::StrJoin(values, ", "));
  }
  return out;
}

// What a brand-new connection (a statement never prepared before) answers.
std::string FreshRun(const std::string& sql, std::vector<txgate::v1::Value> params) {
  absl::StatusOr<txgate::v1::ResultSet> r = RunOnNewSession(sql, std::move(params));
  return r.ok() ? Describe(*r) : absl::StrCat("error ", r.status().message());
}

class StatementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    service::ServerOptions options = DefaultServerOptions();
    options.pool.min_idle = 1;
    options.pool.max_size = 1;  // every call reuses the one session's cache
    server_ = new TestServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override { EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10))); }

  txgate::v1::DatabaseService::Stub& stub() { return server_->stub(); }

  std::string Run(const std::string& sql, std::vector<txgate::v1::Value> params = {}) {
    txgate::v1::ExecuteResponse r;
    grpc::Status s = Exec(stub(), sql, std::move(params), &r);
    if (!s.ok()) return absl::StrCat("error ", s.error_message());
    return Describe(r.result());
  }

  static TestServer* server_;
};
TestServer* StatementTest::server_ = nullptr;

TEST_F(StatementTest, ACachedStatementAnswersWhatAFreshOneDoesAfterDdl) {
  struct Change {
    const char* name;
    std::vector<const char*> ddl;
  };
  const std::vector<Change> changes = {
      {"columns reordered", {"ALTER TABLE txgate.swap MODIFY b INT AFTER id"}},
      {"column renamed", {"ALTER TABLE txgate.swap RENAME COLUMN a TO a2"}},
      {"column added", {"ALTER TABLE txgate.swap ADD COLUMN c VARCHAR(5) DEFAULT 'x'"}},
      {"column dropped", {"ALTER TABLE txgate.swap DROP COLUMN b"}},
      {"type changed", {"ALTER TABLE txgate.swap MODIFY a2 VARCHAR(10)"}},
      {"table dropped and re-created",
       {"DROP TABLE txgate.swap", "CREATE TABLE txgate.swap (id INT PRIMARY KEY, z DATE)",
        "INSERT INTO txgate.swap VALUES (1, '2026-01-02')"}},
  };
  Admin("CREATE OR REPLACE TABLE txgate.swap (id INT PRIMARY KEY, a INT, b INT)");
  Admin("INSERT INTO txgate.swap VALUES (1, 10, 20)");
  const std::string sql = "SELECT * FROM swap WHERE id = ?";
  EXPECT_EQ(Run(sql, {Int(1)}),
            "id:INT,a:INT,b:INT | int64_value: 1, int64_value: 10, int64_value: 20");
  const std::string locking = "SELECT * FROM swap WHERE id = ? FOR UPDATE";
  for (const Change& change : changes) {
    SCOPED_TRACE(change.name);
    ASSERT_THAT(Run(sql, {Int(1)}), ::testing::Not(::testing::StartsWith("error")));  // cached
    ASSERT_THAT(Run(locking, {Int(1)}), ::testing::Not(::testing::StartsWith("error")));
    for (const char* ddl : change.ddl) Admin(ddl);
    const std::string fresh = FreshRun(sql, {Int(1)});
    EXPECT_EQ(Run(sql, {Int(1)}), fresh);
    EXPECT_EQ(Run(sql, {Int(1)}), fresh);  // and again, from the cache
    EXPECT_EQ(Run(locking, {Int(1)}), fresh) << "a locking read";
  }
}

// The server's limit on prepared statements (shared by every client) is
// reached: txgate frees what its connection caches and goes on.
TEST_F(StatementTest, ThePreparedStatementLimitIsSurvived) {
  const std::string before = Admin("SELECT @@GLOBAL.max_prepared_stmt_count")[0][0];
  Admin("SET GLOBAL max_prepared_stmt_count = 20");
  int failures = 0;
  for (int i = 0; i < 60; ++i) {
    txgate::v1::ExecuteResponse r;
    grpc::Status s = Exec(stub(), absl::StrCat("SELECT ", i, " AS n"), {}, &r);
    if (!s.ok()) {
      ++failures;
      ADD_FAILURE() << "statement " << i << ": " << s.error_message();
    } else {
      EXPECT_EQ(r.result().rows(0).values(0).int64_value(), i);
    }
  }
  Admin(absl::StrCat("SET GLOBAL max_prepared_stmt_count = ", before));
  EXPECT_EQ(failures, 0);
}

// Every result set of a CALL, in order, and its OUT/INOUT parameters.
TEST_F(StatementTest, ACallAnswersEveryResultAndItsOutParameters) {
  Admin("CREATE OR REPLACE TABLE txgate.cnt (id INT PRIMARY KEY, n INT)");
  Admin("INSERT INTO txgate.cnt VALUES (1, 0)");
  Admin(
      "CREATE OR REPLACE PROCEDURE txgate.two_sets(INOUT io INT, OUT o VARCHAR(10)) BEGIN "
      "SELECT 1 AS a, 'x' AS b; SELECT 2 AS c; SET io = io + 1, o = 'out'; "
      "UPDATE cnt SET n = n + 1 WHERE id = 1; END");
  txgate::v1::ExecuteResponse r;
  grpc::Status s = Exec(stub(), "CALL two_sets(?, ?)", {Int(41), Str("")}, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Describe(r.result()), "a:INT,b:VARCHAR | int64_value: 1, string_value: \"x\"");
  ASSERT_EQ(r.result().more_results_size(), 1);
  EXPECT_EQ(Describe(r.result().more_results(0)), "c:INT | int64_value: 2");
  EXPECT_EQ(Describe(r.result().out_parameters()),
            "io:INT,o:VARCHAR | int64_value: 42, string_value: \"out\"");
  EXPECT_EQ(r.result().affected_rows(), 1u);  // the procedure's last statement

  // Inside a RunTransaction, and the connection is in sync afterwards.
  txgate::v1::RunTransactionRequest request;
  txgate::v1::Statement* call = request.add_statements();
  call->set_sql("CALL two_sets(?, ?)");
  *call->add_params() = Int(1);
  *call->add_params() = Str("");
  request.add_statements()->set_sql("SELECT n FROM cnt WHERE id = 1");
  txgate::v1::RunTransactionResponse t;
  auto ctx = WithDeadline(absl::Seconds(30));
  s = stub().RunTransaction(ctx.get(), request, &t);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(t.results(0).more_results_size(), 1);
  EXPECT_EQ(t.results(1).rows(0).values(0).int64_value(), 2);

  // On a Transaction stream.
  auto sctx = WithDeadline(absl::Seconds(30));
  auto stream = stub().Transaction(sctx.get());
  txgate::v1::TransactionRequest req;
  txgate::v1::TransactionResponse resp;
  *req.mutable_statement() = *call;
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.result().more_results_size(), 1);
  req.Clear();
  req.mutable_commit();
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(Admin("SELECT n FROM txgate.cnt WHERE id = 1")[0][0], "3");
}

// Counters are the statement's own: no id of an earlier INSERT, the
// warnings a result set raised.
TEST_F(StatementTest, ResponseCountersAreThoseOfTheStatementItself) {
  Admin("CREATE OR REPLACE TABLE txgate.ai2 (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(Exec(stub(), "INSERT INTO ai2 (v) VALUES (1), (2)", {}, &r).ok());
  EXPECT_EQ(r.result().last_insert_id(), 1u);
  EXPECT_EQ(r.result().affected_rows(), 2u);
  ASSERT_TRUE(Exec(stub(), "SELECT 1", {}, &r).ok());
  EXPECT_EQ(r.result().last_insert_id(), 0u);
  EXPECT_EQ(r.result().affected_rows(), 0u);
  ASSERT_TRUE(Exec(stub(), "UPDATE ai2 SET v = v + 1 WHERE id = 1", {}, &r).ok());
  EXPECT_EQ(r.result().last_insert_id(), 0u);
  EXPECT_EQ(r.result().affected_rows(), 1u);
  ASSERT_TRUE(Exec(stub(), "SELECT 1/0", {}, &r).ok());
  EXPECT_EQ(r.result().warning_count(), 1u);
  ASSERT_TRUE(Exec(stub(), "SELECT 1/0, 2/0", {}, &r).ok());
  EXPECT_EQ(r.result().warning_count(), 2u);

  txgate::v1::StreamQueryRequest q;
  q.set_sql("SELECT 1/0");
  auto ctx = WithDeadline(absl::Seconds(30));
  auto reader = stub().StreamQuery(ctx.get(), q);
  txgate::v1::StreamQueryResponse chunk, last;
  while (reader->Read(&chunk)) last = chunk;
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.warning_count(), 1u);
}

// KILL QUERY of a SELECT whose rows are being fetched: the error keeps its
// errno, SQLSTATE and message.
TEST_F(StatementTest, AnErrorWhileRowsAreFetchedKeepsItsDetail) {
  Admin("CREATE OR REPLACE TABLE txgate.slow (id INT PRIMARY KEY)");
  Admin("INSERT INTO txgate.slow VALUES (1), (2), (3)");
  grpc::Status status;
  std::thread call([&] {
    txgate::v1::ExecuteResponse r;
    status = Exec(stub(), "SELECT id, SLEEP(3) FROM slow", {}, &r);
  });
  std::string id;
  ASSERT_TRUE(Eventually(
      [&] {
        absl::StatusOr<std::vector<std::vector<std::string>>> rows = AdminQuery(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT id, SLEEP(3)%'");
        if (!rows.ok() || rows->empty()) return false;
        id = (*rows)[0][0];
        return true;
      },
      absl::Seconds(10)));
  Admin(absl::StrCat("KILL QUERY ", id));
  call.join();
  const google::rpc::ErrorInfo info = ErrorInfoOf(status);
  EXPECT_EQ(info.metadata().at("mysql_errno"), "1317");
  EXPECT_EQ(info.metadata().at("mysql_sqlstate"), "70100");
  EXPECT_THAT(info.metadata().at("mysql_message"), ::testing::HasSubstr("interrupted"));
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNKNOWN);
}

// StreamQuery streams a CALL's result set (its final status is no second
// result), and an error the procedure raises keeps its detail.
TEST_F(StatementTest, StreamQueryStreamsACallsResultSet) {
  Admin("CREATE OR REPLACE PROCEDURE txgate.p_many() SELECT seq FROM seq_1_to_10");
  Admin(
      "CREATE OR REPLACE PROCEDURE txgate.p_err() BEGIN SELECT 1; SELECT * FROM no_such_tbl; END");
  Admin("CREATE OR REPLACE PROCEDURE txgate.p_two() BEGIN SELECT 1; SELECT 2; END");
  auto stream = [&](const std::string& sql, int* rows) {
    txgate::v1::StreamQueryRequest q;
    q.set_sql(sql);
    q.set_max_rows_per_chunk(3);
    auto ctx = WithDeadline(absl::Seconds(30));
    auto reader = stub().StreamQuery(ctx.get(), q);
    txgate::v1::StreamQueryResponse chunk;
    *rows = 0;
    while (reader->Read(&chunk)) *rows += chunk.rows_size();
    return reader->Finish();
  };
  int rows = 0;
  grpc::Status s = stream("CALL p_many()", &rows);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rows, 10);
  s = stream("CALL p_err()", &rows);
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1146");
  s = stream("CALL p_two()", &rows);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace txgate::testing
