// Exactly-once with idempotency keys, transient-conflict re-runs and
// interactive replay, against a real MariaDB.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using txgate::v1::RunTransactionRequest;
using txgate::v1::RunTransactionResponse;

txgate::v1::Statement Stmt(const std::string& sql, std::vector<txgate::v1::Value> params = {}) {
  txgate::v1::Statement s;
  s.set_sql(sql);
  for (auto& p : params) *s.add_params() = std::move(p);
  return s;
}

class ExactlyOnceTest : public ::testing::Test {
 protected:
  static service::ServerOptions Options() {
    service::ServerOptions o = DefaultServerOptions();
    o.runner.max_conflict_retries = 2;
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS eo_acct").ok());
    ASSERT_TRUE(
        Exec(server_.stub(), "CREATE TABLE eo_acct (id INT PRIMARY KEY, balance BIGINT)").ok());
    ASSERT_TRUE(Exec(server_.stub(), "INSERT INTO eo_acct VALUES (1, 100), (2, 100)").ok());
  }
  void TearDown() override { EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10))); }

  RunTransactionRequest Deposit(const std::string& key, int64_t amount) {
    RunTransactionRequest req;
    req.set_idempotency_key(key);
    *req.add_statements() =
        Stmt("UPDATE eo_acct SET balance = balance + ? WHERE id = 1", {Int(amount)});
    *req.add_statements() = Stmt("SELECT balance FROM eo_acct WHERE id = 1");
    return req;
  }
  grpc::Status Run(const RunTransactionRequest& req, RunTransactionResponse* resp,
                   absl::Duration timeout = absl::Seconds(20)) {
    auto ctx = WithDeadline(timeout);
    return server_.stub().RunTransaction(ctx.get(), req, resp);
  }
  int64_t Balance(int id) {
    txgate::v1::ExecuteResponse r;
    EXPECT_TRUE(
        Exec(server_.stub(), "SELECT balance FROM eo_acct WHERE id = ?", {Int(id)}, &r).ok());
    return r.result().rows(0).values(0).int64_value();
  }

  TestServer server_{Options()};
};

TEST_F(ExactlyOnceTest, RetryWithTheSameKeyGetsTheStoredResponse) {
  const std::string key = absl::StrCat("retry-", absl::ToUnixNanos(absl::Now()));
  RunTransactionResponse first, second;
  ASSERT_TRUE(Run(Deposit(key, 10), &first).ok());
  EXPECT_EQ(first.results(1).rows(0).values(0).int64_value(), 110);
  ASSERT_TRUE(Run(Deposit(key, 10), &second).ok());
  // The same answer; its causality token names the binary log's position
  // when it was found, which covers the first commit (README, "Reads on replicas").
  EXPECT_FALSE(second.causality_token().empty());
  second.clear_causality_token();
  first.clear_causality_token();
  EXPECT_EQ(second.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Balance(1), 110);  // applied once
  // The outcome is recorded in txgate's table.
  EXPECT_EQ(Admin(absl::StrCat("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE "
                               "idempotency_key = '",
                               key, "'"))[0][0],
            "1");
}

TEST_F(ExactlyOnceTest, SameKeyWithADifferentRequestIsRefused) {
  const std::string key = absl::StrCat("reuse-", absl::ToUnixNanos(absl::Now()));
  RunTransactionResponse resp;
  ASSERT_TRUE(Run(Deposit(key, 10), &resp).ok());
  grpc::Status s = Run(Deposit(key, 99), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(Balance(1), 110);
}

TEST_F(ExactlyOnceTest, ConcurrentDuplicatesExecuteOnce) {
  const std::string key = absl::StrCat("dup-", absl::ToUnixNanos(absl::Now()));
  RunTransactionRequest req = Deposit(key, 7);
  // Hold the row so that all duplicates are in flight together.
  *req.mutable_statements(1) = Stmt("SELECT balance, SLEEP(0.3) FROM eo_acct WHERE id = 1");
  std::vector<std::thread> threads;
  std::vector<grpc::Status> statuses(8);
  std::vector<RunTransactionResponse> responses(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { statuses[i] = Run(req, &responses[i]); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    // Every answer carries a token (the first its commit's, the stored ones
    // the binary log's position then); the rest is the same.
    EXPECT_FALSE(responses[i].causality_token().empty()) << i;
    RunTransactionResponse a = responses[i], b = responses[0];
    a.clear_causality_token();
    b.clear_causality_token();
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  }
  EXPECT_EQ(Balance(1), 107);
}

TEST_F(ExactlyOnceTest, TooLongKeyIsRefused) {
  RunTransactionResponse resp;
  grpc::Status s = Run(Deposit(std::string(129, 'k'), 1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Balance(1), 100);
}

TEST_F(ExactlyOnceTest, ExpiredKeysArePurgedAndThenExecuteAgain) {
  service::ServerOptions o = DefaultServerOptions();
  o.outcomes.retention = absl::Seconds(1);
  o.outcomes.purge_interval = absl::Milliseconds(200);
  TestServer short_memory(o);
  const std::string key = absl::StrCat("expire-", absl::ToUnixNanos(absl::Now()));
  RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(10));
  ASSERT_TRUE(short_memory.stub().RunTransaction(ctx.get(), Deposit(key, 1), &resp).ok());
  EXPECT_TRUE(Eventually(
      [&] {
        return Admin(absl::StrCat("SELECT COUNT(*) FROM txgate.txgate_outcomes WHERE "
                                  "idempotency_key = '",
                                  key, "'"))[0][0] == "0";
      },
      absl::Seconds(10)));
  ctx = WithDeadline(absl::Seconds(10));
  ASSERT_TRUE(short_memory.stub().RunTransaction(ctx.get(), Deposit(key, 1), &resp).ok());
  EXPECT_EQ(Balance(1), 102);
}

TEST_F(ExactlyOnceTest, DeadlockedTransactionsAreReRunAndBothCommit) {
  auto crossing = [](int first, int second) {
    RunTransactionRequest req;
    *req.add_statements() =
        Stmt("UPDATE eo_acct SET balance = balance + 1 WHERE id = ?", {Int(first)});
    *req.add_statements() = Stmt("SELECT SLEEP(0.5)");
    *req.add_statements() =
        Stmt("UPDATE eo_acct SET balance = balance + 1 WHERE id = ?", {Int(second)});
    return req;
  };
  RunTransactionResponse a, b;
  grpc::Status sa, sb;
  std::thread ta([&] { sa = Run(crossing(1, 2), &a); });
  std::thread tb([&] { sb = Run(crossing(2, 1), &b); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.error_message();
  ASSERT_TRUE(sb.ok()) << sb.error_message();
  EXPECT_EQ(a.attempts() + b.attempts(), 3u);  // exactly one of them was re-run
  EXPECT_EQ(Balance(1), 102);
  EXPECT_EQ(Balance(2), 102);
  EXPECT_GE(server_.server().runner_stats().conflict_retries, 1);
}

TEST_F(ExactlyOnceTest, LockWaitTimeoutsAbortAfterTheBoundedRetries) {
  // An interactive transaction holds row 1.
  grpc::ClientContext holder_ctx;
  auto holder = server_.stub().Transaction(&holder_ctx);
  txgate::v1::TransactionRequest hreq;
  txgate::v1::TransactionResponse hresp;
  *hreq.mutable_statement() = Stmt("UPDATE eo_acct SET balance = 0 WHERE id = 1");
  ASSERT_TRUE(holder->Write(hreq));
  ASSERT_TRUE(holder->Read(&hresp));

  RunTransactionRequest req;
  *req.add_statements() = Stmt("SET SESSION innodb_lock_wait_timeout = 1");
  *req.add_statements() = Stmt("UPDATE eo_acct SET balance = balance + 1 WHERE id = 1");
  RunTransactionResponse resp;
  grpc::Status s = Run(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "CONFLICT_RETRIES_EXHAUSTED");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "1205");
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("3 attempts"));

  holder_ctx.TryCancel();
  (void)holder->Finish();
  EXPECT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10)));
  EXPECT_EQ(Balance(1), 100);  // the holder rolled back, the waiter never applied
}

// Runs one interactive statement and returns its result.
txgate::v1::ResultSet Step(grpc::ClientReaderWriter<txgate::v1::TransactionRequest,
                                                    txgate::v1::TransactionResponse>& stream,
                           const std::string& sql) {
  txgate::v1::TransactionRequest req;
  *req.mutable_statement() = Stmt(sql);
  EXPECT_TRUE(stream.Write(req));
  txgate::v1::TransactionResponse resp;
  EXPECT_TRUE(stream.Read(&resp));
  return resp.result();
}

TEST_F(ExactlyOnceTest, InteractiveTransactionIsReplayedAfterItsConnectionDies) {
  grpc::ClientContext ctx;
  auto stream = server_.stub().Transaction(&ctx);
  // A named lock tells the admin session which connection to kill (not
  // CONNECTION_ID(): its result would differ on replay, and rightly abort it).
  Step(*stream, "SELECT GET_LOCK('eo-replay', 0)");
  Step(*stream, "SELECT balance FROM eo_acct WHERE id = 2");
  Step(*stream, "UPDATE eo_acct SET balance = balance + 5 WHERE id = 2");
  const std::string session = Admin("SELECT IS_USED_LOCK('eo-replay')")[0][0];
  ASSERT_NE(session, "NULL");
  Admin("KILL CONNECTION " + session);
  // The next statement runs after a transparent replay on a new connection.
  txgate::v1::ResultSet r = Step(*stream, "SELECT balance FROM eo_acct WHERE id = 2");
  ASSERT_EQ(r.rows_size(), 1);
  EXPECT_EQ(r.rows(0).values(0).int64_value(), 105);
  Step(*stream, "SELECT RELEASE_LOCK('eo-replay')");
  txgate::v1::TransactionRequest commit;
  commit.mutable_commit()->set_idempotency_key(absl::StrCat("itx-", session));
  ASSERT_TRUE(stream->Write(commit));
  txgate::v1::TransactionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_TRUE(resp.has_committed());
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(Balance(2), 105);  // applied once
  EXPECT_GE(server_.server().runner_stats().replays, 1);
}

TEST_F(ExactlyOnceTest, ReplayThatSeesDifferentDataAborts) {
  grpc::ClientContext ctx;
  auto stream = server_.stub().Transaction(&ctx);
  Step(*stream, "SELECT GET_LOCK('eo-mismatch', 0)");
  Step(*stream, "SELECT balance FROM eo_acct WHERE id = 2");
  const std::string session = Admin("SELECT IS_USED_LOCK('eo-mismatch')")[0][0];
  ASSERT_NE(session, "NULL");
  Admin("KILL CONNECTION " + session);
  // The data the transaction read changes before the replay.
  ASSERT_TRUE(Exec(server_.stub(), "UPDATE eo_acct SET balance = 1 WHERE id = 2").ok());
  txgate::v1::TransactionRequest req;
  *req.mutable_statement() = Stmt("UPDATE eo_acct SET balance = balance + 5 WHERE id = 2");
  ASSERT_TRUE(stream->Write(req));
  txgate::v1::TransactionResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ErrorInfoOf(s).reason(), "REPLAY_MISMATCH");
  EXPECT_EQ(Balance(2), 1);
}

}  // namespace
}  // namespace txgate::testing
