// The connection losses txgate exists to heal, with nothing faked: pooled
// sessions killed with KILL CONNECTION, closed by the server's wait_timeout,
// and mariadbd stopped and restarted, with and without concurrent callers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

txgate::v1::Statement Stmt(const std::string& sql, std::vector<txgate::v1::Value> params = {}) {
  txgate::v1::Statement s;
  s.set_sql(sql);
  for (auto& p : params) *s.add_params() = std::move(p);
  return s;
}

// A transfer between two accounts: the workload of these tests.
grpc::Status Transfer(txgate::v1::DatabaseService::Stub& stub, int from, int to,
                      absl::Duration timeout = absl::Seconds(20), const std::string& key = "") {
  txgate::v1::RunTransactionRequest req;
  req.set_idempotency_key(key);
  *req.add_statements() =
      Stmt("UPDATE fault_acct SET balance = balance - 1 WHERE id = ?", {Int(from)});
  *req.add_statements() =
      Stmt("UPDATE fault_acct SET balance = balance + 1 WHERE id = ?", {Int(to)});
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(timeout);
  return stub.RunTransaction(ctx.get(), req, &resp);
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Exec(server_.stub(), "DROP TABLE IF EXISTS fault_acct").ok());
    ASSERT_TRUE(Exec(server_.stub(),
                     "CREATE TABLE fault_acct (id INT PRIMARY KEY, balance BIGINT NOT NULL)")
                    .ok());
    ASSERT_TRUE(
        Exec(server_.stub(), "INSERT INTO fault_acct SELECT seq, 1000 FROM seq_1_to_10").ok());
  }

  int64_t Total() {
    txgate::v1::ExecuteResponse r;
    grpc::Status s =
        Exec(server_.stub(), "SELECT CAST(SUM(balance) AS SIGNED) FROM fault_acct", {}, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? r.result().rows(0).values(0).int64_value() : -1;
  }

  // 100 calls, half Execute (reads and writes), half RunTransaction.
  void HundredCallsWithoutError() {
    std::map<int, int> errors;
    for (int i = 0; i < 100; ++i) {
      grpc::Status s;
      switch (i % 4) {
        case 0:
          s = Exec(server_.stub(), "SELECT balance FROM fault_acct WHERE id = ?",
                   {Int(1 + i % 10)});
          break;
        case 1:
          s = Exec(server_.stub(), "UPDATE fault_acct SET balance = balance WHERE id = ?",
                   {Int(1 + i % 10)});
          break;
        default:
          s = Transfer(server_.stub(), 1 + i % 10, 1 + (i + 1) % 10);
          break;
      }
      if (!s.ok()) {
        ++errors[s.error_code()];
        ADD_FAILURE() << "call " << i << ": " << s.error_code() << " " << s.error_message();
      }
    }
    EXPECT_TRUE(errors.empty());
  }

  TestServer server_;
};

TEST_F(FaultTest, KilledPooledConnectionsAreHealedWithoutErrors) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    ASSERT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(5)));
    EXPECT_GT(KillTxgateSessions(), 0);
    HundredCallsWithoutError();
  }
  EXPECT_EQ(Total(), 10000);
  EXPECT_GT(server_.server().pool_stats().discarded, 0);
}

TEST_F(FaultTest, ConnectionKilledDuringAReadIsRetriedTransparently) {
  std::atomic<bool> done{false};
  std::thread killer([&] {
    // Kill the session while it runs the read.
    Eventually(
        [] {
          return Admin(
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                     "'SELECT SLEEP(1.5)%'")[0][0] == "1";
        },
        absl::Seconds(10));
    for (const auto& row : Admin("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO "
                                 "LIKE 'SELECT SLEEP(1.5)%'")) {
      (void)AdminQuery("KILL CONNECTION " + row[0]);
    }
    done = true;
  });
  txgate::v1::ExecuteResponse r;
  grpc::Status s = Exec(server_.stub(), "SELECT SLEEP(1.5), 7", {}, &r, absl::Seconds(20));
  killer.join();
  ASSERT_TRUE(done);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.result().rows(0).values(1).int64_value(), 7);
}

TEST_F(FaultTest, WriteWhoseConnectionDiesInFlightAnswersCommitOutcomeUnknown) {
  std::thread killer([&] {
    Eventually(
        [] {
          return Admin(
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                     "'UPDATE fault_acct SET balance = balance + SLEEP(1.5)%'")[0][0] == "1";
        },
        absl::Seconds(10));
    for (const auto& row : Admin("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                                 "'UPDATE fault_acct SET balance = balance + SLEEP(1.5)%'")) {
      (void)AdminQuery("KILL CONNECTION " + row[0]);
    }
  });
  grpc::Status s =
      Exec(server_.stub(), "UPDATE fault_acct SET balance = balance + SLEEP(1.5) WHERE id = 1", {},
           nullptr, absl::Seconds(20));
  killer.join();
  // The write was in flight: txgate must not re-run it, and says so.
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "COMMIT_OUTCOME_UNKNOWN");
  EXPECT_EQ(ErrorInfoOf(s).metadata().at("mysql_errno"), "2013");
  EXPECT_EQ(Total(), 10000);
}

TEST_F(FaultTest, TransactionWhoseConnectionDiesBeforeCommitIsReRunWhole) {
  std::thread killer([&] {
    Eventually(
        [] {
          return Admin(
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                     "'SELECT SLEEP(1) FROM DUAL%'")[0][0] == "1";
        },
        absl::Seconds(10));
    for (const auto& row : Admin("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE "
                                 "'SELECT SLEEP(1) FROM DUAL%'")) {
      (void)AdminQuery("KILL CONNECTION " + row[0]);
    }
  });
  txgate::v1::RunTransactionRequest req;
  *req.add_statements() = Stmt("UPDATE fault_acct SET balance = balance - 5 WHERE id = 1");
  *req.add_statements() = Stmt("SELECT SLEEP(1) FROM DUAL WHERE 1 = ?", {Int(1)});
  *req.add_statements() = Stmt("UPDATE fault_acct SET balance = balance + 5 WHERE id = 2");
  txgate::v1::RunTransactionResponse resp;
  auto ctx = WithDeadline(absl::Seconds(20));
  grpc::Status s = server_.stub().RunTransaction(ctx.get(), req, &resp);
  killer.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.attempts(), 2u);
  txgate::v1::ExecuteResponse r;
  ASSERT_TRUE(
      Exec(server_.stub(), "SELECT balance FROM fault_acct WHERE id IN (1, 2) ORDER BY id", {}, &r)
          .ok());
  EXPECT_EQ(r.result().rows(0).values(0).int64_value(), 995);  // applied exactly once
  EXPECT_EQ(r.result().rows(1).values(0).int64_value(), 1005);
}

TEST_F(FaultTest, ConnectionsClosedByWaitTimeoutAreHealed) {
  const std::vector<std::string> before = TxgateSessionIds();
  Admin("SET GLOBAL wait_timeout = 2");
  {
    // A server whose connections were all opened under the short timeout.
    TestServer short_lived;
    ASSERT_TRUE(short_lived.AwaitPoolQuiet(absl::Seconds(5)));
    std::vector<std::string> ids;
    for (const std::string& id : TxgateSessionIds()) {
      if (std::find(before.begin(), before.end(), id) == before.end()) ids.push_back(id);
    }
    ASSERT_FALSE(ids.empty());
    // Wait until the server closed every one of them for idleness, but the
    // pool's probe connection, which pings every maintenance interval.
    EXPECT_TRUE(Eventually(
        [&] {
          return std::stoi(Admin(absl::StrCat("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                              "WHERE ID IN (",
                                              absl::StrJoin(ids, ","), ")"))[0][0]) <= 1;
        },
        absl::Seconds(15)));
    Admin("SET GLOBAL wait_timeout = 28800");
    std::map<int, int> errors;
    for (int i = 0; i < 100; ++i) {
      grpc::Status s = i % 2 == 0 ? Exec(short_lived.stub(), "SELECT COUNT(*) FROM fault_acct")
                                  : Transfer(short_lived.stub(), 1, 2);
      if (!s.ok()) ADD_FAILURE() << i << ": " << s.error_message();
    }
  }
  Admin("SET GLOBAL wait_timeout = 28800");
  EXPECT_EQ(Total(), 10000);
}

TEST_F(FaultTest, StoppedDatabaseAnswersUnavailableInTimeThenRecovers) {
  ASSERT_TRUE(MariadbCtl("stop"));
  // A call with a deadline fails within it.
  absl::Time start = absl::Now();
  grpc::Status s = Exec(server_.stub(), "SELECT 1", {}, nullptr, absl::Milliseconds(800));
  EXPECT_THAT(s.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // A call without a deadline fails within the pool's acquire timeout (3 s here).
  start = absl::Now();
  txgate::v1::ExecuteRequest req;
  req.set_sql("SELECT 1");
  txgate::v1::ExecuteResponse resp;
  grpc::ClientContext no_deadline;
  s = server_.stub().Execute(&no_deadline, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "DATABASE_UNAVAILABLE");
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  s = Transfer(server_.stub(), 1, 2, absl::Seconds(1));
  EXPECT_THAT(s.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED));
  // Health says so.
  EXPECT_TRUE(
      Eventually([&] { return !server_.server().pool_stats().reachable; }, absl::Seconds(10)));

  ASSERT_TRUE(MariadbCtl("start"));
  EXPECT_TRUE(
      Eventually([&] { return server_.server().pool_stats().reachable; }, absl::Seconds(10)));
  HundredCallsWithoutError();
  EXPECT_EQ(Total(), 10000);
}

TEST_F(FaultTest, SixtyFourConcurrentCallersThroughKillsSeeNoErrorAndLeakNothing) {
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 64; ++t) {
    callers.emplace_back([&, t] {
      int i = 0;
      while (!stop.load()) {
        // Kills can land on a COMMIT in flight: the key makes that safe.
        grpc::Status s = (t + i) % 3 == 0
                             ? Transfer(server_.stub(), 1 + t % 10, 1 + (t + 3) % 10,
                                        absl::Seconds(20), absl::StrCat("concurrent-", t, "-", i))
                             : Exec(server_.stub(), "SELECT balance FROM fault_acct WHERE id = ?",
                                    {Int(1 + i % 10)});
        ++calls;
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << "caller " << t << ": " << s.error_code() << " " << s.error_message();
        }
        ++i;
      }
    });
  }
  // A few seconds of load, with every pooled session killed every ~200 calls.
  const absl::Time end = absl::Now() + absl::Seconds(4);
  for (int k = 0; k < 3 || absl::Now() < end; ++k) {
    const int before = calls.load();
    ASSERT_TRUE(Eventually([&] { return calls.load() > before + 200; }, absl::Seconds(30)));
    KillTxgateSessions();
  }
  const int before = calls.load();
  ASSERT_TRUE(Eventually([&] { return calls.load() > before + 300; }, absl::Seconds(30)));
  stop = true;
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(calls.load(), 1500);
  // Nothing leaked: every connection is back, within the pool's bound.
  ASSERT_TRUE(server_.AwaitPoolQuiet(absl::Seconds(10)));
  const pool::PoolStats stats = server_.server().pool_stats();
  EXPECT_EQ(stats.in_use, 0);
  EXPECT_EQ(stats.open, stats.idle);
  EXPECT_LE(stats.open, 8);
  EXPECT_EQ(Total(), 10000);
}

}  // namespace
}  // namespace txgate::testing
