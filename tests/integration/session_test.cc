// Session isolation against a real MariaDB: with the pool forced to one
// connection, call A leaves some kind of session state behind and call B,
// on the same pooled session, must see what a fresh txgate session sees.
//
// The kinds (README, "Session state"): default schema; user variables
// however assigned; named locks; table locks and global read/backup locks;
// HANDLER cursors; next-transaction characteristics; session system
// variables; temporary tables; SQL-level prepared statements;
// LAST_INSERT_ID; FOUND_ROWS and ROW_COUNT; warnings; XA; open
// transactions and autocommit; sequences' session values. The expected
// answer of B is not written down: it is what B's statement answers on a
// brand-new txgate session, so each row tests "as if fresh" exactly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/mysql/connection.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

// What a call answered, in a comparable form: the error's MySQL errno, or
// the rows as text.
std::string Answer(const grpc::Status& status, const txgate::v1::ResultSet& result) {
  if (!status.ok()) {
    const google::rpc::ErrorInfo info = ErrorInfoOf(status);
    auto it = info.metadata().find("mysql_errno");
    return absl::StrCat("error ", it == info.metadata().end() ? info.reason() : it->second);
  }
  std::vector<std::string> rows;
  for (const txgate::v1::Row& row : result.rows()) {
    std::vector<std::string> values;
    for (const txgate::v1::Value& v : row.values()) values.push_back(v.ShortDebugString());
    rows.push_back(absl::StrCat("(", absl::StrJoin(values, ", "), ")"));
  }
  return absl::StrJoin(rows, " ");
}

// A brand-new txgate session (the same user, database and session settings
// the pool gives a new connection), for the fresh answer of `sql` after
// `before` (e.g. START TRANSACTION).
std::string FreshAnswer(const std::string& sql, const std::vector<std::string>& before = {}) {
  absl::StatusOr<txgate::v1::ResultSet> r = RunOnNewSession(sql, {}, before);
  if (!r.ok()) {
    std::optional<sql::MysqlError> e = sql::GetMysqlError(r.status());
    return absl::StrCat("error ", e.has_value() ? absl::StrCat(e->errnum) : r.status().ToString());
  }
  return Answer(grpc::Status::OK, *r);
}

struct Kind {
  std::string name;
  std::vector<std::string> a;  // what call A runs (each an Execute)
  std::string b;               // what call B asks
};

class SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Admin("CREATE DATABASE IF NOT EXISTS other_db");
    Admin("CREATE OR REPLACE TABLE other_db.t (id INT PRIMARY KEY, v INT)");
    Admin("INSERT INTO other_db.t VALUES (1, 100)");
    // txgate's account has rights on database txgate only: this suite
    // grants it another database, and RELOAD for FLUSH TABLES WITH READ
    // LOCK (revoked in TearDownTestSuite).
    Admin("GRANT SELECT, INSERT, UPDATE, DELETE ON other_db.* TO 'txgate'@'127.0.0.1'");
    Admin("GRANT RELOAD ON *.* TO 'txgate'@'127.0.0.1'");
    Admin("CREATE OR REPLACE TABLE txgate.t (id INT PRIMARY KEY, v INT)");
    Admin("INSERT INTO txgate.t VALUES (1, 1)");
    Admin("CREATE OR REPLACE TABLE txgate.ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    Admin("CREATE OR REPLACE TABLE txgate.w (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    Admin("CREATE OR REPLACE SEQUENCE txgate.seq1");
    Admin("CREATE OR REPLACE PROCEDURE txgate.p_out(OUT o INT) SET o = 42");
    Admin("CREATE OR REPLACE PROCEDURE txgate.p_set() SET SESSION sql_mode = 'ANSI_QUOTES'");
    Admin("CREATE OR REPLACE PROCEDURE txgate.p_var() SET @from_proc = 7");
    Admin("CREATE OR REPLACE PROCEDURE txgate.p_prep() PREPARE s_in_proc FROM 'SELECT 1'");
    Admin("CREATE OR REPLACE PROCEDURE txgate.p_exec() EXECUTE s_in_proc");
    Admin(
        "CREATE OR REPLACE FUNCTION txgate.f_lock() RETURNS INT NOT DETERMINISTIC "
        "RETURN GET_LOCK('in-function', 0)");
    Admin(
        "CREATE OR REPLACE FUNCTION txgate.f_var() RETURNS INT NOT DETERMINISTIC "
        "BEGIN SET @from_function = 9; RETURN 1; END");
    service::ServerOptions options = DefaultServerOptions();
    options.pool.min_idle = 1;
    options.pool.max_size = 1;  // A and B share the one session
    server_ = new TestServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    Admin("DROP DATABASE IF EXISTS other_db");
    Admin("REVOKE ALL PRIVILEGES ON other_db.* FROM 'txgate'@'127.0.0.1'");
    Admin("REVOKE RELOAD ON *.* FROM 'txgate'@'127.0.0.1'");
  }
  void TearDown() override { EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10))); }

  txgate::v1::DatabaseService::Stub& stub() { return server_->stub(); }

  std::string Ask(const std::string& sql) {
    txgate::v1::ExecuteResponse r;
    grpc::Status s = Exec(stub(), sql, {}, &r);
    return Answer(s, r.result());
  }

  // The answer of the last of `sqls`, run as one RunTransaction.
  std::string AskTransaction(const std::vector<std::string>& sqls) {
    txgate::v1::RunTransactionRequest request;
    for (const std::string& sql : sqls) request.add_statements()->set_sql(sql);
    txgate::v1::RunTransactionResponse r;
    auto ctx = WithDeadline(absl::Seconds(30));
    grpc::Status s = stub().RunTransaction(ctx.get(), request, &r);
    return Answer(s, s.ok() ? r.results(r.results_size() - 1) : txgate::v1::ResultSet());
  }

  // The answer of the last of `sqls`, sent one by one on a Transaction
  // stream that is then rolled back.
  std::string AskInteractive(const std::vector<std::string>& sqls) {
    auto ctx = WithDeadline(absl::Seconds(30));
    auto stream = stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest request;
    txgate::v1::TransactionResponse response;
    std::string last;
    for (const std::string& sql : sqls) {
      request.Clear();
      request.mutable_statement()->set_sql(sql);
      if (!stream->Write(request) || !stream->Read(&response)) {
        stream->WritesDone();
        return Answer(stream->Finish(), txgate::v1::ResultSet());
      }
      last = Answer(grpc::Status::OK, response.result());
    }
    request.Clear();
    request.mutable_rollback();
    stream->Write(request);
    stream->Read(&response);
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    return s.ok() ? last : Answer(s, txgate::v1::ResultSet());
  }

  // Runs A, then checks B against a fresh session; the session A used must
  // be the one B gets (or a new one), never another caller's state.
  void ExpectIsolated(const Kind& kind) {
    SCOPED_TRACE(kind.name);
    const std::string fresh = FreshAnswer(kind.b);
    for (const std::string& sql : kind.a) {
      txgate::v1::ExecuteResponse r;
      grpc::Status s = Exec(stub(), sql, {}, &r);
      // A transaction left open is refused (and rolled back); its session
      // must still be fresh for the next call.
      ASSERT_TRUE(s.ok() || ErrorInfoOf(s).reason() == "TRANSACTION_LEFT_OPEN")
          << sql << ": " << s.error_message();
    }
    EXPECT_EQ(Ask(kind.b), fresh) << "after " << absl::StrJoin(kind.a, "; ");
  }

  static TestServer* server_;
};
TestServer* SessionTest::server_ = nullptr;

TEST_F(SessionTest, EveryKindOfSessionStateIsGoneForTheNextCall) {
  const std::vector<Kind> kinds = {
      // Default schema.
      {"USE", {"USE other_db"}, "SELECT DATABASE()"},
      {"USE, then an unqualified read", {"USE other_db"}, "SELECT v FROM t WHERE id = 1"},
      // User variables, however assigned.
      {"SET @x", {"SET @x = 1"}, "SELECT @x"},
      {"SELECT @x :=", {"SELECT @x := 5"}, "SELECT @x"},
      {"SELECT ... INTO @x", {"SELECT 6 INTO @x"}, "SELECT @x"},
      {"procedure OUT parameter", {"CALL p_out(@o)"}, "SELECT @o"},
      {"variable set in a procedure", {"CALL p_var()"}, "SELECT @from_proc"},
      {"variable set in a function", {"SELECT f_var()"}, "SELECT @from_function"},
      // Named locks.
      {"GET_LOCK", {"SELECT GET_LOCK('job-42', 0)"}, "SELECT IS_FREE_LOCK('job-42')"},
      {"DO GET_LOCK", {"DO GET_LOCK('job-43', 0)"}, "SELECT IS_FREE_LOCK('job-43')"},
      {"GET_LOCK in a function", {"SELECT f_lock()"}, "SELECT IS_FREE_LOCK('in-function')"},
      // Table locks, global read lock, backup locks, HANDLER cursors.
      {"LOCK TABLES", {"LOCK TABLES t READ"}, "INSERT INTO w (v) VALUES (1)"},
      {"FLUSH TABLES WITH READ LOCK",
       {"FLUSH TABLES WITH READ LOCK"},
       "INSERT INTO w (v) VALUES (5)"},
      {"HANDLER OPEN", {"HANDLER t OPEN"}, "HANDLER t READ FIRST"},
      // Next-transaction characteristics.
      {"SET TRANSACTION READ ONLY", {"SET TRANSACTION READ ONLY"}, "INSERT INTO w (v) VALUES (2)"},
      // Session system variables.
      {"SET time_zone", {"SET time_zone = '+05:00'"}, "SELECT @@time_zone"},
      {"SET SESSION sql_mode", {"SET SESSION sql_mode = 'ANSI_QUOTES'"}, "SELECT @@sql_mode"},
      {"SET @@session.x",
       {"SET @@session.div_precision_increment = 9"},
       "SELECT @@div_precision_increment"},
      {"SET NAMES", {"SET NAMES latin1"}, "SELECT @@character_set_client"},
      {"SET autocommit", {"SET autocommit = 0"}, "SELECT @@autocommit"},
      {"SET SESSION TRANSACTION ISOLATION",
       {"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"},
       "SELECT @@tx_isolation"},
      {"SET in a procedure", {"CALL p_set()"}, "SELECT @@sql_mode"},
      // Temporary tables.
      {"CREATE TEMPORARY TABLE", {"CREATE TEMPORARY TABLE tmp1 (id INT)"}, "SELECT * FROM tmp1"},
      {"a temporary table shadowing a table",
       {"CREATE TEMPORARY TABLE t (id INT, v INT)"},
       "SELECT v FROM t WHERE id = 1"},
      // SQL-level prepared statements (PREPARE itself is refused by the
      // binary protocol; a procedure can still leave one behind).
      {"PREPARE in a procedure", {"CALL p_prep()"}, "CALL p_exec()"},
      // LAST_INSERT_ID.
      {"LAST_INSERT_ID(expr)", {"SELECT LAST_INSERT_ID(42)"}, "SELECT LAST_INSERT_ID()"},
      {"an AUTO_INCREMENT insert", {"INSERT INTO ai (v) VALUES (1)"}, "SELECT LAST_INSERT_ID()"},
      // FOUND_ROWS, ROW_COUNT, warnings.
      {"SQL_CALC_FOUND_ROWS",
       {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 0"},
       "SELECT FOUND_ROWS()"},
      {"ROW_COUNT", {"UPDATE t SET v = v WHERE id = 1"}, "SELECT ROW_COUNT()"},
      {"warnings", {"SELECT 1/0"}, "SHOW WARNINGS"},
      {"@@warning_count", {"SELECT 1/0"}, "SELECT @@warning_count"},
      // XA, open transactions.
      {"XA START", {"XA START 'x1'"}, "SELECT @@in_transaction"},
      {"START TRANSACTION", {"START TRANSACTION"}, "SELECT @@in_transaction"},
      // Sequences' session values.
      {"NEXTVAL", {"SELECT NEXTVAL(seq1)"}, "SELECT LASTVAL(seq1)"},
  };
  for (const Kind& kind : kinds) ExpectIsolated(kind);
}

// What plain statements leave (LAST_INSERT_ID, FOUND_ROWS, ROW_COUNT,
// warnings) and the next-transaction characteristics are gone for a
// transaction too: a RunTransaction, and an interactive transaction that
// reads them first.
TEST_F(SessionTest, TransactionsStartOnAFreshSessionToo) {
  struct Reader {
    std::string a;
    std::string b;
  };
  const std::vector<Reader> readers = {
      {"INSERT INTO ai (v) VALUES (5)", "SELECT LAST_INSERT_ID()"},
      {"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 0", "SELECT FOUND_ROWS()"},
      {"UPDATE t SET v = v WHERE id = 1", "SELECT ROW_COUNT()"},
      {"SELECT 1/0", "SHOW WARNINGS"},
      {"SET TRANSACTION READ ONLY", "INSERT INTO w (v) VALUES (11)"},
      {"SELECT NEXTVAL(seq1)", "SELECT LASTVAL(seq1)"},
  };
  for (const Reader& r : readers) {
    SCOPED_TRACE(r.a);
    const std::string fresh = FreshAnswer(r.b, {"START TRANSACTION"});
    ASSERT_TRUE(Exec(stub(), r.a).ok());
    EXPECT_EQ(AskTransaction({r.b}), fresh) << "RunTransaction";
    ASSERT_TRUE(Exec(stub(), r.a).ok());
    EXPECT_EQ(AskInteractive({r.b}), fresh) << "Transaction, first statement";
  }
}

// Later statements of an interactive transaction read what the
// transaction's own statements left, and nothing is run twice to get there
// (a write to a non-transactional table ends the transaction, once).
TEST_F(SessionTest, LaterStatementsReadTheTransactionsOwnLeftovers) {
  Admin("CREATE OR REPLACE TABLE txgate.my (v INT) ENGINE=MyISAM");
  ASSERT_TRUE(Exec(stub(), "SELECT 1").ok());  // the session is used
  {
    auto ctx = WithDeadline(absl::Seconds(30));
    auto stream = stub().Transaction(ctx.get());
    txgate::v1::TransactionRequest request;
    txgate::v1::TransactionResponse inserted, read;
    request.mutable_statement()->set_sql("INSERT INTO ai (v) VALUES (7)");
    ASSERT_TRUE(stream->Write(request) && stream->Read(&inserted));
    request.mutable_statement()->set_sql("SELECT LAST_INSERT_ID()");
    ASSERT_TRUE(stream->Write(request) && stream->Read(&read));
    ASSERT_NE(inserted.result().last_insert_id(), 0u);
    EXPECT_EQ(read.result().rows(0).values(0).uint64_value(), inserted.result().last_insert_id());
    request.Clear();
    request.mutable_rollback();
    ASSERT_TRUE(stream->Write(request) && stream->Read(&read));
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  ASSERT_TRUE(Exec(stub(), "SELECT 1").ok());
  EXPECT_THAT(AskInteractive({"INSERT INTO my (v) VALUES (1)", "SELECT ROW_COUNT()"}),
              ::testing::HasSubstr("NON_TRANSACTIONAL_WRITE"));
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.my")[0][0], "1");
}

// A transaction A opened ends with A's call (refused: TRANSACTION_LEFT_OPEN):
// B's write is its own autocommit statement, committed at once, not held in
// A's transaction.
TEST_F(SessionTest, AWriteAfterAnOpenedTransactionIsCommittedOnItsOwn) {
  EXPECT_EQ(ErrorInfoOf(Exec(stub(), "START TRANSACTION")).reason(), "TRANSACTION_LEFT_OPEN");
  ASSERT_TRUE(Exec(stub(), "INSERT INTO w (v) VALUES (77)").ok());
  EXPECT_EQ(Admin("SELECT COUNT(*) FROM txgate.w WHERE v = 77")[0][0], "1");
}

// The named lock A took is released when A's call ends, not held by the
// idle pooled session.
TEST_F(SessionTest, ANamedLockIsReleasedWhenTheCallEnds) {
  ASSERT_EQ(Ask("SELECT GET_LOCK('job-99', 0)"), "(int64_value: 1)");
  ASSERT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10)));
  EXPECT_EQ(Admin("SELECT IS_USED_LOCK('job-99') IS NULL")[0][0], "1");
}

// A keyed transaction after a USE records its key where a retry finds it.
TEST_F(SessionTest, AKeyedTransactionAfterUseIsStillExactlyOnce) {
  ASSERT_TRUE(Exec(stub(), "USE other_db").ok());
  txgate::v1::RunTransactionRequest request;
  request.add_statements()->set_sql("UPDATE t SET v = v + 1 WHERE id = 1");
  // Unique per run: the outcome table outlives the test's server.
  const std::string key = absl::StrCat("session-test-", absl::ToUnixNanos(absl::Now()));
  request.set_idempotency_key(key);
  txgate::v1::RunTransactionResponse first, second;
  {
    auto ctx = WithDeadline(absl::Seconds(30));
    ASSERT_TRUE(stub().RunTransaction(ctx.get(), request, &first).ok());
  }
  ASSERT_TRUE(Exec(stub(), "USE other_db").ok());
  {
    auto ctx = WithDeadline(absl::Seconds(30));
    ASSERT_TRUE(stub().RunTransaction(ctx.get(), request, &second).ok());
  }
  EXPECT_EQ(Admin("SELECT v FROM txgate.t WHERE id = 1")[0][0], "2");
  EXPECT_EQ(Admin("SELECT v FROM other_db.t WHERE id = 1")[0][0], "100");
  EXPECT_EQ(Admin(absl::StrCat("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE "
                               "idempotency_key = '",
                               key, "'"))[0][0],
            "1");
}

}  // namespace
}  // namespace txgate::testing
