// Execute with an idempotency key (README, "Exactly-once Execute"), against a
// real MariaDB: a re-sent write gets its stored answer and is not applied
// again, whatever kind of statement it is; another request under the same
// key is refused; a read ignores the key; a write whose connection dies
// while it runs is re-run once, not answered UNKNOWN.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using txgate::v1::ExecuteRequest;
using txgate::v1::ExecuteResponse;

// A response's bytes without its causality token, which names the commit
// (or, answered from the stored outcome, the binary log's position then).
template <typename Response>
std::string WithoutToken(Response response) {
  response.clear_causality_token();
  return response.SerializeAsString();
}

class ExecuteKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS ek_rows").ok());
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS ek_ddl").ok());
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS ek_myisam").ok());
    ASSERT_TRUE(Exec(server_.stub(), "DROP PROCEDURE IF EXISTS ek_commits").ok());
    ASSERT_TRUE(Exec(server_.stub(),
                     "CREATE TABLE ek_rows (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32)) "
                     "ENGINE=InnoDB")
                    .ok());
  }
  void TearDown() override { EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10))); }

  // A key no other test run has used.
  static std::string Key(absl::string_view what) {
    return absl::StrCat("ek-", what, "-", absl::ToUnixNanos(absl::Now()));
  }

  grpc::Status Keyed(const std::string& key, const std::string& sql,
                     std::vector<txgate::v1::Value> params, ExecuteResponse* response) {
    ExecuteRequest req;
    req.set_sql(sql);
    req.set_idempotency_key(key);
    for (auto& p : params) *req.add_params() = std::move(p);
    auto ctx = WithDeadline(absl::Seconds(20));
    return server_.stub().Execute(ctx.get(), req, response);
  }

  int64_t Count(const std::string& sql) {
    ExecuteResponse r;
    grpc::Status s = Exec(server_.stub(), sql, {}, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? r.result().rows(0).values(0).int64_value() : -1;
  }

  static std::string Recorded(const std::string& key) {
    return Admin(absl::StrCat(
        "SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE idempotency_key = '", key, "'"))[0][0];
  }

  TestServer server_;
};

TEST_F(ExecuteKeyTest, AReSentWriteGetsItsStoredAnswerAndIsNotAppliedAgain) {
  const std::string key = Key("insert");
  ExecuteResponse first, second;
  ASSERT_TRUE(Keyed(key, "INSERT INTO ek_rows (v) VALUES (?)", {Str("a")}, &first).ok());
  EXPECT_EQ(first.result().affected_rows(), 1u);
  EXPECT_GT(first.result().last_insert_id(), 0u);
  // Another row in between: a re-run would answer a later id.
  ASSERT_TRUE(Exec(server_.stub(), "INSERT INTO ek_rows (v) VALUES ('other')").ok());
  grpc::Status s = Keyed(key, "INSERT INTO ek_rows (v) VALUES (?)", {Str("a")}, &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The same answer; its causality token names the binary log's position
  // when it was found, which covers the first commit (README, "Reads on replicas").
  EXPECT_FALSE(second.causality_token().empty());
  second.clear_causality_token();
  first.clear_causality_token();
  EXPECT_EQ(second.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_rows WHERE v = 'a'"), 1);
  EXPECT_EQ(Recorded(key), "1");
}

TEST_F(ExecuteKeyTest, TheSameKeyWithAnotherStatementOrOtherParamsIsRefused) {
  const std::string key = Key("reuse");
  ExecuteResponse r;
  ASSERT_TRUE(Keyed(key, "INSERT INTO ek_rows (v) VALUES (?)", {Str("a")}, &r).ok());
  for (const auto& [sql, param] : std::vector<std::pair<std::string, std::string>>{
           {"INSERT INTO ek_rows (v) VALUES (?)", "b"},
           {"UPDATE ek_rows SET v = ? WHERE v = 'a'", "c"}}) {
    grpc::Status s = Keyed(key, sql, {Str(param)}, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << sql;
    EXPECT_EQ(ErrorInfoOf(s).reason(), "IDEMPOTENCY_KEY_REUSED") << sql;
  }
  // A RunTransaction of the same statement is another request too.
  txgate::v1::RunTransactionRequest txn;
  txn.set_idempotency_key(key);
  txgate::v1::Statement* st = txn.add_statements();
  st->set_sql("INSERT INTO ek_rows (v) VALUES (?)");
  *st->add_params() = Str("a");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(20));
  grpc::Status s = server_.stub().RunTransaction(ctx.get(), txn, &resp);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "IDEMPOTENCY_KEY_REUSED") << s.error_message();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_rows"), 1);
}

TEST_F(ExecuteKeyTest, AReadIgnoresItsKey) {
  const std::string key = Key("read");
  ExecuteResponse r;
  ASSERT_TRUE(Keyed(key, "SELECT COUNT(*) FROM ek_rows", {}, &r).ok());
  ASSERT_TRUE(Exec(server_.stub(), "INSERT INTO ek_rows (v) VALUES ('x')").ok());
  ASSERT_TRUE(Keyed(key, "SELECT COUNT(*) FROM ek_rows", {}, &r).ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 1);  // run again, not replayed
  EXPECT_EQ(Recorded(key), "0");
}

TEST_F(ExecuteKeyTest, ATooLongKeyIsRefused) {
  ExecuteResponse r;
  grpc::Status s = Keyed(std::string(129, 'k'), "INSERT INTO ek_rows (v) VALUES ('a')", {}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "INVALID_REQUEST");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_rows"), 0);
}

// DDL cannot run inside a transaction: it runs on its own and its answer is
// recorded right after, so a re-sent request does not run it again (which
// would fail: the table exists).
TEST_F(ExecuteKeyTest, AStatementThatCommitsImplicitlyIsRecordedAfterItRan) {
  const std::string key = Key("ddl");
  const std::string ddl = "CREATE TABLE ek_ddl (id INT PRIMARY KEY)";
  ExecuteResponse first, second;
  grpc::Status s = Keyed(key, ddl, {}, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Keyed(key, ddl, {}, &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The same answer; its causality token names the binary log's position
  // when it was found, which covers the first commit (README, "Reads on replicas").
  EXPECT_FALSE(second.causality_token().empty());
  second.clear_causality_token();
  first.clear_causality_token();
  EXPECT_EQ(second.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Recorded(key), "1");
  // Without a key it does run again.
  s = Exec(server_.stub(), ddl);
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1050") << s.error_message();
}

// The server refuses the procedure's COMMIT inside the XA transaction (1399)
// and the transaction is rolled back: the CALL then runs on its own,
// recorded right after.
TEST_F(ExecuteKeyTest, ACallWhoseProcedureCommitsRunsOnItsOwnOnce) {
  ASSERT_TRUE(Exec(server_.stub(),
                   "CREATE PROCEDURE ek_commits() BEGIN INSERT INTO ek_rows (v) VALUES ('p'); "
                   "COMMIT; END")
                  .ok());
  const std::string key = Key("call");
  ExecuteResponse first, second;
  grpc::Status s = Keyed(key, "CALL ek_commits()", {}, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = Keyed(key, "CALL ek_commits()", {}, &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The same answer; its causality token names the binary log's position
  // when it was found, which covers the first commit (README, "Reads on replicas").
  EXPECT_FALSE(second.causality_token().empty());
  second.clear_causality_token();
  first.clear_causality_token();
  EXPECT_EQ(second.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_rows WHERE v = 'p'"), 1);
}

// A non-transactional table's write is what the statement does on its own:
// committed with its record, answered OK, replayed from the record.
TEST_F(ExecuteKeyTest, ANonTransactionalWriteIsCommittedAndRecorded) {
  ASSERT_TRUE(Exec(server_.stub(),
                   "CREATE TABLE ek_myisam (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=MyISAM")
                  .ok());
  const std::string key = Key("myisam");
  ExecuteResponse first, second;
  grpc::Status s = Keyed(key, "INSERT INTO ek_myisam () VALUES ()", {}, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(first.result().affected_rows(), 1u);
  s = Keyed(key, "INSERT INTO ek_myisam () VALUES ()", {}, &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The same answer; its causality token names the binary log's position
  // when it was found, which covers the first commit (README, "Reads on replicas").
  EXPECT_FALSE(second.causality_token().empty());
  second.clear_causality_token();
  first.clear_causality_token();
  EXPECT_EQ(second.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_myisam"), 1);
  EXPECT_EQ(Recorded(key), "1");
}

// Without a key such a loss answers UNKNOWN (fault_test.cc); with one the
// statement ran inside a transaction that cannot have committed, so txgate
// runs it again on a fresh connection and it applies once.
TEST_F(ExecuteKeyTest, AWriteWhoseConnectionDiesWhileItRunsIsReRunOnce) {
  constexpr absl::string_view kMarker = "INSERT INTO ek_rows (v) SELECT 4242 FROM DUAL WHERE SLEEP";
  std::thread killer([&] {
    const std::string running = absl::StrCat(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '", kMarker, "%'");
    ASSERT_TRUE(Eventually([&] { return !Admin(running).empty(); }, absl::Seconds(10)));
    for (const auto& row : Admin(running)) (void)AdminQuery("KILL CONNECTION " + row[0]);
  });
  ExecuteResponse r;
  grpc::Status s = Keyed(Key("killed"), absl::StrCat(kMarker, "(1.5) = 0"), {}, &r);
  killer.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.result().affected_rows(), 1u);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_rows WHERE v = '4242'"), 1);
}

// Concurrent duplicates of one keyed request (a client's retry while the
// first attempt still runs, another pod's re-send) get the one answer and
// apply once, also when a duplicate runs into the first one's effects
// before it reaches the key: a unique value the first inserted (1062), an
// expectation the first one's change left unmet.
TEST_F(ExecuteKeyTest, ConcurrentDuplicatesOfAKeyedRequestAllGetTheOneAnswer) {
  ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS ek_unique").ok());
  ASSERT_TRUE(Exec(server_.stub(),
                   "CREATE TABLE ek_unique (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                   "v VARCHAR(64) UNIQUE, b INT NOT NULL DEFAULT 10)")
                  .ok());
  constexpr int kDuplicates = 8;
  {
    const std::string key = Key("dup-execute");
    std::vector<ExecuteResponse> responses(kDuplicates);
    std::vector<grpc::Status> statuses(kDuplicates);
    std::vector<std::thread> threads;
    for (int i = 0; i < kDuplicates; ++i) {
      threads.emplace_back([&, i] {
        statuses[i] =
            Keyed(key, "INSERT INTO ek_unique (v) SELECT CONCAT(?, IF(SLEEP(0.5), '', ''))",
                  {Str("one")}, &responses[i]);
      });
    }
    for (std::thread& t : threads) t.join();
    for (int i = 0; i < kDuplicates; ++i) {
      ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
      // Every answer carries a token (the first its commit's, the stored
      // ones the binary log's position then); the rest is the same.
      EXPECT_FALSE(responses[i].causality_token().empty()) << i;
      EXPECT_EQ(WithoutToken(responses[i]), WithoutToken(responses[0])) << i;
    }
    EXPECT_EQ(Count("SELECT COUNT(*) FROM ek_unique"), 1);
  }
  {
    // A guarded debit: a duplicate that waits for the first one's row lock
    // then matches no row (its expectation unmet) answers the first's OK.
    txgate::v1::RunTransactionRequest request;
    request.set_idempotency_key(Key("dup-guarded"));
    txgate::v1::Statement* debit = request.add_statements();
    debit->set_sql("UPDATE ek_unique SET b = b - 10 WHERE v = 'one' AND b >= 10");
    debit->mutable_expect()->set_min_affected_rows(1);
    request.add_statements()->set_sql("SELECT SLEEP(0.5)");
    std::vector<txgate::v1::RunTransactionResponse> responses(kDuplicates);
    std::vector<grpc::Status> statuses(kDuplicates);
    std::vector<std::thread> threads;
    for (int i = 0; i < kDuplicates; ++i) {
      threads.emplace_back([&, i] {
        auto ctx = WithDeadline(absl::Seconds(20));
        statuses[i] = server_.stub().RunTransaction(ctx.get(), request, &responses[i]);
      });
    }
    for (std::thread& t : threads) t.join();
    for (int i = 0; i < kDuplicates; ++i) {
      ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
      // Every answer carries a token (the first its commit's, the stored
      // ones the binary log's position then); the rest is the same.
      EXPECT_FALSE(responses[i].causality_token().empty()) << i;
      EXPECT_EQ(WithoutToken(responses[i]), WithoutToken(responses[0])) << i;
    }
    EXPECT_EQ(Count("SELECT b FROM ek_unique WHERE v = 'one'"), 0);  // debited once
  }
}

}  // namespace
}  // namespace txgate::testing
