// All-or-nothing whatever SQL a transaction holds, against a real MariaDB.
//
// Every route by which a statement inside RunTransaction or a Transaction
// stream could commit (or end) the transaction early is tried after a first
// statement that adds 1 to a counter; afterwards the counter must be
// unchanged: the route was refused before it ran (IMPLICIT_COMMIT_REFUSED),
// or it ran inside the XA transaction, where the server refused it (1399)
// and the whole transaction rolled back. README, "Transactions".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

txgate::v1::Statement Stmt(const std::string& sql) {
  txgate::v1::Statement s;
  s.set_sql(sql);
  return s;
}

constexpr const char* kBump = "UPDATE at_c SET n = n + 1 WHERE id = 1";

class AtomicityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Admin("DROP TABLE IF EXISTS txgate.at_c, txgate.at_made, txgate.at_other");
    Admin("CREATE TABLE txgate.at_c (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB");
    Admin("CREATE TABLE txgate.at_other (a INT) ENGINE=InnoDB");
    const std::vector<std::pair<std::string, std::string>> procedures = {
        {"at_commit", "BEGIN UPDATE txgate.at_c SET n = n + 100 WHERE id = 2; COMMIT; END"},
        {"at_ddl", "BEGIN CREATE TABLE IF NOT EXISTS txgate.at_made (a INT); END"},
        {"at_truncate", "BEGIN TRUNCATE TABLE txgate.at_other; END"},
        {"at_rollback", "BEGIN ROLLBACK; END"},
        {"at_restart", "BEGIN COMMIT; START TRANSACTION; END"},
        {"at_begin", "BEGIN START TRANSACTION; END"},
        {"at_dynamic", "BEGIN PREPARE s FROM 'COMMIT'; EXECUTE s; END"},
        {"at_dynamic_ddl", "BEGIN EXECUTE IMMEDIATE 'CREATE TABLE txgate.at_made (a INT)'; END"},
        {"at_flush", "BEGIN FLUSH TABLES; END"},
        {"at_ok", "BEGIN UPDATE txgate.at_c SET n = n + 1 WHERE id = 2; END"},
    };
    for (const auto& [name, body] : procedures) {
      Admin(absl::StrCat("DROP PROCEDURE IF EXISTS txgate.", name));
      Admin(absl::StrCat("CREATE PROCEDURE txgate.", name, "() ", body));
    }
    server_ = new TestServer();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    // Idempotency keys of earlier runs of this test are forgotten too (the
    // table exists once txgate ran a transaction).
    (void)AdminQuery("DELETE FROM txgate.txgate_outcomes WHERE idempotency_key LIKE 'at-%'");
    Admin("REPLACE INTO txgate.at_c VALUES (1, 0), (2, 0)");
    Admin("DROP TABLE IF EXISTS txgate.at_made");
  }
  void TearDown() override {
    EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10)));
    // No XA transaction of txgate's is left behind (prepared or not).
    EXPECT_THAT(Admin("XA RECOVER"), ::testing::IsEmpty());
  }

  static std::string Counters() {
    std::vector<std::vector<std::string>> rows =
        Admin("SELECT GROUP_CONCAT(n ORDER BY id) FROM txgate.at_c");
    return rows[0][0];
  }
  static bool Made() {
    return Admin(
               "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'txgate' "
               "AND TABLE_NAME = 'at_made'")[0][0] == "1";
  }

  static grpc::Status RunTransaction(const std::vector<std::string>& sqls,
                                     txgate::v1::RunTransactionResponse* response,
                                     bool read_only = false, const std::string& key = "") {
    txgate::v1::RunTransactionRequest request;
    for (const std::string& sql : sqls) *request.add_statements() = Stmt(sql);
    request.mutable_options()->set_read_only(read_only);
    request.set_idempotency_key(key);
    std::unique_ptr<grpc::ClientContext> ctx = WithDeadline(absl::Seconds(30));
    return server_->stub().RunTransaction(ctx.get(), request, response);
  }

  // Runs `sqls` in a Transaction stream then commits; the stream's status.
  static grpc::Status Interactive(const std::vector<std::string>& sqls) {
    std::unique_ptr<grpc::ClientContext> ctx = WithDeadline(absl::Seconds(30));
    auto stream = server_->stub().Transaction(ctx.get());
    txgate::v1::TransactionResponse response;
    bool open = true;
    for (const std::string& sql : sqls) {
      txgate::v1::TransactionRequest request;
      *request.mutable_statement() = Stmt(sql);
      open = stream->Write(request) && stream->Read(&response);
      if (!open) break;
    }
    if (open) {
      txgate::v1::TransactionRequest commit;
      commit.mutable_commit();
      if (stream->Write(commit)) (void)stream->Read(&response);
    }
    stream->WritesDone();
    return stream->Finish();
  }

  static TestServer* server_;
};
TestServer* AtomicityTest::server_ = nullptr;

// Routes txgate's text check sees: refused before anything runs.
TEST_F(AtomicityTest, RoutesInTheTextAreRefusedBeforeAnythingRuns) {
  const std::vector<std::string> routes = {
      "COMMIT",
      "commit work",
      "ROLLBACK",
      "BEGIN",
      "START TRANSACTION",
      "SET autocommit = 1",
      "SET @@session.autocommit = 1",
      "CREATE TABLE txgate.at_made (a INT)",
      "CREATE TEMPORARY TABLE at_tmp (a INT)",
      "TRUNCATE TABLE txgate.at_other",
      "LOCK TABLES txgate.at_c WRITE",
      "UNLOCK TABLES",
      "FLUSH TABLES",
      "ANALYZE TABLE txgate.at_c",
      "/*!COMMIT*/",
      "/*M! CREATE TABLE txgate.at_made (a INT) */",
      "/*!50000 CREATE TABLE txgate.at_made (a INT) */",
      "-- note\nCOMMIT",
      "SET STATEMENT max_statement_time = 10 FOR CREATE TABLE txgate.at_made (a INT)",
      "SET STATEMENT lock_wait_timeout = 5 FOR COMMIT",
      "EXECUTE IMMEDIATE 'COMMIT'",
      "EXECUTE s",
      "XA END 'x'",
  };
  for (const std::string& route : routes) {
    SCOPED_TRACE(route);
    txgate::v1::RunTransactionResponse response;
    grpc::Status s = RunTransaction({kBump, route, "SELECT 1"}, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "IMPLICIT_COMMIT_REFUSED");
    s = Interactive({kBump, route, "SELECT 1"});
    EXPECT_EQ(ErrorInfoOf(s).reason(), "IMPLICIT_COMMIT_REFUSED") << s.error_message();
    EXPECT_EQ(Counters(), "0,0");
    EXPECT_FALSE(Made());
  }
}

// Routes the text cannot see (a procedure's body): they run inside the XA
// transaction, the server refuses the commit (1399), all rolls back.
TEST_F(AtomicityTest, ProceduresThatWouldCommitAreRefusedByTheServer) {
  for (const char* procedure : {"at_commit", "at_ddl", "at_truncate", "at_rollback", "at_restart",
                                "at_begin", "at_dynamic", "at_dynamic_ddl", "at_flush"}) {
    const std::string call = absl::StrCat("CALL ", procedure, "()");
    SCOPED_TRACE(call);
    txgate::v1::RunTransactionResponse response;
    grpc::Status s = RunTransaction({kBump, call, "SELECT 1"}, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "IMPLICIT_COMMIT_REFUSED") << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1399") << s.error_message();
    EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2: "));
    s = Interactive({kBump, call, "SELECT 1"});
    EXPECT_EQ(ErrorInfoOf(s).reason(), "IMPLICIT_COMMIT_REFUSED") << s.error_message();
    EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2: "));
    EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1399") << s.error_message();
    // Read-only transactions are guarded the same way.
    s = RunTransaction({call}, &response, /*read_only=*/true);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(Counters(), "0,0");
    EXPECT_FALSE(Made());
  }
  // The same procedures run with Execute, in autocommit.
  ASSERT_TRUE(Exec(server_->stub(), "CALL at_commit()").ok());
  EXPECT_EQ(Counters(), "0,100");
}

// A procedure that does not commit is an ordinary part of a transaction.
TEST_F(AtomicityTest, AProcedureThatDoesNotCommitRunsInsideATransaction) {
  txgate::v1::RunTransactionResponse response;
  grpc::Status s = RunTransaction({kBump, "CALL at_ok()"}, &response, false, "at-ok-1");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.attempts(), 1u);
  s = RunTransaction({kBump, "CALL at_ok()"}, &response, false, "at-ok-1");  // a retry
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Counters(), "1,1");  // applied once
  ASSERT_TRUE(Interactive({kBump, "CALL at_ok()"}).ok());
  EXPECT_EQ(Counters(), "2,2");
}

// The case: a transaction whose procedure would commit half-way,
// its connection killed while a later statement runs. The counter never
// moves, let alone twice.
TEST_F(AtomicityTest, AWouldBeCommitWithTheConnectionKilledMovesNothing) {
  for (const char* procedure : {"at_commit", "at_ok"}) {
    SCOPED_TRACE(procedure);
    // Kills the first txgate session found in the SLEEP, once.
    SessionKiller killer("SELECT SLEEP", 1);
    txgate::v1::RunTransactionResponse response;
    grpc::Status s =
        RunTransaction({kBump, absl::StrCat("CALL ", procedure, "()"), "SELECT SLEEP(1.5)"},
                       &response, false, absl::StrCat("at-kill-", procedure));
    killer.Stop();
    if (std::string(procedure) == "at_commit") {
      // Refused at the CALL: the SLEEP never ran.
      EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1399") << s.error_message();
      EXPECT_EQ(Counters(), "0,0");
    } else {
      // Killed in the SLEEP, before COMMIT: re-run whole on a new session.
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(response.attempts(), 2u);
      EXPECT_EQ(Counters(), "1,1");
    }
  }
}

// A deadlock inside an XA transaction leaves it rollback-only: RunTransaction
// re-runs it, and the session's cleanup (XA ROLLBACK) keeps it usable.
TEST_F(AtomicityTest, ADeadlockInsideTheXaTransactionIsRetried) {
  const int64_t retries = server_->server().runner_stats().conflict_retries;
  // A holds row 1 and pauses; B takes row 2, then waits for row 1; A asks
  // for row 2: a deadlock, whose victim is rolled back and re-run.
  grpc::Status a, b;
  std::thread ta([&] {
    txgate::v1::RunTransactionResponse response;
    a = RunTransaction({"UPDATE at_c SET n = n + 1 WHERE id = 1", "SELECT SLEEP(0.5)",
                        "UPDATE at_c SET n = n + 1 WHERE id = 2"},
                       &response);
  });
  ASSERT_TRUE(Eventually(
      [] {
        return !Admin(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'txgate' AND "
                    "INFO LIKE 'SELECT SLEEP%'")
                    .empty();
      },
      absl::Seconds(10)));
  txgate::v1::RunTransactionResponse response;
  b = RunTransaction(
      {"UPDATE at_c SET n = n + 1 WHERE id = 2", "UPDATE at_c SET n = n + 1 WHERE id = 1"},
      &response);
  ta.join();
  EXPECT_TRUE(a.ok()) << a.error_message();
  EXPECT_TRUE(b.ok()) << b.error_message();
  EXPECT_EQ(Counters(), "2,2");  // each applied exactly once
  EXPECT_GE(server_->server().runner_stats().conflict_retries, retries + 1);
}

// A write to a non-transactional table cannot be rolled back: the server's
// transaction state tracking reports it, and the transaction stops there
// (rest rolled back, that change kept once), with or without a key, and a
// retry with the key runs nothing again.
TEST_F(AtomicityTest, ANonTransactionalWriteStopsTheTransactionAndIsNeverRepeated) {
  Admin("CREATE OR REPLACE TABLE txgate.at_log (note VARCHAR(20)) ENGINE=MyISAM");
  Admin("CREATE OR REPLACE TABLE txgate.at_mem (n INT) ENGINE=MEMORY");
  Admin("INSERT INTO txgate.at_mem VALUES (0)");
  const std::vector<std::string> writes = {"INSERT INTO at_log VALUES ('w')",
                                           "UPDATE at_mem SET n = n + 1"};
  for (const std::string& write : writes) {
    SCOPED_TRACE(write);
    Admin("TRUNCATE TABLE txgate.at_log");
    Admin("UPDATE txgate.at_mem SET n = 0");
    txgate::v1::RunTransactionResponse response;
    grpc::Status s = RunTransaction({kBump, write, "SELECT SLEEP(0)"}, &response, false,
                                    "at-nontx-" + write.substr(0, 6));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "NON_TRANSACTIONAL_WRITE");
    EXPECT_THAT(s.error_message(), ::testing::HasSubstr("statement 2 wrote"));
    // The retry with the key gets the same answer and runs nothing.
    s = RunTransaction({kBump, write, "SELECT SLEEP(0)"}, &response, false,
                       "at-nontx-" + write.substr(0, 6));
    EXPECT_EQ(ErrorInfoOf(s).reason(), "NON_TRANSACTIONAL_WRITE");
    s = Interactive({kBump, write, "SELECT 1"});
    EXPECT_EQ(ErrorInfoOf(s).reason(), "NON_TRANSACTIONAL_WRITE") << s.error_message();
    EXPECT_EQ(Counters(), "0,0");  // the InnoDB part rolled back every time
    // The non-transactional change stays, once per call that made it: two.
    EXPECT_EQ(Admin("SELECT (SELECT COUNT(*) FROM txgate.at_log) + (SELECT n FROM "
                    "txgate.at_mem)")[0][0],
              "2");
  }
  // With Execute, where it belongs, it is an ordinary write.
  ASSERT_TRUE(Exec(server_->stub(), "INSERT INTO at_log VALUES ('x')").ok());
  Admin("DROP TABLE txgate.at_log, txgate.at_mem");
}

// Execute runs each statement on its own: a statement that leaves a
// transaction open would have its work rolled back at the end of the call,
// so it is not answered OK.
TEST_F(AtomicityTest, AnExecuteThatLeavesATransactionOpenIsNotOk) {
  Admin(
      "CREATE OR REPLACE PROCEDURE txgate.at_open() BEGIN SET autocommit = 0; "
      "UPDATE txgate.at_c SET n = n + 1 WHERE id = 1; END");
  Admin(
      "CREATE OR REPLACE PROCEDURE txgate.at_begin_write() BEGIN START TRANSACTION; "
      "UPDATE txgate.at_c SET n = n + 1 WHERE id = 1; END");
  for (const char* sql : {"CALL at_open()", "CALL at_begin_write()", "START TRANSACTION"}) {
    SCOPED_TRACE(sql);
    grpc::Status s = Exec(server_->stub(), sql);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_LEFT_OPEN");
    EXPECT_EQ(Counters(), "0,0");
  }
  // The next call on the pooled session is a plain autocommit statement.
  ASSERT_TRUE(Exec(server_->stub(), kBump).ok());
  EXPECT_EQ(Counters(), "1,0");
}

// A read-only transaction has nothing to make exactly-once: its key is
// ignored (its outcome record would be a write).
TEST_F(AtomicityTest, AReadOnlyTransactionIgnoresItsKey) {
  txgate::v1::RunTransactionResponse response;
  grpc::Status s = RunTransaction({"SELECT n FROM at_c WHERE id = 1"}, &response,
                                  /*read_only=*/true, "at-ro-key");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key = "
                  "'at-ro-key'")[0][0],
            "0");
}

// CLIENT_MULTI_STATEMENTS is on for txgate's own commands; a caller's SQL
// still runs as one prepared statement, never as several.
TEST_F(AtomicityTest, ACallersSqlIsNeverSplitIntoSeveralStatements) {
  grpc::Status s = Exec(server_->stub(), "SELECT 1; UPDATE at_c SET n = 99 WHERE id = 1");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1064") << s.error_message();
  txgate::v1::RunTransactionResponse response;
  s = RunTransaction({"SELECT 1; UPDATE at_c SET n = 99 WHERE id = 1"}, &response);
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1064") << s.error_message();
  EXPECT_EQ(Counters(), "0,0");
}

// Without XA (--xa_transactions=false, for servers without it), a CALL is
// refused inside a transaction, since the server would not guard it.
TEST_F(AtomicityTest, WithoutXaACallIsRefusedInsideATransaction) {
  service::ServerOptions options = DefaultServerOptions();
  options.runner.xa_transactions = false;
  TestServer server(options);
  txgate::v1::RunTransactionRequest request;
  *request.add_statements() = Stmt(kBump);
  *request.add_statements() = Stmt("CALL at_commit()");
  txgate::v1::RunTransactionResponse response;
  std::unique_ptr<grpc::ClientContext> ctx = WithDeadline(absl::Seconds(30));
  grpc::Status s = server.stub().RunTransaction(ctx.get(), request, &response);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "IMPLICIT_COMMIT_REFUSED") << s.error_message();
  EXPECT_EQ(Admin("SELECT GROUP_CONCAT(n ORDER BY id) FROM txgate.at_c")[0][0], "0,0");
  // Plain transactions still work, and a CALL runs with Execute.
  request.mutable_statements()->RemoveLast();
  ctx = WithDeadline(absl::Seconds(30));
  ASSERT_TRUE(server.stub().RunTransaction(ctx.get(), request, &response).ok());
  ASSERT_TRUE(Exec(server.stub(), "CALL at_ok()").ok());
  EXPECT_EQ(Admin("SELECT GROUP_CONCAT(n ORDER BY id) FROM txgate.at_c")[0][0], "1,1");
  EXPECT_TRUE(server.AwaitPoolQuiet(absl::Seconds(10)));
}

}  // namespace
}  // namespace txgate::testing
